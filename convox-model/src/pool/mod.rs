//! Router pools: which load balancer of a router routes each service.
//!
//! AWS lets an application load balancer's rules forward to at most 100
//! target groups, a hard limit no quota request raises; the apps on an
//! internal load balancer share its certificate ([`certs`]), so certificates
//! (25 per load balancer by default) never bind first. So a router is a pool of load balancers
//! ([`Shard`]s), each a full router with its own listeners, all sharing the
//! router's security group and default certificate. A rack starts with one per
//! router; [`place`] adds one when an app needs room that no shard has, and a
//! shard after the first that nothing is routed on any more drains, then is
//! removed ([`drains`]).
//!
//! Draining closes a race between deploys: one deploy may place services on a
//! load balancer it saw empty (or with room) while another, deleting an app,
//! sees it empty and would remove it, rules and all, the moment after the first
//! one's rules land. So an empty load balancer is first marked
//! ([`TAG_EMPTY_SINCE`]); a marked one is
//! never placed on; one routing something again is unmarked; and only one
//! still empty [`DRAIN_SECONDS`] after it was marked is removed, by the next
//! deploy or delete. A deploy would have to take longer than that between
//! observing and creating its rules to lose them.
//!
//! Placement is first-fit, deterministic and sticky:
//!
//! - a service already routed stays on the load balancer that routes it (its
//!   target group belongs to that load balancer for life);
//! - an app's new services go together to the first shard where its others are
//!   that has room for all of them, otherwise to the first shard with room for
//!   all of them, otherwise to a new shard;
//! - only an app too big for an empty shard spans shards, each service to the
//!   first shard with room.
//!
//! Room is counted in AWS's quotas ([`Quotas`]) over everything on the shard:
//! every app's rules and target groups, rules the rack does not own, and
//! certificates attached. Placement is read back from what exists (which
//! listener each rule is on), never from a file, so two machines agree.
//!
//! ```
//! use convox_model::aws::Quotas;
//! use convox_model::exposure::{Router, Shard};
//! use convox_model::pool::Room;
//!
//! let quotas = Quotas::default();
//! let empty = Room::empty(Router::Internal, &quotas);
//! // 100 target groups per load balancer, whatever quota is raised.
//! assert_eq!(empty.services, 100);
//! // 25 certificates, one kept free for a make-before-break replacement.
//! assert_eq!(empty.certificates, 24);
//! assert_eq!(Shard::first(Router::Internal).to_string(), "internal");
//! ```

use std::collections::{BTreeMap, BTreeSet};

pub mod certs;

use crate::aws::Quotas;
use crate::desired::{DesiredState, target_group_name_on};
use crate::exposure::{Router, Shard};
use crate::name::Name;
use crate::plan::PlanError;
use crate::resource::{
    KeySubject, Observed, ResourceKey, ResourceSpec, Scope, TAG_EMPTY_SINCE, TAG_SHARD,
};

/// How long a load balancer after its router's first stays empty before it is
/// removed: an hour, far longer than a deploy takes from observing the rack to
/// creating its rules.
pub const DRAIN_SECONDS: i64 = 3600;

/// Certificate slots placement leaves free on each internal listener, for a
/// make-before-break replacement (see [`Room::certificates`]).
pub const SPARE_CERTIFICATE_SLOTS: usize = 1;

/// What is on one load balancer of a pool, as observed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Load {
    /// Listener rules, of every app and of no app of the rack's.
    pub rules: usize,
    /// The target groups those rules forward to.
    pub target_groups: BTreeSet<ResourceKey>,
    /// The certificates attached to its listeners (not their defaults).
    pub certificates: BTreeSet<ResourceKey>,
    /// The apps its shared certificates cover ([`certs`]).
    pub shared: BTreeSet<Name>,
    /// Its shared certificates (slots), attached or to be.
    pub shared_slots: usize,
}

