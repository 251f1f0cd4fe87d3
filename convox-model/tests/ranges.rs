//! AWS's own ranges for what convox.yml sets, refused at check time with their
//! place and the allowed range; and v2's "zero means the default" with a
//! warning that says what 0 became.

// Tests fail loudly on unexpected input: unwrapping is how they say so.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;

use common::*;
use convox_model::check::parse;
use convox_model::diag::{Location, Severity};
use convox_model::manifest::{Manifest, Port, Scheme, Service, defaults};
use convox_model::rules::ranges::{
    DRAIN, HEALTH_GRACE, HEALTH_INTERVAL, HEALTH_PATH_MAX_LEN, HEALTH_TIMEOUT,
};
use convox_model::rules::validate;

/// `web` with a port and these body lines.
fn routed(body: &str) -> String {
    web(&format!("image: x\nport: 3000\n{body}"))
}

/// The one error of `text`, which must be at `path` on `line` and name `range`.
fn refused(text: &str, path: &str, line: usize, range: &str) {
    let d = err(text);
    let e = one_error(&d);
    assert_eq!(e.path, path, "{d}");
    assert_eq!(e.location.map(|l| l.line), Some(line), "{d}");
    assert!(e.message.contains(range), "{} lacks {range}", e.message);
}

// ---- health interval: 5..=300; health timeout: 2..=120, below the interval ----

/// One test a case: the range is as AWS has it; `health:` written with the
/// format reads the value back at both ends, and is refused just past each end
/// and at a far value, at its path and line, naming the allowed range.
macro_rules! health_bounds {
    ($(
        $name:ident: $range:ident is $lo:literal..=$hi:literal, written $text:literal,
        read $field:ident, far $far:literal, refused at $path:literal line $line:literal
        naming $allowed:literal;
    )*) => {
        $(
            #[test]
            fn $name() {
                assert_eq!((*$range.start(), *$range.end()), ($lo, $hi));
                for ok in [$lo, $hi] {
                    let t = routed(&format!($text, ok));
                    assert_eq!(svc(&manifest(&t), "web").health.$field, ok);
                }
                for bad in [$lo - 1, $hi + 1, $far] {
                    refused(&routed(&format!($text, bad)), $path, $line, $allowed);
                }
            }
        )*
    };
}

health_bounds! {
    health_interval_bounds: HEALTH_INTERVAL is 5..=300,
        written "health:\n  interval: {}\n  timeout: 3", read interval, far 1000,
        refused at "services.web.health.interval" line 6 naming "5 to 300 seconds";
    health_timeout_bounds: HEALTH_TIMEOUT is 2..=120,
        written "health:\n  interval: 300\n  timeout: {}", read timeout, far 999,
        refused at "services.web.health.timeout" line 7 naming "2 to 120 seconds";
}

#[test]
fn health_interval_message_names_the_value_and_hint() {
    let d = err(&routed("health:\n  interval: 1000\n  timeout: 3"));
    let e = one_error(&d);
    assert_eq!(
        e.message,
        "health interval 1000s is out of range: AWS allows 5 to 300 seconds (HealthCheckIntervalSeconds)"
    );
    assert_eq!(e.location, Some(Location { line: 6, column: 7 }));
    assert_eq!(e.hint.as_deref(), Some("write interval: between 5 and 300"));
}

#[test]
fn health_timeout_must_stay_below_the_interval() {
    manifest(&routed("health:\n  interval: 10\n  timeout: 9"));
    let d = err(&routed("health:\n  interval: 10\n  timeout: 10"));
    let e = one_error(&d);
    assert!(
        e.message
            .contains("timeout 10s must be less than interval 10s"),
        "{}",
        e.message
    );
    assert_eq!(e.location.map(|l| l.line), Some(5));
}

#[test]
fn a_timeout_derived_from_a_long_interval_is_refused_at_the_health_key() {
    // v2's default timeout is interval - 1: 199 here, which AWS refuses.
    manifest(&routed("health:\n  interval: 121"));
    let d = err(&routed("health:\n  interval: 122"));
    let e = one_error(&d);
    assert_eq!(e.path, "services.web.health.timeout");
    // Not written: placed at the nearest key that is, health.
    assert_eq!(e.location.map(|l| l.line), Some(5));
    assert!(e.message.contains("health timeout 121s"), "{}", e.message);
}

#[test]
fn an_interval_out_of_range_is_one_error_not_two() {
    // interval 1 gives timeout 0 (v2's interval - 1): the interval explains both.
    let d = err(&routed("health:\n  interval: 1"));
    assert_eq!(one_error(&d).path, "services.web.health.interval");
}

// ---- health path: starts with /, at most 1024 characters ----

#[test]
fn health_path_must_start_with_a_slash() {
    manifest(&routed("health: /check"));
    refused(
        &routed("health: check"),
        "services.web.health.path",
        5,
        "must start with /",
    );
    let d = err(&routed("health:\n  path: check"));
    let e = one_error(&d);
    assert_eq!(e.location, Some(Location { line: 6, column: 7 }));
    assert_eq!(e.hint.as_deref(), Some("write health: /check"));
}

