//! Every `Backend` verb against the moto server, each test in its own account.
//!
//! Run by `scripts/test.sh`, which starts moto and sets `CONVOX_MOTO_ENDPOINT`.

#![allow(clippy::unwrap_used)]

mod support;

use convox_aws::{AwsBackend, Pacing, Rate};
use convox_model::backend::{Backend, ErrorKind};
use convox_model::exposure::Router;
use convox_model::name::Name;
use convox_model::params::RackParams;
use convox_model::resource::{
    CertificateSpec, DefaultAction, HealthCheck, HostedZoneSpec, IngressRule, LbScheme,
    ListenerRuleSpec, ListenerSpec, LoadBalancerAddress, LoadBalancerSpec, Observed, Protocol,
    RecordAction, RecordChange, ResourceKey, ResourceSpec as Spec, Scope, SecurityGroupSpec,
    TAG_KEY, TAG_RACK, Tags, TargetGroupSpec, ownership_tags, record_owner_value,
};
use support::{MotoEnv, certificate};

fn name(s: &str) -> Name {
    Name::new(s).unwrap()
}

fn find<'a>(observed: &'a [Observed], key: &ResourceKey) -> Option<&'a Observed> {
    observed.iter().find(|o| &o.resource.key == key)
}

fn rack_tags(env: &MotoEnv, role: &str, key: &ResourceKey) -> Tags {
    ownership_tags(&env.rack, None, None, role, key)
}

fn app_tags(
    env: &MotoEnv,
    app: &str,
    service: Option<&str>,
    role: &str,
    key: &ResourceKey,
) -> Tags {
    let service = service.map(name);
    ownership_tags(&env.rack, Some(&name(app)), service.as_ref(), role, key)
}

