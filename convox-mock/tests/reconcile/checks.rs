//! The invariants, checked after every step by comparing the mock's raw JSON
//! state with what the reference says must exist ([`Model::expected`]).
//!
//! Reading the raw state, not only `observe`, keeps a bug in observing from
//! hiding a bug in reconciling; which names a certificate covers is read from
//! the certificate itself (its SANs), not from what the library asked for.

use std::collections::{BTreeMap, BTreeSet};

use convox_model::backend::Backend;
use convox_model::env::link_vars;
use convox_model::pool::DRAIN_SECONDS;
use convox_model::resource::{
    KeySubject, Observed, ResourceKey, ResourceSpec as Spec, TAG_EMPTY_SINCE,
};
use serde_json::{Value, json};
use x509_parser::extensions::GeneralName;

use crate::input::{APPS, RACK, VPC_CIDR, manifest, name};
use crate::reference::{Model, Route, Side, Transition};
use crate::sut::{
    Sut, copied, foreign, normalised, obj, observe, owned, record_key, state_json, tag,
};

/// Whether a certificate for `pattern` (an exact name, or `*.` standing for
/// exactly one non-empty label) covers `host`.
pub fn covers(pattern: &str, host: &str) -> bool {
    match pattern.strip_prefix("*.") {
        Some(parent) => match host.split_once('.') {
            Some((label, rest)) => {
                !label.is_empty() && !label.contains('*') && rest.eq_ignore_ascii_case(parent)
            }
            None => false,
        },
        None => pattern.eq_ignore_ascii_case(host),
    }
}

/// The DNS names in a PEM certificate's subject alternative names.
fn sans(pem: &str) -> Vec<String> {
    let (_, p) = x509_parser::pem::parse_x509_pem(pem.as_bytes())
        .unwrap_or_else(|e| panic!("(5) a certificate is not PEM: {e}"));
    let x = p
        .parse_x509()
        .unwrap_or_else(|e| panic!("(5) a certificate is not X.509: {e}"));
    let san = x.subject_alternative_name().expect("one SAN extension");
    san.map(|e| {
        e.value
            .general_names
            .iter()
            .filter_map(|g| match g {
                GeneralName::DNSName(d) => Some(d.to_string()),
                _ => None,
            })
            .collect()
    })
    .unwrap_or_default()
}

/// One load balancer of a router's pool as found in the raw state.
struct Found<'a> {
    arn: &'a String,
    lb: &'a Value,
    /// Its owned listeners by port.
    listeners: BTreeMap<u64, (&'a String, &'a Value)>,
}

fn side_of(scheme: &Value) -> Side {
    match scheme.as_str() {
        Some("internal") => Side::Internal,
        Some("internet-facing") => Side::External,
        other => panic!("a load balancer with scheme {other:?}"),
    }
}

/// The routers the rack owns, by side, each a pool of load balancers, each
/// checked to be whole: listeners on 80 (HTTP, redirecting to 443) and 443
/// (HTTPS). Exactly one of each pool is its first (the one a rack starts
/// with, never removed).
fn routers<'a>(state: &'a Value, model: &Model) -> BTreeMap<Side, Vec<Found<'a>>> {
    let mut found: BTreeMap<Side, Vec<Found<'a>>> = BTreeMap::new();
    for (arn, lb) in obj(&state["load_balancers"]).filter(|(_, v)| owned(v)) {
        let side = side_of(&lb["scheme"]);
        let listeners = obj(&state["listeners"])
            .filter(|(_, l)| owned(l) && l["load_balancer_arn"] == json!(arn))
            .map(|(a, l)| (l["port"].as_u64().expect("port"), (a, l)))
            .collect();
        found
            .entry(side)
            .or_default()
            .push(Found { arn, lb, listeners });
    }
    for (side, pool) in &found {
        let first = ResourceKey::router_load_balancer(side.router());
        let firsts = pool
            .iter()
            .filter(|f| tag(f.lb, "convox:key") == Some(first.as_str()))
            .count();
        assert_eq!(
            firsts, 1,
            "the {side:?} router's pool has {firsts} first load balancers"
        );
    }
    let sides: BTreeSet<Side> = found.keys().copied().collect();
    assert_eq!(
        sides,
        model.expected().routers,
        "the rack's routers (params {:?})",
        model.params
    );
    for (side, r) in found
        .iter()
        .flat_map(|(s, pool)| pool.iter().map(move |r| (s, r)))
    {
        let ports: Vec<(u64, &Value)> = r
            .listeners
            .iter()
            .map(|(p, (_, l))| (*p, &l["protocol"]))
            .collect();
        assert_eq!(
            ports,
            vec![(80, &json!("HTTP")), (443, &json!("HTTPS"))],
            "the {side:?} router's listeners"
        );
        assert_eq!(
            r.listeners[&80].1["default_action"],
            json!({"type": "redirect", "port": 443, "status_code": 301}),
            "the {side:?} router's port 80 redirects to 443"
        );
    }
    found
}

