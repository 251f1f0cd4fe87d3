//! `check`, `manifest`, `env` and `endpoints`: what a convox.yml means, offline
//! or against the rack as stored.

use convox_model::check::parse;
use convox_model::inventory::is_deployed;
use convox_model::name::Name;
use convox_model::params::RackParams;
use convox_model::rack::Rack;
use convox_model::resource::Scope;

use super::Cx;
use super::{note, params_line};
use crate::Io;
use crate::cli::{CheckArgs, EndpointsArgs, EnvArgs, Format, ManifestArgs, Offline};
use crate::exit::{EXIT_INVALID, Exit, report_error, usage};
use crate::input::{Given, checked_on, env_map, offline_rack, read_manifest};
use crate::output::print_diagnostics;
use crate::session::Session;

/// `convox check`: always offline, against the rack `--param` describes.
pub fn check(a: &CheckArgs, given: &Given, io: &mut Io<'_>) -> Result<(), Exit> {
    let rack = given.rack(io)?;
    let app = given.app(io)?;
    let rack = offline_rack(&rack, &a.offline, io)?;
    let m = given.manifest(a.file.named());
    let c = checked_on(&m, &rack, &app, &a.offline.env, a.format, io)?;
    if a.format == Format::Text {
        let _ = writeln!(
            io.out,
            "{}: valid: {} services, {} timers, {} endpoints, {} warnings",
            m.shown,
            c.manifest.services.len(),
            c.manifest.timers.len(),
            c.endpoints.len(),
            c.warnings.len()
        );
    }
    Ok(())
}

/// `convox manifest`.
pub fn manifest(a: &ManifestArgs, given: &Given, io: &mut Io<'_>) -> Result<(), Exit> {
    let m = given.manifest(a.file.named());
    let text = read_manifest(&m, Format::Text, io)?;
    let p = parse(&text, &env_map(&a.env)).map_err(|d| {
        print_diagnostics(&m.shown, &d, Format::Text, io);
        Exit(EXIT_INVALID)
    })?;
    print_diagnostics(&m.shown, &p.warnings, Format::Text, io);
    if a.json {
        let s = serde_json::to_string_pretty(&p.manifest).map_err(|e| report_error(io, &e))?;
        let _ = writeln!(io.out, "{s}");
    } else {
        let _ = write!(io.out, "{}", p.manifest.to_yaml());
    }
    Ok(())
}

/// Where the rack a command checks against came from.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Source {
    /// `--param`: offline, as asked.
    Params,
    /// The backend's stored rack.
    Stored,
    /// No rack is stored: offline, with the default parameters.
    NotStored,
}

/// The rack `env` and `endpoints` check against: offline with `--param`,
/// otherwise the rack as stored, or (none stored) offline with the defaults.
/// Says on stderr which, unless `--param` asked for it.
fn rack_to_read(
    name: &Name,
    o: &Offline,
    s: &mut Session,
    io: &mut Io<'_>,
) -> Result<(Rack, Source), Exit> {
    if !o.params.is_empty() {
        if s.explicit_backend() {
            return Err(usage(
                io,
                "--param is for offline use; with --state or --backend aws the rack's stored parameters apply",
            ));
        }
        return Ok((offline_rack(name, o, io)?, Source::Params));
    }
    match s.stored_rack(name, io)? {
        Some(rack) => {
            if let Some(h) = o.router_host.as_ref().filter(|h| **h != rack.router_host) {
                note(
                    io,
                    format!(
                        "rack {} uses router host {}, not {h}",
                        rack.name, rack.router_host
                    ),
                );
            }
            note(
                io,
                format!(
                    "rack {} as stored ({})",
                    rack.name,
                    params_line(&rack.params)
                ),
            );
            Ok((rack, Source::Stored))
        }
        None => {
            note(
                io,
                format!(
                    "rack {name} has not been set up yet; checked offline with the default parameters ({}; --param K=V to choose others)",
                    params_line(&RackParams::default())
                ),
            );
            let rack = Rack::offline(name.clone(), RackParams::default(), o.router_host.clone());
            Ok((rack, Source::NotStored))
        }
    }
}

/// `convox env [FILE] SERVICE`.
pub fn env(a: &EnvArgs, Cx { given, s, io }: Cx<'_, '_>) -> Result<(), Exit> {
    let (file, service) = match a.args.as_slice() {
        [service] => (a.manifest.clone(), service),
        [file, service] if a.manifest.is_none() => (Some(file.into()), service),
        _ => return Err(usage(io, "give the convox.yml once: FILE or -m FILE")),
    };
    let (name, app) = given.rack_and_app(io)?;
    let m = given.manifest(file.as_ref());
    let (rack, _) = rack_to_read(&name, &a.offline, s, io)?;
    let c = checked_on(&m, &rack, &app, &a.offline.env, Format::Text, io)?;
    let Some(vars) = c.env.service(service).or_else(|| c.env.timer(service)) else {
        let names: Vec<&str> = c
            .manifest
            .services
            .iter()
            .map(|s| s.name.as_str())
            .collect();
        let _ = writeln!(
            io.err,
            "convox: {} has no service or timer {service}; services: {}",
            m.shown,
            names.join(", ")
        );
        return Err(Exit(EXIT_INVALID));
    };
    for (k, v) in vars {
        let _ = writeln!(io.out, "{k}={v}");
    }
    Ok(())
}

/// `convox endpoints`: each endpoint; read from a backend, whether it is deployed.
pub fn endpoints(a: &EndpointsArgs, Cx { given, s, io }: Cx<'_, '_>) -> Result<(), Exit> {
    let (name, app) = given.rack_and_app(io)?;
    let m = given.manifest(a.file.named());
    let (rack, source) = rack_to_read(&name, &a.offline, s, io)?;
    let c = checked_on(&m, &rack, &app, &a.offline.env, Format::Text, io)?;
    if source == Source::Params {
        for e in &c.endpoints {
            let _ = writeln!(io.out, "{} {} {}", e.service, e.router, e.url());
        }
        return Ok(());
    }
    let observed = s.observe(&rack.name, &Scope::App(app.clone()), io)?;
    for e in &c.endpoints {
        let state = if is_deployed(&observed, &app, e) {
            "deployed"
        } else {
            "not deployed"
        };
        let _ = writeln!(io.out, "{} {} {} {state}", e.service, e.router, e.url());
    }
    Ok(())
}
