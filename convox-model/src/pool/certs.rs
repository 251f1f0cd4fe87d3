//! Shared certificates: certificate slots never bind before target groups.
//!
//! Each app with internal services needs its wildcard `*.{app}.{rack}.convox`
//! served on the internal load balancer that routes it. One certificate per
//! app would stop a load balancer at 25 apps (AWS's default certificates per
//! load balancer) long before its 100 target groups. So the apps placed on one
//! internal load balancer ([`Shard`]) share its certificates: each is the
//! rack CA's, named `*.{rack}.convox` and covering the apps' wildcards as
//! further names ([`CertificateSpec::names`]), attached to the shard's 443
//! listener. ACM sets no count for an imported certificate's names (only 32 KB
//! for its body), so one certificate covers up to
//! [`Quotas::names_per_certificate`] apps (100): every app a load balancer can
//! route.
//!
//! - **Keys and ownership.** A shared certificate belongs to the rack, not to
//!   an app: `router/{shard}/cert/{slot}` ([`ResourceKey::shard_certificate`];
//!   `router/internal/cert/1` on the first load balancer,
//!   `router/internal/2/cert/1` on the second), tagged with the rack, its key,
//!   the role `shard-cert` and its shard; its attachment is
//!   `router/{shard}/cert/{slot}/attachment[/{n}]`.
//! - **Placement of a name, sticky.** An app's wildcard stays on the slot whose
//!   names hold it, as observed (the certificate's subject alternative names,
//!   read back from ACM: never a local file, so two machines agree); an app
//!   joining a shard goes to the first slot with room, a new slot when none has.
//! - **Joining and leaving.** When an app joins or leaves, the certificate is
//!   issued anew and re-imported over its ARN (ACM keeps the ARN and every
//!   listener attachment): the names change in place, nothing is detached. A
//!   slot left without names is deleted, so the last app leaving a load
//!   balancer lets its certificate go with it.
//! - **Concurrent deploys.** The names a deploy writes are the union of the
//!   names already there (sticky: only an app's own deploy or deletion removes
//!   its name), every app routed on the shard whose hostnames no certificate
//!   on the listener covers, and the deploying app. Two deploys writing at
//!   once may still drop each other's name (both read, both write: the last
//!   writer wins), so each deploy that wrote a shared certificate re-reads
//!   after applying, and re-imports until every internal hostname the rack
//!   routes is covered ([`uncovered`], a bounded loop in
//!   [`crate::ops::deploy`]): the last writer always verifies after its own
//!   write. It re-reads its own scope, where every rule on the rack's
//!   listeners shows; another app's hostname uncovered there
//!   ([`unowned_gaps`]) makes it read the whole rack, whose tags say which
//!   app's name to put back (any deploy that finds such a gap in its own
//!   read does this, whether it wrote or not). The last writer can also
//!   write back the name of an app that left the load balancer meanwhile;
//!   that name covers hostnames nothing routes there, and goes with the app's
//!   next deploy or deletion (another deploy cannot tell it from an app
//!   between the steps of its own deploy).
//! - **Racks from before.** An app's own certificate (`app/{app}/cert`) stays
//!   valid and attached until the app's next deploy. That deploy puts its name
//!   on the shard's shared certificate first (the rack stage, before any of the
//!   app's changes), then deletes its own attachment and certificate: make
//!   before break, within the one certificate slot placement keeps free.
//! - **Renewal and rotation** treat a shared certificate as any other: a due one
//!   is issued anew with the same names and re-imported in place; a rotation of
//!   the rack's authority re-issues it in place.
//!
//! ```
//! use std::collections::BTreeSet;
//! use convox_model::pool::certs::app_of_wildcard;
//!
//! assert_eq!(app_of_wildcard("*.backend.production.convox").map(|n| n.to_string()), Some("backend".into()));
//! assert_eq!(app_of_wildcard("api.backend.production.convox"), None);
//! ```

use std::collections::{BTreeMap, BTreeSet};

use crate::desired::{DesiredState, app_certificate_domain, router_certificate_domain};
use crate::exposure::{Hostname, Router, Shard};
use crate::name::Name;
use crate::rack::Rack;
use crate::resource::{
    CertificateSpec, KeySubject, ListenerCertificateSpec, ListenerRuleSpec, Observed, Resource,
    ResourceKey, ResourceSpec, TAG_SHARD, ownership_tags,
};

#[cfg(doc)]
use crate::aws::Quotas;

