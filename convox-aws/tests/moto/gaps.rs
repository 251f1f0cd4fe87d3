//! moto's gaps, probed: where moto accepts what AWS refuses, each declared gap is
//! shown to be there by a request or a conformance case that fails when moto
//! changes, and says which flag to flip.
//!
//! The conformance tests (`tests/conformance.rs`) run the suite with
//! [`Gaps::moto`] and accept a skip only from a case that a row of
//! [`MOTO_GAPS`] names; the probes here run each row's case with its flag
//! cleared and expect it to fail exactly as the row says.

use convox_model::backend::{Backend, ErrorKind};
use convox_model::conformance::{self, Gaps};
use convox_model::exposure::Router;
use convox_model::resource::{LbScheme, RecordAction, RecordChange, ResourceKey, Tags};

use crate::support::MotoEnv;
use crate::support::gaps::{MOTO_GAPS, gap, tabled};
use crate::support::specs::{
    import_fixture, lb_spec, listener_spec, make_internal_router, not_found, with_internal_router,
    zone_spec,
};

/// Where a gap's flag lives, for the messages.
const FLAGS_AT: &str = "Gaps::moto() in convox-model/src/conformance.rs";

/// What moto does where AWS refuses, request by request. Should moto close a
/// gap, this test fails and names the flag to clear.
#[tokio::test]
#[cfg_attr(not(moto), ignore = "needs the AWS emulator: run scripts/test.sh")]
async fn moto_gaps_are_as_documented() {
    let (env, ids) = with_internal_router("moto_gaps").await;
    let b = &env.backend;
    let lb_key = ResourceKey::router_load_balancer(Router::Internal);

    // A second load balancer of the same name, other scheme: AWS says
    // DuplicateLoadBalancerName.
    let sg_key = ResourceKey::router_security_group(Router::Internal);
    let dup_lb = b
        .create_load_balancer(
            &lb_spec(&env, "test-internal", LbScheme::InternetFacing, sg_key),
            &ids.sg,
            &Tags::new(),
        )
        .await;
    // A second listener on port 80 with another default action: AWS says
    // DuplicateListener. (With the same settings AWS returns the existing one.)
    let dup_listener = b
        .create_listener(
            &ids.lb,
            &listener_spec(lb_key, 80, not_found("other"), None),
            None,
            &Tags::new(),
        )
        .await;
    // CREATE of an existing record: AWS says InvalidChangeBatch.
    let zone = b
        .create_hosted_zone(&zone_spec(&env, "test.convox"), &Tags::new())
        .await
        .unwrap();
    let create = RecordChange {
        action: RecordAction::Create,
        name: "a.test.convox".into(),
        target: ids.address.clone(),
        owner: "x".into(),
    };
    b.change_records(&zone, std::slice::from_ref(&create))
        .await
        .unwrap();
    let dup_record = b.change_records(&zone, std::slice::from_ref(&create)).await;
    // DELETE of a missing record: AWS says InvalidChangeBatch.
    let missing_record = b
        .change_records(
            &zone,
            &[RecordChange {
                action: RecordAction::Delete,
                name: "b.test.convox".into(),
                ..create
            }],
        )
        .await;
    // DELETE of a missing rule: AWS says RuleNotFound.
    let missing_rule = b
        .delete_rule(&format!(
            "{}/0123456789abcdef",
            ids.http.replace(":listener/", ":listener-rule/")
        ))
        .await;

    // Deleting a certificate a listener uses: AWS says ResourceInUseException.
    let sni = import_app_certificate(&env).await;
    b.add_listener_certificate(&ids.https, &sni).await.unwrap();
    let cert_in_use = b.delete_certificate(&sni).await;
    // Deleting a security group a load balancer uses: AWS says
    // DependencyViolation.
    let sg_in_use = b.delete_security_group(&ids.sg).await;

    let report = format!(
        "duplicate LB name: {:?}\nduplicate listener: {:?}\nCREATE existing record: {:?}\n\
         DELETE missing record: {:?}\nDELETE missing rule: {:?}\n\
         DELETE certificate in use: {:?}\nDELETE security group in use: {:?}",
        dup_lb.as_ref().map(|_| ()).map_err(|e| e.kind()),
        dup_listener.as_ref().map(|_| ()).map_err(|e| e.kind()),
        dup_record.as_ref().map_err(|e| e.kind()),
        missing_record.as_ref().map_err(|e| e.kind()),
        missing_rule.as_ref().map_err(|e| e.kind()),
        cert_in_use.as_ref().map_err(|e| e.kind()),
        sg_in_use.as_ref().map_err(|e| e.kind()),
    );
    eprintln!("{report}");
    // Gaps: moto accepts what AWS refuses.
    assert!(
        dup_lb.is_ok(),
        "moto now refuses duplicate LB names: clear no_duplicate_load_balancer_error in \
         {FLAGS_AT}\n{report}"
    );
    assert!(
        dup_listener.is_ok(),
        "moto now refuses duplicate listeners: clear no_duplicate_listener_error in \
         {FLAGS_AT}\n{report}"
    );
    // Not a flag of the suite's: it only ever deletes rules it observed.
    assert!(
        missing_rule.is_ok(),
        "moto now refuses to delete a missing rule:\n{report}"
    );
    assert!(
        cert_in_use.is_ok(),
        "moto now refuses to delete a certificate in use: clear no_certificate_in_use_error \
         in {FLAGS_AT}\n{report}"
    );
    assert!(
        sg_in_use.is_ok(),
        "moto now refuses to delete a security group in use: clear \
         no_security_group_in_use_error in {FLAGS_AT}\n{report}"
    );
    // moto refuses, but with InvalidInput ("found none in Change with
    // [Action=DELETE…"), where AWS sends InvalidChangeBatch, a conflict.
    assert_eq!(
        missing_record.unwrap_err().kind(),
        ErrorKind::InvalidInput,
        "moto now answers a DELETE of a missing record differently: see \
         missing_record_delete_not_conflict in {FLAGS_AT}\n{report}"
    );
    // Not a gap: moto refuses as AWS does, and the table maps it.
    assert_eq!(
        dup_record.unwrap_err().kind(),
        ErrorKind::Conflict,
        "{report}"
    );
    assert!(
        !Gaps::moto().no_duplicate_record_error,
        "moto refuses a CREATE of an existing record: the suite must check it there"
    );
}

