//! Reading `convox.yml`: every shorthand form, v2's defaults, all problems at once.
//!
//! The reader walks the YAML value tree by hand rather than deriving
//! `Deserialize`: a derive stops at the first problem and loses the path, and
//! Convox's "string or mapping" fields would need `#[serde(untagged)]`, whose only
//! message is "did not match any variant". Walking by hand keeps every problem,
//! each at its YAML path, in Convox's words.

use std::collections::BTreeMap;

use serde_yaml::Value;

use super::yaml::{self, Document, join_index, join_key};
use super::{
    Agent, AgentPort, Build, Cooldown, Deployment, EnvDecl, Health, Manifest, NlbPort, Parsed,
    Port, Resource, Scale, ScaleCount, Scheme, Service, SourceMap, Targets, Termination, Timer,
};
use crate::diag::{Diagnostic, Diagnostics};
use crate::name::{Name, NameError};

/// Reads `text` as `convox.yml`, interpolating `${VAR}` from `env` first, and
/// validates it ([`crate::validate::validate`]).
///
/// Returns the validated manifest and its warnings, or every diagnostic (errors and
/// warnings, in source order) when there is at least one error.
pub fn parse(text: &str, env: &BTreeMap<String, String>) -> Result<Parsed, Diagnostics> {
    let Lenient {
        manifest,
        mut diagnostics,
    } = parse_lenient(text, env);
    diagnostics.sort();
    match manifest {
        Some(manifest) if !diagnostics.has_errors() => Ok(Parsed {
            manifest,
            warnings: diagnostics,
        }),
        _ => Err(diagnostics),
    }
}

/// What [`parse_lenient`] returns: the manifest as far as it could be read, and
/// every diagnostic.
#[derive(Clone, Debug)]
pub struct Lenient {
    /// The manifest, with the parts that had errors left out or defaulted; `None`
    /// when the text is not a YAML mapping at all.
    pub manifest: Option<Manifest>,
    /// Errors and warnings, unsorted.
    pub diagnostics: Diagnostics,
}

/// Like [`parse`], but returns the manifest even when it has errors, so that later
/// phases (the rack rules, links) can add their diagnostics to the same report.
pub fn parse_lenient(text: &str, env: &BTreeMap<String, String>) -> Lenient {
    let doc = match yaml::load(text, env) {
        Ok(doc) => doc,
        Err(diagnostics) => {
            return Lenient {
                manifest: None,
                diagnostics,
            };
        }
    };
    let mut r = Reader {
        doc: &doc,
        diags: Diagnostics::default(),
    };
    let manifest = r.manifest();
    let mut diagnostics = r.diags;
    if let Some(m) = &manifest {
        diagnostics.extend(crate::validate::validate(m));
    }
    Lenient {
        manifest,
        diagnostics,
    }
}

/// Go's names for YAML value types, as v2's messages print them.
fn go_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "nil",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_f64() => "float64",
        Value::Number(_) => "int",
        Value::String(_) => "string",
        Value::Sequence(_) => "[]interface {}",
        Value::Mapping(_) => "map[interface {}]interface {}",
        Value::Tagged(_) => "tagged value",
    }
}

/// YAML's tag for a scalar, as go-yaml prints it in "cannot unmarshal" messages.
fn yaml_tag(v: &Value) -> &'static str {
    match v {
        Value::Null => "!!null",
        Value::Bool(_) => "!!bool",
        Value::Number(n) if n.is_f64() => "!!float",
        Value::Number(_) => "!!int",
        Value::String(_) => "!!str",
        Value::Sequence(_) => "!!seq",
        Value::Mapping(_) => "!!map",
        Value::Tagged(_) => "!!tagged",
    }
}

/// A scalar as text: strings as written, numbers and booleans printed.
fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// A short rendering of any value for messages.
fn show(v: &Value) -> String {
    match scalar_text(v) {
        Some(s) => s,
        None => match v {
            Value::Null => "null".to_string(),
            Value::Sequence(_) => "a list".to_string(),
            Value::Mapping(_) => "a mapping".to_string(),
            _ => "a tagged value".to_string(),
        },
    }
}

