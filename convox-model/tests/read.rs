//! SPEC §3: every key, shorthand form, default and boolean spelling v2 accepts.

// Tests fail loudly on unexpected input: unwrapping is how they say so.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use convox_model::check::parse;
use convox_model::diag::{Diagnostic, Location};
use convox_model::manifest::{EnvDecl, Port, Scheme};

/// `line` in service `web` is refused as v2 refuses a value of the wrong
/// type: "unknown type for service {what}: {its Go type}".
fn wrong_type(line: &str, what: &str, go_type: &str) -> Diagnostic {
    web_fails(
        &format!("image: x\n{line}"),
        &format!("unknown type for service {what}: {go_type}"),
    )
}

// ---- port ----

#[test]
fn port_int_is_http() {
    assert_eq!(
        web_service("image: x\nport: 3000").port,
        Some(Port {
            port: 3000,
            scheme: Scheme::Http
        })
    );
}

#[test]
fn port_string_with_scheme() {
    for (text, scheme) in [
        ("http:80", Scheme::Http),
        ("https:3000", Scheme::Https),
        ("grpc:50051", Scheme::Grpc),
        ("secure-grpc:50051", Scheme::SecureGrpc),
    ] {
        assert_eq!(
            web_service(&format!("image: x\nport: {text}"))
                .port
                .unwrap()
                .scheme,
            scheme,
            "{text}"
        );
    }
}

#[test]
fn port_quoted_number_is_read() {
    assert_eq!(
        web_service("image: x\nport: \"3000\"").port.unwrap().port,
        3000
    );
}

#[test]
fn port_map_and_explicit_scheme_wins() {
    assert_eq!(
        web_service("image: x\nport: {port: 3000, scheme: https}").port,
        Some(Port {
            port: 3000,
            scheme: Scheme::Https
        })
    );
    assert_eq!(
        web_service("image: x\nport: {port: https:3000}")
            .port
            .unwrap()
            .scheme,
        Scheme::Https
    );
    assert_eq!(
        web_service("image: x\nport: {port: https:3000, scheme: http}")
            .port
            .unwrap()
            .scheme,
        Scheme::Http
    );
}

#[test]
fn port_errors_keep_v2_words() {
    let e = web_fails("image: x\nport: abc", "could not parse port: abc");
    assert!(
        e.message
            .contains("strconv.Atoi: parsing \"abc\": invalid syntax")
    );
    assert!(e.hint.is_some());
    assert_eq!(e.path, "services.web.port");
    assert_eq!(e.location, Some(Location { line: 4, column: 5 }));

    web_fails(
        "image: x\nport: {scheme: https}",
        "could not parse port: map[scheme:https]",
    );
    web_fails("image: x\nport: [3000]", "invalid port");
    web_fails("image: x\nport: ftp:21", "unknown scheme ftp");
    web_fails(
        "image: x\nport: {port: 21, scheme: ftp}",
        "unknown port scheme: ftp",
    );
}

#[test]
fn port_range_is_1_to_65535() {
    for bad in ["99999", "-1", "65536"] {
        let d = err(&web(&format!("image: x\nport: {bad}")));
        assert!(one_error(&d).message.contains("out of range"), "{bad}");
    }
    assert_eq!(
        web_service("image: x\nport: 65535").port.unwrap().port,
        65535
    );
}

#[test]
fn port_zero_means_no_port_with_a_warning() {
    let p = ok(&web("image: x\nport: 0"));
    assert_eq!(svc(&p.manifest, "web").port, None);
    assert_eq!(p.warnings.len(), 1);
}

// ---- build and image ----

#[test]
fn build_defaults() {
    let b = &web_service("port: 3000").build;
    assert_eq!((b.path.as_str(), b.manifest.as_str()), (".", "Dockerfile"));
    let b = &web_service("image: nginx").build;
    assert_eq!((b.path.as_str(), b.manifest.as_str()), ("", ""));
    let w = web_service("image: nginx\nbuild: .");
    assert_eq!(w.build.path, ".");
    assert_eq!(w.build.manifest, "Dockerfile");
}

#[test]
fn build_string_and_map() {
    assert_eq!(web_service("build: ./api").build.path, "./api");
    let b = &web_service("build:\n  manifest: Dockerfile.prod").build;
    assert_eq!(
        (b.path.as_str(), b.manifest.as_str()),
        (".", "Dockerfile.prod")
    );
    let b = &web_service("build: {path: sub, manifest: D, args: [A=1, B]}").build;
    assert_eq!(b.path, "sub");
    assert_eq!(b.args, ["A=1", "B"]);
}

