//! The error branches that moto never takes, driven through the real SDK clients
//! with canned HTTP responses: what AWS sends for a duplicate name, a taken
//! port, a Route53 CREATE of an existing record, a certificate in use, throttling.
//!
//! Canned wire responses rather than mocked operation outputs: they also prove
//! that the SDK's parsing of each service's error format (query XML, REST XML,
//! JSON) yields the codes the table expects.
//!
//! They stand in for `aws-smithy-mocks`, which SPEC §9 names: its newest release
//! that fits our smithy crates (0.2.6; 0.3 needs aws-smithy-runtime-api 1.13)
//! turns on `test-util` in aws-smithy-types and aws-smithy-runtime-api, at the
//! root of the SDK's crates, so every SDK crate builds a second time for tests
//! (a comparable feature change took 12 minutes on a 2-core machine), and it adds
//! 32 crates to the lock file, a second hyper among them.

#![allow(clippy::unwrap_used)]

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
    SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_runtime_api::http::StatusCode;
use aws_smithy_types::body::SdkBody;
use convox_model::backend::{Backend, BackendError, ErrorKind};
use convox_model::resource::{
    CertificateSpec, LbScheme, ListenerSpec, LoadBalancerAddress, LoadBalancerSpec, RecordAction,
    RecordChange, ResourceKey, Tags,
};

use crate::{AwsBackend, AwsBackendBuilder, Pacing, Rate};

/// One canned answer: status, content type, body.
type Answer = (u16, &'static str, String);

/// Answers requests in order with canned responses, and keeps what was asked.
#[derive(Debug, Clone, Default)]
struct Canned {
    answers: Arc<Mutex<VecDeque<Answer>>>,
    requests: Arc<Mutex<Vec<String>>>,
}

impl HttpConnector for Canned {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let body = request
            .body()
            .bytes()
            .map(|b| String::from_utf8_lossy(b).into_owned())
            .unwrap_or_default();
        self.requests
            .lock()
            .unwrap()
            .push(format!("{} {body}", request.uri()));
        let (status, content_type, body) = self
            .answers
            .lock()
            .unwrap()
            .pop_front()
            .expect("a canned answer for every request");
        let mut response =
            HttpResponse::new(StatusCode::try_from(status).unwrap(), SdkBody::from(body));
        response.headers_mut().insert("content-type", content_type);
        HttpConnectorFuture::ready(Ok(response))
    }
}

impl HttpClient for Canned {
    fn http_connector(
        &self,
        _settings: &HttpConnectorSettings,
        _components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        SharedHttpConnector::new(self.clone())
    }
}

async fn backend(answers: Vec<Answer>, attempts: u32) -> (AwsBackend, Canned) {
    paced_backend(answers, attempts, Pacing::aws_defaults()).await
}

async fn paced_backend(
    answers: Vec<Answer>,
    attempts: u32,
    pacing: Pacing,
) -> (AwsBackend, Canned) {
    let canned = Canned {
        answers: Arc::new(Mutex::new(answers.into())),
        ..Canned::default()
    };
    let b = AwsBackendBuilder::new()
        .with_pacing(pacing)
        .with_region("us-east-1")
        .with_credentials("testing", "testing")
        // Never used: the canned client answers first. Loopback all the same.
        .with_endpoint_url("http://127.0.0.1:9")
        .with_max_attempts(attempts)
        .with_http_client(SharedHttpClient::new(canned.clone()))
        .build()
        .await
        .unwrap();
    (b, canned)
}

/// ELBv2 and EC2-style query protocol error.
fn query_error(code: &str, message: &str) -> Answer {
    (
        400,
        "text/xml",
        format!(
            r#"<ErrorResponse xmlns="http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/"><Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error><RequestId>r-1</RequestId></ErrorResponse>"#
        ),
    )
}

fn route53_error(code: &str, message: &str) -> Answer {
    (
        400,
        "text/xml",
        format!(
            r#"<?xml version="1.0"?><ErrorResponse xmlns="https://route53.amazonaws.com/doc/2013-04-01/"><Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error><RequestId>r-1</RequestId></ErrorResponse>"#
        ),
    )
}

/// Route53's InvalidChangeBatch, in the standard error shape it has used since 2024
/// (it once had a root element of its own).
fn invalid_change_batch(message: &str) -> Answer {
    route53_error("InvalidChangeBatch", message)
}

