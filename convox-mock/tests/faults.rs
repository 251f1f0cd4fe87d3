//! The fault wrapper: deterministic from its seed, faults before and after the
//! call, AWS's rate limits on a virtual clock.

mod common;

use std::time::Duration;

use common::*;
use convox_mock::{
    Fault, FaultTiming, Faulty, MockBackend, Rate, RateLimits, Target, Trigger, VirtualClock,
    ops::ApiFamily,
};
use convox_model::backend::{Backend, BackendError, ErrorKind};
use convox_model::resource::{ResourceKey, Scope, Tags};

/// Which of `n` observe calls fail.
async fn schedule(b: &dyn Backend, n: usize) -> Vec<bool> {
    let mut out = Vec::new();
    for _ in 0..n {
        out.push(b.observe(&rack(), &Scope::Rack).await.is_err());
    }
    out
}

#[tokio::test]
async fn same_seed_same_faults() {
    let make = |seed| Faulty::new(MockBackend::new(), seed).fail_fraction(0.3, Fault::transient());
    let a = schedule(&make(42), 200).await;
    let b = schedule(&make(42), 200).await;
    let c = schedule(&make(43), 200).await;
    assert_eq!(a, b);
    assert_ne!(a, c);
    let failed = a.iter().filter(|f| **f).count();
    assert!((30..=90).contains(&failed), "{failed} of 200 at p=0.3");
}

#[tokio::test]
async fn nth_call_fails_once_and_is_counted() {
    let b = Faulty::new(MockBackend::new(), 0).fail_nth_call(3, Fault::transient());
    assert_eq!(schedule(&b, 5).await, [false, false, true, false, false]);
    let faults = b.faults();
    assert_eq!((faults.calls, faults.injected, faults.total()), (5, 1, 1));
    assert_eq!(faults.by_operation.get("Observe"), Some(&1));
    // The inner backend never saw the failed call.
    assert_eq!(b.inner().calls().reads, 4);
}

/// A backend whose first `CreateSecurityGroup` fails with `fault`, the key of
/// the group the tests create, and the error of that first create.
async fn first_create_fails(fault: Fault) -> (Faulty<MockBackend>, ResourceKey, BackendError) {
    let b = Faulty::new(MockBackend::new(), 0).fail_nth_call_of("CreateSecurityGroup", 1, fault);
    let key = ResourceKey::router_security_group(convox_model::exposure::Router::Internal);
    let err = b
        .create_security_group(&sg_spec("sg"), &tags(&key))
        .await
        .expect_err("the first create fails");
    (b, key, err)
}

#[tokio::test]
async fn fault_before_changes_nothing() {
    let (b, key, err) = first_create_fails(Fault::transient()).await;
    assert_eq!(err.kind(), ErrorKind::Unexpected);
    assert!(err.is_retryable());
    assert_eq!(b.inner().inventory().security_groups, 0);
    // The retry succeeds.
    b.create_security_group(&sg_spec("sg"), &tags(&key))
        .await
        .unwrap();
    assert_eq!(b.inner().inventory().security_groups, 1);
}

#[tokio::test]
async fn fault_after_leaves_the_change_made() {
    let (b, key, err) = first_create_fails(Fault::lost_response()).await;
    assert!(err.is_retryable());
    assert!(err.message().contains("after the change"));
    // The group exists, tagged, so observe finds it and a converging caller
    // adopts it rather than creating another.
    let obs = b.observe(&rack(), &Scope::Rack).await.unwrap();
    assert_eq!(obs.len(), 1);
    assert_eq!(obs[0].resource.key, key);
    // A blind retry meets AWS's duplicate error.
    let err = b
        .create_security_group(&sg_spec("sg"), &tags(&key))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::AlreadyExists);
}

