//! One test per finding, each with the clean rack it starts from: a rack built
//! from desired state as a backend would report it, which must have no finding.

use std::collections::BTreeMap;

use super::*;
use crate::check::check;
use crate::desired::{desired_app, desired_rack};
use crate::name::n;
use crate::params::RackParams;
use crate::resource::{
    ForeignRule, ForeignSecurityGroup, LoadBalancerAddress, Resource, ResourceKind,
};

const NOW: i64 = 1_800_000_000;

fn rack() -> Rack {
    let params = RackParams::default()
        .with_assignments(["Internal=Yes"])
        .unwrap();
    let mut rack = Rack::new(n("production"), params, None);
    // The external router serves the user's ACM certificate for the router host.
    rack.external_certificate = Some("arn:aws:acm:us-east-1:1:certificate/user".into());
    rack
}

const YML: &str = "
services:
  web:
    port: 3000
  api:
    port: 4000
    internal: true
";

fn lb_address(router: Router) -> LoadBalancerAddress {
    LoadBalancerAddress {
        dns_name: format!("{router}-lb.us-east-1.elb.amazonaws.com"),
        hosted_zone_id: "Z35SXDOTRQ7X7K".into(),
    }
}

/// A provider id for a resource, as a backend would report it.
fn id_of(r: &Resource) -> String {
    match (&r.spec, r.key.subject()) {
        (Spec::SecurityGroup(_), KeySubject::RouterSecurityGroup(router)) => format!("sg-{router}"),
        (Spec::Record(rec), _) => rec.name.clone(),
        _ => format!("arn:{}", r.key),
    }
}

/// The clean rack: the rack's and one app's desired resources, as observed.
fn clean() -> Vec<Observed> {
    let rack = rack();
    let checked = check(YML, &rack, &n("backend"), &BTreeMap::new()).unwrap();
    let mut resources: Vec<Resource> = desired_rack(&rack, "fp").iter().cloned().collect();
    resources.extend(
        desired_app(&rack, &n("backend"), &checked.manifest, "fp")
            .unwrap()
            .iter()
            .cloned(),
    );
    resources
        .into_iter()
        .enumerate()
        .map(|(i, mut r)| {
            if let Spec::ListenerRule(rule) = &mut r.spec {
                rule.priority = Some(i as u32 + 1);
            }
            let address = match (&r.spec, r.key.subject()) {
                (Spec::LoadBalancer(_), KeySubject::RouterLoadBalancer(router)) => {
                    Some(lb_address(router.router))
                }
                (Spec::Record(_), _) => Some(lb_address(Router::Internal)),
                _ => None,
            };
            observed(r, address)
        })
        .collect()
}

/// An observed resource, built through its serialised form so that fields
/// observation gains later (with serde defaults) need no change here.
fn observed(r: Resource, address: Option<LoadBalancerAddress>) -> Observed {
    serde_json::from_value(serde_json::json!({
        "id": id_of(&r),
        "resource": r,
        "address": address,
    }))
    .unwrap()
}

fn run(observed: &[Observed], surroundings: &Surroundings) -> AuditReport {
    audit(&rack(), observed, surroundings, NOW)
}

/// What an audit of `o`, with nothing around the rack, finds.
fn findings(o: &[Observed]) -> Vec<Finding> {
    run(o, &Surroundings::default()).findings
}

/// The finding of foreign rule `rule` for `x.example.org` at `priority` on the
/// external router's HTTPS listener.
fn foreign_rule(rule: &str, priority: u32) -> Finding {
    Finding::ForeignRule {
        rule: rule.into(),
        listener: "arn:router/external/listener/443".into(),
        router: Some(Router::External),
        priority: Some(priority),
        hosts: vec!["x.example.org".into()],
    }
}

fn find_mut<'a>(o: &'a mut [Observed], key: &ResourceKey) -> &'a mut Observed {
    o.iter_mut().find(|o| o.resource.key == *key).unwrap()
}

fn internal_sg(o: &mut [Observed]) -> &mut Vec<IngressRule> {
    match &mut find_mut(o, &ResourceKey::router_security_group(Router::Internal))
        .resource
        .spec
    {
        Spec::SecurityGroup(s) => &mut s.ingress,
        _ => unreachable!(),
    }
}

fn tcp(port: u16, cidr: &str) -> IngressRule {
    IngressRule {
        protocol: "tcp".into(),
        port,
        cidr: cidr.into(),
    }
}