fn sg_spec(env: &MotoEnv, router: Router) -> SecurityGroupSpec {
    let cidr = match router {
        Router::Internal => env.vpc.cidr.clone(),
        Router::External => "0.0.0.0/0".to_string(),
    };
    SecurityGroupSpec {
        name: format!("test-{router}-router"),
        description: format!("convox rack test {router} router"),
        vpc_id: env.vpc.id.clone(),
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

fn redirect() -> DefaultAction {
    DefaultAction::Redirect {
        port: 443,
        status_code: 301,
    }
}

fn not_found(body: &str) -> DefaultAction {
    DefaultAction::FixedResponse {
        status_code: 404,
        content_type: "text/plain".into(),
        body: body.into(),
    }
}

/// The ids of an internal router built through the backend.
struct RouterIds {
    sg: String,
    lb: String,
    address: LoadBalancerAddress,
    cert: String,
    http: String,
    https: String,
}

async fn make_internal_router(env: &MotoEnv) -> RouterIds {
    let b = &env.backend;
    let r = Router::Internal;
    let sg_key = ResourceKey::router_security_group(r);
    let sg = b
        .create_security_group(&sg_spec(env, r), &rack_tags(env, "router-sg", &sg_key))
        .await
        .unwrap();
    let cert_key = ResourceKey::router_certificate(r);
    let cert = b
        .import_certificate(
            &CertificateSpec {
                domain: "*.test.convox".into(),
                issuer: "ca-fingerprint-1".into(),
            },
            &certificate("internal"),
            &rack_tags(env, "router-cert", &cert_key),
        )
        .await
        .unwrap();
    let lb_key = ResourceKey::router_load_balancer(r);
    let created = b
        .create_load_balancer(
            &LoadBalancerSpec {
                name: "test-internal".into(),
                scheme: LbScheme::Internal,
                subnets: env.subnets.clone(),
                security_group: sg_key,
            },
            &sg,
            &rack_tags(env, "router-alb", &lb_key),
        )
        .await
        .unwrap();
    let http_key = ResourceKey::router_listener(r, 80);
    let http = b
        .create_listener(
            &created.arn,
            &ListenerSpec {
                load_balancer: lb_key.clone(),
                port: 80,
                protocol: Protocol::Http,
                default_action: redirect(),
                certificate: None,
            },
            None,
            &rack_tags(env, "router-listener", &http_key),
        )
        .await
        .unwrap();
    let https_key = ResourceKey::router_listener(r, 443);
    let https = b
        .create_listener(
            &created.arn,
            &ListenerSpec {
                load_balancer: lb_key,
                port: 443,
                protocol: Protocol::Https,
                default_action: not_found("unknown host"),
                certificate: Some(cert_key),
            },
            Some(&cert),
            &rack_tags(env, "router-listener", &https_key),
        )
        .await
        .unwrap();
    RouterIds {
        sg,
        lb: created.arn,
        address: created.address,
        cert,
        http,
        https,
    }
}

fn tg_spec(env: &MotoEnv, path: &str) -> TargetGroupSpec {
    TargetGroupSpec {
        name: "test-backend-api-int".into(),
        protocol: Protocol::Http,
        port: 3000,
        vpc_id: env.vpc.id.clone(),
        health: HealthCheck {
            path: path.into(),
            interval: 5,
            timeout: 4,
        },
    }
}

fn rule_spec(priority: u32, hosts: &[&str]) -> ListenerRuleSpec {
    let (app, api) = (name("backend"), name("api"));
    ListenerRuleSpec {
        listener: ResourceKey::router_listener(Router::Internal, 443),
        priority: Some(priority),
        hosts: hosts.iter().map(|h| h.to_string()).collect(),
        target_group: ResourceKey::target_group(&app, &api, Router::Internal),
    }
}

#[tokio::test]
#[cfg_attr(not(moto), ignore = "needs the AWS emulator: run scripts/test.sh")]
async fn vpc_network_reads_the_default_vpc_and_its_subnets() {
    let Some(env) = MotoEnv::new("vpc_network").await else {
        return;
    };
    assert!(env.vpc.id.starts_with("vpc-"), "{:?}", env.vpc);
    assert!(env.vpc.cidr.contains('/'), "{:?}", env.vpc);
    assert!(env.subnets.iter().all(|s| s.starts_with("subnet-")));
    let mut sorted = env.subnets.clone();
    sorted.sort();
    assert_eq!(sorted, env.subnets, "subnets come sorted by id");
    let missing = env.backend.vpc_network("vpc-00000000").await.unwrap_err();
    assert_eq!(missing.kind, ErrorKind::NotFound, "{missing}");
}

#[tokio::test]
#[cfg_attr(not(moto), ignore = "needs the AWS emulator: run scripts/test.sh")]
async fn security_group_round_trip() {
    let Some(env) = MotoEnv::new("security_group").await else {
        return;
    };
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
    let again = b.delete_security_group(&id).await.unwrap_err();
    assert_eq!(again.kind, ErrorKind::NotFound, "{again}");
}

#[tokio::test]
#[cfg_attr(not(moto), ignore = "needs the AWS emulator: run scripts/test.sh")]
async fn router_round_trip_resolves_references_to_keys() {
    let Some(env) = MotoEnv::new("router").await else {
        return;
    };
    let b = &env.backend;
    let ids = make_internal_router(&env).await;
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
        })
    );

    let http = find(&seen, &ResourceKey::router_listener(r, 80)).expect("listener 80");
    assert_eq!(http.id, ids.http);
    assert_eq!(
        http.resource.spec,
        Spec::Listener(ListenerSpec {
            load_balancer: ResourceKey::router_load_balancer(r),
            port: 80,
            protocol: Protocol::Http,
            default_action: redirect(),
            certificate: None,
        })
    );
    let https = find(&seen, &ResourceKey::router_listener(r, 443)).expect("listener 443");
    assert_eq!(https.id, ids.https);
    assert_eq!(
        https.resource.spec,
        Spec::Listener(ListenerSpec {
            load_balancer: ResourceKey::router_load_balancer(r),
            port: 443,
            protocol: Protocol::Https,
            default_action: not_found("unknown host"),
            certificate: Some(ResourceKey::router_certificate(r)),
        })
    );
    let cert = find(&seen, &ResourceKey::router_certificate(r)).expect("certificate");
    assert_eq!(cert.id, ids.cert);
    assert_eq!(
        cert.resource.spec,
        Spec::Certificate(CertificateSpec {
            domain: "*.test.convox".into(),
            issuer: "ca-fingerprint-1".into(),
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

#[tokio::test]
#[cfg_attr(not(moto), ignore = "needs the AWS emulator: run scripts/test.sh")]
async fn app_resources_round_trip() {
    let Some(env) = MotoEnv::new("app").await else {
        return;
    };
    let b = &env.backend;
    let ids = make_internal_router(&env).await;
    let (app, api) = (name("backend"), name("api"));
    let r = Router::Internal;

    let tg_key = ResourceKey::target_group(&app, &api, r);
    let tg = b
        .create_target_group(
            &tg_spec(&env, "/health"),
            &app_tags(&env, "backend", Some("api"), "target-group", &tg_key),
        )
        .await
        .unwrap();
    let rule_key = ResourceKey::listener_rule(&app, &api, r);
    let rule = b
        .create_rule(
            &ids.https,
            &rule_spec(10, &["api.backend.test.convox"]),
            &tg,
            &app_tags(&env, "backend", Some("api"), "listener-rule", &rule_key),
        )
        .await
        .unwrap();
    let cert_key = ResourceKey::app_certificate(&app);
    let cert = b
        .import_certificate(
            &CertificateSpec {
                domain: "*.backend.test.convox".into(),
                issuer: "ca-fingerprint-1".into(),
            },
            &certificate("app"),
            &app_tags(&env, "backend", None, "app-cert", &cert_key),
        )
        .await
        .unwrap();
    b.add_listener_certificate(&ids.https, &cert).await.unwrap();
    // Attaching twice succeeds.
    b.add_listener_certificate(&ids.https, &cert).await.unwrap();
    assert_eq!(b.calls().get("AddTags"), 0);

    let scope = Scope::App(app.clone());
    let seen = b.observe(&env.rack, &scope).await.unwrap();
    assert!(
        seen.iter().all(|o| o.resource.key.in_scope(&scope)),
        "{seen:#?}"
    );
    let o = find(&seen, &tg_key).expect("target group");
    assert_eq!(o.id, tg);
    assert_eq!(o.resource.spec, Spec::TargetGroup(tg_spec(&env, "/health")));
    let o = find(&seen, &rule_key).expect("rule");
    assert_eq!(o.id, rule);
    assert_eq!(
        o.resource.spec,
        Spec::ListenerRule(rule_spec(10, &["api.backend.test.convox"]))
    );
    assert_eq!(
        o.resource.tags,
        app_tags(&env, "backend", Some("api"), "listener-rule", &rule_key)
    );
    let o = find(&seen, &ResourceKey::app_listener_certificate(&app)).expect("attachment");
    assert_eq!(
        o.resource.spec,
        Spec::ListenerCertificate(convox_model::resource::ListenerCertificateSpec {
            listener: ResourceKey::router_listener(r, 443),
            certificate: cert_key.clone(),
        })
    );
    assert!(find(&seen, &cert_key).is_some());

    b.set_rule_priority(&rule, 20).await.unwrap();
    b.modify_rule(
        &rule,
        &rule_spec(20, &["api.backend.test.convox", "api2.backend.test.convox"]),
        &tg,
    )
    .await
    .unwrap();
    b.modify_target_group(&tg, &tg_spec(&env, "/ready"))
        .await
        .unwrap();
    let seen = b.observe(&env.rack, &scope).await.unwrap();
    assert_eq!(
        find(&seen, &rule_key).unwrap().resource.spec,
        Spec::ListenerRule(rule_spec(
            20,
            &["api.backend.test.convox", "api2.backend.test.convox"]
        ))
    );
    assert_eq!(
        find(&seen, &tg_key).unwrap().resource.spec,
        Spec::TargetGroup(tg_spec(&env, "/ready"))
    );

    b.remove_listener_certificate(&ids.https, &cert)
        .await
        .unwrap();
    // Detaching one not attached succeeds.
    b.remove_listener_certificate(&ids.https, &cert)
        .await
        .unwrap();
    let seen = b.observe(&env.rack, &scope).await.unwrap();
    assert!(find(&seen, &ResourceKey::app_listener_certificate(&app)).is_none());

    b.delete_rule(&rule).await.unwrap();
    b.delete_target_group(&tg).await.unwrap();
    b.delete_certificate(&cert).await.unwrap();
    assert!(b.observe(&env.rack, &scope).await.unwrap().is_empty());
    // The rack's own resources are still there, and not in the app's scope.
    assert_eq!(b.observe(&env.rack, &Scope::Rack).await.unwrap().len(), 5);
    // moto deletes a missing rule without RuleNotFound; AWS's answer is mapped in
    // the table's tests.
}

#[tokio::test]
#[cfg_attr(not(moto), ignore = "needs the AWS emulator: run scripts/test.sh")]
async fn rule_priority_taken_is_a_conflict() {
    let Some(env) = MotoEnv::new("priority").await else {
        return;
    };
    let b = &env.backend;
    let ids = make_internal_router(&env).await;
    let tg = b
        .create_target_group(&tg_spec(&env, "/"), &Tags::new())
        .await
        .unwrap();
    b.create_rule(
        &ids.https,
        &rule_spec(7, &["a.test.convox"]),
        &tg,
        &Tags::new(),
    )
    .await
    .unwrap();
    let err = b
        .create_rule(
            &ids.https,
            &rule_spec(7, &["b.test.convox"]),
            &tg,
            &Tags::new(),
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Conflict, "{err}");
    assert!(!err.retryable);
    assert_eq!(err.operation, "CreateRule");
    let err = b
        .create_rule(
            &ids.https,
            &rule_spec(0, &["b.test.convox"]),
            &tg,
            &Tags::new(),
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::InvalidInput, "{err}");
}

#[tokio::test]
#[cfg_attr(not(moto), ignore = "needs the AWS emulator: run scripts/test.sh")]
async fn zone_records_and_rack_settings_round_trip() {
    let Some(env) = MotoEnv::new("zone").await else {
        return;
    };
    let b = &env.backend;
    assert_eq!(b.load_rack(&env.rack).await.unwrap(), None);
    let ids = make_internal_router(&env).await;

    let zone_key = ResourceKey::zone();
    let zone_spec = HostedZoneSpec {
        name: "test.convox".into(),
        vpc_id: env.vpc.id.clone(),
        region: env.region.clone(),
    };
    let zone = b
        .create_hosted_zone(&zone_spec, &rack_tags(&env, "zone", &zone_key))
        .await
        .unwrap();
    assert!(!zone.starts_with('/'), "bare zone id: {zone}");
    assert_eq!(b.load_rack(&env.rack).await.unwrap(), None, "not saved yet");

    let rack = env.rack_config(RackParams::new(true, false).unwrap());
    b.save_rack(&zone, &rack).await.unwrap();
    // A later process finds it.
    let other = env.another_backend().await;
    assert_eq!(
        other.load_rack(&env.rack).await.unwrap(),
        Some(rack.clone())
    );
    let rack2 = env.rack_config(RackParams::new(true, true).unwrap());
    b.save_rack(&zone, &rack2).await.unwrap();
    assert_eq!(other.load_rack(&env.rack).await.unwrap(), Some(rack2));
    assert_eq!(
        other.rack_zone_id(&env.rack).await.unwrap(),
        Some(zone.clone())
    );

    let (app, api, web) = (name("backend"), name("api"), name("web"));
    let api_key = ResourceKey::record(&app, &api);
    let web_key = ResourceKey::record(&app, &web);
    let change = |action, host: &str, key: &ResourceKey| RecordChange {
        action,
        name: host.into(),
        target: ids.address.clone(),
        owner: record_owner_value(&env.rack, key),
    };
    b.change_records(
        &zone,
        &[
            change(RecordAction::Create, "api.backend.test.convox", &api_key),
            change(RecordAction::Create, "web.backend.test.convox", &web_key),
        ],
    )
    .await
    .unwrap();
    assert_eq!(b.calls().get("ChangeResourceRecordSets"), 1, "one batch");

    let seen = b
        .observe(&env.rack, &Scope::App(app.clone()))
        .await
        .unwrap();
    let rec = find(&seen, &api_key).expect("record");
    assert_eq!(rec.id, "api.backend.test.convox");
    assert_eq!(
        rec.resource.spec,
        Spec::Record(convox_model::resource::RecordSpec {
            zone: zone_key.clone(),
            name: "api.backend.test.convox".into(),
            load_balancer: ResourceKey::router_load_balancer(Router::Internal),
        })
    );
    assert_eq!(
        rec.address.as_ref().map(|a| a.hosted_zone_id.as_str()),
        Some(ids.address.hosted_zone_id.as_str())
    );
    assert_eq!(rec.resource.tags.get(TAG_KEY), Some(&api_key.to_string()));
    assert!(find(&seen, &web_key).is_some());

    let seen = b.observe(&env.rack, &Scope::Rack).await.unwrap();
    let z = find(&seen, &zone_key).expect("zone");
    assert_eq!(z.id, zone);
    assert_eq!(z.resource.spec, Spec::HostedZone(zone_spec));
    assert_eq!(
        z.resource.tags,
        rack_tags(&env, "zone", &zone_key),
        "settings tags are not ownership tags"
    );
    assert!(find(&seen, &api_key).is_none(), "records are app scope");

    b.change_records(
        &zone,
        &[
            change(RecordAction::Upsert, "api.backend.test.convox", &api_key),
            change(RecordAction::Delete, "web.backend.test.convox", &web_key),
        ],
    )
    .await
    .unwrap();
    let seen = b.observe(&env.rack, &Scope::Apps).await.unwrap();
    assert!(find(&seen, &api_key).is_some());
    assert!(find(&seen, &web_key).is_none());

    let busy = b.delete_hosted_zone(&zone).await.unwrap_err();
    assert_eq!(busy.kind, ErrorKind::Conflict, "{busy}");
    b.change_records(
        &zone,
        &[change(
            RecordAction::Delete,
            "api.backend.test.convox",
            &api_key,
        )],
    )
    .await
    .unwrap();
    b.delete_hosted_zone(&zone).await.unwrap();
    assert_eq!(b.load_rack(&env.rack).await.unwrap(), None);
    let gone = b.delete_hosted_zone(&zone).await.unwrap_err();
    assert_eq!(gone.kind, ErrorKind::NotFound, "{gone}");
}

#[tokio::test]
#[cfg_attr(not(moto), ignore = "needs the AWS emulator: run scripts/test.sh")]
async fn foreign_resources_are_never_observed_or_touched() {
    let Some(env) = MotoEnv::new("foreign").await else {
        return;
    };
    let b = &env.backend;
    let ids = make_internal_router(&env).await;

    // Untagged, or tagged for another rack, in the same account.
    let other_rack = name("other");
    let other_key = ResourceKey::router_load_balancer(Router::External);
    let other_tags = ownership_tags(&other_rack, None, None, "router-alb", &other_key);
    let foreign_lb = b
        .create_load_balancer(
            &LoadBalancerSpec {
                name: "someone-elses".into(),
                scheme: LbScheme::InternetFacing,
                subnets: env.subnets.clone(),
                security_group: other_key.clone(),
            },
            &ids.sg,
            &Tags::new(),
        )
        .await
        .unwrap();
    b.create_load_balancer(
        &LoadBalancerSpec {
            name: "other-racks".into(),
            scheme: LbScheme::Internal,
            subnets: env.subnets.clone(),
            security_group: other_key.clone(),
        },
        &ids.sg,
        &other_tags,
    )
    .await
    .unwrap();
    let tg = b
        .create_target_group(&tg_spec(&env, "/"), &Tags::new())
        .await
        .unwrap();
    b.create_rule(
        &ids.https,
        &rule_spec(99, &["x.test.convox"]),
        &tg,
        &Tags::new(),
    )
    .await
    .unwrap();
    let cert = b
        .import_certificate(
            &CertificateSpec {
                domain: "*.backend.test.convox".into(),
                issuer: "x".into(),
            },
            &certificate("app"),
            &Tags::new(),
        )
        .await
        .unwrap();
    b.add_listener_certificate(&ids.https, &cert).await.unwrap();
    let zone = b
        .create_hosted_zone(
            &HostedZoneSpec {
                name: "test.convox".into(),
                vpc_id: env.vpc.id.clone(),
                region: env.region.clone(),
            },
            &rack_tags(&env, "zone", &ResourceKey::zone()),
        )
        .await
        .unwrap();
    let record = |host: &str, owner: String| RecordChange {
        action: RecordAction::Create,
        name: host.into(),
        target: foreign_lb.address.clone(),
        owner,
    };
    b.change_records(
        &zone,
        &[
            record("spf.test.convox", "v=spf1 -all".into()),
            record(
                "theirs.test.convox",
                record_owner_value(&other_rack, &ResourceKey::from_raw("app/x/y/record")),
            ),
        ],
    )
    .await
    .unwrap();

    b.reset_calls();
    let seen = b.observe(&env.rack, &Scope::Apps).await.unwrap();
    assert!(seen.is_empty(), "{seen:#?}");
    let seen = b.observe(&env.rack, &Scope::Rack).await.unwrap();
    assert_eq!(seen.len(), 6, "the router and the zone only: {seen:#?}");
    assert!(
        seen.iter()
            .all(|o| o.resource.tags.get(TAG_RACK).map(String::as_str) == Some("test"))
    );
    assert_eq!(b.calls().mutating(), 0, "observe only reads");

    // The other rack sees its own load balancer and nothing of ours.
    let theirs = b.observe(&other_rack, &Scope::Rack).await.unwrap();
    assert_eq!(
        theirs
            .iter()
            .map(|o| o.resource.key.clone())
            .collect::<Vec<_>>(),
        vec![other_key]
    );
}

#[tokio::test]
#[cfg_attr(not(moto), ignore = "needs the AWS emulator: run scripts/test.sh")]
async fn local_checks_refuse_before_sending() {
    let Some(env) = MotoEnv::new("local_checks").await else {
        return;
    };
    let b: &AwsBackend = &env.backend;
    let spec = |name: &str| LoadBalancerSpec {
        name: name.into(),
        scheme: LbScheme::Internal,
        subnets: env.subnets.clone(),
        security_group: ResourceKey::router_security_group(Router::Internal),
    };
    for bad in ["internal-router", &"x".repeat(33)] {
        let err = b
            .create_load_balancer(&spec(bad), "sg-1", &Tags::new())
            .await
            .unwrap_err();
        assert_eq!(err.kind, ErrorKind::InvalidInput, "{err}");
    }
    let https = ListenerSpec {
        load_balancer: ResourceKey::router_load_balancer(Router::Internal),
        port: 443,
        protocol: Protocol::Https,
        default_action: not_found("unknown host"),
        certificate: None,
    };
    let err = b
        .create_listener("arn:x", &https, None, &Tags::new())
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::InvalidInput, "{err}");
    assert_eq!(b.calls().total(), 0, "refused before sending");
}

#[tokio::test]
#[cfg_attr(not(moto), ignore = "needs the AWS emulator: run scripts/test.sh")]
async fn tags_are_read_twenty_arns_per_call() {
    let Some(env) = MotoEnv::new("tags_per_call").await else {
        return;
    };
    let b = &env.backend;
    let app = name("backend");
    for i in 0..21 {
        let service = name(&format!("s{i}"));
        let key = ResourceKey::target_group(&app, &service, Router::Internal);
        let mut spec = tg_spec(&env, "/");
        spec.name = format!("test-backend-s{i}");
        b.create_target_group(
            &spec,
            &app_tags(
                &env,
                "backend",
                Some(service.as_str()),
                "target-group",
                &key,
            ),
        )
        .await
        .unwrap();
    }
    b.reset_calls();
    let seen = b.observe(&env.rack, &Scope::App(app)).await.unwrap();
    assert_eq!(seen.len(), 21);
    let calls = b.calls();
    // No load balancers, so no listeners or rules: only the target groups' tags.
    assert_eq!(calls.get("DescribeTags"), 2, "{calls:?}");
    assert_eq!(calls.mutating(), 0, "{calls:?}");
}

/// Pacing over a real HTTP round trip: a burst beyond a small bucket takes at
/// least the time the bucket's rate allows, on the wall clock.
#[tokio::test]
#[cfg_attr(not(moto), ignore = "needs the AWS emulator: run scripts/test.sh")]
async fn a_burst_beyond_the_bucket_is_spread_out() {
    let Some(env) = MotoEnv::new("pacing").await else {
        return;
    };
    let b = MotoEnv::builder_for(&env.endpoint, &env.account, &env.region)
        .with_pacing(Pacing::uniform(Rate::new(2, 20.0)))
        .build()
        .await
        .unwrap();
    let start = std::time::Instant::now();
    for _ in 0..12 {
        assert_eq!(b.default_vpc().await.unwrap(), Some(env.vpc.id.clone()));
    }
    let took = start.elapsed();
    // Two from the full bucket, then ten at 50 ms each.
    assert!(
        took >= std::time::Duration::from_millis(500),
        "12 calls took {took:?}"
    );
    assert_eq!(b.calls().get("DescribeVpcs"), 12);
}

/// What moto does where AWS refuses: the gaps the conformance suite is told of.
/// Should moto close one, this test says so and the flag can go.
#[tokio::test]
#[cfg_attr(not(moto), ignore = "needs the AWS emulator: run scripts/test.sh")]
async fn moto_gaps_are_as_documented() {
    let Some(env) = MotoEnv::new("moto_gaps").await else {
        return;
    };
    let b = &env.backend;
    let ids = make_internal_router(&env).await;

    // A second load balancer of the same name, other scheme: AWS says
    // DuplicateLoadBalancerName.
    let dup_lb = b
        .create_load_balancer(
            &LoadBalancerSpec {
                name: "test-internal".into(),
                scheme: LbScheme::InternetFacing,
                subnets: env.subnets.clone(),
                security_group: ResourceKey::router_security_group(Router::Internal),
            },
            &ids.sg,
            &Tags::new(),
        )
        .await;
    // A second listener on port 80 with another default action: AWS says
    // DuplicateListener. (With the same settings AWS returns the existing one.)
    let dup_listener = b
        .create_listener(
            &ids.lb,
            &ListenerSpec {
                load_balancer: ResourceKey::router_load_balancer(Router::Internal),
                port: 80,
                protocol: Protocol::Http,
                default_action: not_found("other"),
                certificate: None,
            },
            None,
            &Tags::new(),
        )
        .await;
    // CREATE of an existing record: AWS says InvalidChangeBatch.
    let zone = b
        .create_hosted_zone(
            &HostedZoneSpec {
                name: "test.convox".into(),
                vpc_id: env.vpc.id.clone(),
                region: env.region.clone(),
            },
            &Tags::new(),
        )
        .await
        .unwrap();
    let create = RecordChange {
        action: RecordAction::Create,
        name: "a.test.convox".into(),
        target: ids.address.clone(),
        owner: "x".into(),
    };
    b.change_records(&zone, std::slice::from_ref(&create))
        .await
        .unwrap();
    let dup_record = b.change_records(&zone, std::slice::from_ref(&create)).await;
    // DELETE of a missing record: AWS says InvalidChangeBatch.
    let missing_record = b
        .change_records(
            &zone,
            &[RecordChange {
                action: RecordAction::Delete,
                name: "b.test.convox".into(),
                ..create
            }],
        )
        .await;
    // DELETE of a missing rule: AWS says RuleNotFound.
    let missing_rule = b
        .delete_rule(&format!(
            "{}/0123456789abcdef",
            ids.http.replace(":listener/", ":listener-rule/")
        ))
        .await;

    // Deleting a certificate a listener uses: AWS says ResourceInUseException.
    let sni = b
        .import_certificate(
            &CertificateSpec {
                domain: "*.backend.test.convox".into(),
                issuer: "ca-fingerprint-1".into(),
            },
            &certificate("app"),
            &Tags::new(),
        )
        .await
        .unwrap();
    b.add_listener_certificate(&ids.https, &sni).await.unwrap();
    let cert_in_use = b.delete_certificate(&sni).await;
    // Deleting a security group a load balancer uses: AWS says
    // DependencyViolation.
    let sg_in_use = b.delete_security_group(&ids.sg).await;

    let report = format!(
        "duplicate LB name: {:?}\nduplicate listener: {:?}\nCREATE existing record: {:?}\n\
         DELETE missing record: {:?}\nDELETE missing rule: {:?}\n\
         DELETE certificate in use: {:?}\nDELETE security group in use: {:?}",
        dup_lb.as_ref().map(|_| ()).map_err(|e| e.kind),
        dup_listener.as_ref().map(|_| ()).map_err(|e| e.kind),
        dup_record.as_ref().map_err(|e| e.kind),
        missing_record.as_ref().map_err(|e| e.kind),
        missing_rule.as_ref().map_err(|e| e.kind),
        cert_in_use.as_ref().map_err(|e| e.kind),
        sg_in_use.as_ref().map_err(|e| e.kind),
    );
    eprintln!("{report}");
    // Gaps: moto accepts what AWS refuses.
    assert!(
        dup_lb.is_ok(),
        "moto now refuses duplicate LB names:\n{report}"
    );
    assert!(
        dup_listener.is_ok(),
        "moto now refuses duplicate listeners:\n{report}"
    );
    assert!(
        missing_rule.is_ok(),
        "moto now refuses to delete a missing rule:\n{report}"
    );
    assert!(
        cert_in_use.is_ok(),
        "moto now refuses to delete a certificate in use:\n{report}"
    );
    assert!(
        sg_in_use.is_ok(),
        "moto now refuses to delete a security group in use:\n{report}"
    );
    // moto refuses, but with InvalidInput ("found none in Change with
    // [Action=DELETE…"), where AWS sends InvalidChangeBatch, a conflict.
    assert_eq!(
        missing_record.unwrap_err().kind,
        ErrorKind::InvalidInput,
        "moto now answers a DELETE of a missing record differently:\n{report}"
    );
    // Not a gap: moto refuses as AWS does, and the table maps it.
    assert_eq!(
        dup_record.unwrap_err().kind,
        ErrorKind::Conflict,
        "{report}"
    );
}

/// Under CI the emulator must be there: otherwise every test above would be
/// ignored and CI would pass without the AWS backend having answered a request.
#[cfg(not(moto))]
#[test]
fn the_aws_tests_run_under_ci() {
    assert!(
        std::env::var_os("CI").is_none(),
        "CI is set but CONVOX_MOTO is not: run the tests with scripts/test.sh"
    );
}
