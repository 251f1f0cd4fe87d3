//! The `convox` command-line tool over the convox library.
//!
//! Each subcommand is a variant of [`Command`] and one function; all output goes
//! to the writers passed to [`run`], so tests call it directly and read what it
//! printed. Exit codes: 0 on success (warnings go to stderr), 1 when the input is
//! invalid or an operation fails (every diagnostic or error on stderr), 2 on a
//! usage error.
//!
//! `check`, `manifest` and `env` work offline. `rack params`, `plan`, `deploy`,
//! `apps delete` (and `endpoints` with `--state` or `--backend aws`) work on a
//! backend: the mock, whose state persists in a file (`--state`, default
//! `.convox/state.json`), or AWS (`--backend aws`, configured from the standard
//! AWS environment). Results go to stdout; progress (one line per finished
//! action), notes and errors to stderr.

mod session;

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::{Args, Parser, Subcommand, ValueEnum};
use convox_model::check::parse;
use convox_model::check::{Checked, check};
use convox_model::diag::Diagnostics;
use convox_model::env::link_vars;
use convox_model::name::Name;
use convox_model::observe::observe_all;
use convox_model::ops;
use convox_model::params::RackParams;
use convox_model::rack::Rack;
use convox_model::resource::ResourceKey;

use session::{Globals, Session, context, fail, now, report_error, usage, with_progress};

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
    about = "Check, plan and deploy apps' services on a Convox rack",
    version
)]
pub struct Cli {
    /// The mock backend's state file [default: .convox/state.json].
    #[arg(long, global = true, value_name = "FILE")]
    pub state: Option<PathBuf>,
    /// Where the rack's resources live.
    #[arg(long, global = true, value_enum, default_value_t = BackendKind::Mock)]
    pub backend: BackendKind,
    /// The rack's certificate authority (certificate and key, PEM); generated on
    /// first use [default: ca.pem beside the state file].
    #[arg(long, global = true, value_name = "FILE")]
    pub ca: Option<PathBuf>,
    /// Send AWS requests here instead of AWS (like the AWS CLI's option; the
    /// AWS_ENDPOINT_URL variable works too).
    #[arg(long, global = true, value_name = "URL")]
    pub endpoint_url: Option<String>,
    /// Print how many backend calls the command made (reads and mutating).
    #[arg(long, global = true)]
    pub show_calls: bool,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The backends.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum BackendKind {
    /// The in-memory model of AWS, its state kept in the `--state` file.
    Mock,
    /// AWS, from the standard AWS environment (AWS_REGION, credentials,
    /// AWS_ENDPOINT_URL…).
    Aws,
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
    /// Print every endpoint: SERVICE internal|external https://HOST; with
    /// --state or --backend aws, for the rack as stored and with whether each
    /// is deployed.
    Endpoints(EndpointsArgs),
    /// The rack.
    Rack(RackArgs),
    /// Show what a deploy would change, without changing anything.
    Plan(PlanArgs),
    /// Deploy an app: reconcile its load balancer rules, DNS and certificates.
    Deploy(DeployArgs),
    /// Apps.
    Apps(AppsArgs),
}

/// `convox rack`.
#[derive(Debug, Args)]
pub struct RackArgs {
    /// What to do with the rack.
    #[command(subcommand)]
    pub command: RackCommand,
}

/// `convox rack …`.
#[derive(Debug, Subcommand)]
pub enum RackCommand {
    /// Print the rack's parameters; `set` changes them.
    Params(ParamsArgs),
}

/// `convox rack params [set …]`.
#[derive(Debug, Args)]
#[command(subcommand_negates_reqs = true, args_conflicts_with_subcommands = true)]
pub struct ParamsArgs {
    /// The rack's name.
    #[arg(long, value_parser = parse_name, required = true)]
    pub rack: Option<Name>,
    /// `set`.
    #[command(subcommand)]
    pub command: Option<ParamsCommand>,
}

/// `convox rack params set`.
#[derive(Debug, Subcommand)]
pub enum ParamsCommand {
    /// Set parameters (Internal=Yes, InternalOnly=Yes) and reconcile the rack.
    Set(SetParamsArgs),
}

/// `convox rack params set K=V… --rack R`.
#[derive(Debug, Args)]
pub struct SetParamsArgs {
    /// The assignments, all applied at once: Internal=Yes InternalOnly=Yes.
    #[arg(required = true, value_name = "K=V")]
    pub assignments: Vec<String>,
    /// The rack's name.
    #[arg(long, value_parser = parse_name)]
    pub rack: Name,
    /// The rack's network, for a rack not set up yet.
    #[command(flatten)]
    pub net: NetworkArgs,
}

/// Where a rack not yet set up lives; a rack that exists keeps its own.
#[derive(Debug, Default, Args)]
pub struct NetworkArgs {
    /// The rack's VPC (on AWS its CIDR and subnets are looked up).
    #[arg(long, value_name = "VPC_ID")]
    pub vpc: Option<String>,
    /// The subnets for the load balancers, comma-separated [default: one per
    /// availability zone of the VPC].
    #[arg(long, value_name = "a,b", value_delimiter = ',')]
    pub subnets: Option<Vec<String>>,
    /// The host external endpoints live under [default: {rack}.example.com].
    #[arg(long)]
    pub router_host: Option<String>,
    /// The rack's region [default: the AWS environment's; us-east-1 on the mock].
    #[arg(long)]
    pub region: Option<String>,
}

/// The rack and app a backend command acts on, and the app environment.
#[derive(Debug, Args)]
pub struct AppTarget {
    /// The rack's name.
    #[arg(long, value_parser = parse_name)]
    pub rack: Name,
    /// The app's name.
    #[arg(long, value_parser = parse_name)]
    pub app: Name,
    /// A variable of the app environment.
    #[arg(long = "env", value_name = "K=V", value_parser = parse_assignment)]
    pub env: Vec<(String, String)>,
}

/// `convox plan`.
#[derive(Debug, Args)]
pub struct PlanArgs {
    /// The convox.yml to read.
    pub file: PathBuf,
    /// Rack and app.
    #[command(flatten)]
    pub target: AppTarget,
    /// The rack's network, for a rack not set up yet.
    #[command(flatten)]
    pub net: NetworkArgs,
    /// Print JSON: {"actions": [...], "fingerprint": "..."}.
    #[arg(long)]
    pub json: bool,
}

/// `convox deploy`.
#[derive(Debug, Args)]
pub struct DeployArgs {
    /// The convox.yml to read.
    pub file: PathBuf,
    /// Rack and app.
    #[command(flatten)]
    pub target: AppTarget,
    /// The rack's network, for a rack not set up yet.
    #[command(flatten)]
    pub net: NetworkArgs,
}

/// `convox apps`.
#[derive(Debug, Args)]
pub struct AppsArgs {
    /// What to do with apps.
    #[command(subcommand)]
    pub command: AppsCommand,
}

/// `convox apps …`.
#[derive(Debug, Subcommand)]
pub enum AppsCommand {
    /// Delete an app's resources (only its own: the rack and other apps stay).
    Delete(DeleteAppArgs),
}

/// `convox apps delete A --rack R`.
#[derive(Debug, Args)]
pub struct DeleteAppArgs {
    /// The app.
    #[arg(value_parser = parse_name)]
    pub app: Name,
    /// The rack's name.
    #[arg(long, value_parser = parse_name)]
    pub rack: Name,
}

impl Command {
    /// The `--region` the command was given, which the AWS backend is built for.
    fn region(&self) -> Option<String> {
        let net = match self {
            Command::Rack(RackArgs {
                command:
                    RackCommand::Params(ParamsArgs {
                        command: Some(ParamsCommand::Set(a)),
                        ..
                    }),
            }) => &a.net,
            Command::Plan(a) => &a.net,
            Command::Deploy(a) => &a.net,
            _ => return None,
        };
        net.region.clone()
    }
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
    let globals = Globals {
        kind: cli.backend,
        state: cli.state.clone(),
        ca: cli.ca.clone(),
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
    let code = match &cli.command {
        Command::Check(a) => cmd_check(a, &mut io),
        Command::Manifest(a) => cmd_manifest(a, &mut io),
        Command::Env(a) => cmd_env(a, &mut io),
        Command::Endpoints(a) => cmd_endpoints(a, &mut s, &mut io),
        Command::Rack(RackArgs {
            command: RackCommand::Params(p),
        }) => match (&p.command, &p.rack) {
            (Some(ParamsCommand::Set(a)), _) => cmd_rack_params_set(a, &mut s, &mut io),
            (None, Some(rack)) => cmd_rack_params(rack, &mut s, &mut io),
            // clap requires --rack without a subcommand; this is the belt to its braces.
            (None, None) => finish(Err(usage(&mut io, "rack params needs --rack R"))),
        },
        Command::Plan(a) => cmd_plan(a, &mut s, &mut io),
        Command::Deploy(a) => cmd_deploy(a, &mut s, &mut io),
        Command::Apps(AppsArgs {
            command: AppsCommand::Delete(a),
        }) => cmd_apps_delete(a, &mut s, &mut io),
    };
    s.print_calls(&mut io);
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
pub(crate) struct Exit(i32);

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
    let rack = Rack::offline(target.rack.clone(), params, target.router_host.clone());
    checked_on(file, &rack, &target.app, &target.env, io)
}

/// Reads the file and checks it as `app` on `rack`; diagnostics printed.
fn checked_on(
    file: &Path,
    rack: &Rack,
    app: &Name,
    env: &[(String, String)],
    io: &mut Io<'_>,
) -> Result<Checked, Exit> {
    let text = read_file(file, io)?;
    match check(&text, rack, app, &env_map(env)) {
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

fn cmd_endpoints(a: &EndpointsArgs, s: &mut Session, io: &mut Io<'_>) -> i32 {
    if s.explicit_backend() {
        return finish(deployed_endpoints(a, s, io));
    }
    finish(checked(&a.file, &a.target, io).map(|c| {
        for e in &c.endpoints {
            let _ = writeln!(io.out, "{} {} {}", e.service, e.router, e.url());
        }
    }))
}

/// `endpoints` on a backend: the rack's stored parameters and router host, and
/// for each endpoint whether its listener rule exists.
fn deployed_endpoints(a: &EndpointsArgs, s: &mut Session, io: &mut Io<'_>) -> Result<(), Exit> {
    let t = &a.target;
    if !t.params.is_empty() {
        return Err(usage(
            io,
            "--param is for offline use; with --state or --backend aws the rack's stored parameters apply",
        ));
    }
    let rack = match s.stored_rack(&t.rack, io)? {
        Some(rack) => {
            if let Some(h) = t.router_host.as_ref().filter(|h| **h != rack.router_host) {
                let _ = writeln!(
                    io.err,
                    "note: rack {} uses router host {}, not {h}",
                    rack.name, rack.router_host
                );
            }
            rack
        }
        None => {
            let _ = writeln!(
                io.err,
                "note: rack {} has not been set up yet; using the default parameters",
                t.rack
            );
            Rack::offline(t.rack.clone(), RackParams::default(), t.router_host.clone())
        }
    };
    let c = checked_on(&a.file, &rack, &t.app, &t.env, io)?;
    let backend = s.backend(io)?.backend.clone();
    let observed =
        s.rt.block_on(observe_all(backend.as_ref(), &rack.name))
            .map_err(|e| report_error(io, &e))?;
    for e in &c.endpoints {
        // An endpoint answers once its host-header rule is on the router.
        let rule = ResourceKey::listener_rule(&t.app, &e.service, e.router);
        let state = if observed.iter().any(|o| o.resource.key == rule) {
            "deployed"
        } else {
            "not deployed"
        };
        let _ = writeln!(io.out, "{} {} {} {state}", e.service, e.router, e.url());
    }
    Ok(())
}

fn cmd_rack_params(rack: &Name, s: &mut Session, io: &mut Io<'_>) -> i32 {
    let mut run = || -> Result<(), Exit> {
        let params = match s.stored_rack(rack, io)? {
            Some(r) => r.params,
            None => {
                let _ = writeln!(
                    io.err,
                    "note: rack {rack} has not been set up yet; these are the defaults (convox rack params set K=V --rack {rack})"
                );
                RackParams::default()
            }
        };
        let _ = write!(io.out, "{params}");
        Ok(())
    };
    finish(run())
}

fn cmd_rack_params_set(a: &SetParamsArgs, s: &mut Session, io: &mut Io<'_>) -> i32 {
    let mut run = || -> Result<(), Exit> {
        let rack = s.rack(&a.rack, &a.net, io)?;
        let assignments: Vec<&str> = a.assignments.iter().map(String::as_str).collect();
        // The same check set_rack_params makes first, made here before a
        // certificate authority is generated for a command that cannot succeed.
        rack.params
            .with_assignments(assignments.iter().copied())
            .map_err(|e| report_error(io, &e))?;
        let now = now();
        let ca = s.authority(&rack.name, now, io)?;
        let backend = s.backend(io)?.backend.clone();
        let ctx = context(&rack.name, now).with_issuer(Arc::new(ca));
        let result =
            s.rt.block_on(with_progress(&mut *io.err, ctx, |ctx| async move {
                ops::set_rack_params(backend.as_ref(), &rack, &assignments, &ctx).await
            }));
        let persisted = s.persist(io);
        let change = result.map_err(|e| report_error(io, &e))?;
        persisted?;
        let c = change.plan.counts();
        if change.plan.is_empty() {
            let _ = writeln!(
                io.out,
                "Rack {}: parameters saved; its resources were already up to date.",
                change.rack.name
            );
        } else {
            let _ = writeln!(
                io.out,
                "Rack {}: parameters saved; {} created, {} updated, {} replaced, {} deleted.",
                change.rack.name, c.create, c.update, c.replace, c.delete
            );
        }
        let _ = write!(io.out, "{}", change.rack.params);
        Ok(())
    };
    finish(run())
}

fn cmd_plan(a: &PlanArgs, s: &mut Session, io: &mut Io<'_>) -> i32 {
    let mut run = || -> Result<(), Exit> {
        let t = &a.target;
        let rack = s.rack(&t.rack, &a.net, io)?;
        let c = checked_on(&a.file, &rack, &t.app, &t.env, io)?;
        let ca = s.authority(&rack.name, now(), io)?;
        let backend = s.backend(io)?.backend.clone();
        let p =
            s.rt.block_on(ops::plan_app(
                backend.as_ref(),
                &rack,
                &t.app,
                &c.manifest,
                ca.fingerprint(),
            ))
            .map_err(|e| report_error(io, &e))?;
        if a.json {
            let _ = writeln!(io.out, "{}", p.to_json());
        } else if p.is_empty() {
            let _ = writeln!(io.out, "No changes. {} is up to date.", t.app);
        } else {
            let _ = write!(io.out, "{p}");
        }
        Ok(())
    };
    finish(run())
}

fn cmd_deploy(a: &DeployArgs, s: &mut Session, io: &mut Io<'_>) -> i32 {
    let mut run = || -> Result<(), Exit> {
        let t = &a.target;
        let rack = s.rack(&t.rack, &a.net, io)?;
        let c = checked_on(&a.file, &rack, &t.app, &t.env, io)?;
        let now = now();
        let ca = s.authority(&rack.name, now, io)?;
        let backend = s.backend(io)?.backend.clone();
        let ctx = context(&rack.name, now);
        let p =
            s.rt.block_on(ops::plan_app(
                backend.as_ref(),
                &rack,
                &t.app,
                &c.manifest,
                ca.fingerprint(),
            ))
            .map_err(|e| report_error(io, &e))?;
        if p.is_empty() {
            // Nothing to do: no apply at all, so not one mutating call.
            let _ = writeln!(io.out, "No changes. {} is up to date.", t.app);
        } else {
            let _ = writeln!(io.out, "{p}");
            let _ = writeln!(io.err, "Deploying {} to rack {}", t.app, rack.name);
            let ctx = ctx.with_issuer(Arc::new(ca));
            // The work owns its context (so progress ends with it) and borrows the rest.
            let (rack, manifest) = (&rack, &c.manifest);
            let result =
                s.rt.block_on(with_progress(&mut *io.err, ctx, |ctx| async move {
                    // Apply what was shown, or nothing if the rack changed since.
                    ops::deploy_planned(backend.as_ref(), rack, &t.app, manifest, &ctx, &p).await
                }));
            let persisted = s.persist(io);
            let report = result.map_err(|e| report_error(io, &e))?;
            persisted?;
            let applied =
                report.rack.as_ref().map_or(0, |r| r.applied.len()) + report.report.applied.len();
            let _ = writeln!(
                io.out,
                "Deployed {} to rack {}: {applied} changes applied.",
                t.app, rack.name
            );
        }
        print_endpoints_and_links(&c, &rack, &t.app, io);
        Ok(())
    };
    finish(run())
}

/// The app's endpoints, then each service's link variables as the service sees
/// them (a declared variable of the same name wins over the link).
fn print_endpoints_and_links(c: &Checked, rack: &Rack, app: &Name, io: &mut Io<'_>) {
    let _ = writeln!(io.out, "\nEndpoints:");
    if c.endpoints.is_empty() {
        let _ = writeln!(io.out, "  none: no service has a port");
    }
    let width = c
        .endpoints
        .iter()
        .map(|e| e.service.as_str().len())
        .max()
        .unwrap_or(0);
    for e in &c.endpoints {
        let _ = writeln!(
            io.out,
            "  {:<width$}  {:<8}  {}",
            e.service.as_str(),
            e.router.as_str(),
            e.url()
        );
    }
    let mut links = Vec::new();
    for svc in &c.manifest.services {
        let env = c.env.service(svc.name.as_str());
        for (var, url) in link_vars(&c.manifest, rack, app, svc) {
            let value = env.and_then(|m| m.get(var.as_str())).unwrap_or(&url);
            links.push(format!("  {}: {var}={value}", svc.name));
        }
    }
    if !links.is_empty() {
        let _ = writeln!(io.out, "\nLinks:");
        for l in links {
            let _ = writeln!(io.out, "{l}");
        }
    }
}

fn cmd_apps_delete(a: &DeleteAppArgs, s: &mut Session, io: &mut Io<'_>) -> i32 {
    let mut run = || -> Result<(), Exit> {
        // Deleting needs only the rack's name: an app's leftovers can go even if
        // the rack's settings were never saved.
        let rack = s
            .stored_rack(&a.rack, io)?
            .unwrap_or_else(|| Rack::offline(a.rack.clone(), RackParams::default(), None));
        let backend = s.backend(io)?.backend.clone();
        let ctx = context(&rack.name, now());
        let result =
            s.rt.block_on(with_progress(&mut *io.err, ctx, |ctx| async move {
                ops::delete_app(backend.as_ref(), &rack, &a.app, &ctx).await
            }));
        let persisted = s.persist(io);
        let (p, report) = result.map_err(|e| report_error(io, &e))?;
        persisted?;
        if p.is_empty() {
            return Err(fail(
                io,
                format!("rack {} has no app {}: nothing to delete", a.rack, a.app),
            ));
        }
        let _ = writeln!(
            io.out,
            "Deleted app {} from rack {}: {} resources removed; the rack and other apps are untouched.",
            a.app,
            a.rack,
            report.applied.len()
        );
        Ok(())
    };
    finish(run())
}
