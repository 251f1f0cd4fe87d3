//! Observe: what exists and is owned by a rack, read back from AWS by tags, at a
//! cost that grows with the rack and not with the rest of the account.
//!
//! - Target groups and certificates: named by the Resource Groups Tagging API
//!   with the rack's tag, tags included ([`crate::tagging`]); ELBv2 describes
//!   the groups by ARN, 20 a call, and one ListCertificates gives the
//!   certificates' domains and validity. What the index may lag behind is read
//!   from its service: a group a rule of ours forwards to, a certificate whose
//!   domain is in the rack's zone.
//! - Load balancers: every ALB of the region is listed (the region's quota is 50
//!   by default) and their tags read, 20 ARNs per `DescribeTags`; then the
//!   listeners of ours, and the rules and attached certificates of those.
//! - The zone: by its name, `{rack}.convox`, and its tags. Records cannot be
//!   tagged; an alias record is ours when a TXT record of the same name says so.
//!
//! Only what carries the rack's `convox:rack` and `convox:key` tags is kept.

use std::collections::BTreeMap;

use aws_sdk_elasticloadbalancingv2::types::{
    Action, ActionTypeEnum, LoadBalancerSchemeEnum, ProtocolEnum, RedirectActionStatusCodeEnum,
    Rule, Tag,
};
use convox_model::backend::{AppObservation, BackendResult, ErrorKind};
use convox_model::name::Name;
use convox_model::public_cert::ROLE_PUBLIC_CERTIFICATE;
use convox_model::rack::Rack;
use convox_model::rack::zone_name;
use convox_model::resource::{
    CertificateSpec, DefaultAction, HealthCheck, HostedZoneSpec, LbScheme, ListenerCertificateSpec,
    ListenerRuleSpec, ListenerSpec, LoadBalancerAddress, LoadBalancerSpec, Observed, Protocol,
    RecordSpec, Resource, ResourceKey, ResourceSpec as Spec, Scope, SecurityGroupSpec, TAG_APP,
    TAG_EMPTY_SINCE, TAG_KEY, TAG_RACK, TAG_ROLE, TAG_SERVICE, TAG_SHARD, Tags, TargetGroupSpec,
    listener_certificate_id, listener_certificate_tags, normal_hosts, normal_ingress,
    normal_subnets, owned_by, record_tags, split_security_groups,
};

use crate::AwsBackend;
use crate::acm::{self, TAG_ISSUER};
use crate::ec2;
use crate::route53;
use crate::tagging;

mod app;
mod balancers;
use balancers::{
    ElbState, Owned, attached_certificates, elb_state, keys, listener_rules, owned_target_groups,
};
pub(crate) use balancers::{application_load_balancers, describe_tags};

/// ELBv2's DescribeTags takes at most this many ARNs.
const TAGS_PER_CALL: usize = 20;

/// DescribeRules' largest page.
const RULES_PER_PAGE: i32 = 400;

pub use convox_model::resource::{ROLE_LISTENER_CERTIFICATE, ROLE_RECORD};

/// A reference to something the rack does not own: a key no desired resource has,
/// so the planner sees the difference.
fn foreign(id: &str) -> ResourceKey {
    ResourceKey::from_raw(format!("foreign:{id}"))
}

