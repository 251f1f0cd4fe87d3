//! What an embedding deployer attaches its containers to: for every routed
//! service of an app and each router it is routed on, its target group, the
//! host-header rule that forwards to it, and the load balancer (with its
//! security group) that routes it.
//!
//! Read from an observation ([`service_routes`]), or, after a deploy, from the
//! observation the deploy planned from and what its apply did
//! ([`crate::ops::DeployReport::routes`]): a deployer gets them from every
//! deploy, a no-op redeploy included, without observing again. Ids are the
//! provider's, in the one format [`crate::backend::Backend::observe`] gives
//! them (ARNs on AWS, `sg-…` for security groups).
//!
//! ```
//! use convox_model::name::Name;
//! use convox_model::routes::service_routes;
//!
//! // Nothing observed: nothing routed.
//! assert!(service_routes(&[], &Name::new("backend")?).is_empty());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::exposure::{Hostname, Router};
use crate::name::Name;
use crate::plan::{Action, Op, Plan};
use crate::resource::{
    HealthCheck, KeySubject, Observed, Protocol, ResourceKey, ResourceSpec as Spec,
};

/// One routed (service, router) pair of an app, as it exists.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ServiceRoute {
    /// The service.
    pub service: Name,
    /// The router it is routed on.
    pub router: Router,
    /// Where its containers are registered.
    pub target_group: RoutedTargetGroup,
    /// The host-header rule forwarding to the target group.
    pub rule: RoutedRule,
    /// The load balancer of the router's pool whose listener holds the rule.
    pub load_balancer: RoutedLoadBalancer,
}

/// A service's target group on one router.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct RoutedTargetGroup {
    /// Its key.
    pub key: ResourceKey,
    /// The provider's id (an ARN on AWS): what RegisterTargets takes.
    pub arn: String,
    /// Its name.
    pub name: String,
    /// The port the service's containers listen on.
    pub port: u16,
    /// HTTP or HTTPS, to the containers.
    pub protocol: Protocol,
    /// Its health check.
    pub health: HealthCheck,
}

/// A service's host-header rule on one router.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct RoutedRule {
    /// Its key.
    pub key: ResourceKey,
    /// The provider's id (an ARN on AWS).
    pub arn: String,
    /// The hostnames it answers for.
    pub hostnames: Vec<Hostname>,
    /// The provider's id of the listener it is on.
    pub listener_arn: String,
    /// That listener's port (443).
    pub listener_port: u16,
    /// Its priority on the listener.
    pub priority: Option<u32>,
}

/// The load balancer that routes a service, and its security group.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct RoutedLoadBalancer {
    /// Its key (which load balancer of the router's pool).
    pub key: ResourceKey,
    /// The provider's id (an ARN on AWS).
    pub arn: String,
    /// Its name.
    pub name: String,
    /// Where it answers.
    pub dns_name: String,
    /// The provider's id of the router's security group on it: what the
    /// containers' own security group admits traffic from.
    pub security_group_id: String,
}

/// Every route of `app` among `observed`: each of its services' rules whose
/// target group, listener, load balancer and security group are observed too,
/// by service, internal first. A key observed twice reads as the claim the
/// planner ranks first (an attached certificate first, then by id).
pub fn service_routes(observed: &[Observed], app: &Name) -> Vec<ServiceRoute> {
    let mut by_key: BTreeMap<&ResourceKey, &Observed> = BTreeMap::new();
    for o in crate::plan::kept_first(observed) {
        if !o.resource.key.is_foreign() {
            by_key.entry(&o.resource.key).or_insert(o);
        }
    }
    let mut routes: Vec<ServiceRoute> = by_key
        .values()
        .filter_map(|o| route(&by_key, o, app))
        .collect();
    routes.sort_by(|a, b| (&a.service, a.router).cmp(&(&b.service, b.router)));
    routes
}

/// The route `rule` is, when it is a rule of `app` and all it hangs on is in
/// `by_key`.
fn route(
    by_key: &BTreeMap<&ResourceKey, &Observed>,
    rule: &Observed,
    app: &Name,
) -> Option<ServiceRoute> {
    let KeySubject::ListenerRule(a, service, router) = rule.resource.key.subject() else {
        return None;
    };
    let Spec::ListenerRule(r) = &rule.resource.spec else {
        return None;
    };
    if a != app {
        return None;
    }
    let tg = by_key.get(&r.target_group)?;
    let Spec::TargetGroup(t) = &tg.resource.spec else {
        return None;
    };
    let listener = by_key.get(&r.listener)?;
    let Spec::Listener(l) = &listener.resource.spec else {
        return None;
    };
    let lb = by_key.get(&l.load_balancer)?;
    let Spec::LoadBalancer(b) = &lb.resource.spec else {
        return None;
    };
    let sg = by_key.get(&b.security_group)?;
    Some(ServiceRoute {
        service: service.clone(),
        router: *router,
        target_group: RoutedTargetGroup {
            key: tg.resource.key.clone(),
            arn: tg.id.clone(),
            name: t.name.clone(),
            port: t.port,
            protocol: t.protocol,
            health: t.health.clone(),
        },
        rule: RoutedRule {
            key: rule.resource.key.clone(),
            arn: rule.id.clone(),
            hostnames: r.hosts.iter().cloned().map(Hostname::from_raw).collect(),
            listener_arn: listener.id.clone(),
            listener_port: l.port,
            priority: r.priority,
        },
        load_balancer: RoutedLoadBalancer {
            key: lb.resource.key.clone(),
            arn: lb.id.clone(),
            name: b.name.clone(),
            dns_name: lb
                .address
                .as_ref()
                .map(|a| a.dns_name.clone())
                .unwrap_or_default(),
            security_group_id: sg.id.clone(),
        },
    })
}

/// What exists once `plan`, made from `observed`, was applied and left the
/// provider ids `ids` ([`crate::apply::Report::ids`]): one resource per key,
/// as the plan wanted it where it acted and as observed elsewhere (the claim
/// the plan kept, for a key claimed twice).
pub(crate) fn after_apply(
    observed: &[Observed],
    plan: &Plan,
    ids: &BTreeMap<ResourceKey, String>,
) -> Vec<Observed> {
    let acted: BTreeMap<&ResourceKey, &Action> = plan.actions.iter().map(|a| (&a.key, a)).collect();
    let kept: BTreeMap<&ResourceKey, &str> = plan
        .duplicate_claims
        .iter()
        .filter_map(|c| Some((&c.key, c.kept.as_deref()?)))
        .collect();
    let mut out = Vec::new();
    for (key, id) in ids {
        let action = acted.get(key);
        let id = match (action, kept.get(key)) {
            (None, Some(k)) => (*k).to_string(),
            _ => id.clone(),
        };
        let claim = observed
            .iter()
            .find(|o| o.resource.key == *key && o.id == id);
        let wanted = action
            .filter(|a| a.op != Op::Delete)
            .and_then(|a| a.desired.clone());
        let Some(resource) = wanted.or_else(|| claim.map(|o| o.resource.clone())) else {
            continue;
        };
        out.push(Observed {
            resource,
            id,
            address: claim.and_then(|o| o.address.clone()),
            not_after: claim.and_then(|o| o.not_after),
        });
    }
    out
}
