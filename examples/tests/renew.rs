//! Certificates that last (issue 12), through the command line with a clock the
//! test sets (`CONVOX_NOW` in the command's environment): a rack deployed at t0
//! shows its renewals in `convox plan` at t0+380 days, `convox deploy` renews
//! every due certificate (the app's and the rack's) in place, the plan after it
//! is empty, every certificate in use is valid past t0+410 days, and no old
//! certificate is left behind. On the mock, and on moto with the AWS backend.

// Tests fail loudly on unexpected input: unwrapping is how they say so.
#![allow(clippy::unwrap_used)]

// The AWS backend's tests read the emulator's settings the same way.
#[path = "../../convox-aws/tests/support/env.rs"]
mod moto_env;

mod support;
use support::{
    aws_on, backend_yml, convox_in, default_vpc, env_in, fresh_dir, on_aws, unique_rack,
};

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use convox_mock::MockBackend;
use convox_model::backend::Backend;
use convox_model::name::Name;
use convox_model::observe::observe_all;
use convox_model::renew::{DAY, date};
use convox_model::resource::{ResourceKey, ResourceSpec};

/// `convox GLOBALS… ARGS…` in `dir` at Unix time `now`; asserts success and
/// returns (stdout, stderr).
fn convox_at(dir: &Path, globals: &[&str], now: i64, args: &[&str]) -> (String, String) {
    let env = env_in(dir).with_var("CONVOX_NOW", &now.to_string());
    let argv = [globals, args].concat();
    let (code, out, err) = convox_in(&env, &argv);
    assert_eq!(code, 0, "convox {args:?}\nstdout:\n{out}\nstderr:\n{err}");
    (out, err)
}

/// The rack's certificates as observed: key → (ARN, not_after).
async fn certificates(b: &dyn Backend, rack: &str) -> BTreeMap<ResourceKey, (String, i64)> {
    observe_all(b, &Name::new(rack).unwrap())
        .await
        .unwrap()
        .into_iter()
        .filter(|o| matches!(o.resource.spec, ResourceSpec::Certificate(_)))
        .map(|o| {
            let t = o.not_after.expect("a certificate's validity is observed");
            (o.resource.key, (o.id, t))
        })
        .collect()
}

/// The story at t0, then a year on: what `convox plan` and `convox deploy` say.
/// `observe` reads the rack's certificates as the backend holds them.
fn a_year_on<F>(dir: &Path, globals: &[&str], rack: &str, t0: i64, first: &[&str], observe: F)
where
    F: Fn() -> BTreeMap<ResourceKey, (String, i64)>,
{
    let yml = backend_yml();
    let deploy = ["deploy", yml.as_str(), "--rack", rack, "--app", "backend"];
    let plan = ["plan", yml.as_str(), "--rack", rack, "--app", "backend"];
    let mut params = vec!["rack", "params", "set", "Internal=Yes", "--rack", rack];
    params.extend_from_slice(first);
    convox_at(dir, globals, t0, &params);
    convox_at(dir, globals, t0, &deploy);
    // The rack CA issues the app's certificate and the internal router's; the
    // external router serves an ACM certificate, which ACM renews itself.
    let before = observe();
    assert_eq!(before.len(), 2, "{before:?}");

    // A month before they expire, nothing is due yet.
    let (out, _) = convox_at(dir, globals, t0 + 300 * DAY, &plan);
    assert!(out.starts_with("No changes."), "{out}");

    let later = t0 + 380 * DAY;
    let (out, _) = convox_at(dir, globals, later, &plan);
    // Issue 9: the app's name is on the internal load balancer's shared
    // certificate, the rack's.
    for key in ["router/internal/cert/1", "router/internal/cert"] {
        let (_, not_after) = &before[&ResourceKey::from_raw(key)];
        let line = format!("~ renew certificate {key} (expires {})", date(*not_after));
        assert!(out.contains(&line), "no {line:?} in:\n{out}");
    }
    assert!(
        out.contains("(no disruption: re-imported in place"),
        "{out}"
    );
    assert!(
        out.contains("Plan: 0 to create, 2 to update, 0 to replace, 0 to delete."),
        "{out}"
    );

    let (out, err) = convox_at(dir, globals, later, &deploy);
    assert!(out.contains("2 changes applied"), "{out}");
    // Issue 9: the app's name is on the internal load balancer's shared
    // certificate, the rack's.
    for key in ["router/internal/cert/1", "router/internal/cert"] {
        assert!(err.contains(&format!("renewed certificate {key}")), "{err}");
    }
    let (out, _) = convox_at(dir, globals, later, &plan);
    assert!(
        out.starts_with("No changes. backend is up to date."),
        "{out}"
    );

    let after = observe();
    assert_eq!(
        after.keys().collect::<Vec<_>>(),
        before.keys().collect::<Vec<_>>(),
        "nothing leaks: the same two certificates"
    );
    for (key, (arn, not_after)) in &after {
        assert_eq!(arn, &before[key].0, "{key} is renewed in place");
        assert!(
            *not_after > t0 + 410 * DAY,
            "{key} expires on {}",
            date(*not_after)
        );
    }
}

#[test]
fn a_year_on_the_mock_plan_shows_renewals_and_deploy_renews_them() {
    let dir = fresh_dir("renew", "mock");
    let state = dir.join(".convox/state.json");
    let state_arg = state.display().to_string();
    let globals = ["--state", state_arg.as_str()];
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let observe = || {
        let mock = MockBackend::open(&state).unwrap();
        let certs = rt.block_on(certificates(&mock, "production"));
        assert_eq!(
            mock.inventory().certificates,
            certs.len(),
            "untagged leftovers"
        );
        certs
    };
    a_year_on(&dir, &globals, "production", 1_750_000_000, &[], observe);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
#[cfg_attr(not(moto), ignore = "needs the AWS emulator: run scripts/test.sh")]
fn a_year_on_moto_plan_shows_renewals_and_deploy_renews_them() {
    let endpoint = moto_env::endpoint();
    let (rt, aws) = aws_on(&endpoint);
    let vpc = default_vpc(&rt, &aws);
    let rack = unique_rack("renew");
    let dir = fresh_dir("renew", "moto");
    let ca = dir.join("ca.pem").display().to_string();
    let globals = on_aws(&endpoint, &ca);
    // moto refuses certificates not yet valid: t0 is in the past, so that the
    // renewal at t0+380 days happens yesterday.
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let t0 = i64::try_from(now).unwrap() - 381 * DAY;
    let observe = || rt.block_on(certificates(&aws, &rack));
    a_year_on(&dir, &globals, &rack, t0, &["--vpc", vpc.as_str()], observe);
    let _ = std::fs::remove_dir_all(&dir);
}
