//! Rack and app operations on the mock, end to end: the story of the internal
//! Services page, and regressions found by the reconcile state machine test.

mod common;

use std::sync::Arc;

use common::{
    fresh, name, production as settings, production_ctx as ctx, stored_rack, web_service,
};
use convox_mock::{Fault, Faulty, MockBackend, VirtualClock};
use convox_model::backend::Backend;
use convox_model::env::link_vars;
use convox_model::exposure::Router;
use convox_model::manifest::{Manifest, Service};
use convox_model::observe::observe_all;
use convox_model::ops::{self, OpsError};
use convox_model::rack::Rack;
use convox_model::resource::{LbScheme, Observed, ResourceKey, ResourceSpec as Spec};

fn service(n: &str, internal: bool, both: bool, links: &[&str]) -> Service {
    let mut s = web_service(n, internal, both);
    s.links = links.iter().map(|l| name(l)).collect();
    s
}

fn hosts(observed: &[Observed], router: Router) -> Vec<String> {
    let mut v: Vec<String> = observed
        .iter()
        .filter(|o| {
            o.resource
                .key
                .as_str()
                .ends_with(&format!("/{router}/rule"))
        })
        .filter_map(|o| match &o.resource.spec {
            Spec::ListenerRule(r) => Some(r.hosts.join(",")),
            _ => None,
        })
        .collect();
    v.sort();
    v
}

/// The page's story: enable the internal router, deploy `backend` with an internal
/// `api` that `web` links to, see InternalOnly refused while `web` is external,
/// serve `api` on both routers, redeploy without a change, and delete the app
/// without touching the rack or another app.
/// backend: `api` with the exposure of the flags given, and `web`, external,
/// linking to it.
fn backend_app(internal: bool, both: bool) -> Manifest {
    Manifest::from_services(vec![
        service("api", internal, both, &[]),
        service("web", false, false, &["api"]),
    ])
}

