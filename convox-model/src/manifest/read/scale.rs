//! `scale:` (`2`, `1-3`, or a mapping with count, cpu, memory, cooldown, targets).

use serde_yaml::Value;

use super::{Reader, join_key};
use crate::manifest::{Cooldown, Scale, ScaleCount, Targets, defaults, keys};

impl Reader<'_> {
    pub(super) fn scale(&mut self, path: &str, v: &Value) -> Option<Scale> {
        let mut scale = defaults::scale();
        match v {
            Value::Null => return None,
            Value::Number(_) | Value::String(_) => scale.count = self.count(path, v)?,
            Value::Mapping(_) => {
                for (k, x) in self.mapping(path, v, "scale").unwrap_or_default() {
                    let q = join_key(path, &k);
                    match k.as_ref() {
                        "count" => {
                            if let Some(c) = self.count(&q, x) {
                                scale.count = c;
                            }
                        }
                        "cpu" => {
                            let default = defaults::CPU;
                            if let Some(n) =
                                self.number_or_default(&q, x, true, "scale cpu", default)
                            {
                                scale.cpu = n;
                            }
                        }
                        "memory" => {
                            let default = defaults::MEMORY;
                            if let Some(n) =
                                self.number_or_default(&q, x, true, "scale memory", default)
                            {
                                scale.memory = n;
                            }
                        }
                        "cooldown" => match x {
                            Value::Mapping(_) => {
                                for (k2, y) in self.mapping(&q, x, "cooldown").unwrap_or_default() {
                                    let r = join_key(&q, &k2);
                                    match k2.as_ref() {
                                        "down" => {
                                            if let Some(n) = self.number(&r, y, true) {
                                                scale.cooldown.down = n;
                                            }
                                        }
                                        "up" => {
                                            if let Some(n) = self.number(&r, y, true) {
                                                scale.cooldown.up = n;
                                            }
                                        }
                                        _ => self.unknown_key(&q, &k2, keys::COOLDOWN),
                                    }
                                }
                            }
                            _ => {
                                if let Some(n) = self.number(&q, x, true) {
                                    scale.cooldown = Cooldown { down: n, up: n };
                                }
                            }
                        },
                        "targets" => scale.targets = self.targets(&q, x),
                        _ => self.unknown_key(path, &k, keys::SCALE),
                    }
                }
            }
            other => {
                self.unknown_type(
                    path,
                    "scale",
                    other,
                    Some(
                        "write scale: 2, scale: 1-3, or scale: {count: 1-3, cpu: 256}".to_string(),
                    ),
                );
                return None;
            }
        }
        Some(scale)
    }

    /// `2`, `1-3`, or `{min, max}`.
    pub(super) fn count(&mut self, path: &str, v: &Value) -> Option<ScaleCount> {
        let hint = || Some("write a count such as 2 or a range such as 1-3".to_string());
        match v {
            Value::Number(_) => {
                let n = self.number(path, v, false)?;
                Some(ScaleCount { min: n, max: n })
            }
            Value::String(s) => {
                let parts: Vec<&str> = s.split('-').collect();
                let parse = |r: &mut Self, t: &str| match t.trim().parse::<u32>() {
                    Ok(n) => Some(n),
                    Err(_) => {
                        r.error(
                            path,
                            format!(
                                "invalid scale: {s} (strconv.Atoi: parsing {t:?}: invalid syntax)"
                            ),
                            hint(),
                        );
                        None
                    }
                };
                match parts.as_slice() {
                    [one] => {
                        let n = parse(self, one)?;
                        Some(ScaleCount { min: n, max: n })
                    }
                    [a, b] => {
                        let min = parse(self, a)?;
                        let max = parse(self, b)?;
                        Some(ScaleCount { min, max })
                    }
                    _ => {
                        self.error(path, format!("invalid scale: {s}"), hint());
                        None
                    }
                }
            }
            Value::Mapping(_) => {
                let (mut min, mut max) = (None, None);
                for (k, x) in self.mapping(path, v, "count").unwrap_or_default() {
                    let q = join_key(path, &k);
                    match k.as_ref() {
                        "min" => min = self.number(&q, x, false),
                        "max" => max = self.number(&q, x, false),
                        _ => self.unknown_key(path, &k, keys::COUNT),
                    }
                }
                // v2 left an unwritten max at 0, below any min; we take the other bound.
                let min_v = min.or(max).unwrap_or(1);
                let max_v = max.unwrap_or(min_v);
                Some(ScaleCount {
                    min: min_v,
                    max: max_v,
                })
            }
            other => {
                self.unknown_type(path, "scale", other, hint());
                None
            }
        }
    }

    pub(super) fn targets(&mut self, path: &str, v: &Value) -> Targets {
        let mut t = Targets::default();
        for (k, x) in self.mapping(path, v, "targets").unwrap_or_default() {
            let q = join_key(path, &k);
            match k.as_ref() {
                "cpu" => t.cpu = self.number(&q, x, true).unwrap_or(0),
                "memory" => t.memory = self.number(&q, x, true).unwrap_or(0),
                "requests" => t.requests = self.number(&q, x, true).unwrap_or(0),
                "custom" => {
                    t.custom = match serde_json::to_value(x) {
                        Ok(serde_json::Value::Array(items)) => items,
                        Ok(serde_json::Value::Null) => Vec::new(),
                        Ok(other) => vec![other],
                        Err(_) => {
                            self.error(&q, "custom targets must be plain YAML", None);
                            Vec::new()
                        }
                    }
                }
                _ => self.unknown_key(path, &k, keys::TARGETS),
            }
        }
        t
    }
}
