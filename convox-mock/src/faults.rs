//! [`Faulty`]: faults, throttling, latency and AWS's rate limits around any backend.
//!
//! The wrapper decides, before each call, whether the call fails and how: a rule
//! (the Nth matching call, or a seeded fraction of them) or an empty token bucket
//! (AWS's request rates, on a virtual clock). A fault [`FaultTiming::Before`] the
//! call leaves the world unchanged; one [`FaultTiming::After`] lets the call
//! through and then reports an error anyway, as when AWS made the change but the
//! answer was lost: the case convergence depends on.
//!
//! Everything is deterministic: the same seed, rules and sequence of calls give
//! the same faults. Time is a [`VirtualClock`] that only latency and the caller
//! advance, so rate limits behave the same on every machine.

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use convox_model::backend::{
    Backend, BackendError, BackendResult, CertificatePem, CreatedLoadBalancer, ErrorKind,
};
use convox_model::name::Name;
use convox_model::rack::Rack;
use convox_model::resource::{
    CertificateSpec, HostedZoneSpec, ListenerRuleSpec, ListenerSpec, LoadBalancerSpec, Observed,
    RecordChange, Scope, SecurityGroupSpec, Tags, TargetGroupSpec,
};
use serde::{Deserialize, Serialize};

use crate::ids::splitmix64;
use crate::mock::SleepFn;
use crate::ops::{self, ApiFamily, Operation};

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every critical section here is a few arithmetic steps that cannot leave the
    // data inconsistent, so a poisoned lock's data is still good.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A clock that moves only when told: by a [`Faulty`]'s latency, by
/// [`VirtualClock::advance`], or by sleeping through [`VirtualClock::sleep_fn`].
///
/// Clones share the same time.
#[derive(Clone, Debug, Default)]
pub struct VirtualClock(Arc<Mutex<Duration>>);

impl VirtualClock {
    /// A clock at zero.
    pub fn new() -> Self {
        Self::default()
    }

    /// The time since the clock started.
    pub fn now(&self) -> Duration {
        *lock(&self.0)
    }

    /// Moves the clock forward.
    pub fn advance(&self, by: Duration) {
        *lock(&self.0) += by;
    }

    /// A [`SleepFn`] that advances this clock and returns at once: give it to an
    /// apply engine so that its backoff refills the rate-limit buckets without
    /// any real waiting.
    pub fn sleep_fn(&self) -> SleepFn {
        let clock = self.clone();
        Arc::new(move |d| {
            clock.advance(d);
            Box::pin(std::future::ready(()))
        })
    }
}

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

    fn error(&self, op: &str, why: &str) -> BackendError {
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

#[derive(Clone, Debug)]
struct Rule {
    target: Target,
    trigger: Trigger,
    fault: Fault,
    seen: u64,
}

/// One API family's request rate: a bucket of `burst` tokens refilled at
/// `per_second`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Rate {
    /// Tokens when full.
    pub burst: f64,
    /// Tokens added per second.
    pub per_second: f64,
}

/// Request rates per API family.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RateLimits(pub BTreeMap<ApiFamily, Rate>);

impl RateLimits {
    /// AWS's documented defaults per account and region: ELBv2 40 then 10/s (its
    /// mutating calls also 20 then 3/s), Route53 50 then 10/s, ACM
    /// ImportCertificate 1/s, EC2 security-group changes 50 then 5/s.
    pub fn aws_defaults() -> Self {
        let r = |burst, per_second| Rate { burst, per_second };
        RateLimits(BTreeMap::from([
            (ApiFamily::Elbv2, r(40.0, 10.0)),
            (ApiFamily::Elbv2Mutating, r(20.0, 3.0)),
            (ApiFamily::Route53, r(50.0, 10.0)),
            (ApiFamily::AcmImport, r(1.0, 1.0)),
            (ApiFamily::Ec2SecurityGroupChanges, r(50.0, 5.0)),
        ]))
    }
}

#[derive(Clone, Debug)]
struct Bucket {
    rate: Rate,
    tokens: f64,
    at: Duration,
}

