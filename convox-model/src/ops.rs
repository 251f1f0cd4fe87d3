//! Rack and app operations: what `convox rack params set`, `convox deploy`,
//! `convox plan` and deleting an app do, over any [`Backend`].
//!
//! Each observes, plans (pure) and applies; checks that can refuse run before any
//! change is made.

use std::collections::BTreeSet;

use serde::Serialize;

use crate::apply::{ApplyContext, ApplyError, Report, apply};
use crate::aws::Quotas;
use crate::backend::{Backend, BackendError};
use crate::desired::{DesiredError, DesiredState, desired_app_with};
use crate::diag::Diagnostics;
use crate::exposure::{self, Endpoint, Router};
use crate::manifest::Manifest;
use crate::name::Name;
use crate::observe::observe_all;
use crate::params::{ParamError, RackParams};
use crate::plan::{Op, Plan, PlanError, fingerprint, plan};
use crate::public_cert::{self, ExternalCertificate, PublicCertError};
use crate::rack::Rack;
use crate::resource::{KeySubject, Observed, ResourceKey, Scope};

/// Why an operation was refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum OpsError {
    /// The parameter assignments are invalid.
    #[error(transparent)]
    Params(#[from] ParamError),
    /// The parameter change conflicts with what is deployed.
    #[error("cannot set {assignment}: {reason}: {}; {hint}", .offenders.join(", "))]
    Transition {
        /// The refused assignment, such as `Internal=No`.
        assignment: &'static str,
        /// Why.
        reason: &'static str,
        /// The `app/service` pairs in the way.
        offenders: Vec<String>,
        /// What to do.
        hint: &'static str,
    },
    /// The manifest breaks the rack's rules.
    #[error("convox.yml does not fit the rack:\n{0}")]
    Manifest(Diagnostics),
    /// No certificate authority in the context.
    #[error(
        "the rack's certificates need a certificate authority; give one with ApplyContext::with_issuer"
    )]
    NoIssuer,
    /// The desired state could not be computed.
    #[error(transparent)]
    Desired(#[from] DesiredError),
    /// Planning failed.
    #[error(transparent)]
    Plan(#[from] PlanError),
    /// Applying failed; see its report.
    #[error(transparent)]
    Apply(#[from] ApplyError),
    /// Reading or saving the rack failed; nothing was changed by this call.
    #[error("backend: {0}")]
    Backend(#[from] BackendError),
    /// The external router's certificate cannot be used (public certificates).
    #[error(transparent)]
    PublicCertificate(#[from] PublicCertError),
    /// The rack's hosted zone does not exist after reconciling, so its settings
    /// cannot be saved.
    #[error("the rack's hosted zone is missing after reconciling; run the command again")]
    NoZone,
}

/// What changing rack parameters did.
#[derive(Clone, Debug, Serialize)]
pub struct RackChange {
    /// The rack with its new parameters, as saved.
    pub rack: Rack,
    /// The plan applied to the rack's resources.
    pub plan: Plan,
    /// What applying it did.
    pub report: Report,
    /// Where the external router's certificate is (public certificates).
    pub external_certificate: ExternalCertificate,
}

/// What a deploy did.
#[derive(Clone, Debug, Serialize)]
pub struct DeployReport {
    /// The rack resources created first because the app needs them, if any.
    pub rack: Option<Report>,
    /// The app's plan.
    pub plan: Plan,
    /// What applying it did (empty when the plan was).
    pub report: Report,
    /// The app's endpoints.
    pub endpoints: Vec<Endpoint>,
    /// Where the external router's certificate is (public certificates).
    pub external_certificate: ExternalCertificate,
    /// The external endpoints not served yet: they wait for the external
    /// router's certificate ([`ExternalCertificate::is_waiting`]).
    pub waiting: Vec<Endpoint>,
}

fn ca_fingerprint(ctx: &ApplyContext) -> Result<String, OpsError> {
    ctx.issuer
        .as_ref()
        .map(|i| i.fingerprint())
        .ok_or(OpsError::NoIssuer)
}

/// `app/service` of every service routed on `router`: what its target groups'
/// and rules name.
fn routed_on(observed: &[Observed], router: Router) -> Vec<String> {
    let set: BTreeSet<String> = observed
        .iter()
        .filter_map(|o| match o.resource.key.subject() {
            KeySubject::TargetGroup(app, service, r)
            | KeySubject::ListenerRule(app, service, r)
                if *r == router =>
            {
                Some(format!("{app}/{service}"))
            }
            _ => None,
        })
        .collect();
    set.into_iter().collect()
}

/// Sets rack parameters (`Internal=Yes`, `InternalOnly=No`, ...) and reconciles
/// the rack's resources.
///
/// `settings` is the rack as the caller knows it (name, network), used when the
/// backend has no stored rack yet; a stored rack's settings win. Refuses, before
/// any change, `Internal=No` while an app has an internal service and
/// `InternalOnly=Yes` while an app has an external one, naming each `app/service`.
/// Saves the rack with its new parameters once its resources are reconciled.
pub async fn set_rack_params(
    backend: &dyn Backend,
    settings: &Rack,
    assignments: &[&str],
    ctx: &ApplyContext,
) -> Result<RackChange, OpsError> {
    set_rack_params_with(backend, settings, assignments, None, ctx).await
}

/// [`set_rack_params`], and with `external_certificate` `Some(Some(arn))` the
/// user's ACM certificate for the external router (`--external-certificate`),
/// `Some(None)` to go back to a certificate the rack requests, `None` to keep
/// what is stored. A supplied certificate must exist, cover `*.{router host}`
/// and be issued or pending: otherwise the call is refused before any change.
/// Without one, the rack requests a certificate from ACM (see
/// [`crate::public_cert`]).
pub async fn set_rack_params_with(
    backend: &dyn Backend,
    settings: &Rack,
    assignments: &[&str],
    external_certificate: Option<Option<&str>>,
    ctx: &ApplyContext,
) -> Result<RackChange, OpsError> {
    let base = backend
        .load_rack(&settings.name)
        .await?
        .unwrap_or_else(|| settings.clone());
    let params = base.params.with_assignments(assignments.iter().copied())?;
    let mut rack = Rack { params, ..base };
    if let Some(arn) = external_certificate {
        rack.external_certificate = arn.map(str::to_string);
    }
    let fp = ca_fingerprint(ctx)?;

    let observed = observe_all(backend, &rack.name).await?;
    check_transition(&params, &observed)?;
    // Refuses a supplied certificate that does not fit before any change.
    let external = public_cert::ensure_external_certificate(backend, &rack).await?;

    let p = plan(
        &Scope::Rack,
        &public_cert::desired_rack_for(&rack, &fp, &external, &observed),
        &observed,
        &backend.quotas(),
    )?;
    let report = if p.is_empty() {
        Report {
            ids: observed
                .iter()
                .map(|o| (o.resource.key.clone(), o.id.clone()))
                .collect(),
            ..Report::default()
        }
    } else {
        apply(backend, &p, ctx).await?
    };
    let zone = report
        .ids
        .get(&ResourceKey::zone())
        .ok_or(OpsError::NoZone)?;
    backend.save_rack(zone, &rack).await?;
    tracing::info!(rack = %rack.name, params = ?rack.params, "rack parameters set");
    Ok(RackChange {
        rack,
        plan: p,
        report,
        external_certificate: external,
    })
}

fn check_transition(params: &RackParams, observed: &[Observed]) -> Result<(), OpsError> {
    if !params.internal() {
        let offenders = routed_on(observed, Router::Internal);
        if !offenders.is_empty() {
            return Err(OpsError::Transition {
                assignment: "Internal=No",
                reason: "these services are internal",
                offenders,
                hint: "remove internal: true from them (or delete their apps) and deploy first",
            });
        }
    }
    if params.internal_only() {
        let offenders = routed_on(observed, Router::External);
        if !offenders.is_empty() {
            return Err(OpsError::Transition {
                assignment: "InternalOnly=Yes",
                reason: "these services are external",
                offenders,
                hint: "mark them internal: true (without internalAndExternal) and deploy first",
            });
        }
    }
    Ok(())
}

/// The rack rules (and, once the rack is known, hostname lengths): a deploy or plan
/// refuses what `convox check` would refuse. This is the one place the engine
/// checks them; desired state and the planner rely on it.
fn check_manifest(manifest: &Manifest, rack: &Rack, app: &Name) -> Result<(), OpsError> {
    let mut d = crate::rules::rack::check(manifest, &rack.params);
    d.extend(crate::rules::hostnames::check(manifest, rack, app));
    d.sort();
    if d.has_errors() {
        return Err(OpsError::Manifest(d));
    }
    Ok(())
}

/// The plan a deploy of `manifest` would apply to `app` (`convox plan`), as one
/// plan: the rack resources the deploy would create first (the app's rules need
/// the routers' listeners), then the app's actions, planned as if those existed.
/// Its fingerprint is that of what exists now, so [`deploy_planned`] can refuse
/// to apply it to a changed rack. Changes nothing. Quotas are the backend's
/// ([`Backend::quotas`]).
pub async fn plan_app(
    backend: &dyn Backend,
    rack: &Rack,
    app: &Name,
    manifest: &Manifest,
    ca_fingerprint: &str,
) -> Result<Plan, OpsError> {
    check_manifest(manifest, rack, app)?;
    let quotas = backend.quotas();
    let observed = observe_all(backend, &rack.name).await?;
    let external = public_cert::external_certificate(backend, rack).await?;
    let creates =
        missing_rack_resources(rack, &observed, ca_fingerprint, &external, &quotas)?.actions;
    let mut assumed = observed.clone();
    assumed.extend(
        creates
            .iter()
            .filter_map(|a| a.desired.clone())
            .map(|resource| Observed {
                resource,
                id: "(known after apply)".to_string(),
                address: None,
            }),
    );
    let ready = public_cert::external_ready(&external, &observed);
    let desired = desired_app_with(rack, app, manifest, ca_fingerprint, ready)?;
    let app_plan = plan(&Scope::App(app.clone()), &desired, &assumed, &quotas)?;
    Ok(Plan {
        scope: app_plan.scope,
        actions: creates.into_iter().chain(app_plan.actions).collect(),
        fingerprint: fingerprint(&observed),
    })
}

/// The rack resources that are missing: a deploy only adds those; changing or
/// removing rack resources is [`set_rack_params`]'s job, with its checks against
/// every app.
fn missing_rack_resources(
    rack: &Rack,
    observed: &[Observed],
    ca_fingerprint: &str,
    external: &ExternalCertificate,
    quotas: &Quotas,
) -> Result<Plan, OpsError> {
    let rack_plan = plan(
        &Scope::Rack,
        &public_cert::desired_rack_for(rack, ca_fingerprint, external, observed),
        observed,
        quotas,
    )?;
    Ok(Plan {
        actions: rack_plan
            .actions
            .into_iter()
            .filter(|a| a.op == Op::Create)
            .collect(),
        ..rack_plan
    })
}

/// Deploys `manifest` as `app`: checks it against the rack's parameters, creates
/// any rack resource that is missing (the app's rules need the routers'
/// listeners), then reconciles the app's resources and only those.
///
/// A second deploy of the same input plans nothing and makes no mutating call.
pub async fn deploy(
    backend: &dyn Backend,
    rack: &Rack,
    app: &Name,
    manifest: &Manifest,
    ctx: &ApplyContext,
) -> Result<DeployReport, OpsError> {
    deploy_inner(backend, rack, app, manifest, ctx, None).await
}

/// [`deploy`], but only if the rack is still as it was when `planned` (from
/// [`plan_app`]) was made, so that what is applied is what was shown: otherwise
/// [`ApplyError::Stale`], with nothing changed.
pub async fn deploy_planned(
    backend: &dyn Backend,
    rack: &Rack,
    app: &Name,
    manifest: &Manifest,
    ctx: &ApplyContext,
    planned: &Plan,
) -> Result<DeployReport, OpsError> {
    deploy_inner(
        backend,
        rack,
        app,
        manifest,
        ctx,
        Some(&planned.fingerprint),
    )
    .await
}

async fn deploy_inner(
    backend: &dyn Backend,
    rack: &Rack,
    app: &Name,
    manifest: &Manifest,
    ctx: &ApplyContext,
    expected: Option<&str>,
) -> Result<DeployReport, OpsError> {
    check_manifest(manifest, rack, app)?;
    let fp = ca_fingerprint(ctx)?;
    let quotas = backend.quotas();

    let observed = observe_all(backend, &rack.name).await?;
    if let Some(planned) = expected {
        let now = fingerprint(&observed);
        if now != planned {
            return Err(ApplyError::Stale {
                planned: planned.to_string(),
                observed: now,
            }
            .into());
        }
    }
    // The one mutating call before the plan: a rack without a public
    // certificate for its external router requests one.
    let external = public_cert::ensure_external_certificate(backend, rack).await?;
    let missing = missing_rack_resources(rack, &observed, &fp, &external, &quotas)?;
    let (rack_report, observed) = if missing.is_empty() {
        (None, observed)
    } else {
        tracing::info!(rack = %rack.name, creates = missing.actions.len(), "creating missing rack resources");
        let report = apply(backend, &missing, ctx).await?;
        (Some(report), observe_all(backend, &rack.name).await?)
    };
    // Checked on every deploy, not only on the one that created the zone: that one
    // may have failed after creating it and before saving, and nothing would be
    // missing the next time.
    if backend.load_rack(&rack.name).await?.is_none()
        && let Some(zone) = observed
            .iter()
            .find(|o| o.resource.key == ResourceKey::zone())
    {
        backend.save_rack(&zone.id, rack).await?;
    }

    let ready = public_cert::external_ready(&external, &observed);
    let desired = desired_app_with(rack, app, manifest, &fp, ready)?;
    let p = plan(&Scope::App(app.clone()), &desired, &observed, &quotas)?;
    let report = if p.is_empty() {
        Report::default()
    } else {
        apply(backend, &p, ctx).await?
    };
    let endpoints = exposure::endpoints(rack, app, manifest);
    let waiting = endpoints
        .iter()
        .filter(|e| e.router == Router::External && !ready)
        .cloned()
        .collect();
    Ok(DeployReport {
        rack: rack_report,
        plan: p,
        report,
        endpoints,
        external_certificate: external,
        waiting,
    })
}

/// Deletes `app`'s resources, and nothing else.
pub async fn delete_app(
    backend: &dyn Backend,
    rack: &Rack,
    app: &Name,
    ctx: &ApplyContext,
) -> Result<(Plan, Report), OpsError> {
    let observed = observe_all(backend, &rack.name).await?;
    let scope = Scope::App(app.clone());
    let p = plan(
        &scope,
        &DesiredState::empty(scope.clone()),
        &observed,
        &backend.quotas(),
    )?;
    let report = if p.is_empty() {
        Report::default()
    } else {
        apply(backend, &p, ctx).await?
    };
    Ok((p, report))
}
