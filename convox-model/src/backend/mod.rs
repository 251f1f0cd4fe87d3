//! The [`Backend`] trait: the small, primitive verbs the apply engine drives.
//!
//! One verb per resource kind and action, plus [`Backend::observe`]. No SDK type
//! crosses this boundary: arguments are the plain specs of [`crate::resource`] and
//! provider ids as strings; every failure is a [`BackendError`] with a kind and
//! whether a retry may help.
//!
//! # Contract, for every verb
//!
//! - Create verbs attach the given tags in the same call (AWS bills every call).
//! - A verb that fails has made no change it does not report, or one that the next
//!   [`Backend::observe`] reveals (a resource created but reported as failed must be
//!   tagged, so that it is observed and adopted or deleted later).
//! - Verbs never touch a resource that the caller did not name by id; deletes and
//!   updates are only ever called with ids the backend reported as owned.

use std::fmt;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::aws::Quotas;
use crate::name::Name;
use crate::public_cert::PublicCertificate;
use crate::rack::Rack;
use crate::resource::{
    CertificateSpec, HostedZoneSpec, ListenerRuleSpec, ListenerSpec, LoadBalancerAddress,
    LoadBalancerSpec, Observed, RecordChange, Scope, SecurityGroupSpec, Tags, TargetGroupSpec,
};
// Day-2 safety: `rack audit`.
use crate::resource::Surroundings;
/// Re-exported from [`crate::tls`], where the certificate and its key are made.
pub use crate::tls::CertificatePem;

/// What kind of failure a backend call met.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ErrorKind {
    /// The resource named does not exist.
    NotFound,
    /// A resource with that name or port already exists.
    AlreadyExists,
    /// The request conflicts with the current state (in use, priority taken,
    /// dependency not yet gone).
    Conflict,
    /// The provider asked us to slow down.
    Throttled,
    /// The request was malformed or broke a provider rule.
    InvalidInput,
    /// A provider quota would be exceeded.
    QuotaExceeded,
    /// The credentials lack permission.
    Permission,
    /// Anything else: network failures, server errors, surprises.
    Unexpected,
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ErrorKind::NotFound => "not found",
            ErrorKind::AlreadyExists => "already exists",
            ErrorKind::Conflict => "conflict",
            ErrorKind::Throttled => "throttled",
            ErrorKind::InvalidInput => "invalid input",
            ErrorKind::QuotaExceeded => "quota exceeded",
            ErrorKind::Permission => "permission denied",
            ErrorKind::Unexpected => "unexpected",
        })
    }
}

/// A failed backend call.
///
/// `Display` gives the operation, the kind and the message; the provider's own
/// error, when there is one, is the [`std::error::Error::source`].
#[derive(Debug, thiserror::Error)]
#[error("{operation}: {kind}: {message}")]
pub struct BackendError {
    kind: ErrorKind,
    retryable: bool,
    operation: String,
    message: String,
    #[source]
    source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
}

impl BackendError {
    /// An error of `kind`; retryable when the kind is [`ErrorKind::Throttled`].
    pub fn new(kind: ErrorKind, operation: impl Into<String>, message: impl Into<String>) -> Self {
        BackendError {
            kind,
            retryable: kind == ErrorKind::Throttled,
            operation: operation.into(),
            message: message.into(),
            source: None,
        }
    }

    /// Sets whether a retry may help.
    pub fn retryable(mut self, retryable: bool) -> Self {
        self.retryable = retryable;
        self
    }

    /// The kind.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// Whether the same call may succeed if retried later.
    pub fn is_retryable(&self) -> bool {
        self.retryable
    }

    /// The operation, such as `CreateRule`.
    pub fn operation(&self) -> &str {
        &self.operation
    }

    /// What went wrong, for people.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The same error with `more` said after its message (what it left, what
    /// to do).
    pub fn explained(mut self, more: impl std::fmt::Display) -> Self {
        self.message = format!("{}; {more}", self.message);
        self
    }

