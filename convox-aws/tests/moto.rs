//! Every `Backend` verb against the moto server, each test in its own account,
//! and moto's own gaps, probed so that a change in moto fails a test.
//!
//! Run by `scripts/test.sh`, which starts moto and sets `CONVOX_MOTO_ENDPOINT`.
//! Without `CONVOX_MOTO` the tests are listed as ignored; with it, a missing
//! emulator fails them.

#![allow(clippy::unwrap_used)]

mod support;

// Submodules live in tests/moto/, which cargo does not take for test targets.
#[path = "moto/apps.rs"]
mod apps;
// What a deploy costs in requests (issue 10).
#[path = "moto/cost.rs"]
mod cost;
// What an embedding deployer attaches its containers to (issue 10).
#[path = "moto/deployer.rs"]
mod deployer;
#[path = "moto/gaps.rs"]
mod gaps;
#[path = "moto/ownership.rs"]
mod ownership;
// Public certificates for the external router (issue 12, item 6).
#[path = "moto/public_cert.rs"]
mod public_cert;
// Router pools (issue 9): placement within quotas, counted by boto3.
#[path = "moto/pools.rs"]
mod pools;
#[path = "moto/routers.rs"]
mod routers;
#[path = "moto/zones.rs"]
mod zones;

/// Under CI the emulator must be there: otherwise every test here would be
/// ignored and CI would pass without the AWS backend having answered a request.
#[cfg(not(moto))]
#[test]
fn the_aws_tests_run_under_ci() {
    support::env::refuse_ci_without_the_emulator();
}
