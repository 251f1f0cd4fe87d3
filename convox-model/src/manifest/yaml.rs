//! The one module that knows the YAML parser.
//!
//! Two parsers read the same text, each for what it is good at:
//!
//! - `serde_yaml` turns the document into a [`Value`] tree: the values the rest of
//!   the reader walks.
//! - `saphyr-parser`'s event stream reports a line and column for every node, which
//!   `serde_yaml` does not. From it we build the [`SourceMap`] (YAML path → place)
//!   and note which scalars were quoted, because `internal: "true"` is a string to
//!   Convox while `internal: yes` is a boolean.
//!
//! `${VAR}` interpolation happens first, on the raw text, as Convox does; places
//! are mapped back to the text as the user wrote it.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::rc::Rc;

use saphyr_parser::{Event, Parser, ScalarStyle};
use serde_yaml::{Mapping, Value};

use super::{EnvDecl, Manifest, SourceMap};
use crate::diag::{Diagnostic, Diagnostics, Location};

/// A parsed document: its values, where each path starts, and which scalars were
/// written quoted (or as block scalars) rather than plain.
#[derive(Debug)]
pub(crate) struct Document {
    /// The document with merge keys applied; `Null` for an empty document.
    pub value: Value,
    /// Where each YAML path starts in the text as written.
    pub source: SourceMap,
    /// Paths of scalars that were not plain.
    pub quoted: BTreeSet<String>,
}

/// Replaces `${VAR}` with the value of `VAR` in `env`, or nothing when it is unset,
/// as Convox does before it parses the YAML. `$VAR` without braces is left alone.
pub fn interpolate(text: &str, env: &BTreeMap<String, String>) -> String {
    interpolate_mapped(text, env).0
}

/// One `${VAR}` replacement, in character offsets.
#[derive(Clone, Copy, Debug)]
struct Replacement {
    /// Where the value starts in the interpolated text.
    new_start: usize,
    /// Where the value ends in the interpolated text.
    new_end: usize,
    /// Where `${` starts in the original text.
    old_start: usize,
    /// Just after `}` in the original text.
    old_end: usize,
}

