//! The rack rules (SPEC §4), for every service with or without a port:
//!
//! - `internal` (or `internalAndExternal`) needs `Internal=Yes`;
//! - on an `InternalOnly` rack every service must be `internal`;
//! - `internalAndExternal` cannot be served on an `InternalOnly` rack, which has no
//!   external router (v2 only failed deep inside CloudFormation).
//!
//! [`check_service`] is the rule for one service, for any caller that has a
//! service and a rack's parameters; [`check`] runs it over a manifest.

use super::spath;
use crate::diag::{Diagnostic, Diagnostics};
use crate::manifest::{Exposure, Manifest, Service, SourceMap};
use crate::params::RackParams;

/// The rack rules over every service of `manifest`.
pub fn check(manifest: &Manifest, params: &RackParams) -> Diagnostics {
    Diagnostics(
        manifest
            .services
            .iter()
            .filter_map(|s| check_service(params, s, &manifest.source))
            .collect(),
    )
}

/// Whether a rack with `params` can serve `service`; the error says why not and
/// names the command that fixes it. `source` places it on the key that asked for
/// the exposure (pass an empty [`SourceMap`] for a service built in code).
pub fn check_service(
    params: &RackParams,
    service: &Service,
    source: &SourceMap,
) -> Option<Diagnostic> {
    let n = &service.name;
    let exposure = service.exposure;
    let (message, hint) = if exposure.is_internal() && !params.internal() {
        let what = exposure.key().unwrap_or("internal");
        (
            format!("service {n} is {what}, but the rack does not support internal services"),
            "enable the internal router: convox rack params set Internal=Yes".to_string(),
        )
    } else if params.internal_only() && exposure == Exposure::InternalAndExternal {
        (
            format!(
                "service {n} is internalAndExternal, but the rack only supports internal services: it has no external router"
            ),
            "write internal: true instead, or convox rack params set InternalOnly=No".to_string(),
        )
    } else if params.internal_only() && exposure == Exposure::External {
        (
            format!("service {n} is not internal, but the rack only supports internal services"),
            format!("mark {n} internal: true, or convox rack params set InternalOnly=No"),
        )
    } else {
        return None;
    };
    // Point at the key that asked for it, or at the service when nothing did.
    let written = |key: &str| source.get(&spath(n, key)).map(|_| spath(n, key));
    let path = written("internalAndExternal")
        .filter(|_| exposure.is_internal_and_external())
        .or_else(|| written("internal"))
        .or_else(|| written("internalAndExternal"))
        .unwrap_or_else(|| format!("services.{n}"));
    let location = source.locate(&path);
    Some(
        Diagnostic::error(path, message)
            .at(location)
            .with_hint(hint),
    )
}
