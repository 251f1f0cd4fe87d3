//! The planner: priorities, quotas, coverage, replacement, fingerprint, rendering.

#![allow(clippy::unwrap_used)]

#[path = "common/world.rs"]
mod common;

use common::*;
use convox_model::aws::Quotas;
use convox_model::desired::{DesiredState, desired_rack};
use convox_model::exposure::Router;
use convox_model::plan::{Disruption, Op, Plan, PlanError, plan};
use convox_model::resource::{
    LbScheme, ListenerRuleSpec, Observed, ResourceKey, ResourceSpec, Scope, TAG_KEY,
};

fn rack_and_app_observed(services: Vec<convox_model::manifest::Service>) -> Vec<Observed> {
    let r = rack(true, false);
    let obs = rack_observed(&r);
    let d = app_desired(&r, "backend", services);
    observe_after(&obs, &plan_app("backend", &d, &obs))
}

fn rule_priorities(p: &Plan) -> Vec<(String, u32)> {
    p.actions
        .iter()
        .filter_map(|a| match a.desired.as_ref().map(|r| &r.spec) {
            Some(ResourceSpec::ListenerRule(r)) => Some((a.key.to_string(), r.priority.unwrap())),
            _ => None,
        })
        .collect()
}

/// Plans app `backend` with services `s0`, `s1` and `s2`, each routed on the
/// internal router, over the rack's resources, under `limits`.
fn plan_three_services(limits: &Quotas) -> Result<Plan, PlanError> {
    let r = rack(true, false);
    let obs = rack_and_app_observed(vec![]);
    let services = (0..3)
        .map(|i| svc(&format!("s{i}"), Some(80), true, false))
        .collect();
    let d = app_desired(&r, "backend", services);
    plan(&Scope::App(n("backend")), &d, &obs, limits)
}

/// Each action's key and operation, in the plan's order.
fn ops(p: &Plan) -> Vec<(String, Op)> {
    p.actions
        .iter()
        .map(|a| (a.key.to_string(), a.op))
        .collect()
}

/// The rack's resources and the listener rules `(app, service, priority)`.
fn rack_with_rules(rules: &[(&str, &str, u32)]) -> Vec<Observed> {
    let mut obs = rack_and_app_observed(vec![]);
    obs.extend(
        rules
            .iter()
            .map(|&(app, service, priority)| observed_rule(app, service, priority)),
    );
    obs
}

/// `keys`, each replaced, as [`ops`] lists them.
fn replaced(keys: &[&str]) -> Vec<(String, Op)> {
    keys.iter().map(|k| (k.to_string(), Op::Replace)).collect()
}

fn observed_rule(app: &str, service: &str, priority: u32) -> Observed {
    let key = ResourceKey::listener_rule(&n(app), &n(service), Router::Internal);
    let mut tags = convox_model::resource::Tags::new();
    tags.insert("convox:rack".into(), "production".into());
    tags.insert("convox:app".into(), app.into());
    tags.insert(TAG_KEY.into(), key.to_string());
    Observed {
        resource: convox_model::resource::Resource {
            key: key.clone(),
            tags,
            spec: ResourceSpec::ListenerRule(ListenerRuleSpec {
                listener: ResourceKey::router_listener(Router::Internal, 443),
                priority: Some(priority),
                hosts: vec![format!("{service}.{app}.production.convox")],
                target_group: ResourceKey::target_group(&n(app), &n(service), Router::Internal),
            }),
        },
        id: format!("arn:rule/{app}/{service}"),
        address: None,
        not_after: None,
    }
}

