//! What the commands that touch a backend share: the backend (chosen once per
//! process), the rack's settings and its certificate authority.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use convox_aws::{AwsBackend, AwsBackendBuilder};
use convox_mock::{MockBackend, StateLock};
use convox_model::backend::{AppObservation, Backend, BackendResult};
use convox_model::ca::CaError;
use convox_model::inventory::{ca_bundle, network_conflicts};
use convox_model::name::Name;
use convox_model::params::RackParams;
use convox_model::rack::{Rack, RackCa, Vpc};
use convox_model::resource::{Observed, Scope};
use convox_model::tls::CertificateAuthority;

use crate::Io;
use crate::cli::{BackendKind, NetworkArgs};
use crate::exit::{Exit, fail, report_error, usage};

/// Where the mock keeps its state unless `--state` says otherwise.
pub const DEFAULT_STATE: &str = ".convox/state.json";
/// The certificate authority's file name, in the rack's per-user directory
/// (`{config home}/convox/racks/{rack}/ca.pem`).
pub const CA_FILE: &str = "ca.pem";

/// The concrete backend behind the `Arc<dyn Backend>`, for what only it can do.
enum Store {
    /// The mock and the file its state lives in.
    Mock {
        mock: Arc<MockBackend>,
        /// Held for the whole session: no other process reads or writes the
        /// state between this one's read and its save.
        lock: StateLock,
    },
    /// AWS: it alone can look a VPC up.
    Aws(AwsBackend),
}

/// The backend, chosen once.
pub struct Chosen {
    /// What every operation goes through.
    pub backend: Arc<dyn Backend>,
    store: Store,
}

/// The global options and the lazily chosen backend.
pub struct Session {
    /// Runs the async operations; current-thread, since a command does one thing
    /// at a time and the apply engine's concurrency is within one future.
    pub rt: tokio::runtime::Runtime,
    kind: BackendKind,
    state: Option<PathBuf>,
    ca: Option<PathBuf>,
    config_home: Option<PathBuf>,
    cwd: PathBuf,
    endpoint_url: Option<String>,
    region: Option<String>,
    show_calls: bool,
    chosen: Option<Chosen>,
}

/// The global options a [`Session`] is made from.
pub struct Globals {
    /// `--backend`.
    pub kind: BackendKind,
    /// `--state`, from the working directory.
    pub state: Option<PathBuf>,
    /// `--ca`, from the working directory.
    pub ca: Option<PathBuf>,
    /// The per-user configuration directory (`$XDG_CONFIG_HOME`, or
    /// `$HOME/.config`), where each rack's certificate authority lives unless
    /// `--ca` says otherwise.
    pub config_home: Option<PathBuf>,
    /// The working directory, where the default state lives.
    pub cwd: PathBuf,
    /// `--endpoint-url`.
    pub endpoint_url: Option<String>,
    /// `--region` of the command, if it has one.
    pub region: Option<String>,
    /// `--show-calls`.
    pub show_calls: bool,
}

