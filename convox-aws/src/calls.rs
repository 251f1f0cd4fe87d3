//! What happens to every request on its way to AWS: it waits for its API
//! family's bucket ([`PacedIdentityCache`]), is counted and gets the fixed headers
//! ([`RequestHook`]), and a mutation is sent once by the SDK: the apply engine
//! retries it ([`sdk_retries`]).
//!
//! All are hooks into the SDK shared by the five clients. Every attempt is paced
//! and counted, retries and further pages included: AWS paces and bills attempts,
//! not operations.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::identity::{
    IdentityFuture, ResolveCachedIdentity, SharedIdentityCache, SharedIdentityResolver,
};
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeTransmitInterceptorContextMut, BeforeTransmitInterceptorContextRef,
};
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use aws_smithy_types::retry::RetryConfig;

use crate::pacing::{Pacer, Service};

/// How many requests went to AWS, by operation (`CreateRule`, `DescribeTags`, …).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CallCounts {
    /// Requests per operation name, retries included.
    pub by_operation: BTreeMap<String, u64>,
}

impl CallCounts {
    /// Requests sent for `operation`.
    pub fn get(&self, operation: &str) -> u64 {
        self.by_operation.get(operation).copied().unwrap_or(0)
    }

    /// All requests.
    pub fn total(&self) -> u64 {
        self.by_operation.values().sum()
    }

    /// Requests that change something: every operation but the reads
    /// (`Describe*`, `List*`, `Get*`).
    pub fn mutating(&self) -> u64 {
        self.by_operation
            .iter()
            .filter(|(op, _)| is_mutating(op))
            .map(|(_, n)| n)
            .sum()
    }

    /// The mutating operations and their counts.
    pub fn mutating_operations(&self) -> BTreeMap<String, u64> {
        self.by_operation
            .iter()
            .filter(|(op, _)| is_mutating(op))
            .map(|(op, n)| (op.clone(), *n))
            .collect()
    }
}

/// Whether an AWS operation name is one that changes state.
pub fn is_mutating(operation: &str) -> bool {
    !["Describe", "List", "Get"]
        .iter()
        .any(|p| operation.starts_with(p))
}

/// Whether the SDK retries `operation` itself: reads, and RequestCertificate
/// (asked for outside an apply, with an idempotency token). Every other
/// mutation is sent once per attempt of the caller's: the apply engine retries
/// it ([`convox_model::apply::RetryPolicy`], 6 attempts, checking before it
/// repeats a create whether the attempt whose answer was lost made it), and so
/// does [`convox_model::apply::retrying`] for the rack's stored settings and a
/// load balancer's drain mark. One layer each: a throttled mutation is sent at
/// most 6 times, not 3 × 6.
pub fn sdk_retries(operation: &str) -> bool {
    !is_mutating(operation) || operation == "RequestCertificate"
}

/// The counter behind [`crate::AwsBackend::calls`].
#[derive(Debug, Default)]
pub(crate) struct Counter {
    counts: Mutex<BTreeMap<String, u64>>,
}

impl Counter {
    fn record(&self, operation: &str) {
        // A poisoned lock only means another thread panicked mid-increment; the
        // map is still a map.
        let mut counts = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        *counts.entry(operation.to_string()).or_default() += 1;
    }

    pub(crate) fn snapshot(&self) -> CallCounts {
        let counts = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        CallCounts {
            by_operation: counts.clone(),
        }
    }

    pub(crate) fn reset(&self) {
        self.counts
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }
}

/// Counts each attempt and adds the configured headers to it.
#[derive(Debug, Clone)]
pub(crate) struct RequestHook {
    pub(crate) counter: Arc<Counter>,
    pub(crate) headers: Vec<(String, String)>,
}

impl Intercept for RequestHook {
    fn name(&self) -> &'static str {
        "convox-request-hook"
    }

    fn modify_before_signing(
        &self,
        context: &mut BeforeTransmitInterceptorContextMut<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let headers = context.request_mut().headers_mut();
        for (name, value) in &self.headers {
            headers.insert(name.clone(), value.clone());
        }
        // The standard and adaptive strategies read the attempts from the bag
        // before each retry: one attempt for a mutation, the mode kept.
        let own = cfg.load::<Metadata>().is_none_or(|m| sdk_retries(m.name()));
        if !own && let Some(retry) = cfg.load::<RetryConfig>().cloned() {
            cfg.interceptor_state()
                .store_put(retry.with_max_attempts(1));
        }
        Ok(())
    }

    fn read_before_transmit(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let operation = cfg
            .load::<Metadata>()
            .map(|m| m.name().to_string())
            .unwrap_or_else(|| "unknown".to_string());
        self.counter.record(&operation);
        Ok(())
    }
}

/// Waits for the pacer before each attempt, then resolves credentials through the
/// SDK's own cache.
///
/// Why here: interceptors cannot wait (they are synchronous), and the HTTP client
/// runs after signing, where a long wait could outlive the signature. Resolving
/// the identity is the one asynchronous step of every attempt that comes before
/// signing and sees the operation (in the config bag).
///
/// The inner cache's own configuration checks sit behind a sealed SDK trait and
/// cannot be forwarded, so this one repeats the check the SDK's lazy cache makes
/// (it panics without a time source and a sleep).
#[derive(Debug, Clone)]
pub(crate) struct PacedIdentityCache {
    pub(crate) inner: SharedIdentityCache,
    pub(crate) pacer: Arc<Pacer>,
    pub(crate) service: Service,
}

impl ResolveCachedIdentity for PacedIdentityCache {
    fn resolve_cached_identity<'a>(
        &'a self,
        resolver: SharedIdentityResolver,
        runtime_components: &'a RuntimeComponents,
        config_bag: &'a ConfigBag,
    ) -> IdentityFuture<'a> {
        IdentityFuture::new(async move {
            let operation = config_bag
                .load::<Metadata>()
                .map(Metadata::name)
                .unwrap_or("unknown");
            self.pacer.acquire(self.service, operation).await;
            self.inner
                .resolve_cached_identity(resolver, runtime_components, config_bag)
                .await
        })
    }

    fn validate_final_config(
        &self,
        runtime_components: &RuntimeComponents,
        _cfg: &ConfigBag,
    ) -> Result<(), BoxError> {
        if runtime_components.time_source().is_none() || runtime_components.sleep_impl().is_none() {
            return Err("the identity cache needs a time source and an async sleep".into());
        }
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn reads_are_not_mutations() {
        let mut counts = CallCounts::default();
        counts.by_operation.insert("DescribeTags".into(), 3);
        counts
            .by_operation
            .insert("ListResourceRecordSets".into(), 2);
        counts.by_operation.insert("GetHostedZone".into(), 1);
        counts.by_operation.insert("CreateRule".into(), 2);
        counts
            .by_operation
            .insert("ChangeResourceRecordSets".into(), 1);
        assert_eq!(counts.total(), 9);
        assert_eq!(counts.mutating(), 3);
        assert_eq!(counts.get("CreateRule"), 2);
        assert_eq!(counts.get("DeleteRule"), 0);
    }
}
