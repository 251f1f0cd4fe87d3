//! The `convox` command-line tool over the convox library.
//!
//! Each subcommand is a variant of [`Command`] and one function; all output goes
//! to the writers passed to [`run`], so tests call it directly and read what it
//! printed. Exit codes: 0 when the input is valid (warnings go to stderr), 1 when
//! it is not (every diagnostic on stderr), 2 on a usage error.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};

use clap::{Args, Parser, Subcommand};
use convox_model::check::{Checked, check};
use convox_model::diag::Diagnostics;
use convox_model::manifest::parse;
use convox_model::name::Name;
use convox_model::params::RackParams;
use convox_model::rack::Rack;

/// Exit code: the input is valid.
pub const EXIT_OK: i32 = 0;
/// Exit code: the input is invalid.
pub const EXIT_INVALID: i32 = 1;
/// Exit code: the command line is wrong (clap's own code for usage errors).
pub const EXIT_USAGE: i32 = 2;

/// The command line.
#[derive(Debug, Parser)]
#[command(
    name = "convox",
    about = "Check a convox.yml against a rack, offline",
    version
)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check a convox.yml against a rack: every problem, with its place and a fix.
    Check(CheckArgs),
    /// Print the normalised manifest (v2's defaults applied).
    Manifest(ManifestArgs),
    /// Print a service's (or timer's) resolved environment, KEY=VALUE sorted by key.
    Env(EnvArgs),
    /// Print every endpoint: SERVICE internal|external https://HOST.
    Endpoints(EndpointsArgs),
}

/// The rack and app a manifest is checked for.
#[derive(Debug, Args)]
pub struct Target {
    /// The rack's name.
    #[arg(long, value_parser = parse_name)]
    pub rack: Name,
    /// The app's name.
    #[arg(long, value_parser = parse_name)]
    pub app: Name,
    /// A rack parameter, as Convox spells it: Internal=Yes, InternalOnly=Yes.
    #[arg(long = "param", value_name = "K=V")]
    pub params: Vec<String>,
    /// A variable of the app environment.
    #[arg(long = "env", value_name = "K=V", value_parser = parse_assignment)]
    pub env: Vec<(String, String)>,
    /// The host external endpoints live under [default: {rack}.example.com].
    #[arg(long)]
    pub router_host: Option<String>,
}

/// `convox check`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// The convox.yml to read.
    pub file: PathBuf,
    /// Rack and app.
    #[command(flatten)]
    pub target: Target,
}

/// `convox manifest`.
#[derive(Debug, Args)]
pub struct ManifestArgs {
    /// The convox.yml to read.
    pub file: PathBuf,
    /// A variable of the app environment (for `${VAR}` interpolation).
    #[arg(long = "env", value_name = "K=V", value_parser = parse_assignment)]
    pub env: Vec<(String, String)>,
    /// Print JSON (otherwise the normalised convox.yml).
    #[arg(long)]
    pub json: bool,
}

/// `convox env`.
#[derive(Debug, Args)]
pub struct EnvArgs {
    /// The convox.yml to read.
    pub file: PathBuf,
    /// The service (or timer) whose environment to print.
    pub service: String,
    /// Rack and app.
    #[command(flatten)]
    pub target: Target,
}

/// `convox endpoints`.
#[derive(Debug, Args)]
pub struct EndpointsArgs {
    /// The convox.yml to read.
    pub file: PathBuf,
    /// Rack and app.
    #[command(flatten)]
    pub target: Target,
}

fn parse_name(s: &str) -> Result<Name, String> {
    Name::new(s).map_err(|e| e.to_string())
}

fn parse_assignment(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
        _ => Err(format!("{s:?} is not of the form KEY=VALUE")),
    }
}

/// Where output goes.
pub struct Io<'a> {
    /// Results.
    pub out: &'a mut dyn Write,
    /// Diagnostics and errors.
    pub err: &'a mut dyn Write,
}

/// Runs the command line `args` (the first is the program name) and returns the
/// exit code.
pub fn run<I, T>(args: I, out: &mut dyn Write, err: &mut dyn Write) -> i32
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
    let code = match &cli.command {
        Command::Check(a) => cmd_check(a, &mut io),
        Command::Manifest(a) => cmd_manifest(a, &mut io),
        Command::Env(a) => cmd_env(a, &mut io),
        Command::Endpoints(a) => cmd_endpoints(a, &mut io),
    };
    let _ = io.out.flush();
    let _ = io.err.flush();
    code
}

