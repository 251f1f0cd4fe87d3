//! The plan: what must change for what exists to become what should exist.
//!
//! [`plan`] is pure and deterministic: the same desired state and observation give
//! the same plan, byte for byte. It leaves nothing to execution time: listener rule
//! priorities are allocated here, quotas and certificate coverage are checked here,
//! and each [`Action`] carries the full resource it creates, so that the apply
//! engine only has to turn keys into provider ids.
//!
//! A plan carries the [`fingerprint`] of the observation it was computed from; the
//! apply engine refuses it when the world has changed since.
//!
//! ```
//! use convox_model::desired::desired_rack;
//! use convox_model::name::Name;
//! use convox_model::params::RackParams;
//! use convox_model::plan::{plan, Limits};
//! use convox_model::rack::Rack;
//! use convox_model::resource::Scope;
//!
//! let rack = Rack::offline(Name::new("production")?, RackParams::new(true, false)?, None);
//! let p = plan(&Scope::Rack, &desired_rack(&rack, "ca"), &[], &Limits::default())?;
//! assert!(p.to_string().ends_with("Plan: 11 to create, 0 to update, 0 to replace, 0 to delete.\n"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::desired::{DesiredError, DesiredState};
use crate::exposure::Hostname;
use crate::resource::{Kind, Observed, Resource, ResourceKey, Scope, Spec, TAG_APP, TAG_SERVICE};

/// Provider quotas the planner checks, with AWS's defaults.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    /// Listener rules per load balancer, besides the default rules (AWS: 100).
    pub rules_per_load_balancer: usize,
    /// Target groups per load balancer (AWS: 100).
    pub target_groups_per_load_balancer: usize,
    /// Certificates per listener, besides the default certificate (AWS: 25).
    pub certificates_per_listener: usize,
    /// Condition values per rule (AWS: 5).
    pub condition_values_per_rule: usize,
    /// Highest listener rule priority (AWS: 50,000).
    pub max_rule_priority: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            rules_per_load_balancer: 100,
            target_groups_per_load_balancer: 100,
            certificates_per_listener: 25,
            condition_values_per_rule: 5,
            max_rule_priority: 50_000,
        }
    }
}

/// What an action does to a resource.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Op {
    /// Create a resource that does not exist.
    Create,
    /// Change a resource in place.
    Update,
    /// Delete a resource and create it anew (an immutable field changed).
    Replace,
    /// Delete a resource that should no longer exist.
    Delete,
}

impl Op {
    /// The marker used when rendering: `+`, `~`, `-/+`, `-`.
    pub fn marker(&self) -> &'static str {
        match self {
            Op::Create => "+",
            Op::Update => "~",
            Op::Replace => "-/+",
            Op::Delete => "-",
        }
    }

    /// `create`, `update`, `replace`, `delete`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Op::Create => "create",
            Op::Update => "update",
            Op::Replace => "replace",
            Op::Delete => "delete",
        }
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How an action affects traffic.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Disruption {
    /// No effect on traffic.
    None,
    /// Requests stop being routed here; those in flight are drained.
    Drain,
    /// A DNS answer changes.
    DnsChange,
    /// A new address or hostname appears; clients resolve it afresh.
    NewEndpoint,
}

impl Disruption {
    /// A short note for people, or `None` for no disruption.
    pub fn note(&self) -> Option<&'static str> {
        match self {
            Disruption::None => None,
            Disruption::Drain => {
                Some("drain: requests stop being routed here; those in flight finish")
            }
            Disruption::DnsChange => Some("DNS change: the name's answer changes"),
            Disruption::NewEndpoint => {
                Some("new endpoint: a new address or hostname starts answering")
            }
        }
    }
}

/// One field that differs, from its observed value to its desired one.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldChange {
    /// The field, such as `health` or `scheme`.
    pub field: String,
    /// The observed value, as JSON (strings bare).
    pub from: String,
    /// The desired value, as JSON (strings bare).
    pub to: String,
    /// Whether this field cannot change in place and forces a replacement.
    pub forces_replacement: bool,
}

