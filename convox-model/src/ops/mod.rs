//! Rack and app operations: what `convox rack params set`, `convox deploy`,
//! `convox plan` and deleting an app do, over any [`Backend`].
//!
//! Each observes, plans (pure) and applies; checks that can refuse run before any
//! change is made.

use std::collections::BTreeSet;

use serde::Serialize;

use crate::apply::{ApplyContext, ApplyError, Report, apply};
use crate::aws::Quotas;
use crate::backend::{AppObservation, Backend, BackendError};
use crate::desired::{DesiredError, DesiredState, desired_app_with};
use crate::diag::Diagnostics;
use crate::exposure::{self, Endpoint, Router, Shard};
use crate::manifest::Manifest;
use crate::name::Name;
use crate::observe::observe_all;
use crate::params::{ParamError, RackParams};
use crate::plan::{Action, Op, Plan, PlanError, fingerprint, plan};
use crate::pool::{self, Placed};
use crate::public_cert::{self, ExternalCertificate, PublicCertError};
use crate::rack::Rack;
use crate::renew::Renewal;
use crate::resource::{KeySubject, Observed, Resource, ResourceKey, ResourceSpec, Scope};

mod deploy;
use deploy::pause_before_replanning;
// Router pools: shared certificates (issue 9).
mod shared;
pub use deploy::{REPLANS, deploy, deploy_planned};
// A deploy in two phases, for an embedding deployer (issue 10).
mod phased;
pub use phased::{PendingRemovals, PhaseOne, RemovalError, deploy_phased};
// Day-2 safety (in place): the rack's own plan and its careful apply.
mod rack_change;
pub use rack_change::{
    RackApplyOptions, plan_rack, plan_rack_at, replaced_routers, set_rack_params_with,
};

/// Why an operation was refused or failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
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
    // Day-2 safety (in place).
    /// The rack's plan replaces routers, which was not allowed.
    #[error(
        "the plan replaces {}: a new load balancer, with a new address, and every app's rules, certificate attachments and alias records moved to it; nothing was changed. Review it with `convox rack plan`, then run again with --yes (RackApplyOptions::replace_routers) to go ahead",
        .routers.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
    )]
    ReplacesRouters {
        /// The routers' load balancer keys.
        routers: Vec<ResourceKey>,
    },
    // The rack's certificate authority (identity check, rotation).
    /// The certificate authority is not the rack's, or could not be rotated.
    #[error(transparent)]
    Ca(#[from] crate::ca::CaError),
    // A deploy in two phases (issue 10).
    /// Phase two found the rack changed since phase one and deleted nothing.
    #[error(transparent)]
    Removals(#[from] RemovalError),
    // Applying a shown plan applies exactly that plan (issue 10).
    /// The plan shown is not what the deploy would apply, though the rack is
    /// as it was when the plan was made.
    #[error(
        "the plan shown is not what this deploy would apply, though the rack has not changed since it was made: it was made from another convox.yml, app environment or time (a certificate came due since); nothing was changed. Plan again with the same inputs and apply that plan"
    )]
    NotShown,
    // Router pools: shared certificates (issue 9).
    /// Internal hostnames stayed uncovered by any certificate on the listener
    /// routing them after re-importing the shared certificates again and
    /// again (other deploys kept rewriting them).
    #[error(
        "{} on the internal router stayed covered by no certificate after {rounds} re-imports of the shared certificates (other deploys were writing them at the same time); the routes exist. Deploy the app again to cover them",
        .hosts.join(", ")
    )]
    Uncovered {
        /// The hostnames.
        hosts: Vec<String>,
        /// How many re-imports were made.
        rounds: usize,
    },
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
    // What an embedding deployer attaches its containers to (issue 10).
    /// Every routed service of the app on each router it is routed on, as the
    /// deploy left them, whether it changed anything or not: what a deployer
    /// registers its containers with.
    pub routes: Vec<crate::routes::ServiceRoute>,
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
    // A resource someone copied our tags onto routes none of our services.
    let set: BTreeSet<String> = observed
        .iter()
        .filter(|o| !crate::plan::impostor(o))
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
///
/// Changes the routers' subnets and security groups in place; refuses a plan
/// that would replace a router ([`OpsError::ReplacesRouters`]): see
/// [`set_rack_params_with`] to allow it, give new subnets or apply only the
/// plan that was shown.
pub async fn set_rack_params(
    backend: &dyn Backend,
    settings: &Rack,
    assignments: &[&str],
    ctx: &ApplyContext,
) -> Result<RackChange, OpsError> {
    set_rack_params_with(
        backend,
        settings,
        assignments,
        ctx,
        &RackApplyOptions::default(),
    )
    .await
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
/// The rack's security repairs a deploy makes first are part of it too.
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
    plan_app_at(backend, rack, app, manifest, ca_fingerprint, None).await
}