impl Load {
    /// Nothing routed: no rule, and no certificate attached but the shard's
    /// shared ones (those go with it: a name left on one by a delete without
    /// an issuer must not keep it).
    fn is_empty(&self) -> bool {
        self.rules == 0
            && self
                .certificates
                .iter()
                .all(|c| matches!(c.subject(), KeySubject::ShardCertificate(..)))
    }

    /// One more service placed on `shard`: its rule, its target group, and on
    /// the internal router its app's name on a shared certificate (a new
    /// slot when those there are full).
    fn take(&mut self, group: ResourceKey, shard: Shard, app: &Name, quotas: &Quotas) {
        self.rules += 1;
        self.target_groups.insert(group);
        if shard.router == Router::Internal {
            self.shared.insert(app.clone());
            let needed = self
                .shared
                .len()
                .div_ceil(quotas.names_per_certificate.max(1));
            while self.shared_slots < needed {
                self.shared_slots += 1;
                let slot = u16::try_from(self.shared_slots).unwrap_or(u16::MAX);
                self.certificates
                    .insert(ResourceKey::shard_certificate(shard, slot));
            }
        }
    }
}

/// How much more one load balancer takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Room {
    /// Services (each one rule and one target group).
    pub services: usize,
    /// Certificates, on the internal router (the shared certificates, one
    /// per [`Quotas::names_per_certificate`] apps, and the certificates of
    /// apps not yet moved to them). One slot of each listener is always left free: a
    /// certificate is replaced make before break (the new one attached before
    /// the old one is detached), as a rotation of the rack's authority does
    /// for each app in turn.
    pub certificates: usize,
}

impl Room {
    /// The room on an empty load balancer of `router`.
    pub fn empty(router: Router, quotas: &Quotas) -> Room {
        Room::left(router, &Load::default(), quotas)
    }

    fn left(router: Router, load: &Load, quotas: &Quotas) -> Room {
        let services = quotas
            .target_groups_per_load_balancer
            .saturating_sub(load.target_groups.len())
            .min(quotas.rules_per_load_balancer.saturating_sub(load.rules));
        let certificates = match router {
            Router::Internal => quotas
                .certificates_per_load_balancer
                .saturating_sub(load.certificates.len())
                .saturating_sub(SPARE_CERTIFICATE_SLOTS),
            Router::External => usize::MAX,
        };
        Room {
            services,
            certificates,
        }
    }
}

/// Every load balancer of the rack's routers that exists, with what is on it.
/// Each router's first is always in it (empty if it does not exist yet).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Pool {
    /// The load balancers, by shard.
    pub shards: BTreeMap<Shard, Load>,
    /// The load balancers marked empty ([`TAG_EMPTY_SINCE`]): placement takes
    /// none of them. Since when, in Unix seconds (`None`: a mark that is not a
    /// number).
    pub draining: BTreeMap<Shard, Option<i64>>,
}

impl Pool {
    /// The pool as `observed`: the load balancers that exist, each with the
    /// rules on its listeners (ours and others'), their target groups, and the
    /// certificates attached. A target group of ours that no rule forwards to
    /// yet holds its place on the load balancer its tag names (the first,
    /// without one): a deploy between making it and its rule, or replacing
    /// its rule, keeps the room it was given.
    pub fn observed(observed: &[Observed]) -> Pool {
        Pool::observed_but(observed, None)
    }

