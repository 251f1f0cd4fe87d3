//! `rack audit`: proof of who can reach what, from the observed state alone.
//!
//! [`audit`] is a pure function of the rack, what the rack owns ([`Observed`]),
//! what touches it without being its own ([`Surroundings`]) and the time. It
//! trusts no template and no desired state: it reads, for every router, the
//! load balancer's scheme and every ingress rule of every security group on
//! it; for every endpoint (a host a rule serves), its router and what its
//! record aliases; and it reports every [`Finding`] that breaks the rack's
//! promise: internal endpoints reachable only from inside the VPC, every served
//! name covered by a valid certificate, nothing foreign on the rack's listeners,
//! one resource per key.
//!
//! # The JSON form
//!
//! [`AuditReport`] serialises to one object, stable for monitoring: fields are
//! only ever added, never renamed or removed, and `version` changes if that
//! promise is ever broken.
//!
//! ```json
//! {
//!   "version": 1,
//!   "rack": "production",
//!   "vpc_cidr": "10.0.0.0/16",
//!   "routers": [{"router": "internal", "load_balancer": "arn:…", "scheme": "internal",
//!                "security_groups": ["sg-1"],
//!                "ingress": [{"security_group": "sg-1", "protocol": "tcp", "port": 443,
//!                             "source": "10.0.0.0/16"}]}],
//!   "endpoints": [{"hostname": "api.backend.production.convox", "app": "backend",
//!                  "service": "api", "router": "internal", "rule": "arn:…",
//!                  "load_balancer": "arn:…", "scheme": "internal", "ingress": […],
//!                  "record": {"name": "api.backend.production.convox",
//!                             "aliases": "internal-….elb.amazonaws.com", "router": "internal"}}],
//!   "findings": [{"kind": "ingress_outside_vpc", "security_group": "sg-1", "protocol": "tcp",
//!                 "port": 443, "source": "0.0.0.0/0", "vpc_cidr": "10.0.0.0/16"}]
//! }
//! ```
//!
//! Lists are sorted (routers internal first, endpoints by hostname, findings by
//! kind then fields), so that two audits of one state are byte-identical. A port
//! of 0 stands for a range or every port. `router`, `app`, `service`,
//! `load_balancer`, `scheme` and `record` are `null` where unknown (a rule on a
//! listener the rack does not hold, a name without a record).
//!
//! ```
//! use convox_model::audit::audit;
//! use convox_model::name::Name;
//! use convox_model::params::RackParams;
//! use convox_model::rack::Rack;
//! use convox_model::resource::Surroundings;
//!
//! let rack = Rack::new(Name::new("production")?, RackParams::default(), None);
//! // Nothing observed: nothing reachable, nothing wrong.
//! let report = audit(&rack, &[], &Surroundings::default(), 0);
//! assert!(report.is_clean() && report.endpoints.is_empty());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod cidr;
mod findings;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

pub use findings::Finding;

use crate::exposure::{Hostname, Router, Shard};
use crate::rack::Rack;
use crate::resource::{
    IngressRule, KeySubject, LbScheme, Observed, Protocol, ResourceKey, ResourceSpec as Spec,
    Surroundings, TAG_KEY,
};

/// A certificate is due this long before its end of validity: 30 days.
pub const RENEWAL_WINDOW_SECS: i64 = 30 * 24 * 3600;

/// The version of [`AuditReport`]'s JSON shape.
pub const REPORT_VERSION: u32 = 1;

/// What the audit proves about a rack: who can reach what, and what is wrong.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditReport {
    /// [`REPORT_VERSION`].
    pub version: u32,
    /// The rack's name.
    pub rack: String,
    /// The VPC's CIDR: what "inside" means.
    pub vpc_cidr: String,
    /// Every router load balancer the rack owns, internal first.
    pub routers: Vec<RouterAudit>,
    /// Every hostname a rule of the rack serves, by hostname.
    pub endpoints: Vec<EndpointAudit>,
    /// Everything wrong, sorted; empty on a sound rack.
    pub findings: Vec<Finding>,
}

impl AuditReport {
    /// Whether nothing was found wrong.
    pub fn is_clean(&self) -> bool {
        self.findings.is_empty()
    }
}

