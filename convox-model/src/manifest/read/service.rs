//! One service: its keys, each shorthand form, and v2's defaults for the rest.

use std::collections::BTreeMap;

use serde_yaml::Value;

use super::scalars::{scalar_text, show, yaml11_bool};
use super::{Reader, join_index, join_key};
use crate::manifest::{
    Agent, AgentPort, Build, Deployment, EnvDecl, Exposure, Health, Service, defaults, keys,
};
use crate::name::Name;

impl Reader<'_> {
    pub(super) fn services(&mut self, v: &Value, app_env: &[EnvDecl]) -> Vec<Service> {
        let entries = self.mapping("services", v, "services").unwrap_or_default();
        // A Service is large: sized once rather than moved on every doubling.
        let mut out = Vec::with_capacity(entries.len());
        for (key, body) in entries {
            let path = join_key("services", &key);
            let name = self.name(&path, &key, "service");
            // Read the body even when the name is bad, so its problems are reported too.
            let service = self.service(&path, name.clone(), body, app_env);
            if let (Some(_), Some(s)) = (name, service) {
                out.push(s);
            }
        }
        out
    }

    pub(super) fn service(
        &mut self,
        path: &str,
        name: Option<Name>,
        body: &Value,
        app_env: &[EnvDecl],
    ) -> Option<Service> {
        let entries = self.mapping(path, body, "a service")?;
        let mut agent = Agent::default();
        let mut build: Option<Build> = None;
        let mut command = None;
        let (mut dep_min, mut dep_max) = (None, None);
        let mut domains = Vec::new();
        let mut drain = None;
        let mut environment: Vec<EnvDecl> = app_env.to_vec();
        let mut health = None;
        let mut image = String::new();
        let (mut init, mut internal, mut ie, mut privileged, mut singleton) =
            (false, false, false, false, false);
        let mut sticky = defaults::STICKY;
        let mut links = Vec::new();
        let mut nlb = Vec::new();
        let mut policies = Vec::new();
        let mut port = None;
        let mut resources = Vec::new();
        let mut scale = None;
        let mut tags = BTreeMap::new();
        let mut termination = defaults::termination();
        let mut test = String::new();
        let mut volumes = Vec::new();
        let service_name = name.as_ref().map_or("", Name::as_str).to_string();

        for (key, v) in entries {
            let p = join_key(path, &key);
            match key.as_ref() {
                "agent" => agent = self.agent(&p, v),
                "build" => build = self.build(&p, v),
                "command" => command = self.command(&p, v),
                "deployment" => {
                    for (k, x) in self.mapping(&p, v, "deployment").unwrap_or_default() {
                        let q = join_key(&p, &k);
                        match k.as_ref() {
                            "minimum" => dep_min = self.number(&q, x, false),
                            "maximum" => dep_max = self.number(&q, x, false),
                            _ => self.unknown_key(&p, &k, keys::DEPLOYMENT),
                        }
                    }
                }
                "domain" => domains = self.domains(&p, v),
                "drain" => drain = self.number_or_default(&p, v, false, "drain", defaults::DRAIN),
                "environment" => environment.extend(self.environment(&p, v)),
                "health" => health = self.health(&p, v),
                "image" => image = self.string(&p, v).unwrap_or_default(),
                "init" => init = self.boolean(&p, v).unwrap_or(false),
                "internal" => internal = self.boolean(&p, v).unwrap_or(false),
                "internalAndExternal" => ie = self.boolean(&p, v).unwrap_or(false),
                "links" => links = self.links(&p, v, &service_name),
                "nlb" => nlb = self.nlb(&p, v),
                "policies" => policies = self.string_list(&p, v, "policies"),
                "port" => port = self.port(&p, v),
                "privileged" => privileged = self.boolean(&p, v).unwrap_or(false),
                "resources" => {
                    let raw = self.string_list(&p, v, "resources");
                    for (i, r) in raw.iter().enumerate() {
                        let q = join_index(&p, i);
                        if let Some(n) = self.name(&q, r, "resource") {
                            resources.push(n);
                        }
                    }
                }
                "scale" => scale = self.scale(&p, v),
                "singleton" => singleton = self.boolean(&p, v).unwrap_or(false),
                "sticky" => sticky = self.boolean(&p, v).unwrap_or(defaults::STICKY),
                "tags" => tags = self.string_map(&p, v, "tags"),
                "termination" => {
                    for (k, x) in self.mapping(&p, v, "termination").unwrap_or_default() {
                        let q = join_key(&p, &k);
                        match k.as_ref() {
                            "grace" => {
                                if let Some(g) = self.number(&q, x, false) {
                                    termination.grace = g;
                                }
                            }
                            _ => self.unknown_key(&p, &k, keys::TERMINATION),
                        }
                    }
                }
                "test" => test = self.string(&p, v).unwrap_or_default(),
                "volumes" => volumes = self.string_list(&p, v, "volumes"),
                _ => self.unknown_key(path, &key, keys::SERVICE),
            }
        }

        // v2: a service without an image is built, from `.` with `Dockerfile` unless
        // told otherwise; a service with both builds too.
        let build = build.unwrap_or_else(|| defaults::build(image.is_empty()));
        let deployment = defaults::deployment(agent.enabled || singleton);
        Some(Service {
            name: name?,
            agent,
            build,
            command,
            deployment: Deployment {
                minimum: dep_min.unwrap_or(deployment.minimum),
                maximum: dep_max.unwrap_or(deployment.maximum),
            },
            domains,
            drain: drain.unwrap_or(defaults::DRAIN),
            environment,
            health: health.unwrap_or_else(|| defaults::health(None, None, None, None)),
            image,
            init,
            exposure: Exposure::from_flags(internal, ie),
            links,
            nlb,
            policies,
            port,
            privileged,
            resources,
            scale: scale.unwrap_or_else(defaults::scale),
            singleton,
            sticky,
            tags,
            termination,
            test,
            volumes,
        })
    }

    pub(super) fn agent(&mut self, path: &str, v: &Value) -> Agent {
        let enabled = |enabled| Agent {
            enabled,
            ports: Vec::new(),
        };
        match v {
            Value::Null => enabled(false),
            Value::Bool(b) => enabled(*b),
            Value::String(s) if !self.quoted(path) && yaml11_bool(s).is_some() => {
                enabled(yaml11_bool(s).unwrap_or(false))
            }
            Value::Mapping(_) => {
                let mut agent = enabled(true);
                for (k, x) in self.mapping(path, v, "agent").unwrap_or_default() {
                    let q = join_key(path, &k);
                    match k.as_ref() {
                        "enabled" => agent.enabled = self.boolean(&q, x).unwrap_or(true),
                        "ports" => {
                            let items = match x {
                                Value::Sequence(items) => items.as_slice(),
                                Value::Null => &[],
                                other => {
                                    self.error(
                                        &q,
                                        format!("could not parse agent ports: {}", show(other)),
                                        Some("write ports: [8125/udp, 8126]".to_string()),
                                    );
                                    &[]
                                }
                            };
                            for (i, item) in items.iter().enumerate() {
                                let r = join_index(&q, i);
                                if let Some(p) = self.agent_port(&r, item) {
                                    agent.ports.push(p);
                                }
                            }
                        }
                        _ => self.unknown_key(path, &k, keys::AGENT),
                    }
                }
                agent
            }
            other => {
                self.error(
                    path,
                    format!("could not parse agent: {}", show(other)),
                    Some("write agent: true, or agent: {ports: [8125/udp]}".to_string()),
                );
                enabled(false)
            }
        }
    }

    pub(super) fn agent_port(&mut self, path: &str, v: &Value) -> Option<AgentPort> {
        let text = scalar_text(v).unwrap_or_default();
        let (num, protocol) = text.split_once('/').unwrap_or((&text, "tcp"));
        let protocol = protocol.to_ascii_lowercase();
        match (num.trim().parse::<u16>(), protocol.as_str()) {
            (Ok(port), "tcp" | "udp") if port > 0 => Some(AgentPort { port, protocol }),
            _ => {
                self.error(
                    path,
                    format!("could not parse agent port: {}", show(v)),
                    Some("write a port such as 8125/udp or 8126 (tcp)".to_string()),
                );
                None
            }
        }
    }

    pub(super) fn build(&mut self, path: &str, v: &Value) -> Option<Build> {
        let mut b = defaults::written_build();
        match v {
            Value::Null => {}
            Value::String(s) => {
                if !s.is_empty() {
                    b.path = s.clone();
                }
            }
            Value::Mapping(_) => {
                for (k, x) in self.mapping(path, v, "build").unwrap_or_default() {
                    let q = join_key(path, &k);
                    match k.as_ref() {
                        "path" => {
                            if let Some(s) = self.string(&q, x).filter(|s| !s.is_empty()) {
                                b.path = s;
                            }
                        }
                        "manifest" => {
                            if let Some(s) = self.string(&q, x).filter(|s| !s.is_empty()) {
                                b.manifest = s;
                            }
                        }
                        "args" => b.args = self.string_list(&q, x, "build args"),
                        _ => self.unknown_key(path, &k, keys::BUILD),
                    }
                }
            }
            other => {
                self.unknown_type(
                    path,
                    "build",
                    other,
                    Some(
                        "write build: ./dir, or build: {path: ., manifest: Dockerfile}".to_string(),
                    ),
                );
            }
        }
        Some(b)
    }

    pub(super) fn command(&mut self, path: &str, v: &Value) -> Option<Vec<String>> {
        let hint =
            || Some("write command: a string (run with sh -c) or a list of strings".to_string());
        match v {
            Value::Null => None,
            Value::String(s) if s.is_empty() => None,
            // v2 runs a string command through a shell.
            Value::String(s) => Some(vec!["sh".to_string(), "-c".to_string(), s.clone()]),
            Value::Sequence(items) => {
                let mut out = Vec::with_capacity(items.len());
                for (i, item) in items.iter().enumerate() {
                    match item {
                        Value::String(s) => out.push(s.clone()),
                        other => {
                            self.unknown_type(&join_index(path, i), "command", other, hint());
                        }
                    }
                }
                Some(out)
            }
            other => {
                self.unknown_type(path, "command", other, hint());
                None
            }
        }
    }

    pub(super) fn domains(&mut self, path: &str, v: &Value) -> Vec<String> {
        match v {
            Value::Null => Vec::new(),
            Value::String(s) => s
                .split(',')
                .map(str::trim)
                .filter(|d| !d.is_empty())
                .map(str::to_string)
                .collect(),
            Value::Sequence(_) => self
                .string_list(path, v, "domain")
                .into_iter()
                .map(|d| d.trim().to_string())
                .filter(|d| !d.is_empty())
                .collect(),
            other => {
                self.unknown_type(
                    path,
                    "domain",
                    other,
                    Some("write domain: a.example.com, b.example.com, or a list".to_string()),
                );
                Vec::new()
            }
        }
    }

    pub(super) fn health(&mut self, path: &str, v: &Value) -> Option<Health> {
        match v {
            Value::Null => None,
            Value::String(s) => {
                Some(self.health_defaults(path, path, Some(s.clone()), None, None, None))
            }
            Value::Mapping(_) => {
                let (mut p, mut interval, mut timeout, mut grace) = (None, None, None, None);
                for (k, x) in self.mapping(path, v, "health").unwrap_or_default() {
                    let q = join_key(path, &k);
                    match k.as_ref() {
                        "path" => p = self.string(&q, x),
                        "interval" => interval = self.number(&q, x, true),
                        "timeout" => timeout = self.number(&q, x, true),
                        "grace" => grace = self.number(&q, x, true),
                        _ => self.unknown_key(path, &k, keys::HEALTH),
                    }
                }
                Some(self.health_defaults(
                    path,
                    &join_key(path, "path"),
                    p,
                    interval,
                    timeout,
                    grace,
                ))
            }
            other => {
                self.unknown_type(
                    path,
                    "health",
                    other,
                    Some(
                        "write health: /check, or health: {path: /check, interval: 5}".to_string(),
                    ),
                );
                None
            }
        }
    }

    /// v2's health defaults over what was written, with a warning for each 0
    /// (or empty path) that stands for a default, saying what it became.
    fn health_defaults(
        &mut self,
        path: &str,
        path_at: &str,
        p: Option<String>,
        interval: Option<u32>,
        timeout: Option<u32>,
        grace: Option<u32>,
    ) -> Health {
        let h = defaults::health(p.clone(), interval, timeout, grace);
        let at = |k: &str| join_key(path, k);
        if p.as_deref() == Some("") {
            self.warning(
                path_at,
                format!("an empty health path means the default: {}", h.path),
                Some("leave path out for the default, or write the path you mean".to_string()),
            );
        }
        if interval == Some(0) {
            self.zero_means_default(&at("interval"), "health interval", h.interval);
        }
        if timeout == Some(0) {
            self.zero_means_default(
                &at("timeout"),
                "health timeout",
                format_args!("interval - 1 = {}", h.timeout),
            );
        }
        if grace == Some(0) {
            self.zero_means_default(
                &at("grace"),
                "health grace",
                format_args!("the interval, {}", h.grace),
            );
        }
        h
    }

    pub(super) fn links(&mut self, path: &str, v: &Value, service: &str) -> Vec<Name> {
        let raw = match v {
            // v2 read a link written as a number as its text; it then names no service.
            Value::Sequence(items) => items
                .iter()
                .enumerate()
                .map(|(i, x)| {
                    (
                        join_index(path, i),
                        scalar_text(x).unwrap_or_else(|| show(x)),
                    )
                })
                .collect::<Vec<_>>(),
            Value::Null => Vec::new(),
            other => {
                self.not_a_string_list(
                    path,
                    other,
                    Some(format!("write links as a list: links: [{}]", show(other))),
                );
                Vec::new()
            }
        };
        let mut out = Vec::with_capacity(raw.len());
        for (p, target) in raw {
            match Name::new(target.as_str()) {
                Ok(n) => out.push(n),
                Err(_) => self.error(
                    &p,
                    format!("{service} links to service: {target} which does not exist"),
                    Some("service names are lowercase DNS labels, such as api".to_string()),
                ),
            }
        }
        out
    }
}
