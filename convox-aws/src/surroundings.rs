//! What touches a rack's resources without being its own, read for `rack
//! audit`: every security group on the rack's load balancers (the foreign ones
//! with their ingress) and every rule on its listeners that it does not own.

use std::collections::BTreeSet;

use aws_sdk_ec2::Client as Ec2;
use aws_sdk_elasticloadbalancingv2::Client as Elb;
use convox_model::backend::BackendResult;
use convox_model::name::Name;
use convox_model::resource::{ForeignRule, ForeignSecurityGroup, Surroundings, owned_by};

use crate::ec2;
use crate::error::send;
use crate::observe::{describe_tags, rule_hosts, tag_map};

/// DescribeRules' largest page.
const RULES_PER_PAGE: i32 = 400;

/// See [`convox_model::backend::Backend::observe_surroundings`].
pub(crate) async fn observe_surroundings(
    elb: &Elb,
    ec2_client: &Ec2,
    rack: &Name,
) -> BackendResult<Surroundings> {
    let mut out = Surroundings::default();

    let lbs = crate::observe::application_load_balancers(elb).await?;
    let arns: Vec<String> = lbs
        .iter()
        .filter_map(|lb| lb.load_balancer_arn().map(str::to_string))
        .collect();
    let tags = describe_tags(elb, &arns).await?;
    let mut attached = BTreeSet::new();
    let mut ours = Vec::new();
    for lb in &lbs {
        let Some(arn) = lb.load_balancer_arn() else {
            continue;
        };
        if tags.get(arn).and_then(|t| owned_by(t, rack)).is_none() {
            continue;
        }
        let mut ids: Vec<String> = lb.security_groups().to_vec();
        ids.sort();
        ids.dedup();
        attached.extend(ids.iter().cloned());
        out.load_balancer_security_groups
            .insert(arn.to_string(), ids);
        ours.push(arn.to_string());
    }

    if !attached.is_empty() {
        let request = ec2_client
            .describe_security_groups()
            .set_group_ids(Some(attached.into_iter().collect()));
        let groups = send("DescribeSecurityGroups", request.send()).await?;
        for g in groups.security_groups() {
            let t = tag_map(g.tags().iter().map(|t| (t.key(), t.value())));
            if owned_by(&t, rack).is_some() {
                continue;
            }
            let mut ingress = ec2::ingress(g);
            ingress.sort();
            out.foreign_security_groups.push(ForeignSecurityGroup {
                id: g.group_id().unwrap_or_default().to_string(),
                name: g.group_name().unwrap_or_default().to_string(),
                ingress,
            });
        }
        out.foreign_security_groups.sort_by(|a, b| a.id.cmp(&b.id));
    }

    let mut listeners = Vec::new();
    for lb in &ours {
        let pages = elb.describe_listeners().load_balancer_arn(lb);
        let pages = pages.into_paginator().send();
        for page in send("DescribeListeners", pages.try_collect()).await? {
            listeners.extend(
                page.listeners()
                    .iter()
                    .filter_map(|l| l.listener_arn().map(str::to_string)),
            );
        }
    }
    let listener_tags = describe_tags(elb, &listeners).await?;
    for listener in listeners.iter().filter(|l| {
        listener_tags
            .get(*l)
            .and_then(|t| owned_by(t, rack))
            .is_some()
    }) {
        let pages = elb.describe_rules().listener_arn(listener);
        let pages = pages.page_size(RULES_PER_PAGE).into_paginator().send();
        let mut rules = Vec::new();
        for page in send("DescribeRules", pages.try_collect()).await? {
            rules.extend(
                page.rules()
                    .iter()
                    .filter(|r| r.is_default() != Some(true))
                    .cloned(),
            );
        }
        let arns: Vec<String> = rules
            .iter()
            .filter_map(|r| r.rule_arn().map(str::to_string))
            .collect();
        let rule_tags = describe_tags(elb, &arns).await?;
        for r in &rules {
            let Some(arn) = r.rule_arn() else { continue };
            if rule_tags.get(arn).and_then(|t| owned_by(t, rack)).is_some() {
                continue;
            }
            out.foreign_rules.push(ForeignRule {
                id: arn.to_string(),
                listener_id: listener.clone(),
                priority: r.priority().and_then(|p| p.parse().ok()),
                hosts: rule_hosts(r),
            });
        }
    }
    out.foreign_rules.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(out)
}
