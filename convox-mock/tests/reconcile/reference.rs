//! The reference: a model of what was asked of the rack (its parameters, which
//! apps are deployed with which manifests), the state machine that drives it, and
//! what must therefore exist — computed here from the generated input alone, in
//! this file's own small code, never with the library's exposure, desired-state,
//! link or coverage functions, so that a bug shared by the planner and those
//! helpers cannot pass.

use std::collections::{BTreeMap, BTreeSet};

use convox_model::exposure::Router;
use convox_model::params::RackParams;
use convox_model::rack::Rack;
use convox_model::resource::ResourceKey;
use proptest::prelude::*;
use proptest_state_machine::ReferenceStateMachine;

use crate::adversary::{Adversity, Drift, Faults, adversity, drift, faults};
use crate::input::{
    APPS, Exposure, PARAMS, RACK, SERVICES, Svc, name, rack_with, router_host, services,
};
use crate::sut::AUTHORITIES;

#[derive(Clone, Debug)]
pub enum Transition {
    Params {
        assignments: Vec<&'static str>,
        faults: Option<Faults>,
    },
    Deploy {
        app: usize,
        services: Vec<Svc>,
        faults: Option<Faults>,
    },
    Delete {
        app: usize,
        faults: Option<Faults>,
    },
    // Day-2 safety (in place): an operator's drift and its repair.
    Drift(Drift),
    // Foreign resources and concurrent operators (issue 8).
    /// Someone else changes the account.
    Adversary(Adversity),
    /// Two apps deploy at the same moment on one backend.
    Concurrent([(usize, Vec<Svc>); 2]),
    // The clock moves (issue 12): certificates come due.
    /// Days pass; nothing is called.
    Clock {
        days: i64,
    },
    // Rotation of the rack's certificate authority.
    /// `convox rack ca rotate` to authority `to` (an index into the run's
    /// authorities; the rack starts with 0).
    Rotate {
        to: usize,
        faults: Option<Faults>,
    },
}

impl Transition {
    pub fn faults(&self) -> Option<&Faults> {
        match self {
            Transition::Params { faults, .. }
            | Transition::Deploy { faults, .. }
            | Transition::Delete { faults, .. }
            | Transition::Rotate { faults, .. } => faults.as_ref(),
            Transition::Drift(_)
            | Transition::Adversary(_)
            | Transition::Concurrent(_)
            | Transition::Clock { .. } => None,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Start,
    Accepted,
    Refused,
}

/// One of the rack's two routers, as the reference sees them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Side {
    Internal,
    External,
}

impl Side {
    /// The same router in the library's terms, to spell resource keys.
    pub fn router(self) -> Router {
        match self {
            Side::Internal => Router::Internal,
            Side::External => Router::External,
        }
    }
}

/// The sides a service is served on: none without a port.
fn sides(s: &Svc) -> Vec<Side> {
    if s.port.is_none() {
        return vec![];
    }
    match s.exposure {
        Exposure::Internal => vec![Side::Internal],
        Exposure::External => vec![Side::External],
        Exposure::Both => vec![Side::Internal, Side::External],
    }
}

/// `{service}.{app}.{rack}.convox` or `{app}-{service}.{router host}`.
fn host(app: &str, service: &str, side: Side) -> String {
    match side {
        Side::Internal => format!("{service}.{app}.{RACK}.convox"),
        Side::External => format!("{app}-{service}.{}", router_host(RACK)),
    }
}

/// The certificate name that must cover a host on `side` for `app`.
fn certificate_name(app: &str, side: Side) -> String {
    match side {
        Side::Internal => format!("*.{app}.{RACK}.convox"),
        Side::External => format!("*.{}", router_host(RACK)),
    }
}

/// One hostname that must be served, and everything about how.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Route {
    pub host: String,
    pub side: Side,
    pub app: String,
    pub service: String,
    /// The target group's port and protocol (`HTTP`/`HTTPS`).
    pub port: u16,
    pub protocol: &'static str,
    /// A name in the SANs of a certificate attached to the router's 443 listener.
    pub certificate: String,
}

fn routes(app: usize, svcs: &[Svc]) -> Vec<Route> {
    let a = APPS[app];
    let mut out = vec![];
    for s in svcs {
        let Some((port, _)) = s.port else { continue };
        for side in sides(s) {
            out.push(Route {
                host: host(a, SERVICES[s.name], side),
                side,
                app: a.to_string(),
                service: SERVICES[s.name].to_string(),
                port,
                protocol: if s.https_target() == Some(true) {
                    "HTTPS"
                } else {
                    "HTTP"
                },
                certificate: certificate_name(a, side),
            });
        }
    }
    out
}

/// What must exist on the rack.
#[derive(Debug, Default)]
pub struct Expected {
    /// The routers present.
    pub routers: BTreeSet<Side>,
    /// Every hostname served, on which router.
    pub routes: Vec<Route>,
    /// Per app and service, the link variables it must see: (var, url).
    pub links: BTreeMap<(String, String), Vec<(String, String)>>,
}

