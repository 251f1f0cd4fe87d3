//! SPEC §4–§6: validation rules, rack rules, hostnames, links and the resolved
//! environment; error texts pinned by snapshots.

// Tests fail loudly on unexpected input: unwrapping is how they say so.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;

use common::*;
use convox_model::check::check;
use convox_model::check::parse;
use convox_model::diag::Location;
use convox_model::env::{LinkVar, resolve};
use convox_model::params::RackParams;
use convox_model::rack::Rack;
use convox_model::rules::{hostnames, rack as rack_rules, validate};

// ---- names ----

#[test]
fn names_must_be_dns_labels() {
    for bad in ["Web", "1web", "123", "web-", "we_b", &"x".repeat(64)] {
        let e = fails_with(
            &format!("services:\n  {bad}:\n    image: x\n"),
            &format!(
                "service name {bad} invalid, must contain only lowercase alphanumeric and dashes"
            ),
        );
        assert_eq!(e.location, Some(Location { line: 2, column: 3 }));
    }
    fails_with(
        "timers:\n  T_1:\n    schedule: x\n    command: x\n    service: web\nservices:\n  web:\n    image: x\n",
        "timer name T_1 invalid",
    );
    fails_with(
        "resources:\n  DB:\n    type: postgres\n",
        "resource name DB invalid",
    );
}

#[test]
fn a_badly_named_service_still_has_its_body_checked() {
    assert_eq!(
        err("services:\n  Web:\n    image: x\n    port: abc\n")
            .errors()
            .count(),
        2
    );
}

#[test]
fn duplicate_names_are_errors() {
    let e = fails_with(
        "services:\n  web:\n    image: x\n  web:\n    image: y\n",
        "duplicate service web",
    );
    assert_eq!(e.location, Some(Location { line: 4, column: 3 }));
    fails_with(
        "timers:\n  t:\n    schedule: a\n  t:\n    schedule: b\n",
        "duplicate timer t",
    );
}

#[test]
fn validate_catches_duplicates_in_manifests_built_in_code() {
    let mut m = manifest(&web("image: x"));
    m.services.push(m.services[0].clone());
    let d = validate(&m);
    assert!(one_error(&d).message.contains("duplicate service web"));
}

// ---- links ----

const TWO: &str = "services:\n  web:\n    image: x\n    port: 3000\n    links: [api]\n  api:\n    image: x\n    port: 4000\n";

#[test]
fn link_target_must_exist() {
    let d = err("services:\n  web:\n    image: x\n    links:\n      - nosuch\n");
    let e = one_error(&d);
    assert_eq!(
        e.message,
        "web links to service: nosuch which does not exist"
    );
    assert_eq!(e.path, "services.web.links[0]");
    assert_eq!(e.location, Some(Location { line: 5, column: 9 }));
    assert_eq!(
        err("services:\n  web:\n    image: x\n    links: [My-Api, 5]\n")
            .errors()
            .count(),
        2
    );
}

/// The hint lists the services there are, the first ten, and says when there
/// are more.
#[test]
fn a_missing_link_target_hint_lists_ten_services_at_most() {
    let services =
        |n: usize| -> String { (0..n).map(|i| format!("  s{i}:\n    image: x\n")).collect() };
    // `web` and `n` others: ten in all fit, eleven do not.
    for (n, more) in [(8, false), (9, false), (10, true)] {
        let text = format!(
            "services:\n  web:\n    image: x\n    links: [nosuch]\n{}",
            services(n)
        );
        let d = err(&text);
        let hint = one_error(&d).hint.clone().unwrap_or_default();
        assert_eq!(hint.ends_with(", …"), more, "{n} services: {hint}");
        let listed = hint
            .trim_start_matches("services here: ")
            .split(", ")
            .count();
        // `web` and the others, ten at most, then the ellipsis.
        assert_eq!(
            listed,
            (n + 1).min(10) + usize::from(more),
            "{n} services: {hint}"
        );
    }
}

#[test]
fn link_target_must_expose_a_port() {
    let d = err("services:\n  web:\n    image: x\n    links: [worker]\n  worker:\n    image: x\n");
    assert_eq!(
        one_error(&d).message,
        "web links to service: worker which does not expose any ports"
    );
}

#[test]
fn a_service_cannot_link_to_itself() {
    fails_with(
        "services:\n  web:\n    image: x\n    port: 3000\n    links: [web]\n",
        "web links to itself",
    );
}

