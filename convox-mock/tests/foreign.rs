//! Foreign resources are obstacles, never victims, and operators can work at
//! once (issue 8): a foreign rule on our listener keeps its priority, a copy of
//! our tags deletes nothing, and deploys of different apps at the same moment on
//! one backend all succeed without a rerun.

mod common;

use std::time::Duration;

use common::{
    fresh, internal_rack, issuer_fingerprint, name, production as settings, production_ctx as ctx,
};
use convox_mock::{MockBackend, VirtualClock};
use convox_model::apply::ApplyContext;
use convox_model::backend::Backend;
use convox_model::conformance::fake_certificate;
use convox_model::exposure::Router;
use convox_model::manifest::{Manifest, Port, Scheme, Service};
use convox_model::name::Name;
use convox_model::observe::observe_all;
use convox_model::ops::{self, OpsError};
use convox_model::plan::{PlanError, duplicate_claims};
use convox_model::rack::Rack;
use convox_model::resource::{
    CertificateSpec, ListenerRuleSpec, Observed, ResourceKey, ResourceSpec as Spec, Tags,
    TargetGroupSpec,
};

/// One internal service `api` on port 3000.
fn internal_app() -> Manifest {
    let mut s = Service::with_defaults(name("api"));
    s.port = Some(Port {
        port: 3000,
        scheme: Scheme::Http,
    });
    s.exposure = convox_model::manifest::Exposure::from_flags(true, false);
    Manifest::from_services(vec![s])
}

/// A rack with the internal router, and `app` deployed on it.
async fn rack_with(b: &dyn Backend, app: &str, ctx: &ApplyContext) -> Rack {
    let rack = internal_rack(b, &settings(), ctx).await;
    ops::deploy(b, &rack, &name(app), &internal_app(), ctx)
        .await
        .expect("first deploy");
    rack
}

fn find<'o>(observed: &'o [Observed], key: &ResourceKey) -> &'o Observed {
    observed
        .iter()
        .find(|o| o.resource.key == *key)
        .unwrap_or_else(|| panic!("{key} is observed"))
}

fn rule_of(o: &Observed) -> &ListenerRuleSpec {
    match &o.resource.spec {
        Spec::ListenerRule(r) => r,
        other => panic!("not a rule: {other:?}"),
    }
}

fn api_rule(app: &str) -> ResourceKey {
    ResourceKey::listener_rule(&name(app), &name("api"), Router::Internal)
}

fn api_tg(app: &str) -> ResourceKey {
    ResourceKey::target_group(&name(app), &name("api"), Router::Internal)
}

/// A rule made by hand, with no tags, on the internal 443 listener at
/// `priority`, forwarding to a target group made by hand too.
async fn foreign_rule(mock: &MockBackend, observed: &[Observed], priority: u32) -> String {
    let listener = find(
        observed,
        &ResourceKey::router_listener(Router::Internal, 443),
    );
    let tg = mock
        .create_target_group(
            &TargetGroupSpec {
                name: "by-hand".into(),
                protocol: convox_model::resource::Protocol::Http,
                port: 8080,
                vpc_id: "vpc-1".into(),
                health: convox_model::resource::HealthCheck {
                    path: "/".into(),
                    interval: 5,
                    timeout: 4,
                },
            },
            &Tags::new(),
        )
        .await
        .expect("a target group by hand");
    let spec = ListenerRuleSpec {
        listener: listener.resource.key.clone(),
        priority: Some(priority),
        hosts: vec!["hand.production.convox".into()],
        target_group: ResourceKey::from_raw("by-hand"),
    };
    mock.create_rule(&listener.id, &spec, &tg, &Tags::new())
        .await
        .expect("a rule by hand")
}

