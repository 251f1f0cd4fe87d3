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
