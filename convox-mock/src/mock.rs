//! [`MockBackend`]: the [`Backend`] over [`crate::state::State`], with call counts
//! and optional latency (JSON persistence is in [`crate::persist`]).

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use convox_model::backend::{Backend, BackendResult};
use convox_model::resource::LoadBalancerAddress;
use serde::{Deserialize, Serialize};

use crate::ops::{self, Operation};
use crate::state::{AcmValidation, Quotas, State};
use convox_model::public_cert::CertificateStatus;

/// A future that completes after a while: what a [`SleepFn`] returns.
pub type SleepFuture = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// Sleeps for a duration, on whatever runtime the caller uses.
///
/// The mock takes sleeping from its caller rather than depending on a runtime:
/// tests on tokio pass `tokio::time::sleep`, property tests pass a virtual clock
/// that returns at once, and the crate itself stays free of any runtime.
pub type SleepFn = Arc<dyn Fn(Duration) -> SleepFuture + Send + Sync>;

/// Wraps an async sleep function (such as `tokio::time::sleep`) as a [`SleepFn`].
pub fn sleep_fn<F, Fut>(f: F) -> SleepFn
where
    F: Fn(Duration) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    Arc::new(move |d| Box::pin(f(d)))
}

/// How many calls a backend has answered, by operation and by whether they may
/// change anything. Failed calls count too: AWS bills them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallCounts {
    /// Calls that only read.
    pub reads: u64,
    /// Calls that may change something.
    pub mutations: u64,
    /// Every call by operation name (see [`crate::ops`]).
    pub by_operation: BTreeMap<String, u64>,
}

impl CallCounts {
    /// Counts one call of `op`.
    pub fn record(&mut self, op: &Operation) {
        if op.mutating {
            self.mutations += 1;
        } else {
            self.reads += 1;
        }
        *self.by_operation.entry(op.name.to_string()).or_default() += 1;
    }

    /// Calls of the operation named `name`.
    pub fn of(&self, name: &str) -> u64 {
        self.by_operation.get(name).copied().unwrap_or(0)
    }

    /// Every call.
    pub fn total(&self) -> u64 {
        self.reads + self.mutations
    }
}

struct Inner {
    state: State,
    calls: CallCounts,
}

/// An in-memory backend that behaves like AWS where it matters to this library.
///
/// It holds load balancers, listeners, rules, target groups, certificates,
/// security groups, hosted zones and records as AWS would (by ARN and id, with
/// tags), enforces AWS's rules and quotas (see [`Quotas`]), resolves references
/// back to keys when observing, counts every call, and saves its state as JSON.
/// Ids are drawn from a counter, so every run of a test sees the same ones.
///
/// ```
/// use convox_mock::MockBackend;
/// use convox_model::backend::Backend;
/// use convox_model::name::Name;
/// use convox_model::resource::Scope;
///
/// # block_on(async {
/// let mock = MockBackend::new();
/// let rack = Name::new("production").unwrap();
/// assert!(mock.observe(&rack, &Scope::Rack).await.unwrap().is_empty());
/// assert_eq!(mock.calls().reads, 1);
/// # });
/// # fn block_on<F: std::future::Future>(f: F) -> F::Output {
/// #     tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f)
/// # }
/// ```
pub struct MockBackend {
    inner: Mutex<Inner>,
    latency: Option<(Duration, SleepFn)>,
}

impl fmt::Debug for MockBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = self.lock();
        f.debug_struct("MockBackend")
            .field("region", &inner.state.region)
            .field("account", &inner.state.account)
            .field("calls", &inner.calls)
            .field("latency", &self.latency.as_ref().map(|(d, _)| d))
            .finish_non_exhaustive()
    }
}

impl Default for MockBackend {
    fn default() -> Self {
        Self::new()
    }
}

/// The account id the mock uses unless told otherwise.
pub const DEFAULT_ACCOUNT: &str = "123456789012";
/// The region the mock uses unless told otherwise.
pub const DEFAULT_REGION: &str = "us-east-1";

impl MockBackend {
    /// An empty world in `us-east-1`, account `123456789012`, AWS's default quotas.
    pub fn new() -> Self {
        Self::from_state(State::new(
            DEFAULT_ACCOUNT.to_string(),
            DEFAULT_REGION.to_string(),
            Quotas::default(),
        ))
    }

    pub(crate) fn from_state(state: State) -> Self {
        MockBackend {
            inner: Mutex::new(Inner {
                state,
                calls: CallCounts::default(),
            }),
            latency: None,
        }
    }

    /// Puts new resources in `region` (ARNs, DNS names and the ALB hosted zone id
    /// follow it).
    pub fn with_region(self, region: impl Into<String>) -> Self {
        self.lock().state.region = region.into();
        self
    }

    /// Uses `account` in ARNs.
    pub fn with_account(self, account: impl Into<String>) -> Self {
        self.lock().state.account = account.into();
        self
    }

    /// Enforces `quotas` instead of AWS's defaults.
    pub fn with_quotas(self, quotas: Quotas) -> Self {
        self.lock().state.quotas = quotas;
        self
    }

