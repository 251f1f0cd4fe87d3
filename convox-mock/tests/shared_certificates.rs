//! Issue 9, certificate slots never bind before target groups: on the mock at
//! AWS's default quotas (which it enforces), the apps placed on one internal
//! load balancer share its certificate. Everything is checked on what the mock
//! holds, through its state (certificate bodies' SANs, listener ARNs, record
//! alias targets), not through the library's keys.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::{name, production, production_ctx as ctx};
use convox_mock::{MockBackend, Quotas, VirtualClock};
use convox_model::apply::ApplyContext;
use convox_model::manifest::{Exposure, Manifest, Service};
use convox_model::ops;
use convox_model::params::RackParams;
use convox_model::rack::Rack;
use serde_json::Value;

fn rack() -> Rack {
    Rack {
        params: RackParams::new(true, false).expect("params"),
        ..production()
    }
}

/// `n` internal services `s0`….
fn manifest(n: usize) -> Manifest {
    Manifest::from_services(
        (0..n)
            .map(|i| Service::routed(name(&format!("s{i}")), 3000, Exposure::Internal))
            .collect(),
    )
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

fn state(b: &MockBackend) -> Value {
    serde_json::from_str(&b.to_json().expect("state")).expect("json")
}

/// The DNS names in a PEM certificate's subject alternative names.
fn sans(pem: &str) -> Vec<String> {
    let (_, p) = x509_parser::pem::parse_x509_pem(pem.as_bytes()).expect("PEM");
    let cert = p.parse_x509().expect("X.509");
    let san = cert
        .subject_alternative_name()
        .expect("extensions")
        .expect("a SAN extension");
    san.value
        .general_names
        .iter()
        .filter_map(|g| match g {
            x509_parser::extensions::GeneralName::DNSName(d) => Some(d.to_string()),
            _ => None,
        })
        .collect()
}

fn covers(pattern: &str, host: &str) -> bool {
    match pattern.strip_prefix("*.") {
        Some(base) => host
            .split_once('.')
            .is_some_and(|(label, rest)| !label.is_empty() && rest == base),
        None => pattern == host,
    }
}

/// What one internal load balancer holds, as the mock has it.
#[derive(Debug, Default)]
struct Lb {
    dns: String,
    rules: usize,
    target_groups: BTreeSet<String>,
    /// Certificates attached to its listeners (not their defaults).
    certificates: usize,
}

/// The rack as AWS would show it: per internal load balancer ARN what it
/// holds; per internal hostname the ARN of the load balancer whose 443
/// listener routes it, whether a certificate on that listener covers it (read
/// from the certificates' bodies), and the DNS name its record aliases.
#[derive(Debug, Default)]
struct Seen {
    lbs: BTreeMap<String, Lb>,
    routed_by: BTreeMap<String, String>,
    uncovered: Vec<String>,
    aliases: BTreeMap<String, String>,
}

fn seen(b: &MockBackend) -> Seen {
    let s = state(b);
    let mut out = Seen::default();
    for (arn, lb) in s["load_balancers"].as_object().into_iter().flatten() {
        if lb["scheme"] == "internal" {
            out.lbs.insert(
                arn.clone(),
                Lb {
                    dns: lb["address"]["dns_name"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string(),
                    ..Lb::default()
                },
            );
        }
    }
    let body = |arn: &str| -> Vec<String> {
        s["certificates"][arn]["certificate_pem"]
            .as_str()
            .map(sans)
            .unwrap_or_default()
    };
    for (larn, l) in s["listeners"].as_object().into_iter().flatten() {
        let lb = l["load_balancer_arn"].as_str().unwrap_or_default();
        let Some(on) = out.lbs.get_mut(lb) else {
            continue;
        };
        let attached: Vec<&str> = l["certificates"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        on.certificates += attached.len();
        let names: Vec<String> = l["default_certificate"]
            .as_str()
            .into_iter()
            .chain(attached.iter().copied())
            .flat_map(body)
            .collect();
        for (_, r) in s["rules"].as_object().into_iter().flatten() {
            if r["listener_arn"] != larn.as_str() {
                continue;
            }
            on.rules += 1;
            if let Some(tg) = r["target_group_arn"].as_str() {
                on.target_groups.insert(tg.to_string());
            }
            for h in r["hosts"].as_array().into_iter().flatten() {
                let h = h.as_str().expect("host").to_string();
                if !names.iter().any(|n| covers(n, &h)) {
                    out.uncovered.push(h.clone());
                }
                out.routed_by.insert(h, lb.to_string());
            }
        }
    }
    for (_, zone) in s["zones"].as_object().into_iter().flatten() {
        for (n, r) in zone["records"].as_object().into_iter().flatten() {
            if let Some(t) = r["alias"]["dns_name"].as_str() {
                out.aliases
                    .insert(n.trim_end_matches('.').to_string(), t.to_string());
            }
        }
    }
    out
}

/// The issue's scenario: 60 one-service internal apps, then two apps of 60
/// internal services each, at AWS's default quotas. Certificates used to bind
/// (25 per load balancer: 4 internal load balancers); now target groups do.
#[test]
fn sixty_small_apps_and_two_big_ones_fit_on_three_internal_load_balancers() {
    let quotas = Quotas::default();
    let clock = VirtualClock::new();
    let c = ctx(&clock);
    let b = MockBackend::new().with_quotas(quotas.clone());
    let rt = rt();
    let mut apps: Vec<(String, usize)> = (0..60).map(|i| (format!("a{i}"), 1)).collect();
    apps.extend([("big1".to_string(), 60), ("big2".to_string(), 60)]);
    let first = "s0.a0.production.convox";
    let mut first_alias: Option<String> = None;
    for (app, n) in &apps {
        rt.block_on(ops::deploy(&b, &rack(), &name(app), &manifest(*n), &c))
            .unwrap_or_else(|e| panic!("deploy {app}: {e}"));
        let s = seen(&b);
        assert!(s.uncovered.is_empty(), "after {app}: {:?}", s.uncovered);
        // The first app's record never moves.
        let alias = s.aliases.get(first).cloned().expect("a0's record");
        assert_eq!(
            first_alias.get_or_insert(alias.clone()),
            &alias,
            "after {app}"
        );
    }
    let s = seen(&b);
    assert_eq!(s.routed_by.len(), 180);
    for (arn, lb) in &s.lbs {
        assert!(lb.rules <= quotas.rules_per_load_balancer, "{arn}: {lb:?}");
        assert!(
            lb.target_groups.len() <= quotas.target_groups_per_load_balancer,
            "{arn}: {lb:?}"
        );
        assert!(
            lb.certificates <= quotas.certificates_per_load_balancer,
            "{arn}: {lb:?}"
        );
        // One shared certificate covers every app it routes.
        assert!(lb.certificates <= 1, "{arn}: {lb:?}");
    }
    // Every record aliases the load balancer whose listener routes its name.
    for (host, lb) in &s.routed_by {
        assert_eq!(
            s.aliases.get(host),
            Some(&s.lbs[lb].dns),
            "{host} must alias the load balancer that routes it"
        );
    }
    // ⌈180/100⌉ = 2 by target groups; the two apps of 60 cannot share one.
    let internal = s.lbs.len();
    assert!(
        internal <= 3,
        "{internal} internal load balancers: {:#?}",
        s.lbs
    );
    // Measured (reported): the number of internal load balancers used.
    eprintln!("internal load balancers used: {internal}");
    // A redeploy of any app makes no mutating call.
    for (app, n) in [("a0", 1), ("a59", 1), ("big1", 60), ("big2", 60)] {
        b.reset_calls();
        let again = rt
            .block_on(ops::deploy(&b, &rack(), &name(app), &manifest(n), &c))
            .expect("again");
        assert!(again.plan.is_empty(), "{app}:\n{}", again.plan);
        assert_eq!(b.calls().mutations, 0, "{app}: {:?}", b.calls());
    }
}

/// An app joining a load balancer re-imports its shared certificate in place
/// (same ARN, still attached); a deleted app leaves it; the last one leaving
/// deletes it.
#[test]
fn the_shared_certificate_is_reimported_in_place_as_apps_join_and_leave() {
    let clock = VirtualClock::new();
    let c = ctx(&clock);
    let b = MockBackend::new();
    let rt = rt();
    let shared =
        |b: &MockBackend| -> Vec<(String, Vec<String>)> { shared_names(b).into_iter().collect() };
    rt.block_on(ops::deploy(&b, &rack(), &name("one"), &manifest(1), &c))
        .expect("one");
    let after_one = shared(&b);
    assert_eq!(after_one.len(), 1, "{after_one:?}");
    rt.block_on(ops::deploy(&b, &rack(), &name("two"), &manifest(2), &c))
        .expect("two");
    let after_two = shared(&b);
    assert_eq!(after_two.len(), 1, "{after_two:?}");
    assert_eq!(after_two[0].0, after_one[0].0, "re-imported over its ARN");
    assert_eq!(
        after_two[0].1,
        [
            "*.one.production.convox",
            "*.production.convox",
            "*.two.production.convox"
        ]
    );
    assert!(seen(&b).uncovered.is_empty());
    // No app has a certificate of its own.
    let s = state(&b);
    assert!(
        s["certificates"]
            .as_object()
            .into_iter()
            .flatten()
            .all(|(_, c)| c["tags"]["convox:role"] != "app-cert")
    );

    rt.block_on(ops::delete_app(&b, &rack(), &name("one"), &c))
        .expect("delete one");
    let left = shared(&b);
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].0, after_one[0].0);
    assert_eq!(
        left[0].1,
        ["*.production.convox", "*.two.production.convox"]
    );
    assert!(seen(&b).uncovered.is_empty());
    rt.block_on(ops::delete_app(&b, &rack(), &name("two"), &c))
        .expect("delete two");
    assert!(shared(&b).is_empty(), "the last app leaving deletes it");
}

/// A rack from before: an app with a certificate of its own keeps it valid
/// and attached until its next deploy, which puts its name on the shared
/// certificate first and only then detaches and deletes its own.
#[test]
fn an_apps_own_certificate_moves_to_the_shared_one_make_before_break() {
    use convox_model::backend::Backend;
    use convox_model::desired::{app_certificate_domain, desired_app};
    use convox_model::resource::{ResourceKey, ResourceSpec};
    let clock = VirtualClock::new();
    let c = ctx(&clock);
    let b = MockBackend::new();
    let rt = rt();
    let r = rack();
    rt.block_on(ops::deploy(&b, &r, &name("old"), &manifest(1), &c))
        .expect("deploy");
    // Make the rack look as it did before shared certificates: old's name
    // off the shared certificate (deleted), its own certificate attached.
    let observed = rt
        .block_on(convox_model::observe::observe_all(&b, &r.name))
        .expect("observe");
    let id = |key: &str| {
        observed
            .iter()
            .find(|o| o.resource.key.as_str() == key)
            .map(|o| o.id.clone())
            .unwrap_or_else(|| panic!("{key}"))
    };
    let listener = id("router/internal/listener/443");
    let fp = c.issuer.as_ref().expect("issuer").fingerprint();
    let legacy = desired_app(&r, &name("old"), &manifest(1), &fp).expect("desired");
    let key = ResourceKey::app_certificate(&name("old"));
    let Some(ResourceSpec::Certificate(spec)) = legacy.get(&key).map(|x| &x.spec) else {
        panic!("the app's own certificate");
    };
    assert_eq!(spec.domain, app_certificate_domain(&r, &name("old")));
    let pem = c
        .issuer
        .as_ref()
        .expect("issuer")
        .issue(&spec.domain, c.now)
        .expect("issue");
    let own = rt
        .block_on(b.import_certificate(spec, &pem, &legacy.get(&key).expect("cert").tags))
        .expect("import");
    rt.block_on(b.add_listener_certificate(&listener, &own))
        .expect("attach");
    let shared = id("router/internal/cert/1");
    rt.block_on(b.remove_listener_certificate(&listener, &shared))
        .expect("detach shared");
    rt.block_on(b.delete_certificate(&shared))
        .expect("delete shared");
    assert!(seen(&b).uncovered.is_empty(), "covered by its own");

    // A rack plan leaves it as it is: its own certificate covers it.
    let p = rt
        .block_on(ops::plan_rack(&b, &r, &[], None, &fp))
        .expect("rack plan");
    assert!(p.is_empty(), "{p}");

    // Its deploy: the shared certificate first (the rack stage), then its own
    // detached and deleted; covered at every step.
    let report = rt
        .block_on(ops::deploy(&b, &r, &name("old"), &manifest(1), &c))
        .expect("redeploy");
    let rack_part: Vec<String> = report
        .rack
        .as_ref()
        .expect("a rack stage")
        .applied
        .iter()
        .map(|a| a.to_string())
        .collect();
    assert!(
        rack_part
            .iter()
            .any(|a| a.contains("router/internal/cert/1")),
        "{rack_part:?}"
    );
    let app_part = report.plan.to_string();
    assert!(
        app_part.contains("- certificate app/old/cert"),
        "{app_part}"
    );
    assert!(seen(&b).uncovered.is_empty());
    let s = state(&b);
    assert!(s["certificates"].get(&own).is_none(), "its own is deleted");
}

/// The shared certificates' names, by certificate: its SANs, sorted.
fn shared_names(b: &MockBackend) -> BTreeMap<String, Vec<String>> {
    let s = state(b);
    s["certificates"]
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(_, c)| c["tags"]["convox:role"] == "shard-cert")
        .map(|(arn, c)| {
            let mut names = sans(c["certificate_pem"].as_str().expect("pem"));
            names.sort();
            (arn.clone(), names)
        })
        .collect()
}

