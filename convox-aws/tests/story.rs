//! The seed's whole story against moto, checked by a client that is not ours.
//!
//! Rack `production` gets `Internal=Yes`; app `backend` (`web` linking to the
//! internal `api`) is deployed, redeployed without a single mutating request,
//! joined by an `internalAndExternal` app, protected from `InternalOnly=Yes`, and
//! deleted, while a foreign load balancer, rule, record and certificate in the
//! same account stay untouched throughout.
//!
//! Two witnesses besides the library's own observe: moto's request recorder
//! (which requests reached AWS, classified without our code), and
//! `scripts/aws_inspect.py`, a boto3 client that prints what AWS reports.
//!
//! Run by `scripts/test.sh`, which starts moto, sets `CONVOX_MOTO_ENDPOINT` and
//! `CONVOX_MOTO_PYTHON` (the virtualenv's python, which has boto3).

#![allow(clippy::unwrap_used)]

mod support;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use convox_aws::is_mutating;
use convox_model::apply::{ApplyContext, SleepFn};
use convox_model::backend::Backend;
use convox_model::check::parse;
use convox_model::env;
use convox_model::exposure::Router;
use convox_model::manifest::Manifest;
use convox_model::name::Name;
use convox_model::ops::{OpsError, delete_app, deploy, set_rack_params};
use convox_model::params::RackParams;
use convox_model::rack::Rack;
use convox_model::resource::{
    CertificateSpec, DefaultAction, HealthCheck, HostedZoneSpec, IngressRule, LbScheme,
    ListenerRuleSpec, ListenerSpec, LoadBalancerSpec, Protocol, RecordAction, RecordChange,
    ResourceKey, Scope, SecurityGroupSpec, Tags, TargetGroupSpec,
};
use convox_model::tls::CertificateAuthority;
use serde_json::Value;
use support::MotoEnv;

/// The seed's `convox.yml`: `web` links to the internal `api`.
const BACKEND_YML: &str = "\
services:
  web:
    build: .
    port: 3000
    links:
      - api
  api:
    build: ./api
    port: 4000
    internal: true
";

/// The seed's other example: one service on both routers.
const DUAL_YML: &str = "\
services:
  both:
    build: .
    port: 3000
    internalAndExternal: true
";

/// The variable naming the python that has boto3.
const PYTHON_VAR: &str = "CONVOX_MOTO_PYTHON";

fn name(s: &str) -> Name {
    Name::new(s).unwrap()
}

fn manifest(yml: &str) -> Manifest {
    parse(yml, &BTreeMap::new()).unwrap().manifest
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
        .try_into()
        .unwrap()
}

fn ctx(rack: &Name) -> ApplyContext {
    let sleep: SleepFn = Arc::new(|d: Duration| Box::pin(tokio::time::sleep(d)));
    let ca = CertificateAuthority::generate(rack, now()).unwrap();
    ApplyContext::new(rack.clone(), now(), sleep).with_issuer(Arc::new(ca))
}

fn rack(env: &MotoEnv, rack: &str) -> Rack {
    Rack {
        name: name(rack),
        region: env.region.clone(),
        vpc: env.vpc.clone(),
        subnets: env.subnets.clone(),
        router_host: format!("{rack}.example.com"),
        params: RackParams::new(false, false).unwrap(),
    }
}

/// (key, id) of everything the rack owns in `scope`, sorted: what "intact" means
/// from the library's side.
async fn owned(env: &MotoEnv, rack: &Name, scope: &Scope) -> Vec<(String, String)> {
    let mut v: Vec<_> = env
        .backend
        .observe(rack, scope)
        .await
        .unwrap()
        .into_iter()
        .map(|o| (o.resource.key.to_string(), o.id))
        .collect();
    v.sort();
    v
}

// ---------------------------------------------------------------------------
// moto's request recorder: which requests reached "AWS", by moto's account.

