use super::*;
use crate::params::RackParams;
use crate::resource::{ListenerRuleSpec, ListenerSpec, Tags};

fn n(s: &str) -> Name {
    Name::new(s).unwrap()
}

fn rack() -> Rack {
    Rack::new(
        n("production"),
        RackParams::new(true, false).unwrap(),
        Some("production.example.com".into()),
    )
}

fn shard(i: u16) -> Shard {
    Shard::new(Router::Internal, i).unwrap()
}

fn seen(key: ResourceKey, spec: ResourceSpec) -> Observed {
    Observed {
        id: key.to_string(),
        resource: Resource {
            key,
            tags: Tags::new(),
            spec,
        },
        address: None,
        not_after: None,
    }
}

/// The internal 443 listener of shard `i`, with the router's certificate.
fn listener(i: u16) -> Observed {
    seen(
        ResourceKey::shard_listener(shard(i), 443),
        ResourceSpec::Listener(ListenerSpec {
            load_balancer: ResourceKey::shard_load_balancer(shard(i)),
            port: 443,
            protocol: crate::resource::Protocol::Https,
            default_action: crate::resource::DefaultAction::FixedResponse {
                status_code: 404,
                content_type: "text/plain".into(),
                body: "unknown host".into(),
            },
            certificate: Some(ResourceKey::router_certificate(Router::Internal)),
        }),
    )
}

/// `app`'s service `web` routed on shard `i`.
fn rule(app: &str, i: u16) -> Observed {
    seen(
        ResourceKey::listener_rule(&n(app), &n("web"), Router::Internal),
        ResourceSpec::ListenerRule(ListenerRuleSpec {
            listener: ResourceKey::shard_listener(shard(i), 443),
            priority: Some(1),
            hosts: vec![format!("web.{app}.production.convox")],
            target_group: ResourceKey::target_group(&n(app), &n("web"), Router::Internal),
        }),
    )
}

/// The shared certificate `slot` of shard `i` covering `apps`, attached.
fn shared(i: u16, slot: u16, apps: &[&str]) -> Vec<Observed> {
    let names: SharedNames = [(
        shard(i),
        [(slot, apps.iter().map(|a| n(a)).collect())].into(),
    )]
    .into();
    shared_certificates(&rack(), &names, &|_| Some("ca".to_string()))
        .into_iter()
        .map(|r| seen(r.key.clone(), r.spec))
        .collect()
}

/// An app's own certificate (a rack from before), attached on shard `i`.
fn own(app: &str, i: u16) -> Vec<Observed> {
    let cert = ResourceKey::app_certificate(&n(app));
    vec![
        seen(
            cert.clone(),
            ResourceSpec::Certificate(CertificateSpec {
                domain: app_certificate_domain(&rack(), &n(app)),
                issuer: "ca".into(),
                names: Vec::new(),
            }),
        ),
        seen(
            ResourceKey::app_listener_certificate_on(&n(app), shard(i)),
            ResourceSpec::ListenerCertificate(ListenerCertificateSpec {
                listener: ResourceKey::shard_listener(shard(i), 443),
                certificate: cert,
            }),
        ),
    ]
}

fn router_cert() -> Observed {
    seen(
        ResourceKey::router_certificate(Router::Internal),
        ResourceSpec::Certificate(CertificateSpec {
            domain: "*.production.convox".into(),
            issuer: "ca".into(),
            names: Vec::new(),
        }),
    )
}

fn names(v: &[(u16, u16, &[&str])]) -> SharedNames {
    let mut out = SharedNames::new();
    for (i, slot, apps) in v {
        out.entry(shard(*i))
            .or_default()
            .insert(*slot, apps.iter().map(|a| n(a)).collect());
    }
    out
}

fn joining(i: u16, app: &str) -> BTreeMap<Shard, BTreeSet<Name>> {
    [(shard(i), [n(app)].into())].into()
}

#[test]
fn an_uncovered_app_is_found_and_a_shared_certificate_covers_it() {
    let mut observed = vec![router_cert(), listener(1), rule("a", 1)];
    let gaps = uncovered(&observed);
    assert_eq!(
        gaps,
        vec![Uncovered {
            shard: shard(1),
            app: n("a"),
            host: "web.a.production.convox".into()
        }]
    );
    // The router's own `*.production.convox` covers one label only.
    observed.extend(shared(1, 1, &["a"]));
    assert!(uncovered(&observed).is_empty());
    // On another shard's listener it covers nothing.
    let elsewhere = vec![router_cert(), listener(1), listener(2), rule("a", 1)]
        .into_iter()
        .chain(shared(2, 1, &["a"]))
        .collect::<Vec<_>>();
    assert_eq!(uncovered(&elsewhere).len(), 1);
}

#[test]
fn names_are_sticky_and_joiners_take_the_first_slot_with_room() {
    // Slot 1 full (2 names each), slot 2 with room; c joins.
    let mut observed = vec![router_cert(), listener(1)];
    for app in ["a", "b", "d"] {
        observed.push(rule(app, 1));
    }
    observed.extend(shared(1, 1, &["a", "b"]));
    observed.extend(shared(1, 2, &["d"]));
    let got = shared_names(&observed, &joining(1, "c"), None, 2);
    assert_eq!(got, names(&[(1, 1, &["a", "b"]), (1, 2, &["c", "d"])]));
    // Nothing joining: as it is.
    assert_eq!(
        shared_names(&observed, &BTreeMap::new(), None, 2),
        names(&[(1, 1, &["a", "b"]), (1, 2, &["d"])])
    );
    // A joiner already named stays where it is.
    assert_eq!(
        shared_names(&observed, &joining(1, "d"), None, 2),
        names(&[(1, 1, &["a", "b"]), (1, 2, &["d"])])
    );
    // With 100 names per certificate, one certificate takes everyone new.
    let fresh = vec![router_cert(), listener(1)];
    let many: BTreeMap<Shard, BTreeSet<Name>> =
        [(shard(1), (0..100).map(|i| n(&format!("a{i}"))).collect())].into();
    let got = shared_names(&fresh, &many, None, 100);
    assert_eq!(got[&shard(1)].len(), 1);
    assert_eq!(got[&shard(1)][&1].len(), 100);
}

