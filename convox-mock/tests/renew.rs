//! Certificates that last (issue 12), on the mock with a clock the test moves:
//! a rack deployed at t0 shows its renewals in the plan at t0+380 days, a deploy
//! renews every due certificate in place (the app's and the rack's), the plan
//! after it is empty, every certificate in use is valid past t0+410 days and
//! nothing leaks; and with a fault at every call of a renewal or of an issuer
//! change, no served hostname is ever left without a certificate.

mod common;

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};

use common::{covers, name, production as settings};
use convox_mock::{Fault, Faulty, MockBackend, Target, Trigger, VirtualClock};
use convox_model::apply::ApplyContext;
use convox_model::backend::{Backend, ErrorKind};
use convox_model::manifest::{Manifest, Port, Scheme, Service};
use convox_model::observe::observe_all;
use convox_model::ops;
use convox_model::rack::Rack;
use convox_model::renew::{DAY, Renewal, date};
use convox_model::resource::{ResourceKey, ResourceSpec};
use convox_model::tls::CertificateAuthority;
use serde_json::Value;

const T0: i64 = 1_750_000_000;

/// One run of an operation, its outcome left to the checks.
type Run<'a> = std::pin::Pin<Box<dyn std::future::Future<Output = ()> + 'a>>;
const RACK: &str = "production";

/// The rack's authority, and another one (an issuer change).
fn authority(second: bool) -> Arc<CertificateAuthority> {
    static CAS: OnceLock<[Arc<CertificateAuthority>; 2]> = OnceLock::new();
    let cas = CAS.get_or_init(|| {
        let ca = || Arc::new(CertificateAuthority::generate(&name(RACK), T0).expect("CA"));
        [ca(), ca()]
    });
    cas[usize::from(second)].clone()
}

fn ctx(now: i64, second_ca: bool) -> ApplyContext {
    ApplyContext::new(name(RACK), now, VirtualClock::new().sleep_fn())
        .with_issuer(authority(second_ca))
        .with_seed(7)
}

/// `api` internal and external, `web` external: an app certificate attached
/// to the internal listener and both routers' default certificates in use.
fn manifest() -> Manifest {
    let svc = |n: &str, internal: bool, both: bool| {
        let mut s = Service::with_defaults(name(n));
        s.port = Some(Port {
            port: 3000,
            scheme: Scheme::Http,
        });
        s.exposure = convox_model::manifest::Exposure::from_flags(internal, both);
        s
    };
    Manifest::from_services(vec![svc("api", true, true), svc("web", false, false)])
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime")
}

/// The rack set up and the app deployed at t0, as JSON: each case starts from a
/// copy.
fn world() -> MockBackend {
    static WORLD: OnceLock<String> = OnceLock::new();
    let json = WORLD.get_or_init(|| {
        let mock = MockBackend::new();
        rt().block_on(async {
            let c = ctx(T0, false);
            let change = ops::set_rack_params(&mock, &settings(), &["Internal=Yes"], &c)
                .await
                .expect("rack");
            ops::deploy(&mock, &change.rack, &name("backend"), &manifest(), &c)
                .await
                .expect("deploy");
            // The second authority is the one the rack is moving to, as
            // `rack ca rotate` records first: the rack accepts either, so a
            // deploy with it changes the issuer (the replacement tested here).
            let mut stored = mock
                .load_rack(&name(RACK))
                .await
                .expect("load")
                .expect("rack");
            let ca = stored.ca.as_mut().expect("the rack records its authority");
            ca.rotating_to = Some(authority(true).fingerprint().to_string());
            let zone = observe_all(&mock, &name(RACK))
                .await
                .expect("observe")
                .into_iter()
                .find(|o| o.resource.key == ResourceKey::zone())
                .expect("zone");
            mock.save_rack(&zone.id, &stored).await.expect("save");
        });
        mock.to_json().expect("state")
    });
    MockBackend::from_json(json).expect("state")
}