/// Two deploys at once: one that read a shared certificate's names before
/// another app left it writes them back after (ACM's re-import replaces the
/// whole body; there is no conditional write). Such a name covers hostnames
/// nothing routes there, and no other app's deploy takes it off (it cannot
/// tell it from an app whose own deploy is between its steps); the app's own
/// next deploy or deletion does.
#[test]
fn a_name_written_back_after_its_app_left_goes_with_the_apps_next_deploy() {
    let (b, _clock, c) = common::fresh();
    let rt = rt();
    for app in ["one", "two"] {
        rt.block_on(ops::deploy(&b, &rack(), &name(app), &manifest(1), &c))
            .expect(app);
    }
    let with_two = b.to_json().expect("state");
    rt.block_on(ops::deploy(&b, &rack(), &name("two"), &manifest(0), &c))
        .expect("two leaves");
    let arns: Vec<String> = shared_names(&b).into_keys().collect();
    assert_eq!(arns.len(), 1);
    assert_eq!(
        shared_names(&b)[&arns[0]],
        ["*.one.production.convox", "*.production.convox"]
    );
    // Written back.
    let mut now: Value = serde_json::from_str(&b.to_json().expect("state")).expect("json");
    let before: Value = serde_json::from_str(&with_two).expect("json");
    now["certificates"][&arns[0]] = before["certificates"][&arns[0]].clone();
    b.load_json(&now.to_string()).expect("load");
    let two = "*.two.production.convox".to_string();
    assert!(shared_names(&b)[&arns[0]].contains(&two));
    // Another app's deploy leaves it; every routed name stays covered.
    rt.block_on(ops::deploy(&b, &rack(), &name("one"), &manifest(2), &c))
        .expect("one grows");
    assert!(shared_names(&b)[&arns[0]].contains(&two));
    assert!(seen(&b).uncovered.is_empty());
    // two's next deploy, with nothing to change of its own, takes it off.
    let report = rt
        .block_on(ops::deploy(&b, &rack(), &name("two"), &manifest(0), &c))
        .expect("two again");
    assert!(report.plan.is_empty(), "{}", report.plan);
    assert_eq!(
        shared_names(&b)[&arns[0]],
        ["*.one.production.convox", "*.production.convox"]
    );
    assert!(seen(&b).uncovered.is_empty());
}

