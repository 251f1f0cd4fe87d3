//! `plan` and `deploy`: an app's convox.yml against the rack as stored (or the
//! rack a first deploy creates).

use std::sync::Arc;

use convox_model::backend::AppObservation;
use convox_model::check::Checked;
use convox_model::exposure::{Endpoint, Router};
use convox_model::manifest::Manifest;
use convox_model::name::Name;
use convox_model::ops;
use convox_model::plan::Plan;
use convox_model::public_cert::ExternalCertificate;
use convox_model::rack::Rack;
use convox_model::renew::Renewal;
use convox_model::tls::CertificateAuthority;

use super::Cx;
use super::certificate::print_waiting;
use super::{note, params_line};
use crate::Io;
use crate::cli::{AppTarget, DeployArgs, Format, ManifestFile, NetworkArgs, PlanArgs};
use crate::exit::{Exit, report_error};
use crate::input::{Given, checked_on};
use crate::output::print_endpoints_and_links;
use crate::progress::{bar_for, context, now, with_progress_bar};
use crate::session::Session;

/// What a plan or deploy works on: the rack, whether it is stored, the app,
/// the manifest checked against them, and what the backend holds of them.
struct Target {
    rack: Rack,
    stored: bool,
    app: Name,
    checked: Checked,
    seen: AppObservation,
}

/// The rack and app a plan or deploy works on, read once
/// ([`Session::observe_app`]: the stored rack with the rest), and the manifest
/// checked against them; notes a rack that a deploy would create.
fn target(
    file: &ManifestFile,
    env: &[(String, String)],
    net: &NetworkArgs,
    given: &Given,
    s: &mut Session,
    io: &mut Io<'_>,
) -> Result<Target, Exit> {
    let (name, app) = given.rack_and_app(io)?;
    let m = given.manifest(file.named());
    let seen = s.observe_app(&name, &app, io)?;
    let (rack, stored) = s.rack_as_stored(&name, net, seen.stored.clone(), io)?;
    if !stored {
        note(
            io,
            format!(
                "rack {name} has not been set up yet; a deploy creates it with {} (convox rack params set K=V -r {name} first to choose others)",
                params_line(&rack.params)
            ),
        );
    }
    let checked = checked_on(&m, &rack, &app, env, Format::Text, io)?;
    Ok(Target {
        rack,
        stored,
        app,
        checked,
        seen,
    })
}

/// A plan as `convox plan` and `convox deploy` show it: the target, the
/// rack's authority, the plan at `now` and the external certificate.
struct Shown {
    rack: Rack,
    app: Name,
    checked: Checked,
    ca: CertificateAuthority,
    plan: Plan,
    external: ExternalCertificate,
}

/// Reads the target once and plans from it at `now`.
fn shown(
    AppTarget { file, env, net }: &AppTarget,
    now: i64,
    given: &Given,
    s: &mut Session,
    io: &mut Io<'_>,
) -> Result<Shown, Exit> {
    let Target {
        mut rack,
        stored,
        app,
        checked,
        seen,
    } = target(file, env, net, given, s, io)?;
    let ca = s.authority(&mut rack, stored, now, io)?;
    let renewal = context(&rack.name, now).renewal();
    let on = Planned {
        rack: &rack,
        app: &app,
        manifest: &checked.manifest,
        seen: &seen,
    };
    let (plan, external) = on.plan(s, ca.fingerprint(), renewal, io)?;
    Ok(Shown {
        rack,
        app,
        checked,
        ca,
        plan,
        external,
    })
}

/// `convox plan`.
pub fn plan(a: &PlanArgs, Cx { given, s, io }: Cx<'_, '_>) -> Result<(), Exit> {
    let Shown {
        app,
        checked: c,
        plan: p,
        external,
        ..
    } = shown(&a.target, now(&given.env), given, s, io)?;
    if a.json {
        let _ = writeln!(io.out, "{}", p.to_json());
        return Ok(());
    } else if p.is_empty() && !needs_request(&external) {
        let _ = writeln!(io.out, "No changes. {app} is up to date.");
    } else {
        let _ = write!(io.out, "{p}");
    }
    print_waiting(io, &external, &waiting(&c.endpoints, &external));
    Ok(())
}

