//! Observe: what a rack owns, read back from the state with references resolved
//! to keys.

use std::collections::BTreeMap;

use convox_model::backend::{AppObservation, BackendResult};
use convox_model::name::Name;
use convox_model::observe::may_route_app_host;
use convox_model::public_cert::certificate_reference;
use convox_model::resource::{
    ListenerCertificateSpec, ListenerRuleSpec, ListenerSpec, LoadBalancerAddress, LoadBalancerSpec,
    Observed, RecordSpec, Resource, ResourceKey, ResourceSpec as Spec, Scope, TAG_KEY, Tags,
    listener_certificate_id, listener_certificate_tags, normal_hosts, normal_subnets, owned_by,
    parse_record_owner_value, record_tags, split_security_groups,
};

use super::route53::same_address;
use super::{Certificate, Listener, LoadBalancer, Rule, SecurityGroup, State, TargetGroup, Zone};

/// The keys of a rack's resources by provider id, to resolve references.
///
/// A reference to something the rack does not own stays its provider id, so that
/// it differs from any desired key and the planner sees a change.
struct Refs {
    security_groups: BTreeMap<String, ResourceKey>,
    load_balancers: BTreeMap<String, ResourceKey>,
    listeners: BTreeMap<String, ResourceKey>,
    certificates: BTreeMap<String, ResourceKey>,
    target_groups: BTreeMap<String, ResourceKey>,
    zones: BTreeMap<String, ResourceKey>,
}

fn keys<T: Tagged>(rack: &Name, items: &BTreeMap<String, T>) -> BTreeMap<String, ResourceKey> {
    items
        .iter()
        .filter_map(|(id, t)| owned_by(t.tags(), rack).map(|k| (id.clone(), k)))
        .collect()
}

fn resolve(keys: &BTreeMap<String, ResourceKey>, id: &str) -> ResourceKey {
    keys.get(id)
        .cloned()
        .unwrap_or_else(|| ResourceKey::from_raw(id))
}

/// A resource the state holds by provider id, with its tags.
trait Tagged {
    fn tags(&self) -> &Tags;
}

/// A resource as the model sees it.
trait Held: Tagged {
    fn spec(&self, refs: &Refs) -> Spec;
    fn address(&self) -> Option<LoadBalancerAddress> {
        None
    }
}

/// Every resource keeps its tags in a `tags` field; most keep their spec as the
/// model has it, in a `spec` field.
macro_rules! held {
    (tags: $($tagged:ident),*; spec: $($plain:ident => $variant:ident),*) => {
        $(impl Tagged for $tagged {
            fn tags(&self) -> &Tags {
                &self.tags
            }
        })*
        $(impl Held for $plain {
            fn spec(&self, _: &Refs) -> Spec {
                Spec::$variant(self.spec.clone())
            }
        })*
    };
}

held! {
    tags: SecurityGroup, LoadBalancer, Certificate, Listener, TargetGroup, Rule, Zone;
    spec: SecurityGroup => SecurityGroup, Certificate => Certificate,
        TargetGroup => TargetGroup, Zone => HostedZone
}

impl Held for LoadBalancer {
    fn spec(&self, refs: &Refs) -> Spec {
        let groups: Vec<ResourceKey> = self
            .security_group_ids
            .iter()
            .map(|id| resolve(&refs.security_groups, id))
            .collect();
        let own = ResourceKey::from_raw(self.tags.get(TAG_KEY).cloned().unwrap_or_default());
        let (security_group, other_security_groups) =
            split_security_groups(&own, &groups, ResourceKey::from_raw("none"));
        Spec::LoadBalancer(LoadBalancerSpec {
            name: self.name.clone(),
            scheme: self.scheme,
            subnets: normal_subnets(&self.subnets),
            security_group,
            other_security_groups,
        })
    }
    fn address(&self) -> Option<LoadBalancerAddress> {
        Some(self.address.clone())
    }
}

impl Held for Listener {
    fn spec(&self, refs: &Refs) -> Spec {
        Spec::Listener(ListenerSpec {
            load_balancer: resolve(&refs.load_balancers, &self.load_balancer_arn),
            port: self.port,
            protocol: self.protocol,
            default_action: self.default_action.clone(),
            // A certificate the rack does not own (a public one) is named by
            // its ARN, as the listener's desired spec names it.
            certificate: self.default_certificate.as_deref().map(|c| {
                refs.certificates
                    .get(c)
                    .cloned()
                    .unwrap_or_else(|| certificate_reference(c))
            }),
        })
    }
}