#[tokio::test]
async fn a_new_app_deploys_beside_a_foreign_rule_at_the_next_free_priority() {
    let (mock, _clock, ctx) = fresh();
    let rack = rack_with(&mock, "backend", &ctx).await;
    let before = observe_all(&mock, &rack.name).await.expect("observe");
    let ours = rule_of(find(&before, &api_rule("backend"))).priority;
    assert_eq!(ours, Some(1));

    // Someone takes priority 2, the one the next app would get.
    let hand = foreign_rule(&mock, &before, 2).await;
    let seen = observe_all(&mock, &rack.name).await.expect("observe");
    let obstacle = find(&seen, &ResourceKey::foreign_rule(&hand)).clone();
    assert_eq!(rule_of(&obstacle).priority, Some(2));

    let report = ops::deploy(&mock, &rack, &name("shop"), &internal_app(), &ctx)
        .await
        .expect("a deploy beside a foreign rule");
    assert!(report.plan.actions.iter().all(|a| !a.key.is_foreign()));
    let after = observe_all(&mock, &rack.name).await.expect("observe");
    assert_eq!(rule_of(find(&after, &api_rule("shop"))).priority, Some(3));
    // The foreign rule is exactly as it was; the first app's plan is empty.
    assert_eq!(find(&after, &ResourceKey::foreign_rule(&hand)), &obstacle);
    let again = ops::plan_app(
        &mock,
        &rack,
        &name("backend"),
        &internal_app(),
        &issuer_fingerprint(&ctx),
    )
    .await
    .expect("plan");
    assert!(again.is_empty(), "{again}");
    // A rack change leaves it alone too.
    let change = ops::set_rack_params(&mock, &settings(), &["Internal=Yes"], &ctx)
        .await
        .expect("rack params set");
    assert!(change.plan.is_empty(), "{}", change.plan);
    let last = observe_all(&mock, &rack.name).await.expect("observe");
    assert_eq!(find(&last, &ResourceKey::foreign_rule(&hand)), &obstacle);
}

#[tokio::test]
async fn a_foreign_target_group_with_copied_tags_survives_deploys_and_app_deletes() {
    let (mock, _clock, ctx) = fresh();
    let rack = rack_with(&mock, "backend", &ctx).await;
    let before = observe_all(&mock, &rack.name).await.expect("observe");
    let ours = find(&before, &api_tg("backend")).clone();
    let Spec::TargetGroup(spec) = &ours.resource.spec else {
        panic!("a target group");
    };
    // A copy: someone else's group, carrying our tags word for word.
    let copy = TargetGroupSpec {
        name: "copied-tags".into(),
        ..spec.clone()
    };
    let theirs = mock
        .create_target_group(&copy, &ours.resource.tags)
        .await
        .expect("a copy");

    let claims = duplicate_claims(&observe_all(&mock, &rack.name).await.expect("observe"));
    assert_eq!(claims.len(), 1);
    assert_eq!(claims[0].key, api_tg("backend"));
    assert_eq!(claims[0].kept.as_deref(), Some(ours.id.as_str()));
    assert_eq!(claims[0].others, std::slice::from_ref(&theirs));
    assert_eq!(claims[0].ids(), [ours.id.as_str(), theirs.as_str()]);

    let report = ops::deploy(&mock, &rack, &name("backend"), &internal_app(), &ctx)
        .await
        .expect("a redeploy beside the copy");
    assert!(report.plan.is_empty(), "{}", report.plan);
    assert_eq!(report.plan.duplicate_claims, claims);
    assert!(
        report.plan.to_string().ends_with(&format!(
            "Note: target group app/backend/api/internal/tg is also claimed by {theirs} (tags copied; convox's is {}); left untouched\n",
            ours.id
        )),
        "{}",
        report.plan
    );
    let shop = ops::deploy(&mock, &rack, &name("shop"), &internal_app(), &ctx)
        .await
        .expect("another app beside the copy");
    assert!(
        shop.plan
            .actions
            .iter()
            .all(|a| a.key.app() == Some("shop"))
    );

    // Deleting the app deletes ours and leaves theirs.
    let (p, _) = ops::delete_app(&mock, &rack, &name("backend"), &ctx)
        .await
        .expect("delete app");
    let deleted: Vec<&str> = p
        .actions
        .iter()
        .filter_map(|a| a.current.as_ref().map(|o| o.id.as_str()))
        .collect();
    assert!(deleted.contains(&ours.id.as_str()));
    assert!(!deleted.contains(&theirs.as_str()));
    let left = observe_all(&mock, &rack.name).await.expect("observe");
    let survivor = find(&left, &api_tg("backend"));
    assert_eq!(survivor.id, theirs);
}

