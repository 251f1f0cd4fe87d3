//! The rack's certificate authority, checked from outside: leaves verify
//! cryptographically against the authority's key (not only by issuer name), an
//! authority read back from its PEM keeps issuing certificates that verify, and a
//! second valid authority is recognised as a different identity.

use convox_model::name::Name;
use convox_model::tls::{CertificateAuthority, CertificateIssuer};
use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::GeneralName;
use x509_parser::pem::{Pem, parse_x509_pem};

const NOW: i64 = 1_750_000_000;
const DOMAIN: &str = "*.backend.production.convox";

fn authority(rack: &str) -> CertificateAuthority {
    let rack = Name::new(rack).expect("a valid rack name");
    CertificateAuthority::generate(&rack, NOW).expect("an authority")
}

/// The first PEM block of `pem`, decoded.
fn pem(pem: &str) -> Pem {
    parse_x509_pem(pem.as_bytes()).expect("PEM").1
}

fn x509(p: &Pem) -> X509Certificate<'_> {
    p.parse_x509().expect("X.509")
}

fn dns_names(c: &X509Certificate<'_>) -> Vec<String> {
    c.subject_alternative_name()
        .expect("one SAN extension")
        .expect("a SAN extension")
        .value
        .general_names
        .iter()
        .map(|g| match g {
            GeneralName::DNSName(d) => d.to_string(),
            other => panic!("a SAN that is not a DNS name: {other:?}"),
        })
        .collect()
}

/// Whether `leaf` carries a valid signature by the key of `ca`.
fn signed_by(leaf: &str, ca: &str) -> bool {
    let (leaf, ca) = (pem(leaf), pem(ca));
    let ca = x509(&ca);
    x509(&leaf).verify_signature(Some(ca.public_key())).is_ok()
}

#[test]
fn an_issued_leaf_is_signed_by_the_authoritys_key_for_its_domain_only() {
    let ca = authority("production");
    let issued = ca.issue(DOMAIN, NOW).expect("a leaf");
    assert!(
        signed_by(&issued.certificate, ca.cert_pem()),
        "the leaf's signature does not verify against the authority's key"
    );
    // The authority is self-signed, so the check above is not vacuous: another
    // authority's key must not verify the same leaf.
    let other = authority("production");
    assert!(signed_by(ca.cert_pem(), ca.cert_pem()));
    assert!(!signed_by(&issued.certificate, other.cert_pem()));

    let (leaf_pem, ca_pem) = (pem(&issued.certificate), pem(ca.cert_pem()));
    let (leaf, root) = (x509(&leaf_pem), x509(&ca_pem));
    assert_eq!(leaf.issuer(), root.subject());
    assert_eq!(dns_names(&leaf), vec![DOMAIN.to_string()]);
    assert!(!leaf.is_ca(), "a leaf must not be an authority");
    assert!(root.is_ca());
    let eku = leaf
        .extended_key_usage()
        .expect("one EKU extension")
        .expect("an EKU extension");
    assert!(eku.value.server_auth);
    assert_eq!(leaf.validity().not_before.timestamp(), NOW - 3600);
    assert_eq!(leaf.validity().not_after.timestamp(), NOW + 397 * 24 * 3600);
    assert_eq!(issued.chain, ca.cert_pem());
    assert!(issued.private_key.contains("PRIVATE KEY"));
}

#[test]
fn an_authority_read_back_from_pem_issues_certificates_that_verify() {
    let ca = authority("production");
    let again = CertificateAuthority::from_pem(ca.cert_pem(), ca.key_pem()).expect("reads back");
    assert_eq!(again.fingerprint(), ca.fingerprint());
    assert_eq!(CertificateIssuer::fingerprint(&again), ca.fingerprint());
    let issued = again.issue(DOMAIN, NOW + 86_400).expect("a leaf");
    assert!(
        signed_by(&issued.certificate, ca.cert_pem()),
        "a leaf of the authority read back does not verify against the original certificate"
    );
    let (leaf_pem, ca_pem) = (pem(&issued.certificate), pem(ca.cert_pem()));
    assert_eq!(x509(&leaf_pem).issuer(), x509(&ca_pem).subject());
    assert_eq!(dns_names(&x509(&leaf_pem)), vec![DOMAIN.to_string()]);
    assert_eq!(issued.chain, ca.cert_pem());
    // Reading it back once more changes nothing.
    let third = CertificateAuthority::from_pem(again.cert_pem(), again.key_pem()).expect("reads");
    assert_eq!(third.fingerprint(), ca.fingerprint());
}

#[test]
fn a_second_valid_authority_is_a_different_identity() {
    let one = authority("production");
    let two = authority("production");
    assert_ne!(one.fingerprint(), two.fingerprint());
    assert_ne!(one.cert_pem(), two.cert_pem());
    // Read back, each keeps its own identity.
    let two_again = CertificateAuthority::from_pem(two.cert_pem(), two.key_pem()).expect("reads");
    assert_eq!(two_again.fingerprint(), two.fingerprint());
    assert_ne!(two_again.fingerprint(), one.fingerprint());
    // And what each issues verifies only against itself.
    let leaf = two_again.issue(DOMAIN, NOW).expect("a leaf");
    assert!(signed_by(&leaf.certificate, two.cert_pem()));
    assert!(!signed_by(&leaf.certificate, one.cert_pem()));
}

#[test]
fn an_authority_whose_key_is_not_its_certificates_is_refused() {
    let one = authority("production");
    let two = authority("production");
    // One's certificate with two's key would issue leaves that clients trusting
    // one's certificate reject: it must not be accepted as an authority.
    match CertificateAuthority::from_pem(one.cert_pem(), two.key_pem()) {
        Err(_) => {}
        Ok(mixed) => {
            let leaf = mixed.issue(DOMAIN, NOW).expect("a leaf");
            panic!(
                "accepted a key that is not the certificate's: its leaf verifies against \
                 the certificate it names: {}",
                signed_by(&leaf.certificate, one.cert_pem())
            );
        }
    }
}

#[test]
fn garbage_and_truncated_pem_are_errors() {
    let ca = authority("production");
    assert!(CertificateAuthority::from_pem("nope", ca.key_pem()).is_err());
    assert!(CertificateAuthority::from_pem(ca.cert_pem(), "nope").is_err());
    let half = &ca.cert_pem()[..ca.cert_pem().len() / 2];
    assert!(CertificateAuthority::from_pem(half, ca.key_pem()).is_err());
}
