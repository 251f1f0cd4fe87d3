//! Public names get public certificates (issue 12, item 6), on the mock: the
//! external router serves an ACM-requested or user-supplied certificate, never
//! one of the rack's CA; while it is pending internal services deploy and
//! external endpoints wait; the next deploy after issuance completes them.

mod common;

use common::{fresh, https_listener, issuer_fingerprint, name, web_service};
use convox_mock::AcmValidation;
use convox_model::backend::Backend;
use convox_model::exposure::Router;
use convox_model::manifest::Manifest;
use convox_model::observe::observe_all;
use convox_model::ops::{self, OpsError};
use convox_model::params::RackParams;
use convox_model::public_cert::{
    CertificateStatus, ExternalCertificate, PublicCertError, external_certificate, referenced_arn,
};
use convox_model::rack::Rack;
use convox_model::resource::{Observed, ResourceKey, ResourceSpec as Spec};

const DOMAIN: &str = "*.production.example.com";

fn settings() -> Rack {
    let mut r = Rack::new(
        name("production"),
        RackParams::new(true, false).expect("params"),
        Some("production.example.com".into()),
    );
    r.subnets = vec!["subnet-a".into(), "subnet-b".into()];
    r
}

/// `api` internal, `web` external.
fn manifest() -> Manifest {
    Manifest::from_services(vec![
        web_service("api", true, false),
        web_service("web", false, false),
    ])
}

fn find<'a>(observed: &'a [Observed], key: &ResourceKey) -> Option<&'a Observed> {
    observed.iter().find(|o| &o.resource.key == key)
}

/// The ARN the external 443 listener serves, if it exists.
fn external_listener_certificate(observed: &[Observed]) -> Option<String> {
    let l = find(
        observed,
        &ResourceKey::router_listener(Router::External, 443),
    )?;
    match &l.resource.spec {
        Spec::Listener(spec) => spec
            .certificate
            .as_ref()
            .map(|k| referenced_arn(k).unwrap_or(k.as_str()).to_string()),
        _ => None,
    }
}

/// No certificate of the rack's CA names the router host, and the external
/// router's old private certificate is gone.
fn assert_no_private_external_certificate(observed: &[Observed]) {
    assert!(find(observed, &ResourceKey::router_certificate(Router::External)).is_none());
    for o in observed {
        if let Spec::Certificate(c) = &o.resource.spec {
            assert_ne!(
                c.domain, DOMAIN,
                "{} is issued by the rack CA",
                o.resource.key
            );
        }
    }
}

#[tokio::test]
async fn the_external_listener_serves_an_acm_requested_certificate_never_the_rack_cas() {
    let (mock, _clock, ctx) = fresh();
    let rack = settings();
    let report = ops::deploy(&mock, &rack, &name("shop"), &manifest(), &ctx)
        .await
        .expect("deploy");
    // Requested and (the mock's default) issued at once: nothing waits.
    assert!(
        matches!(
            &report.external_certificate,
            ExternalCertificate::Issued {
                supplied: false,
                ..
            }
        ),
        "{:?}",
        report.external_certificate
    );
    assert!(report.waiting.is_empty());
    assert_eq!(mock.calls().of("RequestCertificate"), 1);

    let observed = observe_all(&mock, &rack.name).await.expect("observe");
    let arn = external_listener_certificate(&observed).expect("external 443 listener");
    assert_eq!(report.external_certificate.issued_arn(), Some(arn.as_str()));
    let cert = mock.describe_certificate(&arn).await.expect("describe");
    assert_eq!(cert.domain, DOMAIN);
    assert_eq!(cert.status, CertificateStatus::Issued);
    let requested = mock.requested_certificates(&rack.name).await.expect("list");
    assert_eq!(requested.iter().map(|c| &c.arn).collect::<Vec<_>>(), [&arn]);
    assert_no_private_external_certificate(&observed);
    assert!(
        find(
            &observed,
            &ResourceKey::listener_rule(&name("shop"), &name("web"), Router::External)
        )
        .is_some()
    );

    // The next deploy plans nothing and requests nothing.
    mock.reset_calls();
    let again = ops::deploy(&mock, &rack, &name("shop"), &manifest(), &ctx)
        .await
        .expect("deploy again");
    assert!(again.plan.is_empty(), "{}", again.plan);
    assert_eq!(mock.calls().mutations, 0);
}

