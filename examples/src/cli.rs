//! The command line as clap reads it: every subcommand and option.
//!
//! `-a/--app` and `-r/--rack` are global, so they work before or after any
//! subcommand; when absent, `CONVOX_APP` and `CONVOX_RACK` are read from the
//! [`crate::Environment`]. A command's convox.yml is
//! its positional FILE, or `-m/--manifest FILE`, or `convox.yml` in the current
//! directory.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use convox_model::inventory::NetworkRequest;
use convox_model::name::Name;

/// The command line.
#[derive(Debug, Parser)]
#[command(
    name = "convox",
    about = "Check, plan and deploy apps' services on a Convox rack",
    version
)]
pub struct Cli {
    /// The rack [env: CONVOX_RACK].
    #[arg(short, long, global = true, value_parser = parse_name, value_name = "RACK")]
    pub rack: Option<Name>,
    /// The app [env: CONVOX_APP].
    #[arg(short, long, global = true, value_parser = parse_name, value_name = "APP")]
    pub app: Option<Name>,
    /// The mock backend's state file [default: .convox/state.json].
    #[arg(long, global = true, value_name = "FILE")]
    pub state: Option<PathBuf>,
    /// Where the rack's resources live.
    #[arg(long, global = true, value_enum, default_value_t = BackendKind::Mock)]
    pub backend: BackendKind,
    /// The rack's certificate authority (certificate and key, PEM): the rack's
    /// identity, generated (mode 0600) only when the rack is created and
    /// required by every later command; keep it out of the app's repository
    /// [default: $XDG_CONFIG_HOME/convox/racks/{rack}/ca.pem, or
    /// $HOME/.config/convox/racks/{rack}/ca.pem].
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
    /// Check a convox.yml offline against a rack: every problem, with its place
    /// and a fix.
    Check(CheckArgs),
    /// Print the normalised manifest (v2's defaults applied).
    Manifest(ManifestArgs),
    /// Print a service's (or timer's) resolved environment, KEY=VALUE sorted by
    /// key, for the rack as stored (or offline with --param).
    Env(EnvArgs),
    /// Print every endpoint: SERVICE internal|external https://HOST, and for the
    /// rack as stored whether each is deployed (offline with --param).
    Endpoints(EndpointsArgs),
    /// The rack.
    Rack(RackArgs),
    /// Show what a deploy would change, without changing anything.
    Plan(PlanArgs),
    /// Deploy an app: reconcile its load balancer rules, DNS and certificates.
    Deploy(DeployArgs),
    /// List the apps deployed on the rack; `delete` removes one.
    Apps(AppsArgs),
    /// List an app's deployed services: endpoints, target groups and ports.
    Services(ServicesArgs),
    // ---- schema (issue 11): the JSON Schema of convox.yml, for editors ----
    /// Print a JSON Schema (draft 2020-12) of convox.yml, for editors
    /// (yaml-language-server, VS Code) and CI.
    Schema,
}

/// The convox.yml a command reads: FILE, `-m FILE`, or `./convox.yml`.
#[derive(Debug, Default, Args)]
pub struct ManifestFile {
    /// The convox.yml to read [default: convox.yml].
    #[arg(value_name = "FILE")]
    pub file: Option<PathBuf>,
    /// The convox.yml to read (the same as FILE).
    #[arg(short, long, value_name = "FILE", conflicts_with = "file")]
    pub manifest: Option<PathBuf>,
}

impl ManifestFile {
    /// The file named, if any.
    pub fn named(&self) -> Option<&PathBuf> {
        self.file.as_ref().or(self.manifest.as_ref())
    }
}

/// The rack an offline check imagines, and the app environment.
#[derive(Debug, Args)]
pub struct Offline {
    /// A rack parameter, as Convox spells it (Internal=Yes, InternalOnly=Yes);
    /// given, the check is offline against these instead of the stored rack.
    #[arg(long = "param", value_name = "K=V")]
    pub params: Vec<String>,
    /// A variable of the app environment.
    #[arg(long = "env", value_name = "K=V", value_parser = parse_assignment)]
    pub env: Vec<(String, String)>,
    /// The host external endpoints live under, offline [default: {rack}.example.com].
    #[arg(long)]
    pub router_host: Option<String>,
}