impl Session {
    /// A session; nothing is opened or connected until a command needs it.
    pub fn new(g: Globals) -> std::io::Result<Self> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        Ok(Session {
            rt,
            kind: g.kind,
            state: g.state,
            ca: g.ca,
            config_home: g.config_home,
            cwd: g.cwd,
            endpoint_url: g.endpoint_url,
            region: g.region,
            show_calls: g.show_calls,
            chosen: None,
        })
    }

    /// Whether the backend was named (`--state`, or `--backend aws`): an offline
    /// `--param` then contradicts the command line.
    pub fn explicit_backend(&self) -> bool {
        self.state.is_some() || self.kind == BackendKind::Aws
    }

    fn state_path(&self) -> PathBuf {
        self.state
            .clone()
            .unwrap_or_else(|| self.cwd.join(DEFAULT_STATE))
    }

    /// `--ca`, or the rack's file in the per-user configuration directory: never
    /// the app's directory, where it would be committed with the app.
    pub fn ca_path(&self, rack: &Name, io: &mut Io<'_>) -> Result<PathBuf, Exit> {
        if let Some(p) = &self.ca {
            return Ok(p.clone());
        }
        match &self.config_home {
            Some(home) => Ok(default_ca_path(home, rack)),
            None => Err(fail(
                io,
                "neither XDG_CONFIG_HOME nor HOME is set, so the rack's certificate authority has no default place; give it with --ca FILE",
            )),
        }
    }

    /// The backend, opened (mock) or configured (AWS) on first use.
    pub fn backend(&mut self, io: &mut Io<'_>) -> Result<&Chosen, Exit> {
        if self.chosen.is_none() {
            let chosen = match self.kind {
                BackendKind::Mock => {
                    if self.endpoint_url.is_some() {
                        return Err(usage(io, "--endpoint-url is for --backend aws"));
                    }
                    let path = self.state_path();
                    let (mock, lock) =
                        MockBackend::open_locked(&path).map_err(|e| report_error(io, &e))?;
                    let mock = Arc::new(mock);
                    Chosen {
                        backend: mock.clone(),
                        store: Store::Mock { mock, lock },
                    }
                }
                BackendKind::Aws => {
                    let mut b = AwsBackendBuilder::from_env();
                    if let Some(r) = &self.region {
                        b = b.with_region(r.clone());
                    }
                    if let Some(u) = &self.endpoint_url {
                        b = b.with_endpoint_url(u.clone());
                    }
                    let aws = self
                        .rt
                        .block_on(b.build())
                        .map_err(|e| report_error(io, &e))?;
                    Chosen {
                        backend: Arc::new(aws.clone()),
                        store: Store::Aws(aws),
                    }
                }
            };
            self.chosen = Some(chosen);
        }
        match &self.chosen {
            Some(c) => Ok(c),
            None => Err(fail(io, "no backend")),
        }
    }

    /// What the backend holds of `scope` on rack `rack`; a backend error is
    /// reported on stderr.
    pub fn observe(
        &mut self,
        rack: &Name,
        scope: &Scope,
        io: &mut Io<'_>,
    ) -> Result<Vec<Observed>, Exit> {
        self.read(io, |b| async move { b.observe(rack, scope).await })
    }

    /// One read of the session's backend, its error reported.
    fn read<'a, T, F>(
        &mut self,
        io: &mut Io<'_>,
        call: impl FnOnce(Arc<dyn Backend>) -> F,
    ) -> Result<T, Exit>
    where
        F: std::future::Future<Output = BackendResult<T>> + 'a,
    {
        let backend = self.backend(io)?.backend.clone();
        self.rt
            .block_on(call(backend))
            .map_err(|e| report_error(io, &e))
    }

    /// What a plan or deploy of `app` reads ([`convox_model::backend::Backend::observe_app`]):
    /// the stored rack comes with it.
    pub fn observe_app(
        &mut self,
        rack: &Name,
        app: &Name,
        io: &mut Io<'_>,
    ) -> Result<AppObservation, Exit> {
        self.read(io, |b| async move { b.observe_app(rack, app).await })
    }

    /// Saves the mock's state if anything may have changed (any mutating call,
    /// failed ones included, since a failed apply may have done part of its work).
    /// Called on success and on failure alike, so that the next run converges.
    pub fn persist(&self, io: &mut Io<'_>) -> Result<(), Exit> {
        let Some(Chosen {
            store: Store::Mock { mock, lock },
            ..
        }) = &self.chosen
        else {
            return Ok(());
        };
        if mock.calls().mutations == 0 {
            return Ok(());
        }
        lock.save(mock).map_err(|e| report_error(io, &e))
    }

    /// With `--show-calls`, prints how many backend calls this command made.
    pub fn print_calls(&self, io: &mut Io<'_>) {
        if !self.show_calls {
            return;
        }
        let (reads, mutating) = match &self.chosen {
            Some(Chosen {
                store: Store::Mock { mock, .. },
                ..
            }) => {
                let c = mock.calls();
                (c.reads, c.mutations)
            }
            Some(Chosen {
                store: Store::Aws(aws),
                ..
            }) => {
                let c = aws.calls();
                (c.total().saturating_sub(c.mutating()), c.mutating())
            }
            None => (0, 0),
        };
        let _ = writeln!(io.err, "backend calls: {reads} reads, {mutating} mutating");
    }

    /// The rack as stored by the backend, or `None` for a rack never set up.
    pub fn stored_rack(&mut self, name: &Name, io: &mut Io<'_>) -> Result<Option<Rack>, Exit> {
        self.read(io, |b| async move { b.load_rack(name).await })
    }

    /// The rack's settings for a command that may create it: the stored ones if
    /// the rack exists (the network options must then agree with them), otherwise
    /// built from the options: on AWS from `--vpc` through EC2, on the mock a
    /// placeholder network. The flag says whether the rack was stored.
    pub fn rack(
        &mut self,
        name: &Name,
        net: &NetworkArgs,
        io: &mut Io<'_>,
    ) -> Result<(Rack, bool), Exit> {
        let stored = self.stored_rack(name, io)?;
        self.rack_as_stored(name, net, stored, io)
    }

    /// [`Session::rack`], with the stored settings already read.
    pub fn rack_as_stored(
        &mut self,
        name: &Name,
        net: &NetworkArgs,
        stored: Option<Rack>,
        io: &mut Io<'_>,
    ) -> Result<(Rack, bool), Exit> {
        if let Some(rack) = stored {
            // A rack's network is fixed once it exists.
            let differ = network_conflicts(&rack, &net.request());
            if !differ.is_empty() {
                let differ: Vec<String> = differ.iter().map(ToString::to_string).collect();
                return Err(fail(
                    io,
                    format!(
                        "rack {} already exists and its network is fixed: {}; leave these options out to use the rack as it is",
                        rack.name,
                        differ.join(", ")
                    ),
                ));
            }
            return Ok((rack, true));
        }
        let router_host = net
            .router_host
            .clone()
            .unwrap_or_else(|| format!("{name}.example.com"));
        let rack = match &self.backend(io)?.store {
            Store::Mock { .. } => Rack {
                name: name.clone(),
                region: net
                    .region
                    .clone()
                    .unwrap_or_else(|| convox_mock::DEFAULT_REGION.to_string()),
                vpc: Vpc {
                    id: net.vpc.clone().unwrap_or_else(|| "vpc-mock".to_string()),
                    cidr: "10.0.0.0/16".to_string(),
                },
                subnets: net
                    .subnets
                    .clone()
                    .unwrap_or_else(|| vec!["subnet-mock-a".into(), "subnet-mock-b".into()]),
                router_host,
                params: RackParams::default(),
                ca: None,
                external_certificate: None,
            },
            Store::Aws(aws) => {
                let Some(vpc_id) = &net.vpc else {
                    return Err(fail(
                        io,
                        format!(
                            "rack {name} has not been set up on AWS yet; give its VPC: --vpc VPC_ID (and --subnets a,b to choose its subnets)"
                        ),
                    ));
                };
                let aws = aws.clone();
                let (vpc, found) = self
                    .rt
                    .block_on(aws.vpc_network(vpc_id))
                    .map_err(|e| report_error(io, &e))?;
                Rack {
                    name: name.clone(),
                    region: aws.region().to_string(),
                    vpc,
                    subnets: net.subnets.clone().unwrap_or(found),
                    router_host,
                    params: RackParams::default(),
                    ca: None,
                    external_certificate: None,
                }
            }
        };
        Ok((rack, false))
    }

    /// The rack's certificate authority: read from `--ca` (default: the rack's
    /// file in the per-user configuration directory). Generated there only for
    /// a rack not created yet (`stored` false); for a rack that exists a missing
    /// file is an error naming the authority the rack expects, and nothing is
    /// written. The authority is checked before use (a warning on stderr when it
    /// is unconstrained); a new rack records it, with where it is, in `rack`.
    pub fn authority(
        &self,
        rack: &mut Rack,
        stored: bool,
        now: i64,
        io: &mut Io<'_>,
    ) -> Result<CertificateAuthority, Exit> {
        let path = self.ca_path(&rack.name, io)?;
        let ca = match read_authority(&path, io)? {
            Some(ca) => ca,
            None if stored => {
                let e = CaError::NotFound {
                    rack: rack.name.clone(),
                    expected: rack.ca.clone().map(Box::new),
                    looked_in: path.display().to_string(),
                };
                return Err(report_error(io, &e));
            }
            None => self.generate_authority(&rack.name, &path, now, io)?,
        };
        check_authority(&ca, &rack.name, io)?;
        if !stored {
            rack.ca = Some(RackCa::new(ca.fingerprint(), now, origin(&path)));
        }
        Ok(ca)
    }

    /// Generates an authority for `rack` into `path` (mode 0600) and says where
    /// it is and that it must be kept.
    pub fn generate_authority(
        &self,
        rack: &Name,
        path: &Path,
        now: i64,
        io: &mut Io<'_>,
    ) -> Result<CertificateAuthority, Exit> {
        let ca = CertificateAuthority::generate(rack, now).map_err(|e| report_error(io, &e))?;
        write_secret(path, &format!("{}{}", ca.cert_pem(), ca.key_pem()))
            .map_err(|e| fail(io, format!("cannot write {}: {e}", path.display())))?;
        let _ = writeln!(
            io.err,
            "Generated the rack's certificate authority {} in {}: keep it (back it up; never commit it). It is rack {rack}'s identity: every later command needs it (--ca FILE, or that default place), and clients inside the VPC trust its certificate.",
            ca.fingerprint(),
            path.display()
        );
        Ok(ca)
    }
}

