//! What an embedding deployer gets from a deploy on AWS (issue 10): the
//! report's routes name target groups that boto3 finds, with each service's
//! port, after a new deploy and after a no-op redeploy.

use std::sync::Arc;
use std::time::Duration;

use convox_model::apply::{ApplyContext, SleepFn};
use convox_model::exposure::Router;
use convox_model::manifest::{Exposure, Manifest, Port, Scheme, Service};
use convox_model::ops;
use convox_model::params::RackParams;
use convox_model::routes::ServiceRoute;
use convox_model::tls::CertificateAuthority;
use serde_json::Value;

use crate::support::inspect::{arr, inspect};
use crate::support::{MotoEnv, name, now};

fn service(n: &str, port: u16, exposure: Exposure) -> Service {
    let mut s = Service::with_defaults(name(n));
    s.port = Some(Port {
        port,
        scheme: Scheme::Http,
    });
    s.exposure = exposure;
    s
}

/// Each route's target group as boto3 sees it: its port, by the route's ARN.
fn witnessed_ports(seen: &Value, routes: &[ServiceRoute]) -> Vec<(String, Router, u64)> {
    routes
        .iter()
        .map(|r| {
            let tg = arr(&seen["target_groups"])
                .iter()
                .find(|t| t["arn"] == r.target_group.arn.as_str())
                .unwrap_or_else(|| {
                    panic!(
                        "boto3 finds no target group {}: {:#}",
                        r.target_group.arn, seen["target_groups"]
                    )
                });
            (
                r.service.to_string(),
                r.router,
                tg["port"].as_u64().unwrap_or(0),
            )
        })
        .collect()
}

#[tokio::test]
#[cfg_attr(not(moto), ignore = "needs the AWS emulator: run scripts/test.sh")]
async fn the_deploy_report_names_target_groups_boto3_finds_with_their_ports() {
    let env = MotoEnv::new("deployer-routes").await;
    let sleep: SleepFn = Arc::new(|d: Duration| Box::pin(tokio::time::sleep(d)));
    let ca = CertificateAuthority::generate(&env.rack, now()).unwrap();
    let ctx = ApplyContext::new(env.rack.clone(), now(), sleep).with_issuer(Arc::new(ca));
    let rack = env.rack_config(RackParams::new(true, false).unwrap());
    let app = name("backend");
    let manifest = Manifest::from_services(vec![
        service("api", 4000, Exposure::Internal),
        service("web", 3000, Exposure::External),
    ]);
    let want = vec![
        ("api".to_string(), Router::Internal, 4000),
        ("web".to_string(), Router::External, 3000),
    ];

    let first = ops::deploy(&env.backend, &rack, &app, &manifest, &ctx)
        .await
        .unwrap();
    assert_eq!(witnessed_ports(&inspect(&env), &first.routes), want);

    let again = ops::deploy(&env.backend, &rack, &app, &manifest, &ctx)
        .await
        .unwrap();
    assert!(again.plan.is_empty(), "{}", again.plan);
    assert_eq!(again.routes, first.routes);
    let seen = inspect(&env);
    assert_eq!(witnessed_ports(&seen, &again.routes), want);
    // The load balancer and rule named are the ones boto3 sees routing it.
    for r in &again.routes {
        let lb = arr(&seen["load_balancers"])
            .iter()
            .find(|lb| lb["arn"] == r.load_balancer.arn.as_str())
            .expect("the route's load balancer");
        assert_eq!(lb["dns_name"], r.load_balancer.dns_name.as_str());
        let groups: Vec<&str> = arr(&lb["security_groups"])
            .iter()
            .filter_map(|g| g["id"].as_str())
            .collect();
        assert_eq!(groups, [r.load_balancer.security_group_id.as_str()]);
        let rule = arr(&lb["listeners"])
            .iter()
            .flat_map(|l| arr(&l["rules"]))
            .find(|rule| rule["arn"] == r.rule.arn.as_str())
            .expect("the route's rule");
        assert_eq!(
            rule["actions"][0]["target_groups"][0],
            r.target_group.arn.as_str()
        );
    }
}
