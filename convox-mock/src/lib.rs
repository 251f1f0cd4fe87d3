//! An in-memory backend for `convox-model` that behaves like AWS where it matters.
//!
//! [`MockBackend`] holds a rack's load balancers, listeners, rules, target groups,
//! certificates, security groups, hosted zone and records the way ELBv2, ACM, EC2
//! and Route53 hold them (ARNs and ids shaped like AWS's, tags, ownership TXT
//! records), and refuses what AWS refuses: duplicate names and ports, taken rule
//! priorities, HTTPS listeners without a certificate, records outside the zone,
//! deletes of things in use, quotas. It counts every call (reads and mutations,
//! by operation), can wait a latency, and saves its state as JSON so that a
//! command-line session persists between processes.
//!
//! [`Faulty`] wraps any [`convox_model::backend::Backend`] (this one or AWS) and
//! injects faults, throttling, latency and AWS's rate limits from a seed, so that
//! convergence under failure can be tested and repeated.
//!
//! ```
//! use std::collections::BTreeMap;
//! use std::sync::Arc;
//!
//! use convox_mock::{MockBackend, sleep_fn};
//! use convox_model::apply::ApplyContext;
//! use convox_model::check::parse;
//! use convox_model::name::Name;
//! use convox_model::params::RackParams;
//! use convox_model::rack::Rack;
//! use convox_model::tls::CertificateAuthority;
//! use convox_model::{exposure::Router, ops};
//!
//! # tokio::runtime::Builder::new_current_thread().enable_time().build()?.block_on(async {
//! let backend = MockBackend::new();
//! let now = 1_800_000_000; // the model reads no clock: the caller says when it is
//! let rack = Rack::offline(Name::new("production")?, RackParams::default(), None);
//! let ca = CertificateAuthority::generate(&rack.name, now)?;
//! let ctx = ApplyContext::new(rack.name.clone(), now, sleep_fn(tokio::time::sleep))
//!     .with_issuer(Arc::new(ca));
//!
//! // convox rack params set Internal=Yes
//! let rack = ops::set_rack_params(&backend, &rack, &["Internal=Yes"], &ctx).await?.rack;
//!
//! // convox deploy: web links to an internal api
//! let yml = "services:\n  web:\n    port: 3000\n    links: [api]\n  api:\n    port: 4000\n    internal: true\n";
//! let manifest = parse(yml, &BTreeMap::new()).map_err(|d| d.to_string())?.manifest;
//! let app = Name::new("backend")?;
//! let deployed = ops::deploy(&backend, &rack, &app, &manifest, &ctx).await?;
//! let api = deployed.endpoints.iter().find(|e| e.router == Router::Internal).ok_or("none")?;
//! assert_eq!(api.url(), "https://api.backend.production.convox");
//!
//! // A second deploy of the same input makes no mutating call.
//! backend.reset_calls();
//! let again = ops::deploy(&backend, &rack, &app, &manifest, &ctx).await?;
//! assert!(again.plan.actions.is_empty());
//! assert_eq!(backend.calls().mutations, 0);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # })?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Its own tests are mostly the shared conformance suite
//! (`convox_model::conformance`), which every backend passes.

pub mod faults;
mod ids;
mod mock;
pub mod ops;
mod persist;
mod state;

pub use faults::{
    Fault, FaultCounts, FaultTiming, Faulty, Rate, RateLimits, Target, Trigger, VirtualClock,
};
pub use ids::alb_canonical_zone_id;
pub use mock::{
    CallCounts, DEFAULT_ACCOUNT, DEFAULT_REGION, Inventory, MockBackend, SleepFn, SleepFuture,
    sleep_fn,
};
pub use persist::{StateError, StateLock};
/// How the mock validates requested public certificates.
pub use state::AcmValidation;
pub use state::Quotas;
