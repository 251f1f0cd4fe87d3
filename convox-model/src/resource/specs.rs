//! The plain specs of each kind of resource, and the values backends exchange
//! about them (addresses, record changes, attachment ids).

use serde::{Deserialize, Serialize};

use super::ResourceKey;

/// A security group with exactly these ingress rules (egress is left open).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecurityGroupSpec {
    /// Group name (unique within the VPC).
    pub name: String,
    /// Description (immutable on AWS).
    pub description: String,
    /// The VPC.
    pub vpc_id: String,
    /// Ingress rules, sorted.
    pub ingress: Vec<IngressRule>,
}

/// One ingress rule: TCP `port` from `cidr`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct IngressRule {
    /// Always `tcp` here.
    pub protocol: String,
    /// The port (from = to).
    pub port: u16,
    /// Source CIDR.
    pub cidr: String,
}

/// `internal` or `internet-facing`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LbScheme {
    /// Reachable only inside the VPC.
    Internal,
    /// Reachable from the internet.
    InternetFacing,
}

impl LbScheme {
    /// As AWS spells it.
    pub fn as_str(&self) -> &'static str {
        match self {
            LbScheme::Internal => "internal",
            LbScheme::InternetFacing => "internet-facing",
        }
    }
}

/// An application load balancer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoadBalancerSpec {
    /// Name, at most 32 characters, not starting with `internal-`.
    pub name: String,
    /// Scheme (immutable: changing it replaces the load balancer).
    pub scheme: LbScheme,
    /// Subnets, as [`normal_subnets`] gives them (changed in place with SetSubnets).
    pub subnets: Vec<String>,
    /// Its security group (changed in place with SetSecurityGroups).
    pub security_group: ResourceKey,
    /// Security groups attached besides [`LoadBalancerSpec::security_group`], as
    /// observed (keys for the rack's own, provider ids for others; see
    /// [`split_security_groups`]). Always empty in desired state: an extra group
    /// is drift that the next apply removes in place.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub other_security_groups: Vec<ResourceKey>,
}

// Day-2 safety: one normalising function per set kind, used by desired state
// and by every backend's observe alike, so that an order means nothing.

/// A load balancer's subnets as desired state and backends give them: sorted,
/// without duplicates (AWS keeps no order; the user types any).
pub fn normal_subnets(subnets: &[String]) -> Vec<String> {
    let mut v = subnets.to_vec();
    v.sort();
    v.dedup();
    v
}

/// A security group's ingress rules as desired state and backends give them:
/// sorted, without duplicates.
pub fn normal_ingress(rules: &[IngressRule]) -> Vec<IngressRule> {
    let mut v = rules.to_vec();
    v.sort();
    v.dedup();
    v
}

/// A load balancer's security groups, resolved to keys, split as
/// [`LoadBalancerSpec`] holds them: its own (the security group of the router
/// `load_balancer` is, else the first router group by key order, else the
/// first; `none` when no group is attached) and every other one, sorted and
/// without duplicates.
pub fn split_security_groups(
    load_balancer: &ResourceKey,
    groups: &[ResourceKey],
    none: ResourceKey,
) -> (ResourceKey, Vec<ResourceKey>) {
    let mut v = groups.to_vec();
    v.sort();
    v.dedup();
    if v.is_empty() {
        return (none, v);
    }
    let mine = match load_balancer.subject() {
        super::KeySubject::RouterLoadBalancer(r) => {
            Some(ResourceKey::router_security_group(r.router))
        }
        _ => None,
    };
    let own = v
        .iter()
        .position(|k| Some(k) == mine.as_ref())
        .or_else(|| {
            v.iter()
                .position(|k| matches!(k.subject(), super::KeySubject::RouterSecurityGroup(_)))
        })
        .unwrap_or(0);
    let first = v.remove(own);
    (first, v)
}

/// `HTTP` or `HTTPS`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Protocol {
    /// Plain HTTP.
    Http,
    /// HTTP over TLS.
    Https,
}

impl Protocol {
    /// As AWS spells it.
    pub fn as_str(&self) -> &'static str {
        match self {
            Protocol::Http => "HTTP",
            Protocol::Https => "HTTPS",
        }
    }
}