impl Bucket {
    fn refill(&mut self, now: Duration) {
        let elapsed = now.saturating_sub(self.at).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.rate.per_second).min(self.rate.burst);
        self.at = now;
    }
}

/// The faults a [`Faulty`] has injected.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FaultCounts {
    /// Calls that went through the wrapper.
    pub calls: u64,
    /// Faults from rules.
    pub injected: u64,
    /// Calls refused because their API family's bucket was empty.
    pub rate_limited: u64,
    /// Both of the above by operation name.
    pub by_operation: BTreeMap<String, u64>,
}

impl FaultCounts {
    /// Every failure the wrapper caused.
    pub fn total(&self) -> u64 {
        self.injected + self.rate_limited
    }
}

struct Control {
    rng: u64,
    rules: Vec<Rule>,
    buckets: BTreeMap<ApiFamily, Bucket>,
    counts: FaultCounts,
}

impl Control {
    /// A uniform draw in [0, 1) from the seeded splitmix64 sequence.
    fn draw(&mut self) -> f64 {
        self.rng = self.rng.wrapping_add(1);
        (splitmix64(self.rng) >> 11) as f64 / (1u64 << 53) as f64
    }

    fn decide(&mut self, op: &Operation, now: Duration) -> Option<(Fault, &'static str)> {
        self.counts.calls += 1;
        let mut fired = None;
        for i in 0..self.rules.len() {
            if !self.rules[i].target.matches(op) {
                continue;
            }
            self.rules[i].seen += 1;
            let seen = self.rules[i].seen;
            let fire = match self.rules[i].trigger {
                Trigger::Nth(n) => seen == n,
                Trigger::From(n) => seen >= n,
                // Drawn for every watched call, fired or not, so that one rule's
                // schedule does not shift when another rule is added before it.
                Trigger::Fraction(p) => self.draw() < p,
            };
            if fire && fired.is_none() {
                fired = Some(self.rules[i].fault.clone());
            }
        }
        if let Some(f) = fired {
            self.counts.injected += 1;
            *self.counts.by_operation.entry(op.name.into()).or_default() += 1;
            return Some((f, "injected fault"));
        }
        // Every family's bucket must hold a token before any is taken, as a call
        // refused by one API is not charged to the others.
        let families: Vec<ApiFamily> = op
            .families
            .iter()
            .copied()
            .filter(|f| self.buckets.contains_key(f))
            .collect();
        let mut empty = false;
        for f in &families {
            if let Some(b) = self.buckets.get_mut(f) {
                b.refill(now);
                empty |= b.tokens < 1.0;
            }
        }
        if empty {
            self.counts.rate_limited += 1;
            *self.counts.by_operation.entry(op.name.into()).or_default() += 1;
            return Some((Fault::throttled(), "Rate exceeded"));
        }
        for f in &families {
            if let Some(b) = self.buckets.get_mut(f) {
                b.tokens -= 1.0;
            }
        }
        None
    }
}

/// Wraps a backend and makes it fail, slow down and pace itself like AWS, from a
/// seed.
///
/// ```
/// use convox_mock::{Fault, Faulty, MockBackend};
/// use convox_model::backend::{Backend, ErrorKind};
/// use convox_model::name::Name;
/// use convox_model::resource::Scope;
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let backend = Faulty::new(MockBackend::new(), 7).fail_nth_call(2, Fault::throttled());
/// let rack = Name::new("production").unwrap();
/// assert!(backend.observe(&rack, &Scope::Rack).await.is_ok());
/// let err = backend.observe(&rack, &Scope::Rack).await.unwrap_err();
/// assert_eq!(err.kind, ErrorKind::Throttled);
/// assert!(err.retryable);
/// assert_eq!(backend.faults().injected, 1);
/// # });
/// ```
pub struct Faulty<B: ?Sized> {
    inner: Arc<B>,
    control: Mutex<Control>,
    latency: Duration,
    sleep: Option<SleepFn>,
    clock: VirtualClock,
}

