//! moto's gaps: where it accepts what AWS refuses, as the conformance suite's
//! [`Gaps`] flags. Each flag [`Gaps::moto`] sets is a row here; `tests/moto/gaps.rs`
//! runs the row's case on moto with the flag cleared and fails when moto stops
//! failing it, and the conformance tests accept a skip only from a case named
//! here.

use convox_model::conformance::{CaseResult, Gaps, Outcome};

/// One declared gap.
#[derive(Debug, Clone, Copy)]
pub struct MotoGap {
    /// The [`Gaps`] field.
    pub flag: &'static str,
    /// Sets the field.
    pub set: fn(&mut Gaps, bool),
    /// The conformance case that skips because of it.
    pub case: &'static str,
    /// What that case says on moto when the flag is cleared: the promise that
    /// moto breaks.
    pub breaks: &'static str,
}

macro_rules! gap {
    ($flag:ident, $case:literal, $breaks:literal) => {
        MotoGap {
            flag: stringify!($flag),
            set: |g, v| g.$flag = v,
            case: $case,
            breaks: $breaks,
        }
    };
}

/// moto 5.2.5's gaps. (It does refuse a Route53 CREATE of an existing record,
/// and deleting a target group a rule forwards to, as AWS does: those cases run.)
pub const MOTO_GAPS: [MotoGap; 6] = [
    gap!(
        no_duplicate_load_balancer_error,
        "case_load_balancer_name_rules",
        "a second load balancer with the same name and another scheme: expected already exists, but it succeeded"
    ),
    gap!(
        no_duplicate_listener_error,
        "case_duplicate_listener_port",
        "a second listener on port 80 with another default action: expected already exists, but it succeeded"
    ),
    gap!(
        missing_record_delete_not_conflict,
        "case_record_delete_missing_conflicts",
        "deleting a record that does not exist: expected conflict, got InvalidInput"
    ),
    gap!(
        no_rule_quota,
        "case_rule_quota",
        "the 101st rule on a load balancer: expected quota exceeded, but it succeeded"
    ),
    gap!(
        no_certificate_in_use_error,
        "case_delete_in_use_conflicts",
        "deleting a certificate attached to a listener: expected conflict, but it succeeded"
    ),
    gap!(
        no_security_group_in_use_error,
        "case_delete_in_use_conflicts",
        "deleting a security group a load balancer uses: expected conflict, but it succeeded"
    ),
];

/// The row for `flag`.
pub fn gap(flag: &str) -> MotoGap {
    *MOTO_GAPS
        .iter()
        .find(|g| g.flag == flag)
        .unwrap_or_else(|| panic!("no moto gap {flag}"))
}

/// The flags of the table, set: what [`Gaps::moto`] must be.
pub fn tabled() -> Gaps {
    let mut gaps = Gaps::default();
    for g in MOTO_GAPS {
        (g.set)(&mut gaps, true);
    }
    gaps
}

/// A conformance case's result on moto: a failure fails the test, and so does a
/// skip from a case no declared gap explains.
pub fn report(case: &str, result: CaseResult) {
    match result {
        Ok(Outcome::Passed) => {}
        Ok(Outcome::Skipped(why)) => {
            let flags: Vec<&str> = MOTO_GAPS
                .iter()
                .filter(|g| g.case == case)
                .map(|g| g.flag)
                .collect();
            assert!(
                !flags.is_empty(),
                "{case} skipped on moto ({why}), but no declared moto gap explains it"
            );
            // Probed by tests/moto/gaps.rs, which fails when moto closes the gap.
            eprintln!("{case} skipped on moto for {flags:?}: {why}");
        }
        Err(e) => panic!("{case} failed on moto: {e}"),
    }
}