/// A listener's default action.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum DefaultAction {
    /// Redirect to HTTPS on `port` with `status_code` (301).
    Redirect {
        /// Target port (443).
        port: u16,
        /// 301.
        status_code: u16,
    },
    /// A fixed response (404 `unknown host`).
    FixedResponse {
        /// HTTP status.
        status_code: u16,
        /// Content type.
        content_type: String,
        /// Body.
        body: String,
    },
}

/// A listener.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListenerSpec {
    /// Its load balancer.
    pub load_balancer: ResourceKey,
    /// Port.
    pub port: u16,
    /// Protocol.
    pub protocol: Protocol,
    /// Default action.
    pub default_action: DefaultAction,
    /// Default certificate (required for HTTPS).
    pub certificate: Option<ResourceKey>,
}

impl ListenerSpec {
    /// A router's HTTP listener: port 80 answers every request with a 301 to
    /// HTTPS on 443, and never forwards.
    pub fn redirect_to_https(load_balancer: ResourceKey) -> ListenerSpec {
        ListenerSpec {
            load_balancer,
            port: 80,
            protocol: Protocol::Http,
            default_action: DefaultAction::Redirect {
                port: 443,
                status_code: 301,
            },
            certificate: None,
        }
    }

    /// A router's HTTPS listener: 443 with `certificate` as its default, which
    /// answers 404 `unknown host` to any host that no rule routes.
    pub fn https_unknown_host(
        load_balancer: ResourceKey,
        certificate: Option<ResourceKey>,
    ) -> ListenerSpec {
        ListenerSpec {
            load_balancer,
            port: 443,
            protocol: Protocol::Https,
            default_action: DefaultAction::FixedResponse {
                status_code: 404,
                content_type: "text/plain".into(),
                body: "unknown host".into(),
            },
            certificate,
        }
    }
}

/// A certificate issued by the rack's certificate authority and imported into ACM.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertificateSpec {
    /// The name it covers, such as `*.backend.production.convox`.
    pub domain: String,
    /// Fingerprint of the issuing CA; a new CA means a new certificate.
    pub issuer: String,
    /// The further names it covers, sorted (subject alternative names besides
    /// `domain`): a shared certificate of an internal load balancer covers
    /// the wildcards of the apps it routes ([`crate::pool::certs`]). They
    /// change in place: the certificate is issued anew and re-imported over
    /// its ARN.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub names: Vec<String>,
}

/// A certificate attached to a listener, besides the listener's default.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListenerCertificateSpec {
    /// The listener.
    pub listener: ResourceKey,
    /// The certificate.
    pub certificate: ResourceKey,
}

/// A target group's health check.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthCheck {
    /// Path.
    pub path: String,
    /// Seconds between checks.
    pub interval: u32,
    /// Seconds before a check fails (less than interval).
    pub timeout: u32,
}

/// A target group for one service on one router.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TargetGroupSpec {
    /// Name, at most 32 characters.
    pub name: String,
    /// HTTP for `http`/`grpc`, HTTPS for `https`/`secure-grpc` (immutable).
    pub protocol: Protocol,
    /// The container port (immutable).
    pub port: u16,
    /// The VPC (immutable).
    pub vpc_id: String,
    /// Health check (mutable).
    pub health: HealthCheck,
}

/// A host-header rule forwarding to a target group.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListenerRuleSpec {
    /// The listener.
    pub listener: ResourceKey,
    /// Priority, 1..=50,000; `None` in desired state until the planner allocates one.
    pub priority: Option<u32>,
    /// Host-header values (at most 5). Their order means nothing to AWS (any one
    /// matches); observed rules carry them as [`normal_hosts`] gives them.
    pub hosts: Vec<String>,
    /// Where it forwards.
    pub target_group: ResourceKey,
}

/// A rule's host-header values as backends report them: sorted, without
/// duplicates, so that observed rules compare equal whatever order AWS keeps.
pub fn normal_hosts(hosts: &[String]) -> Vec<String> {
    let mut v = hosts.to_vec();
    v.sort();
    v.dedup();
    v
}

/// A private hosted zone associated with a VPC.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostedZoneSpec {
    /// Zone name, such as `production.convox` (no trailing dot).
    pub name: String,
    /// The VPC it is associated with.
    pub vpc_id: String,
    /// The VPC's region.
    pub region: String,
}

