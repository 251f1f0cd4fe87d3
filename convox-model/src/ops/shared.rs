//! Router pools: keeping the internal load balancers' shared certificates
//! covering the apps they route (issue 9, [`crate::pool::certs`]).

use std::collections::{BTreeMap, BTreeSet};

use super::OpsError;
use crate::apply::{ApplyContext, apply};
use crate::backend::Backend;
use crate::desired::DesiredState;
use crate::exposure::Shard;
use crate::name::Name;
use crate::plan::plan;
use crate::pool::certs::{self, MAX_COVERAGE_ROUNDS};
use crate::rack::Rack;
use crate::resource::{Observed, Scope};

/// `app` joining each of the internal load balancers `joins`, as
/// [`certs::shared_names`] takes it.
fn joining(app: &Name, joins: &BTreeSet<Shard>) -> BTreeMap<Shard, BTreeSet<Name>> {
    joins
        .iter()
        .map(|s| (*s, BTreeSet::from([app.clone()])))
        .collect()
}

/// Whether `app`'s wildcard is on a shared certificate, as observed.
pub(super) fn named(observed: &[Observed], app: &Name) -> bool {
    certs::observed_names(observed)
        .values()
        .flat_map(|slots| slots.values())
        .any(|apps| apps.contains(app))
}

/// Re-imports the shared certificates so that they cover what
/// [`certs::shared_names`] says, from `observed`, with `joining` and without
/// `leaving`; changes nothing else of the rack. Whether it changed anything
/// (or found another deploy changing them at the same moment: then the caller
/// reads the rack again).
///
/// `observed` is an observation of `scope` (the deploy's, or the whole
/// rack's): the re-import is applied against that scope, read again first
/// (a change since makes it plan again), unless `observed` was `just_read`.
/// [`cover`] reads just before and verifies just after: while another deploy
/// changes anything in the scope (its rules, its target groups), a read
/// again would find the plan stale every time, and the check would end
/// without having written.
pub(super) async fn sync(
    backend: &dyn Backend,
    rack: &Rack,
    ctx: &ApplyContext,
    (observed, scope): (&[Observed], &Scope),
    joining: &BTreeMap<Shard, BTreeSet<Name>>,
    leaving: Option<&Name>,
) -> Result<bool, OpsError> {
    sync_read(
        backend,
        rack,
        ctx,
        (observed, scope, false),
        joining,
        leaving,
    )
    .await
}

/// [`sync`], applied on `observed` itself when it was `just_read`.
async fn sync_read(
    backend: &dyn Backend,
    rack: &Rack,
    ctx: &ApplyContext,
    (observed, scope, just_read): (&[Observed], &Scope, bool),
    joining: &BTreeMap<Shard, BTreeSet<Name>>,
    leaving: Option<&Name>,
) -> Result<bool, OpsError> {
    // Issued by the authority the apply issues with. Without one (a delete
    // needs none) only what needs no issuing is done: a certificate left
    // without names is deleted; a name on one still in use waits for the next
    // deploy on that load balancer (it covers a name nothing routes: harmless).
    let fingerprint = ctx.issuer.as_ref().map(|i| i.fingerprint());
    let issuing = fingerprint.is_some();
    let quotas = backend.quotas();
    // Every rack resource as it is, but the shared certificates.
    let mut desired = DesiredState::empty(Scope::Rack);
    for o in crate::plan::kept_first(observed) {
        let key = &o.resource.key;
        if key.in_scope(&Scope::Rack) {
            desired
                .resources
                .entry(key.clone())
                .or_insert_with(|| o.resource.clone());
        }
    }
    let mut desired = certs::with_shared_certificates(
        desired,
        rack,
        fingerprint.as_deref(),
        observed,
        joining,
        leaving,
        quotas.names_per_certificate,
    );
    // Only on load balancers that exist: one placement wants but nothing made
    // yet is the deploy's rack stage's to make (or gone, drained, since).
    let listeners: BTreeSet<Shard> = observed
        .iter()
        .filter_map(|o| match o.resource.key.subject() {
            crate::resource::KeySubject::RouterListener(s, 443) => Some(*s),
            _ => None,
        })
        .collect();
    desired.resources.retain(|k, _| {
        !certs::is_shared(k) || k.subject().shard().is_some_and(|s| listeners.contains(&s))
    });
    let p = plan(&Scope::Rack, &desired, observed, &quotas)?
        .observed_in(scope.clone())
        .retaining(|a| certs::is_shared(&a.key) && (issuing || a.op == crate::plan::Op::Delete));
    if p.is_empty() {
        return Ok(false);
    }
    tracing::info!(rack = %rack.name, actions = p.actions.len(), "re-importing the internal load balancers' shared certificates");
    let applied = if just_read {
        crate::apply::apply_read(backend, &p, ctx, observed).await
    } else {
        apply(backend, &p, ctx).await
    };
    match applied {
        Ok(_) => Ok(true),
        Err(e) if e.is_contention() => Ok(true),
        Err(e) => Err(e.into()),
    }
}

