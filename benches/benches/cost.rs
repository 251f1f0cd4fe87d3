//! What a deploy costs (issue 10) on the mock with AWS's latency and its
//! documented request rates: a no-op redeploy of a five-service app (three
//! internal, two external) and a one-service change (the first service on a
//! new port: a new target group, its rule replaced, the old group deleted),
//! on racks of 1, 10 and 100 such apps in an account that also holds 1,000
//! target groups and 100 certificates that are not the rack's.
//!
//! Printed once, before the timed loops: per rack and deploy, the backend's
//! calls (the mock counts one per [`Backend`] verb: `observe_app` is one, as
//! the AWS backend's 15 requests are one verb), how many mutate, how many AWS
//! refused for its rates, and the virtual time the deploy took on the mock's
//! clock (20 ms a call, AWS's buckets per API family, the engine's backoff on a
//! throttle): the time a deploy takes on AWS that is AWS's doing, not ours.
//! Timed by criterion: the same deploys without latency, on a fresh copy of
//! each rack (the mock's state through `to_json`/`from_json`, outside the
//! timed part): our own time, which grows with what the mock scans for the
//! deploy's scope.
//!
//! Requests at the wire, against moto, are counted by
//! `convox-aws/tests/moto/cost.rs`; the README has both.

// criterion_group! generates undocumented items; a benchmark whose fixed input
// fails to deploy is itself broken, so unwrapping is the right reaction.
#![allow(missing_docs, clippy::unwrap_used)]

#[path = "common/mod.rs"]
mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{Rig, name, runtime};
use convox_mock::{Faulty, MockBackend, RateLimits, VirtualClock};
use convox_model::apply::ApplyContext;
use convox_model::backend::Backend;
use convox_model::conformance::{fake_certificate, five_services, someone_elses};
use convox_model::ops::{DeployReport, deploy};
use criterion::{BatchSize, BenchmarkId, Criterion, criterion_group, criterion_main};
use tokio::runtime::Runtime;

/// Apps in the racks measured.
const APPS: [usize; 3] = [1, 10, 100];

/// What else the account holds: target groups and certificates not the rack's.
const FOREIGN_TARGET_GROUPS: usize = 1_000;
const FOREIGN_CERTIFICATES: usize = 100;

/// Deploys app `a{app}` (five services, the first on `port`).
fn deploy_app(
    rt: &Runtime,
    backend: &dyn Backend,
    rig: &Rig,
    app: usize,
    port: u16,
    ctx: &ApplyContext,
) -> DeployReport {
    rt.block_on(deploy(
        backend,
        &rig.rack,
        &name(&format!("a{app}")),
        &five_services(port),
        ctx,
    ))
    .unwrap_or_else(|e| panic!("deploying a{app}: {e}"))
}

/// The racks of [`APPS`] apps beside the foreign resources, built on one mock
/// app by app (each from the one before), each kept as JSON.
fn build_racks(rt: &Runtime, rig: &Rig, ctx: &ApplyContext) -> Vec<(usize, String)> {
    let mock = rig.rack_only(rt, convox_mock::Quotas::default());
    rt.block_on(someone_elses(
        &mock,
        "vpc-other",
        "payments",
        (FOREIGN_TARGET_GROUPS, FOREIGN_CERTIFICATES),
        fake_certificate,
    ));
    let mut racks = Vec::new();
    let mut apps = 0;
    for size in APPS {
        while apps < size {
            deploy_app(rt, &mock, rig, apps, 3000, ctx);
            apps += 1;
        }
        racks.push((size, mock.to_json().unwrap()));
    }
    racks
}

/// What one deploy of `a0` cost on the rack in `json`, with AWS's latency and
/// rates on a virtual clock.
struct Cost {
    calls: u64,
    mutating: u64,
    throttled: u64,
    virtual_time: Duration,
    by_operation: String,
}

fn measure(rt: &Runtime, rig: &Rig, json: &str, port: u16) -> Cost {
    let mock = Arc::new(MockBackend::from_json(json).unwrap());
    let clock = VirtualClock::new();
    let latent = Faulty::from_arc(mock.clone(), 1)
        .with_clock(clock.clone())
        .with_latency(Duration::from_millis(20))
        .with_rate_limits(RateLimits::aws_defaults());
    let ctx = ApplyContext::new(rig.rack.name.clone(), common::NOW, clock.sleep_fn())
        .with_issuer(rig.ca.clone());
    let start = clock.now();
    let report = deploy_app(rt, &latent, rig, 0, port, &ctx);
    assert_eq!(report.plan.is_empty(), port == 3000, "{}", report.plan);
    let calls = mock.calls();
    Cost {
        calls: calls.reads + calls.mutations,
        mutating: calls.mutations,
        throttled: latent.faults().rate_limited,
        virtual_time: clock.now() - start,
        by_operation: calls
            .by_operation
            .iter()
            .map(|(op, n)| format!("{op} ×{n}"))
            .collect::<Vec<_>>()
            .join(", "),
    }
}

fn bench_cost(c: &mut Criterion) {
    let rt = runtime();
    let rig = Rig::new();
    let ctx = rig.ctx(8);
    let racks = build_racks(&rt, &rig, &ctx);
    for (apps, json) in &racks {
        for (what, port) in [("no-op redeploy", 3000), ("one-service change", 3001)] {
            let cost = measure(&rt, &rig, json, port);
            eprintln!(
                "cost: rack of {apps} apps (+{FOREIGN_TARGET_GROUPS} foreign target groups, {FOREIGN_CERTIFICATES} foreign certificates), {what}: {} backend calls ({} mutating, {} throttled), {:.2?} of AWS's latency and rates: {}",
                cost.calls, cost.mutating, cost.throttled, cost.virtual_time, cost.by_operation
            );
        }
    }
    let mut g = c.benchmark_group("cost");
    g.sample_size(10);
    for (apps, json) in &racks {
        for (what, port) in [("redeploy", 3000), ("change", 3001)] {
            g.bench_function(BenchmarkId::new(what, apps), |b| {
                b.iter_batched(
                    || MockBackend::from_json(json).unwrap(),
                    |mock| deploy_app(&rt, &mock, &rig, 0, port, &ctx),
                    BatchSize::LargeInput,
                )
            });
        }
    }
    g.finish();
}

criterion_group!(benches, bench_cost);
criterion_main!(benches);
