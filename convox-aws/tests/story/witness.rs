//! What boto3 must see after the seed's first deploy.

use serde_json::Value;

use crate::support::MotoEnv;
use crate::support::inspect::{
    a_record, alias_target, arr, hosts, listener, rack_router, zone_named,
};

/// Issue 4's "Done when", as boto3 sees it after the seed's deploy.
pub fn assert_seed_as_aws_sees_it(seen: &Value, env: &MotoEnv) {
    let zone = zone_named(seen, "production.convox.");
    assert_eq!(zone["private"], true, "{zone:#}");
    assert!(
        arr(&zone["vpcs"])
            .iter()
            .any(|v| v["vpc_id"] == env.vpc.id.as_str()),
        "the zone is associated with the rack's VPC: {zone:#}"
    );
    let lb = alias_target(seen, zone, "api.backend.production.convox");
    assert_eq!(lb["scheme"], "internal", "{lb:#}");
    assert_eq!(
        lb["canonical_hosted_zone_id"],
        a_record(zone, "api.backend.production.convox")["alias_target"]["hosted_zone_id"],
        "the alias names the ALB's own hosted zone id"
    );

    let groups = arr(&lb["security_groups"]);
    assert_eq!(groups.len(), 1, "{lb:#}");
    let ingress: Vec<_> = arr(&groups[0]["ingress"])
        .iter()
        .map(|p| {
            (
                p["protocol"].as_str().unwrap().to_string(),
                p["from_port"].as_u64().unwrap(),
                p["to_port"].as_u64().unwrap(),
                p["cidrs"].clone(),
                arr(&p["ipv6_cidrs"]).len() + arr(&p["groups"]).len(),
            )
        })
        .collect();
    let vpc_only = serde_json::json!([env.vpc.cidr]);
    assert_eq!(
        ingress,
        vec![
            ("tcp".into(), 80, 80, vpc_only.clone(), 0),
            ("tcp".into(), 443, 443, vpc_only, 0),
        ],
        "TCP 80 and 443 from the VPC CIDR only"
    );

    let http = listener(lb, 80);
    assert_eq!(http["protocol"], "HTTP");
    assert_eq!(
        http["default_actions"],
        serde_json::json!([{"type": "redirect", "protocol": "HTTPS", "port": "443", "status_code": "HTTP_301"}])
    );
    assert!(
        arr(&http["rules"]).is_empty(),
        "80 never forwards: {http:#}"
    );

    let https = listener(lb, 443);
    assert_eq!(https["protocol"], "HTTPS");
    assert_eq!(https["default_actions"][0]["type"], "fixed-response");
    assert_eq!(https["default_actions"][0]["status_code"], "404");
    let covers = |c: &Value, d: &str| {
        c["domain_name"] == d || arr(&c["subject_alternative_names"]).iter().any(|s| s == d)
    };
    assert!(
        arr(&https["certificates"])
            .iter()
            .any(|c| covers(c, "*.backend.production.convox")),
        "a certificate on 443 covers *.backend.production.convox: {:#}",
        https["certificates"]
    );
    assert!(
        hosts(https).contains(&"api.backend.production.convox".to_string()),
        "{https:#}"
    );
    let rule = arr(&https["rules"])
        .iter()
        .find(|r| {
            arr(&r["host_headers"])
                .iter()
                .any(|h| h == "api.backend.production.convox")
        })
        .unwrap();
    assert_eq!(rule["actions"][0]["type"], "forward", "{rule:#}");
    assert!(
        !hosts(https).contains(&"backend-web.production.example.com".to_string()),
        "external web is not on the internal router"
    );

    // web, external, is on the internet-facing router and has no private record.
    // One external router.
    let external = rack_router(seen, "production", "internet-facing");
    assert!(hosts(listener(external, 443)).contains(&"backend-web.production.example.com".into()));
    assert!(
        !arr(&zone["records"])
            .iter()
            .any(|r| r["name"] == "web.backend.production.convox."),
        "{zone:#}"
    );
}
