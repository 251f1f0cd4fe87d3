//! The mock's world: every resource as AWS would hold it (ids, not keys), and the
//! rules AWS enforces on changing it.
//!
//! Every verb is a synchronous method on [`State`] that either changes the state
//! completely or not at all, so the async layer in [`crate::mock`] only counts,
//! sleeps and locks.

use std::collections::{BTreeMap, BTreeSet};

use convox_model::backend::{
    BackendError, BackendResult, CertificatePem, CreatedLoadBalancer, ErrorKind,
};
use convox_model::name::Name;
use convox_model::rack::Rack;
use convox_model::resource::{
    CertificateSpec, DefaultAction, HostedZoneSpec, IngressRule, LbScheme, ListenerCertificateSpec,
    ListenerRuleSpec, ListenerSpec, LoadBalancerAddress, LoadBalancerSpec, Observed, Protocol,
    RecordAction, RecordChange, RecordSpec, Resource, ResourceKey, ResourceSpec as Spec, Scope,
    SecurityGroupSpec, Tags, TargetGroupSpec, listener_certificate_id, listener_certificate_tags,
    normal_hosts, owned_by, parse_record_owner_value, record_tags,
};
use serde::{Deserialize, Serialize};

use crate::ids;

/// AWS's limits that the mock enforces, with AWS's defaults; lower them in tests
/// to reach a limit quickly.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Quotas {
    /// Rules per load balancer, besides the listeners' default rules.
    pub rules_per_load_balancer: usize,
    /// Target groups a load balancer's rules may forward to.
    pub target_groups_per_load_balancer: usize,
    /// Certificates attached to a load balancer's listeners, besides their
    /// default certificates. (AWS counts this per load balancer; only the 443
    /// listener carries certificates here, so it is also the per-listener limit.)
    pub certificates_per_load_balancer: usize,
    /// Host-header values per rule.
    pub condition_values_per_rule: usize,
    /// Tags per resource.
    pub tags_per_resource: usize,
    /// Route53 records per change batch; each [`RecordChange`] is two records
    /// (the alias A and its TXT), and an UPSERT counts twice.
    pub records_per_change_batch: usize,
}

impl Default for Quotas {
    fn default() -> Self {
        Quotas {
            rules_per_load_balancer: 100,
            target_groups_per_load_balancer: 100,
            certificates_per_load_balancer: 25,
            condition_values_per_rule: 5,
            tags_per_resource: 50,
            records_per_change_batch: 1000,
        }
    }
}

/// Highest listener rule priority.
pub const MAX_RULE_PRIORITY: u32 = 50_000;

/// Longest load balancer or target group name.
pub const MAX_ELB_NAME_LEN: usize = 32;

