//! Renewals: the certificates that exist, keep their issuer and domain, and are
//! due ([`crate::renew::Renewal`]) are renewed in place, whatever else the plan
//! does.

use std::collections::BTreeMap;

use super::diff::Draft;
use super::{FieldChange, Op};
use crate::renew::{Renewal, date};
use crate::resource::{Observed, Resource, ResourceKey, ResourceKind};

/// The field a renewal changes: the certificate's validity.
pub(super) const RENEW_FIELD: &str = "not_after";

/// Adds an in-place update for every certificate of `desired` that is due at
/// `renewal`'s time and that no other draft already replaces.
pub(super) fn add_renewals(
    renewal: &Renewal,
    desired: &BTreeMap<ResourceKey, Resource>,
    current: &BTreeMap<&ResourceKey, &Observed>,
    drafts: &mut BTreeMap<ResourceKey, Draft>,
) {
    for (key, want) in desired {
        if want.spec.kind() != ResourceKind::Certificate || drafts.contains_key(key) {
            continue;
        }
        let Some(not_after) = current.get(key).and_then(|o| o.not_after) else {
            continue;
        };
        if !renewal.is_due(not_after) {
            continue;
        }
        let when = date(not_after);
        let reason = if not_after <= renewal.now {
            format!("it expired on {when}")
        } else {
            format!(
                "it expires on {when}, within {} days",
                renewal.renew_before.div_euclid(crate::renew::DAY)
            )
        };
        drafts.insert(
            key.clone(),
            Draft {
                op: Op::Update,
                changes: vec![FieldChange {
                    field: RENEW_FIELD.to_string(),
                    from: when,
                    to: "(renewed at apply)".to_string(),
                    forces_replacement: false,
                }],
                reason: Some(reason),
            },
        );
    }
}