#[test]
fn build_list_is_an_error() {
    web_fails(
        "build: [a]",
        "unknown type for service build: []interface {}",
    );
}

// ---- command ----

#[test]
fn command_string_runs_in_a_shell() {
    assert_eq!(
        web_service("image: x\ncommand: bin/web --port 3000")
            .command
            .as_deref(),
        Some(
            &[
                "sh".to_string(),
                "-c".to_string(),
                "bin/web --port 3000".to_string()
            ][..]
        )
    );
}

#[test]
fn command_list_is_kept() {
    assert_eq!(
        web_service("image: x\ncommand: [bin/web, --port, \"3000\"]")
            .command
            .clone()
            .unwrap(),
        ["bin/web", "--port", "3000"]
    );
}

#[test]
fn command_of_wrong_type() {
    wrong_type("command: 5", "command", "int");
    assert_eq!(
        wrong_type("command: [a, 5]", "command", "int").path,
        "services.web.command[1]"
    );
}

// ---- scale ----

#[test]
fn scale_forms() {
    let c = web_service("image: x\nscale: 2").scale.count;
    assert_eq!((c.min, c.max), (2, 2));
    let c = web_service("image: x\nscale: 1-3").scale.count;
    assert_eq!((c.min, c.max), (1, 3));
    let s = &web_service("image: x\nscale:\n  count: 1-5\n  cooldown: 30").scale;
    assert_eq!(
        (s.count.min, s.count.max, s.cooldown.down, s.cooldown.up),
        (1, 5, 30, 30)
    );
    let s = &web_service("image: x\nscale:\n  count: {min: 1, max: 3}\n  cpu: 512\n  memory: 1024")
        .scale;
    assert_eq!(
        (s.count.min, s.count.max, s.cpu, s.memory),
        (1, 3, 512, 1024)
    );
    let s = &web_service(
        "image: x\nscale:\n  count: 4\n  cooldown: {down: 10, up: 20}\n  targets: {cpu: 70, requests: 100}",
    ).scale;
    assert_eq!((s.count.min, s.cooldown.down, s.cooldown.up), (4, 10, 20));
    assert_eq!((s.targets.cpu, s.targets.requests), (70, 100));
}

#[test]
fn scale_count_map_with_one_bound_takes_it_for_both() {
    let c = web_service("image: x\nscale:\n  count: {min: 2}")
        .scale
        .count;
    assert_eq!((c.min, c.max), (2, 2));
}

#[test]
fn scale_errors() {
    web_fails("image: x\nscale: 1-2-3", "invalid scale: 1-2-3");
    web_fails("image: x\nscale: abc", "strconv.Atoi: parsing \"abc\"");
    wrong_type("scale: [1]", "scale", "[]interface {}");
}

#[test]
fn scale_minimum_above_maximum_is_an_error() {
    web_fails_at(
        "services.web.scale",
        "image: x\nscale: 5-1",
        "minimum 5 is greater than maximum 1",
    );
}

#[test]
fn scale_quoted_numbers_are_ignored_with_a_warning_as_v2() {
    let p = ok(&web("image: x\nscale:\n  cpu: \"512\""));
    assert_eq!(svc(&p.manifest, "web").scale.cpu, 256);
    assert_eq!(p.warnings.0[0].path, "services.web.scale.cpu");
}

// ---- health ----

#[test]
fn health_defaults_and_forms() {
    let h = &web_service("image: x").health;
    assert_eq!(
        (h.path.as_str(), h.interval, h.timeout, h.grace),
        ("/", 5, 4, 5)
    );
    assert_eq!(
        web_service("image: x\nhealth: /check").health.path,
        "/check"
    );
    // The reader derives as v2 does; `check` then refuses interval 1 (AWS: 5-300).
    let read = convox_model::manifest::read(
        &web("image: x\nhealth:\n  interval: 1"),
        &std::collections::BTreeMap::new(),
    );
    let m = read.manifest.unwrap();
    let h = &svc(&m, "web").health;
    assert_eq!((h.interval, h.timeout, h.grace), (1, 0, 1));
    let h =
        &web_service("image: x\nhealth: {path: /h, interval: 10, timeout: 3, grace: 30}").health;
    assert_eq!(
        (h.path.as_str(), h.interval, h.timeout, h.grace),
        ("/h", 10, 3, 30)
    );
}

#[test]
fn health_quoted_interval_is_ignored_as_v2() {
    let p = ok(&web("image: x\nhealth:\n  interval: \"10\"\n  path: /h"));
    let h = &svc(&p.manifest, "web").health;
    assert_eq!((h.path.as_str(), h.interval), ("/h", 5));
    assert!(!p.warnings.is_empty());
}

