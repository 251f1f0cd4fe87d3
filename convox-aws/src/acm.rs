//! ACM: the certificates issued by the rack's CA, imported with their tags.

use aws_sdk_acm::Client;
use aws_sdk_acm::primitives::Blob;
use aws_sdk_acm::types::{Filters, KeyAlgorithm, Tag, ValidationMethod};
use convox_model::backend::{BackendResult, CertificatePem, ErrorKind};
use convox_model::name::Name;
use convox_model::public_cert::{
    CertificateStatus, PublicCertificate, ROLE_PUBLIC_CERTIFICATE, ValidationRecord,
};
use convox_model::resource::{CertificateSpec, TAG_RACK, TAG_ROLE, Tags};

use crate::error::{from_sdk, invalid, missing, send};
use crate::observe::tag_map;

/// Tag holding a certificate's issuer fingerprint: ACM reports the issuer's name,
/// not the fingerprint the spec compares, so the import records it.
pub const TAG_ISSUER: &str = "convox:issuer";

/// A certificate as read back: ARN, domain and tags.
#[derive(Debug, Clone)]
pub(crate) struct Cert {
    pub(crate) arn: String,
    pub(crate) domain: Option<String>,
    pub(crate) tags: Tags,
    /// The end of its validity, Unix seconds (issue 12).
    pub(crate) not_after: Option<i64>,
    // Router pools: shared certificates (issue 9).
    /// Its subject alternative names, as ACM lists them; `None` when the
    /// listing did not give them all.
    pub(crate) sans: Option<Vec<String>>,
    /// Its status as ListCertificates gives it (`ISSUED`,
    /// `PENDING_VALIDATION`, …): what a public certificate's state is read
    /// from.
    pub(crate) status: Option<String>,
}

impl Cert {
    /// The further names of a shared certificate of an internal load
    /// balancer (its subject alternative names but its domain, sorted), the
    /// apps it covers; none for any other certificate (they cover their
    /// domain only).
    pub(crate) fn names(&self) -> Vec<String> {
        if !is_shared(&self.tags) {
            return Vec::new();
        }
        let domain = self.domain.as_deref().unwrap_or_default();
        let mut names: Vec<String> = self
            .sans
            .iter()
            .flatten()
            .filter(|n| n.as_str() != domain)
            .cloned()
            .collect();
        names.sort();
        names.dedup();
        names
    }
}

/// Whether `tags` are a shared certificate's (issue 9).
fn is_shared(tags: &Tags) -> bool {
    tags.get(convox_model::resource::TAG_ROLE)
        .map(String::as_str)
        == Some(convox_model::pool::certs::ROLE_SHARED_CERTIFICATE)
}

impl Cert {
    /// The certificate as a public one, when its listing says enough: issued
    /// (a pending one's validation records are only in its description).
    pub(crate) fn issued_public(&self) -> Option<PublicCertificate> {
        let status = CertificateStatus::from_acm(self.status.as_deref()?);
        (status == CertificateStatus::Issued).then(|| PublicCertificate {
            arn: self.arn.clone(),
            domain: self.domain.clone().unwrap_or_default(),
            sans: self.sans.clone().unwrap_or_default(),
            status,
            validation: Vec::new(),
        })
    }
}

pub(crate) async fn import_certificate(
    acm: &Client,
    spec: &CertificateSpec,
    pem: &CertificatePem,
    tags: &Tags,
) -> BackendResult<String> {
    const OP: &str = "ImportCertificate";
    let mut all = tags.clone();
    all.insert(TAG_ISSUER.to_string(), spec.issuer.clone());
    let acm_tags = all
        .iter()
        .map(|(k, v)| {
            Tag::builder()
                .key(k)
                .value(v)
                .build()
                .map_err(|e| invalid(OP, format!("tag {k}: {e}")))
        })
        .collect::<BackendResult<Vec<_>>>()?;
    let mut req = acm
        .import_certificate()
        .certificate(Blob::new(pem.certificate.as_bytes()))
        .private_key(Blob::new(pem.private_key.as_bytes()))
        .set_tags(Some(acm_tags));
    if !pem.chain.trim().is_empty() {
        req = req.certificate_chain(Blob::new(pem.chain.as_bytes()));
    }
    let out = send(OP, req.send()).await?;
    out.certificate_arn()
        .map(str::to_string)
        .ok_or_else(|| missing(OP, "certificate ARN"))
}

