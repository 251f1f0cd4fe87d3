//! `convox rack plan` and a careful `rack params set` on the mock's command
//! line: the rack's own plan, drift included, empty on a clean rack; new
//! subnets change the routers in place; a plan that replaces a router is shown
//! and refused without `--yes`.

// Tests fail loudly on unexpected input: unwrapping is how they say so.
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;

use serde_json::{Value, json};

mod support;
use support::{Session, backend_yml};

/// A session whose directory holds the seed's convox.yml.
struct Project(Session);

impl Project {
    fn new(name: &str) -> Self {
        let s = Session::new("rack-plan", name);
        std::fs::copy(backend_yml(), s.dir.join("convox.yml")).unwrap();
        Project(s)
    }

    /// Runs `convox ARGS… -r production`; returns (exit code, stdout, stderr).
    fn run(&self, args: &[&str]) -> (i32, String, String) {
        let argv: Vec<&str> = args.iter().copied().chain(["-r", "production"]).collect();
        self.0.convox(&argv)
    }

    fn ok(&self, args: &[&str]) -> String {
        let (code, out, err) = self.run(args);
        assert_eq!(code, 0, "convox {args:?}\nstdout:\n{out}\nstderr:\n{err}");
        out
    }

    fn state_path(&self) -> PathBuf {
        self.0.state()
    }

    fn state(&self) -> Value {
        self.0.read_state()
    }

    fn set_state(&self, state: &Value) {
        self.0.write_state(state);
    }

    /// The rack's plan as JSON.
    fn rack_plan(&self) -> Value {
        serde_json::from_str(&self.ok(&["rack", "plan", "--json"])).unwrap()
    }

    /// The id of the owned load balancer of `scheme` and its security group.
    fn router(&self, scheme: &str) -> (String, String) {
        let state = self.state();
        let (arn, lb) = state["load_balancers"]
            .as_object()
            .unwrap()
            .iter()
            .find(|(_, lb)| lb["scheme"] == scheme)
            .unwrap();
        (
            arn.clone(),
            lb["security_group_ids"][0].as_str().unwrap().to_string(),
        )
    }
}

fn keys(plan: &Value) -> Vec<(String, String)> {
    plan["actions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["op"].as_str().unwrap().to_string(),
                a["key"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn rack_plan_is_empty_on_a_clean_rack_and_shows_drift_that_any_deploy_repairs() {
    let p = Project::new("drift");
    p.ok(&["rack", "params", "set", "Internal=Yes"]);
    p.ok(&["deploy", "-a", "backend"]);
    assert_eq!(p.rack_plan()["actions"], json!([]));
    let out = p.ok(&["rack", "plan"]);
    assert_eq!(out, "No changes. Rack production is up to date.\n");

    // Someone opens the internal router to the internet.
    let (_, sg) = p.router("internal");
    let mut state = p.state();
    state["security_groups"][&sg]["spec"]["ingress"]
        .as_array_mut()
        .unwrap()
        .push(json!({"protocol": "tcp", "port": 443, "cidr": "0.0.0.0/0"}));
    p.set_state(&state);
    assert_eq!(
        keys(&p.rack_plan()),
        [("update".to_string(), "router/internal/sg".to_string())]
    );
    let out = p.ok(&["plan", "-a", "backend"]);
    assert!(out.contains("~ security group router/internal/sg"), "{out}");

    // The next deploy closes it.
    p.ok(&["deploy", "-a", "backend"]);
    assert_eq!(p.rack_plan()["actions"], json!([]));
    let ingress = &p.state()["security_groups"][&sg]["spec"]["ingress"];
    assert!(!ingress.to_string().contains("0.0.0.0/0"), "{ingress}");
}

#[test]
fn new_subnets_change_the_routers_in_place() {
    let p = Project::new("subnets");
    p.ok(&[
        "rack",
        "params",
        "set",
        "Internal=Yes",
        "--subnets",
        "subnet-b,subnet-a",
    ]);
    p.ok(&["deploy", "-a", "backend"]);
    let (arn, _) = p.router("internal");

    let out = p.ok(&["rack", "params", "set", "--subnets", "subnet-a,subnet-b"]);
    assert!(out.contains("already up to date"), "{out}");
    let out = p.ok(&[
        "rack",
        "params",
        "set",
        "--subnets",
        "subnet-c,subnet-a,subnet-b",
    ]);
    assert!(out.contains("~ load balancer router/internal/alb"), "{out}");
    assert!(
        out.contains("0 created, 2 updated, 0 replaced, 0 deleted"),
        "{out}"
    );
    assert_eq!(p.router("internal").0, arn, "the router is kept");
    assert_eq!(
        p.state()["load_balancers"][&arn]["subnets"],
        json!(["subnet-a", "subnet-b", "subnet-c"])
    );
    let out = p.ok(&["plan", "-a", "backend"]);
    assert!(out.starts_with("No changes."), "{out}");
    // Nothing to set is a usage error.
    assert_eq!(p.run(&["rack", "params", "set"]).0, 2);
}

#[test]
fn a_router_replacement_is_shown_and_refused_without_yes() {
    let p = Project::new("replace");
    p.ok(&["rack", "params", "set", "Internal=Yes"]);
    p.ok(&["deploy", "-a", "backend"]);
    let (arn, _) = p.router("internal");
    let mut state = p.state();
    state["load_balancers"][&arn]["scheme"] = json!("internet-facing");
    p.set_state(&state);
    let before = std::fs::read_to_string(p.state_path()).unwrap();

    let (code, out, err) = p.run(&["rack", "params", "set", "Internal=Yes"]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        out.contains("-/+ load balancer router/internal/alb"),
        "{out}"
    );
    assert!(err.contains("--yes"), "{err}");
    assert_eq!(
        std::fs::read_to_string(p.state_path()).unwrap(),
        before,
        "nothing changed"
    );

    let out = p.ok(&["rack", "params", "set", "Internal=Yes", "--yes"]);
    // Issue 9: the shared certificate's attachment is the rack's, replaced
    // with the router's listener (3 before, when it was the app's).
    assert!(out.contains("4 replaced"), "{out}");
    let (new, _) = p.router("internal");
    assert_ne!(new, arn);
    // The app's rules, attachment and records moved to the new router.
    let out = p.ok(&["plan", "-a", "backend"]);
    assert!(out.starts_with("No changes."), "{out}");
    assert!(
        !std::fs::read_to_string(p.state_path())
            .unwrap()
            .contains(&arn)
    );
    assert_eq!(p.rack_plan()["actions"], json!([]));
}
