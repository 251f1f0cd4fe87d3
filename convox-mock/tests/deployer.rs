//! What an embedding deployer gets from the library (issue 10): every deploy's
//! report names, for each routed service and router, the target group, rule,
//! load balancer and security group it attaches containers to, a no-op
//! redeploy too; and a deploy can run in two phases, so that no target group
//! is deleted while containers are still attached to it.

// Tests fail loudly on unexpected input: unwrapping is how they say so.
#![allow(clippy::unwrap_used)]

mod common;

use common::{
    fresh, internal_rack, issuer_fingerprint, name, production as settings, production_ctx as ctx,
};
use convox_mock::{MockBackend, VirtualClock};
use convox_model::apply::ApplyContext;
use convox_model::backend::Backend;
use convox_model::exposure::Router;
use convox_model::manifest::{Exposure, Manifest, Port, Scheme, Service};
use convox_model::name::Name;
use convox_model::observe::observe_all;
use convox_model::ops;
use convox_model::plan::{Op, Plan};
use convox_model::rack::Rack;
use convox_model::resource::{ListenerRuleSpec, Observed, ResourceKey, ResourceSpec as Spec};
use convox_model::routes::ServiceRoute;

fn service(n: &str, port: Option<u16>, exposure: Exposure) -> Service {
    let mut s = Service::with_defaults(name(n));
    s.port = port.map(|port| Port {
        port,
        scheme: Scheme::Http,
    });
    s.exposure = exposure;
    s
}

/// web external on 3000, api internal on 4000, both on both routers on 5000,
/// worker without a port.
fn backend(api_port: u16) -> Manifest {
    Manifest::from_services(vec![
        service("web", Some(3000), Exposure::External),
        service("api", Some(api_port), Exposure::Internal),
        service("both", Some(5000), Exposure::from_flags(true, true)),
        service("worker", None, Exposure::External),
    ])
}

fn id_of<'a>(observed: &'a [Observed], key: &ResourceKey) -> &'a str {
    let claims: Vec<&Observed> = observed.iter().filter(|o| o.resource.key == *key).collect();
    assert_eq!(claims.len(), 1, "{key}: {claims:#?}");
    &claims[0].id
}

/// Every route names what observe names, and the manifest's ports.
fn assert_routes_match(
    rack: &Rack,
    routes: &[ServiceRoute],
    observed: &[Observed],
    manifest: &Manifest,
) {
    let pairs: Vec<(String, Router)> = routes
        .iter()
        .map(|r| (r.service.to_string(), r.router))
        .collect();
    let want: Vec<(String, Router)> = [
        ("api", Router::Internal),
        ("both", Router::Internal),
        ("both", Router::External),
        ("web", Router::External),
    ]
    .into_iter()
    .map(|(s, r)| (s.to_string(), r))
    .collect();
    assert_eq!(pairs, want);
    let app = name("backend");
    for r in routes {
        let tg = ResourceKey::target_group(&app, &r.service, r.router);
        assert!(!r.target_group.arn.is_empty());
        assert_eq!(r.target_group.arn, id_of(observed, &tg), "{}", r.service);
        let port = manifest
            .service(r.service.as_str())
            .and_then(|s| s.port.as_ref())
            .map(|p| p.port);
        assert_eq!(Some(r.target_group.port), port, "{}", r.service);
        let rule = ResourceKey::listener_rule(&app, &r.service, r.router);
        assert_eq!(r.rule.arn, id_of(observed, &rule));
        assert_eq!(r.rule.listener_port, 443);
        assert!(r.rule.priority.is_some());
        let host = convox_model::exposure::hostname(rack, &app, &r.service, r.router);
        assert_eq!(r.rule.hostnames, [host]);
        let lb = ResourceKey::router_load_balancer(r.router);
        assert_eq!(r.load_balancer.arn, id_of(observed, &lb));
        let address = observed
            .iter()
            .find(|o| o.resource.key == lb)
            .and_then(|o| o.address.as_ref())
            .map(|a| a.dns_name.clone());
        assert_eq!(Some(r.load_balancer.dns_name.clone()), address);
        let sg = ResourceKey::router_security_group(r.router);
        assert_eq!(r.load_balancer.security_group_id, id_of(observed, &sg));
        assert!(r.load_balancer.security_group_id.starts_with("sg-"));
    }
}

