//! The seed's whole story against moto, checked by a client that is not ours.
//!
//! Rack `production` gets `Internal=Yes`; app `backend` (`web` linking to the
//! internal `api`) is deployed, redeployed without a single mutating request,
//! joined by an `internalAndExternal` app, protected from `InternalOnly=Yes`, and
//! deleted, while a foreign load balancer, rule, record and certificate in the
//! same account stay untouched throughout.
//!
//! Two witnesses besides the library's own observe: moto's request recorder
//! (which requests reached AWS, classified without our code), and
//! `scripts/aws_inspect.py`, a boto3 client that prints what AWS reports.
//!
//! Run by `scripts/test.sh`, which sets `CONVOX_MOTO_ENDPOINT`,
//! `CONVOX_MOTO_SERVER` (the story starts a moto server of its own, so that its
//! recording holds its requests alone) and `CONVOX_MOTO_PYTHON` (the
//! virtualenv's python, which has boto3). Without `CONVOX_MOTO` the tests are
//! listed as ignored; with it, anything missing fails them.

#![allow(clippy::unwrap_used)]

mod support;

// Submodules live in tests/story/, which cargo does not take for test targets.
#[path = "story/foreign.rs"]
mod foreign;
#[path = "story/witness.rs"]
mod witness;
// Day two: obstacles and operators at once (issue 8).
#[path = "story/operators.rs"]
mod operators;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use convox_model::apply::{ApplyContext, SleepFn};
use convox_model::backend::Backend;
use convox_model::check::parse;
use convox_model::env;
use convox_model::exposure::Router;
use convox_model::manifest::Manifest;
use convox_model::name::Name;
use convox_model::ops::{OpsError, delete_app, deploy, set_rack_params};
use convox_model::params::RackParams;
use convox_model::rack::Rack;
use convox_model::resource::{RecordAction, RecordChange, ResourceKey, Scope};
use convox_model::tls::CertificateAuthority;
use foreign::{foreign_snapshot, make_foreign};
use support::inspect::{alias_target, arr, hosts, inspect, listener, rack_router, zone_named};
use support::recorder::{Recorded, Recorder, operations};
use support::server::MotoServer;
use support::{MotoEnv, name, now};
use witness::assert_seed_as_aws_sees_it;

/// The seed's `convox.yml`: `web` links to the internal `api`.
const BACKEND_YML: &str = "\
services:
  web:
    build: .
    port: 3000
    links:
      - api
  api:
    build: ./api
    port: 4000
    internal: true
";

/// The seed's other example: one service on both routers.
const DUAL_YML: &str = "\
services:
  both:
    build: .
    port: 3000
    internalAndExternal: true
";

fn manifest(yml: &str) -> Manifest {
    parse(yml, &BTreeMap::new()).unwrap().manifest
}

fn ctx(rack: &Name) -> ApplyContext {
    let sleep: SleepFn = Arc::new(|d: Duration| Box::pin(tokio::time::sleep(d)));
    let ca = CertificateAuthority::generate(rack, now()).unwrap();
    ApplyContext::new(rack.clone(), now(), sleep).with_issuer(Arc::new(ca))
}

fn rack(env: &MotoEnv, rack: &str) -> Rack {
    let params = RackParams::new(false, false).unwrap();
    env.rack(name(rack), &format!("{rack}.example.com"), params)
}

/// Rack `production` on a fresh account named after `test`, its parameters
/// set to `params` as `convox rack params set` sets them: the account, the
/// rack as saved, and the context to go on with.
async fn production_with(test: &str, params: &[&str]) -> (MotoEnv, Rack, ApplyContext) {
    let env = MotoEnv::new(test).await;
    let c = ctx(&name("production"));
    let saved = set_rack_params(&env.backend, &rack(&env, "production"), params, &c)
        .await
        .unwrap()
        .rack;
    (env, saved, c)
}

