//! Desired state: every resource a rack, or one app on it, should have.
//!
//! Pure functions of the rack (its name, network and parameters), the app's
//! validated manifest and the fingerprint of the rack's certificate authority.
//! Each resource carries its stable [`ResourceKey`] and ownership tags; AWS names
//! are derived from the key (a readable prefix plus a hash) and are never identity.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use std::collections::BTreeSet;

use crate::exposure::{self, Hostname, Router, Shard};
use crate::manifest::{Manifest, Scheme};
use crate::name::{MAX_HOSTNAME_LEN, Name};
use crate::public_cert::certificate_reference;
use crate::rack::Rack;
use crate::resource::{
    CertificateSpec, DefaultAction, HealthCheck, HostedZoneSpec, IngressRule, LbScheme,
    ListenerCertificateSpec, ListenerRuleSpec, ListenerSpec, LoadBalancerSpec, Protocol,
    RecordSpec, Resource, ResourceKey, ResourceSpec, Scope, SecurityGroupSpec, TargetGroupSpec,
    normal_ingress, normal_subnets, ownership_tags, role,
};

/// The resources one scope of a rack should have, by key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DesiredState {
    /// The scope these resources belong to.
    pub scope: Scope,
    /// The resources, by key.
    pub resources: BTreeMap<ResourceKey, Resource>,
    /// When the certificates in it are due for renewal; `None` renews nothing
    /// (see [`DesiredState::renewing`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub renewal: Option<crate::renew::Renewal>,
}

impl DesiredState {
    /// No resources: what a deleted app should have.
    pub fn empty(scope: Scope) -> Self {
        DesiredState {
            scope,
            resources: BTreeMap::new(),
            renewal: None,
        }
    }

    /// The same state, with its certificates due as `renewal` says: the planner
    /// renews every one that expires within the window, whatever else changes.
    pub fn renewing(mut self, renewal: crate::renew::Renewal) -> Self {
        self.renewal = Some(renewal);
        self
    }

    /// The resource with `key`.
    pub fn get(&self, key: &ResourceKey) -> Option<&Resource> {
        self.resources.get(key)
    }

    /// How many resources.
    pub fn len(&self) -> usize {
        self.resources.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.resources.is_empty()
    }

    /// The resources in key order.
    pub fn iter(&self) -> impl Iterator<Item = &Resource> {
        self.resources.values()
    }

    fn insert(&mut self, r: Resource) {
        self.resources.insert(r.key.clone(), r);
    }
}

/// Why desired state cannot be computed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DesiredError {
    /// A hostname built from the rack, app and service names is too long for DNS.
    #[error(
        "hostname {hostname} of service {service} is {len} characters long; DNS allows at most 253 (shorten the app, service or rack name)"
    )]
    HostnameTooLong {
        /// The service.
        service: String,
        /// The hostname.
        hostname: String,
        /// Its length.
        len: usize,
    },
}

/// The first 8 hex digits of SHA-256 of `s`: enough to tell names apart within one
/// account, short enough for AWS's 32-character limit.
fn short_hash(s: &str) -> String {
    let digest = Sha256::digest(s.as_bytes());
    digest.iter().take(4).map(|b| format!("{b:02x}")).collect()
}

/// At most `n` characters of a DNS label, without a trailing dash (AWS names may
/// not end with one, and a dash before our own separator would read badly).
fn clip(s: &str, n: usize) -> &str {
    let end = s.len().min(n);
    s[..end].trim_end_matches('-')
}

fn router_letter(router: Router) -> &'static str {
    match router {
        Router::Internal => "i",
        Router::External => "e",
    }
}

/// The name of a router's first load balancer: `cx-{rack}-{i|e}-{hash}`, at
/// most 32 characters. The `cx-` prefix keeps it from starting with
/// `internal-`, which AWS reserves (a rack may well be called `internal`).
pub fn load_balancer_name(rack: &Name, router: Router) -> String {
    shard_load_balancer_name(rack, Shard::first(router))
}

/// The name of one load balancer of a router's pool: the first's as
/// [`load_balancer_name`], the `n`th's `cx-{rack}-{i|e}{n}-{hash}`.
pub fn shard_load_balancer_name(rack: &Name, shard: Shard) -> String {
    let key = ResourceKey::shard_load_balancer(shard);
    let letter = router_letter(shard.router);
    let number = if shard.is_first() {
        String::new()
    } else {
        shard.index.to_string()
    };
    format!(
        "cx-{}-{letter}{number}-{}",
        clip(rack.as_str(), 16 - number.len().min(5)),
        short_hash(&format!("{rack}/{key}"))
    )
}

