//! The planner's renewals (issue 12), pure: what is due is renewed in place
//! whatever else changes, an issuer change is a make-before-break replacement,
//! and nothing is renewed without a time.

#![allow(clippy::unwrap_used)]

#[path = "common/world.rs"]
mod common;

use common::*;
use convox_model::desired::desired_app;
use convox_model::plan::Op;
use convox_model::renew::{DAY, Renewal, date};
use convox_model::resource::{Observed, ResourceKey, ResourceKind, ResourceSpec};

const T0: i64 = 1_750_000_000;

/// The rack and app `backend` (an internal and external service) as they would
/// be observed, every certificate issued at t0.
fn world() -> Vec<Observed> {
    let r = rack(true, false);
    let obs = rack_observed(&r);
    let d = app_desired(&r, "backend", vec![svc("api", Some(3000), true, true)]);
    let mut obs = observe_after(&obs, &plan_app("backend", &d, &obs));
    for o in &mut obs {
        if matches!(o.resource.spec, ResourceSpec::Certificate(_)) {
            o.not_after = Some(T0 + 397 * DAY);
        }
    }
    obs
}

fn app_plan(obs: &[Observed], ca: &str, renewal: Option<Renewal>) -> convox_model::plan::Plan {
    let r = rack(true, false);
    let m = manifest(vec![svc("api", Some(3000), true, true)]);
    let mut d = desired_app(&r, &n("backend"), &m, ca).unwrap();
    if let Some(renewal) = renewal {
        d = d.renewing(renewal);
    }
    plan_app("backend", &d, obs)
}

#[test]
fn a_certificate_is_due_within_the_window_and_renewed_in_place() {
    let obs = world();
    let cert = ResourceKey::app_certificate(&n("backend"));
    assert!(app_plan(&obs, "ca", None).is_empty());
    assert!(app_plan(&obs, "ca", Some(Renewal::at(T0 + 366 * DAY))).is_empty());

    let p = app_plan(&obs, "ca", Some(Renewal::at(T0 + 367 * DAY)));
    assert_eq!(p.actions.len(), 1, "{p}");
    let a = &p.actions[0];
    assert_eq!(
        (a.op, a.kind, &a.key),
        (Op::Update, ResourceKind::Certificate, &cert)
    );
    assert!(a.is_renewal() && !a.creates_before_deleting());
    assert_eq!(
        a.reason.as_deref(),
        Some(format!("it expires on {}, within 30 days", date(T0 + 397 * DAY)).as_str())
    );
    assert!(
        p.to_string().contains(&format!(
            "  ~ renew certificate app/backend/cert (expires {})\n",
            date(T0 + 397 * DAY)
        )),
        "{p}"
    );

    // Expired, and a window of its own.
    let p = app_plan(&obs, "ca", Some(Renewal::at(T0 + 500 * DAY)));
    assert_eq!(
        p.actions[0].reason.as_deref(),
        Some(format!("it expired on {}", date(T0 + 397 * DAY)).as_str())
    );
    let early = Renewal::at(T0 + 300 * DAY).with_renew_before(100 * DAY);
    assert!(app_plan(&obs, "ca", Some(early)).actions[0].is_renewal());
}

#[test]
fn a_renewal_is_planned_whatever_else_changes() {
    let obs = world();
    let r = rack(true, false);
    // Another service too: the renewal comes with the creates.
    let m = manifest(vec![
        svc("api", Some(3000), true, true),
        svc("web", Some(3000), false, false),
    ]);
    let d = desired_app(&r, &n("backend"), &m, "ca")
        .unwrap()
        .renewing(Renewal::at(T0 + 380 * DAY));
    let p = plan_app("backend", &d, &obs);
    assert_eq!(
        p.actions.iter().filter(|a| a.is_renewal()).count(),
        1,
        "{p}"
    );
    assert!(p.actions.iter().any(|a| a.op == Op::Create), "{p}");
}

/// A new issuer (the rack's authority rotated) re-issues the certificate in
/// place, over its ARN: its attachment stays, so a rotation needs no free
/// certificate slot on a full listener.
#[test]
fn an_issuer_change_reissues_in_place_and_keeps_the_attachment() {
    let obs = world();
    for renewal in [None, Some(Renewal::at(T0 + 380 * DAY))] {
        let p = app_plan(&obs, "another-ca", renewal);
        let ops: Vec<(Op, &str)> = p.actions.iter().map(|a| (a.op, a.key.as_str())).collect();
        assert_eq!(ops, [(Op::Update, "app/backend/cert")], "{p}");
        let fields: Vec<&str> = p.actions[0]
            .changes
            .iter()
            .map(|c| c.field.as_str())
            .collect();
        assert!(fields.contains(&"issuer"), "{p}");
        assert!(
            p.actions[0].changes.iter().all(|c| !c.forces_replacement),
            "{p}"
        );
    }
}

#[test]
fn a_certificate_whose_validity_is_unknown_is_never_due() {
    let mut obs = world();
    for o in &mut obs {
        o.not_after = None;
    }
    assert!(app_plan(&obs, "ca", Some(Renewal::at(T0 + 900 * DAY))).is_empty());
}
