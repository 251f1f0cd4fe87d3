//! EC2: the routers' security groups, and the rack's VPC network.

use std::collections::{BTreeMap, BTreeSet};

use aws_sdk_ec2::Client;
use aws_sdk_ec2::types::{
    Filter, IpPermission, IpRange, ResourceType, SecurityGroup, Tag, TagSpecification,
};
use convox_model::backend::BackendResult;
use convox_model::rack::Vpc;
use convox_model::resource::{IngressRule, SecurityGroupSpec, TAG_RACK, Tags};

use crate::error::{invalid, missing, send};

fn filter(name: &str, value: &str) -> Filter {
    Filter::builder().name(name).values(value).build()
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
    let ec2_tags: Vec<Tag> = tags
        .iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect();
    // EC2 refuses a tag specification without tags (InvalidParameterValue).
    let tag_spec = (!ec2_tags.is_empty()).then(|| {
        TagSpecification::builder()
            .resource_type(ResourceType::SecurityGroup)
            .set_tags(Some(ec2_tags))
            .build()
    });
    let request = ec2
        .create_security_group()
        .group_name(&spec.name)
        .description(&spec.description)
        .vpc_id(&spec.vpc_id)
        .set_tag_specifications(tag_spec.map(|t| vec![t]));
    let out = send(OP, request.send()).await?;
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
    let request = ec2
        .authorize_security_group_ingress()
        .group_id(id)
        .set_ip_permissions(Some(perms));
    send(OP, request.send()).await.map(drop)
}

pub(crate) async fn update_security_group(
    ec2: &Client,
    id: &str,
    spec: &SecurityGroupSpec,
) -> BackendResult<()> {
    const OP: &str = "RevokeSecurityGroupIngress";
    let request = ec2.describe_security_groups().group_ids(id);
    let out = send("DescribeSecurityGroups", request.send()).await?;
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
        let request = ec2
            .revoke_security_group_ingress()
            .group_id(id)
            .set_ip_permissions(Some(revoke));
        send(OP, request.send()).await?;
    }
    authorize(ec2, id, &add).await
}

pub(crate) async fn delete_security_group(ec2: &Client, id: &str) -> BackendResult<()> {
    let request = ec2.delete_security_group().group_id(id);
    send("DeleteSecurityGroup", request.send()).await.map(drop)
}

/// Every security group tagged for `rack`, paginated.
pub(crate) async fn rack_security_groups(
    ec2: &Client,
    rack: &str,
) -> BackendResult<Vec<SecurityGroup>> {
    let pages = ec2
        .describe_security_groups()
        .filters(filter(&format!("tag:{TAG_RACK}"), rack))
        .into_paginator();
    let pages = send("DescribeSecurityGroups", pages.send().try_collect()).await?;
    Ok(pages
        .iter()
        .flat_map(|p| p.security_groups().iter().cloned())
        .collect())
}

/// A VPC's CIDR and one subnet per availability zone (an ALB takes at most one
/// per zone), sorted by id.
pub(crate) async fn vpc_network(ec2: &Client, vpc_id: &str) -> BackendResult<(Vpc, Vec<String>)> {
    let vpcs = send("DescribeVpcs", ec2.describe_vpcs().vpc_ids(vpc_id).send()).await?;
    let vpc = vpcs
        .vpcs()
        .first()
        .ok_or_else(|| missing("DescribeVpcs", "VPC"))?;
    let cidr = vpc
        .cidr_block()
        .ok_or_else(|| missing("DescribeVpcs", "CIDR block"))?
        .to_string();

    let pages = ec2
        .describe_subnets()
        .filters(filter("vpc-id", vpc_id))
        .into_paginator();
    let pages = send("DescribeSubnets", pages.send().try_collect()).await?;
    // Per zone, prefer the zone's default subnet, then the lowest id: stable
    // across calls.
    let mut by_zone: BTreeMap<String, (bool, String)> = BTreeMap::new();
    for page in &pages {
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
    let request = ec2.describe_vpcs().filters(filter("is-default", "true"));
    let out = send("DescribeVpcs", request.send()).await?;
    Ok(out
        .vpcs()
        .first()
        .and_then(|v| v.vpc_id())
        .map(str::to_string))
}