/// The name of a router's security group: `convox-{rack}-{router}-router`.
pub fn security_group_name(rack: &Name, router: Router) -> String {
    format!("convox-{rack}-{router}-router")
}

/// The name of a service's target group: `cx-{app}-{service}-{i|e}-{hash}`, at most
/// 32 characters. The hash covers the immutable settings too, so that a change of
/// protocol or port gets a fresh name and the old group can be deleted after.
pub fn target_group_name(
    rack: &Name,
    app: &Name,
    service: &Name,
    router: Router,
    protocol: Protocol,
    port: u16,
) -> String {
    target_group_name_on(rack, app, service, Shard::first(router), protocol, port)
}

/// The name of a service's target group on one load balancer of its router's
/// pool: [`target_group_name`] on the first; on a later one the hash covers
/// its number too, so that a service placed elsewhere gets a fresh group (a
/// target group belongs to one load balancer for life).
pub fn target_group_name_on(
    rack: &Name,
    app: &Name,
    service: &Name,
    shard: Shard,
    protocol: Protocol,
    port: u16,
) -> String {
    let router = shard.router;
    let key = ResourceKey::target_group(app, service, router);
    let on = if shard.is_first() {
        String::new()
    } else {
        format!("/{}", shard.index)
    };
    format!(
        "cx-{}-{}-{}-{}",
        clip(app.as_str(), 7),
        clip(service.as_str(), 7),
        router_letter(router),
        short_hash(&format!("{rack}/{key}/{}/{port}{on}", protocol.as_str()))
    )
}

/// The router's default certificate domain: `*.{rack}.convox` for the internal
/// router, `*.{router host}` for the external one.
pub fn router_certificate_domain(rack: &Rack, router: Router) -> String {
    match router {
        Router::Internal => format!("*.{}", rack.zone_name()),
        Router::External => format!(
            "*.{}",
            rack.router_host.trim_end_matches('.').to_ascii_lowercase()
        ),
    }
}

/// An app's wildcard certificate domain: `*.{app}.{rack}.convox`.
pub fn app_certificate_domain(rack: &Rack, app: &Name) -> String {
    format!("*.{app}.{}", rack.zone_name())
}

fn router_present(rack: &Rack, router: Router) -> bool {
    match router {
        Router::Internal => rack.params.internal(),
        Router::External => rack.params.has_external_router(),
    }
}

/// Everything the rack itself should have: its private zone, and per router a
/// security group, a load balancer, listeners on 80 (redirect) and 443 (404 by
/// default) and the router's default certificate.
///
/// The external router's certificate is public ([`crate::public_cert`]): this
/// takes the user's [`Rack::external_certificate`] as issued. A caller that
/// knows where the certificate is calls [`desired_rack_with`].
pub fn desired_rack(rack: &Rack, ca_fingerprint: &str) -> DesiredState {
    desired_rack_with(rack, ca_fingerprint, rack.external_certificate.as_deref())
}

/// [`desired_rack`], with `external_certificate` the ARN of the issued public
/// certificate the external router serves, or `None` while there is none: then
/// the external router has no 443 listener yet (its endpoints wait). The rack's
/// private CA never issues the external router's certificate.
pub fn desired_rack_with(
    rack: &Rack,
    ca_fingerprint: &str,
    external_certificate: Option<&str>,
) -> DesiredState {
    desired_rack_pool(rack, ca_fingerprint, external_certificate, &BTreeSet::new())
}