    /// [`Pool::observed`], without the places `app`'s own target groups hold
    /// (it is being placed).
    fn observed_but(observed: &[Observed], app: Option<&Name>) -> Pool {
        let mut shards: BTreeMap<Shard, Load> = Router::ALL
            .into_iter()
            .map(|r| (Shard::first(r), Load::default()))
            .collect();
        let mut draining = BTreeMap::new();
        for o in observed {
            if let KeySubject::RouterLoadBalancer(s) = o.resource.key.subject() {
                shards.entry(*s).or_default();
                if let Some(since) = o.resource.tags.get(TAG_EMPTY_SINCE) {
                    draining.insert(*s, since.parse().ok());
                }
            }
        }
        for o in observed {
            match &o.resource.spec {
                ResourceSpec::ListenerRule(rule) => {
                    if let Some(load) =
                        listener_shard(&rule.listener).and_then(|s| shards.get_mut(&s))
                    {
                        load.rules += 1;
                        load.target_groups.insert(rule.target_group.clone());
                    }
                }
                ResourceSpec::ListenerCertificate(lc) => {
                    if let Some(load) =
                        listener_shard(&lc.listener).and_then(|s| shards.get_mut(&s))
                    {
                        load.certificates.insert(lc.certificate.clone());
                    }
                }
                _ => {}
            }
        }
        // The apps the shared certificates cover, and how many there are.
        for (shard, slots) in certs::observed_names(observed) {
            if let Some(load) = shards.get_mut(&shard) {
                load.shared_slots = load.shared_slots.max(
                    slots
                        .keys()
                        .max()
                        .map_or(0, |n| usize::from(*n))
                        .max(slots.len()),
                );
                load.shared.extend(slots.into_values().flatten());
            }
        }
        let routed: BTreeSet<&ResourceKey> = observed
            .iter()
            .filter_map(|o| match &o.resource.spec {
                ResourceSpec::ListenerRule(rule) => Some(&rule.target_group),
                _ => None,
            })
            .collect();
        for o in observed {
            let key = &o.resource.key;
            // A copy of our tags on someone else's group holds no place.
            if let KeySubject::TargetGroup(a, _, r) = key.subject()
                && Some(a) != app
                && !routed.contains(key)
                && !crate::plan::impostor(o)
                && let Some(load) = tagged_shard(o, *r).and_then(|s| shards.get_mut(&s))
            {
                load.target_groups.insert(key.clone());
            }
        }
        Pool { shards, draining }
    }

    /// The shards of `router`, in order.
    pub fn of(&self, router: Router) -> impl Iterator<Item = (&Shard, &Load)> {
        self.shards.iter().filter(move |(s, _)| s.router == router)
    }

    /// The shards of `router` placement may take, in order: all but the
    /// draining ones.
    fn open(&self, router: Router) -> Vec<Shard> {
        self.of(router)
            .map(|(s, _)| *s)
            .filter(|s| !self.draining.contains_key(s))
            .collect()
    }

    fn next_free(&self, router: Router) -> Shard {
        let index = (2..=u16::MAX)
            .find(|i| !self.shards.contains_key(&Shard { router, index: *i }))
            .unwrap_or(u16::MAX);
        Shard { router, index }
    }

    fn load_balancers(&self, observed: &[Observed]) -> usize {
        observed
            .iter()
            .filter(|o| matches!(o.resource.key.subject(), KeySubject::RouterLoadBalancer(_)))
            .map(|o| &o.resource.key)
            .collect::<BTreeSet<_>>()
            .len()
    }
}

/// The load balancer a target group of ours was placed on: its tag, or the
/// router's first when it has none (every target group from before pools).
fn tagged_shard(o: &Observed, router: Router) -> Option<Shard> {
    match o.resource.tags.get(TAG_SHARD) {
        Some(n) => Shard::new(router, n.parse().ok()?),
        None => Some(Shard::first(router)),
    }
}

/// Whether `n` more services of `app` fit on a load balancer of `router`
/// holding `load`: room for their rules and target groups, and on the
/// internal router for the app's name on a shared certificate: one there with
/// room, or room for one more certificate ([`certs`]).
fn fits(load: &Load, router: Router, app: &Name, n: usize, quotas: &Quotas) -> bool {
    let room = Room::left(router, load, quotas);
    let certificate = router == Router::External || load.shared.contains(app) || {
        let needed = (load.shared.len() + 1).div_ceil(quotas.names_per_certificate.max(1));
        room.certificates >= needed.saturating_sub(load.shared_slots)
    };
    room.services >= n && certificate
}

/// The shard a listener key is on.
fn listener_shard(listener: &ResourceKey) -> Option<Shard> {
    match listener.subject() {
        KeySubject::RouterListener(s, _) => Some(*s),
        _ => None,
    }
}