    /// Attaches the provider's error.
    pub fn with_source(
        mut self,
        source: impl Into<Box<dyn std::error::Error + Send + Sync + 'static>>,
    ) -> Self {
        self.source = Some(source.into());
        self
    }
}

/// Result of a backend call.
pub type BackendResult<T> = Result<T, BackendError>;

/// A created load balancer: its ARN and where it answers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreatedLoadBalancer {
    /// Its ARN.
    pub arn: String,
    /// Its DNS name and canonical hosted zone id.
    pub address: LoadBalancerAddress,
}

/// What a deploy of one app reads before it plans, in one go
/// ([`Backend::observe_app`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct AppObservation {
    /// The rack as stored ([`Backend::load_rack`]): `None` if never saved.
    pub stored: Option<Rack>,
    /// The rack's own resources, the app's, and the obstacles on the rack's
    /// listeners ([`Scope::Deploy`]).
    pub observed: Vec<Observed>,
    /// The public certificates requested for the rack's external router
    /// ([`Backend::requested_certificates`]).
    pub requested: Vec<PublicCertificate>,
}

impl AppObservation {
    /// The three parts, as a backend read them.
    pub fn new(
        stored: Option<Rack>,
        observed: Vec<Observed>,
        requested: Vec<PublicCertificate>,
    ) -> Self {
        AppObservation {
            stored,
            observed,
            requested,
        }
    }
}

mod forward;
mod methods;

/// Where the resources live and do their work: AWS, or a model of it.
///
/// Held as `Arc<dyn Backend>` by embedding tools: `&B`, `Arc<B>` and `Box<B>` are
/// backends whenever `B` is (`B` may be `dyn Backend`), forwarding every verb. Every method may be called
/// concurrently with others (on different resources).
#[async_trait]
pub trait Backend: Send + Sync + fmt::Debug {
    /// Every resource that exists in `scope` of `rack` and is owned by it (carries
    /// its ownership tags), with references resolved back to keys.
    ///
    /// # Behavior
    /// - Never returns a resource without the rack's `convox:rack` and `convox:key`
    ///   tags (or, for a record, the ownership TXT record), except:
    /// - [`Scope::Deploy`]: see there; what it reports besides the rack's and
    ///   the app's own resources are obstacles under foreign keys, and the
    ///   other apps' rules that may take one of the app's hostnames.
    /// - Foreign rules: for [`Scope::Apps`], [`Scope::All`] and [`Scope::Deploy`], also every rule on one of the rack's
    ///   listeners that the rack does not own, under
    ///   [`ResourceKey::foreign_rule`](crate::resource::ResourceKey::foreign_rule)
    ///   of its id, with no tags: obstacles whose priorities the planner keeps
    ///   clear of and which nothing changes.
    /// - Returns an empty list, not an error, when the rack has nothing yet.
    async fn observe(&self, rack: &Name, scope: &Scope) -> BackendResult<Vec<Observed>>;

    /// What a deploy of `app` plans from: the stored rack, the
    /// [`Scope::Deploy`] observation and the requested public certificates.
    /// The default makes the three calls ([`Backend::load_rack`],
    /// [`Backend::observe`], [`Backend::requested_certificates`]); a backend
    /// that can read them together for less overrides it (the AWS backend
    /// finds the zone once for the first two, and reads the certificates' status
    /// with the rest).
    async fn observe_app(&self, rack: &Name, app: &Name) -> BackendResult<AppObservation> {
        let stored = self.load_rack(rack).await?;
        let observed = self.observe(rack, &Scope::Deploy(app.clone())).await?;
        let requested = self.requested_certificates(rack).await?;
        Ok(AppObservation::new(stored, observed, requested))
    }