/// A router's load balancer and who may reach it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RouterAudit {
    /// Which router.
    pub router: Router,
    /// Which load balancer of the router's pool, from 1.
    pub shard: u16,
    /// The load balancer's id.
    pub load_balancer: String,
    /// Its scheme.
    pub scheme: LbScheme,
    /// Every security group attached to it, sorted.
    pub security_groups: Vec<String>,
    /// Every ingress rule of those groups.
    pub ingress: Vec<Ingress>,
}

/// One ingress rule, with the group that holds it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Ingress {
    /// The security group.
    pub security_group: String,
    /// `tcp`, or what the provider reports.
    pub protocol: String,
    /// The port (0: a range, or every port).
    pub port: u16,
    /// The source CIDR (or what stands in for another kind of source).
    pub source: String,
}

/// A hostname the rack serves, and how it is reached.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndpointAudit {
    /// The hostname.
    pub hostname: String,
    /// The app whose rule serves it.
    pub app: Option<String>,
    /// The service.
    pub service: Option<String>,
    /// The router whose listener holds the rule.
    pub router: Option<Router>,
    /// The rule's id.
    pub rule: String,
    /// The router's load balancer.
    pub load_balancer: Option<String>,
    /// Its scheme.
    pub scheme: Option<LbScheme>,
    /// Every ingress rule on the load balancer.
    pub ingress: Vec<Ingress>,
    /// The name's record in the rack's zone, when it has one.
    pub record: Option<RecordAudit>,
}

/// A record and what it aliases.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordAudit {
    /// The record's name.
    pub name: String,
    /// The alias target's DNS name, as the record holds it.
    pub aliases: String,
    /// The router whose load balancer that is, when it is one of the rack's.
    pub router: Option<Router>,
}

/// The observed state, indexed.
struct View<'a> {
    observed: &'a [Observed],
    surroundings: &'a Surroundings,
    /// The rack's router host: a public certificate on the external router
    /// (one the rack requested from ACM, or the user's) was checked to cover
    /// `*.{router_host}` before it was put there.
    router_host: &'a str,
}

impl<'a> View<'a> {
    fn by_key(&self, key: &'a ResourceKey) -> impl Iterator<Item = &'a Observed> + 'a {
        self.observed.iter().filter(move |o| o.resource.key == *key)
    }

