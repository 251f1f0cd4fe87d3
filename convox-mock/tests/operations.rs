//! Rack and app operations (`convox_model::ops`) against the mock: repeat
//! deploys change nothing, missing rack resources come first, rack rules and
//! parameter transitions are refused before any change, apps are deleted alone,
//! and a shown plan is applied only to the rack it was made from.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeSet;
use std::sync::Arc;

use common::{name as n, production};
use convox_mock::MockBackend;
use convox_model::apply::{ApplyContext, SleepFn};
use convox_model::backend::Backend;
use convox_model::exposure::Router;
use convox_model::manifest::{Manifest, Port, Scheme, Service};
use convox_model::ops::{OpsError, delete_app, deploy, deploy_planned, plan_app, set_rack_params};
use convox_model::params::{ParamError, RackParams};
use convox_model::rack::Rack;
use convox_model::resource::{ResourceKey, ResourceSpec as Spec, Scope};
use convox_model::tls::CertificateAuthority;

/// The operations tests' rack ([`production`]) with the parameters given.
fn rack(internal: bool, internal_only: bool) -> Rack {
    Rack {
        params: RackParams::new(internal, internal_only).unwrap(),
        ..production()
    }
}

fn svc(name: &str, port: Option<u16>, internal: bool, both: bool) -> Service {
    let mut s = Service::with_defaults(n(name));
    s.port = port.map(|port| Port {
        port,
        scheme: Scheme::Http,
    });
    s.exposure = convox_model::manifest::Exposure::from_flags(internal, both);
    s
}

fn manifest(services: Vec<Service>) -> Manifest {
    Manifest::from_services(services)
}

/// One service, `api` on port 3000, on the internal router.
fn internal_api() -> Manifest {
    manifest(vec![svc("api", Some(3000), true, false)])
}

fn ctx() -> ApplyContext {
    let sleep: SleepFn = Arc::new(|_| Box::pin(async {}));
    let ca = CertificateAuthority::generate(&n("production"), 1_750_000_000).unwrap();
    ApplyContext::new(n("production"), 1_750_000_000, sleep).with_issuer(Arc::new(ca))
}

/// A new mock, a context, a rack with the internal router (nothing created
/// yet) and [`internal_api`] to deploy on it.
fn fresh_internal() -> (MockBackend, ApplyContext, Rack, Manifest) {
    (MockBackend::new(), ctx(), rack(true, false), internal_api())
}

/// A mock after `Internal=Yes` on [`rack`], the context that set it, and the
/// rack as the change left it.
async fn internal_rack() -> (MockBackend, ApplyContext, Rack) {
    let fake = MockBackend::new();
    let c = ctx();
    let r = set_rack_params(&fake, &rack(false, false), &["Internal=Yes"], &c)
        .await
        .unwrap()
        .rack;
    (fake, c, r)
}

