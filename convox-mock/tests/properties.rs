//! Properties over random sequences of calls: a refused call changes nothing
//! (the trait's contract), nothing panics, observe only returns owned resources,
//! and the JSON state round-trips at every step.
//!
//! And properties of the planner that need something applied: deploys through
//! [`MockBackend`] leave nothing to plan, touch nothing outside their app, and
//! keep hostnames injective across apps whose names meet.

mod common;

use common::replay;
use common::*;
use convox_mock::MockBackend;
use convox_model::backend::{Backend, BackendResult};
use convox_model::conformance::fake_certificate;
use convox_model::resource::{
    CertificateSpec, DefaultAction, LbScheme, ListenerSpec, LoadBalancerAddress, Protocol,
    RecordAction, RecordChange, ResourceKey, Scope, Tags, record_owner_value,
};
use proptest::prelude::*;

#[path = "properties/applied.rs"]
mod applied;

#[derive(Clone, Debug)]
enum Op {
    CreateSg(u8, bool),
    DeleteSg(u8),
    CreateLb(u8, u8, bool),
    DeleteLb(u8),
    CreateListener(u8, bool, Option<u8>),
    DeleteListener(u8),
    ImportCert(u8),
    DeleteCert(u8),
    AddCert(u8, u8),
    RemoveCert(u8, u8),
    CreateTg(u8),
    DeleteTg(u8),
    CreateRule(u8, u32, u8, u8),
    SetPriority(u8, u32),
    DeleteRule(u8),
    CreateZone,
    DeleteZone(u8),
    Records(u8, Vec<(u8, u8, u8)>),
}

fn op() -> impl Strategy<Value = Op> {
    let i = || 0u8..6;
    prop_oneof![
        (i(), any::<bool>()).prop_map(|(a, b)| Op::CreateSg(a, b)),
        i().prop_map(Op::DeleteSg),
        (i(), i(), any::<bool>()).prop_map(|(a, b, c)| Op::CreateLb(a, b, c)),
        i().prop_map(Op::DeleteLb),
        (i(), any::<bool>(), proptest::option::of(i()))
            .prop_map(|(a, b, c)| Op::CreateListener(a, b, c)),
        i().prop_map(Op::DeleteListener),
        i().prop_map(Op::ImportCert),
        i().prop_map(Op::DeleteCert),
        (i(), i()).prop_map(|(a, b)| Op::AddCert(a, b)),
        (i(), i()).prop_map(|(a, b)| Op::RemoveCert(a, b)),
        i().prop_map(Op::CreateTg),
        i().prop_map(Op::DeleteTg),
        (i(), 0u32..5, i(), 0u8..7).prop_map(|(a, b, c, d)| Op::CreateRule(a, b, c, d)),
        (i(), 0u32..5).prop_map(|(a, b)| Op::SetPriority(a, b)),
        i().prop_map(Op::DeleteRule),
        Just(Op::CreateZone),
        i().prop_map(Op::DeleteZone),
        (i(), proptest::collection::vec((0u8..3, 0u8..4, i()), 1..4))
            .prop_map(|(a, b)| Op::Records(a, b)),
    ]
}

/// Ids handed out so far, deleted ones included, so that calls on missing
/// resources are exercised too.
#[derive(Default)]
struct Ids {
    sgs: Vec<String>,
    lbs: Vec<(String, LoadBalancerAddress)>,
    listeners: Vec<String>,
    certs: Vec<String>,
    tgs: Vec<String>,
    rules: Vec<String>,
    zones: Vec<String>,
}

fn pick<T: Clone>(v: &[T], i: u8) -> Option<T> {
    (!v.is_empty()).then(|| v[usize::from(i) % v.len()].clone())
}

fn owned(i: u8) -> Tags {
    // Half the resources are ours, half foreign.
    if i.is_multiple_of(2) {
        tags(&ResourceKey::from_raw(format!("app/web/s{i}/internal/tg")))
    } else {
        Tags::new()
    }
}

