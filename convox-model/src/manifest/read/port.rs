//! `port:` (`3000`, `https:3000`, `{port, scheme}`) and `nlb:` ports.

use serde_yaml::Value;

use super::scalars::show;
use super::{Reader, join_index, join_key};
use crate::manifest::{NlbPort, Port, Scheme, keys};

impl Reader<'_> {
    pub(super) fn nlb(&mut self, path: &str, v: &Value) -> Vec<NlbPort> {
        let items = match v {
            Value::Null => return Vec::new(),
            Value::Sequence(items) => items,
            other => {
                self.error(
                    path,
                    format!("could not parse nlb: {}", show(other)),
                    Some("write nlb as a list of {port, protocol, scheme}".to_string()),
                );
                return Vec::new();
            }
        };
        let mut out = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let p = join_index(path, i);
            let mut port = None;
            let mut container_port = None;
            let mut protocol = "tcp".to_string();
            let mut scheme = "public".to_string();
            match item {
                Value::Number(_) => port = self.number(&p, item, false),
                _ => {
                    for (k, x) in self.mapping(&p, item, "an nlb port").unwrap_or_default() {
                        let q = join_key(&p, &k);
                        match k.as_ref() {
                            "port" => port = self.number(&q, x, false),
                            "containerPort" => container_port = self.number(&q, x, false),
                            "protocol" => protocol = self.string(&q, x).unwrap_or(protocol),
                            "scheme" => scheme = self.string(&q, x).unwrap_or(scheme),
                            _ => self.unknown_key(&p, &k, keys::NLB),
                        }
                    }
                }
            }
            let port16 = port.and_then(|n| u16::try_from(n).ok()).filter(|n| *n > 0);
            if container_port == Some(0) {
                // v2 takes containerPort 0 for the default, the nlb port.
                let became = port16.map_or_else(|| "the port".to_string(), |p| p.to_string());
                self.zero_means_default(
                    &join_key(&p, "containerPort"),
                    "nlb containerPort",
                    became,
                );
            }
            let container16 = match container_port {
                None | Some(0) => port16,
                Some(c) => u16::try_from(c).ok().filter(|n| *n > 0),
            };
            match (port16, container16) {
                (Some(port), Some(container_port)) => out.push(NlbPort {
                    port,
                    container_port,
                    protocol,
                    scheme,
                }),
                _ => self.error(
                    &p,
                    "nlb port must be between 1 and 65535",
                    Some("write - port: 5432".to_string()),
                ),
            }
        }
        out
    }

    pub(super) fn port(&mut self, path: &str, v: &Value) -> Option<Port> {
        let hint = || {
            Some(
                "write port: 3000, port: https:3000 or port: {port: 3000, scheme: https}"
                    .to_string(),
            )
        };
        let (number, scheme) = match v {
            Value::Null => return None,
            Value::Number(n) => match n.as_i64() {
                Some(n) => (n, Scheme::Http),
                None => {
                    self.error(path, format!("could not parse port: {n}"), hint());
                    return None;
                }
            },
            Value::String(s) => self.port_string(path, s)?,
            Value::Mapping(_) => {
                let mut number = None;
                let mut scheme = None;
                let mut written_scheme = None;
                for (k, x) in self.mapping(path, v, "port").unwrap_or_default() {
                    let q = join_key(path, &k);
                    match k.as_ref() {
                        "port" => match x {
                            Value::Number(n) => number = n.as_i64(),
                            Value::String(s) => {
                                if let Some((n, s)) = self.port_string(&q, s) {
                                    number = Some(n);
                                    scheme = Some(s);
                                }
                            }
                            other => self.error(
                                &q,
                                format!("could not parse port: {}", show(other)),
                                hint(),
                            ),
                        },
                        "scheme" => {
                            if let Some(s) = self.string(&q, x) {
                                match Scheme::parse(&s) {
                                    Some(s) => written_scheme = Some(s),
                                    None => self.error(
                                        &q,
                                        format!("unknown port scheme: {s}"),
                                        Some(
                                            "schemes are http, https, grpc and secure-grpc"
                                                .to_string(),
                                        ),
                                    ),
                                }
                            }
                        }
                        _ => self.unknown_key(path, &k, keys::PORT),
                    }
                }
                let Some(number) = number else {
                    if !self.has_error_under(&join_key(path, "port")) {
                        self.error(
                            path,
                            format!("could not parse port: {}", port_map_text(v)),
                            hint(),
                        );
                    }
                    return None;
                };
                // An explicit scheme wins over one written in the port string.
                (number, written_scheme.or(scheme).unwrap_or(Scheme::Http))
            }
            other => {
                self.error(path, format!("invalid port: {}", show(other)), hint());
                return None;
            }
        };
        if number == 0 {
            // v2 reads port 0 as "no port".
            self.warning(
                path,
                "port 0 means the service exposes no port",
                Some("remove port: or give a port between 1 and 65535".to_string()),
            );
            return None;
        }
        match u16::try_from(number) {
            Ok(port) => Some(Port { port, scheme }),
            Err(_) => {
                self.error(
                    path,
                    format!("port {number} is out of range: a port is between 1 and 65535"),
                    hint(),
                );
                None
            }
        }
    }

    /// `3000` or `https:3000`.
    pub(super) fn port_string(&mut self, path: &str, s: &str) -> Option<(i64, Scheme)> {
        let hint = Some("write port: 3000 or port: https:3000".to_string());
        let (scheme, number) = match s.split_once(':') {
            Some((scheme, number)) => match Scheme::parse(scheme) {
                Some(sc) => (sc, number),
                None => {
                    self.error(
                        path,
                        format!("could not parse port: {s}: unknown scheme {scheme}"),
                        Some("schemes are http, https, grpc and secure-grpc".to_string()),
                    );
                    return None;
                }
            },
            None => (Scheme::Http, s),
        };
        match number.parse::<i64>() {
            Ok(n) => Some((n, scheme)),
            Err(_) => {
                self.error(
                    path,
                    format!(
                        "could not parse port: {s} (strconv.Atoi: parsing {number:?}: invalid syntax)"
                    ),
                    hint,
                );
                None
            }
        }
    }
}

/// v2's rendering of a port mapping without a port, `map[scheme:https]`.
fn port_map_text(v: &Value) -> String {
    let Value::Mapping(m) = v else {
        return show(v);
    };
    let mut parts: Vec<String> = m
        .iter()
        .map(|(k, v)| format!("{}:{}", show(k), show(v)))
        .collect();
    parts.sort();
    format!("map[{}]", parts.join(" "))
}