#[tokio::test]
async fn a_deploy_and_a_no_op_redeploy_both_report_every_route() {
    let (mock, _clock, ctx) = fresh();
    let rack = internal_rack(&mock, &settings(), &ctx).await;
    let app = name("backend");
    let manifest = backend(4000);

    let first = ops::deploy(&mock, &rack, &app, &manifest, &ctx)
        .await
        .expect("deploy");
    assert!(!first.plan.is_empty());
    let observed = observe_all(&mock, &rack.name).await.expect("observe");
    assert_routes_match(&rack, &first.routes, &observed, &manifest);

    let again = ops::deploy(&mock, &rack, &app, &manifest, &ctx)
        .await
        .expect("redeploy");
    assert!(again.plan.is_empty(), "{}", again.plan);
    assert_eq!(again.report.calls, 0);
    assert_routes_match(&rack, &again.routes, &observed, &manifest);
    assert_eq!(again.routes, first.routes);

    // A changed port: the report names the new target group, not the old.
    let moved = backend(4001);
    let third = ops::deploy(&mock, &rack, &app, &moved, &ctx)
        .await
        .expect("deploy 4001");
    let observed = observe_all(&mock, &rack.name).await.expect("observe");
    assert_routes_match(&rack, &third.routes, &observed, &moved);
    let api = |routes: &[ServiceRoute]| {
        routes
            .iter()
            .find(|r| r.service.as_str() == "api")
            .map(|r| r.target_group.arn.clone())
    };
    assert_ne!(api(&third.routes), api(&first.routes));

    // The JSON a CLI prints carries them.
    let json = serde_json::to_value(&third).expect("json");
    let listed = json["routes"].as_array().expect("routes");
    assert_eq!(listed.len(), 4);
    assert_eq!(listed[0]["target_group"]["port"], 4001);
    assert!(listed[0]["load_balancer"]["dns_name"].as_str().is_some());
}

/// The provider id of every target group of api's key, and the target group
/// its rule forwards to, read from the mock's state (observe names keys only).
fn api_groups(mock: &MockBackend) -> (Vec<String>, String) {
    let state: serde_json::Value = serde_json::from_str(&mock.to_json().expect("state")).unwrap();
    let key = "app/backend/api/internal/tg";
    let mut groups: Vec<String> = state["target_groups"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(_, t)| t["tags"]["convox:key"] == key)
        .map(|(arn, _)| arn.clone())
        .collect();
    groups.sort();
    let rule = state["rules"]
        .as_object()
        .unwrap()
        .values()
        .find(|r| r["tags"]["convox:key"] == "app/backend/api/internal/rule")
        .expect("api's rule");
    (
        groups,
        rule["target_group_arn"].as_str().unwrap().to_string(),
    )
}

/// Every endpoint of `manifest` has its rule: each hostname is served.
async fn every_hostname_served(mock: &MockBackend, rack: &Rack, manifest: &Manifest) {
    let observed = observe_all(mock, &rack.name).await.expect("observe");
    for e in convox_model::exposure::endpoints(rack, &name("backend"), manifest) {
        let rule = ResourceKey::listener_rule(&name("backend"), &e.service, e.router);
        assert!(
            observed.iter().any(|o| o.resource.key == rule),
            "{} is not served",
            e.hostname
        );
    }
}

