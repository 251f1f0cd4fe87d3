//! `convox --backend aws` against the moto server: the seed's story through the
//! command line, with the rack's VPC given once and read back afterwards.
//!
//! Run by `scripts/test.sh`, which starts moto, sets `CONVOX_MOTO_ENDPOINT` and
//! fake AWS credentials. Without `CONVOX_MOTO` the test is listed as ignored;
//! with it, a missing emulator fails it.
//!
//! The command line cannot add moto's per-account header, so the test works in
//! moto's default account under a rack name of its own. It passes the endpoint as
//! `--endpoint-url` rather than setting `AWS_ENDPOINT_URL`: changing the
//! environment of a multi-threaded test process is not safe.

#![allow(clippy::unwrap_used)]

// The AWS backend's tests read the emulator's settings the same way.
#[path = "../../convox-aws/tests/support/env.rs"]
mod moto_env;

mod support;
use support::{argv, aws_on, backend_yml, convox_in, default_vpc, on_aws, unique_rack};

use std::path::PathBuf;

use convox_examples::Environment;

/// A rack of this run's own on moto, through `convox --backend aws`: the
/// emulator's endpoint, its default VPC (found the way a user would), the
/// rack's name, and a scratch directory for its certificate authorities,
/// removed at the end.
struct MotoRack {
    endpoint: String,
    vpc: String,
    rack: String,
    dir: PathBuf,
    /// The example app's convox.yml.
    yml: String,
}

impl MotoRack {
    fn new(prefix: &str) -> Self {
        let endpoint = moto_env::endpoint();
        let (rt, aws) = aws_on(&endpoint);
        let vpc = default_vpc(&rt, &aws);
        let rack = unique_rack(prefix);
        let dir = std::env::temp_dir().join(format!("convox-cli-aws-{rack}"));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        MotoRack {
            endpoint,
            vpc,
            rack,
            dir,
            yml: backend_yml(),
        }
    }

    /// The path of `name` in the scratch directory.
    fn file(&self, name: &str) -> String {
        self.dir.join(name).display().to_string()
    }

    /// `convox --backend aws --endpoint-url … --ca CA ARGS…`: the exit code,
    /// stdout and stderr.
    fn convox(&self, ca: &str, args: &[&str]) -> (i32, String, String) {
        let all: Vec<&str> = on_aws(&self.endpoint, ca)
            .into_iter()
            .chain(args.iter().copied())
            .collect();
        convox_in(&Environment::from_process(), &all)
    }

    /// [`MotoRack::convox`], expected to succeed: stdout and stderr.
    fn ok(&self, ca: &str, args: &[&str]) -> (String, String) {
        let (code, out, err) = self.convox(ca, args);
        assert_eq!(code, 0, "convox {args:?}\nstdout:\n{out}\nstderr:\n{err}");
        (out, err)
    }

    /// `rack params set Internal=Yes --rack R --vpc V EXTRA…`, expected to
    /// succeed: what it prints.
    fn set_internal(&self, ca: &str, extra: &[&str]) -> String {
        let mut args = argv(&["rack", "params", "set", "Internal=Yes"], "");
        args.extend(["--rack", &self.rack, "--vpc", &self.vpc]);
        args.extend(extra);
        self.ok(ca, &args).0
    }

    /// `deploy convox.yml --rack R --app APP`.
    fn deploy<'a>(&'a self, app: &'a str) -> [&'a str; 6] {
        ["deploy", &self.yml, "--rack", &self.rack, "--app", app]
    }
}

/// `--show-calls ARGS…`: the command with its backend calls counted on stderr.
fn with_calls<'a>(args: &[&'a str]) -> Vec<&'a str> {
    std::iter::once("--show-calls")
        .chain(args.iter().copied())
        .collect()
}

