//! What a deploy costs in requests to AWS (issue 10), counted by the backend at
//! the wire (every attempt, every page): a no-op redeploy of a five-service
//! app on a rack of one app, of ten, and of ten in an account that also holds
//! 300 target groups and 30 certificates that are not the rack's. The
//! account's other resources must cost nothing: the rack's target groups and
//! certificates are found by their tags (the Resource Groups Tagging API), its
//! zone by its name, never by reading the tags of everything in the region.

use std::sync::Arc;
use std::time::Duration;

use convox_aws::{AwsBackend, CallCounts};
use convox_model::apply::{ApplyContext, SleepFn};
use convox_model::backend::Backend;
use convox_model::conformance::{five_services, someone_elses};
use convox_model::manifest::Manifest;
use convox_model::ops;
use convox_model::params::RackParams;
use convox_model::rack::Rack;
use convox_model::tls::CertificateAuthority;

use crate::support::{MotoEnv, issued, name, now};

/// Five services: three internal, two external.
fn manifest() -> Manifest {
    five_services(3000)
}

/// A rack with both routers on `env`, and a context that issues with its
/// authority.
fn both_routers(env: &MotoEnv) -> (Rack, ApplyContext) {
    let rack = env.rack_config(RackParams::new(true, false).unwrap());
    let sleep: SleepFn = Arc::new(|d: Duration| Box::pin(tokio::time::sleep(d)));
    let ca = CertificateAuthority::generate(&env.rack, now()).unwrap();
    let c = ApplyContext::new(env.rack.clone(), now(), sleep).with_issuer(Arc::new(ca));
    (rack, c)
}

/// Requests of one no-op redeploy of `app`; none may change anything.
async fn redeploy(b: &AwsBackend, rack: &Rack, app: &str, c: &ApplyContext) -> CallCounts {
    redeploy_of(b, rack, (app, &manifest()), c).await
}

/// Requests of one no-op redeploy of `app` with `manifest`; none may change
/// anything (the router pools' test asks it of every app too).
pub(crate) async fn redeploy_of(
    b: &AwsBackend,
    rack: &Rack,
    (app, manifest): (&str, &Manifest),
    c: &ApplyContext,
) -> CallCounts {
    b.reset_calls();
    let again = ops::deploy(b, rack, &name(app), manifest, c)
        .await
        .unwrap_or_else(|e| panic!("redeploy {app}: {e}"));
    let calls = b.calls();
    assert!(again.plan.is_empty(), "redeploy {app}: {}", again.plan);
    assert_eq!(
        calls.mutating(),
        0,
        "redeploy {app}: {:?}",
        calls.mutating_operations()
    );
    calls
}

#[tokio::test]
#[cfg_attr(not(moto), ignore = "needs the AWS emulator: run scripts/test.sh")]
async fn a_no_op_redeploy_costs_the_same_whatever_else_the_account_holds() {
    let env = MotoEnv::new("deploy_cost").await;
    let b = &env.backend;
    let (rack, c) = both_routers(&env);

    ops::deploy(b, &rack, &name("app0"), &manifest(), &c)
        .await
        .unwrap();
    let one = redeploy(b, &rack, "app0", &c).await;
    for i in 1..10 {
        ops::deploy(b, &rack, &name(&format!("app{i}")), &manifest(), &c)
            .await
            .unwrap();
    }
    let ten = redeploy(b, &rack, "app0", &c).await;
    someone_elses(b, &env.vpc.id, "payments", (300, 30), issued).await;
    let crowded = redeploy(b, &rack, "app0", &c).await;
    eprintln!(
        "no-op redeploy of a 5-service app: {} requests on a rack of 1 app, {} of 10, {} of 10 \
         beside 300 foreign target groups and 30 foreign certificates\n  1 app: {:?}\n  10 apps: {:?}\n  crowded: {:?}",
        one.total(),
        ten.total(),
        crowded.total(),
        one.by_operation,
        ten.by_operation,
        crowded.by_operation,
    );
    // Nothing of the account's other resources is read, one by one or in
    // batches: the same requests, operation by operation.
    assert_eq!(crowded, ten, "the foreign resources cost requests");
    // The bound, on AWS's API. One gap of moto's costs a request more
    // here: its ListCertificates gives no SubjectAlternativeNameSummaries, so
    // the backend asks DescribeCertificate for the names of the internal load
    // balancer's shared certificate, which AWS lists. The day moto lists
    // them, the first assertion fails and the second can say 15 outright.
    for calls in [&one, &ten, &crowded] {
        let moto_gap = calls.get("DescribeCertificate");
        assert_eq!(moto_gap, 1, "one shared certificate's names: {calls:?}");
        assert!(calls.total() - moto_gap <= 15, "{calls:?}");
    }
    assert_eq!(one, ten, "the rack's other apps cost requests");
    // No certificate's tags are read on their own, and no target group's:
    // the index gives them.
    for op in ["ListTagsForCertificate", "ListHostedZones"] {
        assert_eq!(crowded.get(op), 0, "{op}: {crowded:?}");
    }
    // A one-service change (a new port) costs the minimum: the reads of the
    // no-op, and one request per resource it changes.
    let change = changed(b, &rack, "app0", &c).await;
    assert_eq!(
        change.total() - change.mutating(),
        crowded.total(),
        "a change reads more than a no-op: {change:?}"
    );
}

