//! Deploying an app: the rack stage, then observe, place, plan and apply the
//! app's resources, planning again when another process changed the rack under it.

use super::*;
use crate::backend::AppObservation;

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
    deploy_inner(backend, rack, app, manifest, ctx, Mode::default())
        .await
        .map(|(report, _)| report)
}

/// [`deploy`], but only what was shown: `planned` (from [`plan_app`] or
/// [`plan_app_at`]) is applied if planning again now gives exactly its actions
/// on the rack it was made from, or the same actions on a rack changed since
/// (other apps may have changed meanwhile; a new rule may take another free
/// priority than the one shown). Otherwise, with nothing changed,
/// [`OpsError::NotShown`] (the rack is as it was, but `manifest`, the
/// environment or the time, with the renewals due then, give another plan) or
/// [`ApplyError::Stale`]. A plan that showed external endpoints waiting for
/// the external router's certificate serves them if the certificate is issued
/// by then (the deploy requests it; the mock's ACM, and moto's with no wait,
/// issue it at once).
pub async fn deploy_planned(
    backend: &dyn Backend,
    rack: &Rack,
    app: &Name,
    manifest: &Manifest,
    ctx: &ApplyContext,
    planned: &Plan,
) -> Result<DeployReport, OpsError> {
    deploy_inner(backend, rack, app, manifest, ctx, Mode::shown(planned))
        .await
        .map(|(report, _)| report)
}

/// How many times a deploy observes and plans again when another process
/// changed the rack under it (took the rule priority it planned, or changed
/// what it planned from) before it gives up. Each of the other deploys running
/// at the same moment can make it plan again a few times (every change it makes
/// is one the plan was not made from), so the bound allows for several.
pub const REPLANS: usize = 10;

/// A pause before planning again, up to `ctx.retry.base_delay` times the
/// attempt, jittered by the app's name so that deploys that collided do not
/// collide again in step.
pub(super) async fn pause_before_replanning(ctx: &ApplyContext, app: &Name, attempt: usize) {
    let seed = app
        .as_str()
        .bytes()
        .fold(ctx.seed ^ attempt as u64, |h, b| {
            crate::aws::splitmix64(h ^ u64::from(b))
        });
    let cap = ctx
        .retry
        .base_delay
        .saturating_mul(u32::try_from(attempt).unwrap_or(u32::MAX));
    let cap_ms = u64::try_from(cap.as_millis()).unwrap_or(u64::MAX);
    let delay = std::time::Duration::from_millis(seed % cap_ms.saturating_add(1));
    (ctx.sleep)(delay).await;
}

/// How a deploy applies: only a plan `shown` before (`None`: what it plans),
/// and whether deletes wait for phase two ([`super::deploy_phased`]).
#[derive(Clone, Copy, Default)]
pub(super) struct Mode<'a> {
    pub(super) shown: Option<&'a Plan>,
    pub(super) phased: bool,
}

impl<'a> Mode<'a> {
    fn shown(plan: &'a Plan) -> Self {
        Mode {
            shown: Some(plan),
            phased: false,
        }
    }
}

/// A deploy, and the deletes it deferred: none unless `mode.phased`.
pub(super) async fn deploy_inner(
    backend: &dyn Backend,
    rack: &Rack,
    app: &Name,
    manifest: &Manifest,
    ctx: &ApplyContext,
    Mode { shown, phased }: Mode<'_>,
) -> Result<(DeployReport, Vec<Action>), OpsError> {
    check_manifest(manifest, rack, app)?;
    // Remembers the shared certificate copies it makes or detaches.
    let ctx = &ctx.for_one_operation();
    let fp = ca_fingerprint(ctx)?;
    // Before any change: a rack refuses an authority that is not its own.
    let first = backend.observe_app(&rack.name, app).await?;
    crate::ca::check(first.stored.as_ref(), &fp)?;
    // A rack stored with its authority needs no saving after the rack stage.
    let recorded = first.stored.as_ref().is_some_and(|s| s.ca.is_some());
    let mut seen = Some(first);
    let inputs = AppInputs {
        rack,
        app,
        manifest,
        ca_fingerprint: &fp,
        renewal: Some(ctx.renewal()),
    };
    // Checked before the first call that changes anything.
    inputs.desired(false)?;
    let mut rack_report = None;
    let mut wrote_shared = false;
    let mut replans = 0;
    loop {
        let attempt = Attempt {
            backend,
            inputs: &inputs,
            ctx,
            shown,
            recorded,
            phased,
        };
        let observation = match seen.take() {
            Some(first) => first,
            None => backend.observe_app(&rack.name, app).await?,
        };
        match attempt
            .run(observation, &mut rack_report, &mut wrote_shared)
            .await
        {
            Err(OpsError::Apply(e)) if e.is_contention() && replans < REPLANS => {
                replans += 1;
                tracing::info!(%app, replans, error = %e, "another process changed the rack; observing and planning again");
                pause_before_replanning(ctx, app, replans).await;
            }
            // Router pools (issue 9): deploys at the same moment each made a
            // load balancer's first shared certificate, and one is not attached
            // yet; once every copy is, one is kept and the others deleted. A
            // copy someone made by hand stays unattached: refused as ever once
            // the replans are spent.
            Err(OpsError::Plan(crate::plan::PlanError::DuplicateClaim { key, .. }))
                if pool::certs::is_shared(&key) && replans < REPLANS =>
            {
                replans += 1;
                tracing::info!(%app, replans, %key, "another deploy is making this load balancer's shared certificate; observing and planning again");
                pause_before_replanning(ctx, app, replans).await;
            }
            Err(e) => return Err(e),
            Ok(done) => {
                let endpoints = exposure::endpoints(rack, app, manifest);
                let waiting = endpoints
                    .iter()
                    .filter(|e| e.router == Router::External && !done.ready)
                    .cloned()
                    .collect();
                let report = DeployReport {
                    rack: rack_report,
                    plan: done.plan,
                    report: done.report,
                    endpoints,
                    external_certificate: done.external,
                    waiting,
                    routes: done.routes,
                };
                return Ok((report, done.deferred));
            }
        }
    }
}

