use super::*;
use crate::desired::{desired_app, desired_rack_pool};
use crate::manifest::{Exposure, Manifest, Service};
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
            .map(|i| Service::routed(n(&format!("s{i}")), 3000, exposure))
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
    /// Names per shared certificate (0: AWS's default).
    per_certificate: usize,
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
        let per = match self.per_certificate {
            0 => Quotas::AWS.names_per_certificate,
            n => n,
        };
        let desired = desired_rack_pool(
            &rack(),
            "ca",
            rack().external_certificate.as_deref(),
            &shards,
        );
        // The shared certificates: every app routed on a shard covered.
        let desired = certs::with_shared_certificates(
            desired,
            &rack(),
            Some("ca"),
            &apps,
            &BTreeMap::new(),
            None,
            per,
        );
        desired
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
            // Issue 9: no certificate of its own; it joins shard 2's shared one.
            ResourceSpec::ListenerCertificate(_) | ResourceSpec::Certificate(_) => {
                panic!("{} placed with a certificate of its own", res.key)
            }
            _ => {}
        }
    }
    assert_eq!(b.joins, [shard].into());
    let observed = w.observed();
    let shared = ResourceKey::shard_certificate(shard, 1);
    assert!(observed.iter().any(|o| matches!(
        &o.resource.spec,
        ResourceSpec::ListenerCertificate(lc)
            if lc.certificate == shared && lc.listener == ResourceKey::shard_listener(shard, 443)
    )));
    assert!(certs::uncovered(&observed).is_empty());
}