/// Regression: external hostnames are `{app}-{service}.{router host}`, so app
/// `shop` with service `api-web` and app `shop-api` with service `web` were both
/// given a rule for `shop-api-web.{router host}` on the external listener, and the
/// rule with the lower priority took the other's traffic. Found by the reconcile
/// state machine test (convox-mock/tests/reconcile.rs), invariant 4.
#[test]
fn a_hostname_already_served_by_another_app_is_refused() {
    let r = rack(false, false);
    let obs = rack_observed(&r);
    let shop = app_desired(&r, "shop", vec![svc("api-web", Some(3000), false, false)]);
    let obs = observe_after(&obs, &plan_app("shop", &shop, &obs));
    let shop_api = app_desired(&r, "shop-api", vec![svc("web", Some(3000), false, false)]);
    let err = plan(
        &Scope::App(n("shop-api")),
        &shop_api,
        &obs,
        &Quotas::default(),
    )
    .unwrap_err();
    let PlanError::HostnameTaken { host, key, other } = &err else {
        panic!("{err}");
    };
    assert_eq!(host, "shop-api-web.production.example.com");
    assert_eq!(key.as_str(), "app/shop-api/web/external/rule");
    assert_eq!(other.as_str(), "app/shop/api-web/external/rule");
    assert!(
        err.to_string().contains("rename the app or the service"),
        "{err}"
    );
    // The app that has the name keeps planning as before.
    let p = plan_app("shop", &shop, &obs);
    assert!(p.is_empty(), "{p}");
}

#[test]
fn fresh_rack_plans_every_resource_as_a_create() {
    let p = rack_plan(&rack(true, false), &[]);
    // zone + internal (sg, alb, cert, 80, 443) + external (sg, alb, 80, 443):
    // the external router's certificate is the user's public one, not created.
    assert_eq!(p.counts().create, 10);
    assert!(p.actions.iter().all(|a| a.op == Op::Create));
    assert!(
        p.to_string()
            .ends_with("Plan: 10 to create, 0 to update, 0 to replace, 0 to delete.\n")
    );
}

/// What a backend reports for `desired`, built apart from any plan: its own ids,
/// its own order (reversed), the priorities AWS gave the rules (1, 2, …), an
/// address on each load balancer.
fn reported(desired: &[&DesiredState]) -> Vec<Observed> {
    let mut priority = 0;
    let mut out: Vec<Observed> = desired
        .iter()
        .flat_map(|d| d.iter())
        .map(|res| {
            let mut resource = res.clone();
            if let ResourceSpec::ListenerRule(rule) = &mut resource.spec {
                priority += 1;
                rule.priority = Some(priority);
            }
            let address = matches!(resource.spec, ResourceSpec::LoadBalancer(_)).then(|| {
                address(if resource.key.as_str().contains("internal") {
                    Router::Internal
                } else {
                    Router::External
                })
            });
            Observed {
                id: format!(
                    "arn:aws:test:{}",
                    resource.key.as_str().len() * 7919 + priority as usize
                ),
                resource,
                address,
                not_after: None,
            }
        })
        .collect();
    out.reverse();
    out
}