/// `{config home}/convox/racks/{rack}/ca.pem`.
pub fn default_ca_path(config_home: &Path, rack: &Name) -> PathBuf {
    config_home
        .join("convox")
        .join("racks")
        .join(rack.as_str())
        .join(CA_FILE)
}

/// Where an authority was created, as the rack records it.
pub fn origin(path: &Path) -> String {
    let host = std::fs::read_to_string("/etc/hostname").unwrap_or_default();
    match host.trim() {
        "" => path.display().to_string(),
        h => format!("{} on {h}", path.display()),
    }
}

/// The authority in `path`, or `None` if there is no such file.
pub fn read_authority(path: &Path, io: &mut Io<'_>) -> Result<Option<CertificateAuthority>, Exit> {
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let Some((cert, key)) = ca_bundle(&text) else {
                return Err(fail(
                    io,
                    format!(
                        "{} must hold the certificate authority's certificate and private key (PEM)",
                        path.display()
                    ),
                ));
            };
            CertificateAuthority::from_pem(&cert, &key)
                .map(Some)
                .map_err(|e| report_error(io, &e))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(fail(io, format!("cannot read {}: {e}", path.display()))),
    }
}

/// Checks an authority before it serves `rack`: refused when unfit, a warning
/// on stderr when unconstrained.
pub fn check_authority(
    ca: &CertificateAuthority,
    rack: &Name,
    io: &mut Io<'_>,
) -> Result<(), Exit> {
    if let Some(w) = ca.check_for_rack(rack).map_err(|e| report_error(io, &e))? {
        let _ = writeln!(io.err, "warning: {w}");
    }
    Ok(())
}

/// Writes a file only its owner can read: it holds a private key.
fn write_secret(path: &Path, text: &str) -> std::io::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)?.write_all(text.as_bytes())
}
