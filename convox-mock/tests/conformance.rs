//! The shared backend conformance suite, run against [`MockBackend`]: one test per
//! case, each on a fresh mock.

use convox_mock::MockBackend;
use convox_model::conformance::{self, CaseResult, ConformanceContext, Outcome, fake_certificate};
use convox_model::name::Name;

fn context() -> ConformanceContext {
    ConformanceContext::new(
        Name::new("conf").expect("valid rack name"),
        fake_certificate,
    )
}

fn assert_passed(name: &str, result: CaseResult) {
    match result {
        Ok(Outcome::Passed) => {}
        // The mock declares no gaps, so it must never skip.
        Ok(Outcome::Skipped(why)) => panic!("{name} skipped on the mock: {why}"),
        Err(e) => panic!("{name} failed: {e}"),
    }
}

macro_rules! conformance_tests {
    ($($case:ident),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $case() {
                let mock = MockBackend::new();
                let result = conformance::$case(&mock, &context()).await;
                assert_passed(stringify!($case), result);
                // Every case cleans up after itself.
                assert_eq!(mock.inventory(), Default::default(), "{} left resources behind", stringify!($case));
            }
        )*

        /// Keeps this list in step with the suite: a new case must be run here.
        #[test]
        fn every_case_is_run() {
            let listed = [$(stringify!($case)),*];
            let suite: Vec<&str> = conformance::cases().into_iter().map(|(n, _)| n).collect();
            assert_eq!(listed.to_vec(), suite);
        }
    };
}

// One test per case of the suite, named after it.
convox_model::conformance_cases!(conformance_tests);

/// All cases in sequence on one backend: they share it without interfering.
#[tokio::test]
async fn run_all_on_one_backend() {
    let mock = MockBackend::new();
    for (name, result) in conformance::run_all(&mock, &context()).await {
        assert_passed(name, result);
    }
    assert_eq!(mock.inventory(), Default::default());
}
