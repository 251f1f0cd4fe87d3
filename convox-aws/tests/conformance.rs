//! The shared backend conformance suite, run against [`AwsBackend`] on the moto
//! server: one test per case, each in a moto account of its own.
//!
//! Run by `scripts/test.sh`, which starts moto and sets `CONVOX_MOTO_ENDPOINT`;
//! without it every test skips with a message (and fails under `CI`).

mod support;

use std::sync::OnceLock;

use convox_model::backend::{Backend, CertificatePem};
use convox_model::conformance::{self, CaseResult, ConformanceContext, Gaps, Outcome};
use convox_model::name::Name;
use convox_model::resource::Scope;
use convox_model::tls::CertificateAuthority;
use support::{MOTO_GAPS, MotoEnv};

/// What moto lacks, as the suite's flags: each is a fact about moto that
/// `moto_gaps_are_as_documented` in `tests/moto.rs` pins through [`MOTO_GAPS`].
fn moto_gaps() -> Gaps {
    Gaps {
        no_duplicate_load_balancer_error: MOTO_GAPS.accepts_duplicate_names,
        no_duplicate_listener_error: MOTO_GAPS.accepts_duplicate_listener_ports,
        // moto refuses a CREATE of an existing record as AWS does.
        no_duplicate_record_error: false,
        missing_record_delete_not_conflict: MOTO_GAPS.missing_record_delete_is_invalid_input,
        no_rule_quota: MOTO_GAPS.no_quotas,
        // moto refuses this one as AWS does.
        no_target_group_in_use_error: false,
        no_certificate_in_use_error: MOTO_GAPS.deletes_certificates_in_use,
        no_security_group_in_use_error: MOTO_GAPS.deletes_security_groups_in_use,
        // moto checks DELETEs and duplicate CREATEs before it changes anything.
        non_atomic_record_batches: false,
    }
}

/// The suite's own idea of moto is the same.
#[test]
fn suite_knows_moto_as_it_is() {
    assert_eq!(moto_gaps(), Gaps::moto());
}

/// The run's certificate authority, the one the library itself uses for racks.
fn ca() -> &'static CertificateAuthority {
    static CA: OnceLock<CertificateAuthority> = OnceLock::new();
    CA.get_or_init(|| {
        CertificateAuthority::generate(&Name::new("conformance").expect("valid name"), now())
            .expect("CA")
    })
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// A real certificate for `domain`, signed by the run's CA: moto parses what it
/// imports.
fn certificate(domain: &str) -> CertificatePem {
    ca().issue(domain, now()).expect("certificate")
}

fn context(env: &MotoEnv) -> ConformanceContext {
    ConformanceContext::new(Name::new("conf").expect("valid rack name"), certificate)
        .with_network(env.region.clone(), env.vpc.clone(), env.subnets.clone())
        .with_gaps(moto_gaps())
}

fn report(name: &str, result: CaseResult) {
    match result {
        Ok(Outcome::Passed) => {}
        // A skip is a declared moto gap: say so, and pass.
        Ok(Outcome::Skipped(why)) => eprintln!("{name} skipped on moto: {why}"),
        Err(e) => panic!("{name} failed on moto: {e}"),
    }
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
                let Some(env) = MotoEnv::new(stringify!($case)).await else {
                    return;
                };
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
            let ctx = ConformanceContext::new(Name::new("conf").expect("valid rack name"), certificate);
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
    let Some(env) = MotoEnv::new("run_all_in_one_account").await else {
        return;
    };
    let ctx = context(&env);
    for (name, result) in conformance::run_all(&env.backend, &ctx).await {
        report(name, result);
        let rack = conformance::case_rack(&ctx, name).expect("a case's rack");
        assert_left_nothing(&env, &rack).await;
    }
}
