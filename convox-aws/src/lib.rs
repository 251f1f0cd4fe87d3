//! The AWS backend of `convox-model`: ELBv2, Route53, ACM, EC2 and the Resource
//! Groups Tagging API through the official SDK crates.
//!
//! [`AwsBackend`] implements [`convox_model::backend::Backend`]. It knows what the
//! rack owns by its tags (a resource named like ours without them is not ours),
//! and finds it without reading the rest of the account: the Resource Groups
//! Tagging API names the rack's target groups and certificates, the zone is
//! looked up by its name (see `observe`'s documentation); it passes tags in the
//! create calls themselves;
//! and maps every AWS error through one table ([`error::classify`]) to an
//! [`ErrorKind`](convox_model::backend::ErrorKind) and a retry hint, so that no SDK
//! type crosses its API.
//!
//! ```no_run
//! use convox_aws::AwsBackendBuilder;
//! use convox_model::backend::Backend;
//! use convox_model::name::Name;
//! use convox_model::resource::Scope;
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! // The standard AWS chain; AWS_ENDPOINT_URL points it at an emulator.
//! let aws = AwsBackendBuilder::from_env().build().await?;
//! let rack = Name::new("production")?;
//! for o in aws.observe(&rack, &Scope::Rack).await? {
//!     println!("{} {}", o.resource.key, o.id);
//! }
//! # Ok(()) }
//! ```
//!
//! # Pacing
//!
//! AWS meters every account and region with token buckets per API family, and
//! answers a caller who overdraws with throttling errors. The backend paces itself
//! below those buckets instead: before every attempt (retries and further pages
//! included) it takes a token from its family's bucket and, when the bucket is
//! empty, waits on tokio's clock for the next one. The defaults are AWS's
//! documented ones ([`Pacing::aws_defaults`]):
//!
//! | family | burst | then |
//! | --- | --- | --- |
//! | ELBv2, every call | 40 | 10/s |
//! | ELBv2 mutations, also | 20 | 3/s |
//! | Route53 | 50 | 10/s |
//! | ACM `ImportCertificate` | 1 | 1/s |
//! | ACM, other calls | 5 | 5/s |
//! | EC2 security-group changes | 50 | 5/s |
//! | EC2 reads | 100 | 20/s |
//! | Resource Groups Tagging API | 5 | 5/s (AWS publishes no rate) |
//!
//! The buckets belong to one backend and its clones; AWS's are shared by the whole
//! account, so other tools in it may still spend them.
//! [`AwsBackendBuilder::with_pacing`] sets other rates (lower ones for a busy
//! account, say) and [`AwsBackendBuilder::with_pacing_disabled`] turns pacing off
//! (for an emulator). Adaptive retry
//! ([`AwsBackendBuilder::with_adaptive_retry`]) still helps once AWS throttles
//! regardless, because of those other tools.
//!
//! ```
//! use convox_aws::{AwsBackendBuilder, Pacing, Rate};
//! let mut pacing = Pacing::aws_defaults();
//! pacing.route53 = Rate::new(10, 2.0);
//! let builder = AwsBackendBuilder::from_env().with_pacing(pacing);
//! ```
//!
//! # Testing against moto
//!
//! `scripts/test.sh` installs and starts moto on loopback and sets
//! `CONVOX_MOTO_ENDPOINT`; the tests in `tests/moto.rs` run only then (and fail
//! under `CI` without it).

mod acm;
mod builder;
mod calls;
#[cfg(test)]
mod canned;
mod ec2;
mod elb;
pub mod error;
mod observe;
mod pacing;
mod route53;
// Day-2 safety: `rack audit`.
mod surroundings;
// Observing by tags without listing the region (issue 10).
mod tagging;

use std::sync::Arc;

use async_trait::async_trait;
use convox_model::backend::{
    AppObservation, Backend, BackendResult, CertificatePem, CreatedLoadBalancer,
};
use convox_model::name::Name;
use convox_model::rack::{Rack, Vpc, zone_name};
use convox_model::resource::{
    CertificateSpec, HostedZoneSpec, ListenerRuleSpec, ListenerSpec, LoadBalancerSpec, Observed,
    RecordChange, ResourceKey, Scope, SecurityGroupSpec, Tags, TargetGroupSpec, owned_by,
};
// Day-2 safety: `rack audit`.
use convox_model::resource::Surroundings;

