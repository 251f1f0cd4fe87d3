//! What a deploy of one app reads of ELBv2 ([`Scope::Deploy`]), at a cost
//! that grows with the app and not with the rack or the account.
//!
//! - Load balancers: the region's are listed (one call per 400), and only
//!   those named as the model names the rack's
//!   ([`shard_load_balancer_name`]) are read further: their listeners, the
//!   rules of their HTTPS listeners, and the certificates attached to the
//!   internal router's.
//! - Tags are read only for what may be the app's or the rack's: those load
//!   balancers and their listeners, and the rules that forward to one of the
//!   app's target groups or route a hostname that may be the app's
//!   ([`may_route_app_host`]); with the target groups such a rule forwards
//!   to that the index did not name. One `DescribeTags` for up to 20.
//! - Every other rule on those listeners is an obstacle: its priority is kept
//!   clear of and it counts towards the load balancer's quotas, and nothing
//!   reads its tags.
//!
//! [`Scope::Deploy`]: convox_model::resource::Scope::Deploy

use std::collections::{BTreeMap, BTreeSet};

use aws_sdk_elasticloadbalancingv2::Client as Elb;
use aws_sdk_elasticloadbalancingv2::types::{LoadBalancerSchemeEnum, ProtocolEnum, Rule};
use convox_model::backend::BackendResult;
use convox_model::desired::shard_load_balancer_name;
use convox_model::exposure::{Router, Shard};
use convox_model::name::Name;
use convox_model::observe::may_route_app_host;
use convox_model::resource::{Tags, owned_by};

use super::{
    ElbState, Owned, application_load_balancers, attached_certificates, describe_tags,
    forward_target, listener_rules, owned_target_groups, rule_hosts,
};
use crate::error::send;
use crate::tagging::Tagged;