/// [`desired_rack_with`], with every load balancer of `shards` in its
/// router's pool besides the first ([`crate::pool`]): each a full router with
/// its own listeners, sharing the router's security group and default
/// certificate. Shards of a router the rack lacks are ignored.
pub fn desired_rack_pool(
    rack: &Rack,
    ca_fingerprint: &str,
    external_certificate: Option<&str>,
    shards: &BTreeSet<Shard>,
) -> DesiredState {
    let mut d = DesiredState::empty(Scope::Rack);
    let tags = |role: &str, key: &ResourceKey| ownership_tags(&rack.name, None, None, role, key);

    let zone = ResourceKey::zone();
    d.insert(Resource {
        tags: tags(role::ZONE, &zone),
        key: zone,
        spec: ResourceSpec::HostedZone(HostedZoneSpec {
            name: rack.zone_name(),
            vpc_id: rack.vpc.id.clone(),
            region: rack.region.clone(),
        }),
    });

    for router in Router::ALL {
        if !router_present(rack, router) {
            continue;
        }
        let (source, scheme) = match router {
            // The whole point of the internal router: nothing outside the VPC.
            Router::Internal => (rack.vpc.cidr.clone(), LbScheme::Internal),
            Router::External => ("0.0.0.0/0".to_string(), LbScheme::InternetFacing),
        };
        let sg = ResourceKey::router_security_group(router);
        d.insert(Resource {
            tags: tags(role::ROUTER_SECURITY_GROUP, &sg),
            key: sg.clone(),
            spec: ResourceSpec::SecurityGroup(SecurityGroupSpec {
                name: security_group_name(&rack.name, router),
                description: format!(
                    "Convox rack {} {router} router: HTTP and HTTPS from {source}",
                    rack.name
                ),
                vpc_id: rack.vpc.id.clone(),
                ingress: normal_ingress(
                    &[80, 443]
                        .into_iter()
                        .map(|port| IngressRule {
                            protocol: "tcp".to_string(),
                            port,
                            cidr: source.clone(),
                        })
                        .collect::<Vec<_>>(),
                ),
            }),
        });

        // The internal router's certificate is the rack CA's; the external
        // router's is public, referenced by its ARN, and none until issued.
        let cert = match router {
            Router::Internal => {
                let cert = ResourceKey::router_certificate(router);
                d.insert(Resource {
                    tags: tags(role::ROUTER_CERTIFICATE, &cert),
                    key: cert.clone(),
                    spec: ResourceSpec::Certificate(CertificateSpec {
                        domain: router_certificate_domain(rack, router),
                        issuer: ca_fingerprint.to_string(),
                        names: Vec::new(),
                    }),
                });
                Some(cert)
            }
            Router::External => external_certificate.map(certificate_reference),
        };

        let pool = std::iter::once(Shard::first(router))
            .chain(shards.iter().copied().filter(|s| s.router == router));
        for shard in pool {
            let lb = ResourceKey::shard_load_balancer(shard);
            d.insert(Resource {
                tags: tags(role::ROUTER_LOAD_BALANCER, &lb),
                key: lb.clone(),
                spec: ResourceSpec::LoadBalancer(LoadBalancerSpec {
                    name: shard_load_balancer_name(&rack.name, shard),
                    scheme,
                    subnets: normal_subnets(&rack.subnets),
                    security_group: sg.clone(),
                    other_security_groups: Vec::new(),
                }),
            });

            let http = ResourceKey::shard_listener(shard, 80);
            d.insert(Resource {
                tags: tags(role::ROUTER_LISTENER, &http),
                key: http,
                spec: ResourceSpec::Listener(ListenerSpec::redirect_to_https(lb.clone())),
            });

            let Some(cert) = cert.clone() else { continue };
            let https = ResourceKey::shard_listener(shard, 443);
            d.insert(Resource {
                tags: tags(role::ROUTER_LISTENER, &https),
                key: https,
                spec: ResourceSpec::Listener(ListenerSpec {
                    load_balancer: lb,
                    port: 443,
                    protocol: Protocol::Https,
                    default_action: DefaultAction::FixedResponse {
                        status_code: 404,
                        content_type: "text/plain".to_string(),
                        body: "unknown host".to_string(),
                    },
                    certificate: Some(cert),
                }),
            });
        }
    }
    d
}

/// Everything one app should have on the rack: per routed (service, router) a
/// target group and a host-header rule on that router's 443 listener; per internal
/// endpoint an alias record in the rack's zone; and, when the app has internal
/// endpoints, its wildcard certificate attached to the internal 443 listener.
///
/// Rule priorities are left to the planner, which knows the rules that exist.
///
/// The manifest must fit the rack: the rack rules (an internal service needs
/// `Internal=Yes`, ...) are [`crate::rules`]'s, checked once at the entry
/// ([`crate::ops`] checks them before planning). A service routed on a router the
/// rack lacks still gets its resources here, and the planner then refuses them as
/// needing a router that does not exist, naming the fix.
///
/// External endpoints get their rules when the rack has a user-supplied
/// [`Rack::external_certificate`]; a caller that knows where the external
/// router's certificate is calls [`desired_app_with`].
pub fn desired_app(
    rack: &Rack,
    app: &Name,
    manifest: &Manifest,
    ca_fingerprint: &str,
) -> Result<DesiredState, DesiredError> {
    let external_ready = rack.external_certificate.is_some();
    desired_app_with(rack, app, manifest, ca_fingerprint, external_ready)
}

