//! [`plan`]: observed and desired state in, actions out.

use std::collections::BTreeMap;

use sha2::{Digest, Sha256};

use super::checks::{
    check_coverage, check_hostnames_unique, check_quotas, check_references, final_state,
};
use super::claims::sort;
use super::diff::{Draft, cascade, diff, disruption};
use super::priorities::allocate_priorities;
use super::{Action, Op, Plan, PlanError};
use crate::aws::Quotas;
use crate::desired::DesiredState;
use crate::resource::{Observed, Resource, ResourceKey, ResourceKind, Scope};

/// SHA-256 (hex) of an observation: the canonical JSON of the observed resources
/// sorted by key (then id), so that the order a backend lists them in is irrelevant.
pub fn fingerprint(observed: &[Observed]) -> String {
    let mut sorted: Vec<&Observed> = observed.iter().collect();
    sorted.sort_by(|a, b| (&a.resource.key, &a.id).cmp(&(&b.resource.key, &b.id)));
    // Streamed into the hash: no buffer the size of the rack's JSON. Plain data
    // with string map keys into an in-memory hasher: serialising cannot fail.
    let mut hasher = Sha256::new();
    let _ = serde_json::to_writer(&mut hasher, &sorted);
    hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Plans `scope`: the actions that turn `observed` into `desired`.
///
/// `observed` should hold everything the rack owns (its own resources and every
/// app's): rule priorities are shared by all apps on a listener, and quotas count
/// every app. Only resources in `scope` are ever created, changed or deleted,
/// and never a foreign rule or a claim of a key beyond the one kept (see
/// [`super::DuplicateClaim`]).
pub fn plan(
    scope: &Scope,
    desired: &DesiredState,
    observed: &[Observed],
    quotas: &Quotas,
) -> Result<Plan, PlanError> {
    for key in desired.resources.keys() {
        if !key.in_scope(scope) {
            return Err(PlanError::OutOfScope {
                key: key.clone(),
                scope: scope.clone(),
            });
        }
    }

    // One observed resource per key. Foreign rules, and claims of a key beyond the
    // one kept, are obstacles: never changed or deleted (a copy of our tags must
    // not make us delete what someone else made).
    let sorted = sort(scope, &desired.resources, observed)?;
    let current = sorted.current;
    let obstacles = sorted.obstacles;

    let desired_resources = allocate_priorities(desired, &current, &obstacles, quotas)?;

    // What each key needs, before cascading replacements.
    let mut drafts: BTreeMap<ResourceKey, Draft> = BTreeMap::new();
    for (key, want) in &desired_resources {
        match current.get(key) {
            None => {
                drafts.insert(
                    key.clone(),
                    Draft {
                        op: Op::Create,
                        changes: Vec::new(),
                        reason: None,
                    },
                );
            }
            Some(have) => {
                let changes = diff(want.spec.kind(), &have.resource.spec, &want.spec);
                if changes.is_empty() {
                    continue;
                }
                let op = if changes.iter().any(|c| c.forces_replacement) {
                    Op::Replace
                } else {
                    Op::Update
                };
                drafts.insert(
                    key.clone(),
                    Draft {
                        op,
                        changes,
                        reason: None,
                    },
                );
            }
        }
    }

    cascade(&desired_resources, &current, &mut drafts);

    let mut actions = Vec::new();
    for (key, draft) in drafts {
        let want = desired_resources.get(&key).cloned();
        let kind = want
            .as_ref()
            .map_or(ResourceKind::HostedZone, |r| r.spec.kind());
        actions.push(Action {
            op: draft.op,
            kind,
            disruption: disruption(draft.op, kind, &draft.changes),
            changes: draft.changes,
            reason: draft.reason,
            current: (draft.op != Op::Create)
                .then(|| current.get(&key).map(|o| (*o).clone()))
                .flatten(),
            desired: want,
            key,
        });
    }
    let deletes = current.values().copied().filter(|o| {
        o.resource.key.in_scope(scope) && !desired_resources.contains_key(&o.resource.key)
    });
    for o in deletes {
        let kind = o.resource.spec.kind();
        actions.push(Action {
            op: Op::Delete,
            key: o.resource.key.clone(),
            kind,
            changes: Vec::new(),
            disruption: disruption(Op::Delete, kind, &[]),
            reason: None,
            desired: None,
            current: Some(o.clone()),
        });
    }
    actions.sort_by(|a, b| {
        (&a.key, a.op, a.current.as_ref().map(|o| &o.id)).cmp(&(
            &b.key,
            b.op,
            b.current.as_ref().map(|o| &o.id),
        ))
    });

    let after = final_state(scope, &desired_resources, &current);
    check_references(&desired_resources, &after)?;
    check_quotas(&after, &obstacles, &desired_resources, quotas)?;
    let before: BTreeMap<&ResourceKey, &Resource> =
        current.iter().map(|(k, o)| (*k, &o.resource)).collect();
    check_coverage(scope, &before, &after)?;
    check_hostnames_unique(scope, &after)?;

    Ok(Plan {
        scope: scope.clone(),
        actions,
        fingerprint: fingerprint(observed),
        duplicate_claims: sorted.claims,
    })
}