#[tokio::test]
async fn internal_services_story() {
    let (mock, _clock, ctx) = fresh();

    // convox rack params set Internal=Yes
    let change = ops::set_rack_params(&mock, &settings(), &["Internal=Yes"], &ctx)
        .await
        .expect("Internal=Yes");
    assert!(change.rack.params.internal());
    let rack = stored_rack(&mock).await;
    assert!(rack.params.internal() && !rack.params.internal_only());
    let observed = observe_all(&mock, &rack.name).await.expect("observe");
    let schemes: Vec<LbScheme> = observed
        .iter()
        .filter_map(|o| match &o.resource.spec {
            Spec::LoadBalancer(lb) => Some(lb.scheme),
            _ => None,
        })
        .collect();
    assert_eq!(schemes.len(), 2);
    assert!(schemes.contains(&LbScheme::Internal) && schemes.contains(&LbScheme::InternetFacing));

    // backend: api internal, web external linking to it.
    let backend = backend_app(true, false);
    let report = ops::deploy(&mock, &rack, &name("backend"), &backend, &ctx)
        .await
        .expect("deploy backend");
    let urls: Vec<String> = report.endpoints.iter().map(|e| e.url()).collect();
    assert_eq!(
        urls,
        [
            "https://api.backend.production.convox",
            "https://backend-web.production.example.com"
        ]
    );
    let web = backend.service("web").expect("web");
    assert_eq!(
        link_vars(&backend, &rack, &name("backend"), web),
        [(
            convox_model::env::LinkVar::for_link(&name("api")),
            "https://api.backend.production.convox".to_string()
        )]
    );
    let observed = observe_all(&mock, &rack.name).await.expect("observe");
    assert_eq!(
        hosts(&observed, Router::Internal),
        ["api.backend.production.convox"]
    );
    assert_eq!(
        hosts(&observed, Router::External),
        ["backend-web.production.example.com"]
    );
    assert!(observed.iter().any(|o| matches!(
        &o.resource.spec,
        Spec::Record(r) if r.name == "api.backend.production.convox"
    )));
    // Issue 9: covered by the internal load balancer's shared certificate.
    assert!(observed.iter().any(|o| matches!(
        &o.resource.spec,
        Spec::Certificate(c) if c.names.iter().any(|n| n == "*.backend.production.convox")
    )));

    // Another app, to show that deleting backend leaves it alone.
    let shop = Manifest::from_services(vec![service("store", false, false, &[])]);
    ops::deploy(&mock, &rack, &name("shop"), &shop, &ctx)
        .await
        .expect("deploy shop");

    // convox rack params set InternalOnly=Yes: refused while web is external,
    // naming it, and nothing changes.
    let before = mock.to_json().expect("state");
    let err = ops::set_rack_params(&mock, &settings(), &["InternalOnly=Yes"], &ctx)
        .await
        .expect_err("web and store are external");
    let OpsError::Transition { offenders, .. } = &err else {
        panic!("{err}");
    };
    assert_eq!(offenders, &["backend/web", "shop/store"]);
    assert_eq!(mock.to_json().expect("state"), before);
    assert!(!stored_rack(&mock).await.params.internal_only());

    // internalAndExternal: api gets both endpoints.
    let backend = backend_app(false, true);
    let report = ops::deploy(&mock, &rack, &name("backend"), &backend, &ctx)
        .await
        .expect("deploy api on both routers");
    let api: Vec<String> = report
        .endpoints
        .iter()
        .filter(|e| e.service.as_str() == "api")
        .map(|e| e.url())
        .collect();
    assert_eq!(
        api,
        [
            "https://api.backend.production.convox",
            "https://backend-api.production.example.com"
        ]
    );
    // The link still goes to the internal endpoint.
    let web = backend.service("web").expect("web");
    assert_eq!(
        link_vars(&backend, &rack, &name("backend"), web)[0].1,
        "https://api.backend.production.convox"
    );

    // The same deploy again: nothing to do, no mutating call.
    mock.reset_calls();
    let report = ops::deploy(&mock, &rack, &name("backend"), &backend, &ctx)
        .await
        .expect("redeploy");
    assert!(report.plan.is_empty());
    assert_eq!(mock.calls().mutations, 0);

    // Delete backend: the rack and shop are untouched.
    // Issue 9: but for the shared certificate backend leaves (checked below).
    let keys = |o: &[Observed], app: Option<&str>| -> Vec<(ResourceKey, String)> {
        o.iter()
            .filter(|o| o.resource.key.app() == app)
            .filter(|o| !convox_model::pool::certs::is_shared(&o.resource.key))
            .map(|o| (o.resource.key.clone(), o.id.clone()))
            .collect()
    };
    let before = observe_all(&mock, &rack.name).await.expect("observe");
    ops::delete_app(&mock, &rack, &name("backend"), &ctx)
        .await
        .expect("delete backend");
    let after = observe_all(&mock, &rack.name).await.expect("observe");
    assert!(keys(&after, Some("backend")).is_empty());
    assert_eq!(keys(&after, None), keys(&before, None));
    assert_eq!(keys(&after, Some("shop")), keys(&before, Some("shop")));
    // No shared certificate names backend any more.
    assert!(!after.iter().any(|o| matches!(
        &o.resource.spec,
        Spec::Certificate(c) if c.names.iter().any(|n| n.contains(".backend."))
    )));
    // The internal router's: the external router's certificate is public.
    assert_eq!(
        mock.inventory().certificates,
        1,
        "the internal router's own"
    );
}

/// A fresh mock, its clock and context, the rack, and an app with one
/// external service `web`.
fn shop_on_a_fresh_rack() -> (
    Arc<MockBackend>,
    VirtualClock,
    convox_model::apply::ApplyContext,
    Rack,
    Manifest,
) {
    let clock = VirtualClock::new();
    let ctx = ctx(&clock);
    let m = Manifest::from_services(vec![service("web", false, false, &[])]);
    (Arc::new(MockBackend::new()), clock, ctx, settings(), m)
}

