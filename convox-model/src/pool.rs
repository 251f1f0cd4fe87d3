//! Router pools: which load balancer of a router routes each service.
//!
//! AWS lets an application load balancer's rules forward to at most 100
//! target groups, a hard limit no quota request raises, and each app with
//! internal services attaches its certificate to the internal listener (25 per
//! load balancer by default). So a router is a pool of load balancers
//! ([`Shard`]s), each a full router with its own listeners, all sharing the
//! router's security group and default certificate. A rack starts with one per
//! router; [`place`] adds one when an app needs room that no shard has, and a
//! shard after the first that nothing is routed on any more is removed
//! ([`shards_in_use`] no longer names it).
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

use crate::aws::Quotas;
use crate::desired::{DesiredState, target_group_name_on};
use crate::exposure::{Router, Shard};
use crate::name::Name;
use crate::plan::PlanError;
use crate::resource::{KeySubject, Observed, ResourceKey, ResourceSpec, Scope, TAG_SHARD};

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
}

impl Load {
    fn is_empty(&self) -> bool {
        self.rules == 0 && self.certificates.is_empty()
    }

    /// One more service placed here: its rule, its target group, and on the
    /// internal router its app's certificate.
    fn take(&mut self, group: ResourceKey, router: Router, certificate: &ResourceKey) {
        self.rules += 1;
        self.target_groups.insert(group);
        if router == Router::Internal {
            self.certificates.insert(certificate.clone());
        }
    }
}

