//! The checks a plan must pass before anything is changed: references, AWS's
//! quotas, certificate coverage and hostname uniqueness.

use std::collections::{BTreeMap, BTreeSet};

use super::PlanError;
use crate::aws::Quotas;
use crate::exposure::{Hostname, Router};
use crate::resource::{Observed, Protocol, Resource, ResourceKey, ResourceSpec, Scope};

/// Every resource as it will be after the plan: desired ones in scope, observed
/// ones elsewhere.
pub(super) fn final_state<'a>(
    scope: &Scope,
    desired: &'a BTreeMap<ResourceKey, Resource>,
    current: &BTreeMap<&ResourceKey, &'a Observed>,
) -> BTreeMap<&'a ResourceKey, &'a Resource> {
    let mut after: BTreeMap<&ResourceKey, &Resource> = current
        .values()
        .filter(|o| !o.resource.key.in_scope(scope))
        .map(|o| (&o.resource.key, &o.resource))
        .collect();
    after.extend(desired.iter());
    after
}

pub(super) fn check_references(
    desired: &BTreeMap<ResourceKey, Resource>,
    after: &BTreeMap<&ResourceKey, &Resource>,
) -> Result<(), PlanError> {
    for (key, res) in desired {
        for reference in res.spec.references() {
            // A public certificate the rack does not own is named by its ARN.
            if crate::public_cert::referenced_arn(reference).is_some() {
                continue;
            }
            if !after.contains_key(reference) {
                // Not the rack rule (that is validate's, checked at the entry):
                // the diagnosis of a router resource that does not exist.
                let router = reference
                    .subject()
                    .router()
                    .filter(|_| reference.app().is_none());
                let hint = if router == Some(Router::Internal) {
                    "the rack has no internal router: convox rack params set Internal=Yes"
                } else if router == Some(Router::External) {
                    "the rack has no external router: convox rack params set InternalOnly=No"
                } else if reference.app().is_none() {
                    "the rack's own resources are missing: reconcile the rack first (convox rack params set, or deploy)"
                } else {
                    "this is a bug in the desired state"
                };
                return Err(PlanError::MissingDependency {
                    key: key.clone(),
                    reference: reference.clone(),
                    hint: hint.to_string(),
                });
            }
        }
    }
    Ok(())
}

/// AWS's quotas over what will exist: `after`, and the `obstacles` on the
/// rack's listeners (foreign rules count towards them on AWS too).
pub(super) fn check_quotas(
    after: &BTreeMap<&ResourceKey, &Resource>,
    obstacles: &[&Observed],
    desired: &BTreeMap<ResourceKey, Resource>,
    quotas: &Quotas,
) -> Result<(), PlanError> {
    for (key, res) in desired {
        if let ResourceSpec::ListenerRule(rule) = &res.spec
            && rule.hosts.len() > quotas.condition_values_per_rule
        {
            return Err(PlanError::Quota {
                what: format!("host names in rule {key}"),
                count: rule.hosts.len(),
                limit: quotas.condition_values_per_rule,
                hint: "AWS allows 5 condition values per rule; split the hosts over more rules"
                    .to_string(),
            });
        }
    }

    let listener_lb: BTreeMap<&ResourceKey, &ResourceKey> = after
        .iter()
        .filter_map(|(k, r)| match &r.spec {
            ResourceSpec::Listener(l) => Some((*k, &l.load_balancer)),
            _ => None,
        })
        .collect();
    let mut rules: BTreeMap<&ResourceKey, usize> = BTreeMap::new();
    let mut groups: BTreeMap<&ResourceKey, BTreeSet<&ResourceKey>> = BTreeMap::new();
    let mut certs: BTreeMap<&ResourceKey, usize> = BTreeMap::new();
    for r in after
        .values()
        .copied()
        .chain(obstacles.iter().map(|o| &o.resource))
    {
        match &r.spec {
            ResourceSpec::ListenerRule(rule) => {
                if let Some(lb) = listener_lb.get(&rule.listener) {
                    *rules.entry(lb).or_default() += 1;
                    groups.entry(lb).or_default().insert(&rule.target_group);
                }
            }
            ResourceSpec::ListenerCertificate(lc) => *certs.entry(&lc.listener).or_default() += 1,
            _ => {}
        }
    }
    let groups = groups
        .into_iter()
        .map(|(lb, tgs)| (lb, tgs.len()))
        .collect();
    let checks = [
        (
            rules,
            quotas.rules_per_load_balancer,
            "listener rules",
            "each routed service takes one rule per router; remove a port: from services that need no routing, or raise the 'Rules per Application Load Balancer' quota with AWS and aws::Quotas::rules_per_load_balancer",
        ),
        (
            groups,
            quotas.target_groups_per_load_balancer,
            "target groups",
            "each routed service takes one target group per router; AWS cannot raise this quota: remove a port: from services that need no routing, or move apps to another rack",
        ),
        (
            certs,
            quotas.certificates_per_load_balancer,
            "certificates",
            "each app with internal services attaches one certificate; raise the 'Certificates per Application Load Balancer' quota with AWS and aws::Quotas::certificates_per_load_balancer, or move apps to another rack",
        ),
    ];
    // Each count per load balancer (certificates: per listener) against its quota.
    for (counts, limit, what, hint) in checks {
        if let Some((key, count)) = counts.into_iter().find(|(_, count)| *count > limit) {
            return Err(PlanError::Quota {
                what: format!("the number of {what} on {key}"),
                count,
                limit,
                hint: hint.to_string(),
            });
        }
    }
    Ok(())
}