impl Drop for MotoRack {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[test]
#[cfg_attr(not(moto), ignore = "needs the AWS emulator: run scripts/test.sh")]
fn seed_story_with_the_aws_backend_on_moto() {
    let m = MotoRack::new("clitest");
    let (rack, yml, ca) = (&m.rack, &m.yml, m.file("ca.pem"));
    // With the calls shown, expected to succeed.
    let convox = |args: &[&str]| m.ok(&ca, &with_calls(args));

    // A rack not set up yet needs its VPC.
    let (code, _, err) = m.convox(&ca, &m.deploy("backend"));
    assert_eq!(code, 1);
    assert!(err.contains("--vpc VPC_ID"));

    let out = m.set_internal(&ca, &["--show-calls"]);
    assert!(out.contains("Internal      Yes"), "{out}");

    // The VPC is read back from AWS: deploy does not repeat it.
    let (out, err) = convox(&m.deploy("backend"));
    let host = format!("api.backend.{rack}.convox");
    assert!(
        out.contains(&format!("api  internal  https://{host}")),
        "{out}"
    );
    assert!(
        out.contains(&format!("web: API_URL=https://{host}")),
        "{out}"
    );
    assert!(
        err.contains("created listener rule app/backend/api/internal/rule"),
        "{err}"
    );

    let (out, err) = convox(&m.deploy("backend"));
    assert!(
        out.starts_with("No changes. backend is up to date."),
        "{out}"
    );
    assert!(err.contains(", 0 mutating"), "{err}");

    let (out, _) = convox(&["endpoints", yml, "--rack", rack, "--app", "backend"]);
    assert!(
        out.contains(&format!("api internal https://{host} deployed")),
        "{out}"
    );

    let (out, _) = convox(&["apps", "delete", "backend", "--rack", rack]);
    assert!(out.contains("Deleted app backend"), "{out}");
    let (out, _) = convox(&["endpoints", yml, "--rack", rack, "--app", "backend"]);
    assert!(out.contains("not deployed"), "{out}");
    let (out, _) = convox(&["rack", "params", "--rack", rack]);
    assert_eq!(out, "Internal      Yes\nInternalOnly  No\n");
}

// Day-2 safety: `rack audit` against moto.

/// Opens the internal router's security group of `rack` to `0.0.0.0/0` on 443,
/// as someone at the console would (through the AWS backend's own call).
fn open_internal_router(endpoint: &str, rack: &str) {
    use convox_model::backend::Backend;
    use convox_model::name::Name;
    use convox_model::resource::{IngressRule, ResourceKey, ResourceSpec, Scope};
    let (rt, aws) = aws_on(endpoint);
    rt.block_on(async {
        let rack = Name::new(rack).unwrap();
        let observed = aws.observe(&rack, &Scope::Rack).await.unwrap();
        let key = ResourceKey::router_security_group(convox_model::exposure::Router::Internal);
        let sg = observed
            .iter()
            .find(|o| o.resource.key == key)
            .expect("the internal router's security group");
        let ResourceSpec::SecurityGroup(spec) = &sg.resource.spec else {
            panic!("not a security group: {sg:?}");
        };
        let mut opened = spec.clone();
        opened.ingress.push(IngressRule {
            protocol: "tcp".into(),
            port: 443,
            cidr: "0.0.0.0/0".into(),
        });
        aws.update_security_group(&sg.id, &opened).await.unwrap();
    });
}

#[test]
#[cfg_attr(not(moto), ignore = "needs the AWS emulator: run scripts/test.sh")]
fn rack_audit_on_moto_names_an_internal_router_opened_to_the_world() {
    let m = MotoRack::new("audit");
    let (rack, ca) = (&m.rack, m.file("ca.pem"));
    let convox = |args: &[&str]| m.convox(&ca, args);
    let ok = |args: &[&str]| m.ok(&ca, args).0;

    m.set_internal(&ca, &[]);
    ok(&m.deploy("backend"));
    let out = ok(&["rack", "audit", "--rack", rack]);
    assert!(out.contains("No findings."), "{out}");
    assert!(
        out.contains(&format!(
            "endpoint https://api.backend.{rack}.convox on the internal router (internal)"
        )),
        "{out}"
    );

    open_internal_router(&m.endpoint, rack);
    let (code, out, err) = convox(&["rack", "audit", "--rack", rack, "--json"]);
    assert_eq!(code, 1, "{out}\n{err}");
    let json: serde_json::Value = serde_json::from_str(&out).unwrap();
    let findings = json["findings"].as_array().unwrap();
    assert!(
        findings.iter().any(|f| f["kind"] == "ingress_outside_vpc"
            && f["source"] == "0.0.0.0/0"
            && f["port"] == 443),
        "{out}"
    );
    let (code, out, _) = convox(&["rack", "audit", "--rack", rack]);
    assert_eq!(code, 1);
    assert!(out.contains("admits 0.0.0.0/0 (tcp port 443)"), "{out}");

    ok(&["apps", "delete", "backend", "--rack", rack]);
}

// Day-2 safety (in place): routine rack changes replace nothing, security drift
// is closed by any app's deploy, and one app's drift never blocks another.

#[test]
#[cfg_attr(not(moto), ignore = "needs the AWS emulator: run scripts/test.sh")]
fn day_two_changes_replace_nothing_and_drift_is_repaired_on_moto() {
    use convox_model::backend::Backend;
    use convox_model::name::Name;
    use convox_model::observe::observe_all;
    use convox_model::resource::{IngressRule, Observed, ResourceSpec};

    let m = MotoRack::new("daytwo");
    let (rack, yml, ca) = (&m.rack, &m.yml, m.file("ca.pem"));
    let convox = |args: &[&str]| m.ok(&ca, args).0;
    let (rt, aws) = aws_on(&m.endpoint);
    let (_, subnets) = rt.block_on(aws.vpc_network(&m.vpc)).unwrap();
    assert!(
        subnets.len() >= 3,
        "moto's default VPC has a subnet per zone"
    );
    let name = Name::new(rack.clone()).unwrap();
    let observe = || -> Vec<Observed> { rt.block_on(observe_all(&aws, &name)).unwrap() };
    let find = |o: &[Observed], key: &str| -> Observed {
        o.iter()
            .find(|x| x.resource.key.as_str() == key)
            .unwrap_or_else(|| panic!("{key} observed"))
            .clone()
    };
    let arns = |o: &[Observed]| {
        (
            find(o, "router/internal/alb").id,
            find(o, "router/external/alb").id,
        )
    };

    // Created with two subnets typed in the other order than AWS lists them.
    let typed = format!("{},{}", subnets[1], subnets[0]);
    m.set_internal(&ca, &["--subnets", &typed]);
    for app in ["backend", "shop"] {
        convox(&m.deploy(app));
    }
    let first = arns(&observe());

    // The same subnets in AWS's order: nothing replaced, nothing to do.
    let listed = format!("{},{}", subnets[0], subnets[1]);
    let out = convox(&[
        "rack",
        "params",
        "set",
        "--subnets",
        &listed,
        "--rack",
        rack,
    ]);
    assert!(out.contains("already up to date"), "{out}");
    assert_eq!(arns(&observe()), first, "the routers were kept");
    let out = convox(&["rack", "plan", "--json", "--rack", rack]);
    let plan: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(plan["actions"], serde_json::json!([]), "{out}");
    for app in ["backend", "shop"] {
        let out = convox(&["plan", yml, "--rack", rack, "--app", app]);
        assert!(out.starts_with("No changes."), "{out}");
    }

    // A new availability zone: the routers change in place.
    let three = format!("{},{},{}", subnets[2], subnets[0], subnets[1]);
    let out = convox(&["rack", "params", "set", "--subnets", &three, "--rack", rack]);
    assert!(
        out.contains("0 created, 2 updated, 0 replaced, 0 deleted"),
        "{out}"
    );
    let o = observe();
    assert_eq!(arns(&o), first, "the routers were kept");
    let ResourceSpec::LoadBalancer(lb) = find(&o, "router/internal/alb").resource.spec else {
        panic!("a load balancer");
    };
    assert_eq!(lb.subnets.len(), 3, "{lb:?}");
    let out = convox(&["plan", yml, "--rack", rack, "--app", "backend"]);
    assert!(out.starts_with("No changes."), "{out}");

    // The internal router opened to the internet by hand: shown by the rack's
    // plan, closed by the next deploy of any app.
    let group = find(&o, "router/internal/sg");
    let ResourceSpec::SecurityGroup(mut opened) = group.resource.spec.clone() else {
        panic!("a security group");
    };
    let vpc_only = opened.ingress.clone();
    opened.ingress.push(IngressRule {
        protocol: "tcp".into(),
        port: 443,
        cidr: "0.0.0.0/0".into(),
    });
    rt.block_on(aws.update_security_group(&group.id, &opened))
        .unwrap();
    let out = convox(&["rack", "plan", "--rack", rack]);
    assert!(out.contains("router/internal/sg"), "{out}");
    convox(&m.deploy("shop"));
    let ResourceSpec::SecurityGroup(closed) = find(&observe(), "router/internal/sg").resource.spec
    else {
        panic!("a security group");
    };
    assert_eq!(closed.ingress, vpc_only, "closed again");

    // Backend's rule edited to a name no certificate covers: shop still
    // deploys, and backend's own deploy repairs it.
    let o = observe();
    let rule = find(&o, "app/backend/api/internal/rule");
    let ResourceSpec::ListenerRule(mut edited) = rule.resource.spec.clone() else {
        panic!("a rule");
    };
    edited.hosts = vec!["api.elsewhere.example.org".into()];
    let tg = find(&o, "app/backend/api/internal/tg").id;
    rt.block_on(aws.modify_rule(&rule.id, &edited, &tg))
        .unwrap();
    convox(&m.deploy("shop"));
    convox(&m.deploy("backend"));
    let out = convox(&["plan", yml, "--rack", rack, "--app", "backend"]);
    assert!(out.starts_with("No changes."), "{out}");
}

// The rack's certificate authority on moto: identity and rotation.
#[test]
#[cfg_attr(not(moto), ignore = "needs the AWS emulator: run scripts/test.sh")]
fn rack_ca_rotation_on_moto() {
    let m = MotoRack::new("catest");
    let (rack, yml) = (&m.rack, &m.yml);
    let (old, new) = (m.file("old.pem"), m.file("new.pem"));
    // `convox --backend aws --endpoint-url … --ca CA --show-calls ARGS`.
    let run_convox = |ca: &str, args: &[&str]| m.convox(ca, &with_calls(args));
    let ok = |ca: &str, args: &[&str]| m.ok(ca, &with_calls(args));
    let deploy = m.deploy("backend");
    m.set_internal(&old, &["--show-calls"]);
    ok(&old, &deploy);

    // Another authority is refused before any change.
    let (code, _, err) = run_convox(&new, &deploy);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("convox rack ca rotate") && err.contains(", 0 mutating"),
        "{err}"
    );
    assert!(
        !std::path::Path::new(&new).exists(),
        "no CA generated for a rack that exists"
    );