/// Apps `one` and `two` (one internal service each) on the first internal
/// load balancer, then its shared certificate re-imported as it was before
/// `two` joined (as a writer that read before would write it): `two`'s
/// hostname is uncovered. The certificate's ARN.
fn twos_name_lost(b: &MockBackend, rt: &tokio::runtime::Runtime, c: &ApplyContext) -> String {
    rt.block_on(ops::deploy(b, &rack(), &name("one"), &manifest(1), c))
        .expect("one");
    let one_only = state(b);
    rt.block_on(ops::deploy(b, &rack(), &name("two"), &manifest(1), c))
        .expect("two");
    let arns: Vec<String> = shared_names(b).into_keys().collect();
    assert_eq!(arns.len(), 1);
    let mut now = state(b);
    now["certificates"][&arns[0]] = one_only["certificates"][&arns[0]].clone();
    b.load_json(&now.to_string()).expect("load");
    assert_eq!(seen(b).uncovered, ["s0.two.production.convox"]);
    arns[0].clone()
}

/// Issue 10: a deploy verifies coverage on what it reads of its own scope,
/// where other apps' rules are obstacles of no known owner. When one of those
/// routes a hostname nothing covers (a deploy at the same moment re-imported
/// the shared certificate without that app's name), the deploy that writes
/// the certificate reads the whole rack and puts the name back: the last
/// writer restores every app's coverage, not only its own.
#[test]
fn another_apps_name_lost_to_a_race_is_restored_by_the_next_deploy_that_writes() {
    let (b, _clock, c) = common::fresh();
    let rt = rt();
    let arn = twos_name_lost(&b, &rt, &c);
    // A third app joins the load balancer: it writes the certificate, and
    // verifies every hostname routed there, two's included.
    b.reset_calls();
    rt.block_on(ops::deploy(&b, &rack(), &name("three"), &manifest(1), &c))
        .expect("three");
    assert!(seen(&b).uncovered.is_empty(), "{:?}", seen(&b).uncovered);
    let names = &shared_names(&b)[&arn];
    for app in ["one", "two", "three"] {
        assert!(
            names.contains(&format!("*.{app}.production.convox")),
            "{names:?}"
        );
    }
}

