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

// Foreign resources and concurrent operators (issue 8): what someone else does
// in the rack's account between two steps.

/// A change someone else makes, never asked of the library.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Adversity {
    /// A rule made by hand on the rack's 443 listener (the internal router's,
    /// else the external one's), at the next free priority: the one the next
    /// deploy would take.
    ForeignRule,
    /// A target group made by hand carrying a copy of one of the rack's target
    /// groups' tags (the same key).
    CopiedTags,
}

pub fn adversity() -> impl Strategy<Value = Adversity> {
    prop_oneof![Just(Adversity::ForeignRule), Just(Adversity::CopiedTags)]
}

/// Carries out `a` on `b`; returns the id of a resource made with the rack's
/// tags (a copy the checks must treat as someone else's), if any.
pub async fn inflict(b: &MockBackend, a: Adversity) -> Option<String> {
    use convox_model::backend::Backend;
    use convox_model::exposure::Router;
    use convox_model::resource::{ListenerRuleSpec, ResourceKey, ResourceSpec, Tags};
    let observed = convox_model::observe::observe_all(b, &crate::input::name(crate::input::RACK))
        .await
        .expect("observe");
    // Names made by hand must be new in the account.
    static MADE: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = MADE.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    match a {
        Adversity::ForeignRule => {
            let listener = [Router::Internal, Router::External]
                .into_iter()
                .find_map(|r| {
                    observed
                        .iter()
                        .find(|o| o.resource.key == ResourceKey::router_listener(r, 443))
                })?;
            let taken: std::collections::BTreeSet<u32> = observed
                .iter()
                .filter_map(|o| match &o.resource.spec {
                    ResourceSpec::ListenerRule(r) if r.listener == listener.resource.key => {
                        r.priority
                    }
                    _ => None,
                })
                .collect();
            let priority = (1..).find(|p| !taken.contains(p)).unwrap_or(1);
            let mut spec = observed
                .iter()
                .find_map(|o| match &o.resource.spec {
                    ResourceSpec::TargetGroup(t) => Some(t.clone()),
                    _ => None,
                })
                .unwrap_or_else(|| convox_model::resource::TargetGroupSpec {
                    name: String::new(),
                    protocol: convox_model::resource::Protocol::Http,
                    port: 8080,
                    vpc_id: "vpc-reconcile".to_string(),
                    health: convox_model::resource::HealthCheck {
                        path: "/".into(),
                        interval: 5,
                        timeout: 4,
                    },
                });
            spec.name = format!("by-hand-{n}");
            let tg = b
                .create_target_group(&spec, &Tags::new())
                .await
                .expect("a target group by hand");
            let rule = ListenerRuleSpec {
                listener: listener.resource.key.clone(),
                priority: Some(priority),
                hosts: vec![format!("hand{n}.example.org")],
                target_group: ResourceKey::from_raw(tg.clone()),
            };
            b.create_rule(&listener.id, &rule, &tg, &Tags::new())
                .await
                .expect("a rule by hand");
            None
        }
        Adversity::CopiedTags => {
            let (ours, spec) = observed.iter().find_map(|o| match &o.resource.spec {
                ResourceSpec::TargetGroup(t) => Some((o, t.clone())),
                _ => None,
            })?;
            let copy = convox_model::resource::TargetGroupSpec {
                name: format!("copied-{n}"),
                ..spec
            };
            Some(
                b.create_target_group(&copy, &ours.resource.tags)
                    .await
                    .expect("a copy"),
            )
        }
    }
}
