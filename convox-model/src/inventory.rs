//! What a rack holds, read from observed resources, and the other answers a tool
//! over this library gives its user: which apps are deployed, which of an app's
//! endpoints answer (with their target groups), the link values a service sees,
//! whether a requested network contradicts the rack's, and the certificate
//! authority's two PEM blocks in one file.
//!
//! Every function here is pure: the caller observes (through a
//! [`crate::backend::Backend`]) and reads files; these functions only look.
//!
//! ```
//! use convox_model::inventory::{apps, deployed_endpoints};
//! use convox_model::name::Name;
//! use convox_model::params::RackParams;
//! use convox_model::rack::Rack;
//!
//! let rack = Rack::new(Name::new("production")?, RackParams::default(), None);
//! // Nothing observed: no app, no endpoint.
//! assert!(apps(&[]).is_empty());
//! assert!(deployed_endpoints(&[], &rack, &Name::new("backend")?).is_empty());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::BTreeSet;
use std::fmt;

use serde::Serialize;

use crate::check::Checked;
use crate::env::{LinkVar, link_vars};
use crate::exposure::{Endpoint, Hostname, Router, hostname};
use crate::name::Name;
use crate::rack::Rack;
use crate::resource::{Observed, ResourceKey, ResourceSpec as Spec, TAG_APP, TAG_SERVICE};

/// The apps that own at least one resource among `observed`, sorted by name.
///
/// An app is known by the `convox:app` tag its resources carry; a tag that is not
/// a valid name (not one this library wrote) is ignored.
pub fn apps(observed: &[Observed]) -> Vec<Name> {
    let names: BTreeSet<Name> = observed
        .iter()
        .filter_map(|o| o.resource.tags.get(TAG_APP))
        .filter_map(|a| Name::new(a.as_str()).ok())
        .collect();
    names.into_iter().collect()
}

/// The services of `app` that own at least one resource among `observed`,
/// sorted by name.
pub fn services(observed: &[Observed], app: &Name) -> Vec<Name> {
    let names: BTreeSet<Name> = observed
        .iter()
        .filter(|o| o.resource.tags.get(TAG_APP).map(String::as_str) == Some(app.as_str()))
        .filter_map(|o| o.resource.tags.get(TAG_SERVICE))
        .filter_map(|s| Name::new(s.as_str()).ok())
        .collect();
    names.into_iter().collect()
}

/// Whether `endpoint` of `app` answers: its host-header rule is on its router.
pub fn is_deployed(observed: &[Observed], app: &Name, endpoint: &Endpoint) -> bool {
    let rule = ResourceKey::listener_rule(app, &endpoint.service, endpoint.router);
    find(observed, &rule).is_some()
}

/// A target group as it exists.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TargetGroupRef {
    /// The provider's id (an ARN on AWS).
    pub arn: String,
    /// The port the service listens on.
    pub port: u16,
}

/// An endpoint of a service as the rack holds it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DeployedEndpoint {
    /// The service, router and hostname: the hostname the rule answers for when
    /// the rule exists, else the one the service would have.
    pub endpoint: Endpoint,
    /// Whether the host-header rule is on the router (the endpoint answers).
    pub deployed: bool,
    /// The service's target group on this router, when it exists.
    pub target_group: Option<TargetGroupRef>,
}

/// Every endpoint of `app` that has a rule or a target group among `observed`:
/// by service name, internal first within a service.
pub fn deployed_endpoints(observed: &[Observed], rack: &Rack, app: &Name) -> Vec<DeployedEndpoint> {
    let mut out = Vec::new();
    for service in services(observed, app) {
        for router in Router::ALL {
            let rule = find(observed, &ResourceKey::listener_rule(app, &service, router));
            let tg = find(observed, &ResourceKey::target_group(app, &service, router));
            if rule.is_none() && tg.is_none() {
                continue;
            }
            let host = rule
                .and_then(|r| match &r.resource.spec {
                    Spec::ListenerRule(spec) => spec.hosts.first().cloned(),
                    _ => None,
                })
                .map(Hostname::from_raw)
                .unwrap_or_else(|| hostname(rack, app, &service, router));
            let target_group = tg.and_then(|t| match &t.resource.spec {
                Spec::TargetGroup(spec) => Some(TargetGroupRef {
                    arn: t.id.clone(),
                    port: spec.port,
                }),
                _ => None,
            });
            out.push(DeployedEndpoint {
                endpoint: Endpoint {
                    service: service.clone(),
                    router,
                    hostname: host,
                },
                deployed: rule.is_some(),
                target_group,
            });
        }
    }
    out
}