/// What an app is planned from: the rack, the app, its manifest and what the
/// backend holds of them.
struct Planned<'a> {
    rack: &'a Rack,
    app: &'a Name,
    manifest: &'a Manifest,
    seen: &'a AppObservation,
}

impl Planned<'_> {
    /// The app's plan, with the certificates due at `renewal`'s time renewed,
    /// and where the external router's certificate is, from what was read.
    fn plan(
        &self,
        s: &mut Session,
        ca_fingerprint: &str,
        renewal: Renewal,
        io: &mut Io<'_>,
    ) -> Result<(Plan, ExternalCertificate), Exit> {
        let backend = s.backend(io)?.backend.clone();
        let inputs = (
            self.rack,
            self.app,
            self.manifest,
            ca_fingerprint,
            Some(renewal),
        );
        s.rt.block_on(ops::plan_app_observed(backend.as_ref(), inputs, self.seen))
            .map_err(|e| report_error(io, &e))
    }
}

/// Whether a deploy has work even with an empty plan: requesting the external
/// router's certificate.
fn needs_request(external: &ExternalCertificate) -> bool {
    matches!(external, ExternalCertificate::NotRequested { .. })
}

/// The external endpoints that wait for the external router's certificate.
fn waiting(endpoints: &[Endpoint], external: &ExternalCertificate) -> Vec<Endpoint> {
    endpoints
        .iter()
        .filter(|e| e.router == Router::External && external.is_waiting())
        .cloned()
        .collect()
}

/// `convox deploy`: the plan, applied with progress, then endpoints and links.
pub fn deploy(a: &DeployArgs, Cx { given, s, io }: Cx<'_, '_>) -> Result<(), Exit> {
    let now = now(&given.env);
    let Shown {
        rack,
        app,
        checked: c,
        ca,
        plan: p,
        external,
    } = shown(&a.target, now, given, s, io)?;
    let backend = s.backend(io)?.backend.clone();
    let ctx = context(&rack.name, now);
    if p.is_empty() && !needs_request(&external) && !a.json {
        // Nothing to do: no apply at all, so not one mutating call.
        let _ = writeln!(io.out, "No changes. {app} is up to date.");
        print_waiting(io, &external, &waiting(&c.endpoints, &external));
    } else {
        if a.json {
            // stdout carries the report alone; the plan goes with the progress.
            let _ = writeln!(io.err, "{p}");
        } else {
            let _ = writeln!(io.out, "{p}");
        }
        let _ = writeln!(io.err, "Deploying {app} to rack {}", rack.name);
        let ctx = ctx.with_issuer(Arc::new(ca));
        // The work owns its context (so progress ends with it) and borrows the rest.
        let (rack, app, manifest) = (&rack, &app, &c.manifest);
        let bar = bar_for(p.actions.len(), given.env.terminal);
        let result = s.rt.block_on(with_progress_bar(
            &mut *io.err,
            ctx,
            bar,
            |ctx| async move {
                // Apply what was shown, or nothing if the rack changed since.
                ops::deploy_planned(backend.as_ref(), rack, app, manifest, &ctx, &p).await
            },
        ));
        let persisted = s.persist(io);
        let report = result.map_err(|e| report_error(io, &e))?;
        persisted?;
        if a.json {
            // A no-op redeploy applies nothing and still names every route.
            let text = serde_json::to_string_pretty(&report).unwrap_or_else(|_| "{}".into());
            let _ = writeln!(io.out, "{text}");
            return Ok(());
        }
        let applied =
            report.rack.as_ref().map_or(0, |r| r.applied.len()) + report.report.applied.len();
        let _ = writeln!(
            io.out,
            "Deployed {app} to rack {}: {applied} changes applied.",
            rack.name
        );
        print_waiting(io, &report.external_certificate, &report.waiting);
    }
    print_endpoints_and_links(&c, &rack, &app, io);
    Ok(())
}
