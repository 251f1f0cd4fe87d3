//! Convox v2's defaults for a service, all in one place.
//!
//! The reader fills in what convox.yml does not say from here, and
//! [`Service::with_defaults`](super::Service::with_defaults) builds a service of
//! nothing but these.

use super::{Build, Cooldown, Deployment, Health, Scale, ScaleCount, Targets, Termination};

/// `drain:` seconds when unwritten (or 0).
pub const DRAIN: u32 = 30;

/// `sticky:` when unwritten.
pub const STICKY: bool = true;

/// `scale.cpu:` CPU units when unwritten (or 0).
pub const CPU: u32 = 256;

/// `scale.memory:` MiB when unwritten (or 0).
pub const MEMORY: u32 = 512;

/// `health.interval:` seconds when unwritten (or 0).
pub const HEALTH_INTERVAL: u32 = 5;

/// `health.path:` when unwritten (or empty).
pub const HEALTH_PATH: &str = "/";

/// `build:` when unwritten: from `.` with `Dockerfile` when the service has no
/// image (`built`), else nothing to build.
pub fn build(built: bool) -> Build {
    if built {
        written_build()
    } else {
        Build {
            path: String::new(),
            manifest: String::new(),
            args: Vec::new(),
        }
    }
}

/// The start of a written `build:`: path `.`, `Dockerfile`, no args.
pub fn written_build() -> Build {
    Build {
        path: ".".to_string(),
        manifest: "Dockerfile".to_string(),
        args: Vec::new(),
    }
}

/// `deployment:` when unwritten: 50–200 %, or 0–100 % for agents and singletons,
/// which must stop the old task before starting the new one (`stop_first`).
pub fn deployment(stop_first: bool) -> Deployment {
    if stop_first {
        Deployment {
            minimum: 0,
            maximum: 100,
        }
    } else {
        Deployment {
            minimum: 50,
            maximum: 200,
        }
    }
}

/// `health:` with what was written: path `/`, interval 5, timeout interval − 1,
/// grace interval; zero or empty counts as unwritten, as in v2.
pub fn health(
    path: Option<String>,
    interval: Option<u32>,
    timeout: Option<u32>,
    grace: Option<u32>,
) -> Health {
    let interval = interval.filter(|i| *i > 0).unwrap_or(HEALTH_INTERVAL);
    Health {
        path: path
            .filter(|p| !p.is_empty())
            .unwrap_or_else(|| HEALTH_PATH.to_string()),
        interval,
        timeout: timeout.filter(|t| *t > 0).unwrap_or(interval - 1),
        grace: grace.filter(|g| *g > 0).unwrap_or(interval),
    }
}

/// `scale:` when unwritten: one instance, 256 CPU units, 512 MiB, cooldowns of
/// 60 s, no autoscaling targets.
pub fn scale() -> Scale {
    Scale {
        count: ScaleCount { min: 1, max: 1 },
        cpu: CPU,
        memory: MEMORY,
        cooldown: Cooldown { down: 60, up: 60 },
        targets: Targets::default(),
    }
}

/// `termination:` when unwritten: 30 s between SIGTERM and SIGKILL.
pub fn termination() -> Termination {
    Termination { grace: 30 }
}
