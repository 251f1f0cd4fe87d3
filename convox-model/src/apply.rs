//! The apply engine: carries out a [`Plan`] through a [`Backend`].
//!
//! It decides nothing the planner has not: it re-observes, refuses a stale plan,
//! then runs the actions in dependency order, each once (retrying only errors the
//! backend calls retryable), and stops at the first dependency level that fails.
//! What it did is in the [`Report`]; running the next plan from a fresh observation
//! picks up where it stopped.
//!
//! Order, by kind: security group, load balancer, certificate, listener (a 443
//! listener needs its certificate), listener certificate, target group, rule,
//! hosted zone, record. Deletes run first, in the reverse order; certificates being
//! replaced are created before and deleted after everything else, so that no
//! listener is ever left without one.
//!
//! No runtime: the caller supplies sleeping ([`ApplyContext::sleep`]); jitter comes
//! from a seeded generator, so a test with a fixed seed sees fixed delays.

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use futures::future::BoxFuture;
use futures::stream::{self, StreamExt};
use serde::{Deserialize, Serialize};

use crate::backend::{Backend, BackendError, BackendResult, ErrorKind};
use crate::name::Name;
use crate::plan::{Action, Limits, Op, Plan, fingerprint};
use crate::resource::{
    Kind, LoadBalancerAddress, Observed, RecordAction, RecordChange, Resource, ResourceKey, Scope,
    Spec, record_owner_value,
};
use crate::tls::CertificateIssuer;

/// Route53's limit on records per change batch.
pub const ROUTE53_MAX_RECORDS_PER_BATCH: usize = 1000;

/// How the caller sleeps: a future that completes after the duration.
pub type SleepFn = Arc<dyn Fn(Duration) -> BoxFuture<'static, ()> + Send + Sync>;

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
    /// Quotas checked when the operations in [`crate::ops`] plan.
    pub limits: Limits,
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
            .field("limits", &self.limits)
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
            limits: Limits::default(),
        }
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

    /// Sets the quotas.
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }
}

/// Which action an event or failure is about.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActionRef {
    /// The resource.
    pub key: ResourceKey,
    /// Its kind.
    pub kind: Kind,
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
        kind: Kind,
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
    /// Observing the rack failed; nothing was changed.
    #[error("could not observe the rack; nothing was changed")]
    Observe(#[source] BackendError),
    /// Actions failed; those before them were applied (see the report).
    #[error("{} failed: {}{}; {} action(s) were applied before it stopped; running again continues from what now exists", .failures[0].action, .failures[0].error, if .failures.len() > 1 { format!(" (and {} more failures)", .failures.len() - 1) } else { String::new() }, .report.applied.len())]
    Failed {
        /// The failures (at least one).
        failures: Vec<Failure>,
        /// What was done.
        report: Box<Report>,
    },
}

impl ApplyError {
    /// The partial report of a failed apply.
    pub fn report(&self) -> Option<&Report> {
        match self {
            ApplyError::Failed { report, .. } => Some(report),
            _ => None,
        }
    }
}

/// Everything the rack owns: its own resources and every app's. The planner needs
/// all of them (rule priorities and quotas span apps), and the fingerprint covers
/// all of them.
pub async fn observe_all(backend: &dyn Backend, rack: &Name) -> BackendResult<Vec<Observed>> {
    let mut all = backend.observe(rack, &Scope::Rack).await?;
    all.extend(backend.observe(rack, &Scope::Apps).await?);
    Ok(all)
}

fn create_level(kind: Kind) -> usize {
    match kind {
        Kind::SecurityGroup => 0,
        Kind::LoadBalancer => 1,
        Kind::Certificate => 2,
        Kind::Listener => 3,
        Kind::ListenerCertificate => 4,
        Kind::TargetGroup => 5,
        Kind::ListenerRule => 6,
        Kind::HostedZone => 7,
        Kind::Record => 8,
    }
}

const LEVELS: usize = 9;

/// A unit of work: one half of an action.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Half {
    /// Delete the current resource.
    Delete,
    /// Create, update, or create the new half of a replacement.
    Put,
}

/// One half of one action.
type Unit<'p> = (Half, &'p Action);

struct Outcome {
    action: ActionRef,
    result: Result<Effect, StepError>,
}

enum Effect {
    Created {
        key: ResourceKey,
        id: String,
        address: Option<LoadBalancerAddress>,
    },
    Deleted(ResourceKey),
    Updated,
}