#[test]
fn a_clean_rack_has_no_finding_and_shows_who_reaches_what() {
    let o = clean();
    let r = run(&o, &Surroundings::default());
    assert_eq!(r.findings, vec![], "{:#?}", r.findings);
    assert!(r.is_clean());
    assert_eq!(r.routers.len(), 2);
    assert_eq!(r.routers[0].router, Router::Internal);
    assert_eq!(r.routers[0].scheme, LbScheme::Internal);
    assert_eq!(r.routers[0].security_groups, vec!["sg-internal"]);
    assert_eq!(
        r.routers[0]
            .ingress
            .iter()
            .map(|i| (i.port, i.source.as_str()))
            .collect::<Vec<_>>(),
        [(80, "10.0.0.0/16"), (443, "10.0.0.0/16")]
    );
    let hosts: Vec<(&str, Option<Router>)> = r
        .endpoints
        .iter()
        .map(|e| (e.hostname.as_str(), e.router))
        .collect();
    assert_eq!(
        hosts,
        [
            ("api.backend.production.convox", Some(Router::Internal)),
            ("backend-web.production.example.com", Some(Router::External)),
        ]
    );
    let api = &r.endpoints[0];
    assert_eq!(api.scheme, Some(LbScheme::Internal));
    assert_eq!(api.app.as_deref(), Some("backend"));
    assert_eq!(api.service.as_deref(), Some("api"));
    let record = api.record.as_ref().unwrap();
    assert_eq!(record.router, Some(Router::Internal));
    assert_eq!(record.aliases, lb_address(Router::Internal).dns_name);
    assert_eq!(r.endpoints[1].record, None);
    assert_eq!(r.endpoints[1].scheme, Some(LbScheme::InternetFacing));
}

#[test]
fn an_internal_router_open_outside_the_vpc_is_found_naming_the_source() {
    for source in [
        "0.0.0.0/0",
        "::/0",
        "10.1.0.0/16",
        "10.0.0.0/8",
        "(other source)",
    ] {
        let mut o = clean();
        internal_sg(&mut o).push(tcp(443, source));
        let r = run(&o, &Surroundings::default());
        assert_eq!(
            r.findings,
            vec![Finding::IngressOutsideVpc {
                security_group: "sg-internal".into(),
                protocol: "tcp".into(),
                port: 443,
                source: source.into(),
                vpc_cidr: "10.0.0.0/16".into(),
            }],
            "{source}"
        );
        assert!(r.findings[0].to_string().contains(source));
        // The endpoint shows the rule too.
        assert!(r.endpoints[0].ingress.iter().any(|i| i.source == source));
    }
    // A source inside the VPC is no finding; nor is the world on the external
    // router, which is what it is for.
    let mut o = clean();
    internal_sg(&mut o).push(tcp(443, "10.0.7.0/24"));
    assert!(run(&o, &Surroundings::default()).is_clean());
}

#[test]
fn an_internet_facing_internal_router_is_found() {
    let mut o = clean();
    let lb = find_mut(&mut o, &ResourceKey::router_load_balancer(Router::Internal));
    let Spec::LoadBalancer(spec) = &mut lb.resource.spec else {
        unreachable!()
    };
    spec.scheme = LbScheme::InternetFacing;
    assert_eq!(
        findings(&o),
        vec![Finding::InternetFacingInternalRouter {
            load_balancer: "arn:router/internal/alb".into()
        }]
    );
}

#[test]
fn a_port_other_than_80_and_443_is_found_on_either_router() {
    let mut o = clean();
    let sg = find_mut(
        &mut o,
        &ResourceKey::router_security_group(Router::External),
    );
    let Spec::SecurityGroup(spec) = &mut sg.resource.spec else {
        unreachable!()
    };
    spec.ingress.push(tcp(22, "0.0.0.0/0"));
    internal_sg(&mut o).push(tcp(0, "10.0.0.0/16"));
    assert_eq!(
        findings(&o),
        vec![
            Finding::UnexpectedPort {
                router: Router::Internal,
                security_group: "sg-internal".into(),
                protocol: "tcp".into(),
                port: 0,
                source: "10.0.0.0/16".into(),
            },
            Finding::UnexpectedPort {
                router: Router::External,
                security_group: "sg-external".into(),
                protocol: "tcp".into(),
                port: 22,
                source: "0.0.0.0/0".into(),
            },
        ]
    );
}

