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

mod clock;
mod rate;
mod schedule;

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use convox_model::backend::{Backend, BackendResult};
use serde::{Deserialize, Serialize};

pub use clock::VirtualClock;
pub use rate::{Rate, RateLimits};
pub use schedule::{Fault, FaultTiming, Target, Trigger};

use crate::ids::splitmix64;
use crate::mock::SleepFn;
use crate::ops::{self, ApiFamily, Operation};
use rate::{Bucket, take_tokens};
use schedule::Rule;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every critical section here is a few arithmetic steps that cannot leave the
    // data inconsistent, so a poisoned lock's data is still good.
    m.lock().unwrap_or_else(PoisonError::into_inner)
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
            // Every rule sees every call, fired or not, so that one rule's
            // schedule does not shift when another rule is added before it.
            let fire = match self.rules[i].watch(op) {
                Some(Trigger::Fraction(p)) => self.draw() < p,
                Some(_) => self.rules[i].fires_at_count(),
                None => false,
            };
            if fire && fired.is_none() {
                fired = Some(self.rules[i].fault.clone());
            }
        }
        let fault = match fired {
            Some(f) => {
                self.counts.injected += 1;
                (f, "injected fault")
            }
            None if take_tokens(&mut self.buckets, op.families, now) => return None,
            None => {
                self.counts.rate_limited += 1;
                (Fault::throttled(), "Rate exceeded")
            }
        };
        *self.counts.by_operation.entry(op.name.into()).or_default() += 1;
        Some(fault)
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
/// assert_eq!(err.kind(), ErrorKind::Throttled);
/// assert!(err.is_retryable());
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

macro_rules! impl_backend {
    ($($method:ident($($arg:ident: $ty:ty),*) -> $ret:ty = $op:ident;)*) => {
        #[async_trait]
        impl<B: Backend + ?Sized> Backend for Faulty<B> {
            fn quotas(&self) -> convox_model::aws::Quotas {
                self.inner.quotas()
            }

            fn retries_reads(&self) -> bool {
                self.inner.retries_reads()
            }

            $(
                async fn $method(&self, $($arg: $ty),*) -> BackendResult<$ret> {
                    self.call(ops::$op, || self.inner.$method($($arg),*)).await
                }
            )*
        }
    };
}
ops::each_backend_method!(impl_backend);