/// Regression: the first deploy on a fresh rack creates the rack's resources
/// and then saves the rack on its zone, but only when it created something. A
/// first deploy that failed between the two (here: saving) left every later
/// deploy with nothing missing, so the rack was never saved. Found by the
/// reconcile state machine test.
#[tokio::test]
async fn a_deploy_after_one_that_failed_to_save_the_rack_saves_it() {
    let (mock, _clock, ctx, rack, m) = shop_on_a_fresh_rack();
    // A fault retrying cannot mend (a retryable one is retried within the
    // deploy, below).
    let faulty = Faulty::from_arc(mock.clone(), 1).fail_nth_call_of(
        "SaveRack",
        1,
        Fault::transient().retryable(false),
    );
    let err = ops::deploy(&faulty, &rack, &name("shop"), &m, &ctx)
        .await
        .expect_err("saving fails");
    assert!(matches!(err, OpsError::Backend(_)), "{err}");
    assert_eq!(mock.load_rack(&rack.name).await.expect("load"), None);

    ops::deploy(&*mock, &rack, &name("shop"), &m, &ctx)
        .await
        .expect("deploy again");
    // Saved as given, with the certificate authority it was created with.
    let saved = stored_rack(&*mock).await;
    let fingerprint = ctx.issuer.as_ref().map(|i| i.fingerprint());
    assert_eq!(
        saved.ca.as_ref().map(|c| c.fingerprint.clone()),
        fingerprint
    );
    assert_eq!(Rack { ca: None, ..saved }, rack);
}

/// Saving the rack is a change made outside an apply: retried as the engine
/// retries an apply's steps (`apply::retrying`), its one retry layer.
#[tokio::test]
async fn saving_the_rack_is_retried_like_an_apply_step() {
    let (mock, _clock, ctx, rack, m) = shop_on_a_fresh_rack();
    let faulty = Faulty::from_arc(mock.clone(), 1)
        .fail_nth_call_of("SaveRack", 1, Fault::throttled())
        .fail_nth_call_of("SaveRack", 2, Fault::transient());
    ops::deploy(&faulty, &rack, &name("shop"), &m, &ctx)
        .await
        .expect("saved on the third attempt");
    assert_eq!(faulty.faults().injected, 2);
    assert_eq!(
        mock.calls().of("SaveRack"),
        1,
        "the attempt that got through"
    );
    assert!(stored_rack(&*mock).await.ca.is_some());
}

/// Regression: ImportCertificate is not idempotent, and the apply engine retried
/// it after a lost answer, importing a second certificate under the same key.
/// The listener took one; the planner kept whichever sorted first and planned to
/// delete the other, which deploy never does for rack resources (a leak), and
/// which fails for ever when it is the one in use. Found by the reconcile state
/// machine test's fault variant (invariants 7 and 8).
#[tokio::test]
async fn a_lost_certificate_import_answer_does_not_import_it_twice() {
    let mock = Arc::new(MockBackend::new());
    let clock = VirtualClock::new();
    let ctx = ctx(&clock);
    let lose_nth_import = |n| {
        Faulty::from_arc(mock.clone(), 1).fail_nth_call_of(
            "ImportCertificate",
            n,
            Fault::lost_response(),
        )
    };
    // The internal router's certificate (the external router's is public, not
    // imported): the import's answer is lost.
    let rack = ops::set_rack_params(&lose_nth_import(1), &settings(), &["Internal=Yes"], &ctx)
        .await
        .expect("the retry finds the certificate the lost call made")
        .rack;
    assert_eq!(mock.inventory().certificates, 1, "the internal router's");
    // The app's certificate.
    let m = Manifest::from_services(vec![service("api", true, false, &[])]);
    ops::deploy(&lose_nth_import(1), &rack, &name("backend"), &m, &ctx)
        .await
        .expect("the retry finds the certificate the lost call made");
    assert_eq!(mock.inventory().certificates, 2, "and one for the app");

    let observed = observe_all(&*mock, &rack.name).await.expect("observe");
    let keys: Vec<&ResourceKey> = observed.iter().map(|o| &o.resource.key).collect();
    let unique: std::collections::BTreeSet<_> = keys.iter().collect();
    assert_eq!(keys.len(), unique.len(), "no key twice: {keys:?}");
    mock.reset_calls();
    let again = ops::deploy(&*mock, &rack, &name("backend"), &m, &ctx)
        .await
        .expect("redeploy");
    assert!(again.plan.is_empty(), "{}", again.plan);
    assert_eq!(mock.calls().mutations, 0);
}