    fn by_id(&self, id: &str) -> Option<&'a Observed> {
        self.observed.iter().find(|o| o.id == id)
    }

    /// The routers' load balancers: (shard, observed).
    fn routers(&self) -> Vec<(Shard, &'a Observed)> {
        let mut v: Vec<(Shard, &Observed)> = self
            .observed
            .iter()
            .filter_map(|o| match (o.resource.key.subject(), &o.resource.spec) {
                (KeySubject::RouterLoadBalancer(r), Spec::LoadBalancer(_)) => Some((*r, o)),
                _ => None,
            })
            .collect();
        v.sort_by(|a, b| (a.0, &a.1.id).cmp(&(b.0, &b.1.id)));
        v
    }

    /// The security groups on a load balancer, by id, sorted.
    fn attached(&self, lb: &Observed) -> Vec<String> {
        if let Some(ids) = self.surroundings.load_balancer_security_groups.get(&lb.id) {
            let set: BTreeSet<String> = ids.iter().cloned().collect();
            return set.into_iter().collect();
        }
        // Without surroundings, the one group observe resolved.
        let Spec::LoadBalancer(spec) = &lb.resource.spec else {
            return vec![];
        };
        let mut ids: Vec<String> = self
            .by_key(&spec.security_group)
            .map(|o| o.id.clone())
            .collect();
        if ids.is_empty() {
            ids.push(spec.security_group.to_string());
        }
        ids.sort();
        ids.dedup();
        ids
    }

    /// A security group's ingress, owned or foreign.
    fn ingress(&self, sg: &str) -> Vec<IngressRule> {
        if let Some(Spec::SecurityGroup(s)) = self.by_id(sg).map(|o| &o.resource.spec) {
            return s.ingress.clone();
        }
        self.surroundings
            .foreign_security_groups
            .iter()
            .find(|g| g.id == sg)
            .map(|g| g.ingress.clone())
            .unwrap_or_default()
    }

    fn router_ingress(&self, lb: &Observed) -> Vec<Ingress> {
        let mut out: Vec<Ingress> = self
            .attached(lb)
            .into_iter()
            .flat_map(|sg| {
                self.ingress(&sg).into_iter().map(move |r| Ingress {
                    security_group: sg.clone(),
                    protocol: r.protocol,
                    port: r.port,
                    source: r.cidr,
                })
            })
            .collect();
        out.sort();
        out.dedup();
        out
    }

    /// The domains of every certificate attached to the listener `key`.
    fn listener_domains(&self, key: &ResourceKey) -> Vec<String> {
        let mut certs: Vec<&ResourceKey> = Vec::new();
        for o in self.by_key(key) {
            if let Spec::Listener(l) = &o.resource.spec {
                certs.extend(l.certificate.as_ref());
            }
        }
        for o in self.observed {
            if let Spec::ListenerCertificate(lc) = &o.resource.spec
                && lc.listener == *key
            {
                certs.push(&lc.certificate);
            }
        }
        let public = certs
            .iter()
            .any(|c| crate::public_cert::referenced_arn(c).is_some())
            .then(|| format!("*.{}", self.router_host));
        certs
            .into_iter()
            .flat_map(|c| self.by_key(c))
            .flat_map(|o| match &o.resource.spec {
                // Its domain and further names (a shared certificate, issue 9).
                Spec::Certificate(c) => std::iter::once(c.domain.clone())
                    .chain(c.names.iter().cloned())
                    .collect(),
                _ => Vec::new(),
            })
            .chain(public)
            .collect()
    }

    fn is_https(&self, listener: &ResourceKey) -> bool {
        self.by_key(listener)
            .any(|o| matches!(&o.resource.spec, Spec::Listener(l) if l.protocol == Protocol::Https))
    }
}

/// The end of a certificate's validity (Unix seconds), when observation
/// carries it: the observed resource's `not_after` (an `Option<i64>` beside
/// `id` and `address`, `None` or absent when the provider did not say).
///
/// Read through the serialised form so that the audit reads the field as soon
/// as observation carries it, and finds nothing expired or due before.
fn certificate_not_after(certificate: &Observed) -> Option<i64> {
    serde_json::to_value(certificate)
        .ok()?
        .get("not_after")?
        .as_i64()
}

/// Audits the rack: every router, every endpoint, every finding. Pure: `now`
/// (Unix seconds) comes from the caller.
pub fn audit(
    rack: &Rack,
    observed: &[Observed],
    surroundings: &Surroundings,
    now: i64,
) -> AuditReport {
    // Only what carries the rack's key is the rack's; an observe that also
    // reports obstacles (untagged rules on the rack's listeners) has them
    // audited as foreign rules.
    let (owned, foreign): (Vec<Observed>, Vec<Observed>) = observed
        .iter()
        .cloned()
        .partition(|o| o.resource.tags.contains_key(TAG_KEY));
    let observed = owned.as_slice();
    let v = View {
        observed,
        surroundings,
        router_host: &rack.router_host,
    };
    let mut findings = Vec::new();

    let mut routers = Vec::new();
    for (shard, lb) in v.routers() {
        let Spec::LoadBalancer(spec) = &lb.resource.spec else {
            continue;
        };
        let router = shard.router;
        let security_groups = v.attached(lb);
        let ingress = v.router_ingress(lb);
        findings.extend(router_findings(rack, router, lb, &ingress));
        let own: BTreeSet<String> = v
            .by_key(&ResourceKey::router_security_group(router))
            .map(|o| o.id.clone())
            .collect();
        for sg in security_groups.iter().filter(|sg| !own.contains(*sg)) {
            findings.push(Finding::ExtraSecurityGroup {
                router,
                load_balancer: lb.id.clone(),
                security_group: sg.clone(),
            });
        }
        routers.push(RouterAudit {
            router,
            shard: shard.index,
            load_balancer: lb.id.clone(),
            scheme: spec.scheme,
            security_groups,
            ingress,
        });
    }

    let endpoints = endpoints(&v, &routers, &mut findings);
    findings.extend(record_findings(&v));
    findings.extend(certificate_findings(observed, now));
    findings.extend(duplicate_claims(observed));
    findings.extend(foreign_rules(&v, &foreign));
    findings.sort();
    findings.dedup();

    AuditReport {
        version: REPORT_VERSION,
        rack: rack.name.to_string(),
        vpc_cidr: rack.vpc.cidr.clone(),
        routers,
        endpoints,
        findings,
    }
}