    let (out, _) = ok(
        &old,
        &["rack", "ca", "rotate", "--rack", rack, "--new-ca", &new],
    );
    assert!(out.contains("certificates re-issued"), "{out}");
    assert!(!out.contains(" 0 certificates"), "{out}");

    // The zone's tags hold the new authority: the old one is refused, the new
    // one plans nothing, and rotating again does nothing.
    let (code, _, err) = run_convox(&old, &deploy);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains(", 0 mutating"), "{err}");
    let (out, _) = ok(&new, &["plan", yml, "--rack", rack, "--app", "backend"]);
    assert!(out.starts_with("No changes."), "{out}");
    let (out, err) = ok(
        &new,
        &["rack", "ca", "rotate", "--rack", rack, "--new-ca", &new],
    );
    assert!(out.contains(" 0 certificates re-issued"), "{out}");
    assert!(err.contains(", 0 mutating"), "{err}");

    let (_, _) = ok(&new, &["apps", "delete", "backend", "--rack", rack]);
}

// What a deploy costs (issue 10), through the command line.

/// Five services: three internal, two external.
const FIVE_SERVICES: &str = "services:
  s0:
    port: 3000
    internal: true
  s1:
    port: 3000
    internal: true
  s2:
    port: 3000
    internal: true
  s3:
    port: 3000
  s4:
    port: 3000
