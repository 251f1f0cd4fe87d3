//! What `rack audit` can find wrong: one variant per rule, each naming the
//! resources by the provider's ids and saying how to put it right.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::exposure::Router;

/// One thing the audit found wrong. Serialised with its kind in `"kind"`
/// (snake_case) beside the variant's fields; new kinds may be added, a kind is
/// never renamed.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Finding {
    /// The internal router's load balancer is internet-facing.
    InternetFacingInternalRouter {
        /// The load balancer's id.
        load_balancer: String,
    },
    /// An ingress rule on the internal router admits a source outside the VPC's
    /// CIDR (or one that cannot be proven inside it, such as another group).
    IngressOutsideVpc {
        /// The security group holding the rule.
        security_group: String,
        /// `tcp`, or what the provider reports (`-1`: every protocol).
        protocol: String,
        /// The port (0: a range, or every port).
        port: u16,
        /// The source as the rule spells it.
        source: String,
        /// The VPC's CIDR.
        vpc_cidr: String,
    },
    /// An ingress rule on a router opens a port other than TCP 80 and 443.
    UnexpectedPort {
        /// The router.
        router: Router,
        /// The security group holding the rule.
        security_group: String,
        /// The protocol.
        protocol: String,
        /// The port (0: a range, or every port).
        port: u16,
        /// The source.
        source: String,
    },
    /// A security group other than the router's own is attached to its load
    /// balancer.
    ExtraSecurityGroup {
        /// The router.
        router: Router,
        /// The load balancer's id.
        load_balancer: String,
        /// The extra group's id.
        security_group: String,
    },
    /// An internal name's record aliases the external, internet-facing router.
    InternalNameAliasesExternalRouter {
        /// The record's name.
        name: String,
        /// The external load balancer's DNS name it aliases.
        target: String,
    },
    /// A record the rack owns aliases something that is not one of its routers.
    RecordAliasesForeignTarget {
        /// The record's name.
        name: String,
        /// What it aliases (a DNS name, or the provider's id).
        target: String,
    },
    /// A rule serves a hostname that no certificate attached to its listener
    /// covers.
    HostNotCovered {
        /// The rule's id.
        rule: String,
        /// The router, when the listener is one of the rack's.
        router: Option<Router>,
        /// The hostname.
        hostname: String,
    },
    /// A certificate the rack owns is past its end of validity.
    CertificateExpired {
        /// The certificate's id.
        certificate: String,
        /// The name it covers.
        domain: String,
        /// Its end of validity, Unix seconds.
        not_after: i64,
    },
    /// A certificate the rack owns ends its validity within the renewal window.
    CertificateDue {
        /// The certificate's id.
        certificate: String,
        /// The name it covers.
        domain: String,
        /// Its end of validity, Unix seconds.
        not_after: i64,
    },
    /// Several resources claim one key (carry the same ownership tags).
    DuplicateClaim {
        /// The key.
        key: String,
        /// Every resource claiming it, sorted.
        ids: Vec<String>,
    },
    /// A rule the rack does not own sits on one of its listeners.
    ForeignRule {
        /// The rule's id.
        rule: String,
        /// The listener's id.
        listener: String,
        /// The router, when known.
        router: Option<Router>,
        /// Its priority.
        priority: Option<u32>,
        /// Its host-header values.
        hosts: Vec<String>,
    },
}

impl Finding {
    /// The kind, as the JSON form spells it (`ingress_outside_vpc`, …).
    pub fn kind(&self) -> &'static str {
        match self {
            Finding::InternetFacingInternalRouter { .. } => "internet_facing_internal_router",
            Finding::IngressOutsideVpc { .. } => "ingress_outside_vpc",
            Finding::UnexpectedPort { .. } => "unexpected_port",
            Finding::ExtraSecurityGroup { .. } => "extra_security_group",
            Finding::InternalNameAliasesExternalRouter { .. } => {
                "internal_name_aliases_external_router"
            }
            Finding::RecordAliasesForeignTarget { .. } => "record_aliases_foreign_target",
            Finding::HostNotCovered { .. } => "host_not_covered",
            Finding::CertificateExpired { .. } => "certificate_expired",
            Finding::CertificateDue { .. } => "certificate_due",
            Finding::DuplicateClaim { .. } => "duplicate_claim",
            Finding::ForeignRule { .. } => "foreign_rule",
        }
    }
}

fn port(p: u16) -> String {
    if p == 0 {
        "every port".to_string()
    } else {
        format!("port {p}")
    }
}

fn on(router: &Option<Router>) -> String {
    router
        .map(|r| format!(" on the {r} router"))
        .unwrap_or_default()
}

impl fmt::Display for Finding {
    /// One line: what is wrong, with the ids, and how to put it right.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Finding::InternetFacingInternalRouter { load_balancer } => write!(
                f,
                "the internal router {load_balancer} is internet-facing: its endpoints are reachable from the internet (convox rack params set replaces it with an internal one)"
            ),
            Finding::IngressOutsideVpc {
                security_group,
                protocol,
                port: p,
                source,
                vpc_cidr,
            } => write!(
                f,
                "the internal router admits {source} ({protocol} {}) through security group {security_group}: outside the VPC's {vpc_cidr} (the next deploy of any app, or convox rack params set, closes it)",
                port(*p)
            ),
            Finding::UnexpectedPort {
                router,
                security_group,
                protocol,
                port: p,
                source,
            } => write!(
                f,
                "the {router} router's security group {security_group} opens {protocol} {} to {source}: only TCP 80 and 443 are the router's (the next deploy of any app, or convox rack params set, closes it)",
                port(*p)
            ),
            Finding::ExtraSecurityGroup {
                router,
                load_balancer,
                security_group,
            } => write!(
                f,
                "security group {security_group} is attached to the {router} router {load_balancer} besides its own: whatever it admits reaches the router (detach it)"
            ),
            Finding::InternalNameAliasesExternalRouter { name, target } => write!(
                f,
                "internal name {name} aliases the external router {target}: its traffic leaves the VPC (the next deploy of its app points it back)"
            ),
            Finding::RecordAliasesForeignTarget { name, target } => write!(
                f,
                "record {name} aliases {target}, which is not one of the rack's routers (the next deploy of its app points it back)"
            ),
            Finding::HostNotCovered {
                rule,
                router,
                hostname,
            } => write!(
                f,
                "rule {rule}{} serves {hostname}, which no certificate attached to its listener covers (deploy its app again)",
                on(router)
            ),
            Finding::CertificateExpired {
                certificate,
                domain,
                not_after,
            } => write!(
                f,
                "certificate {certificate} for {domain} expired at {not_after} (Unix seconds) (deploy to renew it)"
            ),
            Finding::CertificateDue {
                certificate,
                domain,
                not_after,
            } => write!(
                f,
                "certificate {certificate} for {domain} expires at {not_after} (Unix seconds) and is due for renewal (deploy to renew it)"
            ),
            Finding::DuplicateClaim { key, ids } => write!(
                f,
                "{} resources claim key {key}: {} (keep the one the rack created; remove the convox:* tags from the others)",
                ids.len(),
                ids.join(", ")
            ),
            Finding::ForeignRule {
                rule,
                listener,
                router,
                priority,
                hosts,
            } => write!(
                f,
                "rule {rule} (priority {}, hosts {}) on listener {listener}{} is not the rack's: it routes the rack's traffic elsewhere (remove it, or move it to a listener of its own)",
                priority.map_or_else(|| "none".to_string(), |p| p.to_string()),
                if hosts.is_empty() {
                    "none".to_string()
                } else {
                    hosts.join(",")
                },
                on(router)
            ),
        }
    }
}