pub use acm::TAG_ISSUER;
pub use builder::{AwsBackendBuilder, BuildError};
pub use calls::{CallCounts, is_mutating, sdk_retries};
pub use observe::{ROLE_LISTENER_CERTIFICATE, ROLE_RECORD};
pub use pacing::{Pacing, Rate};
pub use route53::{MAX_RECORDS_PER_BATCH, OWNER_TXT_TTL, batch_weight};

/// The AWS backend. Cheap to clone: clones share clients and call counts.
#[derive(Clone, Debug)]
pub struct AwsBackend {
    elb: aws_sdk_elasticloadbalancingv2::Client,
    route53: aws_sdk_route53::Client,
    acm: aws_sdk_acm::Client,
    ec2: aws_sdk_ec2::Client,
    tagging: aws_sdk_resourcegroupstagging::Client,
    region: String,
    counter: Arc<calls::Counter>,
    /// What the planner plans against ([`AwsBackendBuilder::with_quotas`]).
    quotas: convox_model::aws::Quotas,
    /// Whether the SDK retries reads (more than one attempt per request).
    retries_reads: bool,
}

impl AwsBackend {
    /// A builder; see [`AwsBackendBuilder`].
    pub fn builder() -> AwsBackendBuilder {
        AwsBackendBuilder::new()
    }

    /// The region the backend acts in.
    pub fn region(&self) -> &str {
        &self.region
    }

    /// Requests sent so far, by operation (retries included).
    pub fn calls(&self) -> CallCounts {
        self.counter.snapshot()
    }

    /// Forgets the requests counted so far.
    pub fn reset_calls(&self) {
        self.counter.reset()
    }

    /// A VPC's CIDR and one subnet per availability zone, sorted by subnet id: what
    /// a [`Rack`] needs when the rack's VPC is given by id.
    pub async fn vpc_network(&self, vpc_id: &str) -> BackendResult<(Vpc, Vec<String>)> {
        ec2::vpc_network(&self.ec2, vpc_id).await
    }

    /// The region's default VPC id, if it has one (emulators and fresh accounts do).
    pub async fn default_vpc(&self) -> BackendResult<Option<String>> {
        ec2::default_vpc(&self.ec2).await
    }

    /// The id of the rack's hosted zone, found by its ownership tags.
    pub async fn rack_zone_id(&self, rack: &Name) -> BackendResult<Option<String>> {
        Ok(self.rack_zone(rack).await?.map(|z| z.id))
    }

    async fn rack_zone(&self, rack: &Name) -> BackendResult<Option<route53::Zone>> {
        let zones = route53::zones(&self.route53, &zone_name(rack), |t| {
            owned_by(t, rack).is_some_and(|k| k == ResourceKey::zone())
        })
        .await?;
        // Two zones claiming to be the rack's: prefer the one holding settings, then
        // the lowest id, so that every process reads the same one.
        Ok(zones.into_iter().min_by_key(|z| {
            (
                !z.tags.keys().any(|k| route53::is_settings_tag(k)),
                z.id.clone(),
            )
        }))
    }
}

/// The trait impl: `observe`, `observe_app` and `load_rack` by hand, every other method handed
/// to the function of the same name in the module of its service, with that
/// service's client (the module and the client field share the name).
macro_rules! impl_backend {
    (
        { $($own:tt)* }
        $($method:ident($($arg:ident: $ty:ty),*) -> $ret:ty => $service:ident;)*
    ) => {
        #[async_trait]
        impl Backend for AwsBackend {
            $($own)*
            $(
                async fn $method(&self, $($arg: $ty),*) -> BackendResult<$ret> {
                    $service::$method(&self.$service, $($arg),*).await
                }
            )*
        }
    };
}

