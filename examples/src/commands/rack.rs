//! `rack params` and `rack params set`.

use std::sync::Arc;

use convox_model::ops;
use convox_model::params::RackParams;

use super::certificate::print_waiting;
use super::note;
use crate::Io;
use crate::cli::SetParamsArgs;
use crate::exit::{Exit, report_error};
use crate::input::Given;
use crate::progress::{context, now, with_progress};
use crate::session::Session;

/// `convox rack params -r R`: the stored parameters, or the defaults, noted.
pub fn params(given: &Given, s: &mut Session, io: &mut Io<'_>) -> Result<(), Exit> {
    let rack = given.rack(io)?;
    let params = match s.stored_rack(&rack, io)? {
        Some(r) => r.params,
        None => {
            note(
                io,
                format!(
                    "rack {rack} has not been set up yet; these are the defaults (convox rack params set K=V --rack {rack})"
                ),
            );
            RackParams::default()
        }
    };
    let _ = write!(io.out, "{params}");
    Ok(())
}

/// `convox rack params set K=V… -r R`: saves them and reconciles the rack.
pub fn set_params(
    a: &SetParamsArgs,
    given: &Given,
    s: &mut Session,
    io: &mut Io<'_>,
) -> Result<(), Exit> {
    let name = given.rack(io)?;
    let (rack, _) = s.rack(&name, &a.net, io)?;
    let assignments: Vec<&str> = a.assignments.iter().map(String::as_str).collect();
    // `--external-certificate ARN`, or `none` for a certificate the rack requests.
    let external = a
        .external_certificate
        .as_deref()
        .map(|arn| (arn != "none").then_some(arn));
    // The same check set_rack_params makes first, made here before a
    // certificate authority is generated for a command that cannot succeed.
    rack.params
        .with_assignments(assignments.iter().copied())
        .map_err(|e| report_error(io, &e))?;
    let now = now();
    let ca = s.authority(&rack.name, now, io)?;
    let backend = s.backend(io)?.backend.clone();
    let ctx = context(&rack.name, now).with_issuer(Arc::new(ca));
    let result =
        s.rt.block_on(with_progress(&mut *io.err, ctx, |ctx| async move {
            ops::set_rack_params_with(backend.as_ref(), &rack, &assignments, external, &ctx).await
        }));
    let persisted = s.persist(io);
    let change = result.map_err(|e| report_error(io, &e))?;
    persisted?;
    let c = change.plan.counts();
    if change.plan.is_empty() {
        let _ = writeln!(
            io.out,
            "Rack {}: parameters saved; its resources were already up to date.",
            change.rack.name
        );
    } else {
        let _ = writeln!(
            io.out,
            "Rack {}: parameters saved; {} created, {} updated, {} replaced, {} deleted.",
            change.rack.name, c.create, c.update, c.replace, c.delete
        );
    }
    let _ = write!(io.out, "{}", change.rack.params);
    print_waiting(io, &change.external_certificate, &[]);
    Ok(())
}
