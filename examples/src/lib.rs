//! The `convox` command-line tool over the convox library.
//!
//! Each subcommand is a variant of [`cli::Command`] and one function in
//! `commands`; all output goes to the writers passed to [`run`], so tests call
//! it directly and read what it printed. Exit codes: 0 on success (warnings go
//! to stderr), 1 when the input is invalid or an operation fails (every
//! diagnostic or error on stderr), 2 on a usage error.
//!
//! The rack and app come from `-r/--rack` and `-a/--app`, or `CONVOX_RACK` and
//! `CONVOX_APP`; the convox.yml from FILE, `-m FILE`, or `./convox.yml`.
//! `check` and `manifest` work offline. `env`, `endpoints`, `plan` and `deploy`
//! read the rack as stored when it exists (`env` and `endpoints` check offline
//! with `--param`, or when no rack is stored, and say so); `rack params`,
//! `apps` and `services` read or change the backend: the mock, whose state
//! persists in a file (`--state`, default `.convox/state.json`), or AWS
//! (`--backend aws`, configured from the standard AWS environment). Results go
//! to stdout; progress (one line per finished action), notes and errors to
//! stderr.
//!
//! What every embedding tool would need beyond the command line lives in the
//! library: `convox_model::inventory` (what is deployed, link values as a
//! service sees them, the rack's fixed network, the CA bundle).

pub mod cli;
mod commands;
mod exit;
mod input;
mod output;
mod progress;
mod session;

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

use clap::Parser;

use cli::{
    AppsArgs, AppsCommand, CaArgs, CaCommand, Cli, Command, ParamsCommand, RackArgs, RackCommand,
};
use input::Given;
use session::{Globals, Session};

pub use exit::{EXIT_INVALID, EXIT_OK, EXIT_USAGE};

/// Where output goes.
pub struct Io<'a> {
    /// Results.
    pub out: &'a mut dyn Write,
    /// Diagnostics and errors.
    pub err: &'a mut dyn Write,
}

/// What a run reads besides its arguments: the working directory that relative
/// paths (FILE, `--state`, `./convox.yml`) start from, and the `CONVOX_*`
/// variables. Explicit, so that a test runs the tool in a directory of its own
/// without changing the process's.
#[derive(Clone, Debug, Default)]
pub struct Environment {
    /// The working directory; empty for the process's own.
    pub cwd: PathBuf,
    /// Environment variables (only `CONVOX_APP`, `CONVOX_RACK`, and for the
    /// rack's certificate authority's default place `XDG_CONFIG_HOME` and
    /// `HOME`, are read).
    pub vars: BTreeMap<String, String>,
    // progress bar (issue 11)
    /// Whether stderr is a terminal: a long deploy then shows a progress bar
    /// instead of one line per action.
    pub terminal: bool,
}

impl Environment {
    /// The process's: its working directory and its `CONVOX_*`, `XDG_CONFIG_HOME`
    /// and `HOME` variables.
    pub fn from_process() -> Self {
        let vars = std::env::vars_os()
            .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
            .filter(|(k, _)| k.starts_with("CONVOX_") || k == "XDG_CONFIG_HOME" || k == "HOME")
            .collect();
        Environment {
            cwd: PathBuf::new(),
            vars,
            terminal: std::io::stderr().is_terminal(),
        }
    }

    /// In `cwd`, with no variables.
    pub fn in_dir(cwd: impl Into<PathBuf>) -> Self {
        Environment {
            cwd: cwd.into(),
            vars: BTreeMap::new(),
            terminal: false,
        }
    }

    /// With variable `key` set to `value`.
    pub fn with_var(mut self, key: &str, value: &str) -> Self {
        self.vars.insert(key.to_string(), value.to_string());
        self
    }

    /// A variable, if set.
    pub fn var(&self, key: &str) -> Option<&str> {
        self.vars.get(key).map(String::as_str)
    }

    /// `path` as seen from the working directory.
    pub fn path(&self, path: &Path) -> PathBuf {
        self.cwd.join(path)
    }

