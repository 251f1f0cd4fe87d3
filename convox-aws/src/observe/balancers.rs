//! ELBv2 as an observation reads it: the rack's load balancers, listeners,
//! rules, attached certificates and target groups, with their tags.

use std::collections::BTreeMap;

use aws_sdk_elasticloadbalancingv2::Client as Elb;
use aws_sdk_elasticloadbalancingv2::types::{
    Listener, LoadBalancer, LoadBalancerTypeEnum, ProtocolEnum, Rule, TargetGroup,
};
use convox_model::backend::BackendResult;
use convox_model::name::Name;
use convox_model::resource::{Observed, ResourceKey, ResourceSpec as Spec, Tags, owned_by};

use super::{RULES_PER_PAGE, TAGS_PER_CALL, elb_tags, forward_target, observed};
use crate::error::send;
use crate::tagging;

/// Tags of ELBv2 resources, 20 ARNs per call.
pub(crate) async fn describe_tags(
    elb: &Elb,
    arns: &[String],
) -> BackendResult<BTreeMap<String, Tags>> {
    let mut out = BTreeMap::new();
    for chunk in arns.chunks(TAGS_PER_CALL) {
        let request = elb.describe_tags().set_resource_arns(Some(chunk.to_vec()));
        let t = send("DescribeTags", request.send()).await?;
        for d in t.tag_descriptions() {
            if let Some(arn) = d.resource_arn() {
                out.insert(arn.to_string(), elb_tags(d.tags()));
            }
        }
    }
    Ok(out)
}

/// Keeps the items whose tags say the rack owns them, with their keys and tags.
pub(super) async fn owned<T>(
    elb: &Elb,
    rack: &Name,
    items: Vec<T>,
    arn: impl Fn(&T) -> Option<&str>,
) -> BackendResult<Vec<Owned<T>>> {
    let arns: Vec<String> = items
        .iter()
        .filter_map(|i| arn(i).map(str::to_string))
        .collect();
    let mut tags = describe_tags(elb, &arns).await?;
    Ok(items
        .into_iter()
        .filter_map(|item| {
            let id = arn(&item)?.to_string();
            let t = tags.remove(&id)?;
            let key = owned_by(&t, rack)?;
            Some(Owned {
                id,
                key,
                tags: t,
                item,
            })
        })
        .collect())
}

/// An ELBv2 resource the rack owns: its ARN, key, tags and what AWS said of it.
pub(super) struct Owned<T> {
    pub(super) id: String,
    pub(super) key: ResourceKey,
    pub(super) tags: Tags,
    pub(super) item: T,
}

impl<T> Owned<T> {
    pub(super) fn observed(&self, spec: Spec) -> Observed {
        observed(self.key.clone(), &self.tags, spec, self.id.clone())
    }
}

/// The keys of owned resources by ARN, to resolve references.
pub(super) fn keys<T>(owned: &[Owned<T>]) -> BTreeMap<String, ResourceKey> {
    owned
        .iter()
        .map(|o| (o.id.clone(), o.key.clone()))
        .collect()
}

#[derive(Default)]
pub(super) struct ElbState {
    pub(super) lbs: Vec<Owned<LoadBalancer>>,
    pub(super) listeners: Vec<Owned<Listener>>,
    /// Each rule with its listener's ARN.
    pub(super) rules: Vec<Owned<(String, Rule)>>,
    /// Rules on the rack's listeners that it does not own, with their
    /// listener's ARN.
    pub(super) foreign_rules: Vec<(String, Rule)>,
    pub(super) target_groups: Vec<Owned<TargetGroup>>,
    /// (listener ARN, certificate ARN) for certificates attached besides the default.
    pub(super) sni: Vec<(String, String)>,
}

