//! The reconcile invariants of SPEC §8 (1–8) as a state machine test
//! (`proptest-state-machine`): a reference model (the rack's parameters and which
//! apps are deployed with which manifests) is driven by random transitions (rack
//! parameter changes, deploys of generated manifests, app deletions, and in the
//! fault variant all of them through [`Faulty`] followed by fault-free retries),
//! and after every step the mock's actual state is checked against the model.
//!
//! The checks read the mock's raw JSON state, not only `observe`, so that a bug
//! in observing cannot hide a bug in reconciling:
//!
//! 1. an `InternalOnly` rack has no internet-facing load balancer and no rule on one;
//! 2. every rule is on the router its service's exposure asks for, with the right
//!    host and target group (by tags and keys);
//! 3. the internal router's security group admits TCP 80 and 443 from the VPC only;
//! 4. hostnames are injective over (app, service, router), rules and records alike;
//! 5. every hostname on an HTTPS listener is covered by a certificate attached to it;
//! 6. everything the rack does not own (seeded at the start: an untagged load
//!    balancer with its listener and rule, an untagged certificate, foreign records
//!    in the rack's zone, another rack) stays byte-identical, and nothing untagged
//!    appears;
//! 7. after a successful deploy the plan is empty and an identical redeploy makes
//!    no mutating call;
//! 8. after faults, fault-free retries converge to the state of a twin that never
//!    saw a fault, and no owned resource exists that the desired state does not want.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use convox_mock::{Fault, Faulty, MockBackend, RateLimits, Target, Trigger, VirtualClock};
use convox_model::apply::{ApplyContext, observe_all};
use convox_model::backend::{Backend, CertificatePem, ErrorKind};
use convox_model::conformance::fake_certificate;
use convox_model::desired::{desired_app, desired_rack};
use convox_model::env::link_vars;
use convox_model::exposure::{self, Hostname, Router};
use convox_model::manifest::{Manifest, Port, Scheme, Service};
use convox_model::name::Name;
use convox_model::ops::{self, OpsError};
use convox_model::params::RackParams;
use convox_model::plan::{Limits, PlanError, plan};
use convox_model::rack::{Rack, Vpc};
use convox_model::resource::{
    CertificateSpec, DefaultAction, HealthCheck, LbScheme, ListenerRuleSpec, ListenerSpec,
    LoadBalancerAddress, LoadBalancerSpec, Observed, Protocol, ResourceKey, Scope,
    SecurityGroupSpec, Spec, Tags, TargetGroupSpec, parse_record_owner_value, record_owner_value,
};
use convox_model::tls::{CertificateIssuer, TlsError};
use proptest::prelude::*;
use proptest::test_runner::Config;
use proptest_state_machine::{ReferenceStateMachine, StateMachineTest, prop_state_machine};
use serde_json::Value;

const RACK: &str = "prod";
const VPC_CIDR: &str = "10.0.0.0/16";
/// `shop` + `api-web` and `shop-api` + `web` would both be `shop-api-web` on the
/// external router: the pools are chosen so that the generator can find that.
const APPS: [&str; 3] = ["backend", "shop", "shop-api"];
const SERVICES: [&str; 4] = ["api", "web", "worker", "api-web"];
const NOW: i64 = 1_700_000_000;

fn name(s: &str) -> Name {
    Name::new(s).expect("test names are valid")
}

/// The rack as the embedding tool knows it before anything is stored.
fn settings(rack: &str) -> Rack {
    Rack {
        name: name(rack),
        region: "us-east-1".into(),
        vpc: Vpc {
            id: "vpc-1".into(),
            cidr: VPC_CIDR.into(),
        },
        subnets: vec!["subnet-a".into(), "subnet-b".into()],
        router_host: format!("{rack}.example.com"),
        params: RackParams::default(),
    }
}

fn rack_with(params: RackParams) -> Rack {
    Rack {
        params,
        ..settings(RACK)
    }
}

/// Issues placeholder certificates at once. Real keys would make every case
/// slower and the two backends of the fault variant differ in certificate
/// bodies; what the invariants check (domains, attachment) is the same.
#[derive(Debug)]
struct FakeIssuer;

impl CertificateIssuer for FakeIssuer {
    fn fingerprint(&self) -> String {
        "test-ca".into()
    }

    fn issue(&self, domain: &str, _now: i64) -> Result<CertificatePem, TlsError> {
        Ok(fake_certificate(domain))
    }
}