/// One request as moto recorded it.
#[derive(Debug, Clone)]
struct Recorded {
    account: String,
    /// The operation: `X-Amz-Target`'s (JSON protocols), `Action=` (query
    /// protocols), the body's root element less `Request` (Route53's POSTs), or
    /// `METHOD /path` (Route53's other requests, which only GET reads).
    operation: String,
    rest: bool,
    method: String,
    /// URL and body, percent-decoded: where an id the request acts on shows.
    text: String,
}

impl Recorded {
    fn mutating(&self) -> bool {
        if self.rest {
            self.method != "GET"
        } else {
            is_mutating(&self.operation)
        }
    }
}

/// A request to moto's own API on loopback, without an HTTP client crate.
fn moto_api(endpoint: &str, method: &str, path: &str) -> String {
    let host = endpoint.trim_start_matches("http://").trim_end_matches('/');
    assert!(
        host.starts_with("127.0.0.1:") || host.starts_with("localhost:"),
        "moto must be on loopback: {endpoint}"
    );
    let mut s = TcpStream::connect(host).unwrap();
    // HTTP/1.0: the answer is never chunked and ends when the server closes.
    write!(
        s,
        "{method} {path} HTTP/1.0\r\nHost: {host}\r\nContent-Length: 0\r\n\r\n"
    )
    .unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let raw = String::from_utf8(raw).unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
    assert!(head.contains(" 200"), "{method} {path}: {head}");
    body.to_string()
}

fn percent_decode(s: &str) -> String {
    let hex = |c: u8| (c as char).to_digit(16);
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match (b[i], b.get(i + 1).copied(), b.get(i + 2).copied()) {
            (b'%', Some(h), Some(l)) if hex(h).is_some() && hex(l).is_some() => {
                out.push((hex(h).unwrap_or(0) * 16 + hex(l).unwrap_or(0)) as u8);
                i += 3;
                continue;
            }
            (b'+', ..) => out.push(b' '),
            (c, ..) => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The name of an XML document's root element.
fn xml_root(body: &str) -> Option<&str> {
    let mut rest = body.trim_start();
    while let Some(after) = rest.strip_prefix("<?") {
        rest = after.split_once("?>")?.1.trim_start();
    }
    let tag = rest.strip_prefix('<')?;
    let end = tag.find(|c: char| c.is_whitespace() || c == '>' || c == '/')?;
    Some(&tag[..end]).filter(|n| !n.is_empty())
}

struct Recorder {
    endpoint: String,
}

impl Recorder {
    /// Starts moto's recorder. It is server-wide; [`Recorder::requests`] keeps one
    /// account's requests, so tests in other accounts do not disturb the count;
    /// as the reset erases the whole recording, one test per run may use it.
    fn start(endpoint: &str) -> Recorder {
        // Resetting creates the recording file: until a request is recorded,
        // downloading the recording otherwise fails for want of it.
        moto_api(endpoint, "POST", "/moto-api/recorder/reset-recording");
        moto_api(endpoint, "POST", "/moto-api/recorder/start-recording");
        Recorder {
            endpoint: endpoint.to_string(),
        }
    }

    fn requests(&self, account: &str) -> Vec<Recorded> {
        let text = moto_api(
            &self.endpoint,
            "GET",
            "/moto-api/recorder/download-recording",
        );
        text.lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| serde_json::from_str::<Value>(l).unwrap())
            .filter_map(|e| {
                let headers: BTreeMap<String, String> = e["headers"]
                    .as_object()?
                    .iter()
                    .map(|(k, v)| (k.to_ascii_lowercase(), v.as_str().unwrap_or("").into()))
                    .collect();
                let acct = headers.get("x-moto-account-id")?.clone();
                if acct != account {
                    return None;
                }
                let body = e["body"].as_str().unwrap_or("");
                let body = if e["body_encoded"].as_bool() == Some(true) {
                    String::from_utf8_lossy(&aws_smithy_types::base64::decode(body).unwrap())
                        .into_owned()
                } else {
                    body.to_string()
                };
                let method = e["method"].as_str().unwrap_or("").to_string();
                let url = e["url"].as_str().unwrap_or("").to_string();
                let query_action = body
                    .split('&')
                    .find_map(|kv| kv.strip_prefix("Action="))
                    .map(str::to_string);
                let (operation, rest) = if let Some(t) = headers.get("x-amz-target") {
                    (t.rsplit('.').next().unwrap_or(t).to_string(), false)
                } else if let Some(a) = query_action {
                    (a, false)
                } else if let Some(root) = xml_root(&body) {
                    // Route53 (REST-XML) names a POST by its body's root element:
                    // `ListTagsForResourcesRequest` reads, `ChangeResourceRecordSetsRequest`
                    // writes.
                    (root.trim_end_matches("Request").to_string(), false)
                } else {
                    let path = url.splitn(4, '/').nth(3).unwrap_or("");
                    (format!("{method} /{path}"), true)
                };
                Some(Recorded {
                    account: acct,
                    operation,
                    rest,
                    method,
                    text: percent_decode(&format!("{url}\n{body}")),
                })
            })
            .collect()
    }

    fn stop(self) {
        moto_api(&self.endpoint, "POST", "/moto-api/recorder/stop-recording");
    }
}

fn operations(requests: &[Recorded]) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for r in requests {
        *m.entry(r.operation.clone()).or_default() += 1;
    }
    m
}

