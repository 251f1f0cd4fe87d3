//! Specs and tags the emulator tests build resources from, and the internal
//! router most of them start with, made through the backend's own verbs.
//!
//! The library's resource types are named here and in the test files' `use`
//! lines only, so that a rename touches few places.

use convox_model::backend::{Backend, BackendError, BackendResult, ErrorKind};
use convox_model::exposure::Router;
use convox_model::resource::{
    CertificateSpec, DefaultAction, HealthCheck, HostedZoneSpec, IngressRule, LbScheme,
    ListenerRuleSpec, ListenerSpec, LoadBalancerAddress, LoadBalancerSpec, Observed, Protocol,
    ResourceKey, SecurityGroupSpec, Tags, TargetGroupSpec, ownership_tags,
};

use super::{MotoEnv, certificate, name};

/// The observed resource under `key`, if any.
pub fn find<'a>(observed: &'a [Observed], key: &ResourceKey) -> Option<&'a Observed> {
    observed.iter().find(|o| &o.resource.key == key)
}

/// The tags the rack's own resource `key` carries.
pub fn rack_tags(env: &MotoEnv, role: &str, key: &ResourceKey) -> Tags {
    ownership_tags(&env.rack, None, None, role, key)
}

/// The tags an app's (or its service's) resource `key` carries.
pub fn app_tags(
    env: &MotoEnv,
    app: &str,
    service: Option<&str>,
    role: &str,
    key: &ResourceKey,
) -> Tags {
    let service = service.map(name);
    ownership_tags(&env.rack, Some(&name(app)), service.as_ref(), role, key)
}

/// A security group letting TCP `ports` in from `cidr`.
pub fn security_group(
    name: &str,
    description: &str,
    vpc_id: &str,
    cidr: &str,
    ports: &[u16],
) -> SecurityGroupSpec {
    SecurityGroupSpec {
        name: name.into(),
        description: description.into(),
        vpc_id: vpc_id.into(),
        ingress: ports
            .iter()
            .map(|&port| IngressRule {
                protocol: "tcp".into(),
                port,
                cidr: cidr.into(),
            })
            .collect(),
    }
}

/// A router's security group: 80 and 443, from the VPC (internal) or anywhere.
pub fn sg_spec(env: &MotoEnv, router: Router) -> SecurityGroupSpec {
    let cidr = match router {
        Router::Internal => env.vpc.cidr.as_str(),
        Router::External => "0.0.0.0/0",
    };
    security_group(
        &format!("test-{router}-router"),
        &format!("convox rack test {router} router"),
        &env.vpc.id,
        cidr,
        &[80, 443],
    )
}

/// A load balancer `name` in the account's subnets.
pub fn lb_spec(
    env: &MotoEnv,
    name: &str,
    scheme: LbScheme,
    security_group: ResourceKey,
) -> LoadBalancerSpec {
    LoadBalancerSpec {
        name: name.into(),
        scheme,
        subnets: env.subnets.clone(),
        security_group,
        other_security_groups: Vec::new(),
    }
}

/// A listener; HTTPS when it has a certificate.
pub fn listener_spec(
    load_balancer: ResourceKey,
    port: u16,
    default_action: DefaultAction,
    certificate: Option<ResourceKey>,
) -> ListenerSpec {
    ListenerSpec {
        load_balancer,
        port,
        protocol: if certificate.is_some() {
            Protocol::Https
        } else {
            Protocol::Http
        },
        default_action,
        certificate,
    }
}

pub fn redirect() -> DefaultAction {
    DefaultAction::Redirect {
        port: 443,
        status_code: 301,
    }
}

pub fn not_found(body: &str) -> DefaultAction {
    DefaultAction::FixedResponse {
        status_code: 404,
        content_type: "text/plain".into(),
        body: body.into(),
    }
}

/// An HTTP target group checked on `path`.
pub fn target_group(name: &str, port: u16, vpc_id: &str, path: &str) -> TargetGroupSpec {
    TargetGroupSpec {
        name: name.into(),
        protocol: Protocol::Http,
        port,
        vpc_id: vpc_id.into(),
        health: HealthCheck {
            path: path.into(),
            interval: 5,
            timeout: 4,
        },
    }
}

/// `backend/api`'s target group on the internal router.
pub fn tg_spec(env: &MotoEnv, path: &str) -> TargetGroupSpec {
    target_group("test-backend-api-int", 3000, &env.vpc.id, path)
}

/// A rule on the internal router's 443 forwarding `hosts` to `backend/api`.
pub fn rule_spec(priority: u32, hosts: &[&str]) -> ListenerRuleSpec {
    let (app, api) = (name("backend"), name("api"));
    ListenerRuleSpec {
        listener: ResourceKey::router_listener(Router::Internal, 443),
        priority: Some(priority),
        hosts: hosts.iter().map(|h| h.to_string()).collect(),
        target_group: ResourceKey::target_group(&app, &api, Router::Internal),
    }
}