#[tokio::test]
async fn a_pending_certificate_deploys_internal_services_and_external_endpoints_wait_until_it_issues()
 {
    let (mock, _clock, ctx) = fresh();
    mock.set_acm_validation(AcmValidation::Held);
    let rack = settings();
    let shop = name("shop");
    let fp = issuer_fingerprint(&ctx);

    // The plan says the certificate will be requested and external waits.
    let before = external_certificate(&mock, &rack).await.expect("status");
    assert_eq!(
        before,
        ExternalCertificate::NotRequested {
            domain: DOMAIN.into()
        }
    );
    let planned = ops::plan_app(&mock, &rack, &shop, &manifest(), &fp)
        .await
        .expect("plan");
    let keys: Vec<&str> = planned.actions.iter().map(|a| a.key.as_str()).collect();
    assert!(keys.contains(&"app/shop/api/internal/rule"), "{keys:?}");
    assert!(!keys.contains(&"app/shop/web/external/rule"), "{keys:?}");
    assert!(!keys.contains(&"router/external/listener/443"), "{keys:?}");

    let report = ops::deploy(&mock, &rack, &shop, &manifest(), &ctx)
        .await
        .expect("deploy while pending");
    let ExternalCertificate::Pending {
        certificate,
        supplied: false,
    } = &report.external_certificate
    else {
        panic!("not pending: {:?}", report.external_certificate);
    };
    assert_eq!(certificate.status, CertificateStatus::PendingValidation);
    assert!(!certificate.validation.is_empty());
    assert!(
        certificate
            .validation
            .iter()
            .all(|r| r.name.ends_with(".production.example.com.")
                && r.value.ends_with(".acm-validations.aws.")),
        "{:?}",
        certificate.validation
    );
    let waiting: Vec<String> = report.waiting.iter().map(|e| e.url()).collect();
    assert_eq!(waiting, ["https://shop-web.production.example.com"]);
    let observed = observe_all(&mock, &rack.name).await.expect("observe");
    let rule = |svc: &str, router| ResourceKey::listener_rule(&shop, &name(svc), router);
    assert!(find(&observed, &rule("api", Router::Internal)).is_some());
    assert!(find(&observed, &rule("web", Router::External)).is_none());
    assert!(external_listener_certificate(&observed).is_none());
    assert_no_private_external_certificate(&observed);

    // Still pending: the next deploy changes nothing and requests nothing more.
    mock.reset_calls();
    let still = ops::deploy(&mock, &rack, &shop, &manifest(), &ctx)
        .await
        .expect("deploy still pending");
    assert!(still.plan.is_empty(), "{}", still.plan);
    assert!(still.external_certificate.is_waiting());
    assert_eq!(mock.calls().mutations, 0);

    // ACM issues it: the plan shows the listener and the rule, the next deploy
    // creates them, and the plan after it is empty.
    assert_eq!(mock.issue_certificates(), 1);
    let planned = ops::plan_app(&mock, &rack, &shop, &manifest(), &fp)
        .await
        .expect("plan");
    let keys: Vec<&str> = planned.actions.iter().map(|a| a.key.as_str()).collect();
    assert_eq!(
        keys,
        ["router/external/listener/443", "app/shop/web/external/rule"]
    );
    let done = ops::deploy(&mock, &rack, &shop, &manifest(), &ctx)
        .await
        .expect("deploy after issuance");
    assert!(done.waiting.is_empty());
    let observed = observe_all(&mock, &rack.name).await.expect("observe");
    assert!(find(&observed, &rule("web", Router::External)).is_some());
    assert_eq!(
        external_listener_certificate(&observed).as_deref(),
        done.external_certificate.issued_arn()
    );
    assert_no_private_external_certificate(&observed);
    let after = ops::plan_app(&mock, &rack, &shop, &manifest(), &fp)
        .await
        .expect("plan");
    assert!(after.is_empty(), "{after}");
}

#[tokio::test]
async fn a_supplied_certificate_is_served_and_one_not_covering_the_router_host_is_refused() {
    let (mock, _clock, ctx) = fresh();
    let rack = settings();

    // Not covering: refused, with nothing changed and nothing stored.
    let other = mock.add_user_certificate("*.other.example.com", &[], CertificateStatus::Issued);
    let err =
        ops::set_rack_params_with(&mock, &rack, &[], &ctx, &external(Some(other.to_string())))
            .await
            .expect_err("a certificate for another host");
    assert!(
        matches!(
            err,
            OpsError::PublicCertificate(PublicCertError::NotCovering { .. })
        ),
        "{err:?}"
    );
    let msg = err.to_string();
    assert!(msg.contains(&other) && msg.contains(DOMAIN), "{msg}");
    assert_eq!(mock.calls().mutations, 0);
    assert!(mock.load_rack(&rack.name).await.expect("load").is_none());

    // Expired: refused too.
    let expired =
        mock.add_user_certificate(DOMAIN, &[], CertificateStatus::Other("EXPIRED".into()));
    let err = ops::set_rack_params_with(
        &mock,
        &rack,
        &[],
        &ctx,
        &external(Some(expired.to_string())),
    )
    .await
    .expect_err("an expired certificate");
    assert!(err.to_string().contains("EXPIRED"), "{err}");
    assert_eq!(mock.calls().mutations, 0);

    // One that names the host among its SANs: stored and served, nothing requested.
    let mine = mock.add_user_certificate("example.com", &[DOMAIN], CertificateStatus::Issued);
    let change =
        ops::set_rack_params_with(&mock, &rack, &[], &ctx, &external(Some(mine.to_string())))
            .await
            .expect("a covering certificate");
    assert_eq!(
        change.rack.external_certificate.as_deref(),
        Some(mine.as_str())
    );
    let stored = mock
        .load_rack(&rack.name)
        .await
        .expect("load")
        .expect("stored");
    assert_eq!(stored.external_certificate.as_deref(), Some(mine.as_str()));
    let observed = observe_all(&mock, &rack.name).await.expect("observe");
    assert_eq!(external_listener_certificate(&observed), Some(mine.clone()));
    assert_no_private_external_certificate(&observed);
    let report = ops::deploy(&mock, &stored, &name("shop"), &manifest(), &ctx)
        .await
        .expect("deploy");
    assert!(matches!(
        report.external_certificate,
        ExternalCertificate::Issued { supplied: true, .. }
    ));
    assert!(report.waiting.is_empty());
    assert_eq!(mock.calls().of("RequestCertificate"), 0);

    // Going back to a requested certificate: the listener moves to it.
    let change = ops::set_rack_params_with(&mock, &stored, &[], &ctx, &external(None))
        .await
        .expect("back to a requested certificate");
    let requested = change
        .external_certificate
        .issued_arn()
        .expect("issued")
        .to_string();
    assert_ne!(requested, mine);
    let observed = observe_all(&mock, &rack.name).await.expect("observe");
    assert_eq!(external_listener_certificate(&observed), Some(requested));
}

