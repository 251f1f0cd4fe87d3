//! The keys the reader knows, one list per mapping of convox.yml.
//!
//! The reader ([`super::read()`]) warns about any key not listed here, naming
//! these in its hint, and the JSON Schema ([`crate::schema`]) is built from the
//! same lists: a key added here is read and described, or a test fails.

/// The document's top level.
pub const TOP: &[&str] = &["environment", "params", "resources", "services", "timers"];

/// A service.
pub const SERVICE: &[&str] = &[
    "agent",
    "build",
    "command",
    "deployment",
    "domain",
    "drain",
    "environment",
    "health",
    "image",
    "init",
    "internal",
    "internalAndExternal",
    "links",
    "nlb",
    "policies",
    "port",
    "privileged",
    "resources",
    "scale",
    "singleton",
    "sticky",
    "tags",
    "termination",
    "test",
    "volumes",
];

/// A resource (`resources.NAME`).
pub const RESOURCE: &[&str] = &["type", "options"];

/// A timer (`timers.NAME`).
pub const TIMER: &[&str] = &["command", "schedule", "service"];

/// Timer keys v2 reads that this model does not act on: accepted silently.
pub const TIMER_IGNORED: &[&str] = &["policies", "concurrency"];

/// `agent:` as a mapping.
pub const AGENT: &[&str] = &["enabled", "ports"];

/// `build:` as a mapping.
pub const BUILD: &[&str] = &["path", "manifest", "args"];

/// `deployment:`.
pub const DEPLOYMENT: &[&str] = &["minimum", "maximum"];

/// `health:` as a mapping.
pub const HEALTH: &[&str] = &["path", "interval", "timeout", "grace"];

/// `port:` as a mapping.
pub const PORT: &[&str] = &["port", "scheme"];

/// An `nlb:` item as a mapping.
pub const NLB: &[&str] = &["port", "containerPort", "protocol", "scheme"];

/// `scale:` as a mapping.
pub const SCALE: &[&str] = &["count", "cpu", "memory", "cooldown", "targets"];

/// `scale.count:` as a mapping.
pub const COUNT: &[&str] = &["min", "max"];

/// `scale.cooldown:` as a mapping.
pub const COOLDOWN: &[&str] = &["down", "up"];

/// `scale.targets:`.
pub const TARGETS: &[&str] = &["cpu", "memory", "requests", "custom"];

/// `termination:`.
pub const TERMINATION: &[&str] = &["grace"];