fn interpolate_mapped(text: &str, env: &BTreeMap<String, String>) -> (String, Vec<Replacement>) {
    let mut out = String::with_capacity(text.len());
    let mut reps = Vec::new();
    let mut rest = text;
    // Character offsets: saphyr reports places in characters.
    let (mut old_pos, mut new_pos) = (0usize, 0usize);
    while let Some(start) = rest.find("${") {
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else { break };
        let name = &after[..end];
        let before = &rest[..start];
        out.push_str(before);
        let before_chars = before.chars().count();
        old_pos += before_chars;
        new_pos += before_chars;
        let value = env.get(name).map(String::as_str).unwrap_or("");
        out.push_str(value);
        let old_len = name.chars().count() + 3;
        let new_len = value.chars().count();
        reps.push(Replacement {
            new_start: new_pos,
            new_end: new_pos + new_len,
            old_start: old_pos,
            old_end: old_pos + old_len,
        });
        old_pos += old_len;
        new_pos += new_len;
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    (out, reps)
}

/// Maps places in the interpolated text back to the text as written.
struct Places {
    /// Character offset of each line start in the interpolated text.
    new_lines: Vec<usize>,
    /// Character offset of each line start in the original text.
    old_lines: Vec<usize>,
    reps: Vec<Replacement>,
}

fn line_starts(text: &str) -> Vec<usize> {
    let mut starts = vec![0];
    for (i, c) in text.chars().enumerate() {
        if c == '\n' {
            starts.push(i + 1);
        }
    }
    starts
}

impl Places {
    fn new(original: &str, interpolated: &str, reps: Vec<Replacement>) -> Self {
        let old_lines = line_starts(original);
        let new_lines = if reps.is_empty() {
            Vec::new()
        } else {
            line_starts(interpolated)
        };
        Places {
            new_lines,
            old_lines,
            reps,
        }
    }

    /// The original place of 1-based `line`, 0-based `col` in the interpolated text.
    fn locate(&self, line: usize, col: usize) -> Location {
        if self.reps.is_empty() {
            return Location {
                line: line.max(1),
                column: col + 1,
            };
        }
        let line_start = self
            .new_lines
            .get(line.saturating_sub(1))
            .copied()
            .unwrap_or(0);
        let index = line_start + col;
        // The last replacement that starts at or before `index`.
        let at = self.reps.partition_point(|r| r.new_start <= index);
        let old_index = match at.checked_sub(1).and_then(|i| self.reps.get(i)) {
            None => index,
            Some(r) if index < r.new_end => r.old_start,
            Some(r) => r.old_end + (index - r.new_end),
        };
        let old_line = self.old_lines.partition_point(|s| *s <= old_index).max(1);
        let old_start = self.old_lines.get(old_line - 1).copied().unwrap_or(0);
        Location {
            line: old_line,
            column: old_index - old_start + 1,
        }
    }
}

/// Reads `text` (after interpolating `env`) into a [`Document`], or the syntax
/// errors that stop it.
pub(crate) fn load(text: &str, env: &BTreeMap<String, String>) -> Result<Document, Diagnostics> {
    let (interpolated, reps) = interpolate_mapped(text, env);
    let places = Places::new(text, &interpolated, reps);

    let value = match serde_yaml::from_str::<Value>(&interpolated) {
        Ok(v) => v,
        Err(e) => return Err(syntax_error(&e, &interpolated, &places)),
    };
    let mut value = value;
    let mut diags = Diagnostics::default();
    merge_keys(&mut value, &mut diags);
    if diags.has_errors() {
        return Err(diags);
    }

    let mut source = SourceMap::default();
    let mut quoted = BTreeSet::new();
    // serde_yaml accepted the text; if saphyr does not, we only lose places.
    if let Ok(Some(root)) = build_tree(&interpolated, &places) {
        let mut walk = Walk {
            source: &mut source,
            quoted: &mut quoted,
            duplicates: Vec::new(),
        };
        walk.node(&root, "");
    }
    Ok(Document {
        value,
        source,
        quoted,
    })
}

/// Turns a `serde_yaml` error into diagnostics. Duplicate keys get one diagnostic
/// each, found by our own walk, because `serde_yaml` stops at the first and v2
/// silently kept both.
fn syntax_error(e: &serde_yaml::Error, text: &str, places: &Places) -> Diagnostics {
    let mut diags = Diagnostics::default();
    let message = e.to_string();
    if message.contains("duplicate entry")
        && let Ok(Some(root)) = build_tree(text, places)
    {
        let mut source = SourceMap::default();
        let mut quoted = BTreeSet::new();
        let mut walk = Walk {
            source: &mut source,
            quoted: &mut quoted,
            duplicates: Vec::new(),
        };
        walk.node(&root, "");
        for dup in walk.duplicates {
            let what = dup_kind(&dup.path);
            diags.push(
                Diagnostic::error(
                    dup.path.clone(),
                    format!(
                        "duplicate {what} {}: first defined at line {}",
                        dup.key, dup.first.line
                    ),
                )
                .at(Some(dup.second))
                .with_hint(format!("rename or remove one of the two {what}s")),
            );
        }
        if !diags.is_empty() {
            return diags;
        }
    }
    let location = e
        .location()
        .map(|l| places.locate(l.line(), l.column().saturating_sub(1)));
    // serde_yaml appends " at line L column C" to its messages; the place is ours to print.
    let text = match message.find(" at line ") {
        Some(cut) => {
            let (head, tail) = message.split_at(cut);
            // Keep any context after the place, such as ", while scanning …".
            match tail.find(',') {
                Some(comma) => format!("{head}{}", &tail[comma..]),
                None => head.to_string(),
            }
        }
        None => message,
    };
    diags.push(
        Diagnostic::error("", format!("yaml: {text}"))
            .at(location)
            .with_hint("convox.yml must be valid YAML; indent with spaces, not tabs"),
    );
    diags
}

fn dup_kind(path: &str) -> &'static str {
    let parent = path.rsplit_once('.').map_or("", |(p, _)| p);
    match parent {
        "services" => "service",
        "timers" => "timer",
        "resources" => "resource",
        _ => "key",
    }
}

