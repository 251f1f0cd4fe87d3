//! The backend conformance suite: the [`Backend`] contract as executable cases.
//!
//! Every backend runs these cases (the mock in its tests, AWS against the moto
//! emulator), so that the apply engine can rely on one behaviour. A case takes a
//! backend and a [`ConformanceContext`], works under its own rack name derived
//! from the context's (so cases can share one backend, even concurrently), cleans
//! up what it made, and returns [`Outcome::Passed`], [`Outcome::Skipped`] (the
//! backend declared a [`Gaps`] flag the case depends on) or an error describing
//! the broken promise.
//!
//! ```no_run
//! # async fn demo(backend: &dyn convox_model::backend::Backend) {
//! use convox_model::conformance::{ConformanceContext, fake_certificate, run_all};
//! use convox_model::name::Name;
//!
//! let ctx = ConformanceContext::new(Name::new("conf").unwrap(), fake_certificate);
//! for (name, result) in run_all(backend, &ctx).await {
//!     assert!(result.is_ok(), "{name}: {result:?}");
//! }
//! # }
//! ```
//!
//! Conventions a backend must follow, which the cases pin:
//! - a listener-certificate attachment is observed when both its listener and its
//!   certificate are owned, with key [`ResourceKey::listener_certificate`] of the
//!   certificate's key and id [`listener_certificate_id`];
//! - a record is observed when its ownership TXT names the rack; its key comes
//!   from the TXT, its id is its name, its zone and load balancer are resolved to
//!   keys (the load balancer by its alias DNS name), and its address is the alias
//!   target read back;
//! - a rule's hosts are observed as [`normal_hosts`] gives them;
//! - attachments and records, which AWS cannot tag, are observed with
//!   [`listener_certificate_tags`] and [`record_tags`];
//! - observed tags include every tag given at creation (a backend may add its own).

use std::fmt;
use std::sync::Arc;

use futures::future::BoxFuture;

use crate::aws::DELETE_ORDER;
use crate::backend::{Backend, BackendResult, CertificatePem, CreatedLoadBalancer, ErrorKind};
use crate::exposure::Router;
use crate::manifest::{Exposure, Manifest, Service};
use crate::name::Name;
use crate::params::RackParams;
use crate::rack::{Rack, Vpc};
use crate::resource::{
    CertificateSpec, DefaultAction, HealthCheck, HostedZoneSpec, IngressRule, LbScheme,
    ListenerCertificateSpec, ListenerRuleSpec, ListenerSpec, LoadBalancerAddress, LoadBalancerSpec,
    Observed, Protocol, RecordAction, RecordChange, RecordSpec, ResourceKey, ResourceSpec, Scope,
    SecurityGroupSpec, Tags, TargetGroupSpec, listener_certificate_id, listener_certificate_tags,
    normal_hosts, normal_subnets, ownership_tags, record_owner_value, record_tags,
};

/// Behaviours a backend (in practice an emulator) is known to lack; cases that
/// depend on one skip with the reason instead of failing.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Gaps {
    /// Creating a load balancer with a taken name succeeds.
    pub no_duplicate_load_balancer_error: bool,
    /// Creating a listener on a taken port succeeds.
    pub no_duplicate_listener_error: bool,
    /// A Route53 CREATE of an existing record succeeds.
    pub no_duplicate_record_error: bool,
    /// A Route53 DELETE of a record that does not exist is refused, but not as a
    /// conflict (AWS says `InvalidChangeBatch` "… but it was not found").
    pub missing_record_delete_not_conflict: bool,
    /// Rules per load balancer are not limited.
    pub no_rule_quota: bool,
    /// Deleting a target group a rule forwards to succeeds.
    pub no_target_group_in_use_error: bool,
    /// Deleting a certificate attached to a listener succeeds.
    pub no_certificate_in_use_error: bool,
    /// Deleting a security group a load balancer uses succeeds.
    pub no_security_group_in_use_error: bool,
    /// A Route53 batch with a failing change keeps the changes before it.
    pub non_atomic_record_batches: bool,
}

impl Gaps {
    /// The moto server's (5.2) known gaps: no duplicate errors for load balancer
    /// names and listener ports, no rule quota, no in-use errors for certificates
    /// and security groups, and a DELETE of a missing record refused as
    /// `InvalidInput`. (It refuses a Route53 CREATE of an existing record, and a
    /// target group in use, as AWS does.)
    pub fn moto() -> Self {
        Gaps {
            no_duplicate_load_balancer_error: true,
            no_duplicate_listener_error: true,
            missing_record_delete_not_conflict: true,
            no_rule_quota: true,
            no_certificate_in_use_error: true,
            no_security_group_in_use_error: true,
            ..Gaps::default()
        }
    }
}

/// Makes a certificate (and key) for a domain that the backend will accept on
/// import: an emulator that parses PEM needs a real one, the mock does not.
pub type CertificateFactory = Arc<dyn Fn(&str) -> CertificatePem + Send + Sync>;

/// What differs between backends running the suite.
#[derive(Clone)]
pub struct ConformanceContext {
    /// A rack name unique to this run; cases append a short suffix, so keep it
    /// to 12 characters or fewer (load balancer names are built from it).
    pub rack: Name,
    /// The region.
    pub region: String,
    /// A VPC that exists on the backend, with its CIDR.
    pub vpc: Vpc,
    /// Subnets of that VPC for load balancers (two availability zones on AWS).
    pub subnets: Vec<String>,
    /// Known gaps.
    pub gaps: Gaps,
    /// Certificates for import.
    pub certificates: CertificateFactory,
}

impl fmt::Debug for ConformanceContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConformanceContext")
            .field("rack", &self.rack)
            .field("region", &self.region)
            .field("vpc", &self.vpc)
            .field("subnets", &self.subnets)
            .field("gaps", &self.gaps)
            .finish_non_exhaustive()
    }
}

impl ConformanceContext {
    /// A context for `rack` with a placeholder network in `us-east-1` (enough for
    /// a backend that does not check VPCs) and no gaps.
    pub fn new(
        rack: Name,
        certificates: impl Fn(&str) -> CertificatePem + Send + Sync + 'static,
    ) -> Self {
        ConformanceContext {
            rack,
            region: "us-east-1".into(),
            vpc: Vpc {
                id: "vpc-0c0nf0rmance".into(),
                cidr: "10.0.0.0/16".into(),
            },
            subnets: vec!["subnet-0a".into(), "subnet-0b".into()],
            gaps: Gaps::default(),
            certificates: Arc::new(certificates),
        }
    }

    /// Uses a real network: region, VPC and subnets.
    pub fn with_network(
        mut self,
        region: impl Into<String>,
        vpc: Vpc,
        subnets: Vec<String>,
    ) -> Self {
        self.region = region.into();
        self.vpc = vpc;
        self.subnets = subnets;
        self
    }

    /// Declares the backend's known gaps.
    pub fn with_gaps(mut self, gaps: Gaps) -> Self {
        self.gaps = gaps;
        self
    }
}

/// A certificate that only looks like PEM: for backends that do not parse it.
pub fn fake_certificate(domain: &str) -> CertificatePem {
    CertificatePem {
        certificate: format!(
            "-----BEGIN CERTIFICATE-----\nZmFrZSBmb3Ig{domain}\n-----END CERTIFICATE-----\n"
        ),
        private_key: "-----BEGIN PRIVATE KEY-----\nZmFrZQ==\n-----END PRIVATE KEY-----\n".into(),
        chain: "-----BEGIN CERTIFICATE-----\nY2E=\n-----END CERTIFICATE-----\n".into(),
    }
}

/// The app the cost measurements deploy on every backend (the moto tests and
/// the latent mock's benchmark alike): five routed services, three internal and
/// two external, the first on `port` and the others on 3000.
pub fn five_services(port: u16) -> Manifest {
    Manifest::from_services(
        (0..5)
            .map(|i| {
                let exposure = if i < 3 {
                    Exposure::Internal
                } else {
                    Exposure::External
                };
                let port = if i == 0 { port } else { 3000 };
                let name = Name::new(format!("s{i}")).expect("a valid service name");
                Service::routed(name, port, exposure)
            })
            .collect(),
    )
}

/// Seeds what else a shared account holds, as the cost measurements do:
/// `groups` target groups in `vpc_id` named `{team}-{i}` and `certificates`
/// imported certificates for `*.{team}{i}.example.com` (bodies from `pem`), all
/// tagged `team` = `team` and none for any rack. Panics on a backend error: it
/// is a fixture.
pub async fn someone_elses(
    backend: &dyn Backend,
    vpc_id: &str,
    team: &str,
    (groups, certificates): (usize, usize),
    pem: impl Fn(&str) -> CertificatePem,
) {
    let theirs: Tags = [("team".to_string(), team.to_string())].into();
    for i in 0..groups {
        let spec = TargetGroupSpec {
            name: format!("{team}-{i}"),
            protocol: Protocol::Http,
            port: 8080,
            vpc_id: vpc_id.into(),
            health: HealthCheck {
                path: "/".into(),
                interval: 30,
                timeout: 5,
            },
        };
        if let Err(e) = backend.create_target_group(&spec, &theirs).await {
            panic!("seeding target group {}: {e}", spec.name);
        }
    }
    for i in 0..certificates {
        let domain = format!("*.{team}{i}.example.com");
        let spec = CertificateSpec {
            domain: domain.clone(),
            issuer: "theirs".into(),
            names: Vec::new(),
        };
        if let Err(e) = backend
            .import_certificate(&spec, &pem(&domain), &theirs)
            .await
        {
            panic!("seeding certificate {domain}: {e}");
        }
    }
}

/// How a case ended when it did not fail.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Every check held.
    Passed,
    /// The case depends on a declared gap; the reason says which.
    Skipped(String),
}

/// A case's result: the error says which promise broke.
pub type CaseResult = Result<Outcome, String>;

/// A case, as a function pointer.
pub type Case = for<'a> fn(&'a dyn Backend, &'a ConformanceContext) -> BoxFuture<'a, CaseResult>;

type R<T> = Result<T, String>;

trait Context<T> {
    fn ctx(self, what: &str) -> R<T>;
}

impl<T> Context<T> for BackendResult<T> {
    fn ctx(self, what: &str) -> R<T> {
        self.map_err(|e| format!("{what}: {e}"))
    }
}

fn ensure(cond: bool, msg: impl FnOnce() -> String) -> R<()> {
    if cond { Ok(()) } else { Err(msg()) }
}

fn expect_kind<T: fmt::Debug>(r: BackendResult<T>, kind: ErrorKind, what: &str) -> R<()> {
    match r {
        Err(e) if e.kind() == kind => Ok(()),
        Err(e) => Err(format!("{what}: expected {kind}, got {:?}: {e}", e.kind())),
        Ok(v) => Err(format!(
            "{what}: expected {kind}, but it succeeded with {v:?}"
        )),
    }
}

fn find<'o>(observed: &'o [Observed], key: &ResourceKey) -> R<&'o Observed> {
    observed
        .iter()
        .find(|o| o.resource.key == *key)
        .ok_or_else(|| {
            let keys: Vec<&str> = observed.iter().map(|o| o.resource.key.as_str()).collect();
            format!("{key} was not observed; observed: {keys:?}")
        })
}

fn absent(observed: &[Observed], key: &ResourceKey) -> R<()> {
    ensure(!observed.iter().any(|o| o.resource.key == *key), || {
        format!("{key} is still observed")
    })
}

/// Checks that `key` was observed with `id`, `spec` and at least `tags`.
fn check_observed(
    observed: &[Observed],
    key: &ResourceKey,
    id: &str,
    spec: &ResourceSpec,
    tags: &Tags,
) -> R<()> {
    let o = find(observed, key)?;
    ensure(o.id == id, || {
        format!("{key}: observed id {:?}, created {id:?}", o.id)
    })?;
    ensure(o.resource.spec == *spec, || {
        format!(
            "{key}: spec read back differs\n  written: {spec:?}\n  read:    {:?}",
            o.resource.spec
        )
    })?;
    for (k, v) in tags {
        ensure(o.resource.tags.get(k) == Some(v), || {
            format!("{key}: tag {k}={v} missing from {:?}", o.resource.tags)
        })?;
    }
    Ok(())
}

/// A created load balancer with everything a case needs to refer to it.
struct Lb {
    key: ResourceKey,
    arn: String,
    address: LoadBalancerAddress,
    spec: LoadBalancerSpec,
    sg_key: ResourceKey,
    sg_id: String,
}

/// A case's world: its rack, and helpers that create tagged resources in it.
struct Fx<'a> {
    b: &'a dyn Backend,
    ctx: &'a ConformanceContext,
    rack: Name,
}

