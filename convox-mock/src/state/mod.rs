//! The mock's world: every resource as AWS would hold it (ids, not keys), and the
//! rules AWS enforces on changing it, one file per service:
//!
//! | file | holds |
//! | --- | --- |
//! | [`ec2`] | security groups |
//! | [`load_balancers`] | ELBv2 load balancers, listeners, SNI certificates |
//! | [`target_groups`] | ELBv2 target groups |
//! | [`rules`] | ELBv2 listener rules |
//! | [`acm`] | ACM certificates |
//! | [`route53`] | hosted zones, records, the rack's saved settings |
//! | [`observe`] | what a rack owns, read back with references resolved |
//!
//! Every verb is a synchronous method on [`State`] with one shape,
//! `fn verb(&mut self, op, args…) -> BackendResult<_>`, that either changes the
//! state completely or not at all, so the async layer in [`crate::mock`] only
//! counts, sleeps and locks.

mod acm;
mod ec2;
mod load_balancers;
mod observe;
// Public certificates for the external router (issue 12, item 6).
mod public_certs;
mod route53;
mod rules;
// Day-2 safety: `rack audit`.
mod surroundings;
mod target_groups;

use std::collections::BTreeMap;

use convox_model::backend::{BackendError, BackendResult, ErrorKind};
use convox_model::resource::Tags;
use serde::{Deserialize, Serialize};

pub(crate) use acm::Certificate;
pub(crate) use ec2::SecurityGroup;
pub(crate) use load_balancers::{Listener, LoadBalancer};
pub use public_certs::AcmValidation;
pub(crate) use public_certs::PublicCert;
pub(crate) use route53::Zone;
pub(crate) use rules::Rule;
pub(crate) use target_groups::TargetGroup;

/// AWS's limits that the mock enforces: the model's one table of AWS's quotas,
/// with AWS's defaults; lower them in tests to reach a limit quickly.
pub use convox_model::aws::Quotas;

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
    /// ACM-requested and user-owned public certificates, by ARN.
    #[serde(default)]
    pub public_certificates: BTreeMap<String, PublicCert>,
    /// Whether requested certificates issue at once or wait for the test.
    #[serde(default)]
    pub acm_validation: AcmValidation,
}

/// AWS's error of `kind` for the call `op`.
fn err(kind: ErrorKind, op: &str, msg: impl Into<String>) -> BackendError {
    BackendError::new(kind, op, msg)
}

/// The request breaks one of AWS's rules (`ValidationError`).
pub(super) fn invalid(op: &str, msg: impl Into<String>) -> BackendError {
    err(ErrorKind::InvalidInput, op, msg)
}

/// The request conflicts with what exists: a taken priority, a resource in use.
pub(super) fn conflict(op: &str, msg: impl Into<String>) -> BackendError {
    err(ErrorKind::Conflict, op, msg)
}

/// The name is taken (`Duplicate…`).
pub(super) fn already_exists(op: &str, msg: impl Into<String>) -> BackendError {
    err(ErrorKind::AlreadyExists, op, msg)
}

/// A quota is reached (`TooMany…`).
pub(super) fn quota_exceeded(op: &str, msg: impl Into<String>) -> BackendError {
    err(ErrorKind::QuotaExceeded, op, msg)
}

pub(super) fn not_found(op: &str, what: &str, id: &str) -> BackendError {
    err(ErrorKind::NotFound, op, format!("{what} {id:?} not found"))
}

/// The `what` with id `id` in `items`, or AWS's not-found error.
pub(super) fn find<'a, T>(
    items: &'a BTreeMap<String, T>,
    op: &str,
    what: &str,
    id: &str,
) -> BackendResult<&'a T> {
    items.get(id).ok_or_else(|| not_found(op, what, id))
}

/// [`find`], to change it.
pub(super) fn find_mut<'a, T>(
    items: &'a mut BTreeMap<String, T>,
    op: &str,
    what: &str,
    id: &str,
) -> BackendResult<&'a mut T> {
    items.get_mut(id).ok_or_else(|| not_found(op, what, id))
}

/// AWS's words for `given` `what`s where `holder` holds at most `limit`, if
/// that is too many.
pub(super) fn over_limit(given: usize, what: &str, holder: &str, limit: usize) -> Option<String> {
    (given > limit).then(|| format!("{given} {what} given; {holder} holds at most {limit}"))
}

/// Whether an item of `items` other than `except` (the one being changed) is
/// `same`: a port or a priority already taken.
pub(super) fn held_by_another<T>(
    items: &BTreeMap<String, T>,
    except: Option<&str>,
    same: impl Fn(&T) -> bool,
) -> bool {
    items
        .iter()
        .any(|(id, t)| Some(id.as_str()) != except && same(t))
}

/// Deletes the `what` with id `id` from `items`: not found if it is not there,
/// a conflict (AWS's `ResourceInUse`, `DependencyViolation`) if `in_use` says
/// what still uses it.
pub(super) fn delete_unused<T>(
    items: &mut BTreeMap<String, T>,
    op: &str,
    what: &str,
    id: &str,
    in_use: Option<String>,
) -> BackendResult<()> {
    find(items, op, what, id)?;
    if let Some(why) = in_use {
        return Err(conflict(op, why));
    }
    items.remove(id);
    Ok(())
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
            public_certificates: BTreeMap::new(),
            acm_validation: AcmValidation::default(),
        }
    }

    pub(super) fn draw(&mut self) -> u64 {
        let n = self.next_id;
        self.next_id += 1;
        n
    }

    /// A new certificate's ARN, as ACM makes them.
    pub(super) fn certificate_arn(&mut self) -> String {
        let n = self.draw();
        format!(
            "arn:aws:acm:{}:{}:certificate/{}",
            self.region,
            self.account,
            crate::ids::uuid(n)
        )
    }

    pub(super) fn elb_arn(&self, rest: &str) -> String {
        format!(
            "arn:aws:elasticloadbalancing:{}:{}:{rest}",
            self.region, self.account
        )
    }

    /// AWS's limit on the tags of one resource: checked for every create that
    /// takes tags, by the backend's one dispatch ([`crate::MockBackend`]).
    pub(crate) fn check_tags(&self, op: &str, tags: &Tags) -> BackendResult<()> {
        match over_limit(
            tags.len(),
            "tags",
            "a resource",
            self.quotas.tags_per_resource,
        ) {
            Some(msg) => Err(invalid(op, msg)),
            None => Ok(()),
        }
    }
}
