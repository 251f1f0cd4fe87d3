//! What an observation holds besides one resource per key: foreign rules on the
//! rack's listeners (obstacles), and keys claimed by more than one resource
//! (someone copied our tags onto something they made).
//!
//! Neither is ever changed or deleted. Obstacles keep their priorities and count
//! towards quotas. Of the resources claiming one key, one is kept as the key's
//! resource and the others are left untouched and reported
//! ([`DuplicateClaim`]); when no safe choice exists, the plan refuses
//! ([`PlanError::DuplicateClaim`]).
//!
//! Which claim is kept: see [`DuplicateClaim`].

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::PlanError;
use crate::desired::{security_group_name, shard_load_balancer_name, target_group_name_on};
use crate::name::Name;
use crate::resource::{
    KeySubject, Observed, Resource, ResourceKey, ResourceKind, ResourceSpec, Scope, TAG_RACK,
};

/// Several observed resources claiming one key: the kept one is treated as the
/// key's resource, the others are never changed or deleted.
///
/// # Which claim is kept
///
/// Deterministically, from what is observed, in this order:
///
/// 1. the one claim whose AWS name is the name this library gives the key
///    (security groups, load balancers and target groups: AWS keeps those names
///    unique in a VPC or region, so a copy made by someone else cannot have it);
/// 2. else, when the plan wants the key, the one claim that is exactly what it
///    wants (a rule's priority aside);
/// 3. else none: no safe choice.
///
/// A security group, load balancer or target group whose name is not the one
/// this library gives its key is never kept, even as the key's only claim: it
/// is someone else's, and the plan makes ours beside it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DuplicateClaim {
    /// The key they all claim.
    pub key: ResourceKey,
    /// Their kind.
    pub kind: ResourceKind,
    /// The provider id of the claim kept as the key's resource, when one can be
    /// chosen safely (see above).
    pub kept: Option<String>,
    /// The provider ids of the other claims (every claim when none is kept),
    /// sorted.
    pub others: Vec<String>,
}

impl DuplicateClaim {
    /// Every claim's provider id: the kept one first, then the others.
    pub fn ids(&self) -> Vec<&str> {
        self.kept
            .iter()
            .chain(&self.others)
            .map(String::as_str)
            .collect()
    }
}

/// The keys claimed by more than one observed resource, in key order, each with
/// the claim kept by rule 1 of [`DuplicateClaim`] (the plan, which knows
/// what it wants, may also keep one by rule 2). Foreign rules are not claims.
///
/// What `convox rack audit` lists: from the observation alone.
pub fn duplicate_claims(observed: &[Observed]) -> Vec<DuplicateClaim> {
    group(observed)
        .into_iter()
        .filter(|(_, claims)| claims.len() > 1 || claims.iter().any(|o| impostor(o)))
        .map(|(key, claims)| claim(key, &claims, keeper(&claims, None)))
        .collect()
}

/// A claim whose kind AWS names uniquely but whose name is not the one this
/// library gives its key: someone else's resource carrying our tags, even when
/// it is the only claim (ours was deleted, or never made).
pub(crate) fn impostor(o: &Observed) -> bool {
    our_name(o).is_some_and(|name| spec_name(&o.resource.spec) != Some(name.as_str()))
}

/// The observation as the planner reads it.
pub(super) struct Sorted<'a> {
    /// One resource per key: what the plan compares with what it wants.
    pub(super) current: BTreeMap<&'a ResourceKey, &'a Observed>,
    /// Foreign rules and the claims not kept: never touched, but their
    /// priorities are taken and they count towards quotas.
    pub(super) obstacles: Vec<&'a Observed>,
    /// The keys claimed more than once.
    pub(super) claims: Vec<DuplicateClaim>,
    /// Our own extra copies of a certificate or of an attachment, left by an
    /// interrupted make-before-break replacement: deleted, the one that serves
    /// kept.
    pub(super) leftovers: Vec<&'a Observed>,
}