/// The load balancers the rack keeps: each router's first, and every later one
/// that routes something (a rule of any app's or of no app of ours, or an
/// attached certificate other than its shared ones). A later one left empty
/// is removed, its shared certificates with it.
pub fn shards_in_use(observed: &[Observed]) -> BTreeSet<Shard> {
    Pool::observed(observed)
        .shards
        .into_iter()
        .filter(|(s, load)| s.is_first() || !load.is_empty())
        .map(|(s, _)| s)
        .collect()
}

/// The load balancers after each router's first that exist and route
/// nothing: what [`drains`] marks, then removes.
pub fn empty_shards(observed: &[Observed]) -> BTreeSet<Shard> {
    let pool = Pool::observed(observed);
    pool.shards
        .into_iter()
        .filter(|(s, load)| !s.is_first() && load.is_empty())
        .filter(|(s, _)| {
            let key = ResourceKey::shard_load_balancer(*s);
            observed.iter().any(|o| o.resource.key == key)
        })
        .map(|(s, _)| s)
        .collect()
}

/// The shards the rack's own plans keep: those in use and every later one
/// that exists, empty or draining (only [`drains`] removes one).
pub fn shards_kept(observed: &[Observed]) -> BTreeSet<Shard> {
    let mut kept = shards_in_use(observed);
    kept.extend(
        observed
            .iter()
            .filter_map(|o| match o.resource.key.subject() {
                KeySubject::RouterLoadBalancer(s) => Some(*s),
                _ => None,
            }),
    );
    kept
}

/// What draining does to a load balancer after its router's first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Drain {
    /// It routes nothing and is not marked (or its mark is not a time): mark
    /// it empty since now.
    Mark,
    /// It is marked but routes something again (a deploy placed on it before
    /// it was marked): unmark it.
    Unmark,
    /// It has routed nothing for [`DRAIN_SECONDS`] since it was marked:
    /// remove it, with its listeners.
    Remove,
}

/// What draining does at `now` (Unix seconds) to each later load balancer
/// that exists: those not named are left as they are (in use and unmarked,
/// or marked less than [`DRAIN_SECONDS`] ago).
pub fn drains(observed: &[Observed], now: i64) -> BTreeMap<Shard, Drain> {
    let pool = Pool::observed(observed);
    let empty = empty_shards(observed);
    let mut out = BTreeMap::new();
    for s in shards_kept(observed).into_iter().filter(|s| !s.is_first()) {
        let mark = pool.draining.get(&s).copied();
        let drain = match (empty.contains(&s), mark) {
            (true, None | Some(None)) => Some(Drain::Mark),
            (true, Some(Some(since))) if now.saturating_sub(since) >= DRAIN_SECONDS => {
                Some(Drain::Remove)
            }
            (false, Some(_)) => Some(Drain::Unmark),
            _ => None,
        };
        out.extend(drain.map(|d| (s, d)));
    }
    out
}

/// An app's desired state with every routed service placed on a load
/// balancer of its router's pool, and the load balancers the rack needs for
/// it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Placed {
    /// The app's resources: each rule on its shard's 443 listener, each record
    /// aliasing its shard; no certificate of its own (its internal shards'
    /// shared certificates cover it, see [`Placed::joins`]).
    pub desired: DesiredState,
    /// Where each (service, router) is routed.
    pub placement: BTreeMap<(Name, Router), Shard>,
    /// The shards the rack needs: those in use and those the app takes.
    pub shards: BTreeSet<Shard>,
    /// The shards the app takes that do not exist yet.
    pub new_shards: BTreeSet<Shard>,
    /// The internal shards the app is routed on: its wildcard joins their
    /// shared certificates ([`certs`]).
    pub joins: BTreeSet<Shard>,
}