// ---------------------------------------------------------------------------
// The boto3 inspection.

/// What boto3 sees in the account, or `None` (with a message) when no python
/// with boto3 is configured outside CI.
fn inspect(env: &MotoEnv) -> Option<Value> {
    let python = match std::env::var(PYTHON_VAR) {
        Ok(p) if !p.is_empty() => p,
        _ => {
            assert!(
                std::env::var_os("CI").is_none(),
                "{PYTHON_VAR} is not set under CI: the boto3 inspection must run; use scripts/test.sh"
            );
            eprintln!("boto3 inspection skipped: {PYTHON_VAR} not set; run scripts/test.sh");
            return None;
        }
    };
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/aws_inspect.py");
    let out = std::process::Command::new(python)
        .arg(script)
        .arg(&env.endpoint)
        .arg(&env.account)
        .args(["--region", &env.region])
        // Fake credentials of its own: the inspection never reaches for real ones.
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_SESSION_TOKEN", "testing")
        .env_remove("AWS_PROFILE")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "aws_inspect.py failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(serde_json::from_slice(&out.stdout).unwrap())
}

fn arr(v: &Value) -> &[Value] {
    v.as_array().map(Vec::as_slice).unwrap_or(&[])
}

fn lb_named<'a>(seen: &'a Value, name: &str) -> &'a Value {
    arr(&seen["load_balancers"])
        .iter()
        .find(|lb| lb["name"] == name)
        .unwrap_or_else(|| panic!("no load balancer {name}"))
}

fn zone_named<'a>(seen: &'a Value, name: &str) -> &'a Value {
    arr(&seen["hosted_zones"])
        .iter()
        .find(|z| z["name"] == name)
        .unwrap_or_else(|| panic!("no hosted zone {name}"))
}

fn listener(lb: &Value, port: u64) -> &Value {
    arr(&lb["listeners"])
        .iter()
        .find(|l| l["port"] == port)
        .unwrap_or_else(|| panic!("no listener {port} on {}", lb["name"]))
}

fn hosts(listener: &Value) -> Vec<String> {
    arr(&listener["rules"])
        .iter()
        .flat_map(|r| arr(&r["host_headers"]))
        .filter_map(|h| h.as_str().map(str::to_string))
        .collect()
}

fn dns(s: &Value) -> String {
    s.as_str()
        .unwrap_or("")
        .trim_end_matches('.')
        .to_ascii_lowercase()
}

/// The alias A record `name` in the zone, and the load balancer it points at.
fn alias_target<'a>(seen: &'a Value, zone: &Value, name: &str) -> &'a Value {
    let fqdn = format!("{name}.");
    let rec = arr(&zone["records"])
        .iter()
        .find(|r| r["name"] == fqdn.as_str() && r["type"] == "A")
        .unwrap_or_else(|| panic!("no A record {name}: {:#}", zone["records"]));
    let target = dns(&rec["alias_target"]["dns_name"]);
    assert!(!target.is_empty(), "{name} is not an alias: {rec}");
    arr(&seen["load_balancers"])
        .iter()
        .find(|lb| dns(&lb["dns_name"]) == target)
        .unwrap_or_else(|| panic!("{name} points at {target}, no load balancer of ours"))
}

