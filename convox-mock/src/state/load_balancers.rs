//! ELBv2 load balancers and their listeners: name rules, one listener per port,
//! HTTPS only with a certificate, SNI certificates up to the quota.

use std::collections::BTreeSet;

use convox_model::backend::{BackendError, BackendResult, CreatedLoadBalancer};
use convox_model::resource::{
    DefaultAction, LbScheme, ListenerSpec, LoadBalancerAddress, LoadBalancerSpec, Protocol, Tags,
    normal_subnets,
};
use serde::{Deserialize, Serialize};

use convox_model::aws::MAX_ELB_NAME_LEN;

use super::{
    State, already_exists, delete_unused, find, find_mut, held_by_another, invalid, not_found,
    quota_exceeded,
};
use crate::ids;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct LoadBalancer {
    pub name: String,
    pub scheme: LbScheme,
    pub subnets: Vec<String>,
    /// Every security group on it, as SetSecurityGroups leaves them.
    pub security_group_ids: Vec<String>,
    pub address: LoadBalancerAddress,
    pub tags: Tags,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Listener {
    pub load_balancer_arn: String,
    pub port: u16,
    pub protocol: Protocol,
    pub default_action: DefaultAction,
    pub default_certificate: Option<String>,
    /// SNI certificates besides the default.
    pub certificates: BTreeSet<String>,
    pub tags: Tags,
}

/// ELBv2's name rule: letters, digits and hyphens, not at either end.
/// ELBv2's answer to a create whose name is taken by one with other settings.
pub(super) fn name_taken(op: &str, what: &str, name: &str) -> BackendError {
    already_exists(
        op,
        format!("a {what} named {name:?} already exists with other settings"),
    )
}

pub(super) fn check_elb_name(op: &str, what: &str, name: &str) -> BackendResult<()> {
    let shape_ok = !name.is_empty()
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-');
    if !shape_ok {
        return Err(invalid(
            op,
            format!(
                "{what} name {name:?} must contain only letters, digits and hyphens, and not begin or end with a hyphen"
            ),
        ));
    }
    if name.len() > MAX_ELB_NAME_LEN {
        return Err(invalid(
            op,
            format!(
                "{what} name {name:?} is {} characters long; at most {MAX_ELB_NAME_LEN} are allowed",
                name.len()
            ),
        ));
    }
    Ok(())
}

impl State {
    pub(crate) fn create_load_balancer(
        &mut self,
        op: &str,
        spec: &LoadBalancerSpec,
        security_group_id: &str,
        tags: &Tags,
    ) -> BackendResult<CreatedLoadBalancer> {
        check_elb_name(op, "load balancer", &spec.name)?;
        if spec.name.starts_with("internal-") {
            return Err(invalid(
                op,
                format!(
                    "load balancer name {:?} cannot begin with \"internal-\"",
                    spec.name
                ),
            ));
        }
        find(
            &self.security_groups,
            op,
            "security group",
            security_group_id,
        )?;
        if let Some((arn, lb)) = self
            .load_balancers
            .iter()
            .find(|(_, lb)| lb.name == spec.name)
        {
            // CreateLoadBalancer is idempotent on AWS: the same settings again
            // answer with the existing load balancer.
            if lb.scheme == spec.scheme
                && normal_subnets(&lb.subnets) == normal_subnets(&spec.subnets)
                && lb.security_group_ids == [security_group_id]
            {
                return Ok(CreatedLoadBalancer {
                    arn: arn.clone(),
                    address: lb.address.clone(),
                });
            }
            return Err(name_taken(op, "load balancer", &spec.name));
        }
        if self.load_balancers.len() >= self.quotas.load_balancers_per_region {
            return Err(quota_exceeded(
                op,
                format!(
                    "TooManyLoadBalancers: the region allows {} application load balancers",
                    self.quotas.load_balancers_per_region
                ),
            ));
        }
        let n = self.draw();
        let arn = self.elb_arn(&format!(
            "loadbalancer/app/{}/{}",
            spec.name,
            ids::hex(n, 16)
        ));
        let prefix = match spec.scheme {
            LbScheme::Internal => "internal-",
            LbScheme::InternetFacing => "",
        };
        let address = LoadBalancerAddress {
            dns_name: format!(
                "{prefix}{}-{}.{}.elb.amazonaws.com",
                spec.name,
                ids::digits(n, 10),
                self.region
            ),
            hosted_zone_id: ids::alb_canonical_zone_id(&self.region).to_string(),
        };
        self.load_balancers.insert(
            arn.clone(),
            LoadBalancer {
                name: spec.name.clone(),
                scheme: spec.scheme,
                subnets: spec.subnets.clone(),
                security_group_ids: vec![security_group_id.to_string()],
                address: address.clone(),
                tags: tags.clone(),
            },
        );
        Ok(CreatedLoadBalancer { arn, address })
    }

    // Day-2 safety (in place): SetSubnets and SetSecurityGroups keep the load
    // balancer's ARN, address, listeners and rules, as on AWS.

    pub(crate) fn set_load_balancer_subnets(
        &mut self,
        op: &str,
        arn: &str,
        subnets: &[String],
    ) -> BackendResult<()> {
        if subnets.is_empty() {
            return Err(invalid(op, "a load balancer needs at least one subnet"));
        }
        let lb = find_mut(&mut self.load_balancers, op, "load balancer", arn)?;
        lb.subnets = subnets.to_vec();
        Ok(())
    }

    pub(crate) fn set_load_balancer_tag(
        &mut self,
        op: &str,
        arn: &str,
        key: &str,
        value: Option<&str>,
    ) -> BackendResult<()> {
        let lb = find_mut(&mut self.load_balancers, op, "load balancer", arn)?;
        match value {
            Some(v) => lb.tags.insert(key.to_string(), v.to_string()),
            None => lb.tags.remove(key),
        };
        Ok(())
    }

    pub(crate) fn set_load_balancer_security_groups(
        &mut self,
        op: &str,
        arn: &str,
        security_group_ids: &[String],
    ) -> BackendResult<()> {
        if security_group_ids.is_empty() {
            return Err(invalid(
                op,
                "an application load balancer needs at least one security group",
            ));
        }
        for id in security_group_ids {
            find(&self.security_groups, op, "security group", id)?;
        }
        let lb = find_mut(&mut self.load_balancers, op, "load balancer", arn)?;
        let mut ids = security_group_ids.to_vec();
        ids.dedup();
        lb.security_group_ids = ids;
        Ok(())
    }

    pub(crate) fn delete_load_balancer(&mut self, op: &str, arn: &str) -> BackendResult<()> {
        delete_unused(&mut self.load_balancers, op, "load balancer", arn, None)?;
        let listeners: Vec<String> = self
            .listeners
            .iter()
            .filter(|(_, l)| l.load_balancer_arn == arn)
            .map(|(a, _)| a.clone())
            .collect();
        for l in listeners {
            self.remove_listener(&l);
        }
        Ok(())
    }

    fn check_listener_certificate(
        &self,
        op: &str,
        protocol: Protocol,
        certificate_arn: Option<&str>,
    ) -> BackendResult<()> {
        match (protocol, certificate_arn) {
            (Protocol::Https, None) => Err(invalid(
                op,
                "a certificate must be specified for HTTPS listeners",
            )),
            (Protocol::Http, Some(_)) => Err(invalid(
                op,
                "certificates are not supported on HTTP listeners",
            )),
            (Protocol::Https, Some(c)) => match self.servable(c) {
                None => Err(not_found(op, "certificate", c)),
                // ELB's UnsupportedCertificate: ACM has not issued it yet.
                Some(false) => Err(invalid(
                    op,
                    format!("certificate {c} is not issued yet (PENDING_VALIDATION)"),
                )),
                Some(true) => Ok(()),
            },
            _ => Ok(()),
        }
    }

    fn check_port_free(
        &self,
        op: &str,
        load_balancer_arn: &str,
        port: u16,
        except: Option<&str>,
    ) -> BackendResult<()> {
        if port == 0 {
            return Err(invalid(op, "port 0 is not a valid port"));
        }
        let same = |l: &Listener| l.load_balancer_arn == load_balancer_arn && l.port == port;
        if held_by_another(&self.listeners, except, same) {
            return Err(already_exists(
                op,
                format!("a listener already exists on port {port} of {load_balancer_arn}"),
            ));
        }
        Ok(())
    }

    pub(crate) fn create_listener(
        &mut self,
        op: &str,
        load_balancer_arn: &str,
        spec: &ListenerSpec,
        certificate_arn: Option<&str>,
        tags: &Tags,
    ) -> BackendResult<String> {
        let lb = find(&self.load_balancers, op, "load balancer", load_balancer_arn)?;
        let lb_path = lb_path(load_balancer_arn, &lb.name);
        self.check_listener_certificate(op, spec.protocol, certificate_arn)?;
        // CreateListener is idempotent on AWS: the same settings on the same port
        // answer with the existing listener.
        if let Some((arn, _)) = self.listeners.iter().find(|(_, l)| {
            l.load_balancer_arn == load_balancer_arn
                && l.port == spec.port
                && l.protocol == spec.protocol
                && l.default_action == spec.default_action
                && l.default_certificate.as_deref() == certificate_arn
        }) {
            return Ok(arn.clone());
        }
        self.check_port_free(op, load_balancer_arn, spec.port, None)?;
        let n = self.draw();
        let arn = self.elb_arn(&format!("listener/app/{lb_path}/{}", ids::hex(n, 16)));
        self.listeners.insert(
            arn.clone(),
            Listener {
                load_balancer_arn: load_balancer_arn.to_string(),
                port: spec.port,
                protocol: spec.protocol,
                default_action: spec.default_action.clone(),
                default_certificate: certificate_arn.map(str::to_string),
                certificates: BTreeSet::new(),
                tags: tags.clone(),
            },
        );
        Ok(arn)
    }

    pub(crate) fn modify_listener(
        &mut self,
        op: &str,
        arn: &str,
        spec: &ListenerSpec,
        certificate_arn: Option<&str>,
    ) -> BackendResult<()> {
        let lb_arn = find(&self.listeners, op, "listener", arn)?
            .load_balancer_arn
            .clone();
        self.check_listener_certificate(op, spec.protocol, certificate_arn)?;
        self.check_port_free(op, &lb_arn, spec.port, Some(arn))?;
        let l = find_mut(&mut self.listeners, op, "listener", arn)?;
        l.port = spec.port;
        l.protocol = spec.protocol;
        l.default_action = spec.default_action.clone();
        l.default_certificate = certificate_arn.map(str::to_string);
        Ok(())
    }

    fn remove_listener(&mut self, arn: &str) {
        self.listeners.remove(arn);
        self.rules.retain(|_, r| r.listener_arn != arn);
    }

    pub(crate) fn delete_listener(&mut self, op: &str, arn: &str) -> BackendResult<()> {
        find(&self.listeners, op, "listener", arn)?;
        self.remove_listener(arn);
        Ok(())
    }

    pub(crate) fn add_listener_certificate(
        &mut self,
        op: &str,
        listener_arn: &str,
        certificate_arn: &str,
    ) -> BackendResult<()> {
        let l = find(&self.listeners, op, "listener", listener_arn)?;
        find(&self.certificates, op, "certificate", certificate_arn)?;
        if l.certificates.contains(certificate_arn) {
            return Ok(());
        }
        let lb = l.load_balancer_arn.clone();
        let on_lb: usize = self
            .listeners
            .values()
            .filter(|l| l.load_balancer_arn == lb)
            .map(|l| l.certificates.len())
            .sum();
        if on_lb >= self.quotas.certificates_per_load_balancer {
            return Err(quota_exceeded(
                op,
                format!(
                    "load balancer {lb} already has {on_lb} certificates besides the default (quota {})",
                    self.quotas.certificates_per_load_balancer
                ),
            ));
        }
        if let Some(l) = self.listeners.get_mut(listener_arn) {
            l.certificates.insert(certificate_arn.to_string());
        }
        Ok(())
    }

    pub(crate) fn remove_listener_certificate(
        &mut self,
        op: &str,
        listener_arn: &str,
        certificate_arn: &str,
    ) -> BackendResult<()> {
        let l = find_mut(&mut self.listeners, op, "listener", listener_arn)?;
        l.certificates.remove(certificate_arn);
        Ok(())
    }
}

/// `NAME/HEX` of a load balancer's ARN, which its listeners' ARNs repeat.
fn lb_path(arn: &str, name: &str) -> String {
    let hex = arn.rsplit('/').next().unwrap_or_default();
    format!("{name}/{hex}")
}
