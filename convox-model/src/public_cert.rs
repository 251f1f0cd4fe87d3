//! Public names get public certificates: the external router's certificate.
//!
//! The external router serves `*.{router host}` to the internet, so its
//! certificate must come from a CA browsers trust, never from the rack's private
//! CA. Either the user owns one in ACM and gives its ARN
//! ([`Rack::external_certificate`], `--external-certificate ARN`), or the rack
//! requests one from ACM with DNS validation
//! ([`Backend::request_certificate`]) and the user publishes the validation
//! CNAME(s).
//!
//! ACM renews such certificates itself: the planner only checks that the
//! certificate covers the router host and whether it is issued. Until it is,
//! the external router has no HTTPS listener and the external endpoints wait
//! ([`ExternalCertificate::is_waiting`]); the next deploy after issuance creates
//! the listener and the endpoints' rules.
//!
//! The listener refers to the certificate by [`certificate_reference`], a key
//! that carries the ARN itself: the rack does not own the certificate (a
//! user-supplied one is never touched), so it is no resource of the plan.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::backend::{Backend, BackendError, ErrorKind};
use crate::desired::{DesiredState, desired_rack_pool};
use crate::exposure::Router;
use crate::rack::Rack;
use crate::resource::{Observed, ResourceKey, TAG_RACK, TAG_ROLE, Tags};

/// The `convox:role` of a certificate the rack requested from ACM. Such a
/// certificate carries no `convox:key`: it is not a resource the planner
/// creates or deletes, and [`Backend::observe`] does not list it.
pub const ROLE_PUBLIC_CERTIFICATE: &str = "public-cert";

/// The tag naming the domain a requested certificate was requested for.
pub const TAG_PUBLIC_DOMAIN: &str = "convox:public-domain";

/// Where ACM is with a certificate.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum CertificateStatus {
    /// Requested; ACM waits for the validation record(s) to be published.
    PendingValidation,
    /// Issued: listeners may serve it.
    Issued,
    /// Anything else ACM says (`EXPIRED`, `FAILED`, `VALIDATION_TIMED_OUT`,
    /// `REVOKED`, `INACTIVE`), as ACM spells it.
    Other(String),
}

impl CertificateStatus {
    /// Reads ACM's spelling (`PENDING_VALIDATION`, `ISSUED`, ...).
    pub fn from_acm(s: &str) -> Self {
        match s {
            "PENDING_VALIDATION" => CertificateStatus::PendingValidation,
            "ISSUED" => CertificateStatus::Issued,
            other => CertificateStatus::Other(other.to_string()),
        }
    }

    /// As ACM spells it.
    pub fn as_acm(&self) -> &str {
        match self {
            CertificateStatus::PendingValidation => "PENDING_VALIDATION",
            CertificateStatus::Issued => "ISSUED",
            CertificateStatus::Other(s) => s,
        }
    }
}

impl fmt::Display for CertificateStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_acm())
    }
}

/// A DNS record ACM wants published to validate a domain: a CNAME.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ValidationRecord {
    /// The record's name, such as `_x1.production.example.com.`.
    pub name: String,
    /// What it points at, such as `_x2.acm-validations.aws.`.
    pub value: String,
}

impl fmt::Display for ValidationRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} CNAME {}", self.name, self.value)
    }
}

/// A certificate in ACM as the external router needs to know it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublicCertificate {
    /// Its ARN.
    pub arn: String,
    /// Its domain name.
    pub domain: String,
    /// Its subject alternative names (ACM lists the domain among them).
    #[serde(default)]
    pub sans: Vec<String>,
    /// Where ACM is with it.
    pub status: CertificateStatus,
    /// The CNAME(s) to publish for DNS validation (sorted, without duplicates).
    #[serde(default)]
    pub validation: Vec<ValidationRecord>,
}

impl PublicCertificate {
    /// The names it covers: its domain and its SANs.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.domain.as_str()).chain(self.sans.iter().map(String::as_str))
    }

    /// Whether it covers `domain` (such as `*.production.example.com`): one of
    /// its names is `domain` itself.
    pub fn covers(&self, domain: &str) -> bool {
        let norm = |s: &str| s.trim_end_matches('.').to_ascii_lowercase();
        self.names().any(|n| norm(n) == norm(domain))
    }

    /// Whether listeners may serve it.
    pub fn is_issued(&self) -> bool {
        self.status == CertificateStatus::Issued
    }
}

/// The key a listener uses for a certificate the rack does not own: `foreign:{arn}`,
/// as backends report a listener's certificate they have no key for. The apply
/// engine reads the ARN back from it ([`referenced_arn`]).
pub fn certificate_reference(arn: &str) -> ResourceKey {
    ResourceKey::from_raw(format!("foreign:{arn}"))
}

