//! ELBv2 listener rules: priorities unique per listener, host-header values and
//! target groups within their quotas, a target group on one load balancer only.

use std::collections::BTreeSet;

use convox_model::apply::PRIORITY_IN_USE;
use convox_model::backend::BackendResult;
use convox_model::resource::{ListenerRuleSpec, Tags};
use serde::{Deserialize, Serialize};

use super::{
    State, conflict, delete_unused, find, find_mut, held_by_another, invalid, not_found,
    over_limit, quota_exceeded,
};
use crate::ids;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Rule {
    pub listener_arn: String,
    pub priority: u32,
    pub hosts: Vec<String>,
    pub target_group_arn: String,
    pub tags: Tags,
}

fn check_priority(op: &str, priority: u32, highest: u32) -> BackendResult<()> {
    if (1..=highest).contains(&priority) {
        Ok(())
    } else {
        Err(invalid(
            op,
            format!("priority {priority} is outside 1..={highest}"),
        ))
    }
}

impl State {
    fn lb_of_listener(&self, listener_arn: &str) -> Option<&str> {
        self.listeners
            .get(listener_arn)
            .map(|l| l.load_balancer_arn.as_str())
    }

    /// Rules on every listener of `lb`, except `except`.
    fn rules_on_lb<'a>(
        &'a self,
        lb: &'a str,
        except: Option<&'a str>,
    ) -> impl Iterator<Item = &'a Rule> + 'a {
        self.rules
            .iter()
            .filter(move |(a, r)| {
                Some(a.as_str()) != except && self.lb_of_listener(&r.listener_arn) == Some(lb)
            })
            .map(|(_, r)| r)
    }

    /// The checks on a rule's hosts and target, shared by create and modify.
    fn check_rule_target(
        &self,
        op: &str,
        listener_arn: &str,
        hosts: &[String],
        target_group_arn: &str,
        rule: Option<&str>,
    ) -> BackendResult<()> {
        if hosts.is_empty() {
            return Err(invalid(
                op,
                "a host-header condition needs at least one value",
            ));
        }
        let limit = self.quotas.condition_values_per_rule;
        if let Some(msg) = over_limit(hosts.len(), "host-header values", "a rule", limit) {
            return Err(quota_exceeded(op, msg));
        }
        find(&self.target_groups, op, "target group", target_group_arn)?;
        let lb = self
            .lb_of_listener(listener_arn)
            .ok_or_else(|| not_found(op, "listener", listener_arn))?;
        // An application target group serves one load balancer only.
        if let Some(other) = self.rules.iter().find_map(|(a, r)| {
            let other_lb = self.lb_of_listener(&r.listener_arn)?;
            (Some(a.as_str()) != rule && r.target_group_arn == target_group_arn && other_lb != lb)
                .then_some(other_lb)
        }) {
            return Err(conflict(
                op,
                format!(
                    "target group {target_group_arn} is already associated with load balancer {other}"
                ),
            ));
        }
        let groups: BTreeSet<&str> = self
            .rules_on_lb(lb, rule)
            .map(|r| r.target_group_arn.as_str())
            .collect();
        if !groups.contains(target_group_arn)
            && groups.len() >= self.quotas.target_groups_per_load_balancer
        {
            return Err(quota_exceeded(
                op,
                format!(
                    "load balancer {lb} already forwards to {} target groups (quota {})",
                    groups.len(),
                    self.quotas.target_groups_per_load_balancer
                ),
            ));
        }
        Ok(())
    }

    fn check_priority_free(
        &self,
        op: &str,
        listener_arn: &str,
        priority: u32,
        except: Option<&str>,
    ) -> BackendResult<()> {
        check_priority(op, priority, self.quotas.max_rule_priority)?;
        let same = |r: &Rule| r.listener_arn == listener_arn && r.priority == priority;
        if held_by_another(&self.rules, except, same) {
            return Err(conflict(
                op,
                format!(
                    "{PRIORITY_IN_USE}: priority {priority} is currently in use on listener {listener_arn}"
                ),
            ));
        }
        Ok(())
    }

    pub(crate) fn create_rule(
        &mut self,
        op: &str,
        listener_arn: &str,
        spec: &ListenerRuleSpec,
        target_group_arn: &str,
        tags: &Tags,
    ) -> BackendResult<String> {
        let Some(priority) = spec.priority else {
            return Err(invalid(op, "a rule needs a priority"));
        };
        let l = find(&self.listeners, op, "listener", listener_arn)?;
        let lb_arn = l.load_balancer_arn.clone();
        self.check_rule_target(op, listener_arn, &spec.hosts, target_group_arn, None)?;
        self.check_priority_free(op, listener_arn, priority, None)?;
        let on_lb = self.rules_on_lb(&lb_arn, None).count();
        if on_lb >= self.quotas.rules_per_load_balancer {
            return Err(quota_exceeded(
                op,
                format!(
                    "load balancer {lb_arn} already has {on_lb} rules (quota {})",
                    self.quotas.rules_per_load_balancer
                ),
            ));
        }
        let listener_path = listener_arn
            .split_once(":listener/")
            .map(|(_, p)| p.to_string())
            .unwrap_or_default();
        let n = self.draw();
        let arn = self.elb_arn(&format!(
            "listener-rule/{listener_path}/{}",
            ids::hex(n, 16)
        ));
        self.rules.insert(
            arn.clone(),
            Rule {
                listener_arn: listener_arn.to_string(),
                priority,
                hosts: spec.hosts.clone(),
                target_group_arn: target_group_arn.to_string(),
                tags: tags.clone(),
            },
        );
        Ok(arn)
    }

    pub(crate) fn modify_rule(
        &mut self,
        op: &str,
        arn: &str,
        spec: &ListenerRuleSpec,
        target_group_arn: &str,
    ) -> BackendResult<()> {
        let listener_arn = find(&self.rules, op, "rule", arn)?.listener_arn.clone();
        self.check_rule_target(op, &listener_arn, &spec.hosts, target_group_arn, Some(arn))?;
        let r = find_mut(&mut self.rules, op, "rule", arn)?;
        r.hosts = spec.hosts.clone();
        r.target_group_arn = target_group_arn.to_string();
        Ok(())
    }

    pub(crate) fn set_rule_priority(
        &mut self,
        op: &str,
        arn: &str,
        priority: u32,
    ) -> BackendResult<()> {
        let listener_arn = find(&self.rules, op, "rule", arn)?.listener_arn.clone();
        self.check_priority_free(op, &listener_arn, priority, Some(arn))?;
        if let Some(r) = self.rules.get_mut(arn) {
            r.priority = priority;
        }
        Ok(())
    }

    pub(crate) fn delete_rule(&mut self, op: &str, arn: &str) -> BackendResult<()> {
        delete_unused(&mut self.rules, op, "rule", arn, None)
    }
}