/// ACM's `ImportCertificate` with `CertificateArn`: the renewed certificate
/// over the same ARN, so that every listener keeps it (issue 12).
///
/// ACM refuses tags on a re-import and keeps the certificate's own; moto drops
/// them. So the tags are read first and put back after (a no-op on ACM), and
/// the certificate stays observed as the rack's.
pub(crate) async fn reimport_certificate(
    acm: &Client,
    arn: &str,
    spec: &CertificateSpec,
    pem: &CertificatePem,
) -> BackendResult<()> {
    const OP: &str = "ImportCertificate";
    let request = acm.list_tags_for_certificate().certificate_arn(arn);
    // The tags as they were (moto drops them on a re-import), with the issuer
    // of the new body.
    let mut tags: Vec<Tag> = send("ListTagsForCertificate", request.send())
        .await?
        .tags()
        .iter()
        .filter(|t| t.key() != TAG_ISSUER)
        .cloned()
        .collect();
    tags.push(
        Tag::builder()
            .key(TAG_ISSUER)
            .value(&spec.issuer)
            .build()
            .map_err(|e| invalid(OP, e.to_string()))?,
    );
    let mut req = acm
        .import_certificate()
        .certificate_arn(arn)
        .certificate(Blob::new(pem.certificate.as_bytes()))
        .private_key(Blob::new(pem.private_key.as_bytes()));
    if !pem.chain.trim().is_empty() {
        req = req.certificate_chain(Blob::new(pem.chain.as_bytes()));
    }
    send(OP, req.send()).await?;
    if !tags.is_empty() {
        let request = acm
            .add_tags_to_certificate()
            .certificate_arn(arn)
            .set_tags(Some(tags));
        send("AddTagsToCertificate", request.send()).await?;
    }
    Ok(())
}

pub(crate) async fn delete_certificate(acm: &Client, arn: &str) -> BackendResult<()> {
    let request = acm.delete_certificate().certificate_arn(arn);
    send("DeleteCertificate", request.send()).await.map(drop)
}

/// What ListCertificates says of a certificate: its ARN, domain, the end of
/// its validity, its names (when it gave them all) and its status.
type Summary = (
    String,
    Option<String>,
    Option<i64>,
    Option<Vec<String>>,
    Option<String>,
);

/// Every certificate in the region, as ListCertificates lists them (1,000 a
/// call).
async fn summaries(acm: &Client) -> BackendResult<Vec<Summary>> {
    // Without key types, ListCertificates shows only RSA certificates; ours may be
    // ECDSA.
    let every_key = Filters::builder()
        .set_key_types(Some(vec![
            KeyAlgorithm::Rsa1024,
            KeyAlgorithm::Rsa2048,
            KeyAlgorithm::Rsa3072,
            KeyAlgorithm::Rsa4096,
            KeyAlgorithm::EcPrime256v1,
            KeyAlgorithm::EcSecp384r1,
            KeyAlgorithm::EcSecp521r1,
        ]))
        .build();
    let pages = acm
        .list_certificates()
        .includes(every_key)
        .max_items(LIST_PAGE)
        .into_paginator();
    let pages = send("ListCertificates", pages.send().try_collect()).await?;
    Ok(pages
        .iter()
        .flat_map(|p| p.certificate_summary_list())
        .filter_map(|s| {
            let arn = s.certificate_arn()?.to_string();
            let not_after = s.not_after().map(|t| t.secs());
            // Every name, unless ACM says there are more than it listed.
            let sans = (!s.subject_alternative_name_summaries().is_empty()
                && s.has_additional_subject_alternative_names() != Some(true))
            .then(|| s.subject_alternative_name_summaries().to_vec());
            let status = s.status().map(|s| s.as_str().to_string());
            Some((
                arn,
                s.domain_name().map(str::to_string),
                not_after,
                sans,
                status,
            ))
        })
        .collect())
}