/// The keys YAML 1.1 (and so Convox v2) reads as booleans when written plain.
fn yaml11_bool(s: &str) -> Option<bool> {
    match s {
        "y" | "Y" | "yes" | "Yes" | "YES" | "true" | "True" | "TRUE" | "on" | "On" | "ON" => {
            Some(true)
        }
        "n" | "N" | "no" | "No" | "NO" | "false" | "False" | "FALSE" | "off" | "Off" | "OFF" => {
            Some(false)
        }
        _ => None,
    }
}

/// Keys of Convox v3 (and of other tools) that v2 ignores: a warning names them so
/// the user knows they have no effect here.
fn v3_hint(key: &str) -> Option<&'static str> {
    match key {
        "internalRouter" => {
            Some("internalRouter is a Convox v3 key; on this rack write internal: true")
        }
        "ports" => Some("ports is a Convox v3 key; on this rack write port: 3000"),
        "tls" | "whitelist" | "lifecycle" | "gpu" | "timeout" | "labels" | "annotations"
        | "nodeSelectorLabels" | "grpcHealthEnabled" | "certificate" | "accessControl"
        | "dnsConfig" | "configMounts" | "ingressAnnotations" | "essential" => {
            Some("this is a Convox v3 key; this rack ignores it")
        }
        _ => None,
    }
}

struct Reader<'a> {
    doc: &'a Document,
    diags: Diagnostics,
}