/// How many Route53 records a batch of changes counts as, as AWS counts them.
pub fn change_batch_weight(changes: &[RecordChange]) -> usize {
    changes
        .iter()
        .map(|c| match c.action {
            RecordAction::Upsert => 4,
            RecordAction::Create | RecordAction::Delete => 2,
        })
        .sum()
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct SecurityGroup {
    pub spec: SecurityGroupSpec,
    pub tags: Tags,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct LoadBalancer {
    pub name: String,
    pub scheme: LbScheme,
    pub subnets: Vec<String>,
    pub security_group_id: String,
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

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Rule {
    pub listener_arn: String,
    pub priority: u32,
    pub hosts: Vec<String>,
    pub target_group_arn: String,
    pub tags: Tags,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct TargetGroup {
    pub spec: TargetGroupSpec,
    pub tags: Tags,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Certificate {
    pub spec: CertificateSpec,
    /// The certificate body only: the mock never keeps a private key.
    pub certificate_pem: String,
    pub tags: Tags,
}

/// The records at one name: what this library writes (an alias A and a TXT).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct RecordSet {
    pub alias: Option<LoadBalancerAddress>,
    pub txt: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Zone {
    pub spec: HostedZoneSpec,
    pub tags: Tags,
    /// By lower-case name without the trailing dot; SOA and NS are implicit.
    pub records: BTreeMap<String, RecordSet>,
    /// The rack settings saved on this zone (AWS keeps them as the zone's tags).
    pub rack: Option<Rack>,
}

/// Everything the mock holds, serialisable so that a session persists.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct State {
    pub account: String,
    pub region: String,
    pub quotas: Quotas,
    /// Drawn for every new id; ids are a function of it, so runs repeat.
    pub next_id: u64,
    pub security_groups: BTreeMap<String, SecurityGroup>,
    pub load_balancers: BTreeMap<String, LoadBalancer>,
    pub listeners: BTreeMap<String, Listener>,
    pub rules: BTreeMap<String, Rule>,
    pub target_groups: BTreeMap<String, TargetGroup>,
    pub certificates: BTreeMap<String, Certificate>,
    pub zones: BTreeMap<String, Zone>,
}

fn err(kind: ErrorKind, op: &str, msg: impl Into<String>) -> BackendError {
    BackendError::new(kind, op, msg)
}

fn not_found(op: &str, what: &str, id: &str) -> BackendError {
    err(ErrorKind::NotFound, op, format!("{what} {id:?} not found"))
}

/// Lower case, no trailing dot: how Route53 compares names.
fn dns_norm(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

fn same_address(a: &LoadBalancerAddress, b: &LoadBalancerAddress) -> bool {
    dns_norm(&a.dns_name) == dns_norm(&b.dns_name) && a.hosted_zone_id == b.hosted_zone_id
}

/// ELBv2's name rule: letters, digits and hyphens, not at either end.
fn check_elb_name(op: &str, what: &str, name: &str) -> BackendResult<()> {
    let shape_ok = !name.is_empty()
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-');
    if !shape_ok {
        return Err(err(
            ErrorKind::InvalidInput,
            op,
            format!(
                "{what} name {name:?} must contain only letters, digits and hyphens, and not begin or end with a hyphen"
            ),
        ));
    }
    if name.len() > MAX_ELB_NAME_LEN {
        return Err(err(
            ErrorKind::InvalidInput,
            op,
            format!(
                "{what} name {name:?} is {} characters long; at most {MAX_ELB_NAME_LEN} are allowed",
                name.len()
            ),
        ));
    }
    Ok(())
}

fn check_cidr(op: &str, cidr: &str) -> BackendResult<()> {
    let ok = cidr.split_once('/').is_some_and(|(ip, bits)| {
        ip.parse::<std::net::Ipv4Addr>().is_ok() && bits.parse::<u8>().is_ok_and(|b| b <= 32)
    });
    if ok {
        Ok(())
    } else {
        Err(err(
            ErrorKind::InvalidInput,
            op,
            format!("{cidr:?} is not an IPv4 CIDR block"),
        ))
    }
}

fn check_health(op: &str, spec: &TargetGroupSpec) -> BackendResult<()> {
    let h = &spec.health;
    if !h.path.starts_with('/') {
        return Err(err(
            ErrorKind::InvalidInput,
            op,
            format!("health check path {:?} must start with /", h.path),
        ));
    }
    if !(5..=300).contains(&h.interval) || !(2..=120).contains(&h.timeout) {
        return Err(err(
            ErrorKind::InvalidInput,
            op,
            format!(
                "health check interval {} must be 5..=300 and timeout {} 2..=120",
                h.interval, h.timeout
            ),
        ));
    }
    if h.timeout >= h.interval {
        return Err(err(
            ErrorKind::InvalidInput,
            op,
            "health check timeout must be smaller than the interval",
        ));
    }
    Ok(())
}

fn check_priority(op: &str, priority: u32) -> BackendResult<()> {
    if (1..=MAX_RULE_PRIORITY).contains(&priority) {
        Ok(())
    } else {
        Err(err(
            ErrorKind::InvalidInput,
            op,
            format!("priority {priority} is outside 1..={MAX_RULE_PRIORITY}"),
        ))
    }
}

impl State {
    pub(crate) fn new(account: String, region: String, quotas: Quotas) -> Self {
        State {
            account,
            region,
            quotas,
            next_id: 1,
            security_groups: BTreeMap::new(),
            load_balancers: BTreeMap::new(),
            listeners: BTreeMap::new(),
            rules: BTreeMap::new(),
            target_groups: BTreeMap::new(),
            certificates: BTreeMap::new(),
            zones: BTreeMap::new(),
        }
    }

    fn draw(&mut self) -> u64 {
        let n = self.next_id;
        self.next_id += 1;
        n
    }

    fn elb_arn(&self, rest: &str) -> String {
        format!(
            "arn:aws:elasticloadbalancing:{}:{}:{rest}",
            self.region, self.account
        )
    }

    fn check_tags(&self, op: &str, tags: &Tags) -> BackendResult<()> {
        if tags.len() > self.quotas.tags_per_resource {
            return Err(err(
                ErrorKind::InvalidInput,
                op,
                format!(
                    "{} tags given; a resource holds at most {}",
                    tags.len(),
                    self.quotas.tags_per_resource
                ),
            ));
        }
        Ok(())
    }

    // ----- security groups -----

    pub(crate) fn create_security_group(
        &mut self,
        op: &str,
        spec: &SecurityGroupSpec,
        tags: &Tags,
    ) -> BackendResult<String> {
        self.check_tags(op, tags)?;
        for r in &spec.ingress {
            check_cidr(op, &r.cidr)?;
        }
        if self
            .security_groups
            .values()
            .any(|g| g.spec.vpc_id == spec.vpc_id && g.spec.name == spec.name)
        {
            return Err(err(
                ErrorKind::AlreadyExists,
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
        spec.ingress.sort();
        spec.ingress.dedup();
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
        let g = self
            .security_groups
            .get_mut(id)
            .ok_or_else(|| not_found(op, "security group", id))?;
        let mut ingress: Vec<IngressRule> = spec.ingress.clone();
        ingress.sort();
        ingress.dedup();
        // Only the rules change: name, description and VPC are fixed at creation.
        g.spec.ingress = ingress;
        Ok(())
    }

    pub(crate) fn delete_security_group(&mut self, op: &str, id: &str) -> BackendResult<()> {
        if !self.security_groups.contains_key(id) {
            return Err(not_found(op, "security group", id));
        }
        if let Some((arn, _)) = self
            .load_balancers
            .iter()
            .find(|(_, lb)| lb.security_group_id == id)
        {
            return Err(err(
                ErrorKind::Conflict,
                op,
                format!("security group {id} has a dependent object: load balancer {arn}"),
            ));
        }
        self.security_groups.remove(id);
        Ok(())
    }

    // ----- load balancers -----

    pub(crate) fn create_load_balancer(
        &mut self,
        op: &str,
        spec: &LoadBalancerSpec,
        security_group_id: &str,
        tags: &Tags,
    ) -> BackendResult<CreatedLoadBalancer> {
        self.check_tags(op, tags)?;
        check_elb_name(op, "load balancer", &spec.name)?;
        if spec.name.starts_with("internal-") {
            return Err(err(
                ErrorKind::InvalidInput,
                op,
                format!(
                    "load balancer name {:?} cannot begin with \"internal-\"",
                    spec.name
                ),
            ));
        }
        if !self.security_groups.contains_key(security_group_id) {
            return Err(not_found(op, "security group", security_group_id));
        }
        if let Some((arn, lb)) = self
            .load_balancers
            .iter()
            .find(|(_, lb)| lb.name == spec.name)
        {
            // CreateLoadBalancer is idempotent on AWS: the same settings again
            // answer with the existing load balancer.
            if lb.scheme == spec.scheme
                && lb.subnets == spec.subnets
                && lb.security_group_id == security_group_id
            {
                return Ok(CreatedLoadBalancer {
                    arn: arn.clone(),
                    address: lb.address.clone(),
                });
            }
            return Err(err(
                ErrorKind::AlreadyExists,
                op,
                format!(
                    "a load balancer named {:?} already exists with other settings",
                    spec.name
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
                security_group_id: security_group_id.to_string(),
                address: address.clone(),
                tags: tags.clone(),
            },
        );
        Ok(CreatedLoadBalancer { arn, address })
    }

    pub(crate) fn delete_load_balancer(&mut self, op: &str, arn: &str) -> BackendResult<()> {
        if self.load_balancers.remove(arn).is_none() {
            return Err(not_found(op, "load balancer", arn));
        }
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

    // ----- listeners -----

    fn check_listener_certificate(
        &self,
        op: &str,
        protocol: Protocol,
        certificate_arn: Option<&str>,
    ) -> BackendResult<()> {
        match (protocol, certificate_arn) {
            (Protocol::Https, None) => Err(err(
                ErrorKind::InvalidInput,
                op,
                "a certificate must be specified for HTTPS listeners",
            )),
            (Protocol::Http, Some(_)) => Err(err(
                ErrorKind::InvalidInput,
                op,
                "certificates are not supported on HTTP listeners",
            )),
            (Protocol::Https, Some(c)) if !self.certificates.contains_key(c) => {
                Err(not_found(op, "certificate", c))
            }
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
            return Err(err(
                ErrorKind::InvalidInput,
                op,
                "port 0 is not a valid port",
            ));
        }
        if self.listeners.iter().any(|(a, l)| {
            l.load_balancer_arn == load_balancer_arn && l.port == port && Some(a.as_str()) != except
        }) {
            return Err(err(
                ErrorKind::AlreadyExists,
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
        self.check_tags(op, tags)?;
        let lb = self
            .load_balancers
            .get(load_balancer_arn)
            .ok_or_else(|| not_found(op, "load balancer", load_balancer_arn))?;
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
        let lb_arn = self
            .listeners
            .get(arn)
            .ok_or_else(|| not_found(op, "listener", arn))?
            .load_balancer_arn
            .clone();
        self.check_listener_certificate(op, spec.protocol, certificate_arn)?;
        self.check_port_free(op, &lb_arn, spec.port, Some(arn))?;
        let l = self
            .listeners
            .get_mut(arn)
            .ok_or_else(|| not_found(op, "listener", arn))?;
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
        if !self.listeners.contains_key(arn) {
            return Err(not_found(op, "listener", arn));
        }
        self.remove_listener(arn);
        Ok(())
    }

    // ----- certificates -----

    pub(crate) fn import_certificate(
        &mut self,
        op: &str,
        spec: &CertificateSpec,
        pem: &CertificatePem,
        tags: &Tags,
    ) -> BackendResult<String> {
        self.check_tags(op, tags)?;
        if !pem.certificate.contains("-----BEGIN CERTIFICATE-----") {
            return Err(err(
                ErrorKind::InvalidInput,
                op,
                "the certificate is not a PEM-encoded certificate",
            ));
        }
        if !pem.private_key.contains("PRIVATE KEY-----") {
            return Err(err(
                ErrorKind::InvalidInput,
                op,
                "the private key is not a PEM-encoded private key",
            ));
        }
        if spec.domain.is_empty() {
            return Err(err(
                ErrorKind::InvalidInput,
                op,
                "the certificate names no domain",
            ));
        }
        let n = self.draw();
        let arn = format!(
            "arn:aws:acm:{}:{}:certificate/{}",
            self.region,
            self.account,
            ids::uuid(n)
        );
        self.certificates.insert(
            arn.clone(),
            Certificate {
                spec: spec.clone(),
                certificate_pem: pem.certificate.clone(),
                tags: tags.clone(),
            },
        );
        Ok(arn)
    }

    pub(crate) fn delete_certificate(&mut self, op: &str, arn: &str) -> BackendResult<()> {
        if !self.certificates.contains_key(arn) {
            return Err(not_found(op, "certificate", arn));
        }
        if let Some((l, _)) = self.listeners.iter().find(|(_, l)| {
            l.default_certificate.as_deref() == Some(arn) || l.certificates.contains(arn)
        }) {
            return Err(err(
                ErrorKind::Conflict,
                op,
                format!("certificate {arn} is in use by listener {l}"),
            ));
        }
        self.certificates.remove(arn);
        Ok(())
    }

    pub(crate) fn add_listener_certificate(
        &mut self,
        op: &str,
        listener_arn: &str,
        certificate_arn: &str,
    ) -> BackendResult<()> {
        let l = self
            .listeners
            .get(listener_arn)
            .ok_or_else(|| not_found(op, "listener", listener_arn))?;
        if !self.certificates.contains_key(certificate_arn) {
            return Err(not_found(op, "certificate", certificate_arn));
        }
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
            return Err(err(
                ErrorKind::QuotaExceeded,
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
        let l = self
            .listeners
            .get_mut(listener_arn)
            .ok_or_else(|| not_found(op, "listener", listener_arn))?;
        l.certificates.remove(certificate_arn);
        Ok(())
    }

    // ----- target groups -----

    pub(crate) fn create_target_group(
        &mut self,
        op: &str,
        spec: &TargetGroupSpec,
        tags: &Tags,
    ) -> BackendResult<String> {
        self.check_tags(op, tags)?;
        check_elb_name(op, "target group", &spec.name)?;
        check_health(op, spec)?;
        if spec.port == 0 {
            return Err(err(
                ErrorKind::InvalidInput,
                op,
                "port 0 is not a valid port",
            ));
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
            return Err(err(
                ErrorKind::AlreadyExists,
                op,
                format!(
                    "a target group named {:?} already exists with other settings",
                    spec.name
                ),
            ));
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
        let tg = self
            .target_groups
            .get_mut(arn)
            .ok_or_else(|| not_found(op, "target group", arn))?;
        // Protocol, port and VPC cannot change on AWS; ModifyTargetGroup takes only
        // the health check, so the rest of `spec` is ignored as AWS would.
        tg.spec.health = spec.health.clone();
        Ok(())
    }

    pub(crate) fn delete_target_group(&mut self, op: &str, arn: &str) -> BackendResult<()> {
        if !self.target_groups.contains_key(arn) {
            return Err(not_found(op, "target group", arn));
        }
        if let Some((r, _)) = self.rules.iter().find(|(_, r)| r.target_group_arn == arn) {
            return Err(err(
                ErrorKind::Conflict,
                op,
                format!("target group {arn} is currently in use by rule {r}"),
            ));
        }
        self.target_groups.remove(arn);
        Ok(())
    }

    // ----- rules -----

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
            return Err(err(
                ErrorKind::InvalidInput,
                op,
                "a host-header condition needs at least one value",
            ));
        }
        if hosts.len() > self.quotas.condition_values_per_rule {
            return Err(err(
                ErrorKind::QuotaExceeded,
                op,
                format!(
                    "{} host-header values given; a rule holds at most {}",
                    hosts.len(),
                    self.quotas.condition_values_per_rule
                ),
            ));
        }
        if !self.target_groups.contains_key(target_group_arn) {
            return Err(not_found(op, "target group", target_group_arn));
        }
        let lb = self
            .lb_of_listener(listener_arn)
            .ok_or_else(|| not_found(op, "listener", listener_arn))?;
        // An application target group serves one load balancer only.
        if let Some(other) = self.rules.iter().find_map(|(a, r)| {
            let other_lb = self.lb_of_listener(&r.listener_arn)?;
            (Some(a.as_str()) != rule && r.target_group_arn == target_group_arn && other_lb != lb)
                .then_some(other_lb)
        }) {
            return Err(err(
                ErrorKind::Conflict,
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
            return Err(err(
                ErrorKind::QuotaExceeded,
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
        check_priority(op, priority)?;
        if self.rules.iter().any(|(a, r)| {
            r.listener_arn == listener_arn && r.priority == priority && Some(a.as_str()) != except
        }) {
            return Err(err(
                ErrorKind::Conflict,
                op,
                format!("priority {priority} is currently in use on listener {listener_arn}"),
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
        self.check_tags(op, tags)?;
        let Some(priority) = spec.priority else {
            return Err(err(ErrorKind::InvalidInput, op, "a rule needs a priority"));
        };
        let l = self
            .listeners
            .get(listener_arn)
            .ok_or_else(|| not_found(op, "listener", listener_arn))?;
        let lb_arn = l.load_balancer_arn.clone();
        self.check_rule_target(op, listener_arn, &spec.hosts, target_group_arn, None)?;
        self.check_priority_free(op, listener_arn, priority, None)?;
        let on_lb = self.rules_on_lb(&lb_arn, None).count();
        if on_lb >= self.quotas.rules_per_load_balancer {
            return Err(err(
                ErrorKind::QuotaExceeded,
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
        let listener_arn = self
            .rules
            .get(arn)
            .ok_or_else(|| not_found(op, "rule", arn))?
            .listener_arn
            .clone();
        self.check_rule_target(op, &listener_arn, &spec.hosts, target_group_arn, Some(arn))?;
        let r = self
            .rules
            .get_mut(arn)
            .ok_or_else(|| not_found(op, "rule", arn))?;
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
        let listener_arn = self
            .rules
            .get(arn)
            .ok_or_else(|| not_found(op, "rule", arn))?
            .listener_arn
            .clone();
        self.check_priority_free(op, &listener_arn, priority, Some(arn))?;
        if let Some(r) = self.rules.get_mut(arn) {
            r.priority = priority;
        }
        Ok(())
    }

    pub(crate) fn delete_rule(&mut self, op: &str, arn: &str) -> BackendResult<()> {
        self.rules
            .remove(arn)
            .map(|_| ())
            .ok_or_else(|| not_found(op, "rule", arn))
    }

    // ----- Route53 -----

    pub(crate) fn create_hosted_zone(
        &mut self,
        op: &str,
        spec: &HostedZoneSpec,
        tags: &Tags,
    ) -> BackendResult<String> {
        self.check_tags(op, tags)?;
        let name = dns_norm(&spec.name);
        if name.is_empty() || name.split('.').any(str::is_empty) {
            return Err(err(
                ErrorKind::InvalidInput,
                op,
                format!("{:?} is not a valid domain name", spec.name),
            ));
        }
        if self
            .zones
            .values()
            .any(|z| dns_norm(&z.spec.name) == name && z.spec.vpc_id == spec.vpc_id)
        {
            return Err(err(
                ErrorKind::AlreadyExists,
                op,
                format!(
                    "a private zone {name} is already associated with {}",
                    spec.vpc_id
                ),
            ));
        }
        let n = self.draw();
        let id = ids::zone_id(n);
        let mut spec = spec.clone();
        spec.name = name;
        self.zones.insert(
            id.clone(),
            Zone {
                spec,
                tags: tags.clone(),
                records: BTreeMap::new(),
                rack: None,
            },
        );
        Ok(id)
    }

    pub(crate) fn delete_hosted_zone(&mut self, op: &str, id: &str) -> BackendResult<()> {
        let z = self
            .zones
            .get(id)
            .ok_or_else(|| not_found(op, "hosted zone", id))?;
        if !z.records.is_empty() {
            return Err(err(
                ErrorKind::Conflict,
                op,
                format!(
                    "hosted zone {id} contains {} record names besides SOA and NS (HostedZoneNotEmpty)",
                    z.records.len()
                ),
            ));
        }
        self.zones.remove(id);
        Ok(())
    }

    pub(crate) fn change_records(
        &mut self,
        op: &str,
        zone_id: &str,
        changes: &[RecordChange],
    ) -> BackendResult<()> {
        let quota = self.quotas.records_per_change_batch;
        let zone = self
            .zones
            .get(zone_id)
            .ok_or_else(|| not_found(op, "hosted zone", zone_id))?;
        if changes.is_empty() {
            return Err(err(
                ErrorKind::InvalidInput,
                op,
                "a change batch needs a change",
            ));
        }
        let weight = change_batch_weight(changes);
        if weight > quota {
            return Err(err(
                ErrorKind::InvalidInput,
                op,
                format!(
                    "the batch counts {weight} records (an UPSERT counts twice); at most {quota} are allowed"
                ),
            ));
        }
        // Applied to a copy and committed only if every change holds: Route53
        // batches are all or nothing.
        let mut records = zone.records.clone();
        let zone_name = zone.spec.name.clone();
        for (i, c) in changes.iter().enumerate() {
            let name = dns_norm(&c.name);
            if name != zone_name && !name.ends_with(&format!(".{zone_name}")) {
                return Err(err(
                    ErrorKind::InvalidInput,
                    op,
                    format!("change {i}: {name} is not in the zone {zone_name}"),
                ));
            }
            match c.action {
                RecordAction::Create => {
                    let set = records.entry(name.clone()).or_default();
                    if set.alias.is_some() || set.txt.is_some() {
                        return Err(err(
                            ErrorKind::Conflict,
                            op,
                            format!(
                                "change {i}: tried to create a record set {name} but it already exists"
                            ),
                        ));
                    }
                    set.alias = Some(c.target.clone());
                    set.txt = Some(c.owner.clone());
                }
                RecordAction::Upsert => {
                    let set = records.entry(name).or_default();
                    set.alias = Some(c.target.clone());
                    set.txt = Some(c.owner.clone());
                }
                RecordAction::Delete => {
                    let matches = records.get(&name).is_some_and(|set| {
                        set.alias
                            .as_ref()
                            .is_some_and(|a| same_address(a, &c.target))
                            && set.txt.as_deref() == Some(c.owner.as_str())
                    });
                    if !matches {
                        return Err(err(
                            ErrorKind::Conflict,
                            op,
                            format!(
                                "change {i}: tried to delete record set {name} but it was not found with the values given (InvalidChangeBatch)"
                            ),
                        ));
                    }
                    records.remove(&name);
                }
            }
        }
        if let Some(z) = self.zones.get_mut(zone_id) {
            z.records = records;
        }
        Ok(())
    }

    pub(crate) fn insert_record(
        &mut self,
        zone_id: &str,
        name: &str,
        alias: Option<LoadBalancerAddress>,
        txt: Option<String>,
    ) -> BackendResult<()> {
        let z = self
            .zones
            .get_mut(zone_id)
            .ok_or_else(|| not_found("InsertRecord", "hosted zone", zone_id))?;
        z.records.insert(dns_norm(name), RecordSet { alias, txt });
        Ok(())
    }

    // ----- rack -----

    pub(crate) fn save_rack(&mut self, op: &str, zone_id: &str, rack: &Rack) -> BackendResult<()> {
        let z = self
            .zones
            .get_mut(zone_id)
            .ok_or_else(|| not_found(op, "hosted zone", zone_id))?;
        z.rack = Some(rack.clone());
        Ok(())
    }

    pub(crate) fn load_rack(&self, rack: &Name) -> Option<Rack> {
        let zone_name = format!("{rack}.convox");
        self.zones
            .values()
            .filter(|z| z.spec.name == zone_name)
            .filter_map(|z| z.rack.as_ref())
            .find(|r| r.name == *rack)
            .cloned()
    }

    // ----- observe -----

    pub(crate) fn observe(&self, rack: &Name, scope: &Scope) -> Vec<Observed> {
        // Keys of owned resources by provider id, to resolve references. A
        // reference to something the rack does not own stays its provider id, so
        // that it differs from any desired key and the planner sees a change.
        fn keys<'a, T: 'a>(
            rack: &Name,
            items: impl Iterator<Item = (&'a String, &'a T)>,
            tags: impl Fn(&T) -> &Tags,
        ) -> BTreeMap<String, ResourceKey> {
            items
                .filter_map(|(id, t)| owned_by(tags(t), rack).map(|k| (id.clone(), k)))
                .collect()
        }
        let sg_keys = keys(rack, self.security_groups.iter(), |g| &g.tags);
        let lb_keys = keys(rack, self.load_balancers.iter(), |l| &l.tags);
        let listener_keys = keys(rack, self.listeners.iter(), |l| &l.tags);
        let cert_keys = keys(rack, self.certificates.iter(), |c| &c.tags);
        let tg_keys = keys(rack, self.target_groups.iter(), |t| &t.tags);
        let zone_keys = keys(rack, self.zones.iter(), |z| &z.tags);
        let resolve = |m: &BTreeMap<String, ResourceKey>, id: &str| {
            m.get(id)
                .cloned()
                .unwrap_or_else(|| ResourceKey::from_raw(id))
        };

        let mut out = Vec::new();
        let mut push = |key: ResourceKey,
                        tags: &Tags,
                        spec: Spec,
                        id: &str,
                        address: Option<LoadBalancerAddress>| {
            if key.in_scope(scope) {
                out.push(Observed {
                    resource: Resource {
                        key,
                        tags: tags.clone(),
                        spec,
                    },
                    id: id.to_string(),
                    address,
                });
            }
        };

        for (id, g) in &self.security_groups {
            if let Some(key) = owned_by(&g.tags, rack) {
                push(key, &g.tags, Spec::SecurityGroup(g.spec.clone()), id, None);
            }
        }
        for (arn, lb) in &self.load_balancers {
            if let Some(key) = owned_by(&lb.tags, rack) {
                let spec = LoadBalancerSpec {
                    name: lb.name.clone(),
                    scheme: lb.scheme,
                    subnets: lb.subnets.clone(),
                    security_group: resolve(&sg_keys, &lb.security_group_id),
                };
                push(
                    key,
                    &lb.tags,
                    Spec::LoadBalancer(spec),
                    arn,
                    Some(lb.address.clone()),
                );
            }
        }
        for (arn, c) in &self.certificates {
            if let Some(key) = owned_by(&c.tags, rack) {
                push(key, &c.tags, Spec::Certificate(c.spec.clone()), arn, None);
            }
        }
        for (arn, l) in &self.listeners {
            let Some(key) = owned_by(&l.tags, rack) else {
                continue;
            };
            let spec = ListenerSpec {
                load_balancer: resolve(&lb_keys, &l.load_balancer_arn),
                port: l.port,
                protocol: l.protocol,
                default_action: l.default_action.clone(),
                certificate: l
                    .default_certificate
                    .as_deref()
                    .map(|c| resolve(&cert_keys, c)),
            };
            push(key.clone(), &l.tags, Spec::Listener(spec), arn, None);
            // Attachments have no tags of their own: one is ours when both the
            // listener and the certificate are.
            for cert_arn in &l.certificates {
                let (Some(cert_key), Some(cert)) =
                    (cert_keys.get(cert_arn), self.certificates.get(cert_arn))
                else {
                    continue;
                };
                let att_key = ResourceKey::listener_certificate(cert_key);
                let tags = listener_certificate_tags(&cert.tags, &att_key);
                let spec = ListenerCertificateSpec {
                    listener: key.clone(),
                    certificate: cert_key.clone(),
                };
                push(
                    att_key,
                    &tags,
                    Spec::ListenerCertificate(spec),
                    &listener_certificate_id(arn, cert_arn),
                    None,
                );
            }
        }
        for (arn, tg) in &self.target_groups {
            if let Some(key) = owned_by(&tg.tags, rack) {
                push(key, &tg.tags, Spec::TargetGroup(tg.spec.clone()), arn, None);
            }
        }
        for (arn, r) in &self.rules {
            if let Some(key) = owned_by(&r.tags, rack) {
                let spec = ListenerRuleSpec {
                    listener: resolve(&listener_keys, &r.listener_arn),
                    priority: Some(r.priority),
                    hosts: normal_hosts(&r.hosts),
                    target_group: resolve(&tg_keys, &r.target_group_arn),
                };
                push(key, &r.tags, Spec::ListenerRule(spec), arn, None);
            }
        }
        for (id, z) in &self.zones {
            if let Some(key) = owned_by(&z.tags, rack) {
                push(key, &z.tags, Spec::HostedZone(z.spec.clone()), id, None);
            }
            for (name, set) in &z.records {
                let (Some(alias), Some(txt)) = (&set.alias, &set.txt) else {
                    continue;
                };
                let Some((owner, key)) = parse_record_owner_value(txt) else {
                    continue;
                };
                if owner != rack.as_str() {
                    continue;
                }
                // The alias names the load balancer by DNS name only.
                let lb_key = self
                    .load_balancers
                    .iter()
                    .find(|(_, lb)| same_address(&lb.address, alias))
                    .map(|(arn, _)| resolve(&lb_keys, arn))
                    .unwrap_or_else(|| ResourceKey::from_raw(alias.dns_name.clone()));
                let spec = RecordSpec {
                    zone: resolve(&zone_keys, id),
                    name: name.clone(),
                    load_balancer: lb_key,
                };
                // Records carry no tags: these are the ones the TXT value implies.
                let tags = record_tags(&owner, &key);
                // Like AWS, the alias target as stored: what a DELETE must name.
                push(key, &tags, Spec::Record(spec), name, Some(alias.clone()));
            }
        }
        out.sort_by(|a, b| a.resource.key.cmp(&b.resource.key));
        out
    }
}

/// `NAME/HEX` of a load balancer's ARN, which its listeners' ARNs repeat.
fn lb_path(arn: &str, name: &str) -> String {
    let hex = arn.rsplit('/').next().unwrap_or_default();
    format!("{name}/{hex}")
}