fn app(name: &str) -> Name {
    Name::new(name).expect("the suite's own app and service names are valid labels")
}

impl<'a> Fx<'a> {
    fn new(b: &'a dyn Backend, ctx: &'a ConformanceContext, tag: &str) -> R<Self> {
        let rack = Name::new(format!("{}-{tag}", ctx.rack))
            .map_err(|e| format!("rack name for case {tag}: {e}"))?;
        Ok(Fx { b, ctx, rack })
    }

    fn tags(&self, key: &ResourceKey, role: &str) -> Tags {
        let app = key.app().and_then(|a| Name::new(a).ok());
        ownership_tags(&self.rack, app.as_ref(), None, role, key)
    }

    fn zone_name(&self) -> String {
        format!("{}.convox", self.rack)
    }

    fn lb_name(&self, router: Router) -> String {
        let short = match router {
            Router::Internal => "int",
            Router::External => "ext",
        };
        format!("{}-{short}", self.rack)
    }

    fn sg_spec(&self, router: Router) -> SecurityGroupSpec {
        let cidr = match router {
            Router::Internal => self.ctx.vpc.cidr.clone(),
            Router::External => "0.0.0.0/0".to_string(),
        };
        SecurityGroupSpec {
            name: format!("{}-{router}-router", self.rack),
            description: format!("convox {} {router} router", self.rack),
            vpc_id: self.ctx.vpc.id.clone(),
            ingress: [80, 443]
                .into_iter()
                .map(|port| IngressRule {
                    protocol: "tcp".into(),
                    port,
                    cidr: cidr.clone(),
                })
                .collect(),
        }
    }

    async fn sg(&self, router: Router) -> R<(ResourceKey, String, SecurityGroupSpec)> {
        let key = ResourceKey::router_security_group(router);
        let spec = self.sg_spec(router);
        let id = self
            .b
            .create_security_group(&spec, &self.tags(&key, "router-sg"))
            .await
            .ctx("create_security_group")?;
        Ok((key, id, spec))
    }

    async fn lb(&self, router: Router) -> R<Lb> {
        self.lb_named(router, self.lb_name(router)).await
    }

    async fn lb_named(&self, router: Router, name: String) -> R<Lb> {
        let (sg_key, sg_id, _) = self.sg(router).await?;
        let key = ResourceKey::router_load_balancer(router);
        let spec = LoadBalancerSpec {
            name,
            scheme: match router {
                Router::Internal => LbScheme::Internal,
                Router::External => LbScheme::InternetFacing,
            },
            subnets: self.ctx.subnets.clone(),
            security_group: sg_key.clone(),
            other_security_groups: Vec::new(),
        };
        let CreatedLoadBalancer { arn, address } = self
            .b
            .create_load_balancer(&spec, &sg_id, &self.tags(&key, "router-alb"))
            .await
            .ctx("create_load_balancer")?;
        Ok(Lb {
            key,
            arn,
            address,
            spec,
            sg_key,
            sg_id,
        })
    }

    async fn cert(&self, key: &ResourceKey, domain: &str) -> R<(String, CertificateSpec)> {
        let spec = CertificateSpec {
            domain: domain.to_string(),
            issuer: "conformance-ca".into(),
            names: Vec::new(),
        };
        let pem = (self.ctx.certificates)(domain);
        let arn = self
            .b
            .import_certificate(&spec, &pem, &self.tags(key, "certificate"))
            .await
            .ctx("import_certificate")?;
        Ok((arn, spec))
    }

    fn redirect_spec(&self, lb: &Lb) -> ListenerSpec {
        ListenerSpec::redirect_to_https(lb.key.clone())
    }

    fn https_spec(&self, lb: &Lb, cert: Option<&ResourceKey>) -> ListenerSpec {
        ListenerSpec::https_unknown_host(lb.key.clone(), cert.cloned())
    }

    async fn listener(
        &self,
        lb: &Lb,
        router: Router,
        spec: &ListenerSpec,
        cert_arn: Option<&str>,
    ) -> R<(ResourceKey, String)> {
        let key = ResourceKey::router_listener(router, spec.port);
        let arn = self
            .b
            .create_listener(&lb.arn, spec, cert_arn, &self.tags(&key, "listener"))
            .await
            .ctx("create_listener")?;
        Ok((key, arn))
    }

    /// A load balancer with its 443 listener and that listener's default
    /// certificate: what rules and attachments need.
    async fn https_router(&self, router: Router) -> R<(Lb, ResourceKey, String)> {
        self.https_router_on(self.lb(router).await?, router).await
    }

    /// [`Fx::https_router`] on `lb`.
    async fn https_router_on(&self, lb: Lb, router: Router) -> R<(Lb, ResourceKey, String)> {
        let cert_key = ResourceKey::router_certificate(router);
        let (cert_arn, _) = self
            .cert(&cert_key, &format!("*.{}", self.zone_name()))
            .await?;
        let spec = self.https_spec(&lb, Some(&cert_key));
        let (lkey, larn) = self.listener(&lb, router, &spec, Some(&cert_arn)).await?;
        Ok((lb, lkey, larn))
    }

    fn tg_spec(&self, app: &Name, svc: &Name, port: u16) -> TargetGroupSpec {
        TargetGroupSpec {
            name: format!("{}-{app}-{svc}", self.rack),
            protocol: Protocol::Http,
            port,
            vpc_id: self.ctx.vpc.id.clone(),
            health: HealthCheck {
                path: "/".into(),
                interval: 5,
                timeout: 4,
            },
        }
    }

    async fn tg(
        &self,
        app: &Name,
        svc: &Name,
        router: Router,
    ) -> R<(ResourceKey, String, TargetGroupSpec)> {
        let key = ResourceKey::target_group(app, svc, router);
        let spec = self.tg_spec(app, svc, 3000);
        let arn = self
            .b
            .create_target_group(&spec, &self.tags(&key, "target-group"))
            .await
            .ctx("create_target_group")?;
        Ok((key, arn, spec))
    }

    #[allow(clippy::too_many_arguments)]
    async fn rule(
        &self,
        listener: (&ResourceKey, &str),
        app: &Name,
        svc: &Name,
        router: Router,
        priority: u32,
        tg: (&ResourceKey, &str),
    ) -> R<(ResourceKey, String, ListenerRuleSpec)> {
        let key = ResourceKey::listener_rule(app, svc, router);
        let spec = ListenerRuleSpec {
            listener: listener.0.clone(),
            priority: Some(priority),
            hosts: vec![format!("{svc}.{app}.{}", self.zone_name())],
            target_group: tg.0.clone(),
        };
        let arn = self
            .b
            .create_rule(listener.1, &spec, tg.1, &self.tags(&key, "rule"))
            .await
            .ctx("create_rule")?;
        Ok((key, arn, spec))
    }

    fn zone_spec(&self) -> HostedZoneSpec {
        HostedZoneSpec {
            name: self.zone_name(),
            vpc_id: self.ctx.vpc.id.clone(),
            region: self.ctx.region.clone(),
        }
    }

    async fn zone(&self) -> R<(ResourceKey, String)> {
        let key = ResourceKey::zone();
        let id = self
            .b
            .create_hosted_zone(&self.zone_spec(), &self.tags(&key, "zone"))
            .await
            .ctx("create_hosted_zone")?;
        Ok((key, id))
    }

    fn record_change(
        &self,
        action: RecordAction,
        app: &Name,
        svc: &Name,
        target: &LoadBalancerAddress,
    ) -> (ResourceKey, RecordChange) {
        let key = ResourceKey::record(app, svc);
        let change = RecordChange {
            action,
            name: format!("{svc}.{app}.{}", self.zone_name()),
            target: target.clone(),
            owner: record_owner_value(&self.rack, &key),
        };
        (key, change)
    }

    async fn observe(&self, scope: &Scope) -> R<Vec<Observed>> {
        self.b
            .observe(&self.rack, scope)
            .await
            .ctx(&format!("observe {scope:?}"))
    }

    /// Rack and app resources together.
    async fn observe_all(&self) -> R<Vec<Observed>> {
        let mut all = self.observe(&Scope::Rack).await?;
        all.extend(self.observe(&Scope::Apps).await?);
        Ok(all)
    }

    /// Cleans up, then reports the case's own result first.
    async fn finish(&self, result: R<Outcome>) -> CaseResult {
        let cleanup = delete_owned(self.b, &self.rack).await;
        let outcome = result?;
        cleanup.map_err(|e| format!("cleanup after the case: {e}"))?;
        Ok(outcome)
    }
}

// Foreign rules on the rack's listeners (issue 8).
async fn foreign_rules_are_obstacles(fx: &Fx<'_>) -> R<Outcome> {
    let (_lb, lkey, larn) = fx.https_router(Router::Internal).await?;
    let (a, s) = (app("web"), app("api"));
    let (tkey, tarn, _) = fx.tg(&a, &s, Router::Internal).await?;
    let spec = ListenerRuleSpec {
        listener: lkey.clone(),
        priority: Some(7),
        hosts: vec![format!("hand.{}", fx.zone_name())],
        target_group: tkey.clone(),
    };
    let foreign =
        fx.b.create_rule(&larn, &spec, &tarn, &Tags::new())
            .await
            .ctx("create_rule without tags")?;
    let checked = async {
        let key = ResourceKey::foreign_rule(&foreign);
        for scope in [Scope::Apps, Scope::All] {
            let apps = fx.observe(&scope).await?;
            let seen = find(&apps, &key)?;
            ensure(
                seen.id == foreign
                    && seen.resource.tags.is_empty()
                    && seen.resource.spec == ResourceSpec::ListenerRule(spec.clone()),
                || format!("observe {scope:?}: the foreign rule reads back as {seen:?}"),
            )?;
        }
        for scope in [Scope::Rack, Scope::App(a.clone())] {
            let obs = fx.observe(&scope).await?;
            ensure(!obs.iter().any(|o| o.resource.key.is_foreign()), || {
                format!("observe {scope:?} returned a foreign rule")
            })?;
        }
        let (rkey, _, _) = fx
            .rule((&lkey, &larn), &a, &s, Router::Internal, 8, (&tkey, &tarn))
            .await?;
        let taken = ListenerRuleSpec {
            priority: Some(7),
            hosts: vec![format!("{s}.{a}.{}", fx.zone_name())],
            ..spec.clone()
        };
        match fx
            .b
            .create_rule(&larn, &taken, &tarn, &fx.tags(&rkey, "rule"))
            .await
        {
            Err(e)
                if e.kind() == ErrorKind::Conflict
                    && e.message().contains(crate::apply::PRIORITY_IN_USE) => {}
            other => {
                return Err(format!(
                    "a rule at a foreign rule's priority: want a conflict naming {}, got {other:?}",
                    crate::apply::PRIORITY_IN_USE
                ));
            }
        }
        Ok(Outcome::Passed)
    }
    .await;
    fx.b.delete_rule(&foreign).await.ctx("delete_rule")?;
    checked
}