/// (key, id) of everything the rack owns in `scope`, sorted: what "intact" means
/// from the library's side.
async fn owned(env: &MotoEnv, rack: &Name, scope: &Scope) -> Vec<(String, String)> {
    let mut v: Vec<_> = env
        .backend
        .observe(rack, scope)
        .await
        .unwrap()
        .into_iter()
        .map(|o| (o.resource.key.to_string(), o.id))
        .collect();
    v.sort();
    v
}

#[tokio::test]
#[cfg_attr(not(moto), ignore = "needs the AWS emulator: run scripts/test.sh")]
async fn the_seed_story_as_aws_sees_it() {
    // A server of its own: its recorder then holds the story's requests alone.
    let server = MotoServer::start("story");
    let env = MotoEnv::on(&server.endpoint, "story").await;
    let b = &env.backend;
    let foreign = make_foreign(&env).await;
    let recorder = Recorder::start(&server);
    let mark = recorder.requests(&env.account).len();

    // convox rack params set Internal=Yes
    let production = name("production");
    let c = ctx(&production);
    let change = set_rack_params(b, &rack(&env, "production"), &["Internal=Yes"], &c)
        .await
        .unwrap();
    let rack = change.rack;
    assert!(rack.params.internal() && !rack.params.internal_only());
    assert_eq!(
        env.another_backend()
            .await
            .load_rack(&production)
            .await
            .unwrap(),
        Some(rack.clone()),
        "a later process reads the rack back"
    );

    // Someone else's record in the rack's own zone, without an owner of ours.
    let zone = b.rack_zone_id(&production).await.unwrap().unwrap();
    let legacy_from = recorder.requests(&env.account).len();
    let router = b
        .observe(&production, &Scope::Rack)
        .await
        .unwrap()
        .into_iter()
        .find(|o| o.resource.key == ResourceKey::router_load_balancer(Router::Internal))
        .unwrap();
    b.change_records(
        &zone,
        &[RecordChange {
            action: RecordAction::Create,
            name: "legacy.production.convox".into(),
            target: router.address.unwrap(),
            owner: "someone else".into(),
        }],
    )
    .await
    .unwrap();
    let legacy_to = recorder.requests(&env.account).len();

    // convox deploy -a backend
    let backend_app = name("backend");
    let seed = manifest(BACKEND_YML);
    let report = deploy(b, &rack, &backend_app, &seed, &c).await.unwrap();
    // Issue 9: the internal load balancer's shared certificate (the app has
    // none of its own), made first as the rack's: the rack had everything else.
    let mut rack_part: Vec<String> = report
        .rack
        .iter()
        .flat_map(|r| r.applied.iter().map(|a| a.key.to_string()))
        .collect();
    rack_part.sort();
    assert_eq!(
        rack_part,
        [
            "router/internal/cert/1",
            "router/internal/cert/1/attachment"
        ],
        "the rack had everything else it needs"
    );
    let urls: Vec<_> = report
        .endpoints
        .iter()
        .map(|e| (e.service.to_string(), e.router, e.url()))
        .collect();
    assert_eq!(
        urls,
        vec![
            (
                "web".into(),
                Router::External,
                "https://backend-web.production.example.com".into()
            ),
            (
                "api".into(),
                Router::Internal,
                "https://api.backend.production.convox".into()
            ),
        ]
    );
    let resolved = env::resolve(&seed, &rack, &backend_app, &BTreeMap::new()).unwrap();
    assert_eq!(
        resolved
            .service("web")
            .unwrap()
            .get("API_URL")
            .map(String::as_str),
        Some("https://api.backend.production.convox")
    );

    let first = inspect(&env);
    assert_seed_as_aws_sees_it(&first, &env);
    eprintln!(
        "boto3 sees the internal router:\n{:#}",
        rack_router(&first, "production", "internal")
    );
    let foreign_before = foreign_snapshot(&first, &foreign);

    // The same deploy again: nothing to do, and nothing mutating reaches AWS.
    let before = recorder.requests(&env.account).len();
    b.reset_calls();
    let again = deploy(b, &rack, &backend_app, &seed, &c).await.unwrap();
    let calls = b.calls();
    let seen_by_moto = recorder.requests(&env.account)[before..].to_vec();
    let moto_mutating: Vec<_> = seen_by_moto.iter().filter(|r| r.mutating()).collect();
    eprintln!(
        "redeploy: {} requests counted by the backend ({} mutating), {} recorded by moto ({} mutating): {:?}",
        calls.total(),
        calls.mutating(),
        seen_by_moto.len(),
        moto_mutating.len(),
        operations(&seen_by_moto)
    );
    assert!(again.plan.is_empty(), "{:?}", again.plan);
    assert_eq!(calls.mutating(), 0, "{:?}", calls.mutating_operations());
    assert!(moto_mutating.is_empty(), "{moto_mutating:#?}");
    assert_eq!(
        seen_by_moto.len() as u64,
        calls.total(),
        "moto saw what the backend counted"
    );

    // internalAndExternal: two endpoints, a rule on each router, one record.
    let dual_app = name("dual");
    let dual = deploy(b, &rack, &dual_app, &manifest(DUAL_YML), &c)
        .await
        .unwrap();
    let mut dual_urls: Vec<_> = dual.endpoints.iter().map(|e| e.url()).collect();
    dual_urls.sort();
    assert_eq!(
        dual_urls,
        [
            "https://both.dual.production.convox",
            "https://dual-both.production.example.com"
        ],
        "two endpoints"
    );
    let both = name("both");
    let dual_owned = owned(&env, &production, &Scope::App(dual_app.clone())).await;
    for key in [
        ResourceKey::listener_rule(&dual_app, &both, Router::Internal),
        ResourceKey::listener_rule(&dual_app, &both, Router::External),
        ResourceKey::record(&dual_app, &both),
    ] {
        assert!(
            dual_owned.iter().any(|(k, _)| *k == key.to_string()),
            "{key} missing: {dual_owned:#?}"
        );
    }
    {
        let seen = inspect(&env);
        let zone = zone_named(&seen, "production.convox.");
        let internal = alias_target(&seen, zone, "both.dual.production.convox");
        assert_eq!(internal["scheme"], "internal");
        assert!(hosts(listener(internal, 443)).contains(&"both.dual.production.convox".into()));
        let external = rack_router(&seen, "production", "internet-facing");
        assert!(
            hosts(listener(external, 443)).contains(&"dual-both.production.example.com".into())
        );
        assert_eq!(foreign_snapshot(&seen, &foreign), foreign_before);
    }

    // InternalOnly=Yes is refused while external services are deployed, naming
    // them, before anything changes.
    b.reset_calls();
    let refused = set_rack_params(b, &rack, &["InternalOnly=Yes"], &c)
        .await
        .unwrap_err();
    match &refused {
        OpsError::Transition { offenders, .. } => {
            assert_eq!(offenders, &["backend/web", "dual/both"], "{refused}")
        }
        other => panic!("not a transition refusal: {other}"),
    }
    assert!(refused.to_string().contains("backend/web"), "{refused}");
    assert_eq!(b.calls().mutating(), 0, "{:?}", b.calls());
    assert_eq!(
        b.load_rack(&production).await.unwrap(),
        Some(rack.clone()),
        "the rack's parameters are unchanged"
    );

    // Deleting backend removes its resources and nothing else.
    let rack_owned = owned(&env, &production, &Scope::Rack).await;
    b.reset_calls();
    let (deleted, _) = delete_app(b, &rack, &backend_app, &c).await.unwrap();
    assert!(!deleted.is_empty());
    assert!(
        owned(&env, &production, &Scope::App(backend_app.clone()))
            .await
            .is_empty()
    );
    assert_eq!(owned(&env, &production, &Scope::Rack).await, rack_owned);
    assert_eq!(
        owned(&env, &production, &Scope::App(dual_app.clone())).await,
        dual_owned
    );
    {
        let seen = inspect(&env);
        let zone = zone_named(&seen, "production.convox.");
        let names: Vec<_> = arr(&zone["records"])
            .iter()
            .map(|r| r["name"].as_str().unwrap().to_string())
            .collect();
        assert!(!names.iter().any(|n| n.contains(".backend.")), "{names:?}");
        assert!(names.contains(&"both.dual.production.convox.".into()));
        let internal = alias_target(&seen, zone, "both.dual.production.convox");
        let https = listener(internal, 443);
        assert_eq!(
            hosts(https),
            vec!["both.dual.production.convox".to_string()]
        );
        assert!(
            !arr(&https["certificates"])
                .iter()
                .any(|c| c["domain_name"] == "*.backend.production.convox"
                    && c["arn"] != foreign.cert.as_str()),
            "backend's certificate is detached: {:#}",
            https["certificates"]
        );
        assert_eq!(foreign_snapshot(&seen, &foreign), foreign_before);
    }

    // moto's record of the whole story: no mutating request named a foreign
    // resource (other than the test's own setup of the legacy record).
    let all = recorder.requests(&env.account);
    recorder.stop();
    let story: Vec<_> = all[mark..legacy_from]
        .iter()
        .chain(&all[legacy_to..])
        .filter(|r| r.mutating())
        .collect();
    assert!(!story.is_empty());
    for r in &story {
        for id in foreign
            .ids
            .iter()
            .map(String::as_str)
            .chain(["www.foreign.example", "legacy.production.convox"])
        {
            assert!(
                !r.text.contains(id),
                "{} touched foreign {id}:\n{}",
                r.operation,
                r.text
            );
        }
        assert_eq!(r.account, env.account);
    }
    let story: Vec<Recorded> = story.into_iter().cloned().collect();
    eprintln!(
        "the story's mutating requests, as moto saw them: {:?}",
        operations(&story)
    );
}

