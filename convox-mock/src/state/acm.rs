//! ACM certificates: PEM only, no delete while a listener uses one.

use convox_model::backend::{BackendResult, CertificatePem};
use convox_model::resource::{CertificateSpec, Tags};
use serde::{Deserialize, Serialize};

use super::{State, delete_unused, invalid};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Certificate {
    pub spec: CertificateSpec,
    /// The certificate body only: the mock never keeps a private key.
    pub certificate_pem: String,
    pub tags: Tags,
    /// The end of its validity, read from the PEM at import (issue 12); `None`
    /// for a PEM that only looks like one (the mock accepts those).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_after: Option<i64>,
}

impl State {
    pub(crate) fn import_certificate(
        &mut self,
        op: &str,
        spec: &CertificateSpec,
        pem: &CertificatePem,
        tags: &Tags,
    ) -> BackendResult<String> {
        self.check_tags(op, tags)?;
        check_pem(op, pem)?;
        if spec.domain.is_empty() {
            return Err(invalid(op, "the certificate names no domain"));
        }
        let arn = self.certificate_arn();
        self.certificates.insert(
            arn.clone(),
            Certificate {
                spec: spec.clone(),
                certificate_pem: pem.certificate.clone(),
                tags: tags.clone(),
                not_after: convox_model::renew::not_after(&pem.certificate),
            },
        );
        Ok(arn)
    }

    /// ACM's `ImportCertificate` with `CertificateArn`: the same ARN, tags and
    /// listeners, a new body and validity (issue 12).
    pub(crate) fn reimport_certificate(
        &mut self,
        op: &str,
        arn: &str,
        spec: &CertificateSpec,
        pem: &CertificatePem,
    ) -> BackendResult<()> {
        check_pem(op, pem)?;
        let cert = super::find_mut(&mut self.certificates, op, "certificate", arn)?;
        // The issuer of the new body; the domain stays the certificate's.
        cert.spec.issuer = spec.issuer.clone();
        // Its further names are the new body's (ACM lets a re-import add or
        // remove names: a shared certificate, issue 9).
        cert.spec.names = spec.names.clone();
        cert.certificate_pem = pem.certificate.clone();
        cert.not_after = convox_model::renew::not_after(&pem.certificate);
        Ok(())
    }

    pub(crate) fn delete_certificate(&mut self, op: &str, arn: &str) -> BackendResult<()> {
        let user = self.listeners.iter().find(|(_, l)| {
            l.default_certificate.as_deref() == Some(arn) || l.certificates.contains(arn)
        });
        let in_use = user.map(|(l, _)| format!("certificate {arn} is in use by listener {l}"));
        if self.public_certificates.contains_key(arn) {
            return delete_unused(
                &mut self.public_certificates,
                op,
                "certificate",
                arn,
                in_use,
            );
        }
        delete_unused(&mut self.certificates, op, "certificate", arn, in_use)
    }
}

/// What ACM checks of a PEM before importing it (as far as the mock does).
fn check_pem(op: &str, pem: &CertificatePem) -> BackendResult<()> {
    if !pem.certificate.contains("-----BEGIN CERTIFICATE-----") {
        return Err(invalid(
            op,
            "the certificate is not a PEM-encoded certificate",
        ));
    }
    if !pem.private_key.contains("PRIVATE KEY-----") {
        return Err(invalid(
            op,
            "the private key is not a PEM-encoded private key",
        ));
    }
    Ok(())
}
