//! The apply engine: carries out a [`Plan`](crate::plan::Plan) through a
//! [`Backend`](crate::backend::Backend).
//!
//! It decides nothing the planner has not: it re-observes, refuses a stale plan,
//! then runs the actions in dependency order, each once (retrying only errors the
//! backend calls retryable), and stops at the first dependency level that fails.
//! What it did is in the [`Report`]; running the next plan from a fresh observation
//! picks up where it stopped.
//!
//! Order, by kind ([`crate::aws::CREATE_ORDER`]): security group, load balancer, certificate, listener (a 443
//! listener needs its certificate), listener certificate, target group, rule,
//! hosted zone, record. Deletes run first, in the reverse order; certificates being
//! replaced, and their attachments, are created before and deleted after
//! everything else (old attachments detached, then old certificates deleted), so
//! that no listener is ever left without one and no name goes uncovered. A
//! certificate due for renewal is re-issued and re-imported in place
//! ([`Backend::reimport_certificate`](crate::backend::Backend::reimport_certificate)).
//!
//! No runtime: the caller supplies sleeping ([`ApplyContext::sleep`]); jitter comes
//! from a seeded generator, so a test with a fixed seed sees fixed delays.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::name::Name;
use crate::tls::CertificateIssuer;

mod engine;
mod records;
mod report;
mod schedule;
mod steps;

pub use crate::aws::SleepFn;
pub use engine::retrying;
pub use report::{ActionRef, ApplyError, ApplyEvent, Failure, PRIORITY_IN_USE, Report, StepError};
pub use schedule::{apply, apply_read};

/// Where progress goes.
pub type EventFn = Arc<dyn Fn(&ApplyEvent) + Send + Sync>;

/// How retryable errors are retried: exponential backoff with full jitter.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetryPolicy {
    /// Attempts per call, the first included (at least 1).
    pub max_attempts: u32,
    /// The backoff cap for the first retry; it doubles with each.
    pub base_delay: Duration,
    /// The largest backoff cap.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 6,
            base_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(20),
        }
    }
}

/// Everything the engine needs besides the backend and the plan.
#[derive(Clone)]
pub struct ApplyContext {
    /// The rack.
    pub rack: Name,
    /// The time, in Unix seconds, for certificates issued while applying.
    pub now: i64,
    /// Issues the certificates the plan creates (the rack's certificate authority).
    pub issuer: Option<Arc<dyn CertificateIssuer>>,
    /// Actions run at once within a dependency level (at least 1).
    pub concurrency: usize,
    /// Retries of retryable errors.
    pub retry: RetryPolicy,
    /// Sleeps between retries.
    pub sleep: SleepFn,
    /// Seeds the jitter.
    pub seed: u64,
    /// Receives progress.
    pub on_event: Option<EventFn>,
    /// How long before it expires a certificate is renewed, in seconds: the
    /// operations in [`crate::ops`] plan renewals at `now` with it (issue 12).
    pub renew_before: i64,
    /// The copies of shared certificates this operation made or began to
    /// take off their listeners: set by [`crate::ops`] for one deploy.
    pub(crate) own_copies: Option<Arc<OwnCopies>>,
}

/// The ids of the internal load balancers' shared certificates
/// ([`crate::pool::certs`]) one operation imported, or detached from a
/// listener to delete them: its own, whatever tags say.
///
/// Two deploys at once may each import a load balancer's first shared
/// certificate; the planner keeps one copy and deletes the others, detaching
/// each before deleting it. A copy that is attached nowhere is refused as
/// possibly someone else's (a copy of our tags), so a deploy interrupted
/// between the two steps (another action of its apply failed) would leave
/// every deploy on that load balancer refused. The deploy that made or
/// detached the copy knows it is its own, and finishes the job.
#[derive(Debug, Default)]
pub(crate) struct OwnCopies(std::sync::Mutex<std::collections::BTreeSet<String>>);

impl OwnCopies {
    pub(crate) fn insert(&self, id: &str) {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(id.to_string());
    }

    pub(crate) fn contains(&self, id: &str) -> bool {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .contains(id)
    }
}

impl fmt::Debug for ApplyContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApplyContext")
            .field("rack", &self.rack)
            .field("now", &self.now)
            .field("issuer", &self.issuer)
            .field("concurrency", &self.concurrency)
            .field("retry", &self.retry)
            .field("seed", &self.seed)
            .field("renew_before", &self.renew_before)
            .finish_non_exhaustive()
    }
}

impl ApplyContext {
    /// A context for `rack` at `now` that sleeps with `sleep`: four actions at once,
    /// the default retry policy, no issuer, no progress.
    pub fn new(rack: Name, now: i64, sleep: SleepFn) -> Self {
        ApplyContext {
            rack,
            now,
            issuer: None,
            concurrency: 4,
            retry: RetryPolicy::default(),
            sleep,
            seed: 0x5eed,
            on_event: None,
            renew_before: crate::renew::DEFAULT_RENEW_BEFORE,
            own_copies: None,
        }
    }

    /// This context for one operation that remembers the shared certificate
    /// copies it makes or detaches ([`OwnCopies`]).
    pub(crate) fn for_one_operation(&self) -> Self {
        ApplyContext {
            own_copies: Some(Arc::default()),
            ..self.clone()
        }
    }

    /// Sets how long before it expires a certificate is renewed (issue 12).
    pub fn with_renew_before(mut self, secs: i64) -> Self {
        self.renew_before = secs.max(0);
        self
    }

    /// When certificates are due: at `now`, within `renew_before`.
    pub fn renewal(&self) -> crate::renew::Renewal {
        crate::renew::Renewal::at(self.now).with_renew_before(self.renew_before)
    }

    /// Sets the certificate issuer.
    pub fn with_issuer(mut self, issuer: Arc<dyn CertificateIssuer>) -> Self {
        self.issuer = Some(issuer);
        self
    }

    /// Sets how many actions run at once.
    pub fn with_concurrency(mut self, n: usize) -> Self {
        self.concurrency = n.max(1);
        self
    }

    /// Sets the retry policy.
    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// Sets the jitter seed.
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Sets the progress callback.
    pub fn with_events(mut self, on_event: EventFn) -> Self {
        self.on_event = Some(on_event);
        self
    }
}
