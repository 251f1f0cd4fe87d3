//! The `convox` command line, run in-process with captured output.

// Tests fail loudly on unexpected input: unwrapping is how they say so.
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;

use convox_examples::run;

fn backend() -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("backend/convox.yml")
        .display()
        .to_string()
}

/// Runs `convox ARGS…` and returns (exit code, stdout, stderr).
fn convox(args: &[&str]) -> (i32, String, String) {
    let mut out = Vec::new();
    let mut err = Vec::new();
    let argv = std::iter::once("convox").chain(args.iter().copied());
    let code = run(argv, &mut out, &mut err);
    (
        code,
        String::from_utf8(out).unwrap(),
        String::from_utf8(err).unwrap(),
    )
}

fn temp_file(name: &str, text: &str) -> String {
    let dir = std::env::temp_dir().join(format!("convox-cli-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("convox.yml");
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

#[test]
fn check_passes_on_a_rack_with_internal() {
    let f = backend();
    let (code, out, err) = convox(&[
        "check",
        &f,
        "--rack",
        "production",
        "--app",
        "backend",
        "--param",
        "Internal=Yes",
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("valid: 2 services"));
    assert!(err.is_empty());
}

#[test]
fn check_fails_with_located_diagnostics_naming_the_file() {
    let f = backend();
    let (code, out, err) = convox(&["check", &f, "--rack", "production", "--app", "backend"]);
    assert_eq!(code, 1);
    assert!(out.is_empty());
    assert!(
        err.starts_with(&format!(
            "{f}:16:5: services.api.internal: service api is internal"
        )),
        "{err}"
    );
    assert!(err.contains("rack does not support internal services"));
    assert!(err.contains("hint: enable the internal router: convox rack params set Internal=Yes"));
}

#[test]
fn check_on_an_internal_only_rack() {
    let f = backend();
    let (code, _, err) = convox(&[
        "check",
        &f,
        "--rack",
        "production",
        "--app",
        "backend",
        "--param",
        "Internal=Yes",
        "--param",
        "InternalOnly=Yes",
    ]);
    assert_eq!(code, 1);
    assert!(err.contains(&format!("{f}:8:3: services.web: service web is not internal, but the rack only supports internal services")), "{err}");
}

#[test]
fn warnings_go_to_stderr_and_still_exit_0() {
    let f = temp_file(
        "warn",
        "services:\n  web:\n    image: x\n    internalRouter: true\n",
    );
    let (code, _, err) = convox(&["check", &f, "--rack", "r", "--app", "a"]);
    assert_eq!(code, 0);
    assert!(
        err.contains(&format!(
            "{f}:4:5: services.web.internalRouter: warning: unknown key internalRouter"
        )),
        "{err}"
    );
}

#[test]
fn unknown_place_renders_as_dash() {
    let f = temp_file(
        "dash",
        "services:\n  web:\n    image: x\n    environment: [NEED]\n",
    );
    let (code, _, err) = convox(&["check", &f, "--rack", "r", "--app", "a"]);
    assert_eq!(code, 1);
    assert!(err.contains("required env: NEED"), "{err}");
    let (code, _, _) = convox(&["check", &f, "--rack", "r", "--app", "a", "--env", "NEED=1"]);
    assert_eq!(code, 0);
    // A diagnostic without a place, from a manifest the YAML parser cannot place.
    let d = convox_model::diag::Diagnostic::error("", "x");
    assert_eq!(d.render(&f), format!("{f}:-: -: x"));
}

#[test]
fn env_prints_sorted_key_value_lines() {
    let f = temp_file(
        "env",
        "services:\n  web:\n    image: x\n    links: [api]\n    environment: [ZED=1, ALPHA]\n  api:\n    image: x\n    port: 4000\n    internal: true\n",
    );
    let (code, out, err) = convox(&[
        "env",
        &f,
        "web",
        "--rack",
        "production",
        "--app",
        "backend",
        "--param",
        "Internal=Yes",
        "--env",
        "ALPHA=a",
    ]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        out,
        "ALPHA=a\nAPI_URL=https://api.backend.production.convox\nZED=1\n"
    );
    let (code, _, err) = convox(&[
        "env",
        &f,
        "nosuch",
        "--rack",
        "production",
        "--app",
        "backend",
        "--param",
        "Internal=Yes",
        "--env",
        "ALPHA=a",
    ]);
    assert_eq!(code, 1);
    assert!(err.contains("no service or timer nosuch"));
}

#[test]
fn endpoints_lists_each_router() {
    let f = temp_file(
        "endpoints",
        "services:\n  web:\n    image: x\n    port: 3000\n  api:\n    image: x\n    port: 4000\n    internalAndExternal: true\n  worker:\n    image: x\n",
    );
    let (code, out, err) = convox(&[
        "endpoints",
        &f,
        "--rack",
        "production",
        "--app",
        "backend",
        "--param",
        "Internal=Yes",
        "--router-host",
        "apps.example.org",
    ]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        out,
        "web external https://backend-web.apps.example.org\napi internal https://api.backend.production.convox\napi external https://backend-api.apps.example.org\n"
    );
}

#[test]
fn endpoints_default_router_host() {
    let f = backend();
    let (_, out, _) = convox(&[
        "endpoints",
        &f,
        "--rack",
        "production",
        "--app",
        "backend",
        "--param",
        "Internal=Yes",
    ]);
    assert!(out.contains("web external https://backend-web.production.example.com"));
}

#[test]
fn manifest_json_is_the_normalised_manifest() {
    let f = temp_file(
        "json",
        "services:\n  web:\n    image: ${IMG}\n    port: https:3000\n",
    );
    let (code, out, err) = convox(&["manifest", &f, "--env", "IMG=nginx", "--json"]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let web = &v["services"][0];
    assert_eq!(web["name"], "web");
    assert_eq!(web["image"], "nginx");
    assert_eq!(web["port"]["scheme"], "https");
    assert_eq!(web["health"]["timeout"], 4);
    assert_eq!(web["deployment"]["maximum"], 200);
}

#[test]
fn manifest_without_json_prints_yaml_that_reads_back() {
    let f = backend();
    let (code, out, _) = convox(&["manifest", &f]);
    assert_eq!(code, 0);
    let again = convox_model::check::parse(&out, &Default::default()).unwrap();
    assert_eq!(again.manifest.services.len(), 2);
}

#[test]
fn usage_errors_exit_2() {
    let (code, _, err) = convox(&["check"]);
    assert_eq!(code, 2);
    assert!(err.contains("required"));
    let (code, _, _) = convox(&["nosuch"]);
    assert_eq!(code, 2);
    let f = backend();
    let (code, _, err) = convox(&["check", &f, "--rack", "Bad_Name", "--app", "a"]);
    assert_eq!(code, 2, "{err}");
    let (code, _, err) = convox(&[
        "check",
        &f,
        "--rack",
        "r",
        "--app",
        "a",
        "--param",
        "InternalOnly=Yes",
    ]);
    assert_eq!(code, 2);
    assert!(err.contains("Internal=Yes InternalOnly=Yes"));
    let (code, _, _) = convox(&[
        "check", &f, "--rack", "r", "--app", "a", "--env", "NOEQUALS",
    ]);
    assert_eq!(code, 2);
    let (code, _, _) = convox(&[
        "check",
        "/nonexistent/convox.yml",
        "--rack",
        "r",
        "--app",
        "a",
    ]);
    assert_eq!(code, 2);
}

#[test]
fn help_goes_to_stdout_and_exits_0() {
    let (code, out, _) = convox(&["--help"]);
    assert_eq!(code, 0);
    assert!(out.contains("check"));
}
