//! Builders shared by the mock's own tests: a small rack built through the
//! Backend verbs, as the apply engine would.

#![allow(dead_code)]

pub mod replay;

use std::sync::Arc;

use convox_mock::{MockBackend, VirtualClock};
use convox_model::apply::ApplyContext;
use convox_model::backend::{Backend, CreatedLoadBalancer};
use convox_model::conformance::fake_certificate;
use convox_model::exposure::Router;
use convox_model::manifest::{Exposure, Port, Scheme, Service};
use convox_model::name::Name;
use convox_model::ops;
use convox_model::params::RackParams;
use convox_model::rack::{Rack, Vpc};
use convox_model::resource::{
    CertificateSpec, HealthCheck, HostedZoneSpec, IngressRule, LbScheme, ListenerRuleSpec,
    ListenerSpec, LoadBalancerSpec, Protocol, ResourceKey, SecurityGroupSpec, Tags,
    TargetGroupSpec, ownership_tags,
};
use convox_model::tls::CertificateAuthority;

pub fn name(s: &str) -> Name {
    Name::new(s).expect("test names are valid")
}

pub fn rack() -> Name {
    name("prod")
}

/// When the operations tests run: the authority's and the certificates' clock.
pub const NOW: i64 = 1_700_000_000;

/// The rack the operations tests run on, as a tool first knows it:
/// `production` in `vpc-1` (10.0.0.0/16) with two subnets.
pub fn production() -> Rack {
    Rack {
        name: name("production"),
        region: "us-east-1".into(),
        vpc: Vpc {
            id: "vpc-1".into(),
            cidr: "10.0.0.0/16".into(),
        },
        subnets: vec!["subnet-a".into(), "subnet-b".into()],
        router_host: "production.example.com".into(),
        params: RackParams::default(),
        ca: None,
        external_certificate: None,
    }
}

/// A context for `production` at [`NOW`] with a new authority, sleeping on
/// `clock`.
pub fn production_ctx(clock: &VirtualClock) -> ApplyContext {
    let ca = CertificateAuthority::generate(&name("production"), NOW).expect("CA");
    ApplyContext::new(name("production"), NOW, clock.sleep_fn()).with_issuer(Arc::new(ca))
}

/// A new mock, the clock its context sleeps on, and a context for `production`
/// ([`production_ctx`]): what most operations tests start from.
pub fn fresh() -> (MockBackend, VirtualClock, ApplyContext) {
    let clock = VirtualClock::new();
    let ctx = production_ctx(&clock);
    (MockBackend::new(), clock, ctx)
}

/// The `production` rack as `b` stored it.
pub async fn stored_rack(b: &dyn Backend) -> Rack {
    b.load_rack(&name("production"))
        .await
        .expect("load")
        .expect("stored")
}

/// `settings` after `rack params set Internal=Yes` (both routers), as `b`
/// stored it.
pub async fn internal_rack(b: &dyn Backend, settings: &Rack, ctx: &ApplyContext) -> Rack {
    ops::set_rack_params(b, settings, &["Internal=Yes"], ctx)
        .await
        .expect("Internal=Yes");
    stored_rack(b).await
}

/// Whether a certificate for `pattern` (a name, or `*.` and a name standing for
/// exactly one label more) covers `host`: the tests' own reading of TLS's rule,
/// apart from the model's.
pub fn covers(pattern: &str, host: &str) -> bool {
    match pattern.strip_prefix("*.") {
        Some(parent) => host
            .split_once('.')
            .is_some_and(|(label, rest)| !label.is_empty() && rest == parent),
        None => pattern == host,
    }
}

/// The fingerprint of the authority `ctx` issues with.
pub fn issuer_fingerprint(ctx: &ApplyContext) -> String {
    ctx.issuer.as_ref().expect("issuer").fingerprint()
}

