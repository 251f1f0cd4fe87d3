//! The generated input: the rack's settings, the parameter changes tried, and
//! the manifests deployed, built from small indexes into fixed name pools.

use convox_model::manifest::{Manifest, Port, Scheme, Service};
use convox_model::name::Name;
use convox_model::params::RackParams;
use convox_model::rack::{Rack, Vpc};
use proptest::prelude::*;

pub const RACK: &str = "prod";
pub const VPC_CIDR: &str = "10.0.0.0/16";
/// `shop` + `api-web` and `shop-api` + `web` would both be `shop-api-web` on the
/// external router: the pools are chosen so that the generator can find that.
pub const APPS: [&str; 3] = ["backend", "shop", "shop-api"];
pub const SERVICES: [&str; 4] = ["api", "web", "worker", "api-web"];
pub const NOW: i64 = 1_700_000_000;

pub fn name(s: &str) -> Name {
    Name::new(s).expect("test names are valid")
}

/// The external router's host for `rack`.
pub fn router_host(rack: &str) -> String {
    format!("{rack}.example.com")
}

/// The rack as the embedding tool knows it before anything is stored.
pub fn settings(rack: &str) -> Rack {
    Rack {
        name: name(rack),
        region: "us-east-1".into(),
        vpc: Vpc {
            id: "vpc-1".into(),
            cidr: VPC_CIDR.into(),
        },
        subnets: vec!["subnet-a".into(), "subnet-b".into()],
        router_host: router_host(rack),
        params: RackParams::default(),
        ca: None,
        external_certificate: None,
    }
}

pub fn rack_with(params: RackParams) -> Rack {
    Rack {
        params,
        ..settings(RACK)
    }
}

/// How a generated service is exposed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exposure {
    External,
    Internal,
    Both,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Svc {
    /// Index into [`SERVICES`].
    pub name: usize,
    pub port: Option<(u16, Scheme)>,
    pub exposure: Exposure,
    /// Bit i: a link to `SERVICES[i]`, kept only if that service is in the
    /// manifest, is not this one and has a port (what validation accepts).
    pub links: u8,
    pub health: &'static str,
}

impl Svc {
    /// The link targets kept (indexes into [`SERVICES`]), in order.
    pub fn kept_links(&self, all: &[Svc]) -> Vec<usize> {
        let has_port = |i: usize| all.iter().any(|s| s.name == i && s.port.is_some());
        (0..SERVICES.len())
            .filter(|i| self.links & (1 << i) != 0 && *i != self.name && has_port(*i))
            .collect()
    }

    /// Whether the port's scheme speaks TLS to the target.
    pub fn https_target(&self) -> Option<bool> {
        self.port
            .map(|(_, s)| matches!(s, Scheme::Https | Scheme::SecureGrpc))
    }
}

/// The manifest the generated services stand for.
pub fn manifest(services: &[Svc]) -> Manifest {
    Manifest::from_services(
        services
            .iter()
            .map(|g| {
                let mut s = Service::with_defaults(name(SERVICES[g.name]));
                s.port = g.port.map(|(port, scheme)| Port { port, scheme });
                s.exposure = convox_model::manifest::Exposure::from_flags(
                    g.exposure != Exposure::External,
                    g.exposure == Exposure::Both,
                );
                s.links = g
                    .kept_links(services)
                    .into_iter()
                    .map(|i| name(SERVICES[i]))
                    .collect();
                s.health.path = g.health.to_string();
                s
            })
            .collect(),
    )
}

pub const PARAMS: [&[&str]; 8] = [
    &["Internal=Yes"],
    &["Internal=No"],
    &["InternalOnly=Yes"],
    &["InternalOnly=No"],
    &["Internal=Yes", "InternalOnly=Yes"],
    &["Internal=No", "InternalOnly=No"],
    &["InternalOnly=No", "Internal=No"],
    // Refused whatever the rack: not Yes or No.
    &["Internal=Maybe"],
];

/// Services, biased towards what the rack accepts so that most deploys go
/// through, but never excluding what it refuses.
pub fn services(params: RackParams) -> impl Strategy<Value = Vec<Svc>> {
    let w = |ok: bool| if ok { 8 } else { 1 };
    let exposure = prop_oneof![
        w(!params.internal_only()) => Just(Exposure::External),
        w(params.internal()) => Just(Exposure::Internal),
        w(params.internal() && !params.internal_only()) => Just(Exposure::Both),
    ];
    let port = proptest::option::weighted(
        0.8,
        prop_oneof![
            Just((3000, Scheme::Http)),
            Just((8443, Scheme::Https)),
            Just((5000, Scheme::Grpc)),
        ],
    );
    let detail = (
        port,
        exposure,
        0u8..16,
        prop_oneof![Just("/"), Just("/health")],
    );
    proptest::array::uniform4(proptest::option::weighted(0.5, detail)).prop_map(|slots| {
        slots
            .into_iter()
            .enumerate()
            .filter_map(|(i, d)| {
                d.map(|(port, exposure, links, health)| Svc {
                    name: i,
                    port,
                    exposure,
                    links,
                    health,
                })
            })
            .collect()
    })
}
