//! Planning and applying an app's routing: `desired_app` + `plan` for apps of
//! 100, 1,000 and 10,000 routed services, against a rack without the app
//! (everything to create) and against the app fully applied (the steady-state
//! redeploy: nothing to do); the observation's fingerprint on its own; and
//! `ops::deploy` of a 50-service app to the mock with a per-call latency, at apply
//! concurrency 1 and 8, and its redeploy.

// criterion_group! generates undocumented items; a benchmark whose fixed input
// fails to deploy is itself broken, so unwrapping is the right reaction.
#![allow(missing_docs, clippy::unwrap_used)]

mod common;

use std::hint::black_box;
use std::time::Duration;

use common::{Rig, name, runtime};
use convox_mock::{MockBackend, sleep_fn};
use convox_model::apply::ApplyContext;
use convox_model::aws::Quotas;
use convox_model::desired::desired_app;
use convox_model::manifest::{Exposure, Manifest, Service};
use convox_model::name::Name;
use convox_model::ops::deploy;
use convox_model::plan::{fingerprint, plan};
use convox_model::resource::{Observed, Scope};
use criterion::{BatchSize, BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use tokio::runtime::Runtime;

/// The per-call latency of the deploy benchmark: a quick AWS API call.
const LATENCY: Duration = Duration::from_millis(2);

/// `n` routed services: a third internal, a third external, a third both.
fn app_manifest(n: usize) -> Manifest {
    let services = (0..n)
        .map(|i| {
            let exposure = match i % 3 {
                0 => Exposure::Internal,
                1 => Exposure::External,
                _ => Exposure::InternalAndExternal,
            };
            Service::routed(name(&format!("svc{i}")), 3000, exposure)
        })
        .collect();
    Manifest::from_services(services)
}

/// AWS allows 100 rules and 100 target groups per load balancer, so an app of
/// more than about 100 routed services is refused by the planner and the mock
/// alike (a real rack would need a quota increase). The benchmark measures the
/// planner's cost at scale, not the quota, so both are raised out of the way: in
/// the mock, which reports them to the operations it serves, and for the direct
/// calls to `plan`.
const LIMITS: Quotas = Quotas {
    rules_per_load_balancer: 50_000,
    target_groups_per_load_balancer: 50_000,
    ..Quotas::AWS
};

/// The rack and the app measured on it.
struct World {
    rig: Rig,
    app: Name,
}

impl World {
    fn new() -> Self {
        World {
            rig: Rig::new(),
            app: name("backend"),
        }
    }

    fn ctx(&self, concurrency: usize) -> ApplyContext {
        self.rig.ctx(concurrency)
    }

    /// A mock holding the rack's own resources, reconciled.
    fn rack_only(&self, rt: &Runtime) -> MockBackend {
        self.rig.rack_only(rt, LIMITS)
    }

    /// What the mock holds: the rack's resources and every app's.
    fn observe(&self, rt: &Runtime, mock: &MockBackend) -> Vec<Observed> {
        self.rig.observe(rt, mock)
    }
}

fn bench_plan(c: &mut Criterion) {
    let rt = runtime();
    let w = World::new();
    let scope = Scope::App(w.app.clone());
    let fp = w.rig.ca.fingerprint().to_string();

    let mut g = c.benchmark_group("plan");
    g.sample_size(10);
    for n in [100usize, 1_000, 10_000] {
        let manifest = app_manifest(n);
        let mock = w.rack_only(&rt);
        let before = w.observe(&rt, &mock);
        rt.block_on(deploy(&mock, &w.rig.rack, &w.app, &manifest, &w.ctx(8)))
            .unwrap();
        let after = w.observe(&rt, &mock);

        let run = |observed: &[Observed]| {
            let desired = desired_app(&w.rig.rack, &w.app, &manifest, &fp).unwrap();
            plan(&scope, &desired, observed, &LIMITS).unwrap()
        };
        assert_eq!(run(&before).counts().create, desired_count(&w, &manifest));
        assert!(run(&after).is_empty());

        g.throughput(Throughput::Elements(n as u64));
        g.bench_with_input(BenchmarkId::new("create", n), &before, |b, o| {
            b.iter(|| run(black_box(o)))
        });
        g.bench_with_input(BenchmarkId::new("no-op", n), &after, |b, o| {
            b.iter(|| run(black_box(o)))
        });
        g.bench_with_input(BenchmarkId::new("fingerprint", n), &after, |b, o| {
            b.iter(|| fingerprint(black_box(o)))
        });
    }
    g.finish();
}

fn desired_count(w: &World, manifest: &Manifest) -> usize {
    desired_app(&w.rig.rack, &w.app, manifest, w.rig.ca.fingerprint())
        .unwrap()
        .len()
}

fn bench_deploy(c: &mut Criterion) {
    let rt = runtime();
    let w = World::new();
    let manifest = app_manifest(50);
    let rack_json = w.rack_only(&rt).to_json().unwrap();
    let latent = |json: &str| {
        MockBackend::from_json(json)
            .unwrap()
            .with_quotas(LIMITS)
            .with_latency(LATENCY, sleep_fn(tokio::time::sleep))
    };

    let mut g = c.benchmark_group("deploy-50-services-2ms");
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(5));
    // Both concurrencies in one group, one after the other: on a shared machine
    // only their ratio within one run means much.
    for concurrency in [1usize, 8] {
        let ctx = w.ctx(concurrency);
        g.bench_function(BenchmarkId::new("concurrency", concurrency), |b| {
            b.iter_batched(
                || latent(&rack_json),
                |mock| {
                    let r = rt
                        .block_on(deploy(&mock, &w.rig.rack, &w.app, &manifest, &ctx))
                        .unwrap();
                    assert!(!r.plan.is_empty());
                    r
                },
                BatchSize::PerIteration,
            )
        });
    }

    let mock = latent(&rack_json);
    let ctx = w.ctx(8);
    rt.block_on(deploy(&mock, &w.rig.rack, &w.app, &manifest, &ctx))
        .unwrap();
    // The figure is only the redeploy's if it reads and changes nothing more.
    mock.reset_calls();
    rt.block_on(deploy(&mock, &w.rig.rack, &w.app, &manifest, &ctx))
        .unwrap();
    assert_eq!(mock.calls().mutations, 0);
    g.bench_function("redeploy", |b| {
        b.iter(|| {
            let r = rt
                .block_on(deploy(&mock, &w.rig.rack, &w.app, &manifest, &ctx))
                .unwrap();
            assert!(r.plan.is_empty());
            r
        })
    });
    g.finish();
}

criterion_group!(benches, bench_plan, bench_deploy);
criterion_main!(benches);