/// On an `InternalOnly` rack a service without `internal: true` is refused before
/// anything is created, and the rack never gets an internet-facing router.
#[tokio::test]
#[cfg_attr(not(moto), ignore = "needs the AWS emulator: run scripts/test.sh")]
async fn an_internal_only_rack_refuses_external_services() {
    let (env, rack, c) =
        production_with("story_internal_only", &["Internal=Yes", "InternalOnly=Yes"]).await;
    let b = &env.backend;
    let production = name("production");
    assert!(rack.params.internal_only());

    b.reset_calls();
    let refused = deploy(b, &rack, &name("backend"), &manifest(BACKEND_YML), &c)
        .await
        .unwrap_err();
    let msg = refused.to_string();
    assert!(matches!(refused, OpsError::Manifest(_)), "{msg}");
    assert!(
        msg.contains("rack only supports internal services"),
        "{msg}"
    );
    assert!(msg.contains("web"), "{msg}");
    assert_eq!(b.calls().total(), 0, "refused before any request");

    let dual = deploy(b, &rack, &name("dual"), &manifest(DUAL_YML), &c)
        .await
        .unwrap_err();
    assert!(matches!(dual, OpsError::Manifest(_)), "{dual}");
    assert!(dual.to_string().contains("both"), "{dual}");

    // The internal service alone deploys.
    let api_only = manifest("services:\n  api:\n    port: 4000\n    internal: true\n");
    deploy(b, &rack, &name("backend"), &api_only, &c)
        .await
        .unwrap();
    let owned = owned(&env, &production, &Scope::Apps).await;
    assert!(
        owned.iter().all(|(k, _)| !k.contains("/external")),
        "{owned:#?}"
    );
    assert!(
        !owned.is_empty() && owned_rack_has_no_external(&env, &production).await,
        "{owned:#?}"
    );
    {
        let seen = inspect(&env);
        let lbs = arr(&seen["load_balancers"]);
        assert!(
            !lbs.is_empty() && lbs.iter().all(|l| l["scheme"] == "internal"),
            "no internet-facing ALB: {:#}",
            seen["load_balancers"]
        );
    }
}

async fn owned_rack_has_no_external(env: &MotoEnv, rack: &Name) -> bool {
    let keys = owned(env, rack, &Scope::Rack).await;
    !keys
        .iter()
        .any(|(k, _)| *k == ResourceKey::router_load_balancer(Router::External).to_string())
}