impl_backend! {
    {
        async fn observe(&self, rack: &Name, scope: &Scope) -> BackendResult<Vec<Observed>> {
            observe::observe(self, rack, scope).await
        }

        async fn observe_app(&self, rack: &Name, app: &Name) -> BackendResult<AppObservation> {
            observe::observe_app(self, rack, app).await
        }

        // Router pools: AWS's defaults, or what the builder was given.
        fn quotas(&self) -> convox_model::aws::Quotas {
            self.quotas.clone()
        }

        // The SDK retries reads (and only reads: `sdk_retries`).
        fn retries_reads(&self) -> bool {
            self.retries_reads
        }

        async fn load_rack(&self, rack: &Name) -> BackendResult<Option<Rack>> {
            match self.rack_zone(rack).await? {
                Some(z) => route53::rack_from_tags(rack, &z.tags),
                None => Ok(None),
            }
        }

        // Public certificates, found by their tags (issue 10).
        async fn requested_certificates(
            &self,
            rack: &Name,
        ) -> BackendResult<Vec<convox_model::public_cert::PublicCertificate>> {
            acm::requested_certificates(&self.acm, &self.tagging, rack).await
        }

        // Day-2 safety (audit): what touches the rack without being its own.
        async fn observe_surroundings(&self, rack: &Name) -> BackendResult<Surroundings> {
            surroundings::observe_surroundings(&self.elb, &self.ec2, rack).await
        }
    }
    save_rack(zone_id: &str, rack: &Rack) -> () => route53;
    create_security_group(spec: &SecurityGroupSpec, tags: &Tags) -> String => ec2;
    update_security_group(id: &str, spec: &SecurityGroupSpec) -> () => ec2;
    delete_security_group(id: &str) -> () => ec2;
    create_load_balancer(spec: &LoadBalancerSpec, security_group_id: &str, tags: &Tags) -> CreatedLoadBalancer => elb;
    delete_load_balancer(arn: &str) -> () => elb;
    create_listener(load_balancer_arn: &str, spec: &ListenerSpec, certificate_arn: Option<&str>, tags: &Tags) -> String => elb;
    modify_listener(arn: &str, spec: &ListenerSpec, certificate_arn: Option<&str>) -> () => elb;
    delete_listener(arn: &str) -> () => elb;
    import_certificate(spec: &CertificateSpec, pem: &CertificatePem, tags: &Tags) -> String => acm;
    delete_certificate(arn: &str) -> () => acm;
    add_listener_certificate(listener_arn: &str, certificate_arn: &str) -> () => elb;
    remove_listener_certificate(listener_arn: &str, certificate_arn: &str) -> () => elb;
    create_target_group(spec: &TargetGroupSpec, tags: &Tags) -> String => elb;
    modify_target_group(arn: &str, spec: &TargetGroupSpec) -> () => elb;
    delete_target_group(arn: &str) -> () => elb;
    create_rule(listener_arn: &str, spec: &ListenerRuleSpec, target_group_arn: &str, tags: &Tags) -> String => elb;
    modify_rule(arn: &str, spec: &ListenerRuleSpec, target_group_arn: &str) -> () => elb;
    set_rule_priority(arn: &str, priority: u32) -> () => elb;
    delete_rule(arn: &str) -> () => elb;
    create_hosted_zone(spec: &HostedZoneSpec, tags: &Tags) -> String => route53;
    delete_hosted_zone(id: &str) -> () => route53;
    change_records(zone_id: &str, changes: &[RecordChange]) -> () => route53;
    // Day-2 safety (in place).
    set_load_balancer_subnets(arn: &str, subnets: &[String]) -> () => elb;
    set_load_balancer_security_groups(arn: &str, security_group_ids: &[String]) -> () => elb;
    // Certificate renewal in place (issue 12).
    reimport_certificate(arn: &str, spec: &CertificateSpec, pem: &CertificatePem) -> () => acm;
    // Router pools: an empty load balancer drains before it is removed.
    set_load_balancer_tag(arn: &str, key: &str, value: Option<&str>) -> () => elb;
    // Public certificates for the external router (issue 12, item 6).
    request_certificate(domain: &str, tags: &Tags) -> String => acm;
    describe_certificate(arn: &str) -> convox_model::public_cert::PublicCertificate => acm;
}
