//! The rack's private zone: records aliasing the router, and the rack's settings
//! kept as the zone's tags.

use convox_model::backend::{Backend, ErrorKind};
use convox_model::exposure::Router;
use convox_model::params::RackParams;
use convox_model::resource::{
    RecordAction, RecordChange, RecordSpec, ResourceKey, ResourceSpec as Spec, Scope, TAG_KEY,
    record_owner_value,
};

use crate::support::specs::{error_of, find, make_internal_router, rack_tags, zone_spec};
use crate::support::{MotoEnv, name};

#[tokio::test]
#[cfg_attr(not(moto), ignore = "needs the AWS emulator: run scripts/test.sh")]
async fn zone_records_and_rack_settings_round_trip() {
    let env = MotoEnv::new("zone").await;
    let b = &env.backend;
    assert_eq!(b.load_rack(&env.rack).await.unwrap(), None);
    let ids = make_internal_router(&env).await;

    let zone_key = ResourceKey::zone();
    let zone_spec = zone_spec(&env, "test.convox");
    let zone = b
        .create_hosted_zone(&zone_spec, &rack_tags(&env, "zone", &zone_key))
        .await
        .unwrap();
    assert!(!zone.starts_with('/'), "bare zone id: {zone}");
    assert_eq!(b.load_rack(&env.rack).await.unwrap(), None, "not saved yet");

    let rack = env.rack_config(RackParams::new(true, false).unwrap());
    b.save_rack(&zone, &rack).await.unwrap();
    // A later process finds it.
    let other = env.another_backend().await;
    assert_eq!(
        other.load_rack(&env.rack).await.unwrap(),
        Some(rack.clone())
    );
    let rack2 = env.rack_config(RackParams::new(true, true).unwrap());
    b.save_rack(&zone, &rack2).await.unwrap();
    assert_eq!(other.load_rack(&env.rack).await.unwrap(), Some(rack2));
    assert_eq!(
        other.rack_zone_id(&env.rack).await.unwrap(),
        Some(zone.clone())
    );

    let (app, api, web) = (name("backend"), name("api"), name("web"));
    let api_key = ResourceKey::record(&app, &api);
    let web_key = ResourceKey::record(&app, &web);
    let change = |action, host: &str, key: &ResourceKey| RecordChange {
        action,
        name: host.into(),
        target: ids.address.clone(),
        owner: record_owner_value(&env.rack, key),
    };
    b.change_records(
        &zone,
        &[
            change(RecordAction::Create, "api.backend.test.convox", &api_key),
            change(RecordAction::Create, "web.backend.test.convox", &web_key),
        ],
    )
    .await
    .unwrap();
    assert_eq!(b.calls().get("ChangeResourceRecordSets"), 1, "one batch");

    let seen = b
        .observe(&env.rack, &Scope::App(app.clone()))
        .await
        .unwrap();
    let rec = find(&seen, &api_key).expect("record");
    assert_eq!(rec.id, "api.backend.test.convox");
    assert_eq!(
        rec.resource.spec,
        Spec::Record(RecordSpec {
            zone: zone_key.clone(),
            name: "api.backend.test.convox".into(),
            load_balancer: ResourceKey::router_load_balancer(Router::Internal),
        })
    );
    assert_eq!(
        rec.address.as_ref().map(|a| a.hosted_zone_id.as_str()),
        Some(ids.address.hosted_zone_id.as_str())
    );
    assert_eq!(rec.resource.tags.get(TAG_KEY), Some(&api_key.to_string()));
    assert!(find(&seen, &web_key).is_some());

    let seen = b.observe(&env.rack, &Scope::Rack).await.unwrap();
    let z = find(&seen, &zone_key).expect("zone");
    assert_eq!(z.id, zone);
    assert_eq!(z.resource.spec, Spec::HostedZone(zone_spec));
    assert_eq!(
        z.resource.tags,
        rack_tags(&env, "zone", &zone_key),
        "settings tags are not ownership tags"
    );
    assert!(find(&seen, &api_key).is_none(), "records are app scope");

    b.change_records(
        &zone,
        &[
            change(RecordAction::Upsert, "api.backend.test.convox", &api_key),
            change(RecordAction::Delete, "web.backend.test.convox", &web_key),
        ],
    )
    .await
    .unwrap();
    let seen = b.observe(&env.rack, &Scope::Apps).await.unwrap();
    assert!(find(&seen, &api_key).is_some());
    assert!(find(&seen, &web_key).is_none());

    error_of(b.delete_hosted_zone(&zone).await, ErrorKind::Conflict);
    b.change_records(
        &zone,
        &[change(
            RecordAction::Delete,
            "api.backend.test.convox",
            &api_key,
        )],
    )
    .await
    .unwrap();
    b.delete_hosted_zone(&zone).await.unwrap();
    assert_eq!(b.load_rack(&env.rack).await.unwrap(), None);
    error_of(b.delete_hosted_zone(&zone).await, ErrorKind::NotFound);
}

// Idempotent zone creation (issue 8).

/// A create repeated after a lost answer (or after its tagging failed) adopts
/// the zone the first one made, by its caller reference: one zone, tagged.
#[tokio::test]
#[cfg_attr(not(moto), ignore = "needs the AWS emulator: run scripts/test.sh")]
async fn a_repeated_zone_create_adopts_the_zone_it_made() {
    let env = MotoEnv::new("zone_again").await;
    let b = &env.backend;
    let zone_key = ResourceKey::zone();
    let spec = zone_spec(&env, &convox_model::rack::zone_name(&env.rack));
    // The first attempt made the zone but its tags never arrived.
    let first = b
        .create_hosted_zone(&spec, &convox_model::resource::Tags::new())
        .await
        .unwrap();
    assert!(
        find(
            &b.observe(&env.rack, &Scope::Rack).await.unwrap(),
            &zone_key
        )
        .is_none(),
        "an untagged zone is not observed"
    );
    let again = b
        .create_hosted_zone(&spec, &rack_tags(&env, "zone", &zone_key))
        .await
        .unwrap();
    assert_eq!(again, first, "the zone it made is adopted");
    let seen = b.observe(&env.rack, &Scope::Rack).await.unwrap();
    assert_eq!(
        find(&seen, &zone_key).map(|o| o.id.as_str()),
        Some(first.as_str())
    );
    b.delete_hosted_zone(&first).await.unwrap();
}
