//! `convox --backend aws` against the moto server: the seed's story through the
//! command line, with the rack's VPC given once and read back afterwards.
//!
//! Run by `scripts/test.sh`, which starts moto, sets `CONVOX_MOTO_ENDPOINT` and
//! fake AWS credentials. Without `CONVOX_MOTO` the test is listed as ignored;
//! with it, a missing emulator fails it.
//!
//! The command line cannot add moto's per-account header, so the test works in
//! moto's default account under a rack name of its own. It passes the endpoint as
//! `--endpoint-url` rather than setting `AWS_ENDPOINT_URL`: changing the
//! environment of a multi-threaded test process is not safe.

#![allow(clippy::unwrap_used)]

// The AWS backend's tests read the emulator's settings the same way.
#[path = "../../convox-aws/tests/support/env.rs"]
mod moto_env;

use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use convox_aws::AwsBackendBuilder;
use convox_examples::run;

/// moto's default VPC in its default account, found the way a user would.
fn default_vpc(endpoint: &str) -> String {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let aws = AwsBackendBuilder::from_env()
            .with_endpoint_url(endpoint)
            .build()
            .await
            .unwrap();
        aws.default_vpc()
            .await
            .unwrap()
            .expect("moto has a default VPC")
    })
}

#[test]
#[cfg_attr(not(moto), ignore = "needs the AWS emulator: run scripts/test.sh")]
fn seed_story_with_the_aws_backend_on_moto() {
    let endpoint = moto_env::endpoint();
    let vpc = default_vpc(&endpoint);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    let rack = format!("clitest{}x{}", std::process::id(), nanos % 100_000);
    let dir: PathBuf = std::env::temp_dir().join(format!("convox-cli-aws-{rack}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let ca = dir.join("ca.pem").display().to_string();
    let yml = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("backend/convox.yml")
        .display()
        .to_string();

    // `convox --backend aws --endpoint-url … --ca …` with `args`: the exit code,
    // stdout and stderr.
    let run_convox = |args: &[&str]| -> (i32, String, String) {
        let mut out = Vec::new();
        let mut err = Vec::new();
        let argv = [
            "convox",
            "--backend",
            "aws",
            "--endpoint-url",
            endpoint.as_str(),
            "--ca",
            ca.as_str(),
        ]
        .into_iter()
        .chain(args.iter().copied());
        let code = run(argv, &mut out, &mut err);
        (
            code,
            String::from_utf8(out).unwrap(),
            String::from_utf8(err).unwrap(),
        )
    };
    // The same with the calls shown, expected to succeed.
    let convox = |args: &[&str]| -> (i32, String, String) {
        let argv: Vec<&str> = ["--show-calls"]
            .into_iter()
            .chain(args.iter().copied())
            .collect();
        let (code, out, err) = run_convox(&argv);
        assert_eq!(code, 0, "convox {args:?}\nstdout:\n{out}\nstderr:\n{err}");
        (code, out, err)
    };

    // A rack not set up yet needs its VPC.
    let (code, _, err) = run_convox(&["deploy", &yml, "--rack", &rack, "--app", "backend"]);
    assert_eq!(code, 1);
    assert!(err.contains("--vpc VPC_ID"));

    let (_, out, _) = convox(&[
        "rack",
        "params",
        "set",
        "Internal=Yes",
        "--rack",
        &rack,
        "--vpc",
        &vpc,
    ]);
    assert!(out.contains("Internal      Yes"), "{out}");

    // The VPC is read back from AWS: deploy does not repeat it.
    let (_, out, err) = convox(&["deploy", &yml, "--rack", &rack, "--app", "backend"]);
    let host = format!("api.backend.{rack}.convox");
    assert!(
        out.contains(&format!("api  internal  https://{host}")),
        "{out}"
    );
    assert!(
        out.contains(&format!("web: API_URL=https://{host}")),
        "{out}"
    );
    assert!(
        err.contains("created listener rule app/backend/api/internal/rule"),
        "{err}"
    );

    let (_, out, err) = convox(&["deploy", &yml, "--rack", &rack, "--app", "backend"]);
    assert!(
        out.starts_with("No changes. backend is up to date."),
        "{out}"
    );
    assert!(err.contains(", 0 mutating"), "{err}");

    let (_, out, _) = convox(&["endpoints", &yml, "--rack", &rack, "--app", "backend"]);
    assert!(
        out.contains(&format!("api internal https://{host} deployed")),
        "{out}"
    );

    let (_, out, _) = convox(&["apps", "delete", "backend", "--rack", &rack]);
    assert!(out.contains("Deleted app backend"), "{out}");
    let (_, out, _) = convox(&["endpoints", &yml, "--rack", &rack, "--app", "backend"]);
    assert!(out.contains("not deployed"), "{out}");
    let (_, out, _) = convox(&["rack", "params", "--rack", &rack]);
    assert_eq!(out, "Internal      Yes\nInternalOnly  No\n");

    let _ = std::fs::remove_dir_all(&dir);
}

// The rack's certificate authority on moto: identity and rotation.
#[test]
#[cfg_attr(not(moto), ignore = "needs the AWS emulator: run scripts/test.sh")]
fn rack_ca_rotation_on_moto() {
    let endpoint = moto_env::endpoint();
    let vpc = default_vpc(&endpoint);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    let rack = format!("catest{}x{}", std::process::id(), nanos % 100_000);
    let dir: PathBuf = std::env::temp_dir().join(format!("convox-cli-aws-{rack}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let old = dir.join("old.pem").display().to_string();
    let new = dir.join("new.pem").display().to_string();
    let yml = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("backend/convox.yml")
        .display()
        .to_string();
    // `convox --backend aws --endpoint-url … --ca CA --show-calls ARGS`.
    let run_convox = |ca: &str, args: &[&str]| -> (i32, String, String) {
        let mut out = Vec::new();
        let mut err = Vec::new();
        let argv = [
            "convox",
            "--backend",
            "aws",
            "--endpoint-url",
            endpoint.as_str(),
            "--ca",
            ca,
            "--show-calls",
        ]
        .into_iter()
        .chain(args.iter().copied());
        let code = run(argv, &mut out, &mut err);
        (
            code,
            String::from_utf8(out).unwrap(),
            String::from_utf8(err).unwrap(),
        )
    };
    let ok = |ca: &str, args: &[&str]| -> (String, String) {
        let (code, out, err) = run_convox(ca, args);
        assert_eq!(code, 0, "convox {args:?}\nstdout:\n{out}\nstderr:\n{err}");
        (out, err)
    };
    let deploy = ["deploy", &yml, "--rack", &rack, "--app", "backend"];
    ok(
        &old,
        &[
            "rack",
            "params",
            "set",
            "Internal=Yes",
            "--rack",
            &rack,
            "--vpc",
            &vpc,
        ],
    );
    ok(&old, &deploy);

    // Another authority is refused before any change.
    let (code, _, err) = run_convox(&new, &deploy);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("convox rack ca rotate") && err.contains(", 0 mutating"),
        "{err}"
    );
    assert!(
        !std::path::Path::new(&new).exists(),
        "no CA generated for a rack that exists"
    );

    let (out, _) = ok(
        &old,
        &["rack", "ca", "rotate", "--rack", &rack, "--new-ca", &new],
    );
    assert!(out.contains("certificates re-issued"), "{out}");
    assert!(!out.contains(" 0 certificates"), "{out}");

    // The zone's tags hold the new authority: the old one is refused, the new
    // one plans nothing, and rotating again does nothing.
    let (code, _, err) = run_convox(&old, &deploy);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains(", 0 mutating"), "{err}");
    let (out, _) = ok(&new, &["plan", &yml, "--rack", &rack, "--app", "backend"]);
    assert!(out.starts_with("No changes."), "{out}");
    let (out, err) = ok(
        &new,
        &["rack", "ca", "rotate", "--rack", &rack, "--new-ca", &new],
    );
    assert!(out.contains(" 0 certificates re-issued"), "{out}");
    assert!(err.contains(", 0 mutating"), "{err}");

    let (_, _) = ok(&new, &["apps", "delete", "backend", "--rack", &rack]);
    let _ = std::fs::remove_dir_all(&dir);
}