/// The scheme and the ingress of one router.
fn router_findings(
    rack: &Rack,
    router: Router,
    lb: &Observed,
    ingress: &[Ingress],
) -> Vec<Finding> {
    let mut out = Vec::new();
    if let Spec::LoadBalancer(spec) = &lb.resource.spec
        && router == Router::Internal
        && spec.scheme != LbScheme::Internal
    {
        out.push(Finding::InternetFacingInternalRouter {
            load_balancer: lb.id.clone(),
        });
    }
    for i in ingress {
        if router == Router::Internal && !cidr::inside(&rack.vpc.cidr, &i.source) {
            out.push(Finding::IngressOutsideVpc {
                security_group: i.security_group.clone(),
                protocol: i.protocol.clone(),
                port: i.port,
                source: i.source.clone(),
                vpc_cidr: rack.vpc.cidr.clone(),
            });
        }
        if i.protocol != "tcp" || !(i.port == 80 || i.port == 443) {
            out.push(Finding::UnexpectedPort {
                router,
                security_group: i.security_group.clone(),
                protocol: i.protocol.clone(),
                port: i.port,
                source: i.source.clone(),
            });
        }
    }
    out
}

/// Every host of every rule the rack owns, and the hosts no certificate covers.
fn endpoints(
    v: &View<'_>,
    routers: &[RouterAudit],
    findings: &mut Vec<Finding>,
) -> Vec<EndpointAudit> {
    let records: BTreeMap<&str, &Observed> = v
        .observed
        .iter()
        .filter_map(|o| match &o.resource.spec {
            Spec::Record(r) => Some((r.name.as_str(), o)),
            _ => None,
        })
        .collect();
    let mut out = Vec::new();
    for o in v.observed {
        let Spec::ListenerRule(rule) = &o.resource.spec else {
            continue;
        };
        let subject = o.resource.key.subject();
        let shard = match rule.listener.subject() {
            KeySubject::RouterListener(s, _) => Some(*s),
            _ => None,
        };
        let router = shard.map(|s| s.router);
        let lb = shard.and_then(|s| {
            routers
                .iter()
                .find(|x| x.router == s.router && x.shard == s.index)
        });
        let https = v.is_https(&rule.listener);
        let domains = v.listener_domains(&rule.listener);
        for host in &rule.hosts {
            let hostname = Hostname::from_raw(host.clone());
            if https && !domains.iter().any(|d| hostname.is_covered_by(d)) {
                findings.push(Finding::HostNotCovered {
                    rule: o.id.clone(),
                    router,
                    hostname: host.clone(),
                });
            }
            out.push(EndpointAudit {
                hostname: host.clone(),
                app: subject.app().map(str::to_string),
                service: subject.service().map(ToString::to_string),
                router,
                rule: o.id.clone(),
                load_balancer: lb.map(|l| l.load_balancer.clone()),
                scheme: lb.map(|l| l.scheme),
                ingress: lb.map(|l| l.ingress.clone()).unwrap_or_default(),
                record: records.get(host.as_str()).map(|r| record_audit(r)),
            });
        }
    }
    out.sort_by(|a, b| (&a.hostname, &a.rule).cmp(&(&b.hostname, &b.rule)));
    out
}

fn record_router(o: &Observed) -> Option<Router> {
    record_shard(o).map(|s| s.router)
}

fn record_shard(o: &Observed) -> Option<Shard> {
    match &o.resource.spec {
        Spec::Record(r) => match r.load_balancer.subject() {
            KeySubject::RouterLoadBalancer(shard) => Some(*shard),
            _ => None,
        },
        _ => None,
    }
}

