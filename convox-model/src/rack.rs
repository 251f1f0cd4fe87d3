//! The rack: its name, network and parameters.

use serde::{Deserialize, Serialize};

use crate::name::Name;
use crate::params::RackParams;

/// A rack as the library needs to know it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rack {
    /// The rack's name, a DNS label; its private zone is `{name}.convox`.
    pub name: Name,
    /// The AWS region, such as `us-east-1`.
    pub region: String,
    /// The VPC the rack's load balancers live in.
    pub vpc: Vpc,
    /// Subnets for the load balancers (at least two availability zones on AWS).
    pub subnets: Vec<String>,
    /// The host under which external endpoints live, such as `production.example.com`:
    /// service `S` of app `A` is reached at `{A}-{S}.{router_host}`.
    pub router_host: String,
    /// `Internal` and `InternalOnly`.
    pub params: RackParams,
    /// The ARN of the user's ACM certificate for `*.{router_host}`, served by the
    /// external router (`--external-certificate`); without one the rack requests
    /// a certificate from ACM (see [`crate::public_cert`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_certificate: Option<String>,
}

/// A VPC: its id and its CIDR block.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Vpc {
    /// The VPC id, such as `vpc-0abc`.
    pub id: String,
    /// The VPC's IPv4 CIDR, such as `10.0.0.0/16`; the internal router admits only it.
    pub cidr: String,
}

impl Rack {
    /// The rack's private hosted zone: `{rack}.convox`.
    pub fn zone_name(&self) -> String {
        format!("{}.convox", self.name)
    }

    /// A rack as a tool first knows it: its name and parameters, and
    /// `router_host` (default `{rack}.example.com`). The network is a placeholder
    /// (`us-east-1`, `vpc-offline` with `10.0.0.0/16`, no subnets) until the tool
    /// sets [`Rack::region`], [`Rack::vpc`] and [`Rack::subnets`] to the real one;
    /// a stored rack ([`crate::backend::Backend::load_rack`]) carries its own.
    pub fn new(name: Name, params: RackParams, router_host: Option<String>) -> Self {
        let router_host = router_host.unwrap_or_else(|| format!("{name}.example.com"));
        Rack {
            name,
            region: "us-east-1".to_string(),
            vpc: Vpc {
                id: "vpc-offline".to_string(),
                cidr: "10.0.0.0/16".to_string(),
            },
            subnets: Vec::new(),
            router_host,
            params,
            external_certificate: None,
        }
    }

    /// The rack the offline check ([`crate::check`]) validates against: no
    /// cloud is involved, so the network is [`Rack::new`]'s placeholder.
    pub fn offline(name: Name, params: RackParams, router_host: Option<String>) -> Self {
        Rack::new(name, params, router_host)
    }
}
