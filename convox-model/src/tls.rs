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
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose,
    GeneralSubtree, IsCa, Issuer, KeyPair, KeyUsagePurpose, NameConstraints, SanType,
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
#[non_exhaustive]
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
    /// A supplied authority cannot serve the rack: it is not a CA, or its name
    /// constraints leave out the rack's names.
    #[error("the certificate authority {fingerprint} cannot serve rack {rack}: {reason}")]
    Unfit {
        /// The rack.
        rack: String,
        /// The authority's fingerprint.
        fingerprint: String,
        /// Why, and what to do.
        reason: String,
    },
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

    // Router pools: shared certificates (issue 9).
    /// A certificate for `domain` and every one of `names` besides (subject
    /// alternative names), as a shared certificate of an internal load
    /// balancer needs ([`crate::pool::certs`]). Without `names`, [`Self::issue`].
    ///
    /// The default issues one name only: an issuer that cannot issue several
    /// refuses, naming the certificate, rather than leave names uncovered.
    fn issue_names(
        &self,
        domain: &str,
        names: &[String],
        now: i64,
    ) -> Result<CertificatePem, TlsError> {
        if names.is_empty() {
            return self.issue(domain, now);
        }
        Err(TlsError::Issue {
            domain: domain.to_string(),
            message: format!(
                "this issuer issues one name per certificate, and the certificate must also cover {}: use the rack's CertificateAuthority, or implement CertificateIssuer::issue_names",
                names.join(", ")
            ),
        })
    }
}

