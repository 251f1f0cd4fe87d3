//! The seed's story end to end on the mock, through the command line: each test
//! has its own state directory, so each is a terminal session of its own.

// Tests fail loudly on unexpected input: unwrapping is how they say so.
#![allow(clippy::unwrap_used)]

use std::path::Path;

use convox_examples::run;
use convox_mock::MockBackend;

mod support;
use support::{Session, argv, backend_yml, words};

impl Session {
    /// Writes a convox.yml into the session's directory.
    fn yml(&self, name: &str, text: &str) -> String {
        let path = self.dir.join(format!("{name}.yml"));
        std::fs::write(&path, text).unwrap();
        path.display().to_string()
    }

    fn mock(&self) -> MockBackend {
        MockBackend::open(self.state()).unwrap()
    }
}

/// What `rack params` prints for a rack with the internal router.
const INTERNAL: &str = "Internal      Yes\nInternalOnly  No\n";

fn deploy_args<'a>(file: &'a str, app: &'a str) -> Vec<&'a str> {
    vec!["deploy", file, "--rack", "production", "--app", app]
}

#[test]
fn internal_services_story_on_the_mock() {
    let s = Session::new("story", "story");
    let f = backend_yml();

    // Before the rack has the internal router, the app is refused with the fix.
    let err = s.refused(&deploy_args(&f, "backend"));
    assert!(err.contains("convox rack params set Internal=Yes"), "{err}");

    let out = s.ok(&words("rack params set Internal=Yes --rack production"));
    assert!(out.contains("Internal      Yes"), "{out}");
    assert!(out.contains("InternalOnly  No"), "{out}");
    assert!(s.state().exists(), "the state is saved after a change");
    let out = s.ok(&words("rack params --rack production"));
    assert_eq!(out, INTERNAL);

    // First deploy: the plan, one progress line per action, endpoints and links.
    let (out, err) = s.ok_both(&deploy_args(&f, "backend"));
    assert!(
        out.contains("+ listener rule app/backend/api/internal/rule"),
        "{out}"
    );
    assert!(out.contains("Plan: 7 to create"), "{out}");
    assert!(
        err.contains("created listener rule app/backend/api/internal/rule"),
        "{err}"
    );
    assert!(out.contains("Deployed backend to rack production"), "{out}");
    assert!(
        out.contains("api  internal  https://api.backend.production.convox"),
        "{out}"
    );
    assert!(
        out.contains("web: API_URL=https://api.backend.production.convox"),
        "{out}"
    );

    // Second deploy: nothing to do, not one mutating call, the state untouched.
    let before = std::fs::read_to_string(s.state()).unwrap();
    let (out, err) = s.ok_both(&argv(
        &["--show-calls", "deploy", &f],
        "--rack production --app backend",
    ));
    assert!(
        out.starts_with("No changes. backend is up to date.\n"),
        "{out}"
    );
    assert!(out.contains("API_URL=https://api.backend.production.convox"));
    assert!(err.contains(", 0 mutating"), "{err}");
    assert!(!err.contains("created"), "{err}");
    assert_eq!(std::fs::read_to_string(s.state()).unwrap(), before);

    // The plan of an app that is up to date is empty, with a fingerprint.
    let out = s.ok(&argv(
        &["plan", &f],
        "--rack production --app backend --json",
    ));
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["actions"], serde_json::json!([]));
    let fp = v["fingerprint"].as_str().unwrap();
    assert_eq!(fp.len(), 64, "{fp}");
    let out = s.ok(&argv(&["plan", &f], "--rack production --app backend"));
    assert_eq!(out, "No changes. backend is up to date.\n");

    // Endpoints from the state: the rack's own parameters, and what is deployed.
    let out = s.ok(&argv(&["endpoints", &f], "--rack production --app backend"));
    assert_eq!(
        out,
        "web external https://backend-web.production.example.com deployed\n\
         api internal https://api.backend.production.convox deployed\n"
    );

    // Turning Internal off under a deployed internal service is refused, by name.
    let (code, out, err) = s.convox(&words("rack params set Internal=No --rack production"));
    assert_eq!(code, 1);
    assert!(out.is_empty(), "{out}");
    assert!(err.starts_with("error: cannot set Internal=No"), "{err}");
    assert!(err.contains("backend/api"), "{err}");
    let err = s.refused(&words("rack params set InternalOnly=Yes --rack production"));
    assert!(err.contains("backend/web"), "{err}");
    assert_eq!(s.ok(&words("rack params --rack production")), INTERNAL);
}

