//! Properties over generated inputs: nothing panics, valid manifests survive
//! render → parse, hostnames and link variables follow their rules.

// Tests fail loudly on unexpected input: unwrapping is how they say so.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::*;
use convox_model::check::check;
use convox_model::check::parse;
use convox_model::env::LinkVar;
use convox_model::exposure::{Hostname, Router, hostname};
use convox_model::manifest::SourceMap;
use proptest::prelude::*;
use serde_yaml::{Mapping, Value};

/// Every key the reader knows (its lists, one per mapping of convox.yml),
/// YAML's merge key and two service names.
fn known_keys() -> Vec<&'static str> {
    use convox_model::manifest::keys::*;
    let lists: [&[&'static str]; 17] = [
        TOP,
        SERVICE,
        RESOURCE,
        TIMER,
        TIMER_IGNORED,
        AGENT,
        BUILD,
        DEPLOYMENT,
        HEALTH,
        PORT,
        NLB,
        SCALE,
        COUNT,
        COOLDOWN,
        TARGETS,
        TERMINATION,
        &["<<", "web", "api"],
    ];
    let keys: BTreeSet<&'static str> = lists.into_iter().flatten().copied().collect();
    keys.into_iter().collect()
}

const WORDS: &[&str] = &[
    "yes",
    "No",
    "on",
    "OFF",
    "y",
    "true",
    "https:3000",
    "1-3",
    "1-2-3",
    "*",
    "A=1",
    "A",
    "api",
    "web",
    "/check",
    "8125/udp",
    "${X}",
    "${",
    "grpc:50051",
    "-1",
    "0",
    "99999",
    "",
    "a.com, b.com",
];

fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(known_keys()).prop_map(str::to_string),
        1 => "[a-zA-Z0-9_-]{1,8}",
    ]
}

fn yaml_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| Value::Number(n.into())),
        (0u64..70000).prop_map(|n| Value::Number(n.into())),
        any::<f64>().prop_map(|f| Value::Number(f.into())),
        prop::sample::select(WORDS).prop_map(|s| Value::String(s.to_string())),
        ".{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(5, 80, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Sequence),
            prop::collection::vec((key(), inner), 0..6).prop_map(|kv| {
                Value::Mapping(kv.into_iter().map(|(k, v)| (Value::String(k), v)).collect())
            }),
        ]
    })
}

/// A document whose top level looks like convox.yml, so the reader goes deep.
fn manifest_shaped() -> impl Strategy<Value = Value> {
    (
        prop::collection::vec(("[a-z][a-z0-9-]{0,4}", yaml_value()), 0..4),
        yaml_value(),
        yaml_value(),
    )
        .prop_map(|(services, env, timers)| {
            let mut root = Mapping::new();
            let services: Mapping = services
                .into_iter()
                .map(|(k, v)| (Value::String(k), v))
                .collect();
            root.insert("services".into(), Value::Mapping(services));
            root.insert("environment".into(), env);
            root.insert("timers".into(), timers);
            Value::Mapping(root)
        })
}

