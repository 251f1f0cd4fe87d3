//! Observing a rack: what exists and is owned by it, as the planner and the
//! apply engine both need it.

use crate::backend::{Backend, BackendResult};
use crate::name::Name;
use crate::resource::{Observed, Scope};

/// Everything the rack owns: its own resources and every app's, with the foreign
/// rules on its listeners, in one observation ([`Scope::All`]). The planner
/// needs all of them (rule priorities and quotas span apps), and the
/// fingerprint covers all of them.
pub async fn observe_all(backend: &dyn Backend, rack: &Name) -> BackendResult<Vec<Observed>> {
    backend.observe(rack, &Scope::All).await
}