/// Runs the process's command line with the real stdout and stderr.
pub fn main() -> i32 {
    let stdout = std::io::stdout();
    let stderr = std::io::stderr();
    run(std::env::args_os(), &mut stdout.lock(), &mut stderr.lock())
}

/// A failure that ends a command with an exit code, its message already printed.
struct Exit(i32);

fn read_file(file: &Path, io: &mut Io<'_>) -> Result<String, Exit> {
    std::fs::read_to_string(file).map_err(|e| {
        let _ = writeln!(io.err, "convox: cannot read {}: {e}", file.display());
        Exit(EXIT_USAGE)
    })
}

fn print_diagnostics(file: &Path, d: &Diagnostics, io: &mut Io<'_>) {
    if !d.is_empty() {
        let _ = writeln!(io.err, "{}", d.render(&file.display().to_string()));
    }
}

fn env_map(pairs: &[(String, String)]) -> BTreeMap<String, String> {
    pairs.iter().cloned().collect()
}

/// Reads the file and runs the whole offline check; diagnostics printed.
fn checked(file: &Path, target: &Target, io: &mut Io<'_>) -> Result<Checked, Exit> {
    let params = RackParams::default()
        .with_assignments(target.params.iter().map(String::as_str))
        .map_err(|e| {
            let _ = writeln!(io.err, "convox: --param: {e}");
            Exit(EXIT_USAGE)
        })?;
    let text = read_file(file, io)?;
    let rack = Rack::offline(target.rack.clone(), params, target.router_host.clone());
    match check(&text, &rack, &target.app, &env_map(&target.env)) {
        Ok(c) => {
            print_diagnostics(file, &c.warnings, io);
            Ok(c)
        }
        Err(d) => {
            print_diagnostics(file, &d, io);
            Err(Exit(EXIT_INVALID))
        }
    }
}

fn finish(r: Result<(), Exit>) -> i32 {
    match r {
        Ok(()) => EXIT_OK,
        Err(Exit(code)) => code,
    }
}

fn cmd_check(a: &CheckArgs, io: &mut Io<'_>) -> i32 {
    finish(checked(&a.file, &a.target, io).map(|c| {
        let _ = writeln!(
            io.out,
            "{}: valid: {} services, {} timers, {} endpoints, {} warnings",
            a.file.display(),
            c.manifest.services.len(),
            c.manifest.timers.len(),
            c.endpoints.len(),
            c.warnings.len()
        );
    }))
}

fn cmd_manifest(a: &ManifestArgs, io: &mut Io<'_>) -> i32 {
    let mut run = || -> Result<(), Exit> {
        let text = read_file(&a.file, io)?;
        match parse(&text, &env_map(&a.env)) {
            Ok(p) => {
                print_diagnostics(&a.file, &p.warnings, io);
                if a.json {
                    match serde_json::to_string_pretty(&p.manifest) {
                        Ok(s) => {
                            let _ = writeln!(io.out, "{s}");
                        }
                        Err(e) => {
                            let _ = writeln!(io.err, "convox: {e}");
                            return Err(Exit(EXIT_INVALID));
                        }
                    }
                } else {
                    let _ = write!(io.out, "{}", p.manifest.to_yaml());
                }
                Ok(())
            }
            Err(d) => {
                print_diagnostics(&a.file, &d, io);
                Err(Exit(EXIT_INVALID))
            }
        }
    };
    finish(run())
}

fn cmd_env(a: &EnvArgs, io: &mut Io<'_>) -> i32 {
    let mut run = || -> Result<(), Exit> {
        let c = checked(&a.file, &a.target, io)?;
        let vars = c
            .env
            .service(&a.service)
            .or_else(|| c.env.timer(&a.service));
        let Some(vars) = vars else {
            let names: Vec<&str> = c
                .manifest
                .services
                .iter()
                .map(|s| s.name.as_str())
                .collect();
            let _ = writeln!(
                io.err,
                "convox: {} has no service or timer {}; services: {}",
                a.file.display(),
                a.service,
                names.join(", ")
            );
            return Err(Exit(EXIT_INVALID));
        };
        for (k, v) in vars {
            let _ = writeln!(io.out, "{k}={v}");
        }
        Ok(())
    };
    finish(run())
}

fn cmd_endpoints(a: &EndpointsArgs, io: &mut Io<'_>) -> i32 {
    finish(checked(&a.file, &a.target, io).map(|c| {
        for e in &c.endpoints {
            let _ = writeln!(io.out, "{} {} {}", e.service, e.router, e.url());
        }
    }))
}
