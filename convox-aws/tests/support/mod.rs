//! The moto fixture: a backend in an account of its own, the VPC to work in, and
//! the witnesses that check the backend from outside (moto's request recorder,
//! boto3).
//!
//! Driven by the environment alone, as `scripts/test.sh` sets it (see
//! [`env`]). The tests using it are `ignore`d unless `cfg(moto)` is set; when they
//! run, a missing emulator fails them.

#![allow(dead_code, missing_docs)]

pub mod env;
pub mod gaps;
pub mod inspect;
pub mod recorder;
pub mod server;
pub mod specs;

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

use convox_aws::{AwsBackend, AwsBackendBuilder};
use convox_model::backend::CertificatePem;
use convox_model::conformance::{ConformanceContext, Gaps};
use convox_model::name::Name;
use convox_model::params::RackParams;
use convox_model::rack::{Rack, Vpc};
use convox_model::tls::CertificateAuthority;

/// One test's world: its own moto account, a backend acting in it, the account's
/// default VPC and subnets, and a rack name.
#[derive(Debug, Clone)]
pub struct MotoEnv {
    pub backend: AwsBackend,
    pub endpoint: String,
    pub account: String,
    pub region: String,
    pub rack: Name,
    pub vpc: Vpc,
    pub subnets: Vec<String>,
}

/// A valid name; panics on a typo in a test.
pub fn name(s: &str) -> Name {
    Name::new(s).unwrap_or_else(|e| panic!("{s}: {e}"))
}

/// Seconds since the epoch.
pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// A 12-digit account id unique to this test and this run, so that tests share one
/// moto server without seeing each other's resources, and reruns start clean.
pub fn account_id(test: &str) -> String {
    let mut h = DefaultHasher::new();
    test.hash(&mut h);
    std::process::id().hash(&mut h);
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default()
        .hash(&mut h);
    // 100000000000..=999999999999: twelve digits, no leading zero.
    format!("{}", 100_000_000_000 + h.finish() % 900_000_000_000)
}

impl MotoEnv {
    /// The fixture for `test` on the shared moto server.
    pub async fn new(test: &str) -> MotoEnv {
        MotoEnv::on(&env::endpoint(), test).await
    }

    /// The fixture for `test` on the moto server at `endpoint`.
    pub async fn on(endpoint: &str, test: &str) -> MotoEnv {
        let account = account_id(test);
        let region = "us-east-1".to_string();
        let backend = Self::builder_for(endpoint, &account, &region)
            .build()
            .await
            .expect("backend for moto");
        let vpc_id = backend
            .default_vpc()
            .await
            .expect("DescribeVpcs on moto")
            .expect("moto's account has a default VPC");
        let (vpc, subnets) = backend
            .vpc_network(&vpc_id)
            .await
            .expect("the default VPC's network");
        assert!(
            subnets.len() >= 2,
            "an ALB needs two zones; moto gave {subnets:?}"
        );
        backend.reset_calls();
        MotoEnv {
            backend,
            endpoint: endpoint.to_string(),
            account,
            region,
            rack: name("test"),
            vpc,
            subnets,
        }
    }

    /// A builder aimed at moto in `account`: fake credentials, no retries, no
    /// pacing (moto does not throttle, and the tests make each call count anyway).
    pub fn builder_for(endpoint: &str, account: &str, region: &str) -> AwsBackendBuilder {
        env::assert_loopback(endpoint);
        AwsBackendBuilder::new()
            .with_region(region)
            .with_endpoint_url(endpoint)
            .with_credentials("testing", "testing")
            .with_header("x-moto-account-id", account)
            .with_retry_disabled()
            .with_pacing_disabled()
    }

    /// Another backend in the same account (a second process, say).
    pub async fn another_backend(&self) -> AwsBackend {
        Self::builder_for(&self.endpoint, &self.account, &self.region)
            .build()
            .await
            .expect("second backend")
    }

    /// The rack `rack`, with the given `router_host`, in this account's network.
    pub fn rack(&self, rack: Name, router_host: &str, params: RackParams) -> Rack {
        Rack {
            name: rack,
            region: self.region.clone(),
            vpc: self.vpc.clone(),
            subnets: self.subnets.clone(),
            router_host: router_host.to_string(),
            params,
            ca: None,
            external_certificate: None,
        }
    }

    /// The rack as the conformance suite and the CLI see it.
    pub fn rack_config(&self, params: RackParams) -> Rack {
        self.rack(self.rack.clone(), "test.example.com", params)
    }

    /// The conformance suite's context in this account, with `gaps` declared.
    pub fn conformance(&self, gaps: Gaps) -> ConformanceContext {
        ConformanceContext::new(name("conf"), issued)
            .with_network(self.region.clone(), self.vpc.clone(), self.subnets.clone())
            .with_gaps(gaps)
    }
}

/// A fixture certificate: `app` (`*.backend.test.convox`), `internal`
/// (`*.test.convox`) or `external` (`*.test.example.com`).
pub fn certificate(name: &str) -> CertificatePem {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");
    let read = |f: String| {
        std::fs::read_to_string(format!("{dir}/{f}")).unwrap_or_else(|e| panic!("{f}: {e}"))
    };
    CertificatePem {
        certificate: read(format!("{name}.pem")),
        private_key: read(format!("{name}.key")),
        chain: read("ca.pem".to_string()),
    }
}

/// A real certificate for `domain`, signed by the run's CA (the one the library
/// itself uses for racks): moto parses what it imports.
pub fn issued(domain: &str) -> CertificatePem {
    static CA: OnceLock<CertificateAuthority> = OnceLock::new();
    CA.get_or_init(|| CertificateAuthority::generate(&name("conformance"), now()).expect("CA"))
        .issue(domain, now())
        .expect("certificate")
}