/// Only the ownership tags, a target group's placement (`convox:shard`) and
/// a load balancer's draining (`convox:empty-since`): settings and other tags
/// are not the planner's concern.
fn ownership_only(tags: &Tags) -> Tags {
    const KEPT: [&str; 7] = [
        TAG_RACK,
        TAG_APP,
        TAG_SERVICE,
        TAG_ROLE,
        TAG_KEY,
        TAG_SHARD,
        TAG_EMPTY_SINCE,
    ];
    tags.iter()
        .filter(|(k, _)| KEPT.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// Tags read back from any service, as `(key, value)` pairs; a tag without a key
/// is none, one without a value has an empty one.
pub(crate) fn tag_map<'a>(
    pairs: impl IntoIterator<Item = (Option<&'a str>, Option<&'a str>)>,
) -> Tags {
    pairs
        .into_iter()
        .filter_map(|(k, v)| Some((k?.to_string(), v.unwrap_or_default().to_string())))
        .collect()
}

fn elb_tags(tags: &[Tag]) -> Tags {
    tag_map(tags.iter().map(|t| (t.key(), t.value())))
}

/// A load balancer's address in the form alias records carry it.
fn alias_dns(dns: &str) -> String {
    let d = route53::normal_name(dns);
    d.strip_prefix("dualstack.")
        .map(str::to_string)
        .unwrap_or(d)
}

/// A number AWS sends as text; 0 (nothing this library writes) when it is absent
/// or not a number.
fn number<T: std::str::FromStr + Default>(s: Option<&str>) -> T {
    s.and_then(|s| s.parse().ok()).unwrap_or_default()
}

/// A port or a number of seconds; 0 when absent or out of range.
fn int<T: TryFrom<i32> + Default>(n: Option<i32>) -> T {
    n.and_then(|n| T::try_from(n).ok()).unwrap_or_default()
}

/// A text field, empty when absent.
fn text(s: Option<&str>) -> String {
    s.unwrap_or_default().to_string()
}

fn protocol(p: Option<&ProtocolEnum>) -> Protocol {
    match p {
        Some(ProtocolEnum::Https) => Protocol::Https,
        _ => Protocol::Http,
    }
}

/// A listener's default action as the model knows them; any other action becomes
/// one that no desired listener has.
fn default_action(actions: &[Action]) -> DefaultAction {
    let first = actions.iter().min_by_key(|a| a.order().unwrap_or(0));
    match first {
        Some(a) if a.r#type() == Some(&ActionTypeEnum::Redirect) => {
            let r = a.redirect_config();
            DefaultAction::Redirect {
                port: number(r.and_then(|r| r.port())),
                status_code: match r.and_then(|r| r.status_code()) {
                    Some(RedirectActionStatusCodeEnum::Http301) => 301,
                    Some(RedirectActionStatusCodeEnum::Http302) => 302,
                    _ => 0,
                },
            }
        }
        Some(a) if a.r#type() == Some(&ActionTypeEnum::FixedResponse) => {
            let f = a.fixed_response_config();
            DefaultAction::FixedResponse {
                status_code: number(f.and_then(|f| f.status_code())),
                content_type: text(f.and_then(|f| f.content_type())),
                body: text(f.and_then(|f| f.message_body())),
            }
        }
        other => DefaultAction::FixedResponse {
            status_code: 0,
            content_type: format!(
                "unmodelled:{}",
                other
                    .and_then(|a| a.r#type())
                    .map(|t| t.as_str())
                    .unwrap_or("none")
            ),
            body: String::new(),
        },
    }
}

