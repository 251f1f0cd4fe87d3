//! Builders shared by the mock's own tests: a small rack built through the
//! Backend verbs, as the apply engine would.

#![allow(dead_code)]

use std::sync::Arc;

use convox_mock::VirtualClock;
use convox_model::apply::ApplyContext;
use convox_model::backend::{Backend, CreatedLoadBalancer};
use convox_model::conformance::fake_certificate;
use convox_model::exposure::Router;
use convox_model::name::Name;
use convox_model::params::RackParams;
use convox_model::rack::{Rack, Vpc};
use convox_model::resource::{
    CertificateSpec, DefaultAction, HealthCheck, HostedZoneSpec, IngressRule, LbScheme,
    ListenerRuleSpec, ListenerSpec, LoadBalancerSpec, Protocol, ResourceKey, SecurityGroupSpec,
    Tags, TargetGroupSpec, ownership_tags,
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
            &ListenerSpec {
                load_balancer: ResourceKey::router_load_balancer(r),
                port: 443,
                protocol: Protocol::Https,
                default_action: DefaultAction::FixedResponse {
                    status_code: 404,
                    content_type: "text/plain".into(),
                    body: "unknown host".into(),
                },
                certificate: Some(ResourceKey::router_certificate(r)),
            },
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