#[test]
fn an_extra_security_group_is_found_with_what_it_admits() {
    let o = clean();
    let mut s = Surroundings::default();
    s.load_balancer_security_groups.insert(
        "arn:router/internal/alb".into(),
        vec!["sg-internal".into(), "sg-foreign".into()],
    );
    s.foreign_security_groups.push(ForeignSecurityGroup {
        id: "sg-foreign".into(),
        name: "debug".into(),
        ingress: vec![tcp(443, "0.0.0.0/0")],
    });
    let r = run(&o, &s);
    assert_eq!(
        r.findings,
        vec![
            Finding::IngressOutsideVpc {
                security_group: "sg-foreign".into(),
                protocol: "tcp".into(),
                port: 443,
                source: "0.0.0.0/0".into(),
                vpc_cidr: "10.0.0.0/16".into(),
            },
            Finding::ExtraSecurityGroup {
                router: Router::Internal,
                load_balancer: "arn:router/internal/alb".into(),
                security_group: "sg-foreign".into(),
            },
        ]
    );
    // The rack's own groups listed as they are: no finding.
    let mut s = Surroundings::default();
    s.load_balancer_security_groups
        .insert("arn:router/internal/alb".into(), vec!["sg-internal".into()]);
    assert!(run(&o, &s).is_clean());
}

fn retarget(o: &mut [Observed], router: Router, dns: Option<&str>) {
    let key = ResourceKey::record(&n("backend"), &n("api"));
    let rec = find_mut(o, &key);
    let Spec::Record(spec) = &mut rec.resource.spec else {
        unreachable!()
    };
    let target = match dns {
        Some(d) => {
            spec.load_balancer = ResourceKey::from_raw(format!("foreign:{d}"));
            LoadBalancerAddress {
                dns_name: d.into(),
                hosted_zone_id: "Z1".into(),
            }
        }
        None => {
            spec.load_balancer = ResourceKey::router_load_balancer(router);
            lb_address(router)
        }
    };
    rec.address = Some(target);
}

#[test]
fn an_internal_name_aliasing_the_external_router_is_found() {
    let mut o = clean();
    retarget(&mut o, Router::External, None);
    let r = run(&o, &Surroundings::default());
    assert_eq!(
        r.findings,
        vec![Finding::InternalNameAliasesExternalRouter {
            name: "api.backend.production.convox".into(),
            target: lb_address(Router::External).dns_name,
        }]
    );
    assert_eq!(
        r.endpoints[0].record.as_ref().unwrap().router,
        Some(Router::External)
    );
}

#[test]
fn a_record_aliasing_something_not_the_racks_is_found() {
    let mut o = clean();
    retarget(&mut o, Router::Internal, Some("evil.example.org"));
    assert_eq!(
        findings(&o),
        vec![Finding::RecordAliasesForeignTarget {
            name: "api.backend.production.convox".into(),
            target: "evil.example.org".into(),
        }]
    );
}

#[test]
fn a_host_no_attached_certificate_covers_is_found() {
    // A rule's host changed by hand.
    let mut o = clean();
    let key = ResourceKey::listener_rule(&n("backend"), &n("web"), Router::External);
    let rule = find_mut(&mut o, &key);
    let Spec::ListenerRule(spec) = &mut rule.resource.spec else {
        unreachable!()
    };
    spec.hosts = vec!["shop.example.org".into()];
    let r = run(&o, &Surroundings::default());
    assert_eq!(
        r.findings,
        vec![Finding::HostNotCovered {
            rule: format!("arn:{key}"),
            router: Some(Router::External),
            hostname: "shop.example.org".into(),
        }]
    );

    // The app's certificate detached from the internal listener.
    let mut o = clean();
    o.retain(|o| o.resource.spec.kind() != ResourceKind::ListenerCertificate);
    assert_eq!(
        findings(&o),
        vec![Finding::HostNotCovered {
            rule: "arn:app/backend/api/internal/rule".into(),
            router: Some(Router::Internal),
            hostname: "api.backend.production.convox".into(),
        }]
    );
}

