//! Day-2 safety on the mock, end to end: routine rack changes replace nothing,
//! a router's replacement is refused unless allowed (and then moves every app),
//! one app's drift never fails another, and every deploy restores the routers'
//! security invariants.

mod common;

use common::{fresh, internal_rack, issuer_fingerprint, name, stored_rack, web_service};
use convox_mock::MockBackend;
use convox_model::apply::ApplyContext;
use convox_model::backend::Backend;
use convox_model::manifest::Manifest;
use convox_model::observe::observe_all;
use convox_model::ops::{self, OpsError, RackApplyOptions, RackChange};
use convox_model::params::RackParams;
use convox_model::plan::Op;
use convox_model::rack::{Rack, Vpc};
use convox_model::resource::{
    IngressRule, LoadBalancerSpec, Observed, ResourceKey, ResourceKind, ResourceSpec as Spec,
    SecurityGroupSpec, Tags,
};

const VPC_CIDR: &str = "10.0.0.0/16";

/// The rack as typed by its creator: subnets in another order than AWS lists them.
fn settings() -> Rack {
    Rack {
        name: name("production"),
        region: "us-east-1".into(),
        vpc: Vpc {
            id: "vpc-1".into(),
            cidr: VPC_CIDR.into(),
        },
        subnets: vec!["subnet-b".into(), "subnet-a".into()],
        router_host: "production.example.com".into(),
        params: RackParams::default(),
        ca: None,
        external_certificate: None,
    }
}

fn backend_app() -> Manifest {
    Manifest::from_services(vec![
        web_service("api", true, false),
        web_service("web", false, false),
    ])
}

fn shop_app() -> Manifest {
    Manifest::from_services(vec![
        web_service("store", true, false),
        web_service("front", false, false),
    ])
}

/// A rack with both routers and two apps deployed, each with an internal and
/// an external service: the mock, the context, the rack and its authority's
/// fingerprint.
async fn world() -> (MockBackend, ApplyContext, Rack, String) {
    let (mock, _clock, ctx) = fresh();
    let rack = internal_rack(&mock, &settings(), &ctx).await;
    for (app, m) in [("backend", backend_app()), ("shop", shop_app())] {
        ops::deploy(&mock, &rack, &name(app), &m, &ctx)
            .await
            .expect("deploy");
    }
    let fp = issuer_fingerprint(&ctx);
    (mock, ctx, rack, fp)
}

async fn observed(mock: &MockBackend) -> Vec<Observed> {
    observe_all(mock, &name("production"))
        .await
        .expect("observe")
}

fn find<'a>(observed: &'a [Observed], key: &str) -> &'a Observed {
    observed
        .iter()
        .find(|o| o.resource.key.as_str() == key)
        .unwrap_or_else(|| panic!("{key} is observed"))
}

fn lb(o: &Observed) -> &LoadBalancerSpec {
    match &o.resource.spec {
        Spec::LoadBalancer(lb) => lb,
        other => panic!("not a load balancer: {other:?}"),
    }
}

fn sg(o: &Observed) -> &SecurityGroupSpec {
    match &o.resource.spec {
        Spec::SecurityGroup(sg) => sg,
        other => panic!("not a security group: {other:?}"),
    }
}

const INTERNAL_LB: &str = "router/internal/alb";
const EXTERNAL_LB: &str = "router/external/alb";
const INTERNAL_SG: &str = "router/internal/sg";

async fn plan_is_empty(mock: &MockBackend, rack: &Rack, app: &str, m: &Manifest, fp: &str) {
    let p = ops::plan_app(mock, rack, &name(app), m, fp)
        .await
        .expect("plan");
    assert!(p.is_empty(), "{app}'s plan is not empty:\n{p}");
}

/// `rack params set` with no assignments but `options` (`--subnets`, `--yes`).
async fn set_rack_options(
    mock: &MockBackend,
    rack: &Rack,
    ctx: &ApplyContext,
    options: RackApplyOptions,
) -> Result<RackChange, OpsError> {
    ops::set_rack_params_with(mock, rack, &[], ctx, &options).await
}

