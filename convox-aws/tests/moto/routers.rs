//! The network and the rack's routers: the default VPC, security groups, and a
//! router's load balancer, listeners and certificate read back by key.

use convox_model::backend::{Backend, ErrorKind};
use convox_model::exposure::Router;
use convox_model::resource::{
    CertificateSpec, IngressRule, LbScheme, ListenerSpec, LoadBalancerSpec, Protocol, ResourceKey,
    ResourceSpec as Spec, Scope,
};

use crate::support::MotoEnv;
use crate::support::specs::{
    error_of, find, not_found, rack_tags, redirect, sg_spec, with_internal_router,
};

#[tokio::test]
#[cfg_attr(not(moto), ignore = "needs the AWS emulator: run scripts/test.sh")]
async fn vpc_network_reads_the_default_vpc_and_its_subnets() {
    let env = MotoEnv::new("vpc_network").await;
    assert!(env.vpc.id.starts_with("vpc-"), "{:?}", env.vpc);
    assert!(env.vpc.cidr.contains('/'), "{:?}", env.vpc);
    assert!(env.subnets.iter().all(|s| s.starts_with("subnet-")));
    let mut sorted = env.subnets.clone();
    sorted.sort();
    assert_eq!(sorted, env.subnets, "subnets come sorted by id");
    error_of(
        env.backend.vpc_network("vpc-00000000").await,
        ErrorKind::NotFound,
    );
}

#[tokio::test]
#[cfg_attr(not(moto), ignore = "needs the AWS emulator: run scripts/test.sh")]
async fn security_group_round_trip() {
    let env = MotoEnv::new("security_group").await;
    let b = &env.backend;
    let key = ResourceKey::router_security_group(Router::Internal);
    let mut spec = sg_spec(&env, Router::Internal);
    let id = b
        .create_security_group(&spec, &rack_tags(&env, "router-sg", &key))
        .await
        .unwrap();
    let calls = b.calls();
    assert_eq!(calls.get("CreateSecurityGroup"), 1);
    assert_eq!(calls.get("CreateTags"), 0, "tags go in the create call");

    let seen = b.observe(&env.rack, &Scope::Rack).await.unwrap();
    let o = find(&seen, &key).expect("the group is observed");
    assert_eq!(o.id, id);
    assert_eq!(o.resource.spec, Spec::SecurityGroup(spec.clone()));
    assert_eq!(o.resource.tags, rack_tags(&env, "router-sg", &key));

    // Only 443, from anywhere: one revoke, one authorize.
    spec.ingress = vec![IngressRule {
        protocol: "tcp".into(),
        port: 443,
        cidr: "0.0.0.0/0".into(),
    }];
    b.update_security_group(&id, &spec).await.unwrap();
    let seen = b.observe(&env.rack, &Scope::Rack).await.unwrap();
    assert_eq!(
        find(&seen, &key).unwrap().resource.spec,
        Spec::SecurityGroup(spec.clone())
    );
    // Again: nothing to change, nothing sent but the read.
    b.reset_calls();
    b.update_security_group(&id, &spec).await.unwrap();
    assert_eq!(b.calls().mutating(), 0, "{:?}", b.calls());

    b.delete_security_group(&id).await.unwrap();
    let seen = b.observe(&env.rack, &Scope::Rack).await.unwrap();
    assert!(find(&seen, &key).is_none());
    error_of(b.delete_security_group(&id).await, ErrorKind::NotFound);
}

#[tokio::test]
#[cfg_attr(not(moto), ignore = "needs the AWS emulator: run scripts/test.sh")]
async fn router_round_trip_resolves_references_to_keys() {
    let (env, ids) = with_internal_router("router").await;
    let b = &env.backend;
    let calls = b.calls();
    assert_eq!(calls.get("AddTags"), 0, "tags go in the create calls");
    assert_eq!(calls.mutating(), 6, "{calls:?}");

    let r = Router::Internal;
    let seen = b.observe(&env.rack, &Scope::Rack).await.unwrap();
    let lb = find(&seen, &ResourceKey::router_load_balancer(r)).expect("load balancer");
    assert_eq!(lb.id, ids.lb);
    assert_eq!(lb.address.as_ref(), Some(&ids.address));
    assert!(!ids.address.dns_name.is_empty() && !ids.address.hosted_zone_id.is_empty());
    let mut subnets = env.subnets.clone();
    subnets.sort();
    assert_eq!(
        lb.resource.spec,
        Spec::LoadBalancer(LoadBalancerSpec {
            name: "test-internal".into(),
            scheme: LbScheme::Internal,
            subnets,
            security_group: ResourceKey::router_security_group(r),
            other_security_groups: Vec::new(),
        })
    );

    // Each listener names its load balancer and certificate by key.
    let cert_key = ResourceKey::router_certificate(r);
    for (port, id, protocol, default_action, certificate) in [
        (80, &ids.http, Protocol::Http, redirect(), None),
        (
            443,
            &ids.https,
            Protocol::Https,
            not_found("unknown host"),
            Some(cert_key),
        ),
    ] {
        let key = ResourceKey::router_listener(r, port);
        let listener = find(&seen, &key).unwrap_or_else(|| panic!("listener {port}"));
        assert_eq!(&listener.id, id);
        assert_eq!(
            listener.resource.spec,
            Spec::Listener(ListenerSpec {
                load_balancer: ResourceKey::router_load_balancer(r),
                port,
                protocol,
                default_action,
                certificate,
            })
        );
    }
    let cert = find(&seen, &ResourceKey::router_certificate(r)).expect("certificate");
    assert_eq!(cert.id, ids.cert);
    assert_eq!(
        cert.resource.spec,
        Spec::Certificate(CertificateSpec {
            domain: "*.test.convox".into(),
            issuer: "ca-fingerprint-1".into(),
            names: Vec::new(),
        })
    );
    assert_eq!(
        cert.resource.tags,
        rack_tags(&env, "router-cert", &ResourceKey::router_certificate(r)),
        "the issuer tag is not an ownership tag"
    );

    // Observing changes nothing.
    b.reset_calls();
    b.observe(&env.rack, &Scope::Rack).await.unwrap();
    assert_eq!(b.calls().mutating(), 0, "{:?}", b.calls());

    b.modify_listener(
        &ids.https,
        &ListenerSpec {
            load_balancer: ResourceKey::router_load_balancer(r),
            port: 443,
            protocol: Protocol::Https,
            default_action: not_found("no such service"),
            certificate: Some(ResourceKey::router_certificate(r)),
        },
        Some(&ids.cert),
    )
    .await
    .unwrap();
    let seen = b.observe(&env.rack, &Scope::Rack).await.unwrap();
    let Spec::Listener(l) = &find(&seen, &ResourceKey::router_listener(r, 443))
        .unwrap()
        .resource
        .spec
    else {
        panic!("not a listener")
    };
    assert_eq!(l.default_action, not_found("no such service"));

    b.delete_listener(&ids.http).await.unwrap();
    b.delete_listener(&ids.https).await.unwrap();
    b.delete_load_balancer(&ids.lb).await.unwrap();
    b.delete_certificate(&ids.cert).await.unwrap();
    let seen = b.observe(&env.rack, &Scope::Rack).await.unwrap();
    assert_eq!(
        seen.iter()
            .map(|o| o.resource.key.clone())
            .collect::<Vec<_>>(),
        vec![ResourceKey::router_security_group(r)]
    );
    b.delete_security_group(&ids.sg).await.unwrap();
    assert!(b.observe(&env.rack, &Scope::Rack).await.unwrap().is_empty());
}
