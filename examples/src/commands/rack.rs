//! `rack params` and `rack params set`.

use std::sync::Arc;

use convox_model::ops;
use convox_model::params::RackParams;
use convox_model::plan::Plan;
use convox_model::rack::Rack;
use convox_model::renew::Renewal;
use convox_model::tls::CertificateAuthority;

use super::Cx;
use super::certificate::print_waiting;
use super::note;
use crate::Io;
use crate::cli::{NetworkArgs, RackPlanArgs, SetParamsArgs};
use crate::exit::{Exit, fail, report_error};
use crate::progress::{context, now, with_progress};
use crate::session::Session;

/// `convox rack params -r R`: the stored parameters, or the defaults, noted.
pub fn params(Cx { given, s, io }: Cx<'_, '_>) -> Result<(), Exit> {
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

/// `convox rack plan -r R [--json]`: the rack's own plan, drift included.
pub fn plan(a: &RackPlanArgs, Cx { given, s, io }: Cx<'_, '_>) -> Result<(), Exit> {
    let name = given.rack(io)?;
    let Some(mut rack) = s.stored_rack(&name, io)? else {
        return Err(fail(
            io,
            format!(
                "rack {name} has not been set up yet; create it with convox rack params set K=V --rack {name}"
            ),
        ));
    };
    let now = now(&given.env);
    let (p, _) = plan_rack(s, &mut rack, true, &[], None, now, io)?;
    if a.json {
        let _ = writeln!(io.out, "{}", p.to_json());
    } else if p.is_empty() {
        let _ = writeln!(io.out, "No changes. Rack {} is up to date.", rack.name);
    } else {
        let _ = write!(io.out, "{p}");
    }
    Ok(())
}

/// The rack's certificate authority (generated for a rack not `stored` yet,
/// as [`Session::authority`] says) and the rack's plan against what the
/// session's backend holds, with these parameter assignments and subnets and
/// the certificates due at `now` renewed.
fn plan_rack(
    s: &mut Session,
    rack: &mut Rack,
    stored: bool,
    assignments: &[&str],
    subnets: Option<&[String]>,
    now: i64,
    io: &mut Io<'_>,
) -> Result<(Plan, CertificateAuthority), Exit> {
    let ca = s.authority(rack, stored, now, io)?;
    let backend = s.backend(io)?.backend.clone();
    let p =
        s.rt.block_on(ops::plan_rack_at(
            backend.as_ref(),
            rack,
            assignments,
            subnets,
            ca.fingerprint(),
            Some(Renewal::at(now)),
        ))
        .map_err(|e| report_error(io, &e))?;
    Ok((p, ca))
}

/// `convox rack params set K=V… [--subnets a,b,c] [--yes] -r R`: shows the
/// rack's plan, refuses one that replaces a router without `--yes`, then saves
/// the parameters and reconciles the rack.
pub fn set_params(a: &SetParamsArgs, Cx { given, s, io }: Cx<'_, '_>) -> Result<(), Exit> {
    let name = given.rack(io)?;
    let exists = s.stored_rack(&name, io)?.is_some();
    // On a rack that exists, --subnets changes its routers' subnets in place.
    let net = NetworkArgs {
        vpc: a.net.vpc.clone(),
        subnets: if exists { None } else { a.net.subnets.clone() },
        router_host: a.net.router_host.clone(),
        region: a.net.region.clone(),
    };
    let subnets = if exists { a.net.subnets.clone() } else { None };
    let (mut rack, stored) = s.rack(&name, &net, io)?;
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
    let now = now(&given.env);
    // The plan first, as deploy shows an app's.
    let (p, ca) = plan_rack(
        s,
        &mut rack,
        stored,
        &assignments,
        subnets.as_deref(),
        now,
        io,
    )?;
    let backend = s.backend(io)?.backend.clone();
    if !p.is_empty() {
        let _ = writeln!(io.out, "{p}");
    }
    let routers = ops::replaced_routers(&p);
    if !routers.is_empty() && !a.yes {
        return Err(report_error(
            io,
            &ops::OpsError::ReplacesRouters { routers },
        ));
    }
    let opts = ops::RackApplyOptions {
        subnets,
        planned: Some(p.fingerprint.clone()),
        replace_routers: a.yes,
        external_certificate: external.map(|arn| arn.map(str::to_string)),
    };
    let ctx = context(&rack.name, now).with_issuer(Arc::new(ca));
    let result =
        s.rt.block_on(with_progress(&mut *io.err, ctx, |ctx| async move {
            ops::set_rack_params_with(backend.as_ref(), &rack, &assignments, &ctx, &opts).await
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
