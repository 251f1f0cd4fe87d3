//! The system under test: the mock (and, in the fault variant, a twin that never
//! sees a fault), seeded with what the rack does not own, driven through the
//! library's operations as a tool would.

use std::collections::BTreeSet;
use std::sync::{Arc, OnceLock};

use convox_mock::{MockBackend, VirtualClock};
use convox_model::apply::ApplyContext;
use convox_model::aws::Quotas as Limits;
use convox_model::backend::Backend;
use convox_model::conformance::fake_certificate;
use convox_model::desired::desired_app_with;
use convox_model::manifest::Scheme;
use convox_model::observe::observe_all;
use convox_model::ops::{self, OpsError};
use convox_model::plan::{Plan, PlanError, plan};
use convox_model::public_cert::{self, ExternalCertificate};
use convox_model::rack::Rack;
use convox_model::resource::{
    CertificateSpec, DefaultAction, LbScheme, ListenerRuleSpec, ListenerSpec, LoadBalancerAddress,
    LoadBalancerSpec, Observed, ResourceKey, ResourceSpec as Spec, Scope, SecurityGroupSpec, Tags,
    TargetGroupSpec, parse_record_owner_value, record_owner_value,
};
use convox_model::tls::CertificateAuthority;
use serde_json::Value;

use crate::adversary::{faulty, inflict};
use crate::common;
use crate::input::{APPS, Exposure, NOW, RACK, Svc, manifest, name, settings};
use crate::reference::{Model, Outcome, Transition};

/// One real authority for the whole run: the certificates in the mock are real
/// X.509, so that the checks read the names they cover from their SANs.
/// (Generating one per case would cost a key per case for nothing.)
pub fn authority() -> Arc<CertificateAuthority> {
    authority_n(0)
}

/// How many authorities a run has: the rack starts with the first, and
/// rotations move it among them.
pub const AUTHORITIES: usize = 3;

/// The run's authority `i`.
pub fn authority_n(i: usize) -> Arc<CertificateAuthority> {
    static CAS: OnceLock<Vec<Arc<CertificateAuthority>>> = OnceLock::new();
    CAS.get_or_init(|| {
        (0..AUTHORITIES)
            .map(|_| Arc::new(CertificateAuthority::generate(&name(RACK), NOW).expect("authority")))
            .collect()
    })[i]
        .clone()
}

fn fingerprint(i: usize) -> String {
    authority_n(i).fingerprint().to_string()
}

/// A deterministic context: fixed time and seed; sleeping only moves a virtual
/// clock (which also refills a fault layer's rate-limit buckets).
pub fn ctx(rack: &str, clock: &VirtualClock) -> ApplyContext {
    ApplyContext::new(name(rack), NOW, clock.sleep_fn())
        .with_issuer(authority())
        .with_seed(7)
}

pub struct Sut {
    pub rt: tokio::runtime::Runtime,
    pub mock: Arc<MockBackend>,
    /// Gets the same accepted transitions without faults (fault variant only).
    pub twin: Option<Arc<MockBackend>>,
    /// Everything the rack does not own, as JSON, when last allowed to change.
    pub foreign: Value,
    /// Target groups made by someone else with the rack's tags (issue 8), by
    /// id, on the mock and on the twin; and the mock's as they were made.
    pub copies: Vec<String>,
    pub twin_copies: Vec<String>,
    pub copied: Value,
    /// Whether the foreign records are in the rack's zone yet (it is created by
    /// the first accepted change).
    pub records_seeded: bool,
    pub clock: VirtualClock,
    /// The transition last accepted, for the checks after it.
    pub last: Option<Transition>,
    /// The tool's clock, Unix seconds: `NOW` until the clock moves (issue 12).
    pub now: i64,
    /// The rack's certificate authority, as the model has it.
    pub ca: usize,
    /// Router pools: the load balancer (ARN) that routes each hostname, as
    /// first seen (placement is sticky), with the target group its rule forwards to.
    pub placed: std::cell::RefCell<std::collections::BTreeMap<String, (String, String)>>,
}