/// [`plan_app`], with the renewals a deploy at `renewal`'s time makes: the
/// app's certificate and every rack certificate that is due. Give it
/// [`ApplyContext::renewal`] of the context the deploy will run with.
pub async fn plan_app_at(
    backend: &dyn Backend,
    rack: &Rack,
    app: &Name,
    manifest: &Manifest,
    ca_fingerprint: &str,
    renewal: Option<Renewal>,
) -> Result<Plan, OpsError> {
    // Refused before anything is read.
    check_manifest(manifest, rack, app)?;
    let seen = backend.observe_app(&rack.name, app).await?;
    let inputs = (rack, app, manifest, ca_fingerprint, renewal);
    plan_app_observed(backend, inputs, &seen)
        .await
        .map(|(plan, _)| plan)
}

/// [`plan_app_at`] from what [`Backend::observe_app`] read (a tool that needs
/// the stored rack before it plans, as `convox deploy` does, reads once), and
/// where the external router's certificate is. Reads nothing more unless the
/// rack names its external certificate itself.
///
/// `inputs` are [`plan_app_at`]'s: the rack, the app, its manifest, the
/// fingerprint of the rack's authority and the renewals' time.
pub async fn plan_app_observed(
    backend: &dyn Backend,
    (rack, app, manifest, ca_fingerprint, renewal): (
        &Rack,
        &Name,
        &Manifest,
        &str,
        Option<Renewal>,
    ),
    seen: &AppObservation,
) -> Result<(Plan, ExternalCertificate), OpsError> {
    let inputs = &AppInputs {
        rack,
        app,
        manifest,
        ca_fingerprint,
        renewal,
    };
    check_manifest(manifest, rack, app)?;
    crate::ca::check(seen.stored.as_ref(), ca_fingerprint)?;
    let external =
        public_cert::external_certificate_among(backend, rack, Some(&seen.requested)).await?;
    let plan = plan_app_from(inputs, &seen.observed, &external, &backend.quotas())?;
    Ok((plan, external))
}

/// What an app's plan is made from, besides what exists.
struct AppInputs<'a> {
    rack: &'a Rack,
    app: &'a Name,
    manifest: &'a Manifest,
    ca_fingerprint: &'a str,
    renewal: Option<Renewal>,
}

impl AppInputs<'_> {
    /// The app's desired state placed on the rack's router pools as
    /// `observed` ([`crate::pool::place`]).
    fn placed(
        &self,
        ready: bool,
        observed: &[Observed],
        quotas: &Quotas,
    ) -> Result<Placed, OpsError> {
        Ok(pool::place(self.desired(ready)?, observed, quotas)?)
    }

    /// The app's desired state, every service on its router's first load
    /// balancer; `ready` when the external router's public certificate is
    /// issued (external endpoints wait until it is).
    fn desired(&self, ready: bool) -> Result<DesiredState, OpsError> {
        let mut d = desired_app_with(
            self.rack,
            self.app,
            self.manifest,
            self.ca_fingerprint,
            ready,
        )?;
        if let Some(renewal) = self.renewal {
            d = d.renewing(renewal);
        }
        Ok(d)
    }
}