#[test]
fn health_errors() {
    wrong_type("health: 5", "health", "int");
    web_fails_at(
        "services.web.health",
        "image: x\nhealth: {interval: 5, timeout: 5}",
        "timeout 5s must be less than interval 5s",
    );
}

// ---- domain ----

#[test]
fn domain_string_and_list() {
    assert_eq!(
        web_service("image: x\ndomain: \" a.com , ,b.com \"").domains,
        ["a.com", "b.com"]
    );
    assert_eq!(
        web_service("image: x\ndomain: [a.com, b.com]").domains,
        ["a.com", "b.com"]
    );
    wrong_type("domain: 5", "domain", "int");
}

// ---- agent, deployment, singleton ----

#[test]
fn agent_forms_and_deployment_defaults() {
    let s = web_service("image: x\nagent: true");
    assert!(s.agent.enabled);
    assert_eq!((s.deployment.minimum, s.deployment.maximum), (0, 100));
    let a = &web_service("image: x\nagent:\n  ports: [8125/udp, 8126]").agent;
    assert!(a.enabled);
    assert_eq!(a.ports.len(), 2);
    assert_eq!(
        (a.ports[0].port, a.ports[0].protocol.as_str()),
        (8125, "udp")
    );
    assert_eq!(
        (a.ports[1].port, a.ports[1].protocol.as_str()),
        (8126, "tcp")
    );
    web_fails("image: x\nagent: \"yes\"", "could not parse agent: yes");
}

#[test]
fn deployment_defaults_and_partial() {
    let d = web_service("image: x").deployment;
    assert_eq!((d.minimum, d.maximum), (50, 200));
    let d = web_service("image: x\nsingleton: true").deployment;
    assert_eq!((d.minimum, d.maximum), (0, 100));
    let d = web_service("image: x\ndeployment:\n  minimum: 100").deployment;
    assert_eq!((d.minimum, d.maximum), (100, 200));
}

#[test]
fn deployment_ranges() {
    web_fails(
        "image: x\ndeployment: {minimum: 150, maximum: 200}",
        "above 100%",
    );
    web_fails(
        "image: x\ndeployment: {minimum: 50, maximum: 40}",
        "greater than maximum",
    );
}

// ---- other defaults ----

#[test]
fn scalar_defaults() {
    let s = web_service("image: x\nport: 3000");
    assert_eq!(s.drain, 30);
    assert_eq!(s.termination.grace, 30);
    assert!(s.sticky);
    assert_eq!((s.scale.cpu, s.scale.memory), (256, 512));
    assert_eq!((s.scale.cooldown.down, s.scale.cooldown.up), (60, 60));
    assert_eq!((s.scale.count.min, s.scale.count.max), (1, 1));
    assert!(
        !s.exposure.is_internal()
            && !s.exposure.is_internal_and_external()
            && !s.init
            && !s.privileged
    );
}

#[test]
fn written_scalars() {
    let s = web_service(
        "image: x\nsticky: false\ndrain: 5\ntermination: {grace: 45}\ninit: true\nprivileged: true\ntest: make test\nvolumes: [/data]\npolicies: [arn:aws:iam::aws:policy/X]\ntags: {team: core, n: 1}",
    );
    assert!(!s.sticky && s.init && s.privileged);
    assert_eq!((s.drain, s.termination.grace), (5, 45));
    assert_eq!(s.test, "make test");
    assert_eq!(s.volumes, ["/data"]);
    assert_eq!(s.policies.len(), 1);
    assert_eq!(s.tags["n"], "1");
}

#[test]
fn internal_and_external_implies_internal() {
    assert!(
        web_service("image: x\nport: 3000\ninternalAndExternal: true")
            .exposure
            .is_internal()
    );
    let s = web_service("image: x\nport: 3000\ninternal: false\ninternalAndExternal: true");
    assert!(s.exposure.is_internal() && s.exposure.is_internal_and_external());
}

#[test]
fn exposure_serialises_as_the_two_booleans_of_v2() {
    for (body, internal, both) in [
        ("image: x", false, false),
        ("image: x\ninternal: true", true, false),
        ("image: x\ninternalAndExternal: true", true, true),
    ] {
        let json = serde_json::to_value(web_service(body)).unwrap();
        assert_eq!(json["internal"], internal, "{body}");
        assert_eq!(json["internal_and_external"], both, "{body}");
        assert!(json.get("exposure").is_none());
    }
}

// ---- booleans ----