/// ListCertificates' largest page.
const LIST_PAGE: i32 = 1000;

/// A certificate's tags, or `None` if it was deleted since it was listed.
async fn tags_of(acm: &Client, arn: &str) -> BackendResult<Option<Tags>> {
    let t = acm
        .list_tags_for_certificate()
        .certificate_arn(arn)
        .send()
        .await;
    match t {
        Ok(t) => Ok(Some(tag_map(
            t.tags().iter().map(|t| (Some(t.key()), t.value())),
        ))),
        // Deleted between the list and now: it is not there to observe.
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_resource_not_found_exception()) =>
        {
            Ok(None)
        }
        Err(e) => Err(from_sdk("ListTagsForCertificate", e)),
    }
}

/// The rack's certificates, keeping those `keep` accepts, at a cost that does
/// not grow with the region's other certificates: `tagged` (ARN → tags, from
/// the tagging index, [`crate::tagging`]) names them; one ListCertificates
/// gives their domains and validity. A certificate the index does not name but
/// whose domain is in the rack's zone `zone` (one imported a moment ago: the
/// index lags) has its tags read on its own; in a settled account there is
/// none.
pub(crate) async fn rack_certificates(
    acm: &Client,
    tagged: &std::collections::BTreeMap<String, Tags>,
    zone: &str,
    keep: impl Fn(&Tags) -> bool,
) -> BackendResult<Vec<Cert>> {
    let in_zone = |domain: &str| {
        let d = domain.trim_end_matches('.').to_ascii_lowercase();
        d == zone || d.ends_with(&format!(".{zone}"))
    };
    let mut out = Vec::new();
    let mut listed = std::collections::BTreeSet::new();
    for (arn, domain, not_after, sans, status) in summaries(acm).await? {
        listed.insert(arn.clone());
        let tags = match tagged.get(&arn) {
            Some(tags) => tags.clone(),
            None if domain.as_deref().is_some_and(in_zone) => match tags_of(acm, &arn).await? {
                Some(tags) => tags,
                None => continue,
            },
            None => continue,
        };
        if keep(&tags) {
            out.push(Cert {
                arn,
                domain,
                tags,
                not_after,
                sans,
                status,
            });
        }
    }
    // Named by the index but not listed (a key type ListCertificates was not
    // asked for): its domain and validity are asked for below.
    for (arn, tags) in tagged {
        if !listed.contains(arn) && keep(tags) {
            out.push(Cert {
                arn: arn.clone(),
                domain: None,
                tags: tags.clone(),
                not_after: None,
                sans: None,
                status: None,
            });
        }
    }
    complete(acm, out).await
}

/// Asks ACM for the domain or validity a listing did not give; drops a
/// certificate deleted meanwhile.
async fn complete(acm: &Client, mut out: Vec<Cert>) -> BackendResult<Vec<Cert>> {
    let mut gone = Vec::new();
    for c in out.iter_mut().filter(|c| {
        c.domain.is_none() || c.not_after.is_none() || (c.sans.is_none() && is_shared(&c.tags))
    }) {
        // The summary normally has the domain and validity; ask only when not.
        let request = acm.describe_certificate().certificate_arn(&c.arn);
        let d = match send("DescribeCertificate", request.send()).await {
            Ok(d) => d,
            Err(e) if e.kind() == ErrorKind::NotFound => {
                gone.push(c.arn.clone());
                continue;
            }
            Err(e) => return Err(e),
        };
        let detail = d.certificate();
        if c.domain.is_none() {
            c.domain = detail.and_then(|c| c.domain_name()).map(str::to_string);
        }
        if c.not_after.is_none() {
            c.not_after = detail.and_then(|c| c.not_after()).map(|t| t.secs());
        }
        if c.sans.is_none() {
            c.sans = detail.map(|c| c.subject_alternative_names().to_vec());
        }
    }
    out.retain(|c| !gone.contains(&c.arn));
    Ok(out)
}