/// A rack's certificate authority.
pub struct CertificateAuthority {
    cert_pem: String,
    key_pem: String,
    fingerprint: String,
    issuer: Issuer<'static, KeyPair>,
    /// Whether the certificate says it is a CA (BasicConstraints `cA`).
    is_ca: bool,
    /// The DNS subtrees its NameConstraints permit; `None` without any.
    permitted_dns: Option<Vec<String>>,
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

/// The rack's private zone, the subtree a generated authority is limited to.
fn rack_zone(rack: &Name) -> String {
    format!("{rack}.convox")
}

/// Whether `name` is `subtree` or under it (RFC 5280's DNS name constraint).
fn within(name: &str, subtree: &str) -> bool {
    let subtree = subtree.trim_start_matches('.').to_ascii_lowercase();
    let name = name.to_ascii_lowercase();
    subtree.is_empty() || name == subtree || name.ends_with(&format!(".{subtree}"))
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
        // Only the rack's private names: whoever holds the key can mint for
        // nothing else that clients trusting it would accept (rcgen marks the
        // extension critical).
        let zone = rack_zone(rack);
        params.name_constraints = Some(NameConstraints {
            permitted_subtrees: vec![GeneralSubtree::DnsName(zone.clone())],
            excluded_subtrees: Vec::new(),
        });
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
            is_ca: true,
            permitted_dns: Some(vec![zone]),
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
        let bad = |e: x509_parser::error::X509Error| TlsError::BadPem {
            what: "certificate",
            message: e.to_string(),
        };
        let is_ca = cert
            .basic_constraints()
            .map_err(bad)?
            .is_some_and(|b| b.value.ca);
        let permitted_dns = cert.name_constraints().map_err(bad)?.and_then(|nc| {
            let dns: Vec<String> = nc
                .value
                .permitted_subtrees
                .iter()
                .flatten()
                .filter_map(|t| match t.base {
                    x509_parser::extensions::GeneralName::DNSName(d) => Some(d.to_string()),
                    _ => None,
                })
                .collect();
            (!dns.is_empty()).then_some(dns)
        });
        let issuer = Issuer::from_ca_cert_pem(cert_pem, key).map_err(|e| TlsError::BadPem {
            what: "certificate",
            message: e.to_string(),
        })?;
        Ok(CertificateAuthority {
            cert_pem: cert_pem.to_string(),
            key_pem: key_pem.to_string(),
            fingerprint: hex(&Sha256::digest(&der)),
            issuer,
            is_ca,
            permitted_dns,
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

    /// The DNS subtrees the authority's NameConstraints permit (a generated one:
    /// `{rack}.convox`); `None` when it is unconstrained.
    pub fn permitted_dns(&self) -> Option<&[String]> {
        self.permitted_dns.as_deref()
    }

    /// Checks an authority (typically one the embedding tool supplied) before it
    /// serves `rack`: an error when it is not a CA or when its name constraints
    /// leave out `{rack}.convox` (clients would reject what it issues); a
    /// warning, for the tool to show, when it is unconstrained.
    pub fn check_for_rack(&self, rack: &Name) -> Result<Option<String>, TlsError> {
        let zone = rack_zone(rack);
        let unfit = |reason: String| TlsError::Unfit {
            rack: rack.to_string(),
            fingerprint: self.fingerprint.clone(),
            reason,
        };
        if !self.is_ca {
            return Err(unfit(
                "its certificate is not a CA certificate (no BasicConstraints cA=TRUE); give the rack's CA certificate and key".to_string(),
            ));
        }
        match &self.permitted_dns {
            None => Ok(Some(format!(
                "the certificate authority {} has no name constraints: whoever holds its key can issue certificates for any name, and every client that trusts it accepts them; a CA the rack generates is constrained to {zone}",
                self.fingerprint
            ))),
            Some(dns) if dns.iter().any(|d| within(&zone, d)) => Ok(None),
            Some(dns) => Err(unfit(format!(
                "its name constraints permit only {}, so clients would reject certificates for *.{zone}; use a CA that permits {zone}",
                dns.join(", ")
            ))),
        }
    }

    /// Issues a server certificate for `domain`, valid from `now` (Unix seconds)
    /// for 397 days, with a fresh key. The chain is the authority's certificate.
    pub fn issue(&self, domain: &str, now: i64) -> Result<CertificatePem, TlsError> {
        self.issue_names(domain, &[], now)
    }

    /// Issues a server certificate for `domain` and `names` besides (its
    /// subject alternative names: `domain` first, then `names` in order,
    /// without repeats), as [`Self::issue`] does.
    pub fn issue_names(
        &self,
        domain: &str,
        names: &[String],
        now: i64,
    ) -> Result<CertificatePem, TlsError> {
        let err = |e: rcgen::Error| TlsError::Issue {
            domain: domain.to_string(),
            message: e.to_string(),
        };
        let key = KeyPair::generate().map_err(err)?;
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, domain);
        params.distinguished_name = dn;
        let mut sans = vec![domain.to_string()];
        for n in names {
            if !sans.contains(n) {
                sans.push(n.clone());
            }
        }
        params.subject_alt_names = sans
            .into_iter()
            .map(|n| Ok(SanType::DnsName(n.try_into().map_err(err)?)))
            .collect::<Result<_, TlsError>>()?;
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

    fn issue_names(
        &self,
        domain: &str,
        names: &[String],
        now: i64,
    ) -> Result<CertificatePem, TlsError> {
        CertificateAuthority::issue_names(self, domain, names, now)
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
    fn a_generated_authority_is_constrained_to_the_rack_by_a_critical_extension() {
        let rack = Name::new("production").unwrap();
        let ca = CertificateAuthority::generate(&rack, NOW).unwrap();
        let der = pem_der(ca.cert_pem()).unwrap();
        let (_, x509) = x509_parser::parse_x509_certificate(&der).unwrap();
        let nc = x509.name_constraints().unwrap().expect("NameConstraints");
        assert!(nc.critical, "NameConstraints must be critical");
        let permitted: Vec<String> = nc
            .value
            .permitted_subtrees
            .iter()
            .flatten()
            .map(|t| format!("{:?}", t.base))
            .collect();
        assert_eq!(permitted, ["DNSName(\"production.convox\")"]);
        assert!(nc.value.excluded_subtrees.is_none());
        // Read back, it is recognised as constrained and fit for its rack only.
        let back = CertificateAuthority::from_pem(ca.cert_pem(), ca.key_pem()).unwrap();
        assert_eq!(
            back.permitted_dns(),
            Some(&["production.convox".to_string()][..])
        );
        assert_eq!(back.check_for_rack(&rack).unwrap(), None);
        let other = back.check_for_rack(&Name::new("staging").unwrap());
        assert!(
            matches!(&other, Err(TlsError::Unfit { reason, .. }) if reason.contains("production.convox")),
            "{other:?}"
        );
    }

    #[test]
    fn an_unconstrained_authority_is_accepted_with_a_warning_and_a_leaf_is_refused() {
        let rack = Name::new("production").unwrap();
        // A CA made without name constraints, as another tool might.
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::default();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let cert = params.self_signed(&key).unwrap();
        let ca = CertificateAuthority::from_pem(&cert.pem(), &key.serialize_pem()).unwrap();
        assert_eq!(ca.permitted_dns(), None);
        let warning = ca.check_for_rack(&rack).unwrap().expect("a warning");
        assert!(warning.contains("no name constraints"), "{warning}");
        assert!(warning.contains("production.convox"), "{warning}");
        // A leaf certificate is no authority at all.
        let mut leaf = CertificateParams::new(vec!["x.production.convox".to_string()]).unwrap();
        leaf.is_ca = IsCa::ExplicitNoCa;
        let cert = leaf.self_signed(&key).unwrap();
        let not_ca = CertificateAuthority::from_pem(&cert.pem(), &key.serialize_pem()).unwrap();
        assert!(matches!(
            not_ca.check_for_rack(&rack),
            Err(TlsError::Unfit { .. })
        ));
        assert!(within("production.convox", ".convox"));
        assert!(!within("production.convox", "duction.convox"));
    }

    #[test]
    fn garbage_pem_is_an_error_not_a_panic() {
        assert!(CertificateAuthority::from_pem("nope", "nope").is_err());
        assert!(decode_base64("!!").is_none());
    }
}