    /// The provider's quotas where this backend's resources live: what it
    /// enforces and what the planner checks before changing anything
    /// ([`crate::ops`] plans with them). AWS's defaults unless the backend knows
    /// better (an account with raised quotas, a mock with lowered ones).
    fn quotas(&self) -> Quotas {
        Quotas::default()
    }

    /// Whether the backend retries its own reads (the AWS backend's SDK does,
    /// unless built with one attempt per request). The apply engine then
    /// leaves them to it, so that every call has one retry layer: mutations
    /// the engine's ([`crate::apply::RetryPolicy`]), reads the backend's, or
    /// the engine's when the backend has none.
    fn retries_reads(&self) -> bool {
        false
    }

    /// The rack's stored settings and parameters, or `None` if it was never saved.
    async fn load_rack(&self, rack: &Name) -> BackendResult<Option<Rack>>;

    /// Stores the rack's settings and parameters where a later process finds them.
    ///
    /// # Behavior
    /// - The rack's hosted zone must exist (`zone_id`); AWS keeps the settings as
    ///   its tags.
    async fn save_rack(&self, zone_id: &str, rack: &Rack) -> BackendResult<()>;

    /// Creates a security group with exactly `spec.ingress`; returns its id.
    async fn create_security_group(
        &self,
        spec: &SecurityGroupSpec,
        tags: &Tags,
    ) -> BackendResult<String>;

    /// Makes the group's ingress exactly `spec.ingress` (adds and revokes).
    async fn update_security_group(&self, id: &str, spec: &SecurityGroupSpec) -> BackendResult<()>;

    /// Deletes a security group. `Conflict` while a load balancer still uses it.
    async fn delete_security_group(&self, id: &str) -> BackendResult<()>;

    /// Creates an application load balancer in `security_group_id`.
    ///
    /// # Behavior
    /// - `AlreadyExists` if the name is taken by a load balancer with other
    ///   settings; `InvalidInput` if it is longer than 32 characters or starts with
    ///   `internal-`.
    /// - Idempotent, as AWS is: the same name, scheme, subnets and security group
    ///   again return the existing load balancer.
    async fn create_load_balancer(
        &self,
        spec: &LoadBalancerSpec,
        security_group_id: &str,
        tags: &Tags,
    ) -> BackendResult<CreatedLoadBalancer>;

    /// Deletes a load balancer and, with it, its listeners and their rules.
    async fn delete_load_balancer(&self, arn: &str) -> BackendResult<()>;

    /// Creates a listener on `load_balancer_arn`; returns its ARN.
    ///
    /// # Behavior
    /// - `InvalidInput` for HTTPS without `certificate_arn`; `AlreadyExists` if the
    ///   port is taken on that load balancer by a listener with other settings.
    /// - Idempotent, as AWS is: the same port, protocol, default action and
    ///   certificate again return the existing listener.
    async fn create_listener(
        &self,
        load_balancer_arn: &str,
        spec: &ListenerSpec,
        certificate_arn: Option<&str>,
        tags: &Tags,
    ) -> BackendResult<String>;

    /// Sets a listener's protocol, default action and default certificate.
    async fn modify_listener(
        &self,
        arn: &str,
        spec: &ListenerSpec,
        certificate_arn: Option<&str>,
    ) -> BackendResult<()>;

    /// Deletes a listener and its rules.
    async fn delete_listener(&self, arn: &str) -> BackendResult<()>;

    /// Imports a certificate; returns its ARN.
    async fn import_certificate(
        &self,
        spec: &CertificateSpec,
        pem: &CertificatePem,
        tags: &Tags,
    ) -> BackendResult<String>;

    /// Deletes a certificate. `Conflict` while a listener uses it.
    async fn delete_certificate(&self, arn: &str) -> BackendResult<()>;

    /// Attaches a certificate to a listener for SNI. Attaching one already
    /// attached succeeds. `QuotaExceeded` past the listener's certificate quota.
    async fn add_listener_certificate(
        &self,
        listener_arn: &str,
        certificate_arn: &str,
    ) -> BackendResult<()>;

