//! The proptest configuration the mock's property and state-machine tests share.

use proptest::test_runner::{Config, FileFailurePersistence};

/// `cases` random cases; a failing one is kept in the `.proptest-regressions`
/// file beside the test's source and tried first on every later run.
pub fn kept_failures(cases: u32) -> Config {
    Config {
        cases,
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource(
            "proptest-regressions",
        ))),
        ..Config::default()
    }
}