#[test]
fn an_internal_only_rack_refuses_services_that_are_not_internal() {
    let s = Session::new("story", "only");
    let f = backend_yml();

    let err = s.refused(&words("rack params set InternalOnly=Yes --rack production"));
    assert!(
        err.contains(
            "set both in one command: convox rack params set Internal=Yes InternalOnly=Yes"
        ),
        "{err}"
    );
    assert!(!s.state().exists(), "a refused command changes nothing");

    let out = s.ok(&words(
        "rack params set Internal=Yes InternalOnly=Yes --rack production",
    ));
    assert!(out.contains("InternalOnly  Yes"), "{out}");

    let (code, out, err) = s.convox(&deploy_args(&f, "backend"));
    assert_eq!(code, 1);
    assert!(out.is_empty(), "{out}");
    assert!(
        err.contains("service web is not internal, but the rack only supports internal services"),
        "{err}"
    );
    assert!(
        err.contains("mark web internal: true, or convox rack params set InternalOnly=No"),
        "{err}"
    );

    // An app of internal services only is welcome, and no internet-facing router exists.
    let only = s.yml(
        "internal",
        "services:\n  api:\n    image: x\n    port: 4000\n    internal: true\n",
    );
    let out = s.ok(&deploy_args(&only, "backend"));
    assert!(out.contains("api  internal  https://api.backend.production.convox"));
    assert!(!out.contains("external"), "{out}");
    assert_eq!(s.mock().inventory().load_balancers, 1);
}

#[test]
fn internal_and_external_gives_two_endpoints() {
    let s = Session::new("story", "both");
    s.ok(&words("rack params set Internal=Yes --rack production"));
    let f = s.yml(
        "both",
        "services:\n  web:\n    image: x\n    port: 3000\n    links: [api]\n  api:\n    image: x\n    port: 4000\n    internalAndExternal: true\n",
    );
    let out = s.ok(&deploy_args(&f, "backend"));
    assert!(
        out.contains("api  internal  https://api.backend.production.convox"),
        "{out}"
    );
    assert!(
        out.contains("api  external  https://backend-api.production.example.com"),
        "{out}"
    );
    let out = s.ok(&argv(&["endpoints", &f], "--rack production --app backend"));
    assert_eq!(
        out.lines().filter(|l| l.starts_with("api ")).count(),
        2,
        "{out}"
    );
    assert!(out.lines().all(|l| l.ends_with(" deployed")), "{out}");
}

#[test]
fn deleting_an_app_leaves_the_rack_and_other_apps() {
    let s = Session::new("story", "delete");
    let f = backend_yml();
    s.ok(&words("rack params set Internal=Yes --rack production"));
    s.ok(&deploy_args(&f, "backend"));
    let shop = s.yml(
        "shop",
        "services:\n  front:\n    image: x\n    port: 3000\n    links: [cart]\n  cart:\n    image: x\n    port: 4000\n    internal: true\n",
    );
    let out = s.ok(&deploy_args(&shop, "shop"));
    assert!(out.contains("front: CART_URL=https://cart.shop.production.convox"));
    let rack_before = s.mock().inventory();

    let (out, err) = s.ok_both(&words("apps delete backend --rack production"));
    assert!(out.contains("Deleted app backend"), "{out}");
    assert!(
        err.contains("deleted listener rule app/backend/api/internal/rule"),
        "{err}"
    );
    assert!(!err.contains("shop"), "{err}");

    // The rack's routers and zone stay, and so does every resource of shop.
    let after = s.mock().inventory();
    assert_eq!(after.load_balancers, rack_before.load_balancers);
    assert_eq!(after.security_groups, rack_before.security_groups);
    assert_eq!(after.hosted_zones, 1);
    assert_eq!(after.listeners, rack_before.listeners);
    assert_eq!(after.rules, rack_before.rules - 2);
    let out = s.ok(&argv(&["endpoints", &shop], "--rack production --app shop"));
    assert!(out.lines().all(|l| l.ends_with(" deployed")), "{out}");
    let out = s.ok(&deploy_args(&shop, "shop"));
    assert!(out.starts_with("No changes. shop is up to date."), "{out}");
    let out = s.ok(&argv(&["endpoints", &f], "--rack production --app backend"));
    assert!(
        out.contains("api internal https://api.backend.production.convox not deployed"),
        "{out}"
    );

    // Nothing left to delete is an error that says so.
    let err = s.refused(&words("apps delete backend --rack production"));
    assert!(err.contains("rack production has no app backend"), "{err}");
    assert_eq!(s.ok(&words("rack params --rack production")), INTERNAL);
}