/// What one owned rule serves, as read from the raw state, and the load
/// balancer it is on.
fn served<'a, 'b>(
    state: &Value,
    arn: &str,
    rule: &Value,
    routers: &'b BTreeMap<Side, Vec<Found<'a>>>,
) -> (Route, &'b Found<'a>) {
    let listener_arn = rule["listener_arn"].as_str().expect("listener");
    let (side, port, on) = routers
        .iter()
        .flat_map(|(s, pool)| pool.iter().map(move |r| (s, r)))
        .find_map(|(side, r)| {
            r.listeners
                .iter()
                .find(|(_, (a, _))| a.as_str() == listener_arn)
                .map(|(p, _)| (*side, *p, r))
        })
        .unwrap_or_else(|| panic!("rule {arn} is on {listener_arn}, no listener of the rack's"));
    assert_eq!(
        port, 443,
        "rule {arn} is on the {side:?} router's port {port} listener"
    );
    let hosts = rule["hosts"].as_array().expect("hosts");
    assert_eq!(hosts.len(), 1, "(2) rule {arn} has hosts {hosts:?}");
    let tg = &state["target_groups"][rule["target_group_arn"].as_str().expect("tg")];
    let (app, service) = (
        tag(tg, "convox:app").expect("app tag"),
        tag(tg, "convox:service").expect("service tag"),
    );
    assert_eq!(
        (tag(rule, "convox:app"), tag(rule, "convox:service")),
        (Some(app), Some(service)),
        "(2) rule {arn} forwards to another service's target group"
    );
    assert_eq!(
        tag(tg, "convox:key"),
        Some(ResourceKey::target_group(&name(app), &name(service), side.router()).as_str()),
        "(2) rule {arn} forwards to a target group of the other router"
    );
    let route = Route {
        host: hosts[0].as_str().expect("host").to_string(),
        side,
        app: app.to_string(),
        service: service.to_string(),
        port: u16::try_from(tg["spec"]["port"].as_u64().expect("port")).expect("a port"),
        protocol: match tg["spec"]["protocol"].as_str() {
            Some("HTTPS") => "HTTPS",
            _ => "HTTP",
        },
        certificate: String::new(),
    };
    (route, on)
}

/// The names covered by the certificates on a listener (default and SNI).
fn listener_names(state: &Value, listener: &Value) -> Vec<String> {
    l_certs(listener)
        .flat_map(|c| {
            // A public certificate (the external router's): its domain and SANs,
            // and only once issued.
            if let Some(p) = state["public_certificates"][c].as_object() {
                assert_eq!(
                    p["status"].as_str(),
                    Some("issued"),
                    "(5) public certificate {c} on a listener is not issued"
                );
                return std::iter::once(&p["domain"])
                    .chain(p["sans"].as_array().into_iter().flatten())
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect::<Vec<_>>();
            }
            let pem = state["certificates"][c]["certificate_pem"]
                .as_str()
                .unwrap_or_else(|| panic!("(5) certificate {c} on a listener does not exist"));
            sans(pem)
        })
        .collect()
}

fn l_certs(listener: &Value) -> impl Iterator<Item = &str> {
    listener["default_certificate"].as_str().into_iter().chain(
        listener["certificates"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str),
    )
}

