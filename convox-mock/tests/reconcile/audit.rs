//! `rack audit` after every step: on the state the step left, it reports
//! exactly what other people left in the account (the adversary's foreign
//! rules on the rack's listeners and copied tags; every step's own drift is
//! repaired within it); and on a copy of that state with one kind of drift
//! injected (as an operator or another tool would, in the raw state), it
//! reports exactly that drift, named by the ids the drift touched.
//!
//! The drift is injected into a copy, so the reconcile steps that follow run
//! on the state the reference knows.

use convox_mock::MockBackend;
use convox_model::audit::{AuditReport, Finding, audit};
use convox_model::backend::Backend;
use convox_model::exposure::Router;
use convox_model::observe::observe_all;
use convox_model::resource::ResourceKey;
use serde_json::{Value, json};

use crate::input::{NOW, RACK, VPC_CIDR, name};
use crate::reference::Model;
use crate::sut::{Sut, obj, owned, record_key, state_json, tag};

/// The router of a resource in the raw state, read from its key tag.
fn router_of(resource: &Value) -> Option<Router> {
    tag(resource, "convox:key").and_then(|k| ResourceKey::from_raw(k).subject().router())
}

/// The audit of the state `json`, with the rack as stored there.
fn audit_of(sut: &Sut, model: &Model, json: &Value) -> AuditReport {
    let b = MockBackend::from_json(&json.to_string()).expect("state reads back");
    sut.block_on(async {
        let rack = b
            .load_rack(&name(RACK))
            .await
            .expect("load rack")
            .unwrap_or_else(|| model.rack());
        let observed = observe_all(&b, &name(RACK)).await.expect("observe");
        let surroundings = b
            .observe_surroundings(&name(RACK))
            .await
            .expect("observe surroundings");
        audit(&rack, &observed, &surroundings, NOW)
    })
}

/// The first owned item of `kind` whose `convox:key` satisfies `key`.
fn owned_by_key(state: &Value, kind: &str, key: impl Fn(&str) -> bool) -> Option<String> {
    obj(&state[kind])
        .find(|(_, v)| owned(v) && tag(v, "convox:key").is_some_and(&key))
        .map(|(id, _)| id.clone())
}

/// `report` holds what `baseline` held and, besides, exactly `expected`.
fn assert_exactly(report: &AuditReport, baseline: &AuditReport, expected: Finding, drift: &str) {
    let new: Vec<&Finding> = report
        .findings
        .iter()
        .filter(|f| !baseline.findings.contains(f))
        .collect();
    assert_eq!(
        new,
        vec![&expected],
        "rack audit after {drift} does not report exactly that drift"
    );
    for f in &baseline.findings {
        assert!(
            report.findings.contains(f),
            "rack audit after {drift} lost an earlier finding: {f:?}"
        );
    }
}