/// The ARN of a [`certificate_reference`], if `key` is one (`foreign:arn:…`).
pub fn referenced_arn(key: &ResourceKey) -> Option<&str> {
    key.as_str()
        .strip_prefix("foreign:")
        .filter(|arn| arn.starts_with("arn:"))
}

/// The tags the rack requests a certificate with: its rack, the role
/// [`ROLE_PUBLIC_CERTIFICATE`] and the domain (no `convox:key`).
pub fn request_tags(rack: &Rack, domain: &str) -> Tags {
    [
        (TAG_RACK.to_string(), rack.name.to_string()),
        (TAG_ROLE.to_string(), ROLE_PUBLIC_CERTIFICATE.to_string()),
        (TAG_PUBLIC_DOMAIN.to_string(), domain.to_string()),
    ]
    .into_iter()
    .collect()
}

/// Where the external router's certificate is: the model-level status the plan,
/// the deploy output and `rack audit` read.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
#[non_exhaustive]
pub enum ExternalCertificate {
    /// The rack has no external router.
    NotNeeded,
    /// No certificate yet: the next deploy (or `rack params set`) requests one
    /// for `domain` from ACM.
    NotRequested {
        /// `*.{router host}`.
        domain: String,
    },
    /// The certificate exists and is not issued yet: external endpoints wait.
    Pending {
        /// The certificate, with the validation CNAME(s) to publish.
        certificate: PublicCertificate,
        /// Whether the user supplied it (`--external-certificate`) rather than
        /// the rack requesting it.
        supplied: bool,
    },
    /// The certificate is issued: the external router serves it.
    Issued {
        /// The certificate.
        certificate: PublicCertificate,
        /// Whether the user supplied it.
        supplied: bool,
    },
}

impl ExternalCertificate {
    /// The ARN the external 443 listener serves, once issued.
    pub fn issued_arn(&self) -> Option<&str> {
        match self {
            ExternalCertificate::Issued { certificate, .. } => Some(&certificate.arn),
            _ => None,
        }
    }

    /// Whether external endpoints wait for the certificate (requested or
    /// supplied, not issued yet).
    pub fn is_waiting(&self) -> bool {
        matches!(
            self,
            ExternalCertificate::NotRequested { .. } | ExternalCertificate::Pending { .. }
        )
    }

    /// The validation CNAME(s) the user must publish, while pending.
    pub fn validation(&self) -> &[ValidationRecord] {
        match self {
            ExternalCertificate::Pending { certificate, .. } => &certificate.validation,
            _ => &[],
        }
    }
}

impl fmt::Display for ExternalCertificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let who = |supplied: &bool| if *supplied { "supplied" } else { "requested" };
        match self {
            ExternalCertificate::NotNeeded => f.write_str("no external router"),
            ExternalCertificate::NotRequested { domain } => write!(
                f,
                "no certificate for {domain} yet: the next deploy requests one from ACM; external endpoints wait for it"
            ),
            ExternalCertificate::Pending {
                certificate,
                supplied,
            } => {
                write!(
                    f,
                    "certificate {} ({}, {}) is {}: external endpoints wait for it",
                    certificate.arn,
                    certificate.domain,
                    who(supplied),
                    certificate.status
                )?;
                if !certificate.validation.is_empty() {
                    f.write_str("; publish these DNS records to validate it:")?;
                    for r in &certificate.validation {
                        write!(f, "\n  {r}")?;
                    }
                }
                Ok(())
            }
            ExternalCertificate::Issued {
                certificate,
                supplied,
            } => write!(
                f,
                "certificate {} ({}, {}) is issued",
                certificate.arn,
                certificate.domain,
                who(supplied)
            ),
        }
    }
}

/// Why the external router's certificate cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PublicCertError {
    /// The supplied certificate does not cover the router host.
    #[error(
        "certificate {arn} does not cover {domain} (it names {names}); give the ARN of an ACM certificate for {domain}, or leave --external-certificate out and the rack requests one"
    )]
    NotCovering {
        /// The ARN.
        arn: String,
        /// `*.{router host}`.
        domain: String,
        /// The names it covers.
        names: String,
    },
    /// The supplied certificate is neither issued nor pending.
    #[error(
        "certificate {arn} is {status}, not ISSUED or PENDING_VALIDATION; renew or replace it in ACM, or give another with --external-certificate"
    )]
    Unusable {
        /// The ARN.
        arn: String,
        /// ACM's status.
        status: CertificateStatus,
    },
    /// The supplied certificate does not exist (or is not visible).
    #[error(
        "certificate {arn} does not exist in ACM in this account and region; check the ARN (region {region})"
    )]
    NotFound {
        /// The ARN.
        arn: String,
        /// The rack's region.
        region: String,
    },
    /// The backend failed.
    #[error("backend: {0}")]
    Backend(#[from] BackendError),
}