async fn import_app_certificate(env: &MotoEnv) -> String {
    import_fixture(env, "app", "ca-fingerprint-1", &Tags::new())
        .await
        .unwrap()
}

/// The certificates-per-listener quota (the old note said moto had none; it
/// has one): AWS allows 25 certificates besides the default one, moto 25 in all,
/// the default included, and answers the 26th with TooManyCertificates. The
/// suite does not test this quota; this pins where moto draws the line.
#[tokio::test]
#[cfg_attr(not(moto), ignore = "needs the AWS emulator: run scripts/test.sh")]
async fn moto_counts_the_default_certificate_in_the_listener_quota() {
    let env = MotoEnv::new("moto_certificate_quota").await;
    let ids = make_internal_router(&env).await;
    for n in 1..=24 {
        let arn = import_app_certificate(&env).await;
        let added = env.backend.add_listener_certificate(&ids.https, &arn).await;
        assert!(
            added.is_ok(),
            "moto refuses certificate {n} besides the default ({:?}): its quota moved",
            added.map_err(|e| e.kind())
        );
    }
    let arn = import_app_certificate(&env).await;
    let refused = env.backend.add_listener_certificate(&ids.https, &arn).await;
    assert_eq!(
        refused.as_ref().map_err(|e| e.kind()).err(),
        Some(ErrorKind::QuotaExceeded),
        "moto now takes a 25th certificate besides the default ({refused:?}): it counts as AWS does"
    );
}

/// Every flag [`Gaps::moto`] sets has a row, and so a probe below; every row's
/// case is one of the suite's.
#[test]
fn every_declared_gap_is_probed() {
    assert_eq!(
        tabled(),
        Gaps::moto(),
        "a flag without a row, or a row without a flag"
    );
    let cases: Vec<&str> = conformance::cases().into_iter().map(|(n, _)| n).collect();
    for g in MOTO_GAPS {
        assert!(cases.contains(&g.case), "{}: no case {}", g.flag, g.case);
    }
    let mut probed = PROBED.to_vec();
    probed.sort_unstable();
    let mut rows: Vec<&str> = MOTO_GAPS.iter().map(|g| g.flag).collect();
    rows.sort_unstable();
    assert_eq!(probed, rows, "one probe per row");
}

/// Runs the row's case on moto with its flag cleared: it must fail, and as the
/// row says. Should it pass, moto has closed the gap.
async fn probe(flag: &str) {
    let row = gap(flag);
    let env = MotoEnv::new(&format!("gap_{flag}")).await;
    let mut gaps = Gaps::moto();
    (row.set)(&mut gaps, false);
    let ctx = env.conformance(gaps);
    let (_, case) = conformance::cases()
        .into_iter()
        .find(|(n, _)| *n == row.case)
        .unwrap_or_else(|| panic!("no case {}", row.case));
    match case(&env.backend, &ctx).await {
        Err(e) => assert!(
            e.contains(row.breaks),
            "{} failed on moto without {flag}, but not as the row says ({}):\n{e}",
            row.case,
            row.breaks
        ),
        Ok(outcome) => panic!(
            "{} ended {outcome:?} on moto without {flag}: moto no longer has this gap. \
             Clear {flag} in {FLAGS_AT} and remove its row from tests/support/gaps.rs",
            row.case
        ),
    }
}

macro_rules! probes {
    ($($flag:ident),* $(,)?) => {
        const PROBED: &[&str] = &[$(stringify!($flag)),*];
        $(
            #[tokio::test]
            #[cfg_attr(not(moto), ignore = "needs the AWS emulator: run scripts/test.sh")]
            async fn $flag() {
                probe(stringify!($flag)).await;
            }
        )*
    };
}

probes! {
    no_duplicate_load_balancer_error,
    no_duplicate_listener_error,
    missing_record_delete_not_conflict,
    no_rule_quota,
    no_certificate_in_use_error,
    no_security_group_in_use_error,
}