impl Held for Rule {
    fn spec(&self, refs: &Refs) -> Spec {
        Spec::ListenerRule(ListenerRuleSpec {
            listener: resolve(&refs.listeners, &self.listener_arn),
            priority: Some(self.priority),
            hosts: normal_hosts(&self.hosts),
            target_group: resolve(&refs.target_groups, &self.target_group_arn),
        })
    }
}

fn observed(
    key: ResourceKey,
    tags: Tags,
    spec: Spec,
    id: String,
    address: Option<LoadBalancerAddress>,
) -> Observed {
    Observed {
        resource: Resource { key, tags, spec },
        id,
        address,
        not_after: None,
    }
}

/// [`Scope::Deploy`] of `app`, from everything the rack owns: the rack's own
/// resources and the app's as they are; every other rule and certificate
/// attachment on the rack's listeners an obstacle under a foreign key; what an
/// obstacle forwards to or attaches, when it is not kept, named by its provider
/// id (as the AWS backend, which does not read other apps' resources, names
/// it); other apps' other resources left out. Other apps' rules that may route
/// one of the app's hostnames ([`may_route_app_host`]) are kept as they are.
fn deploy_view(all: Vec<Observed>, rack: &Name, app: &Name) -> Vec<Observed> {
    let scope = Scope::Deploy(app.clone());
    let ids: BTreeMap<ResourceKey, String> = all
        .iter()
        .map(|o| (o.resource.key.clone(), o.id.clone()))
        .collect();
    let outside = |key: &ResourceKey| -> ResourceKey {
        if key.in_scope(&scope) {
            key.clone()
        } else {
            ids.get(key)
                .map(|id| ResourceKey::from_raw(id.clone()))
                .unwrap_or_else(|| key.clone())
        }
    };
    let mut out: Vec<Observed> = all
        .iter()
        .filter_map(|o| {
            let key = &o.resource.key;
            if key.in_scope(&scope) {
                return Some(o.clone());
            }
            let mut o = o.clone();
            match &mut o.resource.spec {
                Spec::ListenerRule(rule) => {
                    rule.target_group = outside(&rule.target_group);
                    // Another app's rule that may take one of this app's
                    // hostnames stays as it is: the planner refuses the name.
                    let theirs = !key.is_foreign()
                        && rule.hosts.iter().any(|h| may_route_app_host(rack, app, h));
                    if !key.is_foreign() && !theirs {
                        o.resource.key = ResourceKey::foreign_rule(&o.id);
                        o.resource.tags = Tags::new();
                    }
                }
                Spec::ListenerCertificate(lc) => {
                    lc.certificate = outside(&lc.certificate);
                    o.resource.key = ResourceKey::foreign_attachment(&o.id);
                    o.resource.tags = Tags::new();
                }
                _ => return None,
            }
            Some(o)
        })
        .collect();
    out.sort_by(|a, b| a.resource.key.cmp(&b.resource.key));
    out
}

/// Every item of `items` that `rack` owns in `scope`.
fn owned<T: Held>(
    rack: &Name,
    scope: &Scope,
    items: &BTreeMap<String, T>,
    refs: &Refs,
) -> Vec<Observed> {
    items
        .iter()
        .filter_map(|(id, t)| {
            let key = owned_by(t.tags(), rack).filter(|k| k.in_scope(scope))?;
            Some(observed(
                key,
                t.tags().clone(),
                t.spec(refs),
                id.clone(),
                t.address(),
            ))
        })
        .collect()
}

impl State {
    /// What a deploy of `app` reads: the stored rack, the [`Scope::Deploy`]
    /// observation and the requested public certificates.
    pub(crate) fn observe_app(
        &mut self,
        op: &str,
        rack: &Name,
        app: &Name,
    ) -> BackendResult<AppObservation> {
        let stored = self.load_rack(op, rack)?;
        let observed = self.observe(op, rack, &Scope::Deploy(app.clone()))?;
        let requested = self.requested_certificates(op, rack)?;
        Ok(AppObservation::new(stored, observed, requested))
    }