impl<B: fmt::Debug + ?Sized> fmt::Debug for Faulty<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = lock(&self.control);
        f.debug_struct("Faulty")
            .field("inner", &self.inner)
            .field("rules", &c.rules)
            .field("counts", &c.counts)
            .field("latency", &self.latency)
            .field("clock", &self.clock.now())
            .finish_non_exhaustive()
    }
}

impl<B: Backend> Faulty<B> {
    /// Wraps `inner` with no faults yet; `seed` drives every random choice.
    pub fn new(inner: B, seed: u64) -> Self {
        Self::from_arc(Arc::new(inner), seed)
    }
}

impl<B: Backend + ?Sized> Faulty<B> {
    /// Wraps a shared backend, such as the `Arc<dyn Backend>` an embedding tool
    /// holds, or an `Arc<MockBackend>` whose state the test keeps looking at.
    pub fn from_arc(inner: Arc<B>, seed: u64) -> Self {
        Faulty {
            inner,
            control: Mutex::new(Control {
                rng: splitmix64(seed),
                rules: Vec::new(),
                buckets: BTreeMap::new(),
                counts: FaultCounts::default(),
            }),
            latency: Duration::ZERO,
            sleep: None,
            clock: VirtualClock::new(),
        }
    }

    /// Adds a rule: when `trigger` fires among the calls `target` watches, the
    /// call fails with `fault`. The first rule that fires wins.
    pub fn with_rule(self, target: Target, trigger: Trigger, fault: Fault) -> Self {
        lock(&self.control).rules.push(Rule {
            target,
            trigger,
            fault,
            seen: 0,
        });
        self
    }

    /// Fails the Nth call (1-based), whatever it is.
    pub fn fail_nth_call(self, n: u64, fault: Fault) -> Self {
        self.with_rule(Target::All, Trigger::Nth(n), fault)
    }

    /// Fails the Nth call (1-based) of the operation named `operation`.
    pub fn fail_nth_call_of(self, operation: &str, n: u64, fault: Fault) -> Self {
        self.with_rule(
            Target::Operation(operation.to_string()),
            Trigger::Nth(n),
            fault,
        )
    }

    /// Fails each call with probability `p`.
    pub fn fail_fraction(self, p: f64, fault: Fault) -> Self {
        self.with_rule(Target::All, Trigger::Fraction(p), fault)
    }

    /// Fails each mutating call with probability `p`.
    pub fn fail_fraction_of_mutations(self, p: f64, fault: Fault) -> Self {
        self.with_rule(Target::Mutations, Trigger::Fraction(p), fault)
    }

    /// Throttles each call with probability `p`.
    pub fn throttle_fraction(self, p: f64) -> Self {
        self.fail_fraction(p, Fault::throttled())
    }

    /// Paces calls with token buckets per API family on the virtual clock;
    /// a call finding its bucket empty fails as throttled, changing nothing.
    pub fn with_rate_limits(self, limits: RateLimits) -> Self {
        let now = self.clock.now();
        lock(&self.control).buckets = limits
            .0
            .into_iter()
            .map(|(f, rate)| {
                (
                    f,
                    Bucket {
                        rate,
                        tokens: rate.burst,
                        at: now,
                    },
                )
            })
            .collect();
        self
    }

    /// Adds `latency` to every call: the virtual clock advances by it and, with
    /// [`Faulty::with_sleep`], the call really waits it.
    pub fn with_latency(mut self, latency: Duration) -> Self {
        self.latency = latency;
        self
    }

    /// Really waits the latency through `sleep` (otherwise only the virtual clock
    /// moves).
    pub fn with_sleep(mut self, sleep: SleepFn) -> Self {
        self.sleep = Some(sleep);
        self
    }

    /// Uses `clock` (shared with the test, or with the sleep function given to an
    /// apply engine) for rate limits.
    pub fn with_clock(mut self, clock: VirtualClock) -> Self {
        self.clock = clock;
        // Buckets start full at the new clock's time.
        let now = self.clock.now();
        for b in lock(&self.control).buckets.values_mut() {
            b.at = now;
        }
        self
    }

    /// The wrapped backend.
    pub fn inner(&self) -> &B {
        &self.inner
    }

