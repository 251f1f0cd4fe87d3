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
            Some((arn, s.domain_name().map(str::to_string)))
        });
    let mut out = Vec::new();
    for (arn, domain) in summaries {
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
            out.push(Cert { arn, domain, tags });
        }
    }
    for c in out.iter_mut().filter(|c| c.domain.is_none()) {
        // The summary normally has the domain; ask only when it does not.
        let request = acm.describe_certificate().certificate_arn(&c.arn);
        let d = send("DescribeCertificate", request.send()).await?;
        c.domain = d
            .certificate()
            .and_then(|c| c.domain_name())
            .map(str::to_string);
    }
    Ok(out)
}
