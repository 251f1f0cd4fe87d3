//! The apply engine's exact calls, pinned with a mocked backend: order, retries,
//! batching, stale plans, deletes.

#![allow(clippy::unwrap_used)]

#[path = "common/world.rs"]
mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use common::*;
use convox_model::apply::{
    ApplyContext, ApplyError, ApplyEvent, RetryPolicy, SleepFn, StepError, apply,
};
use convox_model::aws::Quotas;
use convox_model::backend::{
    Backend, BackendError, BackendResult, CertificatePem, CreatedLoadBalancer, ErrorKind,
};
use convox_model::name::Name;
use convox_model::plan::{Plan, plan};
use convox_model::rack::Rack;
use convox_model::resource::{
    CertificateSpec, HostedZoneSpec, ListenerRuleSpec, ListenerSpec, LoadBalancerSpec, Observed,
    RecordAction, RecordChange, Scope, SecurityGroupSpec, Tags, TargetGroupSpec,
};
use convox_model::tls::{CertificateIssuer, TlsError};
use mockall::{Sequence, predicate::*};

/// Declares [`Calls`], the backend's verbs as plain synchronous calls which
/// mockall mocks directly, and [`Mocked`]'s async [`Backend`] impl forwarding
/// to them: one line a verb, as [`Calls`] declares it. `observe` and
/// `load_rack` take no rack name; `create_listener` and the verbs under
/// `optional` (two arguments, then an optional string) take owned what
/// [`Backend`] borrows. The arguments reach mockall as written (tokens, not
/// parsed types, which it cannot read), and each entry names its `&self` so
/// that the forwarding body's `self` is the one its signature declares.
macro_rules! mocked_backend {
    (
        plain { $($method:ident(&$this:ident, $($args:tt)*) -> $ret:tt;)* }
        optional { $($o_method:ident(&$o_this:ident, $($o_args:tt)*);)* }
    ) => {
        #[mockall::automock]
        trait Calls {
            fn observe(&self, scope: &Scope) -> BackendResult<Vec<Observed>>;
            fn load_rack(&self) -> BackendResult<Option<Rack>>;
            fn retries_reads(&self) -> bool;
            fn create_listener(
                &self,
                load_balancer_arn: &str,
                spec: &ListenerSpec,
                certificate_arn: Option<String>,
                tags: &Tags,
            ) -> BackendResult<String>;
            $(fn $o_method(&self, $($o_args)*) -> BackendResult<()>;)*
            $(fn $method(&self, $($args)*) -> BackendResult<$ret>;)*
        }

        mocked_backend!(@impl
            { $($method(&$this, $($args)*) -> $ret;)* }
            { $($o_method(&$o_this, $($o_args)*);)* }
        );
    };
    (
        @impl
        { $($method:ident(&$this:ident $(, $arg:ident: $ty:ty)*) -> $ret:ty;)* }
        {
            $($o_method:ident(
                &$o_this:ident, $a:ident: $a_ty:ty, $b:ident: $b_ty:ty, $opt:ident: Option<String>
            );)*
        }
    ) => {
        #[async_trait]
        impl Backend for Mocked {
            async fn observe(&self, _rack: &Name, scope: &Scope) -> BackendResult<Vec<Observed>> {
                self.0.observe(scope)
            }
            async fn load_rack(&self, _rack: &Name) -> BackendResult<Option<Rack>> {
                self.0.load_rack()
            }
            fn retries_reads(&self) -> bool {
                self.0.retries_reads()
            }
            async fn create_listener(
                &self,
                lb: &str,
                spec: &ListenerSpec,
                cert: Option<&str>,
                tags: &Tags,
            ) -> BackendResult<String> {
                self.0.create_listener(lb, spec, cert.map(str::to_string), tags)
            }
            $(
                async fn $o_method(&$o_this, $a: $a_ty, $b: $b_ty, $opt: Option<&str>) -> BackendResult<()> {
                    $o_this.0.$o_method($a, $b, $opt.map(str::to_string))
                }
            )*
            $(
                async fn $method(&$this $(, $arg: $ty)*) -> BackendResult<$ret> {
                    $this.0.$method($($arg),*)
                }
            )*
        }
    };
}