// --- Public certificates for the external router (issue 12, item 6) ---

/// An idempotency token for a request: the same domain and tags within the hour
/// ACM remembers tokens give the same certificate, so that a retried request
/// after a lost answer does not request a second one. FNV-1a, as 32 hex digits.
fn idempotency_token(domain: &str, tags: &Tags) -> String {
    let mut h: u128 = 0x6c62_272e_07bb_0142_62b8_2175_6295_c58d;
    let text = tags
        .iter()
        .fold(domain.to_string(), |acc, (k, v)| format!("{acc}|{k}={v}"));
    for b in text.bytes() {
        h ^= u128::from(b);
        h = h.wrapping_mul(0x0000_0000_0100_0000_0000_0000_0000_013b);
    }
    format!("{h:032x}")
}

fn acm_tags(op: &str, tags: &Tags) -> BackendResult<Vec<Tag>> {
    tags.iter()
        .map(|(k, v)| {
            Tag::builder()
                .key(k)
                .value(v)
                .build()
                .map_err(|e| invalid(op, format!("tag {k}: {e}")))
        })
        .collect()
}

pub(crate) async fn request_certificate(
    acm: &Client,
    domain: &str,
    tags: &Tags,
) -> BackendResult<String> {
    const OP: &str = "RequestCertificate";
    let request = acm
        .request_certificate()
        .domain_name(domain)
        .validation_method(ValidationMethod::Dns)
        .idempotency_token(idempotency_token(domain, tags))
        .set_tags(Some(acm_tags(OP, tags)?));
    let out = send(OP, request.send()).await?;
    out.certificate_arn()
        .map(str::to_string)
        .ok_or_else(|| missing(OP, "certificate ARN"))
}

pub(crate) async fn describe_certificate(
    acm: &Client,
    arn: &str,
) -> BackendResult<PublicCertificate> {
    const OP: &str = "DescribeCertificate";
    let request = acm.describe_certificate().certificate_arn(arn);
    let out = send(OP, request.send()).await?;
    let c = out
        .certificate()
        .ok_or_else(|| missing(OP, "certificate"))?;
    let mut validation: Vec<ValidationRecord> = c
        .domain_validation_options()
        .iter()
        .filter_map(|o| o.resource_record())
        .map(|r| ValidationRecord {
            name: r.name().to_string(),
            value: r.value().to_string(),
        })
        .collect();
    validation.sort();
    validation.dedup();
    let status = c
        .status()
        .map_or(CertificateStatus::Other("UNKNOWN".into()), |s| {
            CertificateStatus::from_acm(s.as_str())
        });
    Ok(PublicCertificate {
        arn: arn.to_string(),
        domain: c.domain_name().unwrap_or_default().to_string(),
        sans: c.subject_alternative_names().to_vec(),
        // ACM lists the records while it waits for them, and keeps them after.
        validation: if status == CertificateStatus::PendingValidation {
            validation
        } else {
            Vec::new()
        },
        status,
    })
}

/// The public certificates requested for `rack`'s external router: named by
/// the tagging index, then described by ACM one by one. One the index has not
/// caught up with yet is requested again by the next deploy, and ACM answers
/// that request with the same certificate (the request's idempotency token).
pub(crate) async fn requested_certificates(
    acm: &Client,
    tagging: &aws_sdk_resourcegroupstagging::Client,
    rack: &Name,
) -> BackendResult<Vec<PublicCertificate>> {
    let tags = [
        (TAG_RACK, rack.as_str()),
        (TAG_ROLE, ROLE_PUBLIC_CERTIFICATE),
    ];
    let named = crate::tagging::tagged_with(tagging, &tags, &[crate::tagging::CERTIFICATE]).await?;
    let mut out = Vec::new();
    for arn in named.certificates.keys() {
        match describe_certificate(acm, arn).await {
            Ok(d) => out.push(d),
            // Deleted between the list and now.
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    Ok(out)
}