/// Every hostname a rule in scope serves on an HTTPS listener must be covered by
/// the listener's default certificate or one attached to it. Rules out of scope
/// (every app's, for a rack plan) are checked only for what the plan breaks: a
/// rule that is uncovered already (someone edited its host or detached its
/// certificate) is its own app's to repair, and never fails another scope.
pub(super) fn check_coverage(
    scope: &Scope,
    before: &BTreeMap<&ResourceKey, &Resource>,
    after: &BTreeMap<&ResourceKey, &Resource>,
) -> Result<(), PlanError> {
    let broken_before = uncovered(before);
    for gap in uncovered(after) {
        if !gap.rule.in_scope(scope) && broken_before.contains(&gap) {
            continue;
        }
        return Err(PlanError::NotCovered {
            parent: gap
                .host
                .split_once('.')
                .map_or(gap.host.as_str(), |(_, p)| p)
                .to_string(),
            host: gap.host,
            listener: gap.listener.clone(),
        });
    }
    Ok(())
}

/// A hostname a rule serves on an HTTPS listener that no certificate on the
/// listener covers.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Gap<'a> {
    rule: &'a ResourceKey,
    listener: &'a ResourceKey,
    host: String,
}

fn uncovered<'a>(state: &BTreeMap<&'a ResourceKey, &'a Resource>) -> BTreeSet<Gap<'a>> {
    // Its domain and further names (a shared certificate's apps, issue 9).
    let domain = |cert: &ResourceKey| -> Vec<&str> {
        match state.get(cert).map(|r| &r.spec) {
            Some(ResourceSpec::Certificate(c)) => std::iter::once(c.domain.as_str())
                .chain(c.names.iter().map(String::as_str))
                .collect(),
            _ => Vec::new(),
        }
    };
    let mut covering: BTreeMap<&ResourceKey, Vec<&str>> = BTreeMap::new();
    for (key, r) in state {
        match &r.spec {
            ResourceSpec::Listener(l) if l.protocol == Protocol::Https => {
                let entry = covering.entry(*key).or_default();
                entry.extend(l.certificate.as_ref().map(domain).unwrap_or_default());
            }
            ResourceSpec::ListenerCertificate(lc) => {
                covering
                    .entry(&lc.listener)
                    .or_default()
                    .extend(domain(&lc.certificate));
            }
            _ => {}
        }
    }
    let mut gaps = BTreeSet::new();
    for (key, r) in state {
        let ResourceSpec::ListenerRule(rule) = &r.spec else {
            continue;
        };
        // A rule on a plain-HTTP listener needs no certificate.
        let Some(domains) = covering.get(&rule.listener) else {
            continue;
        };
        // A public certificate (named by its ARN) was checked to cover the
        // router host before planning (crate::public_cert).
        let public = matches!(
            state.get(&rule.listener).map(|l| &l.spec),
            Some(ResourceSpec::Listener(l))
                if l.certificate.as_ref().and_then(crate::public_cert::referenced_arn).is_some()
        );
        if public {
            continue;
        }
        let is_https = matches!(
            state.get(&rule.listener).map(|l| &l.spec),
            Some(ResourceSpec::Listener(l)) if l.protocol == Protocol::Https
        );
        if !is_https {
            continue;
        }
        for host in &rule.hosts {
            let h = Hostname::from_raw(host.clone());
            if !domains.iter().any(|d| h.is_covered_by(d)) {
                gaps.insert(Gap {
                    rule: key,
                    listener: &rule.listener,
                    host: host.clone(),
                });
            }
        }
    }
    gaps
}

/// No hostname is served by two rules: a host-header rule answers for exactly one
/// (app, service, router), or the rule with the lower priority would silently take
/// the other service's traffic. Only conflicts involving a rule in scope are
/// reported, so that an app is never blocked by a conflict between two others.
pub(super) fn check_hostnames_unique(
    scope: &Scope,
    after: &BTreeMap<&ResourceKey, &Resource>,
) -> Result<(), PlanError> {
    let mut by_host: BTreeMap<&str, &ResourceKey> = BTreeMap::new();
    // In scope first, so that the error names the rule being planned.
    let rules = after
        .iter()
        .filter(|(k, _)| k.in_scope(scope))
        .chain(after.iter().filter(|(k, _)| !k.in_scope(scope)));
    for (key, r) in rules {
        let ResourceSpec::ListenerRule(rule) = &r.spec else {
            continue;
        };
        for host in &rule.hosts {
            match by_host.get(host.as_str()) {
                Some(first) if first.in_scope(scope) || key.in_scope(scope) => {
                    return Err(PlanError::HostnameTaken {
                        host: host.clone(),
                        key: (*first).clone(),
                        other: (*key).clone(),
                    });
                }
                Some(_) => {}
                None => {
                    by_host.insert(host, key);
                }
            }
        }
    }
    Ok(())
}