#[tokio::test]
async fn phase_one_keeps_the_old_target_group_until_phase_two() {
    let (mock, ctx, rack, app, first) = deployed().await;
    let (old, forwards) = api_groups(&mock);
    assert_eq!(old.len(), 1);
    assert_eq!(forwards, old[0]);

    // api moves to 4001; web (external) and both (on both routers, with an
    // internal record) go away.
    let mut moved = backend(4001);
    moved
        .services
        .retain(|s| !matches!(s.name.as_str(), "web" | "both"));
    let one = ops::deploy_phased(&mock, &rack, &app, &moved, &ctx, None)
        .await
        .expect("phase one");
    // Nothing was deleted, and the rule was pointed in place, never unserved.
    assert!(
        one.report
            .report
            .applied
            .iter()
            .all(|a| matches!(a.op, Op::Create | Op::Update)),
        "{:?}",
        one.report.report.applied
    );
    let api_rule = |routes: &[ServiceRoute]| {
        routes
            .iter()
            .find(|r| r.service.as_str() == "api")
            .map(|r| r.rule.arn.clone())
    };
    assert_eq!(api_rule(&one.report.routes), api_rule(&first.routes));
    let (groups, forwards) = api_groups(&mock);
    assert_eq!(groups.len(), 2, "both target groups exist: {groups:?}");
    assert!(groups.contains(&old[0]));
    assert_ne!(forwards, old[0], "the rule forwards to the new one");
    let api = one
        .report
        .routes
        .iter()
        .find(|r| r.service.as_str() == "api")
        .expect("api's route");
    assert_eq!(api.target_group.arn, forwards);
    assert_eq!(api.target_group.port, 4001);
    // Nothing is unserved yet: web's rule stays until phase two.
    every_hostname_served(&mock, &rack, &backend(4000)).await;
    let removed: Vec<String> = one
        .removals
        .actions()
        .iter()
        .map(|a| a.key.to_string())
        .collect();
    assert!(removed.contains(&"app/backend/api/internal/tg".to_string()));
    assert!(removed.contains(&"app/backend/web/external/rule".to_string()));
    assert!(removed.contains(&"app/backend/web/external/tg".to_string()));
    assert!(removed.contains(&"app/backend/both/record".to_string()));
    assert!(removed.contains(&"app/backend/both/internal/rule".to_string()));
    let old_web = first
        .routes
        .iter()
        .find(|r| r.service.as_str() == "web")
        .expect("web");
    // A deploy between the phases finds nothing to do for the new manifest.
    let between = ops::plan_app(&mock, &rack, &app, &moved, &issuer_fingerprint(&ctx))
        .await
        .expect("plan between");
    assert!(
        between
            .actions
            .iter()
            .all(|a| !a.key.as_str().contains("/api/")),
        "{between}"
    );

    // Phase two: the old target group and web's resources go, nothing else.
    let (p, report) = one.removals.apply(&mock, &ctx).await.expect("phase two");
    assert!(!p.is_empty());
    assert_eq!(report.applied.len(), p.actions.len());
    let (groups, after) = api_groups(&mock);
    assert_eq!(groups, std::slice::from_ref(&forwards));
    assert_eq!(after, forwards);
    let observed = observe_all(&mock, &rack.name).await.expect("observe");
    assert!(!observed.iter().any(|o| o.id == old_web.target_group.arn));
    assert!(!observed.iter().any(|o| o.id == old_web.rule.arn));
    let both = |o: &&Observed| o.resource.key.as_str().starts_with("app/backend/both/");
    assert_eq!(observed.iter().filter(both).count(), 0);
    every_hostname_served(&mock, &rack, &moved).await;
    let again = ops::deploy(&mock, &rack, &app, &moved, &ctx)
        .await
        .expect("redeploy");
    assert!(again.plan.is_empty(), "{}", again.plan);
    // Twice is nothing more.
    let (p, _) = one
        .removals
        .apply(&mock, &ctx)
        .await
        .expect("phase two again");
    assert!(p.is_empty());
}

/// A rack with both routers, `backend(4000)` deployed on it: the backend,
/// context, rack, app and the deploy's report.
async fn deployed() -> (MockBackend, ApplyContext, Rack, Name, ops::DeployReport) {
    let mock = MockBackend::new();
    let ctx = ctx(&VirtualClock::new());
    let rack = internal_rack(&mock, &settings(), &ctx).await;
    let app = name("backend");
    let first = ops::deploy(&mock, &rack, &app, &backend(4000), &ctx)
        .await
        .expect("deploy");
    (mock, ctx, rack, app, first)
}

/// The observed resource of `key`, and its rule spec.
fn observed_rule<'a>(
    observed: &'a [Observed],
    key: &ResourceKey,
) -> (&'a Observed, &'a ListenerRuleSpec) {
    let o = observed
        .iter()
        .find(|o| o.resource.key == *key)
        .unwrap_or_else(|| panic!("no {key}"));
    let Spec::ListenerRule(spec) = &o.resource.spec else {
        panic!("{key} is not a rule");
    };
    (o, spec)
}

#[tokio::test]
async fn a_deploy_without_phases_removes_in_one_go() {
    let (mock, ctx, rack, app, _) = deployed().await;
    let report = ops::deploy(&mock, &rack, &app, &backend(4001), &ctx)
        .await
        .expect("deploy 4001");
    let (groups, forwards) = api_groups(&mock);
    assert_eq!(groups, [forwards]);
    assert!(report.plan.counts().replace > 0);
}

#[tokio::test]
async fn phase_two_refuses_a_removal_referenced_again_and_deletes_nothing() {
    let (mock, ctx, rack, app, _) = deployed().await;
    let (old, _) = api_groups(&mock);
    let one = ops::deploy_phased(&mock, &rack, &app, &backend(4001), &ctx, None)
        .await
        .expect("phase one");
    let (_, new) = api_groups(&mock);

    // Someone points the rule back at the old group and removes the new one.
    let observed = observe_all(&mock, &rack.name).await.expect("observe");
    let rule_key = ResourceKey::listener_rule(&app, &name("api"), Router::Internal);
    let (rule, spec) = observed_rule(&observed, &rule_key);
    mock.modify_rule(&rule.id, spec, &old[0])
        .await
        .expect("repoint");
    mock.delete_target_group(&new).await.expect("delete new");
    let before = mock.inventory();

    let err = one
        .removals
        .apply(&mock, &ctx)
        .await
        .expect_err("the old group is in use again");
    assert!(
        matches!(
            &err,
            ops::OpsError::Removals(ops::RemovalError::Referenced { by, .. }) if *by == rule_key
        ),
        "{err}"
    );
    assert!(err.to_string().contains("nothing was deleted"), "{err}");
    assert_eq!(mock.inventory(), before);
    assert_eq!(api_groups(&mock), (old.clone(), old[0].clone()));
}