// What a deploy observes (issue 10).
async fn deploy_scope(fx: &Fx<'_>) -> R<Outcome> {
    // The rack's load balancers are found by the names the model gives them.
    let name = crate::desired::load_balancer_name(&fx.rack, Router::Internal);
    let lb = fx.lb_named(Router::Internal, name).await?;
    let (_lb, lkey, larn) = fx.https_router_on(lb, Router::Internal).await?;
    let listener = (&lkey, larn.as_str());
    let (web, shop, s) = (app("web"), app("shop"), app("api"));
    // Two apps, each with a rule and its certificate attached.
    let mut routed = Vec::new();
    for (a, priority) in [(&web, 5), (&shop, 6)] {
        let (tkey, tarn, _) = fx.tg(a, &s, Router::Internal).await?;
        let (rkey, rarn, _) = fx
            .rule(listener, a, &s, Router::Internal, priority, (&tkey, &tarn))
            .await?;
        let ckey = ResourceKey::app_certificate(a);
        let (carn, _) = fx.cert(&ckey, &format!("*.{a}.{}", fx.zone_name())).await?;
        fx.b.add_listener_certificate(&larn, &carn)
            .await
            .ctx("add_listener_certificate")?;
        let attachment = ResourceKey::listener_certificate_on(&ckey, &lkey);
        routed.push((tkey, tarn, rkey, rarn, ckey, carn, attachment));
    }
    // A rule of no app's, and one of another app's routing a name that may be
    // web's (an external name `web-…`).
    let hand = ListenerRuleSpec {
        listener: lkey.clone(),
        priority: Some(7),
        hosts: vec![format!("hand.{}", fx.zone_name())],
        target_group: routed[1].0.clone(),
    };
    let foreign =
        fx.b.create_rule(&larn, &hand, &routed[1].1, &Tags::new())
            .await
            .ctx("create_rule without tags")?;
    let near = app("web-x");
    let near_key = ResourceKey::listener_rule(&near, &s, Router::Internal);
    let near_spec = ListenerRuleSpec {
        priority: Some(8),
        hosts: vec!["web-x-api.example.com".into()],
        ..hand.clone()
    };
    let near_tags = fx.tags(&near_key, "rule");
    fx.b.create_rule(&larn, &near_spec, &routed[1].1, &near_tags)
        .await
        .ctx("create_rule of another app")?;

    let checked = async {
        let obs = fx.observe(&Scope::Deploy(web.clone())).await?;
        let (web_tg, _, web_rule, _, web_cert, _, web_att) = &routed[0];
        for key in [web_tg, web_rule, web_cert, web_att, &lkey] {
            find(&obs, key)?;
        }
        let (shop_tg, _, shop_rule, shop_rule_arn, shop_cert, shop_cert_arn, shop_att) = &routed[1];
        for key in [shop_tg, shop_rule, shop_cert, shop_att] {
            absent(&obs, key)?;
        }
        // Shop's rule and the rule of no app's are obstacles, with their
        // priorities; shop's attachment takes its certificate slot.
        for (arn, priority) in [(shop_rule_arn, 6), (&foreign, 7)] {
            let o = find(&obs, &ResourceKey::foreign_rule(arn))?;
            ensure(
                o.resource.tags.is_empty()
                    && matches!(&o.resource.spec, ResourceSpec::ListenerRule(r)
                        if r.priority == Some(priority) && r.listener == lkey),
                || format!("the obstacle {arn} reads back as {o:?}"),
            )?;
        }
        let taken = ResourceKey::foreign_attachment(&listener_certificate_id(&larn, shop_cert_arn));
        let o = find(&obs, &taken)?;
        ensure(
            matches!(&o.resource.spec, ResourceSpec::ListenerCertificate(c) if c.listener == lkey),
            || format!("shop's attachment reads back as {o:?}"),
        )?;
        // The rule that may take web's name is reported as it is.
        let o = find(&obs, &near_key)?;
        ensure(o.resource.tags == near_tags, || {
            format!("web-x's rule reads back as {o:?}")
        })?;
        let others = obs
            .iter()
            .filter(|o| o.resource.key.app().is_some_and(|a| a != web.as_str()))
            .map(|o| o.resource.key.clone())
            .collect::<Vec<_>>();
        ensure(others == vec![near_key.clone()], || {
            format!("observe Deploy(web) returned other apps' resources: {others:?}")
        })?;
        Ok(Outcome::Passed)
    }
    .await;
    // The cleanup deletes what the rack owns; the rule of no app's is ours to
    // delete here.
    fx.b.delete_rule(&foreign).await.ctx("delete_rule")?;
    checked
}

/// Deletes every resource `rack` owns on `backend`, in the order the apply engine
/// deletes ([`crate::aws::DELETE_ORDER`]). For emptying a rack after tests.
pub async fn delete_owned(backend: &dyn Backend, rack: &Name) -> Result<(), String> {
    let mut all = backend.observe(rack, &Scope::Rack).await.ctx("observe")?;
    all.extend(backend.observe(rack, &Scope::Apps).await.ctx("observe")?);
    // Foreign rules are someone else's.
    all.retain(|o| !o.resource.key.is_foreign());
    let id_of = |key: &ResourceKey| {
        all.iter()
            .find(|o| o.resource.key == *key)
            .map(|o| o.id.clone())
    };
    let address_of = |key: &ResourceKey| {
        all.iter()
            .find(|o| o.resource.key == *key)
            .and_then(|o| o.address.clone())
    };
    let mut errors = Vec::new();
    let mut note = |r: BackendResult<()>| {
        // Already gone counts as deleted: a cascade may have taken it.
        if let Err(e) = r
            && e.kind() != ErrorKind::NotFound
        {
            errors.push(e.to_string());
        }
    };
    for kind in DELETE_ORDER {
        for o in all.iter().filter(|o| o.resource.spec.kind() == kind) {
            let r = match &o.resource.spec {
                ResourceSpec::Record(r) => {
                    // A DELETE names the alias target as it is, which the record's
                    // observed address says even when its load balancer is gone.
                    let target = o.address.clone().or_else(|| address_of(&r.load_balancer));
                    let (Some(zone_id), Some(target)) = (id_of(&r.zone), target) else {
                        continue;
                    };
                    let change = RecordChange {
                        action: RecordAction::Delete,
                        name: r.name.clone(),
                        target,
                        owner: record_owner_value(rack, &o.resource.key),
                    };
                    backend.change_records(&zone_id, &[change]).await
                }
                ResourceSpec::ListenerCertificate(lc) => {
                    let (Some(l), Some(c)) = (id_of(&lc.listener), id_of(&lc.certificate)) else {
                        continue;
                    };
                    backend.remove_listener_certificate(&l, &c).await
                }
                ResourceSpec::ListenerRule(_) => backend.delete_rule(&o.id).await,
                ResourceSpec::Listener(_) => backend.delete_listener(&o.id).await,
                ResourceSpec::TargetGroup(_) => backend.delete_target_group(&o.id).await,
                ResourceSpec::LoadBalancer(_) => backend.delete_load_balancer(&o.id).await,
                ResourceSpec::Certificate(_) => backend.delete_certificate(&o.id).await,
                ResourceSpec::SecurityGroup(_) => backend.delete_security_group(&o.id).await,
                ResourceSpec::HostedZone(_) => backend.delete_hosted_zone(&o.id).await,
            };
            note(r);
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors.join("; "))
    }
}

/// Calls the macro `$m` with the name of every case, in suite order, so that a
/// backend's tests can generate one test per case without a list of their own:
///
/// ```
/// // In a backend's tests, `conformance_tests` would expand to one test per case.
/// macro_rules! count { ($($case:ident),* $(,)?) => { [$(stringify!($case)),*].len() } }
/// let n = convox_model::conformance_cases!(count);
/// assert_eq!(n, convox_model::conformance::cases().len());
/// ```
#[macro_export]
macro_rules! conformance_cases {
    ($m:ident) => {
        $m! {
            case_security_group_round_trip,
            case_security_group_update_replaces_ingress,
            case_load_balancer_round_trip,
            case_load_balancer_name_rules,
            case_listeners_redirect_and_https,
            case_https_listener_requires_certificate,
            case_duplicate_listener_port,
            case_listener_certificates_idempotent,
            case_target_group_round_trip_and_health_modify,
            case_rule_round_trip_and_modify,
            case_rule_priority_conflict,
            case_rule_quota,
            case_delete_in_use_conflicts,
            case_load_balancer_delete_cascades,
            case_hosted_zone_round_trip_and_not_empty,
            case_records_create_upsert_delete,
            case_record_delete_missing_conflicts,
            case_record_create_existing_conflicts,
            case_record_outside_zone_invalid,
            case_record_batch_all_or_nothing,
            case_record_batch_limit,
            case_foreign_resources_never_observed,
            case_observe_scopes,
            case_deploy_scope,
            case_rack_round_trip,
            case_deletes_then_observe_empty,
            // Foreign rules on the rack's listeners (issue 8).
            case_foreign_rules_are_obstacles,
            // Day-2 safety (audit).
            case_surroundings_report_what_is_not_ours,
            // Day-2 safety (in place).
            case_load_balancer_network_changes_in_place,
            // Certificate renewal in place (issue 12).
            case_certificate_reimport_keeps_arn_and_listeners,
            // Public certificates for the external router (issue 12, item 6).
            case_public_certificates_requested_and_described,
            // Router pools: shared certificates (issue 9).
            case_shared_certificate_names_follow_reimport,
        }
    };
}

