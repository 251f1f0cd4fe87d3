//! `convox rack audit` on the mock, through the command line: a clean rack
//! passes (exit 0), and drift made in the mock's state by hand is found and
//! named (exit 1).

// Tests fail loudly on unexpected input: unwrapping is how they say so.
#![allow(clippy::unwrap_used)]

use serde_json::{Value, json};

mod support;
use support::{Session, backend_yml};

impl Session {
    /// Changes the mock's state file as someone with console access would.
    fn edit_state(&self, f: impl FnOnce(&mut Value)) {
        let mut v = self.read_state();
        f(&mut v);
        self.write_state(&v);
    }
}

const AUDIT: [&str; 4] = ["rack", "audit", "--rack", "production"];

#[test]
fn rack_audit_passes_a_clean_rack_and_names_a_source_opened_by_hand() {
    let s = Session::new("audit", "opened");
    let (code, _, err) = s.convox(&AUDIT);
    assert_eq!(code, 1);
    assert!(
        err.contains("rack production has not been set up yet"),
        "{err}"
    );

    s.ok(&[
        "rack",
        "params",
        "set",
        "Internal=Yes",
        "--rack",
        "production",
    ]);
    let f = backend_yml();
    s.ok(&["deploy", &f, "--rack", "production", "--app", "backend"]);

    let out = s.ok(&AUDIT);
    assert!(out.contains("No findings."), "{out}");
    assert!(
        out.contains("endpoint https://api.backend.production.convox on the internal router (internal), record aliases "),
        "{out}"
    );
    assert!(out.contains("admits tcp/443 from 10.0.0.0/16"), "{out}");
    let json: Value =
        serde_json::from_str(&s.ok(&[AUDIT.as_slice(), &["--json"]].concat())).unwrap();
    assert_eq!(json["version"], 1);
    assert_eq!(json["findings"], json!([]));
    let api = json["endpoints"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["hostname"] == "api.backend.production.convox")
        .unwrap();
    assert_eq!(api["router"], "internal");
    assert_eq!(api["scheme"], "internal");
    assert_eq!(api["record"]["router"], "internal");

    // Someone opens the internal router's security group to the world.
    s.edit_state(|v| {
        let groups = v["security_groups"].as_object_mut().unwrap();
        let internal = groups
            .values_mut()
            .find(|g| g["tags"]["convox:key"] == "router/internal/sg")
            .unwrap();
        internal["spec"]["ingress"]
            .as_array_mut()
            .unwrap()
            .push(json!({"protocol": "tcp", "port": 443, "cidr": "0.0.0.0/0"}));
    });
    let (code, out, _) = s.convox(&AUDIT);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("1 findings:"), "{out}");
    assert!(
        out.contains("ingress_outside_vpc: the internal router admits 0.0.0.0/0 (tcp port 443)"),
        "{out}"
    );
    let (code, out, _) = s.convox(&[AUDIT.as_slice(), &["--json"]].concat());
    assert_eq!(code, 1);
    let json: Value = serde_json::from_str(&out).unwrap();
    let findings = json["findings"].as_array().unwrap();
    assert_eq!(findings.len(), 1, "{out}");
    assert_eq!(findings[0]["kind"], "ingress_outside_vpc");
    assert_eq!(findings[0]["source"], "0.0.0.0/0");
    assert_eq!(findings[0]["port"], 443);
}
