//! What the conformance suite does not pin: AWS's id shapes, quotas, call counts,
//! JSON state, foreign records, latency.

mod common;

use std::time::Duration;

use common::*;
use convox_mock::{MockBackend, Quotas, VirtualClock, alb_canonical_zone_id};
use convox_model::backend::{Backend, BackendError, BackendResult, ErrorKind};
use convox_model::conformance::fake_certificate;
use convox_model::resource::{
    CertificateSpec, LbScheme, LoadBalancerAddress, RecordAction, RecordChange, ResourceKey, Scope,
    Tags, TargetGroupSpec, record_owner_value,
};

/// A security group named `name`, untagged.
async fn security_group(mock: &MockBackend, name: &str) -> String {
    mock.create_security_group(&sg_spec(name), &Tags::new())
        .await
        .expect("security group created")
}

/// A target group named `name`, untagged.
async fn target_group(mock: &MockBackend, name: &str) -> String {
    mock.create_target_group(&tg_spec(name), &Tags::new())
        .await
        .expect("target group created")
}

/// The error creating an untagged target group from `spec` meets.
async fn refused_target_group(mock: &MockBackend, spec: &TargetGroupSpec) -> BackendError {
    mock.create_target_group(spec, &Tags::new())
        .await
        .expect_err("target group refused")
}

/// Creates an untagged rule at `priority` for `hosts` on `listener`.
async fn rule(
    mock: &MockBackend,
    listener: &str,
    priority: u32,
    hosts: &[&str],
    target_group: &str,
) -> BackendResult<String> {
    let spec = rule_spec(priority, hosts);
    mock.create_rule(listener, &spec, target_group, &Tags::new())
        .await
}

/// A mock under AWS's quotas as `lower` changes them, with the internal router
/// `prod-int` and the untagged target group `group`.
async fn router_and_group(
    lower: impl FnOnce(&mut Quotas),
    group: &str,
) -> (MockBackend, Router443, String) {
    let mut quotas = Quotas::default();
    lower(&mut quotas);
    let mock = MockBackend::new().with_quotas(quotas);
    let r = router(&mock, "prod-int").await;
    let tg = target_group(&mock, group).await;
    (mock, r, tg)
}

#[tokio::test]
async fn ids_and_addresses_have_aws_shapes() {
    let mock = MockBackend::new()
        .with_region("eu-west-1")
        .with_account("111122223333");
    let r = router(&mock, "prod-int").await;
    assert!(r.sg.starts_with("sg-") && r.sg.len() == 20, "{}", r.sg);
    assert!(
        r.lb.arn.starts_with(
            "arn:aws:elasticloadbalancing:eu-west-1:111122223333:loadbalancer/app/prod-int/"
        ),
        "{}",
        r.lb.arn
    );
    assert!(
        r.listener.contains(":listener/app/prod-int/"),
        "{}",
        r.listener
    );
    assert!(
        r.cert
            .starts_with("arn:aws:acm:eu-west-1:111122223333:certificate/")
    );
    let dns = &r.lb.address.dns_name;
    assert!(
        dns.starts_with("internal-prod-int-") && dns.ends_with(".eu-west-1.elb.amazonaws.com"),
        "{dns}"
    );
    assert_eq!(
        r.lb.address.hosted_zone_id,
        alb_canonical_zone_id("eu-west-1")
    );
    assert_eq!(alb_canonical_zone_id("us-east-1"), "Z35SXDOTRQ7X7K");
    let zone = mock
        .create_hosted_zone(&zone_spec(), &Tags::new())
        .await
        .unwrap();
    assert!(zone.starts_with('Z') && zone.len() == 21, "{zone}");
}

#[tokio::test]
async fn ids_repeat_from_run_to_run() {
    let a = MockBackend::new();
    let b = MockBackend::new();
    let ra = router(&a, "prod-int").await;
    let rb = router(&b, "prod-int").await;
    assert_eq!((ra.sg, ra.lb, ra.cert), (rb.sg, rb.lb, rb.cert));
}

#[tokio::test]
async fn internet_facing_dns_has_no_internal_prefix() {
    let mock = MockBackend::new();
    let sg = security_group(&mock, "ext").await;
    let lb = mock
        .create_load_balancer(
            &lb_spec("prod-ext", LbScheme::InternetFacing),
            &sg,
            &Tags::new(),
        )
        .await
        .unwrap();
    assert!(lb.address.dns_name.starts_with("prod-ext-"));
}

#[tokio::test]
async fn rule_quota_is_configurable() {
    let (mock, r, tg) = router_and_group(|q| q.rules_per_load_balancer = 2, "tg").await;
    for p in 1..=2 {
        rule(&mock, &r.listener, p, &["a.example"], &tg)
            .await
            .unwrap();
    }
    let err = rule(&mock, &r.listener, 3, &["a.example"], &tg)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::QuotaExceeded);
    assert_eq!(err.operation(), "CreateRule");
}