/// [`desired_app`], with `external_ready` whether the external router's 443
/// listener exists or is desired (its public certificate is issued). Until it
/// is, external endpoints get their target groups but no rules: they wait for
/// the certificate ([`crate::public_cert`]).
pub fn desired_app_with(
    rack: &Rack,
    app: &Name,
    manifest: &Manifest,
    ca_fingerprint: &str,
    external_ready: bool,
) -> Result<DesiredState, DesiredError> {
    let mut d = DesiredState::empty(Scope::App(app.clone()));
    let mut has_internal = false;

    for service in &manifest.services {
        let Some(port) = service.port else { continue };
        let tags = |role: &str, key: &ResourceKey| {
            ownership_tags(&rack.name, Some(app), Some(&service.name), role, key)
        };
        for endpoint in exposure::service_endpoints(rack, app, service) {
            let router = endpoint.router;
            let host = &endpoint.hostname;
            check_hostname(&service.name, host)?;
            let protocol = match port.scheme {
                Scheme::Http | Scheme::Grpc => Protocol::Http,
                Scheme::Https | Scheme::SecureGrpc => Protocol::Https,
            };
            let tg = ResourceKey::target_group(app, &service.name, router);
            d.insert(Resource {
                tags: tags(role::TARGET_GROUP, &tg),
                key: tg.clone(),
                spec: ResourceSpec::TargetGroup(TargetGroupSpec {
                    name: target_group_name(
                        &rack.name,
                        app,
                        &service.name,
                        router,
                        protocol,
                        port.port,
                    ),
                    protocol,
                    port: port.port,
                    vpc_id: rack.vpc.id.clone(),
                    health: HealthCheck {
                        path: service.health.path.clone(),
                        interval: service.health.interval,
                        timeout: service.health.timeout,
                    },
                }),
            });

            if router == Router::External && !external_ready {
                continue;
            }
            let rule = ResourceKey::listener_rule(app, &service.name, router);
            d.insert(Resource {
                tags: tags(role::LISTENER_RULE, &rule),
                key: rule,
                spec: ResourceSpec::ListenerRule(ListenerRuleSpec {
                    listener: ResourceKey::router_listener(router, 443),
                    priority: None,
                    hosts: vec![host.to_string()],
                    target_group: tg,
                }),
            });

            if router == Router::Internal {
                has_internal = true;
                let record = ResourceKey::record(app, &service.name);
                d.insert(Resource {
                    tags: tags(role::RECORD, &record),
                    key: record,
                    spec: ResourceSpec::Record(RecordSpec {
                        zone: ResourceKey::zone(),
                        name: host.to_string(),
                        load_balancer: ResourceKey::router_load_balancer(Router::Internal),
                    }),
                });
            }
        }
    }

    if has_internal {
        let tags =
            |role: &str, key: &ResourceKey| ownership_tags(&rack.name, Some(app), None, role, key);
        let cert = ResourceKey::app_certificate(app);
        d.insert(Resource {
            tags: tags(role::APP_CERTIFICATE, &cert),
            key: cert.clone(),
            spec: ResourceSpec::Certificate(CertificateSpec {
                domain: app_certificate_domain(rack, app),
                issuer: ca_fingerprint.to_string(),
                names: Vec::new(),
            }),
        });
        let attachment = ResourceKey::app_listener_certificate(app);
        d.insert(Resource {
            tags: tags(role::LISTENER_CERTIFICATE, &attachment),
            key: attachment,
            spec: ResourceSpec::ListenerCertificate(ListenerCertificateSpec {
                listener: ResourceKey::router_listener(Router::Internal, 443),
                certificate: cert,
            }),
        });
    }
    Ok(d)
}

