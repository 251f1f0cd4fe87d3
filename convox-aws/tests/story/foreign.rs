//! Foreign resources: untagged, in the same account as the story's rack, and
//! never to be observed or touched by it.

use convox_model::backend::Backend;
use convox_model::resource::{
    CertificateSpec, LbScheme, RecordAction, RecordChange, ResourceKey, Tags,
};
use convox_model::tls::CertificateAuthority;
use serde_json::Value;

use crate::support::inspect::{arr, lb_named, zone_named};
use crate::support::specs::{
    lb_spec, listener_spec, not_found, security_group, target_group, untagged_rule, zone_spec,
};
use crate::support::{MotoEnv, name, now};

pub struct Foreign {
    /// Every foreign id: no mutating request of the story may name one.
    pub ids: Vec<String>,
    pub lb_name: &'static str,
    pub zone_name: &'static str,
    pub cert: String,
}

/// A load balancer with a listener, rule and target group, a certificate and a
/// hosted zone with a record, all someone else's.
pub async fn make_foreign(env: &MotoEnv) -> Foreign {
    let b = &env.backend;
    let none = Tags::new();
    let sg_spec = security_group(
        "someone-elses",
        "not a convox rack's",
        &env.vpc.id,
        "0.0.0.0/0",
        &[443],
    );
    let sg = b.create_security_group(&sg_spec, &none).await.unwrap();
    // A key is what the spec needs; it is not written anywhere without tags.
    let lb_key = ResourceKey::from_raw("foreign/lb");
    let sg_key = ResourceKey::from_raw("foreign/sg");
    let lb_spec = lb_spec(env, "someone-elses", LbScheme::Internal, sg_key);
    let lb = b.create_load_balancer(&lb_spec, &sg, &none).await.unwrap();
    let http = listener_spec(lb_key, 80, not_found("theirs"), None);
    let listener = b
        .create_listener(&lb.arn, &http, None, &none)
        .await
        .unwrap();
    let tg_spec = target_group("someone-elses", 4000, &env.vpc.id, "/");
    let tg = b.create_target_group(&tg_spec, &none).await.unwrap();
    // The same host as ours: ownership is by tags, never by name.
    let rule = untagged_rule(env, &listener, 1, "api.backend.production.convox", &tg)
        .await
        .unwrap();
    // A certificate for the very domain our app certificate will have, from
    // another authority.
    let theirs = CertificateAuthority::generate(&name("elsewhere"), now()).unwrap();
    let cert = b
        .import_certificate(
            &CertificateSpec {
                domain: "*.backend.production.convox".into(),
                issuer: theirs.fingerprint().into(),
                names: Vec::new(),
            },
            &theirs.issue("*.backend.production.convox", now()).unwrap(),
            &none,
        )
        .await
        .unwrap();
    let zone = b
        .create_hosted_zone(&zone_spec(env, "foreign.example"), &none)
        .await
        .unwrap();
    b.change_records(
        &zone,
        &[RecordChange {
            action: RecordAction::Create,
            name: "www.foreign.example".into(),
            target: lb.address.clone(),
            owner: "someone else".into(),
        }],
    )
    .await
    .unwrap();
    Foreign {
        ids: vec![sg, lb.arn, listener, tg, rule, cert.clone(), zone],
        lb_name: "someone-elses",
        zone_name: "foreign.example.",
        cert,
    }
}

/// The foreign resources as boto3 sees them: compared whole, before and after.
pub fn foreign_snapshot(seen: &Value, f: &Foreign) -> Value {
    serde_json::json!({
        "lb": lb_named(seen, f.lb_name),
        "zone": zone_named(seen, f.zone_name),
        "cert": arr(&seen["certificates"]).iter().find(|c| c["arn"] == f.cert.as_str()),
        "legacy": arr(&zone_named(seen, "production.convox.")["records"])
            .iter()
            .filter(|r| r["name"] == "legacy.production.convox.")
            .cloned()
            .collect::<Vec<_>>(),
    })
}
