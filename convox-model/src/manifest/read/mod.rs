//! Reading `convox.yml`: every shorthand form, v2's defaults, all problems at once.
//!
//! The reader walks the YAML value tree by hand rather than deriving
//! `Deserialize`: a derive stops at the first problem and loses the path, and
//! Convox's "string or mapping" fields would need `#[serde(untagged)]`, whose only
//! message is "did not match any variant". Walking by hand keeps every problem,
//! each at its YAML path, in Convox's words.
//!
//! The seams: `scalars` (how a scalar, list or mapping is read, and Go's
//! words for what it was), the document's sections here (`environment`,
//! `resources`, `timers`), `service` (one service's keys), `port` (`port:` and
//! `nlb:`) and `scale` (`scale:`). Defaults come from [`super::defaults`].
//!
//! Reading checks shapes only; the rules between parts (links, names in use,
//! ranges) are [`crate::rules`]'.

use std::collections::BTreeMap;

use serde_yaml::Value;

use super::yaml::{self, Document, join_index, join_key};
use super::{AppResource, EnvDecl, Manifest, SourceMap, Timer, keys};
use crate::diag::{Diagnostic, Diagnostics};

mod port;
mod scalars;
mod scale;
mod service;

use scalars::{go_type, show, yaml_tag};

/// What [`read`] returns: the manifest as far as it could be read, and every
/// diagnostic.
#[derive(Clone, Debug)]
pub struct Lenient {
    /// The manifest, with the parts that had errors left out or defaulted; `None`
    /// when the text is not a YAML mapping at all.
    pub manifest: Option<Manifest>,
    /// Errors and warnings, unsorted.
    pub diagnostics: Diagnostics,
}

/// Reads `text` as `convox.yml`, interpolating `${VAR}` from `env` first: the
/// manifest as far as it could be read, even when it has errors, so that later
/// phases (the rules, the rack, links) can add their diagnostics to the same
/// report. It checks shapes only; [`crate::check::parse`] adds the rules.
pub fn read(text: &str, env: &BTreeMap<String, String>) -> Lenient {
    let mut doc = match yaml::load(text, env) {
        Ok(doc) => doc,
        Err(diagnostics) => {
            return Lenient {
                manifest: None,
                diagnostics,
            };
        }
    };
    let value = std::mem::take(&mut doc.value);
    let mut r = Reader {
        doc: &doc,
        diags: Diagnostics::default(),
    };
    let manifest = r.manifest(&value);
    let diagnostics = r.diags;
    let manifest = manifest.map(|mut m| {
        m.source = doc.source;
        m
    });
    Lenient {
        manifest,
        diagnostics,
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

    /// v2's error for a service's `what:` written as a type it does not read.
    fn unknown_type(&mut self, path: &str, what: &str, v: &Value, hint: Option<String>) {
        self.error(
            path,
            format!("unknown type for service {what}: {}", go_type(v)),
            hint,
        );
    }

    /// v2's error for a value where it reads a list of strings.
    fn not_a_string_list(&mut self, path: &str, v: &Value, hint: Option<String>) {
        self.error(
            path,
            format!(
                "cannot unmarshal {} `{}` into []string",
                yaml_tag(v),
                show(v)
            ),
            hint,
        );
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
        // Most documents quote few scalars: skip hashing the path when none.
        !self.doc.quoted.is_empty() && self.doc.quoted.contains(path)
    }

    fn has_error_under(&self, path: &str) -> bool {
        self.diags.errors().any(|d| d.path == path)
    }
}

impl Reader<'_> {
    fn manifest(&mut self, root: &Value) -> Option<Manifest> {
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
            source: SourceMap::default(),
        };
        let mut services = None;
        for (key, v) in entries {
            match key.as_ref() {
                "environment" => m.environment = self.environment("environment", v),
                "params" => m.params = self.string_map("params", v, "params"),
                "resources" => m.resources = self.resources(v),
                "services" => services = Some(v),
                "timers" => m.timers = self.timers(v),
                _ => self.unknown_key("", &key, keys::TOP),
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
        let items =
            match v {
                Value::Null => return Vec::new(),
                Value::Sequence(items) => items,
                other => {
                    self.unknown_type(path, "environment", other, Some(
                        "write environment as a list: - KEY=default, - KEY (required) or - \"*\""
                            .to_string(),
                    ));
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
                EnvDecl::Default { key, .. } | EnvDecl::Required { key } => key.as_ref(),
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

    fn resources(&mut self, v: &Value) -> Vec<AppResource> {
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
                match k.as_ref() {
                    "type" => kind = self.string(&p, v).unwrap_or_default(),
                    "options" => options = self.string_map(&p, v, "options"),
                    _ => self.unknown_key(&path, &k, keys::RESOURCE),
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
                out.push(AppResource {
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
                match k.as_ref() {
                    "command" => command = self.string(&p, v),
                    "schedule" => schedule = self.string(&p, v),
                    "service" => {
                        service = self
                            .string(&p, v)
                            .and_then(|s| self.name(&p, &s, "timer service"))
                    }
                    // v2 reads these; this model does not act on them.
                    k if keys::TIMER_IGNORED.contains(&k) => {}
                    _ => self.unknown_key(&path, &k, keys::TIMER),
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
}