#[tokio::test]
async fn target_group_quota_and_single_load_balancer() {
    let (mock, r, t1) = router_and_group(|q| q.target_groups_per_load_balancer = 1, "t1").await;
    let t2 = target_group(&mock, "t2").await;
    rule(&mock, &r.listener, 1, &["a"], &t1).await.unwrap();
    // A second rule to the same group does not count again.
    rule(&mock, &r.listener, 2, &["b"], &t1).await.unwrap();
    let err = rule(&mock, &r.listener, 3, &["c"], &t2).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::QuotaExceeded);
    // A target group serves one load balancer only.
    let other = router(&mock, "prod-other").await;
    let err = rule(&mock, &other.listener, 1, &["d"], &t1)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict);
}

#[tokio::test]
async fn condition_values_and_certificates_per_load_balancer() {
    let (mock, r, tg) = router_and_group(|q| q.certificates_per_load_balancer = 1, "t1").await;
    let err = rule(&mock, &r.listener, 1, &["a", "b", "c", "d", "e", "f"], &tg)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::QuotaExceeded);
    let import = |d: &str| {
        let spec = CertificateSpec {
            domain: d.into(),
            issuer: "ca".into(),
            names: Vec::new(),
        };
        let mock = &mock;
        async move {
            mock.import_certificate(&spec, &fake_certificate(&spec.domain), &Tags::new())
                .await
                .unwrap()
        }
    };
    let c1 = import("*.a.prod.convox").await;
    let c2 = import("*.b.prod.convox").await;
    // Attaching one already attached succeeds and counts once.
    for _ in 0..2 {
        mock.add_listener_certificate(&r.listener, &c1)
            .await
            .unwrap();
    }
    let err = mock
        .add_listener_certificate(&r.listener, &c2)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::QuotaExceeded);
}

#[tokio::test]
async fn target_group_create_is_idempotent_for_identical_settings() {
    let mock = MockBackend::new();
    let a = target_group(&mock, "t1").await;
    let b = target_group(&mock, "t1").await;
    assert_eq!(a, b);
    let mut other = tg_spec("t1");
    other.port = 4000;
    let err = refused_target_group(&mock, &other).await;
    assert_eq!(err.kind(), ErrorKind::AlreadyExists);
}

#[tokio::test]
async fn invalid_names_and_health_checks_are_refused() {
    let mock = MockBackend::new();
    for bad in ["-x", "x-", "a_b", ""] {
        let err = refused_target_group(&mock, &tg_spec(bad)).await;
        assert_eq!(err.kind(), ErrorKind::InvalidInput, "{bad:?}");
    }
    let mut spec = tg_spec("t");
    spec.health.timeout = 5;
    let err = refused_target_group(&mock, &spec).await;
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
}

#[tokio::test]
async fn every_tagged_create_is_refused_over_the_tag_quota_and_creates_nothing() {
    let mock = MockBackend::new().with_quotas(Quotas {
        tags_per_resource: 1,
        ..Quotas::default()
    });
    let two: Tags = [("a", "1"), ("b", "2")]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let refusals = [
        mock.create_security_group(&sg_spec("sg"), &two).await.err(),
        mock.create_target_group(&tg_spec("tg"), &two).await.err(),
        mock.create_hosted_zone(&zone_spec(), &two).await.err(),
        mock.request_certificate("prod.example.com", &two)
            .await
            .err(),
    ];
    for (i, err) in refusals.into_iter().enumerate() {
        let err = err.unwrap_or_else(|| panic!("create {i} with two tags was accepted"));
        assert_eq!(err.kind(), ErrorKind::InvalidInput, "create {i}: {err}");
        assert!(
            err.to_string().contains("2 tags given"),
            "create {i}: {err}"
        );
    }
    assert_eq!(mock.inventory(), Default::default());
    let one: Tags = two.into_iter().take(1).collect();
    mock.create_target_group(&tg_spec("tg"), &one)
        .await
        .expect("one tag is within the quota");
}

#[tokio::test]
async fn batch_weight_counts_upserts_twice() {
    let mock = MockBackend::new();
    let zone = mock
        .create_hosted_zone(&zone_spec(), &Tags::new())
        .await
        .unwrap();
    let target = LoadBalancerAddress {
        dns_name: "x.us-east-1.elb.amazonaws.com".into(),
        hosted_zone_id: "Z35SXDOTRQ7X7K".into(),
    };
    let batch = |n: usize| -> Vec<RecordChange> {
        (0..n)
            .map(|i| RecordChange {
                action: RecordAction::Upsert,
                name: format!("s{i}.app.prod.convox"),
                target: target.clone(),
                owner: "x".into(),
            })
            .collect()
    };
    // 250 upserts of an A and a TXT count exactly 1000.
    mock.change_records(&zone, &batch(250)).await.unwrap();
    let err = mock.change_records(&zone, &batch(251)).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    assert_eq!(mock.inventory().records, 250);
}