/// Issue 10: a change to an app whose name is already on its load
/// balancers' shared certificates writes none of them, so it has nothing to
/// verify after applying: a new port (a new target group, the rule moved to
/// it, the old group deleted) reads the rack once, before planning, and
/// never reads it whole.
#[test]
fn a_change_that_writes_no_shared_certificate_reads_the_rack_once() {
    let (b, _clock, c) = common::fresh();
    let rt = rt();
    for app in ["one", "two"] {
        rt.block_on(ops::deploy(&b, &rack(), &name(app), &manifest(2), &c))
            .expect(app);
    }
    let moved = Manifest::from_services(vec![
        Service::routed(name("s0"), 3001, Exposure::Internal),
        Service::routed(name("s1"), 3000, Exposure::Internal),
    ]);
    b.reset_calls();
    let report = rt
        .block_on(ops::deploy(&b, &rack(), &name("one"), &moved, &c))
        .expect("one moves a port");
    let calls = b.calls();
    assert!(!report.plan.is_empty());
    assert_eq!(
        (calls.of("ObserveApp"), calls.of("Observe"), calls.mutations),
        (1, 0, 4),
        "{calls:?}"
    );
    assert!(seen(&b).uncovered.is_empty());
}

/// Issue 10: a deploy that writes nothing of its own still puts back another
/// app's name it finds missing from a shared certificate (someone re-imported
/// an older copy): its own read shows every rule on the rack's listeners, so
/// finding the gap costs no request, and only then is the whole rack read. A
/// no-op redeploy of an app already named does it, with no other change.
#[test]
fn any_deploy_puts_back_another_apps_name_found_missing() {
    let (b, _clock, c) = common::fresh();
    let rt = rt();
    twos_name_lost(&b, &rt, &c);
    b.reset_calls();
    let again = rt
        .block_on(ops::deploy(&b, &rack(), &name("one"), &manifest(1), &c))
        .expect("one again");
    assert!(again.plan.is_empty(), "{}", again.plan);
    assert!(seen(&b).uncovered.is_empty(), "{:?}", seen(&b).uncovered);
    assert_eq!(b.calls().of("ReimportCertificate"), 1, "{:?}", b.calls());
}