/// Another tool's resources in the same account and VPC: an untagged
/// internet-facing load balancer with an HTTPS listener, a target group and a
/// rule, and an untagged certificate.
async fn seed_untagged(b: &MockBackend) -> LoadBalancerAddress {
    let none = Tags::new();
    let sg = b
        .create_security_group(
            &SecurityGroupSpec {
                description: "someone else's".into(),
                ingress: vec![],
                ..common::sg_spec("legacy")
            },
            &none,
        )
        .await
        .expect("sg");
    let lb = b
        .create_load_balancer(
            &LoadBalancerSpec {
                subnets: vec!["subnet-a".into()],
                security_group: ResourceKey::from_raw("x"),
                ..common::lb_spec("legacy", LbScheme::InternetFacing)
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
                names: Vec::new(),
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
                default_action: DefaultAction::FixedResponse {
                    status_code: 404,
                    content_type: "text/plain".into(),
                    body: "no".into(),
                },
                ..common::https_listener(ResourceKey::from_raw("x"), None)
            },
            Some(&cert),
            &none,
        )
        .await
        .expect("listener");
    let tg = b
        .create_target_group(
            &TargetGroupSpec {
                port: 80,
                ..common::tg_spec("legacy")
            },
            &none,
        )
        .await
        .expect("tg");
    b.create_rule(
        &listener,
        &ListenerRuleSpec {
            listener: ResourceKey::from_raw("x"),
            target_group: ResourceKey::from_raw("x"),
            ..common::rule_spec(1, &["app.legacy.example.com"])
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
            names: Vec::new(),
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

/// A mock seeded with another tool's resources and another rack.
pub fn seeded(rt: &tokio::runtime::Runtime, quotas: Limits) -> Arc<MockBackend> {
    let b = Arc::new(MockBackend::new().with_quotas(quotas));
    rt.block_on(async {
        seed_untagged(&b).await;
        seed_other_rack(&b).await;
    });
    b
}

/// The rack's hosted zone id, from the raw state.
pub fn zone_id(state: &Value) -> Option<String> {
    obj(&state["zones"])
        .find(|(_, z)| owned(z) && z["spec"]["name"] == format!("{RACK}.convox"))
        .map(|(id, _)| id.clone())
}

pub fn obj(v: &Value) -> impl Iterator<Item = (&String, &Value)> {
    v.as_object().into_iter().flatten()
}

pub fn tag<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v["tags"][key].as_str()
}

pub fn owned(v: &Value) -> bool {
    tag(v, "convox:rack") == Some(RACK)
}

/// The key an owned record's TXT names, if the record is the rack's.
pub fn record_key(set: &Value) -> Option<ResourceKey> {
    set["txt"]
        .as_str()
        .and_then(parse_record_owner_value)
        .filter(|(rack, _)| rack == RACK)
        .map(|(_, key)| key)
}

pub fn state_json(b: &MockBackend) -> Value {
    serde_json::from_str(&b.to_json().expect("state serialises")).expect("state is JSON")
}

/// Everything in the state the rack does not own: whole resources by id, and
/// in the rack's own zone the records it does not own.
pub fn foreign(state: &Value) -> Value {
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
                .filter(|(_, r)| record_key(r).is_none())
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

/// The target groups with ids `copies`, as the state holds them.
pub fn copied(state: &Value, copies: &[String]) -> Value {
    Value::Object(
        copies
            .iter()
            .map(|id| (id.clone(), state["target_groups"][id].clone()))
            .collect(),
    )
}

/// Observed resources without what the provider chose (ids, addresses, the
/// ARN a listener names its public certificate by) and without rule
/// priorities, for comparing two backends.
///
/// Priorities depend on history by design: a new rule takes the lowest priority
/// free when it is planned, and a failed deploy that deleted an old rule before
/// stopping frees its priority for the retry. With hostnames injective (one rule
/// per host, checked), a rule's priority does not change what it routes.
pub fn normalised(observed: Vec<Observed>) -> Vec<(ResourceKey, String)> {
    use convox_model::exposure::Shard;
    use convox_model::resource::KeySubject;
    // Which load balancer of a pool routes a service depends on the order
    // things happened in (placement is sticky), and faults change that order:
    // the twin is compared with every service on its router's first.
    let first = |k: &ResourceKey| match k.subject() {
        KeySubject::RouterListener(s, port) => {
            ResourceKey::shard_listener(Shard::first(s.router), *port)
        }
        KeySubject::RouterLoadBalancer(s) => {
            ResourceKey::shard_load_balancer(Shard::first(s.router))
        }
        KeySubject::Attachment(cert, _) => ResourceKey::listener_certificate(cert),
        _ => k.clone(),
    };
    let later = |k: &ResourceKey| matches!(k.subject(), KeySubject::RouterListener(s, _) | KeySubject::RouterLoadBalancer(s) if !s.is_first());
    // Issue 9: which load balancer's shared certificate names an app follows
    // placement too: compared as one, the apps named anywhere.
    let (shared, observed): (Vec<Observed>, Vec<Observed>) = observed
        .into_iter()
        .partition(|o| convox_model::pool::certs::is_shared(&o.resource.key));
    let named: BTreeSet<String> = shared
        .iter()
        .filter_map(|o| match &o.resource.spec {
            Spec::Certificate(c) => Some(c.names.iter().cloned()),
            _ => None,
        })
        .flatten()
        .collect();
    let issuers: BTreeSet<String> = shared
        .iter()
        .filter_map(|o| match &o.resource.spec {
            Spec::Certificate(c) => Some(c.issuer.clone()),
            _ => None,
        })
        .collect();
    let merged = (!named.is_empty()).then(|| {
        (
            ResourceKey::from_raw("(the shared certificates)"),
            format!("{named:?} by {issuers:?}"),
        )
    });
    let mut v: Vec<(ResourceKey, String)> = observed
        .into_iter()
        .filter(|o| !later(&o.resource.key))
        .map(|mut o| {
            o.resource.key = first(&o.resource.key);
            if let Some(k) = o.resource.tags.get_mut(convox_model::resource::TAG_KEY) {
                *k = o.resource.key.to_string();
            }
            o.resource.tags.remove(convox_model::resource::TAG_SHARD);
            if let (KeySubject::TargetGroup(app, service, router), Spec::TargetGroup(tg)) =
                (o.resource.key.subject(), &mut o.resource.spec)
            {
                tg.name = convox_model::desired::target_group_name(
                    &name(RACK),
                    app,
                    service,
                    *router,
                    tg.protocol,
                    tg.port,
                );
            }
            match &mut o.resource.spec {
                Spec::ListenerRule(r) => r.listener = first(&r.listener),
                Spec::Record(r) => r.load_balancer = first(&r.load_balancer),
                Spec::ListenerCertificate(lc) => lc.listener = first(&lc.listener),
                _ => {}
            }
            if let Spec::ListenerRule(r) = &mut o.resource.spec {
                r.priority = None;
            }
            // A public certificate is named by its ARN, which the provider chose.
            if let Spec::Listener(l) = &mut o.resource.spec
                && let Some(c) = &mut l.certificate
                && convox_model::public_cert::referenced_arn(c).is_some()
            {
                *c = ResourceKey::from_raw("foreign:(the public certificate's ARN)");
            }
            let json = serde_json::to_string(&o.resource).expect("resources serialise");
            (o.resource.key, json)
        })
        .collect();
    v.extend(merged);
    v.sort();
    v.dedup();
    v
}

/// Everything the rack owns, as `observe_all` reads it.
pub fn observe(sut: &Sut, b: &MockBackend) -> Vec<Observed> {
    sut.block_on(observe_all(b, &name(RACK))).expect("observe")
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
        // Run by Sut::drift, never here.
        Transition::Drift(_) => {}
        // Foreign resources and concurrent operators (issue 8).
        Transition::Adversary(_) => {}
        Transition::Concurrent([(a, sa), (b2, sb)]) => {
            let (ma, mb) = (manifest(sa), manifest(sb));
            let (na, nb) = (name(APPS[*a]), name(APPS[*b2]));
            // Every call yields once, so that the two deploys interleave: both
            // observe before either applies, as two operators' would.
            let yielding = convox_model::aws::sleep_fn(|_| tokio::task::yield_now());
            let b = &convox_mock::Faulty::new(b, 0)
                .with_latency(std::time::Duration::from_millis(1))
                .with_sleep(yielding);
            let (ra, rb) = tokio::join!(
                ops::deploy(b, &rack, &na, &ma, ctx),
                ops::deploy(b, &rack, &nb, &mb, ctx),
            );
            ra?;
            rb?;
        }
        // Time passes; the next operations see it through their context.
        Transition::Clock { .. } => {}
        Transition::Rotate { .. } => {
            convox_model::ca::rotate_ca(b, &name(RACK), ctx, "reconcile").await?;
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
            | OpsError::Ca(convox_model::ca::CaError::NoRack { .. })
    )
}

impl Sut {
    pub fn block_on<F: std::future::Future>(&self, f: F) -> F::Output {
        self.rt.block_on(f)
    }

    pub fn ctx(&self) -> ApplyContext {
        let mut c = ctx(RACK, &self.clock).with_issuer(authority_n(self.ca));
        c.now = self.now;
        c
    }

    /// Invariant 7 after a successful deploy on `b`: the planner (the system
    /// under test here) finds nothing left to do, and deploying the same again
    /// makes no mutating call.
    pub fn check_settled(&self, model: &Model) {
        if let Some(Transition::Rotate { .. }) = &self.last {
            self.check_rotated(model);
            return;
        }
        let Some(Transition::Deploy { app, services, .. }) = &self.last else {
            return;
        };
        let b = &*self.mock;
        let rack = model.rack();
        let app = name(APPS[*app]);
        let m = manifest(services);
        let observed = observe(self, b);
        // The external router's public certificate, where it is.
        let external = self
            .rt
            .block_on(public_cert::external_certificate(b, &rack))
            .expect("external certificate");
        let ready = public_cert::external_ready(&external, &observed);
        let desired =
            desired_app_with(&rack, &app, &m, &fingerprint(model.ca), ready).expect("desired");
        let desired = convox_model::pool::place(desired, &observed, &b.quotas())
            .expect("placement")
            .desired;
        let p = plan(&Scope::App(app.clone()), &desired, &observed, &b.quotas()).expect("plan");
        assert!(p.is_empty(), "app plan after a deploy is not empty:\n{p}");
        let p = self.rack_plan(&rack, &fingerprint(model.ca), &external, &observed);
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

    /// The rack's plan for `rack`, its authority `fp` and external certificate
    /// `external` against `observed`, the pools' load balancers kept.
    fn rack_plan(
        &self,
        rack: &Rack,
        fp: &str,
        external: &ExternalCertificate,
        observed: &[Observed],
    ) -> Plan {
        let shards = convox_model::pool::shards_kept(observed);
        let desired = public_cert::desired_rack_for(rack, fp, external, observed, &shards);
        plan(&Scope::Rack, &desired, observed, &self.mock.quotas()).expect("plan")
    }

    /// After a rotation: every certificate the rack owns is issued by the new
    /// authority, the rack records it (no rotation left in progress), and the
    /// rack's plan with it is empty.
    fn check_rotated(&self, model: &Model) {
        let b = &*self.mock;
        let fp = fingerprint(model.ca);
        let observed = observe(self, b);
        for o in &observed {
            if let Spec::Certificate(c) = &o.resource.spec {
                assert_eq!(
                    c.issuer, fp,
                    "{} not re-issued by the new authority",
                    o.resource.key
                );
            }
        }
        let stored = self
            .block_on(b.load_rack(&name(RACK)))
            .expect("load")
            .expect("a rotated rack is stored");
        let ca = stored.ca.clone().expect("the rack records its authority");
        assert_eq!(
            (ca.fingerprint.as_str(), ca.rotating_to),
            (fp.as_str(), None)
        );
        let external = self
            .block_on(public_cert::external_certificate(b, &stored))
            .expect("external certificate");
        let p = self.rack_plan(&model.rack(), &fp, &external, &observed);
        assert!(
            p.is_empty(),
            "rack plan after a rotation is not empty:\n{p}"
        );
    }

    pub fn step(&mut self, model: &Model, t: &Transition) {
        // Day-2 safety (in place): drift and its repair, without faults.
        if let Transition::Drift(d) = t {
            return self.drift(model, *d);
        }
        self.last = None;
        // The authority the rack has after this step (a rotation's new one).
        self.ca = model.ca;
        self.now = NOW + model.days * convox_model::renew::DAY;
        // Someone else's change: made on both backends, and from now on part of
        // what must never be changed or deleted.
        if let Transition::Adversary(a) = t {
            if let Some(copy) = self.block_on(inflict(&self.mock, *a)) {
                self.copies.push(copy);
            }
            if let Some(twin) = &self.twin
                && let Some(copy) = self.block_on(inflict(twin, *a))
            {
                self.twin_copies.push(copy);
            }
            self.foreign = foreign(&state_json(&self.mock));
            self.copied = copied(&state_json(&self.mock), &self.copies);
            return;
        }
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
                self.last = Some(t.clone());
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
