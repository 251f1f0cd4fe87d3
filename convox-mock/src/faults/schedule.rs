//! The fault schedule: what fails ([`Fault`]), which calls a rule watches
//! ([`Target`]) and when it fires among them ([`Trigger`]).

use convox_model::backend::{BackendError, ErrorKind};
use serde::{Deserialize, Serialize};

use crate::ops::Operation;

/// Whether a fault strikes before the call reaches the backend or after it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultTiming {
    /// The call never reaches the backend: nothing changes.
    Before,
    /// The call is made and succeeds, then the error is returned: the change
    /// happened but the caller does not know.
    After,
}

/// An injected failure.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fault {
    /// The error's kind.
    pub kind: ErrorKind,
    /// Whether the error says a retry may help.
    pub retryable: bool,
    /// Before or after the call.
    pub timing: FaultTiming,
}

impl Fault {
    /// A fault of `kind` before the call (retryable if throttled or unexpected).
    pub fn before(kind: ErrorKind) -> Self {
        Fault {
            kind,
            retryable: matches!(kind, ErrorKind::Throttled | ErrorKind::Unexpected),
            timing: FaultTiming::Before,
        }
    }

    /// A fault of `kind` after the call made its change.
    pub fn after(kind: ErrorKind) -> Self {
        Fault {
            timing: FaultTiming::After,
            ..Fault::before(kind)
        }
    }

    /// AWS's `Throttling`: retryable, nothing changed.
    pub fn throttled() -> Self {
        Fault::before(ErrorKind::Throttled)
    }

    /// A transient server error before the call: retryable, nothing changed.
    pub fn transient() -> Self {
        Fault::before(ErrorKind::Unexpected)
    }

    /// A lost response: the change was made, the caller sees a retryable error.
    pub fn lost_response() -> Self {
        Fault::after(ErrorKind::Unexpected)
    }

    /// Sets whether the error says a retry may help.
    pub fn retryable(mut self, retryable: bool) -> Self {
        self.retryable = retryable;
        self
    }

    pub(super) fn error(&self, op: &str, why: &str) -> BackendError {
        BackendError::new(self.kind, op, why).retryable(self.retryable)
    }
}

/// Which calls a rule watches.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Target {
    /// Every call.
    All,
    /// Calls that may change something.
    Mutations,
    /// Calls that only read.
    Reads,
    /// Calls of one operation, by name (see [`crate::ops`]): `CreateRule`.
    Operation(String),
}

impl Target {
    fn matches(&self, op: &Operation) -> bool {
        match self {
            Target::All => true,
            Target::Mutations => op.mutating,
            Target::Reads => !op.mutating,
            Target::Operation(name) => name == op.name,
        }
    }
}

/// When a rule fires among the calls it watches.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Trigger {
    /// The Nth watched call (1-based), once.
    Nth(u64),
    /// Every watched call from the Nth on (1-based).
    From(u64),
    /// Each watched call with this probability, drawn from the seeded generator.
    Fraction(f64),
}

/// A rule of a [`super::Faulty`]: when `trigger` fires among the calls `target`
/// watches, the call fails with `fault`.
#[derive(Clone, Debug)]
pub(super) struct Rule {
    pub(super) target: Target,
    pub(super) trigger: Trigger,
    pub(super) fault: Fault,
    /// Watched calls so far.
    pub(super) seen: u64,
}

impl Rule {
    /// Counts `op` if the rule watches it, and says what would make it fire.
    pub(super) fn watch(&mut self, op: &Operation) -> Option<Trigger> {
        if !self.target.matches(op) {
            return None;
        }
        self.seen += 1;
        Some(self.trigger.clone())
    }

    /// Whether a counted trigger fires at this call.
    pub(super) fn fires_at_count(&self) -> bool {
        match self.trigger {
            Trigger::Nth(n) => self.seen == n,
            Trigger::From(n) => self.seen >= n,
            Trigger::Fraction(_) => false,
        }
    }
}
