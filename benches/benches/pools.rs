//! Router pools (issue 9) on the mock at AWS's default quotas per load
//! balancer (100 target groups, 100 rules and 25 certificates; nothing
//! raised), the two per-region quotas raised for the largest rack (see
//! [`QUOTAS`]), with a rack of `Internal=Yes` holding N routed internal
//! services in N/5 apps of 5, for N = 100, 1,000, 2,500 and 5,000:
//!
//! - `plan_app`: `ops::plan_app` (observe + placement + plan) of one new
//!   5-service app on each rack;
//! - `place+plan`: the pure part alone, over an observation of the rack made
//!   once: `desired_app`, `pool::place`, then `plan::plan` twice as
//!   `plan_app` does (the rack resources the app needs first, then the app);
//! - `deploy`: `ops::deploy` of one new 5-service app on the 1,000-service
//!   rack, each iteration on a fresh copy of the rack (the mock's state
//!   through `to_json`/`from_json`, outside the timed part), no latency.
//!
//! On every rack each load balancer is full (20 apps of 5 take its 100 target
//! groups), so the new app opens the next internal load balancer: its plan
//! includes that shard's creation.
//!
//! Each rack is built once, app by app through `ops::deploy`, outside the
//! timed loops (the racks grow one from the other, and each size's state is
//! kept as JSON). The setup also prints, once, how many internal load
//! balancers a rack of 1,000 services built app by app uses, against the two
//! lower bounds: ⌈services/100⌉ (target groups) and ⌈apps/24⌉ (each app
//! attaches its own certificate to every internal load balancer it is on),
//! for 200 apps of 5 and for 200 apps of random sizes 1..=9.

// criterion_group! generates undocumented items; a benchmark whose fixed input
// fails to deploy is itself broken, so unwrapping is the right reaction.
#![allow(missing_docs, clippy::unwrap_used)]

mod common;

use std::collections::BTreeSet;
use std::hint::black_box;
use std::time::Instant;

use common::{Rig, name, runtime};
use convox_mock::{MockBackend, Quotas};
use convox_model::apply::ApplyContext;
use convox_model::aws::splitmix64;
use convox_model::desired::desired_app;
use convox_model::exposure::{Router, Shard};
use convox_model::manifest::{Exposure, Manifest, Service};
use convox_model::name::Name;
use convox_model::ops::{assume_created, deploy, plan_app};
use convox_model::plan::{Op, plan};
use convox_model::pool::certs::with_shared_certificates;
use convox_model::pool::place;
use convox_model::public_cert::{desired_rack_for, external_certificate};
use convox_model::resource::{KeySubject, Observed, Scope};
use criterion::{BatchSize, BenchmarkId, Criterion, criterion_group, criterion_main};
use tokio::runtime::Runtime;

/// Routed services in the racks measured.
const SIZES: [usize; 4] = [100, 1_000, 2_500, 5_000];

/// Services per app in the racks measured, and in the new app.
const PER_APP: usize = 5;

/// AWS's quotas, as the mock enforces them and the planner counts them, but
/// for the two per-region quotas a rack of 5,000 services passes (51 load
/// balancers, 5,000 target groups): both adjustable, raised here to 100 and
/// 10,000 as an account would ask AWS. Every per-load-balancer limit is AWS's.
const QUOTAS: Quotas = Quotas {
    load_balancers_per_region: 100,
    target_groups_per_region: 10_000,
    ..Quotas::AWS
};

/// `n` routed internal services `s0`….
fn manifest(n: usize) -> Manifest {
    Manifest::from_services(
        (0..n)
            .map(|i| Service::routed(name(&format!("s{i}")), 3000, Exposure::Internal))
            .collect(),
    )
}

/// The rack, a runtime and the context every deploy applies with.
struct World {
    rt: Runtime,
    rig: Rig,
    ctx: ApplyContext,
}

impl World {
    fn new() -> Self {
        let rig = Rig::new();
        World {
            rt: runtime(),
            ctx: rig.ctx(8),
            rig,
        }
    }

    /// A mock holding the rack's own resources, reconciled.
    fn rack_only(&self) -> MockBackend {
        self.rig.rack_only(&self.rt, QUOTAS)
    }

    /// A mock holding the state in `json` (from `MockBackend::to_json`).
    fn restore(json: &str) -> MockBackend {
        MockBackend::from_json(json).unwrap().with_quotas(QUOTAS)
    }

