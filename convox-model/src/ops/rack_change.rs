//! Day-2 safety for the rack's own changes: `convox rack plan` (the rack's plan,
//! drift included), and `rack params set` that shows it, changes the routers'
//! network in place, and replaces a router only when told to, moving every
//! app's routing to the new one.

use std::collections::BTreeMap;

use crate::apply::{ApplyContext, ApplyError, Report, apply};
use crate::backend::Backend;
use crate::desired::DesiredState;
use crate::name::Name;
use crate::observe::observe_all;
use crate::plan::{Op, Plan, fingerprint, plan};
use crate::public_cert;
use crate::rack::Rack;
use crate::renew::Renewal;
use crate::resource::{Observed, ResourceKey, ResourceKind, Scope, normal_subnets};

use super::{
    OpsError, REPLANS, RackChange, ca_fingerprint, check_transition, pause_before_replanning,
};

/// How [`set_rack_params_with`] may change the rack.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RackApplyOptions {
    /// The routers' subnets from now on (a new availability zone, say); `None`
    /// keeps the stored ones. They change in place (SetSubnets).
    pub subnets: Option<Vec<String>>,
    /// Apply only if the rack is still in the state this plan fingerprint (from
    /// [`plan_rack`]) was computed from, so that what is applied is what was
    /// shown; otherwise [`ApplyError::Stale`], with nothing changed.
    pub planned: Option<String>,
    /// Replace routers when the plan must (`--yes`): every app's rules,
    /// certificate attachments and alias records are then moved to the new
    /// router in the same call. Without it such a plan is refused
    /// ([`OpsError::ReplacesRouters`]) before any change.
    pub replace_routers: bool,
    /// The external router's certificate (`--external-certificate`):
    /// `Some(Some(arn))` the user's ACM certificate for `*.{router host}`,
    /// `Some(None)` back to one the rack requests, `None` what is stored. A
    /// supplied certificate must exist, cover the router host and be issued or
    /// pending, or the call is refused before any change (see
    /// [`crate::public_cert`]).
    pub external_certificate: Option<Option<String>>,
}

/// The rack with `assignments` and `opts.subnets` applied to its stored settings
/// (or to `settings` for a rack never saved), once the certificate authority
/// whose fingerprint is `ca_fingerprint` is known to be the rack's (a rack that
/// has none recorded yet records it, as of `now`).
async fn next_rack(
    backend: &dyn Backend,
    settings: &Rack,
    assignments: &[&str],
    subnets: Option<&[String]>,
    ca_fingerprint: &str,
    now: i64,
) -> Result<Rack, OpsError> {
    let stored = backend.load_rack(&settings.name).await?;
    let params = stored
        .as_ref()
        .unwrap_or(settings)
        .params
        .with_assignments(assignments.iter().copied())?;
    crate::ca::check(stored.as_ref(), ca_fingerprint)?;
    let base = stored.unwrap_or_else(|| settings.clone());
    let base = crate::ca::record(base, settings.ca.as_ref(), ca_fingerprint, now);
    let subnets = subnets.map_or_else(|| base.subnets.clone(), normal_subnets);
    Ok(Rack {
        params,
        subnets,
        ..base
    })
}

/// The rack's own plan (`convox rack plan`): what [`set_rack_params_with`] with
/// these assignments and subnets would apply, drift included (a security group
/// opened by hand, an extra group on a router, subnets changed). Changes
/// nothing; its fingerprint is that of what exists now.
pub async fn plan_rack(
    backend: &dyn Backend,
    settings: &Rack,
    assignments: &[&str],
    subnets: Option<&[String]>,
    ca_fingerprint: &str,
) -> Result<Plan, OpsError> {
    plan_rack_at(
        backend,
        settings,
        assignments,
        subnets,
        ca_fingerprint,
        None,
    )
    .await
}

/// [`plan_rack`], with the renewals `rack params set` at `renewal`'s time
/// makes: every rack certificate that is due.
pub async fn plan_rack_at(
    backend: &dyn Backend,
    settings: &Rack,
    assignments: &[&str],
    subnets: Option<&[String]>,
    ca_fingerprint: &str,
    renewal: Option<Renewal>,
) -> Result<Plan, OpsError> {
    let now = renewal.map_or(0, |r| r.now);
    let rack = next_rack(backend, settings, assignments, subnets, ca_fingerprint, now).await?;
    let observed = observe_all(backend, &rack.name).await?;
    check_transition(&rack.params, &observed)?;
    let external = public_cert::external_certificate(backend, &rack).await?;
    let mut desired = public_cert::desired_rack_for(
        &rack,
        ca_fingerprint,
        &external,
        &observed,
        &crate::pool::shards_kept(&observed),
    );
    if let Some(renewal) = renewal {
        desired = desired.renewing(renewal);
    }
    Ok(plan(&Scope::Rack, &desired, &observed, &backend.quotas())?)
}