#[test]
fn a_first_deploy_creates_the_rack_it_needs_and_plan_shows_it() {
    let s = Session::new("story", "fresh");
    let web = s.yml("web", "services:\n  web:\n    image: x\n    port: 3000\n");

    // plan changes nothing, but shows the rack resources a deploy would create.
    let (code, out, err) = s.convox(&words("rack params --rack production"));
    assert_eq!(code, 0);
    assert_eq!(out, "Internal      No\nInternalOnly  No\n");
    assert!(err.contains("has not been set up yet"), "{err}");
    let out = s.ok(&argv(&["plan", &web], "--rack production --app site"));
    assert!(out.starts_with("rack\n"), "{out}");
    assert!(out.contains("+ load balancer router/external/alb"), "{out}");
    // The external router's certificate is public: a fresh rack has none yet, so
    // the plan shows it requested and the external endpoint waiting for it (the
    // rule comes with the certificate: the mock's ACM issues it at once).
    assert!(
        out.contains("+ request certificate *.production.example.com from ACM"),
        "{out}"
    );
    assert!(
        out.contains("web (https://site-web.production.example.com): waiting for the certificate"),
        "{out}"
    );
    assert!(!s.state().exists(), "plan saves nothing");

    let (out, err) = s.ok_both(&deploy_args(&web, "site"));
    assert!(err.contains("created hosted zone zone"), "{err}");
    assert!(
        out.contains("web  external  https://site-web.production.example.com"),
        "{out}"
    );
    // The rack's settings were saved by the deploy: a later process reads them.
    let (code, out, err) = s.convox(&words("rack params --rack production"));
    assert_eq!(code, 0);
    assert_eq!(out, "Internal      No\nInternalOnly  No\n");
    assert!(err.is_empty(), "{err}");
    let out = s.ok(&deploy_args(&web, "site"));
    assert!(out.starts_with("No changes."), "{out}");
    // The deploy requested the certificate, and served the endpoint once issued.
    let out = s.ok(&argv(&["endpoints", &web], "--rack production --app site"));
    assert!(
        out.contains("web external https://site-web.production.example.com deployed"),
        "{out}"
    );
}

#[test]
fn the_certificate_authority_is_generated_once_and_kept() {
    let s = Session::new("story", "ca");
    let (_, _, err) = s.convox(&words("rack params set Internal=Yes --rack production"));
    assert!(
        err.contains("Generated the rack's certificate authority"),
        "{err}"
    );
    // Per user, not in the app's directory (where it would be committed).
    let ca_path = s.dir.join("config/convox/racks/production/ca.pem");
    assert!(err.contains(&ca_path.display().to_string()), "{err}");
    assert!(err.contains("keep it"), "{err}");
    assert!(!s.dir.join(".convox/ca.pem").exists());
    let pem = std::fs::read_to_string(&ca_path).unwrap();
    assert!(pem.contains("BEGIN CERTIFICATE") && pem.contains("PRIVATE KEY"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&ca_path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "the CA's key is for its owner only");
    }
    let (_, _, err) = s.convox(&deploy_args(&backend_yml(), "backend"));
    assert!(!err.contains("Generated"), "{err}");
    assert_eq!(std::fs::read_to_string(&ca_path).unwrap(), pem);

    // A file that is not a certificate authority is an error, not a new one.
    let bad = s.dir.join("bad.pem");
    std::fs::write(&bad, "not pem").unwrap();
    let err = s.refused(&argv(
        &["--ca", bad.to_str().unwrap()],
        "rack params set Internal=Yes --rack production",
    ));
    assert!(err.contains("certificate and private key"), "{err}");
}