/// Issue 4's "Done when", as boto3 sees it after the seed's deploy.
fn assert_seed_as_aws_sees_it(seen: &Value, env: &MotoEnv) {
    let zone = zone_named(seen, "production.convox.");
    assert_eq!(zone["private"], true, "{zone:#}");
    assert!(
        arr(&zone["vpcs"])
            .iter()
            .any(|v| v["vpc_id"] == env.vpc.id.as_str()),
        "the zone is associated with the rack's VPC: {zone:#}"
    );
    let lb = alias_target(seen, zone, "api.backend.production.convox");
    assert_eq!(lb["scheme"], "internal", "{lb:#}");
    assert_eq!(
        lb["canonical_hosted_zone_id"],
        arr(&zone["records"])
            .iter()
            .find(|r| r["name"] == "api.backend.production.convox." && r["type"] == "A")
            .unwrap()["alias_target"]["hosted_zone_id"],
        "the alias names the ALB's own hosted zone id"
    );

    let groups = arr(&lb["security_groups"]);
    assert_eq!(groups.len(), 1, "{lb:#}");
    let ingress: Vec<_> = arr(&groups[0]["ingress"])
        .iter()
        .map(|p| {
            (
                p["protocol"].as_str().unwrap().to_string(),
                p["from_port"].as_u64().unwrap(),
                p["to_port"].as_u64().unwrap(),
                p["cidrs"].clone(),
                arr(&p["ipv6_cidrs"]).len() + arr(&p["groups"]).len(),
            )
        })
        .collect();
    let vpc_only = serde_json::json!([env.vpc.cidr]);
    assert_eq!(
        ingress,
        vec![
            ("tcp".into(), 80, 80, vpc_only.clone(), 0),
            ("tcp".into(), 443, 443, vpc_only, 0),
        ],
        "TCP 80 and 443 from the VPC CIDR only"
    );

    let http = listener(lb, 80);
    assert_eq!(http["protocol"], "HTTP");
    assert_eq!(
        http["default_actions"],
        serde_json::json!([{"type": "redirect", "protocol": "HTTPS", "port": "443", "status_code": "HTTP_301"}])
    );
    assert!(
        arr(&http["rules"]).is_empty(),
        "80 never forwards: {http:#}"
    );

    let https = listener(lb, 443);
    assert_eq!(https["protocol"], "HTTPS");
    assert_eq!(https["default_actions"][0]["type"], "fixed-response");
    assert_eq!(https["default_actions"][0]["status_code"], "404");
    let covers = |c: &Value, d: &str| {
        c["domain_name"] == d || arr(&c["subject_alternative_names"]).iter().any(|s| s == d)
    };
    assert!(
        arr(&https["certificates"])
            .iter()
            .any(|c| covers(c, "*.backend.production.convox")),
        "a certificate on 443 covers *.backend.production.convox: {:#}",
        https["certificates"]
    );
    assert!(
        hosts(https).contains(&"api.backend.production.convox".to_string()),
        "{https:#}"
    );
    let rule = arr(&https["rules"])
        .iter()
        .find(|r| {
            arr(&r["host_headers"])
                .iter()
                .any(|h| h == "api.backend.production.convox")
        })
        .unwrap();
    assert_eq!(rule["actions"][0]["type"], "forward", "{rule:#}");
    assert!(
        !hosts(https).contains(&"backend-web.production.example.com".to_string()),
        "external web is not on the internal router"
    );

    // web, external, is on the internet-facing router and has no private record.
    let external: Vec<_> = arr(&seen["load_balancers"])
        .iter()
        .filter(|l| l["scheme"] == "internet-facing" && l["tags"]["convox:rack"] == "production")
        .collect();
    assert_eq!(external.len(), 1, "one external router");
    assert!(
        hosts(listener(external[0], 443)).contains(&"backend-web.production.example.com".into())
    );
    assert!(
        !arr(&zone["records"])
            .iter()
            .any(|r| r["name"] == "web.backend.production.convox."),
        "{zone:#}"
    );
}