#[test]
fn leaving_removes_the_name_and_the_last_leaving_removes_the_certificate() {
    let mut observed = vec![router_cert(), listener(1), listener(2)];
    observed.extend([rule("a", 1), rule("b", 1), rule("c", 2)]);
    observed.extend(shared(1, 1, &["a", "b"]));
    observed.extend(shared(2, 1, &["c"]));
    let without = |app: &str| -> Vec<Observed> {
        observed
            .iter()
            .filter(|o| o.resource.key.app() != Some(app))
            .cloned()
            .collect()
    };
    // Break after make: while its rule is there, a keeps its name.
    assert_eq!(
        shared_names(&observed, &BTreeMap::new(), Some(&n("a")), 100),
        names(&[(1, 1, &["a", "b"]), (2, 1, &["c"])])
    );
    assert_eq!(
        shared_names(&without("a"), &BTreeMap::new(), Some(&n("a")), 100),
        names(&[(1, 1, &["b"]), (2, 1, &["c"])])
    );
    assert_eq!(
        shared_names(&without("c"), &BTreeMap::new(), Some(&n("c")), 100),
        names(&[(1, 1, &["a", "b"])])
    );
    // A name whose app routes nothing there yet (its deploy between its rack
    // stage and its rules) stays: only the app itself leaves.
    let gone: Vec<Observed> = observed
        .iter()
        .filter(|o| o.resource.key.app() != Some("b"))
        .cloned()
        .collect();
    assert_eq!(
        shared_names(&gone, &BTreeMap::new(), None, 100),
        names(&[(1, 1, &["a", "b"]), (2, 1, &["c"])])
    );
    // A deploy of a that routes it on shard 2 only now: off shard 1.
    let mut moved = without("a");
    moved.push(rule("a", 2));
    assert_eq!(
        shared_names(&moved, &joining(2, "a"), Some(&n("a")), 100),
        names(&[(1, 1, &["b"]), (2, 1, &["a", "c"])])
    );
}

#[test]
fn an_app_with_its_own_certificate_keeps_it_until_it_deploys() {
    let mut observed = vec![router_cert(), listener(1), rule("old", 1)];
    observed.extend(own("old", 1));
    assert!(uncovered(&observed).is_empty());
    assert!(shared_names(&observed, &BTreeMap::new(), None, 100).is_empty());
    // Its deploy joins: named on the shared certificate (its own is deleted
    // by the app's plan after).
    assert_eq!(
        shared_names(&observed, &joining(1, "old"), None, 100),
        names(&[(1, 1, &["old"])])
    );
}

#[test]
fn shared_certificates_are_the_racks_keyed_by_shard_and_slot() {
    let d = with_shared_certificates(
        DesiredState::empty(crate::resource::Scope::Rack),
        &rack(),
        Some("ca"),
        &[router_cert(), listener(2), rule("b", 2), rule("a", 2)],
        &BTreeMap::new(),
        None,
        100,
    );
    let key = ResourceKey::shard_certificate(shard(2), 1);
    assert_eq!(key.as_str(), "router/internal/2/cert/1");
    let Some(ResourceSpec::Certificate(c)) = d.get(&key).map(|r| &r.spec) else {
        panic!("no shared certificate: {d:?}");
    };
    assert_eq!(c.domain, "*.production.convox");
    assert_eq!(
        c.names,
        vec![
            "*.a.production.convox".to_string(),
            "*.b.production.convox".to_string()
        ]
    );
    let tags = &d.get(&key).unwrap().tags;
    assert_eq!(tags.get(crate::resource::TAG_APP), None);
    assert_eq!(tags.get(TAG_SHARD).map(String::as_str), Some("2"));
    let attachment =
        ResourceKey::listener_certificate_on(&key, &ResourceKey::shard_listener(shard(2), 443));
    assert!(d.get(&attachment).is_some());
    assert!(
        d.iter()
            .all(|r| r.key.in_scope(&crate::resource::Scope::Rack))
    );
}

#[test]
fn the_authority_issues_every_name_as_a_subject_alternative_name() {
    let ca = crate::tls::CertificateAuthority::generate(&n("production"), 1_750_000_000).unwrap();
    let wanted = [
        "*.a.production.convox".to_string(),
        "*.b.production.convox".to_string(),
    ];
    let pem = ca
        .issue_names("*.production.convox", &wanted, 1_750_000_000)
        .unwrap();
    let (_, p) = x509_parser::pem::parse_x509_pem(pem.certificate.as_bytes()).unwrap();
    let cert = p.parse_x509().unwrap();
    let sans: Vec<String> = cert
        .subject_alternative_name()
        .unwrap()
        .unwrap()
        .value
        .general_names
        .iter()
        .map(|g| g.to_string())
        .collect();
    assert_eq!(
        sans,
        vec![
            "DNSName(*.production.convox)",
            "DNSName(*.a.production.convox)",
            "DNSName(*.b.production.convox)"
        ]
    );
}
