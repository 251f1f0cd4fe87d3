//! The cloud resources a rack and its apps are made of, as plain values.
//!
//! A [`Resource`] is what should exist (desired) or what does exist (observed, with
//! its provider id in [`Observed`]). Identity is the [`ResourceKey`], carried in the
//! `convox:key` tag; AWS names are derived and short, never identity. References
//! between resources are by key; the apply engine turns them into provider ids.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::exposure::Router;
use crate::name::Name;

/// Tag: the rack that owns a resource.
pub const TAG_RACK: &str = "convox:rack";
/// Tag: the app that owns a resource (absent on rack resources).
pub const TAG_APP: &str = "convox:app";
/// Tag: the service a resource serves (absent on rack and app-wide resources).
pub const TAG_SERVICE: &str = "convox:service";
/// Tag: the role of a resource, such as `router-alb` or `target-group`.
pub const TAG_ROLE: &str = "convox:role";
/// Tag: the resource's stable [`ResourceKey`].
pub const TAG_KEY: &str = "convox:key";

/// Which part of a rack a resource belongs to.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "scope", content = "app")]
pub enum Scope {
    /// The rack's own resources: routers, their listeners and certificates, the zone.
    Rack,
    /// One app's resources: its certificate, target groups, rules and records.
    App(Name),
    /// Every app's resources (for checks that span apps, such as parameter changes).
    Apps,
}

/// The stable identity of a resource within its rack, such as
/// `router/internal/alb` or `app/backend/api/internal/rule`.
///
/// Rack resources start with `router/` or are `zone`; app resources start with
/// `app/{app}/`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ResourceKey(String);

impl ResourceKey {
    /// Wraps a key read back from a tag.
    pub fn from_raw(s: impl Into<String>) -> Self {
        ResourceKey(s.into())
    }

    /// The key as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The rack's private hosted zone `{rack}.convox`.
    pub fn zone() -> Self {
        ResourceKey("zone".into())
    }

    /// A router's security group.
    pub fn router_security_group(router: Router) -> Self {
        ResourceKey(format!("router/{router}/sg"))
    }

    /// A router's load balancer.
    pub fn router_load_balancer(router: Router) -> Self {
        ResourceKey(format!("router/{router}/alb"))
    }

    /// A router's listener on `port` (80 or 443).
    pub fn router_listener(router: Router, port: u16) -> Self {
        ResourceKey(format!("router/{router}/listener/{port}"))
    }

    /// A router's default certificate, attached to its 443 listener.
    pub fn router_certificate(router: Router) -> Self {
        ResourceKey(format!("router/{router}/cert"))
    }

    /// An app's wildcard certificate `*.{app}.{rack}.convox`.
    pub fn app_certificate(app: &Name) -> Self {
        ResourceKey(format!("app/{app}/cert"))
    }

    /// The attachment of an app's certificate to the internal 443 listener.
    pub fn app_listener_certificate(app: &Name) -> Self {
        Self::listener_certificate(&Self::app_certificate(app))
    }

    /// The attachment of `certificate` (a certificate's key) to a listener.
    ///
    /// Attachments carry no tags of their own on AWS, so a backend observing one
    /// derives its key from the certificate's: `{certificate}/attachment`.
    pub fn listener_certificate(certificate: &ResourceKey) -> Self {
        ResourceKey(format!("{certificate}/attachment"))
    }

    /// The target group of a service on a router.
    pub fn target_group(app: &Name, service: &Name, router: Router) -> Self {
        ResourceKey(format!("app/{app}/{service}/{router}/tg"))
    }

    /// The host-header rule of a service on a router's 443 listener.
    pub fn listener_rule(app: &Name, service: &Name, router: Router) -> Self {
        ResourceKey(format!("app/{app}/{service}/{router}/rule"))
    }

    /// The alias record of a service's internal hostname.
    pub fn record(app: &Name, service: &Name) -> Self {
        ResourceKey(format!("app/{app}/{service}/record"))
    }

    /// The app this key belongs to, if it is an app resource.
    pub fn app(&self) -> Option<&str> {
        self.0.strip_prefix("app/")?.split('/').next()
    }

    /// Whether the key belongs to `scope`.
    pub fn in_scope(&self, scope: &Scope) -> bool {
        match scope {
            Scope::Rack => self.app().is_none(),
            Scope::App(a) => self.app() == Some(a.as_str()),
            Scope::Apps => self.app().is_some(),
        }
    }
}

impl fmt::Display for ResourceKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Tags on a resource, sorted by key.
pub type Tags = BTreeMap<String, String>;

