//! The rack's certificate authority on the mock: the identity check in the
//! library's entry points, and rotation — complete, idempotent, and finished by
//! a rerun after an interruption at any call.

mod common;

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};

use common::{NOW, covers, internal_rack, name, production as settings, stored_rack, web_service};
use convox_mock::{Fault, Faulty, MockBackend, Target, Trigger, VirtualClock};
use convox_model::apply::ApplyContext;
use convox_model::backend::ErrorKind;
use convox_model::ca::{CaError, rotate_ca};
use convox_model::manifest::Manifest;
use convox_model::name::Name;
use convox_model::ops::{self, OpsError};
use convox_model::tls::CertificateAuthority;
use serde_json::Value;

/// Two authorities for the whole run: the old one and the new one.
fn authorities() -> &'static (Arc<CertificateAuthority>, Arc<CertificateAuthority>) {
    static CAS: OnceLock<(Arc<CertificateAuthority>, Arc<CertificateAuthority>)> = OnceLock::new();
    CAS.get_or_init(|| {
        let make = || {
            Arc::new(CertificateAuthority::generate(&name("production"), NOW).expect("authority"))
        };
        (make(), make())
    })
}

fn ctx(ca: &Arc<CertificateAuthority>, clock: &VirtualClock) -> ApplyContext {
    ApplyContext::new(name("production"), NOW, clock.sleep_fn()).with_issuer(ca.clone())
}

fn manifests() -> Vec<(Name, Manifest)> {
    vec![
        (
            name("backend"),
            Manifest::from_services(vec![
                web_service("api", true, false),
                web_service("web", false, false),
            ]),
        ),
        (
            name("billing"),
            Manifest::from_services(vec![web_service("ledger", true, true)]),
        ),
    ]
}

/// A new clock, and [`deployed`] on it.
async fn deployed_now() -> (VirtualClock, Arc<MockBackend>) {
    let clock = VirtualClock::new();
    let mock = deployed(&clock).await;
    (clock, mock)
}

/// A rack with Internal=Yes and two apps, all issued by the old authority.
async fn deployed(clock: &VirtualClock) -> Arc<MockBackend> {
    let mock = Arc::new(MockBackend::new());
    let old = ctx(&authorities().0, clock);
    let rack = internal_rack(&*mock, &settings(), &old).await;
    for (app, m) in manifests() {
        ops::deploy(&*mock, &rack, &app, &m, &old)
            .await
            .expect("deploy");
    }
    mock
}

fn state(mock: &MockBackend) -> Value {
    serde_json::from_str(&mock.to_json().expect("state")).expect("JSON")
}

fn owned(v: &Value) -> bool {
    v["tags"]["convox:rack"] == "production"
}

/// The issuer of each of the rack's certificates, by domain (one each).
fn issuers(mock: &MockBackend) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for c in state(mock)["certificates"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(_, c)| c)
    {
        if owned(c) {
            // By the names it covers: a shared certificate (issue 9) covers
            // its apps' wildcards besides its domain, the router's.
            let names: Vec<&Value> = c["spec"]["names"]
                .as_array()
                .into_iter()
                .flatten()
                .collect();
            let covered: Vec<&str> = if names.is_empty() {
                c["spec"]["domain"].as_str().into_iter().collect()
            } else {
                names.iter().filter_map(|v| v.as_str()).collect()
            };
            for name in covered {
                out.entry(name.to_string())
                    .or_default()
                    .push(c["spec"]["issuer"].as_str().expect("issuer").to_string());
            }
        }
    }
    out
}