#[tokio::test]
async fn phase_two_refuses_a_removal_changed_since_phase_one() {
    let (mock, ctx, rack, app, _) = deployed().await;
    let mut without_web = backend(4000);
    without_web.services.retain(|s| s.name.as_str() != "web");
    let one = ops::deploy_phased(&mock, &rack, &app, &without_web, &ctx, None)
        .await
        .expect("phase one");
    // Another process takes web's rule over: it moves it to another priority.
    let observed = observe_all(&mock, &rack.name).await.expect("observe");
    let web_rule = ResourceKey::listener_rule(&app, &name("web"), Router::External);
    let (rule, _) = observed_rule(&observed, &web_rule);
    mock.set_rule_priority(&rule.id, 4321)
        .await
        .expect("priority");
    let before = mock.inventory();
    let err = one.removals.apply(&mock, &ctx).await.expect_err("changed");
    assert!(
        matches!(&err, ops::OpsError::Removals(ops::RemovalError::Changed { key, .. }) if *key == web_rule),
        "{err}"
    );
    assert_eq!(mock.inventory(), before);
}

// Applying a shown plan applies exactly that plan (issue 10).

#[tokio::test]
async fn a_shown_plan_is_applied_exactly_or_not_at_all() {
    let (mock, ctx, rack, app, _) = deployed().await;
    let fp = issuer_fingerprint(&ctx);
    let shown = ops::plan_app(&mock, &rack, &app, &backend(4001), &fp)
        .await
        .expect("plan");
    assert!(!shown.is_empty());

    // Another convox.yml on the same rack: not the plan shown, nothing done.
    let before = (mock.calls().mutations, mock.inventory());
    let err = ops::deploy_planned(&mock, &rack, &app, &backend(4002), &ctx, &shown)
        .await
        .expect_err("another manifest");
    assert!(matches!(err, ops::OpsError::NotShown), "{err}");
    assert!(err.to_string().contains("nothing was changed"), "{err}");
    assert_eq!((mock.calls().mutations, mock.inventory()), before);

    // A shown plan someone edited (read back from JSON) is refused too.
    let mut edited = Plan::from_json(&shown.to_json()).expect("json");
    edited.actions.pop();
    let err = ops::deploy_planned(&mock, &rack, &app, &backend(4001), &ctx, &edited)
        .await
        .expect_err("edited");
    assert!(matches!(err, ops::OpsError::NotShown), "{err}");
    assert_eq!((mock.calls().mutations, mock.inventory()), before);

    // The plan shown, read back from JSON, is applied as shown.
    let read = Plan::from_json(&shown.to_json()).expect("json");
    let done = ops::deploy_planned(&mock, &rack, &app, &backend(4001), &ctx, &read)
        .await
        .expect("the plan shown");
    assert_eq!(done.plan.actions, shown.actions);
}

#[tokio::test]
async fn another_port_between_the_phases_waits_for_phase_two() {
    let (mock, ctx, rack, app, _) = deployed().await;
    let one = ops::deploy_phased(&mock, &rack, &app, &backend(4001), &ctx, None)
        .await
        .expect("phase one");
    let before = mock.inventory();
    let err = ops::deploy(&mock, &rack, &app, &backend(4002), &ctx)
        .await
        .expect_err("the key is claimed twice");
    assert!(
        matches!(
            &err,
            ops::OpsError::Plan(convox_model::plan::PlanError::DuplicateClaim { .. })
        ),
        "{err}"
    );
    assert_eq!(mock.inventory(), before);
    one.removals.apply(&mock, &ctx).await.expect("phase two");
    let done = ops::deploy(&mock, &rack, &app, &backend(4002), &ctx)
        .await
        .expect("after phase two");
    let api = done
        .routes
        .iter()
        .find(|r| r.service.as_str() == "api")
        .expect("api");
    assert_eq!(api.target_group.port, 4002);
    assert_eq!(
        api_groups(&mock).0,
        std::slice::from_ref(&api.target_group.arn)
    );
}
