//! Router pools against moto (issue 9), counted by boto3: moto enforces no
//! quota, so the backend's own quotas ([`AwsBackendBuilder::with_quotas`])
//! decide the placement, and boto3 (`scripts/aws_inspect.py`) checks from
//! outside that every internal load balancer stays within them, that each
//! internal hostname's record aliases the load balancer that routes it, that a
//! placed service never moves, and that a load balancer emptied by a deleted
//! app is removed.
//!
//! Two scenarios, the issue's: six one-service internal apps then two apps of
//! six at small quotas (quick, and every load balancer fills), and sixty then
//! two of sixty at AWS's quotas.
//!
//! [`AwsBackendBuilder::with_quotas`]: convox_aws::AwsBackendBuilder::with_quotas

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;
use std::sync::Arc;
use std::time::{Duration, Instant};

use convox_model::apply::{ApplyContext, SleepFn};
use convox_model::aws::Quotas;
use convox_model::check::parse;
use convox_model::exposure::Router;
use convox_model::manifest::Manifest;
use convox_model::ops;
use convox_model::params::RackParams;
use convox_model::pool::DRAIN_SECONDS;
use convox_model::rack::Rack;
use convox_model::tls::CertificateAuthority;
use serde_json::Value;

use crate::support::inspect::{alias_target, arr, inspect, zone_named};
use crate::support::{MotoEnv, name, now};

/// The fixture for `test`, its backend planning against `quotas`.
async fn env_with(test: &str, quotas: Quotas) -> MotoEnv {
    let mut env = MotoEnv::new(test).await;
    env.backend = MotoEnv::builder_for(&env.endpoint, &env.account, &env.region)
        .with_quotas(quotas)
        .build()
        .await
        .expect("backend for moto");
    env
}

fn ctx(env: &MotoEnv) -> ApplyContext {
    let sleep: SleepFn = Arc::new(|d: Duration| Box::pin(tokio::time::sleep(d)));
    let ca = CertificateAuthority::generate(&env.rack, now()).unwrap();
    ApplyContext::new(env.rack.clone(), now(), sleep).with_issuer(Arc::new(ca))
}

/// `Internal=Yes`: an internal router beside the external one.
fn rack(env: &MotoEnv) -> Rack {
    env.rack_config(RackParams::new(true, false).unwrap())
}

/// `n` internal services `s0`…, as the app's convox.yml says them.
fn manifest(n: usize) -> Manifest {
    let services: String = (0..n)
        .map(|i| format!("  s{i}:\n    port: 3000\n    internal: true\n"))
        .collect();
    parse(&format!("services:\n{services}"), &BTreeMap::new())
        .unwrap()
        .manifest
}

fn host(env: &MotoEnv, app: &str, service: usize) -> String {
    format!("s{service}.{app}.{}.convox", env.rack)
}

/// One internal load balancer of the rack, as boto3 reports it.
#[derive(Debug)]
struct Lb {
    name: String,
    /// Non-default rules, on every listener.
    rules: usize,
    /// The target groups those rules forward to.
    target_groups: BTreeSet<String>,
    /// The hosts the 443 listener's rules match.
    hosts: BTreeSet<String>,
    /// The certificates on the 443 listener besides its default.
    extra_certificates: usize,
    /// The domains (and alternative names) of every certificate on the 443
    /// listener, the default included.
    domains: Vec<String>,
}

/// The rack's internal load balancers as boto3 sees them, by ARN.
fn internal_lbs(seen: &Value, rack: &str) -> BTreeMap<String, Lb> {
    let mut out = BTreeMap::new();
    for lb in arr(&seen["load_balancers"])
        .iter()
        .filter(|l| l["scheme"] == "internal" && l["tags"]["convox:rack"] == rack)
    {
        let mut on = Lb {
            name: lb["name"].as_str().unwrap().to_string(),
            rules: 0,
            target_groups: BTreeSet::new(),
            hosts: BTreeSet::new(),
            extra_certificates: 0,
            domains: Vec::new(),
        };
        for listener in arr(&lb["listeners"]) {
            let https = listener["port"] == 443;
            for rule in arr(&listener["rules"]) {
                on.rules += 1;
                for a in arr(&rule["actions"])
                    .iter()
                    .filter(|a| a["type"] == "forward")
                {
                    for tg in arr(&a["target_groups"]) {
                        on.target_groups.insert(tg.as_str().unwrap().to_string());
                    }
                }
                if https {
                    for h in arr(&rule["host_headers"]) {
                        on.hosts.insert(h.as_str().unwrap().to_string());
                    }
                }
            }
            if https {
                for c in arr(&listener["certificates"]) {
                    if c["is_default"] != true {
                        on.extra_certificates += 1;
                    }
                    on.domains
                        .extend(c["domain_name"].as_str().map(str::to_string));
                    on.domains.extend(
                        arr(&c["subject_alternative_names"])
                            .iter()
                            .filter_map(|d| d.as_str().map(str::to_string)),
                    );
                }
            }
        }
        out.insert(lb["arn"].as_str().unwrap().to_string(), on);
    }
    out
}

