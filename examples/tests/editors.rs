//! What editors and CI see: `convox check` refusing what AWS would refuse, at
//! its line; `convox schema`.

// Tests fail loudly on unexpected input: unwrapping is how they say so.
#![allow(clippy::unwrap_used)]

mod support;
use support::{check_plain, convox, temp_file};

#[test]
fn check_refuses_a_health_interval_aws_refuses_naming_its_line() {
    let f = temp_file(
        "services:\n  web:\n    image: x\n    port: 3000\n    health:\n      path: /up\n      interval: 1000\n      timeout: 3\n",
    );
    let (code, out, err) = check_plain(&f, "");
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        err.contains(&format!("{f}:7:7: services.web.health.interval: health interval 1000s is out of range: AWS allows 5 to 300 seconds")),
        "{err}"
    );
    let (code, out, _) = check_plain(&f, "--format github");
    assert_eq!(code, 1);
    assert!(out.contains("line=7,col=7::"), "{out}");
}

#[test]
fn check_says_what_a_zero_became() {
    let f = temp_file("services:\n  web:\n    image: x\n    scale:\n      cpu: 0\n");
    let (code, out, err) = check_plain(&f, "");
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
    assert_eq!(s, convox_model::schema::schema());
    assert_eq!(s["$schema"], "https://json-schema.org/draft/2020-12/schema");
    let port = &s["$defs"]["service"]["properties"]["port"];
    assert!(port["description"].as_str().unwrap().contains("https:3000"));
}