/// Router pools: two deploys at once each imported a load balancer's first
/// shared certificate and attached it (two copies, both ours). The next
/// deploy keeps one and takes the other off: it detaches it, then deletes it.
/// When the delete fails as contention (another deploy attached that copy
/// again meanwhile: ACM refuses the delete), the deploy plans again, and the
/// copy it detached is now attached nowhere. The planner never deletes such
/// a copy (it may be someone else's, with a copy of our tags): it would stay
/// for good, and every plan that touches that load balancer's certificates
/// would be refused. The deploy that detached it knows it is its own, and
/// deletes it.
#[test]
fn a_deploy_deletes_the_copy_of_a_shared_certificate_it_detached_and_stopped() {
    let (b, _clock, c) = common::fresh();
    let rt = rt();
    rt.block_on(ops::deploy(&b, &rack(), &name("one"), &manifest(1), &c))
        .expect("one");
    // A second copy of the shared certificate, attached beside the first.
    let arn = shared_names(&b)
        .into_keys()
        .next()
        .expect("a shared certificate");
    let copy = format!("{}0", &arn[..arn.len() - 1]);
    let mut s = state(&b);
    s["certificates"][&copy] = s["certificates"][&arn].clone();
    let listener = s["listeners"]
        .as_object_mut()
        .expect("listeners")
        .values_mut()
        .find(|l| {
            l["certificates"]
                .as_array()
                .is_some_and(|c| c.contains(&Value::from(arn.as_str())))
        })
        .expect("the listener the certificate is attached to");
    listener["certificates"]
        .as_array_mut()
        .expect("certificates")
        .push(Value::from(copy.as_str()));
    b.load_json(&s.to_string()).expect("load");
    assert_eq!(shared_names(&b).len(), 2);

    let faulty = convox_mock::Faulty::new(&b, 0).fail_nth_call_of(
        "DeleteCertificate",
        1,
        convox_mock::Fault::before(convox_model::backend::ErrorKind::Conflict),
    );
    rt.block_on(ops::deploy(
        &faulty,
        &rack(),
        &name("two"),
        &manifest(1),
        &c,
    ))
    .expect("two");
    assert_eq!(
        faulty.faults().injected,
        1,
        "the delete was tried, and failed"
    );
    let left = shared_names(&b);
    assert_eq!(left.len(), 1, "{left:?}");
    let names = left.values().next().expect("one");
    for app in ["one", "two"] {
        assert!(
            names.contains(&format!("*.{app}.production.convox")),
            "{names:?}"
        );
    }
    assert!(seen(&b).uncovered.is_empty(), "{:?}", seen(&b).uncovered);
}
