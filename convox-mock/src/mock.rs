//! [`MockBackend`]: the [`Backend`] over [`crate::state::State`], with call counts,
//! optional latency and JSON persistence.

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use convox_model::backend::{Backend, BackendResult, CertificatePem, CreatedLoadBalancer};
use convox_model::name::Name;
use convox_model::rack::Rack;
use convox_model::resource::{
    CertificateSpec, HostedZoneSpec, ListenerRuleSpec, ListenerSpec, LoadBalancerAddress,
    LoadBalancerSpec, Observed, RecordChange, Scope, SecurityGroupSpec, Tags, TargetGroupSpec,
};
use serde::{Deserialize, Serialize};

use crate::ops::{self, Operation};
use crate::state::{Quotas, State};

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

/// Why the mock's state could not be saved or loaded.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// Reading or writing the file failed.
    #[error("cannot access mock state file {path}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The JSON is not mock state.
    #[error("mock state is not valid JSON of the expected shape")]
    Json(#[source] serde_json::Error),
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

    fn from_state(state: State) -> Self {
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

    /// The whole state as JSON (not the call counts or latency: they belong to
    /// one process).
    pub fn to_json(&self) -> Result<String, StateError> {
        serde_json::to_string_pretty(&self.lock().state).map_err(StateError::Json)
    }

    /// A backend holding the state in `json` (from [`MockBackend::to_json`]).
    pub fn from_json(json: &str) -> Result<Self, StateError> {
        serde_json::from_str(json)
            .map(Self::from_state)
            .map_err(StateError::Json)
    }

    /// Replaces this backend's state with the one in `json`.
    pub fn load_json(&self, json: &str) -> Result<(), StateError> {
        let state: State = serde_json::from_str(json).map_err(StateError::Json)?;
        self.lock().state = state;
        Ok(())
    }

    /// A backend holding the state saved at `path`, or an empty one if there is
    /// no file there yet: the start of a command-line session.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, StateError> {
        let path = path.as_ref();
        match std::fs::read_to_string(path) {
            Ok(json) => Self::from_json(&json),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self::new()),
            Err(source) => Err(StateError::Io {
                path: path.to_path_buf(),
                source,
            }),
        }
    }

    /// Saves the state at `path`, replacing the file whole (written beside it,
    /// then renamed) so that an interrupted save never leaves half a file.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<(), StateError> {
        let path = path.as_ref();
        let json = self.to_json()?;
        let mut tmp = path.as_os_str().to_owned();
        tmp.push(".tmp");
        let tmp = PathBuf::from(tmp);
        let io = |source| StateError::Io {
            path: path.to_path_buf(),
            source,
        };
        std::fs::write(&tmp, json).map_err(io)?;
        std::fs::rename(&tmp, path).map_err(io)
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

#[async_trait]
impl Backend for MockBackend {
    fn quotas(&self) -> convox_model::aws::Quotas {
        let q = MockBackend::quotas(self);
        convox_model::aws::Quotas {
            rules_per_load_balancer: q.rules_per_load_balancer,
            target_groups_per_load_balancer: q.target_groups_per_load_balancer,
            certificates_per_load_balancer: q.certificates_per_load_balancer,
            condition_values_per_rule: q.condition_values_per_rule,
            tags_per_resource: q.tags_per_resource,
            records_per_change_batch: q.records_per_change_batch,
            ..convox_model::aws::Quotas::default()
        }
    }

    async fn observe(&self, rack: &Name, scope: &Scope) -> BackendResult<Vec<Observed>> {
        self.call(ops::OBSERVE, |s, _| Ok(s.observe(rack, scope)))
            .await
    }

    async fn load_rack(&self, rack: &Name) -> BackendResult<Option<Rack>> {
        self.call(ops::LOAD_RACK, |s, _| Ok(s.load_rack(rack)))
            .await
    }

    async fn save_rack(&self, zone_id: &str, rack: &Rack) -> BackendResult<()> {
        self.call(ops::SAVE_RACK, |s, op| s.save_rack(op, zone_id, rack))
            .await
    }

    async fn create_security_group(
        &self,
        spec: &SecurityGroupSpec,
        tags: &Tags,
    ) -> BackendResult<String> {
        self.call(ops::CREATE_SECURITY_GROUP, |s, op| {
            s.create_security_group(op, spec, tags)
        })
        .await
    }

    async fn update_security_group(&self, id: &str, spec: &SecurityGroupSpec) -> BackendResult<()> {
        self.call(ops::UPDATE_SECURITY_GROUP, |s, op| {
            s.update_security_group(op, id, spec)
        })
        .await
    }

    async fn delete_security_group(&self, id: &str) -> BackendResult<()> {
        self.call(ops::DELETE_SECURITY_GROUP, |s, op| {
            s.delete_security_group(op, id)
        })
        .await
    }