async fn rack(b: &dyn Backend) -> Rack {
    b.load_rack(&name(RACK))
        .await
        .expect("load")
        .expect("the rack is stored")
}

fn state(b: &MockBackend) -> Value {
    serde_json::from_str(&b.to_json().expect("state")).expect("JSON")
}

/// Every hostname the rack's rules serve on an HTTPS listener, with the latest
/// validity among the certificates on that listener (default or attached) that
/// cover it: `None` when none does. Read from the raw state, by ARN.
fn coverage(state: &Value) -> BTreeMap<String, Option<i64>> {
    let empty = serde_json::Map::new();
    let obj = |v: &Value| v.as_object().cloned().unwrap_or_else(|| empty.clone());
    let (listeners, certs) = (obj(&state["listeners"]), obj(&state["certificates"]));
    let mut out = BTreeMap::new();
    for (_, rule) in obj(&state["rules"]) {
        if rule["tags"]["convox:rack"] != RACK {
            continue;
        }
        let Some(l) = rule["listener_arn"].as_str().and_then(|a| listeners.get(a)) else {
            continue;
        };
        if l["protocol"] != "HTTPS" {
            continue;
        }
        let arns: Vec<&str> = l["default_certificate"]
            .as_str()
            .into_iter()
            .chain(
                l["certificates"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str),
            )
            .collect();
        for host in rule["hosts"].as_array().into_iter().flatten() {
            let host = host.as_str().expect("hosts are strings");
            // Public names are served with an ACM certificate, which ACM
            // renews: the rack CA's certificates cover the private names.
            if !host.ends_with(".convox") {
                continue;
            }
            let best = arns
                .iter()
                .filter_map(|a| certs.get(*a))
                .filter(|c| {
                    // Its domain and further names (a shared certificate, issue 9).
                    std::iter::once(&c["spec"]["domain"])
                        .chain(c["spec"]["names"].as_array().into_iter().flatten())
                        .any(|d| covers(d.as_str().unwrap_or(""), host))
                })
                .map(|c| c["not_after"].as_i64().expect("real certificates"))
                .max();
            out.insert(host.to_string(), best);
        }
    }
    out
}

/// No hostname served before is uncovered now, nor covered by a certificate
/// that expires sooner than what covered it before.
fn assert_still_covered(before: &BTreeMap<String, Option<i64>>, after: &Value, what: &str) {
    let after = coverage(after);
    for (host, was) in before {
        let was = was.unwrap_or_else(|| panic!("{host} was not covered before {what}"));
        match after.get(host) {
            Some(Some(now)) => assert!(
                *now >= was,
                "{what}: {host} is covered until {} instead of {}",
                date(*now),
                date(was)
            ),
            Some(None) => panic!("{what}: {host} is served but no certificate covers it"),
            None => panic!("{what}: {host} is no longer served"),
        }
    }
}

/// The certificates observed, by key: (ARN, not_after, issuer).
async fn certificates(b: &dyn Backend) -> BTreeMap<ResourceKey, (String, Option<i64>, String)> {
    observe_all(b, &name(RACK))
        .await
        .expect("observe")
        .into_iter()
        .filter_map(|o| match &o.resource.spec {
            ResourceSpec::Certificate(c) => Some((
                o.resource.key.clone(),
                (o.id.clone(), o.not_after, c.issuer.clone()),
            )),
            _ => None,
        })
        .collect()
}