#[test]
fn yaml_1_1_booleans_in_every_case_style() {
    for t in [
        "y", "Y", "yes", "Yes", "YES", "on", "On", "ON", "true", "True", "TRUE",
    ] {
        assert!(
            web_service(&format!("image: x\ninternal: {t}"))
                .exposure
                .is_internal(),
            "{t}"
        );
    }
    for f in [
        "n", "N", "no", "No", "NO", "off", "Off", "OFF", "false", "False", "FALSE",
    ] {
        assert!(
            !web_service(&format!("image: x\ninternal: {f}"))
                .exposure
                .is_internal(),
            "{f}"
        );
    }
}

#[test]
fn quoted_or_numeric_booleans_are_refused_as_v2() {
    web_fails_at(
        "services.web.internal",
        "image: x\ninternal: \"true\"",
        "cannot unmarshal !!str `true` into bool",
    );
    web_fails(
        "image: x\ninternal: 1",
        "cannot unmarshal !!int `1` into bool",
    );
    web_fails("image: x\ninternal: junk", "!!str `junk`");
}

#[test]
fn null_boolean_is_false() {
    assert!(!web_service("image: x\ninternal:").exposure.is_internal());
}

// ---- environment ----

#[test]
fn environment_declarations() {
    let m = manifest(
        "environment:\n  - A=1\nservices:\n  web:\n    image: x\n    environment:\n      - B\n      - \"*\"\n      - C=\n",
    );
    assert_eq!(
        svc(&m, "web").environment,
        [
            EnvDecl::Default {
                key: "A".into(),
                value: "1".into()
            },
            EnvDecl::Required { key: "B".into() },
            EnvDecl::All,
            EnvDecl::Default {
                key: "C".into(),
                value: "".into()
            },
        ]
    );
    assert_eq!(m.environment.len(), 1);
}

#[test]
fn environment_nested_lists_flatten_and_non_strings_warn() {
    let p = ok(
        "environment:\n  - [A=1, B=2]\nservices:\n  web:\n    image: x\n    environment:\n      - 5\n      - C=3\n",
    );
    assert_eq!(p.manifest.environment.len(), 2);
    assert_eq!(svc(&p.manifest, "web").environment.len(), 3);
    assert_eq!(p.warnings.0[0].path, "services.web.environment[0]");
}

#[test]
fn environment_mapping_is_an_error() {
    wrong_type(
        "environment:\n  FOO: bar",
        "environment",
        "map[interface {}]interface {}",
    );
}

// ---- links, resources, timers ----

#[test]
fn links_must_be_a_list() {
    web_fails(
        "image: x\nlinks: api",
        "cannot unmarshal !!str `api` into []string",
    );
}

#[test]
fn resources_and_timers() {
    let m = manifest(
        "resources:\n  db:\n    type: postgres\n    options: {storage: 100}\nservices:\n  web:\n    image: x\n    resources: [db]\ntimers:\n  nightly:\n    schedule: \"0 3 * * ?\"\n    command: bin/job\n    service: web\n",
    );
    assert_eq!(m.resources[0].kind, "postgres");
    assert_eq!(m.resources[0].options["storage"], "100");
    assert_eq!(svc(&m, "web").resources[0].as_str(), "db");
    assert_eq!(m.timers[0].service.as_str(), "web");
}

#[test]
fn resource_type_is_required() {
    fails_with(
        "resources:\n  db:\n    options:\n      size: x\n",
        "resource type can not be blank",
    );
}

#[test]
fn params_are_strings() {
    let m = manifest("params:\n  Size: 3\nservices: {}\n");
    assert_eq!(m.params["Size"], "3");
}

// ---- document-level ----

#[test]
fn empty_and_null_documents_are_empty_manifests() {
    assert!(manifest("").services.is_empty());
    assert!(manifest("services:\n").services.is_empty());
}

#[test]
fn a_scalar_document_is_refused() {
    fails_with(
        "foo\n",
        "cannot unmarshal !!str `foo` into manifest.Manifest",
    );
}

#[test]
fn syntax_errors_carry_a_place() {
    let d = err("services:\n\tweb:\n");
    let e = one_error(&d);
    assert!(e.message.starts_with("yaml: "));
    assert_eq!(e.location.map(|l| l.line), Some(2));
}

#[test]
fn services_keep_file_order() {
    let m = manifest(
        "services:\n  zeta:\n    image: x\n  alpha:\n    image: x\n  mid:\n    image: x\n",
    );
    let names: Vec<_> = m.services.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["zeta", "alpha", "mid"]);
}

