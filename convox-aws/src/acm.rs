//! ACM: the certificates issued by the rack's CA, imported with their tags.

use aws_sdk_acm::Client;
use aws_sdk_acm::primitives::Blob;
use aws_sdk_acm::types::{Filters, KeyAlgorithm, Tag};
use convox_model::backend::{BackendResult, CertificatePem};
use convox_model::resource::{CertificateSpec, Tags};

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
    pem: &CertificatePem,
) -> BackendResult<()> {
    const OP: &str = "ImportCertificate";
    let request = acm.list_tags_for_certificate().certificate_arn(arn);
    let tags = send("ListTagsForCertificate", request.send())
        .await?
        .tags()
        .to_vec();
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

/// Every certificate in the region with its tags, keeping those `keep` accepts.
///
/// ACM has no tag filter, so each certificate's tags cost one call.
pub(crate) async fn certificates(
    acm: &Client,
    keep: impl Fn(&Tags) -> bool,
) -> BackendResult<Vec<Cert>> {
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
    let pages = acm.list_certificates().includes(every_key).into_paginator();
    let pages = send("ListCertificates", pages.send().try_collect()).await?;
    let summaries = pages
        .iter()
        .flat_map(|p| p.certificate_summary_list())
        .filter_map(|s| {
            let arn = s.certificate_arn()?.to_string();
            let not_after = s.not_after().map(|t| t.secs());
            Some((arn, s.domain_name().map(str::to_string), not_after))
        });
    let mut out = Vec::new();
    for (arn, domain, not_after) in summaries {
        let t = acm
            .list_tags_for_certificate()
            .certificate_arn(&arn)
            .send()
            .await;
        let t = match t {
            Ok(t) => t,
            // Deleted between the list and now: it is not there to observe.
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_resource_not_found_exception()) =>
            {
                continue;
            }
            Err(e) => return Err(from_sdk("ListTagsForCertificate", e)),
        };
        let tags = tag_map(t.tags().iter().map(|t| (Some(t.key()), t.value())));
        if keep(&tags) {
            out.push(Cert {
                arn,
                domain,
                tags,
                not_after,
            });
        }
    }
    for c in out
        .iter_mut()
        .filter(|c| c.domain.is_none() || c.not_after.is_none())
    {
        // The summary normally has the domain and validity; ask only when not.
        let request = acm.describe_certificate().certificate_arn(&c.arn);
        let d = send("DescribeCertificate", request.send()).await?;
        let detail = d.certificate();
        if c.domain.is_none() {
            c.domain = detail.and_then(|c| c.domain_name()).map(str::to_string);
        }
        if c.not_after.is_none() {
            c.not_after = detail.and_then(|c| c.not_after()).map(|t| t.secs());
        }
    }
    Ok(out)
}