/// The role tag of a shared certificate.
pub const ROLE_SHARED_CERTIFICATE: &str = "shard-cert";

/// How many times a deploy re-imports a shard's shared certificates when,
/// re-read after its changes, a hostname is left uncovered (another deploy
/// wrote the certificate at the same moment).
pub const MAX_COVERAGE_ROUNDS: usize = 5;

/// The apps each slot of each internal load balancer's shared certificates
/// covers: shard → slot → apps.
pub type SharedNames = BTreeMap<Shard, BTreeMap<u16, BTreeSet<Name>>>;

/// The app whose wildcard `name` is (`*.{app}.…`), if it is one.
pub fn app_of_wildcard(name: &str) -> Option<Name> {
    let label = name.strip_prefix("*.")?.split('.').next()?;
    Name::new(label).ok()
}

/// Whether `key` is a shared certificate or the attachment of one.
pub fn is_shared(key: &ResourceKey) -> bool {
    match key.subject() {
        KeySubject::ShardCertificate(..) => true,
        KeySubject::Attachment(cert, _) => {
            matches!(cert.subject(), KeySubject::ShardCertificate(..))
        }
        _ => false,
    }
}

/// The apps the shared certificates cover, as observed (their names). Of two
/// copies of one (two deploys made one each at once), the one the planner
/// keeps.
pub fn observed_names(observed: &[Observed]) -> SharedNames {
    let mut out = SharedNames::new();
    let mut seen = BTreeSet::new();
    for o in crate::plan::kept_first(observed) {
        if let (KeySubject::ShardCertificate(s, slot), ResourceSpec::Certificate(c)) =
            (o.resource.key.subject(), &o.resource.spec)
            && seen.insert(o.resource.key.clone())
        {
            let apps = c.names.iter().filter_map(|n| app_of_wildcard(n)).collect();
            out.entry(*s).or_default().insert(*slot, apps);
        }
    }
    out
}

/// The apps each internal load balancer routes: those with a rule on its
/// listeners, or a target group placed on it (a deploy between the two).
pub fn apps_on(observed: &[Observed]) -> BTreeMap<Shard, BTreeSet<Name>> {
    let mut out: BTreeMap<Shard, BTreeSet<Name>> = BTreeMap::new();
    for o in observed {
        match (o.resource.key.subject(), &o.resource.spec) {
            (KeySubject::ListenerRule(app, _, Router::Internal), ResourceSpec::ListenerRule(r)) => {
                if let Some(s) = r.listener.subject().shard() {
                    out.entry(s).or_default().insert(app.clone());
                }
            }
            (KeySubject::TargetGroup(app, _, Router::Internal), _) if !crate::plan::impostor(o) => {
                let shard = match o.resource.tags.get(TAG_SHARD) {
                    Some(n) => n.parse().ok().and_then(|n| Shard::new(Router::Internal, n)),
                    None => Some(Shard::first(Router::Internal)),
                };
                if let Some(s) = shard {
                    out.entry(s).or_default().insert(app.clone());
                }
            }
            _ => {}
        }
    }
    out
}

/// A hostname the rack routes on an internal load balancer that no
/// certificate on the listener routing it covers.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Uncovered {
    /// The load balancer.
    pub shard: Shard,
    /// The app.
    pub app: Name,
    /// The hostname.
    pub host: String,
}

/// The names the certificates on each listener cover (its default
/// certificate's and those of every certificate attached), as observed; of
/// two copies of one certificate, the one the planner keeps.
fn listener_names(observed: &[Observed]) -> BTreeMap<&ResourceKey, Vec<&str>> {
    let mut names: BTreeMap<&ResourceKey, Vec<&str>> = BTreeMap::new();
    for o in crate::plan::kept_first(observed) {
        if let ResourceSpec::Certificate(c) = &o.resource.spec {
            names.entry(&o.resource.key).or_insert_with(|| {
                std::iter::once(c.domain.as_str())
                    .chain(c.names.iter().map(String::as_str))
                    .collect()
            });
        }
    }
    let mut on: BTreeMap<&ResourceKey, Vec<&str>> = BTreeMap::new();
    for o in observed {
        match &o.resource.spec {
            ResourceSpec::Listener(l) => {
                let covered = l.certificate.as_ref().and_then(|c| names.get(c));
                on.entry(&o.resource.key)
                    .or_default()
                    .extend(covered.into_iter().flatten());
            }
            ResourceSpec::ListenerCertificate(lc) => {
                let covered = names.get(&lc.certificate);
                on.entry(&lc.listener)
                    .or_default()
                    .extend(covered.into_iter().flatten());
            }
            _ => {}
        }
    }
    on
}

