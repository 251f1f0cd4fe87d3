//! EC2 security groups: names unique per VPC, IPv4 CIDR sources, no delete
//! while a load balancer uses one.

use convox_model::backend::BackendResult;
use convox_model::resource::{SecurityGroupSpec, Tags, normal_ingress};
use serde::{Deserialize, Serialize};

use super::{State, already_exists, delete_unused, find_mut, invalid};
use crate::ids;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct SecurityGroup {
    pub spec: SecurityGroupSpec,
    pub tags: Tags,
}

fn check_cidr(op: &str, cidr: &str) -> BackendResult<()> {
    let ok = cidr.split_once('/').is_some_and(|(ip, bits)| {
        ip.parse::<std::net::Ipv4Addr>().is_ok() && bits.parse::<u8>().is_ok_and(|b| b <= 32)
    });
    if ok {
        Ok(())
    } else {
        Err(invalid(op, format!("{cidr:?} is not an IPv4 CIDR block")))
    }
}

impl State {
    pub(crate) fn create_security_group(
        &mut self,
        op: &str,
        spec: &SecurityGroupSpec,
        tags: &Tags,
    ) -> BackendResult<String> {
        for r in &spec.ingress {
            check_cidr(op, &r.cidr)?;
        }
        if self
            .security_groups
            .values()
            .any(|g| g.spec.vpc_id == spec.vpc_id && g.spec.name == spec.name)
        {
            return Err(already_exists(
                op,
                format!(
                    "security group {:?} already exists in {}",
                    spec.name, spec.vpc_id
                ),
            ));
        }
        let n = self.draw();
        let id = format!("sg-{}", ids::hex(n, 17));
        let mut spec = spec.clone();
        spec.ingress = normal_ingress(&spec.ingress);
        self.security_groups.insert(
            id.clone(),
            SecurityGroup {
                spec,
                tags: tags.clone(),
            },
        );
        Ok(id)
    }

    pub(crate) fn update_security_group(
        &mut self,
        op: &str,
        id: &str,
        spec: &SecurityGroupSpec,
    ) -> BackendResult<()> {
        for r in &spec.ingress {
            check_cidr(op, &r.cidr)?;
        }
        let g = find_mut(&mut self.security_groups, op, "security group", id)?;
        let ingress = normal_ingress(&spec.ingress);
        // Only the rules change: name, description and VPC are fixed at creation.
        g.spec.ingress = ingress;
        Ok(())
    }

    pub(crate) fn delete_security_group(&mut self, op: &str, id: &str) -> BackendResult<()> {
        let user = self
            .load_balancers
            .iter()
            .find(|(_, lb)| lb.security_group_ids.iter().any(|g| g == id));
        let in_use = user.map(|(arn, _)| {
            format!("security group {id} has a dependent object: load balancer {arn}")
        });
        delete_unused(&mut self.security_groups, op, "security group", id, in_use)
    }
}
