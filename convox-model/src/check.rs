//! The entries that run the line from text to a checked app, every diagnostic
//! of every phase in one report:
//!
//! - [`parse`]: read ([`crate::manifest::read()`]) and the rules a manifest follows
//!   on its own ([`crate::rules::validate`]);
//! - [`check`]: that, then the rack rules ([`crate::rules::rack`]), hostnames
//!   ([`crate::rules::hostnames`]) and the resolved environment ([`crate::env`]).

use std::collections::BTreeMap;

use serde::Serialize;

use crate::diag::Diagnostics;
use crate::env::{ResolvedEnv, resolve};
use crate::exposure::{Endpoint, endpoints};
use crate::manifest::{Lenient, Manifest, Parsed, read};
use crate::name::Name;
use crate::rack::Rack;
use crate::rules::{hostnames, rack as rack_rules, validate};

/// Reads `text` as `convox.yml`, interpolating `${VAR}` from `env` first, and
/// applies the rules a manifest follows on its own ([`validate`]).
///
/// Returns the validated manifest and its warnings, or every diagnostic (errors and
/// warnings, in source order) when there is at least one error.
pub fn parse(text: &str, env: &BTreeMap<String, String>) -> Result<Parsed, Diagnostics> {
    let Lenient {
        manifest,
        mut diagnostics,
    } = parse_lenient(text, env);
    diagnostics.sort();
    match manifest {
        Some(manifest) if !diagnostics.has_errors() => Ok(Parsed {
            manifest,
            warnings: diagnostics,
        }),
        _ => Err(diagnostics),
    }
}

/// Like [`parse`], but returns the manifest even when it has errors, so that later
/// phases (the rack rules, links) can add their diagnostics to the same report.
pub fn parse_lenient(text: &str, env: &BTreeMap<String, String>) -> Lenient {
    let mut read = read(text, env);
    if let Some(m) = &read.manifest {
        read.diagnostics.extend(validate(m));
    }
    read
}

/// An app's manifest that passed every check.
#[derive(Clone, Debug, Serialize)]
pub struct Checked {
    /// The validated manifest.
    pub manifest: Manifest,
    /// Warnings of every phase, sorted by place.
    pub warnings: Diagnostics,
    /// Each service's and timer's environment.
    pub env: ResolvedEnv,
    /// Every endpoint of the app, in manifest order.
    pub endpoints: Vec<Endpoint>,
}

/// Checks `text` as the `convox.yml` of `app` on `rack`, with app environment
/// `env`: everything that can be known without touching the cloud.
///
/// On failure, returns every diagnostic (errors and warnings) of every phase,
/// sorted by place.
///
/// ```
/// use std::collections::BTreeMap;
/// use convox_model::{check::check, name::Name, params::RackParams, rack::Rack};
///
/// let yml = "services:\n  web:\n    port: 3000\n    links: [api]\n  api:\n    port: 4000\n    internal: true\n";
/// let params = RackParams::new(true, false).unwrap();
/// let rack = Rack::offline(Name::new("production").unwrap(), params, None);
/// let app = Name::new("backend").unwrap();
/// let checked = check(yml, &rack, &app, &BTreeMap::new()).unwrap();
/// assert_eq!(
///     checked.env.service("web").unwrap()["API_URL"],
///     "https://api.backend.production.convox"
/// );
/// ```
pub fn check(
    text: &str,
    rack: &Rack,
    app: &Name,
    env: &BTreeMap<String, String>,
) -> Result<Checked, Diagnostics> {
    let read = parse_lenient(text, env);
    let mut diags = read.diagnostics;
    let Some(manifest) = read.manifest else {
        diags.sort();
        return Err(diags);
    };
    diags.extend(rack_rules::check(&manifest, &rack.params));
    diags.extend(hostnames::check(&manifest, rack, app));
    let resolved = match resolve(&manifest, rack, app, env) {
        Ok(r) => Some(r),
        Err(errors) => {
            diags.extend(errors);
            None
        }
    };
    if let Some(r) = &resolved {
        diags.extend(r.warnings.0.iter().cloned());
    }
    diags.sort();
    match resolved {
        Some(env) if !diags.has_errors() => Ok(Checked {
            endpoints: endpoints(rack, app, &manifest),
            manifest,
            warnings: diags,
            env,
        }),
        _ => Err(diags),
    }
}