fn find<'a>(observed: &'a [Observed], key: &ResourceKey) -> Option<&'a Observed> {
    observed.iter().find(|o| o.resource.key == *key)
}

/// A link variable as a service sees it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SeenLink {
    /// The service that has the link.
    pub service: Name,
    /// The variable, such as `API_URL`.
    pub var: LinkVar,
    /// Its value in the service's environment: the link's URL, unless the
    /// service declares a variable of the same name, which wins.
    pub value: String,
}

/// Each service's link variables as the service sees them, in manifest order.
pub fn links_as_seen(checked: &Checked, rack: &Rack, app: &Name) -> Vec<SeenLink> {
    let mut out = Vec::new();
    for svc in &checked.manifest.services {
        let env = checked.env.service(svc.name.as_str());
        for (var, url) in link_vars(&checked.manifest, rack, app, svc) {
            let value = env
                .and_then(|m| m.get(var.as_str()))
                .cloned()
                .unwrap_or(url);
            out.push(SeenLink {
                service: svc.name.clone(),
                var,
                value,
            });
        }
    }
    out
}

/// The network a command asks a rack to have; `None` leaves a part as it is.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NetworkRequest {
    /// The VPC id.
    pub vpc: Option<String>,
    /// The load balancers' subnets.
    pub subnets: Option<Vec<String>>,
    /// The host external endpoints live under.
    pub router_host: Option<String>,
    /// The region.
    pub region: Option<String>,
}

/// One part of a requested network that differs from an existing rack's.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum NetworkConflict {
    /// Another VPC.
    Vpc {
        /// Asked for.
        asked: String,
        /// The rack's.
        actual: String,
    },
    /// Other subnets.
    Subnets {
        /// Asked for.
        asked: Vec<String>,
        /// The rack's.
        actual: Vec<String>,
    },
    /// Another router host.
    RouterHost {
        /// Asked for.
        asked: String,
        /// The rack's.
        actual: String,
    },
    /// Another region.
    Region {
        /// Asked for.
        asked: String,
        /// The rack's.
        actual: String,
    },
}

impl fmt::Display for NetworkConflict {
    /// In the words of the command line's options: `--vpc X (it is in Y)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NetworkConflict::Vpc { asked, actual } => {
                write!(f, "--vpc {asked} (it is in {actual})")
            }
            NetworkConflict::Subnets { asked, actual } => write!(
                f,
                "--subnets {} (it uses {})",
                asked.join(","),
                actual.join(",")
            ),
            NetworkConflict::RouterHost { asked, actual } => {
                write!(f, "--router-host {asked} (it uses {actual})")
            }
            NetworkConflict::Region { asked, actual } => {
                write!(f, "--region {asked} (it is in {actual})")
            }
        }
    }
}

