//! Observing a rack: what exists and is owned by it, as the planner and the
//! apply engine both need it.

use crate::backend::{Backend, BackendResult};
use crate::name::Name;
use crate::resource::{Observed, Scope};

/// Everything the rack owns: its own resources and every app's. The planner needs
/// all of them (rule priorities and quotas span apps), and the fingerprint covers
/// all of them.
pub async fn observe_all(backend: &dyn Backend, rack: &Name) -> BackendResult<Vec<Observed>> {
    let mut all = backend.observe(rack, &Scope::Rack).await?;
    all.extend(backend.observe(rack, &Scope::Apps).await?);
    Ok(all)
}