/// The routers a plan replaces.
pub fn replaced_routers(p: &Plan) -> Vec<ResourceKey> {
    p.actions
        .iter()
        .filter(|a| a.op == Op::Replace && a.kind == ResourceKind::LoadBalancer)
        .map(|a| a.key.clone())
        .collect()
}

/// [`super::set_rack_params`] with options: new subnets, the plan that was
/// shown, and whether routers may be replaced.
pub async fn set_rack_params_with(
    backend: &dyn Backend,
    settings: &Rack,
    assignments: &[&str],
    ctx: &ApplyContext,
    opts: &RackApplyOptions,
) -> Result<RackChange, OpsError> {
    let fp = ca_fingerprint(ctx)?;
    let mut rack = next_rack(
        backend,
        settings,
        assignments,
        opts.subnets.as_deref(),
        &fp,
        ctx.now,
    )
    .await?;
    if let Some(arn) = &opts.external_certificate {
        rack.external_certificate = arn.clone();
    }

    let observed = observe_all(backend, &rack.name).await?;
    if let Some(planned) = &opts.planned {
        let now = fingerprint(&observed);
        if now != *planned {
            return Err(ApplyError::Stale {
                planned: planned.clone(),
                observed: now,
            }
            .into());
        }
    }
    check_transition(&rack.params, &observed)?;

    // Refuses a supplied certificate that does not fit before any change.
    let external = public_cert::ensure_external_certificate(backend, &rack).await?;
    let desired_for = |observed: &[Observed]| {
        public_cert::desired_rack_for(
            &rack,
            &fp,
            &external,
            observed,
            &crate::pool::shards_kept(observed),
        )
        .renewing(ctx.renewal())
    };
    let mut p = plan(
        &Scope::Rack,
        &desired_for(&observed),
        &observed,
        &backend.quotas(),
    )?;
    let routers = replaced_routers(&p);
    if !routers.is_empty() && !opts.replace_routers {
        return Err(OpsError::ReplacesRouters { routers });
    }
    let mut now = observed.clone();
    let mut replans = 0;
    let report = loop {
        if p.is_empty() {
            break Report {
                ids: super::observed_ids(&now),
                ..Report::default()
            };
        }
        match apply(backend, &p, ctx).await {
            Ok(report) => break report,
            // A deploy changed the rack meanwhile: plan again from what is now.
            Err(e) if e.is_contention() && replans < REPLANS => {
                replans += 1;
                tracing::info!(rack = %rack.name, replans, error = %e, "the rack changed meanwhile; observing and planning again");
                pause_before_replanning(ctx, &rack.name, replans).await;
                now = observe_all(backend, &rack.name).await?;
                check_transition(&rack.params, &now)?;
                p = plan(&Scope::Rack, &desired_for(&now), &now, &backend.quotas())?;
                let routers = replaced_routers(&p);
                if !routers.is_empty() && !opts.replace_routers {
                    return Err(OpsError::ReplacesRouters { routers });
                }
            }
            Err(e) => return Err(e.into()),
        }
    };
    if !routers.is_empty() {
        move_apps(backend, &rack.name, &observed, ctx).await?;
    }
    let zone = report
        .ids
        .get(&ResourceKey::zone())
        .ok_or(OpsError::NoZone)?;
    crate::apply::retrying(backend, ctx, || backend.save_rack(zone, &rack)).await?;
    tracing::info!(rack = %rack.name, params = ?rack.params, "rack parameters set");
    Ok(RackChange {
        rack,
        plan: p,
        report,
        external_certificate: external,
    })
}

/// After routers were replaced: every app's resources as they were `before`
/// (rules with their priorities, certificate attachments, alias records) are
/// its desired state, planned and applied again, so that rules and attachments
/// that went with the old router are made on the new one and records that
/// alias the deleted load balancer alias the new one.
async fn move_apps(
    backend: &dyn Backend,
    rack: &Name,
    before: &[Observed],
    ctx: &ApplyContext,
) -> Result<(), OpsError> {
    let mut sorted: Vec<&Observed> = before.iter().collect();
    sorted.sort_by(|a, b| (&a.resource.key, &a.id).cmp(&(&b.resource.key, &b.id)));
    let mut apps: BTreeMap<Name, DesiredState> = BTreeMap::new();
    for o in sorted {
        let Some(app) = o.resource.key.app().and_then(|a| Name::new(a).ok()) else {
            continue;
        };
        let d = apps
            .entry(app.clone())
            .or_insert_with(|| DesiredState::empty(Scope::App(app)));
        // The first of duplicates (by id) is the one the planner kept.
        d.resources
            .entry(o.resource.key.clone())
            .or_insert_with(|| o.resource.clone());
    }
    for (app, desired) in apps {
        let observed = observe_all(backend, rack).await?;
        let p = plan(
            &Scope::App(app.clone()),
            &desired,
            &observed,
            &backend.quotas(),
        )?;
        if !p.is_empty() {
            tracing::info!(%app, actions = p.actions.len(), "moving the app's routing to the new router");
            apply(backend, &p, ctx).await?;
        }
    }
    Ok(())
}