    /// Detaches a certificate from a listener. Detaching one not attached succeeds.
    async fn remove_listener_certificate(
        &self,
        listener_arn: &str,
        certificate_arn: &str,
    ) -> BackendResult<()>;

    /// Creates a target group; returns its ARN. `AlreadyExists` if the name is taken
    /// with other settings.
    async fn create_target_group(
        &self,
        spec: &TargetGroupSpec,
        tags: &Tags,
    ) -> BackendResult<String>;

    /// Updates a target group's health check (the only mutable part).
    async fn modify_target_group(&self, arn: &str, spec: &TargetGroupSpec) -> BackendResult<()>;

    /// Deletes a target group. `Conflict` while a rule forwards to it.
    async fn delete_target_group(&self, arn: &str) -> BackendResult<()>;

    /// Creates a rule on `listener_arn` forwarding to `target_group_arn`; returns its
    /// ARN.
    ///
    /// # Behavior
    /// - `spec.priority` must be `Some`; `Conflict` if it is taken on the listener
    ///   (`PriorityInUse`); `QuotaExceeded` past the rules-per-load-balancer quota.
    async fn create_rule(
        &self,
        listener_arn: &str,
        spec: &ListenerRuleSpec,
        target_group_arn: &str,
        tags: &Tags,
    ) -> BackendResult<String>;

    /// Sets a rule's host-header condition and forward target (not its priority).
    async fn modify_rule(
        &self,
        arn: &str,
        spec: &ListenerRuleSpec,
        target_group_arn: &str,
    ) -> BackendResult<()>;

    /// Sets a rule's priority. `Conflict` if it is taken by another rule.
    async fn set_rule_priority(&self, arn: &str, priority: u32) -> BackendResult<()>;

    /// Deletes a rule.
    async fn delete_rule(&self, arn: &str) -> BackendResult<()>;

    /// Creates a private hosted zone associated with the spec's VPC; returns its id.
    async fn create_hosted_zone(&self, spec: &HostedZoneSpec, tags: &Tags)
    -> BackendResult<String>;

    /// Deletes a hosted zone. `Conflict` while it holds records besides SOA and NS.
    async fn delete_hosted_zone(&self, id: &str) -> BackendResult<()>;

    /// Applies record changes to a zone atomically: all or none.
    ///
    /// # Behavior
    /// - Each change covers the alias A record and its ownership TXT record.
    /// - `InvalidInput` for a name outside the zone or a batch over the provider's
    ///   limit; `Conflict` for CREATE of an existing record or DELETE of a missing one.
    async fn change_records(&self, zone_id: &str, changes: &[RecordChange]) -> BackendResult<()>;

    // Day-2 safety (audit): what touches the rack's resources without being its own.

    /// What touches `rack`'s resources without being owned by it: every
    /// security group on its load balancers (the foreign ones with their
    /// ingress) and every rule on its listeners that it does not own. What
    /// `rack audit` ([`crate::audit`]) reads besides [`Backend::observe`].
    ///
    /// # Behavior
    /// - Reads only, and reports nothing for the planner to act on.
    /// - The default answers `Unexpected`: a backend that cannot see what
    ///   surrounds the rack must not let an audit pass for clean.
    async fn observe_surroundings(&self, rack: &Name) -> BackendResult<Surroundings> {
        Err(BackendError::new(
            ErrorKind::Unexpected,
            "ObserveSurroundings",
            format!(
                "this backend cannot read what surrounds rack {rack}'s resources (security groups and rules it does not own), so it cannot be audited"
            ),
        ))
    }

    // Day-2 safety (in place): a router's network changes without replacing it.

    /// Sets a load balancer's subnets (ELBv2 `SetSubnets`): it keeps its ARN,
    /// DNS name, listeners and rules.
    ///
    /// # Behavior
    /// - `InvalidInput` for fewer than two subnets or two in one availability
    ///   zone (where the backend knows the zones); `NotFound` for an unknown ARN.
    async fn set_load_balancer_subnets(&self, arn: &str, subnets: &[String]) -> BackendResult<()>;

