//! Planner properties checked by applying: each deploy goes through the ops
//! layer into a [`MockBackend`], and what is planned next is planned against
//! what the mock then holds — not against a copy of what was desired.

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};

use convox_mock::MockBackend;
use convox_model::apply::{ApplyContext, SleepFn};
use convox_model::manifest::{Manifest, Port, Scheme, Service};
use convox_model::name::Name;
use convox_model::observe::observe_all;
use convox_model::ops::{OpsError, deploy, plan_app, set_rack_params};
use convox_model::params::RackParams;
use convox_model::plan::PlanError;
use convox_model::rack::{Rack, Vpc};
use convox_model::resource::{Observed, ResourceSpec as Spec};
use convox_model::tls::CertificateAuthority;
use proptest::prelude::*;

const NOW: i64 = 1_700_000_000;
/// Names with dashes: app `shop` with service `api-web` and app `shop-api` with
/// service `web` are both `shop-api-web` on the external router.
const APPS: [&str; 2] = ["shop", "shop-api"];
const SERVICES: [&str; 4] = ["api-web", "web", "api", "worker"];

fn name(s: &str) -> Name {
    Name::new(s).expect("test names are valid")
}

fn authority() -> Arc<CertificateAuthority> {
    static CA: OnceLock<Arc<CertificateAuthority>> = OnceLock::new();
    CA.get_or_init(|| Arc::new(CertificateAuthority::generate(&name("prod"), NOW).expect("CA")))
        .clone()
}

fn ctx() -> ApplyContext {
    let sleep: SleepFn = Arc::new(|_| Box::pin(async {}));
    ApplyContext::new(name("prod"), NOW, sleep).with_issuer(authority())
}

fn settings() -> Rack {
    Rack {
        name: name("prod"),
        region: "us-east-1".into(),
        vpc: Vpc {
            id: "vpc-1".into(),
            cidr: "10.0.0.0/16".into(),
        },
        subnets: vec!["subnet-a".into(), "subnet-b".into()],
        router_host: "prod.example.com".into(),
        params: RackParams::default(),
        ca: None,
        external_certificate: None,
    }
}

/// (internal, internalAndExternal)
type Exposure = (bool, bool);

/// The rack's parameters (Internal, InternalOnly) and the exposures it serves.
fn racks() -> impl Strategy<Value = ((bool, bool), Vec<Exposure>)> {
    prop_oneof![
        Just(((false, false), vec![(false, false)])),
        Just((
            (true, false),
            vec![(false, false), (true, false), (true, true)]
        )),
        Just(((true, true), vec![(true, false)])),
    ]
}

/// A manifest that fits: built from the exposures the rack serves, not filtered.
fn fitting(exposures: Vec<Exposure>) -> impl Strategy<Value = Manifest> {
    let one = (
        proptest::option::weighted(
            0.8,
            prop_oneof![
                Just((3000, Scheme::Http)),
                Just((8443, Scheme::Https)),
                Just((5000, Scheme::Grpc)),
            ],
        ),
        proptest::sample::select(exposures),
    );
    proptest::collection::vec(proptest::option::of(one), SERVICES.len()).prop_map(|slots| {
        Manifest::from_services(
            slots
                .into_iter()
                .enumerate()
                .filter_map(|(i, slot)| {
                    let (port, (internal, both)) = slot?;
                    let mut s = Service::with_defaults(name(SERVICES[i]));
                    s.port = port.map(|(port, scheme)| Port { port, scheme });
                    s.exposure = convox_model::manifest::Exposure::from_flags(internal, both);
                    Some(s)
                })
                .collect(),
        )
    })
}

/// The external hostnames a manifest serves for `app`, by this test's own rule.
fn external_hosts(app: &str, m: &Manifest) -> Vec<String> {
    m.services
        .iter()
        .filter(|s| s.port.is_some() && s.exposure.is_external())
        .map(|s| format!("{app}-{}.prod.example.com", s.name))
        .collect()
}

async fn rack(b: &MockBackend, (internal, only): (bool, bool)) -> Rack {
    let yes = |on: bool| if on { "Yes" } else { "No" };
    let internal = format!("Internal={}", yes(internal));
    let only = format!("InternalOnly={}", yes(only));
    set_rack_params(b, &settings(), &[internal.as_str(), only.as_str()], &ctx())
        .await
        .expect("the rack")
        .rack
}

/// What is left to do for `app` with `m` against what the mock holds.
async fn left(b: &MockBackend, r: &Rack, app: &str, m: &Manifest) -> String {
    let fp = authority().fingerprint().to_string();
    let p = plan_app(b, r, &name(app), m, &fp).await.expect("plan");
    if p.is_empty() {
        String::new()
    } else {
        p.to_string()
    }
}