/// The ownership tags of a resource: rack, app, service, role and key.
pub fn ownership_tags(
    rack: &Name,
    app: Option<&Name>,
    service: Option<&Name>,
    role: &str,
    key: &ResourceKey,
) -> Tags {
    let mut t = Tags::new();
    t.insert(TAG_RACK.into(), rack.to_string());
    if let Some(a) = app {
        t.insert(TAG_APP.into(), a.to_string());
    }
    if let Some(s) = service {
        t.insert(TAG_SERVICE.into(), s.to_string());
    }
    t.insert(TAG_ROLE.into(), role.into());
    t.insert(TAG_KEY.into(), key.to_string());
    t
}

/// The role tag of an observed listener-certificate attachment: AWS cannot tag
/// one, so a backend reports [`listener_certificate_tags`].
pub const ROLE_LISTENER_CERTIFICATE: &str = "listener-certificate";

/// The role tag of an observed record: AWS cannot tag one, so a backend reports
/// [`record_tags`].
pub const ROLE_RECORD: &str = "record";

/// The tags a backend reports for an attachment with key `key`: its
/// certificate's, with the attachment's key and role.
pub fn listener_certificate_tags(certificate_tags: &Tags, key: &ResourceKey) -> Tags {
    let mut t = certificate_tags.clone();
    t.insert(TAG_KEY.into(), key.to_string());
    t.insert(TAG_ROLE.into(), ROLE_LISTENER_CERTIFICATE.into());
    t
}

/// The tags a backend reports for a record, which carries none: what its
/// ownership TXT implies (the rack and the key, the role, and the app and
/// service a key `app/{app}/{service}/record` names).
pub fn record_tags(rack: &str, key: &ResourceKey) -> Tags {
    let mut t = Tags::new();
    t.insert(TAG_RACK.into(), rack.into());
    t.insert(TAG_KEY.into(), key.to_string());
    t.insert(TAG_ROLE.into(), ROLE_RECORD.into());
    let parts: Vec<&str> = key.as_str().split('/').collect();
    if let ["app", app, service, "record"] = parts.as_slice() {
        t.insert(TAG_APP.into(), (*app).into());
        t.insert(TAG_SERVICE.into(), (*service).into());
    }
    t
}

/// Whether `tags` say the resource is owned by `rack` (and carry a key).
pub fn owned_by(tags: &Tags, rack: &Name) -> Option<ResourceKey> {
    (tags.get(TAG_RACK).map(String::as_str) == Some(rack.as_str()))
        .then(|| tags.get(TAG_KEY).map(ResourceKey::from_raw))
        .flatten()
}

/// A resource: its key, its tags and what it is.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resource {
    /// Stable identity.
    pub key: ResourceKey,
    /// Ownership tags (see [`ownership_tags`]).
    pub tags: Tags,
    /// What it is.
    pub spec: Spec,
}

/// What a resource is, by kind.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Spec {
    /// An EC2 security group.
    SecurityGroup(SecurityGroupSpec),
    /// An application load balancer.
    LoadBalancer(LoadBalancerSpec),
    /// A listener on a load balancer.
    Listener(ListenerSpec),
    /// A certificate in ACM.
    Certificate(CertificateSpec),
    /// A certificate attached to a listener (SNI), besides its default.
    ListenerCertificate(ListenerCertificateSpec),
    /// A target group.
    TargetGroup(TargetGroupSpec),
    /// A host-header rule on a listener.
    ListenerRule(ListenerRuleSpec),
    /// A private Route53 hosted zone.
    HostedZone(HostedZoneSpec),
    /// An alias A record in the rack's zone, with its ownership TXT record.
    Record(RecordSpec),
}

/// The kind of a resource, for ordering and display.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// [`SecurityGroupSpec`].
    SecurityGroup,
    /// [`LoadBalancerSpec`].
    LoadBalancer,
    /// [`ListenerSpec`].
    Listener,
    /// [`CertificateSpec`].
    Certificate,
    /// [`ListenerCertificateSpec`].
    ListenerCertificate,
    /// [`TargetGroupSpec`].
    TargetGroup,
    /// [`ListenerRuleSpec`].
    ListenerRule,
    /// [`HostedZoneSpec`].
    HostedZone,
    /// [`RecordSpec`].
    Record,
}

impl Spec {
    /// The kind.
    pub fn kind(&self) -> Kind {
        match self {
            Spec::SecurityGroup(_) => Kind::SecurityGroup,
            Spec::LoadBalancer(_) => Kind::LoadBalancer,
            Spec::Listener(_) => Kind::Listener,
            Spec::Certificate(_) => Kind::Certificate,
            Spec::ListenerCertificate(_) => Kind::ListenerCertificate,
            Spec::TargetGroup(_) => Kind::TargetGroup,
            Spec::ListenerRule(_) => Kind::ListenerRule,
            Spec::HostedZone(_) => Kind::HostedZone,
            Spec::Record(_) => Kind::Record,
        }
    }