/// Checks that a user-supplied certificate may serve the router host: it covers
/// `domain` and is issued or pending.
pub fn check_supplied(
    certificate: &PublicCertificate,
    domain: &str,
) -> Result<(), PublicCertError> {
    if !certificate.covers(domain) {
        return Err(PublicCertError::NotCovering {
            arn: certificate.arn.clone(),
            domain: domain.to_string(),
            names: certificate.names().collect::<Vec<_>>().join(", "),
        });
    }
    match certificate.status {
        CertificateStatus::Issued | CertificateStatus::PendingValidation => Ok(()),
        CertificateStatus::Other(_) => Err(PublicCertError::Unusable {
            arn: certificate.arn.clone(),
            status: certificate.status.clone(),
        }),
    }
}

/// The external router's certificate domain: `*.{router host}`.
pub fn external_domain(rack: &Rack) -> String {
    crate::desired::router_certificate_domain(rack, Router::External)
}

/// Where the external router's certificate is. Reads only.
///
/// With [`Rack::external_certificate`], that certificate (checked: it must exist,
/// cover `*.{router host}` and be issued or pending). Otherwise the certificate
/// the rack requested for the domain, an issued one first.
pub async fn external_certificate(
    backend: &dyn Backend,
    rack: &Rack,
) -> Result<ExternalCertificate, PublicCertError> {
    external_certificate_among(backend, rack, None).await
}

/// [`external_certificate`], with the certificates requested for the rack
/// already read (`Some`, from [`Backend::observe_app`]): then it reads
/// nothing more unless the rack names its certificate itself.
pub async fn external_certificate_among(
    backend: &dyn Backend,
    rack: &Rack,
    requested: Option<&[PublicCertificate]>,
) -> Result<ExternalCertificate, PublicCertError> {
    if !rack.params.has_external_router() {
        return Ok(ExternalCertificate::NotNeeded);
    }
    let domain = external_domain(rack);
    if let Some(arn) = &rack.external_certificate {
        let certificate = match backend.describe_certificate(arn).await {
            Ok(c) => c,
            Err(e) if e.kind() == ErrorKind::NotFound => {
                return Err(PublicCertError::NotFound {
                    arn: arn.clone(),
                    region: rack.region.clone(),
                });
            }
            Err(e) => return Err(e.into()),
        };
        check_supplied(&certificate, &domain)?;
        return Ok(status_of(certificate, true));
    }
    let requested = match requested {
        Some(r) => r.to_vec(),
        None => backend.requested_certificates(&rack.name).await?,
    };
    let mut requested: Vec<PublicCertificate> = requested
        .into_iter()
        .filter(|c| c.covers(&domain))
        .filter(|c| {
            matches!(
                c.status,
                CertificateStatus::Issued | CertificateStatus::PendingValidation
            )
        })
        .collect();
    // Issued first, then by ARN: every process picks the same one.
    requested.sort_by(|a, b| (!a.is_issued(), &a.arn).cmp(&(!b.is_issued(), &b.arn)));
    Ok(match requested.into_iter().next() {
        Some(c) => status_of(c, false),
        None => ExternalCertificate::NotRequested { domain },
    })
}

fn status_of(certificate: PublicCertificate, supplied: bool) -> ExternalCertificate {
    if certificate.is_issued() {
        ExternalCertificate::Issued {
            certificate,
            supplied,
        }
    } else {
        ExternalCertificate::Pending {
            certificate,
            supplied,
        }
    }
}

/// [`external_certificate`], requesting the certificate from ACM first when the
/// rack has none: the one mutating call, made by deploys and `rack params set`.
pub async fn ensure_external_certificate(
    backend: &dyn Backend,
    rack: &Rack,
) -> Result<ExternalCertificate, PublicCertError> {
    ensure_external_certificate_among(backend, rack, None).await
}

/// [`ensure_external_certificate`], with the certificates requested for the
/// rack already read ([`external_certificate_among`]).
pub async fn ensure_external_certificate_among(
    backend: &dyn Backend,
    rack: &Rack,
    requested: Option<&[PublicCertificate]>,
) -> Result<ExternalCertificate, PublicCertError> {
    match external_certificate_among(backend, rack, requested).await? {
        ExternalCertificate::NotRequested { domain } => {
            let arn = backend
                .request_certificate(&domain, &request_tags(rack, &domain))
                .await?;
            tracing::info!(rack = %rack.name, %domain, %arn, "requested the external router's certificate from ACM");
            let certificate = backend.describe_certificate(&arn).await?;
            Ok(status_of(certificate, false))
        }
        other => Ok(other),
    }
}