#[test]
fn two_links_to_one_variable_are_an_error() {
    fails_at(
        "services.web.links[1]",
        "services:\n  web:\n    image: x\n    links: [api, api]\n  api:\n    image: x\n    port: 4000\n",
        "both would set API_URL",
    );
}

#[test]
fn a_declared_variable_that_a_link_sets_is_a_warning_and_wins() {
    let text = "services:\n  web:\n    image: x\n    links: [api]\n    environment:\n      - API_URL=http://override\n  api:\n    image: x\n    port: 4000\n";
    let p = ok(text);
    assert_eq!(p.warnings.len(), 1);
    assert!(p.warnings.0[0].message.contains("declared value wins"));
    let r = resolve(
        &p.manifest,
        &rack(false, false),
        &name("backend"),
        &BTreeMap::new(),
    )
    .unwrap();
    assert_eq!(r.service("web").unwrap()["API_URL"], "http://override");
}

#[test]
fn link_variable_name_rule() {
    for (link, var) in [
        ("api", "API_URL"),
        ("api-v2", "API_V2_URL"),
        ("a1-b-c", "A1_B_C_URL"),
    ] {
        assert_eq!(LinkVar::for_link(&name(link)).as_str(), var);
    }
}

// ---- timers and resources ----

#[test]
fn timers_must_name_an_existing_service() {
    fails_at(
        "timers.t1.service",
        "timers:\n  t1:\n    schedule: \"0 3 * * ?\"\n    command: x\n    service: nosuch\n",
        "timer t1 runs on service: nosuch which does not exist",
    );
}

#[test]
fn timers_need_command_schedule_and_service() {
    assert_eq!(
        err("services:\n  web:\n    image: x\ntimers:\n  t1:\n    service: web\n")
            .errors()
            .count(),
        2
    );
}

#[test]
fn services_must_name_existing_resources() {
    fails_at(
        "services.web.resources[0]",
        "services:\n  web:\n    image: x\n    resources:\n      - nosuch\n",
        "web uses resource: nosuch which does not exist",
    );
}

// ---- rack rules ----

fn rack_errors(text: &str, internal: bool, internal_only: bool) -> convox_model::diag::Diagnostics {
    let m = manifest(text);
    rack_rules::check(&m, &RackParams::new(internal, internal_only).unwrap())
}

#[test]
fn internal_needs_internal_yes_for_every_service_with_or_without_port() {
    for body in [
        "image: x\nport: 3000\ninternal: true",
        "image: x\ninternal: true",
    ] {
        let e = one_error_with(
            &rack_errors(&web(body), false, false),
            "rack does not support internal services",
        );
        assert!(e.message.contains("web"));
        assert_eq!(
            e.hint
                .as_deref()
                .map(|h| h.contains("convox rack params set Internal=Yes")),
            Some(true)
        );
        assert_eq!(e.path, "services.web.internal");
        assert!(e.location.is_some());
        assert!(rack_errors(&web(body), true, false).is_empty());
    }
}

#[test]
fn internal_and_external_needs_internal_yes() {
    let e = one_error_with(
        &rack_errors(
            &web("image: x\nport: 3000\ninternalAndExternal: true"),
            false,
            false,
        ),
        "rack does not support internal services",
    );
    assert_eq!(e.path, "services.web.internalAndExternal");
}

#[test]
fn internal_only_refuses_services_that_are_not_internal() {
    for body in [
        "image: x\nport: 3000",
        "image: x",
        "image: x\ninternal: false",
    ] {
        let d = rack_errors(&web(body), true, true);
        let e = one_error(&d);
        assert!(
            e.message.contains("rack only supports internal services"),
            "{body}"
        );
        assert!(e.message.contains("web"));
        let hint = e.hint.as_deref().unwrap();
        assert!(hint.contains("internal: true") && hint.contains("InternalOnly=No"));
        assert!(e.location.is_some());
    }
    assert!(rack_errors(&web("image: x\ninternal: true"), true, true).is_empty());
}

#[test]
fn internal_only_refuses_internal_and_external() {
    let e = one_error_with(
        &rack_errors(
            &web("image: x\nport: 3000\ninternalAndExternal: true"),
            true,
            true,
        ),
        "internalAndExternal",
    );
    assert!(e.message.contains("rack only supports internal services"));
    assert_eq!(e.path, "services.web.internalAndExternal");
}

#[test]
fn rack_rules_fixture_on_each_rack() {
    let text = include_str!("fixtures/rack-rules.yml");
    let m = manifest(text);
    // No Internal: api and both fail.
    assert_eq!(
        rack_rules::check(&m, &RackParams::new(false, false).unwrap()).len(),
        2
    );
    assert!(rack_rules::check(&m, &RackParams::new(true, false).unwrap()).is_empty());
    // InternalOnly: web, worker (not internal) and both (internalAndExternal).
    assert_eq!(
        rack_rules::check(&m, &RackParams::new(true, true).unwrap()).len(),
        3
    );
}