/// [`plan_app`] over an observation already made.
fn plan_app_from(
    inputs: &AppInputs<'_>,
    observed: &[Observed],
    external: &ExternalCertificate,
    quotas: &Quotas,
) -> Result<Plan, OpsError> {
    let placed = inputs.placed(
        public_cert::external_ready(external, observed),
        observed,
        quotas,
    )?;
    let missing = missing_rack_resources(
        inputs.rack,
        observed,
        inputs.ca_fingerprint,
        external,
        quotas,
        inputs.renewal,
        &placed,
        inputs.app,
    )?;
    let creates = missing.actions;
    let assumed = assume_created(observed, &creates);
    let app_plan = plan(
        &Scope::App(inputs.app.clone()),
        &placed.desired,
        &assumed,
        quotas,
    )?;
    let mut duplicate_claims = missing.duplicate_claims;
    duplicate_claims.extend(app_plan.duplicate_claims);
    Ok(Plan {
        scope: app_plan.scope,
        actions: creates.into_iter().chain(app_plan.actions).collect(),
        fingerprint: fingerprint(observed),
        duplicate_claims,
        observed_in: Scope::Deploy(inputs.app.clone()),
    })
}

/// What exists once the rack's `actions` have created what they create (and
/// updated what they update: a shared certificate's names, issue 9): the
/// app is planned against it before they run (as [`plan_app`] and [`deploy`]
/// do; public for tools and benchmarks that plan in the same two steps).
pub fn assume_created(observed: &[Observed], actions: &[Action]) -> Vec<Observed> {
    let mut assumed = observed.to_vec();
    for a in actions.iter().filter(|a| a.op == Op::Update) {
        if let Some(want) = &a.desired {
            for o in assumed.iter_mut().filter(|o| o.resource.key == a.key) {
                o.resource.spec = want.spec.clone();
            }
        }
    }
    assumed.extend(
        actions
            .iter()
            .filter(|a| a.op == Op::Create)
            .filter_map(|a| a.desired.clone())
            .map(|resource| Observed {
                resource,
                id: "(known after apply)".to_string(),
                address: None,
                not_after: None,
            }),
    );
    assumed
}

/// What a deploy does to the rack first: creates the rack resources that are
/// missing (the app's rules need the routers' listeners) and restores the rack's
/// security invariants: each router security group's ingress exactly as desired,
/// and the set of security groups on each router exactly ours. Other rack changes
/// (subnets, certificates, replacements) are [`set_rack_params`]'s job, with its
/// checks against every app. Router pools (issue 9): the shared certificates of
/// the internal load balancers `app` is placed on cover it, before any of its
/// own changes ([`pool::certs`]).
#[allow(clippy::too_many_arguments)]
fn missing_rack_resources(
    rack: &Rack,
    observed: &[Observed],
    ca_fingerprint: &str,
    external: &ExternalCertificate,
    quotas: &Quotas,
    renewal: Option<Renewal>,
    placed: &Placed,
    app: &Name,
) -> Result<Plan, OpsError> {
    let desired =
        public_cert::desired_rack_for(rack, ca_fingerprint, external, observed, &placed.shards);
    let joining = placed
        .joins
        .iter()
        .map(|s| (*s, BTreeSet::from([app.clone()])))
        .collect();
    let mut desired = pool::certs::with_shared_certificates(
        desired,
        rack,
        Some(ca_fingerprint),
        observed,
        &joining,
        None,
        quotas.names_per_certificate,
    );
    if let Some(renewal) = renewal {
        desired = desired.renewing(renewal);
    }
    let rack_plan = plan(&Scope::Rack, &desired, observed, quotas)?;
    Ok(Plan {
        actions: rack_plan
            .actions
            .into_iter()
            .filter_map(security_repair_or_create)
            .collect(),
        ..rack_plan
    })
}

