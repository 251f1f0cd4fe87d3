//! `convox schema`: the JSON Schema of convox.yml agrees with the reader. Every
//! file the reader accepts validates (once the keys the reader warns about as
//! unknown are taken out, which the schema flags); files it refuses for their
//! shape do not.

// Tests fail loudly on unexpected input: unwrapping is how they say so.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;

use convox_model::check::parse;
use convox_model::manifest::{keys, read};
use convox_model::schema::{ID, instance, schema};
use serde_json::Value;

fn validator() -> (boon::Schemas, boon::SchemaIndex) {
    let mut schemas = boon::Schemas::new();
    let mut compiler = boon::Compiler::new();
    compiler.add_resource(ID, schema()).unwrap();
    let index = compiler.compile(ID, &mut schemas).unwrap();
    (schemas, index)
}

fn valid(text: &str) -> bool {
    let (schemas, index) = validator();
    let v = instance(text, &BTreeMap::new()).unwrap();
    schemas.validate(&v, index).is_ok()
}

fn fixture(name: &str) -> String {
    std::fs::read_to_string(format!(
        "{}/tests/fixtures/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

/// `services.web.nlb[0].foo` as steps: keys and indexes.
fn steps(path: &str) -> Vec<String> {
    path.replace('[', ".[")
        .split('.')
        .map(str::to_string)
        .collect()
}

/// `v` without the key at `path`.
fn remove(v: &mut Value, path: &str) {
    let s = steps(path);
    let (last, parents) = s.split_last().unwrap();
    let mut at = v;
    for step in parents {
        at = match step.strip_prefix('[') {
            Some(i) => &mut at[i.trim_end_matches(']').parse::<usize>().unwrap()],
            None => &mut at[step.as_str()],
        };
    }
    at.as_object_mut().unwrap().remove(last.as_str());
}

/// The reader accepts `text`; it validates exactly when it has no unknown keys,
/// and does once those are taken out.
fn accepted_agrees(text: &str) {
    let p = parse(text, &BTreeMap::new()).unwrap_or_else(|d| panic!("refused:\n{d}"));
    let unknown: Vec<&str> = p
        .warnings
        .0
        .iter()
        .filter(|d| d.message.starts_with("unknown key"))
        .map(|d| d.path.as_str())
        .collect();
    let (schemas, index) = validator();
    let mut v = instance(text, &BTreeMap::new()).unwrap();
    assert_eq!(
        schemas.validate(&v, index).is_ok(),
        unknown.is_empty(),
        "{text}\nunknown keys: {unknown:?}"
    );
    for path in &unknown {
        remove(&mut v, path);
    }
    if let Err(e) = schemas.validate(&v, index) {
        panic!("{text}\n{e:#}");
    }
}

#[test]
fn every_key_the_reader_knows_is_described() {
    let s = schema();
    let service = &s["$defs"]["service"]["properties"];
    for k in keys::SERVICE {
        let d = &service[*k];
        assert!(
            d["description"].is_string() || d["$ref"].is_string(),
            "service key {k} is not described: {d}"
        );
    }
    for k in keys::TOP {
        assert!(s["properties"][*k]["description"].is_string(), "{k}");
    }
    assert_eq!(s["additionalProperties"], false);
    assert_eq!(s["$defs"]["service"]["additionalProperties"], false);
}

#[test]
fn the_fixtures_the_reader_accepts_validate() {
    accepted_agrees(&fixture("shorthands.yml"));
    accepted_agrees(&fixture("rack-rules.yml"));
    let seed = format!(
        "{}/../examples/backend/convox.yml",
        env!("CARGO_MANIFEST_DIR")
    );
    accepted_agrees(&std::fs::read_to_string(seed).unwrap());
}

#[test]
fn the_seeds_examples_validate() {
    // The internal-services guide's three manifests (the second is examples/backend).
    accepted_agrees("services:\n  api:\n    build: .\n    port: 3000\n    internal: true\n");
    accepted_agrees(
        "services:\n  api:\n    build: .\n    port: 3000\n    internalAndExternal: true\n",
    );
    let seed = format!(
        "{}/../examples/backend/convox.yml",
        env!("CARGO_MANIFEST_DIR")
    );
    assert!(valid(&std::fs::read_to_string(seed).unwrap()));
}

#[test]
fn the_fixture_the_reader_refuses_for_its_shapes_does_not_validate() {
    // A bad name, port, command, scale and domain: shapes the schema describes.
    let text = fixture("everything-wrong.yml");
    assert!(parse(&text, &BTreeMap::new()).is_err());
    assert!(!valid(&text));
}

#[test]
fn every_shorthand_validates() {
    for body in [
        "port: 3000",
        "port: https:3000",
        "port: \"3000\"",
        "port: {port: 3000, scheme: https}",
        "port: {port: grpc:50051, scheme: secure-grpc}",
        "scale: 2",
        "scale: 1-3",
        "scale: {count: 1-3, cpu: 512, memory: 1024, cooldown: 30, targets: {cpu: 70}}",
        "scale: {count: {min: 1, max: 3}, cooldown: {down: 10, up: 20}}",
        "scale: {cpu: 0}",
        "health: /check",
        "health: {path: /h, interval: 10, timeout: 3, grace: 30}",
        "health: {interval: 0}",
        "build: .",
        "build: {path: ., manifest: Dockerfile.prod, args: [A=1, B]}",
        "command: bin/web",
        "command: [bin/web, --port, \"3000\"]",
        "domain: a.example.com, b.example.com",
        "domain: [a.example.com]",
        "agent: true",
        "agent: {ports: [8125/udp, 8126]}",
        "environment: [A=1, B, \"*\", [C=1, D]]",
        "internal: yes",
        "sticky: off",
        "nlb: [5432, {port: 443, containerPort: 8443, protocol: tls}]",
        "deployment: {minimum: 0, maximum: 100}",
        "termination: {grace: 45}",
        "drain: 0",
        "links: [web]",
    ] {
        let text = format!(
            "services:\n  web:\n    image: x\n    port: 3000\n  api:\n    image: x\n    {body}\n"
        );
        accepted_agrees(&text);
    }
    accepted_agrees(
        "environment:\n  - A=1\nparams:\n  Foo: bar\nresources:\n  db:\n    type: postgres\n    options: {size: 10}\nservices:\n  web:\n    image: x\n    resources: [db]\ntimers:\n  nightly:\n    schedule: \"0 3 * * ?\"\n    command: bin/x\n    service: web\n",
    );
    accepted_agrees("");
}

#[test]
fn shapes_the_reader_refuses_do_not_validate() {
    for body in [
        "port: [3000]",
        "port: 99999",
        "port: ftp:21",
        "port: {scheme: https}",
        "port: {port: 3000, scheme: ftp}",
        "scale: [1]",
        "scale: 1-2-3",
        "scale: 2+",
        "health: 5",
        "health: {interval: 1000}",
        "health: check",
        "build: [a]",
        "command: 5",
        "command: [a, 5]",
        "domain: 5",
        "agent: \"sometimes\"",
        "environment: {A: b}",
        "links: api",
        "drain: 4000",
        "deployment: {minimum: 150}",
    ] {
        let text = format!("services:\n  web:\n    image: x\n    {body}\n");
        assert!(
            read(&text, &BTreeMap::new()).diagnostics.has_errors()
                || parse(&text, &BTreeMap::new()).is_err(),
            "the reader accepts {body}"
        );
        assert!(!valid(&text), "the schema accepts {body}");
    }
    for text in [
        "foo",
        "services: [web]",
        "services:\n  Web:\n    image: x\n",
        "resources:\n  db:\n    options: {}\n",
        "timers:\n  t:\n    command: x\n",
    ] {
        assert!(parse(text, &BTreeMap::new()).is_err(), "{text}");
        assert!(!valid(text), "the schema accepts {text}");
    }
}

/// The schema's complaint about `text`, which it must refuse.
fn schema_error(text: &str) -> String {
    let (schemas, index) = validator();
    let v = instance(text, &BTreeMap::new()).unwrap();
    let e = schemas.validate(&v, index).unwrap_err();
    format!("{e:#}")
}

#[test]
fn a_bad_port_and_a_misspelt_key_are_flagged() {
    let e = schema_error("services:\n  web:\n    image: x\n    port: 70000\n");
    assert!(e.contains("/services/web/port"), "{e}");
    let e = schema_error("services:\n  web:\n    image: x\n    prot: 3000\n");
    assert!(e.contains("prot"), "{e}");
}
