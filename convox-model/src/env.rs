//! The environment: what each service (and timer) sees, its app environment and
//! its links resolved.
//!
//! `links: [api]` on `web` gives `web` the variable `API_URL` (a [`LinkVar`]) set to
//! the target's endpoint: `https://api.backend.production.convox` for an internal
//! target, `https://backend-api.{router host}` for an external one. The resolved
//! environment of a service is the app environment per its declarations, then its
//! link variables; a declared variable wins over a link of the same name.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::diag::{Diagnostic, Diagnostics};
use crate::exposure::link_endpoint;
use crate::manifest::{EnvDecl, Manifest, Service};
pub use crate::name::LinkVar;
use crate::name::Name;
use crate::rack::Rack;
use crate::rules::links::{Link, classify};

/// The resolved environment of every service and timer of an app, keys sorted.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ResolvedEnv {
    /// Each service's environment.
    pub services: BTreeMap<Name, BTreeMap<String, String>>,
    /// Each timer's environment: that of the service it runs.
    pub timers: BTreeMap<Name, BTreeMap<String, String>>,
    /// Things that resolved but are probably not what was meant.
    #[serde(skip)]
    pub warnings: Diagnostics,
}

impl ResolvedEnv {
    /// The environment of service `name`.
    pub fn service(&self, name: &str) -> Option<&BTreeMap<String, String>> {
        self.services
            .iter()
            .find(|(n, _)| n.as_str() == name)
            .map(|(_, v)| v)
    }

    /// The environment of timer `name`.
    pub fn timer(&self, name: &str) -> Option<&BTreeMap<String, String>> {
        self.timers
            .iter()
            .find(|(n, _)| n.as_str() == name)
            .map(|(_, v)| v)
    }
}

/// The link variables of `service`: each valid link ([`Link::Valid`]) with its
/// URL, in link order. Links that [`crate::rules::links`] refuses are left out.
pub fn link_vars(
    manifest: &Manifest,
    rack: &Rack,
    app: &Name,
    service: &Service,
) -> Vec<(LinkVar, String)> {
    link_vars_in(|n| manifest.service(n.as_str()), rack, app, service)
}

fn link_vars_in<'m>(
    find: impl Fn(&Name) -> Option<&'m Service>,
    rack: &Rack,
    app: &Name,
    service: &Service,
) -> Vec<(LinkVar, String)> {
    classify(service, find)
        .into_iter()
        .filter_map(|link| match link {
            Link::Valid { target, var } => link_endpoint(rack, app, target).map(|e| (var, e.url())),
            _ => None,
        })
        .collect()
}

/// Resolves every service's environment from the app environment `env`: first the
/// declarations (`*` takes all of `env`; `KEY=default` takes `env`'s value if set,
/// else the default; `KEY` requires `env` to set it), then the link variables.
///
/// A key is required only when no declaration gives it a default (v2 wrongly
/// required a key that another entry defaulted). Fails with one `required env`
/// error per service that misses keys.
pub fn resolve(
    manifest: &Manifest,
    rack: &Rack,
    app: &Name,
    env: &BTreeMap<String, String>,
) -> Result<ResolvedEnv, Diagnostics> {
    let mut resolved = ResolvedEnv::default();
    let mut errors = Diagnostics::default();
    let app_env_len = manifest.environment.len();
    // Looked up once per link: an index keeps large apps linear.
    let index: BTreeMap<&Name, &Service> = manifest.services.iter().map(|s| (&s.name, s)).collect();
    for s in &manifest.services {
        let mut vars: BTreeMap<String, String> = BTreeMap::new();
        // Per key: the default a later declaration gives wins over an earlier one,
        // and any default satisfies a requirement.
        let mut defaults: BTreeMap<&str, &str> = BTreeMap::new();
        let mut required: BTreeMap<&str, usize> = BTreeMap::new();
        let mut all = false;
        for (i, d) in s.environment.iter().enumerate() {
            match d {
                EnvDecl::All => all = true,
                EnvDecl::Default { key, value } => {
                    defaults.insert(key, value);
                }
                EnvDecl::Required { key } => {
                    required.entry(key).or_insert(i);
                }
            }
        }
        if all {
            vars.extend(env.iter().map(|(k, v)| (k.clone(), v.clone())));
        }
        for (k, v) in &defaults {
            let value = env.get(*k).map_or(*v, String::as_str);
            vars.insert(k.to_string(), value.to_string());
        }
        let mut missing: Vec<(&str, usize)> = Vec::new();
        for (k, i) in &required {
            match env.get(*k) {
                Some(v) => {
                    vars.insert(k.to_string(), v.clone());
                }
                None if defaults.contains_key(k) => {}
                None => missing.push((k, *i)),
            }
        }
        if !missing.is_empty() {
            // Point at the first missing declaration, app-level or the service's own.
            let first = missing.iter().map(|(_, i)| *i).min().unwrap_or(0);
            let path = if first < app_env_len {
                format!("environment[{first}]")
            } else {
                format!("services.{}.environment[{}]", s.name, first - app_env_len)
            };
            let keys: Vec<&str> = missing.iter().map(|(k, _)| *k).collect();
            let hint = keys
                .iter()
                .map(|k| format!("--env {k}=..."))
                .collect::<Vec<_>>()
                .join(" ");
            let mut d = Diagnostic::error(
                path,
                format!("required env: {} (service {})", keys.join(", "), s.name),
            )
            .with_hint(format!("set them in the app environment: {hint}"));
            d.location = manifest.source.locate(&d.path);
            errors.push(d);
        }
        for (var, url) in link_vars_in(|n| index.get(n).copied(), rack, app, s) {
            if vars.contains_key(var.as_str()) {
                // A declared key has its own warning from validation; one that only
                // `*` brought in is news here.
                let declared =
                    defaults.contains_key(var.as_str()) || required.contains_key(var.as_str());
                if !declared {
                    let mut d = Diagnostic::warning(
                        format!("services.{}.links", s.name),
                        format!(
                            "{var} is set in the app environment, which wins over the link's {url}"
                        ),
                    )
                    .with_hint(format!(
                        "unset {var} in the app environment to use the link"
                    ));
                    d.location = manifest.source.locate(&d.path);
                    resolved.warnings.push(d);
                }
                continue;
            }
            vars.insert(var.to_string(), url);
        }
        resolved.services.insert(s.name.clone(), vars);
    }
    for t in &manifest.timers {
        if let Some(vars) = resolved.services.get(&t.service) {
            resolved.timers.insert(t.name.clone(), vars.clone());
        }
    }
    if errors.is_empty() {
        Ok(resolved)
    } else {
        Err(errors)
    }
}