mocked_backend! {
    plain {
        save_rack(&self, zone_id: &str, rack: &Rack) -> ();
        create_security_group(&self, spec: &SecurityGroupSpec, tags: &Tags) -> String;
        update_security_group(&self, id: &str, spec: &SecurityGroupSpec) -> ();
        delete_security_group(&self, id: &str) -> ();
        create_load_balancer(&self, spec: &LoadBalancerSpec, security_group_id: &str, tags: &Tags) -> CreatedLoadBalancer;
        delete_load_balancer(&self, arn: &str) -> ();
        delete_listener(&self, arn: &str) -> ();
        import_certificate(&self, spec: &CertificateSpec, pem: &CertificatePem, tags: &Tags) -> String;
        delete_certificate(&self, arn: &str) -> ();
        add_listener_certificate(&self, listener_arn: &str, certificate_arn: &str) -> ();
        remove_listener_certificate(&self, listener_arn: &str, certificate_arn: &str) -> ();
        create_target_group(&self, spec: &TargetGroupSpec, tags: &Tags) -> String;
        modify_target_group(&self, arn: &str, spec: &TargetGroupSpec) -> ();
        delete_target_group(&self, arn: &str) -> ();
        create_rule(&self, listener_arn: &str, spec: &ListenerRuleSpec, target_group_arn: &str, tags: &Tags) -> String;
        modify_rule(&self, arn: &str, spec: &ListenerRuleSpec, target_group_arn: &str) -> ();
        set_rule_priority(&self, arn: &str, priority: u32) -> ();
        delete_rule(&self, arn: &str) -> ();
        create_hosted_zone(&self, spec: &HostedZoneSpec, tags: &Tags) -> String;
        delete_hosted_zone(&self, id: &str) -> ();
        change_records(&self, zone_id: &str, changes: &[RecordChange]) -> ();
        // Day-2 safety (in place).
        set_load_balancer_subnets(&self, arn: &str, subnets: &[String]) -> ();
        set_load_balancer_security_groups(&self, arn: &str, ids: &[String]) -> ();
        reimport_certificate(&self, arn: &str, spec: &CertificateSpec, pem: &CertificatePem) -> ();
    }
    optional {
        modify_listener(&self, arn: &str, spec: &ListenerSpec, certificate_arn: Option<String>);
        set_load_balancer_tag(&self, arn: &str, key: &str, value: Option<String>);
    }
}

struct Mocked(MockCalls);

impl std::fmt::Debug for Mocked {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Mocked")
    }
}

/// Issues placeholder certificates: the engine's calls are under test, not TLS.
#[derive(Debug)]
struct FakeIssuer;

impl CertificateIssuer for FakeIssuer {
    fn fingerprint(&self) -> String {
        "ca".into()
    }
    fn issue(&self, domain: &str, _now: i64) -> Result<CertificatePem, TlsError> {
        Ok(CertificatePem {
            certificate: format!("cert for {domain}"),
            private_key: "key".into(),
            chain: "ca".into(),
        })
    }
}

fn sleeper() -> (SleepFn, Arc<Mutex<Vec<Duration>>>) {
    let slept = Arc::new(Mutex::new(Vec::new()));
    let s = slept.clone();
    let f: SleepFn = Arc::new(move |d| {
        s.lock().unwrap().push(d);
        Box::pin(async {})
    });
    (f, slept)
}

fn ctx(sleep: SleepFn) -> ApplyContext {
    ApplyContext::new(n("production"), 1_750_000_000, sleep)
        .with_issuer(Arc::new(FakeIssuer))
        .with_concurrency(1)
}

/// The rack's resources as they exist after its first reconcile.
fn rack_obs() -> Vec<Observed> {
    rack_observed(&rack(true, false))
}