    /// Waits `latency` (through `sleep`) before answering each call, as a remote
    /// API would.
    pub fn with_latency(mut self, latency: Duration, sleep: SleepFn) -> Self {
        self.latency = Some((latency, sleep));
        self
    }

    /// The quotas in force.
    pub fn quotas(&self) -> Quotas {
        self.lock().state.quotas.clone()
    }

    /// The calls answered so far.
    pub fn calls(&self) -> CallCounts {
        self.lock().calls.clone()
    }

    /// Forgets the calls answered so far (the state stays).
    pub fn reset_calls(&self) {
        self.lock().calls = CallCounts::default();
    }

    /// Adds a record that no rack owns (no ownership TXT, or `txt` naming
    /// someone else), as another tool would have made it. Not counted as a call.
    ///
    /// # Errors
    /// `NotFound` if the zone does not exist.
    pub fn insert_foreign_record(
        &self,
        zone_id: &str,
        name: &str,
        alias: Option<LoadBalancerAddress>,
        txt: Option<String>,
    ) -> BackendResult<()> {
        self.lock().state.insert_record(zone_id, name, alias, txt)
    }

    // --- Public certificates (issue 12, item 6) ---

    /// Whether requested certificates issue at once ([`AcmValidation::Immediate`],
    /// the default) or stay pending until [`MockBackend::issue_certificates`].
    pub fn set_acm_validation(&self, validation: AcmValidation) {
        self.lock().state.acm_validation = validation;
    }

    /// Issues every pending public certificate, as ACM does once the validation
    /// records are published; returns how many. Not counted as a call.
    pub fn issue_certificates(&self) -> usize {
        self.lock().state.issue_certificates()
    }

    /// Adds a public certificate the user owns (no tags), for `domain` and
    /// `sans`, with `status`; returns its ARN. Not counted as a call.
    pub fn add_user_certificate(
        &self,
        domain: &str,
        sans: &[&str],
        status: CertificateStatus,
    ) -> String {
        let sans: Vec<String> = sans.iter().map(|s| s.to_string()).collect();
        self.lock()
            .state
            .add_public_certificate(domain, &sans, status, Default::default())
    }

    /// How many resources of each kind the mock holds, owned or not: for tests
    /// that check nothing leaked and nothing foreign was touched.
    pub fn inventory(&self) -> Inventory {
        let inner = self.lock();
        let s = &inner.state;
        Inventory {
            security_groups: s.security_groups.len(),
            load_balancers: s.load_balancers.len(),
            listeners: s.listeners.len(),
            listener_certificates: s.listeners.values().map(|l| l.certificates.len()).sum(),
            certificates: s.certificates.len(),
            target_groups: s.target_groups.len(),
            rules: s.rules.len(),
            hosted_zones: s.zones.len(),
            records: s.zones.values().map(|z| z.records.len()).sum(),
        }
    }

    /// Runs `f` on the state, uncounted.
    pub(crate) fn with_state<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        f(&mut self.lock().state)
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave the state half-changed:
        // every verb checks first and changes last. So the state is still good.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Counts the call, waits the latency, then runs `f` on the state.
    async fn call<T>(
        &self,
        op: Operation,
        f: impl FnOnce(&mut State, &str) -> BackendResult<T>,
    ) -> BackendResult<T> {
        self.lock().calls.record(&op);
        if let Some((latency, sleep)) = &self.latency {
            sleep(*latency).await;
        }
        let mut inner = self.lock();
        f(&mut inner.state, op.name)
    }
}

/// How many resources of each kind a [`MockBackend`] holds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Inventory {
    /// Security groups.
    pub security_groups: usize,
    /// Load balancers.
    pub load_balancers: usize,
    /// Listeners.
    pub listeners: usize,
    /// Certificates attached to listeners besides their defaults.
    pub listener_certificates: usize,
    /// Certificates.
    pub certificates: usize,
    /// Target groups.
    pub target_groups: usize,
    /// Listener rules (besides the defaults).
    pub rules: usize,
    /// Hosted zones.
    pub hosted_zones: usize,
    /// Record names holding records besides SOA and NS.
    pub records: usize,
}

/// The checks AWS makes on an argument whichever call takes it, made here once
/// for every method by the argument's name: the tag count of every create that
/// takes `tags`. Other arguments are each verb's own business.
macro_rules! check_arg {
    (tags, $state:ident, $op:ident, $value:ident) => {
        $state.check_tags($op, $value)?;
    };
    ($other:ident, $state:ident, $op:ident, $value:ident) => {};
}

macro_rules! impl_backend {
    ($($method:ident($($arg:ident: $ty:ty),*) -> $ret:ty = $op:ident;)*) => {
        #[async_trait]
        impl Backend for MockBackend {
            // The planner checks what this mock enforces, raised quotas included.
            fn quotas(&self) -> convox_model::aws::Quotas {
                MockBackend::quotas(self)
            }

            $(
                async fn $method(&self, $($arg: $ty),*) -> BackendResult<$ret> {
                    self.call(ops::$op, |state, op| {
                        $(check_arg!($arg, state, op, $arg);)*
                        state.$method(op, $($arg),*)
                    })
                    .await
                }
            )*
        }
    };
}
ops::each_backend_method!(impl_backend);
