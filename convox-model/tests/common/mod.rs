//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::collections::BTreeMap;

use convox_model::check::parse;
use convox_model::diag::Diagnostics;
use convox_model::manifest::{Manifest, Parsed, Service};
use convox_model::name::Name;
use convox_model::params::RackParams;
use convox_model::rack::Rack;

pub fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

pub fn ok(text: &str) -> Parsed {
    match parse(text, &BTreeMap::new()) {
        Ok(p) => p,
        Err(d) => panic!("expected a valid manifest, got:\n{d}"),
    }
}

pub fn manifest(text: &str) -> Manifest {
    ok(text).manifest
}

pub fn err(text: &str) -> Diagnostics {
    match parse(text, &BTreeMap::new()) {
        Ok(p) => panic!("expected errors, got a manifest: {:?}", p.manifest.services),
        Err(d) => d,
    }
}

/// One service `web` with the given body lines (indented by the helper).
pub fn web(body: &str) -> String {
    let mut s = String::from("services:\n  web:\n");
    for line in body.lines() {
        s.push_str("    ");
        s.push_str(line);
        s.push('\n');
    }
    s
}

pub fn svc<'m>(m: &'m Manifest, name: &str) -> &'m Service {
    m.service(name).expect("service present")
}

pub fn name(s: &str) -> Name {
    Name::new(s).unwrap()
}

pub fn rack(internal: bool, internal_only: bool) -> Rack {
    Rack::offline(
        name("production"),
        RackParams::new(internal, internal_only).unwrap(),
        None,
    )
}

/// The single error's message, failing when there is not exactly one error.
pub fn one_error(d: &Diagnostics) -> &convox_model::diag::Diagnostic {
    let errors: Vec<_> = d.errors().collect();
    assert_eq!(errors.len(), 1, "expected one error, got:\n{d}");
    errors[0]
}

pub fn messages(d: &Diagnostics) -> String {
    d.render("convox.yml")
}

/// Service `web` of `web(body)`, which must read without errors.
pub fn web_service(body: &str) -> Service {
    svc(&manifest(&web(body)), "web").clone()
}

/// The single error of `text`, whose message must contain `needle`.
pub fn fails_with(text: &str, needle: &str) -> convox_model::diag::Diagnostic {
    one_error_with(&err(text), needle)
}

/// The single error of `d`, whose message must contain `needle`.
pub fn one_error_with(d: &Diagnostics, needle: &str) -> convox_model::diag::Diagnostic {
    let e = one_error(d).clone();
    assert!(
        e.message.contains(needle),
        "{:?} lacks {needle:?}",
        e.message
    );
    e
}

/// The single error of `web(body)`, whose message must contain `needle`.
pub fn web_fails(body: &str, needle: &str) -> convox_model::diag::Diagnostic {
    fails_with(&web(body), needle)
}

/// The single error of `text`, at `path`, whose message must contain
/// `needle`.
pub fn fails_at(path: &str, text: &str, needle: &str) -> convox_model::diag::Diagnostic {
    let e = fails_with(text, needle);
    assert_eq!(e.path, path);
    e
}

/// The single error of `web(body)`, at `path`, whose message must contain
/// `needle`.
pub fn web_fails_at(path: &str, body: &str, needle: &str) -> convox_model::diag::Diagnostic {
    fails_at(path, &web(body), needle)
}
