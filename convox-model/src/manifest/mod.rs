//! `convox.yml`: the manifest's types and how text becomes one.
//!
//! Reading goes text → `${VAR}` interpolation → YAML (behind [`yaml`], the one
//! module that knows the YAML parser) → every shorthand form accepted ([`read()`])
//! → the [`Manifest`] below, with v2's defaults ([`defaults`]) applied. Every
//! problem of shape is collected; nothing stops at the first.
//!
//! This module only reads. The rules a manifest must follow live in
//! [`crate::rules`]; [`crate::check::parse`] reads and applies them.

use std::collections::BTreeMap;

use serde::Serialize;
use serde::ser::{SerializeStruct, Serializer};

use crate::diag::Diagnostics;
use crate::name::Name;

pub mod defaults;
pub mod keys;
pub mod read;
mod render;
mod source;
pub mod yaml;

pub use read::{Lenient, read};
pub use source::SourceMap;

/// The result of reading and validating a manifest that has no errors: the manifest and its warnings.
#[derive(Clone, Debug)]
pub struct Parsed {
    /// The validated manifest.
    pub manifest: Manifest,
    /// Warnings (unknown keys and the like), in source order.
    pub warnings: Diagnostics,
}

/// A validated `convox.yml`, with v2's defaults applied.
///
/// Serialises as the normalised manifest of `convox manifest --json`: snake_case
/// of Convox v2's field names; services and timers as lists in file order.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Manifest {
    /// App-level environment declarations, in file order.
    pub environment: Vec<EnvDecl>,
    /// App parameters (`params:`), as strings.
    pub params: BTreeMap<String, String>,
    /// Resources (databases and the like), in file order.
    pub resources: Vec<AppResource>,
    /// Services, in file order.
    pub services: Vec<Service>,
    /// Timers, in file order.
    pub timers: Vec<Timer>,
    /// Where each YAML path starts in the source, for diagnostics found later.
    #[serde(skip)]
    pub source: SourceMap,
}

impl Manifest {
    /// A manifest with these services and nothing else.
    pub fn from_services(services: Vec<Service>) -> Manifest {
        Manifest {
            environment: Vec::new(),
            params: BTreeMap::new(),
            resources: Vec::new(),
            services,
            timers: Vec::new(),
            source: SourceMap::default(),
        }
    }

    /// The service named `name`.
    pub fn service(&self, name: &str) -> Option<&Service> {
        self.services.iter().find(|s| s.name.as_str() == name)
    }

    /// The timer named `name`.
    pub fn timer(&self, name: &str) -> Option<&Timer> {
        self.timers.iter().find(|t| t.name.as_str() == name)
    }

    /// Renders the manifest as `convox.yml` text in its normalised form (every
    /// default written out); [`crate::check::parse`] reads it back to an equal
    /// manifest.
    pub fn to_yaml(&self) -> String {
        render::render(self)
    }
}

/// One entry of an `environment:` list.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(into = "String")]
pub enum EnvDecl {
    /// `KEY=default`: the app's value if set, else the default.
    Default {
        /// The variable.
        key: String,
        /// Its default.
        value: String,
    },
    /// `KEY`: the app must set it.
    Required {
        /// The variable.
        key: String,
    },
    /// `*`: every variable of the app environment.
    All,
}

impl From<EnvDecl> for String {
    fn from(d: EnvDecl) -> String {
        match d {
            EnvDecl::Default { key, value } => format!("{key}={value}"),
            EnvDecl::Required { key } => key,
            EnvDecl::All => "*".to_string(),
        }
    }
}

/// A resource of the app (`resources:` in convox.yml), such as a database; not to
/// be confused with [`crate::resource::Resource`], a cloud resource.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AppResource {
    /// Its name.
    pub name: Name,
    /// Its type, such as `postgres`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Its options, as strings.
    pub options: BTreeMap<String, String>,
}

/// A timer (`timers:`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Timer {
    /// Its name.
    pub name: Name,
    /// The command it runs.
    pub command: String,
    /// Its cron schedule.
    pub schedule: String,
    /// The service whose image and environment it runs with.
    pub service: Name,
}

/// The scheme a service's port speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Scheme {
    /// `http` (the default).
    Http,
    /// `https`.
    Https,
    /// `grpc`.
    Grpc,
    /// `secure-grpc`.
    SecureGrpc,
}

impl Scheme {
    /// Every scheme, as `port:` accepts them.
    pub const ALL: [Scheme; 4] = [
        Scheme::Http,
        Scheme::Https,
        Scheme::Grpc,
        Scheme::SecureGrpc,
    ];