pub fn check(sut: &Sut, model: &Model) {
    let state = state_json(&sut.mock);
    let expected = model.expected();

    // The parameters persist where a later process finds them.
    if model.rack_exists {
        let stored = sut
            .block_on(sut.mock.load_rack(&name(RACK)))
            .expect("load")
            .expect("the rack is stored");
        assert_eq!(stored.params, model.params, "stored parameters");
    }

    // (1) An InternalOnly rack has no internet-facing load balancer.
    if model.params.internal_only() {
        for (arn, lb) in obj(&state["load_balancers"]).filter(|(_, v)| owned(v)) {
            assert_ne!(
                lb["scheme"], "internet-facing",
                "(1) InternalOnly rack has {arn}"
            );
        }
    }
    let routers = routers(&state, model);
    // Which load balancer of its router's pool routes each hostname.
    let mut on_lb: BTreeMap<String, &Found<'_>> = BTreeMap::new();
    // And the target group each hostname's rule forwards to.
    let mut group_of: BTreeMap<String, String> = BTreeMap::new();

    // (2) Every hostname on the router, listener and target it must be, and no
    // other rule: compared as whole sets.
    let mut rules: BTreeMap<String, Vec<Route>> = BTreeMap::new();
    for (arn, rule) in obj(&state["rules"]).filter(|(_, v)| owned(v)) {
        if model.params.internal_only() {
            assert_eq!(
                side_of(
                    &state["load_balancers"][state["listeners"]
                        [rule["listener_arn"].as_str().expect("listener")]["load_balancer_arn"]
                        .as_str()
                        .expect("lb")]["scheme"]
                ),
                Side::Internal,
                "(1) rule {arn} on an internet-facing ALB"
            );
        }
        let (r, lb) = served(&state, arn, rule, &routers);
        on_lb.insert(r.host.clone(), lb);
        group_of.insert(
            r.host.clone(),
            rule["target_group_arn"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
        );
        rules.entry(r.host.clone()).or_default().push(r);
    }
    // (4) Injective: one rule per hostname.
    for (host, owners) in &rules {
        assert_eq!(owners.len(), 1, "(4) {host} is served by {owners:?}");
    }
    let want: BTreeMap<&str, &Route> = expected
        .routes
        .iter()
        .map(|r| (r.host.as_str(), r))
        .collect();
    assert_eq!(
        want.len(),
        expected.routes.len(),
        "the reference itself serves a hostname twice"
    );
    for (host, r) in &want {
        let Some(got) = rules.get(*host).and_then(|v| v.first()) else {
            panic!(
                "(2) {host} ({}/{} on the {:?} router) has no rule",
                r.app, r.service, r.side
            );
        };
        assert_eq!(
            (got.side, &got.app, &got.service),
            (r.side, &r.app, &r.service),
            "(2) {host} is routed on the wrong router or to the wrong service"
        );
        assert_eq!(
            (got.port, got.protocol),
            (r.port, r.protocol),
            "(2) {host} forwards to the wrong port or protocol"
        );
    }
    for (host, got) in &rules {
        assert!(
            want.contains_key(host.as_str()),
            "(8) a rule serves {host} ({:?}), which the reference does not want",
            got[0]
        );
    }

    // (11) Router pools: every load balancer within AWS's limits, counting
    // every rule on its listeners (ours and others'); none but the first of
    // each pool is empty; a hostname stays on the load balancer that first
    // routed it while that one exists.
    pools(sut, &state, &routers, &on_lb, &group_of);

    // Records: exactly one per internal hostname, aliasing the internal load
    // balancer that routes it.
    let mut records: BTreeMap<&String, (&Value, ResourceKey)> = BTreeMap::new();
    for (_, z) in obj(&state["zones"]).filter(|(_, z)| owned(z)) {
        assert_eq!(
            z["spec"]["name"],
            format!("{RACK}.convox"),
            "the rack's zone"
        );
        for (record, set) in obj(&z["records"]) {
            if let Some(key) = record_key(set) {
                records.insert(record, (&set["alias"], key));
            }
        }
    }
    let want_records: BTreeMap<&str, &Route> = want
        .iter()
        .filter(|(_, r)| r.side == Side::Internal)
        .map(|(h, r)| (*h, *r))
        .collect();
    for (host, r) in &want_records {
        let Some((alias, key)) = records.get(&host.to_string()) else {
            panic!("(2) no record for {host}");
        };
        assert_eq!(
            key,
            &ResourceKey::record(&name(&r.app), &name(&r.service)),
            "(2) record {host} names another owner"
        );
        assert_eq!(
            Some(*alias),
            on_lb.get(*host).map(|f| &f.lb["address"]),
            "(2) record {host} does not alias the internal load balancer that routes it"
        );
    }
    for record in records.keys() {
        assert!(
            want_records.contains_key(record.as_str()),
            "(8) record {record}, which the reference does not want"
        );
    }

    // (5) Every hostname is covered by a certificate attached to its listener,
    // read from the certificates' SANs, and the certificate the rack issues for
    // that router (and app) is among them.
    for r in want.values() {
        let on = &listener_names(&state, on_lb[&r.host].listeners[&443].1);
        assert!(
            on.iter().any(|n| covers(n, &r.host)),
            "(5) {} on the {:?} router is covered by none of {on:?}",
            r.host,
            r.side
        );
        assert!(
            on.contains(&r.certificate),
            "(5) no certificate for {} on the {:?} router (it has {on:?})",
            r.certificate,
            r.side
        );
    }

    // (9) Validity (issue 12): every hostname is covered on its listener by a
    // certificate not yet due when its app was last deployed, whatever days
    // passed since: a deploy renews the app's and the rack's due certificates.
    // The external router serves a public ACM certificate, which ACM renews
    // itself: only the rack CA's certificates are the library's to renew.
    for r in want.values().filter(|r| r.side == Side::Internal) {
        let day =
            model.deployed_on.get(&r.app).copied().unwrap_or_else(|| {
                panic!("(9) {} is served but {} was never deployed", r.host, r.app)
            });
        let due_from = crate::input::NOW
            + day * convox_model::renew::DAY
            + convox_model::renew::DEFAULT_RENEW_BEFORE;
        let best = l_certs(on_lb[&r.host].listeners[&443].1)
            .map(|c| &state["certificates"][c])
            .filter(|c| {
                c["certificate_pem"]
                    .as_str()
                    .is_some_and(|pem| sans(pem).iter().any(|n| covers(n, &r.host)))
            })
            .filter_map(|c| c["not_after"].as_i64())
            .max();
        assert!(
            best.is_some_and(|t| t > due_from),
            "(9) {} (deployed on day {day}, now day {}) is covered only until {:?}, due from {}",
            r.host,
            model.days,
            best.map(convox_model::renew::date),
            convox_model::renew::date(due_from)
        );
    }

    // Links resolve to the hostname the reference serves for the target.
    let rack = model.rack();
    for (app, svcs) in &model.apps {
        let m = manifest(svcs);
        let a = name(APPS[*app]);
        for s in &m.services {
            let got: Vec<(String, String)> = link_vars(&m, &rack, &a, s)
                .into_iter()
                .map(|(var, url)| (var.to_string(), url))
                .collect();
            let key = (a.to_string(), s.name.to_string());
            assert_eq!(
                Some(&got),
                expected.links.get(&key),
                "links of {a}/{}",
                s.name
            );
            for (_, url) in &got {
                let host = url.trim_start_matches("https://");
                assert!(
                    rules.contains_key(host),
                    "{a}/{}: {url} is not served",
                    s.name
                );
            }
        }
    }

    // (3) The internal router admits TCP 80 and 443 from the VPC only.
    for (arn, lb) in obj(&state["load_balancers"]).filter(|(_, v)| owned(v)) {
        if lb["scheme"] != "internal" {
            continue;
        }
        // Exactly one security group on the router: the rack's own.
        let groups = lb["security_group_ids"]
            .as_array()
            .expect("security groups");
        assert_eq!(groups.len(), 1, "(3) security groups of {arn}: {groups:?}");
        let sg = &state["security_groups"][groups[0].as_str().expect("sg")];
        assert!(
            owned(sg),
            "(3) {arn} is in a security group not the rack's: {sg}"
        );
        assert_eq!(
            sg["spec"]["ingress"],
            json!([
                {"protocol": "tcp", "port": 80, "cidr": VPC_CIDR},
                {"protocol": "tcp", "port": 443, "cidr": VPC_CIDR},
            ]),
            "(3) security group of {arn}"
        );
    }

    // (6) Nothing unowned changed, and nothing untagged appeared. A rule made by
    // hand on one of our listeners goes with the router when a parameter change
    // removes it, as AWS deletes a load balancer's rules with it.
    let mut unowned = sut.foreign.clone();
    if let Some(rules) = unowned["rules"].as_object_mut() {
        rules.retain(|_, r| {
            r["listener_arn"]
                .as_str()
                .is_some_and(|l| state["listeners"].get(l).is_some())
        });
    }
    assert_eq!(foreign(&state), unowned, "(6) unowned resources changed");
    // (6) Someone else's resources carrying a copy of our tags (issue 8) are
    // never changed or deleted.
    assert_eq!(
        copied(&state, &sut.copies),
        sut.copied,
        "(6) a resource with copied tags was changed or deleted"
    );

    // (8) Exactly the resources the reference wants, each once: nothing leaked.
    // Foreign rules and copies of our tags are someone else's.
    let theirs = |copies: &[String], observed: Vec<Observed>| -> Vec<Observed> {
        observed
            .into_iter()
            .filter(|o| !o.resource.key.is_foreign() && !copies.contains(&o.id))
            .collect()
    };
    let observed = theirs(&sut.copies, observe(sut, &sut.mock));
    check_keys(&observed, model);
    if let Some(twin) = &sut.twin {
        assert_eq!(
            normalised(observed),
            normalised(theirs(&sut.twin_copies, observe(sut, twin))),
            "(8) the state after faults differs from the fault-free twin"
        );
        // Counted by kind: on small quotas the pools may hold their services
        // on a different number of load balancers (compared above as placed).
        if sut.mock.quotas() == convox_model::aws::Quotas::default() {
            assert_eq!(
                sut.mock.inventory(),
                twin.inventory(),
                "(8) inventories differ"
            );
        }
    }
}

fn check_keys(observed: &[Observed], model: &Model) {
    let keys: Vec<&ResourceKey> = observed.iter().map(|o| &o.resource.key).collect();
    let unique: BTreeSet<ResourceKey> = keys.iter().map(|k| (*k).clone()).collect();
    assert_eq!(
        keys.len(),
        unique.len(),
        "(8) duplicated resources: {keys:?}"
    );
    // The reference names what a rack of one load balancer per router has;
    // the later load balancers of a pool, and an app's certificate attached on
    // them, are checked as a pool above (11).
    let first: BTreeSet<ResourceKey> = unique
        .into_iter()
        .filter_map(|k| match k.subject() {
            KeySubject::RouterLoadBalancer(s) | KeySubject::RouterListener(s, _)
                if !s.is_first() =>
            {
                None
            }
            // Issue 9: the shared certificates follow placement, which the
            // reference does not model; check_shared_certificates checks them.
            _ if convox_model::pool::certs::is_shared(&k) => None,
            KeySubject::Attachment(cert, _) => Some(ResourceKey::listener_certificate(cert)),
            _ => Some(k),
        })
        .collect();
    assert_eq!(
        first,
        model.expected_keys(),
        "(8) owned resources differ from the reference"
    );
    check_shared_certificates(observed, model);
}

/// Issue 9: each shared certificate of an internal load balancer is attached
/// to that load balancer's 443 listener only, names at least one app, and
/// names only apps routed there, but for an app that deployed at the same
/// moment as another since it last deployed alone (the other deploy may have
/// written its name back after it left: [`Model::raced`]; its next deploy
/// takes it off, and is checked here then); every app routed on the internal
/// router is covered by no certificate of its own.
fn check_shared_certificates(observed: &[Observed], model: &Model) {
    use convox_model::pool::certs::{app_of_wildcard, apps_on};
    let on = apps_on(observed);
    for o in observed {
        match (o.resource.key.subject(), &o.resource.spec) {
            (KeySubject::ShardCertificate(s, _), Spec::Certificate(c)) => {
                assert!(
                    !c.names.is_empty(),
                    "(12) shared certificate {} names no app",
                    o.resource.key
                );
                for n in &c.names {
                    let app = app_of_wildcard(n).expect("an app's wildcard");
                    let raced = model.raced.iter().any(|i| APPS[*i] == app.as_str());
                    assert!(
                        raced || on.get(s).is_some_and(|apps| apps.contains(&app)),
                        "(12) shared certificate {} names {n}, not routed on {s}",
                        o.resource.key
                    );
                }
            }
            (KeySubject::Attachment(cert, _), Spec::ListenerCertificate(lc)) => {
                if let KeySubject::ShardCertificate(s, _) = cert.subject() {
                    assert_eq!(
                        lc.listener,
                        ResourceKey::shard_listener(*s, 443),
                        "(12) shared certificate {cert} attached off its load balancer"
                    );
                }
            }
            (KeySubject::AppCertificate(app), _) => {
                panic!("(12) app {app} kept a certificate of its own after deploying")
            }
            _ => {}
        }
    }
}

/// (11) The pools' invariants, from the raw state.
fn pools(
    sut: &Sut,
    state: &Value,
    routers: &BTreeMap<Side, Vec<Found<'_>>>,
    on_lb: &BTreeMap<String, &Found<'_>>,
    group_of: &BTreeMap<String, String>,
) {
    let quotas = sut.mock.quotas();
    for (side, pool) in routers {
        for lb in pool {
            let listeners: BTreeSet<&str> =
                lb.listeners.values().map(|(a, _)| a.as_str()).collect();
            let rules: Vec<&Value> = obj(&state["rules"])
                .map(|(_, r)| r)
                .filter(|r| {
                    r["listener_arn"]
                        .as_str()
                        .is_some_and(|l| listeners.contains(l))
                })
                .collect();
            let groups: BTreeSet<&str> = rules
                .iter()
                .filter_map(|r| r["target_group_arn"].as_str())
                .collect();
            let certificates: usize = lb
                .listeners
                .values()
                .map(|(_, l)| l["certificates"].as_array().map_or(0, Vec::len))
                .sum();
            assert!(
                rules.len() <= quotas.rules_per_load_balancer
                    && groups.len() <= quotas.target_groups_per_load_balancer
                    && certificates <= quotas.certificates_per_load_balancer,
                "(11) the {side:?} load balancer {} holds {} rules, {} target groups, {certificates} certificates over {quotas:?}",
                lb.arn,
                rules.len(),
                groups.len(),
            );
            let first = tag(lb.lb, "convox:key")
                == Some(ResourceKey::router_load_balancer(side.router()).as_str());
            // A later load balancer left empty drains: marked when it is found
            // empty, never in the future, and gone once the mark is older than
            // the drain time at the next deploy or delete.
            if !first && rules.is_empty() && certificates == 0 {
                let since = tag(lb.lb, TAG_EMPTY_SINCE).and_then(|s| s.parse::<i64>().ok());
                let Some(since) = since else {
                    panic!(
                        "(11) the {side:?} load balancer {} is empty and not draining",
                        lb.arn
                    );
                };
                assert!(
                    since <= sut.now,
                    "(11) the {side:?} load balancer {} drains since {since}, after now ({})",
                    lb.arn,
                    sut.now
                );
                let shrank = matches!(
                    sut.last,
                    Some(
                        Transition::Deploy { .. }
                            | Transition::Delete { .. }
                            | Transition::Concurrent(_)
                    )
                );
                assert!(
                    !shrank || sut.now - since < DRAIN_SECONDS,
                    "(11) the {side:?} load balancer {} has drained since {since} (now {}) and was not removed",
                    lb.arn,
                    sut.now
                );
            }
        }
    }
    let arns: BTreeSet<&str> = routers.values().flatten().map(|f| f.arn.as_str()).collect();
    let mut placed = sut.placed.borrow_mut();
    // A hostname whose load balancer is gone (its router removed or replaced),
    // or whose target group was replaced (a new port or protocol: a new
    // target group, which may go where there is room), is placed afresh.
    placed.retain(|host, (lb, group)| {
        arns.contains(lb.as_str()) && group_of.get(host) == Some(group)
    });
    for (host, lb) in on_lb {
        let group = group_of[host].clone();
        let (was, _) = placed
            .entry(host.clone())
            .or_insert_with(|| (lb.arn.clone(), group));
        assert_eq!(
            was, lb.arn,
            "(11) {host} moved from the load balancer {was} to {}",
            lb.arn
        );
    }
    placed.retain(|host, _| on_lb.contains_key(host));
}