fn expect_observe(mock: &mut MockCalls, rack_obs: Vec<Observed>, app_obs: Vec<Observed>) {
    mock.expect_observe().returning(move |scope| {
        Ok(match scope {
            Scope::Rack => rack_obs.clone(),
            Scope::All => rack_obs.iter().chain(&app_obs).cloned().collect(),
            _ => app_obs.clone(),
        })
    });
}

fn app_plan(
    services: Vec<convox_model::manifest::Service>,
    obs: &[Observed],
    limits: &Quotas,
) -> Plan {
    let d = app_desired(&rack(true, false), "backend", services);
    plan(&Scope::App(n("backend")), &d, obs, limits).unwrap()
}

/// The id of the internal router's HTTPS listener, as observed.
const INTERNAL_HTTPS: &str = "id:router/internal/listener/443";

/// A plan for app `backend`'s one service on top of the rack's resources, and
/// a mock that observes the rack's resources and none of the app's yet.
fn app_world(service: convox_model::manifest::Service) -> (Plan, MockCalls) {
    let rack_obs = rack_obs();
    let p = app_plan(vec![service], &rack_obs, &Quotas::default());
    let mut mock = MockCalls::new();
    expect_observe(&mut mock, rack_obs, vec![]);
    (p, mock)
}

/// AWS throttling `CreateTargetGroup`.
fn throttled() -> BackendResult<String> {
    Err(BackendError::new(
        ErrorKind::Throttled,
        "CreateTargetGroup",
        "Rate exceeded",
    ))
}

/// Creating the target group is throttled twice, then succeeds.
fn expect_throttled_twice(mock: &mut MockCalls, seq: &mut Sequence) {
    mock.expect_create_target_group()
        .times(2)
        .in_sequence(seq)
        .returning(|_, _| throttled());
    mock.expect_create_target_group()
        .times(1)
        .in_sequence(seq)
        .returning(|_, _| Ok("arn:tg".into()));
}

/// Five attempts from 100ms, doubling up to a second.
fn backoff() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 5,
        base_delay: Duration::from_millis(100),
        max_delay: Duration::from_secs(1),
    }
}

#[tokio::test]
async fn creates_run_in_dependency_order() {
    let (p, mut mock) = app_world(svc("api", Some(3000), true, false));
    let mut seq = Sequence::new();
    mock.expect_import_certificate()
        .withf(|spec, pem, tags| {
            spec.domain == "*.backend.production.convox"
                && pem.certificate == "cert for *.backend.production.convox"
                && tags.get("convox:key").map(String::as_str) == Some("app/backend/cert")
        })
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_, _, _| Ok("arn:cert/backend".into()));
    mock.expect_add_listener_certificate()
        .with(eq(INTERNAL_HTTPS), eq("arn:cert/backend"))
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_, _| Ok(()));
    mock.expect_create_target_group()
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_, _| Ok("arn:tg/api".into()));
    mock.expect_create_rule()
        .withf(|listener, spec, tg, _| {
            listener == INTERNAL_HTTPS && spec.priority == Some(1) && tg == "arn:tg/api"
        })
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_, _, _, _| Ok("arn:rule/api".into()));
    mock.expect_change_records()
        .withf(|zone, changes| {
            zone == "id:zone"
                && changes.len() == 1
                && changes[0].action == RecordAction::Create
                && changes[0].name == "api.backend.production.convox"
                && changes[0].target.dns_name == "internal-123.us-east-1.elb.amazonaws.com"
                && changes[0].owner == "heritage=convox,rack=production,key=app/backend/api/record"
        })
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_, _| Ok(()));

    let events = Arc::new(Mutex::new(Vec::new()));
    let ev = events.clone();
    let (sleep, _) = sleeper();
    let c = ctx(sleep).with_events(Arc::new(move |e: &ApplyEvent| {
        ev.lock().unwrap().push(e.clone())
    }));
    let report = apply(&Mocked(mock), &p, &c).await.unwrap();
    assert_eq!(report.applied.len(), 5);
    assert_eq!(report.calls, 5);
    assert_eq!(report.retries, 0);
    assert_eq!(
        report
            .ids
            .get(&convox_model::resource::ResourceKey::target_group(
                &n("backend"),
                &n("api"),
                convox_model::exposure::Router::Internal
            ))
            .map(String::as_str),
        Some("arn:tg/api")
    );
    let events = events.lock().unwrap();
    assert_eq!(events.len(), 10);
    assert!(
        matches!(&events[0], ApplyEvent::Started { action } if action.key.as_str() == "app/backend/cert")
    );
}

