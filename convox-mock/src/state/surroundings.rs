//! What touches a rack's resources without being its own: the security groups
//! on its load balancers and the rules on its listeners it does not own (what
//! `rack audit` reads besides observe).

use std::collections::BTreeSet;

use convox_model::backend::BackendResult;
use convox_model::name::Name;
use convox_model::resource::{
    ForeignRule, ForeignSecurityGroup, Surroundings, normal_hosts, owned_by,
};

use super::{LoadBalancer, State};

impl LoadBalancer {
    /// Every security group on the load balancer.
    fn security_group_ids(&self) -> Vec<String> {
        self.security_group_ids.clone()
    }
}

impl State {
    /// See [`convox_model::backend::Backend::observe_surroundings`] (`op` is
    /// unused: reading cannot fail).
    pub(crate) fn observe_surroundings(
        &self,
        _op: &str,
        rack: &Name,
    ) -> BackendResult<Surroundings> {
        let mut out = Surroundings::default();
        let mut foreign_groups = BTreeSet::new();
        for (arn, lb) in &self.load_balancers {
            if owned_by(&lb.tags, rack).is_none() {
                continue;
            }
            let mut ids = lb.security_group_ids();
            ids.sort();
            ids.dedup();
            for id in &ids {
                let owned = self
                    .security_groups
                    .get(id)
                    .is_some_and(|g| owned_by(&g.tags, rack).is_some());
                if !owned {
                    foreign_groups.insert(id.clone());
                }
            }
            out.load_balancer_security_groups.insert(arn.clone(), ids);
        }
        out.foreign_security_groups = foreign_groups
            .into_iter()
            .filter_map(|id| {
                let g = self.security_groups.get(&id)?;
                Some(ForeignSecurityGroup {
                    name: g.spec.name.clone(),
                    ingress: g.spec.ingress.clone(),
                    id,
                })
            })
            .collect();
        let our_listeners: BTreeSet<&String> = self
            .listeners
            .iter()
            .filter(|(_, l)| owned_by(&l.tags, rack).is_some())
            .map(|(arn, _)| arn)
            .collect();
        out.foreign_rules = self
            .rules
            .iter()
            .filter(|(_, r)| {
                our_listeners.contains(&r.listener_arn) && owned_by(&r.tags, rack).is_none()
            })
            .map(|(arn, r)| ForeignRule {
                id: arn.clone(),
                listener_id: r.listener_arn.clone(),
                priority: Some(r.priority),
                hosts: normal_hosts(&r.hosts),
            })
            .collect();
        Ok(out)
    }
}
