//! Every hostname fits DNS: each label at most 63 characters, the whole name at
//! most 253. An external name's first label is `{app}-{service}`, so two valid
//! names can together be too long. A routed name must also fit the ALB
//! rule's host-header condition ([`super::ranges::HOST_HEADER_MAX_LEN`]).
//!
//! [`problem`] is the rule for one hostname, for any caller that builds one;
//! [`check`] runs it over every endpoint of an app.

use std::fmt;

use crate::diag::Diagnostics;
use crate::exposure::{Hostname, Router, hostname, routers};
use crate::manifest::Manifest;
use crate::name::{MAX_HOSTNAME_LEN, MAX_LABEL_LEN, Name};
use crate::rack::Rack;

use super::Out;

/// Why a hostname does not fit DNS.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum HostnameProblem {
    /// A label is longer than [`MAX_LABEL_LEN`].
    LabelTooLong {
        /// The hostname.
        hostname: String,
        /// The first label that is too long.
        label: String,
    },
    /// The whole name is longer than [`MAX_HOSTNAME_LEN`].
    TooLong {
        /// The hostname.
        hostname: String,
    },
}

impl fmt::Display for HostnameProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HostnameProblem::LabelTooLong { hostname, label } => write!(
                f,
                "hostname {hostname} has a label of {} characters ({label}); DNS allows 63",
                label.len()
            ),
            HostnameProblem::TooLong { hostname } => write!(
                f,
                "hostname {hostname} is {} characters long; DNS allows 253",
                hostname.len()
            ),
        }
    }
}

impl std::error::Error for HostnameProblem {}

/// What is wrong with `host` as a DNS name, if anything.
pub fn problem(host: &Hostname) -> Option<HostnameProblem> {
    let h = host.as_str();
    if let Some(label) = h.split('.').find(|l| l.len() > MAX_LABEL_LEN) {
        return Some(HostnameProblem::LabelTooLong {
            hostname: h.to_string(),
            label: label.to_string(),
        });
    }
    (h.len() > MAX_HOSTNAME_LEN).then(|| HostnameProblem::TooLong {
        hostname: h.to_string(),
    })
}

/// Every hostname of `app`'s services on `rack`.
pub fn check(manifest: &Manifest, rack: &Rack, app: &Name) -> Diagnostics {
    let mut out = Out::new(manifest);
    for s in &manifest.services {
        for router in routers(s) {
            let host = hostname(rack, app, &s.name, router);
            if let Some(p) = problem(&host) {
                let hint = match router {
                    Router::External => {
                        "shorten the app or service name (the external name is {app}-{service}.{router host})"
                    }
                    Router::Internal => "shorten the service, app or rack name",
                };
                out.error(
                    format!("services.{}", s.name),
                    p.to_string(),
                    Some(hint.to_string()),
                );
            } else if host.as_str().len() > super::ranges::HOST_HEADER_MAX_LEN {
                // The listener rule that routes it matches the name in a
                // host-header condition, which AWS bounds more tightly than DNS.
                out.error(
                    format!("services.{}", s.name),
                    format!(
                        "hostname {host} is {} characters long: an ALB rule's host-header condition allows {} (HostHeaderConditionConfig)",
                        host.as_str().len(),
                        super::ranges::HOST_HEADER_MAX_LEN
                    ),
                    Some("shorten the service, app or rack name".to_string()),
                );
            }
        }
    }
    out.diags
}
