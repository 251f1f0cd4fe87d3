//! An app's resources on the rack's router: target groups, rules, certificates
//! attached to the listener, and rule priorities.

use convox_model::backend::{Backend, ErrorKind};
use convox_model::exposure::Router;
use convox_model::resource::{
    ListenerCertificateSpec, ResourceKey, ResourceSpec as Spec, Scope, Tags,
};

use crate::support::name;
use crate::support::specs::{
    app_tags, find, import_fixture, rule_spec, tg_spec, untagged_rule, with_internal_router,
};

#[tokio::test]
#[cfg_attr(not(moto), ignore = "needs the AWS emulator: run scripts/test.sh")]
async fn app_resources_round_trip() {
    let (env, ids) = with_internal_router("app").await;
    let b = &env.backend;
    let (app, api) = (name("backend"), name("api"));
    let r = Router::Internal;

    let tg_key = ResourceKey::target_group(&app, &api, r);
    let tg = b
        .create_target_group(
            &tg_spec(&env, "/health"),
            &app_tags(&env, "backend", Some("api"), "target-group", &tg_key),
        )
        .await
        .unwrap();
    let rule_key = ResourceKey::listener_rule(&app, &api, r);
    let rule = b
        .create_rule(
            &ids.https,
            &rule_spec(10, &["api.backend.test.convox"]),
            &tg,
            &app_tags(&env, "backend", Some("api"), "listener-rule", &rule_key),
        )
        .await
        .unwrap();
    let cert_key = ResourceKey::app_certificate(&app);
    let tags = app_tags(&env, "backend", None, "app-cert", &cert_key);
    let cert = import_fixture(&env, "app", "ca-fingerprint-1", &tags)
        .await
        .unwrap();
    b.add_listener_certificate(&ids.https, &cert).await.unwrap();
    // Attaching twice succeeds.
    b.add_listener_certificate(&ids.https, &cert).await.unwrap();
    assert_eq!(b.calls().get("AddTags"), 0);

    let scope = Scope::App(app.clone());
    let seen = b.observe(&env.rack, &scope).await.unwrap();
    assert!(
        seen.iter().all(|o| o.resource.key.in_scope(&scope)),
        "{seen:#?}"
    );
    let o = find(&seen, &tg_key).expect("target group");
    assert_eq!(o.id, tg);
    assert_eq!(o.resource.spec, Spec::TargetGroup(tg_spec(&env, "/health")));
    let o = find(&seen, &rule_key).expect("rule");
    assert_eq!(o.id, rule);
    assert_eq!(
        o.resource.spec,
        Spec::ListenerRule(rule_spec(10, &["api.backend.test.convox"]))
    );
    assert_eq!(
        o.resource.tags,
        app_tags(&env, "backend", Some("api"), "listener-rule", &rule_key)
    );
    let o = find(&seen, &ResourceKey::app_listener_certificate(&app)).expect("attachment");
    assert_eq!(
        o.resource.spec,
        Spec::ListenerCertificate(ListenerCertificateSpec {
            listener: ResourceKey::router_listener(r, 443),
            certificate: cert_key.clone(),
        })
    );
    assert!(find(&seen, &cert_key).is_some());

    b.set_rule_priority(&rule, 20).await.unwrap();
    b.modify_rule(
        &rule,
        &rule_spec(20, &["api.backend.test.convox", "api2.backend.test.convox"]),
        &tg,
    )
    .await
    .unwrap();
    b.modify_target_group(&tg, &tg_spec(&env, "/ready"))
        .await
        .unwrap();
    let seen = b.observe(&env.rack, &scope).await.unwrap();
    assert_eq!(
        find(&seen, &rule_key).unwrap().resource.spec,
        Spec::ListenerRule(rule_spec(
            20,
            &["api.backend.test.convox", "api2.backend.test.convox"]
        ))
    );
    assert_eq!(
        find(&seen, &tg_key).unwrap().resource.spec,
        Spec::TargetGroup(tg_spec(&env, "/ready"))
    );

    // Detaching, and again once it is not attached: both succeed.
    for _ in 0..2 {
        b.remove_listener_certificate(&ids.https, &cert)
            .await
            .unwrap();
    }
    let seen = b.observe(&env.rack, &scope).await.unwrap();
    assert!(find(&seen, &ResourceKey::app_listener_certificate(&app)).is_none());

    b.delete_rule(&rule).await.unwrap();
    b.delete_target_group(&tg).await.unwrap();
    b.delete_certificate(&cert).await.unwrap();
    assert!(b.observe(&env.rack, &scope).await.unwrap().is_empty());
    // The rack's own resources are still there, and not in the app's scope.
    assert_eq!(b.observe(&env.rack, &Scope::Rack).await.unwrap().len(), 5);
    // moto deletes a missing rule without RuleNotFound; AWS's answer is mapped in
    // the table's tests.
}

#[tokio::test]
#[cfg_attr(not(moto), ignore = "needs the AWS emulator: run scripts/test.sh")]
async fn rule_priority_taken_is_a_conflict() {
    let (env, ids) = with_internal_router("priority").await;
    let b = &env.backend;
    let tg = b
        .create_target_group(&tg_spec(&env, "/"), &Tags::new())
        .await
        .unwrap();
    untagged_rule(&env, &ids.https, 7, "a.test.convox", &tg)
        .await
        .unwrap();
    let err = untagged_rule(&env, &ids.https, 7, "b.test.convox", &tg)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict, "{err}");
    assert!(!err.is_retryable());
    assert_eq!(err.operation(), "CreateRule");
    let err = untagged_rule(&env, &ids.https, 0, "b.test.convox", &tg)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
}