#[derive(Clone, Debug)]
pub struct Model {
    pub params: RackParams,
    /// Whether the rack's resources exist (after the first accepted change).
    pub rack_exists: bool,
    /// Deployed apps (index into [`APPS`]) and their manifests.
    pub apps: BTreeMap<usize, Vec<Svc>>,
    /// What the model expects of the transition just applied.
    pub last: Outcome,
    /// Days since the start (issue 12): the tool's clock is `NOW` plus these.
    pub days: i64,
    /// The day each deployed app (by name) was last deployed: its names must
    /// be covered by certificates not yet due then (issue 12).
    pub deployed_on: BTreeMap<String, i64>,
    /// The rack's certificate authority (an index into the run's authorities).
    pub ca: usize,
    /// Apps that deployed at the same moment as another since they last
    /// deployed or were deleted alone: a shared certificate may still name
    /// one on a load balancer where it has nothing (the other deploy read the
    /// names before it left and wrote them back after), until its own next
    /// deploy or deletion takes the name off.
    pub raced: BTreeSet<usize>,
}

impl Model {
    pub fn rack(&self) -> Rack {
        rack_with(self.params)
    }

    fn has(&self, side: Side) -> bool {
        match side {
            Side::Internal => self.params.internal(),
            Side::External => !self.params.internal_only(),
        }
    }

    /// Whether a deploy of `services` fits the rack's rules.
    fn fits(&self, services: &[Svc]) -> bool {
        services.iter().all(|s| match s.exposure {
            Exposure::External => self.has(Side::External),
            Exposure::Internal => self.has(Side::Internal),
            Exposure::Both => self.has(Side::Internal) && self.has(Side::External),
        })
    }

    /// Whether no other app serves a hostname that `services` of `app` would
    /// (external names `{app}-{service}` can meet across apps).
    fn hostnames_free(&self, app: usize, services: &[Svc]) -> bool {
        let mine: BTreeSet<String> = routes(app, services).into_iter().map(|r| r.host).collect();
        self.apps
            .iter()
            .filter(|(a, _)| **a != app)
            .flat_map(|(a, s)| routes(*a, s))
            .all(|r| !mine.contains(&r.host))
    }

    /// Whether a parameter change is accepted: it parses, and no deployed
    /// service is routed on a router it removes. (The rack keeps no manifests:
    /// a service without a port leaves no resource behind, so it cannot stand
    /// in the way.)
    fn params_after(&self, assignments: &[&str]) -> Option<RackParams> {
        let new = self
            .params
            .with_assignments(assignments.iter().copied())
            .ok()?;
        let routed = |side: Side| {
            self.apps
                .values()
                .flatten()
                .any(|s| sides(s).contains(&side))
        };
        if !new.internal() && routed(Side::Internal) {
            return None;
        }
        if new.internal_only() && routed(Side::External) {
            return None;
        }
        Some(new)
    }

    /// What must exist, from the parameters and manifests alone.
    pub fn expected(&self) -> Expected {
        let mut e = Expected::default();
        if !self.rack_exists {
            return e;
        }
        e.routers = [Side::Internal, Side::External]
            .into_iter()
            .filter(|s| self.has(*s))
            .collect();
        for (app, svcs) in &self.apps {
            e.routes.extend(routes(*app, svcs));
            for s in svcs {
                let vars = s
                    .kept_links(svcs)
                    .into_iter()
                    .map(|i| {
                        let target = &svcs.iter().find(|t| t.name == i).expect("kept");
                        // The internal endpoint when there is one.
                        let side = sides(target)[0];
                        let var = format!("{}_URL", SERVICES[i].to_uppercase().replace('-', "_"));
                        (
                            var,
                            format!("https://{}", host(APPS[*app], SERVICES[i], side)),
                        )
                    })
                    .collect();
                e.links
                    .insert((APPS[*app].to_string(), SERVICES[s.name].to_string()), vars);
            }
        }
        e
    }

    /// Every resource key the rack and its apps should have, spelled with the
    /// library's key constructors but decided here.
    pub fn expected_keys(&self) -> BTreeSet<ResourceKey> {
        let e = self.expected();
        if !self.rack_exists {
            return BTreeSet::new();
        }
        let mut keys = BTreeSet::from([ResourceKey::zone()]);
        for side in &e.routers {
            let r = side.router();
            keys.extend([
                ResourceKey::router_security_group(r),
                ResourceKey::router_load_balancer(r),
                ResourceKey::router_listener(r, 80),
                ResourceKey::router_listener(r, 443),
            ]);
            // The external router serves a public certificate ACM issued (the
            // mock's default: at once), which the rack does not own as a resource.
            if r == Router::Internal {
                keys.insert(ResourceKey::router_certificate(r));
            }
        }
        for route in &e.routes {
            let (app, service) = (name(&route.app), name(&route.service));
            let r = route.side.router();
            keys.insert(ResourceKey::target_group(&app, &service, r));
            keys.insert(ResourceKey::listener_rule(&app, &service, r));
            if route.side == Side::Internal {
                keys.insert(ResourceKey::record(&app, &service));
                // Issue 9: no certificate of its own; its load balancer's
                // shared certificate covers it (checked apart, see
                // checks::check_shared_certificates).
            }
        }
        keys
    }
}