/// Applies `<<` merge keys everywhere, as YAML 1.1 defines them: the mapping's own
/// keys win, then each merged mapping in order.
///
/// `serde_yaml`'s own `apply_merge` removes the `<<` entry with a swap, which moves
/// the mapping's last key into its place; services must stay in file order, so the
/// merge is done here with an order-preserving remove.
fn merge_keys(value: &mut Value, diags: &mut Diagnostics) {
    let mut stack = vec![value];
    while let Some(node) = stack.pop() {
        match node {
            Value::Mapping(mapping) => {
                if let Some(merge) = mapping.shift_remove("<<") {
                    let sources = match merge {
                        Value::Mapping(m) => vec![m],
                        Value::Sequence(seq) => {
                            let mut maps = Vec::new();
                            for v in seq {
                                match v {
                                    Value::Mapping(m) => maps.push(m),
                                    _ => diags.push(merge_error()),
                                }
                            }
                            maps
                        }
                        _ => {
                            diags.push(merge_error());
                            Vec::new()
                        }
                    };
                    for source in sources {
                        merge_into(mapping, source);
                    }
                }
                stack.extend(mapping.iter_mut().map(|(_, v)| v));
            }
            Value::Sequence(seq) => stack.extend(seq.iter_mut()),
            Value::Tagged(tagged) => stack.push(&mut tagged.value),
            _ => {}
        }
    }
}

fn merge_into(mapping: &mut Mapping, source: Mapping) {
    for (k, v) in source {
        if !mapping.contains_key(&k) {
            mapping.insert(k, v);
        }
    }
}

fn merge_error() -> Diagnostic {
    Diagnostic::error(
        "",
        "yaml: a merge key `<<` must name a mapping or a list of mappings",
    )
    .with_hint("write `<<: *anchor` where `&anchor` marks a mapping")
}

/// A node of saphyr's event stream, with where it starts.
#[derive(Debug)]
enum Node {
    Scalar {
        at: Location,
        text: String,
        plain: bool,
    },
    Seq {
        at: Location,
        items: Vec<Rc<Node>>,
    },
    Map {
        at: Location,
        entries: Vec<(Rc<Node>, Rc<Node>)>,
    },
}

impl Node {
    fn at(&self) -> Location {
        match self {
            Node::Scalar { at, .. } | Node::Seq { at, .. } | Node::Map { at, .. } => *at,
        }
    }

    fn key_text(&self) -> Option<&str> {
        match self {
            Node::Scalar { text, .. } => Some(text),
            _ => None,
        }
    }
}

/// Builds the first document's node tree from saphyr's events; `Ok(None)` for an
/// empty stream. Aliases share their anchor's node.
fn build_tree(text: &str, places: &Places) -> Result<Option<Rc<Node>>, ()> {
    let mut parser = Parser::new_from_str(text);
    let mut anchors: HashMap<usize, Rc<Node>> = HashMap::new();
    // Open collections: the node under construction and its anchor id.
    enum Open {
        Seq(Location, usize, Vec<Rc<Node>>),
        Map(Location, usize, Vec<Rc<Node>>),
    }
    let mut stack: Vec<Open> = Vec::new();
    let mut root: Option<Rc<Node>> = None;
    for event in parser.by_ref() {
        let (event, span) = event.map_err(|_| ())?;
        let at = places.locate(span.start.line(), span.start.col());
        let done: Rc<Node> = match event {
            Event::StreamStart | Event::DocumentStart(_) | Event::Nothing => continue,
            Event::DocumentEnd | Event::StreamEnd => break,
            Event::Alias(id) => match anchors.get(&id) {
                Some(n) => Rc::clone(n),
                None => return Err(()),
            },
            Event::Scalar(text, style, anchor, _) => {
                let node = Rc::new(Node::Scalar {
                    at,
                    text: text.into_owned(),
                    plain: style == ScalarStyle::Plain,
                });
                if anchor > 0 {
                    anchors.insert(anchor, Rc::clone(&node));
                }
                node
            }
            Event::SequenceStart(anchor, _) => {
                stack.push(Open::Seq(at, anchor, Vec::new()));
                continue;
            }
            Event::MappingStart(anchor, _) => {
                stack.push(Open::Map(at, anchor, Vec::new()));
                continue;
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let (node, anchor) = match stack.pop() {
                    Some(Open::Seq(at, anchor, items)) => (Node::Seq { at, items }, anchor),
                    Some(Open::Map(at, anchor, flat)) => {
                        let mut entries = Vec::with_capacity(flat.len() / 2);
                        let mut it = flat.into_iter();
                        while let (Some(k), Some(v)) = (it.next(), it.next()) {
                            entries.push((k, v));
                        }
                        (Node::Map { at, entries }, anchor)
                    }
                    None => return Err(()),
                };
                let node = Rc::new(node);
                if anchor > 0 {
                    anchors.insert(anchor, Rc::clone(&node));
                }
                node
            }
        };
        match stack.last_mut() {
            Some(Open::Seq(_, _, items)) | Some(Open::Map(_, _, items)) => items.push(done),
            None => {
                root = Some(done);
                break;
            }
        }
    }
    Ok(root)
}