";

/// The requests `--show-calls` counted for a command: `(reads, mutating)`.
fn calls(stderr: &str) -> (usize, usize) {
    let line = stderr
        .lines()
        .find_map(|l| l.strip_prefix("backend calls: "))
        .unwrap_or_else(|| panic!("no call count in:\n{stderr}"));
    let mut n = line
        .split(|c: char| !c.is_ascii_digit())
        .filter(|w| !w.is_empty())
        .map(|w| w.parse::<usize>().unwrap());
    (n.next().unwrap(), n.next().unwrap())
}

/// Target groups and certificates of someone else's in the default account,
/// named after `rack` so that no other run's collide.
fn foreign_resources(endpoint: &str, rack: &str, groups: usize, certificates: usize) {
    let (rt, aws) = aws_on(endpoint);
    let vpc = default_vpc(&rt, &aws);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let ca = convox_model::tls::CertificateAuthority::generate(
        &convox_model::name::Name::new("payments").unwrap(),
        now,
    )
    .unwrap();
    let team = format!("pay-{}", &rack[rack.len().saturating_sub(8)..]);
    let pem = |domain: &str| ca.issue(domain, now).unwrap();
    rt.block_on(convox_model::conformance::someone_elses(
        &aws,
        &vpc,
        &team,
        (groups, certificates),
        pem,
    ));
}

