//! What an apply tells its caller: progress events, the report, and why it stopped.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::backend::{BackendError, ErrorKind};
use crate::plan::{Action, Op};
use crate::resource::{ResourceKey, ResourceKind};

/// Which action an event or failure is about.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActionRef {
    /// The resource.
    pub key: ResourceKey,
    /// Its kind.
    pub kind: ResourceKind,
    /// What is done to it.
    pub op: Op,
}

impl fmt::Display for ActionRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} {}", self.op, self.kind, self.key)
    }
}

impl From<&Action> for ActionRef {
    fn from(a: &Action) -> Self {
        ActionRef {
            key: a.key.clone(),
            kind: a.kind,
            op: a.op,
        }
    }
}

/// Progress, for the embedding tool.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
#[non_exhaustive]
pub enum ApplyEvent {
    /// An action started.
    Started {
        /// The action.
        action: ActionRef,
    },
    /// A call failed with a retryable error and will be tried again after `delay`.
    Retrying {
        /// The action.
        action: ActionRef,
        /// The attempt that failed (1-based).
        attempt: u32,
        /// How long until the next.
        delay: Duration,
        /// The error.
        error: String,
    },
    /// An action finished.
    Finished {
        /// The action.
        action: ActionRef,
    },
    /// An action failed.
    Failed {
        /// The action.
        action: ActionRef,
        /// The error.
        error: String,
    },
}

/// What an apply did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    /// The actions carried out, in the order they finished.
    pub applied: Vec<ActionRef>,
    /// Mutating backend calls made, retries included.
    pub calls: usize,
    /// Retries made.
    pub retries: usize,
    /// Every resource's provider id as the apply left them (observed, minus
    /// deleted, plus created).
    pub ids: BTreeMap<ResourceKey, String>,
}

/// Why one action failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StepError {
    /// The backend refused.
    #[error(transparent)]
    Backend(#[from] BackendError),
    /// A resource it refers to has no provider id (a plan that does not match what
    /// exists; plan again).
    #[error("{0} has no provider id: it neither exists nor was created; plan again")]
    Unresolved(ResourceKey),
    /// A certificate is to be created but the context has no issuer.
    #[error(
        "a certificate must be issued but no certificate authority was given (ApplyContext::with_issuer)"
    )]
    NoIssuer,
    /// The issuer failed.
    #[error(transparent)]
    Issue(#[from] crate::tls::TlsError),
    /// The plan asks for something no backend verb does.
    #[error("cannot {op} a {kind} in place; plan again")]
    Unsupported {
        /// The op.
        op: Op,
        /// The kind.
        kind: ResourceKind,
    },
}

/// One failed action.
#[derive(Debug)]
pub struct Failure {
    /// The action.
    pub action: ActionRef,
    /// Why.
    pub error: StepError,
}

/// Why an apply stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ApplyError {
    /// The world changed since the plan was made; nothing was changed.
    #[error(
        "the plan is stale: it was computed from state {planned} but the rack is now in state {observed}; nothing was changed, plan again"
    )]
    Stale {
        /// The plan's fingerprint.
        planned: String,
        /// The fingerprint of what exists now.
        observed: String,
    },
    /// A plan could not be made from what was read, because another process
    /// is changing it at this moment (the planner's reason says what);
    /// nothing was changed.
    #[error(
        "another process is changing what this plan was made from ({reason}); nothing was changed, plan again"
    )]
    Raced {
        /// The planner's refusal.
        reason: String,
    },
    /// Observing the rack failed; nothing was changed.
    #[error("could not observe the rack; nothing was changed")]
    Observe(#[source] BackendError),
    /// Actions failed; those before them were applied (see the report).
    #[error("{} failed: {}{}; {} action(s) were applied before it stopped; {}", .failures[0].action, .failures[0].error, if .failures.len() > 1 { format!(" (and {} more failures)", .failures.len() - 1) } else { String::new() }, .report.applied.len(), next_step(.failures))]
    Failed {
        /// The failures (at least one).
        failures: Vec<Failure>,
        /// What was done.
        report: Box<Report>,
    },
}