// ---------------------------------------------------------------------------
// Foreign resources: untagged, in the same account.

struct Foreign {
    ids: Vec<String>,
    lb_name: &'static str,
    zone_name: &'static str,
    cert: String,
}

async fn make_foreign(env: &MotoEnv) -> Foreign {
    let b = &env.backend;
    let none = Tags::new();
    let sg = b
        .create_security_group(
            &SecurityGroupSpec {
                name: "someone-elses".into(),
                description: "not a convox rack's".into(),
                vpc_id: env.vpc.id.clone(),
                ingress: vec![IngressRule {
                    protocol: "tcp".into(),
                    port: 443,
                    cidr: "0.0.0.0/0".into(),
                }],
            },
            &none,
        )
        .await
        .unwrap();
    // A key is what the spec needs; it is not written anywhere without tags.
    let lb_key = ResourceKey::from_raw("foreign/lb");
    let lb = b
        .create_load_balancer(
            &LoadBalancerSpec {
                name: "someone-elses".into(),
                scheme: LbScheme::Internal,
                subnets: env.subnets.clone(),
                security_group: ResourceKey::from_raw("foreign/sg"),
            },
            &sg,
            &none,
        )
        .await
        .unwrap();
    let listener_key = ResourceKey::from_raw("foreign/listener");
    let listener = b
        .create_listener(
            &lb.arn,
            &ListenerSpec {
                load_balancer: lb_key,
                port: 80,
                protocol: Protocol::Http,
                default_action: DefaultAction::FixedResponse {
                    status_code: 404,
                    content_type: "text/plain".into(),
                    body: "theirs".into(),
                },
                certificate: None,
            },
            None,
            &none,
        )
        .await
        .unwrap();
    let tg = b
        .create_target_group(
            &TargetGroupSpec {
                name: "someone-elses".into(),
                protocol: Protocol::Http,
                port: 4000,
                vpc_id: env.vpc.id.clone(),
                health: HealthCheck {
                    path: "/".into(),
                    interval: 5,
                    timeout: 4,
                },
            },
            &none,
        )
        .await
        .unwrap();
    // The same host as ours: ownership is by tags, never by name.
    let rule = b
        .create_rule(
            &listener,
            &ListenerRuleSpec {
                listener: listener_key,
                priority: Some(1),
                hosts: vec!["api.backend.production.convox".into()],
                target_group: ResourceKey::from_raw("foreign/tg"),
            },
            &tg,
            &none,
        )
        .await
        .unwrap();
    // A certificate for the very domain our app certificate will have, from
    // another authority.
    let theirs = CertificateAuthority::generate(&name("elsewhere"), now()).unwrap();
    let cert = b
        .import_certificate(
            &CertificateSpec {
                domain: "*.backend.production.convox".into(),
                issuer: theirs.fingerprint().into(),
            },
            &theirs.issue("*.backend.production.convox", now()).unwrap(),
            &none,
        )
        .await
        .unwrap();
    let zone = b
        .create_hosted_zone(
            &HostedZoneSpec {
                name: "foreign.example".into(),
                vpc_id: env.vpc.id.clone(),
                region: env.region.clone(),
            },
            &none,
        )
        .await
        .unwrap();
    b.change_records(
        &zone,
        &[RecordChange {
            action: RecordAction::Create,
            name: "www.foreign.example".into(),
            target: lb.address.clone(),
            owner: "someone else".into(),
        }],
    )
    .await
    .unwrap();
    Foreign {
        ids: vec![sg, lb.arn, listener, tg, rule, cert.clone(), zone],
        lb_name: "someone-elses",
        zone_name: "foreign.example.",
        cert,
    }
}

