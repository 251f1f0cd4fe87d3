//! What the plan and pools benchmarks share: a rack with an internal router
//! and its authority, a runtime, apply contexts, and a mock reconciled to the
//! rack.

// Each benchmark uses part of this.
#![allow(dead_code)]

use std::sync::Arc;

use convox_mock::{MockBackend, Quotas as MockQuotas, sleep_fn};
use convox_model::apply::ApplyContext;
use convox_model::name::Name;
use convox_model::observe::observe_all;
use convox_model::ops::set_rack_params;
use convox_model::params::RackParams;
use convox_model::rack::Rack;
use convox_model::resource::Observed;
use convox_model::tls::CertificateAuthority;
use tokio::runtime::Runtime;

/// The time every benchmark runs at.
pub const NOW: i64 = 1_700_000_000;

pub fn name(s: &str) -> Name {
    Name::new(s).unwrap()
}

/// A single-threaded runtime with time, as the mock's latency needs.
pub fn runtime() -> Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap()
}

/// Rack `production` with `Internal=Yes`, and its authority.
pub struct Rig {
    pub rack: Rack,
    pub ca: Arc<CertificateAuthority>,
}

impl Rig {
    pub fn new() -> Self {
        let rack = Rack::new(
            name("production"),
            RackParams::new(true, false).unwrap(),
            None,
        );
        let ca = Arc::new(CertificateAuthority::generate(&rack.name, NOW).unwrap());
        Rig { rack, ca }
    }

    /// An apply context for the rack: it issues with the rack's authority,
    /// sleeps for real and makes up to `concurrency` calls at once.
    pub fn ctx(&self, concurrency: usize) -> ApplyContext {
        ApplyContext::new(self.rack.name.clone(), NOW, sleep_fn(tokio::time::sleep))
            .with_issuer(self.ca.clone())
            .with_concurrency(concurrency)
    }

    /// A mock with `quotas` holding the rack's own resources, reconciled.
    pub fn rack_only(&self, rt: &Runtime, quotas: MockQuotas) -> MockBackend {
        let mock = MockBackend::new().with_quotas(quotas);
        rt.block_on(set_rack_params(&mock, &self.rack, &[], &self.ctx(8)))
            .unwrap();
        mock
    }

    /// What `mock` holds: the rack's resources and every app's.
    pub fn observe(&self, rt: &Runtime, mock: &MockBackend) -> Vec<Observed> {
        rt.block_on(observe_all(mock, &self.rack.name)).unwrap()
    }
}