#[tokio::test]
async fn a_copied_certificate_makes_the_plan_refuse_with_both_ids() {
    let (mock, _clock, ctx) = fresh();
    let rack = rack_with(&mock, "backend", &ctx).await;
    let before = observe_all(&mock, &rack.name).await.expect("observe");
    // Issue 9: the internal load balancer's shared certificate (the app has
    // none of its own); a copy not attached to our listener is someone's.
    let key = ResourceKey::shard_certificate(
        convox_model::exposure::Shard::first(convox_model::exposure::Router::Internal),
        1,
    );
    let ours = find(&before, &key).clone();
    let Spec::Certificate(spec) = &ours.resource.spec else {
        panic!("a certificate");
    };
    let spec: CertificateSpec = spec.clone();
    let theirs = mock
        .import_certificate(&spec, &fake_certificate(&spec.domain), &ours.resource.tags)
        .await
        .expect("a copy");

    let err = ops::deploy(&mock, &rack, &name("backend"), &internal_app(), &ctx)
        .await
        .expect_err("no safe choice: refused");
    let OpsError::Plan(PlanError::DuplicateClaim { key: k, ids }) = &err else {
        panic!("{err}");
    };
    assert_eq!(k, &key);
    let mut both = vec![ours.id.clone(), theirs.clone()];
    both.sort();
    assert_eq!(ids, &both);
    let text = err.to_string();
    assert!(
        text.contains(&ours.id)
            && text.contains(&theirs)
            && text.contains("remove the convox:* tags"),
        "{text}"
    );
    // Refused before any change: both are still there.
    let after = observe_all(&mock, &rack.name).await.expect("observe");
    assert_eq!(after.iter().filter(|o| o.resource.key == key).count(), 2);
}

#[tokio::test]
async fn four_apps_deployed_at_the_same_moment_all_succeed() {
    let clock = VirtualClock::new();
    let ctx = ctx(&clock);
    // Each call takes a while, so that the four deploys interleave: they
    // observe the same rack, plan the same free priority, and all but one find
    // it taken (or the rack changed) when they apply.
    let sleep = convox_model::aws::sleep_fn(tokio::time::sleep);
    let mock = MockBackend::new().with_latency(Duration::from_millis(1), sleep);
    let rack = rack_with(&mock, "first", &ctx).await;
    let apps = ["a1", "a2", "a3", "a4"];
    let m = internal_app();
    let n: Vec<Name> = apps.iter().map(|a| name(a)).collect();
    let (r1, r2, r3, r4) = tokio::join!(
        ops::deploy(&mock, &rack, &n[0], &m, &ctx),
        ops::deploy(&mock, &rack, &n[1], &m, &ctx),
        ops::deploy(&mock, &rack, &n[2], &m, &ctx),
        ops::deploy(&mock, &rack, &n[3], &m, &ctx),
    );
    for (app, r) in apps.iter().zip([r1, r2, r3, r4]) {
        r.unwrap_or_else(|e| panic!("{app}: {e}"));
    }
    let fp = issuer_fingerprint(&ctx);
    let observed = observe_all(&mock, &rack.name).await.expect("observe");
    let mut priorities: Vec<u32> = apps
        .iter()
        .map(|a| {
            rule_of(find(&observed, &api_rule(a)))
                .priority
                .expect("allocated")
        })
        .collect();
    priorities.sort();
    assert_eq!(priorities, [2, 3, 4, 5]);
    for app in apps {
        let p = ops::plan_app(&mock, &rack, &name(app), &m, &fp)
            .await
            .expect("plan");
        assert!(p.is_empty(), "{app}: {p}");
    }
}
