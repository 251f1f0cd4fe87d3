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

// Day-2 safety: `rack audit` against moto.

/// Opens the internal router's security group of `rack` to `0.0.0.0/0` on 443,
/// as someone at the console would (through the AWS backend's own call).
fn open_internal_router(endpoint: &str, rack: &str) {
    use convox_model::backend::Backend;
    use convox_model::name::Name;
    use convox_model::resource::{IngressRule, ResourceKey, ResourceSpec, Scope};
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
        let rack = Name::new(rack).unwrap();
        let observed = aws.observe(&rack, &Scope::Rack).await.unwrap();
        let key = ResourceKey::router_security_group(convox_model::exposure::Router::Internal);
        let sg = observed
            .iter()
            .find(|o| o.resource.key == key)
            .expect("the internal router's security group");
        let ResourceSpec::SecurityGroup(spec) = &sg.resource.spec else {
            panic!("not a security group: {sg:?}");
        };
        let mut opened = spec.clone();
        opened.ingress.push(IngressRule {
            protocol: "tcp".into(),
            port: 443,
            cidr: "0.0.0.0/0".into(),
        });
        aws.update_security_group(&sg.id, &opened).await.unwrap();
    });
}

#[test]
#[cfg_attr(not(moto), ignore = "needs the AWS emulator: run scripts/test.sh")]
fn rack_audit_on_moto_names_an_internal_router_opened_to_the_world() {
    let endpoint = moto_env::endpoint();
    let vpc = default_vpc(&endpoint);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    let rack = format!("audit{}x{}", std::process::id(), nanos % 100_000);
    let dir: PathBuf = std::env::temp_dir().join(format!("convox-cli-aws-{rack}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let ca = dir.join("ca.pem").display().to_string();
    let yml = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("backend/convox.yml")
        .display()
        .to_string();
    let convox = |args: &[&str]| -> (i32, String, String) {
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
    let ok = |args: &[&str]| {
        let (code, out, err) = convox(args);
        assert_eq!(code, 0, "convox {args:?}\nstdout:\n{out}\nstderr:\n{err}");
        out
    };

    ok(&[
        "rack",
        "params",
        "set",
        "Internal=Yes",
        "--rack",
        &rack,
        "--vpc",
        &vpc,
    ]);
    ok(&["deploy", &yml, "--rack", &rack, "--app", "backend"]);
    let out = ok(&["rack", "audit", "--rack", &rack]);
    assert!(out.contains("No findings."), "{out}");
    assert!(
        out.contains(&format!(
            "endpoint https://api.backend.{rack}.convox on the internal router (internal)"
        )),
        "{out}"
    );

    open_internal_router(&endpoint, &rack);
    let (code, out, err) = convox(&["rack", "audit", "--rack", &rack, "--json"]);
    assert_eq!(code, 1, "{out}\n{err}");
    let json: serde_json::Value = serde_json::from_str(&out).unwrap();
    let findings = json["findings"].as_array().unwrap();
    assert!(
        findings.iter().any(|f| f["kind"] == "ingress_outside_vpc"
            && f["source"] == "0.0.0.0/0"
            && f["port"] == 443),
        "{out}"
    );
    let (code, out, _) = convox(&["rack", "audit", "--rack", &rack]);
    assert_eq!(code, 1);
    assert!(out.contains("admits 0.0.0.0/0 (tcp port 443)"), "{out}");

    ok(&["apps", "delete", "backend", "--rack", &rack]);
    let _ = std::fs::remove_dir_all(&dir);
}
