//! What `scripts/test.sh` tells the emulator tests, read from the environment.
//!
//! The tests that call these are compiled `ignore`d unless `cfg(moto)` is set
//! (`CONVOX_MOTO`, see `build.rs`); once they run, a missing variable is a
//! failure that says how to run them, never a silent pass. Plain `std`: the CLI's
//! tests in `examples/` include this file too.

#![allow(dead_code)]

/// Where the shared moto server listens (`http://127.0.0.1:PORT`).
pub const ENDPOINT_VAR: &str = "CONVOX_MOTO_ENDPOINT";
/// The virtualenv's `moto_server`, for a test that needs a server of its own.
pub const SERVER_VAR: &str = "CONVOX_MOTO_SERVER";
/// The virtualenv's python, which has boto3: the independent witness.
pub const PYTHON_VAR: &str = "CONVOX_MOTO_PYTHON";

/// The variable's value; a test that needs it fails without it.
pub fn required(var: &str) -> String {
    match std::env::var(var) {
        Ok(v) if !v.is_empty() => v,
        _ => panic!(
            "{var} is not set: this test needs the AWS emulator; run it with scripts/test.sh"
        ),
    }
}

/// The shared moto server's endpoint, checked to be on loopback.
pub fn endpoint() -> String {
    let endpoint = required(ENDPOINT_VAR);
    assert_loopback(&endpoint);
    endpoint
}

/// The tests only ever talk to a local emulator.
pub fn assert_loopback(endpoint: &str) {
    let host = endpoint.trim_start_matches("http://");
    assert!(
        host.starts_with("127.0.0.1:") || host.starts_with("localhost:"),
        "moto must be on loopback: {endpoint}"
    );
}

/// Under CI the emulator must be there: otherwise every emulator test would be
/// ignored and CI would pass without the AWS backend having answered a request.
/// Fails when `CI` is set in a build without `cfg(moto)`.
pub fn refuse_ci_without_the_emulator() {
    assert!(
        std::env::var_os("CI").is_none(),
        "CI is set but CONVOX_MOTO is not: run the tests with scripts/test.sh"
    );
}