/// `*.a.b` covers `x.a.b`; a name covers itself.
fn covers(domain: &str, host: &str) -> bool {
    match domain.strip_prefix("*.") {
        Some(parent) => host.split_once('.').is_some_and(|(_, rest)| rest == parent),
        None => domain == host,
    }
}

/// The pool's invariants as boto3 sees them: every internal load balancer
/// within `quotas`; every host in `hosts` routed by exactly one, covered by a
/// certificate on the listener that routes it, and its alias A record pointing
/// at that load balancer. Returns the ARN routing each host.
fn check(
    env: &MotoEnv,
    seen: &Value,
    quotas: &Quotas,
    hosts: &BTreeSet<String>,
) -> BTreeMap<String, String> {
    let lbs = internal_lbs(seen, env.rack.as_str());
    for (arn, lb) in &lbs {
        assert!(
            lb.target_groups.len() <= quotas.target_groups_per_load_balancer,
            "{arn}: {lb:#?}"
        );
        assert!(lb.rules <= quotas.rules_per_load_balancer, "{arn}: {lb:#?}");
        assert!(
            lb.extra_certificates <= quotas.certificates_per_load_balancer,
            "{arn}: {lb:#?}"
        );
        for h in &lb.hosts {
            assert!(
                lb.domains.iter().any(|d| covers(d, h)),
                "{h} is not covered on {}: {:?}",
                lb.name,
                lb.domains
            );
        }
    }
    let mut routed_by = BTreeMap::new();
    for (arn, lb) in &lbs {
        for h in &lb.hosts {
            let before = routed_by.insert(h.clone(), arn.clone());
            assert!(before.is_none(), "{h} is routed by two load balancers");
        }
    }
    let routed: BTreeSet<String> = routed_by.keys().cloned().collect();
    assert_eq!(&routed, hosts, "the internal hosts routed");
    let zone = zone_named(seen, &format!("{}.convox.", env.rack));
    for (h, arn) in &routed_by {
        let target = alias_target(seen, zone, h);
        assert_eq!(
            target["arn"].as_str(),
            Some(arn.as_str()),
            "{h} must alias the load balancer that routes it ({})",
            lbs[arn].name
        );
    }
    routed_by
}

/// The hosts each internal load balancer routes: the pool's partition.
fn partition(seen: &Value, rack: &str) -> BTreeSet<BTreeSet<String>> {
    internal_lbs(seen, rack)
        .into_values()
        .map(|lb| lb.hosts)
        .filter(|h| !h.is_empty())
        .collect()
}

/// One load balancer per group, each group `(app, services)`.
fn groups(env: &MotoEnv, groups: &[Vec<(&str, Range<usize>)>]) -> BTreeSet<BTreeSet<String>> {
    groups
        .iter()
        .map(|g| {
            g.iter()
                .flat_map(|(app, r)| r.clone().map(|i| host(env, app, i)))
                .collect()
        })
        .collect()
}

/// The scenario: `small` one-service internal apps `a0`…, then `big1` and
/// `big2` of `big` internal services each, then `big1` and `big2` deleted.
struct Scenario {
    test: &'static str,
    quotas: Quotas,
    small: usize,
    big: usize,
    /// The internal load balancers after the deploys, after deleting `big1`,
    /// and after deleting `big2` too.
    internal: [usize; 3],
    /// Which hosts share a load balancer after the deploys.
    placed: BTreeSet<BTreeSet<String>>,
    /// Every how many small apps one is redeployed (1: all of them); the big
    /// ones always are.
    redeploy_every: usize,
}