    /// Unwraps the backend.
    pub fn into_inner(self) -> Arc<B> {
        self.inner
    }

    /// The clock rate limits run on.
    pub fn clock(&self) -> &VirtualClock {
        &self.clock
    }

    /// The faults injected so far.
    pub fn faults(&self) -> FaultCounts {
        lock(&self.control).counts.clone()
    }

    /// Removes every rule (rate limits stay): from now on only the pace fails calls.
    pub fn clear_rules(&self) {
        lock(&self.control).rules.clear();
    }

    async fn call<T, Fut>(&self, op: Operation, f: impl FnOnce() -> Fut) -> BackendResult<T>
    where
        Fut: Future<Output = BackendResult<T>>,
    {
        if !self.latency.is_zero() {
            self.clock.advance(self.latency);
            if let Some(sleep) = &self.sleep {
                sleep(self.latency).await;
            }
        }
        let decision = lock(&self.control).decide(&op, self.clock.now());
        match decision {
            Some((fault, why)) if fault.timing == FaultTiming::Before => {
                Err(fault.error(op.name, why))
            }
            Some((fault, why)) => {
                f().await?;
                Err(fault.error(op.name, &format!("{why} after the change was made")))
            }
            None => f().await,
        }
    }
}

#[async_trait]
impl<B: Backend + ?Sized> Backend for Faulty<B> {
    fn quotas(&self) -> convox_model::aws::Quotas {
        self.inner.quotas()
    }

    async fn observe(&self, rack: &Name, scope: &Scope) -> BackendResult<Vec<Observed>> {
        self.call(ops::OBSERVE, || self.inner.observe(rack, scope))
            .await
    }

    async fn load_rack(&self, rack: &Name) -> BackendResult<Option<Rack>> {
        self.call(ops::LOAD_RACK, || self.inner.load_rack(rack))
            .await
    }

    async fn save_rack(&self, zone_id: &str, rack: &Rack) -> BackendResult<()> {
        self.call(ops::SAVE_RACK, || self.inner.save_rack(zone_id, rack))
            .await
    }

    async fn create_security_group(
        &self,
        spec: &SecurityGroupSpec,
        tags: &Tags,
    ) -> BackendResult<String> {
        self.call(ops::CREATE_SECURITY_GROUP, || {
            self.inner.create_security_group(spec, tags)
        })
        .await
    }

    async fn update_security_group(&self, id: &str, spec: &SecurityGroupSpec) -> BackendResult<()> {
        self.call(ops::UPDATE_SECURITY_GROUP, || {
            self.inner.update_security_group(id, spec)
        })
        .await
    }

    async fn delete_security_group(&self, id: &str) -> BackendResult<()> {
        self.call(ops::DELETE_SECURITY_GROUP, || {
            self.inner.delete_security_group(id)
        })
        .await
    }

    async fn create_load_balancer(
        &self,
        spec: &LoadBalancerSpec,
        security_group_id: &str,
        tags: &Tags,
    ) -> BackendResult<CreatedLoadBalancer> {
        self.call(ops::CREATE_LOAD_BALANCER, || {
            self.inner
                .create_load_balancer(spec, security_group_id, tags)
        })
        .await
    }

    async fn delete_load_balancer(&self, arn: &str) -> BackendResult<()> {
        self.call(ops::DELETE_LOAD_BALANCER, || {
            self.inner.delete_load_balancer(arn)
        })
        .await
    }

    async fn create_listener(
        &self,
        load_balancer_arn: &str,
        spec: &ListenerSpec,
        certificate_arn: Option<&str>,
        tags: &Tags,
    ) -> BackendResult<String> {
        self.call(ops::CREATE_LISTENER, || {
            self.inner
                .create_listener(load_balancer_arn, spec, certificate_arn, tags)
        })
        .await
    }

    async fn modify_listener(
        &self,
        arn: &str,
        spec: &ListenerSpec,
        certificate_arn: Option<&str>,
    ) -> BackendResult<()> {
        self.call(ops::MODIFY_LISTENER, || {
            self.inner.modify_listener(arn, spec, certificate_arn)
        })
        .await
    }