#[test]
#[cfg_attr(not(moto), ignore = "needs the AWS emulator: run scripts/test.sh")]
fn a_no_op_redeploy_through_the_cli_costs_at_most_15_requests_whatever_the_rack_holds() {
    let m = MotoRack::new("cost");
    let (rack, ca) = (&m.rack, m.file("ca.pem"));
    let yml = m.file("convox.yml");
    std::fs::write(&yml, FIVE_SERVICES).unwrap();
    let deploy = |app: &str| {
        let args = ["--show-calls", "deploy", &yml, "--rack", rack, "--app", app];
        m.ok(&ca, &args)
    };
    let redeploy = |app: &str| {
        let (out, err) = deploy(app);
        assert!(
            out.starts_with(&format!("No changes. {app} is up to date.")),
            "{out}"
        );
        calls(&err)
    };
    m.set_internal(&ca, &[]);
    deploy("app0");
    let one = redeploy("app0");
    for i in 1..10 {
        deploy(&format!("app{i}"));
    }
    let ten = redeploy("app0");
    foreign_resources(&m.endpoint, rack, 300, 30);
    let crowded = redeploy("app0");
    eprintln!(
        "no-op redeploy through the CLI: {} requests on a rack of 1 app, {} of 10, {} beside 300 foreign target groups and 30 foreign certificates",
        one.0, ten.0, crowded.0
    );
    assert_eq!(
        one.1 + ten.1 + crowded.1,
        0,
        "a no-op redeploy changed something"
    );
    // At most 15 on AWS's API; moto costs one DescribeCertificate more for the
    // shared certificate's names, which its ListCertificates does not list
    // (probed in convox-aws/tests/moto/cost.rs).
    assert!(one.0 <= 15 + 1, "{one:?}");
    assert_eq!(one, ten, "the rack's other apps cost requests");
    assert_eq!(ten, crowded, "the account's other resources cost requests");
}