/// An untagged rule on `listener` for `host`, forwarding to `tg`.
pub async fn untagged_rule(
    env: &MotoEnv,
    listener: &str,
    priority: u32,
    host: &str,
    tg: &str,
) -> BackendResult<String> {
    env.backend
        .create_rule(listener, &rule_spec(priority, &[host]), tg, &Tags::new())
        .await
}

/// Imports the fixture certificate `fixture` (see [`certificate`]) as issued by
/// `issuer`.
pub async fn import_fixture(
    env: &MotoEnv,
    fixture: &str,
    issuer: &str,
    tags: &Tags,
) -> BackendResult<String> {
    let domain = match fixture {
        "app" => "*.backend.test.convox",
        "internal" => "*.test.convox",
        "external" => "*.test.example.com",
        other => panic!("no fixture certificate {other}"),
    };
    let spec = CertificateSpec {
        domain: domain.into(),
        issuer: issuer.into(),
        names: Vec::new(),
    };
    env.backend
        .import_certificate(&spec, &certificate(fixture), tags)
        .await
}

/// The ids of an internal router built through the backend.
pub struct RouterIds {
    pub sg: String,
    pub lb: String,
    pub address: LoadBalancerAddress,
    pub cert: String,
    pub http: String,
    pub https: String,
}

/// The error `result` holds, asserted to be of `kind`.
pub fn error_of<T: std::fmt::Debug>(result: BackendResult<T>, kind: ErrorKind) -> BackendError {
    let err = result.expect_err("the call fails");
    assert_eq!(err.kind(), kind, "{err}");
    err
}

/// A private hosted zone named `name` in the rack's VPC and region.
pub fn zone_spec(env: &MotoEnv, name: &str) -> HostedZoneSpec {
    HostedZoneSpec {
        name: name.into(),
        vpc_id: env.vpc.id.clone(),
        region: env.region.clone(),
    }
}

/// A fresh rack named after `test` (as [`MotoEnv::new`]) with its internal
/// router made (as [`make_internal_router`]).
pub async fn with_internal_router(test: &str) -> (MotoEnv, RouterIds) {
    let env = MotoEnv::new(test).await;
    let ids = make_internal_router(&env).await;
    (env, ids)
}

/// The internal router's listener on `port` of the load balancer `lb_arn`,
/// tagged as the engine tags it; `certificate` is its default certificate's
/// key and ARN.
async fn router_listener(
    env: &MotoEnv,
    lb_arn: &str,
    port: u16,
    action: DefaultAction,
    certificate: Option<(ResourceKey, &str)>,
) -> String {
    let r = Router::Internal;
    let key = ResourceKey::router_listener(r, port);
    let (cert_key, cert_arn) = certificate.unzip();
    let spec = listener_spec(ResourceKey::router_load_balancer(r), port, action, cert_key);
    let tags = rack_tags(env, "router-listener", &key);
    env.backend
        .create_listener(lb_arn, &spec, cert_arn, &tags)
        .await
        .unwrap_or_else(|e| panic!("the router's listener on {port}: {e}"))
}

/// The rack's internal router, as the engine would make it: security group,
/// certificate, load balancer, and listeners on 80 and 443. Six mutating calls.
pub async fn make_internal_router(env: &MotoEnv) -> RouterIds {
    let b = &env.backend;
    let r = Router::Internal;
    let sg_key = ResourceKey::router_security_group(r);
    let sg = b
        .create_security_group(&sg_spec(env, r), &rack_tags(env, "router-sg", &sg_key))
        .await
        .expect("the router's security group");
    let cert_key = ResourceKey::router_certificate(r);
    let cert = import_fixture(
        env,
        "internal",
        "ca-fingerprint-1",
        &rack_tags(env, "router-cert", &cert_key),
    )
    .await
    .expect("the router's certificate");
    let lb_key = ResourceKey::router_load_balancer(r);
    let created = b
        .create_load_balancer(
            &lb_spec(env, "test-internal", LbScheme::Internal, sg_key),
            &sg,
            &rack_tags(env, "router-alb", &lb_key),
        )
        .await
        .expect("the router's load balancer");
    let http = router_listener(env, &created.arn, 80, redirect(), None).await;
    let unknown_host = not_found("unknown host");
    let https = router_listener(
        env,
        &created.arn,
        443,
        unknown_host,
        Some((cert_key, &cert)),
    )
    .await;
    RouterIds {
        sg,
        lb: created.arn,
        address: created.address,
        cert,
        http,
        https,
    }
}