#[test]
fn certificates_are_found_expired_or_due_by_their_validity() {
    let day = 24 * 3600;
    let f = |not_after| certificate_validity_finding("arn:c", "*.x.convox", not_after, NOW);
    assert_eq!(f(None), None, "no validity observed: nothing to say");
    assert_eq!(f(Some(NOW + 31 * day)), None);
    assert_eq!(
        f(Some(NOW + 30 * day)),
        Some(Finding::CertificateDue {
            certificate: "arn:c".into(),
            domain: "*.x.convox".into(),
            not_after: NOW + 30 * day,
        })
    );
    assert_eq!(
        f(Some(NOW)),
        Some(Finding::CertificateExpired {
            certificate: "arn:c".into(),
            domain: "*.x.convox".into(),
            not_after: NOW,
        })
    );
}

#[test]
fn resources_claiming_one_key_are_found() {
    let mut o = clean();
    let key = ResourceKey::target_group(&n("backend"), &n("web"), Router::External);
    let mut copy = o.iter().find(|o| o.resource.key == key).unwrap().clone();
    copy.id = "arn:copied-tags".into();
    o.push(copy);
    assert_eq!(
        findings(&o),
        vec![Finding::DuplicateClaim {
            key: key.to_string(),
            ids: vec![format!("arn:{key}"), "arn:copied-tags".into()],
        }]
    );
}

#[test]
fn a_foreign_rule_on_our_listener_is_found() {
    let o = clean();
    let s = Surroundings {
        foreign_rules: vec![ForeignRule {
            id: "arn:foreign-rule".into(),
            listener_id: "arn:router/external/listener/443".into(),
            priority: Some(7),
            hosts: vec!["x.example.org".into()],
        }],
        ..Surroundings::default()
    };
    let r = run(&o, &s);
    assert_eq!(r.findings, vec![foreign_rule("arn:foreign-rule", 7)]);
}

#[test]
fn an_untagged_rule_observe_reports_is_a_foreign_rule_not_an_endpoint() {
    let mut o = clean();
    let key = ResourceKey::listener_rule(&n("backend"), &n("web"), Router::External);
    let mut rule = o.iter().find(|o| o.resource.key == key).unwrap().clone();
    rule.resource.key = ResourceKey::from_raw("foreign-rule/arn:x");
    rule.resource.tags.clear();
    rule.id = "arn:x".into();
    if let Spec::ListenerRule(r) = &mut rule.resource.spec {
        r.hosts = vec!["x.example.org".into()];
        r.priority = Some(9);
    }
    o.push(rule);
    let r = run(&o, &Surroundings::default());
    assert_eq!(r.endpoints.len(), 2);
    assert_eq!(r.findings, vec![foreign_rule("arn:x", 9)]);
}

#[test]
fn a_certificates_observed_validity_is_read() {
    let o = clean();
    let cert = o
        .iter()
        .find(|o| o.resource.key == ResourceKey::app_certificate(&n("backend")))
        .unwrap();
    assert_eq!(certificate_not_after(cert), None);
    let mut v = serde_json::to_value(cert).unwrap();
    v["not_after"] = serde_json::json!(NOW - 1);
    // Whenever observation holds the field, the audit reads it, and an
    // expired certificate is found; without it, nothing can be said.
    let with: Observed = serde_json::from_value(v).unwrap();
    let holds = serde_json::to_value(&with)
        .unwrap()
        .get("not_after")
        .is_some();
    assert_eq!(certificate_not_after(&with), holds.then_some(NOW - 1));
    let found = certificate_findings(std::slice::from_ref(&with), NOW);
    assert_eq!(
        found.iter().map(Finding::kind).collect::<Vec<_>>(),
        if holds {
            vec!["certificate_expired"]
        } else {
            vec![]
        }
    );
}

#[test]
fn findings_are_sorted_and_the_json_shape_is_stable() {
    let mut o = clean();
    internal_sg(&mut o).push(tcp(8443, "0.0.0.0/0"));
    retarget(&mut o, Router::External, None);
    let r = run(&o, &Surroundings::default());
    let again = run(&o, &Surroundings::default());
    assert_eq!(
        serde_json::to_string(&r).unwrap(),
        serde_json::to_string(&again).unwrap()
    );
    let kinds: Vec<&str> = r.findings.iter().map(Finding::kind).collect();
    assert_eq!(
        kinds,
        [
            "ingress_outside_vpc",
            "unexpected_port",
            "internal_name_aliases_external_router"
        ]
    );
    for f in &r.findings {
        assert_eq!(serde_json::to_value(f).unwrap()["kind"], f.kind());
    }
    insta::assert_snapshot!("audit_report", serde_json::to_string_pretty(&r).unwrap());
}