fn json_error(code: &str, message: &str) -> Answer {
    (
        400,
        "application/x-amz-json-1.1",
        format!(r#"{{"__type":"{code}","message":"{message}"}}"#),
    )
}

fn lb_spec() -> LoadBalancerSpec {
    LoadBalancerSpec {
        name: "test-internal".into(),
        scheme: LbScheme::Internal,
        subnets: vec!["subnet-1".into(), "subnet-2".into()],
        security_group: ResourceKey::from_raw("router/internal/sg"),
        other_security_groups: Vec::new(),
    }
}

fn change(action: RecordAction) -> RecordChange {
    RecordChange {
        action,
        name: "api.backend.test.convox".into(),
        target: LoadBalancerAddress {
            dns_name: "internal-x.us-east-1.elb.amazonaws.com".into(),
            hosted_zone_id: "Z35SXDOTRQ7X7K".into(),
        },
        owner: "heritage=convox,rack=test,key=app/backend/api/record".into(),
    }
}

fn assert_kind(err: &BackendError, kind: ErrorKind, retryable: bool) {
    assert_eq!(
        (err.kind(), err.is_retryable()),
        (kind, retryable),
        "{err}: {:?}",
        std::error::Error::source(err)
    );
}

#[tokio::test]
async fn duplicate_load_balancer_name_already_exists() {
    let (b, canned) = backend(
        vec![query_error(
            "DuplicateLoadBalancerName",
            "A load balancer with the same name 'test-internal' exists, but with different settings",
        )],
        1,
    )
    .await;
    let tags = Tags::from([("convox:rack".to_string(), "test".to_string())]);
    let err = b
        .create_load_balancer(&lb_spec(), "sg-1", &tags)
        .await
        .unwrap_err();
    assert_kind(&err, ErrorKind::AlreadyExists, false);
    assert_eq!(err.operation(), "CreateLoadBalancer");
    // Our message names the code; AWS's words stay in the source, said once.
    assert_eq!(
        err.to_string(),
        "CreateLoadBalancer: already exists: AWS refused the request: DuplicateLoadBalancerName (HTTP 400)"
    );
    assert!(!err.to_string().contains("different settings"));
    let requests = canned.requests.lock().unwrap();
    assert!(requests[0].contains("Action=CreateLoadBalancer"));
    assert!(
        requests[0].contains("Tags.member.1.Key=convox%3Arack"),
        "tags in the create call: {}",
        requests[0]
    );
}

#[tokio::test]
async fn duplicate_listener_port_already_exists() {
    let (b, _) = backend(
        vec![query_error(
            "DuplicateListener",
            "A listener already exists on this port for this load balancer",
        )],
        1,
    )
    .await;
    let spec = ListenerSpec::redirect_to_https(ResourceKey::from_raw("router/internal/alb"));
    let err = b
        .create_listener("arn:lb", &spec, None, &Tags::new())
        .await
        .unwrap_err();
    assert_kind(&err, ErrorKind::AlreadyExists, false);
}

#[tokio::test]
async fn route53_create_existing_and_delete_missing_conflict() {
    let (b, _) = backend(
        vec![
            invalid_change_batch(
                "[Tried to create resource record set [name='api.backend.test.convox.', type='A'] but it already exists]",
            ),
            invalid_change_batch(
                "[Tried to delete resource record set [name='api.backend.test.convox.', type='A'] but it was not found]",
            ),
            invalid_change_batch(
                "[Tried to delete resource record set [name='api.backend.test.convox.', type='A'] but the values provided do not match the current values]",
            ),
            invalid_change_batch(
                "[RRSet with DNS name api.backend.test.convox. is not permitted in zone other.convox.]",
            ),
        ],
        1,
    )
    .await;
    let err = b
        .change_records("Z1", &[change(RecordAction::Create)])
        .await
        .unwrap_err();
    assert_kind(&err, ErrorKind::Conflict, false);
    for _ in 0..2 {
        let err = b
            .change_records("Z1", &[change(RecordAction::Delete)])
            .await
            .unwrap_err();
        assert_kind(&err, ErrorKind::Conflict, false);
    }
    let err = b
        .change_records("Z1", &[change(RecordAction::Upsert)])
        .await
        .unwrap_err();
    assert_kind(&err, ErrorKind::InvalidInput, false);
}

#[tokio::test]
async fn route53_batches_over_the_limit_are_refused_before_sending() {
    let (b, canned) = backend(vec![], 1).await;
    let changes = vec![change(RecordAction::Upsert); 251];
    let err = b.change_records("Z1", &changes).await.unwrap_err();
    assert_kind(&err, ErrorKind::InvalidInput, false);
    assert!(canned.requests.lock().unwrap().is_empty());
}

#[tokio::test]
async fn certificate_in_use_is_a_conflict() {
    let (b, _) = backend(
        vec![json_error(
            "ResourceInUseException",
            "Certificate arn:aws:acm:us-east-1:1:certificate/x is in use.",
        )],
        1,
    )
    .await;
    let err = b.delete_certificate("arn:cert").await.unwrap_err();
    assert_kind(&err, ErrorKind::Conflict, false);
    assert_eq!(err.operation(), "DeleteCertificate");
}

/// A resource created without tags (someone else's, in a test) sends no empty tag
/// list: EC2 refuses a tag specification without tags and ELBv2 an empty `Tags`.
#[tokio::test]
async fn creates_without_tags_send_no_empty_tag_lists() {
    let (b, canned) = backend(
        vec![
            query_error("Refused", "canned"),
            query_error("Refused", "canned"),
        ],
        1,
    )
    .await;
    let none = Tags::new();
    let sg = convox_model::resource::SecurityGroupSpec {
        name: "theirs".into(),
        description: "theirs".into(),
        vpc_id: "vpc-1".into(),
        ingress: Vec::new(),
    };
    b.create_security_group(&sg, &none).await.unwrap_err();
    b.create_load_balancer(&lb_spec(), "sg-1", &none)
        .await
        .unwrap_err();
    let requests = canned.requests.lock().unwrap();
    assert!(
        requests[0].contains("Action=CreateSecurityGroup"),
        "{}",
        requests[0]
    );
    assert!(!requests[0].contains("TagSpecification"), "{}", requests[0]);
    assert!(
        requests[1].contains("Action=CreateLoadBalancer"),
        "{}",
        requests[1]
    );
    assert!(!requests[1].contains("Tags"), "{}", requests[1]);
}

#[tokio::test]
async fn security_group_in_use_is_a_conflict() {
    let (b, _) = backend(
        vec![(
            400,
            "text/xml",
            r#"<?xml version="1.0" encoding="UTF-8"?><Response><Errors><Error><Code>DependencyViolation</Code><Message>resource sg-1 has a dependent object</Message></Error></Errors><RequestID>r-1</RequestID></Response>"#.to_string(),
        )],
        1,
    )
    .await;
    let err = b.delete_security_group("sg-1").await.unwrap_err();
    assert_kind(&err, ErrorKind::Conflict, false);
}

#[tokio::test]
async fn throttling_is_retryable_in_every_service() {
    let (b, _) = backend(
        vec![
            query_error("Throttling", "Rate exceeded"),
            route53_error(
                "PriorRequestNotComplete",
                "The request was rejected because Route 53 was still processing a prior request.",
            ),
            json_error("ThrottlingException", "Rate exceeded"),
        ],
        1,
    )
    .await;
    let err = b.delete_rule("arn:rule").await.unwrap_err();
    assert_kind(&err, ErrorKind::Throttled, true);
    let err = b
        .change_records("Z1", &[change(RecordAction::Upsert)])
        .await
        .unwrap_err();
    assert_kind(&err, ErrorKind::Throttled, true);
    let err = b
        .import_certificate(
            &CertificateSpec {
                domain: "*.backend.test.convox".into(),
                issuer: "ca".into(),
                names: Vec::new(),
            },
            &convox_model::backend::CertificatePem {
                certificate: "c".into(),
                private_key: "k".into(),
                chain: String::new(),
            },
            &Tags::new(),
        )
        .await
        .unwrap_err();
    assert_kind(&err, ErrorKind::Throttled, true);
}

#[tokio::test]
async fn quotas_and_server_errors() {
    let (b, _) = backend(
        vec![
            query_error(
                "TooManyRules",
                "The maximum number of rules has been reached",
            ),
            (503, "text/xml", String::new()),
        ],
        1,
    )
    .await;
    let rule = convox_model::resource::ListenerRuleSpec {
        listener: ResourceKey::from_raw("router/internal/listener/443"),
        priority: Some(5),
        hosts: vec!["api.backend.test.convox".into()],
        target_group: ResourceKey::from_raw("app/backend/api/internal/tg"),
    };
    let err = b
        .create_rule("arn:l", &rule, "arn:tg", &Tags::new())
        .await
        .unwrap_err();
    assert_kind(&err, ErrorKind::QuotaExceeded, false);
    let err = b.delete_rule("arn:rule").await.unwrap_err();
    assert_kind(&err, ErrorKind::Unexpected, true);
}

fn describe_certificate_ok() -> Answer {
    (
        200,
        "application/x-amz-json-1.1",
        r#"{"Certificate":{"CertificateArn":"arn:cert","DomainName":"*.example.com","Status":"ISSUED","SubjectAlternativeNames":["*.example.com"]}}"#.to_string(),
    )
}

/// One retry layer per call: the SDK retries a throttled read (every attempt
/// counted), and sends a throttled mutation once, whatever attempts it was
/// given: the apply engine retries mutations.
#[tokio::test]
async fn the_sdk_retries_reads_and_leaves_mutations_to_the_engine() {
    let (b, _) = backend(
        vec![
            json_error("ThrottlingException", "Rate exceeded"),
            describe_certificate_ok(),
            query_error("Throttling", "Rate exceeded"),
        ],
        3,
    )
    .await;
    assert!(b.retries_reads());
    let c = b.describe_certificate("arn:cert").await.unwrap();
    assert_eq!(c.domain, "*.example.com");
    assert_eq!(b.calls().get("DescribeCertificate"), 2);
    let err = b.delete_rule("arn:rule").await.unwrap_err();
    assert_kind(&err, ErrorKind::Throttled, true);
    assert_eq!(
        b.calls().get("DeleteRule"),
        1,
        "sent once: the engine retries"
    );
    assert!(crate::sdk_retries("DescribeRules"));
    assert!(crate::sdk_retries("RequestCertificate"));
    assert!(!crate::sdk_retries("CreateRule"));
    // With one attempt per request the backend retries nothing: the engine
    // retries its reads then.
    let (b, _) = backend(vec![], 1).await;
    assert!(!b.retries_reads());
}

fn delete_rule_ok() -> Answer {
    (
        200,
        "text/xml",
        r#"<DeleteRuleResponse xmlns="http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/"><DeleteRuleResult/><ResponseMetadata><RequestId>r-2</RequestId></ResponseMetadata></DeleteRuleResponse>"#.to_string(),
    )
}

/// The pacer sits in the real SDK's path: a burst beyond the bucket waits, on
/// tokio's (here paused) clock, and a retry waits for a token like any attempt.
#[tokio::test(start_paused = true)]
async fn a_burst_beyond_the_bucket_waits_for_tokens() {
    let mut pacing = Pacing::aws_defaults();
    pacing.elb_mutating = Rate::new(2, 2.0);
    let (b, _) = paced_backend(vec![delete_rule_ok(); 6], 1, pacing.clone()).await;
    let start = tokio::time::Instant::now();
    for _ in 0..6 {
        b.delete_rule("arn:rule").await.unwrap();
    }
    // Two from the full bucket, then four more at 500 ms each.
    assert_eq!(start.elapsed(), std::time::Duration::from_secs(2));
    assert_eq!(b.calls().get("DeleteRule"), 6);

    // A request refused before sending takes no token and never waits.
    let (b, _) = paced_backend(vec![], 1, Pacing::uniform(Rate::new(1, 1.0))).await;
    let start = tokio::time::Instant::now();
    let changes = vec![change(RecordAction::Upsert); 251];
    b.change_records("Z1", &changes).await.unwrap_err();
    assert_eq!(start.elapsed(), std::time::Duration::ZERO);
}

#[tokio::test(start_paused = true)]
async fn retries_are_paced_like_first_attempts() {
    let mut pacing = Pacing::aws_defaults();
    pacing.acm = Rate::new(1, 0.1);
    let (b, _) = paced_backend(
        vec![
            json_error("ThrottlingException", "Rate exceeded"),
            describe_certificate_ok(),
        ],
        2,
        pacing,
    )
    .await;
    let start = tokio::time::Instant::now();
    b.describe_certificate("arn:cert").await.unwrap();
    assert_eq!(b.calls().get("DescribeCertificate"), 2);
    // The second attempt waited for the bucket's next token, 10 s on; the SDK's
    // own backoff (under a second here) overlaps with that wait.
    assert!(
        start.elapsed() >= std::time::Duration::from_secs(10),
        "{:?}",
        start.elapsed()
    );
    assert!(
        start.elapsed() < std::time::Duration::from_secs(12),
        "{:?}",
        start.elapsed()
    );
}

/// Route53 adds at most 10 tags per ChangeTagsForResource: more go in batches.
#[tokio::test]
async fn zone_tags_go_to_route53_ten_at_a_time() {
    let ok = || {
        (
            200,
            "text/xml",
            r#"<?xml version="1.0"?><ChangeTagsForResourceResponse xmlns="https://route53.amazonaws.com/doc/2013-04-01/"/>"#.to_string(),
        )
    };
    let (b, canned) = backend(vec![ok(), ok()], 1).await;
    let tags: Tags = (0..12)
        .map(|i| (format!("k{i:02}"), "v".to_string()))
        .collect();
    crate::route53::add_tags(&b.route53, "Z123", &tags)
        .await
        .unwrap();
    let requests = canned.requests.lock().unwrap();
    let counts: Vec<usize> = requests
        .iter()
        .map(|r| r.matches("<Tag>").count())
        .collect();
    assert_eq!(counts, vec![10, 2]);
}