#[test]
fn merge_keys_apply() {
    let m = manifest(
        "x-common: &c\n  image: base\n  port: 3000\n  scale: 2\nservices:\n  web:\n    <<: *c\n    port: 4000\n  api:\n    <<: [*c]\n",
    );
    assert_eq!(svc(&m, "web").image, "base");
    assert_eq!(svc(&m, "web").port.unwrap().port, 4000);
    assert_eq!(svc(&m, "api").scale.count.min, 2);
}

#[test]
fn unknown_keys_are_warnings_with_their_paths() {
    let p = ok(
        "foo: bar\nservices:\n  web:\n    image: x\n    bogus: 1\n    ports:\n      - 3000\n    internalRouter: true\n    health:\n      disable: true\n",
    );
    let paths: Vec<_> = p.warnings.0.iter().map(|w| w.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "foo",
            "services.web.bogus",
            "services.web.ports",
            "services.web.internalRouter",
            "services.web.health.disable"
        ]
    );
    let router = &p.warnings.0[3];
    assert!(router.hint.as_deref().unwrap().contains("internal: true"));
    assert_eq!(router.location, Some(Location { line: 8, column: 5 }));
}

// ---- interpolation ----

#[test]
fn interpolation_from_the_app_environment_unset_is_empty() {
    let text = web("image: ${IMG}\ncommand: run ${A}-${B}");
    let m = parse(&text, &env(&[("A", "x")])).unwrap().manifest;
    let s = svc(&m, "web");
    assert_eq!(s.image, "");
    assert_eq!(s.build.path, ".");
    assert_eq!(s.command.clone().unwrap()[2], "run x-");
}

#[test]
fn interpolation_happens_before_yaml() {
    let text = web("image: x\ninternal: ${INTERNAL}");
    for (value, want) in [
        ("", false),
        ("true", true),
        ("Yes", true),
        ("yes", true),
        ("no", false),
    ] {
        let m = parse(&text, &env(&[("INTERNAL", value)])).unwrap().manifest;
        assert_eq!(svc(&m, "web").exposure.is_internal(), want, "{value:?}");
    }
    for bad in ["1", "junk"] {
        assert!(parse(&text, &env(&[("INTERNAL", bad)])).is_err(), "{bad}");
    }
    assert!(
        !svc(&parse(&text, &env(&[])).unwrap().manifest, "web")
            .exposure
            .is_internal()
    );
}

#[test]
fn places_are_in_the_text_as_written_despite_interpolation() {
    let text = "services:\n  web:\n    image: ${A_LONG_VARIABLE_NAME}\n    port: abc\n";
    let d = parse(text, &env(&[("A_LONG_VARIABLE_NAME", "i")])).unwrap_err();
    assert_eq!(
        one_error(&d).location,
        Some(Location { line: 4, column: 5 })
    );
    let text = "services: {web: {image: ${IMG}, port: abc}}\n";
    let d = parse(text, &env(&[("IMG", "a-much-longer-image-name")])).unwrap_err();
    assert_eq!(
        one_error(&d).location,
        Some(Location {
            line: 1,
            column: 33
        })
    );
}

// ---- fixtures ----

#[test]
fn fixture_with_every_shorthand_reads() {
    let p = ok(include_str!("fixtures/shorthands.yml"));
    let m = &p.manifest;
    let web = svc(m, "web");
    assert_eq!(
        web.port,
        Some(Port {
            port: 3000,
            scheme: Scheme::Https
        })
    );
    assert_eq!(web.domains, ["a.example.com", "b.example.com"]);
    assert_eq!(web.health.path, "/check");
    let api = svc(m, "api");
    assert_eq!(
        api.port,
        Some(Port {
            port: 50051,
            scheme: Scheme::SecureGrpc
        })
    );
    assert!(api.exposure.is_internal());
    assert_eq!(api.image, "registry.example.com/base:latest");
    assert_eq!(
        (api.scale.count.min, api.scale.count.max, api.scale.cpu),
        (2, 4, 512)
    );
    assert_eq!(
        (api.health.interval, api.health.timeout, api.health.grace),
        (10, 9, 10)
    );
    let worker = svc(m, "worker");
    assert!(worker.agent.enabled && !worker.sticky);
    assert_eq!(
        (worker.deployment.minimum, worker.deployment.maximum),
        (25, 100)
    );
    assert_eq!((worker.scale.count.min, worker.scale.count.max), (1, 3));
    assert_eq!(m.timers[0].name.as_str(), "nightly");
    // x-base is not a convox.yml key.
    assert_eq!(p.warnings.len(), 1);
    assert_eq!(p.warnings.0[0].path, "x-base");
}