/// A rack's network is fixed once it exists: what of `asked` differs from
/// `rack`'s network (empty when nothing does, or nothing is asked).
pub fn network_conflicts(rack: &Rack, asked: &NetworkRequest) -> Vec<NetworkConflict> {
    let mut out = Vec::new();
    if let Some(v) = asked.vpc.as_ref().filter(|v| **v != rack.vpc.id) {
        out.push(NetworkConflict::Vpc {
            asked: v.clone(),
            actual: rack.vpc.id.clone(),
        });
    }
    // Subnets are a set: the same ones in another order are no change.
    let same_subnets = |s: &Vec<String>| {
        crate::resource::normal_subnets(s) == crate::resource::normal_subnets(&rack.subnets)
    };
    if let Some(s) = asked.subnets.as_ref().filter(|s| !same_subnets(s)) {
        out.push(NetworkConflict::Subnets {
            asked: s.clone(),
            actual: rack.subnets.clone(),
        });
    }
    if let Some(h) = asked
        .router_host
        .as_ref()
        .filter(|h| **h != rack.router_host)
    {
        out.push(NetworkConflict::RouterHost {
            asked: h.clone(),
            actual: rack.router_host.clone(),
        });
    }
    if let Some(r) = asked.region.as_ref().filter(|r| **r != rack.region) {
        out.push(NetworkConflict::Region {
            asked: r.clone(),
            actual: rack.region.clone(),
        });
    }
    out
}

/// A certificate authority's certificate and private key, read from one PEM
/// bundle (the file `convox` keeps beside its state), each with its armour: the
/// first `CERTIFICATE` block and the first `… PRIVATE KEY` block, in either
/// order. `None` when either is missing.
///
/// Give the two to [`crate::tls::CertificateAuthority::from_pem`].
pub fn ca_bundle(text: &str) -> Option<(String, String)> {
    let cert = pem_block(text, |l| l == "CERTIFICATE")?;
    let key = pem_block(text, |l| l.ends_with("PRIVATE KEY"))?;
    Some((cert, key))
}