/// One step of a plan.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Action {
    /// What it does.
    pub op: Op,
    /// The resource's key.
    pub key: ResourceKey,
    /// The resource's kind.
    pub kind: Kind,
    /// The fields that change (update and replace).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub changes: Vec<FieldChange>,
    /// How it affects traffic.
    pub disruption: Disruption,
    /// Why, when the reason is not a field of the resource itself (such as a
    /// replacement forced by the resource it depends on).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The resource as it should be (create, update, replace), listener rule
    /// priorities allocated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub desired: Option<Resource>,
    /// The resource as it is (update, replace, delete), with its provider id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current: Option<Observed>,
}

impl Action {
    /// Whether a replacement creates the new resource before deleting the old one.
    ///
    /// Certificates do: a listener must never be left without its certificate, and
    /// a new certificate gets a new ARN. Everything else is deleted first, because
    /// its AWS name, port or priority is unique and the new one needs it.
    pub fn creates_before_deleting(&self) -> bool {
        self.op == Op::Replace && self.kind == Kind::Certificate
    }

    fn tags(&self) -> Option<&crate::resource::Tags> {
        self.desired
            .as_ref()
            .map(|r| &r.tags)
            .or(self.current.as_ref().map(|o| &o.resource.tags))
    }

    /// The app the resource belongs to, if any.
    pub fn app(&self) -> Option<&str> {
        self.tags()
            .and_then(|t| t.get(TAG_APP))
            .map(String::as_str)
            .or(self.key.app())
    }

    /// The service the resource serves, if any.
    pub fn service(&self) -> Option<&str> {
        self.tags()
            .and_then(|t| t.get(TAG_SERVICE))
            .map(String::as_str)
    }
}

/// A plan: the actions that make one scope of a rack what it should be.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    /// The scope it changes.
    pub scope: Scope,
    /// The actions, in key order (the apply engine orders them by dependency).
    pub actions: Vec<Action>,
    /// SHA-256 (hex) of the observation it was computed from; see [`fingerprint`].
    pub fingerprint: String,
}

/// How many actions of each kind a plan has.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    /// Creates.
    pub create: usize,
    /// Updates in place.
    pub update: usize,
    /// Replacements.
    pub replace: usize,
    /// Deletes.
    pub delete: usize,
}

impl Plan {
    /// Whether there is nothing to do.
    pub fn is_empty(&self) -> bool {
        self.actions.is_empty()
    }

    /// How many actions of each op.
    pub fn counts(&self) -> Counts {
        let mut c = Counts::default();
        for a in &self.actions {
            match a.op {
                Op::Create => c.create += 1,
                Op::Update => c.update += 1,
                Op::Replace => c.replace += 1,
                Op::Delete => c.delete += 1,
            }
        }
        c
    }

    /// The plan as pretty JSON, for machines.
    pub fn to_json(&self) -> String {
        // Serialising plain data with string map keys cannot fail.
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// The plan read back from [`Plan::to_json`].
    pub fn from_json(s: &str) -> Result<Plan, serde_json::Error> {
        serde_json::from_str(s)
    }
}

/// Why a plan cannot be made. Each says what to do about it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    /// The desired state could not be computed.
    #[error(transparent)]
    Desired(#[from] DesiredError),
    /// A desired resource lies outside the plan's scope.
    #[error("resource {key} is outside the plan's scope {scope:?}; plan each scope on its own")]
    OutOfScope {
        /// The resource.
        key: ResourceKey,
        /// The plan's scope.
        scope: Scope,
    },
    /// A resource refers to one that neither exists nor is planned.
    #[error("{key} needs {reference}, which does not exist and is not part of this plan; {hint}")]
    MissingDependency {
        /// The resource.
        key: ResourceKey,
        /// What it needs.
        reference: ResourceKey,
        /// What to do.
        hint: String,
    },
    /// Every priority on a listener is taken.
    #[error(
        "no free rule priority left on {listener} (1..={max}); delete unused apps or services first"
    )]
    PrioritiesExhausted {
        /// The listener.
        listener: ResourceKey,
        /// The highest priority.
        max: u32,
    },
    /// A provider quota would be exceeded.
    #[error("{what} would be {count}, over the limit of {limit}; {hint}")]
    Quota {
        /// What is counted, such as `listener rules on router/internal/alb`.
        what: String,
        /// How many there would be.
        count: usize,
        /// The limit.
        limit: usize,
        /// What to do.
        hint: String,
    },
    /// A hostname served on an HTTPS listener has no certificate that covers it.
    #[error(
        "hostname {host} is served on {listener} but no certificate attached to it covers the name; attach a certificate for {host} or *.{parent} to the listener"
    )]
    NotCovered {
        /// The hostname.
        host: String,
        /// The listener.
        listener: ResourceKey,
        /// The hostname without its first label.
        parent: String,
    },
    /// Two rules would serve the same hostname for different services. External
    /// hostnames are `{app}-{service}.{router host}`, so app `shop` with service
    /// `api-web` and app `shop-api` with service `web` meet at `shop-api-web`.
    #[error(
        "hostname {host} of {key} is already served by {other}; rename the app or the service so that their hostnames differ"
    )]
    HostnameTaken {
        /// The hostname.
        host: String,
        /// The rule in the plan's scope that wants it.
        key: ResourceKey,
        /// The rule that has it (or also wants it).
        other: ResourceKey,
    },
}