/// The planner compares what it owns and nothing else: an observation that
/// matches the desired state in every compared field plans nothing, whatever ids
/// and order the backend reports; each kind of difference plans its action.
#[test]
fn a_plan_is_empty_exactly_when_the_observation_matches() {
    let r = rack(true, false);
    let services = vec![
        svc("api", Some(3000), true, false),
        svc("web", Some(80), false, true),
    ];
    let rack_d = desired_rack(&r, "ca");
    let d = app_desired(&r, "backend", services);
    let obs = reported(&[&rack_d, &d]);
    let app = Scope::App(n("backend"));
    let p = plan(&app, &d, &obs, &Quotas::default()).unwrap();
    assert!(p.is_empty(), "{p}");
    assert_eq!(p.to_string(), "No changes.\n");
    let p = plan(&Scope::Rack, &rack_d, &obs, &Quotas::default()).unwrap();
    assert!(p.is_empty(), "{p}");

    // Each difference is seen, as the one action it calls for.
    let actions = |obs: &[Observed]| ops(&plan_app("backend", &d, obs));
    let rule = "app/backend/api/internal/rule";
    let tg = "app/backend/api/internal/tg";
    // A resource gone: created again.
    let gone: Vec<Observed> = obs
        .iter()
        .filter(|o| o.resource.key.as_str() != rule)
        .cloned()
        .collect();
    assert_eq!(actions(&gone), vec![(rule.to_string(), Op::Create)]);
    // A health check changed by hand: updated in place.
    let mut drifted = obs.clone();
    for o in &mut drifted {
        if let ResourceSpec::TargetGroup(t) = &mut o.resource.spec
            && o.resource.key.as_str() == tg
        {
            t.health.path = "/elsewhere".into();
        }
    }
    assert_eq!(actions(&drifted), vec![(tg.to_string(), Op::Update)]);
    // A rule moved to another host: updated.
    let mut moved = obs.clone();
    for o in &mut moved {
        if let ResourceSpec::ListenerRule(x) = &mut o.resource.spec
            && o.resource.key.as_str() == rule
        {
            x.hosts = vec!["api.elsewhere.production.convox".into()];
        }
    }
    assert_eq!(actions(&moved), vec![(rule.to_string(), Op::Update)]);
    // Something of the app's it no longer declares: deleted.
    let mut extra = obs.clone();
    let old = obs.iter().find(|o| o.resource.key.as_str() == tg).unwrap();
    let mut stale = old.clone();
    let stale_key = ResourceKey::target_group(&n("backend"), &n("old"), Router::Internal);
    stale
        .resource
        .tags
        .insert(TAG_KEY.into(), stale_key.to_string());
    stale.resource.key = stale_key.clone();
    stale.id = "arn:aws:test:old".into();
    // Named as the library names it (a group named otherwise is an impostor,
    // which nothing deletes).
    if let ResourceSpec::TargetGroup(t) = &mut stale.resource.spec {
        t.name = convox_model::desired::target_group_name(
            &n("production"),
            &n("backend"),
            &n("old"),
            Router::Internal,
            t.protocol,
            t.port,
        );
    }
    extra.push(stale);
    assert_eq!(actions(&extra), vec![(stale_key.to_string(), Op::Delete)]);
}

#[test]
fn new_rules_take_the_lowest_free_priorities_and_existing_ones_keep_theirs() {
    let r = rack(true, false);
    // Another app holds 1 and 3; this app already has `api` at 7.
    let obs = rack_with_rules(&[("other", "a", 1), ("other", "b", 3), ("backend", "api", 7)]);
    let services = ["api", "jobs", "mail", "zed"]
        .map(|name| svc(name, Some(3000), true, false))
        .to_vec();
    let d = app_desired(&r, "backend", services);
    let p = plan_app("backend", &d, &obs);
    let prios = rule_priorities(&p);
    // `api`'s rule is unchanged, so it is not in the plan at all.
    assert_eq!(
        prios,
        vec![
            ("app/backend/jobs/internal/rule".to_string(), 2),
            ("app/backend/mail/internal/rule".to_string(), 4),
            ("app/backend/zed/internal/rule".to_string(), 5),
        ]
    );
    // The other app's rules are never touched.
    assert!(p.actions.iter().all(|a| a.key.app() == Some("backend")));
    // Re-planning the result changes nothing: priorities are stable.
    let after = observe_after(&obs, &p);
    let again = plan_app("backend", &d, &after);
    assert!(again.is_empty(), "{again}");
}

#[test]
fn priorities_run_out_with_an_error() {
    let r = rack(true, false);
    let obs = rack_with_rules(&[("other", "a", 1), ("other", "b", 2)]);
    let d = app_desired(&r, "backend", vec![svc("api", Some(1), true, false)]);
    let limits = Quotas {
        max_rule_priority: 2,
        ..Quotas::default()
    };
    let err = plan(&Scope::App(n("backend")), &d, &obs, &limits).unwrap_err();
    assert!(
        matches!(err, PlanError::PrioritiesExhausted { .. }),
        "{err}"
    );
}

#[test]
fn too_many_rules_is_a_quota_error_that_says_what_to_do() {
    let limits = Quotas {
        rules_per_load_balancer: 2,
        ..Quotas::default()
    };
    let err = plan_three_services(&limits).unwrap_err();
    let text = err.to_string();
    assert!(
        matches!(
            err,
            PlanError::Quota {
                count: 3,
                limit: 2,
                ..
            }
        ),
        "{text}"
    );
    assert!(
        text.contains("router/internal/alb") && text.contains("quota"),
        "{text}"
    );

    let limits = Quotas {
        target_groups_per_load_balancer: 1,
        ..Quotas::default()
    };
    let err = plan_three_services(&limits).unwrap_err();
    assert!(err.to_string().contains("target groups"), "{err}");
}