/// How `check` prints its diagnostics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// FILE:LINE:COL: PATH: MESSAGE on stderr, and a summary on stdout.
    #[default]
    Text,
    /// A JSON list on stdout: {file, path, line, column, severity, message, hint}.
    Json,
    /// GitHub Actions workflow commands on stdout: ::error file=…,line=…,col=…::…
    Github,
}

/// `convox check`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// The convox.yml.
    #[command(flatten)]
    pub file: ManifestFile,
    /// The imagined rack and the app environment.
    #[command(flatten)]
    pub offline: Offline,
    /// How to print diagnostics.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

/// `convox manifest`.
#[derive(Debug, Args)]
pub struct ManifestArgs {
    /// The convox.yml.
    #[command(flatten)]
    pub file: ManifestFile,
    /// A variable of the app environment (for `${VAR}` interpolation).
    #[arg(long = "env", value_name = "K=V", value_parser = parse_assignment)]
    pub env: Vec<(String, String)>,
    /// Print JSON (otherwise the normalised convox.yml).
    #[arg(long)]
    pub json: bool,
}

/// `convox env [FILE] SERVICE`.
#[derive(Debug, Args)]
pub struct EnvArgs {
    /// An optional FILE, then SERVICE: the convox.yml (default: convox.yml) and the service (or
    /// timer) whose environment to print.
    #[arg(required = true, num_args = 1..=2, value_name = "[FILE] SERVICE")]
    pub args: Vec<String>,
    /// The convox.yml to read (instead of FILE).
    #[arg(short, long, value_name = "FILE")]
    pub manifest: Option<PathBuf>,
    /// Offline parameters and the app environment.
    #[command(flatten)]
    pub offline: Offline,
}

/// `convox endpoints`.
#[derive(Debug, Args)]
pub struct EndpointsArgs {
    /// The convox.yml.
    #[command(flatten)]
    pub file: ManifestFile,
    /// Offline parameters and the app environment.
    #[command(flatten)]
    pub offline: Offline,
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
    // Day-2 safety: `rack audit`.
    /// Prove who can reach what: every router, its security groups' ingress,
    /// every endpoint and what its record aliases, and every finding (exit 1
    /// when there is one).
    Audit(AuditArgs),
    // Day-2 safety (in place).
    /// Show what `rack params set` would change in the rack's own resources
    /// (drift included), without changing anything.
    Plan(RackPlanArgs),
    // The rack's certificate authority.
    /// The rack's certificate authority: `rotate` moves the rack to a new one.
    Ca(CaArgs),
}

// Day-2 safety: `rack audit`.
/// `convox rack audit -r R [--json]`.
#[derive(Debug, Args)]
pub struct AuditArgs {
    /// Print JSON: {version, rack, vpc_cidr, routers, endpoints, findings}.
    #[arg(long)]
    pub json: bool,
}

/// `convox rack plan -r R [--json]`.
#[derive(Debug, Args)]
pub struct RackPlanArgs {
    /// Print JSON: {"actions": [...], "fingerprint": "..."} (no actions on a
    /// rack that is up to date).
    #[arg(long)]
    pub json: bool,
}

/// `convox rack ca …`.
#[derive(Debug, Args)]
pub struct CaArgs {
    /// What to do with the rack's certificate authority.
    #[command(subcommand)]
    pub command: CaCommand,
}

/// `convox rack ca rotate`.
#[derive(Debug, Subcommand)]
pub enum CaCommand {
    /// Re-issue every certificate the rack issued by a new certificate
    /// authority (new before old goes), then record the new one as the rack's;
    /// the old one is refused afterwards. Interrupted, run it again: it
    /// finishes. Clients should trust both authorities until it is done.
    Rotate(RotateArgs),
}

/// `convox rack ca rotate --rack R --new-ca FILE`.
#[derive(Debug, Args)]
pub struct RotateArgs {
    /// The new authority (certificate and key, PEM); generated there (mode
    /// 0600) when the file does not exist.
    #[arg(long, value_name = "FILE")]
    pub new_ca: PathBuf,
}

