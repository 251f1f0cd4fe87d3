//! A deploy in two phases, for a deployer that moves containers between them:
//! phase one ([`deploy_phased`]) makes every addition and update, so that each
//! routed hostname is served by what the new manifest wants, and leaves every
//! removal pending ([`PendingRemovals`]); the caller registers its containers
//! in the new target groups, drains the old ones, then runs phase two
//! ([`PendingRemovals::apply`]), which deletes only what phase one left. No
//! target group is deleted while the caller's containers are still attached.
//!
//! A replaced target group (a new port or protocol) is made beside the old one
//! in phase one and its rule pointed at the new one in place; the old one is a
//! pending removal. A replacement AWS cannot make beside the old resource (the
//! same name: a target group moved to another VPC) stays delete-first in phase
//! one, as in [`deploy`](super::deploy).
//!
//! Between the phases the old and the new target group both carry the
//! service's key, and observe names a rule's target group by key: deploy only
//! the manifest phase one deployed until phase two ran. A deploy of yet
//! another port for that service is refused (the key is claimed twice), and a
//! deploy of the old port plans nothing while the rule forwards to the new
//! group; phase two then removes the old one (or the provider refuses, if
//! something forwards to it).

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::deploy::deploy_inner;
use super::*;
use crate::plan::FieldChange;

/// What phase one did, and what it left for phase two.
#[derive(Clone, Debug, Serialize)]
#[non_exhaustive]
pub struct PhaseOne {
    /// The deploy's report: its plan (every action, removals included), what
    /// phase one applied, and the routes as phase one left them (the new
    /// target groups).
    pub report: DeployReport,
    /// What phase two deletes.
    pub removals: PendingRemovals,
}

/// The removals a phased deploy left for phase two: each resource as phase one
/// left it. Serializable, so that phase two may run in another process.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct PendingRemovals {
    rack: Rack,
    app: Name,
    /// The deletes, each with the resource it deletes (`current`).
    actions: Vec<Action>,
    /// For each key phase one made anew (a replacement), the provider id of
    /// the new resource: references to the key are to it while it exists.
    successors: BTreeMap<ResourceKey, String>,
}

/// Why phase two deleted nothing.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RemovalError {
    /// A pending removal is referenced again.
    #[error(
        "{key} ({id}) is referenced again, by {by}: the rack changed since phase one; nothing was deleted. Deploy the app again (phased) and apply its removals instead"
    )]
    Referenced {
        /// The pending removal's key.
        key: ResourceKey,
        /// Its provider id.
        id: String,
        /// What refers to it.
        by: ResourceKey,
    },
    /// A pending removal is no longer as phase one left it: something else
    /// manages it now.
    #[error(
        "{key} ({id}) changed since phase one; nothing was deleted. Deploy the app again (phased) and apply its removals instead"
    )]
    Changed {
        /// The pending removal's key.
        key: ResourceKey,
        /// Its provider id.
        id: String,
    },
}

/// [`deploy`](super::deploy) in two phases: applies every creation and update
/// (and the creating half of every replacement) now, and returns the removals
/// for [`PendingRemovals::apply`] to make once the caller's containers have
/// moved. With `shown` (from [`plan_app`]), applies only that plan, as
/// [`deploy_planned`] does.
pub async fn deploy_phased(
    backend: &dyn Backend,
    rack: &Rack,
    app: &Name,
    manifest: &Manifest,
    ctx: &ApplyContext,
    shown: Option<&Plan>,
) -> Result<PhaseOne, OpsError> {
    let (report, deferred) = deploy_inner(
        backend,
        rack,
        app,
        manifest,
        ctx,
        super::deploy::Mode {
            shown,
            phased: true,
        },
    )
    .await?;
    let successors = deferred
        .iter()
        .filter(|a| a.reason.as_deref() == Some(REPLACED))
        .filter_map(|a| Some((a.key.clone(), report.report.ids.get(&a.key)?.clone())))
        .collect();
    Ok(PhaseOne {
        removals: PendingRemovals {
            rack: rack.clone(),
            app: app.clone(),
            actions: deferred,
            successors,
        },
        report,
    })
}

/// The reason of the delete half of a replacement, deferred to phase two.
const REPLACED: &str = "replaced in phase one: the old resource, kept until phase two";

/// Splits `p` into what phase one applies (a plan, of the same fingerprint)
/// and the deletes it defers.
pub(super) fn split(p: &Plan) -> (Plan, Vec<Action>) {
    let (mut now, mut later) = (Vec::new(), Vec::new());
    let replaced: BTreeSet<&ResourceKey> = p
        .actions
        .iter()
        .filter(|a| a.op == Op::Replace && makes_beside(a))
        .map(|a| &a.key)
        .collect();
    for a in &p.actions {
        match a.op {
            Op::Create | Op::Update => now.push(a.clone()),
            Op::Delete => later.push(a.clone()),
            Op::Replace if makes_beside(a) => {
                now.push(Action {
                    op: Op::Create,
                    ..a.clone()
                });
                later.push(Action {
                    op: Op::Delete,
                    desired: None,
                    changes: Vec::new(),
                    reason: Some(REPLACED.to_string()),
                    ..a.clone()
                });
            }
            Op::Replace => match repointed(a, &replaced) {
                Some(update) => now.push(update),
                None => now.push(a.clone()),
            },
        }
    }
    let phase_one = Plan {
        actions: now,
        ..p.clone()
    };
    (phase_one, later)
}