#[tokio::test]
async fn a_second_deploy_plans_nothing_and_changes_nothing() {
    let (fake, c, r) = internal_rack().await;
    assert!(r.params.internal());
    assert_eq!(fake.load_rack(&r.name).await.unwrap(), Some(r.clone()));
    let m = manifest(vec![
        svc("api", Some(3000), true, false),
        svc("web", Some(80), false, true),
    ]);
    let first = deploy(&fake, &r, &n("backend"), &m, &c).await.unwrap();
    // Issue 9: the internal load balancer's shared certificate and its
    // attachment come first (the rack's); the app has none of its own.
    assert_eq!(first.rack.map(|r| r.applied.len()), Some(2));
    assert_eq!(first.plan.counts().create, 8);
    assert_eq!(first.endpoints.len(), 3);
    let before = fake.calls().mutations;
    let second = deploy(&fake, &r, &n("backend"), &m, &c).await.unwrap();
    assert!(second.plan.is_empty(), "{}", second.plan);
    assert_eq!(fake.calls().mutations, before);
    let fp = c.issuer.as_ref().unwrap().fingerprint();
    assert!(
        plan_app(&fake, &r, &n("backend"), &m, &fp)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn deploy_creates_missing_rack_resources_first() {
    let (fake, c, r, m) = fresh_internal();
    let report = deploy(&fake, &r, &n("backend"), &m, &c).await.unwrap();
    // The external router serves a public certificate ACM issued (the mock's
    // default: at once), not one of the rack's CA: one import fewer.
    // Issue 9: with the internal load balancer's shared certificate and its
    // attachment (the app has none of its own any more).
    assert_eq!(report.rack.unwrap().applied.len(), 12);
    assert_eq!(report.report.applied.len(), 3);
    assert!(fake.load_rack(&r.name).await.unwrap().is_some());
}

#[tokio::test]
async fn deploy_refuses_an_internal_service_on_a_rack_without_internal_before_any_call() {
    let fake = MockBackend::new();
    let m = manifest(vec![svc("api", None, true, false)]);
    let err = deploy(&fake, &rack(false, false), &n("backend"), &m, &ctx())
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("rack does not support internal services"),
        "{text}"
    );
    assert!(
        text.contains("convox rack params set Internal=Yes"),
        "{text}"
    );
    assert_eq!(fake.calls().mutations, 0);
}

#[tokio::test]
async fn parameter_changes_are_checked_against_what_is_deployed() {
    let (fake, c, r) = internal_rack().await;
    let m = manifest(vec![
        svc("api", Some(3000), true, false),
        svc("web", Some(80), false, false),
    ]);
    deploy(&fake, &r, &n("backend"), &m, &c).await.unwrap();
    let before = fake.calls().mutations;

    let err = set_rack_params(&fake, &r, &["Internal=No"], &c)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, OpsError::Transition { offenders, .. } if offenders == &vec!["backend/api".to_string()]),
        "{err}"
    );
    let err = set_rack_params(&fake, &r, &["InternalOnly=Yes"], &c)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("backend/web"), "{err}");
    let err = set_rack_params(
        &fake,
        &rack(false, false),
        &["Internal=No", "InternalOnly=Yes"],
        &c,
    )
    .await
    .unwrap_err();
    assert!(matches!(
        err,
        OpsError::Params(ParamError::InternalOnlyWithoutInternal)
    ));
    assert_eq!(fake.calls().mutations, before);

    // Once the app is gone, the internal router can go too.
    let (p, _) = delete_app(&fake, &r, &n("backend"), &c).await.unwrap();
    // Issue 9: no certificate of its own (it left the shared one).
    assert_eq!(p.counts().delete, 5);
    let change = set_rack_params(&fake, &r, &["Internal=No"], &c)
        .await
        .unwrap();
    assert_eq!(change.plan.counts().delete, 5);
    assert!(
        !fake
            .load_rack(&r.name)
            .await
            .unwrap()
            .unwrap()
            .params
            .internal()
    );
    // Exactly the zone and the external router are left: nothing internal, and
    // not vacuously (an empty rack would pass a check over "every resource").
    let left: BTreeSet<ResourceKey> = fake
        .observe(&r.name, &Scope::Rack)
        .await
        .unwrap()
        .into_iter()
        .map(|o| o.resource.key)
        .collect();
    let e = Router::External;
    assert_eq!(
        left,
        BTreeSet::from([
            ResourceKey::zone(),
            ResourceKey::router_security_group(e),
            ResourceKey::router_load_balancer(e),
            ResourceKey::router_listener(e, 80),
            ResourceKey::router_listener(e, 443),
        ])
    );
}

