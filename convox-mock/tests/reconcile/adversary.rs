//! The adversary: seeded fault schedules a transition may run under, and the
//! [`Faulty`] backend that carries them out. New kinds of adversity (drift,
//! foreign changes between steps) belong here.

use std::sync::Arc;

use convox_mock::{Fault, Faulty, MockBackend, RateLimits, Target, Trigger, VirtualClock};
use convox_model::backend::ErrorKind;
use proptest::prelude::*;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultKind {
    /// Retryable, before the call: nothing changed.
    Transient,
    /// Throttled, before the call.
    Throttled,
    /// Retryable, after the call: the change was made, the answer lost.
    LostResponse,
    /// Not retryable, after the call: made, and the engine gives up.
    LostFatal,
    /// Not retryable, before the call.
    Refused,
}

impl FaultKind {
    fn fault(self) -> Fault {
        match self {
            FaultKind::Transient => Fault::transient(),
            FaultKind::Throttled => Fault::throttled(),
            FaultKind::LostResponse => Fault::lost_response(),
            FaultKind::LostFatal => Fault::lost_response().retryable(false),
            FaultKind::Refused => Fault::before(ErrorKind::Unexpected).retryable(false),
        }
    }
}

/// A seeded fault schedule for one transition.
#[derive(Clone, Debug)]
pub struct Faults {
    seed: u64,
    /// The Nth call of any kind fails.
    nth: Vec<(u64, FaultKind)>,
    /// The Nth mutating call fails.
    nth_mutation: Vec<(u64, FaultKind)>,
    /// Each mutating call fails with this probability (per mille).
    fraction: Option<(u32, FaultKind)>,
    /// AWS's request rates on the virtual clock.
    rate_limits: bool,
}

fn fault_kind() -> impl Strategy<Value = FaultKind> {
    prop_oneof![
        1 => Just(FaultKind::Transient),
        1 => Just(FaultKind::Throttled),
        3 => Just(FaultKind::LostResponse),
        2 => Just(FaultKind::LostFatal),
        1 => Just(FaultKind::Refused),
    ]
}

pub fn faults() -> impl Strategy<Value = Faults> {
    (
        any::<u64>(),
        proptest::collection::vec((1u64..24, fault_kind()), 0..3),
        proptest::collection::vec((1u64..12, fault_kind()), 0..3),
        proptest::option::of((1u32..300, fault_kind())),
        any::<bool>(),
    )
        .prop_map(|(seed, nth, nth_mutation, fraction, rate_limits)| Faults {
            seed,
            nth,
            nth_mutation,
            fraction,
            rate_limits,
        })
}

/// `mock` behind the schedule `f`, sleeping on `clock`.
pub fn faulty(mock: &Arc<MockBackend>, f: &Faults, clock: &VirtualClock) -> Faulty<MockBackend> {
    let mut b = Faulty::from_arc(mock.clone(), f.seed).with_clock(clock.clone());
    for (n, k) in &f.nth {
        b = b.fail_nth_call(*n, k.fault());
    }
    for (n, k) in &f.nth_mutation {
        b = b.with_rule(Target::Mutations, Trigger::Nth(*n), k.fault());
    }
    if let Some((p, k)) = f.fraction {
        b = b.fail_fraction_of_mutations(f64::from(p) / 1000.0, k.fault());
    }
    if f.rate_limits {
        b = b.with_rate_limits(RateLimits::aws_defaults());
    }
    b
}