struct Duplicate {
    path: String,
    key: String,
    first: Location,
    second: Location,
}

/// Records where each path starts, following merge keys as [`merge_keys`] does.
struct Walk<'a> {
    source: &'a mut SourceMap,
    quoted: &'a mut BTreeSet<String>,
    duplicates: Vec<Duplicate>,
}

/// `parent.key`, or `key` at the top.
pub(crate) fn join_key(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_string()
    } else {
        format!("{parent}.{key}")
    }
}

/// `parent[index]`.
pub(crate) fn join_index(parent: &str, index: usize) -> String {
    format!("{parent}[{index}]")
}

impl Walk<'_> {
    fn node(&mut self, node: &Node, path: &str) {
        match node {
            Node::Scalar { plain, .. } => {
                if !plain {
                    self.quoted.insert(path.to_string());
                }
            }
            Node::Seq { items, .. } => {
                for (i, item) in items.iter().enumerate() {
                    let p = join_index(path, i);
                    self.source.insert(p.clone(), item.at());
                    self.node(item, &p);
                }
            }
            Node::Map { entries, .. } => {
                let mut seen: HashMap<&str, Location> = HashMap::new();
                let mut merges: Vec<&Node> = Vec::new();
                for (k, v) in entries {
                    let Some(key) = k.key_text() else { continue };
                    if key == "<<" {
                        match &**v {
                            Node::Seq { items, .. } => merges.extend(items.iter().map(|i| &**i)),
                            other => merges.push(other),
                        }
                        continue;
                    }
                    if let Some(first) = seen.get(key) {
                        self.duplicates.push(Duplicate {
                            path: join_key(path, key),
                            key: key.to_string(),
                            first: *first,
                            second: k.at(),
                        });
                        continue;
                    }
                    seen.insert(key, k.at());
                    let p = join_key(path, key);
                    self.source.insert(p.clone(), k.at());
                    self.node(v, &p);
                }
                for merged in merges {
                    let Node::Map { entries, .. } = merged else {
                        continue;
                    };
                    for (k, v) in entries {
                        let Some(key) = k.key_text() else { continue };
                        if key == "<<" || seen.contains_key(key) {
                            continue;
                        }
                        seen.insert(key, k.at());
                        let p = join_key(path, key);
                        self.source.insert(p.clone(), k.at());
                        self.node(v, &p);
                    }
                }
            }
        }
    }
}

