//! The schedule: refuse a stale plan, then run the actions in dependency stages,
//! stopping at the first stage that fails.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;

use super::engine::Engine;
use super::report::{ActionRef, StepError};
use super::{ApplyContext, ApplyError, Failure, Report};
use crate::aws::{CREATE_ORDER, create_level};
use crate::backend::Backend;
use crate::plan::{Action, Op, Plan, fingerprint};
use crate::resource::{LoadBalancerAddress, Observed, ResourceKey};

/// How many dependency levels there are.
const LEVELS: usize = CREATE_ORDER.len();

/// A unit of work: one half of an action.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Half {
    /// Delete the current resource.
    Delete,
    /// Create, update, or create the new half of a replacement.
    Put,
}

/// One half of one action.
pub(super) type Unit<'p> = (Half, &'p Action);

pub(super) struct Outcome {
    pub(super) action: ActionRef,
    pub(super) result: Result<Effect, StepError>,
}

pub(super) enum Effect {
    Created {
        key: ResourceKey,
        id: String,
        address: Option<LoadBalancerAddress>,
    },
    /// The resource `id` under `key` is gone.
    Deleted {
        key: ResourceKey,
        id: String,
    },
    Updated,
}

/// Ids and load balancer addresses known so far.
#[derive(Default)]
pub(super) struct Known {
    pub(super) ids: BTreeMap<ResourceKey, String>,
    pub(super) addresses: BTreeMap<ResourceKey, LoadBalancerAddress>,
}

impl Known {
    pub(super) fn id<'k>(&'k self, key: &'k ResourceKey) -> Result<&'k str, StepError> {
        self.ids
            .get(key)
            .map(String::as_str)
            // A public certificate the rack does not own: its key is its ARN.
            .or_else(|| crate::public_cert::referenced_arn(key))
            .ok_or_else(|| StepError::Unresolved(key.clone()))
    }

    pub(super) fn address(&self, key: &ResourceKey) -> Result<&LoadBalancerAddress, StepError> {
        self.addresses
            .get(key)
            .ok_or_else(|| StepError::Unresolved(key.clone()))
    }
}

/// Applies `plan` through `backend`.
///
/// Refuses a stale plan ([`ApplyError::Stale`]) without changing anything. On
/// failure, returns the failures and the partial report; the world is then in a
/// state from which the next plan converges.
pub async fn apply(
    backend: &dyn Backend,
    plan: &Plan,
    ctx: &ApplyContext,
) -> Result<Report, ApplyError> {
    let observed = Engine::new(backend, ctx)
        .with_retry(None, false, || {
            backend.observe(&ctx.rack, &plan.observed_in)
        })
        .await
        .map_err(ApplyError::Observe)?;
    apply_read(backend, plan, ctx, &observed).await
}

/// [`apply`], on `observed`: the observation `plan` was made from, read just
/// before by the caller, who changed nothing since. No read of its own: a
/// deploy that observed, planned and applies at once costs one read, not two.
/// A plan not made from `observed` is refused as stale; a change someone else
/// made since the caller read is met by the provider's own refusals (a
/// priority taken, a resource in use) as it would be between [`apply`]'s read
/// and its first call.
pub async fn apply_read(
    backend: &dyn Backend,
    plan: &Plan,
    ctx: &ApplyContext,
    observed: &[Observed],
) -> Result<Report, ApplyError> {
    let engine = Engine::new(backend, ctx);
    let now = fingerprint(observed);
    if now != plan.fingerprint {
        return Err(ApplyError::Stale {
            planned: plan.fingerprint.clone(),
            observed: now,
        });
    }

    let mut known = Known::default();
    // A key claimed more than once is the claim the planner kept, or none: the
    // others are someone else's, never referred to or touched.
    let kept: BTreeMap<&ResourceKey, Option<&str>> = plan
        .duplicate_claims
        .iter()
        .map(|c| (&c.key, c.kept.as_deref()))
        .collect();
    // Of our own copies, the first is the one the planner kept (`kept_first`).
    for o in crate::plan::kept_first(observed) {
        if o.resource.key.is_foreign() {
            continue;
        }
        if let Some(k) = kept.get(&o.resource.key)
            && *k != Some(o.id.as_str())
        {
            continue;
        }
        if !known.ids.contains_key(&o.resource.key) {
            known.ids.insert(o.resource.key.clone(), o.id.clone());
            if let Some(a) = &o.address {
                known.addresses.insert(o.resource.key.clone(), a.clone());
            }
        }
    }

    let mut report = Report::default();
    let mut stages: Vec<Vec<(Half, &Action)>> = Vec::new();
    // Deletes, and the delete half of replacements that delete first: reverse order.
    for level in (0..LEVELS).rev() {
        stages.push(
            plan.actions
                .iter()
                .filter(|a| create_level(a.kind) == level)
                .filter(|a| {
                    (a.op == Op::Delete && !a.deletes_last())
                        || (a.op == Op::Replace && !a.creates_before_deleting())
                })
                .map(|a| (Half::Delete, a))
                .collect(),
        );
    }
    for level in 0..LEVELS {
        stages.push(
            plan.actions
                .iter()
                .filter(|a| create_level(a.kind) == level && a.op != Op::Delete)
                .map(|a| (Half::Put, a))
                .collect(),
        );
    }
    // Old certificates go last, once the new ones serve: old attachments are
    // detached first, then the certificates deleted (make before break).
    for level in (0..LEVELS).rev() {
        stages.push(
            plan.actions
                .iter()
                .filter(|a| {
                    (a.creates_before_deleting() || (a.op == Op::Delete && a.deletes_last()))
                        && create_level(a.kind) == level
                })
                .map(|a| (Half::Delete, a))
                .collect(),
        );
    }

    for stage in stages {
        if stage.is_empty() {
            continue;
        }
        let outcomes = engine.run_stage(&stage, &known).await;
        let mut failures = Vec::new();
        for o in outcomes {
            match o.result {
                Ok(effect) => {
                    match effect {
                        Effect::Created { key, id, address } => {
                            known.ids.insert(key.clone(), id);
                            if let Some(a) = address {
                                known.addresses.insert(key, a);
                            }
                        }
                        Effect::Deleted { key, id } => {
                            // The key may name another resource by now: the new
                            // half of a create-first replacement, or the copy
                            // the planner kept among duplicates.
                            if known.ids.get(&key) == Some(&id) {
                                known.ids.remove(&key);
                            }
                        }
                        Effect::Updated => {}
                    }
                    report.applied.push(o.action);
                }
                Err(error) => failures.push(Failure {
                    action: o.action,
                    error,
                }),
            }
        }
        if !failures.is_empty() {
            report.calls = engine.calls.load(Ordering::Relaxed);
            report.retries = engine.retries.load(Ordering::Relaxed);
            report.ids = known.ids;
            return Err(ApplyError::Failed {
                failures,
                report: Box::new(report),
            });
        }
    }
    report.calls = engine.calls.load(Ordering::Relaxed);
    report.retries = engine.retries.load(Ordering::Relaxed);
    report.ids = known.ids;
    Ok(report)
}