fn run_everything(text: &str) {
    let e = env(&[("X", "1"), ("INTERNAL", "yes")]);
    let _ = parse(text, &e);
    for (i, io) in [(false, false), (true, false), (true, true)] {
        let _ = check(text, &rack(i, io), &name("app"), &e);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn arbitrary_text_never_panics(text in any::<String>()) {
        run_everything(&text);
    }

    #[test]
    fn yaml_like_text_never_panics(text in "[a-z0-9:{}\\[\\],&*<>!|#'\"\\- \n\t$]{0,120}") {
        run_everything(&text);
    }

    #[test]
    fn arbitrary_yaml_documents_never_panic(v in yaml_value()) {
        if let Ok(text) = serde_yaml::to_string(&v) {
            run_everything(&text);
        }
    }

    #[test]
    fn manifest_shaped_documents_never_panic(v in manifest_shaped()) {
        if let Ok(text) = serde_yaml::to_string(&v) {
            run_everything(&text);
        }
    }
}

// ---- generated valid manifests ----

#[derive(Clone, Debug)]
struct Svc {
    image: bool,
    port: Option<(u16, usize, usize)>,
    exposure: usize,
    links: Vec<usize>,
    scale: (u32, u32, usize),
    health: Option<(u32, bool)>,
    command: usize,
    env: Vec<(String, Option<String>)>,
    bools: (usize, usize),
}

fn svc_spec() -> impl Strategy<Value = Svc> {
    (
        any::<bool>(),
        prop::option::of((1u16..=65535, 0usize..4, 0usize..3)),
        0usize..3,
        prop::collection::vec(0usize..8, 0..3),
        (1u32..5, 0u32..5, 0usize..3),
        // AWS allows health intervals of 5 to 300 s (rules::ranges).
        prop::option::of((5u32..60, any::<bool>())),
        0usize..3,
        prop::collection::vec(("V_[A-Z]{1,3}", prop::option::of("[a-z0-9]{0,4}")), 0..3),
        (0usize..22, 0usize..22),
    )
        .prop_map(
            |(image, port, exposure, links, scale, health, command, env, bools)| Svc {
                image,
                port,
                exposure,
                links,
                scale,
                health,
                command,
                env,
                bools,
            },
        )
}

const SCHEMES: [&str; 4] = ["http", "https", "grpc", "secure-grpc"];
const BOOLS: [&str; 22] = [
    "y", "Y", "yes", "Yes", "YES", "on", "On", "ON", "true", "True", "TRUE", "n", "N", "no", "No",
    "NO", "off", "Off", "OFF", "false", "False", "FALSE",
];

/// Writes generated services as convox.yml text, in a mix of shorthand forms.
fn render_specs(names: &[String], specs: &[Svc]) -> String {
    let mut t = String::from("services:\n");
    for (i, (n, s)) in names.iter().zip(specs).enumerate() {
        t.push_str(&format!("  {n}:\n"));
        if s.image {
            t.push_str("    image: registry/app:1\n");
        } else {
            t.push_str(&format!("    build: ./{n}\n"));
        }
        if let Some((port, scheme, form)) = s.port {
            let scheme = SCHEMES[scheme];
            match form {
                0 if scheme == "http" => t.push_str(&format!("    port: {port}\n")),
                0 | 1 => t.push_str(&format!("    port: {scheme}:{port}\n")),
                _ => t.push_str(&format!("    port: {{port: {port}, scheme: {scheme}}}\n")),
            }
        }
        match s.exposure {
            1 => t.push_str("    internal: true\n"),
            2 => t.push_str("    internalAndExternal: true\n"),
            _ => {}
        }
        let mut links = BTreeSet::new();
        for l in &s.links {
            let j = l % names.len();
            if j != i && specs[j].port.is_some() {
                links.insert(names[j].clone());
            }
        }
        if !links.is_empty() {
            t.push_str(&format!(
                "    links: [{}]\n",
                links.into_iter().collect::<Vec<_>>().join(", ")
            ));
        }
        let (min, extra, form) = s.scale;
        match form {
            0 => t.push_str(&format!("    scale: {min}\n")),
            1 => t.push_str(&format!("    scale: {min}-{}\n", min + extra)),
            _ => t.push_str(&format!(
                "    scale:\n      count: {{min: {min}, max: {}}}\n      cpu: 512\n",
                min + extra
            )),
        }
        if let Some((interval, path)) = s.health {
            if path {
                t.push_str(&format!(
                    "    health:\n      path: /h\n      interval: {interval}\n"
                ));
            } else {
                t.push_str("    health: /up\n");
            }
        }
        match s.command {
            1 => t.push_str("    command: bin/run --fast\n"),
            2 => t.push_str("    command: [bin/run, \"--port\", \"3000\"]\n"),
            _ => {}
        }
        let keys: BTreeMap<&String, &Option<String>> = s.env.iter().map(|(k, v)| (k, v)).collect();
        if !keys.is_empty() {
            t.push_str("    environment:\n");
            for (k, v) in keys {
                match v {
                    Some(v) => t.push_str(&format!("      - \"{k}={v}\"\n")),
                    None => t.push_str(&format!("      - {k}\n")),
                }
            }
        }
        t.push_str(&format!(
            "    sticky: {}\n    init: {}\n",
            BOOLS[s.bools.0], BOOLS[s.bools.1]
        ));
    }
    t
}

fn valid_app() -> impl Strategy<Value = String> {
    prop::collection::btree_set("[a-z][a-z0-9]{0,6}", 1..7).prop_flat_map(|names| {
        let names: Vec<String> = names.into_iter().collect();
        let n = names.len();
        prop::collection::vec(svc_spec(), n).prop_map(move |specs| render_specs(&names, &specs))
    })
}

fn without_source(mut m: convox_model::manifest::Manifest) -> convox_model::manifest::Manifest {
    m.source = SourceMap::default();
    m
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn generated_valid_manifests_survive_render_then_parse(text in valid_app()) {
        let first = match parse(&text, &BTreeMap::new()) {
            Ok(p) => p.manifest,
            Err(d) => return Err(TestCaseError::fail(format!("{text}\n{d}"))),
        };
        // Every generated app passes the whole check on a rack with Internal=Yes,
        // given its required variables.
        let app_env: BTreeMap<String, String> = first
            .services
            .iter()
            .flat_map(|s| s.environment.iter())
            .map(|d| (String::from(d.clone()), "v".to_string()))
            .collect();
        prop_assert!(check(&text, &rack(true, false), &name("app"), &app_env).is_ok());
        let rendered = first.to_yaml();
        let second = match parse(&rendered, &BTreeMap::new()) {
            Ok(p) => p.manifest,
            Err(d) => return Err(TestCaseError::fail(format!("{rendered}\n{d}"))),
        };
        prop_assert_eq!(without_source(first), without_source(second));
    }

    #[test]
    fn hostnames_are_injective_but_for_the_dash_ambiguity_of_external_names(
        triples in prop::collection::vec(
            ("[a-z]([a-z0-9-]{0,5}[a-z0-9])?", "[a-z]([a-z0-9-]{0,5}[a-z0-9])?", any::<bool>()),
            2..20,
        )
    ) {
        let r = rack(true, false);
        let mut seen: BTreeMap<Hostname, (String, String, Router)> = BTreeMap::new();
        for (a, s, internal) in triples {
            let router = if internal { Router::Internal } else { Router::External };
            let h = hostname(&r, &name(&a), &name(&s), router);
            if let Some((a0, s0, r0)) = seen.get(&h) {
                let same = (a0.as_str(), s0.as_str(), *r0) == (a.as_str(), s.as_str(), router);
                // `{app}-{service}` cannot tell app `a-b` service `c` from app `a`
                // service `b-c`; internal names put each in its own label.
                let dash_ambiguity = router == Router::External
                    && *r0 == Router::External
                    && format!("{a0}-{s0}") == format!("{a}-{s}");
                prop_assert!(same || dash_ambiguity, "{h} from two triples");
            } else {
                seen.insert(h, (a, s, router));
            }
        }
    }

    #[test]
    fn hostnames_are_injective_within_one_app(
        services in prop::collection::btree_set("[a-z]([a-z0-9-]{0,8}[a-z0-9])?", 1..30)
    ) {
        let r = rack(true, false);
        let app = name("backend");
        let mut hosts = BTreeSet::new();
        for s in &services {
            for router in Router::ALL {
                prop_assert!(hosts.insert(hostname(&r, &app, &name(s), router)));
            }
        }
    }

    #[test]
    fn link_variables_follow_the_rule_and_are_injective(
        links in prop::collection::btree_set("[a-z]([a-z0-9-]{0,10}[a-z0-9])?", 1..30)
    ) {
        let mut vars = BTreeSet::new();
        for l in &links {
            let v = LinkVar::for_link(&name(l));
            let expected = format!("{}_URL", l.to_uppercase().replace('-', "_"));
            prop_assert_eq!(v.as_str(), expected.as_str());
            prop_assert!(v.as_str().chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_'));
            prop_assert!(vars.insert(v));
        }
    }
}

#[test]
fn external_names_of_two_apps_can_collide() {
    // Recorded so that a rack-wide check can refuse it: app `a-b` service `c` and
    // app `a` service `b-c` share `a-b-c.{router host}`.
    let r = rack(false, false);
    let one = hostname(&r, &name("a-b"), &name("c"), Router::External);
    let two = hostname(&r, &name("a"), &name("b-c"), Router::External);
    assert_eq!(one, two);
}

// ---- hostile input: refused quickly, with the limit named ----

/// Nine levels of ten aliases each: 10^9 nodes if expanded.
fn alias_bomb() -> String {
    let mut t = String::from("x-a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
    for i in 1..9 {
        let refs = vec![format!("*a{}", i - 1); 10].join(", ");
        t.push_str(&format!("x-a{i}: &a{i} [{refs}]\n"));
    }
    t
}

fn refused_quickly(text: &str, limit: &str) {
    let start = std::time::Instant::now();
    let d = parse(text, &BTreeMap::new()).unwrap_err();
    // An unoptimised test build on a busy machine, still well under a second.
    assert!(
        start.elapsed() < std::time::Duration::from_secs(1),
        "took {:?}",
        start.elapsed()
    );
    let c = check(text, &rack(true, false), &name("app"), &BTreeMap::new()).unwrap_err();
    for d in [d, c] {
        let e = one_error(&d);
        assert!(e.message.contains(limit), "{}", e.message);
        assert!(e.hint.is_some());
    }
}

#[test]
fn an_alias_bomb_under_an_unknown_key_is_refused() {
    let text = format!("{}services:\n  web:\n    image: x\n", alias_bomb());
    refused_quickly(
        &text,
        "aliases expand to more than the limit of 100000 nodes",
    );
}

#[test]
fn an_alias_bomb_with_a_duplicate_key_is_refused() {
    let text = format!(
        "{}services:\n  web:\n    image: x\n  web:\n    image: y\n    x: *a8\n",
        alias_bomb()
    );
    refused_quickly(&text, "aliases expand to more than the limit");
}

#[test]
fn deep_nesting_is_refused() {
    let text = format!("x: {}\n", "[".repeat(100_000));
    refused_quickly(&text, "nest deeper than the limit of 128 levels");
    let text = format!("x: {}\n", "{a: ".repeat(100_000));
    refused_quickly(&text, "nest deeper than the limit of 128 levels");
}

#[test]
fn nesting_through_aliases_is_bounded_too() {
    // Each anchor nests the previous one 100 levels down: no level of the text is
    // deeper than 101, the expansion is.
    let mut t = format!("x-a0: &a0 {}x{}\n", "[".repeat(100), "]".repeat(100));
    for i in 1..4 {
        t.push_str(&format!(
            "x-a{i}: &a{i} {}*a{}{}\n",
            "[".repeat(100),
            i - 1,
            "]".repeat(100)
        ));
    }
    refused_quickly(&t, "nest deeper than the limit of 128 levels");
}

#[test]
fn nesting_below_the_limit_reads() {
    let text = format!(
        "x-deep: {}1{}\nservices:\n  web:\n    image: x\n",
        "[".repeat(120),
        "]".repeat(120)
    );
    assert!(parse(&text, &BTreeMap::new()).is_ok());
}

#[test]
fn input_past_4_mib_is_refused() {
    let text = format!("services: {{}}\n#{}\n", "x".repeat(4 * 1024 * 1024));
    refused_quickly(&text, "more than the limit of 4194304 bytes");
}

#[test]
fn the_tab_hint_appears_only_for_tabs() {
    let tab = parse("services:\n\tweb:\n", &BTreeMap::new()).unwrap_err();
    assert!(one_error(&tab).hint.as_deref().unwrap().contains("tabs"));
    let other = parse("services:\n  web: [\n", &BTreeMap::new()).unwrap_err();
    assert!(!one_error(&other).hint.as_deref().unwrap().contains("tabs"));
}
