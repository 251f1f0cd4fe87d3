//! Public names get public certificates (issue 12, item 6), against moto: the
//! external router serves an ACM-requested or user-supplied certificate, never
//! one of the rack's CA. moto keeps a requested certificate PENDING_VALIDATION
//! for MOTO_ACM_VALIDATION_WAIT seconds, then reports it ISSUED.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use convox_model::apply::{ApplyContext, SleepFn};
use convox_model::backend::Backend;
use convox_model::check::parse;
use convox_model::exposure::Router;
use convox_model::manifest::Manifest;
use convox_model::observe::observe_all;
use convox_model::ops::{self, OpsError};
use convox_model::params::RackParams;
use convox_model::public_cert::{
    CertificateStatus, ExternalCertificate, PublicCertError, referenced_arn,
};
use convox_model::rack::Rack;
use convox_model::resource::{Observed, ResourceKey, ResourceSpec as Spec, Tags};
use convox_model::tls::CertificateAuthority;

use crate::support::server::MotoServer;
use crate::support::specs::find;
use crate::support::{MotoEnv, name, now};

const WAIT_SECONDS: u64 = 3;

fn ctx(env: &MotoEnv) -> ApplyContext {
    let sleep: SleepFn = Arc::new(|d: Duration| Box::pin(tokio::time::sleep(d)));
    let ca = CertificateAuthority::generate(&env.rack, now()).unwrap();
    ApplyContext::new(env.rack.clone(), now(), sleep).with_issuer(Arc::new(ca))
}

fn rack(env: &MotoEnv) -> Rack {
    let host = format!("{}.example.com", env.rack);
    env.rack(
        env.rack.clone(),
        &host,
        RackParams::new(true, false).unwrap(),
    )
}

/// `api` internal, `web` external, as the app's convox.yml says them.
fn manifest() -> Manifest {
    let yml = "services:\n  api:\n    port: 3000\n    internal: true\n  web:\n    port: 3000\n";
    parse(yml, &BTreeMap::new()).unwrap().manifest
}

fn has(observed: &[Observed], key: &ResourceKey) -> bool {
    find(observed, key).is_some()
}

/// The ARN the external 443 listener serves, if it exists.
fn external_listener_certificate(observed: &[Observed]) -> Option<String> {
    let listener = find(
        observed,
        &ResourceKey::router_listener(Router::External, 443),
    )?;
    let Spec::Listener(spec) = &listener.resource.spec else {
        return None;
    };
    let key = spec.certificate.as_ref()?;
    Some(referenced_arn(key).unwrap_or(key.as_str()).to_string())
}

fn no_rack_ca_certificate_for(observed: &[Observed], domain: &str) {
    for o in observed {
        if let Spec::Certificate(c) = &o.resource.spec {
            assert_ne!(c.domain, domain, "{} is the rack CA's", o.resource.key);
        }
    }
}