/// After a renewal or issuer change at `now` with `second_ca`: nothing left to
/// plan (app and rack), every certificate issued by it valid past `valid_past`,
/// and no certificate beyond the three in use.
async fn assert_settled(b: &MockBackend, now: i64, second_ca: bool, valid_past: i64) {
    let r = rack(b).await;
    let fp = authority(second_ca).fingerprint().to_string();
    let p = ops::plan_app_at(
        b,
        &r,
        &name("backend"),
        &manifest(),
        &fp,
        Some(Renewal::at(now)),
    )
    .await
    .expect("plan");
    assert!(p.is_empty(), "the plan after the deploy is not empty:\n{p}");
    let before = b.calls().mutations;
    let change = ops::set_rack_params(b, &settings(), &[], &ctx(now, second_ca))
        .await
        .expect("rack params");
    assert!(change.plan.is_empty(), "rack plan:\n{}", change.plan);
    assert_eq!(b.calls().mutations - before, 1, "only SaveRack");
    let certs = certificates(b).await;
    // The rack CA issued two: the app's and the internal router's (the external
    // router serves a public ACM certificate).
    assert_eq!(certs.len(), 2, "{certs:?}");
    for (key, (_, not_after, issuer)) in &certs {
        let t = not_after.expect("real certificates have a validity");
        assert!(t > valid_past, "{key} expires on {}", date(t));
        assert_eq!(issuer, &fp, "{key}");
    }
    assert_eq!(b.inventory().certificates, 2, "certificates leaked");
    for (host, best) in coverage(&state(b)) {
        let t = best.unwrap_or_else(|| panic!("{host} uncovered"));
        assert!(t > valid_past, "{host} is covered only until {}", date(t));
    }
}

#[test]
fn a_year_on_the_plan_shows_renewals_and_a_deploy_renews_every_due_certificate_in_place() {
    let rt = rt();
    let b = world();
    rt.block_on(async {
        let r = rack(&b).await;
        let fp = authority(false).fingerprint().to_string();
        let app = name("backend");
        let before = certificates(&b).await;
        let expires = T0 + 397 * DAY;

        // Not due yet: nothing to do.
        let p = ops::plan_app_at(
            &b,
            &r,
            &app,
            &manifest(),
            &fp,
            Some(Renewal::at(T0 + 300 * DAY)),
        )
        .await
        .expect("plan");
        assert!(p.is_empty(), "{p}");

        let now = T0 + 380 * DAY;
        let p = ops::plan_app_at(&b, &r, &app, &manifest(), &fp, Some(Renewal::at(now)))
            .await
            .expect("plan");
        let text = p.to_string();
        // Issue 9: the app's name is on the internal load balancer's shared
        // certificate, renewed in place as the rack's.
        for key in ["router/internal/cert/1", "router/internal/cert"] {
            let line = format!("~ renew certificate {key} (expires {})", date(expires));
            assert!(text.contains(&line), "no {line:?} in\n{text}");
        }
        assert!(text.contains("because it expires on"), "{text}");
        assert!(
            text.contains("(no disruption: re-imported in place"),
            "{text}"
        );
        assert_eq!(p.actions.len(), 2, "{text}");
        assert!(p.actions.iter().all(|a| a.is_renewal()), "{text}");
        // Without a time, nothing is renewed.
        let plain = ops::plan_app(&b, &r, &app, &manifest(), &fp)
            .await
            .expect("plan");
        assert!(plain.is_empty(), "{plain}");

        let coverage_before = coverage(&state(&b));
        b.reset_calls();
        let report = ops::deploy_planned(&b, &r, &app, &manifest(), &ctx(now, false), &p)
            .await
            .expect("deploy");
        assert_eq!(report.rack.map(|r| r.applied.len()), Some(2));
        assert_eq!(report.report.applied.len(), 0);
        let calls = b.calls();
        assert_eq!(calls.of("ReimportCertificate"), 2, "{calls:?}");
        assert_eq!(calls.mutations, 2, "only re-imports: {calls:?}");
        assert_still_covered(&coverage_before, &state(&b), "the renewal");

        // Renewed in place: the same ARNs, later validity.
        let after = certificates(&b).await;
        for (key, (arn, _, _)) in &before {
            assert_eq!(&after[key].0, arn, "{key} changed ARN");
        }
        assert_settled(&b, now, false, T0 + 410 * DAY).await;
    });
}