/// The foreign resources as boto3 sees them: compared whole, before and after.
fn foreign_snapshot(seen: &Value, f: &Foreign) -> Value {
    serde_json::json!({
        "lb": lb_named(seen, f.lb_name),
        "zone": zone_named(seen, f.zone_name),
        "cert": arr(&seen["certificates"]).iter().find(|c| c["arn"] == f.cert.as_str()),
        "legacy": arr(&zone_named(seen, "production.convox.")["records"])
            .iter()
            .filter(|r| r["name"] == "legacy.production.convox.")
            .cloned()
            .collect::<Vec<_>>(),
    })
}

// ---------------------------------------------------------------------------

#[tokio::test]
#[cfg_attr(not(moto), ignore = "needs the AWS emulator: run scripts/test.sh")]
async fn the_seed_story_as_aws_sees_it() {
    let Some(env) = MotoEnv::new("story").await else {
        return;
    };
    let b = &env.backend;
    let foreign = make_foreign(&env).await;
    let recorder = Recorder::start(&env.endpoint);
    let mark = recorder.requests(&env.account).len();

    // convox rack params set Internal=Yes
    let production = name("production");
    let c = ctx(&production);
    let change = set_rack_params(b, &rack(&env, "production"), &["Internal=Yes"], &c)
        .await
        .unwrap();
    let rack = change.rack;
    assert!(rack.params.internal() && !rack.params.internal_only());
    assert_eq!(
        env.another_backend()
            .await
            .load_rack(&production)
            .await
            .unwrap(),
        Some(rack.clone()),
        "a later process reads the rack back"
    );

    // Someone else's record in the rack's own zone, without an owner of ours.
    let zone = b.rack_zone_id(&production).await.unwrap().unwrap();
    let legacy_from = recorder.requests(&env.account).len();
    let router = b
        .observe(&production, &Scope::Rack)
        .await
        .unwrap()
        .into_iter()
        .find(|o| o.resource.key == ResourceKey::router_load_balancer(Router::Internal))
        .unwrap();
    b.change_records(
        &zone,
        &[RecordChange {
            action: RecordAction::Create,
            name: "legacy.production.convox".into(),
            target: router.address.unwrap(),
            owner: "someone else".into(),
        }],
    )
    .await
    .unwrap();
    let legacy_to = recorder.requests(&env.account).len();

    // convox deploy -a backend
    let backend_app = name("backend");
    let seed = manifest(BACKEND_YML);
    let report = deploy(b, &rack, &backend_app, &seed, &c).await.unwrap();
    assert!(report.rack.is_none(), "the rack had everything it needs");
    let urls: Vec<_> = report
        .endpoints
        .iter()
        .map(|e| (e.service.to_string(), e.router, e.url()))
        .collect();
    assert_eq!(
        urls,
        vec![
            (
                "web".into(),
                Router::External,
                "https://backend-web.production.example.com".into()
            ),
            (
                "api".into(),
                Router::Internal,
                "https://api.backend.production.convox".into()
            ),
        ]
    );
    let resolved = env::resolve(&seed, &rack, &backend_app, &BTreeMap::new()).unwrap();
    assert_eq!(
        resolved
            .service("web")
            .unwrap()
            .get("API_URL")
            .map(String::as_str),
        Some("https://api.backend.production.convox")
    );

    let first = inspect(&env);
    if let Some(seen) = &first {
        assert_seed_as_aws_sees_it(seen, &env);
        eprintln!(
            "boto3 sees the internal router:\n{:#}",
            arr(&seen["load_balancers"])
                .iter()
                .find(|l| l["scheme"] == "internal" && l["tags"]["convox:rack"] == "production")
                .unwrap()
        );
    }
    let foreign_before = first.as_ref().map(|s| foreign_snapshot(s, &foreign));

    // The same deploy again: nothing to do, and nothing mutating reaches AWS.
    let before = recorder.requests(&env.account).len();
    b.reset_calls();
    let again = deploy(b, &rack, &backend_app, &seed, &c).await.unwrap();
    let calls = b.calls();
    let seen_by_moto = recorder.requests(&env.account)[before..].to_vec();
    let moto_mutating: Vec<_> = seen_by_moto.iter().filter(|r| r.mutating()).collect();
    eprintln!(
        "redeploy: {} requests counted by the backend ({} mutating), {} recorded by moto ({} mutating): {:?}",
        calls.total(),
        calls.mutating(),
        seen_by_moto.len(),
        moto_mutating.len(),
        operations(&seen_by_moto)
    );
    assert!(again.plan.is_empty(), "{:?}", again.plan);
    assert_eq!(calls.mutating(), 0, "{:?}", calls.mutating_operations());
    assert!(moto_mutating.is_empty(), "{moto_mutating:#?}");
    assert_eq!(
        seen_by_moto.len() as u64,
        calls.total(),
        "moto saw what the backend counted"
    );

    // internalAndExternal: two endpoints, a rule on each router, one record.
    let dual_app = name("dual");
    let dual = deploy(b, &rack, &dual_app, &manifest(DUAL_YML), &c)
        .await
        .unwrap();
    let mut dual_urls: Vec<_> = dual.endpoints.iter().map(|e| e.url()).collect();
    dual_urls.sort();
    assert_eq!(
        dual_urls,
        [
            "https://both.dual.production.convox",
            "https://dual-both.production.example.com"
        ],
        "two endpoints"
    );
    let both = name("both");
    let dual_owned = owned(&env, &production, &Scope::App(dual_app.clone())).await;
    for key in [
        ResourceKey::listener_rule(&dual_app, &both, Router::Internal),
        ResourceKey::listener_rule(&dual_app, &both, Router::External),
        ResourceKey::record(&dual_app, &both),
    ] {
        assert!(
            dual_owned.iter().any(|(k, _)| *k == key.to_string()),
            "{key} missing: {dual_owned:#?}"
        );
    }
    if let Some(seen) = inspect(&env) {
        let zone = zone_named(&seen, "production.convox.");
        let internal = alias_target(&seen, zone, "both.dual.production.convox");
        assert_eq!(internal["scheme"], "internal");
        assert!(hosts(listener(internal, 443)).contains(&"both.dual.production.convox".into()));
        let external = arr(&seen["load_balancers"])
            .iter()
            .find(|l| l["scheme"] == "internet-facing" && l["tags"]["convox:rack"] == "production")
            .unwrap();
        assert!(
            hosts(listener(external, 443)).contains(&"dual-both.production.example.com".into())
        );
        assert_eq!(Some(foreign_snapshot(&seen, &foreign)), foreign_before);
    }

    // InternalOnly=Yes is refused while external services are deployed, naming
    // them, before anything changes.
    b.reset_calls();
    let refused = set_rack_params(b, &rack, &["InternalOnly=Yes"], &c)
        .await
        .unwrap_err();
    match &refused {
        OpsError::Transition { offenders, .. } => {
            assert_eq!(offenders, &["backend/web", "dual/both"], "{refused}")
        }
        other => panic!("not a transition refusal: {other}"),
    }
    assert!(refused.to_string().contains("backend/web"), "{refused}");
    assert_eq!(b.calls().mutating(), 0, "{:?}", b.calls());
    assert_eq!(
        b.load_rack(&production).await.unwrap(),
        Some(rack.clone()),
        "the rack's parameters are unchanged"
    );

    // Deleting backend removes its resources and nothing else.
    let rack_owned = owned(&env, &production, &Scope::Rack).await;
    b.reset_calls();
    let (deleted, _) = delete_app(b, &rack, &backend_app, &c).await.unwrap();
    assert!(!deleted.is_empty());
    assert!(
        owned(&env, &production, &Scope::App(backend_app.clone()))
            .await
            .is_empty()
    );
    assert_eq!(owned(&env, &production, &Scope::Rack).await, rack_owned);
    assert_eq!(
        owned(&env, &production, &Scope::App(dual_app.clone())).await,
        dual_owned
    );
    if let Some(seen) = inspect(&env) {
        let zone = zone_named(&seen, "production.convox.");
        let names: Vec<_> = arr(&zone["records"])
            .iter()
            .map(|r| r["name"].as_str().unwrap().to_string())
            .collect();
        assert!(!names.iter().any(|n| n.contains(".backend.")), "{names:?}");
        assert!(names.contains(&"both.dual.production.convox.".into()));
        let internal = alias_target(&seen, zone, "both.dual.production.convox");
        let https = listener(internal, 443);
        assert_eq!(
            hosts(https),
            vec!["both.dual.production.convox".to_string()]
        );
        assert!(
            !arr(&https["certificates"])
                .iter()
                .any(|c| c["domain_name"] == "*.backend.production.convox"
                    && c["arn"] != foreign.cert.as_str()),
            "backend's certificate is detached: {:#}",
            https["certificates"]
        );
        assert_eq!(Some(foreign_snapshot(&seen, &foreign)), foreign_before);
    }

    // moto's record of the whole story: no mutating request named a foreign
    // resource (other than the test's own setup of the legacy record).
    let all = recorder.requests(&env.account);
    recorder.stop();
    let story: Vec<_> = all[mark..legacy_from]
        .iter()
        .chain(&all[legacy_to..])
        .filter(|r| r.mutating())
        .collect();
    assert!(!story.is_empty());
    for r in &story {
        for id in foreign
            .ids
            .iter()
            .map(String::as_str)
            .chain(["www.foreign.example", "legacy.production.convox"])
        {
            assert!(
                !r.text.contains(id),
                "{} touched foreign {id}:\n{}",
                r.operation,
                r.text
            );
        }
        assert_eq!(r.account, env.account);
    }
    let story: Vec<Recorded> = story.into_iter().cloned().collect();
    eprintln!(
        "the story's mutating requests, as moto saw them: {:?}",
        operations(&story)
    );
}