#[tokio::test]
#[cfg_attr(not(moto), ignore = "needs the AWS emulator: run scripts/test.sh")]
async fn a_requested_certificate_keeps_external_endpoints_waiting_until_acm_issues_it() {
    let wait = WAIT_SECONDS.to_string();
    let server = MotoServer::start_with("pubcert", &[("MOTO_ACM_VALIDATION_WAIT", &wait)]);
    let env = MotoEnv::on(&server.endpoint, "pubcert").await;
    let (b, rack, ctx) = (&env.backend, rack(&env), ctx(&env));
    let domain = format!("*.{}", rack.router_host);
    let shop = name("shop");
    let rule = |svc: &str, router| ResourceKey::listener_rule(&shop, &name(svc), router);

    // Pending: internal services deploy, the external one waits, and the
    // validation CNAME is there to publish.
    let report = ops::deploy(b, &rack, &shop, &manifest(), &ctx)
        .await
        .unwrap();
    let ExternalCertificate::Pending {
        certificate,
        supplied: false,
    } = &report.external_certificate
    else {
        panic!("not pending: {:?}", report.external_certificate);
    };
    assert_eq!(certificate.domain, domain);
    assert_eq!(certificate.status, CertificateStatus::PendingValidation);
    assert!(!certificate.validation.is_empty(), "{certificate:?}");
    assert!(
        certificate
            .validation
            .iter()
            .all(|r| r.name.ends_with(&format!("{}.", rack.router_host))),
        "{:?}",
        certificate.validation
    );
    let waiting: Vec<String> = report.waiting.iter().map(|e| e.url()).collect();
    assert_eq!(waiting, [format!("https://shop-web.{}", rack.router_host)]);
    let observed = observe_all(b, &rack.name).await.unwrap();
    assert!(has(&observed, &rule("api", Router::Internal)));
    assert!(!has(&observed, &rule("web", Router::External)));
    assert_eq!(external_listener_certificate(&observed), None);
    no_rack_ca_certificate_for(&observed, &domain);
    assert_eq!(b.calls().get("RequestCertificate"), 1);

    // ACM issues it; the next deploy completes the external endpoint with it.
    tokio::time::sleep(Duration::from_secs(WAIT_SECONDS + 1)).await;
    let done = ops::deploy(b, &rack, &shop, &manifest(), &ctx)
        .await
        .unwrap();
    let arn = done
        .external_certificate
        .issued_arn()
        .expect("issued")
        .to_string();
    assert!(done.waiting.is_empty());
    let observed = observe_all(b, &rack.name).await.unwrap();
    assert!(has(&observed, &rule("web", Router::External)));
    assert_eq!(external_listener_certificate(&observed), Some(arn.clone()));
    assert_eq!(
        b.describe_certificate(&arn).await.unwrap().status,
        CertificateStatus::Issued
    );
    no_rack_ca_certificate_for(&observed, &domain);
    assert_eq!(b.calls().get("RequestCertificate"), 1, "requested once");
    let fp = ctx.issuer.as_ref().unwrap().fingerprint();
    let after = ops::plan_app(b, &rack, &shop, &manifest(), &fp)
        .await
        .unwrap();
    assert!(after.is_empty(), "{after}");
}

#[tokio::test]
#[cfg_attr(not(moto), ignore = "needs the AWS emulator: run scripts/test.sh")]
async fn a_supplied_certificate_must_cover_the_router_host_and_is_then_served() {
    let env = MotoEnv::new("pubcert_supplied").await;
    let (b, rack, ctx) = (&env.backend, rack(&env), ctx(&env));
    let domain = format!("*.{}", rack.router_host);
    // The user's certificates: not tagged for the rack.
    let user = Tags::from([("owner".to_string(), "someone".to_string())]);
    let other = b
        .request_certificate("*.elsewhere.example.com", &user)
        .await
        .unwrap();
    let before = b.calls();
    let err = ops::set_rack_params_with(b, &rack, &[], &ctx, &external(Some(other.to_string())))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            OpsError::PublicCertificate(PublicCertError::NotCovering { .. })
        ),
        "{err:?}"
    );
    let msg = err.to_string();
    assert!(msg.contains(&other) && msg.contains(&domain), "{msg}");
    // Nothing changed: the only calls since were reads.
    let after = b.calls();
    for op in [
        "CreateHostedZone",
        "CreateSecurityGroup",
        "RequestCertificate",
    ] {
        assert_eq!(after.get(op), before.get(op), "{op}");
    }
    assert!(b.load_rack(&rack.name).await.unwrap().is_none());

    let mine = b.request_certificate(&domain, &user).await.unwrap();
    let change = ops::set_rack_params_with(b, &rack, &[], &ctx, &external(Some(mine.to_string())))
        .await
        .unwrap();
    assert!(
        matches!(
            change.external_certificate,
            ExternalCertificate::Issued { supplied: true, .. }
        ),
        "{:?}",
        change.external_certificate
    );
    let stored = b.load_rack(&rack.name).await.unwrap().unwrap();
    assert_eq!(stored.external_certificate.as_deref(), Some(mine.as_str()));
    let observed = observe_all(b, &rack.name).await.unwrap();
    assert_eq!(external_listener_certificate(&observed), Some(mine));
    no_rack_ca_certificate_for(&observed, &domain);
}

/// Rack options that set the external router's certificate (`Some(arn)`, or
/// `None` for one the rack requests).
fn external(arn: Option<String>) -> ops::RackApplyOptions {
    ops::RackApplyOptions {
        external_certificate: Some(arn),
        ..ops::RackApplyOptions::default()
    }
}