fn others(observed: &[Observed], app: &str) -> BTreeMap<String, String> {
    observed
        .iter()
        .filter(|o| o.resource.key.app() != Some(app))
        // Issue 9: the rack's shared certificate is made, or its names changed
        // in place, as an app joins or leaves it (the state machine test
        // checks it covers every app).
        .filter(|o| !convox_model::pool::certs::is_shared(&o.resource.key))
        .map(|o| {
            (
                o.resource.key.to_string(),
                serde_json::to_string(o).expect("serialises"),
            )
        })
        .collect()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime")
}

proptest! {
    #![proptest_config(crate::common::replay::kept_failures(64))]

    /// Deploying leaves nothing to plan; a deploy of another manifest then does
    /// too, changes nothing outside the app, and an identical redeploy makes no
    /// mutating call.
    #[test]
    fn applying_a_plan_leaves_nothing_to_do(
        (params, m, m2, other) in racks().prop_flat_map(|(p, e)| {
            (Just(p), fitting(e.clone()), fitting(e.clone()), fitting(e))
        })
    ) {
        let rt = runtime();
        rt.block_on(async {
            let b = MockBackend::new();
            let r = rack(&b, params).await;
            // Another app, under a name no hostname of `app` can meet.
            deploy(&b, &r, &name("zz"), &other, &ctx()).await.expect("the other app");
            for m in [&m, &m2] {
                let before = observe_all(&b, &r.name).await.expect("observe");
                deploy(&b, &r, &name("app"), m, &ctx()).await.expect("deploy");
                let after = observe_all(&b, &r.name).await.expect("observe");
                let left = left(&b, &r, "app", m).await;
                prop_assert!(left.is_empty(), "planned after a deploy:\n{}", left);
                prop_assert_eq!(others(&before, "app"), others(&after, "app"));
                let mutations = b.calls().mutations;
                let report = deploy(&b, &r, &name("app"), m, &ctx()).await.expect("again");
                prop_assert!(report.plan.is_empty());
                prop_assert_eq!(b.calls().mutations, mutations);
            }
            Ok(())
        })?;
    }

    /// Two apps whose names meet (`shop`, `shop-api`) with services whose names
    /// meet (`api-web`, `web`): the second deploy is refused exactly when an
    /// external hostname would be served twice, and the rules the mock holds
    /// serve each hostname once.
    #[test]
    fn hostnames_are_injective_across_apps(
        m in fitting(vec![(false, false), (true, false), (true, true)]),
        m2 in fitting(vec![(false, false), (true, false), (true, true)]),
    ) {
        let rt = runtime();
        rt.block_on(async {
            let b = MockBackend::new();
            let r = rack(&b, (true, false)).await;
            deploy(&b, &r, &name(APPS[0]), &m, &ctx()).await.expect("first app");
            let mine = external_hosts(APPS[0], &m);
            let collides = external_hosts(APPS[1], &m2).iter().any(|h| mine.contains(h));
            let before = b.to_json().expect("state");
            match deploy(&b, &r, &name(APPS[1]), &m2, &ctx()).await {
                Ok(_) => prop_assert!(!collides, "served a hostname twice"),
                Err(OpsError::Plan(PlanError::HostnameTaken { .. })) => {
                    prop_assert!(collides, "refused without a collision");
                    prop_assert_eq!(before, b.to_json().expect("state"), "a refused deploy changed the state");
                }
                Err(e) => prop_assert!(false, "{}", e),
            }
            let mut hosts: BTreeMap<String, String> = BTreeMap::new();
            for o in observe_all(&b, &r.name).await.expect("observe") {
                if let Spec::ListenerRule(rule) = &o.resource.spec {
                    prop_assert_eq!(rule.hosts.len(), 1);
                    let prev = hosts.insert(rule.hosts[0].clone(), o.resource.key.to_string());
                    prop_assert!(prev.is_none(), "{} served twice: {:?} and {}", rule.hosts[0], prev, o.resource.key);
                }
            }
            Ok(())
        })?;
    }
}

/// The collision the property above must be able to meet, once by hand.
#[test]
fn the_known_external_collision_is_refused() {
    let web = |n: &str| {
        let mut s = Service::with_defaults(name(n));
        s.port = Some(Port {
            port: 3000,
            scheme: Scheme::Http,
        });
        Manifest::from_services(vec![s])
    };
    runtime().block_on(async {
        let b = MockBackend::new();
        let r = rack(&b, (false, false)).await;
        deploy(&b, &r, &name("shop"), &web("api-web"), &ctx())
            .await
            .expect("first");
        let e = deploy(&b, &r, &name("shop-api"), &web("web"), &ctx())
            .await
            .expect_err("shop-api-web is taken");
        assert!(
            matches!(e, OpsError::Plan(PlanError::HostnameTaken { .. })),
            "{e}"
        );
    });
}