/// On an `InternalOnly` rack a service without `internal: true` is refused before
/// anything is created, and the rack never gets an internet-facing router.
#[tokio::test]
#[cfg_attr(not(moto), ignore = "needs the AWS emulator: run scripts/test.sh")]
async fn an_internal_only_rack_refuses_external_services() {
    let Some(env) = MotoEnv::new("story_internal_only").await else {
        return;
    };
    let b = &env.backend;
    let production = name("production");
    let c = ctx(&production);
    let rack = set_rack_params(
        b,
        &rack(&env, "production"),
        &["Internal=Yes", "InternalOnly=Yes"],
        &c,
    )
    .await
    .unwrap()
    .rack;
    assert!(rack.params.internal_only());

    b.reset_calls();
    let refused = deploy(b, &rack, &name("backend"), &manifest(BACKEND_YML), &c)
        .await
        .unwrap_err();
    let msg = refused.to_string();
    assert!(matches!(refused, OpsError::Manifest(_)), "{msg}");
    assert!(
        msg.contains("rack only supports internal services"),
        "{msg}"
    );
    assert!(msg.contains("web"), "{msg}");
    assert_eq!(b.calls().total(), 0, "refused before any request");

    let dual = deploy(b, &rack, &name("dual"), &manifest(DUAL_YML), &c)
        .await
        .unwrap_err();
    assert!(matches!(dual, OpsError::Manifest(_)), "{dual}");
    assert!(dual.to_string().contains("both"), "{dual}");

    // The internal service alone deploys.
    let api_only = manifest("services:\n  api:\n    port: 4000\n    internal: true\n");
    deploy(b, &rack, &name("backend"), &api_only, &c)
        .await
        .unwrap();
    let owned = owned(&env, &production, &Scope::Apps).await;
    assert!(
        owned.iter().all(|(k, _)| !k.contains("/external")),
        "{owned:#?}"
    );
    assert!(
        !owned.is_empty() && owned_rack_has_no_external(&env, &production).await,
        "{owned:#?}"
    );
    if let Some(seen) = inspect(&env) {
        assert!(
            arr(&seen["load_balancers"])
                .iter()
                .all(|l| l["scheme"] == "internal"),
            "no internet-facing ALB: {:#}",
            seen["load_balancers"]
        );
    }
}

async fn owned_rack_has_no_external(env: &MotoEnv, rack: &Name) -> bool {
    let keys = owned(env, rack, &Scope::Rack).await;
    !keys
        .iter()
        .any(|(k, _)| *k == ResourceKey::router_load_balancer(Router::External).to_string())
}