/// Exactly at a quota is allowed; one over is refused: rules and target
/// groups per load balancer, certificates per listener.
#[test]
fn a_quota_is_a_limit_not_a_bound_short_of_it() {
    let at = Quotas {
        rules_per_load_balancer: 3,
        target_groups_per_load_balancer: 3,
        certificates_per_load_balancer: 1,
        ..Quotas::default()
    };
    plan_three_services(&at).unwrap();
    for over in [
        Quotas {
            rules_per_load_balancer: 2,
            ..at.clone()
        },
        Quotas {
            target_groups_per_load_balancer: 2,
            ..at.clone()
        },
        Quotas {
            certificates_per_load_balancer: 0,
            ..at.clone()
        },
    ] {
        let err = plan_three_services(&over).unwrap_err();
        assert!(matches!(err, PlanError::Quota { .. }), "{over:?}: {err}");
    }
}

#[test]
fn a_missing_certificate_is_caught_at_plan_time() {
    let r = rack(true, false);
    let obs = rack_and_app_observed(vec![]);
    let mut d = app_desired(&r, "backend", vec![svc("api", Some(80), true, false)]);
    d.resources
        .remove(&ResourceKey::app_listener_certificate(&n("backend")));
    let err = plan(&Scope::App(n("backend")), &d, &obs, &Quotas::default()).unwrap_err();
    assert!(
        matches!(&err, PlanError::NotCovered { host, .. } if host == "api.backend.production.convox"),
        "{err}"
    );
    assert!(err.to_string().contains("*.backend.production.convox"));
}

#[test]
fn an_app_rule_without_the_internal_router_names_the_fix() {
    let r = rack(true, false);
    let d = app_desired(&r, "backend", vec![svc("api", Some(80), true, false)]);
    let err = plan(&Scope::App(n("backend")), &d, &[], &Quotas::default()).unwrap_err();
    assert!(err.to_string().contains("Internal=Yes"), "{err}");
}

/// Moved from `desired.rs`: the rack rule is validate's, checked at ops' entry;
/// desired state no longer repeats it, and the planner refuses what would need the
/// missing router, naming the fix.
#[test]
fn internal_service_on_rack_without_internal_router_is_refused() {
    let r = rack(false, false);
    let d = app_desired(&r, "shop", vec![svc("api", Some(80), true, false)]);
    let obs = rack_observed(&r);
    let err = plan(&Scope::App(n("shop")), &d, &obs, &Quotas::default()).unwrap_err();
    assert!(err.to_string().contains("Internal=Yes"), "{err}");
}

#[test]
fn a_scheme_change_replaces_the_load_balancer_and_what_hangs_off_it() {
    let r = rack(true, false);
    let mut obs = rack_and_app_observed(vec![]);
    for o in &mut obs {
        if let ResourceSpec::LoadBalancer(lb) = &mut o.resource.spec
            && o.resource.key == ResourceKey::router_load_balancer(Router::Internal)
        {
            lb.scheme = LbScheme::InternetFacing;
        }
    }
    let p = rack_plan(&r, &obs);
    assert_eq!(
        ops(&p),
        replaced(&[
            "router/internal/alb",
            "router/internal/listener/443",
            "router/internal/listener/80"
        ])
    );
    let lb = &p.actions[0];
    assert_eq!(lb.disruption, Disruption::NewEndpoint);
    assert_eq!(lb.changes[0].field, "scheme");
    assert!(lb.changes[0].forces_replacement);
    assert_eq!(
        p.actions[1].reason.as_deref(),
        Some("router/internal/alb is replaced")
    );
}

#[test]
fn a_health_change_is_an_update_in_place() {
    let obs = rack_and_app_observed(vec![svc("api", Some(3000), true, false)]);
    let r = rack(true, false);
    let mut s = svc("api", Some(3000), true, false);
    s.health.path = "/health".into();
    let d = app_desired(&r, "backend", vec![s]);
    let p = plan_app("backend", &d, &obs);
    assert_eq!(p.actions.len(), 1);
    assert_eq!(p.actions[0].op, Op::Update);
    assert_eq!(p.actions[0].changes[0].field, "health");
    assert_eq!(p.actions[0].disruption, Disruption::None);
}