/// The hosts of `rule` that none of `covering` covers.
fn gaps<'a>(rule: &'a ListenerRuleSpec, covering: &[&str]) -> impl Iterator<Item = &'a String> {
    rule.hosts.iter().filter(|host| {
        let h = Hostname::from_raw((*host).clone());
        !covering.iter().any(|d| h.is_covered_by(d))
    })
}

/// Every internal hostname of the rack's apps that no certificate on the
/// listener routing it covers (its default certificate's names and those of
/// every certificate attached), as observed. Empty when every app is covered.
pub fn uncovered(observed: &[Observed]) -> Vec<Uncovered> {
    let on = listener_names(observed);
    let mut out = Vec::new();
    for o in observed {
        let (KeySubject::ListenerRule(app, _, Router::Internal), ResourceSpec::ListenerRule(r)) =
            (o.resource.key.subject(), &o.resource.spec)
        else {
            continue;
        };
        let Some(shard) = r.listener.subject().shard() else {
            continue;
        };
        let covering = on.get(&r.listener).map(Vec::as_slice).unwrap_or_default();
        for host in gaps(r, covering) {
            out.push(Uncovered {
                shard,
                app: app.clone(),
                host: host.clone(),
            });
        }
    }
    out.sort();
    out.dedup();
    out
}

/// The hostnames in `rack`'s zone that a rule of no known owner
/// ([`ResourceKey::foreign_rule`]) routes on an internal load balancer's
/// listener and that no certificate there covers.
///
/// A deploy's observation ([`crate::resource::Scope::Deploy`]) reports
/// other apps' rules as such obstacles, their tags unread: a gap here is
/// another app's hostname left uncovered (a deploy at the same moment
/// re-imported a shared certificate without its name), or a rule someone
/// made by hand. Only the whole rack's observation tells the two apart, so
/// [`crate::ops`] reads it then, and not otherwise.
pub fn unowned_gaps(observed: &[Observed], rack: &Name) -> Vec<String> {
    let zone = format!(".{}", crate::rack::zone_name(rack));
    let on = listener_names(observed);
    let mut out: Vec<String> = observed
        .iter()
        .filter(|o| o.resource.key.is_foreign())
        .filter_map(|o| match &o.resource.spec {
            ResourceSpec::ListenerRule(r)
                if r.listener
                    .subject()
                    .shard()
                    .is_some_and(|s| s.router == Router::Internal) =>
            {
                Some(r)
            }
            _ => None,
        })
        .flat_map(|r| {
            let covering = on.get(&r.listener).map(Vec::as_slice).unwrap_or_default();
            gaps(r, covering)
                .filter(|h| h.to_ascii_lowercase().ends_with(&zone))
                .cloned()
                .collect::<Vec<_>>()
        })
        .collect();
    out.sort();
    out.dedup();
    out
}

/// The apps each slot of each internal load balancer's shared certificates
/// should cover, from what is `observed`, with the apps `joining` each load
/// balancer, and `leaving` every load balancer it does not join and routes
/// nothing on any more (the app deployed, or deleted with nothing joining).
///
/// Sticky: a name stays on the slot that holds it until its own app leaves;
/// no other app's deploy ever removes it, so that two deploys at once only
/// ever race to add names (and each re-reads and adds its own again after,
/// [`uncovered`]). Added, each to the first slot with fewer than
/// `per_certificate` names: the joining apps and every app routed there whose
/// hostnames no certificate covers. Apps covered by a certificate of their own
/// (a rack from before shared certificates) are left on it until they deploy.
/// Slots without names are left out.
pub fn shared_names(
    observed: &[Observed],
    joining: &BTreeMap<Shard, BTreeSet<Name>>,
    leaving: Option<&Name>,
    per_certificate: usize,
) -> SharedNames {
    let per = per_certificate.max(1);
    let present = observed_names(observed);
    let on = apps_on(observed);
    let mut gaps: BTreeMap<Shard, BTreeSet<Name>> = BTreeMap::new();
    for u in uncovered(observed) {
        gaps.entry(u.shard).or_default().insert(u.app);
    }
    let shards: BTreeSet<Shard> = present
        .keys()
        .chain(joining.keys())
        .chain(gaps.keys())
        .copied()
        .filter(|s| s.router == Router::Internal)
        .collect();
    let none = BTreeSet::new();
    let mut out = SharedNames::new();
    for s in shards {
        let joins = joining.get(&s).unwrap_or(&none);
        let routed = on.get(&s).unwrap_or(&none);
        // Break after make: the leaving app keeps its name where it still
        // has a rule or a target group.
        let wanted = |a: &Name| Some(a) != leaving || joins.contains(a) || routed.contains(a);
        let mut slots: BTreeMap<u16, BTreeSet<Name>> = BTreeMap::new();
        let mut named = BTreeSet::new();
        for (slot, apps) in present.get(&s).into_iter().flatten() {
            let kept: BTreeSet<Name> = apps
                .iter()
                .filter(|a| wanted(a) && named.insert((*a).clone()))
                .cloned()
                .collect();
            slots.insert(*slot, kept);
        }
        let new: Vec<&Name> = joins
            .iter()
            .chain(gaps.get(&s).into_iter().flatten())
            .filter(|a| wanted(a) && !named.contains(*a))
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        for app in new {
            let slot = (1..=u16::MAX)
                .find(|n| slots.get(n).is_none_or(|v| v.len() < per))
                .unwrap_or(u16::MAX);
            slots.entry(slot).or_default().insert(app.clone());
            named.insert(app.clone());
        }
        slots.retain(|_, apps| !apps.is_empty());
        if !slots.is_empty() {
            out.insert(s, slots);
        }
    }
    out
}