/// The options that move the routers to `subnets`.
fn subnets(subnets: &[String]) -> RackApplyOptions {
    RackApplyOptions {
        subnets: Some(subnets.to_vec()),
        ..RackApplyOptions::default()
    }
}

#[tokio::test]
async fn reordered_subnets_replace_nothing_and_a_new_one_changes_the_routers_in_place() {
    let (mock, ctx, rack, fp) = world().await;
    let before = observed(&mock).await;
    let arns = (
        find(&before, INTERNAL_LB).id.clone(),
        find(&before, EXTERNAL_LB).id.clone(),
    );

    // The same subnets, typed in the order AWS lists them: nothing to do.
    let same = ["subnet-a".to_string(), "subnet-b".to_string()];
    let p = ops::plan_rack(&mock, &rack, &[], Some(&same), &fp)
        .await
        .expect("plan");
    assert!(p.is_empty(), "{p}");
    mock.reset_calls();
    let change = set_rack_options(&mock, &rack, &ctx, subnets(&same))
        .await
        .expect("same subnets");
    assert!(change.plan.is_empty(), "{}", change.plan);
    // Only the settings are saved.
    assert_eq!(mock.calls().mutations, 1, "{:?}", mock.calls());

    // A new availability zone: both routers change in place, nothing else.
    let more = ["subnet-c", "subnet-a", "subnet-b"].map(String::from);
    let change = set_rack_options(&mock, &rack, &ctx, subnets(&more))
        .await
        .expect("a new subnet");
    let ops: Vec<(Op, &str)> = change
        .plan
        .actions
        .iter()
        .map(|a| (a.op, a.key.as_str()))
        .collect();
    assert_eq!(
        ops,
        [(Op::Update, EXTERNAL_LB), (Op::Update, INTERNAL_LB)],
        "{}",
        change.plan
    );
    assert_eq!(mock.calls().of("SetSubnets"), 2);
    let after = observed(&mock).await;
    assert_eq!(
        (
            find(&after, INTERNAL_LB).id.clone(),
            find(&after, EXTERNAL_LB).id.clone()
        ),
        arns,
        "the routers keep their ARNs"
    );
    let abc = ["subnet-a", "subnet-b", "subnet-c"].map(String::from);
    assert_eq!(lb(find(&after, INTERNAL_LB)).subnets, abc);
    let rack = stored_rack(&mock).await;
    assert_eq!(rack.subnets, abc, "the new subnets are saved");
    for (app, m) in [("backend", backend_app()), ("shop", shop_app())] {
        plan_is_empty(&mock, &rack, app, &m, &fp).await;
    }
    let p = ops::plan_rack(&mock, &rack, &[], None, &fp)
        .await
        .expect("plan");
    assert!(p.is_empty(), "{p}");
}

#[tokio::test]
async fn an_internal_router_opened_by_hand_is_closed_by_the_next_deploy_of_any_app() {
    let (mock, ctx, rack, fp) = world().await;

    // Someone opens the internal router's group to the internet.
    let o = observed(&mock).await;
    let group = find(&o, INTERNAL_SG);
    let mut opened = sg(group).clone();
    opened.ingress.push(IngressRule {
        protocol: "tcp".into(),
        port: 443,
        cidr: "0.0.0.0/0".into(),
    });
    mock.update_security_group(&group.id, &opened)
        .await
        .expect("open");

    // Every app's plan shows the repair, and the rack's plan too.
    let p = ops::plan_app(&mock, &rack, &name("shop"), &shop_app(), &fp)
        .await
        .expect("plan");
    assert!(
        p.actions
            .iter()
            .any(|a| a.op == Op::Update && a.key.as_str() == INTERNAL_SG),
        "{p}"
    );
    let p = ops::plan_rack(&mock, &rack, &[], None, &fp)
        .await
        .expect("plan");
    assert_eq!(p.actions.len(), 1, "{p}");

    ops::deploy(&mock, &rack, &name("shop"), &shop_app(), &ctx)
        .await
        .expect("deploy shop");
    let o = observed(&mock).await;
    let cidrs: Vec<&str> = sg(find(&o, INTERNAL_SG))
        .ingress
        .iter()
        .map(|r| r.cidr.as_str())
        .collect();
    assert_eq!(cidrs, [VPC_CIDR, VPC_CIDR], "closed again");
    plan_is_empty(&mock, &rack, "backend", &backend_app(), &fp).await;
}

