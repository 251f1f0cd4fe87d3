//! What an embedding deployer gets from the library (issue 10): every deploy's
//! report names, for each routed service and router, the target group, rule,
//! load balancer and security group it attaches containers to, a no-op
//! redeploy too; and a deploy can run in two phases, so that no target group
//! is deleted while containers are still attached to it.

mod common;

use common::{name, production as settings, production_ctx as ctx};
use convox_mock::{MockBackend, VirtualClock};
use convox_model::apply::ApplyContext;
use convox_model::backend::Backend;
use convox_model::exposure::Router;
use convox_model::manifest::{Exposure, Manifest, Port, Scheme, Service};
use convox_model::observe::observe_all;
use convox_model::ops;
use convox_model::rack::Rack;
use convox_model::resource::{Observed, ResourceKey};
use convox_model::routes::ServiceRoute;

fn service(n: &str, port: Option<u16>, exposure: Exposure) -> Service {
    let mut s = Service::with_defaults(name(n));
    s.port = port.map(|port| Port {
        port,
        scheme: Scheme::Http,
    });
    s.exposure = exposure;
    s
}

/// web external on 3000, api internal on 4000, both on both routers on 5000,
/// worker without a port.
fn backend(api_port: u16) -> Manifest {
    Manifest::from_services(vec![
        service("web", Some(3000), Exposure::External),
        service("api", Some(api_port), Exposure::Internal),
        service("both", Some(5000), Exposure::from_flags(true, true)),
        service("worker", None, Exposure::External),
    ])
}

/// A rack with both routers, as stored after `Internal=Yes`.
async fn internal_rack(mock: &MockBackend, ctx: &ApplyContext) -> Rack {
    ops::set_rack_params(mock, &settings(), &["Internal=Yes"], ctx)
        .await
        .expect("Internal=Yes");
    mock.load_rack(&name("production"))
        .await
        .expect("load")
        .expect("stored")
}

fn id_of<'a>(observed: &'a [Observed], key: &ResourceKey) -> &'a str {
    let claims: Vec<&Observed> = observed.iter().filter(|o| o.resource.key == *key).collect();
    assert_eq!(claims.len(), 1, "{key}: {claims:#?}");
    &claims[0].id
}

/// Every route names what observe names, and the manifest's ports.
fn assert_routes_match(
    rack: &Rack,
    routes: &[ServiceRoute],
    observed: &[Observed],
    manifest: &Manifest,
) {
    let pairs: Vec<(String, Router)> = routes
        .iter()
        .map(|r| (r.service.to_string(), r.router))
        .collect();
    let want: Vec<(String, Router)> = [
        ("api", Router::Internal),
        ("both", Router::Internal),
        ("both", Router::External),
        ("web", Router::External),
    ]
    .into_iter()
    .map(|(s, r)| (s.to_string(), r))
    .collect();
    assert_eq!(pairs, want);
    let app = name("backend");
    for r in routes {
        let tg = ResourceKey::target_group(&app, &r.service, r.router);
        assert!(!r.target_group.arn.is_empty());
        assert_eq!(r.target_group.arn, id_of(observed, &tg), "{}", r.service);
        let port = manifest
            .service(r.service.as_str())
            .and_then(|s| s.port.as_ref())
            .map(|p| p.port);
        assert_eq!(Some(r.target_group.port), port, "{}", r.service);
        let rule = ResourceKey::listener_rule(&app, &r.service, r.router);
        assert_eq!(r.rule.arn, id_of(observed, &rule));
        assert_eq!(r.rule.listener_port, 443);
        assert!(r.rule.priority.is_some());
        let host = convox_model::exposure::hostname(rack, &app, &r.service, r.router);
        assert_eq!(r.rule.hostnames, [host]);
        let lb = ResourceKey::router_load_balancer(r.router);
        assert_eq!(r.load_balancer.arn, id_of(observed, &lb));
        let address = observed
            .iter()
            .find(|o| o.resource.key == lb)
            .and_then(|o| o.address.as_ref())
            .map(|a| a.dns_name.clone());
        assert_eq!(Some(r.load_balancer.dns_name.clone()), address);
        let sg = ResourceKey::router_security_group(r.router);
        assert_eq!(r.load_balancer.security_group_id, id_of(observed, &sg));
        assert!(r.load_balancer.security_group_id.starts_with("sg-"));
    }
}

#[tokio::test]
async fn a_deploy_and_a_no_op_redeploy_both_report_every_route() {
    let mock = MockBackend::new();
    let clock = VirtualClock::new();
    let ctx = ctx(&clock);
    let rack = internal_rack(&mock, &ctx).await;
    let app = name("backend");
    let manifest = backend(4000);

    let first = ops::deploy(&mock, &rack, &app, &manifest, &ctx)
        .await
        .expect("deploy");
    assert!(!first.plan.is_empty());
    let observed = observe_all(&mock, &rack.name).await.expect("observe");
    assert_routes_match(&rack, &first.routes, &observed, &manifest);

    let again = ops::deploy(&mock, &rack, &app, &manifest, &ctx)
        .await
        .expect("redeploy");
    assert!(again.plan.is_empty(), "{}", again.plan);
    assert_eq!(again.report.calls, 0);
    assert_routes_match(&rack, &again.routes, &observed, &manifest);
    assert_eq!(again.routes, first.routes);

    // A changed port: the report names the new target group, not the old.
    let moved = backend(4001);
    let third = ops::deploy(&mock, &rack, &app, &moved, &ctx)
        .await
        .expect("deploy 4001");
    let observed = observe_all(&mock, &rack.name).await.expect("observe");
    assert_routes_match(&rack, &third.routes, &observed, &moved);
    let api = |routes: &[ServiceRoute]| {
        routes
            .iter()
            .find(|r| r.service.as_str() == "api")
            .map(|r| r.target_group.arn.clone())
    };
    assert_ne!(api(&third.routes), api(&first.routes));

    // The JSON a CLI prints carries them.
    let json = serde_json::to_value(&third).expect("json");
    let listed = json["routes"].as_array().expect("routes");
    assert_eq!(listed.len(), 4);
    assert_eq!(listed[0]["target_group"]["port"], 4001);
    assert!(listed[0]["load_balancer"]["dns_name"].as_str().is_some());
}