#[test]
fn rack_params_set_renews_the_rack_certificates_that_are_due() {
    let rt = rt();
    let b = world();
    rt.block_on(async {
        let now = T0 + 370 * DAY;
        let change = ops::set_rack_params(&b, &settings(), &[], &ctx(now, false))
            .await
            .expect("params");
        let renewed: Vec<&str> = change
            .plan
            .actions
            .iter()
            .filter(|a| a.is_renewal())
            .map(|a| a.key.as_str())
            .collect();
        // Issue 9: the shared certificate of the internal load balancer is
        // the rack's, renewed with it (an app's own used to wait for its
        // deploy).
        assert_eq!(renewed, ["router/internal/cert", "router/internal/cert/1"]);
        let certs = certificates(&b).await;
        for r in ["router/internal/cert", "router/internal/cert/1"] {
            let t = certs[&ResourceKey::from_raw(r)].1.expect("validity");
            assert_eq!(t, now + 397 * DAY, "{r}");
        }
    });
}

/// The faults tried at each call: refused before it, made but the answer
/// lost (the engine gives up), and made but answered with a retryable error.
fn faults() -> [(&'static str, Fault); 3] {
    [
        (
            "refused",
            Fault::before(ErrorKind::Unexpected).retryable(false),
        ),
        ("lost", Fault::lost_response().retryable(false)),
        ("lost, retried", Fault::lost_response()),
    ]
}

/// Runs `op` against a fresh world with a fault at every mutating call in turn,
/// checks that every name stays covered after the faulty run, then that a
/// fault-free retry settles.
fn at_every_call<F>(what: &str, now: i64, second_ca: bool, op: F)
where
    F: for<'a> Fn(&'a dyn Backend, ApplyContext) -> Run<'a>,
{
    let rt = rt();
    // How many mutating calls the operation makes without faults.
    let clean = world();
    rt.block_on(op(&clean, ctx(now, second_ca)));
    let n = clean.calls().mutations;
    assert!(n > 0, "{what} made no call");
    for k in 1..=n {
        for (kind, fault) in faults() {
            let mock = Arc::new(world());
            let before = coverage(&state(&mock));
            let faulty = Faulty::from_arc(mock.clone(), k).with_rule(
                Target::Mutations,
                Trigger::Nth(k),
                fault,
            );
            rt.block_on(op(&faulty, ctx(now, second_ca)));
            let label = format!("{what} with call {k} of {n} {kind}");
            assert_still_covered(&before, &state(&mock), &label);
            // The next runs finish the work.
            for _ in 0..3 {
                rt.block_on(op(&*mock, ctx(now, second_ca)));
            }
            assert_still_covered(&before, &state(&mock), &format!("{label}, then retried"));
            rt.block_on(assert_settled(&mock, now, second_ca, now + 30 * DAY));
        }
    }
}

fn deploy_op(b: &dyn Backend, c: ApplyContext) -> Run<'_> {
    Box::pin(async move {
        let r = rack(b).await;
        let _ = ops::deploy(b, &r, &name("backend"), &manifest(), &c).await;
    })
}

fn params_op(b: &dyn Backend, c: ApplyContext) -> Run<'_> {
    Box::pin(async move {
        let _ = ops::set_rack_params(b, &settings(), &[], &c).await;
    })
}

#[test]
fn a_renewal_never_uncovers_a_name_with_a_fault_at_any_call() {
    at_every_call("a renewing deploy", T0 + 380 * DAY, false, deploy_op);
}

#[test]
fn an_issuer_change_attaches_the_new_certificate_before_detaching_the_old() {
    // A deploy with another authority replaces the app's certificate; the
    // rack's, with a renewal due at the same time, are renewed in place.
    let now = T0 + 380 * DAY;
    at_every_call("a deploy with a new issuer", now, true, |b, c| {
        Box::pin(async move {
            deploy_op(b, c.clone()).await;
            // The rack's certificates follow the new issuer with the rack's
            // own command.
            params_op(b, c).await;
        })
    });
}