/// The reference state machine; `FAULTS` adds fault schedules to transitions.
pub struct Reference<const FAULTS: bool>;

impl<const FAULTS: bool> ReferenceStateMachine for Reference<FAULTS> {
    type State = Model;
    type Transition = Transition;

    /// A fresh rack (created by the first change), or one already set to
    /// `Internal` or `InternalOnly`, so that internal services are deployed
    /// often.
    fn init_state() -> BoxedStrategy<Model> {
        prop_oneof![
            Just(None),
            Just(Some((true, false))),
            Just(Some((true, true)))
        ]
        .prop_map(|params| Model {
            params: params
                .map(|(i, o)| RackParams::new(i, o).expect("valid"))
                .unwrap_or_default(),
            rack_exists: params.is_some(),
            apps: BTreeMap::new(),
            last: Outcome::Start,
            days: 0,
            deployed_on: BTreeMap::new(),
            ca: 0,
            raced: BTreeSet::new(),
        })
        .boxed()
    }

    fn transitions(state: &Model) -> BoxedStrategy<Transition> {
        let faults = move || {
            if FAULTS {
                proptest::option::weighted(0.8, faults()).boxed()
            } else {
                Just(None).boxed()
            }
        };
        prop_oneof![
            2 => (0..PARAMS.len(), faults()).prop_map(|(i, faults)| Transition::Params {
                assignments: PARAMS[i].to_vec(),
                faults,
            }),
            6 => (0..APPS.len(), services(state.params), faults()).prop_map(
                |(app, services, faults)| Transition::Deploy { app, services, faults }
            ),
            1 => (0..APPS.len(), faults()).prop_map(|(app, faults)| Transition::Delete { app, faults }),
            // Day-2 safety (in place).
            1 => drift().prop_map(Transition::Drift),
            // Foreign resources and concurrent operators (issue 8).
            1 => adversity().prop_map(Transition::Adversary),
            1 => (0..APPS.len(), services(state.params), 0..APPS.len(), services(state.params))
                .prop_map(|(a, sa, b, sb)| Transition::Concurrent([(a, sa), (b, sb)])),
            // The clock moves (issue 12): up to past a certificate's lifetime.
            1 => (1i64..420).prop_map(|days| Transition::Clock { days }),
            // Rotation under faults: interrupted at any call, run again, it
            // finishes (make-before-break; tests/rotation.rs tries every call).
            1 => (0..AUTHORITIES, faults()).prop_map(|(to, faults)| Transition::Rotate { to, faults }),
        ]
        .boxed()
    }

    fn preconditions(state: &Model, t: &Transition) -> bool {
        match t {
            // Two deploys the reference can judge apart: different apps on an
            // existing rack, each accepted whichever runs first.
            Transition::Concurrent([(a, sa), (b, sb)]) => {
                let mut both = state.clone();
                both.apps.insert(*a, sa.clone());
                a != b
                    && state.rack_exists
                    && state.fits(sa)
                    && state.fits(sb)
                    && state.hostnames_free(*a, sa)
                    && state.hostnames_free(*b, sb)
                    && both.hostnames_free(*b, sb)
            }
            _ => true,
        }
    }

    fn apply(mut state: Model, t: &Transition) -> Model {
        state.last = Outcome::Refused;
        match t {
            Transition::Params { assignments, .. } => {
                if let Some(p) = state.params_after(assignments) {
                    state.params = p;
                    state.rack_exists = true;
                    state.last = Outcome::Accepted;
                }
            }
            Transition::Deploy { app, services, .. } => {
                if state.fits(services) && state.hostnames_free(*app, services) {
                    state.apps.insert(*app, services.clone());
                    state.deployed_on.insert(APPS[*app].to_string(), state.days);
                    state.raced.remove(app);
                    state.rack_exists = true;
                    state.last = Outcome::Accepted;
                }
            }
            Transition::Delete { app, .. } => {
                state.apps.remove(app);
                state.deployed_on.remove(APPS[*app]);
                state.raced.remove(app);
                state.last = Outcome::Accepted;
            }
            Transition::Clock { days } => {
                state.days += days;
                state.last = Outcome::Accepted;
            }
            // Day-2 safety (in place): repaired within the step; the rack and
            // its apps are as they were.
            Transition::Drift(_) => state.last = Outcome::Accepted,
            Transition::Adversary(_) => state.last = Outcome::Accepted,
            Transition::Concurrent(deploys) => {
                for (app, services) in deploys {
                    state.apps.insert(*app, services.clone());
                    state.deployed_on.insert(APPS[*app].to_string(), state.days);
                    state.raced.insert(*app);
                }
                state.last = Outcome::Accepted;
            }
            // A rack that exists moves to the new authority; one never created
            // has none to rotate.
            Transition::Rotate { to, .. } => {
                if state.rack_exists {
                    state.ca = *to;
                    state.last = Outcome::Accepted;
                }
            }
        }
        state
    }
}