/// Every host routed on one of the rack's HTTPS listeners that no certificate
/// attached to that listener covers.
fn uncovered(mock: &MockBackend) -> Vec<String> {
    let s = state(mock);
    let certs = &s["certificates"];
    let mut out = Vec::new();
    for (arn, l) in s["listeners"].as_object().into_iter().flatten() {
        if !owned(l) || l["protocol"] != "HTTPS" {
            continue;
        }
        let mut attached: Vec<&str> = l["certificates"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        attached.extend(l["default_certificate"].as_str());
        // The rack CA's certificates by their domain; a public ACM certificate
        // (the external router's) by its domain and names.
        let public = &s["public_certificates"];
        let domains: Vec<&str> = attached
            .iter()
            .flat_map(|a| {
                certs[*a]["spec"]["domain"]
                    .as_str()
                    .into_iter()
                    // A shared certificate's further names (issue 9).
                    .chain(
                        certs[*a]["spec"]["names"]
                            .as_array()
                            .into_iter()
                            .flatten()
                            .filter_map(Value::as_str),
                    )
                    .chain(public[*a]["domain"].as_str())
                    .chain(
                        public[*a]["sans"]
                            .as_array()
                            .into_iter()
                            .flatten()
                            .filter_map(Value::as_str),
                    )
            })
            .collect();
        for (_, r) in s["rules"].as_object().into_iter().flatten() {
            if r["listener_arn"] != arn.as_str() {
                continue;
            }
            for h in r["hosts"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
            {
                if !domains.iter().any(|d| covers(d, h)) {
                    out.push(h.to_string());
                }
            }
        }
    }
    out
}

/// After a finished rotation: every certificate issued by the new authority,
/// one per name, the plans with it empty, and the old authority refused.
async fn check_rotated(mock: &MockBackend, clock: &VirtualClock) {
    let (old, new) = authorities();
    let issuers = issuers(mock);
    // The rack CA issues the internal router's and each app's; the external
    // router serves a public ACM certificate, never one of the rack CA's.
    assert_eq!(
        issuers.len(),
        3,
        "the internal router and two apps: {issuers:?}"
    );
    for (domain, by) in &issuers {
        assert_eq!(by, &[new.fingerprint().to_string()], "{domain}");
    }
    let rack = stored_rack(mock).await;
    let ca = rack.ca.clone().expect("recorded");
    assert_eq!(ca.fingerprint, new.fingerprint());
    assert_eq!(ca.rotating_to, None);
    for (app, m) in manifests() {
        let p = ops::plan_app(mock, &rack, &app, &m, new.fingerprint())
            .await
            .expect("plan");
        assert!(p.is_empty(), "{app}:\n{p}");
        let refused = ops::plan_app(mock, &rack, &app, &m, old.fingerprint()).await;
        assert!(
            matches!(refused, Err(OpsError::Ca(CaError::Mismatch { .. }))),
            "{refused:?}"
        );
    }
    let before = mock.calls().mutations;
    let (app, m) = &manifests()[0];
    let refused = ops::deploy(mock, &rack, app, m, &ctx(old, clock)).await;
    assert!(matches!(
        refused,
        Err(OpsError::Ca(CaError::Mismatch { .. }))
    ));
    let refused =
        ops::set_rack_params(mock, &settings(), &["Internal=Yes"], &ctx(old, clock)).await;
    assert!(matches!(
        refused,
        Err(OpsError::Ca(CaError::Mismatch { .. }))
    ));
    assert_eq!(mock.calls().mutations, before, "a refusal changes nothing");
    assert!(uncovered(mock).is_empty(), "{:?}", uncovered(mock));
}

#[tokio::test]
async fn a_rack_refuses_another_authority_before_any_change() {
    let (clock, mock) = deployed_now().await;
    let (old, new) = authorities();
    let rack = stored_rack(&*mock).await;
    assert_eq!(
        rack.ca.as_ref().map(|c| c.fingerprint.as_str()),
        Some(old.fingerprint())
    );
    mock.reset_calls();
    let (app, m) = &manifests()[0];
    let e = ops::deploy(&*mock, &rack, app, m, &ctx(new, &clock))
        .await
        .expect_err("refused");
    assert_eq!(mock.calls().mutations, 0);
    let text = e.to_string();
    assert!(
        text.contains(old.fingerprint()) && text.contains(new.fingerprint()),
        "{text}"
    );
    assert!(
        text.contains("--ca FILE") && text.contains("convox rack ca rotate"),
        "{text}"
    );
    // The same authority is accepted, and an identical redeploy changes nothing.
    ops::deploy(&*mock, &rack, app, m, &ctx(old, &clock))
        .await
        .expect("deploy");
    assert_eq!(mock.calls().mutations, 0);
}

#[tokio::test]
async fn rotation_reissues_every_certificate_and_records_the_new_authority_last() {
    let (clock, mock) = deployed_now().await;
    let (old, new) = authorities();
    let r = rotate_ca(&*mock, &name("production"), &ctx(new, &clock), "test")
        .await
        .expect("rotate");
    assert_eq!(r.from.as_deref(), Some(old.fingerprint()));
    // The internal router's and the shared certificate both apps are on
    // (issue 9: this was 3, one per app).
    assert_eq!(r.reissued(), 2);
    check_rotated(&mock, &clock).await;
    // Again: nothing to do.
    mock.reset_calls();
    let r = rotate_ca(&*mock, &name("production"), &ctx(new, &clock), "test")
        .await
        .expect("rotate again");
    assert_eq!(r.reissued(), 0);
    assert_eq!(mock.calls().mutations, 0);
}

#[tokio::test]
async fn a_rotation_to_another_authority_in_progress_is_refused() {
    let (clock, mock) = deployed_now().await;
    let (_, new) = authorities();
    // Interrupted right after recording the rotation (the first mutating call).
    let faulty = Faulty::from_arc(mock.clone(), 1).with_rule(
        Target::Mutations,
        Trigger::Nth(2),
        Fault::before(ErrorKind::Unexpected).retryable(false),
    );
    let _ = rotate_ca(&faulty, &name("production"), &ctx(new, &clock), "test").await;
    let third =
        Arc::new(CertificateAuthority::generate(&name("production"), NOW).expect("authority"));
    let e = rotate_ca(&*mock, &name("production"), &ctx(&third, &clock), "test")
        .await
        .expect_err("refused");
    assert!(
        matches!(e, OpsError::Ca(CaError::RotationInProgress { .. })),
        "{e}"
    );
}

/// Interrupted at every call in turn (the answer lost, not retried), then run
/// again without faults: the rotation finishes, and no served hostname was ever
/// uncovered in between. Between the interruption and the rerun, either
/// authority may reconcile the rack.
///
/// It rests on make-before-break replacement: the new certificate is attached
/// before the old one is detached, and of our own two copies under one key the
/// one that serves is kept.
#[tokio::test]
async fn a_rotation_interrupted_at_any_call_finishes_when_run_again() {
    let clock = VirtualClock::new();
    let (old, new) = authorities();
    let total = {
        let mock = deployed(&clock).await;
        mock.reset_calls();
        rotate_ca(&*mock, &name("production"), &ctx(new, &clock), "test")
            .await
            .expect("rotate");
        mock.calls().total()
    };
    assert!(total > 10, "{total} calls");
    let mut failed = Vec::new();
    let mut uncovered_at: Vec<String> = Vec::new();
    for n in 1..=total {
        let mock = deployed(&clock).await;
        let b = Faulty::from_arc(mock.clone(), n)
            .fail_nth_call(n, Fault::lost_response().retryable(false));
        let _ = rotate_ca(&b, &name("production"), &ctx(new, &clock), "test").await;
        let gaps = uncovered(&mock);
        if !gaps.is_empty() {
            uncovered_at.push(format!("call {n}: {gaps:?}"));
        }
        // Mid-rotation the old authority still deploys (nothing to change for
        // it to refuse), and so does the new one.
        let rack = stored_rack(&*mock).await;
        let rotating = rack.ca.as_ref().is_some_and(|c| c.rotating_to.is_some());
        if rotating {
            let (app, m) = &manifests()[1];
            if let Err(e) = ops::plan_app(&*mock, &rack, app, m, old.fingerprint()).await {
                failed.push(format!("call {n}: the old CA mid-rotation: {e}"));
            }
        }
        if let Err(e) = rotate_ca(&*mock, &name("production"), &ctx(new, &clock), "test").await {
            failed.push(format!("call {n}: {e}"));
            continue;
        }
        check_rotated(&mock, &clock).await;
    }
    assert!(
        failed.is_empty(),
        "{} of {total}:\n{}",
        failed.len(),
        failed.join("\n")
    );
    assert!(
        uncovered_at.is_empty(),
        "{} of {total}:\n{}",
        uncovered_at.len(),
        uncovered_at.join("\n")
    );
}