/// `app` leaves the shared certificates it is on (deleted): they are
/// re-imported without its name, and those left without names deleted.
/// Whether anything changed.
pub(super) async fn leave(
    backend: &dyn Backend,
    rack: &Rack,
    ctx: &ApplyContext,
    app: &Name,
    (observed, scope): (&[Observed], &Scope),
) -> Result<bool, OpsError> {
    if !named(observed, app) {
        return Ok(false);
    }
    sync(
        backend,
        rack,
        ctx,
        (observed, scope),
        &BTreeMap::new(),
        Some(app),
    )
    .await
}

/// What [`cover`] did, and the last observation it read: made after its
/// last change, so that what follows (the deploy's shrink) may plan from it.
pub(super) struct Covered {
    /// Whether it re-imported anything.
    pub(super) changed: bool,
    /// The rack as last read.
    pub(super) observed: Vec<Observed>,
    /// What that observation covers: the deploy's scope, or the whole rack's.
    pub(super) scope: Scope,
}

/// After a deploy of `app` routed on the internal load balancers `joins`:
/// re-reads what the deploy reads ([`Scope::Deploy`]) and re-imports the
/// shared certificates as [`certs::shared_names`] wants them from what is
/// there now (the app's name off the load balancers it left, and on every one
/// it is routed on), then re-reads again, while anything changed: an
/// internal hostname uncovered then (another deploy re-imported a shared
/// certificate without this one's name, or the other way round) is
/// re-imported with every app routed there, at most [`MAX_COVERAGE_ROUNDS`]
/// times.
///
/// The deploy's scope shows every rule on the rack's listeners, other apps'
/// as obstacles of no known owner. When one of those routes a hostname of the
/// rack that nothing covers ([`certs::unowned_gaps`]), the whole rack is read
/// from then on: only its owners' tags say whose name is missing. So a deploy
/// costs what the whole rack holds only when another's name was lost.
pub(super) async fn cover(
    backend: &dyn Backend,
    rack: &Rack,
    ctx: &ApplyContext,
    app: &Name,
    joins: &BTreeSet<Shard>,
) -> Result<Covered, OpsError> {
    let joining = joining(app, joins);
    let mut scope = Scope::Deploy(app.clone());
    let mut rounds = 0;
    loop {
        let mut observed = backend.observe(&rack.name, &scope).await?;
        if scope != Scope::All && !certs::unowned_gaps(&observed, &rack.name).is_empty() {
            tracing::info!(rack = %rack.name, %app, "another app's internal hostname is uncovered: reading the whole rack");
            scope = Scope::All;
            observed = backend.observe(&rack.name, &scope).await?;
        }
        let covered = |changed, observed| Covered {
            changed,
            observed,
            scope: scope.clone(),
        };
        if rounds == MAX_COVERAGE_ROUNDS {
            let gaps = certs::uncovered(&observed);
            if gaps.is_empty() {
                return Ok(covered(true, observed));
            }
            return Err(OpsError::Uncovered {
                hosts: gaps.into_iter().map(|g| g.host).collect(),
                rounds,
            });
        }
        rounds += 1;
        // Nothing to change: every hostname is covered, or none a shared
        // certificate can cover (the planner's coverage check names those).
        if !sync_read(
            backend,
            rack,
            ctx,
            (&observed, &scope, true),
            &joining,
            Some(app),
        )
        .await?
        {
            return Ok(covered(rounds > 1, observed));
        }
    }
}