/// How much more one load balancer takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Room {
    /// Services (each one rule and one target group).
    pub services: usize,
    /// Certificates, on the internal router (each app with services there
    /// attaches one). One slot of each listener is always left free: a
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
        for o in observed {
            if let KeySubject::RouterLoadBalancer(s) = o.resource.key.subject() {
                shards.entry(*s).or_default();
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
        Pool { shards }
    }

    /// The shards of `router`, in order.
    pub fn of(&self, router: Router) -> impl Iterator<Item = (&Shard, &Load)> {
        self.shards.iter().filter(move |(s, _)| s.router == router)
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

/// Whether `n` more services of the app whose certificate is `cert` fit on a
/// load balancer of `router` holding `load`: room for their rules and target
/// groups, and on the internal router for the app's certificate unless it is
/// attached there already.
fn fits(load: &Load, router: Router, cert: &ResourceKey, n: usize, quotas: &Quotas) -> bool {
    let room = Room::left(router, load, quotas);
    let certificate =
        router == Router::External || load.certificates.contains(cert) || room.certificates >= 1;
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
/// attached certificate). A later one left empty is removed.
pub fn shards_in_use(observed: &[Observed]) -> BTreeSet<Shard> {
    Pool::observed(observed)
        .shards
        .into_iter()
        .filter(|(s, load)| s.is_first() || !load.is_empty())
        .map(|(s, _)| s)
        .collect()
}

/// The load balancers after each router's first that exist and route
/// nothing: what a shrink removes.
pub fn empty_shards(observed: &[Observed]) -> BTreeSet<Shard> {
    Pool::observed(observed)
        .shards
        .into_iter()
        .filter(|(s, load)| !s.is_first() && load.is_empty())
        .filter(|(s, _)| {
            let key = ResourceKey::shard_load_balancer(*s);
            observed.iter().any(|o| o.resource.key == key)
        })
        .map(|(s, _)| s)
        .collect()
}

/// An app's desired state with every routed service placed on a load
/// balancer of its router's pool, and the load balancers the rack needs for
/// it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Placed {
    /// The app's resources: each rule on its shard's 443 listener, each record
    /// aliasing its shard, the app's certificate attached on every internal
    /// shard it is routed on.
    pub desired: DesiredState,
    /// Where each (service, router) is routed.
    pub placement: BTreeMap<(Name, Router), Shard>,
    /// The shards the rack needs: those in use and those the app takes.
    pub shards: BTreeSet<Shard>,
    /// The shards the app takes that do not exist yet.
    pub new_shards: BTreeSet<Shard>,
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
        let shards = shards_in_use(observed);
        return Ok(Placed {
            desired,
            placement: BTreeMap::new(),
            shards,
            new_shards: BTreeSet::new(),
        });
    };
    let mut pool = Pool::observed_but(observed, Some(&app));
    let cert = ResourceKey::app_certificate(&app);

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
        if wanted && fits(&pool.shards[&shard], r, &cert, 1, quotas) {
            let group = ResourceKey::target_group(&app, &s, r);
            pool.shards.entry(shard).or_default().take(group, r, &cert);
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
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let all: Vec<Shard> = pool.of(router).map(|(s, _)| *s).collect();
        let together = own
            .iter()
            .chain(all.iter())
            .copied()
            .find(|s| fits(&pool.shards[s], router, &cert, new.len(), quotas));
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
                    .of(router)
                    .map(|(s, _)| *s)
                    .collect::<Vec<_>>()
                    .into_iter()
                    .find(|s| fits(&pool.shards[s], router, &cert, 1, quotas))
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
                .take(group, router, &cert);
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
    let mut shards = shards_in_use(observed);
    shards.extend(placement.values().copied());
    Ok(Placed {
        desired,
        placement,
        shards,
        new_shards,
    })
}

/// The app's rules on their shards' 443 listeners, its records aliasing their
/// shards, its certificate attached on each internal shard it is routed on.
fn rewrite(
    mut desired: DesiredState,
    app: &Name,
    placement: &BTreeMap<(Name, Router), Shard>,
) -> DesiredState {
    let mut attached: BTreeSet<Shard> = BTreeSet::new();
    let mut attachment = None;
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
                    if *r == Router::Internal {
                        attached.insert(*shard);
                    }
                }
            }
            (KeySubject::Record(_, s), ResourceSpec::Record(record)) => {
                if let Some(shard) = placement.get(&(s.clone(), Router::Internal)) {
                    record.load_balancer = ResourceKey::shard_load_balancer(*shard);
                }
            }
            (KeySubject::Attachment(..), ResourceSpec::ListenerCertificate(_)) => {
                attachment = Some(key.clone());
            }
            _ => {}
        }
    }
    if let Some(first) = attachment
        && let Some(template) = desired.resources.remove(&first)
    {
        for shard in attached {
            let key = ResourceKey::app_listener_certificate_on(app, shard);
            let mut res = template.clone();
            res.tags
                .insert(crate::resource::TAG_KEY.to_string(), key.to_string());
            if let ResourceSpec::ListenerCertificate(lc) = &mut res.spec {
                lc.listener = ResourceKey::shard_listener(shard, 443);
            }
            res.key = key.clone();
            desired.resources.insert(key, res);
        }
    }
    desired
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::desired::{desired_app, desired_rack_pool};
    use crate::manifest::{Exposure, Manifest, Port, Scheme, Service};
    use crate::params::RackParams;
    use crate::rack::Rack;

    fn n(s: &str) -> Name {
        Name::new(s).unwrap()
    }

    fn rack() -> Rack {
        let mut r = Rack::new(
            n("production"),
            RackParams::new(true, false).unwrap(),
            Some("production.example.com".into()),
        );
        r.subnets = vec!["subnet-a".into(), "subnet-b".into()];
        r.external_certificate = Some("arn:aws:acm:us-east-1:1:certificate/user".into());
        r
    }

    fn manifest(services: usize, exposure: Exposure) -> Manifest {
        Manifest::from_services(
            (0..services)
                .map(|i| {
                    let mut s = Service::with_defaults(n(&format!("s{i}")));
                    s.port = Some(Port {
                        port: 3000,
                        scheme: Scheme::Http,
                    });
                    s.exposure = exposure;
                    s
                })
                .collect(),
        )
    }

    /// Small quotas: 5 target groups and rules per load balancer, 3
    /// certificates (2 for apps, 1 kept free).
    fn small() -> Quotas {
        Quotas {
            target_groups_per_load_balancer: 5,
            rules_per_load_balancer: 5,
            certificates_per_load_balancer: 3,
            ..Quotas::default()
        }
    }

    /// A rack as if every placed app were applied: the rack with its shards,
    /// and each app's placed resources.
    #[derive(Default)]
    struct World {
        apps: BTreeMap<String, DesiredState>,
    }

    impl World {
        fn observed(&self) -> Vec<Observed> {
            let apps: Vec<Observed> = self
                .apps
                .values()
                .flat_map(|d| d.iter().cloned())
                .map(as_observed)
                .collect();
            // The rack's load balancers: one for each shard an app is on.
            let shards: BTreeSet<Shard> = apps
                .iter()
                .filter_map(|o| match &o.resource.spec {
                    ResourceSpec::ListenerRule(r) => listener_shard(&r.listener),
                    _ => None,
                })
                .collect();
            desired_rack_pool(
                &rack(),
                "ca",
                rack().external_certificate.as_deref(),
                &shards,
            )
            .iter()
            .cloned()
            .map(as_observed)
            .chain(apps)
            .collect()
        }

        fn deploy(&mut self, app: &str, m: &Manifest, quotas: &Quotas) -> Placed {
            let d = desired_app(&rack(), &n(app), m, "ca").unwrap();
            let placed = place(d, &self.observed(), quotas).unwrap();
            self.apps.insert(app.to_string(), placed.desired.clone());
            placed
        }

        fn shards(&self) -> BTreeSet<Shard> {
            shards_in_use(&self.observed())
        }
    }

    fn as_observed(resource: crate::resource::Resource) -> Observed {
        Observed {
            id: resource.key.to_string(),
            resource,
            address: None,
            not_after: None,
        }
    }

    fn on(placed: &Placed) -> BTreeSet<u16> {
        placed.placement.values().map(|s| s.index).collect()
    }

    #[test]
    fn an_app_goes_whole_to_the_first_shard_with_room() {
        let mut w = World::default();
        let q = small();
        assert_eq!(
            on(&w.deploy("a", &manifest(3, Exposure::Internal), &q)),
            [1].into()
        );
        // 3 + 3 > 5: the second app opens shard 2, whole.
        let b = w.deploy("b", &manifest(3, Exposure::Internal), &q);
        assert_eq!(on(&b), [2].into());
        assert_eq!(
            b.new_shards,
            [Shard {
                router: Router::Internal,
                index: 2
            }]
            .into()
        );
        // 2 fit beside a's 3 on shard 1: first fit, not the newest.
        assert_eq!(
            on(&w.deploy("c", &manifest(2, Exposure::Internal), &q)),
            [1].into()
        );
        for (shard, load) in Pool::observed(&w.observed()).shards {
            assert!(load.target_groups.len() <= 5, "{shard}: {load:?}");
            assert!(
                load.rules <= 5 && load.certificates.len() <= 3 - SPARE_CERTIFICATE_SLOTS,
                "{shard}: {load:?}"
            );
        }
    }

    #[test]
    fn placed_services_never_move_and_new_ones_join_their_app() {
        let mut w = World::default();
        let q = small();
        w.deploy("a", &manifest(2, Exposure::Internal), &q);
        w.deploy("b", &manifest(2, Exposure::Internal), &q);
        // a grows by one: room beside its others on shard 1 (4 of 5).
        let a = w.deploy("a", &manifest(3, Exposure::Internal), &q);
        assert_eq!(on(&a), [1].into());
        // b grows by two: no room on shard 1 (5 of 5), so the new services go
        // to the first shard with room; b's first two stay where they are.
        let b = w.deploy("b", &manifest(4, Exposure::Internal), &q);
        assert_eq!(b.placement[&(n("s0"), Router::Internal)].index, 1);
        assert_eq!(b.placement[&(n("s1"), Router::Internal)].index, 1);
        assert_eq!(b.placement[&(n("s2"), Router::Internal)].index, 2);
        assert_eq!(b.placement[&(n("s3"), Router::Internal)].index, 2);
        // Placing again changes nothing.
        let again = w.deploy("b", &manifest(4, Exposure::Internal), &q);
        assert_eq!(again.placement, b.placement);
        assert!(again.new_shards.is_empty());
    }

    #[test]
    fn records_alias_and_rules_sit_on_the_shard_that_routes_them() {
        let mut w = World::default();
        let q = small();
        w.deploy("a", &manifest(4, Exposure::Internal), &q);
        let b = w.deploy("b", &manifest(2, Exposure::Internal), &q);
        let shard = Shard {
            router: Router::Internal,
            index: 2,
        };
        for res in b.desired.iter() {
            match &res.spec {
                ResourceSpec::ListenerRule(rule) => {
                    assert_eq!(rule.listener, ResourceKey::shard_listener(shard, 443));
                }
                ResourceSpec::Record(record) => {
                    assert_eq!(
                        record.load_balancer,
                        ResourceKey::shard_load_balancer(shard)
                    );
                }
                ResourceSpec::ListenerCertificate(lc) => {
                    assert_eq!(lc.listener, ResourceKey::shard_listener(shard, 443));
                    assert_eq!(
                        res.key,
                        ResourceKey::app_listener_certificate_on(&n("b"), shard)
                    );
                    assert_eq!(res.key.as_str(), "app/b/cert/attachment/2");
                }
                _ => {}
            }
        }
    }

    #[test]
    fn certificate_slots_count_as_room_on_the_internal_router() {
        let mut w = World::default();
        let q = small();
        // One service each: target groups have room, certificates (2, and
        // one kept free) do not.
        let placed: Vec<u16> = ["a", "b", "c", "d", "e"]
            .into_iter()
            .map(|app| {
                *on(&w.deploy(app, &manifest(1, Exposure::Internal), &q))
                    .first()
                    .unwrap()
            })
            .collect();
        assert_eq!(placed, [1, 1, 2, 2, 3]);
        // External services attach no certificate.
        let mut w = World::default();
        let placed: Vec<u16> = ["a", "b", "c", "d", "e"]
            .into_iter()
            .map(|app| {
                *on(&w.deploy(app, &manifest(1, Exposure::External), &q))
                    .first()
                    .unwrap()
            })
            .collect();
        assert_eq!(placed, [1, 1, 1, 1, 1]);
    }

    #[test]
    fn only_an_app_too_big_for_an_empty_shard_spans_shards() {
        let mut w = World::default();
        let q = small();
        w.deploy("a", &manifest(2, Exposure::Internal), &q);
        let big = w.deploy("big", &manifest(9, Exposure::Internal), &q);
        // First fit, service by service: 3 beside a, then 5 on a new shard,
        // then 1 on another.
        let count = |i: u16| big.placement.values().filter(|s| s.index == i).count();
        assert_eq!((count(1), count(2), count(3)), (3, 5, 1));
        assert_eq!(
            w.shards().len(),
            3 + 1,
            "three internal shards and the external first"
        );
    }

    #[test]
    fn an_empty_shard_is_no_longer_in_use_but_the_first_always_is() {
        let mut w = World::default();
        let q = small();
        w.deploy("a", &manifest(5, Exposure::Internal), &q);
        w.deploy("b", &manifest(5, Exposure::Internal), &q);
        let two = Shard {
            router: Router::Internal,
            index: 2,
        };
        assert!(w.shards().contains(&two));
        w.apps.remove("b");
        assert!(!w.shards().contains(&two));
        w.apps.remove("a");
        assert!(w.shards().contains(&Shard::first(Router::Internal)));
        // A new shard takes the lowest free number again.
        w.deploy("a", &manifest(5, Exposure::Internal), &q);
        assert_eq!(
            on(&w.deploy("c", &manifest(1, Exposure::Internal), &q)),
            [2].into()
        );
    }

    #[test]
    fn the_region_quota_of_load_balancers_is_checked_and_named() {
        let mut w = World::default();
        let q = Quotas {
            load_balancers_per_region: 3,
            ..small()
        };
        w.deploy("a", &manifest(5, Exposure::Internal), &q);
        // Internal 1, external 1, internal 2: three.
        w.deploy("b", &manifest(5, Exposure::Internal), &q);
        let d = desired_app(&rack(), &n("c"), &manifest(1, Exposure::Internal), "ca").unwrap();
        let err = place(d, &w.observed(), &q).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("Application Load Balancers per Region"),
            "{text}"
        );
        assert!(!text.contains("target group quota"), "{text}");
    }

    #[test]
    fn foreign_rules_take_room_too() {
        let mut w = World::default();
        let q = small();
        w.deploy("a", &manifest(2, Exposure::Internal), &q);
        let mut observed = w.observed();
        for i in 0..3 {
            let mut rule = observed
                .iter()
                .find(|o| matches!(o.resource.spec, ResourceSpec::ListenerRule(_)))
                .unwrap()
                .clone();
            rule.resource.key = ResourceKey::foreign_rule(&format!("r{i}"));
            if let ResourceSpec::ListenerRule(r) = &mut rule.resource.spec {
                r.target_group = ResourceKey::from_raw(format!("foreign/tg/{i}"));
            }
            observed.push(rule);
        }
        let d = desired_app(&rack(), &n("b"), &manifest(1, Exposure::Internal), "ca").unwrap();
        assert_eq!(on(&place(d, &observed, &q).unwrap()), [2].into());
    }

    /// `observed` without the rules of `app`.
    fn without_rules(observed: &[Observed], app: &str) -> Vec<Observed> {
        observed
            .iter()
            .filter(|o| {
                !(o.resource.key.app() == Some(app)
                    && matches!(o.resource.spec, ResourceSpec::ListenerRule(_)))
            })
            .cloned()
            .collect()
    }

    #[test]
    fn loads_count_every_rule_group_and_certificate_once() {
        let mut w = World::default();
        w.deploy("a", &manifest(3, Exposure::Internal), &small());
        let pool = Pool::observed(&w.observed());
        let first = &pool.shards[&Shard::first(Router::Internal)];
        assert_eq!(
            (
                first.rules,
                first.target_groups.len(),
                first.certificates.len()
            ),
            (3, 3, 1)
        );
        assert!(pool.shards[&Shard::first(Router::External)].is_empty());
        assert!(!first.is_empty());
    }

    #[test]
    fn a_later_load_balancer_routing_nothing_is_empty_and_not_in_use() {
        let mut w = World::default();
        let q = small();
        w.deploy("a", &manifest(5, Exposure::Internal), &q);
        w.deploy("b", &manifest(1, Exposure::Internal), &q);
        let two = Shard {
            router: Router::Internal,
            index: 2,
        };
        let observed = w.observed();
        assert!(empty_shards(&observed).is_empty());
        assert!(shards_in_use(&observed).contains(&two));
        // b's rule gone, its certificate still attached there: in use.
        let no_rule = without_rules(&observed, "b");
        assert!(shards_in_use(&no_rule).contains(&two));
        assert!(empty_shards(&no_rule).is_empty());
        // Nothing of b's left: empty, not in use; the first always is.
        let nothing: Vec<Observed> = observed
            .iter()
            .filter(|o| o.resource.key.app() != Some("b"))
            .cloned()
            .collect();
        assert_eq!(empty_shards(&nothing), [two].into());
        assert!(!shards_in_use(&nothing).contains(&two));
        assert!(shards_in_use(&nothing).contains(&Shard::first(Router::Internal)));
    }

    #[test]
    fn a_group_waiting_for_its_rule_holds_its_place() {
        let mut w = World::default();
        let q = small();
        w.deploy("a", &manifest(3, Exposure::Internal), &q);
        assert_eq!(
            on(&w.deploy("b", &manifest(2, Exposure::Internal), &q)),
            [1].into()
        );
        // b's rules are being replaced: its groups, tagged for load balancer
        // 1, hold their places there.
        let observed = without_rules(&w.observed(), "b");
        let c = desired_app(&rack(), &n("c"), &manifest(1, Exposure::Internal), "ca").unwrap();
        assert_eq!(on(&place(c, &observed, &q).unwrap()), [2].into());
        // b, planned again, goes back where its groups are.
        let b = desired_app(&rack(), &n("b"), &manifest(2, Exposure::Internal), "ca").unwrap();
        let again = place(b, &observed, &q).unwrap();
        assert_eq!(on(&again), [1].into());
        assert!(again.new_shards.is_empty());
        // Unless someone took the room meanwhile: then afresh, elsewhere.
        let mut full = observed.clone();
        full.extend(foreign_rules(&observed, 2));
        let b = desired_app(&rack(), &n("b"), &manifest(2, Exposure::Internal), "ca").unwrap();
        assert_eq!(on(&place(b, &full, &q).unwrap()), [2].into());
    }

    /// `n` rules of no app of ours on the internal router's first listener.
    fn foreign_rules(observed: &[Observed], n: usize) -> Vec<Observed> {
        let template = observed
            .iter()
            .find(|o| matches!(o.resource.spec, ResourceSpec::ListenerRule(_)))
            .unwrap()
            .clone();
        (0..n)
            .map(|i| {
                let mut rule = template.clone();
                rule.resource.key = ResourceKey::foreign_rule(&format!("f{i}"));
                if let ResourceSpec::ListenerRule(r) = &mut rule.resource.spec {
                    r.target_group = ResourceKey::from_raw(format!("foreign/tg/f{i}"));
                }
                rule
            })
            .collect()
    }

    #[test]
    fn a_copy_of_our_tags_holds_no_place() {
        let mut w = World::default();
        let q = small();
        w.deploy("a", &manifest(4, Exposure::Internal), &q);
        let mut observed = w.observed();
        let mut copy = observed
            .iter()
            .find(|o| matches!(o.resource.spec, ResourceSpec::TargetGroup(_)))
            .unwrap()
            .clone();
        // Someone else's group, with the tags of one of a's (and of an app
        // that has no rule), but not the name this library gives it.
        copy.id = "someone-elses".into();
        copy.resource.key = ResourceKey::target_group(&n("gone"), &n("s0"), Router::Internal);
        copy.resource.tags.insert(
            crate::resource::TAG_KEY.into(),
            copy.resource.key.to_string(),
        );
        copy.resource
            .tags
            .insert(crate::resource::TAG_APP.into(), "gone".into());
        if let ResourceSpec::TargetGroup(tg) = &mut copy.resource.spec {
            tg.name = "copied-0".into();
        }
        observed.push(copy);
        let c = desired_app(&rack(), &n("c"), &manifest(1, Exposure::Internal), "ca").unwrap();
        assert_eq!(on(&place(c, &observed, &q).unwrap()), [1].into());
    }

    #[test]
    fn rules_bind_when_target_groups_do_not() {
        let mut w = World::default();
        let q = Quotas {
            target_groups_per_load_balancer: 100,
            rules_per_load_balancer: 5,
            ..small()
        };
        let big = w.deploy("big", &manifest(9, Exposure::Internal), &q);
        let count = |i: u16| big.placement.values().filter(|s| s.index == i).count();
        assert_eq!((count(1), count(2)), (5, 4));
    }
}