    /// The per-user configuration directory: `$XDG_CONFIG_HOME` (when set to an
    /// absolute path, as the XDG spec asks), else `$HOME/.config`.
    pub fn config_home(&self) -> Option<PathBuf> {
        let xdg = self
            .var("XDG_CONFIG_HOME")
            .map(PathBuf::from)
            .filter(|p| p.is_absolute());
        xdg.or_else(|| {
            self.var("HOME")
                .filter(|h| !h.is_empty())
                .map(|h| PathBuf::from(h).join(".config"))
        })
    }
}

/// Runs the command line `args` (the first is the program name) in the
/// process's environment and returns the exit code.
pub fn run<I, T>(args: I, out: &mut dyn Write, err: &mut dyn Write) -> i32
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    run_in(&Environment::from_process(), args, out, err)
}

/// Runs the command line `args` in `env` and returns the exit code.
pub fn run_in<I, T>(env: &Environment, args: I, out: &mut dyn Write, err: &mut dyn Write) -> i32
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            // --help and --version are not errors: clap says where they go.
            let text = e.render().to_string();
            let sink: &mut dyn Write = if e.use_stderr() { err } else { out };
            let _ = sink.write_all(text.as_bytes());
            return e.exit_code();
        }
    };
    let mut io = Io { out, err };
    let globals = Globals {
        kind: cli.backend,
        state: cli.state.as_deref().map(|p| env.path(p)),
        ca: cli.ca.as_deref().map(|p| env.path(p)),
        config_home: env.config_home(),
        cwd: env.cwd.clone(),
        endpoint_url: cli.endpoint_url.clone(),
        region: cli.command.region(),
        show_calls: cli.show_calls,
    };
    let mut s = match Session::new(globals) {
        Ok(s) => s,
        Err(e) => {
            let _ = writeln!(io.err, "error: cannot start the async runtime: {e}");
            return EXIT_INVALID;
        }
    };
    let given = Given {
        rack: cli.rack.clone(),
        app: cli.app.clone(),
        env: env.clone(),
    };
    let result = dispatch(&cli.command, &given, &mut s, &mut io);
    s.print_calls(&mut io);
    let _ = io.out.flush();
    let _ = io.err.flush();
    exit::code(result)
}

fn dispatch(
    command: &Command,
    given: &Given,
    s: &mut Session,
    io: &mut Io<'_>,
) -> Result<(), exit::Exit> {
    use commands::{Cx, apps, check, deploy, rack, schema};
    let cx = Cx { given, s, io };
    match command {
        Command::Check(a) => check::check(a, cx.given, cx.io),
        Command::Manifest(a) => check::manifest(a, cx.given, cx.io),
        Command::Env(a) => check::env(a, cx),
        Command::Endpoints(a) => check::endpoints(a, cx),
        Command::Rack(RackArgs {
            command: RackCommand::Params(p),
        }) => match &p.command {
            Some(ParamsCommand::Set(a)) => rack::set_params(a, cx),
            None => rack::params(cx),
        },
        // Day-2 safety: `rack audit`.
        Command::Rack(RackArgs {
            command: RackCommand::Audit(a),
        }) => commands::audit::rack_audit(a, cx),
        // Day-2 safety (in place).
        Command::Rack(RackArgs {
            command: RackCommand::Plan(a),
        }) => rack::plan(a, cx),
        // The rack's certificate authority.
        Command::Rack(RackArgs {
            command:
                RackCommand::Ca(CaArgs {
                    command: CaCommand::Rotate(a),
                }),
        }) => commands::ca::rotate(a, cx),
        Command::Plan(a) => deploy::plan(a, cx),
        Command::Deploy(a) => deploy::deploy(a, cx),
        Command::Apps(AppsArgs { command: None }) => apps::list(cx),
        Command::Apps(AppsArgs {
            command: Some(AppsCommand::Delete(a)),
        }) => apps::delete(a, cx),
        Command::Services(a) => apps::services(a, cx),
        // schema (issue 11)
        Command::Schema => schema::schema(cx.io),
    }
}

/// Runs the process's command line with the real stdout and stderr.
pub fn main() -> i32 {
    let stdout = std::io::stdout();
    let stderr = std::io::stderr();
    run(std::env::args_os(), &mut stdout.lock(), &mut stderr.lock())
}
