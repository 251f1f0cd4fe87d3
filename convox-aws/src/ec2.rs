//! EC2: the routers' security groups, and the rack's VPC network.

use std::collections::{BTreeMap, BTreeSet};

use aws_sdk_ec2::Client;
use aws_sdk_ec2::types::{
    Filter, IpPermission, IpRange, ResourceType, SecurityGroup, Tag, TagSpecification,
};
use convox_model::backend::BackendResult;
use convox_model::rack::Vpc;
use convox_model::resource::{IngressRule, SecurityGroupSpec, TAG_RACK, Tags};

use crate::error::{from_sdk, invalid, missing};

pub(crate) fn tag_map(tags: &[Tag]) -> Tags {
    tags.iter()
        .filter_map(|t| {
            Some((
                t.key()?.to_string(),
                t.value().unwrap_or_default().to_string(),
            ))
        })
        .collect()
}

fn permission(operation: &str, rule: &IngressRule) -> BackendResult<IpPermission> {
    if rule.protocol != "tcp" {
        return Err(invalid(
            operation,
            format!("ingress protocol {:?} is not tcp", rule.protocol),
        ));
    }
    Ok(IpPermission::builder()
        .ip_protocol("tcp")
        .from_port(i32::from(rule.port))
        .to_port(i32::from(rule.port))
        .ip_ranges(IpRange::builder().cidr_ip(&rule.cidr).build())
        .build())
}

/// The group's ingress as rules: one per (protocol, port, CIDR). Anything we would
/// never have written (port ranges, other groups as sources, IPv6) is kept as a
/// rule no spec can equal, so that the planner sees a difference and rewrites it.
pub(crate) fn ingress(group: &SecurityGroup) -> Vec<IngressRule> {
    let mut out = BTreeSet::new();
    for p in group.ip_permissions() {
        let proto = p.ip_protocol().unwrap_or_default().to_string();
        let port = match (p.from_port(), p.to_port()) {
            (Some(from), Some(to)) if from == to => u16::try_from(from).ok(),
            _ => None,
        };
        for r in p.ip_ranges() {
            out.insert(IngressRule {
                protocol: proto.clone(),
                port: port.unwrap_or(0),
                cidr: r.cidr_ip().unwrap_or_default().to_string(),
            });
        }
        for r in p.ipv6_ranges() {
            out.insert(IngressRule {
                protocol: proto.clone(),
                port: port.unwrap_or(0),
                cidr: r.cidr_ipv6().unwrap_or_default().to_string(),
            });
        }
        if !p.user_id_group_pairs().is_empty() || !p.prefix_list_ids().is_empty() {
            out.insert(IngressRule {
                protocol: proto.clone(),
                port: port.unwrap_or(0),
                cidr: "(other source)".to_string(),
            });
        }
    }
    out.into_iter().collect()
}

pub(crate) async fn create_security_group(
    ec2: &Client,
    spec: &SecurityGroupSpec,
    tags: &Tags,
) -> BackendResult<String> {
    const OP: &str = "CreateSecurityGroup";
    let ec2_tags = tags
        .iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect();
    let out = ec2
        .create_security_group()
        .group_name(&spec.name)
        .description(&spec.description)
        .vpc_id(&spec.vpc_id)
        // EC2 refuses a tag specification without tags ("must have at least
        // one tag"): an untagged group gets none.
        .set_tag_specifications((!tags.is_empty()).then(|| {
            vec![
                TagSpecification::builder()
                    .resource_type(ResourceType::SecurityGroup)
                    .set_tags(Some(ec2_tags))
                    .build(),
            ]
        }))
        .send()
        .await
        .map_err(|e| from_sdk(OP, e))?;
    let id = out
        .group_id()
        .ok_or_else(|| missing(OP, "group id"))?
        .to_string();
    // The group exists and is tagged: if this fails, observe finds it and a later
    // update_security_group finishes the job.
    authorize(ec2, &id, &spec.ingress).await?;
    Ok(id)
}

async fn authorize(ec2: &Client, id: &str, rules: &[IngressRule]) -> BackendResult<()> {
    const OP: &str = "AuthorizeSecurityGroupIngress";
    if rules.is_empty() {
        return Ok(());
    }
    let perms = rules
        .iter()
        .map(|r| permission(OP, r))
        .collect::<BackendResult<Vec<_>>>()?;
    ec2.authorize_security_group_ingress()
        .group_id(id)
        .set_ip_permissions(Some(perms))
        .send()
        .await
        .map_err(|e| from_sdk(OP, e))?;
    Ok(())
}