/// A rack made before public certificates: its external router serves a
/// certificate of the rack's CA. While the public one is pending, `rack params
/// set` keeps that listener as it is (waiting tears nothing down); once issued,
/// it moves the listener to the public certificate and only then deletes the
/// old one (a certificate is deleted after the listener using it moved on).
#[tokio::test]
async fn an_existing_racks_private_external_certificate_is_replaced_once_the_public_one_issues() {
    use convox_model::apply::apply;
    use convox_model::desired::desired_rack_with;
    use convox_model::plan::plan;
    use convox_model::resource::{CertificateSpec, Resource, Scope, ownership_tags, role};

    let (mock, _clock, ctx) = fresh();
    mock.set_acm_validation(AcmValidation::Held);
    let fp = issuer_fingerprint(&ctx);
    let rack = settings();

    // The old shape: router/external/cert from the rack's CA on the 443 listener.
    let mut legacy = desired_rack_with(&rack, &fp, None);
    let cert = ResourceKey::router_certificate(Router::External);
    let https = ResourceKey::router_listener(Router::External, 443);
    let tags = |role: &str, key: &ResourceKey| ownership_tags(&rack.name, None, None, role, key);
    legacy.resources.insert(
        cert.clone(),
        Resource {
            tags: tags(role::ROUTER_CERTIFICATE, &cert),
            key: cert.clone(),
            spec: Spec::Certificate(CertificateSpec {
                domain: DOMAIN.into(),
                issuer: fp.clone(),
                names: Vec::new(),
            }),
        },
    );
    legacy.resources.insert(
        https.clone(),
        Resource {
            tags: tags(role::ROUTER_LISTENER, &https),
            key: https.clone(),
            spec: Spec::Listener(https_listener(
                ResourceKey::router_load_balancer(Router::External),
                Some(cert.clone()),
            )),
        },
    );
    let p = plan(&Scope::Rack, &legacy, &[], &mock.quotas()).expect("legacy plan");
    apply(&mock, &p, &ctx).await.expect("legacy rack");
    let observed = observe_all(&mock, &rack.name).await.expect("observe");
    assert!(find(&observed, &cert).is_some());

    // Pending: the old listener and certificate stay as they are.
    let change = ops::set_rack_params(&mock, &rack, &[], &ctx)
        .await
        .expect("params set while pending");
    assert!(change.external_certificate.is_waiting());
    assert!(
        change
            .plan
            .actions
            .iter()
            .all(|a| a.key != https && a.key != cert),
        "{}",
        change.plan
    );
    let observed = observe_all(&mock, &rack.name).await.expect("observe");
    assert!(find(&observed, &cert).is_some());
    assert!(find(&observed, &https).is_some());

    // Issued: the listener moves, then the old certificate goes.
    mock.issue_certificates();
    let change = ops::set_rack_params(&mock, &rack, &[], &ctx)
        .await
        .expect("params set once issued");
    let arn = change
        .external_certificate
        .issued_arn()
        .expect("issued")
        .to_string();
    let observed = observe_all(&mock, &rack.name).await.expect("observe");
    assert_eq!(external_listener_certificate(&observed), Some(arn));
    assert_no_private_external_certificate(&observed);
    assert_eq!(
        mock.inventory().certificates,
        1,
        "the internal router's only"
    );
}

/// Rack options that set the external router's certificate (`Some(arn)`, or
/// `None` for one the rack requests).
fn external(arn: Option<String>) -> ops::RackApplyOptions {
    ops::RackApplyOptions {
        external_certificate: Some(arn),
        ..ops::RackApplyOptions::default()
    }
}