/// Requests of a one-service change of `app` (its first service's port, so a
/// new target group, the rule replaced onto it, the old group deleted).
async fn changed(b: &AwsBackend, rack: &Rack, app: &str, c: &ApplyContext) -> CallCounts {
    b.reset_calls();
    let report = ops::deploy(b, rack, &name(app), &five_services(3001), c)
        .await
        .unwrap_or_else(|e| panic!("change {app}: {e}"));
    assert!(!report.plan.is_empty(), "change {app}: nothing to do");
    b.calls()
}

/// The figures the issue asks for at a larger scale: a rack of 100 apps (500
/// services, so several load balancers in each router's pool) beside 1,000
/// foreign target groups and 100 foreign certificates; a no-op redeploy, and
/// a one-service change (a new port: a new target group, the rule moved to
/// it, the old group deleted). Printed for the README; what grows is the
/// rack's pools (every rule on their listeners is read), not the app or the
/// account, and the change costs no read more than the no-op.
#[tokio::test]
#[cfg_attr(not(moto), ignore = "needs the AWS emulator: run scripts/test.sh")]
async fn a_deploy_on_a_rack_of_100_apps_costs_what_its_pools_hold() {
    let env = MotoEnv::new("deploy_cost_100").await;
    let b = &env.backend;
    let (rack, c) = both_routers(&env);
    for i in 0..100 {
        ops::deploy(b, &rack, &name(&format!("app{i}")), &manifest(), &c)
            .await
            .unwrap_or_else(|e| panic!("deploy app{i}: {e}"));
    }
    let hundred = redeploy(b, &rack, "app0", &c).await;
    someone_elses(b, &env.vpc.id, "payments", (1000, 100), issued).await;
    let crowded = redeploy(b, &rack, "app0", &c).await;
    assert_eq!(crowded, hundred, "the foreign resources cost requests");
    let load_balancers = b
        .observe(&env.rack, &convox_model::resource::Scope::Rack)
        .await
        .unwrap()
        .iter()
        .filter(|o| o.resource.key.subject().shard().is_some())
        .filter(|o| {
            matches!(
                o.resource.spec,
                convox_model::resource::ResourceSpec::LoadBalancer(_)
            )
        })
        .count();
    let change = changed(b, &rack, "app0", &c).await;
    eprintln!(
        "rack of 100 apps ({load_balancers} load balancers): a no-op redeploy of a 5-service app \
         costs {} requests ({} beside 1,000 foreign target groups and 100 foreign certificates); \
         a one-service change {} ({} mutating)\n  no-op: {:?}\n  change: {:?}",
        hundred.total(),
        crowded.total(),
        change.total(),
        change.mutating(),
        hundred.by_operation,
        change.by_operation,
    );
    // The change reads what the no-op reads, and nothing of the rest of the
    // rack: the minimum, whatever the rack holds.
    assert_eq!(
        change.total() - change.mutating(),
        hundred.total(),
        "{change:?}"
    );
    // Deleting the app reads the same scope, and nothing of the rest of the
    // rack: before its deletes, after them, to check the plan of its name's
    // leaving the shared certificate (a re-import races other deploys'), and
    // after.
    b.reset_calls();
    let (deleted, _) = ops::delete_app(b, &rack, &name("app0"), &c)
        .await
        .expect("delete app0");
    let delete = b.calls();
    eprintln!(
        "deleting the app: {} requests ({} mutating, {} actions)\n  {:?}",
        delete.total(),
        delete.mutating(),
        deleted.actions.len(),
        delete.by_operation
    );
    assert!(
        delete.total() - delete.mutating() <= 4 * hundred.total(),
        "{delete:?}"
    );
}