fn check_hostname(service: &Name, host: &Hostname) -> Result<(), DesiredError> {
    let len = host.as_str().len();
    if len > MAX_HOSTNAME_LEN {
        return Err(DesiredError::HostnameTooLong {
            service: service.to_string(),
            hostname: host.to_string(),
            len,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::{ElbName, MAX_ELB_NAME_LEN, check_elb_name};
    use crate::manifest::{Exposure, Port, Service};
    use crate::params::RackParams;
    use crate::resource::{TAG_KEY, TAG_RACK, TAG_ROLE};
    use std::collections::BTreeSet;

    fn n(s: &str) -> Name {
        Name::new(s).unwrap()
    }

    fn rack(internal: bool, internal_only: bool) -> Rack {
        let mut r = Rack::new(
            n("production"),
            RackParams::new(internal, internal_only).unwrap(),
            Some("production.example.com".into()),
        );
        r.subnets = vec!["subnet-a".into(), "subnet-b".into()];
        r.external_certificate = Some(USER_CERT.into());
        r
    }

    const USER_CERT: &str = "arn:aws:acm:us-east-1:1:certificate/user";

    fn svc(name: &str, port: Option<u16>, internal: bool, both: bool) -> Service {
        let mut s = Service::with_defaults(n(name));
        s.port = port.map(|port| Port {
            port,
            scheme: Scheme::Http,
        });
        s.exposure = Exposure::from_flags(internal, both);
        s
    }

    #[test]
    fn internal_router_admits_only_the_vpc_cidr_on_80_and_443() {
        let d = desired_rack(&rack(true, false), "ca");
        let Some(Resource {
            spec: ResourceSpec::SecurityGroup(sg),
            ..
        }) = d.get(&ResourceKey::router_security_group(Router::Internal))
        else {
            panic!("no internal security group");
        };
        let got: Vec<(u16, &str)> = sg
            .ingress
            .iter()
            .map(|r| (r.port, r.cidr.as_str()))
            .collect();
        assert_eq!(got, vec![(80, "10.0.0.0/16"), (443, "10.0.0.0/16")]);
        assert!(sg.ingress.iter().all(|r| r.protocol == "tcp"));
    }

    #[test]
    fn rack_has_zone_and_both_routers_with_listeners_and_certificates() {
        let d = desired_rack(&rack(true, false), "ca");
        // zone + 2 × (sg, alb, listener 80, listener 443) + the internal
        // router's certificate: the external one is the user's public one.
        assert_eq!(d.len(), 10);
        let Some(Resource {
            spec: ResourceSpec::Listener(l),
            ..
        }) = d.get(&ResourceKey::router_listener(Router::External, 443))
        else {
            panic!("no external 443 listener");
        };
        assert_eq!(l.protocol, Protocol::Https);
        assert_eq!(l.certificate, Some(certificate_reference(USER_CERT)));
        assert!(
            d.get(&ResourceKey::router_certificate(Router::External))
                .is_none()
        );
        assert!(matches!(
            &l.default_action,
            DefaultAction::FixedResponse { status_code: 404, body, content_type }
                if body == "unknown host" && content_type == "text/plain"
        ));
        let Some(Resource {
            spec: ResourceSpec::Certificate(c),
            ..
        }) = d.get(&ResourceKey::router_certificate(Router::Internal))
        else {
            panic!("no internal certificate");
        };
        assert_eq!(c.domain, "*.production.convox");
    }

    #[test]
    fn without_an_issued_public_certificate_external_endpoints_wait() {
        let mut r = rack(true, false);
        r.external_certificate = None;
        let d = desired_rack(&r, "ca");
        let https = ResourceKey::router_listener(Router::External, 443);
        assert!(d.get(&https).is_none());
        assert!(
            d.get(&ResourceKey::router_load_balancer(Router::External))
                .is_some()
        );
        // Never a certificate of the rack's CA for the router host.
        assert!(d.iter().all(|res| !matches!(
            &res.spec,
            ResourceSpec::Certificate(c) if c.domain == "*.production.example.com"
        )));
        let m = Manifest::from_services(vec![svc("api", Some(3000), false, true)]);
        let app = desired_app(&r, &n("backend"), &m, "ca").unwrap();
        let rule = |router| ResourceKey::listener_rule(&n("backend"), &n("api"), router);
        assert!(app.get(&rule(Router::External)).is_none());
        assert!(app.get(&rule(Router::Internal)).is_some());
        let issued = desired_rack_with(&r, "ca", Some("arn:aws:acm:us-east-1:1:certificate/r"));
        assert!(issued.get(&https).is_some());
    }

    #[test]
    fn internal_only_rack_has_no_internet_facing_load_balancer() {
        let d = desired_rack(&rack(true, true), "ca");
        assert!(d.iter().all(|r| !matches!(
            &r.spec,
            ResourceSpec::LoadBalancer(lb) if lb.scheme == LbScheme::InternetFacing
        )));
        assert!(
            d.iter()
                .all(|r| !r.key.as_str().starts_with("router/external"))
        );
        let plain = desired_rack(&rack(false, false), "ca");
        assert!(
            plain
                .iter()
                .all(|r| !r.key.as_str().starts_with("router/internal"))
        );
    }

    #[test]
    fn internal_and_external_gives_two_target_groups_and_rules() {
        let r = rack(true, false);
        let m = Manifest::from_services(vec![svc("api", Some(3000), false, true)]);
        let d = desired_app(&r, &n("backend"), &m, "ca").unwrap();
        let kinds: Vec<_> = d.iter().map(|r| r.key.as_str().to_string()).collect();
        assert_eq!(
            kinds,
            vec![
                "app/backend/api/external/rule",
                "app/backend/api/external/tg",
                "app/backend/api/internal/rule",
                "app/backend/api/internal/tg",
                "app/backend/api/record",
                "app/backend/cert",
                "app/backend/cert/attachment",
            ]
        );
        let hosts: BTreeSet<_> = d
            .iter()
            .filter_map(|r| match &r.spec {
                ResourceSpec::ListenerRule(rule) => Some(rule.hosts[0].clone()),
                _ => None,
            })
            .collect();
        assert!(hosts.contains("api.backend.production.convox"));
        assert!(hosts.contains("backend-api.production.example.com"));
    }

    #[test]
    fn a_service_without_a_port_is_not_routed() {
        let r = rack(true, false);
        let m = Manifest::from_services(vec![svc("worker", None, true, false)]);
        assert!(desired_app(&r, &n("backend"), &m, "ca").unwrap().is_empty());
    }

    #[test]
    fn external_services_have_no_record_and_no_app_certificate() {
        let r = rack(false, false);
        let m = Manifest::from_services(vec![svc("web", Some(80), false, false)]);
        let d = desired_app(&r, &n("shop"), &m, "ca").unwrap();
        assert_eq!(d.len(), 2);
        assert!(d.iter().all(|r| !matches!(
            r.spec,
            ResourceSpec::Record(_)
                | ResourceSpec::Certificate(_)
                | ResourceSpec::ListenerCertificate(_)
        )));
    }

    #[test]
    fn names_are_short_unique_and_never_start_with_internal() {
        let long = "x".repeat(63);
        let mut names = BTreeSet::new();
        for rack_name in ["internal", "production", long.as_str()] {
            let mut r = rack(true, false);
            r.name = n(rack_name);
            for router in Router::ALL {
                let lb = load_balancer_name(&r.name, router);
                assert!(lb.len() <= MAX_ELB_NAME_LEN, "{lb}");
                assert_eq!(check_elb_name(ElbName::LoadBalancer, &lb), Ok(()));
                assert!(!lb.starts_with("internal-"), "{lb}");
                assert!(!lb.ends_with('-'));
                assert!(names.insert(lb));
            }
            for app in ["a", "backend", long.as_str()] {
                for s in ["api", "web", "a-b-c-d-e-f-g-h"] {
                    for router in Router::ALL {
                        let tg =
                            target_group_name(&r.name, &n(app), &n(s), router, Protocol::Http, 80);
                        assert!(tg.len() <= MAX_ELB_NAME_LEN, "{tg}");
                        assert_eq!(check_elb_name(ElbName::TargetGroup, &tg), Ok(()));
                        assert!(!tg.ends_with('-'));
                        assert!(names.insert(tg));
                    }
                }
            }
        }
    }

    #[test]
    fn every_resource_carries_ownership_tags() {
        let r = rack(true, false);
        let m = Manifest::from_services(vec![
            svc("api", Some(3000), true, false),
            svc("web", Some(80), false, true),
        ]);
        let app = desired_app(&r, &n("backend"), &m, "ca").unwrap();
        for res in desired_rack(&r, "ca").iter().chain(app.iter()) {
            assert_eq!(
                res.tags.get(TAG_RACK).map(String::as_str),
                Some("production")
            );
            assert_eq!(
                res.tags.get(TAG_KEY).map(String::as_str),
                Some(res.key.as_str())
            );
            assert!(res.tags.contains_key(TAG_ROLE));
            assert_eq!(
                res.key.app().is_some(),
                res.tags.contains_key(crate::resource::TAG_APP)
            );
        }
    }

    #[test]
    fn overlong_hostname_is_refused() {
        let mut r = rack(true, false);
        r.router_host = format!(
            "{}.{}.{}.com",
            "a".repeat(63),
            "b".repeat(63),
            "c".repeat(63)
        );
        let m = Manifest::from_services(vec![svc(&"s".repeat(63), Some(80), false, false)]);
        let err = desired_app(&r, &n(&"a".repeat(63)), &m, "ca").unwrap_err();
        assert!(matches!(err, DesiredError::HostnameTooLong { .. }));
    }
}