async fn apply(mock: &MockBackend, ids: &mut Ids, op: &Op) -> BackendResult<()> {
    let missing = || "missing".to_string();
    match op.clone() {
        Op::CreateSg(n, tagged) => {
            let t = if tagged { owned(0) } else { Tags::new() };
            ids.sgs.push(
                mock.create_security_group(&sg_spec(&format!("sg{n}")), &t)
                    .await?,
            );
        }
        Op::DeleteSg(i) => {
            mock.delete_security_group(&pick(&ids.sgs, i).unwrap_or_else(missing))
                .await?
        }
        Op::CreateLb(n, sg, internal) => {
            let scheme = if internal {
                LbScheme::Internal
            } else {
                LbScheme::InternetFacing
            };
            let sg = pick(&ids.sgs, sg).unwrap_or_else(missing);
            let lb = mock
                .create_load_balancer(&lb_spec(&format!("lb{n}"), scheme), &sg, &owned(n))
                .await?;
            ids.lbs.push((lb.arn, lb.address));
        }
        Op::DeleteLb(i) => {
            let arn = pick(&ids.lbs, i).map(|l| l.0).unwrap_or_else(missing);
            mock.delete_load_balancer(&arn).await?
        }
        Op::CreateListener(lb, https, cert) => {
            let lb = pick(&ids.lbs, lb).map(|l| l.0).unwrap_or_else(missing);
            let cert = cert.and_then(|c| pick(&ids.certs, c));
            let spec = ListenerSpec {
                load_balancer: ResourceKey::from_raw("lb"),
                port: if https { 443 } else { 80 },
                protocol: if https {
                    Protocol::Https
                } else {
                    Protocol::Http
                },
                default_action: DefaultAction::Redirect {
                    port: 443,
                    status_code: 301,
                },
                certificate: None,
            };
            ids.listeners.push(
                mock.create_listener(&lb, &spec, cert.as_deref(), &owned(0))
                    .await?,
            );
        }
        Op::DeleteListener(i) => {
            mock.delete_listener(&pick(&ids.listeners, i).unwrap_or_else(missing))
                .await?
        }
        Op::ImportCert(n) => {
            let spec = CertificateSpec {
                domain: format!("*.a{n}.prod.convox"),
                issuer: "ca".into(),
                names: Vec::new(),
            };
            ids.certs.push(
                mock.import_certificate(&spec, &fake_certificate(&spec.domain), &owned(n))
                    .await?,
            );
        }
        Op::DeleteCert(i) => {
            mock.delete_certificate(&pick(&ids.certs, i).unwrap_or_else(missing))
                .await?
        }
        Op::AddCert(l, c) => {
            let (l, c) = (
                pick(&ids.listeners, l).unwrap_or_else(missing),
                pick(&ids.certs, c).unwrap_or_else(missing),
            );
            mock.add_listener_certificate(&l, &c).await?
        }
        Op::RemoveCert(l, c) => {
            let (l, c) = (
                pick(&ids.listeners, l).unwrap_or_else(missing),
                pick(&ids.certs, c).unwrap_or_else(missing),
            );
            mock.remove_listener_certificate(&l, &c).await?
        }
        Op::CreateTg(n) => ids.tgs.push(
            mock.create_target_group(&tg_spec(&format!("tg{n}")), &owned(n))
                .await?,
        ),
        Op::DeleteTg(i) => {
            mock.delete_target_group(&pick(&ids.tgs, i).unwrap_or_else(missing))
                .await?
        }
        Op::CreateRule(l, prio, tg, hosts) => {
            let l = pick(&ids.listeners, l).unwrap_or_else(missing);
            let tg = pick(&ids.tgs, tg).unwrap_or_else(missing);
            let hosts: Vec<String> = (0..hosts).map(|h| format!("h{h}.prod.convox")).collect();
            let hosts: Vec<&str> = hosts.iter().map(String::as_str).collect();
            ids.rules.push(
                mock.create_rule(&l, &rule_spec(prio, &hosts), &tg, &owned(0))
                    .await?,
            );
        }
        Op::SetPriority(r, prio) => {
            mock.set_rule_priority(&pick(&ids.rules, r).unwrap_or_else(missing), prio)
                .await?
        }
        Op::DeleteRule(i) => {
            mock.delete_rule(&pick(&ids.rules, i).unwrap_or_else(missing))
                .await?
        }
        Op::CreateZone => ids
            .zones
            .push(mock.create_hosted_zone(&zone_spec(), &owned(0)).await?),
        Op::DeleteZone(i) => {
            mock.delete_hosted_zone(&pick(&ids.zones, i).unwrap_or_else(missing))
                .await?
        }
        Op::Records(z, changes) => {
            let zone = pick(&ids.zones, z).unwrap_or_else(missing);
            let changes: Vec<RecordChange> = changes
                .into_iter()
                .map(|(action, name, lb)| {
                    let key = ResourceKey::record(
                        &common::name("web"),
                        &common::name(&format!("s{name}")),
                    );
                    RecordChange {
                        action: [
                            RecordAction::Create,
                            RecordAction::Upsert,
                            RecordAction::Delete,
                        ][usize::from(action)],
                        // Name 3 lies outside the zone.
                        name: if name == 3 {
                            "x.elsewhere.convox".into()
                        } else {
                            format!("s{name}.web.prod.convox")
                        },
                        target: pick(&ids.lbs, lb)
                            .map(|l| l.1)
                            .unwrap_or(LoadBalancerAddress {
                                dns_name: "gone.example".into(),
                                hosted_zone_id: "Z1".into(),
                            }),
                        owner: record_owner_value(&rack(), &key),
                    }
                })
                .collect();
            mock.change_records(&zone, &changes).await?
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(replay::kept_failures(64))]

    #[test]
    fn refused_calls_change_nothing(ops in proptest::collection::vec(op(), 1..60)) {
        let rt = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
        rt.block_on(async {
            let mock = MockBackend::new();
            let mut ids = Ids::default();
            for op in &ops {
                let before = mock.to_json().expect("state serialises");
                if let Err(e) = apply(&mock, &mut ids, op).await {
                    let after = mock.to_json().expect("state serialises");
                    prop_assert_eq!(&before, &after, "{:?} failed ({}) yet changed the state", op, e);
                }
                for scope in [Scope::Rack, Scope::Apps] {
                    for o in mock.observe(&rack(), &scope).await.expect("observe") {
                        prop_assert_eq!(o.resource.tags.get("convox:rack").map(String::as_str), Some("prod"));
                    }
                }
            }
            let json = mock.to_json().expect("state serialises");
            let copy = MockBackend::from_json(&json).expect("state loads");
            prop_assert_eq!(copy.to_json().expect("state serialises"), json);
            Ok(())
        })?;
    }
}
