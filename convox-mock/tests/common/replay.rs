//! The proptest configuration the mock's property and state-machine tests share.

use proptest::test_runner::{Config, FileFailurePersistence};

/// `cases` random cases (`PROPTEST_CASES` overrides it, to search longer);
/// a failing one is kept in the `.proptest-regressions` file beside the
/// test's source and tried first on every later run.
pub fn kept_failures(cases: u32) -> Config {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(cases);
    Config {
        cases,
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource(
            "proptest-regressions",
        ))),
        ..Config::default()
    }
}