/// `convox rack params [set …]`.
#[derive(Debug, Args)]
pub struct ParamsArgs {
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

/// `convox rack params set K=V… -r R`.
#[derive(Debug, Args)]
pub struct SetParamsArgs {
    /// The assignments, all applied at once: Internal=Yes InternalOnly=Yes.
    #[arg(
        required_unless_present_any = ["subnets", "external_certificate"],
        value_name = "K=V"
    )]
    pub assignments: Vec<String>,
    // Public certificates for the external router (issue 12, item 6).
    /// The ARN of your ACM certificate for `*.{router host}`, served by the
    /// external router; `none` goes back to a certificate the rack requests
    /// from ACM [default: the stored one, or a requested one].
    #[arg(long, value_name = "ARN")]
    pub external_certificate: Option<String>,
    /// The rack's network, for a rack not set up yet; on a rack that exists,
    /// --subnets changes the routers' subnets in place.
    #[command(flatten)]
    pub net: NetworkArgs,
    /// Go ahead when the plan replaces a router (a new load balancer; every
    /// app's routing is moved to it).
    #[arg(long)]
    pub yes: bool,
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

impl NetworkArgs {
    /// The network these options ask for.
    pub fn request(&self) -> NetworkRequest {
        NetworkRequest {
            vpc: self.vpc.clone(),
            subnets: self.subnets.clone(),
            router_host: self.router_host.clone(),
            region: self.region.clone(),
        }
    }
}

/// What `convox plan` and `convox deploy` work on.
#[derive(Debug, Args)]
pub struct AppTarget {
    /// The convox.yml.
    #[command(flatten)]
    pub file: ManifestFile,
    /// A variable of the app environment.
    #[arg(long = "env", value_name = "K=V", value_parser = parse_assignment)]
    pub env: Vec<(String, String)>,
    /// The rack's network, for a rack not set up yet.
    #[command(flatten)]
    pub net: NetworkArgs,
}

/// `convox plan`.
#[derive(Debug, Args)]
pub struct PlanArgs {
    /// The app, its convox.yml and the rack.
    #[command(flatten)]
    pub target: AppTarget,
    /// Print JSON: {"actions": [...], "fingerprint": "..."}.
    #[arg(long)]
    pub json: bool,
}

/// `convox deploy`.
#[derive(Debug, Args)]
pub struct DeployArgs {
    /// The app, its convox.yml and the rack.
    #[command(flatten)]
    pub target: AppTarget,
    // What an embedding deployer attaches its containers to (issue 10).
    /// Print the deploy's report as JSON on stdout (its plan, what was applied,
    /// and every routed service's target group, rule and load balancer), a
    /// no-op redeploy's too.
    #[arg(long)]
    pub json: bool,
}

/// `convox apps`.
#[derive(Debug, Args)]
pub struct AppsArgs {
    /// What to do with apps (nothing: list them).
    #[command(subcommand)]
    pub command: Option<AppsCommand>,
}

/// `convox apps …`.
#[derive(Debug, Subcommand)]
pub enum AppsCommand {
    /// Delete an app's resources (only its own: the rack and other apps stay).
    Delete(DeleteAppArgs),
}

/// `convox apps delete [A] -r R`.
#[derive(Debug, Args)]
pub struct DeleteAppArgs {
    /// The app [default: -a, or CONVOX_APP].
    #[arg(value_parser = parse_name, value_name = "APP")]
    pub name: Option<Name>,
}

/// `convox services -a A -r R`.
#[derive(Debug, Args)]
pub struct ServicesArgs {
    /// Print JSON: a list of {service, router, hostname, url, deployed,
    /// target_group, route}, route as a deploy reports it (or null).
    #[arg(long)]
    pub json: bool,
}

impl Command {
    /// The `--region` the command was given, which the AWS backend is built for.
    pub fn region(&self) -> Option<String> {
        let net = match self {
            Command::Rack(RackArgs {
                command:
                    RackCommand::Params(ParamsArgs {
                        command: Some(ParamsCommand::Set(a)),
                    }),
            }) => &a.net,
            Command::Plan(a) => &a.target.net,
            Command::Deploy(a) => &a.target.net,
            _ => return None,
        };
        net.region.clone()
    }
}

/// A name on the command line or in the environment.
pub fn parse_name(s: &str) -> Result<Name, String> {
    Name::new(s).map_err(|e| e.to_string())
}

fn parse_assignment(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
        _ => Err(format!("{s:?} is not of the form KEY=VALUE")),
    }
}
