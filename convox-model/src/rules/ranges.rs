//! Ranges of one service: port 1..=65535, scale min <= max, deployment
//! percentages, health timeout below the interval.

use super::{Out, spath};
use crate::manifest::Service;

pub(crate) fn check(out: &mut Out<'_>, s: &Service) {
    if let Some(p) = s.port
        && p.port == 0
    {
        out.error(
            spath(&s.name, "port"),
            "port 0 is out of range: a port is between 1 and 65535".to_string(),
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
    let h = &s.health;
    if h.timeout >= h.interval {
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
}