#[test]
fn health_path_length_bounds() {
    let longest = format!("/{}", "a".repeat(HEALTH_PATH_MAX_LEN - 1));
    manifest(&routed(&format!("health: {longest}")));
    let d = err(&routed(&format!("health: {longest}a")));
    let e = one_error(&d);
    assert_eq!(e.path, "services.web.health.path");
    assert!(e.message.contains("1025 characters long"), "{}", e.message);
    assert!(e.message.contains("1 to 1024"), "{}", e.message);
}

// ---- health grace: 0..=2147483647 (ECS) ----

#[test]
fn health_grace_bounds() {
    assert_eq!(*HEALTH_GRACE.end(), 2_147_483_647);
    let t = routed("health:\n  grace: 2147483647");
    assert_eq!(svc(&manifest(&t), "web").health.grace, 2_147_483_647);
    refused(
        &routed("health:\n  grace: 2147483648"),
        "services.web.health.grace",
        6,
        "0 to 2147483647 seconds",
    );
}

// ---- drain: 0..=3600 ----

#[test]
fn drain_bounds() {
    assert_eq!((*DRAIN.start(), *DRAIN.end()), (0, 3600));
    for ok in [1, 3600] {
        assert_eq!(
            svc(&manifest(&routed(&format!("drain: {ok}"))), "web").drain,
            ok
        );
    }
    refused(
        &routed("drain: 3601"),
        "services.web.drain",
        5,
        "0 to 3600 seconds",
    );
}

// ---- ports: 1..=65535 ----

#[test]
fn port_bounds() {
    for ok in [1, 65535] {
        let m = manifest(&web(&format!("image: x\nport: {ok}")));
        assert_eq!(svc(&m, "web").port.map(|p| p.port), Some(ok));
    }
    let d = err(&web("image: x\nport: 65536"));
    let e = one_error(&d);
    assert_eq!(e.path, "services.web.port");
    assert_eq!(e.location.map(|l| l.line), Some(4));
    assert!(e.message.contains("between 1 and 65535"), "{}", e.message);
    // Port 0 cannot come from text (v2 reads it as no port), but can from code.
    let mut s = Service::with_defaults(name("web"));
    s.port = Some(Port {
        port: 0,
        scheme: Scheme::Http,
    });
    let d = validate(&Manifest::from_services(vec![s]));
    assert!(one_error(&d).message.contains("between 1 and 65535"));
}

#[test]
fn every_range_problem_of_a_service_is_reported_at_once() {
    let d = err(&routed(
        "drain: 4000\nhealth:\n  path: x\n  interval: 400\n  grace: 3000000000",
    ));
    let paths: Vec<&str> = d.errors().map(|e| e.path.as_str()).collect();
    assert_eq!(paths.len(), 4, "{d}");
    for p in ["drain", "health.path", "health.interval", "health.grace"] {
        assert!(paths.contains(&format!("services.web.{p}").as_str()), "{d}");
    }
}

// ---- routed hostnames: at most 128 characters (ALB host-header condition) ----

#[test]
fn a_routed_hostname_fits_the_host_header_condition() {
    use convox_model::rules::hostnames;
    use convox_model::rules::ranges::HOST_HEADER_MAX_LEN;
    assert_eq!(HOST_HEADER_MAX_LEN, 128);
    // {service}.{app}.production.convox: 1 + 1 + 10 + 7 = 19 characters besides the names.
    let text =
        |s: &str| format!("services:\n  {s}:\n    image: x\n    port: 3000\n    internal: true\n");
    let app = name(&"a".repeat(59));
    let fits = "s".repeat(128 - 19 - 59);
    let m = manifest(&text(&fits));
    assert!(hostnames::check(&m, &rack(true, false), &app).is_empty());
    let over = format!("{fits}s");
    let m = manifest(&text(&over));
    let d = hostnames::check(&m, &rack(true, false), &app);
    let e = one_error(&d);
    assert_eq!(e.path, format!("services.{over}"));
    assert_eq!(e.location.map(|l| l.line), Some(2));
    assert!(e.message.contains("129 characters long"), "{}", e.message);
    assert!(e.message.contains("allows 128"), "{}", e.message);
}

// ---- zero means the default, as in v2, with a warning ----

/// Service `web` of `web(body)` and its warnings at `path`.
fn zero(body: &str, path: &str) -> (Service, Vec<String>) {
    let p = parse(&web(body), &BTreeMap::new()).unwrap();
    let w = p
        .warnings
        .0
        .iter()
        .filter(|d| d.path == path && d.severity == Severity::Warning)
        .map(|d| d.message.clone())
        .collect();
    (svc(&p.manifest, "web").clone(), w)
}

/// One test a case: `body` reads with the zero at `path` taken as the default,
/// `value` (read from the service by `get`), and one warning that says so.
macro_rules! zero_is_the_default {
    ($($name:ident($body:expr, $path:expr) => |$s:ident| $get:expr, $value:expr, $warning:expr;)*) => {
        $(
            #[test]
            fn $name() {
                let ($s, w) = zero($body, $path);
                assert_eq!($get, $value);
                assert_eq!(w, [$warning]);
            }
        )*
    };
}

