//! Day two against moto (issue 8): foreign resources are obstacles, never
//! victims, and deploys of different apps at the same moment all succeed.

use convox_model::backend::Backend;
use convox_model::exposure::Router;
use convox_model::ops::{deploy, plan_app, set_rack_params};
use convox_model::resource::{ResourceKey, ResourceSpec, Tags, TargetGroupSpec};

use super::support::name;
use super::support::specs::untagged_rule;
use super::{manifest, production_with};

const API_YML: &str = "services:\n  api:\n    port: 4000\n    internal: true\n";

fn priority_of(seen: &[convox_model::resource::Observed], key: &ResourceKey) -> Option<u32> {
    seen.iter()
        .find(|o| o.resource.key == *key)
        .and_then(|o| match &o.resource.spec {
            ResourceSpec::ListenerRule(r) => r.priority,
            _ => None,
        })
}

fn api_rule(app: &str) -> ResourceKey {
    ResourceKey::listener_rule(&name(app), &name("api"), Router::Internal)
}

#[tokio::test]
#[cfg_attr(not(moto), ignore = "needs the AWS emulator: run scripts/test.sh")]
async fn foreign_rules_and_copied_tags_are_obstacles_never_victims() {
    let (env, r, c) = production_with("story_obstacles", &["Internal=Yes"]).await;
    let b = &env.backend;
    deploy(b, &r, &name("backend"), &manifest(API_YML), &c)
        .await
        .unwrap();
    let seen = convox_model::observe::observe_all(b, &r.name)
        .await
        .unwrap();
    assert_eq!(priority_of(&seen, &api_rule("backend")), Some(1));
    let listener = seen
        .iter()
        .find(|o| o.resource.key == ResourceKey::router_listener(Router::Internal, 443))
        .unwrap()
        .id
        .clone();
    let tg_key = ResourceKey::target_group(&name("backend"), &name("api"), Router::Internal);
    let ours = seen
        .iter()
        .find(|o| o.resource.key == tg_key)
        .unwrap()
        .clone();

    // By hand: a rule at the next free priority, and a target group carrying a
    // copy of our target group's tags.
    let ResourceSpec::TargetGroup(spec) = &ours.resource.spec else {
        panic!("a target group");
    };
    let hand_tg = b
        .create_target_group(
            &TargetGroupSpec {
                name: "by-hand".into(),
                ..spec.clone()
            },
            &Tags::new(),
        )
        .await
        .unwrap();
    let hand_rule = untagged_rule(&env, &listener, 2, "hand.production.convox", &hand_tg)
        .await
        .unwrap();
    let copy = b
        .create_target_group(
            &TargetGroupSpec {
                name: "copied-tags".into(),
                ..spec.clone()
            },
            &ours.resource.tags,
        )
        .await
        .unwrap();

    // A new app deploys beside them, at the next free priority.
    deploy(b, &r, &name("shop"), &manifest(API_YML), &c)
        .await
        .unwrap();
    // The first app redeploys with nothing to do, and the rack too.
    let again = deploy(b, &r, &name("backend"), &manifest(API_YML), &c)
        .await
        .unwrap();
    assert!(again.plan.is_empty(), "{}", again.plan);
    assert_eq!(again.plan.duplicate_claims.len(), 1);
    assert_eq!(
        again.plan.duplicate_claims[0].kept.as_deref(),
        Some(ours.id.as_str())
    );
    assert_eq!(
        again.plan.duplicate_claims[0].others,
        std::slice::from_ref(&copy)
    );
    let change = set_rack_params(b, &r, &["Internal=Yes"], &c).await.unwrap();
    assert!(change.plan.is_empty(), "{}", change.plan);

    let seen = convox_model::observe::observe_all(b, &r.name)
        .await
        .unwrap();
    assert_eq!(priority_of(&seen, &api_rule("shop")), Some(3));
    assert_eq!(
        priority_of(&seen, &ResourceKey::foreign_rule(&hand_rule)),
        Some(2),
        "the foreign rule is where it was"
    );
    let tg_ids: Vec<&str> = seen
        .iter()
        .filter(|o| o.resource.key == tg_key)
        .map(|o| o.id.as_str())
        .collect();
    assert!(
        tg_ids.contains(&copy.as_str()) && tg_ids.contains(&ours.id.as_str()),
        "{tg_ids:?}"
    );
}

#[tokio::test]
#[cfg_attr(not(moto), ignore = "needs the AWS emulator: run scripts/test.sh")]
async fn four_apps_deployed_at_the_same_moment_all_end_up_to_date() {
    let (env, r, c) = production_with("story_four", &["Internal=Yes"]).await;
    let b = &env.backend;
    let m = manifest(API_YML);
    let apps = [name("a1"), name("a2"), name("a3"), name("a4")];
    let (r1, r2, r3, r4) = tokio::join!(
        deploy(b, &r, &apps[0], &m, &c),
        deploy(b, &r, &apps[1], &m, &c),
        deploy(b, &r, &apps[2], &m, &c),
        deploy(b, &r, &apps[3], &m, &c),
    );
    for (app, result) in apps.iter().zip([r1, r2, r3, r4]) {
        result.unwrap_or_else(|e| panic!("{app}: {e}"));
    }
    let fp = c.issuer.as_ref().unwrap().fingerprint();
    for app in &apps {
        let p = plan_app(b, &r, app, &m, &fp).await.unwrap();
        assert!(p.is_empty(), "{app}: {p}");
    }
    let seen = convox_model::observe::observe_all(b, &r.name)
        .await
        .unwrap();
    let mut priorities: Vec<u32> = apps
        .iter()
        .filter_map(|a| priority_of(&seen, &api_rule(a.as_str())))
        .collect();
    priorities.sort();
    assert_eq!(priorities, [1, 2, 3, 4]);
}