    /// Makes a load balancer's security groups exactly `security_group_ids`
    /// (ELBv2 `SetSecurityGroups`): it keeps its ARN and everything on it.
    ///
    /// # Behavior
    /// - `InvalidInput` for an empty list; `NotFound` for an unknown ARN or group.
    async fn set_load_balancer_security_groups(
        &self,
        arn: &str,
        security_group_ids: &[String],
    ) -> BackendResult<()>;

    // Certificate renewal in place (issue 12).

    /// Re-imports a renewed certificate over the one with ARN `arn`, as ACM's
    /// `ImportCertificate` with `CertificateArn` does.
    ///
    /// # Behavior
    /// - The ARN, the tags and every listener that uses the certificate (as its
    ///   default or attached) are kept: nothing else changes, and no name served
    ///   with it is ever uncovered.
    /// - The next [`Backend::observe`] reports the new certificate's validity
    ///   ([`Observed::not_after`]).
    /// - The certificate's issuer is `spec`'s from then on: a rotation of the
    ///   rack's authority re-issues each certificate in place, so that it needs
    ///   no free certificate slot on the listeners that use it. (`spec`'s
    ///   domain is the certificate's own.)
    /// - Router pools (issue 9): its further names ([`CertificateSpec::names`])
    ///   are `spec`'s from then on, as the new PEM's; ACM lets a re-import add
    ///   or remove names.
    /// - `NotFound` if there is no certificate `arn`; `InvalidInput` if the PEM
    ///   is not a certificate and key. Re-importing the same PEM again succeeds.
    async fn reimport_certificate(
        &self,
        arn: &str,
        spec: &CertificateSpec,
        pem: &CertificatePem,
    ) -> BackendResult<()>;

    // --- Public certificates for the external router (issue 12, item 6) ---

    /// Requests a public certificate for `domain` from ACM with DNS validation,
    /// tagged with `tags` in the same call; returns its ARN. It starts
    /// `PENDING_VALIDATION` until its validation record is published.
    ///
    /// The default refuses: a backend without ACM cannot request certificates.
    async fn request_certificate(&self, domain: &str, tags: &Tags) -> BackendResult<String> {
        let _ = tags;
        Err(BackendError::new(
            ErrorKind::InvalidInput,
            "RequestCertificate",
            format!("this backend cannot request a certificate for {domain}"),
        ))
    }

    /// A certificate by ARN, whoever owns it: its names, status and validation
    /// CNAME(s). `NotFound` when there is none.
    async fn describe_certificate(&self, arn: &str) -> BackendResult<PublicCertificate> {
        Err(BackendError::new(
            ErrorKind::NotFound,
            "DescribeCertificate",
            format!("certificate {arn} not found"),
        ))
    }

    /// The certificates requested for `rack` ([`Backend::request_certificate`]
    /// with [`crate::public_cert::request_tags`]), whatever their status.
    async fn requested_certificates(&self, rack: &Name) -> BackendResult<Vec<PublicCertificate>> {
        let _ = rack;
        Ok(Vec::new())
    }

    // Router pools: an empty load balancer drains before it is removed.

    /// Sets (`Some`) or removes (`None`) one tag of a load balancer (ELBv2
    /// `AddTags` / `RemoveTags`); its other tags are kept. [`Backend::observe`]
    /// reports [`TAG_EMPTY_SINCE`](crate::resource::TAG_EMPTY_SINCE) among a
    /// load balancer's tags.
    ///
    /// # Behavior
    /// - Removing a tag it does not have succeeds; `NotFound` for an unknown ARN.
    async fn set_load_balancer_tag(
        &self,
        arn: &str,
        key: &str,
        value: Option<&str>,
    ) -> BackendResult<()>;
}
