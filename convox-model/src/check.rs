//! The whole offline check of an app's `convox.yml` against a rack: parse and
//! validate, the rack rules, hostnames, and the resolved environment, with every
//! diagnostic of every phase in one report.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::diag::Diagnostics;
use crate::exposure::{Endpoint, endpoints};
use crate::links::{ResolvedEnv, resolve};
use crate::manifest::{Manifest, parse_lenient};
use crate::name::Name;
use crate::rack::Rack;
use crate::validate::{check_hostnames, check_rack};

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
    diags.extend(check_rack(&manifest, &rack.params));
    diags.extend(check_hostnames(&manifest, rack, app));
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