/// Places an app's routed services ([`crate::desired::desired_app`], every
/// rule on each router's first load balancer) on the rack's pools as
/// `observed`, first-fit and sticky (see the module's documentation), and
/// rewrites its rules, records and certificate attachments to where they go.
///
/// Refuses, naming the quota and how to raise it, when the region's quota of
/// load balancers would be exceeded.
pub fn place(
    desired: DesiredState,
    observed: &[Observed],
    quotas: &Quotas,
) -> Result<Placed, PlanError> {
    let Scope::App(app) = desired.scope.clone() else {
        let shards = shards_kept(observed);
        return Ok(Placed {
            desired,
            placement: BTreeMap::new(),
            shards,
            new_shards: BTreeSet::new(),
            joins: BTreeSet::new(),
        });
    };
    let mut pool = Pool::observed_but(observed, Some(&app));

    // Where the app's services are routed now: by the listener their rule is
    // on. Those stay; their target groups count where they are.
    let mut placement: BTreeMap<(Name, Router), Shard> = BTreeMap::new();
    for o in observed {
        if let (KeySubject::ListenerRule(a, s, r), ResourceSpec::ListenerRule(rule)) =
            (o.resource.key.subject(), &o.resource.spec)
            && *a == app
            && let Some(shard) = listener_shard(&rule.listener)
            && shard.router == *r
        {
            placement.entry((s.clone(), *r)).or_insert(shard);
        }
    }
    for ((s, r), shard) in &placement {
        if let Some(load) = pool.shards.get_mut(shard) {
            load.target_groups
                .insert(ResourceKey::target_group(&app, s, *r));
        }
    }
    // Where the app's services without a rule were placed before (a rule
    // being replaced, a deploy that stopped before its rules): kept where
    // there is still room for them, placed afresh otherwise.
    let mut preferred: BTreeMap<(Name, Router), Shard> = BTreeMap::new();
    for o in observed {
        if let KeySubject::TargetGroup(a, s, r) = o.resource.key.subject()
            && *a == app
            && o.resource.tags.contains_key(TAG_SHARD)
            && !crate::plan::impostor(o)
            && !placement.contains_key(&(s.clone(), *r))
            && let Some(shard) = tagged_shard(o, *r)
            && pool.shards.contains_key(&shard)
            && !pool.draining.contains_key(&shard)
        {
            preferred.insert((s.clone(), *r), shard);
        }
    }

    // What the app routes: one rule per (service, router).
    let mut routed: BTreeMap<Router, Vec<Name>> = BTreeMap::new();
    for key in desired.resources.keys() {
        if let KeySubject::ListenerRule(_, s, r) = key.subject() {
            routed.entry(*r).or_default().push(s.clone());
        }
    }
    placement.retain(|(s, r), _| routed.get(r).is_some_and(|v| v.contains(s)));
    for ((s, r), shard) in preferred {
        let wanted = routed.get(&r).is_some_and(|v| v.contains(&s));
        if wanted && fits(&pool.shards[&shard], r, &app, 1, quotas) {
            let group = ResourceKey::target_group(&app, &s, r);
            pool.shards
                .entry(shard)
                .or_default()
                .take(group, shard, &app, quotas);
            placement.insert((s, r), shard);
        }
    }

    let mut new_shards = BTreeSet::new();
    for (router, services) in &routed {
        let router = *router;
        let new: Vec<&Name> = services
            .iter()
            .filter(|s| !placement.contains_key(&((*s).clone(), router)))
            .collect();
        if new.is_empty() {
            continue;
        }
        let empty = Room::empty(router, quotas);
        if empty.services == 0 || empty.certificates == 0 {
            return Err(PlanError::Quota {
                what: format!("the room on an empty {router} load balancer"),
                count: 1,
                limit: 0,
                hint: "aws::Quotas leaves no rule, target group or certificate slot on an empty load balancer (one certificate slot is kept free for replacements): use AWS's defaults".to_string(),
            });
        }
        // The app's own shards first, then every shard, in order.
        let own: Vec<Shard> = placement
            .iter()
            .filter(|((_, r), _)| *r == router)
            .map(|(_, s)| *s)
            .filter(|s| !pool.draining.contains_key(s))
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let all = pool.open(router);
        let together = own
            .iter()
            .chain(all.iter())
            .copied()
            .find(|s| fits(&pool.shards[s], router, &app, new.len(), quotas));
        let together = together.or_else(|| {
            (new.len() <= empty.services).then(|| {
                let s = pool.next_free(router);
                pool.shards.insert(s, Load::default());
                new_shards.insert(s);
                s
            })
        });
        for service in new {
            let shard = match together {
                Some(s) => s,
                // Too big for an empty load balancer: each service to the first
                // with room, opening one when none has.
                None => match pool
                    .open(router)
                    .into_iter()
                    .find(|s| fits(&pool.shards[s], router, &app, 1, quotas))
                {
                    Some(s) => s,
                    None => {
                        let s = pool.next_free(router);
                        pool.shards.insert(s, Load::default());
                        new_shards.insert(s);
                        s
                    }
                },
            };
            let group = ResourceKey::target_group(&app, service, router);
            pool.shards
                .entry(shard)
                .or_default()
                .take(group, shard, &app, quotas);
            placement.insert((service.clone(), router), shard);
        }
    }

    let have = pool.load_balancers(observed);
    let created = new_shards
        .iter()
        .filter(|s| {
            let key = ResourceKey::shard_load_balancer(**s);
            !observed.iter().any(|o| o.resource.key == key)
        })
        .count();
    if created > 0 && have + created > quotas.load_balancers_per_region {
        return Err(PlanError::Quota {
            what: format!("the number of load balancers the rack needs for {app}"),
            count: have + created,
            limit: quotas.load_balancers_per_region,
            hint: "each router takes one application load balancer per 100 routed services; raise the 'Application Load Balancers per Region' quota with AWS (Service Quotas) and aws::Quotas::load_balancers_per_region, or move apps to another rack".to_string(),
        });
    }

    let desired = rewrite(desired, &app, &placement);
    let mut shards = shards_kept(observed);
    shards.extend(placement.values().copied());
    let joins = placement
        .values()
        .copied()
        .filter(|s| s.router == Router::Internal)
        .collect();
    Ok(Placed {
        desired,
        placement,
        shards,
        new_shards,
        joins,
    })
}