#[test]
fn health_interval_zero_is_the_default() {
    let (s, w) = zero(
        "image: x\nhealth:\n  interval: 0",
        "services.web.health.interval",
    );
    let h = &s.health;
    assert_eq!((h.interval, h.timeout, h.grace), (5, 4, 5));
    assert_eq!(w, ["health interval 0 means the default: 5"]);
}

zero_is_the_default! {
    health_timeout_zero_is_the_default(
        "image: x\nhealth:\n  interval: 10\n  timeout: 0",
        "services.web.health.timeout"
    ) => |s| s.health.timeout, 9, "health timeout 0 means the default: interval - 1 = 9";
    health_grace_zero_is_the_default(
        "image: x\nhealth:\n  interval: 10\n  grace: 0",
        "services.web.health.grace"
    ) => |s| s.health.grace, 10, "health grace 0 means the default: the interval, 10";
    drain_zero_is_the_default("image: x\ndrain: 0", "services.web.drain")
        => |s| s.drain, defaults::DRAIN, "drain 0 means the default: 30";
    scale_cpu_zero_is_the_default("image: x\nscale:\n  cpu: 0", "services.web.scale.cpu")
        => |s| s.scale.cpu, 256, "scale cpu 0 means the default: 256";
    scale_memory_zero_is_the_default("image: x\nscale:\n  memory: 0", "services.web.scale.memory")
        => |s| s.scale.memory, 512, "scale memory 0 means the default: 512";
    nlb_container_port_zero_is_the_nlb_port(
        "image: x\nnlb:\n  - port: 5432\n    containerPort: 0",
        "services.web.nlb[0].containerPort"
    ) => |s| s.nlb[0].container_port, 5432, "nlb containerPort 0 means the default: 5432";
}

#[test]
fn an_empty_health_path_is_the_default() {
    let (s, w) = zero(
        "image: x\nhealth:\n  path: \"\"",
        "services.web.health.path",
    );
    assert_eq!(s.health.path, "/");
    assert_eq!(w, ["an empty health path means the default: /"]);
    let (s, w) = zero("image: x\nhealth: \"\"", "services.web.health");
    assert_eq!(s.health.path, "/");
    assert_eq!(w.len(), 1);
}

#[test]
fn zeros_v2_keeps_stay_zero_without_a_warning() {
    // v2 sets these defaults only when the key is absent: a written 0 stays.
    let p = ok(&web(
        "image: x\ndeployment: {minimum: 0, maximum: 100}\ntermination: {grace: 0}\nscale:\n  count: 0\n  cooldown: 0",
    ));
    let s = svc(&p.manifest, "web");
    assert_eq!(
        (
            s.deployment.minimum,
            s.termination.grace,
            s.scale.count.max,
            s.scale.cooldown.up
        ),
        (0, 0, 0, 0)
    );
    assert!(p.warnings.0.is_empty(), "{}", p.warnings);
}

#[test]
fn a_zero_warning_carries_its_place_and_a_hint() {
    let p = ok(&web("image: x\nscale:\n  cpu: 0"));
    let w = &p.warnings.0[0];
    assert_eq!(w.location, Some(Location { line: 5, column: 7 }));
    assert_eq!(
        w.hint.as_deref(),
        Some("leave cpu out for the default, or write the value you mean")
    );
}

// ---- boundaries the rules must keep (cargo-mutants' survivors) ----

#[test]
fn deployment_minimum_of_exactly_100_and_equal_to_the_maximum_is_accepted() {
    for fits in [
        "{minimum: 100, maximum: 200}",
        "{minimum: 100, maximum: 100}",
    ] {
        let p = ok(&web(&format!("image: x\ndeployment: {fits}")));
        assert_eq!(svc(&p.manifest, "web").deployment.minimum, 100, "{fits}");
    }
    let d = err(&web("image: x\ndeployment: {minimum: 101, maximum: 200}"));
    assert!(one_error(&d).message.contains("above 100%"), "{d}");
}

#[test]
fn dns_lengths_are_limits_not_bounds_short_of_them() {
    use convox_model::exposure::Hostname;
    use convox_model::rules::hostnames::{HostnameProblem, problem};
    let label = |n: usize| "a".repeat(n);
    // Labels of 63 characters, a name of 253: both fit DNS exactly.
    let at_limit = Hostname::from_raw(format!(
        "{}.{}.{}.{}",
        label(63),
        label(63),
        label(63),
        label(61)
    ));
    assert_eq!(at_limit.as_str().len(), 253);
    assert_eq!(problem(&at_limit), None);
    let long_label = Hostname::from_raw(format!("{}.x.convox", label(64)));
    assert!(matches!(
        problem(&long_label),
        Some(HostnameProblem::LabelTooLong { .. })
    ));
    let long_name = Hostname::from_raw(format!("b.{}", at_limit.as_str()));
    assert!(matches!(
        problem(&long_name),
        Some(HostnameProblem::TooLong { .. })
    ));
}