#[tokio::test]
async fn an_extra_security_group_on_a_router_is_seen_and_removed_by_the_next_deploy() {
    let (mock, ctx, rack, _) = world().await;

    // Someone attaches a group of their own to the internal router.
    let o = observed(&mock).await;
    let ours = find(&o, INTERNAL_SG).id.clone();
    let arn = find(&o, INTERNAL_LB).id.clone();
    let theirs = mock
        .create_security_group(
            &SecurityGroupSpec {
                name: "wide-open".into(),
                description: "someone's".into(),
                vpc_id: "vpc-1".into(),
                ingress: vec![IngressRule {
                    protocol: "tcp".into(),
                    port: 22,
                    cidr: "0.0.0.0/0".into(),
                }],
            },
            &Tags::new(),
        )
        .await
        .expect("their group");
    mock.set_load_balancer_security_groups(&arn, &[theirs.clone(), ours.clone()])
        .await
        .expect("attach");
    let o = observed(&mock).await;
    let spec = lb(find(&o, INTERNAL_LB));
    assert_eq!(spec.security_group.as_str(), INTERNAL_SG);
    assert_eq!(
        spec.other_security_groups,
        [ResourceKey::from_raw(theirs.clone())],
        "observe reads every group"
    );

    ops::deploy(&mock, &rack, &name("backend"), &backend_app(), &ctx)
        .await
        .expect("deploy backend");
    let o = observed(&mock).await;
    let spec = lb(find(&o, INTERNAL_LB));
    assert!(spec.other_security_groups.is_empty(), "{spec:?}");
    assert_eq!(find(&o, INTERNAL_LB).id, arn, "changed in place");
    // Theirs is detached, never deleted.
    assert!(mock.to_json().expect("state").contains(&theirs));
}

/// The observed rule of `app`'s `service` on the internal router.
fn internal_rule<'a>(o: &'a [Observed], app: &str, service: &str) -> &'a Observed {
    find(o, &format!("app/{app}/{service}/internal/rule"))
}

/// Shop's deploy and a change of the rack both succeed beside `drift` in
/// backend's resources.
async fn others_go_ahead(mock: &MockBackend, rack: &Rack, ctx: &ApplyContext, drift: &str) {
    ops::deploy(mock, rack, &name("shop"), &shop_app(), ctx)
        .await
        .unwrap_or_else(|e| panic!("shop deploys beside {drift}: {e}"));
    ops::set_rack_params(mock, rack, &[], ctx)
        .await
        .unwrap_or_else(|e| panic!("the rack changes beside {drift}: {e}"));
}

#[tokio::test]
async fn another_apps_drifted_rule_never_fails_a_deploy_and_its_own_deploy_repairs_it() {
    let (mock, ctx, rack, fp) = world().await;

    // Someone edits backend's internal rule to a name no certificate covers.
    let o = observed(&mock).await;
    let rule = internal_rule(&o, "backend", "api");
    let Spec::ListenerRule(mut spec) = rule.resource.spec.clone() else {
        panic!("a rule");
    };
    spec.hosts = vec!["api.elsewhere.example.org".into()];
    let tg = find(&o, "app/backend/api/internal/tg").id.clone();
    mock.modify_rule(&rule.id, &spec, &tg).await.expect("edit");

    // Another app's deploy and the rack's change go ahead.
    others_go_ahead(&mock, &rack, &ctx, "backend's drift").await;

    // Backend's own plan shows the repair and its deploy makes it.
    let p = ops::plan_app(&mock, &rack, &name("backend"), &backend_app(), &fp)
        .await
        .expect("plan backend");
    assert!(!p.is_empty());
    ops::deploy(&mock, &rack, &name("backend"), &backend_app(), &ctx)
        .await
        .expect("backend repairs its rule");
    plan_is_empty(&mock, &rack, "backend", &backend_app(), &fp).await;
}

