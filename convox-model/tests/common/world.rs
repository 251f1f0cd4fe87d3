//! Helpers shared by the integration tests: racks, manifests and observations
//! built in code.
#![allow(dead_code)]

use convox_model::aws::Quotas;
use convox_model::desired::{DesiredState, desired_app, desired_rack};
use convox_model::exposure::Router;
use convox_model::manifest::{Exposure, Manifest, Port, Scheme, Service};
use convox_model::name::Name;
use convox_model::params::RackParams;
use convox_model::plan::{Op, Plan, plan};
use convox_model::rack::Rack;
use convox_model::resource::{LoadBalancerAddress, Observed, ResourceSpec, Scope};

pub fn n(s: &str) -> Name {
    Name::new(s).unwrap()
}

pub fn rack(internal: bool, internal_only: bool) -> Rack {
    let mut r = Rack::new(
        n("production"),
        RackParams::new(internal, internal_only).unwrap(),
        Some("production.example.com".into()),
    );
    r.subnets = vec!["subnet-a".into(), "subnet-b".into()];
    // The external router serves the user's public certificate (issued), never
    // one of the rack's CA.
    r.external_certificate = Some(EXTERNAL_CERTIFICATE.into());
    r
}

/// The ARN of the user's ACM certificate for `*.production.example.com`.
pub const EXTERNAL_CERTIFICATE: &str =
    "arn:aws:acm:us-east-1:123456789012:certificate/user-production";

pub fn svc(name: &str, port: Option<u16>, internal: bool, both: bool) -> Service {
    let mut s = Service::with_defaults(n(name));
    s.port = port.map(|port| Port {
        port,
        scheme: Scheme::Http,
    });
    s.exposure = Exposure::from_flags(internal, both);
    s
}

pub fn manifest(services: Vec<Service>) -> Manifest {
    Manifest::from_services(services)
}

pub fn address(router: Router) -> LoadBalancerAddress {
    LoadBalancerAddress {
        dns_name: format!("{router}-123.us-east-1.elb.amazonaws.com"),
        hosted_zone_id: "Z35SXDOTRQ7X7K".into(),
    }
}

/// What a backend would observe after applying `plan` on top of `before`: created
/// and replaced resources as planned (ids derived from keys), deletes gone.
///
/// A fixture builder, not an apply: it copies the plan's desired resources, so
/// a property "applying leaves nothing to do" checked with it would only check
/// plan(d, d) = ∅. Such properties apply through `MockBackend` instead
/// (convox-mock/tests/properties.rs).
pub fn observe_after(before: &[Observed], plan: &Plan) -> Vec<Observed> {
    let mut out: Vec<Observed> = before
        .iter()
        .filter(|o| {
            !plan
                .actions
                .iter()
                .any(|a| a.key == o.resource.key && a.op != Op::Create)
        })
        .cloned()
        .collect();
    for a in &plan.actions {
        if let (Some(r), true) = (&a.desired, a.op != Op::Delete) {
            let address = match &r.spec {
                ResourceSpec::LoadBalancer(_) => {
                    Some(address(if r.key.as_str().contains("internal") {
                        Router::Internal
                    } else {
                        Router::External
                    }))
                }
                _ => None,
            };
            out.push(Observed {
                resource: r.clone(),
                id: format!("id:{}", r.key),
                address,
                not_after: None,
            });
        }
    }
    out
}

/// The plan for rack `r`'s resources (its authority's fingerprint `ca`) over
/// `obs`, with the default quotas.
pub fn rack_plan(r: &Rack, obs: &[Observed]) -> Plan {
    plan(
        &Scope::Rack,
        &desired_rack(r, "ca"),
        obs,
        &Quotas::default(),
    )
    .unwrap()
}

/// Rack `r`'s resources as they exist after its first reconcile.
pub fn rack_observed(r: &Rack) -> Vec<Observed> {
    observe_after(&[], &rack_plan(r, &[]))
}

/// App `app` of rack `r` with `services`, desired (the authority `ca`).
pub fn app_desired(r: &Rack, app: &str, services: Vec<Service>) -> DesiredState {
    desired_app(r, &n(app), &manifest(services), "ca").unwrap()
}

/// The plan for app `app` from `d` over `obs`, with the default quotas.
pub fn plan_app(app: &str, d: &DesiredState, obs: &[Observed]) -> Plan {
    plan(&Scope::App(n(app)), d, obs, &Quotas::default()).unwrap()
}

/// The plan that deletes everything of app `app`'s in `obs`.
pub fn plan_app_deletion(app: &str, obs: &[Observed]) -> Plan {
    plan_app(app, &DesiredState::empty(Scope::App(n(app))), obs)
}