    /// Every resource `rack` owns in `scope` (`op` is unused: reading cannot
    /// fail).
    pub(crate) fn observe(
        &self,
        _op: &str,
        rack: &Name,
        scope: &Scope,
    ) -> BackendResult<Vec<Observed>> {
        if let Scope::Deploy(app) = scope {
            return Ok(deploy_view(
                self.observe(_op, rack, &Scope::All)?,
                rack,
                app,
            ));
        }
        let refs = Refs {
            security_groups: keys(rack, &self.security_groups),
            load_balancers: keys(rack, &self.load_balancers),
            listeners: keys(rack, &self.listeners),
            certificates: keys(rack, &self.certificates),
            target_groups: keys(rack, &self.target_groups),
            zones: keys(rack, &self.zones),
        };
        let mut out = Vec::new();
        out.extend(owned(rack, scope, &self.security_groups, &refs));
        out.extend(owned(rack, scope, &self.load_balancers, &refs));
        out.extend(owned(rack, scope, &self.certificates, &refs));
        out.extend(owned(rack, scope, &self.listeners, &refs));
        out.extend(owned(rack, scope, &self.target_groups, &refs));
        out.extend(owned(rack, scope, &self.rules, &refs));
        // As on AWS, the rack's zone is found by its name, `{rack}.convox`: a
        // zone with the rack's tags under another name is not its zone.
        let zone_name = convox_model::rack::zone_name(rack);
        let named: BTreeMap<String, _> = self
            .zones
            .iter()
            .filter(|(_, z)| z.spec.name == zone_name)
            .map(|(id, z)| (id.clone(), z.clone()))
            .collect();
        out.extend(owned(rack, scope, &named, &refs));
        if matches!(scope, Scope::Apps | Scope::All) {
            out.extend(self.foreign_rules(rack, &refs));
        }
        out.extend(self.listener_certificates(scope, &refs));
        out.extend(self.records(rack, scope, &refs));
        // A certificate's validity, as ACM reports it (issue 12).
        for o in &mut out {
            if let Some(c) = self.certificates.get(&o.id) {
                o.not_after = c.not_after;
            }
        }
        out.sort_by(|a, b| a.resource.key.cmp(&b.resource.key));
        Ok(out)
    }

    /// Rules on the rack's listeners that it does not own: obstacles, reported
    /// without tags under [`ResourceKey::foreign_rule`].
    fn foreign_rules(&self, rack: &Name, refs: &Refs) -> Vec<Observed> {
        self.rules
            .iter()
            .filter(|(_, r)| {
                refs.listeners.contains_key(&r.listener_arn) && owned_by(&r.tags, rack).is_none()
            })
            .map(|(id, r)| {
                observed(
                    ResourceKey::foreign_rule(id),
                    Tags::new(),
                    r.spec(refs),
                    id.clone(),
                    None,
                )
            })
            .collect()
    }

    /// Attachments have no tags of their own: one is ours when both the listener
    /// and the certificate are.
    fn listener_certificates(&self, scope: &Scope, refs: &Refs) -> Vec<Observed> {
        let mut out = Vec::new();
        for (arn, l) in &self.listeners {
            let Some(key) = refs.listeners.get(arn) else {
                continue;
            };
            for cert_arn in &l.certificates {
                let (Some(cert_key), Some(cert)) = (
                    refs.certificates.get(cert_arn),
                    self.certificates.get(cert_arn),
                ) else {
                    continue;
                };
                let att_key = ResourceKey::listener_certificate_on(cert_key, key);
                if !att_key.in_scope(scope) {
                    continue;
                }
                let tags = listener_certificate_tags(&cert.tags, &att_key);
                let spec = ListenerCertificateSpec {
                    listener: key.clone(),
                    certificate: cert_key.clone(),
                };
                out.push(observed(
                    att_key,
                    tags,
                    Spec::ListenerCertificate(spec),
                    listener_certificate_id(arn, cert_arn),
                    None,
                ));
            }
        }
        out
    }

    /// Records carry no tags: a record is ours when its TXT value names the rack.
    fn records(&self, rack: &Name, scope: &Scope, refs: &Refs) -> Vec<Observed> {
        let mut out = Vec::new();
        let zone_name = convox_model::rack::zone_name(rack);
        for (id, z) in self.zones.iter().filter(|(_, z)| z.spec.name == zone_name) {
            for (name, set) in &z.records {
                let (Some(alias), Some(txt)) = (&set.alias, &set.txt) else {
                    continue;
                };
                let Some((owner, key)) = parse_record_owner_value(txt) else {
                    continue;
                };
                if owner != rack.as_str() || !key.in_scope(scope) {
                    continue;
                }
                // The alias names the load balancer by DNS name only.
                let lb_key = self
                    .load_balancers
                    .iter()
                    .find(|(_, lb)| same_address(&lb.address, alias))
                    .map(|(arn, _)| resolve(&refs.load_balancers, arn))
                    .unwrap_or_else(|| ResourceKey::from_raw(alias.dns_name.clone()));
                let spec = RecordSpec {
                    zone: resolve(&refs.zones, id),
                    name: name.clone(),
                    load_balancer: lb_key,
                };
                // The tags the TXT value implies; and, like AWS, the alias target
                // as stored: what a DELETE must name.
                let tags = record_tags(&owner, &key);
                out.push(observed(
                    key,
                    tags,
                    Spec::Record(spec),
                    name.clone(),
                    Some(alias.clone()),
                ));
            }
        }
        out
    }
}