/// Whether the claims of a key are the rack's own doing, left by a replacement
/// that stopped between its make and its break: attachments (they carry no
/// tags, so no one can copy them), or certificates from rack CAs of different
/// fingerprints (a new CA's certificate imported beside the old one's). A copy
/// of our tags carries our issuer too, so certificates of one issuer are not
/// told apart this way: they are claims like any other's, but for a load
/// balancer's shared certificates, which concurrent deploys may make twice.
fn own_copies(claims: &[&Observed], attached: &BTreeSet<&str>) -> bool {
    let mut issuers = std::collections::BTreeSet::new();
    let all = claims.iter().all(|o| match &o.resource.spec {
        ResourceSpec::ListenerCertificate(_) => true,
        ResourceSpec::Certificate(c) => {
            issuers.insert(c.issuer.as_str());
            c.issuer.len() == 64 && c.issuer.bytes().all(|b| b.is_ascii_hexdigit())
        }
        _ => false,
    });
    // Router pools (issue 9): two deploys that both found a load balancer
    // without a shared certificate each made one under its key and attached
    // it. One is kept and the other deleted; the names only it had are put
    // back on the kept one by the deploys' coverage check. A copy not attached
    // to our listener (someone's, with our tags) is a claim like any other's.
    let shared = claims.iter().all(|o| {
        crate::pool::certs::is_shared(&o.resource.key)
            && (o.resource.spec.kind() == crate::resource::ResourceKind::ListenerCertificate
                || attached.contains(o.id.as_str()))
    });
    all && (issuers.len() != 1 || shared)
}

/// The ids of the certificates attached to a listener (not as its default).
pub(crate) fn attached_certificates(observed: &[Observed]) -> BTreeSet<&str> {
    observed
        .iter()
        .filter_map(|o| crate::resource::parse_listener_certificate_id(&o.id))
        .map(|(_, cert)| cert)
        .collect()
}

/// Observed resources by key (foreign ones aside), each key's claims sorted by id.
pub(crate) fn group(observed: &[Observed]) -> BTreeMap<&ResourceKey, Vec<&Observed>> {
    let mut by_key: BTreeMap<&ResourceKey, Vec<&Observed>> = BTreeMap::new();
    for o in observed.iter().filter(|o| !o.resource.key.is_foreign()) {
        by_key.entry(&o.resource.key).or_default().push(o);
    }
    for claims in by_key.values_mut() {
        claims.sort_by(|a, b| a.id.cmp(&b.id));
    }
    by_key
}

fn claim(key: &ResourceKey, claims: &[&Observed], kept: Option<&Observed>) -> DuplicateClaim {
    DuplicateClaim {
        key: key.clone(),
        kind: claims
            .first()
            .map_or(ResourceKind::HostedZone, |o| o.resource.spec.kind()),
        kept: kept.map(|k| k.id.clone()),
        others: claims
            .iter()
            .filter(|o| Some(o.id.as_str()) != kept.map(|k| k.id.as_str()))
            .map(|o| o.id.clone())
            .collect(),
    }
}