    /// Parses a scheme as written in `convox.yml`.
    pub fn parse(s: &str) -> Option<Scheme> {
        match s {
            "http" => Some(Scheme::Http),
            "https" => Some(Scheme::Https),
            "grpc" => Some(Scheme::Grpc),
            "secure-grpc" => Some(Scheme::SecureGrpc),
            _ => None,
        }
    }

    /// As written in `convox.yml`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Scheme::Http => "http",
            Scheme::Https => "https",
            Scheme::Grpc => "grpc",
            Scheme::SecureGrpc => "secure-grpc",
        }
    }

    /// Whether the router talks TLS to the service (`https`, `secure-grpc`).
    pub fn is_tls(&self) -> bool {
        matches!(self, Scheme::Https | Scheme::SecureGrpc)
    }
}

/// A service's port.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct Port {
    /// 1..=65535.
    pub port: u16,
    /// The scheme.
    pub scheme: Scheme,
}

/// A service (`services:`), with v2's defaults applied.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Service {
    /// Its name.
    pub name: Name,
    /// `agent:`: one per instance.
    pub agent: Agent,
    /// `build:`.
    pub build: Build,
    /// `command:`; a string becomes `["sh", "-c", string]`.
    pub command: Option<Vec<String>>,
    /// `deployment:`.
    pub deployment: Deployment,
    /// `domain:`, split on commas.
    pub domains: Vec<String>,
    /// `drain:` seconds (default 30).
    pub drain: u32,
    /// The service's environment declarations (app-level first, then its own).
    pub environment: Vec<EnvDecl>,
    /// `health:`.
    pub health: Health,
    /// `image:`.
    pub image: String,
    /// `init:`.
    pub init: bool,
    /// `internal:` and `internalAndExternal:`: which routers serve the service.
    /// Serialises as the two booleans `internal` (true also for
    /// internal-and-external) and `internal_and_external`.
    #[serde(flatten)]
    pub exposure: Exposure,
    /// `links:`, in file order.
    pub links: Vec<Name>,
    /// `nlb:` ports.
    pub nlb: Vec<NlbPort>,
    /// `policies:`.
    pub policies: Vec<String>,
    /// `port:`; `None` when the service exposes no port.
    pub port: Option<Port>,
    /// `privileged:`.
    pub privileged: bool,
    /// `resources:` this service uses.
    pub resources: Vec<Name>,
    /// `scale:`.
    pub scale: Scale,
    /// `singleton:`.
    pub singleton: bool,
    /// `sticky:` (true unless written).
    pub sticky: bool,
    /// `tags:`.
    pub tags: BTreeMap<String, String>,
    /// `termination:`.
    pub termination: Termination,
    /// `test:`.
    pub test: String,
    /// `volumes:`.
    pub volumes: Vec<String>,
}

impl Service {
    /// A service named `name` with every field at v2's default: no port, not
    /// internal, built from `.`. For tools and tests that build manifests in code.
    pub fn with_defaults(name: Name) -> Service {
        Service {
            name,
            agent: Agent::default(),
            build: defaults::build(true),
            command: None,
            deployment: defaults::deployment(false),
            domains: Vec::new(),
            drain: defaults::DRAIN,
            environment: Vec::new(),
            health: defaults::health(None, None, None, None),
            image: String::new(),
            init: false,
            exposure: Exposure::External,
            links: Vec::new(),
            nlb: Vec::new(),
            policies: Vec::new(),
            port: None,
            privileged: false,
            resources: Vec::new(),
            scale: defaults::scale(),
            singleton: false,
            sticky: defaults::STICKY,
            tags: BTreeMap::new(),
            termination: defaults::termination(),
            test: String::new(),
            volumes: Vec::new(),
        }
    }

    /// A service named `name` at v2's defaults that listens for HTTP on
    /// `port`, routed as `exposure` says. For tools and tests that build
    /// manifests in code.
    pub fn routed(name: Name, port: u16, exposure: Exposure) -> Service {
        Service {
            port: Some(Port {
                port,
                scheme: Scheme::Http,
            }),
            exposure,
            ..Service::with_defaults(name)
        }
    }

    /// Whether the service is routed on the internal router.
    pub fn routed_internally(&self) -> bool {
        self.port.is_some() && self.exposure.is_internal()
    }

    /// Whether the service is routed on the external router.
    pub fn routed_externally(&self) -> bool {
        self.port.is_some() && self.exposure.is_external()
    }
}

