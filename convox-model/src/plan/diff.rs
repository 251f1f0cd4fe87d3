//! What changed: the fields that differ, whether they force a replacement, how
//! an action disrupts traffic, and the replacements that cascade to dependents.

use std::collections::{BTreeMap, BTreeSet};

use super::{Disruption, FieldChange, Op};
use crate::resource::{Observed, Resource, ResourceKey, ResourceKind, ResourceSpec};

/// Whether a field of a resource of `kind` can only change by replacement.
pub(super) fn immutable(kind: ResourceKind, field: &str) -> bool {
    match kind {
        ResourceKind::SecurityGroup => field != "ingress",
        ResourceKind::Listener => matches!(field, "load_balancer" | "port"),
        ResourceKind::TargetGroup => field != "health",
        ResourceKind::ListenerRule => field == "listener",
        ResourceKind::Record => matches!(field, "zone" | "name"),
        // Subnets and security groups change in place (SetSubnets,
        // SetSecurityGroups); only the scheme (and the name) replaces a router.
        ResourceKind::LoadBalancer => matches!(field, "name" | "scheme"),
        // A new issuer is re-issued and re-imported in place (the rack's
        // authority rotated), and so are new further names (an app joins or
        // leaves a shared certificate); a new domain is a new certificate.
        ResourceKind::Certificate => !matches!(field, "issuer" | "names"),
        ResourceKind::ListenerCertificate | ResourceKind::HostedZone => true,
    }
}

pub(super) fn disruption(op: Op, kind: ResourceKind, changes: &[FieldChange]) -> Disruption {
    match (op, kind) {
        (Op::Create, ResourceKind::LoadBalancer | ResourceKind::ListenerRule) => {
            Disruption::NewEndpoint
        }
        (_, ResourceKind::Record | ResourceKind::HostedZone) => Disruption::DnsChange,
        (Op::Create, _) => Disruption::None,
        (Op::Update, ResourceKind::ListenerRule)
            if changes.iter().any(|c| c.field == "target_group") =>
        {
            Disruption::Drain
        }
        (Op::Update, _) => Disruption::None,
        (Op::Replace, ResourceKind::LoadBalancer) => Disruption::NewEndpoint,
        (
            Op::Replace | Op::Delete,
            ResourceKind::TargetGroup
            | ResourceKind::ListenerRule
            | ResourceKind::Listener
            | ResourceKind::LoadBalancer
            | ResourceKind::SecurityGroup,
        ) => Disruption::Drain,
        (
            Op::Replace | Op::Delete,
            ResourceKind::Certificate | ResourceKind::ListenerCertificate,
        ) => Disruption::None,
    }
}

pub(super) fn show(v: Option<&serde_json::Value>) -> String {
    match v {
        None | Some(serde_json::Value::Null) => "(none)".to_string(),
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(v) => v.to_string(),
    }
}

/// The fields that differ between two specs, in field-name order.
pub(super) fn diff(kind: ResourceKind, from: &ResourceSpec, to: &ResourceSpec) -> Vec<FieldChange> {
    let (Ok(serde_json::Value::Object(a)), Ok(serde_json::Value::Object(b))) =
        (serde_json::to_value(from), serde_json::to_value(to))
    else {
        return Vec::new();
    };
    let fields: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    fields
        .into_iter()
        .filter(|f| a.get(*f) != b.get(*f))
        .map(|f| FieldChange {
            field: f.clone(),
            from: show(a.get(f)),
            to: show(b.get(f)),
            // A change of kind under one key can only be a replacement.
            forces_replacement: f == "kind" || immutable(kind, f),
        })
        .collect()
}

/// What a key needs, before and while replacements cascade.
pub(super) struct Draft {
    pub(super) op: Op,
    pub(super) changes: Vec<FieldChange>,
    pub(super) reason: Option<String>,
}

/// Replacing a resource (deleted first) replaces what depends on it, since AWS
/// deletes a load balancer's listeners with it and will not delete a target group
/// a rule forwards to. Records follow a replaced load balancer by an update (an
/// upsert of the alias); listeners follow a reissued certificate by an update.
pub(super) fn cascade(
    desired: &BTreeMap<ResourceKey, Resource>,
    current: &BTreeMap<&ResourceKey, &Observed>,
    drafts: &mut BTreeMap<ResourceKey, Draft>,
) {
    loop {
        let mut changed = false;
        for (key, want) in desired {
            if !current.contains_key(key) {
                continue;
            }
            let mine = drafts.get(key).map(|d| d.op);
            if mine == Some(Op::Replace) {
                continue;
            }
            for reference in want.spec.references() {
                let Some(Draft {
                    op: Op::Replace, ..
                }) = drafts.get(reference)
                else {
                    continue;
                };
                let ref_kind = desired.get(reference).map(|r| r.spec.kind());
                let follow_by_update = matches!(
                    (want.spec.kind(), ref_kind),
                    (ResourceKind::Record, Some(ResourceKind::LoadBalancer))
                        | (ResourceKind::Listener, Some(ResourceKind::Certificate))
                );
                if follow_by_update {
                    let field = match want.spec.kind() {
                        ResourceKind::Record => "load_balancer",
                        _ => "certificate",
                    };
                    let draft = drafts.entry(key.clone()).or_insert(Draft {
                        op: Op::Update,
                        changes: Vec::new(),
                        reason: None,
                    });
                    if !draft.changes.iter().any(|c| c.field == field) {
                        draft.changes.push(FieldChange {
                            field: field.to_string(),
                            from: format!("{reference} (old)"),
                            to: format!("{reference} (new)"),
                            forces_replacement: false,
                        });
                        draft.reason = Some(format!("{reference} is replaced"));
                        changed = true;
                    }
                } else if ref_kind != Some(ResourceKind::Certificate)
                    || want.spec.kind() == ResourceKind::ListenerCertificate
                {
                    let draft = drafts.entry(key.clone()).or_insert(Draft {
                        op: Op::Replace,
                        changes: Vec::new(),
                        reason: None,
                    });
                    draft.op = Op::Replace;
                    draft.reason = Some(format!("{reference} is replaced"));
                    changed = true;
                    break;
                }
            }
        }
        if !changed {
            break;
        }
    }
}
