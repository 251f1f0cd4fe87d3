//! What editors and CI see: `convox check` refusing what AWS would refuse, at
//! its line; `convox schema`.

// Tests fail loudly on unexpected input: unwrapping is how they say so.
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

use convox_examples::{Environment, run_in};

/// A fresh, empty directory under the system's temporary one.
fn fresh_dir(name: &str) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    let dir =
        std::env::temp_dir().join(format!("convox-editors-{}-{name}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs `convox ARGS…` in a fresh directory; returns (exit code, stdout, stderr).
fn convox(args: &[&str]) -> (i32, String, String) {
    let dir = fresh_dir("run");
    let mut out = Vec::new();
    let mut err = Vec::new();
    let argv = std::iter::once("convox").chain(args.iter().copied());
    let code = run_in(&Environment::in_dir(&dir), argv, &mut out, &mut err);
    let _ = std::fs::remove_dir_all(&dir);
    (
        code,
        String::from_utf8(out).unwrap(),
        String::from_utf8(err).unwrap(),
    )
}

fn temp_file(name: &str, text: &str) -> String {
    let path = fresh_dir(name).join("convox.yml");
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

#[test]
fn check_refuses_a_health_interval_aws_refuses_naming_its_line() {
    let f = temp_file(
        "interval",
        "services:\n  web:\n    image: x\n    port: 3000\n    health:\n      path: /up\n      interval: 1000\n      timeout: 3\n",
    );
    let (code, out, err) = convox(&["check", &f, "-r", "r", "-a", "a"]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        err.contains(&format!("{f}:7:7: services.web.health.interval: health interval 1000s is out of range: AWS allows 5 to 300 seconds")),
        "{err}"
    );
    let (code, out, _) = convox(&["check", &f, "-r", "r", "-a", "a", "--format", "github"]);
    assert_eq!(code, 1);
    assert!(out.contains("line=7,col=7::"), "{out}");
}

#[test]
fn check_says_what_a_zero_became() {
    let f = temp_file(
        "zero",
        "services:\n  web:\n    image: x\n    scale:\n      cpu: 0\n",
    );
    let (code, out, err) = convox(&["check", &f, "-r", "r", "-a", "a"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        err.contains("services.web.scale.cpu: warning: scale cpu 0 means the default: 256"),
        "{err}"
    );
}

#[test]
fn schema_prints_the_json_schema_of_convox_yml() {
    let (code, out, err) = convox(&["schema"]);
    assert_eq!(code, 0, "{err}");
    let s: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(s, convox_model::manifest::schema::schema());
    assert_eq!(s["$schema"], "https://json-schema.org/draft/2020-12/schema");
    let port = &s["$defs"]["service"]["properties"]["port"];
    assert!(port["description"].as_str().unwrap().contains("https:3000"));
}