/// Which routers serve a service: `internal:` and `internalAndExternal:` said once.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Exposure {
    /// Neither key: the external router only (the default).
    #[default]
    External,
    /// `internal: true`: the internal router only.
    Internal,
    /// `internalAndExternal: true` (whatever `internal:` says): both routers.
    InternalAndExternal,
}

impl Exposure {
    /// The exposure the two keys of convox.yml ask for: `internalAndExternal` wins.
    pub fn from_flags(internal: bool, internal_and_external: bool) -> Exposure {
        match (internal, internal_and_external) {
            (_, true) => Exposure::InternalAndExternal,
            (true, false) => Exposure::Internal,
            (false, false) => Exposure::External,
        }
    }

    /// Whether the internal router serves it (`internal` or `internalAndExternal`).
    pub fn is_internal(self) -> bool {
        matches!(self, Exposure::Internal | Exposure::InternalAndExternal)
    }

    /// Whether the external router serves it (the default, or `internalAndExternal`).
    pub fn is_external(self) -> bool {
        matches!(self, Exposure::External | Exposure::InternalAndExternal)
    }

    /// Whether it is `internalAndExternal`.
    pub fn is_internal_and_external(self) -> bool {
        self == Exposure::InternalAndExternal
    }

    /// The key of convox.yml that asks for it: `internal`, `internalAndExternal`,
    /// or `None` for the default.
    pub fn key(self) -> Option<&'static str> {
        match self {
            Exposure::External => None,
            Exposure::Internal => Some("internal"),
            Exposure::InternalAndExternal => Some("internalAndExternal"),
        }
    }
}

/// As the two booleans of `convox manifest --json`, flattened into the service.
impl Serialize for Exposure {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut s = serializer.serialize_struct("Exposure", 2)?;
        s.serialize_field("internal", &self.is_internal())?;
        s.serialize_field("internal_and_external", &self.is_internal_and_external())?;
        s.end()
    }
}

/// `agent:`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Agent {
    /// Whether the service runs as an agent.
    pub enabled: bool,
    /// Host ports it listens on.
    pub ports: Vec<AgentPort>,
}

/// An agent port such as `8125/udp`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AgentPort {
    /// The port.
    pub port: u16,
    /// `tcp` (default) or `udp`.
    pub protocol: String,
}

/// `build:`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Build {
    /// Build context (`.` by default when there is no image).
    pub path: String,
    /// Dockerfile (`Dockerfile` by default).
    pub manifest: String,
    /// Build args, `KEY=VALUE` or `KEY`.
    pub args: Vec<String>,
}

/// `deployment:` percentages.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Deployment {
    /// Minimum healthy percent (50, or 0 for agents and singletons).
    pub minimum: u32,
    /// Maximum percent (200, or 100 for agents and singletons).
    pub maximum: u32,
}

/// `health:`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Health {
    /// Path checked (default `/`).
    pub path: String,
    /// Seconds between checks (default 5).
    pub interval: u32,
    /// Seconds before a check fails (default interval - 1).
    pub timeout: u32,
    /// Seconds after start before checks count (default interval).
    pub grace: u32,
}

/// An `nlb:` port.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct NlbPort {
    /// The load balancer's port.
    pub port: u16,
    /// The container port (defaults to `port`).
    pub container_port: u16,
    /// `tcp` or `tls`.
    pub protocol: String,
    /// `public` or `internal`.
    pub scheme: String,
}

/// `scale:`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Scale {
    /// Instance count range.
    pub count: ScaleCount,
    /// CPU units (default 256).
    pub cpu: u32,
    /// Memory MiB (default 512).
    pub memory: u32,
    /// Autoscaling cooldowns.
    pub cooldown: Cooldown,
    /// Autoscaling targets.
    pub targets: Targets,
}

/// Instance count range; `min == max` for a fixed count.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct ScaleCount {
    /// Fewest instances.
    pub min: u32,
    /// Most instances.
    pub max: u32,
}

/// Autoscaling cooldowns in seconds (default 60 each).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Cooldown {
    /// Scale-down cooldown.
    pub down: u32,
    /// Scale-up cooldown.
    pub up: u32,
}

/// Autoscaling targets (0 means unset).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Targets {
    /// Target CPU percent.
    pub cpu: u32,
    /// Target memory percent.
    pub memory: u32,
    /// Target requests per minute per instance.
    pub requests: u32,
    /// Custom metrics, kept as written.
    pub custom: Vec<serde_json::Value>,
}

/// `termination:`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Termination {
    /// Seconds between SIGTERM and SIGKILL (default 30).
    pub grace: u32,
}
