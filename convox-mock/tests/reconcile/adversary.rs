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

// Day-2 safety (in place): an operator's drift between steps, and a rack change
// with reordered or added subnets. Each transition injects its drift and runs
// what must then succeed and repair it: other apps' deploys beside it, then the
// next deploy (or the rack change); the invariants are checked after that.

use convox_model::backend::Backend;
use convox_model::ops::{self, RackApplyOptions};
use convox_model::resource::{
    IngressRule, Observed, ResourceSpec as Spec, SecurityGroupSpec, Tags,
    parse_listener_certificate_id,
};

use crate::input::{APPS, manifest, name, settings};
use crate::reference::Model;
use crate::sut::{Sut, foreign, observe, state_json};

/// What an operator does by hand.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Drift {
    /// Opens a router's security group to the internet on port 22.
    OpenSecurityGroup,
    /// Attaches a security group of their own to a router.
    ExtraSecurityGroup,
    /// Edits an app's rule to a host no certificate covers.
    RuleHost,
    /// Moves an app's rule to another priority.
    RulePriority,
    /// Detaches an app's certificate from its listener.
    DetachCertificate,
    /// `rack params set --subnets` with the rack's subnets reordered, then with
    /// one added, then as they were: nothing replaced.
    Subnets,
    /// Re-imports an internal load balancer's shared certificate as an older
    /// copy, without one app's name (as a deploy that read before that app
    /// joined would write it): the next deploy of any app puts it back.
    StaleSharedCertificate,
}

pub fn drift() -> impl Strategy<Value = Drift> {
    prop_oneof![
        Just(Drift::OpenSecurityGroup),
        Just(Drift::ExtraSecurityGroup),
        Just(Drift::RuleHost),
        Just(Drift::RulePriority),
        Just(Drift::DetachCertificate),
        Just(Drift::Subnets),
        Just(Drift::StaleSharedCertificate),
    ]
}

fn first(o: &[Observed], f: impl Fn(&Observed) -> bool) -> Option<&Observed> {
    o.iter().find(|x| f(x))
}

/// The routers' load balancer ARNs.
fn router_ids(o: &[Observed]) -> Vec<String> {
    o.iter()
        .filter(|x| matches!(x.resource.spec, Spec::LoadBalancer(_)))
        .map(|x| x.id.clone())
        .collect()
}

