//! What the backend leaves alone and what it refuses or paces by itself: foreign
//! resources, local checks, batched tag reads and the request pacer.

use convox_aws::{AwsBackend, Pacing, Rate};
use convox_model::backend::{Backend, ErrorKind};
use convox_model::exposure::Router;
use convox_model::resource::{
    LbScheme, ListenerSpec, Protocol, RecordAction, RecordChange, ResourceKey, Scope, TAG_RACK,
    Tags, ownership_tags, record_owner_value,
};

use crate::support::specs::{
    app_tags, import_fixture, lb_spec, not_found, rack_tags, tg_spec, untagged_rule,
    with_internal_router, zone_spec,
};
use crate::support::{MotoEnv, name};

#[tokio::test]
#[cfg_attr(not(moto), ignore = "needs the AWS emulator: run scripts/test.sh")]
async fn foreign_resources_are_never_observed_or_touched() {
    let (env, ids) = with_internal_router("foreign").await;
    let b = &env.backend;

    // Untagged, or tagged for another rack, in the same account.
    let other_rack = name("other");
    let other_key = ResourceKey::router_load_balancer(Router::External);
    let other_tags = ownership_tags(&other_rack, None, None, "router-alb", &other_key);
    let foreign_lb = b
        .create_load_balancer(
            &lb_spec(
                &env,
                "someone-elses",
                LbScheme::InternetFacing,
                other_key.clone(),
            ),
            &ids.sg,
            &Tags::new(),
        )
        .await
        .unwrap();
    b.create_load_balancer(
        &lb_spec(&env, "other-racks", LbScheme::Internal, other_key.clone()),
        &ids.sg,
        &other_tags,
    )
    .await
    .unwrap();
    let tg = b
        .create_target_group(&tg_spec(&env, "/"), &Tags::new())
        .await
        .unwrap();
    let hand_rule = untagged_rule(&env, &ids.https, 99, "x.test.convox", &tg)
        .await
        .unwrap();
    let cert = import_fixture(&env, "app", "x", &Tags::new())
        .await
        .unwrap();
    b.add_listener_certificate(&ids.https, &cert).await.unwrap();
    let zone = b
        .create_hosted_zone(
            &zone_spec(&env, "test.convox"),
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
    // Nothing owned; the untagged rule on our listener is reported as a foreign
    // obstacle (issue 8: its priority is taken), with no tags, never as ours.
    assert_eq!(seen.len(), 1, "{seen:#?}");
    assert_eq!(seen[0].resource.key, ResourceKey::foreign_rule(&hand_rule));
    assert!(seen[0].resource.key.is_foreign() && seen[0].resource.tags.is_empty());
    assert!(
        matches!(&seen[0].resource.spec, convox_model::resource::ResourceSpec::ListenerRule(r) if r.priority == Some(99)),
        "{seen:#?}"
    );
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
    let env = MotoEnv::new("local_checks").await;
    let b: &AwsBackend = &env.backend;
    let sg = ResourceKey::router_security_group(Router::Internal);
    let spec = |name: &str| lb_spec(&env, name, LbScheme::Internal, sg.clone());
    for bad in ["internal-router", &"x".repeat(33)] {
        let err = b
            .create_load_balancer(&spec(bad), "sg-1", &Tags::new())
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
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
    assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
    assert_eq!(b.calls().total(), 0, "refused before sending");
}

#[tokio::test]
#[cfg_attr(not(moto), ignore = "needs the AWS emulator: run scripts/test.sh")]
async fn target_groups_are_found_by_their_tags_and_described_twenty_a_call() {
    let env = MotoEnv::new("tags_per_call").await;
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
    assert!(
        seen.iter()
            .all(|o| o.resource.tags.get("convox:app").map(String::as_str) == Some("backend")),
        "{seen:#?}"
    );
    let calls = b.calls();
    // No load balancers, so no listeners or rules: the index names the target
    // groups with their tags in one call; ELBv2 describes them 20 a call.
    assert_eq!(calls.get("GetResources"), 1, "{calls:?}");
    assert_eq!(calls.get("DescribeTags"), 0, "{calls:?}");
    assert_eq!(calls.get("DescribeTargetGroups"), 2, "{calls:?}");
    assert_eq!(calls.mutating(), 0, "{calls:?}");
}

/// Pacing over a real HTTP round trip: a burst beyond a small bucket takes at
/// least the time the bucket's rate allows, on the wall clock.
#[tokio::test]
#[cfg_attr(not(moto), ignore = "needs the AWS emulator: run scripts/test.sh")]
async fn a_burst_beyond_the_bucket_is_spread_out() {
    let env = MotoEnv::new("pacing").await;
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