#[tokio::test]
async fn a_fresh_rack_is_built_in_dependency_order() {
    let p = rack_plan(&rack(true, true), &[]);
    let mut mock = MockCalls::new();
    expect_observe(&mut mock, vec![], vec![]);
    let mut seq = Sequence::new();
    mock.expect_create_security_group()
        .withf(|sg, _| sg.ingress.iter().all(|r| r.cidr == "10.0.0.0/16"))
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_, _| Ok("sg-1".into()));
    mock.expect_create_load_balancer()
        .with(always(), eq("sg-1"), always())
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_, _, _| {
            Ok(CreatedLoadBalancer {
                arn: "arn:alb".into(),
                address: address(convox_model::exposure::Router::Internal),
            })
        });
    mock.expect_import_certificate()
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_, _, _| Ok("arn:cert".into()));
    mock.expect_create_listener()
        .withf(|lb, spec, cert, _| lb == "arn:alb" && (spec.port == 80) == cert.is_none())
        .times(2)
        .in_sequence(&mut seq)
        .returning(|_, spec, _, _| Ok(format!("arn:listener/{}", spec.port)));
    mock.expect_create_hosted_zone()
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_, _| Ok("Z1".into()));
    let (sleep, _) = sleeper();
    let report = apply(&Mocked(mock), &p, &ctx(sleep).with_concurrency(4))
        .await
        .unwrap();
    assert_eq!(report.calls, 6);
    assert_eq!(
        report
            .ids
            .get(&convox_model::resource::ResourceKey::zone())
            .map(String::as_str),
        Some("Z1")
    );
}

#[tokio::test]
async fn throttling_is_retried_with_backoff_then_succeeds() {
    let (p, mut mock) = app_world(svc("web", Some(80), false, false));
    let mut seq = Sequence::new();
    expect_throttled_twice(&mut mock, &mut seq);
    mock.expect_create_rule()
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_, _, _, _| Ok("arn:rule".into()));
    let (sleep, slept) = sleeper();
    let report = apply(
        &Mocked(mock),
        &p,
        &ctx(sleep).with_retry(backoff()).with_seed(7),
    )
    .await
    .unwrap();
    assert_eq!(report.retries, 2);
    assert_eq!(report.calls, 4);
    let slept = slept.lock().unwrap().clone();
    assert_eq!(slept.len(), 2);
    // Full jitter under a doubling cap: [0, 100ms] then [0, 200ms].
    assert!(slept[0] <= Duration::from_millis(100), "{slept:?}");
    assert!(slept[1] <= Duration::from_millis(200), "{slept:?}");

    // The same seed gives the same delays.
    let mut again = MockCalls::new();
    expect_observe(&mut again, rack_obs(), vec![]);
    let mut seq = Sequence::new();
    expect_throttled_twice(&mut again, &mut seq);
    again
        .expect_create_rule()
        .returning(|_, _, _, _| Ok("arn:rule".into()));
    let (sleep2, slept2) = sleeper();
    apply(
        &Mocked(again),
        &p,
        &ctx(sleep2).with_retry(backoff()).with_seed(7),
    )
    .await
    .unwrap();
    assert_eq!(*slept2.lock().unwrap(), slept);
}

