//! Listener rule priorities, allocated at plan time.

use std::collections::{BTreeMap, BTreeSet};

use super::PlanError;
use crate::aws::Quotas;
use crate::desired::DesiredState;
use crate::resource::{Observed, Resource, ResourceKey, ResourceSpec};

/// Gives every desired listener rule a priority: an existing rule keeps its own;
/// new rules, in key order, take the lowest priorities free on their listener.
/// Taken means held by any observed rule on the listener, of any app, even one
/// about to be deleted, so a new rule can never collide whatever order the apply
/// engine runs in; and held by any `obstacle` (a rule the rack does not own, a
/// copy of one of ours), which nothing here ever moves.
pub(super) fn allocate_priorities(
    desired: &DesiredState,
    current: &BTreeMap<&ResourceKey, &Observed>,
    obstacles: &[&Observed],
    quotas: &Quotas,
) -> Result<BTreeMap<ResourceKey, Resource>, PlanError> {
    let mut taken: BTreeMap<ResourceKey, BTreeSet<u32>> = BTreeMap::new();
    for o in current.values().chain(obstacles) {
        if let ResourceSpec::ListenerRule(r) = &o.resource.spec
            && let Some(p) = r.priority
        {
            taken.entry(r.listener.clone()).or_default().insert(p);
        }
    }
    let mut out = desired.resources.clone();
    let mut next: BTreeMap<ResourceKey, u32> = BTreeMap::new();
    for (key, res) in out.iter_mut() {
        let ResourceSpec::ListenerRule(rule) = &mut res.spec else {
            continue;
        };
        let kept = current.get(key).and_then(|o| match &o.resource.spec {
            ResourceSpec::ListenerRule(have) if have.listener == rule.listener => have.priority,
            _ => None,
        });
        if let Some(p) = kept {
            rule.priority = Some(p);
            continue;
        }
        let used = taken.entry(rule.listener.clone()).or_default();
        let start = next.entry(rule.listener.clone()).or_insert(1);
        let mut p = *start;
        while used.contains(&p) {
            p += 1;
        }
        if p > quotas.max_rule_priority {
            return Err(PlanError::PrioritiesExhausted {
                listener: rule.listener.clone(),
                max: quotas.max_rule_priority,
            });
        }
        used.insert(p);
        *start = p + 1;
        rule.priority = Some(p);
    }
    Ok(out)
}
