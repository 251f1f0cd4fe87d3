//! The Resource Groups Tagging API: the rack's target groups and certificates,
//! found by their `convox:rack` tag, whatever else the account holds.
//!
//! ELBv2 and ACM list every resource of the region and read tags one batch
//! (DescribeTags: 20 ARNs) or one certificate (ListTagsForCertificate) at a
//! time, so finding ours among them costs what the account holds. `GetResources`
//! with a tag filter answers with ours alone, and their tags, in one call per
//! page.
//!
//! AWS builds the tagging index behind the services: a resource tagged a moment
//! ago may be missing from it. The observation does not trust it alone
//! ([`crate::observe`]): every target group a rule of the rack forwards to and
//! every certificate on one of its listeners is read from its own service, and
//! so is every certificate whose domain is in the rack's zone. What the index
//! may still miss is a target group created in the last moments with no rule
//! yet, which the next deploy creates again: AWS answers a second
//! `CreateTargetGroup` with the same settings with the group that exists.

use std::collections::BTreeMap;

use aws_sdk_resourcegroupstagging::Client;
use aws_sdk_resourcegroupstagging::types::TagFilter;
use convox_model::backend::BackendResult;
use convox_model::name::Name;
use convox_model::resource::{TAG_APP, TAG_RACK, Tags};

use crate::error::send;
use crate::observe::tag_map;

/// `GetResources`'s resource type of an ELBv2 target group.
pub(crate) const TARGET_GROUP: &str = "elasticloadbalancing:targetgroup";
/// `GetResources`'s resource type of an ACM certificate.
pub(crate) const CERTIFICATE: &str = "acm:certificate";

/// The most tags `GetResources` returns in a page (it takes a page size in
/// resources or in tags, not both; ours carry five to seven tags each).
const TAGS_PER_PAGE: i32 = 500;

/// What the index holds of a rack: ARN → tags, by kind.
#[derive(Debug, Default)]
pub(crate) struct Tagged {
    pub(crate) target_groups: BTreeMap<String, Tags>,
    pub(crate) certificates: BTreeMap<String, Tags>,
}

/// Every resource of `types` tagged `convox:rack={rack}` (and
/// `convox:app={app}`, when given), with its tags.
pub(crate) async fn tagged(
    client: &Client,
    rack: &Name,
    app: Option<&Name>,
    types: &[&str],
) -> BackendResult<Tagged> {
    let mut tags = vec![(TAG_RACK, rack.as_str())];
    if let Some(app) = app {
        tags.push((TAG_APP, app.as_str()));
    }
    tagged_with(client, &tags, types).await
}

/// Every resource of `types` with every tag of `tags` (key, value), with its
/// tags.
pub(crate) async fn tagged_with(
    client: &Client,
    tags: &[(&str, &str)],
    types: &[&str],
) -> BackendResult<Tagged> {
    let filters = tags
        .iter()
        .map(|(key, value)| TagFilter::builder().key(*key).values(*value).build())
        .collect();
    let pages = client
        .get_resources()
        .set_tag_filters(Some(filters))
        .set_resource_type_filters(Some(types.iter().map(|t| t.to_string()).collect()))
        .tags_per_page(TAGS_PER_PAGE)
        .into_paginator()
        .send();
    let pages = send("GetResources", pages.try_collect()).await?;
    let mut out = Tagged::default();
    for m in pages.iter().flat_map(|p| p.resource_tag_mapping_list()) {
        let Some(arn) = m.resource_arn() else {
            continue;
        };
        let tags = tag_map(m.tags().iter().map(|t| (Some(t.key()), Some(t.value()))));
        match kind(arn) {
            Some(Kind::Certificate) => out.certificates.insert(arn.to_string(), tags),
            Some(Kind::TargetGroup) => out.target_groups.insert(arn.to_string(), tags),
            None => None,
        };
    }
    Ok(out)
}

#[derive(Debug, PartialEq, Eq)]
enum Kind {
    TargetGroup,
    Certificate,
}

/// What an ARN names, of the kinds asked for:
/// `arn:{partition}:{service}:{region}:{account}:{type}/{id}`.
fn kind(arn: &str) -> Option<Kind> {
    let mut parts = arn.splitn(6, ':');
    match (parts.nth(2), parts.nth(2)) {
        (Some("acm"), Some(r)) if r.starts_with("certificate/") => Some(Kind::Certificate),
        (Some("elasticloadbalancing"), Some(r)) if r.starts_with("targetgroup/") => {
            Some(Kind::TargetGroup)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arns_are_sorted_by_service_and_type() {
        let account = "us-east-1:123456789012";
        let cases = [
            (
                format!("arn:aws:acm:{account}:certificate/abc"),
                Some(Kind::Certificate),
            ),
            (
                format!("arn:aws:elasticloadbalancing:{account}:targetgroup/tg/1"),
                Some(Kind::TargetGroup),
            ),
            // A load balancer, another partition's certificate, no ARN at all.
            (
                format!("arn:aws:elasticloadbalancing:{account}:loadbalancer/app/x/1"),
                None,
            ),
            (
                format!("arn:aws-cn:acm:{account}:certificate/abc"),
                Some(Kind::Certificate),
            ),
            (format!("arn:aws:iam:{account}:certificate/abc"), None),
            ("certificate/abc".to_string(), None),
        ];
        for (arn, want) in cases {
            assert_eq!(kind(&arn), want, "{arn}");
        }
    }
}
