//! TLS for internal names: the rack's certificate authority and the wildcard
//! certificates it issues.
//!
//! No public CA issues certificates for `.convox`, so each rack has its own
//! authority. The embedding tool supplies it as PEM ([`CertificateAuthority::from_pem`])
//! or has one generated ([`CertificateAuthority::generate`]) and keeps the PEM it is
//! handed back; clients inside the VPC trust its certificate.
//!
//! The model reads no clock: callers pass `now` as Unix seconds. Generating a key
//! (for the authority, and for every certificate it issues) draws randomness from
//! the operating system through `ring`; that is the one thing here that is not a
//! pure function of the inputs.

use std::fmt;

use serde::{Deserialize, Serialize};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType,
};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use crate::name::Name;

/// How long the authority is valid: ten years, since replacing it means every
/// client must trust a new one.
const CA_VALIDITY_SECS: i64 = 10 * 365 * 24 * 3600;
/// How long an issued certificate is valid: 397 days, the longest browsers accept.
const LEAF_VALIDITY_SECS: i64 = 397 * 24 * 3600;
/// Backdating absorbs clock skew between the issuer and the clients.
const BACKDATE_SECS: i64 = 3600;

/// A certificate and its key, PEM-encoded, to import.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertificatePem {
    /// The certificate.
    pub certificate: String,
    /// Its private key.
    pub private_key: String,
    /// The chain up to (and including) the issuing CA.
    pub chain: String,
}

impl fmt::Debug for CertificatePem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CertificatePem")
            .field("certificate", &self.certificate)
            .field("private_key", &"<redacted>")
            .field("chain", &self.chain)
            .finish()
    }
}

/// Why a certificate could not be made or read.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// The certificate or key PEM could not be read.
    #[error("the certificate authority's {what} is not valid PEM: {message}")]
    BadPem {
        /// `certificate` or `private key`.
        what: &'static str,
        /// Details.
        message: String,
    },
    /// `now` is outside the range a certificate can express.
    #[error("time {0} (Unix seconds) is out of range for a certificate")]
    BadTime(i64),
    /// The certificate could not be built or signed.
    #[error("could not issue a certificate for {domain}: {message}")]
    Issue {
        /// The domain.
        domain: String,
        /// Details.
        message: String,
    },
}

/// Issues the certificates the apply engine imports. Implemented by
/// [`CertificateAuthority`]; tools with their own PKI may implement it too.
pub trait CertificateIssuer: Send + Sync + fmt::Debug {
    /// A stable fingerprint of the issuer: desired certificates record it, so that
    /// a new issuer means new certificates.
    fn fingerprint(&self) -> String;

    /// A certificate for `domain` (such as `*.backend.production.convox`), valid from
    /// `now` (Unix seconds), with its key and the chain up to the issuer.
    fn issue(&self, domain: &str, now: i64) -> Result<CertificatePem, TlsError>;
}

/// A rack's certificate authority.
pub struct CertificateAuthority {
    cert_pem: String,
    key_pem: String,
    fingerprint: String,
    issuer: Issuer<'static, KeyPair>,
}

impl fmt::Debug for CertificateAuthority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CertificateAuthority")
            .field("fingerprint", &self.fingerprint)
            .field("key", &"<redacted>")
            .finish()
    }
}

fn at(secs: i64) -> Result<OffsetDateTime, TlsError> {
    OffsetDateTime::from_unix_timestamp(secs).map_err(|_| TlsError::BadTime(secs))
}

fn pem_der(pem: &str) -> Result<Vec<u8>, TlsError> {
    // The certificate block only: a chain or key that follows is not ours to hash.
    let body: String = pem
        .lines()
        .skip_while(|l| !l.starts_with("-----BEGIN CERTIFICATE-----"))
        .skip(1)
        .take_while(|l| !l.starts_with("-----END"))
        .collect();
    decode_base64(body.trim()).ok_or_else(|| TlsError::BadPem {
        what: "certificate",
        message: "no base64 CERTIFICATE block".to_string(),
    })
}

