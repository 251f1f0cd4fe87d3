//! How a tool that runs the containers (an ECS deployer, say) embeds the
//! library: read a convox.yml, plan, show the plan, apply phase one (every
//! addition and update), register each service's containers in its target
//! groups, apply phase two (the removals, now that nothing is attached to what
//! goes), and show what the load balancers report about the targets.
//!
//! ```text
//! cargo run --example deployer -- --endpoint http://127.0.0.1:5000 \
//!     --rack demo --app backend --manifest examples/backend/convox.yml
//! ```
//!
//! It talks to the AWS endpoint given (moto on loopback, in the tests) with the
//! standard AWS environment's credentials. The containers are stand-ins: the
//! Nth route's is `127.0.0.N` on its service's port (moto takes any address;
//! AWS wants what the target group's target type names: instance ids).
//! A rack not set up yet is set up with `Internal=Yes` in the account's
//! default VPC; the rack's certificate authority is kept in `--ca`.

use std::error::Error;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_sdk_elasticloadbalancingv2 as elbv2;
use clap::Parser;
use convox_aws::{AwsBackend, AwsBackendBuilder};
use convox_model::apply::{ApplyContext, SleepFn};
use convox_model::backend::Backend;
use convox_model::inventory::ca_bundle;
use convox_model::name::Name;
use convox_model::params::RackParams;
use convox_model::rack::Rack;
use convox_model::routes::ServiceRoute;
use convox_model::tls::CertificateAuthority;
use convox_model::{check, ops};

/// Errors, for people: each says what failed.
pub type Failure = Box<dyn Error + Send + Sync>;

/// What to deploy, and where.
#[derive(Clone, Debug, Parser)]
pub struct Options {
    /// The AWS endpoint, such as http://127.0.0.1:5000.
    #[arg(long)]
    pub endpoint: String,
    /// The region.
    #[arg(long, default_value = "us-east-1")]
    pub region: String,
    /// The rack.
    #[arg(long)]
    pub rack: String,
    /// The app.
    #[arg(long)]
    pub app: String,
    /// The app's convox.yml.
    #[arg(long, default_value = "convox.yml")]
    pub manifest: PathBuf,
    /// The rack's certificate authority (PEM certificate and key); made here
    /// for a new rack.
    #[arg(long, default_value = "ca.pem")]
    pub ca: PathBuf,
}

/// One target as the load balancer reports it after phase two.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TargetHealth {
    /// The target group.
    pub target_group_arn: String,
    /// The target (an address here).
    pub id: String,
    /// Its port.
    pub port: u16,
    /// The state reported (`initial`, `healthy`, …).
    pub state: String,
}

/// What a run did.
#[derive(Debug)]
pub struct Outcome {
    /// Every routed service's target group, rule and load balancer.
    pub routes: Vec<ServiceRoute>,
    /// How many resources phase two removed.
    pub removed: usize,
    /// DescribeTargetHealth of every route's target group.
    pub health: Vec<TargetHealth>,
}