fn forward_target(actions: &[Action]) -> Option<&str> {
    actions
        .iter()
        .filter(|a| a.r#type() == Some(&ActionTypeEnum::Forward))
        .find_map(|a| {
            a.target_group_arn().or_else(|| {
                a.forward_config()
                    .and_then(|f| f.target_groups().first())
                    .and_then(|t| t.target_group_arn())
            })
        })
}

pub(crate) fn rule_hosts(rule: &Rule) -> Vec<String> {
    let hosts: Vec<String> = rule
        .conditions()
        .iter()
        .filter(|c| c.field() == Some("host-header"))
        .flat_map(|c| match c.host_header_config() {
            Some(h) if !h.values().is_empty() => h.values().to_vec(),
            _ => c.values().to_vec(),
        })
        .collect();
    normal_hosts(&hosts)
}

fn key_or_foreign(keys: &BTreeMap<String, ResourceKey>, id: &str) -> ResourceKey {
    keys.get(id).cloned().unwrap_or_else(|| foreign(id))
}

fn observed(key: ResourceKey, tags: &Tags, spec: Spec, id: String) -> Observed {
    Observed {
        resource: Resource {
            key,
            tags: ownership_only(tags),
            spec,
        },
        id,
        address: None,
        not_after: None,
    }
}

/// See [`convox_model::backend::Backend::observe`].
pub(crate) async fn observe(
    b: &AwsBackend,
    rack: &Name,
    scope: &Scope,
) -> BackendResult<Vec<Observed>> {
    Ok(observe_parts(b, rack, scope).await?.observed)
}

/// See [`convox_model::backend::Backend::observe_app`]: the zone is found once
/// for the stored rack and the observation, and the requested public
/// certificates' status is read from the same listing as the rack's
/// certificates.
pub(crate) async fn observe_app(
    b: &AwsBackend,
    rack: &Name,
    app: &Name,
) -> BackendResult<AppObservation> {
    let parts = observe_parts(b, rack, &Scope::Deploy(app.clone())).await?;
    let mut requested = Vec::new();
    for c in parts.requested {
        match c.issued_public() {
            Some(issued) => requested.push(issued),
            // Its validation records are only in its description.
            None => match acm::describe_certificate(&b.acm, &c.arn).await {
                Ok(d) => requested.push(d),
                Err(e) if e.kind() == ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            },
        }
    }
    Ok(AppObservation::new(parts.stored, parts.observed, requested))
}

/// What one observation read: what it observed, the rack's settings stored on
/// its zone, and the public certificates requested for it.
struct Parts {
    observed: Vec<Observed>,
    stored: Option<Rack>,
    requested: Vec<acm::Cert>,
}

async fn observe_parts(b: &AwsBackend, rack: &Name, scope: &Scope) -> BackendResult<Parts> {
    // A rack-scoped observe needs no app resources; an app's needs the rack's
    // routers and zone too, to resolve its references.
    let apps = !matches!(scope, Scope::Rack);
    let app = match scope {
        Scope::App(app) => Some(app),
        _ => None,
    };
    let deploy = match scope {
        Scope::Deploy(app) => Some(app),
        _ => None,
    };
    let is_ours = |t: &Tags| owned_by(t, rack).is_some();
    let is_requested = |t: &Tags| {
        t.get(TAG_RACK).is_some_and(|r| r == rack.as_str())
            && t.get(TAG_ROLE)
                .is_some_and(|r| r == ROLE_PUBLIC_CERTIFICATE)
    };
    // What the rack owns of the kinds the index knows, by tag, in one call per
    // page whatever else the account holds. A deploy's: the app's target
    // groups, and the rack's certificates (the routers', the apps', the
    // public ones).
    let tagged = match deploy {
        Some(app) => {
            let (groups, certificates) = futures::try_join!(
                tagging::tagged(&b.tagging, rack, Some(app), &[tagging::TARGET_GROUP]),
                tagging::tagged(&b.tagging, rack, None, &[tagging::CERTIFICATE]),
            )?;
            tagging::Tagged {
                target_groups: groups.target_groups,
                certificates: certificates.certificates,
            }
        }
        None => {
            let types: &[&str] = if apps {
                &[tagging::TARGET_GROUP, tagging::CERTIFICATE]
            } else {
                &[tagging::CERTIFICATE]
            };
            tagging::tagged(&b.tagging, rack, app, types).await?
        }
    };
    let zone = zone_name(rack);
    // The domains of the certificates in scope: an app's are in its own zone.
    let cert_zone = match app {
        Some(app) => format!("{app}.{zone}"),
        None => zone.clone(),
    };
    let security_groups = async {
        match scope {
            // An app owns no security group; its references to the routers'
            // are out of its scope.
            Scope::App(_) => Ok(Vec::new()),
            _ => ec2::rack_security_groups(&b.ec2, rack.as_str()).await,
        }
    };
    let elb = async {
        match deploy {
            Some(app) => app::elb_state(&b.elb, rack, app, &tagged).await,
            None => elb_state(&b.elb, rack, apps, &tagged).await,
        }
    };
    let (groups, elb, certs, zones) = futures::try_join!(
        security_groups,
        elb,
        acm::rack_certificates(&b.acm, &tagged.certificates, &cert_zone, |t| {
            is_ours(t) || is_requested(t)
        }),
        route53::zones(&b.route53, &zone, is_ours),
    )?;
    let (requested, certs): (Vec<_>, Vec<_>) =
        certs.into_iter().partition(|c| is_requested(&c.tags));
    // The rack's settings, from the tags of its zone (two claiming to be it:
    // the one holding settings, then the lowest id, as `load_rack` chooses).
    let stored = match zones
        .iter()
        .filter(|z| owned_by(&z.tags, rack).is_some_and(|k| k == ResourceKey::zone()))
        .min_by_key(|z| {
            (
                !z.tags.keys().any(|k| route53::is_settings_tag(k)),
                z.id.clone(),
            )
        }) {
        Some(z) => route53::rack_from_tags(rack, &z.tags)?,
        None => None,
    };

    let mut out = Vec::new();

    let mut sg_keys = BTreeMap::new();
    for g in &groups {
        let tags = tag_map(g.tags().iter().map(|t| (t.key(), t.value())));
        let (Some(key), Some(id)) = (owned_by(&tags, rack), g.group_id()) else {
            continue;
        };
        sg_keys.insert(id.to_string(), key.clone());
        let ingress = normal_ingress(&ec2::ingress(g));
        let spec = SecurityGroupSpec {
            name: text(g.group_name()),
            description: text(g.description()),
            vpc_id: text(g.vpc_id()),
            ingress,
        };
        out.push(observed(
            key,
            &tags,
            Spec::SecurityGroup(spec),
            id.to_string(),
        ));
    }

    let mut cert_keys = BTreeMap::new();
    let mut cert_tags = BTreeMap::new();
    for c in &certs {
        let Some(key) = owned_by(&c.tags, rack) else {
            continue;
        };
        cert_keys.insert(c.arn.clone(), key.clone());
        cert_tags.insert(c.arn.clone(), c.tags.clone());
        let spec = CertificateSpec {
            domain: c.domain.clone().unwrap_or_default(),
            issuer: c.tags.get(TAG_ISSUER).cloned().unwrap_or_default(),
            // A shared certificate's apps (issue 9), from its names.
            names: c.names(),
        };
        let mut o = observed(key, &c.tags, Spec::Certificate(spec), c.arn.clone());
        // Its validity, as ACM reports it (issue 12).
        o.not_after = c.not_after;
        out.push(o);
    }

    let lb_keys = keys(&elb.lbs);
    let listener_keys = keys(&elb.listeners);
    let tg_keys = keys(&elb.target_groups);
    let mut lb_by_dns: BTreeMap<String, ResourceKey> = BTreeMap::new();
    for lb in &elb.lbs {
        let l = &lb.item;
        let subnets: Vec<String> = l
            .availability_zones()
            .iter()
            .filter_map(|z| z.subnet_id().map(str::to_string))
            .collect();
        // Every group on it, not only the first: an extra one is drift.
        let groups: Vec<ResourceKey> = l
            .security_groups()
            .iter()
            .map(|id| key_or_foreign(&sg_keys, id))
            .collect();
        let (security_group, other_security_groups) =
            split_security_groups(&lb.key, &groups, foreign("none"));
        let spec = LoadBalancerSpec {
            name: text(l.load_balancer_name()),
            scheme: match l.scheme() {
                Some(LoadBalancerSchemeEnum::Internal) => LbScheme::Internal,
                _ => LbScheme::InternetFacing,
            },
            subnets: normal_subnets(&subnets),
            security_group,
            other_security_groups,
        };
        let address = match (l.dns_name(), l.canonical_hosted_zone_id()) {
            (Some(dns), Some(zone)) => {
                lb_by_dns.insert(alias_dns(dns), lb.key.clone());
                Some(LoadBalancerAddress {
                    dns_name: dns.to_string(),
                    hosted_zone_id: zone.to_string(),
                })
            }
            _ => None,
        };
        let mut o = lb.observed(Spec::LoadBalancer(spec));
        o.address = address;
        out.push(o);
    }

    for l in &elb.listeners {
        let li = &l.item;
        let spec = ListenerSpec {
            load_balancer: key_or_foreign(&lb_keys, li.load_balancer_arn().unwrap_or_default()),
            port: int(li.port()),
            protocol: protocol(li.protocol()),
            default_action: default_action(li.default_actions()),
            certificate: li
                .certificates()
                .iter()
                .find_map(|c| c.certificate_arn())
                .map(|arn| key_or_foreign(&cert_keys, arn)),
        };
        out.push(l.observed(Spec::Listener(spec)));
    }

    // Obstacles: reported apart from what the rack owns, and only to a caller
    // that asks for every app's resources or plans a deploy.
    let mut obstacles = Vec::new();
    for (listener, cert) in &elb.sni {
        // Only our certificates on our listeners are our attachments.
        let (Some(cert_key), Some(listener_key)) =
            (cert_keys.get(cert), listener_keys.get(listener))
        else {
            continue;
        };
        let key = ResourceKey::listener_certificate_on(cert_key, listener_key);
        if deploy.is_some() && !key.in_scope(scope) {
            // Another app's: it takes a certificate slot on the listener.
            let id = listener_certificate_id(listener, cert);
            let spec = ListenerCertificateSpec {
                listener: listener_key.clone(),
                certificate: foreign(cert),
            };
            obstacles.push(observed(
                ResourceKey::foreign_attachment(&id),
                &Tags::new(),
                Spec::ListenerCertificate(spec),
                id,
            ));
            continue;
        }
        let tags =
            listener_certificate_tags(&cert_tags.get(cert).cloned().unwrap_or_default(), &key);
        let spec = ListenerCertificateSpec {
            listener: listener_key.clone(),
            certificate: cert_key.clone(),
        };
        out.push(observed(
            key,
            &tags,
            Spec::ListenerCertificate(spec),
            listener_certificate_id(listener, cert),
        ));
    }

    for t in &elb.target_groups {
        let g = &t.item;
        let spec = TargetGroupSpec {
            name: text(g.target_group_name()),
            protocol: protocol(g.protocol()),
            port: int(g.port()),
            vpc_id: text(g.vpc_id()),
            health: HealthCheck {
                path: g.health_check_path().unwrap_or("/").to_string(),
                interval: int(g.health_check_interval_seconds()),
                timeout: int(g.health_check_timeout_seconds()),
            },
        };
        out.push(t.observed(Spec::TargetGroup(spec)));
    }

    let rule_spec = |listener_arn: &str, rule: &Rule| ListenerRuleSpec {
        listener: key_or_foreign(&listener_keys, listener_arn),
        priority: rule.priority().and_then(|p| p.parse().ok()),
        hosts: rule_hosts(rule),
        target_group: forward_target(rule.actions())
            .map(|arn| key_or_foreign(&tg_keys, arn))
            .unwrap_or_else(|| foreign("none")),
    };
    for r in &elb.rules {
        let (listener_arn, rule) = &r.item;
        let o = r.observed(Spec::ListenerRule(rule_spec(listener_arn, rule)));
        // A deploy's view keeps another app's rule that may take one of its
        // hostnames as it is ([`app::elb_state`]).
        if deploy.is_some() && !o.resource.key.in_scope(scope) {
            obstacles.push(o);
        } else {
            out.push(o);
        }
    }
    if matches!(scope, Scope::Apps | Scope::All | Scope::Deploy(_)) {
        for (listener_arn, rule) in &elb.foreign_rules {
            let Some(arn) = rule.rule_arn() else {
                continue;
            };
            obstacles.push(observed(
                ResourceKey::foreign_rule(arn),
                &Tags::new(),
                Spec::ListenerRule(rule_spec(listener_arn, rule)),
                arn.to_string(),
            ));
        }
    }

    for z in &zones {
        let Some(zone_key) = owned_by(&z.tags, rack) else {
            continue;
        };
        // A deploy never changes the zone: it takes the zone's VPC as the rack
        // stored it (`rack audit` and the rack's own plans read it).
        let (vpc_id, region) = match (&stored, deploy) {
            (Some(s), Some(_)) => (s.vpc.id.clone(), s.region.clone()),
            _ => route53::zone_vpc(&b.route53, &z.id).await?,
        };
        let spec = HostedZoneSpec {
            name: z.name.clone(),
            vpc_id,
            region,
        };
        out.push(observed(
            zone_key.clone(),
            &z.tags,
            Spec::HostedZone(spec),
            z.id.clone(),
        ));
        if !apps {
            continue;
        }
        // An app's records are those under its own name.
        let under = app.or(deploy).map(|a| format!("{a}.{zone}"));
        for rec in route53::owned_records(&b.route53, &z.id, rack, under.as_deref()).await? {
            let key = ResourceKey::from_raw(rec.key);
            let tags = record_tags(rack.as_str(), &key);
            let load_balancer = rec
                .alias
                .as_ref()
                .map(|a| {
                    lb_by_dns
                        .get(&alias_dns(&a.dns_name))
                        .cloned()
                        .unwrap_or_else(|| foreign(&a.dns_name))
                })
                .unwrap_or_else(|| foreign("none"));
            let spec = RecordSpec {
                zone: zone_key.clone(),
                name: rec.name.clone(),
                load_balancer,
            };
            let mut o = observed(key, &tags, Spec::Record(spec), rec.name);
            // What the record points at now: a DELETE must name it exactly.
            o.address = rec.alias;
            out.push(o);
        }
    }

    out.retain(|o| o.resource.key.in_scope(scope));
    out.extend(obstacles);
    out.sort_by(|a, b| a.resource.key.cmp(&b.resource.key));
    Ok(Parts {
        observed: out,
        stored,
        requested,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn alias_names_match_load_balancer_names() {
        assert_eq!(
            alias_dns("dualstack.internal-x-1.us-east-1.elb.amazonaws.com."),
            "internal-x-1.us-east-1.elb.amazonaws.com"
        );
    }
}