/// Renders `manifest` as `convox.yml` text in its normalised form: every default
/// written out, services and timers in order, so that reading it back gives the
/// same manifest.
pub(crate) fn render(manifest: &Manifest) -> String {
    let mut root = Mapping::new();
    let strs = |items: &[String]| -> Value {
        Value::Sequence(items.iter().map(|s| Value::String(s.clone())).collect())
    };
    let env_list = |decls: &[EnvDecl]| -> Value {
        Value::Sequence(
            decls
                .iter()
                .map(|d| Value::String(String::from(d.clone())))
                .collect(),
        )
    };
    let map_of = |m: &BTreeMap<String, String>| -> Value {
        Value::Mapping(
            m.iter()
                .map(|(k, v)| (Value::String(k.clone()), Value::String(v.clone())))
                .collect(),
        )
    };
    let n = |x: u32| Value::Number(x.into());
    let s = |x: &str| Value::String(x.to_string());
    fn entry(m: &mut Mapping, k: &str, v: Value) {
        m.insert(Value::String(k.to_string()), v);
    }

    if !manifest.environment.is_empty() {
        entry(&mut root, "environment", env_list(&manifest.environment));
    }
    if !manifest.params.is_empty() {
        entry(&mut root, "params", map_of(&manifest.params));
    }
    if !manifest.resources.is_empty() {
        let mut rs = Mapping::new();
        for r in &manifest.resources {
            let mut body = Mapping::new();
            entry(&mut body, "type", s(&r.kind));
            entry(&mut body, "options", map_of(&r.options));
            entry(&mut rs, r.name.as_str(), Value::Mapping(body));
        }
        entry(&mut root, "resources", Value::Mapping(rs));
    }
    let mut services = Mapping::new();
    for svc in &manifest.services {
        let mut b = Mapping::new();
        if svc.agent.enabled {
            let ports = svc
                .agent
                .ports
                .iter()
                .map(|p| s(&format!("{}/{}", p.port, p.protocol)))
                .collect();
            let mut a = Mapping::new();
            entry(&mut a, "ports", Value::Sequence(ports));
            entry(&mut b, "agent", Value::Mapping(a));
        } else {
            entry(&mut b, "agent", Value::Bool(false));
        }
        if !svc.build.path.is_empty() {
            let mut build = Mapping::new();
            entry(&mut build, "path", s(&svc.build.path));
            entry(&mut build, "manifest", s(&svc.build.manifest));
            entry(&mut build, "args", strs(&svc.build.args));
            entry(&mut b, "build", Value::Mapping(build));
        }
        if let Some(c) = &svc.command {
            entry(&mut b, "command", strs(c));
        }
        let mut dep = Mapping::new();
        entry(&mut dep, "minimum", n(svc.deployment.minimum));
        entry(&mut dep, "maximum", n(svc.deployment.maximum));
        entry(&mut b, "deployment", Value::Mapping(dep));
        entry(&mut b, "domain", strs(&svc.domains));
        entry(&mut b, "drain", n(svc.drain));
        // A service's list starts with the app-level declarations, which the
        // reader adds back.
        let own = svc
            .environment
            .strip_prefix(manifest.environment.as_slice())
            .unwrap_or(&svc.environment);
        entry(&mut b, "environment", env_list(own));
        let mut h = Mapping::new();
        entry(&mut h, "path", s(&svc.health.path));
        entry(&mut h, "interval", n(svc.health.interval));
        entry(&mut h, "timeout", n(svc.health.timeout));
        entry(&mut h, "grace", n(svc.health.grace));
        entry(&mut b, "health", Value::Mapping(h));
        entry(&mut b, "image", s(&svc.image));
        entry(&mut b, "init", Value::Bool(svc.init));
        entry(&mut b, "internal", Value::Bool(svc.internal));
        entry(
            &mut b,
            "internalAndExternal",
            Value::Bool(svc.internal_and_external),
        );
        let links: Vec<String> = svc.links.iter().map(|l| l.to_string()).collect();
        entry(&mut b, "links", strs(&links));
        let nlb = svc
            .nlb
            .iter()
            .map(|p| {
                let mut m = Mapping::new();
                entry(&mut m, "port", n(p.port.into()));
                entry(&mut m, "containerPort", n(p.container_port.into()));
                entry(&mut m, "protocol", s(&p.protocol));
                entry(&mut m, "scheme", s(&p.scheme));
                Value::Mapping(m)
            })
            .collect();
        entry(&mut b, "nlb", Value::Sequence(nlb));
        entry(&mut b, "policies", strs(&svc.policies));
        if let Some(p) = svc.port {
            let mut m = Mapping::new();
            entry(&mut m, "port", n(p.port.into()));
            entry(&mut m, "scheme", s(p.scheme.as_str()));
            entry(&mut b, "port", Value::Mapping(m));
        }
        entry(&mut b, "privileged", Value::Bool(svc.privileged));
        let resources: Vec<String> = svc.resources.iter().map(|r| r.to_string()).collect();
        entry(&mut b, "resources", strs(&resources));
        let sc = &svc.scale;
        let mut count = Mapping::new();
        entry(&mut count, "min", n(sc.count.min));
        entry(&mut count, "max", n(sc.count.max));
        let mut cooldown = Mapping::new();
        entry(&mut cooldown, "down", n(sc.cooldown.down));
        entry(&mut cooldown, "up", n(sc.cooldown.up));
        let mut targets = Mapping::new();
        entry(&mut targets, "cpu", n(sc.targets.cpu));
        entry(&mut targets, "memory", n(sc.targets.memory));
        entry(&mut targets, "requests", n(sc.targets.requests));
        let custom = sc
            .targets
            .custom
            .iter()
            .filter_map(|c| serde_yaml::to_value(c).ok())
            .collect();
        entry(&mut targets, "custom", Value::Sequence(custom));
        let mut scale = Mapping::new();
        entry(&mut scale, "count", Value::Mapping(count));
        entry(&mut scale, "cpu", n(sc.cpu));
        entry(&mut scale, "memory", n(sc.memory));
        entry(&mut scale, "cooldown", Value::Mapping(cooldown));
        entry(&mut scale, "targets", Value::Mapping(targets));
        entry(&mut b, "scale", Value::Mapping(scale));
        entry(&mut b, "singleton", Value::Bool(svc.singleton));
        entry(&mut b, "sticky", Value::Bool(svc.sticky));
        entry(&mut b, "tags", map_of(&svc.tags));
        let mut term = Mapping::new();
        entry(&mut term, "grace", n(svc.termination.grace));
        entry(&mut b, "termination", Value::Mapping(term));
        entry(&mut b, "test", s(&svc.test));
        entry(&mut b, "volumes", strs(&svc.volumes));
        entry(&mut services, svc.name.as_str(), Value::Mapping(b));
    }
    entry(&mut root, "services", Value::Mapping(services));
    if !manifest.timers.is_empty() {
        let mut ts = Mapping::new();
        for t in &manifest.timers {
            let mut body = Mapping::new();
            entry(&mut body, "command", s(&t.command));
            entry(&mut body, "schedule", s(&t.schedule));
            entry(&mut body, "service", s(t.service.as_str()));
            entry(&mut ts, t.name.as_str(), Value::Mapping(body));
        }
        entry(&mut root, "timers", Value::Mapping(ts));
    }
    // Serialising a tree of plain strings, numbers and mappings cannot fail.
    serde_yaml::to_string(&Value::Mapping(root)).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn interpolates_braced_variables_only() {
        let e = env(&[("A", "1"), ("LONG", "hello")]);
        assert_eq!(interpolate("x ${A} $A ${B} ${LONG}", &e), "x 1 $A  hello");
        assert_eq!(interpolate("unclosed ${A", &e), "unclosed ${A");
    }

    #[test]
    fn places_map_back_across_replacements() {
        let text = "a: ${LONG}\nb: ${X} c\n";
        let doc = load(text, &env(&[("LONG", "0123456789"), ("X", "")])).unwrap();
        assert_eq!(doc.source.get("a"), Some(Location { line: 1, column: 1 }));
        assert_eq!(doc.source.get("b"), Some(Location { line: 2, column: 1 }));
    }

    #[test]
    fn records_paths_and_quoted_scalars() {
        let text = "services:\n  web:\n    links:\n      - api\n    internal: \"true\"\n";
        let doc = load(text, &BTreeMap::new()).unwrap();
        assert_eq!(
            doc.source.get("services.web.links[0]"),
            Some(Location { line: 4, column: 9 })
        );
        assert_eq!(
            doc.source.get("services.web.internal"),
            Some(Location { line: 5, column: 5 })
        );
        assert!(doc.quoted.contains("services.web.internal"));
        assert!(!doc.quoted.contains("services.web.links[0]"));
    }

    #[test]
    fn merge_keys_keep_file_order_and_places() {
        let text = "base: &b\n  port: 3000\nservices:\n  <<: {}\n  web:\n    <<: *b\n    image: x\n  api:\n    image: y\n";
        let doc = load(text, &BTreeMap::new()).unwrap();
        let services = doc.value.get("services").unwrap().as_mapping().unwrap();
        let names: Vec<_> = services.keys().map(|k| k.as_str().unwrap()).collect();
        assert_eq!(names, ["web", "api"]);
        let web = services.get("web").unwrap();
        assert_eq!(web.get("port").unwrap().as_u64(), Some(3000));
        assert_eq!(
            doc.source.get("services.web.port"),
            Some(Location { line: 2, column: 3 })
        );
    }

    #[test]
    fn duplicate_keys_are_each_reported() {
        let text = "services:\n  web:\n    image: x\n  web:\n    image: y\n";
        let err = load(text, &BTreeMap::new()).unwrap_err();
        assert_eq!(err.len(), 1);
        let d = &err.0[0];
        assert_eq!(d.path, "services.web");
        assert_eq!(d.location, Some(Location { line: 4, column: 3 }));
        assert!(d.message.contains("duplicate service web"), "{}", d.message);
    }

    #[test]
    fn syntax_errors_have_places() {
        let err = load("services:\n\tweb:\n", &BTreeMap::new()).unwrap_err();
        let d = &err.0[0];
        assert!(d.message.starts_with("yaml: "), "{}", d.message);
        assert_eq!(d.location.map(|l| l.line), Some(2));
    }
}