/// A rack action a deploy applies: a create, a due certificate's renewal, a
/// security group's update, the security-group part of a router's update, or
/// any change of a shared certificate (issue 9).
fn security_repair_or_create(mut a: crate::plan::Action) -> Option<crate::plan::Action> {
    use crate::resource::ResourceKind;
    if a.is_renewal() || pool::certs::is_shared(&a.key) {
        return Some(a);
    }
    match (a.op, a.kind) {
        (Op::Create, _) | (Op::Update, ResourceKind::SecurityGroup) => Some(a),
        (Op::Update, ResourceKind::LoadBalancer) => {
            a.changes
                .retain(|c| matches!(c.field.as_str(), "security_group" | "other_security_groups"));
            (!a.changes.is_empty()).then_some(a)
        }
        _ => None,
    }
}

/// Deletes `app`'s resources, and nothing else.
///
/// It reads what a deploy of the app reads ([`Scope::Deploy`]): the rack's
/// own resources, the app's, and every rule on the rack's listeners as
/// obstacles; so a delete, like a deploy, costs what the app holds and not
/// what the rest of the rack does.
pub async fn delete_app(
    backend: &dyn Backend,
    rack: &Rack,
    app: &Name,
    ctx: &ApplyContext,
) -> Result<(Plan, Report), OpsError> {
    let seen = Scope::Deploy(app.clone());
    let observed = backend.observe(&rack.name, &seen).await?;
    let scope = Scope::App(app.clone());
    let mut p = plan(
        &scope,
        &DesiredState::empty(scope.clone()),
        &observed,
        &backend.quotas(),
    )?
    .observed_in(seen.clone());
    let mut report = Report::default();
    let named = shared::named(&observed, app);
    let observed = if p.is_empty() {
        // A delete before may have stopped before shrinking (or before
        // leaving the shared certificates).
        observed
    } else {
        report = crate::apply::apply_read(backend, &p, ctx, &observed).await?;
        backend.observe(&rack.name, &seen).await?
    };
    // Router pools (issue 9): the app leaves its shards' shared certificates
    // (the last one leaving deletes them) before they shrink.
    let observed = if named && shared::leave(backend, rack, ctx, app, (&observed, &seen)).await? {
        backend.observe(&rack.name, &seen).await?
    } else {
        observed
    };
    let shrunk = shrink(backend, rack, ctx, Some((&observed, &seen))).await?;
    absorb(&mut p, &mut report, shrunk);
    Ok((p, report))
}

/// Every resource the rack owns by key, with the provider id the planner
/// keeps for it (one per key, as [`Report::ids`] gives them after an apply).
pub(crate) fn observed_ids(
    observed: &[Observed],
) -> std::collections::BTreeMap<ResourceKey, String> {
    let mut ids = std::collections::BTreeMap::new();
    for o in crate::plan::kept_first(observed) {
        if !o.resource.key.is_foreign() {
            ids.entry(o.resource.key.clone())
                .or_insert_with(|| o.id.clone());
        }
    }
    ids
}

/// Adds what a shrink did to the plan and report of the operation that ran
/// it: the load balancers it removed are part of what the operation did.
fn absorb(p: &mut Plan, report: &mut Report, shrunk: Option<(Plan, Report)>) {
    let Some((sp, sr)) = shrunk else { return };
    p.actions.extend(sp.actions);
    report.applied.extend(sr.applied);
    report.calls += sr.calls;
    report.retries += sr.retries;
    // Observed after the operation's own apply: the latest view.
    report.ids = sr.ids;
}

