//! The moto fixture: a backend in an account of its own, and the VPC to work in.
//!
//! Driven by the environment alone, as `scripts/test.sh` sets it:
//! `CONVOX_MOTO_ENDPOINT` says where moto listens. Without it the tests skip with
//! a message, except under `CI`, where a missing emulator is a failure.

#![allow(dead_code, missing_docs)]

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::time::{SystemTime, UNIX_EPOCH};

use convox_aws::{AwsBackend, AwsBackendBuilder};
use convox_model::backend::CertificatePem;
use convox_model::name::Name;
use convox_model::params::RackParams;
use convox_model::rack::{Rack, Vpc};

/// The variable naming moto's endpoint.
pub const ENDPOINT_VAR: &str = "CONVOX_MOTO_ENDPOINT";

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

/// moto's endpoint, or `None` (with a message) when the tests should skip.
pub fn endpoint() -> Option<String> {
    match std::env::var(ENDPOINT_VAR) {
        Ok(v) if !v.is_empty() => Some(v),
        _ => {
            assert!(
                std::env::var_os("CI").is_none(),
                "{ENDPOINT_VAR} is not set under CI: the AWS tests must run; use scripts/test.sh"
            );
            eprintln!("AWS tests skipped: {ENDPOINT_VAR} not set; run scripts/test.sh");
            None
        }
    }
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
    /// The fixture for `test`, or `None` when moto is not configured.
    pub async fn new(test: &str) -> Option<MotoEnv> {
        let endpoint = endpoint()?;
        let account = account_id(test);
        let region = "us-east-1".to_string();
        let backend = Self::builder_for(&endpoint, &account, &region)
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
        Some(MotoEnv {
            backend,
            endpoint,
            account,
            region,
            rack: Name::new("test").expect("rack name"),
            vpc,
            subnets,
        })
    }

    /// A builder aimed at moto in `account`: fake credentials, no retries, no
    /// pacing (moto does not throttle, and the tests make each call count anyway).
    pub fn builder_for(endpoint: &str, account: &str, region: &str) -> AwsBackendBuilder {
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

    /// The rack as the conformance suite and the CLI see it.
    pub fn rack_config(&self, params: RackParams) -> Rack {
        Rack {
            name: self.rack.clone(),
            region: self.region.clone(),
            vpc: self.vpc.clone(),
            subnets: self.subnets.clone(),
            router_host: "test.example.com".to_string(),
            params,
        }
    }
}

/// A fixture certificate: `app` (`*.backend.test.convox`), `internal`
/// (`*.test.convox`) or `external` (`*.test.example.com`).
pub fn certificate(name: &str) -> CertificatePem {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");
    let read = |f: String| std::fs::read_to_string(format!("{dir}/{f}")).expect("fixture");
    CertificatePem {
        certificate: read(format!("{name}.pem")),
        private_key: read(format!("{name}.key")),
        chain: read("ca.pem".to_string()),
    }
}

/// Where moto 5.2.5 answers differently from AWS: what the conformance suite's gap
/// flags should say on moto. `moto_gaps_are_as_documented` checks all but the
/// quotas, which would take a hundred rules to probe.
#[derive(Debug, Clone, Copy)]
pub struct MotoGaps {
    /// A second load balancer or target group of a taken name is created.
    pub accepts_duplicate_names: bool,
    /// A second listener on a taken port is created.
    pub accepts_duplicate_listener_ports: bool,
    /// No rules-per-load-balancer or certificates-per-listener quota.
    pub no_quotas: bool,
    /// Deleting a missing rule succeeds.
    pub deletes_missing_rules: bool,
    /// A DELETE of a missing record is InvalidInput, not a conflict.
    pub missing_record_delete_is_invalid_input: bool,
    /// ACM deletes a certificate a listener uses (AWS: ResourceInUseException).
    pub deletes_certificates_in_use: bool,
    /// EC2 deletes a security group a load balancer uses (AWS:
    /// DependencyViolation).
    pub deletes_security_groups_in_use: bool,
}

/// moto 5.2.5's gaps. (It does refuse a Route53 CREATE of an existing record, and
/// deleting a target group a rule forwards to, as AWS does.)
pub const MOTO_GAPS: MotoGaps = MotoGaps {
    accepts_duplicate_names: true,
    accepts_duplicate_listener_ports: true,
    no_quotas: true,
    deletes_missing_rules: true,
    missing_record_delete_is_invalid_input: true,
    deletes_certificates_in_use: true,
    deletes_security_groups_in_use: true,
};