/// SHA-256 (hex) of an observation: the canonical JSON of the observed resources
/// sorted by key (then id), so that the order a backend lists them in is irrelevant.
pub fn fingerprint(observed: &[Observed]) -> String {
    let mut sorted: Vec<&Observed> = observed.iter().collect();
    sorted.sort_by(|a, b| (&a.resource.key, &a.id).cmp(&(&b.resource.key, &b.id)));
    // Streamed into the hash: no buffer the size of the rack's JSON. Plain data
    // with string map keys into an in-memory hasher: serialising cannot fail.
    let mut hasher = Sha256::new();
    let _ = serde_json::to_writer(&mut hasher, &sorted);
    hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Whether a field of a resource of `kind` can only change by replacement.
fn immutable(kind: Kind, field: &str) -> bool {
    match kind {
        Kind::SecurityGroup => field != "ingress",
        Kind::Listener => matches!(field, "load_balancer" | "port"),
        Kind::TargetGroup => field != "health",
        Kind::ListenerRule => field == "listener",
        Kind::Record => matches!(field, "zone" | "name"),
        Kind::LoadBalancer | Kind::Certificate | Kind::ListenerCertificate | Kind::HostedZone => {
            true
        }
    }
}

fn disruption(op: Op, kind: Kind, changes: &[FieldChange]) -> Disruption {
    match (op, kind) {
        (Op::Create, Kind::LoadBalancer | Kind::ListenerRule) => Disruption::NewEndpoint,
        (_, Kind::Record | Kind::HostedZone) => Disruption::DnsChange,
        (Op::Create, _) => Disruption::None,
        (Op::Update, Kind::ListenerRule) if changes.iter().any(|c| c.field == "target_group") => {
            Disruption::Drain
        }
        (Op::Update, _) => Disruption::None,
        (Op::Replace, Kind::LoadBalancer) => Disruption::NewEndpoint,
        (
            Op::Replace | Op::Delete,
            Kind::TargetGroup
            | Kind::ListenerRule
            | Kind::Listener
            | Kind::LoadBalancer
            | Kind::SecurityGroup,
        ) => Disruption::Drain,
        (Op::Replace | Op::Delete, Kind::Certificate | Kind::ListenerCertificate) => {
            Disruption::None
        }
    }
}

fn show(v: Option<&serde_json::Value>) -> String {
    match v {
        None | Some(serde_json::Value::Null) => "(none)".to_string(),
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(v) => v.to_string(),
    }
}

/// The fields that differ between two specs, in field-name order.
fn diff(kind: Kind, from: &Spec, to: &Spec) -> Vec<FieldChange> {
    let (Ok(serde_json::Value::Object(a)), Ok(serde_json::Value::Object(b))) =
        (serde_json::to_value(from), serde_json::to_value(to))
    else {
        return Vec::new();
    };
    let fields: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    fields
        .into_iter()
        .filter(|f| a.get(*f) != b.get(*f))
        .map(|f| FieldChange {
            field: f.clone(),
            from: show(a.get(f)),
            to: show(b.get(f)),
            // A change of kind under one key can only be a replacement.
            forces_replacement: f == "kind" || immutable(kind, f),
        })
        .collect()
}

struct Draft {
    op: Op,
    changes: Vec<FieldChange>,
    reason: Option<String>,
}

/// Plans `scope`: the actions that turn `observed` into `desired`.
///
/// `observed` should hold everything the rack owns (its own resources and every
/// app's): rule priorities are shared by all apps on a listener, and quotas count
/// every app. Only resources in `scope` are ever created, changed or deleted.
pub fn plan(
    scope: &Scope,
    desired: &DesiredState,
    observed: &[Observed],
    limits: &Limits,
) -> Result<Plan, PlanError> {
    for key in desired.resources.keys() {
        if !key.in_scope(scope) {
            return Err(PlanError::OutOfScope {
                key: key.clone(),
                scope: scope.clone(),
            });
        }
    }

    // One observed resource per key; any further ones with the same key (left by a
    // create that failed after AWS made it) are deleted so that nothing leaks.
    let mut sorted: Vec<&Observed> = observed.iter().collect();
    sorted.sort_by(|a, b| (&a.resource.key, &a.id).cmp(&(&b.resource.key, &b.id)));
    let mut current: BTreeMap<&ResourceKey, &Observed> = BTreeMap::new();
    let mut duplicates: Vec<&Observed> = Vec::new();
    for o in sorted {
        if current.contains_key(&o.resource.key) {
            duplicates.push(o);
        } else {
            current.insert(&o.resource.key, o);
        }
    }

    let desired_resources = allocate_priorities(desired, &current, limits)?;

    // What each key needs, before cascading replacements.
    let mut drafts: BTreeMap<ResourceKey, Draft> = BTreeMap::new();
    for (key, want) in &desired_resources {
        match current.get(key) {
            None => {
                drafts.insert(
                    key.clone(),
                    Draft {
                        op: Op::Create,
                        changes: Vec::new(),
                        reason: None,
                    },
                );
            }
            Some(have) => {
                let changes = diff(want.spec.kind(), &have.resource.spec, &want.spec);
                if changes.is_empty() {
                    continue;
                }
                let op = if changes.iter().any(|c| c.forces_replacement) {
                    Op::Replace
                } else {
                    Op::Update
                };
                drafts.insert(
                    key.clone(),
                    Draft {
                        op,
                        changes,
                        reason: None,
                    },
                );
            }
        }
    }

    cascade(&desired_resources, &current, &mut drafts);

    let mut actions = Vec::new();
    for (key, draft) in drafts {
        let want = desired_resources.get(&key).cloned();
        let kind = want.as_ref().map_or(Kind::HostedZone, |r| r.spec.kind());
        actions.push(Action {
            op: draft.op,
            kind,
            disruption: disruption(draft.op, kind, &draft.changes),
            changes: draft.changes,
            reason: draft.reason,
            current: (draft.op != Op::Create)
                .then(|| current.get(&key).map(|o| (*o).clone()))
                .flatten(),
            desired: want,
            key,
        });
    }
    let deletes = current
        .values()
        .copied()
        .filter(|o| {
            o.resource.key.in_scope(scope) && !desired_resources.contains_key(&o.resource.key)
        })
        .chain(
            duplicates
                .into_iter()
                .filter(|o| o.resource.key.in_scope(scope)),
        );
    for o in deletes {
        let kind = o.resource.spec.kind();
        actions.push(Action {
            op: Op::Delete,
            key: o.resource.key.clone(),
            kind,
            changes: Vec::new(),
            disruption: disruption(Op::Delete, kind, &[]),
            reason: None,
            desired: None,
            current: Some(o.clone()),
        });
    }
    actions.sort_by(|a, b| {
        (&a.key, a.op, a.current.as_ref().map(|o| &o.id)).cmp(&(
            &b.key,
            b.op,
            b.current.as_ref().map(|o| &o.id),
        ))
    });

    let after = final_state(scope, &desired_resources, &current);
    check_references(&desired_resources, &after)?;
    check_quotas(&after, &desired_resources, limits)?;
    check_coverage(scope, &after)?;
    check_hostnames_unique(scope, &after)?;

    Ok(Plan {
        scope: scope.clone(),
        actions,
        fingerprint: fingerprint(observed),
    })
}

/// Gives every desired listener rule a priority: an existing rule keeps its own;
/// new rules, in key order, take the lowest priorities free on their listener.
/// Taken means held by any observed rule on the listener, of any app, even one
/// about to be deleted, so a new rule can never collide whatever order the apply
/// engine runs in.
fn allocate_priorities(
    desired: &DesiredState,
    current: &BTreeMap<&ResourceKey, &Observed>,
    limits: &Limits,
) -> Result<BTreeMap<ResourceKey, Resource>, PlanError> {
    let mut taken: BTreeMap<ResourceKey, BTreeSet<u32>> = BTreeMap::new();
    for o in current.values() {
        if let Spec::ListenerRule(r) = &o.resource.spec
            && let Some(p) = r.priority
        {
            taken.entry(r.listener.clone()).or_default().insert(p);
        }
    }
    let mut out = desired.resources.clone();
    let mut next: BTreeMap<ResourceKey, u32> = BTreeMap::new();
    for (key, res) in out.iter_mut() {
        let Spec::ListenerRule(rule) = &mut res.spec else {
            continue;
        };
        let kept = current.get(key).and_then(|o| match &o.resource.spec {
            Spec::ListenerRule(have) if have.listener == rule.listener => have.priority,
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
        if p > limits.max_rule_priority {
            return Err(PlanError::PrioritiesExhausted {
                listener: rule.listener.clone(),
                max: limits.max_rule_priority,
            });
        }
        used.insert(p);
        *start = p + 1;
        rule.priority = Some(p);
    }
    Ok(out)
}

/// Replacing a resource (deleted first) replaces what depends on it, since AWS
/// deletes a load balancer's listeners with it and will not delete a target group
/// a rule forwards to. Records follow a replaced load balancer by an update (an
/// upsert of the alias); listeners follow a reissued certificate by an update.
fn cascade(
    desired: &BTreeMap<ResourceKey, Resource>,
    current: &BTreeMap<&ResourceKey, &Observed>,
    drafts: &mut BTreeMap<ResourceKey, Draft>,
) {
    loop {
        let mut changed = false;
        for (key, want) in desired {
            if !current.contains_key(key) {
                continue;
            }
            let mine = drafts.get(key).map(|d| d.op);
            if mine == Some(Op::Replace) {
                continue;
            }
            for reference in want.spec.references() {
                let Some(Draft {
                    op: Op::Replace, ..
                }) = drafts.get(reference)
                else {
                    continue;
                };
                let ref_kind = desired.get(reference).map(|r| r.spec.kind());
                let follow_by_update = matches!(
                    (want.spec.kind(), ref_kind),
                    (Kind::Record, Some(Kind::LoadBalancer))
                        | (Kind::Listener, Some(Kind::Certificate))
                );
                if follow_by_update {
                    let field = match want.spec.kind() {
                        Kind::Record => "load_balancer",
                        _ => "certificate",
                    };
                    let draft = drafts.entry(key.clone()).or_insert(Draft {
                        op: Op::Update,
                        changes: Vec::new(),
                        reason: None,
                    });
                    if !draft.changes.iter().any(|c| c.field == field) {
                        draft.changes.push(FieldChange {
                            field: field.to_string(),
                            from: format!("{reference} (old)"),
                            to: format!("{reference} (new)"),
                            forces_replacement: false,
                        });
                        draft.reason = Some(format!("{reference} is replaced"));
                        changed = true;
                    }
                } else if ref_kind != Some(Kind::Certificate)
                    || want.spec.kind() == Kind::ListenerCertificate
                {
                    let draft = drafts.entry(key.clone()).or_insert(Draft {
                        op: Op::Replace,
                        changes: Vec::new(),
                        reason: None,
                    });
                    draft.op = Op::Replace;
                    draft.reason = Some(format!("{reference} is replaced"));
                    changed = true;
                    break;
                }
            }
        }
        if !changed {
            break;
        }
    }
}

/// Every resource as it will be after the plan: desired ones in scope, observed
/// ones elsewhere.
fn final_state<'a>(
    scope: &Scope,
    desired: &'a BTreeMap<ResourceKey, Resource>,
    current: &BTreeMap<&ResourceKey, &'a Observed>,
) -> BTreeMap<&'a ResourceKey, &'a Resource> {
    let mut after: BTreeMap<&ResourceKey, &Resource> = current
        .values()
        .filter(|o| !o.resource.key.in_scope(scope))
        .map(|o| (&o.resource.key, &o.resource))
        .collect();
    after.extend(desired.iter());
    after
}

fn check_references(
    desired: &BTreeMap<ResourceKey, Resource>,
    after: &BTreeMap<&ResourceKey, &Resource>,
) -> Result<(), PlanError> {
    for (key, res) in desired {
        for reference in res.spec.references() {
            if !after.contains_key(reference) {
                let hint = if reference.as_str().starts_with("router/internal") {
                    "the rack has no internal router: convox rack params set Internal=Yes"
                } else if reference.as_str().starts_with("router/external") {
                    "the rack has no external router: convox rack params set InternalOnly=No"
                } else if reference.app().is_none() {
                    "the rack's own resources are missing: reconcile the rack first (convox rack params set, or deploy)"
                } else {
                    "this is a bug in the desired state"
                };
                return Err(PlanError::MissingDependency {
                    key: key.clone(),
                    reference: reference.clone(),
                    hint: hint.to_string(),
                });
            }
        }
    }
    Ok(())
}

fn check_quotas(
    after: &BTreeMap<&ResourceKey, &Resource>,
    desired: &BTreeMap<ResourceKey, Resource>,
    limits: &Limits,
) -> Result<(), PlanError> {
    for (key, res) in desired {
        if let Spec::ListenerRule(rule) = &res.spec
            && rule.hosts.len() > limits.condition_values_per_rule
        {
            return Err(PlanError::Quota {
                what: format!("host names in rule {key}"),
                count: rule.hosts.len(),
                limit: limits.condition_values_per_rule,
                hint: "AWS allows 5 condition values per rule; split the hosts over more rules"
                    .to_string(),
            });
        }
    }

    let listener_lb: BTreeMap<&ResourceKey, &ResourceKey> = after
        .iter()
        .filter_map(|(k, r)| match &r.spec {
            Spec::Listener(l) => Some((*k, &l.load_balancer)),
            _ => None,
        })
        .collect();
    let mut rules: BTreeMap<&ResourceKey, usize> = BTreeMap::new();
    let mut groups: BTreeMap<&ResourceKey, BTreeSet<&ResourceKey>> = BTreeMap::new();
    let mut certs: BTreeMap<&ResourceKey, usize> = BTreeMap::new();
    for r in after.values() {
        match &r.spec {
            Spec::ListenerRule(rule) => {
                if let Some(lb) = listener_lb.get(&rule.listener) {
                    *rules.entry(lb).or_default() += 1;
                    groups.entry(lb).or_default().insert(&rule.target_group);
                }
            }
            Spec::ListenerCertificate(lc) => *certs.entry(&lc.listener).or_default() += 1,
            _ => {}
        }
    }
    for (lb, count) in rules {
        if count > limits.rules_per_load_balancer {
            return Err(PlanError::Quota {
                what: format!("the number of listener rules on {lb}"),
                count,
                limit: limits.rules_per_load_balancer,
                hint: "each routed service takes one rule per router; remove a port: from services that need no routing, or raise the 'Rules per Application Load Balancer' quota with AWS and Limits::rules_per_load_balancer".to_string(),
            });
        }
    }
    for (lb, tgs) in groups {
        if tgs.len() > limits.target_groups_per_load_balancer {
            return Err(PlanError::Quota {
                what: format!("the number of target groups on {lb}"),
                count: tgs.len(),
                limit: limits.target_groups_per_load_balancer,
                hint: "each routed service takes one target group per router; remove a port: from services that need no routing, or raise the 'Target Groups per Application Load Balancer' quota with AWS and Limits::target_groups_per_load_balancer".to_string(),
            });
        }
    }
    for (listener, count) in certs {
        if count > limits.certificates_per_listener {
            return Err(PlanError::Quota {
                what: format!("the number of certificates on {listener}"),
                count,
                limit: limits.certificates_per_listener,
                hint: "each app with internal services attaches one certificate; raise the 'Certificates per Application Load Balancer' quota with AWS and Limits::certificates_per_listener, or move apps to another rack".to_string(),
            });
        }
    }
    Ok(())
}

/// Every hostname a rule in scope serves on an HTTPS listener must be covered by
/// the listener's default certificate or one attached to it. A rack plan checks
/// every app's rules, since it changes what they all rely on.
fn check_coverage(
    scope: &Scope,
    after: &BTreeMap<&ResourceKey, &Resource>,
) -> Result<(), PlanError> {
    let domain = |cert: &ResourceKey| -> Option<&str> {
        match &after.get(cert)?.spec {
            Spec::Certificate(c) => Some(c.domain.as_str()),
            _ => None,
        }
    };
    let mut covering: BTreeMap<&ResourceKey, Vec<&str>> = BTreeMap::new();
    for (key, r) in after {
        match &r.spec {
            Spec::Listener(l) if l.protocol == crate::resource::Protocol::Https => {
                let entry = covering.entry(*key).or_default();
                entry.extend(l.certificate.as_ref().and_then(domain));
            }
            Spec::ListenerCertificate(lc) => {
                covering
                    .entry(&lc.listener)
                    .or_default()
                    .extend(domain(&lc.certificate));
            }
            _ => {}
        }
    }
    for (key, r) in after {
        let Spec::ListenerRule(rule) = &r.spec else {
            continue;
        };
        if !(key.in_scope(scope) || *scope == Scope::Rack) {
            continue;
        }
        // A rule on a plain-HTTP listener needs no certificate.
        let Some(domains) = covering.get(&rule.listener) else {
            continue;
        };
        let is_https = matches!(
            after.get(&rule.listener).map(|l| &l.spec),
            Some(Spec::Listener(l)) if l.protocol == crate::resource::Protocol::Https
        );
        if !is_https {
            continue;
        }
        for host in &rule.hosts {
            let h = Hostname::from_raw(host.clone());
            if !domains.iter().any(|d| h.is_covered_by(d)) {
                return Err(PlanError::NotCovered {
                    host: host.clone(),
                    listener: rule.listener.clone(),
                    parent: host
                        .split_once('.')
                        .map_or(host.as_str(), |(_, p)| p)
                        .to_string(),
                });
            }
        }
    }
    Ok(())
}

/// No hostname is served by two rules: a host-header rule answers for exactly one
/// (app, service, router), or the rule with the lower priority would silently take
/// the other service's traffic. Only conflicts involving a rule in scope are
/// reported, so that an app is never blocked by a conflict between two others.
fn check_hostnames_unique(
    scope: &Scope,
    after: &BTreeMap<&ResourceKey, &Resource>,
) -> Result<(), PlanError> {
    let mut by_host: BTreeMap<&str, &ResourceKey> = BTreeMap::new();
    // In scope first, so that the error names the rule being planned.
    let rules = after
        .iter()
        .filter(|(k, _)| k.in_scope(scope))
        .chain(after.iter().filter(|(k, _)| !k.in_scope(scope)));
    for (key, r) in rules {
        let Spec::ListenerRule(rule) = &r.spec else {
            continue;
        };
        for host in &rule.hosts {
            match by_host.get(host.as_str()) {
                Some(first) if first.in_scope(scope) || key.in_scope(scope) => {
                    return Err(PlanError::HostnameTaken {
                        host: host.clone(),
                        key: (*first).clone(),
                        other: (*key).clone(),
                    });
                }
                Some(_) => {}
                None => {
                    by_host.insert(host, key);
                }
            }
        }
    }
    Ok(())
}

/// One line describing what a resource is, for the rendering of a create.
fn describe(spec: &Spec) -> String {
    match spec {
        Spec::SecurityGroup(sg) => {
            let rules: Vec<String> = sg
                .ingress
                .iter()
                .map(|r| format!("{}/{} from {}", r.protocol, r.port, r.cidr))
                .collect();
            format!("{} ({})", sg.name, rules.join(", "))
        }
        Spec::LoadBalancer(lb) => format!("{} ({})", lb.name, lb.scheme.as_str()),
        Spec::Listener(l) => {
            let action = match &l.default_action {
                crate::resource::DefaultAction::Redirect { port, status_code } => {
                    format!("redirect to HTTPS:{port} ({status_code})")
                }
                crate::resource::DefaultAction::FixedResponse {
                    status_code, body, ..
                } => format!("fixed {status_code} {body:?}"),
            };
            let cert = l
                .certificate
                .as_ref()
                .map(|c| format!(", certificate {c}"))
                .unwrap_or_default();
            format!("{} {}: {action}{cert}", l.protocol.as_str(), l.port)
        }
        Spec::Certificate(c) => c.domain.clone(),
        Spec::ListenerCertificate(lc) => format!("{} on {}", lc.certificate, lc.listener),
        Spec::TargetGroup(tg) => format!(
            "{} ({}:{}, health {} every {}s)",
            tg.name,
            tg.protocol.as_str(),
            tg.port,
            tg.health.path,
            tg.health.interval
        ),
        Spec::ListenerRule(r) => format!(
            "host {} -> {} (priority {})",
            r.hosts.join(", "),
            r.target_group,
            r.priority.map_or("?".to_string(), |p| p.to_string())
        ),
        Spec::HostedZone(z) => format!("{} (private, {})", z.name, z.vpc_id),
        Spec::Record(r) => format!("{} ALIAS {}", r.name, r.load_balancer),
    }
}

impl fmt::Display for Plan {
    /// Renders like a careful `terraform plan`: grouped by app and service, each
    /// action with its marker, what changes, and how it disrupts traffic.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.actions.is_empty() {
            return writeln!(f, "No changes.");
        }
        let mut groups: BTreeMap<(Option<&str>, Option<&str>), Vec<&Action>> = BTreeMap::new();
        for a in &self.actions {
            groups.entry((a.app(), a.service())).or_default().push(a);
        }
        for ((app, service), actions) in groups {
            match (app, service) {
                (None, _) => writeln!(f, "rack")?,
                (Some(app), None) => writeln!(f, "app {app}")?,
                (Some(app), Some(service)) => writeln!(f, "app {app}, service {service}")?,
            }
            for a in actions {
                writeln!(f, "  {} {} {}", a.op.marker(), a.kind, a.key)?;
                match a.op {
                    Op::Create => {
                        if let Some(r) = &a.desired {
                            writeln!(f, "      {}", describe(&r.spec))?;
                        }
                    }
                    Op::Delete => {
                        if let Some(o) = &a.current {
                            writeln!(f, "      {} ({})", describe(&o.resource.spec), o.id)?;
                        }
                    }
                    Op::Update | Op::Replace => {
                        for c in &a.changes {
                            let forces = if c.forces_replacement {
                                "  # forces replacement"
                            } else {
                                ""
                            };
                            writeln!(f, "      {}: {} -> {}{forces}", c.field, c.from, c.to)?;
                        }
                    }
                }
                if let Some(reason) = &a.reason {
                    writeln!(f, "      because {reason}")?;
                }
                if let Some(note) = a.disruption.note() {
                    writeln!(f, "      ({note})")?;
                }
            }
        }
        let c = self.counts();
        writeln!(
            f,
            "\nPlan: {} to create, {} to update, {} to replace, {} to delete.",
            c.create, c.update, c.replace, c.delete
        )
    }
}