    async fn delete_listener(&self, arn: &str) -> BackendResult<()> {
        self.call(ops::DELETE_LISTENER, || self.inner.delete_listener(arn))
            .await
    }

    async fn import_certificate(
        &self,
        spec: &CertificateSpec,
        pem: &CertificatePem,
        tags: &Tags,
    ) -> BackendResult<String> {
        self.call(ops::IMPORT_CERTIFICATE, || {
            self.inner.import_certificate(spec, pem, tags)
        })
        .await
    }

    async fn delete_certificate(&self, arn: &str) -> BackendResult<()> {
        self.call(ops::DELETE_CERTIFICATE, || {
            self.inner.delete_certificate(arn)
        })
        .await
    }

    async fn add_listener_certificate(
        &self,
        listener_arn: &str,
        certificate_arn: &str,
    ) -> BackendResult<()> {
        self.call(ops::ADD_LISTENER_CERTIFICATE, || {
            self.inner
                .add_listener_certificate(listener_arn, certificate_arn)
        })
        .await
    }

    async fn remove_listener_certificate(
        &self,
        listener_arn: &str,
        certificate_arn: &str,
    ) -> BackendResult<()> {
        self.call(ops::REMOVE_LISTENER_CERTIFICATE, || {
            self.inner
                .remove_listener_certificate(listener_arn, certificate_arn)
        })
        .await
    }

    async fn create_target_group(
        &self,
        spec: &TargetGroupSpec,
        tags: &Tags,
    ) -> BackendResult<String> {
        self.call(ops::CREATE_TARGET_GROUP, || {
            self.inner.create_target_group(spec, tags)
        })
        .await
    }

    async fn modify_target_group(&self, arn: &str, spec: &TargetGroupSpec) -> BackendResult<()> {
        self.call(ops::MODIFY_TARGET_GROUP, || {
            self.inner.modify_target_group(arn, spec)
        })
        .await
    }

    async fn delete_target_group(&self, arn: &str) -> BackendResult<()> {
        self.call(ops::DELETE_TARGET_GROUP, || {
            self.inner.delete_target_group(arn)
        })
        .await
    }

    async fn create_rule(
        &self,
        listener_arn: &str,
        spec: &ListenerRuleSpec,
        target_group_arn: &str,
        tags: &Tags,
    ) -> BackendResult<String> {
        self.call(ops::CREATE_RULE, || {
            self.inner
                .create_rule(listener_arn, spec, target_group_arn, tags)
        })
        .await
    }

    async fn modify_rule(
        &self,
        arn: &str,
        spec: &ListenerRuleSpec,
        target_group_arn: &str,
    ) -> BackendResult<()> {
        self.call(ops::MODIFY_RULE, || {
            self.inner.modify_rule(arn, spec, target_group_arn)
        })
        .await
    }

    async fn set_rule_priority(&self, arn: &str, priority: u32) -> BackendResult<()> {
        self.call(ops::SET_RULE_PRIORITY, || {
            self.inner.set_rule_priority(arn, priority)
        })
        .await
    }

    async fn delete_rule(&self, arn: &str) -> BackendResult<()> {
        self.call(ops::DELETE_RULE, || self.inner.delete_rule(arn))
            .await
    }

    async fn create_hosted_zone(
        &self,
        spec: &HostedZoneSpec,
        tags: &Tags,
    ) -> BackendResult<String> {
        self.call(ops::CREATE_HOSTED_ZONE, || {
            self.inner.create_hosted_zone(spec, tags)
        })
        .await
    }

    async fn delete_hosted_zone(&self, id: &str) -> BackendResult<()> {
        self.call(ops::DELETE_HOSTED_ZONE, || {
            self.inner.delete_hosted_zone(id)
        })
        .await
    }

    async fn change_records(&self, zone_id: &str, changes: &[RecordChange]) -> BackendResult<()> {
        self.call(ops::CHANGE_RECORDS, || {
            self.inner.change_records(zone_id, changes)
        })
        .await
    }
}