/// The first PEM block whose label passes `label`, with its armour.
fn pem_block(text: &str, label: impl Fn(&str) -> bool) -> Option<String> {
    let mut out = String::new();
    let mut inside: Option<&str> = None;
    for line in text.lines() {
        let line = line.trim();
        match inside {
            None => {
                if let Some(l) = line
                    .strip_prefix("-----BEGIN ")
                    .and_then(|r| r.strip_suffix("-----"))
                    .filter(|l| label(l))
                {
                    inside = Some(l);
                    out.push_str(line);
                    out.push('\n');
                }
            }
            Some(l) => {
                out.push_str(line);
                out.push('\n');
                if line
                    .strip_prefix("-----END ")
                    .and_then(|r| r.strip_suffix("-----"))
                    == Some(l)
                {
                    return Some(out);
                }
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::name::n;
    use crate::params::RackParams;
    use crate::resource::{
        HealthCheck, ListenerRuleSpec, Protocol, Resource, TargetGroupSpec, ownership_tags,
    };

    fn observed(app: &str, service: &str, key: ResourceKey, spec: Spec, id: &str) -> Observed {
        Observed {
            resource: Resource {
                tags: ownership_tags(
                    &n("production"),
                    Some(&n(app)),
                    Some(&n(service)),
                    "x",
                    &key,
                ),
                key,
                spec,
            },
            id: id.to_string(),
            address: None,
            not_after: None,
        }
    }

    fn tg(app: &str, service: &str, router: Router, port: u16) -> Observed {
        let key = ResourceKey::target_group(&n(app), &n(service), router);
        let spec = Spec::TargetGroup(TargetGroupSpec {
            name: "tg".into(),
            protocol: Protocol::Http,
            port,
            vpc_id: "vpc".into(),
            health: HealthCheck {
                path: "/".into(),
                interval: 5,
                timeout: 4,
            },
        });
        observed(
            app,
            service,
            key,
            spec,
            &format!("arn:tg/{app}/{service}/{router}"),
        )
    }

    fn rule(app: &str, service: &str, router: Router, host: &str) -> Observed {
        let key = ResourceKey::listener_rule(&n(app), &n(service), router);
        let spec = Spec::ListenerRule(ListenerRuleSpec {
            listener: ResourceKey::router_listener(router, 443),
            priority: Some(1),
            hosts: vec![host.to_string()],
            target_group: ResourceKey::target_group(&n(app), &n(service), router),
        });
        observed(app, service, key, spec, "arn:rule")
    }

    /// Backend's `api`, routed on the internal router: its target group and rule.
    fn routed_api() -> Vec<Observed> {
        vec![
            tg("backend", "api", Router::Internal, 4000),
            rule(
                "backend",
                "api",
                Router::Internal,
                "api.backend.production.convox",
            ),
        ]
    }

    fn rack() -> Rack {
        Rack::new(n("production"), RackParams::default(), None)
    }

    #[test]
    fn apps_are_the_owners_of_app_resources_sorted() {
        let o = [
            vec![tg("shop", "cart", Router::Internal, 4000)],
            routed_api(),
        ]
        .concat();
        assert_eq!(apps(&o), vec![n("backend"), n("shop")]);
        assert_eq!(services(&o, &n("backend")), vec![n("api")]);
        assert!(services(&o, &n("nosuch")).is_empty());
    }

    #[test]
    fn an_endpoint_is_deployed_once_its_rule_exists() {
        let o = [
            routed_api(),
            vec![tg("backend", "web", Router::External, 3000)],
        ]
        .concat();
        let e = deployed_endpoints(&o, &rack(), &n("backend"));
        assert_eq!(e.len(), 2);
        assert_eq!(e[0].endpoint.url(), "https://api.backend.production.convox");
        assert!(e[0].deployed);
        assert_eq!(
            e[0].target_group,
            Some(TargetGroupRef {
                arn: "arn:tg/backend/api/internal".into(),
                port: 4000
            })
        );
        // A target group without its rule: not answering, hostname as it would be.
        assert_eq!(e[1].endpoint.router, Router::External);
        assert_eq!(
            e[1].endpoint.url(),
            "https://backend-web.production.example.com"
        );
        assert!(!e[1].deployed);
        assert!(is_deployed(&o, &n("backend"), &e[0].endpoint));
        assert!(!is_deployed(&o, &n("backend"), &e[1].endpoint));
        assert!(!is_deployed(&o, &n("shop"), &e[0].endpoint));
    }

    #[test]
    fn a_network_request_is_compared_part_by_part() {
        let r = rack();
        assert!(network_conflicts(&r, &NetworkRequest::default()).is_empty());
        let same = NetworkRequest {
            vpc: Some(r.vpc.id.clone()),
            region: Some(r.region.clone()),
            ..Default::default()
        };
        assert!(network_conflicts(&r, &same).is_empty());
        let other = NetworkRequest {
            vpc: Some("vpc-other".into()),
            subnets: Some(vec!["a".into(), "b".into()]),
            router_host: Some("x.org".into()),
            region: Some("eu-west-1".into()),
        };
        let c: Vec<String> = network_conflicts(&r, &other)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            c,
            [
                "--vpc vpc-other (it is in vpc-offline)",
                "--subnets a,b (it uses )",
                "--router-host x.org (it uses production.example.com)",
                "--region eu-west-1 (it is in us-east-1)",
            ]
        );
    }

    #[test]
    fn pem_blocks_are_found_by_label() {
        let text = "-----BEGIN CERTIFICATE-----\nQUJD\n-----END CERTIFICATE-----\n-----BEGIN PRIVATE KEY-----\nREVG\n-----END PRIVATE KEY-----\n";
        assert_eq!(
            pem_block(text, |l| l == "CERTIFICATE").unwrap(),
            "-----BEGIN CERTIFICATE-----\nQUJD\n-----END CERTIFICATE-----\n"
        );
        assert!(
            pem_block(text, |l| l.ends_with("PRIVATE KEY"))
                .unwrap()
                .contains("REVG")
        );
        assert!(pem_block("nothing", |_| true).is_none());
        let (cert, key) = ca_bundle(text).unwrap();
        assert!(cert.contains("QUJD") && key.contains("REVG"));
        assert!(
            ca_bundle("-----BEGIN CERTIFICATE-----\nQUJD\n-----END CERTIFICATE-----\n").is_none()
        );
    }
}