/// One observe, plan and apply of a deploy.
struct Attempt<'a> {
    backend: &'a dyn Backend,
    inputs: &'a AppInputs<'a>,
    ctx: &'a ApplyContext,
    shown: Option<&'a Plan>,
    /// Whether the rack was stored with its certificate authority when the
    /// deploy began: then there is nothing to save.
    recorded: bool,
    /// Whether deletes wait for phase two ([`super::deploy_phased`]).
    phased: bool,
}

/// What an attempt did.
struct Done {
    plan: Plan,
    report: Report,
    external: ExternalCertificate,
    /// Whether the external router's certificate was ready for the app.
    ready: bool,
    /// The app's routes as the attempt left them.
    routes: Vec<crate::routes::ServiceRoute>,
    /// The deletes left for phase two.
    deferred: Vec<Action>,
}

impl Attempt<'_> {
    /// `wrote_shared` says whether this deploy re-imported a shared
    /// certificate, in this attempt or one before: then it verifies their
    /// coverage after applying ([`super::shared::cover`]), as the last writer
    /// of a certificate must.
    async fn run(
        &self,
        seen: AppObservation,
        rack_report: &mut Option<Report>,
        wrote_shared: &mut bool,
    ) -> Result<Done, OpsError> {
        let (backend, rack, app) = (self.backend, self.inputs.rack, self.inputs.app);
        let quotas = backend.quotas();
        let deploy_scope = Scope::Deploy(app.clone());
        // Router pools (issue 9): a copy of a shared certificate an attempt
        // before made or detached and stopped before deleting.
        let seen =
            if super::shared::delete_own_strays(backend, self.ctx, &seen.observed, &deploy_scope)
                .await?
            {
                backend.observe_app(&rack.name, app).await?
            } else {
                seen
            };
        let observed = seen.observed;
        // The one call that may change something before the plan: a rack without
        // a public certificate for its external router requests one.
        let external =
            public_cert::ensure_external_certificate_among(backend, rack, Some(&seen.requested))
                .await?;
        if let Some(shown) = self.shown {
            self.check_shown(shown, &observed, &external, &quotas)?;
        }
        let placed = self.inputs.placed(
            public_cert::external_ready(&external, &observed),
            &observed,
            &quotas,
        )?;
        let missing = missing_rack_resources(
            rack,
            &observed,
            self.inputs.ca_fingerprint,
            &external,
            &quotas,
            self.inputs.renewal,
            &placed,
            app,
        )?;
        let observed = if missing.is_empty() {
            observed
        } else {
            // The app's plan first, as if the rack were done: a deploy it refuses
            // (a hostname taken, a quota) changes nothing, not even a renewal.
            let assumed = assume_created(&observed, &missing.actions);
            or_replan(
                plan(
                    &Scope::App(app.clone()),
                    &self
                        .inputs
                        .placed(
                            public_cert::external_ready(&external, &assumed),
                            &assumed,
                            &quotas,
                        )?
                        .desired,
                    &assumed,
                    &quotas,
                ),
                rack,
                app,
            )?;
            if !placed.new_shards.is_empty() {
                let shards: Vec<String> = placed.new_shards.iter().map(|s| s.to_string()).collect();
                tracing::info!(rack = %rack.name, %app, shards = ?shards, "the routers' load balancers are full: adding load balancers to their pools");
            }
            tracing::info!(rack = %rack.name, actions = missing.actions.len(), "creating missing rack resources, repairing its security and renewing due certificates");
            let missing = missing.observed_in(deploy_scope.clone());
            *wrote_shared |= missing
                .actions
                .iter()
                .any(|a| pool::certs::is_shared(&a.key));
            *rack_report = Some(apply(backend, &missing, self.ctx).await?);
            backend.observe(&rack.name, &deploy_scope).await?
        };
        // Checked on every deploy, not only on the one that created the zone: that one
        // may have failed after creating it and before saving, and nothing would be
        // missing the next time. A rack stored before racks recorded their
        // certificate authority records the one given.
        let (fp, now) = (self.inputs.ca_fingerprint, self.ctx.now);
        let unsaved = if self.recorded {
            None
        } else {
            match backend.load_rack(&rack.name).await? {
                None => Some(crate::ca::record(rack.clone(), rack.ca.as_ref(), fp, now)),
                Some(s) if s.ca.is_none() => Some(crate::ca::record(s, rack.ca.as_ref(), fp, now)),
                Some(_) => None,
            }
        };
        if let Some(to_save) = unsaved
            && let Some(zone) = observed
                .iter()
                .find(|o| o.resource.key == ResourceKey::zone())
        {
            crate::apply::retrying(backend, self.ctx, || backend.save_rack(&zone.id, &to_save))
                .await?;
        }

        let ready = public_cert::external_ready(&external, &observed);
        let mut observed = observed;
        let mut placed = self.inputs.placed(ready, &observed, &quotas)?;
        // Router pools (issue 9): named on the shared certificates of the load
        // balancers it is placed on now, before its plan.
        for _ in 0..crate::pool::certs::MAX_COVERAGE_ROUNDS {
            let (now, changed) =
                super::shared::named_on(backend, rack, self.ctx, app, &placed.joins, observed)
                    .await?;
            observed = now;
            *wrote_shared |= changed;
            if !changed {
                break;
            }
            placed = self.inputs.placed(ready, &observed, &quotas)?;
        }
        let p = or_replan(
            plan(
                &Scope::App(app.clone()),
                &placed.desired,
                &observed,
                &quotas,
            ),
            rack,
            app,
        )?;
        let mut p = p.observed_in(deploy_scope.clone());
        // Read from what the attempt read: no request.
        let others_uncovered = !pool::certs::unowned_gaps(&observed, &rack.name).is_empty();
        let mut deferred = Vec::new();
        let report = if p.is_empty() {
            // Nothing to do: the ids are what exists (an embedding deployer
            // attaches its containers to the target groups' ARNs every time).
            // An attempt before may have deleted and stopped before shrinking.
            let mut report = Report {
                ids: observed_ids(&observed),
                ..Report::default()
            };
            // Router pools (issue 9): an attempt before may have stopped
            // before its shared certificates were settled.
            let settled = if !placed.joins.is_empty() || super::shared::named(&observed, app) {
                super::shared::settle(
                    backend,
                    rack,
                    self.ctx,
                    app,
                    &placed.joins,
                    (&observed, &deploy_scope),
                )
                .await?
            } else {
                None
            };
            // Another app's hostname uncovered (a shared certificate
            // re-imported without its name, by a deploy at the same moment or
            // by hand): put back, as the whole rack's tags say.
            let settled = match settled {
                None if others_uncovered => {
                    Some(super::shared::cover(backend, rack, self.ctx, app, &placed.joins).await?)
                }
                settled => settled,
            };
            let seen = match &settled {
                Some(c) => (c.observed.as_slice(), &c.scope),
                None => (observed.as_slice(), &deploy_scope),
            };
            let shrunk = shrink(backend, rack, self.ctx, Some(seen)).await?;
            absorb(&mut p, &mut report, shrunk);
            report
        } else {
            // Planned from what this attempt read last, with nothing changed
            // by it since: applied without reading again.
            let mut report = if self.phased {
                let (now, later) = super::phased::split(&p);
                deferred = later;
                crate::apply::apply_read(backend, &now, self.ctx, &observed).await?
            } else {
                crate::apply::apply_read(backend, &p, self.ctx, &observed).await?
            };
            // Router pools (issue 9): every internal hostname covered on its
            // listener, whatever another deploy re-imported meanwhile, when
            // this deploy wrote a shared certificate (the last writer
            // verifies), its name leaves one, or it found another app's
            // hostname uncovered.
            let covered = if *wrote_shared
                || others_uncovered
                || super::shared::leaving(&observed, app, &placed.joins)
            {
                Some(super::shared::cover(backend, rack, self.ctx, app, &placed.joins).await?)
            } else {
                None
            };
            // What the app left, or what an attempt before left empty (it
            // made a load balancer and stopped; this one placed elsewhere).
            if may_empty(&p)
                || covered.as_ref().is_some_and(|c| c.changed)
                || !pool::drains(&observed, self.ctx.now).is_empty()
            {
                let (seen, scope) = match covered {
                    Some(c) => (c.observed, c.scope),
                    None => (
                        backend.observe(&rack.name, &deploy_scope).await?,
                        deploy_scope.clone(),
                    ),
                };
                let shrunk = shrink(backend, rack, self.ctx, Some((&seen, &scope))).await?;
                absorb(&mut p, &mut report, shrunk);
            }
            report
        };
        let after = crate::routes::after_apply(&observed, &p, &report.ids);
        Ok(Done {
            routes: crate::routes::service_routes(&after, app),
            deferred,
            plan: p,
            report,
            external,
            ready,
        })
    }

    /// Refuses a plan other than the one this attempt would apply: planned
    /// afresh, the actions must be exactly the shown ones on the rack it was
    /// made from ([`OpsError::NotShown`] otherwise: another manifest or time),
    /// and the same but for new rules' priorities on a rack changed since
    /// (stale otherwise).
    fn check_shown(
        &self,
        shown: &Plan,
        observed: &[Observed],
        external: &ExternalCertificate,
        quotas: &Quotas,
    ) -> Result<(), OpsError> {
        let now = fingerprint(observed);
        let again = plan_app_from(self.inputs, observed, external, quotas);
        if now == shown.fingerprint {
            // A plan that showed external endpoints waiting for the external
            // router's certificate serves them once it is issued (this deploy
            // requested it, or ACM issued it since).
            let waited = match external {
                ExternalCertificate::Issued {
                    certificate,
                    supplied,
                } => {
                    let pending = ExternalCertificate::Pending {
                        certificate: certificate.clone(),
                        supplied: *supplied,
                    };
                    plan_app_from(self.inputs, observed, &pending, quotas)
                        .is_ok_and(|p| p.actions == shown.actions)
                }
                _ => false,
            };
            return if again?.actions == shown.actions || waited {
                Ok(())
            } else {
                Err(OpsError::NotShown)
            };
        }
        match again {
            Ok(again) if same_actions(&again, shown) => Ok(()),
            _ => Err(ApplyError::Stale {
                planned: shown.fingerprint.clone(),
                observed: now,
            }
            .into()),
        }
    }
}