#[tokio::test]
async fn rules_target_mutations_and_operations() {
    let b = Faulty::new(MockBackend::new(), 9).with_rule(
        Target::Mutations,
        Trigger::From(1),
        Fault::before(ErrorKind::Permission),
    );
    assert!(b.observe(&rack(), &Scope::Rack).await.is_ok());
    let err = b
        .create_target_group(&tg_spec("t"), &Tags::new())
        .await
        .unwrap_err();
    assert_eq!(
        (err.kind(), err.is_retryable()),
        (ErrorKind::Permission, false)
    );
    b.clear_rules();
    b.create_target_group(&tg_spec("t"), &Tags::new())
        .await
        .unwrap();
    let f = Fault::after(ErrorKind::Conflict).retryable(true);
    assert_eq!(f.timing, FaultTiming::After);
    assert!(f.retryable);
}

#[tokio::test]
async fn throttling_is_retryable() {
    let b = Faulty::new(MockBackend::new(), 1).throttle_fraction(1.0);
    let err = b.observe(&rack(), &Scope::Rack).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Throttled);
    assert!(err.is_retryable());
}

#[tokio::test]
async fn rate_limits_follow_the_virtual_clock() {
    let clock = VirtualClock::new();
    let b = Faulty::new(MockBackend::new(), 0)
        .with_rate_limits(RateLimits::aws_defaults())
        .with_clock(clock.clone());
    // ELBv2 mutating calls: a burst of 20, then 3 per second.
    for i in 0..20 {
        b.create_target_group(&tg_spec(&format!("t{i}")), &Tags::new())
            .await
            .unwrap_or_else(|e| panic!("call {i} within the burst: {e}"));
    }
    let err = b
        .create_target_group(&tg_spec("t20"), &Tags::new())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Throttled);
    assert_eq!(b.faults().rate_limited, 1);
    // A third of a second refills one token.
    clock.advance(Duration::from_millis(334));
    b.create_target_group(&tg_spec("t20"), &Tags::new())
        .await
        .unwrap();
    assert!(
        b.create_target_group(&tg_spec("t21"), &Tags::new())
            .await
            .is_err()
    );
    // Route53 has its own bucket, untouched by ELBv2 calls.
    b.create_hosted_zone(&zone_spec(), &Tags::new())
        .await
        .unwrap();
}

#[tokio::test]
async fn acm_imports_are_paced_at_one_per_second() {
    let clock = VirtualClock::new();
    let limits = RateLimits(
        [(
            ApiFamily::AcmImport,
            Rate {
                burst: 1.0,
                per_second: 1.0,
            },
        )]
        .into_iter()
        .collect(),
    );
    let b = Faulty::new(MockBackend::new(), 0)
        .with_clock(clock.clone())
        .with_rate_limits(limits)
        // Each call takes half a second of virtual time.
        .with_latency(Duration::from_millis(500));
    let spec = convox_model::resource::CertificateSpec {
        domain: "*.a.prod.convox".into(),
        issuer: "ca".into(),
        names: Vec::new(),
    };
    let pem = convox_model::conformance::fake_certificate(&spec.domain);
    b.import_certificate(&spec, &pem, &Tags::new())
        .await
        .unwrap();
    assert!(
        b.import_certificate(&spec, &pem, &Tags::new())
            .await
            .is_err()
    );
    // Two half-second latencies later a token is back.
    b.import_certificate(&spec, &pem, &Tags::new())
        .await
        .unwrap();
    assert_eq!(clock.now(), Duration::from_millis(1500));
}

#[tokio::test]
async fn wraps_a_backend_behind_dyn() {
    let mock = std::sync::Arc::new(MockBackend::new());
    let inner: std::sync::Arc<dyn Backend> = mock.clone();
    let b = Faulty::from_arc(inner, 0).fail_nth_call(1, Fault::throttled());
    assert!(b.observe(&rack(), &Scope::Rack).await.is_err());
    assert!(b.observe(&rack(), &Scope::Rack).await.is_ok());
    // The test keeps its own handle on the mock underneath.
    assert_eq!(mock.calls().reads, 1);
}