/// The shared certificates `names` asks for, and their attachments to their
/// load balancers' 443 listeners. `issuer` gives the fingerprint each
/// certificate is issued by (the rack's authority; `None` leaves that
/// certificate out, a slot a caller cannot issue).
pub fn shared_certificates(
    rack: &Rack,
    names: &SharedNames,
    issuer: &dyn Fn(&ResourceKey) -> Option<String>,
) -> Vec<Resource> {
    let mut out = Vec::new();
    for (shard, slots) in names {
        for (slot, apps) in slots {
            let key = ResourceKey::shard_certificate(*shard, *slot);
            let Some(fingerprint) = issuer(&key) else {
                continue;
            };
            let mut tags = ownership_tags(&rack.name, None, None, ROLE_SHARED_CERTIFICATE, &key);
            tags.insert(TAG_SHARD.to_string(), shard.index.to_string());
            let mut wildcards: Vec<String> = apps
                .iter()
                .map(|a| app_certificate_domain(rack, a))
                .collect();
            wildcards.sort();
            out.push(Resource {
                key: key.clone(),
                tags: tags.clone(),
                spec: ResourceSpec::Certificate(CertificateSpec {
                    domain: router_certificate_domain(rack, Router::Internal),
                    issuer: fingerprint,
                    names: wildcards,
                }),
            });
            let listener = ResourceKey::shard_listener(*shard, 443);
            let attachment = ResourceKey::listener_certificate_on(&key, &listener);
            out.push(Resource {
                tags: ownership_tags(
                    &rack.name,
                    None,
                    None,
                    crate::resource::role::LISTENER_CERTIFICATE,
                    &attachment,
                ),
                key: attachment,
                spec: ResourceSpec::ListenerCertificate(ListenerCertificateSpec {
                    listener,
                    certificate: key,
                }),
            });
        }
    }
    out
}

/// `desired` (the rack's) with its shared certificates as
/// [`shared_names`] and [`shared_certificates`] give them, in place of any it
/// had. `fingerprint` issues every certificate (`None`: each keeps the issuer
/// it was observed with, and no new one is made).
pub fn with_shared_certificates(
    mut desired: DesiredState,
    rack: &Rack,
    fingerprint: Option<&str>,
    observed: &[Observed],
    joining: &BTreeMap<Shard, BTreeSet<Name>>,
    leaving: Option<&Name>,
    per_certificate: usize,
) -> DesiredState {
    if !rack.params.internal() {
        return desired;
    }
    desired.resources.retain(|k, _| !is_shared(k));
    let names = shared_names(observed, joining, leaving, per_certificate);
    let issuer = |key: &ResourceKey| -> Option<String> {
        fingerprint.map(str::to_string).or_else(|| {
            observed.iter().find_map(|o| match &o.resource.spec {
                ResourceSpec::Certificate(c) if o.resource.key == *key => Some(c.issuer.clone()),
                _ => None,
            })
        })
    };
    for r in shared_certificates(rack, &names, &issuer) {
        desired.resources.insert(r.key.clone(), r);
    }
    desired
}

#[cfg(test)]
#[path = "certs_tests.rs"]
mod tests;