    fn deploy(&self, mock: &MockBackend, app: &Name, services: usize) {
        self.rt
            .block_on(deploy(
                mock,
                &self.rig.rack,
                app,
                &manifest(services),
                &self.ctx,
            ))
            .unwrap_or_else(|e| panic!("deploying {app} ({services} services): {e}"));
    }

    fn observe(&self, mock: &MockBackend) -> Vec<Observed> {
        self.rig.observe(&self.rt, mock)
    }
}

/// The name of the `i`th app of a rack built for a benchmark.
fn app_name(i: usize) -> Name {
    name(&format!("a{i}"))
}

/// The load balancers of `router` that exist in `observed`.
fn load_balancers(observed: &[Observed], router: Router) -> usize {
    observed
        .iter()
        .filter(|o| {
            matches!(o.resource.key.subject(), KeySubject::RouterLoadBalancer(s) if s.router == router)
        })
        .count()
}

/// The racks of [`SIZES`] services in apps of [`PER_APP`], built app by app
/// on one mock (each size grows from the one before), each kept as JSON.
fn build_racks(w: &World) -> Vec<(usize, String)> {
    let mock = w.rack_only();
    let mut racks = Vec::new();
    let mut apps = 0;
    let start = Instant::now();
    for size in SIZES {
        while apps * PER_APP < size {
            w.deploy(&mock, &app_name(apps), PER_APP);
            apps += 1;
        }
        let observed = w.observe(&mock);
        eprintln!(
            "pools: rack of {size} services in {apps} apps built in {:.1?} (cumulative); {} internal load balancers",
            start.elapsed(),
            load_balancers(&observed, Router::Internal),
        );
        racks.push((size, mock.to_json().unwrap()));
    }
    racks
}

/// A tiny deterministic generator (the model's splitmix64), so the random
/// rack is the same on every run without a crate for it.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        let z = splitmix64(self.0);
        // splitmix64's own increment: the state walks the reference sequence.
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z
    }

    /// A number in `lo..=hi`.
    fn between(&mut self, lo: usize, hi: usize) -> usize {
        lo + (self.next() % (hi - lo + 1) as u64) as usize
    }
}

/// `apps` app sizes in `1..=9` summing to `services`: drawn at random from
/// `seed`, then nudged one service at a time (a random app, within bounds)
/// until the total is right.
fn random_sizes(apps: usize, services: usize, seed: u64) -> Vec<usize> {
    assert!((apps..=9 * apps).contains(&services));
    let mut rng = SplitMix(seed);
    let mut sizes: Vec<usize> = (0..apps).map(|_| rng.between(1, 9)).collect();
    let mut total: usize = sizes.iter().sum();
    while total != services {
        let i = rng.between(0, apps - 1);
        if total < services && sizes[i] < 9 {
            sizes[i] += 1;
            total += 1;
        } else if total > services && sizes[i] > 1 {
            sizes[i] -= 1;
            total -= 1;
        }
    }
    sizes
}

/// How many internal load balancers a rack uses once every app of `sizes` is
/// deployed, in order, on a fresh rack; and the lower bounds.
struct PoolUse {
    apps: usize,
    services: usize,
    internal_load_balancers: usize,
    /// ⌈services/100⌉: 100 target groups per load balancer, a hard limit.
    by_target_groups: usize,
    /// ⌈apps/24⌉: each app's certificate on every internal load balancer it
    /// is on, 25 per load balancer with one slot kept free.
    by_certificates: usize,
}

fn pool_use(w: &World, sizes: &[usize]) -> PoolUse {
    let q = QUOTAS;
    let mock = w.rack_only();
    for (i, n) in sizes.iter().enumerate() {
        w.deploy(&mock, &app_name(i), *n);
    }
    let services: usize = sizes.iter().sum();
    PoolUse {
        apps: sizes.len(),
        services,
        internal_load_balancers: load_balancers(&w.observe(&mock), Router::Internal),
        by_target_groups: services.div_ceil(q.target_groups_per_load_balancer),
        by_certificates: sizes.len().div_ceil(
            q.certificates_per_load_balancer - convox_model::pool::SPARE_CERTIFICATE_SLOTS,
        ),
    }
}

