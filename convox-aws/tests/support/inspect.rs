//! The boto3 witness: `scripts/aws_inspect.py`, run with the virtualenv's python
//! (`CONVOX_MOTO_PYTHON`), prints what AWS reports about an account as JSON; the
//! helpers below find things in it.

use serde_json::Value;

use super::MotoEnv;
use super::env::{PYTHON_VAR, required};

/// What boto3 sees in the test's account. Without the python the test fails:
/// the witness is never skipped.
pub fn inspect(env: &MotoEnv) -> Value {
    let python = required(PYTHON_VAR);
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/aws_inspect.py");
    let out = std::process::Command::new(&python)
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
        .unwrap_or_else(|e| panic!("cannot run {python}: {e}"));
    assert!(
        out.status.success(),
        "aws_inspect.py failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("aws_inspect.py prints JSON")
}

/// A JSON array's items; nothing for anything else.
pub fn arr(v: &Value) -> &[Value] {
    v.as_array().map(Vec::as_slice).unwrap_or(&[])
}

pub fn lb_named<'a>(seen: &'a Value, name: &str) -> &'a Value {
    arr(&seen["load_balancers"])
        .iter()
        .find(|lb| lb["name"] == name)
        .unwrap_or_else(|| panic!("no load balancer {name}"))
}

/// The rack's router of `scheme` (`internal` or `internet-facing`), by its tag.
pub fn rack_router<'a>(seen: &'a Value, rack: &str, scheme: &str) -> &'a Value {
    let routers: Vec<_> = arr(&seen["load_balancers"])
        .iter()
        .filter(|l| l["scheme"] == scheme && l["tags"]["convox:rack"] == rack)
        .collect();
    assert_eq!(routers.len(), 1, "one {scheme} router of {rack}");
    routers[0]
}

pub fn zone_named<'a>(seen: &'a Value, name: &str) -> &'a Value {
    arr(&seen["hosted_zones"])
        .iter()
        .find(|z| z["name"] == name)
        .unwrap_or_else(|| panic!("no hosted zone {name}"))
}

pub fn listener(lb: &Value, port: u64) -> &Value {
    arr(&lb["listeners"])
        .iter()
        .find(|l| l["port"] == port)
        .unwrap_or_else(|| panic!("no listener {port} on {}", lb["name"]))
}

/// Every host header a listener's rules match.
pub fn hosts(listener: &Value) -> Vec<String> {
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

/// The alias A record `name` in the zone.
pub fn a_record<'a>(zone: &'a Value, name: &str) -> &'a Value {
    let fqdn = format!("{name}.");
    arr(&zone["records"])
        .iter()
        .find(|r| r["name"] == fqdn.as_str() && r["type"] == "A")
        .unwrap_or_else(|| panic!("no A record {name}: {:#}", zone["records"]))
}

/// The load balancer the alias A record `name` in the zone points at.
pub fn alias_target<'a>(seen: &'a Value, zone: &Value, name: &str) -> &'a Value {
    let rec = a_record(zone, name);
    let target = dns(&rec["alias_target"]["dns_name"]);
    assert!(!target.is_empty(), "{name} is not an alias: {rec}");
    arr(&seen["load_balancers"])
        .iter()
        .find(|lb| dns(&lb["dns_name"]) == target)
        .unwrap_or_else(|| panic!("{name} points at {target}, no load balancer of ours"))
}
