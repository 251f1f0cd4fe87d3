//! Ranges of one service: port 1..=65535, scale min <= max, deployment
//! percentages, and the ranges AWS's own APIs accept for what convox.yml sets
//! (health path, interval, timeout and grace, drain), so that `check` refuses
//! what a deploy would see AWS refuse.
//!
//! The bounds are AWS's, from its API references: the target group's health
//! check (ELBv2 `CreateTargetGroup` / `ModifyTargetGroup`), its deregistration
//! delay (ELBv2 target group attribute `deregistration_delay.timeout_seconds`)
//! and the ECS service's `healthCheckGracePeriodSeconds`. They are public so
//! that other layers (and the JSON Schema) read the same numbers.

use std::ops::RangeInclusive;

use super::{Out, spath};
use crate::manifest::Service;

/// A service's port, and a target group's: ELBv2 `Port`, 1–65535.
pub const PORT: RangeInclusive<u32> = 1..=65535;

/// `health.interval` seconds: ELBv2 `HealthCheckIntervalSeconds`, 5–300.
pub const HEALTH_INTERVAL: RangeInclusive<u32> = 5..=300;

/// `health.timeout` seconds: ELBv2 `HealthCheckTimeoutSeconds`, 2–120, and
/// below the interval.
pub const HEALTH_TIMEOUT: RangeInclusive<u32> = 2..=120;

/// `health.path`'s longest length: ELBv2 `HealthCheckPath`, 1–1024 characters.
pub const HEALTH_PATH_MAX_LEN: usize = 1024;

/// `health.grace` seconds: ECS `healthCheckGracePeriodSeconds`, 0–2,147,483,647.
pub const HEALTH_GRACE: RangeInclusive<u32> = 0..=2_147_483_647;

/// `drain:` seconds: ELBv2 `deregistration_delay.timeout_seconds`, 0–3600.
pub const DRAIN: RangeInclusive<u32> = 0..=3600;

/// A routed hostname's longest length: ELBv2 `HostHeaderConditionConfig`
/// values, 128 characters (DNS would allow 253); [`super::hostnames`] checks it.
pub const HOST_HEADER_MAX_LEN: usize = 128;

pub(crate) fn check(out: &mut Out<'_>, s: &Service) {
    if let Some(p) = s.port
        && !PORT.contains(&u32::from(p.port))
    {
        out.error(
            spath(&s.name, "port"),
            format!(
                "port {} is out of range: a port is between {} and {}",
                p.port,
                PORT.start(),
                PORT.end()
            ),
            None,
        );
    }
    let c = s.scale.count;
    if c.min > c.max {
        out.error(
            spath(&s.name, "scale"),
            format!(
                "invalid scale: minimum {} is greater than maximum {}",
                c.min, c.max
            ),
            Some(format!("write scale: {}-{}", c.max, c.min)),
        );
    }
    deployment(out, s);
    health(out, s);
    if !DRAIN.contains(&s.drain) {
        out.error(
            spath(&s.name, "drain"),
            format!(
                "drain {}s is out of range: AWS allows {} to {} seconds (deregistration_delay.timeout_seconds)",
                s.drain,
                DRAIN.start(),
                DRAIN.end()
            ),
            Some(format!("write drain: {} or less", DRAIN.end())),
        );
    }
}

fn deployment(out: &mut Out<'_>, s: &Service) {
    let d = s.deployment;
    if d.minimum > 100 {
        out.error(
            spath(&s.name, "deployment.minimum"),
            format!(
                "deployment minimum {}% is above 100%: it is the share of instances kept healthy",
                d.minimum
            ),
            Some("use a minimum between 0 and 100".to_string()),
        );
    }
    if d.minimum > d.maximum {
        out.error(
            spath(&s.name, "deployment"),
            format!(
                "deployment minimum {}% is greater than maximum {}%",
                d.minimum, d.maximum
            ),
            Some("the maximum is at least the minimum, usually 200".to_string()),
        );
    }
    if d.maximum == 0 {
        out.error(
            spath(&s.name, "deployment.maximum"),
            "deployment maximum 0% would never run an instance".to_string(),
            Some("use a maximum of at least 100".to_string()),
        );
    }
}

/// `what` (`interval`) of `health:` is `value` seconds, outside `range`, which
/// AWS's `api` field bounds.
fn out_of_range(
    out: &mut Out<'_>,
    s: &Service,
    what: &str,
    value: u32,
    range: &RangeInclusive<u32>,
    api: &str,
) {
    out.error(
        spath(&s.name, &format!("health.{what}")),
        format!(
            "health {what} {value}s is out of range: AWS allows {} to {} seconds ({api})",
            range.start(),
            range.end()
        ),
        Some(format!(
            "write {what}: between {} and {}",
            range.start(),
            range.end()
        )),
    );
}

fn health(out: &mut Out<'_>, s: &Service) {
    let h = &s.health;
    let path = spath(&s.name, "health.path");
    if !h.path.starts_with('/') {
        out.error(
            path.clone(),
            format!("health path {:?} must start with /", h.path),
            Some(format!("write health: /{}", h.path)),
        );
    }
    let len = h.path.chars().count();
    if len > HEALTH_PATH_MAX_LEN {
        out.error(
            path,
            format!(
                "health path is {len} characters long: AWS allows 1 to {HEALTH_PATH_MAX_LEN} (HealthCheckPath)"
            ),
            Some("use a shorter path".to_string()),
        );
    }
    let interval_ok = HEALTH_INTERVAL.contains(&h.interval);
    if !interval_ok {
        out_of_range(
            out,
            s,
            "interval",
            h.interval,
            &HEALTH_INTERVAL,
            "HealthCheckIntervalSeconds",
        );
    }
    if !HEALTH_TIMEOUT.contains(&h.timeout) {
        // An interval out of range already explains a timeout derived from it.
        if interval_ok {
            out_of_range(
                out,
                s,
                "timeout",
                h.timeout,
                &HEALTH_TIMEOUT,
                "HealthCheckTimeoutSeconds",
            );
        }
    } else if h.timeout >= h.interval {
        out.error(
            spath(&s.name, "health"),
            format!(
                "health timeout {}s must be less than interval {}s",
                h.timeout, h.interval
            ),
            Some(format!(
                "lower the timeout below {}, or raise the interval",
                h.interval
            )),
        );
    }
    if !HEALTH_GRACE.contains(&h.grace) {
        out.error(
            spath(&s.name, "health.grace"),
            format!(
                "health grace {}s is out of range: AWS allows {} to {} seconds (ECS healthCheckGracePeriodSeconds)",
                h.grace,
                HEALTH_GRACE.start(),
                HEALTH_GRACE.end()
            ),
            Some(format!("write grace: {} or less", HEALTH_GRACE.end())),
        );
    }
}