#[test]
fn certificate_slots_count_as_room_on_the_internal_router() {
    let mut w = World::default();
    let q = small();
    // Issue 9: one service each, all on one shard: the apps share one
    // certificate, so only target groups bind.
    let placed: Vec<u16> = ["a", "b", "c", "d", "e"]
        .into_iter()
        .map(|app| {
            *on(&w.deploy(app, &manifest(1, Exposure::Internal), &q))
                .first()
                .unwrap()
        })
        .collect();
    assert_eq!(placed, [1, 1, 1, 1, 1]);
    // One name per certificate: each app takes a slot (2, one kept free).
    let mut w = World {
        per_certificate: 1,
        ..World::default()
    };
    let one = Quotas {
        names_per_certificate: 1,
        ..small()
    };
    let placed: Vec<u16> = ["a", "b", "c", "d", "e"]
        .into_iter()
        .map(|app| {
            *on(&w.deploy(app, &manifest(1, Exposure::Internal), &one))
                .first()
                .unwrap()
        })
        .collect();
    assert_eq!(placed, [1, 1, 2, 2, 3]);
    // Two names per certificate: four apps on the two slots of shard 1.
    let mut w = World {
        per_certificate: 2,
        ..World::default()
    };
    let two = Quotas {
        names_per_certificate: 2,
        ..small()
    };
    let placed: Vec<u16> = ["a", "b", "c", "d", "e"]
        .into_iter()
        .map(|app| {
            *on(&w.deploy(app, &manifest(1, Exposure::Internal), &two))
                .first()
                .unwrap()
        })
        .collect();
    assert_eq!(placed, [1, 1, 1, 1, 2]);
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
/// `observed` without anything of `app`'s: its resources, and the shared
/// certificates that covered only it (the last app leaving deletes them).
fn without_app(observed: &[Observed], app: &str) -> Vec<Observed> {
    let only_it: BTreeSet<ResourceKey> = observed
        .iter()
        .filter(|o| match &o.resource.spec {
            ResourceSpec::Certificate(c) => {
                certs::is_shared(&o.resource.key)
                    && c.names
                        .iter()
                        .all(|w| certs::app_of_wildcard(w).is_some_and(|a| a.as_str() == app))
            }
            _ => false,
        })
        .map(|o| o.resource.key.clone())
        .collect();
    observed
        .iter()
        .filter(|o| o.resource.key.app() != Some(app))
        .filter(|o| match &o.resource.spec {
            ResourceSpec::Certificate(_) => !only_it.contains(&o.resource.key),
            ResourceSpec::ListenerCertificate(lc) => !only_it.contains(&lc.certificate),
            _ => true,
        })
        .cloned()
        .collect()
}

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
    // b's rule gone: its shared certificate alone does not keep the load
    // balancer in use (issue 9; an app's own certificate did).
    let no_rule = without_rules(&observed, "b");
    assert!(!shards_in_use(&no_rule).contains(&two));
    assert_eq!(empty_shards(&no_rule), [two].into());
    // Nothing of b's left: empty, not in use; the first always is.
    let nothing = without_app(&observed, "b");
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

/// `observed` with the draining mark `since` on load balancer `shard`.
fn marked(observed: &[Observed], shard: Shard, since: &str) -> Vec<Observed> {
    let key = ResourceKey::shard_load_balancer(shard);
    observed
        .iter()
        .cloned()
        .map(|mut o| {
            if o.resource.key == key {
                o.resource
                    .tags
                    .insert(TAG_EMPTY_SINCE.to_string(), since.to_string());
            }
            o
        })
        .collect()
}

#[test]
fn an_empty_load_balancer_is_marked_then_removed_once_drained() {
    let mut w = World::default();
    let q = small();
    w.deploy("a", &manifest(5, Exposure::Internal), &q);
    w.deploy("b", &manifest(1, Exposure::Internal), &q);
    let two = Shard::new(Router::Internal, 2).unwrap();
    let observed = w.observed();
    let now = 1_700_000_000;
    // In use and unmarked: nothing to do.
    assert!(drains(&observed, now).is_empty());
    // In use and marked (placed on before the mark): unmarked.
    let at = now.to_string();
    assert_eq!(
        drains(&marked(&observed, two, &at), now),
        [(two, Drain::Unmark)].into()
    );
    let nothing = without_app(&observed, "b");
    // Empty: marked; marked with something that is not a time: marked again.
    assert_eq!(drains(&nothing, now), [(two, Drain::Mark)].into());
    assert_eq!(
        drains(&marked(&nothing, two, "soon"), now),
        [(two, Drain::Mark)].into()
    );
    // Marked: kept until the drain time has passed, to the second.
    let drained = marked(&nothing, two, &at);
    assert!(drains(&drained, now + DRAIN_SECONDS - 1).is_empty());
    assert_eq!(
        drains(&drained, now + DRAIN_SECONDS),
        [(two, Drain::Remove)].into()
    );
    // A mark in the future is no reason to remove.
    assert!(drains(&drained, now - 1).is_empty());
    // The first of each router is never drained, however empty.
    let bare: Vec<Observed> = nothing
        .iter()
        .filter(|o| o.resource.key.app().is_none())
        .cloned()
        .collect();
    assert!(drains(&bare, now).keys().all(|s| !s.is_first()));
    // The rack keeps every load balancer that exists, draining or not.
    assert!(shards_kept(&drained).contains(&two));
}

#[test]
fn a_draining_load_balancer_is_never_placed_on() {
    let mut w = World::default();
    let q = small();
    w.deploy("a", &manifest(5, Exposure::Internal), &q);
    w.deploy("b", &manifest(1, Exposure::Internal), &q);
    let two = Shard::new(Router::Internal, 2).unwrap();
    // b is gone and load balancer 2 drains: c, which would fit there, goes to
    // a third instead.
    let nothing = without_app(&w.observed(), "b");
    let r = rack();
    let c = n("c");
    let want = desired_app(&r, &c, &manifest(1, Exposure::Internal), "ca").unwrap();
    let open = place(want.clone(), &nothing, &q).unwrap();
    assert_eq!(on(&open), [2].into());
    let draining = place(want, &marked(&nothing, two, "1700000000"), &q).unwrap();
    assert_eq!(on(&draining), [3].into());
    assert_eq!(
        draining.new_shards,
        [Shard::new(Router::Internal, 3).unwrap()].into()
    );
}
