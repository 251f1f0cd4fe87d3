//! `apps`, `apps delete` and `services`: what the rack holds, per app.

use convox_model::backend::Backend;
use convox_model::inventory::{apps, deployed_endpoints};
use convox_model::ops;
use convox_model::params::RackParams;
use convox_model::pool::DRAIN_SECONDS;
use convox_model::rack::Rack;
use convox_model::resource::{Scope, TAG_EMPTY_SINCE};
use convox_model::routes::service_routes;

use super::Cx;
use super::note;
use crate::cli::{DeleteAppArgs, ServicesArgs};
use crate::exit::{Exit, fail, report_error};
use crate::output::print_services;
use crate::progress::{context, now, with_progress};

/// `convox apps -r R`: the apps that own resources on the rack, one a line.
pub fn list(Cx { given, s, io }: Cx<'_, '_>) -> Result<(), Exit> {
    let rack = given.rack(io)?;
    let observed = s.observe(&rack, &Scope::Apps, io)?;
    let names = apps(&observed);
    if names.is_empty() {
        note(io, format!("rack {rack} has no apps deployed"));
    }
    for a in names {
        let _ = writeln!(io.out, "{a}");
    }
    Ok(())
}

/// `convox services -a A -r R [--json]`: the app's deployed endpoints, with
/// their target groups and ports.
pub fn services(a: &ServicesArgs, Cx { given, s, io }: Cx<'_, '_>) -> Result<(), Exit> {
    let (name, app) = given.rack_and_app(io)?;
    // The stored rack names hostnames a rule does not record; a rack never set
    // up holds no app anyway.
    let rack = s
        .stored_rack(&name, io)?
        .unwrap_or_else(|| Rack::new(name.clone(), RackParams::default(), None));
    let observed = s.observe(&name, &Scope::App(app.clone()), io)?;
    let list = deployed_endpoints(&observed, &rack, &app);
    // What each route hangs on (listeners, load balancers, security groups)
    // is the rack's: read only for the JSON a deployer reads.
    let routes = if a.json && !list.is_empty() {
        let mut all = s.observe(&name, &Scope::Rack, io)?;
        all.extend(observed);
        service_routes(&all, &app)
    } else {
        Vec::new()
    };
    if list.is_empty() && !a.json {
        note(
            io,
            format!("app {app} has no services with endpoints on rack {name}"),
        );
        return Ok(());
    }
    print_services(&list, &routes, a.json, io);
    Ok(())
}

/// `convox apps delete [A] -r R`.
pub fn delete(a: &DeleteAppArgs, Cx { given, s, io }: Cx<'_, '_>) -> Result<(), Exit> {
    let name = given.rack(io)?;
    let app = match &a.name {
        Some(app) => app.clone(),
        None => given.app(io)?,
    };
    // Deleting needs only the rack's name: an app's leftovers can go even if
    // the rack's settings were never saved.
    let rack = s
        .stored_rack(&name, io)?
        .unwrap_or_else(|| Rack::new(name.clone(), RackParams::default(), None));
    let backend = s.backend(io)?.backend.clone();
    let at = now(&given.env);
    let ctx = context(&rack.name, at);
    // The work owns its context (so progress ends with it) and borrows the rest.
    let (rack, target) = (&rack, &app);
    let on = backend.clone();
    let result =
        s.rt.block_on(with_progress(&mut *io.err, ctx, |ctx| async move {
            ops::delete_app(on.as_ref(), rack, target, &ctx).await
        }));
    let persisted = s.persist(io);
    let (p, report) = result.map_err(|e| report_error(io, &e))?;
    persisted?;
    if p.is_empty() {
        return Err(fail(
            io,
            format!("rack {name} has no app {app}: nothing to delete"),
        ));
    }
    let (rack_removed, app_removed): (Vec<_>, Vec<_>) =
        report.applied.iter().partition(|a| a.key.app().is_none());
    let rack_note = match rack_removed.len() {
        0 => "the rack and other apps are untouched".to_string(),
        n => format!(
            "{n} of the rack's too (a load balancer of a router's pool that nothing is routed on any more, with its listeners); other apps are untouched"
        ),
    };
    let _ = writeln!(
        io.out,
        "Deleted app {app} from rack {name}: {} resources removed; {rack_note}.",
        app_removed.len()
    );
    // The load balancers this delete left empty: they drain before they go.
    let rack_now = s.rt.block_on(backend.observe(&name, &Scope::Rack));
    let drained: Vec<String> = rack_now
        .iter()
        .flatten()
        .filter(|o| o.resource.tags.get(TAG_EMPTY_SINCE) == Some(&at.to_string()))
        .filter_map(|o| o.resource.key.subject().shard())
        .map(|s| format!("load balancer {} of the {} router", s.index, s.router))
        .collect();
    if !drained.is_empty() {
        let _ = writeln!(
            io.out,
            "{} routes nothing now: it drains for {} minutes (a deploy placing on it meanwhile keeps it), then the first deploy or delete removes it.",
            drained.join(", "),
            DRAIN_SECONDS / 60
        );
    }
    Ok(())
}
