//! Exposure: which router serves a service, under which hostname.
//!
//! | service                     | router(s)          | hostname                      |
//! |-----------------------------|--------------------|-------------------------------|
//! | external (default)          | external           | `{app}-{service}.{router host}` |
//! | `internal: true`            | internal           | `{service}.{app}.{rack}.convox` |
//! | `internalAndExternal: true` | internal, external | both                          |
//! | no `port`                   | none               | none                          |

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::manifest::{Manifest, Service};
use crate::name::Name;
use crate::rack::Rack;

/// One of a rack's two routers (application load balancers).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Router {
    /// The internal ALB: scheme `internal`, reachable from the VPC only.
    Internal,
    /// The external ALB: internet-facing.
    External,
}

impl Router {
    /// `internal` or `external`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Router::Internal => "internal",
            Router::External => "external",
        }
    }

    /// Both routers, internal first.
    pub const ALL: [Router; 2] = [Router::Internal, Router::External];
}

impl fmt::Display for Router {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One load balancer of a router's pool: AWS lets one application load
/// balancer forward to at most 100 target groups (a hard limit), so a router is
/// as many load balancers as its services need, numbered from 1. Shard 1 is
/// the router every rack starts with; its resources keep the keys a router had
/// before pools existed (`router/internal/alb`), shard 2 and on carry their
/// number (`router/internal/2/alb`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Shard {
    /// The router this load balancer is one of.
    pub router: Router,
    /// Its number in the pool, from 1.
    pub index: u16,
}

impl Shard {
    /// The router's first load balancer, the one a rack starts with.
    pub const fn first(router: Router) -> Shard {
        Shard { router, index: 1 }
    }

    /// The router's `index`th load balancer; `None` for 0.
    pub fn new(router: Router, index: u16) -> Option<Shard> {
        (index >= 1).then_some(Shard { router, index })
    }

    /// Whether this is the router's first load balancer (never removed).
    pub fn is_first(&self) -> bool {
        self.index == 1
    }
}

impl fmt::Display for Shard {
    /// `internal` for the first, `internal/2` for the second: the part of a
    /// key after `router/`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_first() {
            write!(f, "{}", self.router)
        } else {
            write!(f, "{}/{}", self.router, self.index)
        }
    }
}

/// A fully qualified hostname, lowercase, without a trailing dot.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Hostname(String);

impl Hostname {
    /// The hostname as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `{service}.{app}.{rack}.convox`: a service on the internal router.
    pub fn internal(rack: &Name, app: &Name, service: &Name) -> Self {
        Hostname(format!("{service}.{app}.{rack}.convox"))
    }

    /// `{app}-{service}.{router_host}`: a service on the external router.
    pub fn external(router_host: &str, app: &Name, service: &Name) -> Self {
        Hostname(format!(
            "{app}-{service}.{}",
            router_host.trim_end_matches('.').to_ascii_lowercase()
        ))
    }

    /// Wraps a hostname that is already known to be well formed (such as one read
    /// back from a backend).
    pub fn from_raw(s: impl Into<String>) -> Self {
        Hostname(s.into())
    }

    /// Whether a certificate for `pattern` (an exact name or a `*.` wildcard that
    /// stands for exactly one label, as TLS defines it) covers this hostname.
    pub fn is_covered_by(&self, pattern: &str) -> bool {
        let host = self.0.as_str();
        match pattern.strip_prefix("*.") {
            Some(parent) => host.split_once('.').is_some_and(|(label, rest)| {
                !label.is_empty() && rest.eq_ignore_ascii_case(parent)
            }),
            None => host.eq_ignore_ascii_case(pattern),
        }
    }
}

impl fmt::Display for Hostname {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A service reachable on a router under a hostname, over HTTPS on 443.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Endpoint {
    /// The service.
    pub service: Name,
    /// The router serving it.
    pub router: Router,
    /// The hostname it is served under.
    pub hostname: Hostname,
}

impl Endpoint {
    /// `https://{hostname}`: the scheme is always https, the port always the default.
    pub fn url(&self) -> String {
        format!("https://{}", self.hostname)
    }
}

/// The routers a service is served on: none without a port; internal for
/// `internal`; both for `internalAndExternal`; otherwise external.
pub fn routers(service: &Service) -> Vec<Router> {
    Router::ALL
        .into_iter()
        .filter(|r| match r {
            Router::Internal => service.routed_internally(),
            Router::External => service.routed_externally(),
        })
        .collect()
}

/// The hostname of `service` of `app` on `router` in `rack`.
pub fn hostname(rack: &Rack, app: &Name, service: &Name, router: Router) -> Hostname {
    match router {
        Router::Internal => Hostname::internal(&rack.name, app, service),
        Router::External => Hostname::external(&rack.router_host, app, service),
    }
}

/// Every endpoint of `service`, internal first.
pub fn service_endpoints(rack: &Rack, app: &Name, service: &Service) -> Vec<Endpoint> {
    routers(service)
        .into_iter()
        .map(|router| Endpoint {
            service: service.name.clone(),
            router,
            hostname: hostname(rack, app, &service.name, router),
        })
        .collect()
}

/// Every endpoint of every service of the app, in manifest order, internal first
/// within a service.
pub fn endpoints(rack: &Rack, app: &Name, manifest: &Manifest) -> Vec<Endpoint> {
    manifest
        .services
        .iter()
        .flat_map(|s| service_endpoints(rack, app, s))
        .collect()
}

/// The endpoint a link to `target` resolves to: the internal one when the target is
/// internal (or internal and external), else the external one; `None` when the
/// target exposes no port.
pub fn link_endpoint(rack: &Rack, app: &Name, target: &Service) -> Option<Endpoint> {
    let endpoints = service_endpoints(rack, app, target);
    endpoints
        .iter()
        .find(|e| e.router == Router::Internal)
        .or_else(|| endpoints.first())
        .cloned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::name::n;

    #[test]
    fn internal_hostname_is_service_app_rack_convox() {
        let h = Hostname::internal(&n("production"), &n("backend"), &n("api"));
        assert_eq!(h.as_str(), "api.backend.production.convox");
    }

    #[test]
    fn external_hostname_is_app_dash_service_under_router_host() {
        let h = Hostname::external("production.example.com", &n("backend"), &n("web"));
        assert_eq!(h.as_str(), "backend-web.production.example.com");
    }

    #[test]
    fn wildcard_covers_exactly_one_label() {
        let h = Hostname::internal(&n("production"), &n("backend"), &n("api"));
        assert!(h.is_covered_by("*.backend.production.convox"));
        assert!(h.is_covered_by("api.backend.production.convox"));
        assert!(!h.is_covered_by("*.production.convox"));
        assert!(!h.is_covered_by("*.convox"));
        assert!(!h.is_covered_by("*.other.production.convox"));
    }
}
