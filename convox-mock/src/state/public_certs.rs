//! ACM-requested and user-owned public certificates (issue 12, item 6): a
//! requested certificate starts `PENDING_VALIDATION` and issues when the test
//! says so ([`crate::MockBackend::issue_certificates`]), or at once when the mock
//! validates requests immediately (its default).

use convox_model::backend::BackendResult;
use convox_model::name::Name;
use convox_model::public_cert::{
    CertificateStatus, PublicCertificate, ROLE_PUBLIC_CERTIFICATE, ValidationRecord,
};
use convox_model::resource::{TAG_RACK, TAG_ROLE, Tags};
use serde::{Deserialize, Serialize};

use super::{State, find, invalid};
use crate::ids;

/// A public certificate as ACM holds it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct PublicCert {
    pub domain: String,
    pub sans: Vec<String>,
    pub status: CertificateStatus,
    pub tags: Tags,
}

/// How the mock validates requested certificates.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AcmValidation {
    /// A requested certificate is issued at once (as if its record were
    /// published the moment it was asked for).
    #[default]
    Immediate,
    /// A requested certificate stays `PENDING_VALIDATION` until
    /// [`crate::MockBackend::issue_certificates`].
    Held,
}

/// The validation CNAME ACM asks for `domain`: a name under the domain (without
/// its wildcard), a value under `acm-validations.aws`, both from `seed`.
fn validation_record(domain: &str, seed: u64) -> ValidationRecord {
    let base = domain.trim_start_matches("*.").trim_end_matches('.');
    ValidationRecord {
        name: format!("_{}.{base}.", ids::hex(seed, 32)),
        value: format!("_{}.acm-validations.aws.", ids::hex(seed ^ 0x5eed, 32)),
    }
}

impl PublicCert {
    fn view(&self, arn: &str) -> PublicCertificate {
        let mut names: Vec<&str> = std::iter::once(self.domain.as_str())
            .chain(self.sans.iter().map(String::as_str))
            .collect();
        names.sort();
        names.dedup();
        // ACM lists the CNAME(s) to publish while it waits for them.
        let mut validation: Vec<ValidationRecord> =
            if self.status == CertificateStatus::PendingValidation {
                let seed = arn
                    .bytes()
                    .fold(0u64, |h, b| h.wrapping_mul(31) ^ u64::from(b));
                names.iter().map(|n| validation_record(n, seed)).collect()
            } else {
                Vec::new()
            };
        validation.sort();
        validation.dedup();
        PublicCertificate {
            arn: arn.to_string(),
            domain: self.domain.clone(),
            sans: names.into_iter().map(str::to_string).collect(),
            status: self.status.clone(),
            validation,
        }
    }
}

impl State {
    pub(crate) fn request_certificate(
        &mut self,
        op: &str,
        domain: &str,
        tags: &Tags,
    ) -> BackendResult<String> {
        self.check_tags(op, tags)?;
        if domain.is_empty() || domain.len() > 253 {
            return Err(invalid(op, format!("domain name {domain:?} is not valid")));
        }
        let status = match self.acm_validation {
            AcmValidation::Immediate => CertificateStatus::Issued,
            AcmValidation::Held => CertificateStatus::PendingValidation,
        };
        Ok(self.add_public_certificate(domain, &[], status, tags.clone()))
    }

    pub(crate) fn describe_certificate(
        &mut self,
        op: &str,
        arn: &str,
    ) -> BackendResult<PublicCertificate> {
        if let Some(c) = self.public_certificates.get(arn) {
            return Ok(c.view(arn));
        }
        // An imported certificate is described too: it is ISSUED, names its domain.
        let c = find(&self.certificates, op, "certificate", arn)?;
        Ok(PublicCertificate {
            arn: arn.to_string(),
            domain: c.spec.domain.clone(),
            sans: vec![c.spec.domain.clone()],
            status: CertificateStatus::Issued,
            validation: Vec::new(),
        })
    }

    pub(crate) fn requested_certificates(
        &mut self,
        _op: &str,
        rack: &Name,
    ) -> BackendResult<Vec<PublicCertificate>> {
        Ok(self
            .public_certificates
            .iter()
            .filter(|(_, c)| {
                c.tags.get(TAG_RACK).map(String::as_str) == Some(rack.as_str())
                    && c.tags.get(TAG_ROLE).map(String::as_str) == Some(ROLE_PUBLIC_CERTIFICATE)
            })
            .map(|(arn, c)| c.view(arn))
            .collect())
    }

    /// Adds a public certificate; returns its ARN.
    pub(crate) fn add_public_certificate(
        &mut self,
        domain: &str,
        sans: &[String],
        status: CertificateStatus,
        tags: Tags,
    ) -> String {
        let arn = self.certificate_arn();
        self.public_certificates.insert(
            arn.clone(),
            PublicCert {
                domain: domain.to_string(),
                sans: sans.to_vec(),
                status,
                tags,
            },
        );
        arn
    }

    /// Issues every pending certificate; returns how many.
    pub(crate) fn issue_certificates(&mut self) -> usize {
        let mut n = 0;
        for c in self.public_certificates.values_mut() {
            if c.status == CertificateStatus::PendingValidation {
                c.status = CertificateStatus::Issued;
                n += 1;
            }
        }
        n
    }

    /// Whether a listener may serve `arn`: imported, or public and issued.
    pub(crate) fn servable(&self, arn: &str) -> Option<bool> {
        if self.certificates.contains_key(arn) {
            return Some(true);
        }
        self.public_certificates
            .get(arn)
            .map(|c| c.status == CertificateStatus::Issued)
    }
}
