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

/// The observed resources by key, the one the planner keeps first among those
/// that share a key (left by a create whose answer was lost, or by an
/// interrupted make-before-break replacement): a certificate attached to a
/// listener before one that is not, and the attachment of the certificate kept
/// before another, so that the certificate that serves is kept and the one that
/// does not is deleted; otherwise by id. The apply engine resolves keys the same
/// way.
pub(crate) fn kept_first(observed: &[Observed]) -> Vec<&Observed> {
    use crate::resource::{ResourceSpec, parse_listener_certificate_id};
    let attached: std::collections::BTreeSet<&str> = observed
        .iter()
        .filter(|o| o.resource.spec.kind() == ResourceKind::ListenerCertificate)
        .filter_map(|o| parse_listener_certificate_id(&o.id))
        .map(|(_, cert)| cert)
        .collect();
    let cert_rank = |o: &Observed| u8::from(!attached.contains(o.id.as_str()));
    let mut certs: Vec<&Observed> = observed
        .iter()
        .filter(|o| o.resource.spec.kind() == ResourceKind::Certificate)
        .collect();
    certs.sort_by(|a, b| {
        (&a.resource.key, cert_rank(a), &a.id).cmp(&(&b.resource.key, cert_rank(b), &b.id))
    });
    let mut kept_cert: BTreeMap<&ResourceKey, &str> = BTreeMap::new();
    for c in certs {
        kept_cert.entry(&c.resource.key).or_insert(c.id.as_str());
    }
    let rank = |o: &Observed| -> u8 {
        match &o.resource.spec {
            ResourceSpec::Certificate(_) => cert_rank(o),
            ResourceSpec::ListenerCertificate(lc) => {
                let cert = parse_listener_certificate_id(&o.id).map(|(_, c)| c);
                u8::from(cert.is_none() || cert != kept_cert.get(&lc.certificate).copied())
            }
            _ => 0,
        }
    };
    let mut sorted: Vec<&Observed> = observed.iter().collect();
    sorted
        .sort_by(|a, b| (&a.resource.key, rank(a), &a.id).cmp(&(&b.resource.key, rank(b), &b.id)));
    sorted
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
    // Our own copies of a certificate or attachment (an interrupted make-before-
    // break replacement): the one that serves is kept, the others are deleted.
    let duplicates = sorted.leftovers;

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

    // Certificates due for renewal, unless already replaced (issue 12).
    if let Some(renewal) = &desired.renewal {
        super::renewals::add_renewals(renewal, &desired_resources, &current, &mut drafts);
    }

    // A certificate observed twice (an interrupted replacement): every listener
    // that uses it is set to the copy kept, so that the other can be deleted.
    let doubled: std::collections::BTreeSet<&ResourceKey> = duplicates
        .iter()
        .filter(|o| o.resource.spec.kind() == ResourceKind::Certificate)
        .map(|o| &o.resource.key)
        .collect();
    for (key, want) in &desired_resources {
        let crate::resource::ResourceSpec::Listener(l) = &want.spec else {
            continue;
        };
        let Some(cert) = l.certificate.as_ref().filter(|c| doubled.contains(c)) else {
            continue;
        };
        if current.contains_key(key) && !drafts.contains_key(key) {
            drafts.insert(
                key.clone(),
                Draft {
                    op: Op::Update,
                    changes: vec![super::FieldChange {
                        field: "certificate".to_string(),
                        from: format!("{cert} (one of its copies)"),
                        to: format!("{cert} (the copy kept)"),
                        forces_replacement: false,
                    }],
                    reason: Some(format!("{cert} exists twice")),
                },
            );
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
    let deletes = current
        .values()
        .copied()
        .filter(|o| {
            o.resource.key.in_scope(scope) && !desired_resources.contains_key(&o.resource.key)
        })
        .chain(
            duplicates
                .into_iter()
                .filter(|o| o.resource.key.in_scope(scope)),
        );
    for o in deletes {
        actions.push(Action::deleting(o, None));
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
        observed_in: Scope::All,
    })
}