/// Whether `name` is the name the model gives one of `rack`'s load balancers:
/// `cx-{rack}-{i|e}{n}-{hash}`, the hash covering the rack and the shard.
pub(super) fn is_rack_load_balancer(rack: &Name, name: &str) -> bool {
    let mut parts = name.rsplitn(3, '-');
    let (Some(_hash), Some(slot), Some(_)) = (parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    let (router, index) = match slot.split_at_checked(1) {
        Some(("i", n)) => (Router::Internal, n),
        Some(("e", n)) => (Router::External, n),
        _ => return false,
    };
    let index = match index {
        "" => Some(Shard::first(router)),
        n => n.parse().ok().and_then(|i| Shard::new(router, i)),
    };
    index.is_some_and(|shard| shard_load_balancer_name(rack, shard) == name)
}

/// `item`, whose ARN is `arn`, as the rack's when the tags read for it say
/// so; otherwise `item` back.
fn claim<T>(
    tags: &mut BTreeMap<String, Tags>,
    rack: &Name,
    arn: Option<String>,
    item: T,
) -> Result<Owned<T>, T> {
    let Some((id, tags)) = arn.and_then(|arn| tags.remove_entry(&arn)) else {
        return Err(item);
    };
    match owned_by(&tags, rack) {
        Some(key) => Ok(Owned {
            id,
            key,
            tags,
            item,
        }),
        None => Err(item),
    }
}

/// The rack's load balancers and listeners, every rule on its HTTPS listeners
/// (the app's, those that may take its hostnames, and obstacles), the
/// certificates attached to its internal HTTPS listeners, and the app's target
/// groups. `tagged` holds the app's target groups, from the index.
pub(super) async fn elb_state(
    elb: &Elb,
    rack: &Name,
    app: &Name,
    tagged: &Tagged,
) -> BackendResult<ElbState> {
    let lbs: Vec<_> = application_load_balancers(elb)
        .await?
        .into_iter()
        .filter(|lb| {
            lb.load_balancer_name()
                .is_some_and(|n| is_rack_load_balancer(rack, n))
        })
        .collect();

    let mut listeners = Vec::new();
    for lb in &lbs {
        let Some(arn) = lb.load_balancer_arn() else {
            continue;
        };
        let pages = elb.describe_listeners().load_balancer_arn(arn);
        for page in send(
            "DescribeListeners",
            pages.into_paginator().send().try_collect(),
        )
        .await?
        {
            listeners.extend(page.listeners().iter().cloned());
        }
    }
    let internal: BTreeSet<&str> = lbs
        .iter()
        .filter(|lb| lb.scheme() == Some(&LoadBalancerSchemeEnum::Internal))
        .filter_map(|lb| lb.load_balancer_arn())
        .collect();

    let mut rules: Vec<(String, Rule)> = Vec::new();
    let mut sni = Vec::new();
    for l in &listeners {
        // Rules and attached certificates are on the HTTPS listeners; the
        // others redirect.
        let (Some(arn), Some(&ProtocolEnum::Https)) = (l.listener_arn(), l.protocol()) else {
            continue;
        };
        rules.extend(listener_rules(elb, arn).await?);
        // Only the internal router's listeners carry the apps' certificates.
        if l.load_balancer_arn()
            .is_some_and(|lb| internal.contains(lb))
        {
            sni.extend(attached_certificates(elb, arn).await?);
        }
    }
    sni.sort();
    sni.dedup();

    // What may be the app's: a rule forwarding to one of its target groups, or
    // routing a hostname that may be its.
    let candidate = |rule: &Rule| {
        forward_target(rule.actions()).is_some_and(|tg| tagged.target_groups.contains_key(tg))
            || rule_hosts(rule)
                .iter()
                .any(|h| may_route_app_host(rack, app, h))
    };
    let (candidates, mut obstacles): (Vec<_>, Vec<_>) =
        rules.into_iter().partition(|(_, r)| candidate(r));
    let unnamed: BTreeSet<String> = candidates
        .iter()
        .filter_map(|(_, r)| forward_target(r.actions()))
        .filter(|tg| !tagged.target_groups.contains_key(*tg))
        .map(str::to_string)
        .collect();
    let arns: Vec<String> = lbs
        .iter()
        .filter_map(|lb| lb.load_balancer_arn())
        .chain(listeners.iter().filter_map(|l| l.listener_arn()))
        .chain(candidates.iter().filter_map(|(_, r)| r.rule_arn()))
        .map(str::to_string)
        .chain(unnamed.iter().cloned())
        .collect();
    let mut tags = describe_tags(elb, &arns).await?;

    let mut state = ElbState::default();
    for lb in lbs {
        let arn = lb.load_balancer_arn().map(str::to_string);
        state.lbs.extend(claim(&mut tags, rack, arn, lb).ok());
    }
    let ours: BTreeSet<String> = state.lbs.iter().map(|o| o.id.clone()).collect();
    for l in listeners {
        if l.load_balancer_arn().is_some_and(|lb| ours.contains(lb)) {
            let arn = l.listener_arn().map(str::to_string);
            state.listeners.extend(claim(&mut tags, rack, arn, l).ok());
        }
    }
    let listening: BTreeSet<String> = state.listeners.iter().map(|o| o.id.clone()).collect();
    for (listener, rule) in candidates {
        let arn = rule.rule_arn().map(str::to_string);
        match claim(&mut tags, rack, arn, (listener, rule)) {
            Ok(owned) => state.rules.push(owned),
            Err(theirs) => obstacles.push(theirs),
        }
    }
    // Another app's rule is an obstacle, unless it may take one of this app's
    // hostnames: then it is reported as it is, for the planner to refuse.
    let (mine, others): (Vec<_>, Vec<_>) = state.rules.into_iter().partition(|r| {
        r.key.app().is_none_or(|a| a == app.as_str())
            || rule_hosts(&r.item.1)
                .iter()
                .any(|h| may_route_app_host(rack, app, h))
    });
    state.rules = mine;
    obstacles.extend(others.into_iter().map(|r| r.item));
    state.foreign_rules = obstacles
        .into_iter()
        .filter(|(listener, _)| listening.contains(listener))
        .collect();
    state.rules.retain(|r| listening.contains(&r.item.0));
    state.sni = sni
        .into_iter()
        .filter(|(listener, _)| listening.contains(listener))
        .collect();

    // The app's target groups and those its rules forward to that the index
    // did not name yet, described by ARN.
    let mut groups: BTreeMap<String, Tags> = tagged.target_groups.clone();
    for arn in unnamed {
        if let Some(t) = tags.remove(&arn) {
            groups.insert(arn, t);
        }
    }
    state.target_groups = owned_target_groups(elb, rack, groups).await?;
    Ok(state)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_racks_load_balancers_are_known_by_name() {
        let rack = Name::new("production").unwrap();
        let other = Name::new("staging").unwrap();
        for router in Router::ALL {
            for index in [1, 2, 17] {
                let shard = Shard::new(router, index).unwrap();
                let name = shard_load_balancer_name(&rack, shard);
                assert!(is_rack_load_balancer(&rack, &name), "{name}");
                assert!(!is_rack_load_balancer(&other, &name), "{name}");
            }
        }
        for name in [
            "",
            "cx",
            "cx-production",
            "web-alb",
            "cx-production-x-00000000",
        ] {
            assert!(!is_rack_load_balancer(&rack, name), "{name}");
        }
    }
}