struct Engine<'a> {
    backend: &'a dyn Backend,
    ctx: &'a ApplyContext,
    rng: AtomicU64,
    calls: AtomicUsize,
    retries: AtomicUsize,
}

/// Ids and load balancer addresses known so far.
#[derive(Default)]
struct Known {
    ids: BTreeMap<ResourceKey, String>,
    addresses: BTreeMap<ResourceKey, LoadBalancerAddress>,
}

impl Known {
    fn id(&self, key: &ResourceKey) -> Result<&str, StepError> {
        self.ids
            .get(key)
            .map(String::as_str)
            .ok_or_else(|| StepError::Unresolved(key.clone()))
    }

    fn address(&self, key: &ResourceKey) -> Result<&LoadBalancerAddress, StepError> {
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
    let engine = Engine {
        backend,
        ctx,
        rng: AtomicU64::new(ctx.seed),
        calls: AtomicUsize::new(0),
        retries: AtomicUsize::new(0),
    };
    let observed = engine
        .with_retry(None, false, || observe_all(backend, &ctx.rack))
        .await
        .map_err(ApplyError::Observe)?;
    let now = fingerprint(&observed);
    if now != plan.fingerprint {
        return Err(ApplyError::Stale {
            planned: plan.fingerprint.clone(),
            observed: now,
        });
    }

    let mut known = Known::default();
    let mut sorted: Vec<&Observed> = observed.iter().collect();
    sorted.sort_by(|a, b| (&a.resource.key, &a.id).cmp(&(&b.resource.key, &b.id)));
    for o in sorted {
        // The first of duplicates is the one the planner kept.
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
                    a.op == Op::Delete || (a.op == Op::Replace && !a.creates_before_deleting())
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
    // Old certificates go last, once nothing uses them.
    stages.push(
        plan.actions
            .iter()
            .filter(|a| a.creates_before_deleting())
            .map(|a| (Half::Delete, a))
            .collect(),
    );

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
                        Effect::Deleted(key) => {
                            // The old id of a certificate replaced create-first is
                            // gone, but the key now names the new one: keep it.
                            let replaced_first = stage
                                .iter()
                                .any(|(_, a)| a.key == key && a.creates_before_deleting());
                            if !replaced_first {
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

/// How many of Route53's per-batch records a change counts for: each change is an
/// alias A record and its ownership TXT record, and an UPSERT counts twice.
fn record_cost(action: RecordAction) -> usize {
    match action {
        RecordAction::Upsert => 4,
        RecordAction::Create | RecordAction::Delete => 2,
    }
}

impl<'a> Engine<'a> {
    fn emit(&self, event: ApplyEvent) {
        if let Some(f) = &self.ctx.on_event {
            f(&event);
        }
    }

    /// SplitMix64 over an atomic counter: lock-free, seeded, good enough for jitter.
    fn next_random(&self) -> u64 {
        let mut z = self
            .rng
            .fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed)
            .wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Full jitter: uniform in [0, min(max, base × 2^(attempt-1))].
    fn backoff(&self, attempt: u32) -> Duration {
        let policy = &self.ctx.retry;
        let factor = 1u32
            .checked_shl(attempt.saturating_sub(1))
            .unwrap_or(u32::MAX);
        let cap = policy
            .base_delay
            .saturating_mul(factor)
            .min(policy.max_delay);
        let cap_ms = u64::try_from(cap.as_millis()).unwrap_or(u64::MAX);
        Duration::from_millis(self.next_random() % cap_ms.saturating_add(1))
    }

    /// Calls `f`, retrying retryable errors with backoff. `mutating` calls count
    /// towards the report.
    async fn with_retry<T, F, Fut>(
        &self,
        action: Option<&ActionRef>,
        mutating: bool,
        mut f: F,
    ) -> BackendResult<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = BackendResult<T>>,
    {
        let max = self.ctx.retry.max_attempts.max(1);
        let mut attempt = 1;
        loop {
            if mutating {
                self.calls.fetch_add(1, Ordering::Relaxed);
            }
            match f().await {
                Ok(v) => return Ok(v),
                Err(e) if e.retryable && attempt < max => {
                    let delay = self.backoff(attempt);
                    tracing::debug!(error = %e, attempt, ?delay, "retrying");
                    if let Some(action) = action {
                        self.emit(ApplyEvent::Retrying {
                            action: action.clone(),
                            attempt,
                            delay,
                            error: e.to_string(),
                        });
                    }
                    self.retries.fetch_add(1, Ordering::Relaxed);
                    (self.ctx.sleep)(delay).await;
                    attempt += 1;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// The provider id of the resource with `key`, other than `except`, if it
    /// exists now: for a create that may have been made by an attempt whose answer
    /// was lost.
    async fn find_created(
        &self,
        key: &ResourceKey,
        except: Option<&str>,
    ) -> BackendResult<Option<String>> {
        let scope = if key.app().is_some() {
            Scope::Apps
        } else {
            Scope::Rack
        };
        let observed = self.backend.observe(&self.ctx.rack, &scope).await?;
        Ok(observed
            .into_iter()
            .find(|o| o.resource.key == *key && Some(o.id.as_str()) != except)
            .map(|o| o.id))
    }

    async fn run_stage(&self, stage: &[(Half, &Action)], known: &Known) -> Vec<Outcome> {
        let mut units: Vec<BoxFuture<'_, Vec<Outcome>>> = Vec::new();
        let (records, others): (Vec<Unit<'_>>, Vec<Unit<'_>>) =
            stage.iter().partition(|(_, a)| a.kind == Kind::Record);
        for (half, action) in others {
            units.push(Box::pin(async move {
                let r = ActionRef::from(action);
                self.emit(ApplyEvent::Started { action: r.clone() });
                let result = match half {
                    Half::Delete => self.delete(action, known).await,
                    Half::Put => self.put(action, known).await,
                };
                vec![self.finish(r, result)]
            }));
        }
        if !records.is_empty() {
            units.extend(self.record_batches(&records, known));
        }
        stream::iter(units)
            .buffer_unordered(self.ctx.concurrency.max(1))
            .flat_map(stream::iter)
            .collect()
            .await
    }

    fn finish(&self, action: ActionRef, result: Result<Effect, StepError>) -> Outcome {
        match &result {
            Ok(_) => self.emit(ApplyEvent::Finished {
                action: action.clone(),
            }),
            Err(e) => {
                tracing::warn!(%action, error = %e, "action failed");
                self.emit(ApplyEvent::Failed {
                    action: action.clone(),
                    error: e.to_string(),
                })
            }
        }
        Outcome { action, result }
    }

    async fn delete(&self, action: &Action, known: &Known) -> Result<Effect, StepError> {
        let r = ActionRef::from(action);
        let Some(current) = &action.current else {
            return Err(StepError::Unresolved(action.key.clone()));
        };
        let id = current.id.as_str();
        let b = self.backend;
        let result = match &current.resource.spec {
            Spec::SecurityGroup(_) => {
                self.with_retry(Some(&r), true, || b.delete_security_group(id))
                    .await
            }
            Spec::LoadBalancer(_) => {
                self.with_retry(Some(&r), true, || b.delete_load_balancer(id))
                    .await
            }
            Spec::Listener(_) => {
                self.with_retry(Some(&r), true, || b.delete_listener(id))
                    .await
            }
            Spec::Certificate(_) => {
                self.with_retry(Some(&r), true, || b.delete_certificate(id))
                    .await
            }
            Spec::ListenerCertificate(lc) => {
                let listener = known.id(&lc.listener)?;
                let cert = known.id(&lc.certificate)?;
                self.with_retry(Some(&r), true, || {
                    b.remove_listener_certificate(listener, cert)
                })
                .await
            }
            Spec::TargetGroup(_) => {
                self.with_retry(Some(&r), true, || b.delete_target_group(id))
                    .await
            }
            Spec::ListenerRule(_) => self.with_retry(Some(&r), true, || b.delete_rule(id)).await,
            Spec::HostedZone(_) => {
                self.with_retry(Some(&r), true, || b.delete_hosted_zone(id))
                    .await
            }
            // Records go in batches (record_batches).
            Spec::Record(_) => {
                return Err(StepError::Unsupported {
                    op: action.op,
                    kind: Kind::Record,
                });
            }
        };
        match result {
            // Already gone is what we wanted: re-running after a partial apply is safe.
            Ok(()) => Ok(Effect::Deleted(action.key.clone())),
            Err(e) if e.kind == ErrorKind::NotFound => Ok(Effect::Deleted(action.key.clone())),
            Err(e) => Err(e.into()),
        }
    }

    async fn put(&self, action: &Action, known: &Known) -> Result<Effect, StepError> {
        let r = ActionRef::from(action);
        let Some(Resource { key, tags, spec }) = &action.desired else {
            return Err(StepError::Unresolved(action.key.clone()));
        };
        let b = self.backend;
        if action.op == Op::Update {
            let id = action
                .current
                .as_ref()
                .map(|o| o.id.as_str())
                .ok_or_else(|| StepError::Unresolved(key.clone()))?;
            match spec {
                Spec::SecurityGroup(sg) => {
                    self.with_retry(Some(&r), true, || b.update_security_group(id, sg))
                        .await?
                }
                Spec::Listener(l) => {
                    let cert = l.certificate.as_ref().map(|c| known.id(c)).transpose()?;
                    self.with_retry(Some(&r), true, || b.modify_listener(id, l, cert))
                        .await?
                }
                Spec::TargetGroup(tg) => {
                    self.with_retry(Some(&r), true, || b.modify_target_group(id, tg))
                        .await?
                }
                Spec::ListenerRule(rule) => {
                    if action.changes.iter().any(|c| c.field == "priority")
                        && let Some(p) = rule.priority
                    {
                        self.with_retry(Some(&r), true, || b.set_rule_priority(id, p))
                            .await?;
                    }
                    if action.changes.iter().any(|c| c.field != "priority") {
                        let tg = known.id(&rule.target_group)?;
                        self.with_retry(Some(&r), true, || b.modify_rule(id, rule, tg))
                            .await?;
                    }
                }
                _ => {
                    return Err(StepError::Unsupported {
                        op: action.op,
                        kind: spec.kind(),
                    });
                }
            }
            return Ok(Effect::Updated);
        }

        let created = |id: String| Effect::Created {
            key: key.clone(),
            id,
            address: None,
        };
        Ok(match spec {
            Spec::SecurityGroup(sg) => created(
                self.with_retry(Some(&r), true, || b.create_security_group(sg, tags))
                    .await?,
            ),
            Spec::LoadBalancer(lb) => {
                let sg = known.id(&lb.security_group)?;
                let made = self
                    .with_retry(Some(&r), true, || b.create_load_balancer(lb, sg, tags))
                    .await?;
                Effect::Created {
                    key: key.clone(),
                    id: made.arn,
                    address: Some(made.address),
                }
            }
            Spec::Listener(l) => {
                let lb = known.id(&l.load_balancer)?;
                let cert = l.certificate.as_ref().map(|c| known.id(c)).transpose()?;
                created(
                    self.with_retry(Some(&r), true, || b.create_listener(lb, l, cert, tags))
                        .await?,
                )
            }
            Spec::Certificate(c) => {
                let issuer = self.ctx.issuer.as_ref().ok_or(StepError::NoIssuer)?;
                // Issued here, not at plan time: a plan holds no secrets.
                let pem = issuer.issue(&c.domain, self.ctx.now)?;
                // ImportCertificate is not idempotent: retried after an answer was
                // lost, it imports a second certificate under the same key, and the
                // listener gets one of the two while the planner may keep the other
                // and then fail to delete the one in use, forever. So every retry
                // first looks for the certificate the attempt before may have made.
                // A replacement's old certificate has the same key; it is not the one.
                let old = action.current.as_ref().map(|o| o.id.as_str());
                let attempted = AtomicBool::new(false);
                created(
                    self.with_retry(Some(&r), true, || async {
                        if attempted.swap(true, Ordering::Relaxed)
                            && let Some(id) = self.find_created(key, old).await?
                        {
                            return Ok(id);
                        }
                        b.import_certificate(c, &pem, tags).await
                    })
                    .await?,
                )
            }
            Spec::ListenerCertificate(lc) => {
                let listener = known.id(&lc.listener)?;
                let cert = known.id(&lc.certificate)?;
                self.with_retry(Some(&r), true, || {
                    b.add_listener_certificate(listener, cert)
                })
                .await?;
                // An attachment has no id of its own; its pair names it.
                created(format!("{listener}|{cert}"))
            }
            Spec::TargetGroup(tg) => created(
                self.with_retry(Some(&r), true, || b.create_target_group(tg, tags))
                    .await?,
            ),
            Spec::ListenerRule(rule) => {
                let listener = known.id(&rule.listener)?;
                let tg = known.id(&rule.target_group)?;
                created(
                    self.with_retry(Some(&r), true, || b.create_rule(listener, rule, tg, tags))
                        .await?,
                )
            }
            Spec::HostedZone(z) => created(
                self.with_retry(Some(&r), true, || b.create_hosted_zone(z, tags))
                    .await?,
            ),
            Spec::Record(_) => {
                return Err(StepError::Unsupported {
                    op: action.op,
                    kind: Kind::Record,
                });
            }
        })
    }

    /// Record changes of one stage, grouped by zone and cut into batches within
    /// Route53's limit; each batch is one call.
    fn record_batches(
        &'a self,
        records: &[(Half, &'a Action)],
        known: &'a Known,
    ) -> Vec<BoxFuture<'a, Vec<Outcome>>> {
        let mut out: Vec<BoxFuture<'a, Vec<Outcome>>> = Vec::new();
        // zone id -> [(action, change)]
        let mut by_zone: BTreeMap<String, Vec<(ActionRef, RecordChange)>> = BTreeMap::new();
        let mut failed: Vec<Outcome> = Vec::new();
        for (half, action) in records {
            let r = ActionRef::from(*action);
            match self.record_change(*half, action, known) {
                Ok((zone, change)) => by_zone.entry(zone).or_default().push((r, change)),
                Err(e) => failed.push(self.finish(r, Err(e))),
            }
        }
        if !failed.is_empty() {
            out.push(Box::pin(async move { failed }));
        }
        for (zone, changes) in by_zone {
            let mut batch: Vec<(ActionRef, RecordChange)> = Vec::new();
            let mut cost = 0;
            let mut batches = Vec::new();
            for (r, c) in changes {
                let k = record_cost(c.action);
                if cost + k > ROUTE53_MAX_RECORDS_PER_BATCH && !batch.is_empty() {
                    batches.push(std::mem::take(&mut batch));
                    cost = 0;
                }
                cost += k;
                batch.push((r, c));
            }
            if !batch.is_empty() {
                batches.push(batch);
            }
            for batch in batches {
                let zone = zone.clone();
                out.push(Box::pin(async move {
                    for (r, _) in &batch {
                        self.emit(ApplyEvent::Started { action: r.clone() });
                    }
                    let changes: Vec<RecordChange> = batch.iter().map(|(_, c)| c.clone()).collect();
                    let first = batch.first().map(|(r, _)| r.clone());
                    let result = self
                        .with_retry(first.as_ref(), true, || {
                            self.backend.change_records(&zone, &changes)
                        })
                        .await;
                    batch
                        .into_iter()
                        .map(|(r, c)| {
                            let result = match &result {
                                Ok(()) => Ok(match c.action {
                                    RecordAction::Delete => Effect::Deleted(r.key.clone()),
                                    RecordAction::Create => Effect::Created {
                                        key: r.key.clone(),
                                        id: c.name.clone(),
                                        address: None,
                                    },
                                    RecordAction::Upsert => Effect::Updated,
                                }),
                                Err(e) => Err(StepError::Backend(
                                    BackendError::new(
                                        e.kind,
                                        e.operation.clone(),
                                        e.message.clone(),
                                    )
                                    .retryable(e.retryable),
                                )),
                            };
                            self.finish(r, result)
                        })
                        .collect()
                }));
            }
        }
        out
    }

    fn record_change(
        &self,
        half: Half,
        action: &Action,
        known: &Known,
    ) -> Result<(String, RecordChange), StepError> {
        let (resource, record_action) = match (half, action.op) {
            (Half::Delete, _) => (
                action.current.as_ref().map(|o| &o.resource),
                RecordAction::Delete,
            ),
            (Half::Put, Op::Update) => (action.desired.as_ref(), RecordAction::Upsert),
            (Half::Put, _) => (action.desired.as_ref(), RecordAction::Create),
        };
        let Some(Resource {
            key,
            spec: Spec::Record(rec),
            ..
        }) = resource
        else {
            return Err(StepError::Unresolved(action.key.clone()));
        };
        let zone = known.id(&rec.zone)?.to_string();
        let target = known.address(&rec.load_balancer)?.clone();
        Ok((
            zone,
            RecordChange {
                action: record_action,
                name: rec.name.clone(),
                target,
                owner: record_owner_value(&self.ctx.rack, key),
            },
        ))
    }
}
