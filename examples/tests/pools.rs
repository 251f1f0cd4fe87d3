//! Router pools through the CLI, on the mock at AWS's default quotas: a rack
//! whose internal load balancer is full adds a second for the next app, and
//! `convox plan`, `convox deploy` and `convox apps delete` say so.

// Tests fail loudly on unexpected input: unwrapping is how they say so.
#![allow(clippy::unwrap_used)]

mod support;

use support::Session;

/// `n` internal services `s0`… of `convox.yml`.
fn manifest(n: usize) -> String {
    let mut yml = String::from("services:\n");
    for i in 0..n {
        yml.push_str(&format!("  s{i}:\n    port: 3000\n    internal: true\n"));
    }
    yml
}

#[test]
fn a_full_internal_load_balancer_gets_a_second_and_the_user_is_told() {
    let s = Session::new("pools", "grow");
    std::fs::write(s.dir.join("big.yml"), manifest(100)).unwrap();
    std::fs::write(s.dir.join("more.yml"), manifest(1)).unwrap();
    s.ok(&["rack", "params", "set", "Internal=Yes", "-r", "production"]);
    s.ok(&["deploy", "big.yml", "-r", "production", "-a", "big"]);

    // 100 target groups fill the first load balancer (AWS's hard limit).
    let plan = s.ok(&["plan", "more.yml", "-r", "production", "-a", "more"]);
    for line in [
        "  + load balancer router/internal/2/alb",
        "      (the internal router's load balancers have no room for this app: load balancer 2 of its pool)",
        "  + listener router/internal/2/listener/443",
        "      s0.more.production.convox ALIAS router/internal/2/alb",
    ] {
        assert!(plan.contains(line), "{line:?} not in:\n{plan}");
    }
    let deployed = s.ok(&["deploy", "more.yml", "-r", "production", "-a", "more"]);
    assert!(
        deployed.contains("Deployed more to rack production: 8 changes applied."),
        "{deployed}"
    );
    // A redeploy of either app changes nothing.
    for (file, app) in [("big.yml", "big"), ("more.yml", "more")] {
        let again = s.ok(&["deploy", file, "-r", "production", "-a", app]);
        assert!(again.contains("No changes."), "{app}: {again}");
    }

    // Deleted, the app leaves load balancer 2 empty: it drains for the drain
    // time before the first deploy or delete removes it.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let at = |t: u64| [("CONVOX_NOW", t.to_string())];
    let deleted = s.ok_with(
        &at(now).each_ref().map(|(k, v)| (*k, v.as_str())),
        &["apps", "delete", "-a", "more", "-r", "production"],
    );
    for line in [
        // Issue 9: its target group, rule and record; it has no certificate
        // of its own (it leaves load balancer 2's shared one).
        "Deleted app more from rack production: 3 resources removed; the rack and other apps are untouched.",
        "load balancer 2 of the internal router routes nothing now: it drains for 60 minutes",
    ] {
        assert!(deleted.contains(line), "{line:?} not in:\n{deleted}");
    }
    assert!(s.read_state().to_string().contains("cx-production-i2-"));
    // A no-op deploy stays read-only; the first delete (or deploy that
    // changes something) after the drain time removes it.
    let later = now + convox_model::pool::DRAIN_SECONDS as u64;
    let later = at(later);
    let later: Vec<(&str, &str)> = later.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let again = s.ok_with(
        &later,
        &["deploy", "big.yml", "-r", "production", "-a", "big"],
    );
    assert!(again.contains("No changes."), "{again}");
    assert!(s.read_state().to_string().contains("cx-production-i2-"));
    let deleted = s.ok_with(&later, &["apps", "delete", "-a", "big", "-r", "production"]);
    assert!(
        deleted.contains("3 of the rack's too (a load balancer of a router's pool"),
        "{deleted}"
    );
    let state = s.read_state().to_string();
    assert!(
        !state.contains("cx-production-i2-"),
        "load balancer 2 stayed"
    );
}