/// Sorts `observed` for a plan of `scope` that wants `desired`: refuses when a
/// key the plan acts on or refers to is claimed more than once and no claim can
/// be kept safely.
pub(super) fn sort<'a>(
    scope: &Scope,
    desired: &BTreeMap<ResourceKey, Resource>,
    observed: &'a [Observed],
) -> Result<Sorted<'a>, PlanError> {
    let referenced: Vec<&ResourceKey> =
        desired.values().flat_map(|r| r.spec.references()).collect();
    let mut sorted = Sorted {
        current: BTreeMap::new(),
        obstacles: observed
            .iter()
            .filter(|o| o.resource.key.is_foreign())
            .collect(),
        claims: Vec::new(),
        leftovers: Vec::new(),
    };
    // Which of our own copies serves: see `kept_first`.
    let rank: BTreeMap<&str, usize> = super::planner::kept_first(observed)
        .into_iter()
        .enumerate()
        .map(|(i, o)| (o.id.as_str(), i))
        .collect();
    // The certificates attached to a listener, by id.
    let attached = attached_certificates(observed);
    for (key, mut claims) in group(observed) {
        let impostors = claims.iter().any(|o| impostor(o));
        if let ([only], false) = (claims.as_slice(), impostors) {
            sorted.current.insert(key, only);
            continue;
        }
        if own_copies(&claims, &attached) {
            claims.sort_by_key(|o| rank.get(o.id.as_str()).copied().unwrap_or(usize::MAX));
            let (kept, rest) = claims.split_at(1);
            sorted.current.insert(key, kept[0]);
            sorted.leftovers.extend(rest);
            continue;
        }
        let genuine: Vec<&Observed> = claims.iter().copied().filter(|o| !impostor(o)).collect();
        let kept = match genuine.as_slice() {
            [] => None,
            [only] => Some(*only),
            _ => keeper(&genuine, desired.get(key)),
        };
        if kept.is_none()
            && !genuine.is_empty()
            && (key.in_scope(scope) || referenced.contains(&key))
        {
            return Err(PlanError::DuplicateClaim {
                key: key.clone(),
                ids: claims.iter().map(|o| o.id.clone()).collect(),
            });
        }
        // Out of scope and unreferenced, an undecided key is left as it is; the
        // first genuine claim stands for it in the checks of what will exist (the
        // apply engine resolves the key to no claim at all). A key claimed by
        // impostors alone has no resource: the plan makes ours.
        let standing = kept.or(genuine.first().copied());
        if let Some(k) = standing {
            sorted.current.insert(key, k);
        }
        sorted.obstacles.extend(
            claims
                .iter()
                .filter(|o| Some(o.id.as_str()) != standing.map(|k| k.id.as_str())),
        );
        sorted.claims.push(claim(key, &claims, kept));
    }
    Ok(sorted)
}

/// The claim to keep, by the rules of [`DuplicateClaim`].
fn keeper<'a>(claims: &[&'a Observed], want: Option<&Resource>) -> Option<&'a Observed> {
    let only = |pick: &dyn Fn(&Observed) -> bool| -> Option<&'a Observed> {
        let mut it = claims.iter().copied().filter(|o| pick(o));
        match (it.next(), it.next()) {
            (Some(one), None) => Some(one),
            _ => None,
        }
    };
    only(&|o| our_name(o).is_some_and(|name| spec_name(&o.resource.spec) == Some(name.as_str())))
        .or_else(|| {
            let want = want?;
            only(&|o| same_but_priority(&o.resource.spec, &want.spec))
        })
}

/// The AWS name this library gives a resource with `o`'s key and immutable
/// settings in `o`'s rack, for the kinds AWS names uniquely.
fn our_name(o: &Observed) -> Option<String> {
    let rack = Name::new(o.resource.tags.get(TAG_RACK)?.as_str()).ok()?;
    match (o.resource.key.subject(), &o.resource.spec) {
        (KeySubject::RouterSecurityGroup(r), ResourceSpec::SecurityGroup(_)) => {
            Some(security_group_name(&rack, *r))
        }
        (KeySubject::RouterLoadBalancer(r), ResourceSpec::LoadBalancer(_)) => {
            Some(shard_load_balancer_name(&rack, *r))
        }
        (KeySubject::TargetGroup(app, service, r), ResourceSpec::TargetGroup(tg)) => {
            // The load balancer of the pool it was made for (pool::place).
            let shard = match o.resource.tags.get(crate::resource::TAG_SHARD) {
                Some(n) => crate::exposure::Shard::new(*r, n.parse().ok()?)?,
                None => crate::exposure::Shard::first(*r),
            };
            Some(target_group_name_on(
                &rack,
                app,
                service,
                shard,
                tg.protocol,
                tg.port,
            ))
        }
        _ => None,
    }
}

fn spec_name(spec: &ResourceSpec) -> Option<&str> {
    match spec {
        ResourceSpec::SecurityGroup(s) => Some(&s.name),
        ResourceSpec::LoadBalancer(s) => Some(&s.name),
        ResourceSpec::TargetGroup(s) => Some(&s.name),
        _ => None,
    }
}

fn same_but_priority(have: &ResourceSpec, want: &ResourceSpec) -> bool {
    match (have, want) {
        (ResourceSpec::ListenerRule(h), ResourceSpec::ListenerRule(w)) => {
            h.listener == w.listener && h.hosts == w.hosts && h.target_group == w.target_group
        }
        _ => have == want,
    }
}
