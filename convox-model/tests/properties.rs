//! Properties of the desired state and the planner over generated manifests.

#![allow(clippy::unwrap_used)]

#[path = "common/world.rs"]
mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::*;
use convox_model::aws::Quotas;
use convox_model::desired::{desired_app, desired_rack};
use convox_model::exposure::Router;
use convox_model::manifest::{Manifest, Port, Scheme, Service};
use convox_model::plan::{Op, plan};
use convox_model::rack::Rack;
use convox_model::resource::{LbScheme, Observed, ResourceKey, ResourceSpec, Scope};
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;

fn arb_scheme() -> impl Strategy<Value = Scheme> {
    prop_oneof![
        Just(Scheme::Http),
        Just(Scheme::Https),
        Just(Scheme::Grpc),
        Just(Scheme::SecureGrpc)
    ]
}

/// Service names with dashes, so that names built from them can meet.
const SERVICES: [&str; 8] = ["api", "web", "api-web", "worker", "s0", "s1", "a-b", "b"];

/// How a generated service is exposed: (internal, internalAndExternal).
const EXTERNAL: (bool, bool) = (false, false);
const INTERNAL: (bool, bool) = (true, false);
const BOTH: (bool, bool) = (true, true);

fn arb_service(i: usize, exposures: Vec<(bool, bool)>) -> impl Strategy<Value = Service> {
    (
        proptest::option::of((1u16..=65535, arb_scheme())),
        proptest::sample::select(exposures),
        "/[a-z]{0,8}",
    )
        .prop_map(move |(port, (internal, both), path)| {
            let mut s = svc(SERVICES[i], None, internal, both);
            s.port = port.map(|(port, scheme)| Port { port, scheme });
            s.health.path = path;
            s
        })
}

fn manifest_of(exposures: Vec<(bool, bool)>) -> impl Strategy<Value = Manifest> {
    (0usize..=SERVICES.len())
        .prop_flat_map(move |n| {
            (0..n)
                .map(|i| arb_service(i, exposures.clone()))
                .collect::<Vec<_>>()
        })
        .prop_map(manifest)
}

/// Any manifest, fitting a given rack or not.
fn arb_manifest() -> impl Strategy<Value = Manifest> {
    manifest_of(vec![EXTERNAL, INTERNAL, BOTH])
}

/// A manifest `r` accepts, built to fit rather than filtered: only the
/// exposures the rack's routers serve are drawn.
fn fitting_manifest(r: &Rack) -> impl Strategy<Value = Manifest> {
    let mut exposures = vec![];
    if r.params.has_external_router() {
        exposures.push(EXTERNAL);
    }
    if r.params.internal() {
        exposures.push(INTERNAL);
    }
    if r.params.internal() && r.params.has_external_router() {
        exposures.push(BOTH);
    }
    manifest_of(exposures)
}

fn arb_rack() -> impl Strategy<Value = Rack> {
    prop_oneof![
        Just(rack(false, false)),
        Just(rack(true, false)),
        Just(rack(true, true))
    ]
}

/// Services the rack accepts: internal ones only with Internal, external ones
/// only without InternalOnly.
fn fits(rack: &Rack, m: &Manifest) -> bool {
    m.services.iter().all(|s| {
        (!s.routed_internally() || rack.params.internal())
            && (!s.routed_externally() || rack.params.has_external_router())
    })
}