/// A router's HTTPS listener on `load_balancer`, answering 404 for an unknown
/// host, as the rack's desired state has it.
pub fn https_listener(
    load_balancer: ResourceKey,
    certificate: Option<ResourceKey>,
) -> ListenerSpec {
    ListenerSpec::https_unknown_host(load_balancer, certificate)
}

/// A service `n` on HTTP port 3000, exposed as the flags say
/// ([`Exposure::from_flags`]).
pub fn web_service(n: &str, internal: bool, both: bool) -> Service {
    let mut s = Service::with_defaults(name(n));
    s.port = Some(Port {
        port: 3000,
        scheme: Scheme::Http,
    });
    s.exposure = Exposure::from_flags(internal, both);
    s
}

pub fn tags(key: &ResourceKey) -> Tags {
    let app = key.app().map(name);
    ownership_tags(&rack(), app.as_ref(), None, "test", key)
}

pub fn sg_spec(n: &str) -> SecurityGroupSpec {
    SecurityGroupSpec {
        name: n.into(),
        description: "test".into(),
        vpc_id: "vpc-1".into(),
        ingress: vec![IngressRule {
            protocol: "tcp".into(),
            port: 443,
            cidr: "10.0.0.0/16".into(),
        }],
    }
}

pub fn lb_spec(n: &str, scheme: LbScheme) -> LoadBalancerSpec {
    LoadBalancerSpec {
        name: n.into(),
        scheme,
        subnets: vec!["subnet-a".into(), "subnet-b".into()],
        security_group: ResourceKey::router_security_group(Router::Internal),
        other_security_groups: Vec::new(),
    }
}

pub fn tg_spec(n: &str) -> TargetGroupSpec {
    TargetGroupSpec {
        name: n.into(),
        protocol: Protocol::Http,
        port: 3000,
        vpc_id: "vpc-1".into(),
        health: HealthCheck {
            path: "/".into(),
            interval: 5,
            timeout: 4,
        },
    }
}

pub fn rule_spec(priority: u32, hosts: &[&str]) -> ListenerRuleSpec {
    ListenerRuleSpec {
        listener: ResourceKey::router_listener(Router::Internal, 443),
        priority: Some(priority),
        hosts: hosts.iter().map(|h| h.to_string()).collect(),
        target_group: ResourceKey::from_raw("tg"),
    }
}

pub fn zone_spec() -> HostedZoneSpec {
    HostedZoneSpec {
        name: "prod.convox".into(),
        vpc_id: "vpc-1".into(),
        region: "us-east-1".into(),
    }
}

/// An internal router: security group, load balancer, certificate and HTTPS
/// listener, all owned by `prod`.
pub struct Router443 {
    pub sg: String,
    pub lb: CreatedLoadBalancer,
    pub cert: String,
    pub listener: String,
}

pub async fn router(b: &dyn Backend, lb_name: &str) -> Router443 {
    let r = Router::Internal;
    let sg = b
        .create_security_group(
            &sg_spec(lb_name),
            &tags(&ResourceKey::router_security_group(r)),
        )
        .await
        .expect("security group");
    let lb = b
        .create_load_balancer(
            &lb_spec(lb_name, LbScheme::Internal),
            &sg,
            &tags(&ResourceKey::router_load_balancer(r)),
        )
        .await
        .expect("load balancer");
    let cert_spec = CertificateSpec {
        domain: "*.prod.convox".into(),
        issuer: "ca".into(),
        names: Vec::new(),
    };
    let cert = b
        .import_certificate(
            &cert_spec,
            &fake_certificate("*.prod.convox"),
            &tags(&ResourceKey::router_certificate(r)),
        )
        .await
        .expect("certificate");
    let listener = b
        .create_listener(
            &lb.arn,
            &https_listener(
                ResourceKey::router_load_balancer(r),
                Some(ResourceKey::router_certificate(r)),
            ),
            Some(&cert),
            &tags(&ResourceKey::router_listener(r, 443)),
        )
        .await
        .expect("listener");
    Router443 {
        sg,
        lb,
        cert,
        listener,
    }
}