    /// The keys of the resources this one refers to (it depends on them).
    pub fn references(&self) -> Vec<&ResourceKey> {
        match self {
            Spec::LoadBalancer(lb) => vec![&lb.security_group],
            Spec::Listener(l) => {
                let mut v = vec![&l.load_balancer];
                v.extend(l.certificate.as_ref());
                v
            }
            Spec::ListenerCertificate(lc) => vec![&lc.listener, &lc.certificate],
            Spec::ListenerRule(r) => vec![&r.listener, &r.target_group],
            Spec::Record(r) => vec![&r.zone, &r.load_balancer],
            Spec::SecurityGroup(_)
            | Spec::Certificate(_)
            | Spec::TargetGroup(_)
            | Spec::HostedZone(_) => vec![],
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Kind::SecurityGroup => "security group",
            Kind::LoadBalancer => "load balancer",
            Kind::Listener => "listener",
            Kind::Certificate => "certificate",
            Kind::ListenerCertificate => "listener certificate",
            Kind::TargetGroup => "target group",
            Kind::ListenerRule => "listener rule",
            Kind::HostedZone => "hosted zone",
            Kind::Record => "record",
        })
    }
}

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
    /// Subnets.
    pub subnets: Vec<String>,
    /// Its security group.
    pub security_group: ResourceKey,
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

/// A certificate issued by the rack's certificate authority and imported into ACM.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertificateSpec {
    /// The name it covers, such as `*.backend.production.convox`.
    pub domain: String,
    /// Fingerprint of the issuing CA; a new CA means a new certificate.
    pub issuer: String,
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

/// A resource as it exists, owned by us.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Observed {
    /// What it is, as read back (references resolved back to keys).
    pub resource: Resource,
    /// The provider's id: an ARN, a security group id, a zone id, for a listener
    /// certificate attachment [`listener_certificate_id`], or for a record its name.
    pub id: String,
    /// For a load balancer, where it answers; for a record, the alias target read
    /// back (what a DELETE of it must name exactly).
    pub address: Option<LoadBalancerAddress>,
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
    /// The ownership TXT value (see [`record_owner_value`]); records are untaggable,
    /// so ownership lives in a TXT record of the same name.
    pub owner: String,
}

/// The value of the TXT record that marks an alias record as ours.
pub fn record_owner_value(rack: &Name, key: &ResourceKey) -> String {
    format!("heritage=convox,rack={rack},key={key}")
}

/// Reads a TXT ownership value back: the rack and key it names.
pub fn parse_record_owner_value(value: &str) -> Option<(String, ResourceKey)> {
    let value = value.trim_matches('"');
    let mut rack = None;
    let mut key = None;
    let mut heritage = false;
    for part in value.split(',') {
        match part.split_once('=') {
            Some(("heritage", "convox")) => heritage = true,
            Some(("rack", r)) => rack = Some(r.to_string()),
            Some(("key", k)) => key = Some(ResourceKey::from_raw(k)),
            _ => {}
        }
    }
    if heritage { Some((rack?, key?)) } else { None }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_know_their_scope() {
        let app = Name::new("backend").unwrap();
        let api = Name::new("api").unwrap();
        let rule = ResourceKey::listener_rule(&app, &api, Router::Internal);
        assert_eq!(rule.as_str(), "app/backend/api/internal/rule");
        assert!(rule.in_scope(&Scope::App(app.clone())));
        assert!(rule.in_scope(&Scope::Apps));
        assert!(!rule.in_scope(&Scope::Rack));
        assert!(ResourceKey::zone().in_scope(&Scope::Rack));
        assert!(ResourceKey::router_listener(Router::External, 443).in_scope(&Scope::Rack));
    }

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
    fn records_carry_the_tags_their_key_implies() {
        let key = ResourceKey::record(&Name::new("web").unwrap(), &Name::new("api").unwrap());
        let t = record_tags("production", &key);
        assert_eq!(t.get(TAG_APP).map(String::as_str), Some("web"));
        assert_eq!(t.get(TAG_SERVICE).map(String::as_str), Some("api"));
        assert_eq!(t.get(TAG_ROLE).map(String::as_str), Some(ROLE_RECORD));
        assert_eq!(owned_by(&t, &Name::new("production").unwrap()), Some(key));
    }

    #[test]
    fn hosts_are_sorted_and_deduplicated() {
        let h = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(normal_hosts(&h(&["b", "a", "b"])), h(&["a", "b"]));
    }

    #[test]
    fn record_owner_value_round_trips() {
        let rack = Name::new("production").unwrap();
        let key = ResourceKey::record(&Name::new("backend").unwrap(), &Name::new("api").unwrap());
        let v = record_owner_value(&rack, &key);
        assert_eq!(
            parse_record_owner_value(&format!("\"{v}\"")),
            Some(("production".to_string(), key))
        );
        assert_eq!(parse_record_owner_value("v=spf1 -all"), None);
    }
}