/// Not a timing: the load balancers a 1,000-service rack built app by app
/// uses, printed once.
fn report_pool_use(_c: &mut Criterion) {
    let w = World::new();
    let even = vec![PER_APP; 200];
    let random = random_sizes(200, 1_000, 0x5EED);
    for (what, sizes) in [
        ("200 apps of 5", even),
        ("200 apps of 1..=9 (seed 0x5EED)", random),
    ] {
        let u = pool_use(&w, &sizes);
        eprintln!(
            "pools: {} services in {what}: {} internal load balancers; minimum {} by target groups (⌈{}/100⌉), {} by certificates (⌈{}/24⌉)",
            u.services,
            u.internal_load_balancers,
            u.by_target_groups,
            u.services,
            u.by_certificates,
            u.apps,
        );
        // Sanity: the pool can do no better than its bounds.
        assert!(u.internal_load_balancers >= u.by_target_groups.max(u.by_certificates));
    }
}

fn bench_plan(c: &mut Criterion) {
    let w = World::new();
    let racks = build_racks(&w);
    let new_app = name("newapp");
    let new = manifest(PER_APP);
    let fp = w.rig.ca.fingerprint().to_string();
    let scope = Scope::App(new_app.clone());
    let q = QUOTAS;

    let mut g = c.benchmark_group("pools");
    g.sample_size(10);
    for (size, json) in &racks {
        let mock = World::restore(json);
        let run = || {
            w.rt.block_on(plan_app(&mock, &w.rig.rack, &new_app, &new, &fp))
                .unwrap()
        };
        // The new app's resources and a new shard's: never nothing.
        assert!(!run().is_empty());
        g.bench_function(BenchmarkId::new("plan_app", size), |b| b.iter(run));

        // The pure part, over one observation: what `plan_app` does after
        // reading the rack.
        let observed = w.observe(&mock);
        let external =
            w.rt.block_on(external_certificate(&mock, &w.rig.rack))
                .unwrap();
        let pure = |observed: &[Observed]| {
            let desired = desired_app(&w.rig.rack, &new_app, &new, &fp).unwrap();
            let placed = place(desired, observed, &q).unwrap();
            // The rack resources the app needs first (its new shard), planned
            // and assumed created, as `plan_app` does.
            let rack_desired =
                desired_rack_for(&w.rig.rack, &fp, &external, observed, &placed.shards);
            // The new app's name on the shared certificate of each internal
            // load balancer it joins.
            let joining = placed
                .joins
                .iter()
                .map(|s| (*s, BTreeSet::from([new_app.clone()])))
                .collect();
            let rack_desired = with_shared_certificates(
                rack_desired,
                &w.rig.rack,
                Some(&fp),
                observed,
                &joining,
                None,
                q.names_per_certificate,
            );
            let rack_plan = plan(&Scope::Rack, &rack_desired, observed, &q).unwrap();
            let assumed = assume_created(observed, &rack_plan.actions);
            let app_plan = plan(&scope, &placed.desired, &assumed, &q).unwrap();
            (rack_plan, app_plan)
        };
        let (rack_plan, app_plan) = pure(&observed);
        // Every rack is full, so the app opens the next internal load balancer:
        // the rack's part is that shard's creation and nothing else.
        let next = Shard {
            router: Router::Internal,
            index: u16::try_from(load_balancers(&observed, Router::Internal) + 1).unwrap(),
        };
        assert!(!rack_plan.is_empty());
        for a in &rack_plan.actions {
            assert_eq!(
                (a.op, a.key.subject().shard()),
                (Op::Create, Some(next)),
                "{}",
                a.key
            );
        }
        assert_eq!(app_plan.counts().create, app_plan.actions.len());
        g.bench_with_input(BenchmarkId::new("place+plan", size), &observed, |b, o| {
            b.iter(|| pure(black_box(o)))
        });
    }

    // The deploy of one new app on the 1,000-service rack, each on a fresh
    // copy of it.
    let (_, json) = racks.iter().find(|(n, _)| *n == 1_000).unwrap();
    g.bench_function(BenchmarkId::new("deploy", 1_000), |b| {
        b.iter_batched(
            || World::restore(json),
            |mock| {
                let r =
                    w.rt.block_on(deploy(&mock, &w.rig.rack, &new_app, &new, &w.ctx))
                        .unwrap();
                assert!(!r.plan.is_empty());
                (mock, r)
            },
            BatchSize::PerIteration,
        )
    });
    g.finish();
}

criterion_group!(benches, report_pool_use, bench_plan);
criterion_main!(benches);