/// The code AWS (and the mock, in its message) gives a rule priority that is
/// taken on the listener: `CreateRule` and `SetRulePriorities` answer it when
/// another process took the priority after the plan was made.
pub const PRIORITY_IN_USE: &str = "PriorityInUse";

/// What a person should do after `failures`: only a failure that a fresh plan
/// gets past is promised to continue by itself.
fn next_step(failures: &[Failure]) -> &'static str {
    let kinds = failures.iter().map(|f| match &f.error {
        StepError::Backend(e) => Some(e.kind()),
        _ => None,
    });
    let mut fix_first = false;
    for kind in kinds {
        match kind {
            Some(ErrorKind::Permission | ErrorKind::InvalidInput | ErrorKind::QuotaExceeded)
            | None => fix_first = true,
            _ => {}
        }
    }
    if fix_first {
        "fix the cause above, then run again: it plans afresh from what now exists"
    } else {
        "running again plans afresh from what now exists and continues"
    }
}

/// A load balancer refused a rule or a certificate for want of room, or its
/// listener was gone: the plan checked AWS's quotas over everything it would
/// leave, and every listener it names, before it ran, so another process took
/// the room meanwhile (two deploys placed on the same load balancer of a
/// router's pool at once) or removed a load balancer it found empty; placing
/// again finds another, or makes it again.
fn took_the_room(e: &crate::backend::BackendError) -> bool {
    matches!(e.kind(), ErrorKind::QuotaExceeded | ErrorKind::NotFound)
        && matches!(
            e.operation(),
            "CreateRule" | "AddListenerCertificates"
        )
        // Router pools (issue 9): another deploy deleted a shared certificate
        // this one re-imports (a copy both made, or one left without names).
        || (e.kind() == ErrorKind::NotFound
            && matches!(
                e.operation(),
                "ReimportCertificate" | "ImportCertificate"
            ))
        // ... or attached again a copy of one this one deletes.
        || (e.kind() == ErrorKind::Conflict && e.operation() == "DeleteCertificate")
}

impl ApplyError {
    /// Whether the apply failed only because another process changed the rack
    /// meanwhile (it took a rule priority, or changed what was planned from):
    /// observing and planning again gets past it.
    pub fn is_contention(&self) -> bool {
        match self {
            ApplyError::Stale { .. } | ApplyError::Raced { .. } => true,
            ApplyError::Failed { failures, .. } => failures.iter().all(|f| {
                matches!(&f.error, StepError::Backend(e)
                    if (e.kind() == ErrorKind::Conflict && e.message().contains(PRIORITY_IN_USE))
                        || took_the_room(e))
            }),
            ApplyError::Observe(_) => false,
        }
    }

    /// The partial report of a failed apply.
    pub fn report(&self) -> Option<&Report> {
        match self {
            ApplyError::Failed { report, .. } => Some(report),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A plan refused on what another deploy is changing says so, with the
    /// planner's reason (not two equal fingerprints, as a stale plan's), and
    /// is planned again like a stale one; a failed read is not.
    #[test]
    fn a_raced_plan_says_why_and_is_planned_again() {
        let raced = ApplyError::Raced {
            reason: "api.backend.production.convox is covered by no certificate".into(),
        };
        assert!(raced.is_contention());
        let text = raced.to_string();
        assert!(text.starts_with("another process is changing"), "{text}");
        assert!(text.contains("api.backend.production.convox"), "{text}");
        assert!(text.contains("plan again"), "{text}");
        assert!(!text.contains("state"), "{text}");
        let observe = ApplyError::Observe(crate::backend::BackendError::new(
            ErrorKind::Unexpected,
            "DescribeRules",
            "down",
        ));
        assert!(!observe.is_contention());
    }
}