fn decode_base64(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let mut buf = 0u32;
    let mut bits = 0;
    for c in s.bytes().filter(|c| !c.is_ascii_whitespace()) {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            b'=' => break,
            _ => return None,
        };
        buf = (buf << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((buf >> bits) as u8);
            buf &= (1 << bits) - 1;
        }
    }
    (!out.is_empty()).then_some(out)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl CertificateAuthority {
    /// Generates a new authority for `rack`, valid from `now` (Unix seconds) for ten
    /// years. Keep [`Self::cert_pem`] and [`Self::key_pem`]: the authority is
    /// generated once and read back with [`Self::from_pem`] ever after.
    ///
    /// Draws a fresh key from the operating system's randomness.
    pub fn generate(rack: &Name, now: i64) -> Result<Self, TlsError> {
        let err = |e: rcgen::Error| TlsError::Issue {
            domain: format!("the {rack} rack's certificate authority"),
            message: e.to_string(),
        };
        let key = KeyPair::generate().map_err(err)?;
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, format!("Convox rack {rack} CA"));
        dn.push(DnType::OrganizationName, "Convox");
        params.distinguished_name = dn;
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        params.not_before = at(now - BACKDATE_SECS)?;
        params.not_after = at(now + CA_VALIDITY_SECS)?;
        let cert = params.self_signed(&key).map_err(err)?;
        let cert_pem = cert.pem();
        let key_pem = key.serialize_pem();
        Ok(CertificateAuthority {
            fingerprint: hex(&Sha256::digest(cert.der())),
            issuer: Issuer::new(params, key),
            cert_pem,
            key_pem,
        })
    }

    /// Reads an authority back from its certificate and private key (PEM).
    pub fn from_pem(cert_pem: &str, key_pem: &str) -> Result<Self, TlsError> {
        let key = KeyPair::from_pem(key_pem).map_err(|e| TlsError::BadPem {
            what: "private key",
            message: e.to_string(),
        })?;
        let der = pem_der(cert_pem)?;
        // A key that is not the certificate's would sign leaves that no client
        // trusting the certificate accepts: refuse the pair.
        let (_, cert) =
            x509_parser::parse_x509_certificate(&der).map_err(|e| TlsError::BadPem {
                what: "certificate",
                message: e.to_string(),
            })?;
        if cert
            .tbs_certificate
            .subject_pki
            .subject_public_key
            .data
            .as_ref()
            != key.public_key_raw()
        {
            return Err(TlsError::BadPem {
                what: "private key",
                message: "the key is not the certificate's: it belongs to another authority"
                    .to_string(),
            });
        }
        let issuer = Issuer::from_ca_cert_pem(cert_pem, key).map_err(|e| TlsError::BadPem {
            what: "certificate",
            message: e.to_string(),
        })?;
        Ok(CertificateAuthority {
            cert_pem: cert_pem.to_string(),
            key_pem: key_pem.to_string(),
            fingerprint: hex(&Sha256::digest(&der)),
            issuer,
        })
    }

    /// The authority's certificate (PEM): what clients trust.
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// The authority's private key (PEM): keep it secret.
    pub fn key_pem(&self) -> &str {
        &self.key_pem
    }

    /// SHA-256 (hex) of the authority's certificate (DER).
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// Issues a server certificate for `domain`, valid from `now` (Unix seconds)
    /// for 397 days, with a fresh key. The chain is the authority's certificate.
    pub fn issue(&self, domain: &str, now: i64) -> Result<CertificatePem, TlsError> {
        let err = |e: rcgen::Error| TlsError::Issue {
            domain: domain.to_string(),
            message: e.to_string(),
        };
        let key = KeyPair::generate().map_err(err)?;
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, domain);
        params.distinguished_name = dn;
        params.subject_alt_names = vec![SanType::DnsName(
            domain.to_string().try_into().map_err(err)?,
        )];
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.use_authority_key_identifier_extension = true;
        params.not_before = at(now - BACKDATE_SECS)?;
        params.not_after = at(now + LEAF_VALIDITY_SECS)?;
        let cert = params.signed_by(&key, &self.issuer).map_err(err)?;
        Ok(CertificatePem {
            certificate: cert.pem(),
            private_key: key.serialize_pem(),
            chain: self.cert_pem.clone(),
        })
    }
}

impl CertificateIssuer for CertificateAuthority {
    fn fingerprint(&self) -> String {
        self.fingerprint.clone()
    }

    fn issue(&self, domain: &str, now: i64) -> Result<CertificatePem, TlsError> {
        CertificateAuthority::issue(self, domain, now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_750_000_000;

    #[test]
    fn generated_authority_reads_back_with_the_same_fingerprint() {
        let ca = CertificateAuthority::generate(&Name::new("production").unwrap(), NOW).unwrap();
        assert!(ca.cert_pem().starts_with("-----BEGIN CERTIFICATE-----"));
        assert!(ca.key_pem().contains("PRIVATE KEY"));
        assert_eq!(ca.fingerprint().len(), 64);
        let again = CertificateAuthority::from_pem(ca.cert_pem(), ca.key_pem()).unwrap();
        assert_eq!(again.fingerprint(), ca.fingerprint());
        assert!(!format!("{again:?}").contains("PRIVATE"));
    }

    #[test]
    fn issued_certificate_is_a_leaf_for_the_domain_chained_to_the_authority() {
        let ca = CertificateAuthority::generate(&Name::new("production").unwrap(), NOW).unwrap();
        let ca = CertificateAuthority::from_pem(ca.cert_pem(), ca.key_pem()).unwrap();
        let pem = ca.issue("*.backend.production.convox", NOW).unwrap();
        assert_eq!(pem.chain, ca.cert_pem());
        assert!(pem.private_key.contains("PRIVATE KEY"));
        let der = pem_der(&pem.certificate).unwrap();
        let (_, x509) = x509_parser::parse_x509_certificate(&der).unwrap();
        let (_, ca_x509) = {
            let d = pem_der(ca.cert_pem()).unwrap();
            let (rest, c) = x509_parser::parse_x509_certificate(&d).unwrap();
            (rest.len(), c.subject().to_string())
        };
        assert_eq!(x509.issuer().to_string(), ca_x509);
        let san = x509.subject_alternative_name().unwrap().unwrap();
        assert_eq!(
            format!("{:?}", san.value.general_names),
            "[DNSName(\"*.backend.production.convox\")]"
        );
        assert_eq!(x509.validity().not_before.timestamp(), NOW - BACKDATE_SECS);
    }

    #[test]
    fn garbage_pem_is_an_error_not_a_panic() {
        assert!(CertificateAuthority::from_pem("nope", "nope").is_err());
        assert!(decode_base64("!!").is_none());
    }
}