pub(crate) async fn update_security_group(
    ec2: &Client,
    id: &str,
    spec: &SecurityGroupSpec,
) -> BackendResult<()> {
    const OP: &str = "RevokeSecurityGroupIngress";
    let out = ec2
        .describe_security_groups()
        .group_ids(id)
        .send()
        .await
        .map_err(|e| from_sdk("DescribeSecurityGroups", e))?;
    let group = out
        .security_groups()
        .first()
        .ok_or_else(|| missing("DescribeSecurityGroups", "security group"))?;
    let have: BTreeSet<IngressRule> = ingress(group).into_iter().collect();
    let want: BTreeSet<IngressRule> = spec.ingress.iter().cloned().collect();
    let add: Vec<IngressRule> = want.difference(&have).cloned().collect();
    // Revoke what we can name exactly; anything else (ranges, group sources) is
    // revoked by replaying AWS's own permission as it was read.
    let mut revoke: Vec<IpPermission> = Vec::new();
    for p in group.ip_permissions() {
        let rules_of_p = ingress(&SecurityGroup::builder().ip_permissions(p.clone()).build());
        if rules_of_p.iter().any(|r| !want.contains(r)) {
            let simple = rules_of_p
                .iter()
                .all(|r| r.protocol == "tcp" && r.port != 0 && !r.cidr.contains('('));
            if simple {
                for r in rules_of_p.iter().filter(|r| !want.contains(r)) {
                    revoke.push(permission(OP, r)?);
                }
            } else {
                revoke.push(p.clone());
            }
        }
    }
    if !revoke.is_empty() {
        ec2.revoke_security_group_ingress()
            .group_id(id)
            .set_ip_permissions(Some(revoke))
            .send()
            .await
            .map_err(|e| from_sdk(OP, e))?;
    }
    authorize(ec2, id, &add).await
}

pub(crate) async fn delete_security_group(ec2: &Client, id: &str) -> BackendResult<()> {
    ec2.delete_security_group()
        .group_id(id)
        .send()
        .await
        .map_err(|e| from_sdk("DeleteSecurityGroup", e))?;
    Ok(())
}

/// Every security group tagged for `rack`, paginated.
pub(crate) async fn rack_security_groups(
    ec2: &Client,
    rack: &str,
) -> BackendResult<Vec<SecurityGroup>> {
    const OP: &str = "DescribeSecurityGroups";
    let mut pages = ec2
        .describe_security_groups()
        .filters(
            Filter::builder()
                .name(format!("tag:{TAG_RACK}"))
                .values(rack)
                .build(),
        )
        .into_paginator()
        .send();
    let mut groups = Vec::new();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| from_sdk(OP, e))?;
        groups.extend(page.security_groups().iter().cloned());
    }
    Ok(groups)
}

/// A VPC's CIDR and one subnet per availability zone (an ALB takes at most one
/// per zone), sorted by id.
pub(crate) async fn vpc_network(ec2: &Client, vpc_id: &str) -> BackendResult<(Vpc, Vec<String>)> {
    let vpcs = ec2
        .describe_vpcs()
        .vpc_ids(vpc_id)
        .send()
        .await
        .map_err(|e| from_sdk("DescribeVpcs", e))?;
    let vpc = vpcs
        .vpcs()
        .first()
        .ok_or_else(|| missing("DescribeVpcs", "VPC"))?;
    let cidr = vpc
        .cidr_block()
        .ok_or_else(|| missing("DescribeVpcs", "CIDR block"))?
        .to_string();

    const OP: &str = "DescribeSubnets";
    let mut pages = ec2
        .describe_subnets()
        .filters(Filter::builder().name("vpc-id").values(vpc_id).build())
        .into_paginator()
        .send();
    // Per zone, prefer the zone's default subnet, then the lowest id: stable
    // across calls.
    let mut by_zone: BTreeMap<String, (bool, String)> = BTreeMap::new();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| from_sdk(OP, e))?;
        for s in page.subnets() {
            let (Some(id), Some(zone)) = (s.subnet_id(), s.availability_zone()) else {
                continue;
            };
            let candidate = (!s.default_for_az().unwrap_or(false), id.to_string());
            by_zone
                .entry(zone.to_string())
                .and_modify(|best| {
                    if candidate < *best {
                        *best = candidate.clone();
                    }
                })
                .or_insert(candidate);
        }
    }
    let mut subnets: Vec<String> = by_zone.into_values().map(|(_, id)| id).collect();
    // Sorted by id, as observe reports a load balancer's subnets.
    subnets.sort();
    Ok((
        Vpc {
            id: vpc_id.to_string(),
            cidr,
        },
        subnets,
    ))
}

/// The region's default VPC, if it has one.
pub(crate) async fn default_vpc(ec2: &Client) -> BackendResult<Option<String>> {
    let out = ec2
        .describe_vpcs()
        .filters(Filter::builder().name("is-default").values("true").build())
        .send()
        .await
        .map_err(|e| from_sdk("DescribeVpcs", e))?;
    Ok(out
        .vpcs()
        .first()
        .and_then(|v| v.vpc_id())
        .map(str::to_string))
}
