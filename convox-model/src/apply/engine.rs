//! The engine's state during one apply, and how it calls the backend: counting
//! calls, retrying retryable errors with seeded full-jitter backoff.

use std::future::Future;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use super::ApplyContext;
use super::report::{ActionRef, ApplyEvent};
use crate::aws::splitmix64;
use crate::backend::{Backend, BackendResult};
use crate::resource::{ResourceKey, Scope};

/// Calls `change`, a change made outside an apply (the rack's stored
/// settings, a load balancer's drain mark), retrying retryable errors as the
/// engine retries an apply's steps (`ctx.retry`, full jitter, `ctx.sleep`):
/// its one retry layer, since backends leave mutations to the caller.
pub async fn retrying<T, F, Fut>(
    backend: &dyn Backend,
    ctx: &ApplyContext,
    change: F,
) -> BackendResult<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = BackendResult<T>>,
{
    Engine::new(backend, ctx)
        .with_retry(None, true, change)
        .await
}

pub(super) struct Engine<'a> {
    pub(super) backend: &'a dyn Backend,
    pub(super) ctx: &'a ApplyContext,
    pub(super) rng: AtomicU64,
    pub(super) calls: AtomicUsize,
    pub(super) retries: AtomicUsize,
}

impl<'a> Engine<'a> {
    /// An engine with no calls made yet, its jitter seeded from `ctx.seed`.
    pub(super) fn new(backend: &'a dyn Backend, ctx: &'a ApplyContext) -> Self {
        Engine {
            backend,
            ctx,
            rng: AtomicU64::new(ctx.seed),
            calls: AtomicUsize::new(0),
            retries: AtomicUsize::new(0),
        }
    }

    pub(super) fn emit(&self, event: ApplyEvent) {
        if let Some(f) = &self.ctx.on_event {
            f(&event);
        }
    }

    /// SplitMix64 over an atomic counter: lock-free, seeded, good enough for jitter.
    pub(super) fn next_random(&self) -> u64 {
        splitmix64(self.rng.fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed))
    }

    /// Full jitter: uniform in [0, min(max, base × 2^(attempt-1))].
    pub(super) fn backoff(&self, attempt: u32) -> Duration {
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
    /// towards the report; a read is tried once when the backend retries its
    /// reads itself ([`Backend::retries_reads`]).
    pub(super) async fn with_retry<T, F, Fut>(
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
                // One retry layer per call: a read the backend retried itself
                // (the AWS SDK) is not tried again.
                Err(e)
                    if e.is_retryable()
                        && attempt < max
                        && (mutating || !self.backend.retries_reads()) =>
                {
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
    pub(super) async fn find_created(
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
}