/// Whether applying `p` may have left one of the rack's load balancers
/// routing nothing: it took a rule or a certificate off a listener (deleted
/// it, or replaced it on another). A target group deleted, or a rule
/// replaced on the same listener, leaves the load balancer as full as it was.
fn may_empty(p: &Plan) -> bool {
    let listener = |spec: &ResourceSpec| match spec {
        ResourceSpec::ListenerRule(r) => Some(r.listener.clone()),
        ResourceSpec::ListenerCertificate(c) => Some(c.listener.clone()),
        _ => None,
    };
    p.actions.iter().any(|a| {
        let was = a.current.as_ref().and_then(|o| listener(&o.resource.spec));
        let will = a.desired.as_ref().and_then(|r| listener(&r.spec));
        was.is_some() && was != will
    })
}

/// Whether two plans do the same, but for the priorities of the rules they
/// create (the lowest free one when applied, whichever that is).
fn same_actions(a: &Plan, b: &Plan) -> bool {
    let normal = |p: &Plan| -> Vec<Action> {
        p.actions
            .iter()
            .cloned()
            .map(|mut action| {
                if action.op == Op::Create
                    && let Some(Resource {
                        spec: ResourceSpec::ListenerRule(rule),
                        ..
                    }) = action.desired.as_mut()
                {
                    rule.priority = None;
                }
                action
            })
            .collect()
    };
    normal(a) == normal(b)
}

/// `planned`, or [`ApplyError::Raced`] (observe and plan again) where it fails on what
/// another deploy is changing at the same moment: a load balancer of the pool
/// it found empty and removed after this one made it; or, router pools (issue
/// 9), a shared certificate re-imported without this app's name, or a second
/// copy of one made, after this one named the app there: the app's own
/// internal names are this deploy's to cover, so observe, name and place
/// again.
fn or_replan(planned: Result<Plan, PlanError>, rack: &Rack, app: &Name) -> Result<Plan, OpsError> {
    let racing = match &planned {
        Err(PlanError::MissingDependency { reference, .. }) => {
            reference.app().is_none() && reference.subject().shard().is_some()
        }
        Err(PlanError::NotCovered { host, .. }) => {
            host.ends_with(&format!(".{app}.{}", rack.zone_name()))
        }
        _ => false,
    };
    match planned {
        Err(e) if racing => Err(ApplyError::Raced {
            reason: e.to_string(),
        }
        .into()),
        planned => Ok(planned?),
    }
}