/// A deterministic context: fixed time, seed and issuer; sleeping only moves a
/// virtual clock (which also refills a [`Faulty`]'s rate-limit buckets).
fn ctx(rack: &str, clock: &VirtualClock) -> ApplyContext {
    ApplyContext::new(name(rack), NOW, clock.sleep_fn())
        .with_issuer(Arc::new(FakeIssuer))
        .with_seed(7)
}

// ----- generated input -----

/// How a generated service is exposed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Exposure {
    External,
    Internal,
    Both,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Svc {
    /// Index into [`SERVICES`].
    name: usize,
    port: Option<(u16, Scheme)>,
    exposure: Exposure,
    /// Bit i: a link to `SERVICES[i]`, kept only if that service is in the
    /// manifest, is not this one and has a port (what validation accepts).
    links: u8,
    health: &'static str,
}

fn manifest(services: &[Svc]) -> Manifest {
    let has_port = |i: usize| services.iter().any(|s| s.name == i && s.port.is_some());
    Manifest::from_services(
        services
            .iter()
            .map(|g| {
                let mut s = Service::with_defaults(name(SERVICES[g.name]));
                s.port = g.port.map(|(port, scheme)| Port { port, scheme });
                s.exposure = convox_model::manifest::Exposure::from_flags(
                    g.exposure != Exposure::External,
                    g.exposure == Exposure::Both,
                );
                s.links = (0..SERVICES.len())
                    .filter(|i| g.links & (1 << i) != 0 && *i != g.name && has_port(*i))
                    .map(|i| name(SERVICES[i]))
                    .collect();
                s.health.path = g.health.to_string();
                s
            })
            .collect(),
    )
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum FaultKind {
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
struct Faults {
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

#[derive(Clone, Debug)]
enum Transition {
    Params {
        assignments: Vec<&'static str>,
        faults: Option<Faults>,
    },
    Deploy {
        app: usize,
        services: Vec<Svc>,
        faults: Option<Faults>,
    },
    Delete {
        app: usize,
        faults: Option<Faults>,
    },
}

impl Transition {
    fn faults(&self) -> Option<&Faults> {
        match self {
            Transition::Params { faults, .. }
            | Transition::Deploy { faults, .. }
            | Transition::Delete { faults, .. } => faults.as_ref(),
        }
    }
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

fn faults() -> impl Strategy<Value = Faults> {
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

const PARAMS: [&[&str]; 8] = [
    &["Internal=Yes"],
    &["Internal=No"],
    &["InternalOnly=Yes"],
    &["InternalOnly=No"],
    &["Internal=Yes", "InternalOnly=Yes"],
    &["Internal=No", "InternalOnly=No"],
    &["InternalOnly=No", "Internal=No"],
    // Refused whatever the rack: not Yes or No.
    &["Internal=Maybe"],
];

/// Services, biased towards what the rack accepts so that most deploys go
/// through, but never excluding what it refuses.
fn services(params: RackParams) -> impl Strategy<Value = Vec<Svc>> {
    let w = |ok: bool| if ok { 8 } else { 1 };
    let exposure = prop_oneof![
        w(!params.internal_only()) => Just(Exposure::External),
        w(params.internal()) => Just(Exposure::Internal),
        w(params.internal() && !params.internal_only()) => Just(Exposure::Both),
    ];
    let port = proptest::option::weighted(
        0.8,
        prop_oneof![
            Just((3000, Scheme::Http)),
            Just((8443, Scheme::Https)),
            Just((5000, Scheme::Grpc)),
        ],
    );
    let detail = (
        port,
        exposure,
        0u8..16,
        prop_oneof![Just("/"), Just("/health")],
    );
    proptest::array::uniform4(proptest::option::weighted(0.5, detail)).prop_map(|slots| {
        slots
            .into_iter()
            .enumerate()
            .filter_map(|(i, d)| {
                d.map(|(port, exposure, links, health)| Svc {
                    name: i,
                    port,
                    exposure,
                    links,
                    health,
                })
            })
            .collect()
    })
}

// ----- the reference model -----

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Outcome {
    Start,
    Accepted,
    Refused,
}

#[derive(Clone, Debug)]
struct Model {
    params: RackParams,
    /// Whether the rack's resources exist (after the first accepted change).
    rack_exists: bool,
    /// Deployed apps (index into [`APPS`]) and their manifests.
    apps: BTreeMap<usize, Vec<Svc>>,
    /// What the model expects of the transition just applied.
    last: Outcome,
}

impl Model {
    fn rack(&self) -> Rack {
        rack_with(self.params)
    }

    fn manifests(&self) -> impl Iterator<Item = (Name, Manifest)> + '_ {
        self.apps.iter().map(|(a, s)| (name(APPS[*a]), manifest(s)))
    }

    /// Whether a deploy of `services` fits the rack's rules.
    fn fits(&self, services: &[Svc]) -> bool {
        services.iter().all(|s| match s.exposure {
            Exposure::External => !self.params.internal_only(),
            Exposure::Internal => self.params.internal(),
            Exposure::Both => self.params.internal() && !self.params.internal_only(),
        })
    }

    /// Whether no other app serves a hostname that `services` of `app` would
    /// (external names `{app}-{service}` can meet across apps).
    fn hostnames_free(&self, app: usize, services: &[Svc]) -> bool {
        let rack = self.rack();
        let mine: BTreeSet<Hostname> =
            exposure::endpoints(&rack, &name(APPS[app]), &manifest(services))
                .into_iter()
                .map(|e| e.hostname)
                .collect();
        self.manifests()
            .filter(|(a, _)| a.as_str() != APPS[app])
            .flat_map(|(a, m)| exposure::endpoints(&rack, &a, &m))
            .all(|e| !mine.contains(&e.hostname))
    }

    /// Whether a parameter change is accepted: it parses, and no deployed
    /// service is routed on a router it removes. (The rack keeps no manifests:
    /// a service without a port leaves no resource behind, so it cannot stand
    /// in the way.)
    fn params_after(&self, assignments: &[&str]) -> Option<RackParams> {
        let new = self
            .params
            .with_assignments(assignments.iter().copied())
            .ok()?;
        let routed =
            |f: fn(&Service) -> bool| self.manifests().any(|(_, m)| m.services.iter().any(f));
        if !new.internal() && routed(Service::routed_internally) {
            return None;
        }
        if new.internal_only() && routed(Service::routed_externally) {
            return None;
        }
        Some(new)
    }

    /// Every resource key the rack and its apps should have.
    fn expected_keys(&self) -> BTreeSet<ResourceKey> {
        if !self.rack_exists {
            return BTreeSet::new();
        }
        let rack = self.rack();
        let mut keys: BTreeSet<ResourceKey> = desired_rack(&rack, "test-ca")
            .resources
            .into_keys()
            .collect();
        for (app, m) in self.manifests() {
            let d = desired_app(&rack, &app, &m, "test-ca").expect("accepted apps have a state");
            keys.extend(d.resources.into_keys());
        }
        keys
    }

    /// The routed service of `app` called `service`, if any.
    fn service(&self, app: &str, service: &str) -> Option<Service> {
        let a = APPS.iter().position(|x| *x == app)?;
        let m = manifest(self.apps.get(&a)?);
        m.services.into_iter().find(|s| s.name.as_str() == service)
    }
}

/// The reference state machine; `FAULTS` adds fault schedules to transitions.
struct Reference<const FAULTS: bool>;

impl<const FAULTS: bool> ReferenceStateMachine for Reference<FAULTS> {
    type State = Model;
    type Transition = Transition;

    /// A fresh rack (created by the first change), or one already set to
    /// `Internal` or `InternalOnly`, so that internal services are deployed
    /// often.
    fn init_state() -> BoxedStrategy<Model> {
        prop_oneof![
            Just(None),
            Just(Some((true, false))),
            Just(Some((true, true)))
        ]
        .prop_map(|params| Model {
            params: params
                .map(|(i, o)| RackParams::new(i, o).expect("valid"))
                .unwrap_or_default(),
            rack_exists: params.is_some(),
            apps: BTreeMap::new(),
            last: Outcome::Start,
        })
        .boxed()
    }

    fn transitions(state: &Model) -> BoxedStrategy<Transition> {
        let faults = move || {
            if FAULTS {
                proptest::option::weighted(0.8, faults()).boxed()
            } else {
                Just(None).boxed()
            }
        };
        prop_oneof![
            2 => (0..PARAMS.len(), faults()).prop_map(|(i, faults)| Transition::Params {
                assignments: PARAMS[i].to_vec(),
                faults,
            }),
            6 => (0..APPS.len(), services(state.params), faults()).prop_map(
                |(app, services, faults)| Transition::Deploy { app, services, faults }
            ),
            1 => (0..APPS.len(), faults()).prop_map(|(app, faults)| Transition::Delete { app, faults }),
        ]
        .boxed()
    }

    fn apply(mut state: Model, t: &Transition) -> Model {
        state.last = Outcome::Refused;
        match t {
            Transition::Params { assignments, .. } => {
                if let Some(p) = state.params_after(assignments) {
                    state.params = p;
                    state.rack_exists = true;
                    state.last = Outcome::Accepted;
                }
            }
            Transition::Deploy { app, services, .. } => {
                if state.fits(services) && state.hostnames_free(*app, services) {
                    state.apps.insert(*app, services.clone());
                    state.rack_exists = true;
                    state.last = Outcome::Accepted;
                }
            }
            Transition::Delete { app, .. } => {
                state.apps.remove(app);
                state.last = Outcome::Accepted;
            }
        }
        state
    }
}

// ----- the system under test -----

struct Sut {
    rt: tokio::runtime::Runtime,
    mock: Arc<MockBackend>,
    /// Gets the same accepted transitions without faults (fault variant only).
    twin: Option<Arc<MockBackend>>,
    /// Everything the rack does not own, as JSON, when last allowed to change.
    foreign: Value,
    /// Whether the foreign records are in the rack's zone yet (it is created by
    /// the first accepted change).
    records_seeded: bool,
    clock: VirtualClock,
}

/// Another tool's resources in the same account and VPC: an untagged
/// internet-facing load balancer with an HTTPS listener, a target group and a
/// rule, and an untagged certificate.
async fn seed_untagged(b: &MockBackend) -> LoadBalancerAddress {
    let none = Tags::new();
    let sg = b
        .create_security_group(
            &SecurityGroupSpec {
                name: "legacy".into(),
                description: "someone else's".into(),
                vpc_id: "vpc-1".into(),
                ingress: vec![],
            },
            &none,
        )
        .await
        .expect("sg");
    let lb = b
        .create_load_balancer(
            &LoadBalancerSpec {
                name: "legacy".into(),
                scheme: LbScheme::InternetFacing,
                subnets: vec!["subnet-a".into()],
                security_group: ResourceKey::from_raw("x"),
            },
            &sg,
            &none,
        )
        .await
        .expect("lb");
    let cert = b
        .import_certificate(
            &CertificateSpec {
                domain: "*.legacy.example.com".into(),
                issuer: "someone".into(),
            },
            &fake_certificate("*.legacy.example.com"),
            &none,
        )
        .await
        .expect("cert");
    let listener = b
        .create_listener(
            &lb.arn,
            &ListenerSpec {
                load_balancer: ResourceKey::from_raw("x"),
                port: 443,
                protocol: Protocol::Https,
                default_action: DefaultAction::FixedResponse {
                    status_code: 404,
                    content_type: "text/plain".into(),
                    body: "no".into(),
                },
                certificate: None,
            },
            Some(&cert),
            &none,
        )
        .await
        .expect("listener");
    let tg = b
        .create_target_group(
            &TargetGroupSpec {
                name: "legacy".into(),
                protocol: Protocol::Http,
                port: 80,
                vpc_id: "vpc-1".into(),
                health: HealthCheck {
                    path: "/".into(),
                    interval: 5,
                    timeout: 4,
                },
            },
            &none,
        )
        .await
        .expect("tg");
    b.create_rule(
        &listener,
        &ListenerRuleSpec {
            listener: ResourceKey::from_raw("x"),
            priority: Some(1),
            hosts: vec!["app.legacy.example.com".into()],
            target_group: ResourceKey::from_raw("x"),
        },
        &tg,
        &none,
    )
    .await
    .expect("rule");
    // A certificate nobody attached.
    b.import_certificate(
        &CertificateSpec {
            domain: "*.prod.example.com".into(),
            issuer: "someone".into(),
        },
        &fake_certificate("*.prod.example.com"),
        &none,
    )
    .await
    .expect("cert");
    lb.address
}

/// Another rack, `staging`, in the same account and VPC, with an app.
async fn seed_other_rack(b: &MockBackend) {
    let clock = VirtualClock::new();
    let ctx = ctx("staging", &clock);
    let staging = settings("staging");
    let change = ops::set_rack_params(b, &staging, &["Internal=Yes"], &ctx)
        .await
        .expect("staging rack");
    let m = manifest(&[
        Svc {
            name: 0,
            port: Some((3000, Scheme::Http)),
            exposure: Exposure::Internal,
            links: 0,
            health: "/",
        },
        Svc {
            name: 1,
            port: Some((3000, Scheme::Http)),
            exposure: Exposure::Both,
            links: 1,
            health: "/",
        },
    ]);
    ops::deploy(b, &change.rack, &name("backend"), &m, &ctx)
        .await
        .expect("staging app");
}

/// The rack's hosted zone id, from the raw state.
fn zone_id(state: &Value) -> Option<String> {
    obj(&state["zones"])
        .find(|(_, z)| owned(z) && z["spec"]["name"] == format!("{RACK}.convox"))
        .map(|(id, _)| id.clone())
}

fn obj(v: &Value) -> impl Iterator<Item = (&String, &Value)> {
    v.as_object().into_iter().flatten()
}

fn tag<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v["tags"][key].as_str()
}

fn owned(v: &Value) -> bool {
    tag(v, "convox:rack") == Some(RACK)
}

fn record_owned(set: &Value) -> bool {
    set["txt"]
        .as_str()
        .and_then(parse_record_owner_value)
        .is_some_and(|(rack, _)| rack == RACK)
}

fn state_json(b: &MockBackend) -> Value {
    serde_json::from_str(&b.to_json().expect("state serialises")).expect("state is JSON")
}

/// Everything in the state the rack does not own: whole resources by id, and
/// in the rack's own zone the records it does not own.
fn foreign(state: &Value) -> Value {
    let mut out = serde_json::Map::new();
    for kind in [
        "security_groups",
        "load_balancers",
        "listeners",
        "rules",
        "target_groups",
        "certificates",
    ] {
        let items: serde_json::Map<String, Value> = obj(&state[kind])
            .filter(|(_, v)| !owned(v))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        out.insert(kind.into(), Value::Object(items));
    }
    let mut zones = serde_json::Map::new();
    for (id, z) in obj(&state["zones"]) {
        if owned(z) {
            let records: serde_json::Map<String, Value> = obj(&z["records"])
                .filter(|(_, r)| !record_owned(r))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            zones.insert(id.clone(), Value::Object(records));
        } else {
            zones.insert(id.clone(), z.clone());
        }
    }
    out.insert("zones".into(), Value::Object(zones));
    Value::Object(out)
}

/// Observed resources without what the provider chose (ids, addresses) and
/// without rule priorities, for comparing two backends.
///
/// Priorities depend on history by design: a new rule takes the lowest priority
/// free when it is planned, and a failed deploy that deleted an old rule before
/// stopping frees its priority for the retry. With hostnames injective (one rule
/// per host, checked above), a rule's priority does not change what it routes.
fn normalised(observed: Vec<Observed>) -> Vec<(ResourceKey, String)> {
    let mut v: Vec<(ResourceKey, String)> = observed
        .into_iter()
        .map(|mut o| {
            if let Spec::ListenerRule(r) = &mut o.resource.spec {
                r.priority = None;
            }
            let json = serde_json::to_string(&o.resource).expect("resources serialise");
            (o.resource.key, json)
        })
        .collect();
    v.sort();
    v
}

fn faulty(mock: &Arc<MockBackend>, f: &Faults, clock: &VirtualClock) -> Faulty<MockBackend> {
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

/// Runs one transition on `backend`, loading the rack as a tool would.
async fn run(b: &dyn Backend, t: &Transition, ctx: &ApplyContext) -> Result<(), OpsError> {
    let rack = b
        .load_rack(&name(RACK))
        .await?
        .unwrap_or_else(|| settings(RACK));
    match t {
        Transition::Params { assignments, .. } => {
            ops::set_rack_params(b, &settings(RACK), assignments, ctx).await?;
        }
        Transition::Deploy { app, services, .. } => {
            ops::deploy(b, &rack, &name(APPS[*app]), &manifest(services), ctx).await?;
        }
        Transition::Delete { app, .. } => {
            ops::delete_app(b, &rack, &name(APPS[*app]), ctx).await?;
        }
    }
    Ok(())
}

fn is_refusal(e: &OpsError) -> bool {
    matches!(
        e,
        OpsError::Params(_)
            | OpsError::Transition { .. }
            | OpsError::Manifest(_)
            | OpsError::Plan(PlanError::HostnameTaken { .. })
    )
}

impl Sut {
    fn block_on<F: std::future::Future>(&self, f: F) -> F::Output {
        self.rt.block_on(f)
    }

    fn ctx(&self) -> ApplyContext {
        ctx(RACK, &self.clock)
    }

    /// Invariant 7 after a successful deploy on `b`: nothing left to plan, and
    /// deploying the same again makes no mutating call.
    fn check_settled(&self, b: &MockBackend, model: &Model, t: &Transition) {
        let Transition::Deploy { app, services, .. } = t else {
            return;
        };
        let rack = model.rack();
        let app = name(APPS[*app]);
        let m = manifest(services);
        let observed = self.block_on(observe_all(b, &name(RACK))).expect("observe");
        let desired = desired_app(&rack, &app, &m, "test-ca").expect("desired");
        let p = plan(
            &Scope::App(app.clone()),
            &desired,
            &observed,
            &Limits::default(),
        )
        .expect("plan");
        assert!(p.is_empty(), "app plan after a deploy is not empty:\n{p}");
        let p = plan(
            &Scope::Rack,
            &desired_rack(&rack, "test-ca"),
            &observed,
            &Limits::default(),
        )
        .expect("plan");
        assert!(p.is_empty(), "rack plan after a deploy is not empty:\n{p}");
        let before = b.calls().mutations;
        let report = self
            .block_on(ops::deploy(b, &rack, &app, &m, &self.ctx()))
            .expect("identical redeploy");
        assert!(report.plan.is_empty());
        assert_eq!(
            b.calls().mutations - before,
            0,
            "an identical redeploy made mutating calls"
        );
    }

    fn step(&mut self, model: &Model, t: &Transition) {
        let before = self.mock.to_json().expect("state serialises");
        let first = match t.faults() {
            Some(f) => {
                let b = faulty(&self.mock, f, &self.clock);
                let r = self.block_on(run(&b, t, &self.ctx()));
                if model.last == Outcome::Refused {
                    assert_eq!(
                        before,
                        self.mock.to_json().expect("state serialises"),
                        "a refused {t:?} changed the state ({r:?})"
                    );
                }
                r.is_ok()
            }
            None => false,
        };
        let result = if first {
            Ok(())
        } else {
            // Fault-free: the first try of the fault-free variant, or the retries
            // after faults, which must converge within a few runs.
            let mut result = self.block_on(run(&*self.mock, t, &self.ctx()));
            for _ in 0..2 {
                match &result {
                    Err(e) if t.faults().is_some() && !is_refusal(e) => {
                        result = self.block_on(run(&*self.mock, t, &self.ctx()));
                    }
                    _ => break,
                }
            }
            result
        };
        match model.last {
            Outcome::Accepted => {
                if let Err(e) = &result {
                    panic!("{t:?} failed: {e}");
                }
                self.check_settled(&self.mock, model, t);
            }
            Outcome::Refused => {
                let e = result.expect_err("the model refuses this transition");
                assert!(is_refusal(&e), "{t:?} failed for another reason: {e}");
                assert_eq!(
                    before,
                    self.mock.to_json().expect("state serialises"),
                    "a refused {t:?} changed the state"
                );
            }
            Outcome::Start => unreachable!("the model names every step's outcome"),
        }
        if let Some(twin) = &self.twin
            && model.last == Outcome::Accepted
        {
            let r = self.block_on(run(&**twin, t, &self.ctx()));
            assert!(r.is_ok(), "the twin refused {t:?}: {r:?}");
        }
        if !self.records_seeded && zone_id(&state_json(&self.mock)).is_some() {
            self.seed_records();
        }
    }

    /// Records another tool (and another rack) put in the rack's zone.
    fn seed_records(&mut self) {
        let legacy = LoadBalancerAddress {
            dns_name: "legacy-1.us-east-1.elb.amazonaws.com".into(),
            hosted_zone_id: "Z35SXDOTRQ7X7K".into(),
        };
        let theirs = record_owner_value(
            &name("staging"),
            &ResourceKey::record(&name("backend"), &name("api")),
        );
        for b in std::iter::once(&self.mock).chain(self.twin.as_ref()) {
            // Each backend's own zone: ids differ once faults made extra calls.
            let zone = zone_id(&state_json(b)).expect("the zone exists on both");
            let zone = zone.as_str();
            b.insert_foreign_record(
                zone,
                &format!("legacy.{RACK}.convox"),
                Some(legacy.clone()),
                None,
            )
            .expect("record");
            b.insert_foreign_record(
                zone,
                &format!("old.{RACK}.convox"),
                Some(legacy.clone()),
                Some(theirs.clone()),
            )
            .expect("record");
            b.insert_foreign_record(
                zone,
                &format!("note.{RACK}.convox"),
                None,
                Some("\"v=spf1 -all\"".into()),
            )
            .expect("record");
        }
        self.foreign = foreign(&state_json(&self.mock));
        self.records_seeded = true;
    }
}

/// The router a listener's load balancer is, by its scheme.
fn router_of(state: &Value, listener_arn: &str) -> Option<Router> {
    let l = &state["listeners"][listener_arn];
    let lb = &state["load_balancers"][l["load_balancer_arn"].as_str()?];
    match lb["scheme"].as_str()? {
        "internal" => Some(Router::Internal),
        _ => Some(Router::External),
    }
}

fn check(sut: &Sut, model: &Model) {
    let state = state_json(&sut.mock);
    let rack = model.rack();

    // The parameters persist where a later process finds them.
    if model.rack_exists {
        let stored = sut
            .block_on(sut.mock.load_rack(&name(RACK)))
            .expect("load")
            .expect("the rack is stored");
        assert_eq!(stored.params, model.params, "stored parameters");
    }

    // (1) An InternalOnly rack has no internet-facing load balancer.
    if model.params.internal_only() {
        for (arn, lb) in obj(&state["load_balancers"]).filter(|(_, v)| owned(v)) {
            assert_ne!(
                lb["scheme"], "internet-facing",
                "InternalOnly rack has {arn}"
            );
        }
    }

    // (2), (4), (5) over every rule the rack owns.
    let mut hosts: BTreeMap<String, BTreeSet<(String, String, Router)>> = BTreeMap::new();
    let mut served: BTreeSet<String> = BTreeSet::new();
    for (arn, rule) in obj(&state["rules"]).filter(|(_, v)| owned(v)) {
        let listener_arn = rule["listener_arn"].as_str().expect("listener");
        let router = router_of(&state, listener_arn).expect("the rule's listener exists");
        if model.params.internal_only() {
            assert_eq!(
                router,
                Router::Internal,
                "(1) rule {arn} on an internet-facing ALB"
            );
        }
        let app = tag(rule, "convox:app").expect("app tag").to_string();
        let service = tag(rule, "convox:service")
            .expect("service tag")
            .to_string();
        let s = model
            .service(&app, &service)
            .unwrap_or_else(|| panic!("(8) rule {arn} for {app}/{service}, which is not deployed"));
        let wanted = match router {
            Router::Internal => s.routed_internally(),
            Router::External => s.routed_externally(),
        };
        assert!(
            wanted,
            "(2) {app}/{service} is routed on the {router} router"
        );
        let host = exposure::hostname(&rack, &name(&app), &s.name, router).to_string();
        assert_eq!(
            rule["hosts"],
            serde_json::json!([host]),
            "(2) hosts of {arn}"
        );
        let tg = &state["target_groups"][rule["target_group_arn"].as_str().expect("tg")];
        assert_eq!(
            tag(tg, "convox:key"),
            Some(ResourceKey::target_group(&name(&app), &s.name, router).as_str()),
            "(2) rule {arn} forwards to another service's target group"
        );
        hosts
            .entry(host.clone())
            .or_default()
            .insert((app.clone(), service.clone(), router));
        served.insert(host.clone());

        // (5) Covered by the listener's default certificate or an attached one.
        let l = &state["listeners"][listener_arn];
        if l["protocol"] == "HTTPS" {
            let certs: Vec<&str> = l["default_certificate"]
                .as_str()
                .into_iter()
                .chain(
                    l["certificates"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(Value::as_str),
                )
                .collect();
            let covered = certs.iter().any(|c| {
                state["certificates"][*c]["spec"]["domain"]
                    .as_str()
                    .is_some_and(|d| Hostname::from_raw(host.clone()).is_covered_by(d))
            });
            assert!(
                covered,
                "(5) {host} on {listener_arn} has no certificate covering it"
            );
        }
    }
    for (_, z) in obj(&state["zones"]).filter(|(_, z)| owned(z)) {
        for (record, set) in obj(&z["records"]).filter(|(_, r)| record_owned(r)) {
            let (_, key) = set["txt"]
                .as_str()
                .and_then(parse_record_owner_value)
                .expect("owned");
            let mut parts = key.as_str().split('/').skip(1);
            let (app, service) = (parts.next().expect("app"), parts.next().expect("service"));
            let s = model.service(app, service).unwrap_or_else(|| {
                panic!("(8) record {record} for {app}/{service}, which is not deployed")
            });
            assert!(
                s.routed_internally(),
                "(2) record {record} of an external service"
            );
            hosts.entry(record.clone()).or_default().insert((
                app.to_string(),
                service.to_string(),
                Router::Internal,
            ));
        }
    }
    // (4) Injective: one (app, service, router) per hostname.
    for (host, owners) in &hosts {
        assert_eq!(owners.len(), 1, "(4) {host} is served for {owners:?}");
    }
    // Links resolve to hostnames that are served.
    for (app, m) in model.manifests() {
        for s in &m.services {
            for (var, url) in link_vars(&m, &rack, &app, s) {
                let host = url.trim_start_matches("https://");
                assert!(
                    served.contains(host),
                    "{app}/{} {var}={url} is not served",
                    s.name
                );
            }
        }
    }

    // (3) The internal router admits TCP 80 and 443 from the VPC only.
    for (arn, lb) in obj(&state["load_balancers"]).filter(|(_, v)| owned(v)) {
        if lb["scheme"] != "internal" {
            continue;
        }
        let sg = &state["security_groups"][lb["security_group_id"].as_str().expect("sg")];
        assert_eq!(
            sg["spec"]["ingress"],
            serde_json::json!([
                {"protocol": "tcp", "port": 80, "cidr": VPC_CIDR},
                {"protocol": "tcp", "port": 443, "cidr": VPC_CIDR},
            ]),
            "(3) security group of {arn}"
        );
    }

    // (6) Nothing unowned changed, and nothing untagged appeared.
    assert_eq!(
        foreign(&state),
        sut.foreign,
        "(6) unowned resources changed"
    );

    // (8) Exactly the resources the model wants, each once: nothing leaked.
    let observed = sut
        .block_on(observe_all(&*sut.mock, &name(RACK)))
        .expect("observe");
    let keys: Vec<ResourceKey> = observed.iter().map(|o| o.resource.key.clone()).collect();
    let unique: BTreeSet<ResourceKey> = keys.iter().cloned().collect();
    assert_eq!(
        keys.len(),
        unique.len(),
        "(8) duplicated resources: {keys:?}"
    );
    assert_eq!(
        unique,
        model.expected_keys(),
        "(8) owned resources differ from the model"
    );
    if let Some(twin) = &sut.twin {
        let theirs = sut
            .block_on(observe_all(&**twin, &name(RACK)))
            .expect("observe");
        assert_eq!(
            normalised(observed),
            normalised(theirs),
            "(8) the state after faults differs from the fault-free twin"
        );
        assert_eq!(
            sut.mock.inventory(),
            twin.inventory(),
            "(8) inventories differ"
        );
    }
}

struct Reconcile<const FAULTS: bool>;

impl<const FAULTS: bool> StateMachineTest for Reconcile<FAULTS> {
    type SystemUnderTest = Sut;
    type Reference = Reference<FAULTS>;

    fn init_test(model: &Model) -> Sut {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime");
        let seed = |b: Arc<MockBackend>| {
            rt.block_on(async {
                seed_untagged(&b).await;
                seed_other_rack(&b).await;
            });
            b
        };
        let mock = seed(Arc::new(MockBackend::new()));
        let twin = FAULTS.then(|| seed(Arc::new(MockBackend::new())));
        let foreign = foreign(&state_json(&mock));
        let mut sut = Sut {
            rt,
            mock,
            twin,
            foreign,
            records_seeded: false,
            clock: VirtualClock::new(),
        };
        if model.rack_exists {
            let internal = if model.params.internal() {
                "Internal=Yes"
            } else {
                "Internal=No"
            };
            let only = if model.params.internal_only() {
                "InternalOnly=Yes"
            } else {
                "InternalOnly=No"
            };
            let t = Transition::Params {
                assignments: vec![internal, only],
                faults: None,
            };
            let accepted = Model {
                last: Outcome::Accepted,
                ..model.clone()
            };
            sut.step(&accepted, &t);
        }
        sut
    }

    fn apply(mut sut: Sut, model: &Model, t: Transition) -> Sut {
        sut.step(model, &t);
        sut
    }

    fn check_invariants(sut: &Sut, model: &Model) {
        check(sut, model);
    }
}

prop_state_machine! {
    #![proptest_config(Config {
        cases: 256,
        failure_persistence: None,
        .. Config::default()
    })]

    #[test]
    fn reconcile_keeps_the_invariants(sequential 1..12 => Reconcile<false>);

    #[test]
    fn reconcile_converges_after_faults(sequential 1..12 => Reconcile<true>);
}