/// Before a deploy plans `app` placed on the internal load balancers
/// `joins`: `observed` when the app's name is on a shared certificate of
/// each (`false`), or else the rack re-read after putting it there (`true`):
/// another deploy re-imported one without it meanwhile, or the app is placed
/// elsewhere than its rack stage made room for (a load balancer emptied
/// since). Then the caller places the app again.
pub(super) async fn named_on(
    backend: &dyn Backend,
    rack: &Rack,
    ctx: &ApplyContext,
    app: &Name,
    joins: &BTreeSet<Shard>,
    observed: Vec<Observed>,
) -> Result<(Vec<Observed>, bool), OpsError> {
    let names = certs::observed_names(&observed);
    let missing = joins.iter().any(|s| {
        !names
            .get(s)
            .is_some_and(|slots| slots.values().any(|apps| apps.contains(app)))
    });
    let joining = joining(app, joins);
    let scope = Scope::Deploy(app.clone());
    if !missing || !sync(backend, rack, ctx, (&observed, &scope), &joining, None).await? {
        return Ok((observed, false));
    }
    Ok((backend.observe(&rack.name, &scope).await?, true))
}

/// A deploy of `app` that found nothing to change (an attempt before applied
/// it and stopped): its name taken off the load balancers it no longer
/// routes on and put on those it joins, planned from `observed` (no call when
/// nothing changes), then verified as [`cover`] does. What [`cover`] found,
/// or `None` when nothing changed.
pub(super) async fn settle(
    backend: &dyn Backend,
    rack: &Rack,
    ctx: &ApplyContext,
    app: &Name,
    joins: &BTreeSet<Shard>,
    observed: (&[Observed], &Scope),
) -> Result<Option<Covered>, OpsError> {
    let joining = joining(app, joins);
    if sync(backend, rack, ctx, observed, &joining, Some(app)).await? {
        let mut covered = cover(backend, rack, ctx, app, joins).await?;
        covered.changed = true;
        return Ok(Some(covered));
    }
    Ok(None)
}

/// Whether `app`'s name is on the shared certificate of a load balancer
/// other than `joins`: it leaves that one, which only a re-read after its
/// rules are gone may do ([`cover`]).
pub(super) fn leaving(observed: &[Observed], app: &Name, joins: &BTreeSet<Shard>) -> bool {
    certs::observed_names(observed)
        .iter()
        .filter(|(s, _)| !joins.contains(s))
        .flat_map(|(_, slots)| slots.values())
        .any(|apps| apps.contains(app))
}

/// The copies of a shared certificate that this operation made or detached
/// ([`crate::apply::OwnCopies`]), attached to no listener, beside another
/// copy of the same key that is attached (the one that serves, which the
/// planner keeps): what an apply of this operation stopped before deleting
/// (another of its actions failed first). The planner refuses such a copy as
/// possibly someone else's; this operation knows it is its own.
fn own_strays<'a>(observed: &'a [Observed], ctx: &ApplyContext) -> Vec<&'a Observed> {
    let Some(own) = &ctx.own_copies else {
        return Vec::new();
    };
    let attached = crate::plan::attached_certificates(observed);
    let stray = |o: &Observed| own.contains(&o.id) && !attached.contains(o.id.as_str());
    crate::plan::claims_by_key(observed)
        .into_iter()
        .filter(|(key, _)| {
            matches!(
                key.subject(),
                crate::resource::KeySubject::ShardCertificate(..)
            )
        })
        .map(|(_, copies)| copies)
        .filter(|copies| {
            copies
                .iter()
                .any(|o| !stray(o) && attached.contains(o.id.as_str()))
        })
        .flat_map(|copies| copies.into_iter().filter(|o| stray(o)))
        .collect()
}

/// Deletes the copies [`own_strays`] finds in `observed`, planned from it and
/// applied on it. Whether it deleted any (then the caller reads the rack
/// again).
pub(super) async fn delete_own_strays(
    backend: &dyn Backend,
    ctx: &ApplyContext,
    observed: &[Observed],
    scope: &Scope,
) -> Result<bool, OpsError> {
    let strays = own_strays(observed, ctx);
    if strays.is_empty() {
        return Ok(false);
    }
    let reason = "a copy this deploy made or detached, beside the copy kept";
    let actions = strays
        .into_iter()
        .map(|o| crate::plan::Action::deleting(o, Some(reason.to_string())))
        .collect();
    let p = crate::plan::Plan {
        scope: Scope::Rack,
        actions,
        fingerprint: crate::plan::fingerprint(observed),
        duplicate_claims: Vec::new(),
        observed_in: scope.clone(),
    };
    tracing::info!(
        actions = p.actions.len(),
        "deleting the copies of shared certificates this deploy left unattached"
    );
    crate::apply::apply_read(backend, &p, ctx, observed).await?;
    Ok(true)
}
