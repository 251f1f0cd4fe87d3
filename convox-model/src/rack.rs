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
    /// The rack's certificate authority, as its identity: recorded when the rack
    /// is created, checked by every command that reconciles. `None` for a rack
    /// not created yet (or stored before racks recorded their authority: the
    /// next command that reconciles records the one it is given).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca: Option<RackCa>,
    /// The ARN of the user's ACM certificate for `*.{router_host}`, served by the
    /// external router (`--external-certificate`); without one the rack requests
    /// a certificate from ACM (see [`crate::public_cert`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_certificate: Option<String>,
}

/// The certificate authority a rack recorded as its own.
///
/// A rotation ([`crate::ca::rotate_ca`]) first records the new authority's
/// fingerprint in [`RackCa::rotating_to`]; while it is there, either authority
/// is accepted. Once every certificate the rack issued is re-issued by the new
/// one, the new fingerprint replaces the old, and `rotating_to` is cleared.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RackCa {
    /// SHA-256 (hex) of the authority's certificate (DER), as
    /// [`crate::tls::CertificateAuthority::fingerprint`] computes it.
    pub fingerprint: String,
    /// When it was recorded (Unix seconds).
    pub created: i64,
    /// Where it was created, as the tool that created it said (the CLI: the file
    /// it wrote and the host), so that a refusal can say where to find it. On
    /// AWS it is kept in a zone tag: characters a tag value does not allow
    /// (other than letters, digits, spaces and `_.:/=+-@`) read back as `_`.
    pub origin: String,
    /// The fingerprint of the authority a rotation in progress moves to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rotating_to: Option<String>,
}

impl RackCa {
    /// A newly recorded authority: `fingerprint`, created at `created` (Unix
    /// seconds) at `origin`, no rotation in progress.
    pub fn new(fingerprint: impl Into<String>, created: i64, origin: impl Into<String>) -> Self {
        RackCa {
            fingerprint: fingerprint.into(),
            created,
            origin: origin.into(),
            rotating_to: None,
        }
    }

    /// Whether the authority with `fingerprint` may reconcile the rack: the
    /// recorded one, or during a rotation the one it moves to.
    pub fn accepts(&self, fingerprint: &str) -> bool {
        self.fingerprint == fingerprint || self.rotating_to.as_deref() == Some(fingerprint)
    }
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
        zone_name(&self.name)
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
            ca: None,
            external_certificate: None,
        }
    }

    /// The rack the offline check ([`crate::check`]) validates against: no
    /// cloud is involved, so the network is [`Rack::new`]'s placeholder.
    pub fn offline(name: Name, params: RackParams, router_host: Option<String>) -> Self {
        Rack::new(name, params, router_host)
    }
}

/// The name of `rack`'s private hosted zone: `{rack}.convox`. Backends find the
/// zone by it.
pub fn zone_name(rack: &Name) -> String {
    format!("{rack}.convox")
}
