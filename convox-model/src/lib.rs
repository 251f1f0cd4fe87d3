//! A pure model of a Convox rack's services and who can reach them.
//!
//! `convox-model` reads and validates `convox.yml`, applies the rack rules
//! (`Internal`, `InternalOnly`), resolves `links` into variables such as `API_URL`,
//! computes the cloud resources a rack and its apps need, plans the difference
//! against what exists and applies it through a [`backend::Backend`].
//!
//! It contains no networking code and reads no clock: backends do I/O, the caller
//! supplies time and sleeping.
//!
//! ```
//! use std::collections::BTreeMap;
//!
//! use convox_model::check::check;
//! use convox_model::name::Name;
//! use convox_model::params::RackParams;
//! use convox_model::rack::Rack;
//!
//! let yml = "
//! services:
//!   web:
//!     build: .
//!     port: 3000
//!     links: [api]
//!   api:
//!     build: ./api
//!     port: 4000
//!     internal: true
//! ";
//! let params = RackParams::default().with_assignments(["Internal=Yes"])?;
//! let rack = Rack::offline(Name::new("production")?, params, None);
//! let app = Name::new("backend")?;
//!
//! let checked = check(yml, &rack, &app, &BTreeMap::new()).map_err(|d| d.to_string())?;
//! let web = checked.env.service("web").ok_or("no web")?;
//! assert_eq!(web["API_URL"], "https://api.backend.production.convox");
//!
//! // Without Internal=Yes the rack refuses the internal service, naming the fix.
//! let plain = Rack::offline(Name::new("production")?, RackParams::default(), None);
//! let refused = check(yml, &plain, &app, &BTreeMap::new()).err().ok_or("accepted")?;
//! assert!(refused.to_string().contains("rack does not support internal services"));
//! assert!(refused.to_string().contains("convox rack params set Internal=Yes"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! The data flows one way: text → [`manifest`] (read, shapes only) → [`rules`]
//! (one file per rule of convox.yml) → [`exposure`] and [`env`](mod@env) (hostnames,
//! the resolved environment) → [`desired`] state → [`plan`] (against what
//! [`observe`] reads through a [`backend::Backend`]) → [`apply`] → report;
//! [`check`] runs the first part for `convox check`, [`ops`] the whole line for
//! `convox rack params set`, `convox deploy` and `convox plan`, checking the rack
//! rules once at its entry. AWS's facts (quotas, name rules, batch sizes, API
//! rates, delete order) live in [`aws`], read by the planner, the engine and the
//! backends alike; the cloud resources themselves, and their keys, in
//! [`resource`].

// Tests may unwrap: a panic there is a failed test, not a crash on input.
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod apply;
// Day-2 safety: `rack audit`, proof of who can reach what.
pub mod audit;
pub mod aws;
pub mod backend;
// The rack's certificate authority as its identity, and its rotation.
pub mod ca;
pub mod check;
#[cfg(feature = "conformance")]
pub mod conformance;
pub mod desired;
pub mod diag;
pub mod env;
pub mod exposure;
pub mod inventory;
pub mod manifest;
pub mod name;
pub mod observe;
pub mod ops;
pub mod params;
pub mod plan;
pub mod pool;
// Public names get public certificates (issue 12, item 6).
pub mod public_cert;
pub mod rack;
pub mod resource;
// What an embedding deployer attaches its containers to (issue 10).
pub mod routes;
pub mod rules;
// The JSON Schema of convox.yml, for editors: beside the line, built from
// the reader's key lists and the rules' ranges.
pub mod schema;
pub mod tls;
// Certificate expiry and renewal (issue 12).
pub mod renew;