#[test]
fn errors_exit_1_with_their_causes_and_usage_errors_exit_2() {
    let s = Session::new("story", "errors");
    std::fs::create_dir_all(s.state().parent().unwrap()).unwrap();
    std::fs::write(s.state(), "{ not json").unwrap();
    let err = s.refused(&words("rack params --rack production"));
    assert!(
        err.starts_with("error: mock state is not valid JSON"),
        "{err}"
    );
    assert!(err.contains("\n  caused by: "), "{err}");

    let s = Session::new("story", "usage");
    let (code, _, _) = s.convox(&words("rack params"));
    assert_eq!(code, 2);
    let (code, _, _) = s.convox(&words("rack params set --rack production"));
    assert_eq!(code, 2);
    let (code, _, err) = s.convox(&words(
        "--endpoint-url http://127.0.0.1:1 rack params --rack production",
    ));
    assert_eq!(code, 2);
    assert!(err.contains("--backend aws"), "{err}");
    let (code, _, err) = s.convox(&argv(
        &["endpoints", &backend_yml()],
        "--rack production --app backend --param Internal=Yes",
    ));
    assert_eq!(code, 2);
    assert!(err.contains("stored parameters"), "{err}");
    let err = s.refused(&words("rack params set Bogus=Yes --rack production"));
    assert!(err.contains("unknown rack parameter"), "{err}");
    // A rack's network is fixed once it exists.
    s.ok(&words("rack params set Internal=Yes --rack production"));
    let err = s.refused(&argv(
        &["deploy", &backend_yml()],
        "--rack production --app backend --vpc vpc-other",
    ));
    assert!(err.contains("--vpc vpc-other (it is in vpc-mock)"), "{err}");
}

#[test]
fn state_is_created_where_asked() {
    let s = Session::new("story", "where");
    let nested: &Path = &s.dir.join("a/b/state.json");
    let ca: &Path = &s.dir.join("keys/ca.pem");
    let mut out = Vec::new();
    let mut err = Vec::new();
    // The process's environment: --ca keeps the test out of the real home.
    let code = run(
        [
            "convox",
            "--ca",
            ca.to_str().unwrap(),
            "--state",
            nested.to_str().unwrap(),
            "rack",
            "params",
            "set",
            "Internal=Yes",
            "--rack",
            "r",
        ],
        &mut out,
        &mut err,
    );
    assert_eq!(code, 0, "{}", String::from_utf8_lossy(&err));
    assert!(nested.exists());
    // The CA is where --ca says, no longer beside the state.
    assert!(ca.exists());
    assert!(!s.dir.join("a/b/ca.pem").exists());
}

// Public certificates for the external router (issue 12, item 6).
#[test]
fn a_supplied_external_certificate_must_cover_the_router_host() {
    use convox_model::public_cert::CertificateStatus;
    let s = Session::new("story", "pubcert");
    s.ok(&words("rack params set Internal=Yes --rack production"));
    // Two certificates the user owns in ACM: one for another host, one for ours.
    let mock = s.mock();
    let other = mock.add_user_certificate("*.other.example.com", &[], CertificateStatus::Issued);
    let mine =
        mock.add_user_certificate("*.production.example.com", &[], CertificateStatus::Issued);
    mock.save(s.state()).unwrap();
    let before = std::fs::read_to_string(s.state()).unwrap();

    let err = s.refused(&argv(
        &["rack", "params", "set", "--external-certificate", &other],
        "--rack production",
    ));
    assert!(
        err.contains(&format!(
            "certificate {other} does not cover *.production.example.com"
        )),
        "{err}"
    );
    let after = std::fs::read_to_string(s.state()).unwrap();
    assert_eq!(before, after, "nothing changed");

    let out = s.ok(&argv(
        &["rack", "params", "set", "--external-certificate", &mine],
        "--rack production",
    ));
    assert!(out.contains("Internal      Yes"), "{out}");
    let web = s.yml("web", "services:\n  web:\n    image: x\n    port: 3000\n");
    let out = s.ok(&deploy_args(&web, "site"));
    assert!(!out.contains("External certificate"), "{out}");
    let out = s.ok(&argv(&["endpoints", &web], "--rack production --app site"));
    assert!(
        out.contains("web external https://site-web.production.example.com deployed"),
        "{out}"
    );
    // The listener serves the user's certificate; nothing was requested.
    let state = std::fs::read_to_string(s.state()).unwrap();
    assert!(
        state.contains(&format!("\"default_certificate\": \"{mine}\""))
            || state.contains(&format!("\"default_certificate\":\"{mine}\"")),
        "the external listener serves {mine}"
    );
    // Nothing more requested (the first params set requested one, kept in ACM).
    let statuses = |t: &str| t.matches("\"status\"").count();
    assert_eq!(statuses(&state), statuses(&before), "nothing requested");
}