impl Sut {
    /// Injects `d` on `b`; returns the app whose own deploy repairs it, if the
    /// drift is an app's.
    fn inject(&self, b: &MockBackend, d: Drift, fitting: &[String]) -> Option<String> {
        let o = observe(self, b);
        let fits = |x: &Observed| {
            x.resource
                .key
                .app()
                .is_some_and(|a| fitting.iter().any(|f| f == a))
        };
        match d {
            Drift::OpenSecurityGroup => {
                let g = first(&o, |x| matches!(x.resource.spec, Spec::SecurityGroup(_)))?;
                let Spec::SecurityGroup(mut spec) = g.resource.spec.clone() else {
                    return None;
                };
                spec.ingress.push(IngressRule {
                    protocol: "tcp".into(),
                    port: 22,
                    cidr: "0.0.0.0/0".into(),
                });
                self.block_on(b.update_security_group(&g.id, &spec))
                    .expect("open");
                None
            }
            Drift::ExtraSecurityGroup => {
                let lb = first(&o, |x| matches!(x.resource.spec, Spec::LoadBalancer(_)))?;
                let ours = first(&o, |x| matches!(x.resource.spec, Spec::SecurityGroup(_)))?;
                // A name no group has: groups an earlier drift made outlive it.
                let taken: Vec<String> = state_json(b)["security_groups"]
                    .as_object()
                    .map(|m| {
                        m.values()
                            .filter_map(|g| g["spec"]["name"].as_str().map(str::to_string))
                            .collect()
                    })
                    .unwrap_or_default();
                let n = (0..)
                    .find(|n| !taken.contains(&format!("intruder-{n}")))
                    .unwrap_or(0);
                let theirs = self
                    .block_on(b.create_security_group(
                        &SecurityGroupSpec {
                            name: format!("intruder-{n}"),
                            description: "an operator's".into(),
                            vpc_id: "vpc-1".into(),
                            ingress: Vec::new(),
                        },
                        &Tags::new(),
                    ))
                    .expect("their group");
                self.block_on(
                    b.set_load_balancer_security_groups(&lb.id, &[theirs, ours.id.clone()]),
                )
                .expect("attach");
                None
            }
            Drift::RuleHost | Drift::RulePriority => {
                let r = first(&o, |x| {
                    matches!(x.resource.spec, Spec::ListenerRule(_)) && fits(x)
                })?;
                let Spec::ListenerRule(mut spec) = r.resource.spec.clone() else {
                    return None;
                };
                let tg = o
                    .iter()
                    .find(|x| x.resource.key == spec.target_group)?
                    .id
                    .clone();
                if d == Drift::RuleHost {
                    spec.hosts = vec!["drifted.elsewhere.example.org".into()];
                    self.block_on(b.modify_rule(&r.id, &spec, &tg))
                        .expect("edit");
                } else {
                    // A priority no rule on that listener has (an earlier
                    // drift may have taken 49,000: moved rules stay moved).
                    let taken: Vec<u32> = o
                        .iter()
                        .filter_map(|x| match &x.resource.spec {
                            Spec::ListenerRule(other) if other.listener == spec.listener => {
                                other.priority
                            }
                            _ => None,
                        })
                        .collect();
                    let free = (49_000..).find(|p| !taken.contains(p)).unwrap_or(49_000);
                    self.block_on(b.set_rule_priority(&r.id, free))
                        .expect("move");
                }
                r.resource.key.app().map(str::to_string)
            }
            Drift::DetachCertificate => {
                let a = first(&o, |x| {
                    matches!(x.resource.spec, Spec::ListenerCertificate(_)) && fits(x)
                })?;
                let (listener, cert) = parse_listener_certificate_id(&a.id)?;
                self.block_on(b.remove_listener_certificate(listener, cert))
                    .expect("detach");
                a.resource.key.app().map(str::to_string)
            }
            Drift::Subnets => None,
            Drift::StaleSharedCertificate => {
                use convox_model::pool::certs::{app_of_wildcard, is_shared};
                let (cert, spec, dropped) = o.iter().find_map(|x| match &x.resource.spec {
                    Spec::Certificate(c) if is_shared(&x.resource.key) => {
                        let dropped = c.names.iter().find(|n| {
                            app_of_wildcard(n)
                                .is_some_and(|a| fitting.iter().any(|f| f == a.as_str()))
                        })?;
                        Some((x, c, dropped.clone()))
                    }
                    _ => None,
                })?;
                let mut older = spec.clone();
                older.names.retain(|n| *n != dropped);
                let pem = crate::sut::authority_n(self.ca)
                    .issue_names(&older.domain, &older.names, self.now)
                    .expect("an older copy");
                self.block_on(b.reimport_certificate(&cert.id, &older, &pem))
                    .expect("re-import");
                // Any other app's deploy puts the name back; the app's own, if
                // it is the only one.
                app_of_wildcard(&dropped).map(|a| a.to_string())
            }
        }
    }

    /// The rack change with reordered and added subnets, on `b`.
    fn subnets_on(&self, b: &MockBackend, model: &Model) {
        let ctx = self.drift_ctx();
        let rack = model.rack();
        let before = router_ids(&observe(self, b));
        let mut typed = settings(crate::input::RACK).subnets;
        typed.reverse();
        let mut added = typed.clone();
        added.push("subnet-z".into());
        for subnets in [typed.clone(), added, typed] {
            let change = self
                .block_on(ops::set_rack_params_with(
                    b,
                    &rack,
                    &[],
                    &ctx,
                    &RackApplyOptions {
                        subnets: Some(subnets.clone()),
                        ..RackApplyOptions::default()
                    },
                ))
                .unwrap_or_else(|e| panic!("--subnets {subnets:?}: {e}"));
            assert_eq!(change.plan.counts().replace, 0, "{}", change.plan);
        }
        assert_eq!(
            router_ids(&observe(self, b)),
            before,
            "routers were replaced"
        );
    }