// ---- hostnames ----

#[test]
fn external_hostname_labels_fit_in_63() {
    let long = "s".repeat(40);
    let m = manifest(&format!(
        "services:\n  {long}:\n    image: x\n    port: 3000\n"
    ));
    let app = name(&"a".repeat(30));
    let d = hostnames::check(&m, &rack(false, false), &app);
    assert!(one_error(&d).message.contains("DNS allows 63"));
    assert!(hostnames::check(&m, &rack(false, false), &name("app")).is_empty());
    // Internal names put each name in its own label.
    let m = manifest(&format!(
        "services:\n  {long}:\n    image: x\n    port: 3000\n    internal: true\n"
    ));
    assert!(hostnames::check(&m, &rack(true, false), &app).is_empty());
}

#[test]
fn hostnames_fit_in_253() {
    let m = manifest("services:\n  web:\n    image: x\n    port: 3000\n");
    let host = format!("{}.example.com", vec!["h".repeat(60); 4].join("."));
    let r = Rack::offline(name("production"), RackParams::default(), Some(host));
    let d = hostnames::check(&m, &r, &name("app"));
    assert!(one_error(&d).message.contains("DNS allows 253"));
}

// ---- env resolution ----

/// The environment of app `app` of `text`, on a rack with an internal router
/// or without, and no app environment.
fn resolved(text: &str, internal: bool, app: &str) -> convox_model::env::ResolvedEnv {
    resolve(
        &manifest(text),
        &rack(internal, false),
        &name(app),
        &BTreeMap::new(),
    )
    .unwrap()
}

#[test]
fn links_resolve_to_internal_and_external_urls() {
    let text = "services:\n  web:\n    image: x\n    port: 3000\n    links: [api, front, both]\n  api:\n    image: x\n    port: 4000\n    internal: true\n  front:\n    image: x\n    port: 80\n  both:\n    image: x\n    port: 81\n    internalAndExternal: true\n";
    let r = resolved(text, true, "backend");
    let web = r.service("web").unwrap();
    assert_eq!(web["API_URL"], "https://api.backend.production.convox");
    assert_eq!(
        web["FRONT_URL"],
        "https://backend-front.production.example.com"
    );
    assert_eq!(web["BOTH_URL"], "https://both.backend.production.convox");
}

#[test]
fn env_follows_declarations_then_links() {
    let text = "environment:\n  - SHARED=1\nservices:\n  web:\n    image: x\n    links: [api]\n    environment:\n      - DEF=d\n      - REQ\n  api:\n    image: x\n    port: 4000\n  all:\n    image: x\n    environment:\n      - \"*\"\n";
    let m = manifest(text);
    let app_env = env(&[("REQ", "r"), ("DEF", "app"), ("OTHER", "o")]);
    let r = resolve(&m, &rack(false, false), &name("backend"), &app_env).unwrap();
    let web: Vec<_> = r
        .service("web")
        .unwrap()
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    assert_eq!(
        web,
        [
            "API_URL=https://backend-api.production.example.com",
            "DEF=app",
            "REQ=r",
            "SHARED=1"
        ]
    );
    let all = r.service("all").unwrap();
    assert_eq!(all.len(), 4);
    assert_eq!(all["OTHER"], "o");
    assert_eq!(all["SHARED"], "1");
}

#[test]
fn required_env_is_computed_per_key() {
    // App-level requires A, the service gives it a default: satisfied (v2 refused).
    let r = resolved(
        "environment:\n  - A\nservices:\n  web:\n    image: x\n    environment:\n      - A=default\n",
        false,
        "app",
    );
    assert_eq!(r.service("web").unwrap()["A"], "default");
    // And the other way round.
    let r = resolved(
        "environment:\n  - A=g\nservices:\n  web:\n    image: x\n    environment:\n      - A\n",
        false,
        "app",
    );
    assert_eq!(r.service("web").unwrap()["A"], "g");
}