macro_rules! cases {
    ($( $(#[$doc:meta])* $name:ident => $body:ident ($tag:literal); )*) => {
        $(
            $(#[$doc])*
            pub async fn $name(backend: &dyn Backend, ctx: &ConformanceContext) -> CaseResult {
                let fx = Fx::new(backend, ctx, $tag)?;
                let result = $body(&fx).await;
                fx.finish(result).await
            }
        )*

        /// Every case with its name, in a stable order.
        pub fn cases() -> Vec<(&'static str, Case)> {
            vec![$( (stringify!($name), (|b, c| Box::pin($name(b, c))) as Case), )*]
        }

        /// The rack a case works under (the context's rack with the case's
        /// suffix), or `None` for a name that is not a case: where to look for
        /// anything the case left behind.
        pub fn case_rack(ctx: &ConformanceContext, case: &str) -> Option<Name> {
            let tag = match case {
                $( stringify!($name) => $tag, )*
                _ => return None,
            };
            Name::new(format!("{}-{tag}", ctx.rack)).ok()
        }
    };
}

cases! {
    /// A security group reads back as written, with its tags, under its key.
    case_security_group_round_trip => security_group_round_trip("sg");
    /// Updating a security group makes its ingress exactly the new rules.
    case_security_group_update_replaces_ingress => security_group_update("sgu");
    /// Load balancers of both schemes read back with their security group's key
    /// and the address the create call returned.
    case_load_balancer_round_trip => load_balancer_round_trip("lb");
    /// Load balancer names: at most 32 characters, not `internal-…`, unique (an
    /// identical create returns the existing one).
    case_load_balancer_name_rules => load_balancer_name_rules("lbn");
    /// The router's listeners: 80 redirecting to 443, 443 HTTPS with a certificate.
    case_listeners_redirect_and_https => listeners_redirect_and_https("lis");
    /// An HTTPS listener without a certificate is refused as invalid input.
    case_https_listener_requires_certificate => https_needs_certificate("lhc");
    /// A second listener on a taken port is refused as already existing (an
    /// identical create returns the existing one).
    case_duplicate_listener_port => duplicate_listener_port("ldp");
    /// Attaching and detaching an SNI certificate is idempotent and observed.
    case_listener_certificates_idempotent => listener_certificates("lc");
    /// A target group reads back as written, its placement tag too; its
    /// health check can be modified.
    case_target_group_round_trip_and_health_modify => target_group_round_trip("tg");
    /// A rule reads back with keys; its hosts, target and priority can change.
    case_rule_round_trip_and_modify => rule_round_trip("rule");
    /// A taken priority is a conflict; priorities outside 1..=50000 are invalid.
    case_rule_priority_conflict => rule_priority_conflict("prio");
    /// More than 100 rules on one load balancer exceed the quota.
    case_rule_quota => rule_quota("rq");
    /// Deleting a target group, certificate or security group in use conflicts.
    case_delete_in_use_conflicts => delete_in_use("use");
    /// Deleting a load balancer deletes its listeners and their rules.
    case_load_balancer_delete_cascades => lb_delete_cascades("cas");
    /// A hosted zone reads back as written; it cannot be deleted while it holds
    /// records.
    case_hosted_zone_round_trip_and_not_empty => hosted_zone_round_trip("hz");
    /// Records: create, upsert to another load balancer, delete; each read back
    /// with its ownership and alias target resolved to keys.
    case_records_create_upsert_delete => records_lifecycle("rec");
    /// Deleting a record that does not exist (as given) conflicts.
    case_record_delete_missing_conflicts => record_delete_missing("rdm");
    /// Creating a record that exists conflicts.
    case_record_create_existing_conflicts => record_create_existing("rce");
    /// A record outside the zone is invalid input.
    case_record_outside_zone_invalid => record_outside_zone("roz");
    /// A batch with a failing change changes nothing.
    case_record_batch_all_or_nothing => record_batch_atomic("rba");
    /// A batch over 1000 records (an UPSERT counting twice) is invalid input.
    case_record_batch_limit => record_batch_limit("rbl");
    /// Resources without the rack's tags (or TXT) are never observed.
    case_foreign_resources_never_observed => foreign_never_observed("for");
    /// `observe` honours its scope: rack, one app, every app.
    case_observe_scopes => observe_scopes("sco");
    /// A deploy's scope: the rack's and the app's own resources, other rules
    /// and other apps' attachments as obstacles, and another app's rule that
    /// may take one of the app's names as it is.
    case_deploy_scope => deploy_scope("dep");
    /// A rack's settings saved on its zone load back; saving needs the zone.
    case_rack_round_trip => rack_round_trip("rack");
    /// After deleting everything in reverse order, nothing is observed.
    case_deletes_then_observe_empty => deletes_then_empty("del");
    // Foreign rules on the rack's listeners (issue 8).
    /// A rule on the rack's listener without its tags is observed only by an
    /// every-app observe, as a foreign obstacle with its priority; its priority
    /// is taken (`PriorityInUse`, which the apply engine recognises as another
    /// process's doing).
    case_foreign_rules_are_obstacles => foreign_rules_are_obstacles("obs");
    // Day-2 safety (audit).
    /// `observe_surroundings` reports every security group on the rack's load
    /// balancers (a foreign one with its ingress) and the foreign rules on its
    /// listeners, and nothing the rack owns as foreign.
    case_surroundings_report_what_is_not_ours => surroundings_report("sur");
    // Day-2 safety (in place).
    /// A load balancer's subnets and security groups change in place: it keeps
    /// its ARN and address; observe reports subnets as a set and every group on
    /// it, the router's own apart; an empty list of groups is invalid input.
    case_load_balancer_network_changes_in_place => load_balancer_network_in_place("inp");
    // Certificate renewal in place (issue 12).
    /// Re-importing a renewed certificate keeps its ARN, tags and listeners
    /// (default and attached), and the next observation reports the new
    /// validity; re-importing over an unknown ARN is not found.
    case_certificate_reimport_keeps_arn_and_listeners => certificate_reimport("ren");
    // Public certificates for the external router (issue 12, item 6).
    /// A requested certificate is described with its names, its status (issued
    /// or pending, then with its validation CNAME) and listed as the rack's; a
    /// certificate requested with other tags is not; neither is observed.
    case_public_certificates_requested_and_described => public_certificates("pub");
    // Router pools: shared certificates (issue 9).
    /// A shared certificate's names follow its body: re-imported over its ARN
    /// with other apps' names, it is observed with them, still attached.
    case_shared_certificate_names_follow_reimport => shared_certificate_names("shc");
}

// Day-2 safety (audit): what surrounds the rack's resources.

async fn surroundings_report(fx: &Fx<'_>) -> R<Outcome> {
    let (lb, lkey, larn) = fx.https_router(Router::Internal).await?;
    let (a, s) = (app("web"), app("api"));
    let (tkey, tarn, _) = fx.tg(&a, &s, Router::Internal).await?;
    fx.rule((&lkey, &larn), &a, &s, Router::Internal, 10, (&tkey, &tarn))
        .await?;
    let untagged = Tags::new();
    let foreign_rule = ListenerRuleSpec {
        listener: lkey.clone(),
        priority: Some(30),
        hosts: vec!["other.example.org".into()],
        target_group: tkey.clone(),
    };
    let rarn =
        fx.b.create_rule(&larn, &foreign_rule, &tarn, &untagged)
            .await
            .ctx("foreign create_rule")?;
    // One of the rack's load balancers in a group the rack does not own.
    let mut group = fx.sg_spec(Router::External);
    group.name = format!("{}-foreign", group.name);
    let fsg = fx.b.create_security_group(&group, &untagged).await;
    let result = match &fsg {
        Ok(fsg) => surroundings_with_foreign_group(fx, &lb, &larn, &rarn, fsg, &group).await,
        Err(e) => Err(format!("foreign create_security_group: {e}")),
    };
    // What the rack does not own is not cleaned up by the suite: remove it.
    fx.b.delete_rule(&rarn).await.ctx("delete foreign rule")?;
    result
}

async fn surroundings_with_foreign_group(
    fx: &Fx<'_>,
    lb: &Lb,
    larn: &str,
    rarn: &str,
    fsg: &str,
    group: &SecurityGroupSpec,
) -> R<Outcome> {
    let key = ResourceKey::router_load_balancer(Router::External);
    let spec = LoadBalancerSpec {
        name: fx.lb_name(Router::External),
        scheme: LbScheme::InternetFacing,
        subnets: fx.ctx.subnets.clone(),
        security_group: ResourceKey::from_raw("unused"),
        other_security_groups: Vec::new(),
    };
    let ext =
        fx.b.create_load_balancer(&spec, fsg, &fx.tags(&key, "router-alb"))
            .await
            .ctx("create_load_balancer in a foreign group")?;
    let got = fx.b.observe_surroundings(&fx.rack).await;
    let check = got.ctx("observe_surroundings").and_then(|got| {
        let mut groups = std::collections::BTreeMap::new();
        groups.insert(lb.arn.clone(), vec![lb.sg_id.clone()]);
        groups.insert(ext.arn.clone(), vec![fsg.to_string()]);
        let mut ingress = group.ingress.clone();
        ingress.sort();
        let want = crate::resource::Surroundings {
            load_balancer_security_groups: groups,
            foreign_security_groups: vec![crate::resource::ForeignSecurityGroup {
                id: fsg.to_string(),
                name: group.name.clone(),
                ingress,
            }],
            foreign_rules: vec![crate::resource::ForeignRule {
                id: rarn.to_string(),
                listener_id: larn.to_string(),
                priority: Some(30),
                hosts: vec!["other.example.org".into()],
            }],
        };
        if got == want {
            Ok(Outcome::Passed)
        } else {
            Err(format!(
                "observe_surroundings:\n got {got:?}\nwant {want:?}"
            ))
        }
    });
    fx.b.delete_load_balancer(&ext.arn)
        .await
        .ctx("delete the load balancer in a foreign group")?;
    fx.b.delete_security_group(fsg)
        .await
        .ctx("delete foreign security group")?;
    check
}

// Day-2 safety (in place).
async fn load_balancer_network_in_place(fx: &Fx<'_>) -> R<Outcome> {
    let lb = fx.lb(Router::Internal).await?;
    let (other_key, other_id, _) = fx.sg(Router::External).await?;
    let observed_lb = |obs: Vec<Observed>| -> R<(Observed, LoadBalancerSpec)> {
        let o = find(&obs, &lb.key)?.clone();
        match &o.resource.spec {
            ResourceSpec::LoadBalancer(spec) => {
                let spec = spec.clone();
                Ok((o, spec))
            }
            other => Err(format!("{}: not a load balancer: {other:?}", lb.key)),
        }
    };

    // The same subnets in another order: the same set.
    let mut reversed = fx.ctx.subnets.clone();
    reversed.reverse();
    fx.b.set_load_balancer_subnets(&lb.arn, &reversed)
        .await
        .ctx("set_load_balancer_subnets")?;
    let (o, spec) = observed_lb(fx.observe(&Scope::Rack).await?)?;
    ensure(
        o.id == lb.arn && o.address.as_ref() == Some(&lb.address),
        || {
            format!(
                "SetSubnets changed the load balancer: {o:?}, was {}",
                lb.arn
            )
        },
    )?;
    ensure(spec.subnets == normal_subnets(&fx.ctx.subnets), || {
        format!("subnets observed as {:?}", spec.subnets)
    })?;

    // A second group: observed beside the router's own, then removed.
    fx.b.set_load_balancer_security_groups(&lb.arn, &[other_id.clone(), lb.sg_id.clone()])
        .await
        .ctx("set_load_balancer_security_groups with two")?;
    let (o, spec) = observed_lb(fx.observe(&Scope::Rack).await?)?;
    ensure(
        o.id == lb.arn
            && spec.security_group == lb.sg_key
            && spec.other_security_groups == [other_key.clone()],
        || format!("two groups observed as {spec:?} on {}", o.id),
    )?;
    fx.b.set_load_balancer_security_groups(&lb.arn, std::slice::from_ref(&lb.sg_id))
        .await
        .ctx("set_load_balancer_security_groups with one")?;
    let (o, spec) = observed_lb(fx.observe(&Scope::Rack).await?)?;
    ensure(
        o.id == lb.arn && spec.security_group == lb.sg_key && spec.other_security_groups.is_empty(),
        || format!("one group observed as {spec:?} on {}", o.id),
    )?;
    expect_kind(
        fx.b.set_load_balancer_security_groups(&lb.arn, &[]).await,
        ErrorKind::InvalidInput,
        "no security group at all",
    )?;
    Ok(Outcome::Passed)
}

/// Runs every case in order and returns each result by name.
pub async fn run_all(
    backend: &dyn Backend,
    ctx: &ConformanceContext,
) -> Vec<(&'static str, CaseResult)> {
    let mut out = Vec::new();
    for (name, case) in cases() {
        out.push((name, case(backend, ctx).await));
    }
    out
}

fn skip(reason: &str) -> R<Outcome> {
    Ok(Outcome::Skipped(reason.to_string()))
}

async fn security_group_round_trip(fx: &Fx<'_>) -> R<Outcome> {
    let (key, id, spec) = fx.sg(Router::Internal).await?;
    let obs = fx.observe(&Scope::Rack).await?;
    check_observed(
        &obs,
        &key,
        &id,
        &ResourceSpec::SecurityGroup(spec),
        &fx.tags(&key, "router-sg"),
    )?;
    Ok(Outcome::Passed)
}

async fn security_group_update(fx: &Fx<'_>) -> R<Outcome> {
    let (key, id, mut spec) = fx.sg(Router::Internal).await?;
    // Keeps 443, drops 80, adds 8443 from another CIDR: add and revoke at once.
    spec.ingress = vec![
        IngressRule {
            protocol: "tcp".into(),
            port: 443,
            cidr: fx.ctx.vpc.cidr.clone(),
        },
        IngressRule {
            protocol: "tcp".into(),
            port: 8443,
            cidr: "192.168.0.0/24".into(),
        },
    ];
    spec.ingress.sort();
    fx.b.update_security_group(&id, &spec)
        .await
        .ctx("update_security_group")?;
    let obs = fx.observe(&Scope::Rack).await?;
    check_observed(
        &obs,
        &key,
        &id,
        &ResourceSpec::SecurityGroup(spec.clone()),
        &Tags::new(),
    )?;
    // Updating to the same rules again changes nothing and succeeds.
    fx.b.update_security_group(&id, &spec)
        .await
        .ctx("update_security_group again")?;
    Ok(Outcome::Passed)
}

async fn load_balancer_round_trip(fx: &Fx<'_>) -> R<Outcome> {
    for router in Router::ALL {
        let lb = fx.lb(router).await?;
        ensure(
            !lb.address.dns_name.is_empty() && !lb.address.hosted_zone_id.is_empty(),
            || {
                format!(
                    "{router} load balancer has an empty address: {:?}",
                    lb.address
                )
            },
        )?;
        let obs = fx.observe(&Scope::Rack).await?;
        check_observed(
            &obs,
            &lb.key,
            &lb.arn,
            &ResourceSpec::LoadBalancer(lb.spec.clone()),
            &fx.tags(&lb.key, "router-alb"),
        )?;
        let o = find(&obs, &lb.key)?;
        ensure(o.address.as_ref() == Some(&lb.address), || {
            format!(
                "{}: observed address {:?}, created {:?}",
                lb.key, o.address, lb.address
            )
        })?;
        find(&obs, &lb.sg_key)?;

        // A draining mark: set, read back with the ownership tags, removed
        // (twice: removing a tag it lacks succeeds).
        let mark = crate::resource::TAG_EMPTY_SINCE;
        fx.b.set_load_balancer_tag(&lb.arn, mark, Some("1700000000"))
            .await
            .ctx("set_load_balancer_tag")?;
        let mut marked = fx.tags(&lb.key, "router-alb");
        marked.insert(mark.to_string(), "1700000000".to_string());
        let o = find(&fx.observe(&Scope::Rack).await?, &lb.key)?.clone();
        ensure(o.resource.tags == marked, || {
            format!("{}: tags after marking: {:?}", lb.key, o.resource.tags)
        })?;
        for _ in 0..2 {
            fx.b.set_load_balancer_tag(&lb.arn, mark, None)
                .await
                .ctx("set_load_balancer_tag to remove")?;
        }
        check_observed(
            &fx.observe(&Scope::Rack).await?,
            &lb.key,
            &lb.arn,
            &ResourceSpec::LoadBalancer(lb.spec.clone()),
            &fx.tags(&lb.key, "router-alb"),
        )?;
        expect_kind(
            fx.b.set_load_balancer_tag(
                "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/none/0",
                mark,
                None,
            )
            .await,
            ErrorKind::NotFound,
            "set_load_balancer_tag on an unknown load balancer",
        )?;
    }
    Ok(Outcome::Passed)
}

async fn load_balancer_name_rules(fx: &Fx<'_>) -> R<Outcome> {
    let (sg_key, sg_id, _) = fx.sg(Router::External).await?;
    let spec = |name: String| LoadBalancerSpec {
        name,
        scheme: LbScheme::InternetFacing,
        subnets: fx.ctx.subnets.clone(),
        security_group: sg_key.clone(),
        other_security_groups: Vec::new(),
    };
    let key = ResourceKey::router_load_balancer(Router::External);
    let tags = fx.tags(&key, "router-alb");
    expect_kind(
        fx.b.create_load_balancer(&spec("a".repeat(33)), &sg_id, &tags)
            .await,
        ErrorKind::InvalidInput,
        "a 33-character load balancer name",
    )?;
    expect_kind(
        fx.b.create_load_balancer(&spec(format!("internal-{}", fx.rack)), &sg_id, &tags)
            .await,
        ErrorKind::InvalidInput,
        "a load balancer name starting with internal-",
    )?;
    let name = fx.lb_name(Router::External);
    let first =
        fx.b.create_load_balancer(&spec(name.clone()), &sg_id, &tags)
            .await
            .ctx("create_load_balancer")?;
    if fx.ctx.gaps.no_duplicate_load_balancer_error {
        return skip("backend does not refuse duplicate load balancer names");
    }
    let internal = LoadBalancerSpec {
        scheme: LbScheme::Internal,
        ..spec(name.clone())
    };
    expect_kind(
        fx.b.create_load_balancer(&internal, &sg_id, &Tags::new())
            .await,
        ErrorKind::AlreadyExists,
        "a second load balancer with the same name and another scheme",
    )?;
    // AWS's create is idempotent: the same settings again are the same one.
    let again =
        fx.b.create_load_balancer(&spec(name), &sg_id, &tags)
            .await
            .ctx("create_load_balancer again with the same settings")?;
    ensure(again == first, || {
        format!("an identical create made {again:?}, not the existing {first:?}")
    })?;
    Ok(Outcome::Passed)
}

async fn listeners_redirect_and_https(fx: &Fx<'_>) -> R<Outcome> {
    let lb = fx.lb(Router::Internal).await?;
    let cert_key = ResourceKey::router_certificate(Router::Internal);
    let (cert_arn, cert_spec) = fx.cert(&cert_key, &format!("*.{}", fx.zone_name())).await?;
    let http = fx.redirect_spec(&lb);
    let (k80, a80) = fx.listener(&lb, Router::Internal, &http, None).await?;
    let https = fx.https_spec(&lb, Some(&cert_key));
    let (k443, a443) = fx
        .listener(&lb, Router::Internal, &https, Some(&cert_arn))
        .await?;
    let obs = fx.observe(&Scope::Rack).await?;
    check_observed(
        &obs,
        &k80,
        &a80,
        &ResourceSpec::Listener(http),
        &fx.tags(&k80, "listener"),
    )?;
    check_observed(
        &obs,
        &k443,
        &a443,
        &ResourceSpec::Listener(https.clone()),
        &fx.tags(&k443, "listener"),
    )?;
    check_observed(
        &obs,
        &cert_key,
        &cert_arn,
        &ResourceSpec::Certificate(cert_spec),
        &fx.tags(&cert_key, "certificate"),
    )?;
    // The default action and certificate can change in place.
    let cert2_key = ResourceKey::from_raw("router/internal/cert2");
    let (cert2_arn, _) = fx
        .cert(&cert2_key, &format!("*.{}", fx.zone_name()))
        .await?;
    let https2 = ListenerSpec {
        default_action: DefaultAction::FixedResponse {
            status_code: 404,
            content_type: "text/plain".into(),
            body: "no such service".into(),
        },
        certificate: Some(cert2_key),
        ..https
    };
    fx.b.modify_listener(&a443, &https2, Some(&cert2_arn))
        .await
        .ctx("modify_listener")?;
    let obs = fx.observe(&Scope::Rack).await?;
    check_observed(
        &obs,
        &k443,
        &a443,
        &ResourceSpec::Listener(https2),
        &Tags::new(),
    )?;
    Ok(Outcome::Passed)
}

async fn https_needs_certificate(fx: &Fx<'_>) -> R<Outcome> {
    let lb = fx.lb(Router::Internal).await?;
    let key = ResourceKey::router_listener(Router::Internal, 443);
    expect_kind(
        fx.b.create_listener(
            &lb.arn,
            &fx.https_spec(&lb, None),
            None,
            &fx.tags(&key, "listener"),
        )
        .await,
        ErrorKind::InvalidInput,
        "an HTTPS listener without a certificate",
    )?;
    absent(&fx.observe(&Scope::Rack).await?, &key)?;
    Ok(Outcome::Passed)
}

async fn duplicate_listener_port(fx: &Fx<'_>) -> R<Outcome> {
    if fx.ctx.gaps.no_duplicate_listener_error {
        return skip("backend does not refuse a second listener on a port");
    }
    let lb = fx.lb(Router::Internal).await?;
    let spec = fx.redirect_spec(&lb);
    let (_, arn) = fx.listener(&lb, Router::Internal, &spec, None).await?;
    let other = ListenerSpec {
        default_action: DefaultAction::FixedResponse {
            status_code: 404,
            content_type: "text/plain".into(),
            body: "other".into(),
        },
        ..spec.clone()
    };
    expect_kind(
        fx.b.create_listener(&lb.arn, &other, None, &Tags::new())
            .await,
        ErrorKind::AlreadyExists,
        "a second listener on port 80 with another default action",
    )?;
    // AWS's create is idempotent: the same settings again are the same one.
    let again =
        fx.b.create_listener(
            &lb.arn,
            &spec,
            None,
            &fx.tags(
                &ResourceKey::router_listener(Router::Internal, 80),
                "listener",
            ),
        )
        .await
        .ctx("create_listener again with the same settings")?;
    ensure(again == arn, || {
        format!("an identical create made listener {again}, not the existing {arn}")
    })?;
    Ok(Outcome::Passed)
}

async fn listener_certificates(fx: &Fx<'_>) -> R<Outcome> {
    let (_lb, lkey, larn) = fx.https_router(Router::Internal).await?;
    let a = app("web");
    let cert_key = ResourceKey::app_certificate(&a);
    let (cert_arn, _) = fx
        .cert(&cert_key, &format!("*.{a}.{}", fx.zone_name()))
        .await?;
    let att = ResourceKey::app_listener_certificate(&a);
    for attempt in ["add", "add again"] {
        fx.b.add_listener_certificate(&larn, &cert_arn)
            .await
            .ctx(&format!("{attempt} listener certificate"))?;
    }
    let obs = fx.observe(&Scope::App(a.clone())).await?;
    let o = find(&obs, &att)?;
    let want = ResourceSpec::ListenerCertificate(ListenerCertificateSpec {
        listener: lkey.clone(),
        certificate: cert_key.clone(),
    });
    ensure(o.resource.spec == want, || {
        format!("{att}: read {:?}, want {want:?}", o.resource.spec)
    })?;
    let want_id = listener_certificate_id(&larn, &cert_arn);
    ensure(o.id == want_id, || {
        format!("{att}: observed id {:?}, want {want_id:?}", o.id)
    })?;
    for (k, v) in listener_certificate_tags(&fx.tags(&cert_key, "certificate"), &att) {
        ensure(o.resource.tags.get(&k) == Some(&v), || {
            format!("{att}: tag {k}={v} missing from {:?}", o.resource.tags)
        })?;
    }
    ensure(
        obs.iter().filter(|o| o.resource.key == att).count() == 1,
        || format!("{att} observed more than once after attaching twice"),
    )?;
    // The listener's default certificate is not an attachment.
    let rack_obs = fx.observe(&Scope::Rack).await?;
    absent(
        &rack_obs,
        &ResourceKey::listener_certificate(&ResourceKey::router_certificate(Router::Internal)),
    )?;
    for attempt in ["remove", "remove again"] {
        fx.b.remove_listener_certificate(&larn, &cert_arn)
            .await
            .ctx(&format!("{attempt} listener certificate"))?;
    }
    absent(&fx.observe(&Scope::App(a)).await?, &att)?;
    Ok(Outcome::Passed)
}

async fn target_group_round_trip(fx: &Fx<'_>) -> R<Outcome> {
    let (a, s) = (app("web"), app("api"));
    let key = ResourceKey::target_group(&a, &s, Router::Internal);
    let mut spec = fx.tg_spec(&a, &s, 3000);
    // The load balancer of the pool it was made for reads back too
    // (crate::pool: placement survives a rule's replacement).
    let mut tags = fx.tags(&key, "target-group");
    tags.insert(crate::resource::TAG_SHARD.to_string(), "2".to_string());
    let arn =
        fx.b.create_target_group(&spec, &tags)
            .await
            .ctx("create_target_group")?;
    let obs = fx.observe(&Scope::App(a.clone())).await?;
    check_observed(
        &obs,
        &key,
        &arn,
        &ResourceSpec::TargetGroup(spec.clone()),
        &tags,
    )?;
    spec.health = HealthCheck {
        path: "/health".into(),
        interval: 30,
        timeout: 10,
    };
    fx.b.modify_target_group(&arn, &spec)
        .await
        .ctx("modify_target_group")?;
    let obs = fx.observe(&Scope::App(a)).await?;
    check_observed(
        &obs,
        &key,
        &arn,
        &ResourceSpec::TargetGroup(spec),
        &Tags::new(),
    )?;
    Ok(Outcome::Passed)
}

async fn rule_round_trip(fx: &Fx<'_>) -> R<Outcome> {
    let (_lb, lkey, larn) = fx.https_router(Router::Internal).await?;
    let (a, s, s2) = (app("web"), app("api"), app("api2"));
    let (tkey, tarn, _) = fx.tg(&a, &s, Router::Internal).await?;
    let (t2key, t2arn, _) = fx.tg(&a, &s2, Router::Internal).await?;
    let (rkey, rarn, mut spec) = fx
        .rule((&lkey, &larn), &a, &s, Router::Internal, 10, (&tkey, &tarn))
        .await?;
    let scope = Scope::App(a.clone());
    check_observed(
        &fx.observe(&scope).await?,
        &rkey,
        &rarn,
        &ResourceSpec::ListenerRule(spec.clone()),
        &fx.tags(&rkey, "rule"),
    )?;
    // Out of order: observed as `normal_hosts` gives them.
    spec.hosts = vec![
        format!("{s}.{a}.{}", fx.zone_name()),
        format!("alias.{a}.{}", fx.zone_name()),
    ];
    spec.target_group = t2key;
    fx.b.modify_rule(&rarn, &spec, &t2arn)
        .await
        .ctx("modify_rule")?;
    spec.hosts = normal_hosts(&spec.hosts);
    check_observed(
        &fx.observe(&scope).await?,
        &rkey,
        &rarn,
        &ResourceSpec::ListenerRule(spec.clone()),
        &Tags::new(),
    )?;
    fx.b.set_rule_priority(&rarn, 20)
        .await
        .ctx("set_rule_priority")?;
    spec.priority = Some(20);
    check_observed(
        &fx.observe(&scope).await?,
        &rkey,
        &rarn,
        &ResourceSpec::ListenerRule(spec),
        &Tags::new(),
    )?;
    Ok(Outcome::Passed)
}

async fn rule_priority_conflict(fx: &Fx<'_>) -> R<Outcome> {
    let (_lb, lkey, larn) = fx.https_router(Router::Internal).await?;
    let (a, s, s2) = (app("web"), app("api"), app("api2"));
    let (tkey, tarn, _) = fx.tg(&a, &s, Router::Internal).await?;
    fx.rule((&lkey, &larn), &a, &s, Router::Internal, 10, (&tkey, &tarn))
        .await?;
    let (r2key, r2arn, _) = fx
        .rule(
            (&lkey, &larn),
            &a,
            &s2,
            Router::Internal,
            11,
            (&tkey, &tarn),
        )
        .await?;
    let taken = ListenerRuleSpec {
        listener: lkey.clone(),
        priority: Some(10),
        hosts: vec![format!("other.{a}.{}", fx.zone_name())],
        target_group: tkey.clone(),
    };
    expect_kind(
        fx.b.create_rule(&larn, &taken, &tarn, &Tags::new()).await,
        ErrorKind::Conflict,
        "a rule with a taken priority",
    )?;
    expect_kind(
        fx.b.set_rule_priority(&r2arn, 10).await,
        ErrorKind::Conflict,
        "moving a rule to a taken priority",
    )?;
    for bad in [0, 50_001] {
        let spec = ListenerRuleSpec {
            priority: Some(bad),
            ..taken.clone()
        };
        expect_kind(
            fx.b.create_rule(&larn, &spec, &tarn, &Tags::new()).await,
            ErrorKind::InvalidInput,
            &format!("a rule with priority {bad}"),
        )?;
    }
    let obs = fx.observe(&Scope::App(a)).await?;
    let o = find(&obs, &r2key)?;
    ensure(
        matches!(&o.resource.spec, ResourceSpec::ListenerRule(r) if r.priority == Some(11)),
        || {
            format!(
                "{r2key}: priority changed by a refused call: {:?}",
                o.resource.spec
            )
        },
    )?;
    ensure(
        obs.iter()
            .filter(|o| o.resource.spec.kind() == crate::resource::ResourceKind::ListenerRule)
            .count()
            == 2,
        || "a refused rule was created".to_string(),
    )?;
    Ok(Outcome::Passed)
}

async fn rule_quota(fx: &Fx<'_>) -> R<Outcome> {
    if fx.ctx.gaps.no_rule_quota {
        return skip("backend does not enforce the rules-per-load-balancer quota");
    }
    let (_lb, lkey, larn) = fx.https_router(Router::Internal).await?;
    let (a, s) = (app("web"), app("api"));
    let (tkey, tarn, _) = fx.tg(&a, &s, Router::Internal).await?;
    let spec = |p: u32| ListenerRuleSpec {
        listener: lkey.clone(),
        priority: Some(p),
        hosts: vec![format!("h{p}.{a}.{}", fx.zone_name())],
        target_group: tkey.clone(),
    };
    for p in 1..=100 {
        let key = ResourceKey::from_raw(format!("app/{a}/s{p}/internal/rule"));
        fx.b.create_rule(&larn, &spec(p), &tarn, &fx.tags(&key, "rule"))
            .await
            .ctx(&format!("rule {p} of 100"))?;
    }
    expect_kind(
        fx.b.create_rule(&larn, &spec(101), &tarn, &Tags::new())
            .await,
        ErrorKind::QuotaExceeded,
        "the 101st rule on a load balancer",
    )?;
    Ok(Outcome::Passed)
}

async fn delete_in_use(fx: &Fx<'_>) -> R<Outcome> {
    let gaps = fx.ctx.gaps;
    if gaps.no_target_group_in_use_error
        && gaps.no_certificate_in_use_error
        && gaps.no_security_group_in_use_error
    {
        return skip("backend does not refuse deleting resources in use");
    }
    // A gap skips that check alone: the delete would succeed and take the
    // resource with it.
    let mut unchecked = Vec::new();
    let (lb, lkey, larn) = fx.https_router(Router::Internal).await?;
    let (a, s) = (app("web"), app("api"));
    let (tkey, tarn, _) = fx.tg(&a, &s, Router::Internal).await?;
    fx.rule((&lkey, &larn), &a, &s, Router::Internal, 1, (&tkey, &tarn))
        .await?;
    let cert_key = ResourceKey::app_certificate(&a);
    let (cert_arn, _) = fx
        .cert(&cert_key, &format!("*.{a}.{}", fx.zone_name()))
        .await?;
    fx.b.add_listener_certificate(&larn, &cert_arn)
        .await
        .ctx("add_listener_certificate")?;
    if gaps.no_target_group_in_use_error {
        unchecked.push("target groups");
    } else {
        expect_kind(
            fx.b.delete_target_group(&tarn).await,
            ErrorKind::Conflict,
            "deleting a target group a rule forwards to",
        )?;
    }
    if gaps.no_certificate_in_use_error {
        unchecked.push("certificates");
    } else {
        expect_kind(
            fx.b.delete_certificate(&cert_arn).await,
            ErrorKind::Conflict,
            "deleting a certificate attached to a listener",
        )?;
    }
    if gaps.no_security_group_in_use_error {
        unchecked.push("security groups");
    } else {
        expect_kind(
            fx.b.delete_security_group(&lb.sg_id).await,
            ErrorKind::Conflict,
            "deleting a security group a load balancer uses",
        )?;
    }
    let obs = fx.observe_all().await?;
    for key in [&tkey, &cert_key, &lb.sg_key] {
        find(&obs, key)?;
    }
    if unchecked.is_empty() {
        Ok(Outcome::Passed)
    } else {
        skip(&format!(
            "backend does not refuse deleting {} in use (the rest was checked)",
            unchecked.join(" or ")
        ))
    }
}

async fn lb_delete_cascades(fx: &Fx<'_>) -> R<Outcome> {
    let (lb, lkey, larn) = fx.https_router(Router::Internal).await?;
    let (k80, _) = fx
        .listener(&lb, Router::Internal, &fx.redirect_spec(&lb), None)
        .await?;
    let (a, s) = (app("web"), app("api"));
    let (tkey, tarn, _) = fx.tg(&a, &s, Router::Internal).await?;
    let (rkey, _, _) = fx
        .rule((&lkey, &larn), &a, &s, Router::Internal, 1, (&tkey, &tarn))
        .await?;
    fx.b.delete_load_balancer(&lb.arn)
        .await
        .ctx("delete_load_balancer")?;
    let obs = fx.observe_all().await?;
    for key in [&lb.key, &lkey, &k80, &rkey] {
        absent(&obs, key)?;
    }
    // With its rule gone, the target group is free to go.
    fx.b.delete_target_group(&tarn)
        .await
        .ctx("delete_target_group after its load balancer")?;
    fx.b.delete_security_group(&lb.sg_id)
        .await
        .ctx("delete_security_group after its load balancer")?;
    Ok(Outcome::Passed)
}

async fn hosted_zone_round_trip(fx: &Fx<'_>) -> R<Outcome> {
    // A zone with the rack's tags under another name is not the rack's zone:
    // backends find the rack's by its name, `{rack}.convox`.
    let elsewhere = HostedZoneSpec {
        name: format!("{}-elsewhere.convox", fx.rack),
        ..fx.zone_spec()
    };
    let zkey = ResourceKey::zone();
    let other =
        fx.b.create_hosted_zone(&elsewhere, &fx.tags(&zkey, "zone"))
            .await
            .ctx("create_hosted_zone under another name")?;
    let seen = fx.observe(&Scope::Rack).await;
    fx.b.delete_hosted_zone(&other)
        .await
        .ctx("delete_hosted_zone under another name")?;
    absent(&seen?, &zkey)?;

    let (zkey, zid) = fx.zone().await?;
    let obs = fx.observe(&Scope::Rack).await?;
    check_observed(
        &obs,
        &zkey,
        &zid,
        &ResourceSpec::HostedZone(fx.zone_spec()),
        &fx.tags(&zkey, "zone"),
    )?;
    let lb = fx.lb(Router::Internal).await?;
    let (_, create) = fx.record_change(RecordAction::Create, &app("web"), &app("api"), &lb.address);
    fx.b.change_records(&zid, std::slice::from_ref(&create))
        .await
        .ctx("change_records CREATE")?;
    expect_kind(
        fx.b.delete_hosted_zone(&zid).await,
        ErrorKind::Conflict,
        "deleting a zone that holds records",
    )?;
    let delete = RecordChange {
        action: RecordAction::Delete,
        ..create
    };
    fx.b.change_records(&zid, &[delete])
        .await
        .ctx("change_records DELETE")?;
    fx.b.delete_hosted_zone(&zid)
        .await
        .ctx("delete_hosted_zone once empty")?;
    absent(&fx.observe(&Scope::Rack).await?, &zkey)?;
    Ok(Outcome::Passed)
}

async fn records_lifecycle(fx: &Fx<'_>) -> R<Outcome> {
    let (zkey, zid) = fx.zone().await?;
    let int = fx.lb(Router::Internal).await?;
    let ext = fx.lb(Router::External).await?;
    let (a, s) = (app("web"), app("api"));
    let scope = Scope::App(a.clone());
    let (rkey, create) = fx.record_change(RecordAction::Create, &a, &s, &int.address);
    fx.b.change_records(&zid, std::slice::from_ref(&create))
        .await
        .ctx("change_records CREATE")?;
    let want = |lb: &Lb| {
        ResourceSpec::Record(RecordSpec {
            zone: zkey.clone(),
            name: create.name.clone(),
            load_balancer: lb.key.clone(),
        })
    };
    let owner_tags = record_tags(fx.rack.as_str(), &rkey);
    let obs = fx.observe(&scope).await?;
    check_observed(&obs, &rkey, &create.name, &want(&int), &owner_tags)?;
    check_record_address(&obs, &rkey, &int.address)?;
    let (_, upsert) = fx.record_change(RecordAction::Upsert, &a, &s, &ext.address);
    fx.b.change_records(&zid, std::slice::from_ref(&upsert))
        .await
        .ctx("change_records UPSERT")?;
    let obs = fx.observe(&scope).await?;
    check_observed(&obs, &rkey, &create.name, &want(&ext), &owner_tags)?;
    check_record_address(&obs, &rkey, &ext.address)?;
    // A record is an app resource: the rack scope does not show it.
    absent(&fx.observe(&Scope::Rack).await?, &rkey)?;
    let delete = RecordChange {
        action: RecordAction::Delete,
        ..upsert
    };
    fx.b.change_records(&zid, &[delete])
        .await
        .ctx("change_records DELETE")?;
    absent(&fx.observe(&scope).await?, &rkey)?;
    Ok(Outcome::Passed)
}

/// Checks that a record's observed address is the alias target it was given, as
/// DNS compares names (case aside, a trailing dot aside).
fn check_record_address(
    observed: &[Observed],
    key: &ResourceKey,
    target: &LoadBalancerAddress,
) -> R<()> {
    let o = find(observed, key)?;
    let norm = |d: &str| d.trim_end_matches('.').to_ascii_lowercase();
    let same = o.address.as_ref().is_some_and(|a| {
        norm(&a.dns_name) == norm(&target.dns_name) && a.hosted_zone_id == target.hosted_zone_id
    });
    ensure(same, || {
        format!(
            "{key}: observed address {:?}, alias target {target:?}",
            o.address
        )
    })
}

async fn record_delete_missing(fx: &Fx<'_>) -> R<Outcome> {
    if fx.ctx.gaps.missing_record_delete_not_conflict {
        return skip("backend refuses a DELETE of a missing record, but not as a conflict");
    }
    let (_, zid) = fx.zone().await?;
    let lb = fx.lb(Router::Internal).await?;
    let (_, delete) = fx.record_change(RecordAction::Delete, &app("web"), &app("api"), &lb.address);
    expect_kind(
        fx.b.change_records(&zid, &[delete]).await,
        ErrorKind::Conflict,
        "deleting a record that does not exist",
    )?;
    Ok(Outcome::Passed)
}

async fn record_create_existing(fx: &Fx<'_>) -> R<Outcome> {
    if fx.ctx.gaps.no_duplicate_record_error {
        return skip("backend does not refuse CREATE of an existing record");
    }
    let (_, zid) = fx.zone().await?;
    let lb = fx.lb(Router::Internal).await?;
    let (_, create) = fx.record_change(RecordAction::Create, &app("web"), &app("api"), &lb.address);
    fx.b.change_records(&zid, std::slice::from_ref(&create))
        .await
        .ctx("change_records CREATE")?;
    expect_kind(
        fx.b.change_records(&zid, &[create]).await,
        ErrorKind::Conflict,
        "creating a record that exists",
    )?;
    Ok(Outcome::Passed)
}

async fn record_outside_zone(fx: &Fx<'_>) -> R<Outcome> {
    let (_, zid) = fx.zone().await?;
    let lb = fx.lb(Router::Internal).await?;
    let (_, mut create) =
        fx.record_change(RecordAction::Create, &app("web"), &app("api"), &lb.address);
    create.name = format!("api.web.{}-elsewhere.convox", fx.rack);
    expect_kind(
        fx.b.change_records(&zid, &[create]).await,
        ErrorKind::InvalidInput,
        "a record outside the zone",
    )?;
    Ok(Outcome::Passed)
}

async fn record_batch_atomic(fx: &Fx<'_>) -> R<Outcome> {
    if fx.ctx.gaps.non_atomic_record_batches {
        return skip("backend applies Route53 batches change by change");
    }
    if fx.ctx.gaps.no_duplicate_record_error {
        return skip("backend does not refuse CREATE of an existing record");
    }
    let (_, zid) = fx.zone().await?;
    let lb = fx.lb(Router::Internal).await?;
    let a = app("web");
    let (taken_key, taken) = fx.record_change(RecordAction::Create, &a, &app("db"), &lb.address);
    fx.b.change_records(&zid, std::slice::from_ref(&taken))
        .await
        .ctx("change_records CREATE")?;
    // A new record, then a CREATE of the existing one, which fails the batch.
    let (ok_key, ok) = fx.record_change(RecordAction::Create, &a, &app("api"), &lb.address);
    expect_kind(
        fx.b.change_records(&zid, &[ok, taken]).await,
        ErrorKind::Conflict,
        "a batch whose second change fails",
    )?;
    let obs = fx.observe(&Scope::App(a)).await?;
    absent(&obs, &ok_key)?;
    find(&obs, &taken_key)?;
    Ok(Outcome::Passed)
}

async fn record_batch_limit(fx: &Fx<'_>) -> R<Outcome> {
    let (_, zid) = fx.zone().await?;
    let lb = fx.lb(Router::Internal).await?;
    let a = app("web");
    let batch = |action, n: usize| -> Vec<RecordChange> {
        (0..n)
            .map(|i| {
                fx.record_change(action, &a, &app(&format!("s{i}")), &lb.address)
                    .1
            })
            .collect()
    };
    // 501 creates are 1002 records (A and TXT each); 251 upserts count 1004.
    expect_kind(
        fx.b.change_records(&zid, &batch(RecordAction::Create, 501))
            .await,
        ErrorKind::InvalidInput,
        "501 record changes in one batch",
    )?;
    expect_kind(
        fx.b.change_records(&zid, &batch(RecordAction::Upsert, 251))
            .await,
        ErrorKind::InvalidInput,
        "251 upserts in one batch",
    )?;
    ensure(fx.observe(&Scope::App(a)).await?.is_empty(), || {
        "a refused batch created records".into()
    })?;
    Ok(Outcome::Passed)
}

/// What `foreign_never_observed` made, by id: its cleanup cannot observe them.
struct ForeignSet {
    sg: String,
    lb: String,
    cert: String,
    tg: String,
    rule: String,
    record: RecordChange,
}

async fn foreign_never_observed(fx: &Fx<'_>) -> R<Outcome> {
    let other = Name::new(format!("{}x", fx.rack)).map_err(|e| e.to_string())?;
    let a = app("web");
    // The rack's own zone, so that foreign records have somewhere to be.
    let (_, zid) = fx.zone().await?;
    let mut made = Vec::new();
    let untagged = Tags::new();
    // Another rack's tags, with a key this rack also uses.
    let other_tags = ownership_tags(
        &other,
        Some(&a),
        None,
        "router-sg",
        &ResourceKey::router_security_group(Router::Internal),
    );
    for (suffix, tags) in [("u", &untagged), ("o", &other_tags)] {
        let result = make_foreign(fx, &zid, suffix, tags, &other, &a).await;
        match result {
            Ok(set) => made.push(set),
            Err(e) => {
                let _ = delete_foreign(fx, &zid, &made).await;
                return Err(e);
            }
        }
    }
    let mut check = Ok(());
    for scope in [Scope::Rack, Scope::Apps, Scope::App(a.clone()), Scope::All] {
        let obs = fx.observe(&scope).await?;
        // Only the rack's own zone may show.
        if let Some(o) = obs.iter().find(|o| o.resource.key != ResourceKey::zone()) {
            check = Err(format!(
                "observe {scope:?} returned a resource the rack does not own: {o:?}"
            ));
            break;
        }
    }
    delete_foreign(fx, &zid, &made).await?;
    check.map(|()| Outcome::Passed)
}

async fn make_foreign(
    fx: &Fx<'_>,
    zid: &str,
    suffix: &str,
    tags: &Tags,
    other: &Name,
    a: &Name,
) -> R<ForeignSet> {
    let mut sg = fx.sg_spec(Router::Internal);
    sg.name = format!("{}-{suffix}", sg.name);
    let sg_id =
        fx.b.create_security_group(&sg, tags)
            .await
            .ctx("foreign create_security_group")?;
    let unused = ResourceKey::from_raw("unused");
    let lb_spec = LoadBalancerSpec {
        name: format!("{}-{suffix}", fx.lb_name(Router::Internal)),
        scheme: LbScheme::Internal,
        subnets: fx.ctx.subnets.clone(),
        security_group: unused.clone(),
        other_security_groups: Vec::new(),
    };
    let lb =
        fx.b.create_load_balancer(&lb_spec, &sg_id, tags)
            .await
            .ctx("foreign create_load_balancer")?;
    let cert = CertificateSpec {
        domain: format!("*.{}", fx.zone_name()),
        issuer: "someone-else".into(),
        names: Vec::new(),
    };
    let pem = (fx.ctx.certificates)(&cert.domain);
    let cert_arn =
        fx.b.import_certificate(&cert, &pem, tags)
            .await
            .ctx("foreign import_certificate")?;
    let l_spec = ListenerSpec {
        load_balancer: unused.clone(),
        port: 443,
        protocol: Protocol::Https,
        default_action: DefaultAction::FixedResponse {
            status_code: 404,
            content_type: "text/plain".into(),
            body: "not ours".into(),
        },
        certificate: Some(unused.clone()),
    };
    let larn =
        fx.b.create_listener(&lb.arn, &l_spec, Some(&cert_arn), tags)
            .await
            .ctx("foreign create_listener")?;
    fx.b.add_listener_certificate(&larn, &cert_arn)
        .await
        .ctx("foreign add_listener_certificate")?;
    let mut tg = fx.tg_spec(a, &app("api"), 3000);
    tg.name = format!("{}-{suffix}", tg.name);
    let tarn =
        fx.b.create_target_group(&tg, tags)
            .await
            .ctx("foreign create_target_group")?;
    let rule = ListenerRuleSpec {
        listener: unused.clone(),
        priority: Some(5),
        hosts: vec![format!("foreign.{}", fx.zone_name())],
        target_group: unused,
    };
    let rarn =
        fx.b.create_rule(&larn, &rule, &tarn, tags)
            .await
            .ctx("foreign create_rule")?;
    // A record whose TXT is not an ownership value, and one owned by another rack.
    let owner = if tags.is_empty() {
        "v=spf1 -all".to_string()
    } else {
        record_owner_value(other, &ResourceKey::record(a, &app("api")))
    };
    let record = RecordChange {
        action: RecordAction::Create,
        name: format!("{suffix}.{a}.{}", fx.zone_name()),
        target: lb.address.clone(),
        owner,
    };
    fx.b.change_records(zid, std::slice::from_ref(&record))
        .await
        .ctx("foreign change_records")?;
    Ok(ForeignSet {
        sg: sg_id,
        lb: lb.arn,
        cert: cert_arn,
        tg: tarn,
        rule: rarn,
        record,
    })
}

async fn delete_foreign(fx: &Fx<'_>, zid: &str, made: &[ForeignSet]) -> R<()> {
    for set in made {
        let delete = RecordChange {
            action: RecordAction::Delete,
            ..set.record.clone()
        };
        fx.b.change_records(zid, &[delete])
            .await
            .ctx("delete foreign record")?;
        fx.b.delete_rule(&set.rule)
            .await
            .ctx("delete foreign rule")?;
        fx.b.delete_load_balancer(&set.lb)
            .await
            .ctx("delete foreign load balancer")?;
        fx.b.delete_target_group(&set.tg)
            .await
            .ctx("delete foreign target group")?;
        fx.b.delete_certificate(&set.cert)
            .await
            .ctx("delete foreign certificate")?;
        fx.b.delete_security_group(&set.sg)
            .await
            .ctx("delete foreign security group")?;
    }
    Ok(())
}

async fn observe_scopes(fx: &Fx<'_>) -> R<Outcome> {
    let (sg_key, _, _) = fx.sg(Router::Internal).await?;
    let (a, b, s) = (app("web"), app("shop"), app("api"));
    let (ta, _, _) = fx.tg(&a, &s, Router::Internal).await?;
    let (tb, _, _) = fx.tg(&b, &s, Router::Internal).await?;
    let keys = |obs: Vec<Observed>| -> Vec<ResourceKey> {
        let mut k: Vec<ResourceKey> = obs.into_iter().map(|o| o.resource.key).collect();
        k.sort();
        k
    };
    let cases = [
        (Scope::Rack, vec![sg_key.clone()]),
        (Scope::App(a.clone()), vec![ta.clone()]),
        (Scope::App(b.clone()), vec![tb.clone()]),
        (Scope::Apps, {
            let mut v = vec![ta.clone(), tb.clone()];
            v.sort();
            v
        }),
        (Scope::All, {
            let mut v = vec![sg_key.clone(), ta.clone(), tb];
            v.sort();
            v
        }),
        (Scope::App(app("none")), vec![]),
        (Scope::Deploy(a.clone()), {
            let mut v = vec![sg_key.clone(), ta.clone()];
            v.sort();
            v
        }),
    ];
    for (scope, want) in cases {
        let got = keys(fx.observe(&scope).await?);
        ensure(got == want, || {
            format!("observe {scope:?}: got {got:?}, want {want:?}")
        })?;
    }
    Ok(Outcome::Passed)
}

async fn rack_round_trip(fx: &Fx<'_>) -> R<Outcome> {
    let got =
        fx.b.load_rack(&fx.rack)
            .await
            .ctx("load_rack before any save")?;
    ensure(got.is_none(), || {
        format!("load_rack before any save returned {got:?}")
    })?;
    let mut rack = Rack {
        name: fx.rack.clone(),
        region: fx.ctx.region.clone(),
        vpc: fx.ctx.vpc.clone(),
        subnets: fx.ctx.subnets.clone(),
        router_host: format!("{}.example.com", fx.rack),
        params: RackParams::default(),
        ca: None,
        external_certificate: None,
    };
    expect_kind(
        fx.b.save_rack("Z0000000000NOSUCHZONE", &rack).await,
        ErrorKind::NotFound,
        "save_rack on a zone that does not exist",
    )?;
    let (_, zid) = fx.zone().await?;
    fx.b.save_rack(&zid, &rack).await.ctx("save_rack")?;
    let got = fx.b.load_rack(&fx.rack).await.ctx("load_rack")?;
    ensure(got.as_ref() == Some(&rack), || {
        format!("load_rack: got {got:?}, saved {rack:?}")
    })?;
    rack.params = RackParams::new(true, true).map_err(|e| e.to_string())?;
    fx.b.save_rack(&zid, &rack)
        .await
        .ctx("save_rack with new params")?;
    let got =
        fx.b.load_rack(&fx.rack)
            .await
            .ctx("load_rack after update")?;
    ensure(got.as_ref() == Some(&rack), || {
        format!("load_rack after update: got {got:?}, saved {rack:?}")
    })?;
    // The rack's certificate authority: recorded, a rotation in progress, and
    // the rotation finished (rotating_to cleared).
    let mut ca = crate::rack::RackCa::new("ab".repeat(32), 1_750_000_000, "/home/me/ca.pem");
    for step in ["recorded", "rotating", "rotated"] {
        match step {
            "rotating" => ca.rotating_to = Some("cd".repeat(32)),
            "rotated" => ca = crate::rack::RackCa::new("cd".repeat(32), 1_760_000_000, "ca2.pem"),
            _ => {}
        }
        rack.ca = Some(ca.clone());
        fx.b.save_rack(&zid, &rack)
            .await
            .ctx("save_rack with its certificate authority")?;
        let got = fx.b.load_rack(&fx.rack).await.ctx("load_rack")?;
        ensure(got.as_ref() == Some(&rack), || {
            format!("load_rack, CA {step}: got {got:?}, saved {rack:?}")
        })?;
    }
    // Public certificates: the user's external certificate is kept, and cleared.
    for arn in [
        Some(format!("arn:aws:acm:{}:1:certificate/user", fx.ctx.region)),
        None,
    ] {
        rack.external_certificate = arn;
        fx.b.save_rack(&zid, &rack)
            .await
            .ctx("save_rack with an external certificate")?;
        let got = fx.b.load_rack(&fx.rack).await.ctx("load_rack")?;
        ensure(got.as_ref() == Some(&rack), || {
            format!("load_rack after setting the external certificate: got {got:?}, saved {rack:?}")
        })?;
    }
    Ok(Outcome::Passed)
}

async fn deletes_then_empty(fx: &Fx<'_>) -> R<Outcome> {
    let (_, zid) = fx.zone().await?;
    let (lb, lkey, larn) = fx.https_router(Router::Internal).await?;
    let (_, a80) = fx
        .listener(&lb, Router::Internal, &fx.redirect_spec(&lb), None)
        .await?;
    let (a, s) = (app("web"), app("api"));
    let cert_key = ResourceKey::app_certificate(&a);
    let (cert_arn, _) = fx
        .cert(&cert_key, &format!("*.{a}.{}", fx.zone_name()))
        .await?;
    fx.b.add_listener_certificate(&larn, &cert_arn)
        .await
        .ctx("add_listener_certificate")?;
    let (tkey, tarn, _) = fx.tg(&a, &s, Router::Internal).await?;
    let (_, rarn, _) = fx
        .rule((&lkey, &larn), &a, &s, Router::Internal, 1, (&tkey, &tarn))
        .await?;
    let (_, create) = fx.record_change(RecordAction::Create, &a, &s, &lb.address);
    fx.b.change_records(&zid, std::slice::from_ref(&create))
        .await
        .ctx("change_records CREATE")?;
    let all = fx.observe_all().await?;
    // zone, security group, load balancer, two listeners, router and app
    // certificates, the attachment, target group, rule, record.
    ensure(all.len() == 11, || {
        let keys: Vec<&str> = all.iter().map(|o| o.resource.key.as_str()).collect();
        format!("expected 11 resources, observed {}: {keys:?}", keys.len())
    })?;
    // Reverse dependency order, one verb each, as the apply engine deletes.
    let delete = RecordChange {
        action: RecordAction::Delete,
        ..create
    };
    fx.b.change_records(&zid, &[delete])
        .await
        .ctx("delete record")?;
    fx.b.delete_rule(&rarn).await.ctx("delete_rule")?;
    fx.b.remove_listener_certificate(&larn, &cert_arn)
        .await
        .ctx("remove_listener_certificate")?;
    fx.b.delete_target_group(&tarn)
        .await
        .ctx("delete_target_group")?;
    fx.b.delete_certificate(&cert_arn)
        .await
        .ctx("delete app certificate")?;
    fx.b.delete_listener(&a80).await.ctx("delete_listener 80")?;
    fx.b.delete_listener(&larn)
        .await
        .ctx("delete_listener 443")?;
    let obs = fx.observe(&Scope::Rack).await?;
    let router_cert = find(&obs, &ResourceKey::router_certificate(Router::Internal))?
        .id
        .clone();
    fx.b.delete_load_balancer(&lb.arn)
        .await
        .ctx("delete_load_balancer")?;
    fx.b.delete_certificate(&router_cert)
        .await
        .ctx("delete router certificate")?;
    fx.b.delete_security_group(&lb.sg_id)
        .await
        .ctx("delete_security_group")?;
    fx.b.delete_hosted_zone(&zid)
        .await
        .ctx("delete_hosted_zone")?;
    for scope in [Scope::Rack, Scope::Apps] {
        let obs = fx.observe(&scope).await?;
        ensure(obs.is_empty(), || {
            format!("observe {scope:?} after deleting everything: {obs:?}")
        })?;
    }
    Ok(Outcome::Passed)
}

// Certificate renewal in place (issue 12).

/// A renewed certificate for `domain`: issued by a fresh authority a minute
/// after `first` was (read from its validity), so that its own validity is
/// known and differs; at a fixed time when `first` cannot be read (a backend
/// that does not parse PEM).
fn renewed_certificate(domain: &str, first: &CertificatePem) -> R<(CertificatePem, i64)> {
    const LEAF: i64 = 397 * crate::renew::DAY;
    let issued_at =
        crate::renew::not_after(&first.certificate).map_or(1_750_000_000, |t| t - LEAF + 60);
    let rack = Name::new("renewal").map_err(|e| e.to_string())?;
    let ca = crate::tls::CertificateAuthority::generate(&rack, issued_at - 3600)
        .map_err(|e| e.to_string())?;
    let pem = ca.issue(domain, issued_at).map_err(|e| e.to_string())?;
    let not_after = crate::renew::not_after(&pem.certificate)
        .ok_or_else(|| "the renewed certificate has no readable validity".to_string())?;
    Ok((pem, not_after))
}

async fn certificate_reimport(fx: &Fx<'_>) -> R<Outcome> {
    let (_lb, _lkey, larn) = fx.https_router(Router::Internal).await?;
    let a = app("web");
    let cert_key = ResourceKey::app_certificate(&a);
    let domain = format!("*.{a}.{}", fx.zone_name());
    let spec = CertificateSpec {
        domain: domain.clone(),
        issuer: "conformance-ca".into(),
        names: Vec::new(),
    };
    let first = (fx.ctx.certificates)(&domain);
    let arn =
        fx.b.import_certificate(&spec, &first, &fx.tags(&cert_key, "certificate"))
            .await
            .ctx("import_certificate")?;
    fx.b.add_listener_certificate(&larn, &arn)
        .await
        .ctx("add_listener_certificate")?;
    let (renewed, not_after) = renewed_certificate(&domain, &first)?;
    // Renewed by the same authority, then re-issued by another (a rotation):
    // the issuer follows the body.
    let rotated = CertificateSpec {
        issuer: "conformance-ca-2".into(),
        names: Vec::new(),
        ..spec.clone()
    };
    for (attempt, with) in [
        ("reimport", &spec),
        ("reimport under a new issuer", &rotated),
        ("reimport again", &rotated),
    ] {
        fx.b.reimport_certificate(&arn, with, &renewed)
            .await
            .ctx(attempt)?;
    }
    let obs = fx.observe(&Scope::App(a.clone())).await?;
    check_observed(
        &obs,
        &cert_key,
        &arn,
        &ResourceSpec::Certificate(rotated),
        &fx.tags(&cert_key, "certificate"),
    )?;
    let o = find(&obs, &cert_key)?;
    ensure(o.not_after == Some(not_after), || {
        format!(
            "{cert_key}: observed validity {:?} after the re-import, want {not_after}",
            o.not_after
        )
    })?;
    let att = find(&obs, &ResourceKey::app_listener_certificate(&a))?;
    let want_id = listener_certificate_id(&larn, &arn);
    ensure(att.id == want_id, || {
        format!(
            "the attachment is {:?} after the re-import, want {want_id:?}",
            att.id
        )
    })?;
    // The router's default certificate, re-imported, stays the listener's.
    let rack_obs = fx.observe(&Scope::Rack).await?;
    let router_cert = find(
        &rack_obs,
        &ResourceKey::router_certificate(Router::Internal),
    )?;
    let (router_renewed, _) = renewed_certificate(&format!("*.{}", fx.zone_name()), &first)?;
    let ResourceSpec::Certificate(router_spec) = &router_cert.resource.spec else {
        return Err(format!("{}: not a certificate", router_cert.resource.key));
    };
    fx.b.reimport_certificate(&router_cert.id, router_spec, &router_renewed)
        .await
        .ctx("reimport the listener's default certificate")?;
    let rack_obs = fx.observe(&Scope::Rack).await?;
    let listener = find(
        &rack_obs,
        &ResourceKey::router_listener(Router::Internal, 443),
    )?;
    let ResourceSpec::Listener(l) = &listener.resource.spec else {
        return Err(format!("{}: not a listener", listener.resource.key));
    };
    ensure(
        l.certificate == Some(ResourceKey::router_certificate(Router::Internal)),
        || {
            format!(
                "the listener's default certificate is {:?} after the re-import",
                l.certificate
            )
        },
    )?;
    find(
        &rack_obs,
        &ResourceKey::router_certificate(Router::Internal),
    )
    .and_then(|c| {
        ensure(c.id == router_cert.id, || {
            format!(
                "the default certificate's ARN changed: {} -> {}",
                router_cert.id, c.id
            )
        })
    })?;
    let missing = arn.replace(|c: char| c.is_ascii_hexdigit(), "0");
    expect_kind(
        fx.b.reimport_certificate(&missing, &spec, &renewed).await,
        ErrorKind::NotFound,
        "reimport over an unknown ARN",
    )?;
    Ok(Outcome::Passed)
}

// --- Public certificates for the external router (issue 12, item 6) ---

async fn public_certificates(fx: &Fx<'_>) -> R<Outcome> {
    use crate::public_cert::{CertificateStatus, ROLE_PUBLIC_CERTIFICATE};
    use crate::resource::{TAG_RACK, TAG_ROLE};
    let domain = format!("*.{}.example.com", fx.rack);
    let ours = Tags::from([
        (TAG_RACK.to_string(), fx.rack.to_string()),
        (TAG_ROLE.to_string(), ROLE_PUBLIC_CERTIFICATE.to_string()),
    ]);
    let arn =
        fx.b.request_certificate(&domain, &ours)
            .await
            .ctx("request_certificate")?;
    let c =
        fx.b.describe_certificate(&arn)
            .await
            .ctx("describe_certificate")?;
    ensure(c.arn == arn && c.covers(&domain), || {
        format!("describe_certificate {arn}: got {c:?}, want one for {domain}")
    })?;
    ensure(
        matches!(
            c.status,
            CertificateStatus::Issued | CertificateStatus::PendingValidation
        ),
        || format!("a requested certificate is {}", c.status),
    )?;
    ensure(
        c.status != CertificateStatus::PendingValidation || !c.validation.is_empty(),
        || format!("a pending certificate names no validation record: {c:?}"),
    )?;
    let user = Tags::from([("owner".to_string(), "someone".to_string())]);
    let theirs =
        fx.b.request_certificate(&domain, &user)
            .await
            .ctx("request_certificate with other tags")?;
    let listed: Vec<String> =
        fx.b.requested_certificates(&fx.rack)
            .await
            .ctx("requested_certificates")?
            .into_iter()
            .map(|c| c.arn)
            .collect();
    ensure(listed == [arn.clone()], || {
        format!("requested_certificates: got {listed:?}, want [{arn}]")
    })?;
    let seen = fx.observe(&Scope::Rack).await?;
    ensure(seen.iter().all(|o| o.id != arn && o.id != theirs), || {
        format!("a requested certificate is observed as a resource: {seen:?}")
    })?;
    let missing = format!(
        "arn:aws:acm:{}:123456789012:certificate/00000000-0000-0000-0000-000000000000",
        fx.ctx.region
    );
    expect_kind(
        fx.b.describe_certificate(&missing).await,
        ErrorKind::NotFound,
        "describe_certificate of a certificate that does not exist",
    )?;
    for a in [&arn, &theirs] {
        fx.b.delete_certificate(a)
            .await
            .ctx("delete_certificate of a requested certificate")?;
    }
    let left =
        fx.b.requested_certificates(&fx.rack)
            .await
            .ctx("requested_certificates after delete")?;
    ensure(left.is_empty(), || {
        format!("requested_certificates after delete: {left:?}")
    })?;
    Ok(Outcome::Passed)
}

// --- Router pools: shared certificates (issue 9) ---

/// A load balancer's shared certificate: imported with some apps' names,
/// re-imported over its ARN with others; each observation reports the names
/// of the body last imported (its subject alternative names but its domain),
/// and the listener keeps it attached under the same ARN.
async fn shared_certificate_names(fx: &Fx<'_>) -> R<Outcome> {
    let (_lb, _lkey, larn) = fx.https_router(Router::Internal).await?;
    let zone = fx.zone_name();
    let key = ResourceKey::shard_certificate(crate::exposure::Shard::first(Router::Internal), 1);
    let tags = fx.tags(&key, crate::pool::certs::ROLE_SHARED_CERTIFICATE);
    let domain = format!("*.{zone}");
    let rack = Name::new("shared").map_err(|e| e.to_string())?;
    // The harness's clock, read from a certificate it issues (the model reads
    // none): a certificate of a time past would be refused as expired.
    let now = crate::renew::not_after(&(fx.ctx.certificates)(&domain).certificate)
        .map_or(1_750_000_000, |t| t - 397 * crate::renew::DAY + 60);
    let ca =
        crate::tls::CertificateAuthority::generate(&rack, now - 3600).map_err(|e| e.to_string())?;
    let names = |apps: &[&str]| -> Vec<String> {
        let mut v: Vec<String> = apps.iter().map(|a| format!("*.{a}.{zone}")).collect();
        v.sort();
        v
    };
    let spec = |apps: &[&str]| CertificateSpec {
        domain: domain.clone(),
        issuer: "conformance-ca".into(),
        names: names(apps),
    };
    let issue = |apps: &[&str]| {
        ca.issue_names(&domain, &names(apps), now)
            .map_err(|e| e.to_string())
    };
    let arn =
        fx.b.import_certificate(&spec(&["a"]), &issue(&["a"])?, &tags)
            .await
            .ctx("import_certificate")?;
    fx.b.add_listener_certificate(&larn, &arn)
        .await
        .ctx("add_listener_certificate")?;
    for apps in [&["a", "b"][..], &["b"][..]] {
        fx.b.reimport_certificate(&arn, &spec(apps), &issue(apps)?)
            .await
            .ctx("reimport with other names")?;
        // Everything (a backend may read listeners' attachments only with the
        // apps', as a deploy's observation does).
        let obs = fx.observe(&Scope::All).await?;
        check_observed(
            &obs,
            &key,
            &arn,
            &ResourceSpec::Certificate(spec(apps)),
            &tags,
        )?;
        let att = find(&obs, &ResourceKey::listener_certificate(&key))?;
        let want = listener_certificate_id(&larn, &arn);
        ensure(att.id == want, || {
            format!(
                "the attachment is {:?} after the re-import, want {want:?}",
                att.id
            )
        })?;
    }
    Ok(Outcome::Passed)
}