/// Every application load balancer in the region (400 a call).
pub(crate) async fn application_load_balancers(elb: &Elb) -> BackendResult<Vec<LoadBalancer>> {
    let pages = elb.describe_load_balancers().into_paginator().send();
    Ok(send("DescribeLoadBalancers", pages.try_collect())
        .await?
        .iter()
        .flat_map(|p| p.load_balancers())
        .filter(|lb| lb.r#type() == Some(&LoadBalancerTypeEnum::Application))
        .cloned()
        .collect())
}

/// The rules of a listener but its default, each with the listener's ARN.
pub(super) async fn listener_rules(
    elb: &Elb,
    listener: &str,
) -> BackendResult<Vec<(String, Rule)>> {
    let pages = elb.describe_rules().listener_arn(listener);
    let pages = pages.page_size(RULES_PER_PAGE).into_paginator().send();
    Ok(send("DescribeRules", pages.try_collect())
        .await?
        .iter()
        .flat_map(|p| p.rules())
        .filter(|r| r.is_default() != Some(true))
        .map(|r| (listener.to_string(), r.clone()))
        .collect())
}

/// The certificates attached to an HTTPS listener besides its default, as
/// (listener ARN, certificate ARN).
pub(super) async fn attached_certificates(
    elb: &Elb,
    listener: &str,
) -> BackendResult<Vec<(String, String)>> {
    let pages = elb.describe_listener_certificates().listener_arn(listener);
    let pages = pages.into_paginator().send();
    Ok(send("DescribeListenerCertificates", pages.try_collect())
        .await?
        .iter()
        .flat_map(|p| p.certificates())
        .filter(|c| c.is_default() != Some(true))
        .filter_map(|c| Some((listener.to_string(), c.certificate_arn()?.to_string())))
        .collect())
}

/// The target groups `tags` names (ARN → tags) that the rack owns, described
/// by ARN, 20 a call.
pub(super) async fn owned_target_groups(
    elb: &Elb,
    rack: &Name,
    mut tags: BTreeMap<String, Tags>,
) -> BackendResult<Vec<Owned<TargetGroup>>> {
    tags.retain(|_, t| owned_by(t, rack).is_some());
    let arns: Vec<String> = tags.keys().cloned().collect();
    Ok(crate::elb::target_groups(elb, &arns)
        .await?
        .into_iter()
        .filter_map(|item| {
            let id = item.target_group_arn()?.to_string();
            let t = tags.remove(&id)?;
            Some(Owned {
                key: owned_by(&t, rack)?,
                id,
                tags: t,
                item,
            })
        })
        .collect())
}

/// The rack's load balancers, listeners, and with `apps` its rules, certificate
/// attachments and target groups. `tagged` (ARN → tags, from the tagging index)
/// names the target groups.
pub(super) async fn elb_state(
    elb: &Elb,
    rack: &Name,
    apps: bool,
    tagged: &tagging::Tagged,
) -> BackendResult<ElbState> {
    let lbs = application_load_balancers(elb).await?;
    let lbs = owned(elb, rack, lbs, |lb| lb.load_balancer_arn()).await?;

    let mut listeners = Vec::new();
    for lb in &lbs {
        let pages = elb.describe_listeners().load_balancer_arn(&lb.id);
        let pages = pages.into_paginator().send();
        for page in send("DescribeListeners", pages.try_collect()).await? {
            listeners.extend(page.listeners().iter().cloned());
        }
    }
    let listeners = owned(elb, rack, listeners, |l| l.listener_arn()).await?;

    let mut state = ElbState {
        lbs,
        ..ElbState::default()
    };
    if apps {
        let mut rules = Vec::new();
        for l in &listeners {
            rules.extend(listener_rules(elb, &l.id).await?);
            // Certificates are attached to HTTPS listeners only.
            if l.item.protocol() == Some(&ProtocolEnum::Https) {
                state.sni.extend(attached_certificates(elb, &l.id).await?);
            }
        }
        // AWS lists an attachment once however often it was added; moto repeats
        // it. One attachment, one observed resource.
        state.sni.sort();
        state.sni.dedup();
        let all_rules = rules.clone();
        state.rules = owned(elb, rack, rules, |(_, r)| r.rule_arn()).await?;
        let ours: std::collections::BTreeSet<&str> =
            state.rules.iter().map(|r| r.id.as_str()).collect();
        state.foreign_rules = all_rules
            .into_iter()
            .filter(|(_, r)| r.rule_arn().is_some_and(|arn| !ours.contains(arn)))
            .collect();

        // The target groups the index names, and any our rules forward to that
        // it does not (yet): their tags read from ELBv2.
        let mut tags = tagged.target_groups.clone();
        let forwarded: std::collections::BTreeSet<String> = state
            .rules
            .iter()
            .filter_map(|r| forward_target(r.item.1.actions()))
            .filter(|arn| !tags.contains_key(*arn))
            .map(str::to_string)
            .collect();
        let forwarded: Vec<String> = forwarded.into_iter().collect();
        tags.extend(describe_tags(elb, &forwarded).await?);
        state.target_groups = owned_target_groups(elb, rack, tags).await?;
    }
    state.listeners = listeners;
    Ok(state)
}
