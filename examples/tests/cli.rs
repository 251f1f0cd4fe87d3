//! The `convox` command line, run in-process with captured output. Each run
//! happens in a fresh directory of its own (the working directory the tool
//! resolves `convox.yml` and `.convox/state.json` from), with no `CONVOX_*`
//! variables unless a test sets them.

// Tests fail loudly on unexpected input: unwrapping is how they say so.
#![allow(clippy::unwrap_used)]

use std::path::Path;

use convox_examples::Environment;

mod support;
use support::{
    Session, argv, backend_yml, check_plain, convox, convox_in, env_in, fresh_dir, ok_in,
    temp_file, words,
};

/// The example app on rack production, offline: the rack has no internal
/// router unless `--param Internal=Yes` follows.
const BACKEND: &str = "-r production -a backend";

/// The example app on rack production with the internal router, offline.
const INTERNAL: &str = "--rack production --app backend --param Internal=Yes";

/// A convox.yml with a key convox does not know: valid, with a warning.
const UNKNOWN_KEY: &str = "services:\n  web:\n    image: x\n    internalRouter: true\n";

/// `convox check` of the example app's convox.yml, then `tail`'s words.
fn check_backend(tail: &str) -> (i32, String, String) {
    convox(&argv(&["check", &backend_yml()], tail))
}

/// A directory holding the example app's convox.yml, whose rack production
/// has `Internal=Yes` set; the environment to run in it.
fn internal_project(name: &str) -> (Session, Environment) {
    let p = Session::project("cli", name);
    let e = env_in(&p.dir);
    ok_in(&e, &words("rack params set Internal=Yes -r production"));
    (p, e)
}

#[test]
fn check_passes_on_a_rack_with_internal() {
    let (code, out, err) = check_backend(INTERNAL);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("valid: 2 services"));
    assert!(err.is_empty());
}

#[test]
fn check_fails_with_located_diagnostics_naming_the_file() {
    let f = backend_yml();
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
    let f = backend_yml();
    let (code, _, err) = check_backend(&format!("{INTERNAL} --param InternalOnly=Yes"));
    assert_eq!(code, 1);
    assert!(err.contains(&format!("{f}:8:3: services.web: service web is not internal, but the rack only supports internal services")), "{err}");
}

#[test]
fn warnings_go_to_stderr_and_still_exit_0() {
    let f = temp_file(UNKNOWN_KEY);
    let (code, _, err) = check_plain(&f, "");
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
    let f = temp_file("services:\n  web:\n    image: x\n    environment: [NEED]\n");
    let (code, _, err) = check_plain(&f, "");
    assert_eq!(code, 1);
    assert!(err.contains("required env: NEED"), "{err}");
    let (code, _, _) = check_plain(&f, "--env NEED=1");
    assert_eq!(code, 0);
    // A diagnostic without a place, from a manifest the YAML parser cannot place.
    let d = convox_model::diag::Diagnostic::error("", "x");
    assert_eq!(d.render(&f), format!("{f}:-: -: x"));
}

#[test]
fn env_prints_sorted_key_value_lines() {
    let f = temp_file(
        "services:\n  web:\n    image: x\n    links: [api]\n    environment: [ZED=1, ALPHA]\n  api:\n    image: x\n    port: 4000\n    internal: true\n",
    );
    let (code, out, err) = convox(&argv(
        &["env", &f, "web"],
        &format!("{INTERNAL} --env ALPHA=a"),
    ));
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        out,
        "ALPHA=a\nAPI_URL=https://api.backend.production.convox\nZED=1\n"
    );
    let (code, _, err) = convox(&argv(
        &["env", &f, "nosuch"],
        &format!("{INTERNAL} --env ALPHA=a"),
    ));
    assert_eq!(code, 1);
    assert!(err.contains("no service or timer nosuch"));
}

#[test]
fn endpoints_lists_each_router() {
    let f = temp_file(
        "services:\n  web:\n    image: x\n    port: 3000\n  api:\n    image: x\n    port: 4000\n    internalAndExternal: true\n  worker:\n    image: x\n",
    );
    let router_host = format!("{INTERNAL} --router-host apps.example.org");
    let (code, out, err) = convox(&argv(&["endpoints", &f], &router_host));
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        out,
        "web external https://backend-web.apps.example.org\napi internal https://api.backend.production.convox\napi external https://backend-api.apps.example.org\n"
    );
}