#[tokio::test]
async fn invalid_input_is_not_retried_and_stops_with_a_partial_report() {
    let (p, mut mock) = app_world(svc("api", Some(3000), true, false));
    mock.expect_import_certificate()
        .times(1)
        .returning(|_, _, _| Ok("arn:cert".into()));
    mock.expect_add_listener_certificate()
        .times(1)
        .returning(|_, _| Ok(()));
    mock.expect_create_target_group()
        .times(1)
        .returning(|_, _| {
            Err(BackendError::new(
                ErrorKind::InvalidInput,
                "CreateTargetGroup",
                "bad health check",
            ))
        });
    mock.expect_create_rule().times(0);
    mock.expect_change_records().times(0);
    let (sleep, slept) = sleeper();
    let err = apply(&Mocked(mock), &p, &ctx(sleep)).await.unwrap_err();
    let ApplyError::Failed { failures, report } = &err else {
        panic!("{err}");
    };
    assert_eq!(failures.len(), 1);
    assert!(
        matches!(&failures[0].error, StepError::Backend(e) if e.kind() == ErrorKind::InvalidInput)
    );
    assert_eq!(report.applied.len(), 2);
    assert_eq!(report.calls, 3);
    assert!(slept.lock().unwrap().is_empty());
    let text = err.to_string();
    assert!(
        text.contains("create target group app/backend/api/internal/tg")
            // Invalid input does not go away by itself: the message says to fix
            // it first, and promises no automatic continuation.
            && text.contains("fix the cause above, then run again")
            && !text.contains("running again"),
        "{text}"
    );
}

#[tokio::test]
async fn retries_stop_at_the_configured_attempts() {
    let (p, mut mock) = app_world(svc("web", Some(80), false, false));
    mock.expect_create_target_group()
        .times(3)
        .returning(|_, _| throttled());
    let (sleep, slept) = sleeper();
    let retry = RetryPolicy {
        max_attempts: 3,
        ..RetryPolicy::default()
    };
    let err = apply(&Mocked(mock), &p, &ctx(sleep).with_retry(retry))
        .await
        .unwrap_err();
    assert_eq!(err.report().unwrap().retries, 2);
    assert_eq!(slept.lock().unwrap().len(), 2);
}

#[tokio::test]
async fn route53_changes_are_batched_within_the_limit() {
    let rack_obs = rack_obs();
    let limits = Quotas {
        rules_per_load_balancer: 1000,
        target_groups_per_load_balancer: 1000,
        ..Quotas::default()
    };
    let services = (0..600)
        .map(|i| svc(&format!("s{i}"), Some(80), true, false))
        .collect();
    let p = app_plan(services, &rack_obs, &limits);
    let mut mock = MockCalls::new();
    expect_observe(&mut mock, rack_obs, vec![]);
    mock.expect_import_certificate()
        .returning(|_, _, _| Ok("arn:cert".into()));
    mock.expect_add_listener_certificate()
        .returning(|_, _| Ok(()));
    mock.expect_create_target_group()
        .times(600)
        .returning(|s, _| Ok(format!("arn:{}", s.name)));
    mock.expect_create_rule()
        .times(600)
        .returning(|_, s, _, _| Ok(format!("arn:{}", s.hosts[0])));
    let sizes = Arc::new(Mutex::new(Vec::new()));
    let s = sizes.clone();
    mock.expect_change_records()
        .times(2)
        .returning(move |_, changes| {
            s.lock().unwrap().push(changes.len());
            Ok(())
        });
    let (sleep, _) = sleeper();
    let report = apply(&Mocked(mock), &p, &ctx(sleep).with_concurrency(8))
        .await
        .unwrap();
    let mut sizes = sizes.lock().unwrap().clone();
    sizes.sort();
    // Each change is an A and a TXT record: 500 changes fill a batch of 1000.
    assert_eq!(sizes, vec![100, 500]);
    assert_eq!(report.applied.len(), 2 + 600 * 3);
}

/// The rack's resources as observed, and a plan for app `backend`'s one
/// internal service `api` on top of them.
fn api_on_the_rack() -> (Vec<Observed>, Plan) {
    let rack_obs = rack_obs();
    let p = app_plan(
        vec![svc("api", Some(3000), true, false)],
        &rack_obs,
        &Quotas::default(),
    );
    (rack_obs, p)
}

