//! The rules of convox.yml (SPEC §4), one file per rule, and the entry that runs
//! the ones a manifest follows on its own.
//!
//! | rule | file |
//! |---|---|
//! | names are DNS labels | [`crate::name::Name`], read by [`crate::manifest::read()`] |
//! | duplicate service, timer and resource names | [`names`] |
//! | port, scale, deployment, health and drain ranges (AWS's own bounds) | [`ranges`] |
//! | links: target exists, has a port, is not the service itself, one variable once, declared variable wins | [`links`] |
//! | timers name an existing service; services name existing resources | [`references`] |
//! | rack: `Internal=Yes` for internal services, `InternalOnly` refuses external ones | [`rack`] |
//! | every hostname fits DNS (labels ≤ 63, names ≤ 253) and an ALB host-header condition (≤ 128) | [`hostnames`] |
//! | `required env` per service | [`crate::env::resolve`], where the app environment is known |
//!
//! Every rule adds to one [`Diagnostics`]; none stops at the first problem. Each
//! diagnostic is placed through the manifest's [`SourceMap`](crate::manifest::SourceMap).
//! [`crate::check::check`] runs them all.
//!
//! The directory is called `rules` rather than `validate` because it holds the
//! rules that need a rack ([`rack`]) or an app name ([`hostnames`]) as well as
//! the ones a manifest follows on its own ([`validate`]).

use std::collections::BTreeMap;

use crate::diag::{Diagnostic, Diagnostics};
use crate::manifest::{Manifest, Service};
use crate::name::Name;

pub mod hostnames;
pub mod links;
pub mod names;
pub mod rack;
pub mod ranges;
pub mod references;

/// The rules a manifest follows on its own: unique names, ranges, links, timers
/// and resources. [`crate::check::parse`] runs them after reading.
pub fn validate(manifest: &Manifest) -> Diagnostics {
    let mut out = Out::new(manifest);
    names::check(&mut out);
    // Looked up once per link: an index keeps large apps linear.
    let services: BTreeMap<&Name, &Service> =
        manifest.services.iter().map(|s| (&s.name, s)).collect();
    for s in &manifest.services {
        ranges::check(&mut out, s);
        links::check(&mut out, s, &services);
    }
    references::check(&mut out, &services);
    out.diags
}

/// Diagnostics about one manifest, placed through its source map.
pub(crate) struct Out<'m> {
    pub manifest: &'m Manifest,
    pub diags: Diagnostics,
}

impl<'m> Out<'m> {
    pub(crate) fn new(manifest: &'m Manifest) -> Self {
        Out {
            manifest,
            diags: Diagnostics::default(),
        }
    }

    pub(crate) fn error(&mut self, path: String, message: String, hint: Option<String>) {
        let mut d = Diagnostic::error(path, message);
        d.location = self.manifest.source.locate(&d.path);
        d.hint = hint;
        self.diags.push(d);
    }

    pub(crate) fn warning(&mut self, path: String, message: String, hint: Option<String>) {
        let mut d = Diagnostic::warning(path, message);
        d.location = self.manifest.source.locate(&d.path);
        d.hint = hint;
        self.diags.push(d);
    }
}

/// The path of `service`'s `key`: `services.web.port`.
pub(crate) fn spath(service: &Name, key: &str) -> String {
    format!("services.{service}.{key}")
}