#[tokio::test]
async fn another_apps_detached_certificate_never_fails_a_deploy_and_its_own_deploy_repairs_it() {
    let (mock, ctx, rack, fp) = world().await;

    let o = observed(&mock).await;
    let listener = find(&o, "router/internal/listener/443").id.clone();
    // Issue 9: the internal load balancer's shared certificate covers it.
    let cert = find(&o, "router/internal/cert/1").id.clone();
    mock.remove_listener_certificate(&listener, &cert)
        .await
        .expect("detach");

    others_go_ahead(&mock, &rack, &ctx, "backend's detached certificate").await;
    ops::deploy(&mock, &rack, &name("backend"), &backend_app(), &ctx)
        .await
        .expect("backend re-attaches its certificate");
    plan_is_empty(&mock, &rack, "backend", &backend_app(), &fp).await;
    let o = observed(&mock).await;
    assert!(o.iter().any(
        |x| x.resource.spec.kind() == ResourceKind::ListenerCertificate
            && x.resource.key.as_str() == "router/internal/cert/1/attachment"
    ));
}

#[tokio::test]
async fn a_router_replacement_is_refused_without_leave_and_moves_every_app_with_it() {
    let (mock, ctx, rack, fp) = world().await;

    // The internal router's scheme is not what it should be: only a new load
    // balancer can fix that.
    let o = observed(&mock).await;
    let old = find(&o, INTERNAL_LB).id.clone();
    let mut state: serde_json::Value =
        serde_json::from_str(&mock.to_json().expect("state")).expect("json");
    state["load_balancers"][&old]["scheme"] = "internet-facing".into();
    mock.load_json(&state.to_string()).expect("load");

    let p = ops::plan_rack(&mock, &rack, &[], None, &fp)
        .await
        .expect("plan");
    assert_eq!(
        ops::replaced_routers(&p),
        [ResourceKey::from_raw(INTERNAL_LB)]
    );
    let before = mock.to_json().expect("state");
    let err = ops::set_rack_params(&mock, &rack, &[], &ctx)
        .await
        .expect_err("refused");
    assert!(matches!(err, OpsError::ReplacesRouters { .. }), "{err}");
    assert!(err.to_string().contains("--yes"), "{err}");
    assert_eq!(mock.to_json().expect("state"), before, "nothing changed");

    // Allowed: the router is replaced and every app's routing moves with it.
    let yes = RackApplyOptions {
        replace_routers: true,
        ..RackApplyOptions::default()
    };
    set_rack_options(&mock, &rack, &ctx, yes)
        .await
        .expect("replaced");
    let o = observed(&mock).await;
    let new = find(&o, INTERNAL_LB);
    assert_ne!(new.id, old);
    let address = new.address.clone().expect("address");
    // Every app's plan is empty: rules, attachments and records are all on the
    // new router.
    for (app, m) in [("backend", backend_app()), ("shop", shop_app())] {
        plan_is_empty(&mock, &rack, app, &m, &fp).await;
    }
    // No record aliases the deleted load balancer.
    let state = mock.to_json().expect("state");
    assert!(!state.contains(&old), "something still names {old}");
    assert!(state.contains(&address.dns_name));
    let p = ops::plan_rack(&mock, &rack, &[], None, &fp)
        .await
        .expect("plan");
    assert!(p.is_empty(), "{p}");
}