async fn run(env: &MotoEnv, s: &Scenario) {
    let started = Instant::now();
    let b = &env.backend;
    let (rack, c) = (rack(env), ctx(env));
    let mut apps: Vec<(String, usize)> = (0..s.small).map(|i| (format!("a{i}"), 1)).collect();
    apps.extend([("big1".to_string(), s.big), ("big2".to_string(), s.big)]);
    let first = host(env, "a0", 0);
    let mut first_alias: Option<String> = None;
    let mut hosts = BTreeSet::new();
    let (mut last, mut inspecting) = (None, Duration::ZERO);
    // The record of the first app, every time boto3 looks.
    let mut first_never_moves = |seen: &Value, after: &str| {
        let zone = zone_named(seen, &format!("{}.convox.", env.rack));
        let target = alias_target(seen, zone, &first)["arn"]
            .as_str()
            .unwrap()
            .to_string();
        let was = first_alias.get_or_insert_with(|| target.clone());
        assert_eq!(*was, target, "{first} moved after {after}");
    };
    for (i, (app, n)) in apps.iter().enumerate() {
        let report = ops::deploy(b, &rack, &name(app), &manifest(*n), &c)
            .await
            .unwrap_or_else(|e| panic!("deploy {app}: {e}"));
        let mine: BTreeSet<String> = (0..*n).map(|i| host(env, app, i)).collect();
        let endpoints: BTreeSet<String> = report
            .endpoints
            .iter()
            .filter(|e| e.router == Router::Internal)
            .map(|e| e.hostname.to_string())
            .collect();
        assert_eq!(endpoints, mine, "{app}'s endpoints");
        hosts.extend(mine);
        // boto3 after each big app, and after the last small one (and every
        // twentieth, when there are many).
        if i + 1 >= s.small || (i + 1) % 20 == 0 {
            let witnessed = Instant::now();
            let seen = inspect(env);
            inspecting += witnessed.elapsed();
            check(env, &seen, &s.quotas, &hosts);
            first_never_moves(&seen, app);
            last = Some(seen);
        }
    }
    let deployed = started.elapsed();

    // What boto3 saw after the last deploy.
    let seen = last.expect("boto3 looked after the last deploy");
    let lbs = internal_lbs(&seen, env.rack.as_str());
    eprintln!(
        "{}: {} internal load balancers after {} deploys in {deployed:?} (boto3 {inspecting:?} of it): {:?}",
        s.test,
        lbs.len(),
        apps.len(),
        lbs.values()
            .map(|l| (l.name.as_str(), l.rules, l.extra_certificates))
            .collect::<Vec<_>>()
    );
    assert_eq!(lbs.len(), s.internal[0], "{lbs:#?}");
    assert_eq!(partition(&seen, env.rack.as_str()), s.placed);

    // A redeploy of any app makes no mutating call.
    let (mut reads, mut last_calls) = (Vec::new(), None);
    for (i, (app, n)) in apps.iter().enumerate() {
        if i < s.small && i % s.redeploy_every != 0 {
            continue;
        }
        let calls = crate::cost::redeploy_of(b, &rack, (app.as_str(), &manifest(*n)), &c).await;
        reads.push((app.as_str(), calls.total()));
        last_calls = Some(calls);
    }
    let redeployed = started.elapsed();
    eprintln!(
        "{}: requests per redeploy: {reads:?}; the last: {last_calls:?}",
        s.test
    );

    // Deleting the big apps leaves the load balancers they alone were on
    // draining; the first deploy after the drain time (here a no-op redeploy
    // of a0) removes them.
    let mut before = seen;
    for (step, (app, count)) in [("big1", s.internal[1]), ("big2", s.internal[2])]
        .into_iter()
        .enumerate()
    {
        let mut at = c.clone();
        at.now = c.now + 2 * (step as i64 + 1) * DRAIN_SECONDS;
        // Deleted without an issuer, as `convox apps delete` does (issue 9: a
        // shared certificate left without names is deleted; one still naming
        // others keeps the deleted app's name until a deploy there). With
        // one, the re-import would be issued at this test's clock, hours
        // ahead: not yet in effect, which moto refuses as ACM would.
        let mut unissued = at.clone();
        unissued.issuer = None;
        ops::delete_app(b, &rack, &name(app), &unissued)
            .await
            .unwrap_or_else(|e| panic!("delete {app}: {e}"));
        let draining = internal_lbs(&inspect(env), env.rack.as_str()).len();
        assert_eq!(
            draining,
            internal_lbs(&before, env.rack.as_str()).len(),
            "deleting {app} removed a load balancer at once"
        );
        at.now += DRAIN_SECONDS;
        ops::deploy(b, &rack, &name("a0"), &manifest(1), &at)
            .await
            .unwrap_or_else(|e| panic!("redeploy a0 after the drain time: {e}"));
        hosts.retain(|h| !h.ends_with(&format!(".{app}.{}.convox", env.rack)));
        let seen = inspect(env);
        let routed = check(env, &seen, &s.quotas, &hosts);
        first_never_moves(&seen, &format!("deleting {app}"));
        let zone = zone_named(&seen, &format!("{}.convox.", env.rack));
        let left: Vec<&Value> = arr(&zone["records"])
            .iter()
            .filter(|r| {
                r["name"]
                    .as_str()
                    .is_some_and(|n| n.ends_with(&format!(".{app}.{}.convox.", env.rack)))
            })
            .collect();
        assert!(left.is_empty(), "{app}'s records stayed: {left:#?}");
        let was = internal_lbs(&before, env.rack.as_str());
        let now = internal_lbs(&seen, env.rack.as_str());
        for (arn, lb) in &was {
            let only_app = !lb.hosts.is_empty()
                && lb
                    .hosts
                    .iter()
                    .all(|h| h.ends_with(&format!(".{app}.{}.convox", env.rack)));
            assert_eq!(
                now.contains_key(arn),
                !only_app,
                "{} routed {:?} before deleting {app}",
                lb.name,
                lb.hosts
            );
        }
        assert!(
            now.keys().all(|arn| was.contains_key(arn)),
            "no load balancer is added by a delete"
        );
        assert!(
            routed.values().all(|arn| now.contains_key(arn)),
            "every host still routed"
        );
        assert_eq!(now.len(), count, "after deleting {app}: {now:#?}");
        before = seen;
    }
    let all = started.elapsed();
    eprintln!(
        "{}: deploys {deployed:?}, redeploys {:?}, deletes {:?}, {all:?} in all",
        s.test,
        redeployed - deployed,
        all - redeployed
    );
}

