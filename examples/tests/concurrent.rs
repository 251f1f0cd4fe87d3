//! Operators at once on the mock's command line (issue 8): eight deploys of
//! different apps at the same moment, on one state file, keep all eight.

// Tests fail loudly on unexpected input: unwrapping is how they say so.
#![allow(clippy::unwrap_used)]

use convox_examples::Environment;

mod support;
use support::{Session, convox_in, env_in, ok_in};

fn ok(env: &Environment, args: &[&str]) -> String {
    ok_in(env, args).0
}

#[test]
fn eight_deploys_at_the_same_moment_on_one_state_file_keep_all_eight() {
    let session = Session::project("concurrent", "eight");
    let dir = &session.dir;
    let env = env_in(dir);
    ok(
        &env,
        &["rack", "params", "set", "Internal=Yes", "-r", "production"],
    );

    let apps: Vec<String> = (1..=8).map(|i| format!("app{i}")).collect();
    let start = std::sync::Barrier::new(apps.len());
    std::thread::scope(|s| {
        let runs: Vec<_> = apps
            .iter()
            .map(|app| {
                let (env, start) = (env.clone(), &start);
                s.spawn(move || {
                    start.wait();
                    convox_in(&env, &["deploy", "-a", app, "-r", "production"])
                })
            })
            .collect();
        for (app, run) in apps.iter().zip(runs) {
            let (code, out, err) = run.join().unwrap();
            assert_eq!(code, 0, "deploy {app}\nstdout:\n{out}\nstderr:\n{err}");
        }
    });

    let listed = ok(&env, &["apps", "-r", "production"]);
    let mut want = apps.clone();
    want.sort();
    assert_eq!(listed.lines().collect::<Vec<_>>(), want, "{listed}");
    for app in &apps {
        let out = ok(&env, &["deploy", "-a", app, "-r", "production"]);
        assert!(
            out.starts_with(&format!("No changes. {app} is up to date.")),
            "{out}"
        );
    }
    // No temp file is left beside the state.
    let left: Vec<String> = std::fs::read_dir(dir.join(".convox"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}