/// The app's rules on their shards' 443 listeners, its records aliasing their
/// shards. Its own certificate and attachment are dropped: the shared
/// certificates of its internal shards cover it ([`certs`]), and an existing
/// one is deleted once they do.
fn rewrite(
    mut desired: DesiredState,
    app: &Name,
    placement: &BTreeMap<(Name, Router), Shard>,
) -> DesiredState {
    desired.resources.retain(|key, _| {
        !matches!(
            key.subject(),
            KeySubject::AppCertificate(_) | KeySubject::Attachment(..)
        )
    });
    for (key, res) in desired.resources.iter_mut() {
        match (key.subject(), &mut res.spec) {
            (KeySubject::TargetGroup(_, s, r), ResourceSpec::TargetGroup(tg)) => {
                if let Some(shard) = placement.get(&(s.clone(), *r)) {
                    res.tags
                        .insert(TAG_SHARD.to_string(), shard.index.to_string());
                    if let Some(rack) = res.tags.get(crate::resource::TAG_RACK)
                        && let Ok(rack) = Name::new(rack)
                    {
                        tg.name = target_group_name_on(&rack, app, s, *shard, tg.protocol, tg.port);
                    }
                }
            }
            (KeySubject::ListenerRule(_, s, r), ResourceSpec::ListenerRule(rule)) => {
                if let Some(shard) = placement.get(&(s.clone(), *r)) {
                    rule.listener = ResourceKey::shard_listener(*shard, 443);
                }
            }
            (KeySubject::Record(_, s), ResourceSpec::Record(record)) => {
                if let Some(shard) = placement.get(&(s.clone(), Router::Internal)) {
                    record.load_balancer = ResourceKey::shard_load_balancer(*shard);
                }
            }
            _ => {}
        }
    }
    desired
}

#[cfg(test)]
mod tests;
