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
use crate::input::Given;
use crate::session::Session;

/// What a command that reaches a backend works with: the rack, app and
/// environment it was given, the session (backend, state, runtime) and where
/// its output goes: one argument for the three, opened in the command's
/// signature (`Cx { given, s, io }: Cx<'_, '_>`).
pub struct Cx<'c, 'io> {
    /// The rack, app and environment the command line gave.
    pub given: &'c Given,
    /// The backend, the state and the runtime.
    pub s: &'c mut Session,
    /// Stdout and stderr.
    pub io: &'c mut Io<'io>,
}

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