impl Reader<'_> {
    fn source(&self) -> &SourceMap {
        &self.doc.source
    }

    fn error(&mut self, path: &str, message: impl Into<String>, hint: Option<String>) {
        let mut d = Diagnostic::error(path, message).at(self.source().locate(path));
        d.hint = hint;
        self.diags.push(d);
    }

    fn warning(&mut self, path: &str, message: impl Into<String>, hint: Option<String>) {
        let mut d = Diagnostic::warning(path, message).at(self.source().locate(path));
        d.hint = hint;
        self.diags.push(d);
    }

    fn unknown_key(&mut self, path: &str, key: &str, known: &[&str]) {
        let hint = v3_hint(key)
            .map(str::to_string)
            .unwrap_or_else(|| format!("known keys here: {}", known.join(", ")));
        self.warning(
            &join_key(path, key),
            format!("unknown key {key} (ignored)"),
            Some(hint),
        );
    }

    fn quoted(&self, path: &str) -> bool {
        self.doc.quoted.contains(path)
    }

    /// The entries of a mapping with their keys as text; `None` (and an error) for
    /// anything else but null, which reads as an empty mapping.
    fn mapping<'v>(
        &mut self,
        path: &str,
        v: &'v Value,
        what: &str,
    ) -> Option<Vec<(String, &'v Value)>> {
        match v {
            Value::Null => Some(Vec::new()),
            Value::Mapping(m) => Some(
                m.iter()
                    .map(|(k, v)| (scalar_text(k).unwrap_or_else(|| show(k)), v))
                    .collect(),
            ),
            other => {
                self.error(
                    path,
                    format!("{what} must be a mapping, not {}", go_type(other)),
                    None,
                );
                None
            }
        }
    }

    /// A boolean as Convox v2 reads it: YAML booleans, and YAML 1.1's `yes`, `on`,
    /// `y` and their opposites when written plain. Quoted, they are strings, which
    /// v2 refused.
    fn boolean(&mut self, path: &str, v: &Value) -> Option<bool> {
        match v {
            Value::Null => None,
            Value::Bool(b) => Some(*b),
            Value::String(s) if !self.quoted(path) => match yaml11_bool(s) {
                Some(b) => Some(b),
                None => {
                    self.bool_error(path, v);
                    None
                }
            },
            _ => {
                self.bool_error(path, v);
                None
            }
        }
    }

    fn bool_error(&mut self, path: &str, v: &Value) {
        self.error(
            path,
            format!("cannot unmarshal {} `{}` into bool", yaml_tag(v), show(v)),
            Some("write true or false (or yes/no), without quotes".to_string()),
        );
    }

    /// A non-negative integer. `lenient`: v2 read these keys from an untyped
    /// mapping and silently ignored a quoted number; we ignore it too, but say so.
    fn number(&mut self, path: &str, v: &Value, lenient: bool) -> Option<u32> {
        match v {
            Value::Null => None,
            Value::Number(n) => match n.as_u64().and_then(|n| u32::try_from(n).ok()) {
                Some(n) => Some(n),
                None => {
                    self.error(
                        path,
                        format!("{n} is not a whole number between 0 and {}", u32::MAX),
                        None,
                    );
                    None
                }
            },
            Value::String(s) if lenient && s.trim().parse::<u64>().is_ok() => {
                self.warning(
                    path,
                    format!("quoted number \"{s}\" is ignored, as Convox v2 ignores it"),
                    Some(format!("write {s} without quotes")),
                );
                None
            }
            other => {
                self.error(
                    path,
                    format!(
                        "cannot unmarshal {} `{}` into int",
                        yaml_tag(other),
                        show(other)
                    ),
                    Some("write a whole number, without quotes".to_string()),
                );
                None
            }
        }
    }

    /// A string scalar; numbers and booleans are taken as their text, as v2 did.
    fn string(&mut self, path: &str, v: &Value) -> Option<String> {
        match v {
            Value::Null => None,
            other => match scalar_text(other) {
                Some(s) => Some(s),
                None => {
                    self.error(
                        path,
                        format!("cannot unmarshal {} into string", yaml_tag(other)),
                        None,
                    );
                    None
                }
            },
        }
    }

    /// A list of strings; `what` names it in v2's message for anything else.
    fn string_list(&mut self, path: &str, v: &Value, what: &str) -> Vec<String> {
        match v {
            Value::Null => Vec::new(),
            Value::Sequence(items) => {
                let mut out = Vec::with_capacity(items.len());
                for (i, item) in items.iter().enumerate() {
                    if let Some(s) = self.string(&join_index(path, i), item) {
                        out.push(s);
                    }
                }
                out
            }
            other => {
                self.error(
                    path,
                    format!(
                        "cannot unmarshal {} `{}` into []string",
                        yaml_tag(other),
                        show(other)
                    ),
                    Some(format!(
                        "write {what} as a list: [a, b] or one `- item` per line"
                    )),
                );
                Vec::new()
            }
        }
    }

    /// A mapping of scalars to text.
    fn string_map(&mut self, path: &str, v: &Value, what: &str) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        for (k, v) in self.mapping(path, v, what).unwrap_or_default() {
            let p = join_key(path, &k);
            if let Some(s) = self.string(&p, v) {
                out.insert(k, s);
            }
        }
        out
    }

    fn name(&mut self, path: &str, raw: &str, kind: &str) -> Option<Name> {
        match Name::new(raw) {
            Ok(n) => Some(n),
            Err(e) => {
                let why = match e {
                    NameError::Empty => "it is empty".to_string(),
                    NameError::TooLong(_, len) => {
                        format!("it is {len} characters long, at most 63")
                    }
                    NameError::Invalid(_) => {
                        "it must start with a letter and not end with a dash".to_string()
                    }
                };
                self.error(
                    path,
                    format!(
                        "{kind} name {raw} invalid, must contain only lowercase alphanumeric and dashes"
                    ),
                    Some(format!("{kind} names are DNS labels: {why}")),
                );
                None
            }
        }
    }

    fn manifest(&mut self) -> Option<Manifest> {
        let root = &self.doc.value;
        let entries = match root {
            Value::Null => Vec::new(),
            Value::Mapping(_) => self.mapping("", root, "convox.yml")?,
            other => {
                self.error(
                    "",
                    format!(
                        "cannot unmarshal {} `{}` into manifest.Manifest",
                        yaml_tag(other),
                        show(other)
                    ),
                    Some("convox.yml is a mapping with keys such as services:".to_string()),
                );
                return None;
            }
        };
        let mut m = Manifest {
            environment: Vec::new(),
            params: BTreeMap::new(),
            resources: Vec::new(),
            services: Vec::new(),
            timers: Vec::new(),
            source: self.doc.source.clone(),
        };
        const KNOWN: &[&str] = &["environment", "params", "resources", "services", "timers"];
        let mut services = None;
        for (key, v) in entries {
            match key.as_str() {
                "environment" => m.environment = self.environment("environment", v),
                "params" => m.params = self.string_map("params", v, "params"),
                "resources" => m.resources = self.resources(v),
                "services" => services = Some(v),
                "timers" => m.timers = self.timers(v),
                _ => self.unknown_key("", &key, KNOWN),
            }
        }
        // Services come last because each takes the app-level environment first.
        if let Some(v) = services {
            m.services = self.services(v, &m.environment);
        }
        Some(m)
    }

    /// An `environment:` list. Non-string items were dropped by v2; nested lists
    /// were flattened. Flattened items are also recorded under their flat index so
    /// later diagnostics can find them.
    fn environment(&mut self, path: &str, v: &Value) -> Vec<EnvDecl> {
        let items = match v {
            Value::Null => return Vec::new(),
            Value::Sequence(items) => items,
            other => {
                self.error(
                    path,
                    format!("unknown type for service environment: {}", go_type(other)),
                    Some(
                        "write environment as a list: - KEY=default, - KEY (required) or - \"*\""
                            .to_string(),
                    ),
                );
                return Vec::new();
            }
        };
        let mut flat: Vec<(String, &Value)> = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let p = join_index(path, i);
            match item {
                Value::Sequence(inner) => {
                    for (j, x) in inner.iter().enumerate() {
                        flat.push((join_index(&p, j), x));
                    }
                }
                _ => flat.push((p, item)),
            }
        }
        let mut out = Vec::with_capacity(flat.len());
        for (p, item) in flat {
            let Value::String(s) = item else {
                self.warning(
                    &p,
                    format!(
                        "environment entry {} is not a string (ignored, as v2 does)",
                        show(item)
                    ),
                    Some("quote it: - \"KEY=value\"".to_string()),
                );
                continue;
            };
            let decl = if s == "*" {
                EnvDecl::All
            } else if let Some((k, val)) = s.split_once('=') {
                EnvDecl::Default {
                    key: k.to_string(),
                    value: val.to_string(),
                }
            } else {
                EnvDecl::Required { key: s.clone() }
            };
            let key = match &decl {
                EnvDecl::Default { key, .. } | EnvDecl::Required { key } => key.as_str(),
                EnvDecl::All => "*",
            };
            if key.is_empty() || key.chars().any(char::is_whitespace) {
                self.error(
                    &p,
                    format!("environment entry {s:?} has no valid variable name"),
                    Some("write KEY=default, KEY or \"*\"".to_string()),
                );
                continue;
            }
            out.push(decl);
        }
        out
    }

    fn resources(&mut self, v: &Value) -> Vec<Resource> {
        let mut out = Vec::new();
        for (key, body) in self
            .mapping("resources", v, "resources")
            .unwrap_or_default()
        {
            let path = join_key("resources", &key);
            let name = self.name(&path, &key, "resource");
            let mut kind = String::new();
            let mut options = BTreeMap::new();
            for (k, v) in self.mapping(&path, body, "a resource").unwrap_or_default() {
                let p = join_key(&path, &k);
                match k.as_str() {
                    "type" => kind = self.string(&p, v).unwrap_or_default(),
                    "options" => options = self.string_map(&p, v, "options"),
                    _ => self.unknown_key(&path, &k, &["type", "options"]),
                }
            }
            if kind.is_empty() {
                self.error(
                    &path,
                    "resource type can not be blank",
                    Some("add a type, such as type: postgres".to_string()),
                );
            }
            if let Some(name) = name {
                out.push(Resource {
                    name,
                    kind,
                    options,
                });
            }
        }
        out
    }

    fn timers(&mut self, v: &Value) -> Vec<Timer> {
        let mut out = Vec::new();
        for (key, body) in self.mapping("timers", v, "timers").unwrap_or_default() {
            let path = join_key("timers", &key);
            let name = self.name(&path, &key, "timer");
            let (mut command, mut schedule, mut service) = (None, None, None);
            for (k, v) in self.mapping(&path, body, "a timer").unwrap_or_default() {
                let p = join_key(&path, &k);
                match k.as_str() {
                    "command" => command = self.string(&p, v),
                    "schedule" => schedule = self.string(&p, v),
                    "service" => {
                        service = self
                            .string(&p, v)
                            .and_then(|s| self.name(&p, &s, "timer service"))
                    }
                    // v2 reads these; this model does not act on them.
                    "policies" | "concurrency" => {}
                    _ => self.unknown_key(&path, &k, &["command", "schedule", "service"]),
                }
            }
            for (what, missing) in [
                ("command", command.is_none()),
                ("schedule", schedule.is_none()),
                ("service", service.is_none()),
            ] {
                if missing && name.is_some() && !self.has_error_under(&join_key(&path, what)) {
                    self.error(
                        &path,
                        format!("timer {key} has no {what}"),
                        Some(format!("add {what}: to the timer")),
                    );
                }
            }
            if let (Some(name), Some(command), Some(schedule), Some(service)) =
                (name, command, schedule, service)
            {
                out.push(Timer {
                    name,
                    command,
                    schedule,
                    service,
                });
            }
        }
        out
    }

    fn has_error_under(&self, path: &str) -> bool {
        self.diags.errors().any(|d| d.path == path)
    }

    fn services(&mut self, v: &Value, app_env: &[EnvDecl]) -> Vec<Service> {
        let mut out = Vec::new();
        for (key, body) in self.mapping("services", v, "services").unwrap_or_default() {
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

    fn service(
        &mut self,
        path: &str,
        name: Option<Name>,
        body: &Value,
        app_env: &[EnvDecl],
    ) -> Option<Service> {
        const KNOWN: &[&str] = &[
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
        let mut sticky = true;
        let mut links = Vec::new();
        let mut nlb = Vec::new();
        let mut policies = Vec::new();
        let mut port = None;
        let mut resources = Vec::new();
        let mut scale = None;
        let mut tags = BTreeMap::new();
        let mut termination = Termination { grace: 30 };
        let mut test = String::new();
        let mut volumes = Vec::new();
        let service_name = name.as_ref().map_or("", Name::as_str).to_string();

        for (key, v) in entries {
            let p = join_key(path, &key);
            match key.as_str() {
                "agent" => agent = self.agent(&p, v),
                "build" => build = self.build(&p, v),
                "command" => command = self.command(&p, v),
                "deployment" => {
                    for (k, x) in self.mapping(&p, v, "deployment").unwrap_or_default() {
                        let q = join_key(&p, &k);
                        match k.as_str() {
                            "minimum" => dep_min = self.number(&q, x, false),
                            "maximum" => dep_max = self.number(&q, x, false),
                            _ => self.unknown_key(&p, &k, &["minimum", "maximum"]),
                        }
                    }
                }
                "domain" => domains = self.domains(&p, v),
                "drain" => drain = self.number(&p, v, false),
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
                "sticky" => sticky = self.boolean(&p, v).unwrap_or(true),
                "tags" => tags = self.string_map(&p, v, "tags"),
                "termination" => {
                    for (k, x) in self.mapping(&p, v, "termination").unwrap_or_default() {
                        let q = join_key(&p, &k);
                        match k.as_str() {
                            "grace" => {
                                if let Some(g) = self.number(&q, x, false) {
                                    termination.grace = g;
                                }
                            }
                            _ => self.unknown_key(&p, &k, &["grace"]),
                        }
                    }
                }
                "test" => test = self.string(&p, v).unwrap_or_default(),
                "volumes" => volumes = self.string_list(&p, v, "volumes"),
                _ => self.unknown_key(path, &key, KNOWN),
            }
        }

        // v2: a service without an image is built, from `.` with `Dockerfile` unless
        // told otherwise; a service with both builds too.
        let build = match build {
            Some(b) => b,
            None if image.is_empty() => Build {
                path: ".".to_string(),
                manifest: "Dockerfile".to_string(),
                args: Vec::new(),
            },
            None => Build {
                path: String::new(),
                manifest: String::new(),
                args: Vec::new(),
            },
        };
        // Agents and singletons must stop the old task before starting the new one.
        let (def_min, def_max) = if agent.enabled || singleton {
            (0, 100)
        } else {
            (50, 200)
        };
        Some(Service {
            name: name?,
            agent,
            build,
            command,
            deployment: Deployment {
                minimum: dep_min.unwrap_or(def_min),
                maximum: dep_max.unwrap_or(def_max),
            },
            domains,
            drain: drain.unwrap_or(30),
            environment,
            health: health.unwrap_or_else(|| health_defaults(None, None, None, None)),
            image,
            init,
            // internalAndExternal is served internally too.
            internal: internal || ie,
            internal_and_external: ie,
            links,
            nlb,
            policies,
            port,
            privileged,
            resources,
            scale: scale.unwrap_or_else(scale_defaults),
            singleton,
            sticky,
            tags,
            termination,
            test,
            volumes,
        })
    }

    fn agent(&mut self, path: &str, v: &Value) -> Agent {
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
                    match k.as_str() {
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
                        _ => self.unknown_key(path, &k, &["enabled", "ports"]),
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

    fn agent_port(&mut self, path: &str, v: &Value) -> Option<AgentPort> {
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

    fn build(&mut self, path: &str, v: &Value) -> Option<Build> {
        let mut b = Build {
            path: ".".to_string(),
            manifest: "Dockerfile".to_string(),
            args: Vec::new(),
        };
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
                    match k.as_str() {
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
                        _ => self.unknown_key(path, &k, &["path", "manifest", "args"]),
                    }
                }
            }
            other => {
                self.error(
                    path,
                    format!("unknown type for service build: {}", go_type(other)),
                    Some(
                        "write build: ./dir, or build: {path: ., manifest: Dockerfile}".to_string(),
                    ),
                );
            }
        }
        Some(b)
    }

    fn command(&mut self, path: &str, v: &Value) -> Option<Vec<String>> {
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
                            self.error(
                                &join_index(path, i),
                                format!("unknown type for service command: {}", go_type(other)),
                                hint(),
                            );
                        }
                    }
                }
                Some(out)
            }
            other => {
                self.error(
                    path,
                    format!("unknown type for service command: {}", go_type(other)),
                    hint(),
                );
                None
            }
        }
    }

    fn domains(&mut self, path: &str, v: &Value) -> Vec<String> {
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
                self.error(
                    path,
                    format!("unknown type for service domain: {}", go_type(other)),
                    Some("write domain: a.example.com, b.example.com, or a list".to_string()),
                );
                Vec::new()
            }
        }
    }

    fn health(&mut self, path: &str, v: &Value) -> Option<Health> {
        match v {
            Value::Null => None,
            Value::String(s) => Some(health_defaults(Some(s.clone()), None, None, None)),
            Value::Mapping(_) => {
                let (mut p, mut interval, mut timeout, mut grace) = (None, None, None, None);
                for (k, x) in self.mapping(path, v, "health").unwrap_or_default() {
                    let q = join_key(path, &k);
                    match k.as_str() {
                        "path" => p = self.string(&q, x),
                        "interval" => interval = self.number(&q, x, true),
                        "timeout" => timeout = self.number(&q, x, true),
                        "grace" => grace = self.number(&q, x, true),
                        _ => self.unknown_key(path, &k, &["path", "interval", "timeout", "grace"]),
                    }
                }
                Some(health_defaults(p, interval, timeout, grace))
            }
            other => {
                self.error(
                    path,
                    format!("unknown type for service health: {}", go_type(other)),
                    Some(
                        "write health: /check, or health: {path: /check, interval: 5}".to_string(),
                    ),
                );
                None
            }
        }
    }

    fn links(&mut self, path: &str, v: &Value, service: &str) -> Vec<Name> {
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
                self.error(
                    path,
                    format!(
                        "cannot unmarshal {} `{}` into []string",
                        yaml_tag(other),
                        show(other)
                    ),
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

    fn nlb(&mut self, path: &str, v: &Value) -> Vec<NlbPort> {
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
                        match k.as_str() {
                            "port" => port = self.number(&q, x, false),
                            "containerPort" => container_port = self.number(&q, x, false),
                            "protocol" => protocol = self.string(&q, x).unwrap_or(protocol),
                            "scheme" => scheme = self.string(&q, x).unwrap_or(scheme),
                            _ => self.unknown_key(
                                &p,
                                &k,
                                &["port", "containerPort", "protocol", "scheme"],
                            ),
                        }
                    }
                }
            }
            let port16 = port.and_then(|n| u16::try_from(n).ok()).filter(|n| *n > 0);
            let container16 = match container_port {
                None => port16,
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

    fn port(&mut self, path: &str, v: &Value) -> Option<Port> {
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
                    match k.as_str() {
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
                        _ => self.unknown_key(path, &k, &["port", "scheme"]),
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
    fn port_string(&mut self, path: &str, s: &str) -> Option<(i64, Scheme)> {
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

    fn scale(&mut self, path: &str, v: &Value) -> Option<Scale> {
        let mut scale = scale_defaults();
        match v {
            Value::Null => return None,
            Value::Number(_) | Value::String(_) => scale.count = self.count(path, v)?,
            Value::Mapping(_) => {
                for (k, x) in self.mapping(path, v, "scale").unwrap_or_default() {
                    let q = join_key(path, &k);
                    match k.as_str() {
                        "count" => {
                            if let Some(c) = self.count(&q, x) {
                                scale.count = c;
                            }
                        }
                        "cpu" => {
                            if let Some(n) = self.number(&q, x, true) {
                                scale.cpu = n;
                            }
                        }
                        "memory" => {
                            if let Some(n) = self.number(&q, x, true) {
                                scale.memory = n;
                            }
                        }
                        "cooldown" => match x {
                            Value::Mapping(_) => {
                                for (k2, y) in self.mapping(&q, x, "cooldown").unwrap_or_default() {
                                    let r = join_key(&q, &k2);
                                    match k2.as_str() {
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
                                        _ => self.unknown_key(&q, &k2, &["down", "up"]),
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
                        _ => self.unknown_key(
                            path,
                            &k,
                            &["count", "cpu", "memory", "cooldown", "targets"],
                        ),
                    }
                }
            }
            other => {
                self.error(
                    path,
                    format!("unknown type for service scale: {}", go_type(other)),
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
    fn count(&mut self, path: &str, v: &Value) -> Option<ScaleCount> {
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
                    match k.as_str() {
                        "min" => min = self.number(&q, x, false),
                        "max" => max = self.number(&q, x, false),
                        _ => self.unknown_key(path, &k, &["min", "max"]),
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
                self.error(
                    path,
                    format!("unknown type for service scale: {}", go_type(other)),
                    hint(),
                );
                None
            }
        }
    }

    fn targets(&mut self, path: &str, v: &Value) -> Targets {
        let mut t = Targets::default();
        for (k, x) in self.mapping(path, v, "targets").unwrap_or_default() {
            let q = join_key(path, &k);
            match k.as_str() {
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
                _ => self.unknown_key(path, &k, &["cpu", "memory", "requests", "custom"]),
            }
        }
        t
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

/// v2's health defaults: path `/`, interval 5, timeout interval - 1, grace interval.
fn health_defaults(
    path: Option<String>,
    interval: Option<u32>,
    timeout: Option<u32>,
    grace: Option<u32>,
) -> Health {
    let interval = interval.filter(|i| *i > 0).unwrap_or(5);
    Health {
        path: path
            .filter(|p| !p.is_empty())
            .unwrap_or_else(|| "/".to_string()),
        interval,
        timeout: timeout.filter(|t| *t > 0).unwrap_or(interval - 1),
        grace: grace.filter(|g| *g > 0).unwrap_or(interval),
    }
}

/// v2's scale defaults: one instance, 256 CPU units, 512 MiB, cooldowns of 60 s.
fn scale_defaults() -> Scale {
    Scale {
        count: ScaleCount { min: 1, max: 1 },
        cpu: 256,
        memory: 512,
        cooldown: Cooldown { down: 60, up: 60 },
        targets: Targets::default(),
    }
}
