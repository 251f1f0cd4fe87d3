//! [`VirtualClock`]: the time rate limits run on, moved only by latency and the
//! caller, so that they behave the same on every machine.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::lock;
use crate::mock::SleepFn;

/// A clock that moves only when told: by a [`Faulty`](super::Faulty)'s latency, by
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