/// Drains the load balancers after each router's first ([`pool::drains`]):
/// marks those nothing is routed on any more, unmarks those routing again, and
/// removes, with their listeners, those empty since [`pool::DRAIN_SECONDS`]
/// before `ctx.now`. Run on an observation made after an app's rules were
/// deleted (`None`: the whole rack, read here; a deploy passes what it read
/// of its own scope after applying, which shows every rule on the rack's
/// listeners), or on what a no-op plan was made from (nothing is called when
/// there is nothing to drain). Changes nothing else of the rack's; returns the
/// removals, planned and applied.
async fn shrink(
    backend: &dyn Backend,
    rack: &Rack,
    ctx: &ApplyContext,
    observed: Option<(&[Observed], &Scope)>,
) -> Result<Option<(Plan, Report)>, OpsError> {
    let (observed, scope) = match observed {
        Some((o, scope)) => (o.to_vec(), scope.clone()),
        None => (observe_all(backend, &rack.name).await?, Scope::All),
    };
    let drains = pool::drains(&observed, ctx.now);
    let removable: BTreeSet<Shard> = drains
        .iter()
        .filter(|(_, d)| **d == pool::Drain::Remove)
        .map(|(s, _)| *s)
        .collect();
    let empty = |key: &ResourceKey| {
        key.subject()
            .shard()
            .is_some_and(|s| removable.contains(&s))
            && key.app().is_none()
    };
    // The removals first, planned from the observation as it is; then the
    // marks (a mark changes what the removals' plan was made from).
    let removed = if observed.iter().any(|o| empty(&o.resource.key)) {
        remove(backend, rack, ctx, (&observed, &scope), &empty).await?
    } else {
        None
    };
    mark(backend, rack, ctx, &observed, &drains).await?;
    Ok(removed)
}

/// Sets and removes the draining marks `drains` names.
async fn mark(
    backend: &dyn Backend,
    rack: &Rack,
    ctx: &ApplyContext,
    observed: &[Observed],
    drains: &std::collections::BTreeMap<Shard, pool::Drain>,
) -> Result<(), OpsError> {
    for (shard, drain) in drains {
        let key = ResourceKey::shard_load_balancer(*shard);
        let Some(lb) = observed.iter().find(|o| o.resource.key == key) else {
            continue;
        };
        let since = ctx.now.to_string();
        let value = match drain {
            pool::Drain::Mark => Some(since.as_str()),
            pool::Drain::Unmark => None,
            pool::Drain::Remove => continue,
        };
        tracing::info!(rack = %rack.name, %shard, ?drain, "draining the routers' empty load balancers");
        crate::apply::retrying(backend, ctx, || {
            backend.set_load_balancer_tag(&lb.id, crate::resource::TAG_EMPTY_SINCE, value)
        })
        .await?;
    }
    Ok(())
}

/// Removes the rack's resources `empty` names (the drained load balancers
/// and their listeners), planned from `observed`.
async fn remove(
    backend: &dyn Backend,
    rack: &Rack,
    ctx: &ApplyContext,
    (observed, scope): (&[Observed], &Scope),
    empty: &dyn Fn(&ResourceKey) -> bool,
) -> Result<Option<(Plan, Report)>, OpsError> {
    // Everything the rack has stays, but the empty load balancers.
    let mut desired = DesiredState::empty(Scope::Rack);
    for o in crate::plan::kept_first(observed) {
        let key = &o.resource.key;
        if key.in_scope(&Scope::Rack) && !empty(key) {
            desired
                .resources
                .entry(key.clone())
                .or_insert_with(|| o.resource.clone());
        }
    }
    let p = plan(&Scope::Rack, &desired, observed, &backend.quotas())?
        .observed_in(scope.clone())
        .retaining(|a| a.op == Op::Delete && empty(&a.key));
    if p.is_empty() {
        return Ok(None);
    }
    tracing::info!(rack = %rack.name, deletes = p.actions.len(), "removing the routers' load balancers nothing is routed on");
    let report = apply(backend, &p, ctx).await?;
    Ok(Some((p, report)))
}