#[tokio::test]
async fn a_stale_plan_is_refused_without_a_single_change() {
    let (rack_obs, p) = api_on_the_rack();
    let mut mock = MockCalls::new();
    // Someone else changed the rack since: one resource fewer.
    let changed: Vec<Observed> = rack_obs[1..].to_vec();
    expect_observe(&mut mock, changed, vec![]);
    // No other expectation: any mutating call would panic.
    let (sleep, _) = sleeper();
    let err = apply(&Mocked(mock), &p, &ctx(sleep)).await.unwrap_err();
    assert!(matches!(err, ApplyError::Stale { .. }), "{err}");
    assert!(err.to_string().contains("plan again"));
}

/// One retry layer per call: the engine retries a throttled read (its check
/// of the plan's fingerprint) when the backend does not retry its reads
/// itself, and leaves it to a backend that does (the AWS SDK).
#[tokio::test]
async fn a_read_is_retried_by_the_engine_only_when_the_backend_does_not() {
    let (_, p) = api_on_the_rack();
    let throttled_observe =
        || Err(BackendError::new(ErrorKind::Throttled, "Observe", "Rate exceeded").retryable(true));
    for (backend_retries, observes) in [(true, 1), (false, 6)] {
        let mut mock = MockCalls::new();
        mock.expect_observe()
            .times(observes)
            .returning(move |_| throttled_observe());
        mock.expect_retries_reads().return_const(backend_retries);
        let (sleep, _) = sleeper();
        let err = apply(&Mocked(mock), &p, &ctx(sleep)).await.unwrap_err();
        assert!(matches!(err, ApplyError::Observe(_)), "{err}");
    }
}

#[tokio::test]
async fn deletes_run_in_reverse_dependency_order() {
    let rack_obs = rack_obs();
    let created = app_plan(
        vec![svc("api", Some(3000), true, false)],
        &rack_obs,
        &Quotas::default(),
    );
    let all = observe_after(&rack_obs, &created);
    let app_obs: Vec<Observed> = all
        .iter()
        .filter(|o| o.resource.key.app().is_some())
        .cloned()
        .collect();
    let p = plan_app_deletion("backend", &all);
    let mut mock = MockCalls::new();
    expect_observe(&mut mock, rack_obs, app_obs);
    let mut seq = Sequence::new();
    mock.expect_change_records()
        .withf(|zone, c| zone == "id:zone" && c.len() == 1 && c[0].action == RecordAction::Delete)
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_, _| Ok(()));
    mock.expect_delete_rule()
        .with(eq("id:app/backend/api/internal/rule"))
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_| Ok(()));
    mock.expect_delete_target_group()
        .with(eq("id:app/backend/api/internal/tg"))
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_| Ok(()));
    mock.expect_remove_listener_certificate()
        .with(eq(INTERNAL_HTTPS), eq("id:app/backend/cert"))
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_, _| Ok(()));
    // Already gone counts as deleted: a re-run after a partial apply is safe.
    mock.expect_delete_certificate()
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_| {
            Err(BackendError::new(
                ErrorKind::NotFound,
                "DeleteCertificate",
                "gone",
            ))
        });
    let (sleep, _) = sleeper();
    let report = apply(&Mocked(mock), &p, &ctx(sleep)).await.unwrap();
    assert_eq!(report.applied.len(), 5);
    assert!(report.ids.keys().all(|k| k.app().is_none()));
}

#[tokio::test]
async fn an_empty_plan_makes_no_mutating_call() {
    let rack_obs = rack_obs();
    let p = rack_plan(&rack(true, false), &rack_obs);
    assert!(p.is_empty());
    let mut mock = MockCalls::new();
    expect_observe(&mut mock, rack_obs, vec![]);
    let (sleep, _) = sleeper();
    let report = apply(&Mocked(mock), &p, &ctx(sleep)).await.unwrap();
    assert_eq!(report.calls, 0);
    assert!(report.applied.is_empty());
}