fn generous() -> Quotas {
    Quotas {
        rules_per_load_balancer: 10_000,
        target_groups_per_load_balancer: 10_000,
        ..Quotas::default()
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 64,
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource("proptest-regressions"))),
        ..ProptestConfig::default()
    })]

    #[test]
    fn planning_never_panics_and_is_deterministic(r in arb_rack(), m in arb_manifest()) {
        let obs = rack_observed(&r);
        // The generated names are short, so desired state always exists; the rack
        // rule is the entry's, and past it the planner refuses a rule on a router
        // the rack does not have: a plan exists exactly when the manifest fits.
        let d = desired_app(&r, &n("app"), &m, "ca").unwrap();
        let a = plan(&Scope::App(n("app")), &d, &obs, &generous());
        let b = plan(&Scope::App(n("app")), &d, &obs, &generous());
        prop_assert_eq!(a.is_ok(), fits(&r, &m), "{:?}", a.as_ref().err());
        prop_assert_eq!(&a, &b);
        if let (Ok(a), Ok(b)) = (a, b) {
            prop_assert_eq!(a.to_json(), b.to_json());
        }
    }

    #[test]
    fn allocated_priorities_are_unique_per_listener(
        m in arb_manifest(),
        taken in proptest::collection::btree_set(1u32..40, 0..20),
    ) {
        let r = rack(true, false);
        let mut obs = rack_observed(&r);
        // Another app's rules hold arbitrary priorities on both listeners.
        for (i, p) in taken.iter().enumerate() {
            for router in Router::ALL {
                let key = ResourceKey::listener_rule(&n("other"), &n(&format!("o{i}")), router);
                let mut tags = convox_model::resource::Tags::new();
                tags.insert("convox:key".into(), key.to_string());
                obs.push(Observed {
                    resource: convox_model::resource::Resource {
                        key: key.clone(),
                        tags,
                        spec: ResourceSpec::ListenerRule(convox_model::resource::ListenerRuleSpec {
                            listener: ResourceKey::router_listener(router, 443),
                            priority: Some(*p),
                            hosts: vec![format!("o{i}.other.example")],
                            target_group: ResourceKey::target_group(&n("other"), &n(&format!("o{i}")), router),
                        }),
                    },
                    id: format!("rule-{i}-{router}"),
                    address: None,
                    not_after: None,
                });
            }
        }
        let d = desired_app(&r, &n("app"), &m, "ca").unwrap();
        let p = plan(&Scope::App(n("app")), &d, &obs, &generous()).unwrap();
        let after = observe_after(&obs, &p);
        let mut seen: BTreeMap<ResourceKey, BTreeSet<u32>> = BTreeMap::new();
        for o in &after {
            if let ResourceSpec::ListenerRule(rule) = &o.resource.spec {
                let p = rule.priority.unwrap();
                prop_assert!((1..=50_000).contains(&p));
                prop_assert!(seen.entry(rule.listener.clone()).or_default().insert(p),
                    "priority {} used twice on {}", p, rule.listener);
            }
        }
    }

    #[test]
    fn internal_only_racks_never_face_the_internet(m in fitting_manifest(&rack(true, true))) {
        let r = rack(true, true);
        let rack_d = desired_rack(&r, "ca");
        let schemes: Vec<LbScheme> = rack_d
            .iter()
            .filter_map(|x| match &x.spec {
                ResourceSpec::LoadBalancer(lb) => Some(lb.scheme),
                _ => None,
            })
            .collect();
        prop_assert_eq!(schemes, vec![LbScheme::Internal]);
        // A manifest built to fit always has a desired state; every rule is on a
        // listener of a load balancer whose scheme is internal.
        let d = desired_app(&r, &n("app"), &m, "ca").unwrap();
        let mut rules = 0;
        for res in d.iter() {
            if let ResourceSpec::ListenerRule(rule) = &res.spec {
                rules += 1;
                let Some(ResourceSpec::Listener(l)) = rack_d.get(&rule.listener).map(|x| &x.spec) else {
                    panic!("rule {} is on {}, not a listener of the rack", res.key, rule.listener);
                };
                let Some(ResourceSpec::LoadBalancer(lb)) = rack_d.get(&l.load_balancer).map(|x| &x.spec) else {
                    panic!("listener {} is on no load balancer of the rack", rule.listener);
                };
                prop_assert_eq!(lb.scheme, LbScheme::Internal);
            }
        }
        prop_assert_eq!(rules, m.services.iter().filter(|s| s.port.is_some()).count());
        // And one external service more is refused.
        let mut services = m.services.clone();
        services.push(svc("outside", Some(80), false, false));
        // The rack rule is checked once, at the entry; past desired state the
        // planner still refuses a rule on a router the rack does not have.
        let rack_obs = observe_after(&[], &plan(&Scope::Rack, &rack_d, &[], &generous()).unwrap());
        let more = desired_app(&r, &n("app"), &manifest(services), "ca").unwrap();
        prop_assert!(plan(&Scope::App(n("app")), &more, &rack_obs, &generous()).is_err());
    }

    #[test]
    fn each_service_is_routed_only_where_it_belongs(m in arb_manifest()) {
        let r = rack(true, false);
        let d = desired_app(&r, &n("app"), &m, "ca").unwrap();
        for s in &m.services {
            for router in Router::ALL {
                let has = d.get(&ResourceKey::listener_rule(&n("app"), &s.name, router)).is_some();
                let should = match router {
                    Router::Internal => s.port.is_some() && s.exposure.is_internal(),
                    Router::External => s.port.is_some() && (!s.exposure.is_internal() || s.exposure.is_internal_and_external()),
                };
                prop_assert_eq!(has, should);
            }
        }
        // Every plan of a fitting manifest passes the coverage check (plan succeeds)
        // and creates, on a fresh app, exactly: per routed service and router a
        // target group and a rule, per internal one a record, and with any
        // internal one the app's certificate and its attachment.
        let p = plan(&Scope::App(n("app")), &d, &rack_observed(&r), &generous()).unwrap();
        let routed: Vec<&Service> = m.services.iter().filter(|s| s.port.is_some()).collect();
        let internal = routed.iter().filter(|s| s.exposure.is_internal()).count();
        let external = routed.iter().filter(|s| s.exposure.is_external()).count();
        let expected = 3 * internal + 2 * external + if internal > 0 { 2 } else { 0 };
        prop_assert_eq!(p.actions.len(), expected, "{}", p);
        prop_assert_eq!(p.actions.iter().filter(|a| a.op == Op::Create).count(), expected);
    }
}