/// An alias A record to a load balancer, in the rack's zone.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordSpec {
    /// The zone.
    pub zone: ResourceKey,
    /// Fully qualified name, no trailing dot.
    pub name: String,
    /// The load balancer it aliases.
    pub load_balancer: ResourceKey,
}

/// Where a load balancer answers: what an alias record points at.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct LoadBalancerAddress {
    /// The ALB's DNS name, read from the provider.
    pub dns_name: String,
    /// The ALB's canonical hosted zone id, read from the provider.
    pub hosted_zone_id: String,
}

/// The observed id of a certificate attached to a listener: attachments have no
/// id of their own on AWS, so it is `{listener_arn}#{certificate_arn}` (an ARN
/// never holds `#`).
pub fn listener_certificate_id(listener_arn: &str, certificate_arn: &str) -> String {
    format!("{listener_arn}#{certificate_arn}")
}

/// Splits a [`listener_certificate_id`] back into the listener's and the
/// certificate's ARNs.
pub fn parse_listener_certificate_id(id: &str) -> Option<(&str, &str)> {
    id.split_once('#')
        .filter(|(l, c)| !l.is_empty() && !c.is_empty())
}

/// How an alias record change is applied.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum RecordAction {
    /// Create; fails if it exists.
    Create,
    /// Create or replace.
    Upsert,
    /// Delete; fails if it does not exist as given.
    Delete,
}

/// One change to an alias record and its ownership TXT record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordChange {
    /// Create, upsert or delete.
    pub action: RecordAction,
    /// Fully qualified name, no trailing dot.
    pub name: String,
    /// The alias target.
    pub target: LoadBalancerAddress,
    /// The ownership TXT value (see [`record_owner_value`](super::record_owner_value)); records are untaggable,
    /// so ownership lives in a TXT record of the same name.
    pub owner: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listener_certificate_ids_round_trip() {
        let l = "arn:aws:elasticloadbalancing:us-east-1:1:listener/app/x/1/2";
        let c = "arn:aws:acm:us-east-1:1:certificate/abc";
        let id = listener_certificate_id(l, c);
        assert_eq!(id, format!("{l}#{c}"));
        assert_eq!(parse_listener_certificate_id(&id), Some((l, c)));
        assert_eq!(parse_listener_certificate_id(l), None);
    }

    #[test]
    fn subnets_are_sorted_and_deduplicated() {
        let h = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            normal_subnets(&h(&["subnet-c", "subnet-a", "subnet-c"])),
            h(&["subnet-a", "subnet-c"])
        );
    }

    #[test]
    fn ingress_is_sorted_and_deduplicated() {
        let r = |port, cidr: &str| IngressRule {
            protocol: "tcp".into(),
            port,
            cidr: cidr.into(),
        };
        assert_eq!(
            normal_ingress(&[r(443, "b"), r(80, "a"), r(443, "b")]),
            vec![r(80, "a"), r(443, "b")]
        );
    }

    #[test]
    fn the_router_group_is_the_load_balancers_own_and_the_rest_are_others() {
        use crate::exposure::Router;
        let lb = ResourceKey::router_load_balancer(Router::Internal);
        let own = ResourceKey::router_security_group(Router::Internal);
        let other = ResourceKey::router_security_group(Router::External);
        let foreign = ResourceKey::from_raw("foreign:sg-0");
        let (first, others) = split_security_groups(
            &lb,
            &[foreign.clone(), own.clone(), other.clone(), foreign.clone()],
            ResourceKey::from_raw("none"),
        );
        assert_eq!((first, others), (own, vec![foreign.clone(), other.clone()]));
        let (first, others) = split_security_groups(
            &lb,
            &[foreign.clone(), other.clone()],
            ResourceKey::from_raw("none"),
        );
        assert_eq!((first, others), (other, vec![foreign.clone()]));
        let (first, others) = split_security_groups(
            &lb,
            std::slice::from_ref(&foreign),
            ResourceKey::from_raw("none"),
        );
        assert_eq!((first, others), (foreign, vec![]));
        let (first, others) = split_security_groups(&lb, &[], ResourceKey::from_raw("none"));
        assert_eq!((first, others), (ResourceKey::from_raw("none"), vec![]));
    }

    #[test]
    fn hosts_are_sorted_and_deduplicated() {
        let h = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(normal_hosts(&h(&["b", "a", "b"])), h(&["a", "b"]));
    }
}