/// What other people left in the account (the adversary's transitions): every
/// rule not the rack's on one of the rack's listeners, by id, and every key
/// that more than one target group claims. Read from the raw state alone.
fn left_by_others(state: &Value) -> Vec<(&'static str, String)> {
    let listeners: Vec<&String> = obj(&state["listeners"])
        .filter(|(_, l)| owned(l))
        .map(|(id, _)| id)
        .collect();
    let mut out: Vec<(&'static str, String)> = obj(&state["rules"])
        .filter(|(_, r)| !owned(r))
        .filter(|(_, r)| {
            r["listener_arn"]
                .as_str()
                .is_some_and(|l| listeners.iter().any(|o| o.as_str() == l))
        })
        .map(|(id, _)| ("foreign_rule", id.clone()))
        .collect();
    let mut keys: Vec<&str> = obj(&state["target_groups"])
        .filter(|(_, t)| owned(t))
        .filter_map(|(_, t)| tag(t, "convox:key"))
        .collect();
    keys.sort();
    for w in keys.windows(2) {
        if w[0] == w[1] && !out.iter().any(|(_, k)| k == w[0]) {
            out.push(("duplicate_claim", w[0].to_string()));
        }
    }
    out.sort();
    out
}

/// A finding as `left_by_others` names it.
fn named(f: &Finding) -> (&'static str, String) {
    match f {
        Finding::ForeignRule { rule, .. } => ("foreign_rule", rule.clone()),
        Finding::DuplicateClaim { key, .. } => ("duplicate_claim", key.clone()),
        other => (other.kind(), format!("{other:?}")),
    }
}

/// After every step: a clean audit, and each applicable drift found exactly.
pub fn check(sut: &Sut, model: &Model) {
    let state = state_json(&sut.mock);
    let clean = audit_of(sut, model, &state);
    let mut found: Vec<(&'static str, String)> = clean.findings.iter().map(named).collect();
    found.sort();
    assert_eq!(
        found,
        left_by_others(&state),
        "rack audit on a state no operator drifted reports other than what others left: {:#?}",
        clean.findings
    );

    // An operator opens the internal router's security group to the world.
    if let Some(sg) = owned_by_key(&state, "security_groups", |k| k == "router/internal/sg") {
        let mut s = state.clone();
        s["security_groups"][&sg]["spec"]["ingress"]
            .as_array_mut()
            .expect("ingress")
            .push(json!({"protocol": "tcp", "port": 443, "cidr": "0.0.0.0/0"}));
        assert_exactly(
            &audit_of(sut, model, &s),
            &clean,
            Finding::IngressOutsideVpc {
                security_group: sg,
                protocol: "tcp".into(),
                port: 443,
                source: "0.0.0.0/0".into(),
                vpc_cidr: VPC_CIDR.into(),
            },
            "opening the internal router",
        );
    }

    // An operator points an internal name at the external router.
    let external = owned_by_key(&state, "load_balancers", |k| k == "router/external/alb");
    let record = obj(&state["zones"])
        .filter(|(_, z)| owned(z))
        .flat_map(|(id, z)| obj(&z["records"]).map(move |(n, r)| (id, n, r)))
        .find(|(_, _, r)| record_key(r).is_some() && !r["alias"].is_null())
        .map(|(z, n, _)| (z.clone(), n.clone()));
    if let (Some(lb), Some((zone, rec))) = (external, record) {
        let mut s = state.clone();
        let address = s["load_balancers"][&lb]["address"].clone();
        s["zones"][&zone]["records"][&rec]["alias"] = address.clone();
        assert_exactly(
            &audit_of(sut, model, &s),
            &clean,
            Finding::InternalNameAliasesExternalRouter {
                name: rec,
                target: address["dns_name"].as_str().expect("dns name").into(),
            },
            "retargeting a record",
        );
    }

    // An operator changes a rule's host to a name no certificate covers.
    if let Some(rule) = owned_by_key(&state, "rules", |k| k.ends_with("/rule")) {
        let mut s = state.clone();
        s["rules"][&rule]["hosts"] = json!(["drift.example.org"]);
        assert_exactly(
            &audit_of(sut, model, &s),
            &clean,
            Finding::HostNotCovered {
                router: router_of(&state["rules"][&rule]),
                rule,
                hostname: "drift.example.org".into(),
            },
            "changing a rule's host",
        );
    }

    // Another tool adds a rule of its own on the rack's HTTPS listener.
    if let Some(listener) = owned_by_key(&state, "listeners", |k| k.ends_with("/listener/443")) {
        let mut s = state.clone();
        let id =
            "arn:aws:elasticloadbalancing:us-east-1:000000000000:listener-rule/app/foreign/audit";
        s["rules"][id] = json!({
            "listener_arn": listener,
            "priority": 49999,
            "hosts": ["other.example.org"],
            "target_group_arn": "arn:aws:elasticloadbalancing:us-east-1:000000000000:targetgroup/foreign/1",
            "tags": {},
        });
        let router = router_of(&state["listeners"][&listener]);
        assert_exactly(
            &audit_of(sut, model, &s),
            &clean,
            Finding::ForeignRule {
                rule: id.into(),
                listener,
                router,
                priority: Some(49999),
                hosts: vec!["other.example.org".into()],
            },
            "a foreign rule on the rack's listener",
        );
    }

    // Another tool's target group carries a copy of the rack's tags.
    // (one whose key no copy claims yet, so that the finding is a new one)
    let claimed = |k: &str| {
        obj(&state["target_groups"])
            .filter(|(_, t)| owned(t) && tag(t, "convox:key") == Some(k))
            .count()
    };
    if let Some(tg) = owned_by_key(&state, "target_groups", |k| claimed(k) == 1) {
        let mut s = state.clone();
        let copy = format!("{tg}-copied-tags");
        let item = s["target_groups"][&tg].clone();
        s["target_groups"][&copy] = item;
        let key = tag(&state["target_groups"][&tg], "convox:key")
            .expect("key")
            .to_string();
        let mut ids = vec![tg, copy];
        ids.sort();
        assert_exactly(
            &audit_of(sut, model, &s),
            &clean,
            Finding::DuplicateClaim { key, ids },
            "copied tags",
        );
    }
}
