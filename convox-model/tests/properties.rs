//! Properties of the desired state and the planner over generated manifests.

#![allow(clippy::unwrap_used)]

#[path = "common/world.rs"]
mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::*;
use convox_model::desired::{desired_app, desired_rack};
use convox_model::exposure::Router;
use convox_model::manifest::{Manifest, Port, Scheme, Service};
use convox_model::plan::{Limits, Op, plan};
use convox_model::rack::Rack;
use convox_model::resource::{LbScheme, Observed, ResourceKey, Scope, Spec};
use proptest::prelude::*;

fn arb_scheme() -> impl Strategy<Value = Scheme> {
    prop_oneof![
        Just(Scheme::Http),
        Just(Scheme::Https),
        Just(Scheme::Grpc),
        Just(Scheme::SecureGrpc)
    ]
}

fn arb_service(i: usize) -> impl Strategy<Value = Service> {
    (
        proptest::option::of((1u16..=65535, arb_scheme())),
        any::<bool>(),
        any::<bool>(),
        "/[a-z]{0,8}",
    )
        .prop_map(move |(port, internal, both, path)| {
            let mut s = svc(&format!("s{i}"), None, internal, both);
            s.port = port.map(|(port, scheme)| Port { port, scheme });
            s.health.path = path;
            s
        })
}

fn arb_manifest() -> impl Strategy<Value = Manifest> {
    (0usize..8)
        .prop_flat_map(|n| (0..n).map(arb_service).collect::<Vec<_>>())
        .prop_map(manifest)
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

fn rack_observed(r: &Rack) -> Vec<Observed> {
    let p = plan(
        &Scope::Rack,
        &desired_rack(r, "ca"),
        &[],
        &Limits::default(),
    )
    .unwrap();
    observe_after(&[], &p)
}

fn generous() -> Limits {
    Limits {
        rules_per_load_balancer: 10_000,
        target_groups_per_load_balancer: 10_000,
        ..Limits::default()
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn planning_never_panics_and_is_deterministic(r in arb_rack(), m in arb_manifest()) {
        let obs = rack_observed(&r);
        match desired_app(&r, &n("app"), &m, "ca") {
            Err(_) => prop_assert!(!fits(&r, &m)),
            Ok(d) => {
                let a = plan(&Scope::App(n("app")), &d, &obs, &generous());
                let b = plan(&Scope::App(n("app")), &d, &obs, &generous());
                prop_assert_eq!(&a, &b);
                if let Ok(p) = a {
                    prop_assert_eq!(p.to_json(), b.unwrap().to_json());
                }
            }
        }
    }

    #[test]
    fn applying_a_plan_leaves_nothing_to_do(r in arb_rack(), m in arb_manifest(), m2 in arb_manifest()) {
        prop_assume!(fits(&r, &m) && fits(&r, &m2));
        let obs = rack_observed(&r);
        let d = desired_app(&r, &n("app"), &m, "ca").unwrap();
        let p = plan(&Scope::App(n("app")), &d, &obs, &generous()).unwrap();
        let after = observe_after(&obs, &p);
        let again = plan(&Scope::App(n("app")), &d, &after, &generous()).unwrap();
        prop_assert!(again.is_empty(), "{}", again);
        // And from there to another manifest, and back to nothing to do.
        let d2 = desired_app(&r, &n("app"), &m2, "ca").unwrap();
        let p2 = plan(&Scope::App(n("app")), &d2, &after, &generous()).unwrap();
        let after2 = observe_after(&after, &p2);
        let again2 = plan(&Scope::App(n("app")), &d2, &after2, &generous()).unwrap();
        prop_assert!(again2.is_empty(), "{}", again2);
        // Nothing outside the app was touched.
        prop_assert!(p2.actions.iter().all(|a| a.key.app() == Some("app")));
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
                        spec: Spec::ListenerRule(convox_model::resource::ListenerRuleSpec {
                            listener: ResourceKey::router_listener(router, 443),
                            priority: Some(*p),
                            hosts: vec![format!("o{i}.other.example")],
                            target_group: ResourceKey::target_group(&n("other"), &n(&format!("o{i}")), router),
                        }),
                    },
                    id: format!("rule-{i}-{router}"),
                    address: None,
                });
            }
        }
        let d = desired_app(&r, &n("app"), &m, "ca").unwrap();
        let p = plan(&Scope::App(n("app")), &d, &obs, &generous()).unwrap();
        let after = observe_after(&obs, &p);
        let mut seen: BTreeMap<ResourceKey, BTreeSet<u32>> = BTreeMap::new();
        for o in &after {
            if let Spec::ListenerRule(rule) = &o.resource.spec {
                let p = rule.priority.unwrap();
                prop_assert!((1..=50_000).contains(&p));
                prop_assert!(seen.entry(rule.listener.clone()).or_default().insert(p),
                    "priority {} used twice on {}", p, rule.listener);
            }
        }
    }

    #[test]
    fn hostnames_are_injective_over_app_service_router(m in arb_manifest(), m2 in arb_manifest()) {
        let r = rack(true, false);
        let mut hosts: BTreeMap<String, (String, ResourceKey)> = BTreeMap::new();
        for (app, m) in [("one", &m), ("two", &m2), ("one-two", &m2)] {
            let d = desired_app(&r, &n(app), m, "ca").unwrap();
            for res in d.iter() {
                if let Spec::ListenerRule(rule) = &res.spec {
                    for h in &rule.hosts {
                        let prev = hosts.insert(h.clone(), (app.to_string(), res.key.clone()));
                        prop_assert!(prev.is_none(), "{} served twice: {:?} and {}", h, prev, res.key);
                    }
                }
            }
        }
    }

    #[test]
    fn internal_only_racks_never_face_the_internet(m in arb_manifest()) {
        let r = rack(true, true);
        let rack_d = desired_rack(&r, "ca");
        prop_assert!(rack_d.iter().all(|x| !matches!(&x.spec, Spec::LoadBalancer(lb) if lb.scheme == LbScheme::InternetFacing)));
        if let Ok(d) = desired_app(&r, &n("app"), &m, "ca") {
            for res in d.iter() {
                if let Spec::ListenerRule(rule) = &res.spec {
                    prop_assert_eq!(&rule.listener, &ResourceKey::router_listener(Router::Internal, 443));
                }
            }
        }
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
        // Every plan of a fitting manifest passes the coverage check (plan succeeds).
        let p = plan(&Scope::App(n("app")), &d, &rack_observed(&r), &generous()).unwrap();
        prop_assert!(p.actions.iter().all(|a| a.op == Op::Create));
    }
}