#[test]
fn required_env_error_per_service_with_v2_words() {
    let m = manifest(
        "environment:\n  - ZED\n  - ALPHA\nservices:\n  web:\n    image: x\n  api:\n    image: x\n    environment:\n      - B\n",
    );
    let d = resolve(&m, &rack(false, false), &name("app"), &BTreeMap::new()).unwrap_err();
    assert_eq!(d.len(), 2);
    let web =
        d.0.iter()
            .find(|e| e.message.contains("service web"))
            .unwrap();
    assert!(web.message.starts_with("required env: ALPHA, ZED"));
    assert_eq!(web.path, "environment[0]");
    assert!(
        web.hint
            .as_deref()
            .unwrap()
            .contains("--env ALPHA=... --env ZED=...")
    );
    let api =
        d.0.iter()
            .find(|e| e.message.contains("service api"))
            .unwrap();
    assert!(api.message.starts_with("required env: ALPHA, B, ZED"));
}

#[test]
fn timers_get_the_env_and_links_of_their_service() {
    let text = "services:\n  web:\n    image: x\n    links: [api]\n    environment: [A=1]\n  api:\n    image: x\n    port: 4000\n    internal: true\ntimers:\n  job:\n    schedule: \"* * * * ?\"\n    command: x\n    service: web\n";
    let r = resolved(text, true, "app");
    let job = r.timer("job").unwrap();
    assert_eq!(job["A"], "1");
    assert_eq!(job["API_URL"], "https://api.app.production.convox");
}

// ---- check ----

#[test]
fn check_reports_every_phase_together_sorted() {
    let text = "services:\n  web:\n    image: x\n    links: [nosuch]\n    environment: [NEED]\n  api:\n    image: x\n    port: 4000\n    internal: true\n";
    let d = check(text, &rack(false, false), &name("app"), &BTreeMap::new()).unwrap_err();
    let lines: Vec<_> = d.errors().map(|e| e.location.unwrap().line).collect();
    assert_eq!(lines, [4, 5, 9]);
}

#[test]
fn check_success_gives_env_and_endpoints() {
    let c = check(TWO, &rack(false, false), &name("app"), &BTreeMap::new()).unwrap();
    assert_eq!(c.endpoints.len(), 2);
    assert_eq!(
        c.env.service("web").unwrap()["API_URL"],
        "https://app-api.production.example.com"
    );
}

// ---- snapshots: the words and places users see ----

/// What `check` tells the user about `text` on `rack` (app `backend`).
fn render_check(text: &str, rack: &Rack) -> String {
    match check(text, rack, &name("backend"), &BTreeMap::new()) {
        Ok(c) => format!("ok\n{}", c.warnings.render("convox.yml")),
        Err(d) => d.render("convox.yml"),
    }
}

/// What `check` tells the user about `text` on a rack with neither router
/// option.
fn render(text: &str) -> String {
    render_check(text, &rack(false, false))
}

const EVERYTHING_WRONG: &str = include_str!("fixtures/everything-wrong.yml");
const RACK_RULES: &str = include_str!("fixtures/rack-rules.yml");

#[test]
fn snapshot_everything_wrong() {
    insta::assert_snapshot!(render(EVERYTHING_WRONG));
}

#[test]
fn snapshot_rack_without_internal() {
    insta::assert_snapshot!(render(RACK_RULES));
}

#[test]
fn snapshot_internal_only_rack() {
    insta::assert_snapshot!(render_check(RACK_RULES, &rack(true, true)));
}

#[test]
fn snapshot_required_env_and_link_warning() {
    let text = "environment:\n  - TOKEN\nservices:\n  web:\n    image: x\n    links: [api]\n    environment:\n      - API_URL=http://localhost:4000\n      - SECRET\n  api:\n    image: x\n    port: 4000\n    internal: true\n";
    insta::assert_snapshot!(render_check(text, &rack(true, false)));
}

#[test]
fn snapshot_syntax_errors() {
    let text = "services:\n  web:\n    image: x\n   port: 3000\n";
    insta::assert_snapshot!(render(text));
    insta::assert_snapshot!("tabs", render("services:\n\tweb:\n"));
    insta::assert_snapshot!(
        "duplicate",
        render("services:\n  web:\n    image: x\n  web:\n    image: y\n")
    );
}

#[test]
fn snapshot_type_errors() {
    let text = "services:\n  web:\n    image: x\n    command: 5\n    scale: 1-2-3\n    port: {scheme: https}\n    health: 5\n    domain: 5\n    build: [a]\n    agent: \"yes\"\n    environment: {A: b}\n    internal: \"true\"\n";
    insta::assert_snapshot!(render(text));
}

#[test]
fn parse_is_the_same_report_without_a_rack() {
    // parse() runs validation too; only the rack rules and env need check().
    let d = parse(EVERYTHING_WRONG, &BTreeMap::new()).unwrap_err();
    assert!(d.errors().count() >= 8);
}