#[tokio::test]
async fn calls_are_counted_by_operation_and_kind() {
    let mock = MockBackend::new();
    router(&mock, "prod-int").await;
    mock.observe(&rack(), &Scope::Rack).await.unwrap();
    // A refused call is a call too.
    let _ = mock.delete_rule("arn:missing").await;
    let calls = mock.calls();
    assert_eq!(calls.reads, 1);
    assert_eq!(calls.mutations, 5);
    assert_eq!(calls.of("CreateLoadBalancer"), 1);
    assert_eq!(calls.of("DeleteRule"), 1);
    assert_eq!(calls.of("Observe"), 1);
    assert_eq!(calls.total(), 6);
    mock.reset_calls();
    assert_eq!(mock.calls(), Default::default());
}

#[tokio::test]
async fn json_state_round_trips_and_ids_continue() {
    let mock = MockBackend::new().with_region("us-west-2");
    let r = router(&mock, "prod-int").await;
    mock.create_hosted_zone(&zone_spec(), &tags(&ResourceKey::zone()))
        .await
        .unwrap();
    let before = mock.observe(&rack(), &Scope::Rack).await.unwrap();
    let json = mock.to_json().unwrap();
    let copy = MockBackend::from_json(&json).unwrap();
    assert_eq!(copy.observe(&rack(), &Scope::Rack).await.unwrap(), before);
    assert_eq!(copy.to_json().unwrap(), json);
    // New ids carry on from the saved counter instead of repeating old ones.
    let next_a = target_group(&mock, "t").await;
    let next_b = copy
        .create_target_group(&tg_spec("t"), &Tags::new())
        .await
        .unwrap();
    assert_eq!(next_a, next_b);
    assert!(!json.contains(&next_a));
    assert!(next_a.contains(":us-west-2:"));
    // Deleting the router's certificate is still refused in the copy.
    let err = copy.delete_certificate(&r.cert).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict);
    assert!(MockBackend::from_json("{\"nope\": 1}").is_err());
}

#[tokio::test]
async fn open_and_save_persist_a_session() {
    let dir = std::env::temp_dir().join(format!("convox-mock-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("state.json");
    let _ = std::fs::remove_file(&path);
    let first = MockBackend::open(&path).unwrap();
    router(&first, "prod-int").await;
    first.save(&path).unwrap();
    let second = MockBackend::open(&path).unwrap();
    assert_eq!(second.inventory(), first.inventory());
    assert_eq!(second.calls(), Default::default());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn foreign_records_are_never_observed_and_block_zone_deletion() {
    let mock = MockBackend::new();
    let zone = mock
        .create_hosted_zone(&zone_spec(), &tags(&ResourceKey::zone()))
        .await
        .unwrap();
    let target = LoadBalancerAddress {
        dns_name: "elsewhere.example".into(),
        hosted_zone_id: "Z1".into(),
    };
    mock.insert_foreign_record(&zone, "legacy.prod.convox", Some(target.clone()), None)
        .unwrap();
    mock.insert_foreign_record(&zone, "txt.prod.convox", None, Some("v=spf1 -all".into()))
        .unwrap();
    let obs = mock.observe(&rack(), &Scope::Apps).await.unwrap();
    assert!(obs.is_empty(), "{obs:?}");
    let err = mock.delete_hosted_zone(&zone).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict);
    // CREATE over a foreign record conflicts too: its name is taken.
    let key = ResourceKey::record(&name("app"), &name("legacy"));
    let err = mock
        .change_records(
            &zone,
            &[RecordChange {
                action: RecordAction::Create,
                name: "legacy.prod.convox".into(),
                target,
                owner: record_owner_value(&rack(), &key),
            }],
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict);
    assert!(
        mock.insert_foreign_record("Znope", "x", None, None)
            .is_err()
    );
}

#[tokio::test]
async fn references_to_unowned_resources_stay_provider_ids() {
    let mock = MockBackend::new();
    let sg = security_group(&mock, "foreign").await;
    let key = ResourceKey::router_load_balancer(convox_model::exposure::Router::Internal);
    mock.create_load_balancer(&lb_spec("prod-int", LbScheme::Internal), &sg, &tags(&key))
        .await
        .unwrap();
    let obs = mock.observe(&rack(), &Scope::Rack).await.unwrap();
    assert_eq!(obs.len(), 1);
    let convox_model::resource::ResourceSpec::LoadBalancer(lb) = &obs[0].resource.spec else {
        panic!("not a load balancer: {obs:?}");
    };
    assert_eq!(lb.security_group.as_str(), sg);
}

#[tokio::test]
async fn latency_goes_through_the_callers_sleep() {
    let clock = VirtualClock::new();
    let mock = MockBackend::new().with_latency(Duration::from_millis(250), clock.sleep_fn());
    mock.observe(&rack(), &Scope::Rack).await.unwrap();
    mock.load_rack(&rack()).await.unwrap();
    assert_eq!(clock.now(), Duration::from_millis(500));
}

#[tokio::test]
async fn latency_with_tokio_sleep() {
    let sleep = convox_mock::sleep_fn(tokio::time::sleep);
    let mock = MockBackend::new().with_latency(Duration::from_millis(5), sleep);
    let start = std::time::Instant::now();
    mock.observe(&rack(), &Scope::Rack).await.unwrap();
    assert!(start.elapsed() >= Duration::from_millis(5));
}