fn record_target(o: &Observed) -> String {
    match (&o.address, &o.resource.spec) {
        (Some(a), _) => a.dns_name.clone(),
        (None, Spec::Record(r)) => r.load_balancer.to_string(),
        _ => String::new(),
    }
}

fn record_audit(o: &Observed) -> RecordAudit {
    let name = match &o.resource.spec {
        Spec::Record(r) => r.name.clone(),
        _ => o.id.clone(),
    };
    RecordAudit {
        name,
        aliases: record_target(o),
        router: record_router(o),
    }
}

/// Records that alias the external router, or nothing of the rack's: every
/// record in the rack's private zone names an internal endpoint.
fn record_findings(v: &View<'_>) -> Vec<Finding> {
    let mut out = Vec::new();
    for o in v.observed {
        let Spec::Record(r) = &o.resource.spec else {
            continue;
        };
        let router = record_shard(o)
            .filter(|shard| {
                v.by_key(&ResourceKey::shard_load_balancer(*shard))
                    .next()
                    .is_some()
            })
            .map(|s| s.router);
        match router {
            Some(Router::Internal) => {}
            Some(Router::External) => out.push(Finding::InternalNameAliasesExternalRouter {
                name: r.name.clone(),
                target: record_target(o),
            }),
            None => out.push(Finding::RecordAliasesForeignTarget {
                name: r.name.clone(),
                target: record_target(o),
            }),
        }
    }
    out
}

/// Certificates past their end, or within [`RENEWAL_WINDOW_SECS`] of it.
fn certificate_findings(observed: &[Observed], now: i64) -> Vec<Finding> {
    observed
        .iter()
        .filter_map(|o| match &o.resource.spec {
            Spec::Certificate(c) => Some((o, c)),
            _ => None,
        })
        .filter_map(|(o, c)| {
            certificate_validity_finding(&o.id, &c.domain, certificate_not_after(o), now)
        })
        .collect()
}

/// The finding for a certificate ending at `not_after` (unknown: none).
fn certificate_validity_finding(
    id: &str,
    domain: &str,
    not_after: Option<i64>,
    now: i64,
) -> Option<Finding> {
    let not_after = not_after?;
    if not_after <= now {
        Some(Finding::CertificateExpired {
            certificate: id.to_string(),
            domain: domain.to_string(),
            not_after,
        })
    } else if not_after - now <= RENEWAL_WINDOW_SECS {
        Some(Finding::CertificateDue {
            certificate: id.to_string(),
            domain: domain.to_string(),
            not_after,
        })
    } else {
        None
    }
}

/// Keys claimed by more than one resource.
fn duplicate_claims(observed: &[Observed]) -> Vec<Finding> {
    let mut by_key: BTreeMap<&ResourceKey, BTreeSet<&str>> = BTreeMap::new();
    for o in observed {
        by_key
            .entry(&o.resource.key)
            .or_default()
            .insert(o.id.as_str());
    }
    by_key
        .into_iter()
        .filter(|(_, ids)| ids.len() > 1)
        .map(|(key, ids)| Finding::DuplicateClaim {
            key: key.to_string(),
            ids: ids.into_iter().map(str::to_string).collect(),
        })
        .collect()
}

/// Rules on the rack's listeners that the rack does not own: from the
/// surroundings, and any untagged rule observe reported.
fn foreign_rules(v: &View<'_>, untagged: &[Observed]) -> Vec<Finding> {
    let mut out: Vec<Finding> = v
        .surroundings
        .foreign_rules
        .iter()
        .map(|r| Finding::ForeignRule {
            rule: r.id.clone(),
            listener: r.listener_id.clone(),
            router: v
                .by_id(&r.listener_id)
                .and_then(|l| l.resource.key.subject().router()),
            priority: r.priority,
            hosts: r.hosts.clone(),
        })
        .collect();
    for o in untagged {
        let Spec::ListenerRule(r) = &o.resource.spec else {
            continue;
        };
        let Some(listener) = v.by_key(&r.listener).next() else {
            continue;
        };
        out.push(Finding::ForeignRule {
            rule: o.id.clone(),
            listener: listener.id.clone(),
            router: r.listener.subject().router(),
            priority: r.priority,
            hosts: r.hosts.clone(),
        });
    }
    out
}