    async fn create_load_balancer(
        &self,
        spec: &LoadBalancerSpec,
        security_group_id: &str,
        tags: &Tags,
    ) -> BackendResult<CreatedLoadBalancer> {
        self.call(ops::CREATE_LOAD_BALANCER, |s, op| {
            s.create_load_balancer(op, spec, security_group_id, tags)
        })
        .await
    }

    async fn delete_load_balancer(&self, arn: &str) -> BackendResult<()> {
        self.call(ops::DELETE_LOAD_BALANCER, |s, op| {
            s.delete_load_balancer(op, arn)
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
        self.call(ops::CREATE_LISTENER, |s, op| {
            s.create_listener(op, load_balancer_arn, spec, certificate_arn, tags)
        })
        .await
    }

    async fn modify_listener(
        &self,
        arn: &str,
        spec: &ListenerSpec,
        certificate_arn: Option<&str>,
    ) -> BackendResult<()> {
        self.call(ops::MODIFY_LISTENER, |s, op| {
            s.modify_listener(op, arn, spec, certificate_arn)
        })
        .await
    }

    async fn delete_listener(&self, arn: &str) -> BackendResult<()> {
        self.call(ops::DELETE_LISTENER, |s, op| s.delete_listener(op, arn))
            .await
    }

    async fn import_certificate(
        &self,
        spec: &CertificateSpec,
        pem: &CertificatePem,
        tags: &Tags,
    ) -> BackendResult<String> {
        self.call(ops::IMPORT_CERTIFICATE, |s, op| {
            s.import_certificate(op, spec, pem, tags)
        })
        .await
    }

    async fn delete_certificate(&self, arn: &str) -> BackendResult<()> {
        self.call(ops::DELETE_CERTIFICATE, |s, op| {
            s.delete_certificate(op, arn)
        })
        .await
    }

    async fn add_listener_certificate(
        &self,
        listener_arn: &str,
        certificate_arn: &str,
    ) -> BackendResult<()> {
        self.call(ops::ADD_LISTENER_CERTIFICATE, |s, op| {
            s.add_listener_certificate(op, listener_arn, certificate_arn)
        })
        .await
    }

    async fn remove_listener_certificate(
        &self,
        listener_arn: &str,
        certificate_arn: &str,
    ) -> BackendResult<()> {
        self.call(ops::REMOVE_LISTENER_CERTIFICATE, |s, op| {
            s.remove_listener_certificate(op, listener_arn, certificate_arn)
        })
        .await
    }

    async fn create_target_group(
        &self,
        spec: &TargetGroupSpec,
        tags: &Tags,
    ) -> BackendResult<String> {
        self.call(ops::CREATE_TARGET_GROUP, |s, op| {
            s.create_target_group(op, spec, tags)
        })
        .await
    }

    async fn modify_target_group(&self, arn: &str, spec: &TargetGroupSpec) -> BackendResult<()> {
        self.call(ops::MODIFY_TARGET_GROUP, |s, op| {
            s.modify_target_group(op, arn, spec)
        })
        .await
    }

    async fn delete_target_group(&self, arn: &str) -> BackendResult<()> {
        self.call(ops::DELETE_TARGET_GROUP, |s, op| {
            s.delete_target_group(op, arn)
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
        self.call(ops::CREATE_RULE, |s, op| {
            s.create_rule(op, listener_arn, spec, target_group_arn, tags)
        })
        .await
    }

    async fn modify_rule(
        &self,
        arn: &str,
        spec: &ListenerRuleSpec,
        target_group_arn: &str,
    ) -> BackendResult<()> {
        self.call(ops::MODIFY_RULE, |s, op| {
            s.modify_rule(op, arn, spec, target_group_arn)
        })
        .await
    }

    async fn set_rule_priority(&self, arn: &str, priority: u32) -> BackendResult<()> {
        self.call(ops::SET_RULE_PRIORITY, |s, op| {
            s.set_rule_priority(op, arn, priority)
        })
        .await
    }

    async fn delete_rule(&self, arn: &str) -> BackendResult<()> {
        self.call(ops::DELETE_RULE, |s, op| s.delete_rule(op, arn))
            .await
    }

    async fn create_hosted_zone(
        &self,
        spec: &HostedZoneSpec,
        tags: &Tags,
    ) -> BackendResult<String> {
        self.call(ops::CREATE_HOSTED_ZONE, |s, op| {
            s.create_hosted_zone(op, spec, tags)
        })
        .await
    }

    async fn delete_hosted_zone(&self, id: &str) -> BackendResult<()> {
        self.call(ops::DELETE_HOSTED_ZONE, |s, op| {
            s.delete_hosted_zone(op, id)
        })
        .await
    }

    async fn change_records(&self, zone_id: &str, changes: &[RecordChange]) -> BackendResult<()> {
        self.call(ops::CHANGE_RECORDS, |s, op| {
            s.change_records(op, zone_id, changes)
        })
        .await
    }
}