/// Whether a replacement can make the new resource beside the old one: a
/// certificate or attachment (made first anyway), or a target group whose new
/// name differs (AWS names them uniquely).
fn makes_beside(a: &Action) -> bool {
    let name = |r: Option<&Resource>| match r.map(|r| &r.spec) {
        Some(ResourceSpec::TargetGroup(t)) => Some(t.name.clone()),
        _ => None,
    };
    a.creates_before_deleting()
        || (a.kind == crate::resource::ResourceKind::TargetGroup
            && name(a.desired.as_ref()) != name(a.current.as_ref().map(|o| &o.resource)))
}

/// A rule replaced only because its target group is, as an update that points
/// it at the new one (and moves its priority or hosts, if the plan does).
fn repointed(a: &Action, replaced: &BTreeSet<&ResourceKey>) -> Option<Action> {
    let (ResourceSpec::ListenerRule(want), ResourceSpec::ListenerRule(have)) = (
        &a.desired.as_ref()?.spec,
        &a.current.as_ref()?.resource.spec,
    ) else {
        return None;
    };
    if want.listener != have.listener || !replaced.contains(&want.target_group) {
        return None;
    }
    let change = |field: &str, from: String, to: String| FieldChange {
        field: field.to_string(),
        from,
        to,
        forces_replacement: false,
    };
    let mut changes = vec![change(
        "target_group",
        format!("{} (old)", have.target_group),
        format!("{} (new)", want.target_group),
    )];
    if want.priority != have.priority
        && let Some(p) = want.priority
    {
        let from = have.priority.map(|p| p.to_string()).unwrap_or_default();
        changes.push(change("priority", from, p.to_string()));
    }
    if want.hosts != have.hosts {
        changes.push(change("hosts", have.hosts.join(","), want.hosts.join(",")));
    }
    Some(Action {
        op: Op::Update,
        changes,
        ..a.clone()
    })
}

impl PendingRemovals {
    /// Whether phase two has nothing to delete.
    pub fn is_empty(&self) -> bool {
        self.actions.is_empty()
    }

    /// The deletes phase two makes, each with the resource it deletes
    /// ([`Action::current`]).
    pub fn actions(&self) -> &[Action] {
        &self.actions
    }

    /// The app they belong to.
    pub fn app(&self) -> &Name {
        &self.app
    }

    /// Phase two: deletes what phase one left, once the caller's containers
    /// have moved; then, like a deploy, the load balancers of the routers'
    /// pools that nothing is routed on any more. A pending removal already
    /// gone is skipped.
    ///
    /// Refuses, deleting nothing ([`OpsError::Removals`]), when a pending
    /// removal is no longer as phase one left it, or is referenced again by
    /// something that stays (a rule pointed back at an old target group whose
    /// replacement is gone, say); a rack changed between this check and the
    /// deletes is refused as stale ([`ApplyError::Stale`]). A reference is
    /// read by key, as observe reports it: while the resource phase one made
    /// for a key exists, references to the key are to it, and a target group
    /// still in use is refused by the provider itself (AWS: `ResourceInUse`).
    pub async fn apply(
        &self,
        backend: &dyn Backend,
        ctx: &ApplyContext,
    ) -> Result<(Plan, Report), OpsError> {
        // What a deploy of the app reads: its resources, the rack's, and
        // every rule on the rack's listeners (what may refer to a removal).
        let seen = Scope::Deploy(self.app.clone());
        let observed = backend.observe(&self.rack.name, &seen).await?;
        let mut deletes = Vec::new();
        for a in &self.actions {
            let Some(left) = &a.current else { continue };
            let Some(now) = observed
                .iter()
                .find(|o| o.resource.key == a.key && o.id == left.id)
            else {
                // Gone already: nothing to do.
                continue;
            };
            if now.resource.spec != left.resource.spec {
                return Err(RemovalError::Changed {
                    key: a.key.clone(),
                    id: left.id.clone(),
                }
                .into());
            }
            if let Some(by) = self.referrer(&observed, &a.key) {
                return Err(RemovalError::Referenced {
                    key: a.key.clone(),
                    id: left.id.clone(),
                    by,
                }
                .into());
            }
            deletes.push(Action {
                current: Some(now.clone()),
                ..a.clone()
            });
        }
        let mut p = Plan {
            scope: Scope::App(self.app.clone()),
            actions: deletes,
            fingerprint: fingerprint(&observed),
            duplicate_claims: Vec::new(),
            observed_in: seen.clone(),
        };
        if p.is_empty() {
            return Ok((p, Report::default()));
        }
        tracing::info!(app = %self.app, deletes = p.actions.len(), "phase two: removing what phase one left");
        let mut report = apply(backend, &p, ctx).await?;
        let after = backend.observe(&self.rack.name, &seen).await?;
        let shrunk = shrink(backend, &self.rack, ctx, Some((&after, &seen))).await?;
        absorb(&mut p, &mut report, shrunk);
        Ok((p, report))
    }

    /// What stays and refers to `key` when `key` stands for a pending removal
    /// (the resource phase one made for it, if any, is gone).
    fn referrer(&self, observed: &[Observed], key: &ResourceKey) -> Option<ResourceKey> {
        let successor = self.successors.get(key).is_some_and(|id| {
            observed
                .iter()
                .any(|o| o.resource.key == *key && o.id == *id)
        });
        if successor {
            return None;
        }
        let pending: BTreeSet<&str> = self
            .actions
            .iter()
            .filter_map(|a| a.current.as_ref().map(|o| o.id.as_str()))
            .collect();
        observed
            .iter()
            .filter(|o| !pending.contains(o.id.as_str()))
            .find(|o| o.resource.spec.references().contains(&key))
            .map(|o| o.resource.key.clone())
    }
}
