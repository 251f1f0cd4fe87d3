//! The shared backend conformance suite, run against [`AwsBackend`] on the moto
//! server: one test per case, each in a moto account of its own.
//!
//! Run by `scripts/test.sh`, which starts moto and sets `CONVOX_MOTO_ENDPOINT`.
//! Without `CONVOX_MOTO` the tests are listed as ignored; with it, a missing
//! emulator fails them.

mod support;

use convox_model::backend::Backend;
use convox_model::conformance::{self, CaseResult, ConformanceContext, Gaps};
use convox_model::name::Name;
use convox_model::resource::Scope;
use support::MotoEnv;

fn context(env: &MotoEnv) -> ConformanceContext {
    env.conformance(Gaps::moto())
}

/// A failure fails; a skip passes only for a declared moto gap, which
/// `tests/moto/gaps.rs` probes.
fn report(name: &str, result: CaseResult) {
    support::gaps::report(name, result);
}

async fn assert_left_nothing(env: &MotoEnv, rack: &Name) {
    for scope in [Scope::Rack, Scope::Apps] {
        let left = env.backend.observe(rack, &scope).await.expect("observe");
        let keys: Vec<&str> = left.iter().map(|o| o.resource.key.as_str()).collect();
        assert!(
            keys.is_empty(),
            "{rack} left {scope:?} resources behind: {keys:?}"
        );
    }
}

macro_rules! conformance_tests {
    ($($case:ident),* $(,)?) => {
        $(
            #[tokio::test]
            #[cfg_attr(not(moto), ignore = "needs the AWS emulator: run scripts/test.sh")]
            async fn $case() {
                let env = MotoEnv::new(stringify!($case)).await;
                let ctx = context(&env);
                let result = conformance::$case(&env.backend, &ctx).await;
                report(stringify!($case), result);
                // Every case cleans up after itself.
                let rack = conformance::case_rack(&ctx, stringify!($case)).expect("a case's rack");
                assert_left_nothing(&env, &rack).await;
            }
        )*

        /// Keeps this list in step with the suite: a new case must be run here.
        #[test]
        fn every_case_is_run() {
            let listed = [$(stringify!($case)),*];
            let suite: Vec<&str> = conformance::cases().into_iter().map(|(n, _)| n).collect();
            assert_eq!(listed.to_vec(), suite);
            let ctx = ConformanceContext::new(Name::new("conf").expect("valid rack name"), support::issued);
            for case in listed {
                assert!(conformance::case_rack(&ctx, case).is_some(), "{case} has no rack");
            }
        }
    };
}

// One test per case of the suite, named after it.
convox_model::conformance_cases!(conformance_tests);

/// All cases in sequence in one account: they share it without interfering.
#[tokio::test]
#[cfg_attr(not(moto), ignore = "needs the AWS emulator: run scripts/test.sh")]
async fn run_all_in_one_account() {
    let env = MotoEnv::new("run_all_in_one_account").await;
    let ctx = context(&env);
    for (name, result) in conformance::run_all(&env.backend, &ctx).await {
        report(name, result);
        let rack = conformance::case_rack(&ctx, name).expect("a case's rack");
        assert_left_nothing(&env, &rack).await;
    }
}
