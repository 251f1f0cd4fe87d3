//! What a command reads besides the backend: the rack and app it names (flag or
//! environment), its convox.yml (named or `./convox.yml`), and the check of that
//! file against a rack.

use std::collections::BTreeMap;
use std::path::PathBuf;

use convox_model::check::{Checked, check};
use convox_model::diag::{Diagnostic, Diagnostics, Location};
use convox_model::name::Name;
use convox_model::params::RackParams;
use convox_model::rack::Rack;

use crate::Environment;
use crate::Io;
use crate::cli::{Format, Offline, parse_name};
use crate::exit::{EXIT_INVALID, EXIT_USAGE, Exit, usage};
use crate::output::print_diagnostics;

/// The manifest read when no file is named.
pub const DEFAULT_MANIFEST: &str = "convox.yml";

/// What the command line and the environment name: the rack, the app, and where
/// relative paths start.
pub struct Given {
    /// `-r/--rack`.
    pub rack: Option<Name>,
    /// `-a/--app`.
    pub app: Option<Name>,
    /// The working directory and `CONVOX_*` variables.
    pub env: Environment,
}

impl Given {
    /// The rack: `-r`, else `CONVOX_RACK`; a usage error when neither is given.
    pub fn rack(&self, io: &mut Io<'_>) -> Result<Name, Exit> {
        self.name(self.rack.as_ref(), "rack", "-r", "CONVOX_RACK", io)
    }

    /// The app: `-a`, else `CONVOX_APP`; a usage error when neither is given.
    pub fn app(&self, io: &mut Io<'_>) -> Result<Name, Exit> {
        self.name(self.app.as_ref(), "app", "-a", "CONVOX_APP", io)
    }

    /// The rack and the app, in that order: each a usage error when missing.
    pub fn rack_and_app(&self, io: &mut Io<'_>) -> Result<(Name, Name), Exit> {
        Ok((self.rack(io)?, self.app(io)?))
    }

    fn name(
        &self,
        flag: Option<&Name>,
        what: &str,
        short: &str,
        var: &str,
        io: &mut Io<'_>,
    ) -> Result<Name, Exit> {
        if let Some(n) = flag {
            return Ok(n.clone());
        }
        match self.env.var(var) {
            Some(v) if !v.is_empty() => {
                parse_name(v).map_err(|e| usage(io, format!("{var}={v:?}: {e}")))
            }
            _ => Err(usage(
                io,
                format!(
                    "the {what} is required: {short} {}, --{what} {}, or {var}",
                    what.to_uppercase(),
                    what.to_uppercase()
                ),
            )),
        }
    }

    /// The convox.yml: the one named, else `convox.yml` in the working directory.
    pub fn manifest(&self, named: Option<&PathBuf>) -> ManifestPath {
        let shown = named
            .cloned()
            .unwrap_or_else(|| PathBuf::from(DEFAULT_MANIFEST));
        ManifestPath {
            path: self.env.path(&shown),
            shown: shown.display().to_string(),
        }
    }
}

/// A convox.yml: where it is read from, and how diagnostics name it (as given).
pub struct ManifestPath {
    /// The file, from the working directory.
    pub path: PathBuf,
    /// Its name as the user gave it.
    pub shown: String,
}

/// The file's text. An unreadable file is a usage error; text that is not UTF-8
/// is invalid input, with a diagnostic at the first bad byte.
pub fn read_manifest(m: &ManifestPath, format: Format, io: &mut Io<'_>) -> Result<String, Exit> {
    let bytes = std::fs::read(&m.path).map_err(|e| {
        let _ = writeln!(io.err, "convox: cannot read {}: {e}", m.shown);
        Exit(EXIT_USAGE)
    })?;
    String::from_utf8(bytes).map_err(|e| {
        let d = Diagnostics(vec![not_utf8(e.as_bytes(), e.utf8_error().valid_up_to())]);
        print_diagnostics(&m.shown, &d, format, io);
        Exit(EXIT_INVALID)
    })
}

/// The diagnostic for text whose first `valid` bytes are UTF-8 and the next not.
fn not_utf8(bytes: &[u8], valid: usize) -> Diagnostic {
    let prefix = String::from_utf8_lossy(&bytes[..valid]);
    let line = prefix.matches('\n').count() + 1;
    let column = prefix.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    let byte = bytes.get(valid).copied().unwrap_or(0);
    Diagnostic::error(
        "",
        format!("the file is not UTF-8 text: byte 0x{byte:02x} at line {line}, column {column}"),
    )
    .with_hint("save convox.yml as UTF-8 (iconv -t UTF-8 converts it)")
    .at(Some(Location { line, column }))
}

/// `--env K=V` pairs as a map.
pub fn env_map(pairs: &[(String, String)]) -> BTreeMap<String, String> {
    pairs.iter().cloned().collect()
}

/// The rack `--param` and `--router-host` imagine, for an offline check.
pub fn offline_rack(rack: &Name, o: &Offline, io: &mut Io<'_>) -> Result<Rack, Exit> {
    let params = RackParams::default()
        .with_assignments(o.params.iter().map(String::as_str))
        .map_err(|e| usage(io, format!("--param: {e}")))?;
    Ok(Rack::offline(rack.clone(), params, o.router_host.clone()))
}

/// Reads the file and checks it as `app` on `rack`; diagnostics printed in
/// `format`.
pub fn checked_on(
    m: &ManifestPath,
    rack: &Rack,
    app: &Name,
    env: &[(String, String)],
    format: Format,
    io: &mut Io<'_>,
) -> Result<Checked, Exit> {
    let text = read_manifest(m, format, io)?;
    match check(&text, rack, app, &env_map(env)) {
        Ok(c) => {
            print_diagnostics(&m.shown, &c.warnings, format, io);
            Ok(c)
        }
        Err(d) => {
            print_diagnostics(&m.shown, &d, format, io);
            Err(Exit(EXIT_INVALID))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_byte_is_placed_by_line_and_character() {
        let d = not_utf8(b"services:\n  w\xc3\xa9b\xff", 16);
        assert_eq!(d.location, Some(Location { line: 2, column: 6 }));
        assert!(d.message.contains("byte 0xff"), "{}", d.message);
    }
}