/// Whether external endpoints can get their rules: the certificate is issued,
/// or the external router has a 443 listener already (a rack from before public
/// certificates keeps serving until `rack params set` moves it).
pub fn external_ready(external: &ExternalCertificate, observed: &[Observed]) -> bool {
    let listener = ResourceKey::router_listener(Router::External, 443);
    external.issued_arn().is_some() || observed.iter().any(|o| o.resource.key == listener)
}

/// The rack's desired state with the external router's certificate where it
/// is and the load balancers of `shards` in its routers' pools
/// ([`desired_rack_pool`]). While the certificate is not issued, an external
/// 443 listener that exists (and the certificate it serves) is kept as it is:
/// waiting for a certificate never tears down what serves.
///
/// With the internal router, each internal load balancer's shared
/// certificates too ([`crate::pool::certs::with_shared_certificates`], with
/// AWS's default names per certificate): the apps they cover stay, and an app
/// routed there that no certificate covers is added.
pub fn desired_rack_for(
    rack: &Rack,
    ca_fingerprint: &str,
    external: &ExternalCertificate,
    observed: &[Observed],
    shards: &std::collections::BTreeSet<crate::exposure::Shard>,
) -> DesiredState {
    let mut d = desired_rack_pool(rack, ca_fingerprint, external.issued_arn(), shards);
    if external.issued_arn().is_none() && rack.params.has_external_router() {
        let listener = ResourceKey::router_listener(Router::External, 443);
        let kept: Vec<ResourceKey> = observed
            .iter()
            .filter(|o| o.resource.key == listener)
            .flat_map(|o| o.resource.spec.references().into_iter().cloned())
            .chain([listener.clone()])
            .filter(|k| k != &ResourceKey::router_load_balancer(Router::External))
            .collect();
        for key in kept {
            if let Some(o) = observed.iter().find(|o| o.resource.key == key) {
                d.resources.insert(key, o.resource.clone());
            }
        }
    }
    // Router pools (issue 9): each internal load balancer's shared
    // certificates, as observed (the apps they cover stay while routed there),
    // with every uncovered app routed there added.
    crate::pool::certs::with_shared_certificates(
        d,
        rack,
        Some(ca_fingerprint),
        observed,
        &std::collections::BTreeMap::new(),
        None,
        crate::aws::Quotas::AWS.names_per_certificate,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cert(domain: &str, sans: &[&str], status: CertificateStatus) -> PublicCertificate {
        PublicCertificate {
            arn: "arn:aws:acm:us-east-1:1:certificate/x".into(),
            domain: domain.into(),
            sans: sans.iter().map(|s| s.to_string()).collect(),
            status,
            validation: Vec::new(),
        }
    }

    #[test]
    fn a_certificate_covers_its_domain_or_a_san_only() {
        let c = cert(
            "example.com",
            &["*.Production.example.com."],
            CertificateStatus::Issued,
        );
        assert!(c.covers("*.production.example.com"));
        assert!(!c.covers("*.staging.example.com"));
        assert!(!cert("*.example.com", &[], CertificateStatus::Issued).covers("*.a.example.com"));
    }

    #[test]
    fn supplied_certificates_must_cover_and_be_usable() {
        let d = "*.production.example.com";
        let ok = cert(d, &[], CertificateStatus::PendingValidation);
        assert!(check_supplied(&ok, d).is_ok());
        let other = cert("*.other.example.com", &[], CertificateStatus::Issued);
        let e = check_supplied(&other, d).unwrap_err().to_string();
        assert!(e.contains("does not cover *.production.example.com"), "{e}");
        assert!(e.contains("*.other.example.com"), "{e}");
        let expired = cert(d, &[], CertificateStatus::from_acm("EXPIRED"));
        let e = check_supplied(&expired, d).unwrap_err().to_string();
        assert!(e.contains("EXPIRED"), "{e}");
    }

    #[test]
    fn references_carry_the_arn() {
        let arn = "arn:aws:acm:us-east-1:1:certificate/x";
        let k = certificate_reference(arn);
        assert_eq!(referenced_arn(&k), Some(arn));
        assert_eq!(k.app(), None);
        assert_eq!(
            referenced_arn(&ResourceKey::router_certificate(Router::External)),
            None
        );
    }
}
