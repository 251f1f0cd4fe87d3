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
//! use convox_model::aws::Quotas;
//! use convox_model::plan::plan;
//! use convox_model::rack::Rack;
//! use convox_model::resource::Scope;
//!
//! let rack = Rack::new(Name::new("production")?, RackParams::new(true, false)?, None);
//! let p = plan(&Scope::Rack, &desired_rack(&rack, "ca"), &[], &Quotas::default())?;
//! // The external router waits for its public certificate: no 443 listener yet.
//! assert!(p.to_string().ends_with("Plan: 9 to create, 0 to update, 0 to replace, 0 to delete.\n"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::resource::{Observed, Resource, ResourceKey, ResourceKind, Scope, TAG_APP, TAG_SERVICE};

mod checks;
mod claims;
mod diff;
mod error;
mod planner;
mod priorities;
mod render;
// Certificate renewals (issue 12).
mod renewals;

pub use claims::{DuplicateClaim, duplicate_claims};
pub(crate) use claims::{attached_certificates, group as claims_by_key, impostor};
pub use error::PlanError;
pub(crate) use planner::kept_first;
pub use planner::{fingerprint, plan};

/// Deprecated name of [`crate::aws::Quotas`], the one table of AWS's quotas.
#[deprecated(note = "use convox_model::aws::Quotas")]
pub type Limits = crate::aws::Quotas;

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
    pub kind: ResourceKind,
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
    /// Deleting `o`, as observed, for `reason` when it is not a field of
    /// its own.
    pub(crate) fn deleting(o: &Observed, reason: Option<String>) -> Action {
        let kind = o.resource.spec.kind();
        Action {
            op: Op::Delete,
            key: o.resource.key.clone(),
            kind,
            changes: Vec::new(),
            disruption: diff::disruption(Op::Delete, kind, &[]),
            reason,
            desired: None,
            current: Some(o.clone()),
        }
    }

    /// Whether a replacement creates the new resource before deleting the old one.
    ///
    /// Certificates do: a listener must never be left without its certificate, and
    /// a new certificate gets a new ARN. So do their attachments to a listener:
    /// the new certificate is attached before the old one is detached, so that no
    /// name goes uncovered between the two (make before break). Everything else
    /// is deleted first, because its AWS name, port or priority is unique and the
    /// new one needs it.
    pub fn creates_before_deleting(&self) -> bool {
        self.op == Op::Replace
            && matches!(
                self.kind,
                ResourceKind::Certificate | ResourceKind::ListenerCertificate
            )
    }

    /// Whether this action's delete runs after everything else: a certificate's, so that
    /// the listeners using it have moved to the one that stays (a copy left by
    /// an interrupted replacement, or a replaced certificate) first.
    pub fn deletes_last(&self) -> bool {
        self.kind == ResourceKind::Certificate
    }

    /// Whether this is a certificate's renewal: re-issued and re-imported in
    /// place (same ARN, same attachments), because it is due.
    pub fn is_renewal(&self) -> bool {
        self.op == Op::Update
            && self.kind == ResourceKind::Certificate
            && self
                .changes
                .iter()
                .any(|c| c.field == renewals::RENEW_FIELD)
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
    /// Keys claimed by more than one observed resource: the claim kept as the
    /// key's resource (what the apply engine resolves the key to) and the others,
    /// left untouched.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub duplicate_claims: Vec<DuplicateClaim>,
    /// The scope of the observation it was computed from: what
    /// [`crate::apply::apply`] observes again to check the fingerprint.
    /// [`Scope::All`] from [`plan`]; a deploy's plans say [`Scope::Deploy`].
    #[serde(default = "observed_everything", skip_serializing_if = "is_everything")]
    pub observed_in: Scope,
}

fn observed_everything() -> Scope {
    Scope::All
}

fn is_everything(scope: &Scope) -> bool {
    *scope == Scope::All
}

impl Plan {
    /// The same plan, computed from an observation of `scope`
    /// ([`Plan::observed_in`]).
    pub fn observed_in(self, scope: Scope) -> Plan {
        Plan {
            observed_in: scope,
            ..self
        }
    }

    /// The same plan with only the actions `keep` keeps (a part of a plan
    /// applied on its own, such as a rack's deletes or its certificates').
    pub fn retaining(mut self, keep: impl FnMut(&Action) -> bool) -> Plan {
        self.actions.retain(keep);
        self
    }
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
