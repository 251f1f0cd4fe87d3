//! What an embedding deployer reads from the `convox` command line and from the
//! library (issue 10): `deploy --json` names every route, a no-op redeploy's
//! too, and `services --json` the same target groups.

#![allow(clippy::unwrap_used)]

mod support;
use support::{Session, backend_yml};

/// `(service, port, target group ARN)` of each route `deploy --json` printed.
fn routes(out: &str) -> Vec<(String, u64, String)> {
    let v: serde_json::Value = serde_json::from_str(out).unwrap();
    v["routes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["service"].as_str().unwrap().to_string(),
                r["target_group"]["port"].as_u64().unwrap(),
                r["target_group"]["arn"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn deploy_json_names_every_route_even_when_nothing_changes() {
    let s = Session::new("deployer", "json");
    let yml = backend_yml();
    s.ok(&["rack", "params", "set", "Internal=Yes", "-r", "production"]);
    let args = [
        "deploy",
        &yml,
        "--json",
        "-a",
        "backend",
        "-r",
        "production",
    ];
    let out = s.ok(&args);
    let first = routes(&out);
    let ports: Vec<(&str, u64)> = first.iter().map(|(s, p, _)| (s.as_str(), *p)).collect();
    assert_eq!(ports, [("api", 4000), ("web", 3000)], "{out}");
    assert!(first.iter().all(|(_, _, arn)| !arn.is_empty()), "{out}");

    let out = s.ok(&args);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["report"]["calls"], 0, "{out}");
    assert_eq!(routes(&out), first);

    let out = s.ok(&["services", "--json", "-a", "backend", "-r", "production"]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let listed: Vec<String> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            s["route"]["target_group"]["arn"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    let arns: Vec<String> = first.into_iter().map(|(_, _, arn)| arn).collect();
    assert_eq!(listed, arns, "{out}");
}

// The embedding example against moto: `examples/examples/deployer.rs`, run
// as a module, witnessed by boto3.

#[allow(dead_code)]
#[path = "../examples/deployer.rs"]
mod deployer;
#[path = "../../convox-aws/tests/support/env.rs"]
mod moto_env;

use std::path::Path;

/// Under CI the emulator must be there: otherwise the example's test would be
/// ignored and CI would pass without it having run.
#[cfg(not(moto))]
#[test]
fn the_deployer_example_runs_under_ci() {
    moto_env::refuse_ci_without_the_emulator();
}

/// What boto3 sees in moto's default account (`scripts/aws_inspect.py`).
fn inspect(endpoint: &str) -> serde_json::Value {
    let python = moto_env::required(moto_env::PYTHON_VAR);
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/aws_inspect.py");
    let out = std::process::Command::new(&python)
        .args([script, endpoint, "", "--region", "us-east-1"])
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env_remove("AWS_PROFILE")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The target group `arn` as boto3 sees it, if it exists.
fn target_group<'a>(seen: &'a serde_json::Value, arn: &str) -> Option<&'a serde_json::Value> {
    seen["target_groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["arn"] == arn)
}

fn manifest(dir: &Path, api_port: u16) -> std::path::PathBuf {
    let path = dir.join("convox.yml");
    let yml = format!(
        "services:\n  api:\n    image: api\n    port: {api_port}\n    internal: true\n  web:\n    image: web\n    port: 3000\n    links: [api]\n"
    );
    std::fs::write(&path, yml).unwrap();
    path
}

#[test]
#[cfg_attr(not(moto), ignore = "needs the AWS emulator: run scripts/test.sh")]
fn the_deployer_example_registers_targets_where_the_report_says() {
    let endpoint = moto_env::endpoint();
    let s = Session::new("deployer", "moto");
    // moto's default account outlives a run: a rack name of this run's own.
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    let rack = format!("dep{}x{}", std::process::id(), nanos % 100_000);
    let mut opts = deployer::Options {
        endpoint: endpoint.clone(),
        region: "us-east-1".into(),
        rack,
        app: "backend".into(),
        manifest: manifest(&s.dir, 4000),
        ca: s.dir.join("ca.pem"),
    };
    let rt = tokio::runtime::Runtime::new().unwrap();
    let mut out = Vec::new();
    let first = rt.block_on(deployer::run(&opts, &mut out)).unwrap();
    let ports: Vec<(String, u16)> = first
        .routes
        .iter()
        .map(|r| (r.service.to_string(), r.target_group.port))
        .collect();
    assert_eq!(ports, [("api".into(), 4000), ("web".into(), 3000)]);
    let seen = inspect(&endpoint);
    for (i, r) in first.routes.iter().enumerate() {
        let ip = format!("127.0.0.{}", i + 1);
        let tg = target_group(&seen, &r.target_group.arn).expect("boto3 finds it");
        assert_eq!(tg["port"], r.target_group.port);
        assert_eq!(tg["targets"][0]["id"], ip.as_str(), "{tg}");
        assert_eq!(tg["targets"][0]["port"], r.target_group.port);
        assert!(
            first
                .health
                .iter()
                .any(|h| h.target_group_arn == r.target_group.arn
                    && h.id == ip
                    && h.port == r.target_group.port)
        );
    }

    // api moves to 4001: phase one makes its new group, the example registers
    // there, phase two removes the old one.
    opts.manifest = manifest(&s.dir, 4001);
    let mut out = Vec::new();
    let second = rt.block_on(deployer::run(&opts, &mut out)).unwrap();
    let text = String::from_utf8(out).unwrap();
    assert!(second.removed >= 1, "{text}");
    let seen = inspect(&endpoint);
    let api = |o: &deployer::Outcome| o.routes[0].target_group.arn.clone();
    assert!(target_group(&seen, &api(&first)).is_none(), "{text}");
    let tg = target_group(&seen, &api(&second)).expect("the new group");
    assert_eq!(tg["port"], 4001);
    assert_eq!(tg["targets"][0]["id"], "127.0.0.1");
    assert_eq!(tg["targets"][0]["port"], 4001);
}