#[test]
fn endpoints_default_router_host() {
    let (_, out, _) = convox(&argv(&["endpoints", &backend_yml()], INTERNAL));
    assert!(out.contains("web external https://backend-web.production.example.com"));
}

#[test]
fn manifest_json_is_the_normalised_manifest() {
    let f = temp_file("services:\n  web:\n    image: ${IMG}\n    port: https:3000\n");
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
    let f = backend_yml();
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
    let f = backend_yml();
    let (code, _, err) = convox(&["check", &f, "--rack", "Bad_Name", "--app", "a"]);
    assert_eq!(code, 2, "{err}");
    let (code, _, err) = convox(&argv(
        &["check", &f],
        "--rack r --app a --param InternalOnly=Yes",
    ));
    assert_eq!(code, 2);
    assert!(err.contains("Internal=Yes InternalOnly=Yes"));
    let (code, _, _) = convox(&argv(&["check", &f], "--rack r --app a --env NOEQUALS"));
    assert_eq!(code, 2);
    let (code, _, _) = convox(&words("check /nonexistent/convox.yml --rack r --app a"));
    assert_eq!(code, 2);
}

#[test]
fn help_goes_to_stdout_and_exits_0() {
    let (code, out, _) = convox(&["--help"]);
    assert_eq!(code, 0);
    assert!(out.contains("check"));
}