/// Deploys `opts.app` in two phases and registers its containers.
pub async fn run(opts: &Options, out: &mut dyn Write) -> Result<Outcome, Failure> {
    let aws = AwsBackendBuilder::from_env()
        .with_region(&opts.region)
        .with_endpoint_url(&opts.endpoint)
        .build()
        .await?;
    let (rack_name, app) = (Name::new(&opts.rack)?, Name::new(&opts.app)?);
    let now = i64::try_from(SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs())?;
    let ca = authority(&opts.ca, &rack_name, now)?;
    let fingerprint = ca.fingerprint().to_string();
    let sleep: SleepFn = Arc::new(|d: Duration| Box::pin(tokio::time::sleep(d)));
    let ctx = ApplyContext::new(rack_name.clone(), now, sleep).with_issuer(Arc::new(ca));
    let rack = rack(&aws, &rack_name, &ctx).await?;

    let text = std::fs::read_to_string(&opts.manifest)
        .map_err(|e| format!("cannot read {}: {e}", opts.manifest.display()))?;
    let checked = check::check(&text, &rack, &app, &Default::default())
        .map_err(|d| d.render(&opts.manifest.display().to_string()))?;
    let manifest = &checked.manifest;
    let plan = ops::plan_app_at(
        &aws,
        &rack,
        &app,
        manifest,
        &fingerprint,
        Some(ctx.renewal()),
    )
    .await?;
    writeln!(out, "{plan}")?;

    // Phase one: what the new manifest wants exists; nothing is removed yet.
    let one = ops::deploy_phased(&aws, &rack, &app, manifest, &ctx, Some(&plan)).await?;
    let elb = elb_client(opts);
    for (i, route) in one.report.routes.iter().enumerate() {
        let ip = format!("127.0.0.{}", i + 1);
        let target = elbv2::types::TargetDescription::builder()
            .id(&ip)
            .port(i32::from(route.target_group.port))
            .build();
        elb.register_targets()
            .target_group_arn(&route.target_group.arn)
            .targets(target)
            .send()
            .await?;
        writeln!(
            out,
            "registered {ip}:{} in {} ({} on {})",
            route.target_group.port, route.target_group.arn, route.service, route.router
        )?;
    }

    // Phase two: the containers have moved; what phase one left can go.
    let (removed, _) = one.removals.apply(&aws, &ctx).await?;
    writeln!(out, "phase two removed {} resources", removed.actions.len())?;

    let mut health = Vec::new();
    for route in &one.report.routes {
        let answer = elb
            .describe_target_health()
            .target_group_arn(&route.target_group.arn)
            .send()
            .await?;
        for d in answer.target_health_descriptions() {
            let Some(t) = d.target() else { continue };
            let row = TargetHealth {
                target_group_arn: route.target_group.arn.clone(),
                id: t.id().unwrap_or_default().to_string(),
                port: t.port().and_then(|p| u16::try_from(p).ok()).unwrap_or(0),
                state: d
                    .target_health()
                    .and_then(|h| h.state())
                    .map_or("unknown".into(), |s| s.as_str().to_string()),
            };
            writeln!(
                out,
                "{} {}:{} {}",
                row.target_group_arn, row.id, row.port, row.state
            )?;
            health.push(row);
        }
    }
    Ok(Outcome {
        routes: one.report.routes,
        removed: removed.actions.len(),
        health,
    })
}

/// The rack as stored, or set up with `Internal=Yes` in the default VPC.
async fn rack(aws: &AwsBackend, name: &Name, ctx: &ApplyContext) -> Result<Rack, Failure> {
    if let Some(stored) = aws.load_rack(name).await? {
        return Ok(stored);
    }
    let vpc = aws
        .default_vpc()
        .await?
        .ok_or("the account has no default VPC")?;
    let (vpc, subnets) = aws.vpc_network(&vpc).await?;
    let mut settings = Rack::new(name.clone(), RackParams::default(), None);
    (settings.region, settings.vpc, settings.subnets) = (aws.region().to_string(), vpc, subnets);
    Ok(ops::set_rack_params(aws, &settings, &["Internal=Yes"], ctx)
        .await?
        .rack)
}

/// The authority in `path`, or a new one written there.
fn authority(path: &PathBuf, rack: &Name, now: i64) -> Result<CertificateAuthority, Failure> {
    if let Ok(text) = std::fs::read_to_string(path) {
        let (cert, key) = ca_bundle(&text)
            .ok_or_else(|| format!("{} holds no certificate and key", path.display()))?;
        return Ok(CertificateAuthority::from_pem(&cert, &key)?);
    }
    let ca = CertificateAuthority::generate(rack, now)?;
    std::fs::write(path, format!("{}{}", ca.cert_pem(), ca.key_pem()))?;
    Ok(ca)
}

/// An ELBv2 client at the endpoint, with the environment's credentials.
fn elb_client(opts: &Options) -> elbv2::Client {
    let var = |k: &str| std::env::var(k).unwrap_or_else(|_| "testing".into());
    let credentials = elbv2::config::Credentials::new(
        var("AWS_ACCESS_KEY_ID"),
        var("AWS_SECRET_ACCESS_KEY"),
        std::env::var("AWS_SESSION_TOKEN").ok(),
        None,
        "environment",
    );
    let conf = elbv2::Config::builder()
        .behavior_version(elbv2::config::BehaviorVersion::latest())
        .region(elbv2::config::Region::new(opts.region.clone()))
        .endpoint_url(&opts.endpoint)
        .credentials_provider(credentials)
        .build();
    elbv2::Client::from_conf(conf)
}

#[tokio::main]
async fn main() -> Result<(), Failure> {
    let opts = Options::parse();
    run(&opts, &mut std::io::stdout()).await.map(|_| ())
}