#[test]
fn a_port_change_replaces_the_target_group_and_its_rule() {
    let obs = rack_and_app_observed(vec![svc("api", Some(3000), true, false)]);
    let r = rack(true, false);
    let d = app_desired(&r, "backend", vec![svc("api", Some(4000), true, false)]);
    let p = plan_app("backend", &d, &obs);
    assert_eq!(
        ops(&p),
        replaced(&[
            "app/backend/api/internal/rule",
            "app/backend/api/internal/tg"
        ])
    );
}

#[test]
fn deleting_an_app_touches_nothing_outside_it() {
    let mut obs = rack_and_app_observed(vec![svc("api", Some(3000), true, false)]);
    obs.push(observed_rule("other", "a", 40));
    let p = plan_app_deletion("backend", &obs);
    assert_eq!(p.counts().delete, 5);
    assert!(
        p.actions
            .iter()
            .all(|a| a.op == Op::Delete && a.key.app() == Some("backend"))
    );
}

#[test]
fn fingerprint_follows_the_observation_not_its_order() {
    let obs = rack_and_app_observed(vec![svc("api", Some(3000), true, false)]);
    let fp = convox_model::plan::fingerprint(&obs);
    let mut reversed = obs.clone();
    reversed.reverse();
    assert_eq!(fp, convox_model::plan::fingerprint(&reversed));
    let mut changed = obs.clone();
    changed[0].id.push('x');
    assert_ne!(fp, convox_model::plan::fingerprint(&changed));
    assert_eq!(fp.len(), 64);
}

#[test]
fn plans_round_trip_through_json() {
    let obs = rack_and_app_observed(vec![svc("api", Some(3000), true, false)]);
    let r = rack(true, false);
    let d = app_desired(
        &r,
        "backend",
        vec![
            svc("api", Some(4000), true, false),
            svc("web", Some(80), false, false),
        ],
    );
    let p = plan_app("backend", &d, &obs);
    let json = p.to_json();
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert!(v["actions"].is_array());
    assert_eq!(v["fingerprint"], p.fingerprint.as_str());
    assert_eq!(v["actions"][0]["op"], "replace");
    assert_eq!(Plan::from_json(&json).unwrap(), p);
}

#[test]
fn rendering_reads_like_a_careful_terraform_plan() {
    let r = rack(true, false);
    let obs = rack_and_app_observed(vec![svc("web", Some(80), false, false)]);
    let mut api = svc("api", Some(3000), true, false);
    api.health.path = "/health".into();
    let d = app_desired(&r, "backend", vec![api]);
    let p = plan_app("backend", &d, &obs);
    let expected = "\
app backend
  + certificate app/backend/cert
      *.backend.production.convox
  + listener certificate app/backend/cert/attachment
      app/backend/cert on router/internal/listener/443
app backend, service api
  + listener rule app/backend/api/internal/rule
      host api.backend.production.convox -> app/backend/api/internal/tg (priority 1)
      (new endpoint: a new address or hostname starts answering)
  + target group app/backend/api/internal/tg
      cx-backend-api-i-49859a6d (HTTP:3000, health /health every 5s)
  + record app/backend/api/record
      api.backend.production.convox ALIAS router/internal/alb
      (DNS change: the name's answer changes)
app backend, service web
  - listener rule app/backend/web/external/rule
      host backend-web.production.example.com -> app/backend/web/external/tg (priority 1) (id:app/backend/web/external/rule)
      (drain: requests stop being routed here; those in flight finish)
  - target group app/backend/web/external/tg
      cx-backend-web-e-4e766509 (HTTP:80, health / every 5s) (id:app/backend/web/external/tg)
      (drain: requests stop being routed here; those in flight finish)

Plan: 5 to create, 0 to update, 0 to replace, 2 to delete.
";
    assert_eq!(p.to_string(), expected);
}