#[test]
fn convox_habits_in_a_directory_holding_convox_yml() {
    let (p, e) = internal_project("habits");
    assert!(
        p.dir.join(".convox/state.json").exists(),
        "state in the directory"
    );
    let (out, _) = ok_in(&e, &["deploy", "-a", "backend", "-r", "production"]);
    assert!(out.contains("Deployed backend to rack production"), "{out}");

    // CONVOX_RACK and CONVOX_APP stand for -r and -a.
    let env = e
        .clone()
        .with_var("CONVOX_RACK", "production")
        .with_var("CONVOX_APP", "backend");
    let (out, _) = ok_in(&env, &["deploy"]);
    assert!(
        out.starts_with("No changes. backend is up to date."),
        "{out}"
    );

    // endpoints and env read the rack as stored, and say so.
    let (out, err) = ok_in(&e, &["endpoints", "-a", "backend", "-r", "production"]);
    assert!(
        out.contains("api internal https://api.backend.production.convox deployed\n"),
        "{out}"
    );
    assert!(!err.contains("error"), "{err}");
    assert!(!err.contains("does not support"), "{err}");
    assert!(
        err.contains("rack production as stored (Internal=Yes"),
        "{err}"
    );
    let (out, _) = ok_in(&e, &["env", "web", "-a", "backend", "-r", "production"]);
    assert_eq!(out, "API_URL=https://api.backend.production.convox\n");

    let (out, _) = ok_in(&e, &["apps", "-r", "production"]);
    assert_eq!(out, "backend\n");
    let (out, _) = ok_in(&e, &["services", "-a", "backend", "-r", "production"]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 3, "{out}");
    assert!(lines[0].starts_with("SERVICE  ROUTER"), "{out}");
    assert!(
        lines[1].starts_with("api      internal  https://api.backend.production.convox"),
        "{out}"
    );
    assert!(lines[1].contains("  4000  "), "{out}");
    assert!(
        lines[2].starts_with("web      external  https://backend-web.production.example.com"),
        "{out}"
    );
    assert!(lines[2].contains("  3000  "), "{out}");

    // The same with the environment and no arguments.
    let (out, _) = ok_in(&env, &["endpoints"]);
    assert!(out.contains("api internal https://api.backend.production.convox deployed"));
    let (out, _) = ok_in(&env, &["env", "web"]);
    assert_eq!(out, "API_URL=https://api.backend.production.convox\n");
    let (out, _) = ok_in(&env, &["apps"]);
    assert_eq!(out, "backend\n");
    let (out, _) = ok_in(&env, &["services", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let list = v.as_array().unwrap();
    assert_eq!(list.len(), 2, "{out}");
    assert_eq!(list[0]["service"], "api");
    assert_eq!(list[0]["router"], "internal");
    assert_eq!(list[0]["url"], "https://api.backend.production.convox");
    assert_eq!(list[0]["deployed"], true);
    assert_eq!(list[0]["target_group"]["port"], 4000);
    assert!(!list[0]["target_group"]["arn"].as_str().unwrap().is_empty());
    assert_eq!(list[1]["service"], "web");
    assert_eq!(list[1]["target_group"]["port"], 3000);
    // A flag wins over the environment.
    let (out, err) = ok_in(&env, &["apps", "-r", "staging"]);
    assert_eq!(out, "", "{out}");
    assert!(err.contains("rack staging has no apps"), "{err}");
}

#[test]
fn the_manifest_is_file_or_dash_m_or_convox_yml_here() {
    let (_p, e) = internal_project("manifest");
    for args in [
        vec!["plan", "-a", "backend", "-r", "production"],
        vec!["plan", "convox.yml", "-a", "backend", "-r", "production"],
        words("plan -m convox.yml -a backend -r production"),
        argv(
            &["plan", "--manifest", &backend_yml()],
            "-a backend -r production",
        ),
    ] {
        let (out, _) = ok_in(&e, &args);
        assert!(
            out.contains("+ listener rule app/backend/api/internal/rule"),
            "{args:?}: {out}"
        );
    }
    let (code, _, _) = convox_in(&e, &words("plan convox.yml -m convox.yml -a x -r y"));
    assert_eq!(code, 2);
    let (out, _) = ok_in(&e, &words("env -m convox.yml web -a backend -r production"));
    assert_eq!(out, "API_URL=https://api.backend.production.convox\n");
    let (out, _) = ok_in(&e, &words("env convox.yml web -a backend -r production"));
    assert_eq!(out, "API_URL=https://api.backend.production.convox\n");
    let (code, _, err) = convox_in(&e, &words("env convox.yml web -m convox.yml -a a -r r"));
    assert_eq!(code, 2, "{err}");
    // Diagnostics name the file as given.
    let (code, _, err) = convox_in(&e, &["check", "-a", "backend", "-r", "production"]);
    assert_eq!(code, 1);
    assert!(
        err.starts_with("convox.yml:16:5: services.api.internal"),
        "{err}"
    );
    // No convox.yml here: a usage error that names it.
    let (code, _, err) = convox(&["check", "-a", "backend", "-r", "production"]);
    assert_eq!(code, 2);
    assert!(err.contains("cannot read convox.yml"), "{err}");
}

#[test]
fn rack_and_app_come_from_flags_or_the_environment() {
    let f = backend_yml();
    let dir = fresh_dir("cli", "names");
    let e = env_in(&dir);
    let (code, _, err) = convox_in(&e, &["check", &f, "-a", "backend"]);
    assert_eq!(code, 2);
    assert!(
        err.contains("the rack is required") && err.contains("CONVOX_RACK"),
        "{err}"
    );
    let (code, _, err) = convox_in(&e, &["check", &f, "-r", "production"]);
    assert_eq!(code, 2);
    assert!(err.contains("CONVOX_APP"), "{err}");
    let bad = e.clone().with_var("CONVOX_RACK", "Bad_Name");
    let (code, _, err) = convox_in(&bad, &["check", &f, "-a", "backend"]);
    assert_eq!(code, 2);
    assert!(err.contains("CONVOX_RACK"), "{err}");
    let env = e
        .clone()
        .with_var("CONVOX_RACK", "production")
        .with_var("CONVOX_APP", "backend");
    let (code, out, err) = convox_in(&env, &["check", &f, "--param", "Internal=Yes"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("valid: 2 services"), "{out}");
    // -r and -a go before or after the subcommand.
    let (code, _, err) = convox_in(
        &e,
        &argv(
            &["-r", "production", "check", &f],
            "--app backend --param Internal=Yes",
        ),
    );
    assert_eq!(code, 0, "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn endpoints_and_env_say_when_no_rack_is_stored() {
    let f = backend_yml();
    let (code, out, err) = convox(&["endpoints", &f, "-r", "production", "-a", "backend"]);
    assert_eq!(code, 1, "{out}");
    assert!(
        err.contains("rack production has not been set up yet; checked offline"),
        "{err}"
    );
    assert!(
        err.contains("rack does not support internal services"),
        "{err}"
    );
    let web = temp_file("services:\n  web:\n    image: x\n    port: 3000\n");
    let (code, out, err) = convox(&["endpoints", &web, "-r", "production", "-a", "site"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        out,
        "web external https://site-web.production.example.com not deployed\n"
    );
    let (code, out, err) = convox(&["env", &web, "web", "-r", "production", "-a", "site"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "");
    assert!(err.contains("has not been set up yet"), "{err}");
}

#[test]
fn check_format_json_lists_every_diagnostic() {
    let f = backend_yml();
    let (code, out, err) = check_backend(&format!("{BACKEND} --format json"));
    assert_eq!(code, 1);
    assert!(err.is_empty(), "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let list = v.as_array().unwrap();
    assert_eq!(list.len(), 1, "{out}");
    let d = &list[0];
    assert_eq!(d["file"], f.as_str());
    assert_eq!(d["path"], "services.api.internal");
    assert_eq!(d["line"], 16);
    assert_eq!(d["column"], 5);
    assert_eq!(d["severity"], "error");
    assert!(
        d["message"]
            .as_str()
            .unwrap()
            .contains("rack does not support internal services")
    );
    assert!(
        d["hint"]
            .as_str()
            .unwrap()
            .contains("convox rack params set Internal=Yes")
    );

    // Valid with a warning: exit 0, the warning in the list, no summary line.
    let w = temp_file(UNKNOWN_KEY);
    let (code, out, _) = check_plain(&w, "--format json");
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v[0]["severity"], "warning");
    assert_eq!(v[0]["path"], "services.web.internalRouter");
    assert_eq!(v[0]["line"], 4);
    assert!(v[0]["hint"].is_null() || v[0]["hint"].is_string());
    // Valid and clean: an empty list.
    let (code, out, _) = check_backend(&format!("{BACKEND} --param Internal=Yes --format json"));
    assert_eq!(code, 0);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&out).unwrap(),
        serde_json::json!([])
    );
}

#[test]
fn check_format_github_prints_workflow_commands() {
    let f = backend_yml();
    let (code, out, _) = check_backend(&format!("{BACKEND} --format github"));
    assert_eq!(code, 1);
    assert!(
        out.starts_with(&format!(
            "::error file={f},line=16,col=5::services.api.internal: service api is internal"
        )),
        "{out}"
    );
    assert!(out.contains("%0Ahint: enable the internal router"), "{out}");
    assert_eq!(out.lines().count(), 1, "{out}");
    let w = temp_file(UNKNOWN_KEY);
    let (code, out, _) = check_plain(&w, "--format github");
    assert_eq!(code, 0);
    assert!(
        out.starts_with(&format!("::warning file={w},line=4,col=5::services.web.internalRouter: unknown key internalRouter")),
        "{out}"
    );
}

#[test]
fn a_file_that_is_not_utf8_is_invalid_input() {
    let dir = fresh_dir("cli", "latin1");
    let f = dir.join("convox.yml");
    std::fs::write(&f, b"services:\n  caf\xe9:\n    image: x\n").unwrap();
    let f = f.display().to_string();
    let (code, out, err) = check_plain(&f, "");
    assert_eq!(code, 1, "{err}");
    assert!(out.is_empty());
    assert!(
        err.starts_with(&format!("{f}:2:6: -: the file is not UTF-8 text")),
        "{err}"
    );
    assert!(err.contains("byte 0xe9"), "{err}");
    let (code, out, _) = check_plain(&f, "--format json");
    assert_eq!(code, 1);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v[0]["line"], 2);
    assert_eq!(v[0]["severity"], "error");
    for args in [
        vec!["manifest", f.as_str()],
        argv(&["env", f.as_str()], "web -r r -a a --param Internal=Yes"),
    ] {
        let (code, _, err) = convox(&args);
        assert_eq!(code, 1, "{args:?}: {err}");
        assert!(err.contains("not UTF-8"), "{err}");
    }
    let _ = std::fs::remove_dir_all(Path::new(&dir));
}

#[test]
fn apps_delete_takes_the_app_from_dash_a() {
    let (_p, e) = internal_project("delete");
    ok_in(&e, &["deploy", "-a", "backend", "-r", "production"]);
    let (out, _) = ok_in(&e, &["apps", "delete", "-a", "backend", "-r", "production"]);
    assert!(
        out.contains("Deleted app backend from rack production"),
        "{out}"
    );
    let (out, err) = ok_in(&e, &["apps", "-r", "production"]);
    assert_eq!(out, "");
    assert!(err.contains("no apps"), "{err}");
    let (out, err) = ok_in(&e, &["services", "-a", "backend", "-r", "production"]);
    assert_eq!(out, "");
    assert!(err.contains("no services"), "{err}");
}