#[tokio::test]
async fn deleting_an_app_leaves_other_apps_alone() {
    let (fake, c, r, m) = fresh_internal();
    deploy(&fake, &r, &n("one"), &m, &c).await.unwrap();
    deploy(&fake, &r, &n("two"), &m, &c).await.unwrap();
    delete_app(&fake, &r, &n("one"), &c).await.unwrap();
    let left = fake.observe(&r.name, &Scope::Apps).await.unwrap();
    // Issue 9: its target group, rule and record (its name is on the shared
    // certificate, the rack's).
    assert_eq!(left.len(), 3);
    assert!(left.iter().all(|o| o.resource.key.app() == Some("two")));
    // The second app's rule kept its priority (2), the first's (1) is free again.
    let prios: Vec<u32> = left
        .iter()
        .filter_map(|o| match &o.resource.spec {
            Spec::ListenerRule(r) => r.priority,
            _ => None,
        })
        .collect();
    assert_eq!(prios, vec![2]);
}

#[tokio::test]
async fn a_shown_plan_is_applied_only_to_the_rack_it_was_made_from() {
    let (fake, c, r) = internal_rack().await;
    let fp = c.issuer.as_ref().unwrap().fingerprint();
    let api = internal_api();
    let shown = plan_app(&fake, &r, &n("backend"), &api, &fp).await.unwrap();
    assert_eq!(shown.counts().create, 5, "{shown}");

    // Another app lands between `convox plan` and `convox deploy` (issue 8: an
    // operator working beside another). The rack changed, but planning again
    // gives the actions shown: they are applied, no rerun needed.
    let web = manifest(vec![svc("web", Some(80), false, false)]);
    deploy(&fake, &r, &n("other"), &web, &c).await.unwrap();
    let done = deploy_planned(&fake, &r, &n("backend"), &api, &c, &shown)
        .await
        .unwrap();
    // Issue 9: the shown plan's rack part (the shared certificate) is applied
    // first, as the rack's.
    let rack_part = done.rack.as_ref().map_or(0, |r| r.applied.len());
    assert_eq!(done.plan.actions.len() + rack_part, shown.actions.len());

    // Something that changes what this deploy would do makes the shown plan
    // stale: someone else deploys `backend` on another port meanwhile.
    let moved = manifest(vec![svc("api", Some(4000), true, false)]);
    let shown = plan_app(&fake, &r, &n("backend"), &moved, &fp)
        .await
        .unwrap();
    let other_port = manifest(vec![svc("api", Some(5000), true, false)]);
    deploy(&fake, &r, &n("backend"), &other_port, &c)
        .await
        .unwrap();
    let before = fake.calls().mutations;
    let err = deploy_planned(&fake, &r, &n("backend"), &moved, &c, &shown)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            OpsError::Apply(convox_model::apply::ApplyError::Stale { .. })
        ),
        "{err}"
    );
    assert!(err.to_string().contains("plan again"), "{err}");
    assert_eq!(
        fake.calls().mutations,
        before,
        "a stale plan changes nothing"
    );

    // Planned afresh, it goes through and does what it showed.
    let shown = plan_app(&fake, &r, &n("backend"), &moved, &fp)
        .await
        .unwrap();
    let done = deploy_planned(&fake, &r, &n("backend"), &moved, &c, &shown)
        .await
        .unwrap();
    // Issue 9: the shown plan's rack part (the shared certificate) is applied
    // first, as the rack's.
    let rack_part = done.rack.as_ref().map_or(0, |r| r.applied.len());
    assert_eq!(done.plan.actions.len() + rack_part, shown.actions.len());
}

#[tokio::test]
async fn plan_app_on_a_fresh_rack_shows_the_rack_resources_a_deploy_creates_first() {
    let (fake, c, r, m) = fresh_internal();
    let fp = c.issuer.as_ref().unwrap().fingerprint();
    let shown = plan_app(&fake, &r, &n("backend"), &m, &fp).await.unwrap();
    assert!(
        shown
            .actions
            .iter()
            .any(|a| a.key.as_str() == "router/internal/alb")
    );
    assert!(
        shown
            .actions
            .iter()
            .any(|a| a.key.as_str() == "app/backend/api/internal/rule")
    );
    assert_eq!(fake.calls().mutations, 0, "planning changes nothing");
}
