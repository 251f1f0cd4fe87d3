//! One file per group of subcommands; each command is a function from its
//! arguments to `Result<(), Exit>`, its output already written.

pub mod apps;
// Day-2 safety: `rack audit`.
pub mod audit;
pub mod ca;
// Public certificates for the external router (issue 12, item 6).
pub mod certificate;
pub mod check;
pub mod deploy;
pub mod rack;
pub mod schema;

use convox_model::params::RackParams;

use crate::Io;

/// `Internal=Yes, InternalOnly=No`: parameters in one line, for notes.
pub fn params_line(p: &RackParams) -> String {
    p.to_map()
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Prints `note: {message}` on stderr.
pub fn note(io: &mut Io<'_>, message: impl std::fmt::Display) {
    let _ = writeln!(io.err, "note: {message}");
}
