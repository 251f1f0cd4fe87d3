//! Ownership: the tags every resource carries, the role values, and what a
//! backend reports for the two kinds AWS cannot tag (listener certificates and
//! records).

use std::collections::BTreeMap;

use super::ResourceKey;
use super::key::KeySubject;
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
/// On a target group: the number of the load balancer of its router's pool
/// that routes it ([`crate::pool`]), so that placement survives its rule's
/// replacement.
pub const TAG_SHARD: &str = "convox:shard";
/// On a load balancer after its router's first: when it was first seen routing
/// nothing (Unix seconds). It is removed once it has stayed empty that long
/// ([`crate::pool::DRAIN_SECONDS`]) and is placed on by no deploy meanwhile.
pub const TAG_EMPTY_SINCE: &str = "convox:empty-since";

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

/// Role tag values (`convox:role`), one per kind of resource we create: the one
/// set desired state writes and backends report.
pub mod role {
    /// The rack's private hosted zone.
    pub const ZONE: &str = "zone";
    /// A router's security group.
    pub const ROUTER_SECURITY_GROUP: &str = "router-sg";
    /// A router's load balancer.
    pub const ROUTER_LOAD_BALANCER: &str = "router-alb";
    /// A router's listener.
    pub const ROUTER_LISTENER: &str = "router-listener";
    /// A router's default certificate.
    pub const ROUTER_CERTIFICATE: &str = "router-cert";
    /// An app's wildcard certificate.
    pub const APP_CERTIFICATE: &str = "app-cert";
    /// A certificate attached to a listener (an app's, on the internal router).
    /// AWS cannot tag an attachment, so a backend reports
    /// [`super::listener_certificate_tags`] with this role.
    pub const LISTENER_CERTIFICATE: &str = "listener-certificate";
    /// A service's target group.
    pub const TARGET_GROUP: &str = "target-group";
    /// A service's host-header rule.
    pub const LISTENER_RULE: &str = "listener-rule";
    /// A service's alias record. AWS cannot tag a record, so a backend reports
    /// [`super::record_tags`] with this role.
    pub const RECORD: &str = "record";
}

/// [`role::LISTENER_CERTIFICATE`], under the name backends import.
pub const ROLE_LISTENER_CERTIFICATE: &str = role::LISTENER_CERTIFICATE;

/// [`role::RECORD`], under the name backends import.
pub const ROLE_RECORD: &str = role::RECORD;

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
    if let KeySubject::Record(app, service) = key.subject() {
        t.insert(TAG_APP.into(), app.to_string());
        t.insert(TAG_SERVICE.into(), service.to_string());
    }
    t
}

/// Whether `tags` say the resource is owned by `rack` (and carry a key).
pub fn owned_by(tags: &Tags, rack: &Name) -> Option<ResourceKey> {
    (tags.get(TAG_RACK).map(String::as_str) == Some(rack.as_str()))
        .then(|| tags.get(TAG_KEY).map(ResourceKey::from_raw))
        .flatten()
        // A key in the foreign namespace is never one this library wrote.
        .filter(|k| !k.is_foreign())
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
    fn records_carry_the_tags_their_key_implies() {
        let key = ResourceKey::record(&Name::new("web").unwrap(), &Name::new("api").unwrap());
        let t = record_tags("production", &key);
        assert_eq!(t.get(TAG_APP).map(String::as_str), Some("web"));
        assert_eq!(t.get(TAG_SERVICE).map(String::as_str), Some("api"));
        assert_eq!(t.get(TAG_ROLE).map(String::as_str), Some(ROLE_RECORD));
        assert_eq!(owned_by(&t, &Name::new("production").unwrap()), Some(key));
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
