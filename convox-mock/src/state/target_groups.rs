//! ELBv2 target groups: name rules, health check bounds, no delete while a rule
//! forwards to one.

use convox_model::backend::BackendResult;
use convox_model::resource::{Tags, TargetGroupSpec};
use serde::{Deserialize, Serialize};

use super::load_balancers::{check_elb_name, name_taken};
use super::{State, delete_unused, find_mut, invalid};
use crate::ids;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct TargetGroup {
    pub spec: TargetGroupSpec,
    pub tags: Tags,
}

fn check_health(op: &str, spec: &TargetGroupSpec) -> BackendResult<()> {
    let h = &spec.health;
    if !h.path.starts_with('/') {
        return Err(invalid(
            op,
            format!("health check path {:?} must start with /", h.path),
        ));
    }
    if !(5..=300).contains(&h.interval) || !(2..=120).contains(&h.timeout) {
        return Err(invalid(
            op,
            format!(
                "health check interval {} must be 5..=300 and timeout {} 2..=120",
                h.interval, h.timeout
            ),
        ));
    }
    if h.timeout >= h.interval {
        return Err(invalid(
            op,
            "health check timeout must be smaller than the interval",
        ));
    }
    Ok(())
}

impl State {
    pub(crate) fn create_target_group(
        &mut self,
        op: &str,
        spec: &TargetGroupSpec,
        tags: &Tags,
    ) -> BackendResult<String> {
        check_elb_name(op, "target group", &spec.name)?;
        check_health(op, spec)?;
        if spec.port == 0 {
            return Err(invalid(op, "port 0 is not a valid port"));
        }
        if let Some((arn, tg)) = self
            .target_groups
            .iter()
            .find(|(_, tg)| tg.spec.name == spec.name)
        {
            // AWS answers a repeated identical create with the existing group.
            if tg.spec == *spec {
                return Ok(arn.clone());
            }
            return Err(name_taken(op, "target group", &spec.name));
        }
        let n = self.draw();
        let arn = self.elb_arn(&format!("targetgroup/{}/{}", spec.name, ids::hex(n, 16)));
        self.target_groups.insert(
            arn.clone(),
            TargetGroup {
                spec: spec.clone(),
                tags: tags.clone(),
            },
        );
        Ok(arn)
    }

    pub(crate) fn modify_target_group(
        &mut self,
        op: &str,
        arn: &str,
        spec: &TargetGroupSpec,
    ) -> BackendResult<()> {
        check_health(op, spec)?;
        let tg = find_mut(&mut self.target_groups, op, "target group", arn)?;
        // Protocol, port and VPC cannot change on AWS; ModifyTargetGroup takes only
        // the health check, so the rest of `spec` is ignored as AWS would.
        tg.spec.health = spec.health.clone();
        Ok(())
    }

    pub(crate) fn delete_target_group(&mut self, op: &str, arn: &str) -> BackendResult<()> {
        let user = self.rules.iter().find(|(_, r)| r.target_group_arn == arn);
        let in_use =
            user.map(|(r, _)| format!("target group {arn} is currently in use by rule {r}"));
        delete_unused(&mut self.target_groups, op, "target group", arn, in_use)
    }
}
