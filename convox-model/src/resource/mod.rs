//! The cloud resources a rack and its apps are made of, as plain values.
//!
//! A [`Resource`] is what should exist (desired) or what does exist (observed, with
//! its provider id in [`Observed`]). Identity is the [`ResourceKey`], carried in the
//! `convox:key` tag; AWS names are derived and short, never identity. References
//! between resources are by key; the apply engine turns them into provider ids.

//!
//! - [`key`]: what a key names, parsed once ([`ResourceKey`], [`KeySubject`]);
//! - [`tags`]: ownership tags and role values;
//! - [`specs`]: each kind's plain spec, and what backends exchange about them.
//! - [`surroundings`]: what touches the rack's resources without being its own
//!   (read by `rack audit`, never by the planner).

use std::fmt;

use serde::{Deserialize, Serialize};

pub mod key;
pub mod specs;
pub mod tags;
// Day-2 safety: what touches the rack's resources without being its own (`rack audit`).
pub mod surroundings;

pub use key::{KeySubject, ResourceKey, Scope};
pub use specs::*;
pub use tags::*;
// Day-2 safety: `rack audit`.
pub use surroundings::{ForeignRule, ForeignSecurityGroup, Surroundings};

/// A resource: its key, its tags and what it is.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resource {
    /// Stable identity.
    pub key: ResourceKey,
    /// Ownership tags (see [`ownership_tags`]).
    pub tags: Tags,
    /// What it is.
    pub spec: ResourceSpec,
}

/// What a resource is, by kind.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum ResourceSpec {
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
#[non_exhaustive]
pub enum ResourceKind {
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

impl ResourceSpec {
    /// The kind.
    pub fn kind(&self) -> ResourceKind {
        match self {
            ResourceSpec::SecurityGroup(_) => ResourceKind::SecurityGroup,
            ResourceSpec::LoadBalancer(_) => ResourceKind::LoadBalancer,
            ResourceSpec::Listener(_) => ResourceKind::Listener,
            ResourceSpec::Certificate(_) => ResourceKind::Certificate,
            ResourceSpec::ListenerCertificate(_) => ResourceKind::ListenerCertificate,
            ResourceSpec::TargetGroup(_) => ResourceKind::TargetGroup,
            ResourceSpec::ListenerRule(_) => ResourceKind::ListenerRule,
            ResourceSpec::HostedZone(_) => ResourceKind::HostedZone,
            ResourceSpec::Record(_) => ResourceKind::Record,
        }
    }

    /// The keys of the resources this one refers to (it depends on them).
    pub fn references(&self) -> Vec<&ResourceKey> {
        match self {
            ResourceSpec::LoadBalancer(lb) => vec![&lb.security_group],
            ResourceSpec::Listener(l) => {
                let mut v = vec![&l.load_balancer];
                v.extend(l.certificate.as_ref());
                v
            }
            ResourceSpec::ListenerCertificate(lc) => vec![&lc.listener, &lc.certificate],
            ResourceSpec::ListenerRule(r) => vec![&r.listener, &r.target_group],
            ResourceSpec::Record(r) => vec![&r.zone, &r.load_balancer],
            ResourceSpec::SecurityGroup(_)
            | ResourceSpec::Certificate(_)
            | ResourceSpec::TargetGroup(_)
            | ResourceSpec::HostedZone(_) => vec![],
        }
    }
}

/// Deprecated name of [`ResourceSpec`].
#[deprecated(note = "renamed to ResourceSpec")]
pub type Spec = ResourceSpec;

/// Deprecated name of [`ResourceKind`].
#[deprecated(note = "renamed to ResourceKind")]
pub type Kind = ResourceKind;

impl fmt::Display for ResourceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ResourceKind::SecurityGroup => "security group",
            ResourceKind::LoadBalancer => "load balancer",
            ResourceKind::Listener => "listener",
            ResourceKind::Certificate => "certificate",
            ResourceKind::ListenerCertificate => "listener certificate",
            ResourceKind::TargetGroup => "target group",
            ResourceKind::ListenerRule => "listener rule",
            ResourceKind::HostedZone => "hosted zone",
            ResourceKind::Record => "record",
        })
    }
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
    /// For a certificate, the end of its validity (Unix seconds) as the provider
    /// reports it; `None` for other kinds, or a certificate it cannot read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_after: Option<i64>,
}