    /// Every other app deploys beside the drift; then the owner's deploy (or
    /// any app's, or the rack's change, for the routers' drift) repairs it. A
    /// name lost from a shared certificate is repaired by the others' deploys
    /// alone, when there are others.
    /// `fitting`: the apps that fit, found before the drift (finding them
    /// deploys every app, the owner's too, which would repair it first).
    fn repair_on(
        &self,
        b: &MockBackend,
        model: &Model,
        d: Drift,
        (owner, fitting): (Option<String>, Vec<String>),
    ) {
        let ctx = self.drift_ctx();
        let rack = model.rack();
        let mut repaired = false;
        for (app, services) in &model.apps {
            if Some(APPS[*app]) == owner.as_deref() || !fitting.iter().any(|f| f == APPS[*app]) {
                continue;
            }
            self.block_on(ops::deploy(
                b,
                &rack,
                &name(APPS[*app]),
                &manifest(services),
                &ctx,
            ))
            .unwrap_or_else(|e| panic!("{} beside {d:?}: {e}", APPS[*app]));
            repaired = true;
        }
        // Another app's name lost from a shared certificate is put back by
        // any deploy: the owner's is not needed after another's.
        let owner = owner.filter(|_| !(d == Drift::StaleSharedCertificate && repaired));
        if let Some(owner) = owner {
            let (_, services) = model
                .apps
                .iter()
                .find(|(a, _)| APPS[**a] == owner)
                .expect("the drifted app is deployed");
            self.block_on(ops::deploy(
                b,
                &rack,
                &name(&owner),
                &manifest(services),
                &ctx,
            ))
            .unwrap_or_else(|e| panic!("{owner} repairing {d:?}: {e}"));
        } else if !repaired {
            self.block_on(ops::set_rack_params(b, &rack, &[], &ctx))
                .unwrap_or_else(|e| panic!("the rack repairing {d:?}: {e}"));
        }
    }

    /// A drift transition, on the mock and on the twin alike: what the
    /// operator created of their own is foreign from then on, and must stay
    /// as it is through the repair.
    pub fn drift(&mut self, model: &Model, d: Drift) {
        self.last = None;
        if !model.rack_exists {
            return;
        }
        let backends: Vec<Arc<MockBackend>> = std::iter::once(self.mock.clone())
            .chain(self.twin.clone())
            .collect();
        if d == Drift::Subnets {
            for b in &backends {
                self.subnets_on(b, model);
            }
            return;
        }
        let owners: Vec<(Option<String>, Vec<String>)> = backends
            .iter()
            .map(|b| {
                let fitting = self.fitting(b, model);
                (self.inject(b, d, &fitting), fitting)
            })
            .collect();
        self.foreign = foreign(&state_json(&self.mock));
        for (b, owner) in backends.iter().zip(owners) {
            self.repair_on(b, model, d, owner);
        }
    }

    /// The deployed apps whose manifest still fits the rack (one with an
    /// unrouted internal service does not once `Internal=No` was accepted):
    /// deployed again first, so that only the drift can make a later deploy fail.
    fn fitting(&self, b: &MockBackend, model: &Model) -> Vec<String> {
        let ctx = self.drift_ctx();
        let rack = model.rack();
        model
            .apps
            .iter()
            .filter(|(app, services)| {
                match self.block_on(ops::deploy(
                    b,
                    &rack,
                    &name(APPS[**app]),
                    &manifest(services),
                    &ctx,
                )) {
                    Ok(_) => true,
                    Err(ops::OpsError::Manifest(_)) => false,
                    Err(e) => panic!("{} before drift: {e}", APPS[**app]),
                }
            })
            .map(|(app, _)| APPS[*app].to_string())
            .collect()
    }

    fn drift_ctx(&self) -> convox_model::apply::ApplyContext {
        self.ctx()
    }
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
            match b.create_rule(&listener.id, &rule, &tg, &Tags::new()).await {
                // A full load balancer refuses the operator too (small quotas).
                Err(e) if e.kind() == ErrorKind::QuotaExceeded => None,
                other => {
                    other.expect("a rule by hand");
                    None
                }
            }
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