#[tokio::test]
#[cfg_attr(not(moto), ignore = "needs the AWS emulator: run scripts/test.sh")]
async fn pools_place_first_fit_within_small_quotas_as_boto3_sees_it() {
    let quotas = Quotas {
        target_groups_per_load_balancer: 5,
        rules_per_load_balancer: 5,
        certificates_per_load_balancer: 3,
        ..Quotas::AWS
    };
    let env = env_with("pools_small", quotas.clone()).await;
    // By pool.rs's first-fit rules; the apps on a load balancer share its
    // certificate (issue 9), so target groups bind (this was six load
    // balancers when each app attached its own certificate):
    // - a0…a5 (one service each): five fill the first, a5 opens the second.
    // - big1 (6 services > 5, too big for an empty one) spans, service by
    //   service to the first with room: s0…s3 beside a5, s4 and s5 open a
    //   third.
    // - big2 spans too: s0…s2 beside big1's s4 and s5, s3…s5 open a fourth.
    // Four internal load balancers. Deleting big1 empties none (a5 and big2
    // are still there): four. Deleting big2 then empties the third and the
    // fourth: two.
    let placed = groups(
        &env,
        &[
            vec![
                ("a0", 0..1),
                ("a1", 0..1),
                ("a2", 0..1),
                ("a3", 0..1),
                ("a4", 0..1),
            ],
            vec![("a5", 0..1), ("big1", 0..4)],
            vec![("big1", 4..6), ("big2", 0..3)],
            vec![("big2", 3..6)],
        ],
    );
    run(
        &env,
        &Scenario {
            test: "small quotas",
            quotas,
            small: 6,
            big: 6,
            internal: [4, 4, 2],
            placed,
            redeploy_every: 1,
        },
    )
    .await;
}

#[tokio::test]
#[cfg_attr(not(moto), ignore = "needs the AWS emulator: run scripts/test.sh")]
async fn one_hundred_eighty_internal_services_at_aws_default_quotas_as_boto3_sees_it() {
    // AWS's quotas. (moto counts the listener's default certificate in its
    // 25, as gaps.rs's moto_counts_the_default_certificate_in_the_listener_quota
    // pins; placement keeps one slot free anyway, so 24 apps fit both.)
    let quotas = Quotas::AWS;
    let env = env_with("pools_aws", quotas.clone()).await;
    // By pool.rs's first-fit rules (100 target groups and rules per load
    // balancer); the apps on a load balancer share its certificate (issue 9:
    // this was four load balancers when each app attached its own, 24 a load
    // balancer):
    // - a0…a59: all on the first (60 target groups, one certificate).
    // - big1 (60): 40 left on the first, so a second, whole.
    // - big2 (60): 40 left on the second, so a third.
    // Three internal load balancers, the bound (⌈180/100⌉ = 2, but
    // the two apps of 60 cannot share one). Deleting big1 empties the second:
    // two. Deleting big2 empties the third: one.
    let small: Vec<(String, Range<usize>)> = (0..60).map(|i| (format!("a{i}"), 0..1)).collect();
    let small = |r: Range<usize>| -> Vec<(&str, Range<usize>)> {
        small[r]
            .iter()
            .map(|(a, s)| (a.as_str(), s.clone()))
            .collect()
    };
    let placed = groups(
        &env,
        &[small(0..60), vec![("big1", 0..60)], vec![("big2", 0..60)]],
    );
    run(
        &env,
        &Scenario {
            test: "AWS's quotas",
            quotas,
            small: 60,
            big: 60,
            internal: [3, 2, 1],
            placed,
            // a0, a12, a24, a36, a48, big1 and big2: about a second each on
            // moto, where all 62 took a minute.
            redeploy_every: 12,
        },
    )
    .await;
}
