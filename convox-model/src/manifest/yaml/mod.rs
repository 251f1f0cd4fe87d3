//! The one module that knows the YAML parser.
//!
//! The text is read once, by `saphyr-parser`, whose event stream reports a line
//! and column for every node:
//!
//! 1. `${VAR}` interpolation happens first, on the raw text, as Convox does
//!    ([`interpolate`]); places are mapped back to the text as the user wrote it.
//! 2. The events become a tree of nodes with their places (`tree`), aliases
//!    shared rather than copied.
//! 3. One walk (`walk`) turns the tree into the `serde_yaml` [`Value`] tree the
//!    reader walks, resolving plain scalars as `serde_yaml` 0.9 did (`scalar`),
//!    applying merge keys, reporting every duplicate key, and recording the
//!    [`SourceMap`] (YAML path → place) and which scalars were quoted, because
//!    `internal: "true"` is a string to Convox while `internal: yes` is a boolean.
//!
//! Input is bounded: at most [`MAX_INPUT_BYTES`] of text, [`MAX_DEPTH`] levels of
//! nesting and [`MAX_ALIAS_NODES`] nodes reached through aliases. Each is refused
//! with a diagnostic that names the limit; no real convox.yml comes near them.

use std::collections::{BTreeMap, HashSet};

use serde_yaml::Value;

use crate::diag::{Diagnostic, Diagnostics, Location};
use crate::manifest::SourceMap;

mod interpolate;
mod scalar;
mod tree;
mod walk;

pub use interpolate::interpolate;
use interpolate::{Places, interpolate_mapped};

/// The most text a `convox.yml` may hold, before and after interpolation: 4 MiB.
pub const MAX_INPUT_BYTES: usize = 4 * 1024 * 1024;

/// The deepest nesting of lists and mappings, aliases expanded: 128 levels.
pub const MAX_DEPTH: usize = 128;

/// The most nodes that aliases may expand to, all aliases together: 100,000.
pub const MAX_ALIAS_NODES: usize = 100_000;

/// A parsed document: its values, where each path starts, and which scalars were
/// written quoted (or as block scalars) rather than plain.
#[derive(Debug)]
pub(crate) struct Document {
    /// The document with merge keys applied; `Null` for an empty document.
    pub value: Value,
    /// Where each YAML path starts in the text as written.
    pub source: SourceMap,
    /// Paths of scalars that were not plain.
    pub quoted: HashSet<String>,
}

/// A bound that input went past.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Limit {
    /// [`MAX_INPUT_BYTES`]; the size found.
    Size(usize),
    /// [`MAX_DEPTH`].
    Depth,
    /// [`MAX_ALIAS_NODES`].
    Aliases,
}

/// Why a text is not a document we read.
#[derive(Debug)]
pub(crate) enum LoadError {
    /// Not YAML; `line` (1-based) and `col` (0-based) in the interpolated text.
    Syntax {
        message: String,
        at: Location,
        line: usize,
        col: usize,
    },
    /// A scalar that its core tag (`!!int`, ...) does not fit.
    Value { message: String, at: Location },
    /// Past one of the bounds.
    Limit(Limit, Location),
}

impl Limit {
    fn diagnostic(self, at: Option<Location>) -> Diagnostic {
        let (message, hint) = match self {
            Limit::Size(n) => (
                format!(
                    "convox.yml is {n} bytes, more than the limit of {MAX_INPUT_BYTES} bytes (4 MiB)"
                ),
                "a convox.yml is a few kilobytes; check that this is the right file",
            ),
            Limit::Depth => (
                format!(
                    "yaml: lists and mappings nest deeper than the limit of {MAX_DEPTH} levels"
                ),
                "convox.yml nests a few levels deep; check for unclosed [ or {",
            ),
            Limit::Aliases => (
                format!("yaml: aliases expand to more than the limit of {MAX_ALIAS_NODES} nodes"),
                "aliases (*name) that repeat other aliases grow exponentially; write the values out",
            ),
        };
        Diagnostic::error("", message).at(at).with_hint(hint)
    }
}

impl LoadError {
    fn into_diagnostics(self, text: &str) -> Diagnostics {
        let d = match self {
            LoadError::Limit(limit, at) => limit.diagnostic(Some(at)),
            LoadError::Value { message, at } => {
                Diagnostic::error("", format!("yaml: {message}")).at(Some(at))
            }
            LoadError::Syntax {
                message,
                at,
                line,
                col,
            } => {
                // libyaml's order, which serde_yaml printed: the problem, then its context.
                let message = match message
                    .strip_prefix("while ")
                    .and_then(|m| m.split_once(", "))
                {
                    Some((context, problem)) => format!("{problem}, while {context}"),
                    None => message,
                };
                let (hint, at) = match tab_in_indentation(text, line, col, &message) {
                    // Point at the tab itself.
                    Some(tab_col) => (
                        "convox.yml must be valid YAML; indent with spaces, not tabs",
                        Location {
                            line: at.line,
                            column: (at.column + tab_col).saturating_sub(col).max(1),
                        },
                    ),
                    None => ("convox.yml must be valid YAML", at),
                };
                Diagnostic::error("", format!("yaml: {message}"))
                    .at(Some(at))
                    .with_hint(hint)
            }
        };
        Diagnostics(vec![d])
    }
}

/// Whether a syntax error at 1-based `line`, 0-based `col` comes from a tab in
/// the line's indentation up to the error (or the parser says a tab is the
/// problem); if so, the 0-based column of that tab.
fn tab_in_indentation(text: &str, line: usize, col: usize, message: &str) -> Option<usize> {
    let l = text.lines().nth(line.saturating_sub(1))?;
    let tab = l
        .chars()
        .take(col + 1)
        .take_while(|c| c.is_whitespace())
        .position(|c| c == '\t');
    match tab {
        Some(t) => Some(t),
        None if message.contains("tab") => Some(col),
        None => None,
    }
}

/// Reads `text` (after interpolating `env`) into a [`Document`], or the errors that
/// stop it: a syntax error, every duplicate key, a bound passed.
pub(crate) fn load(text: &str, env: &BTreeMap<String, String>) -> Result<Document, Diagnostics> {
    if text.len() > MAX_INPUT_BYTES {
        return Err(Diagnostics(vec![Limit::Size(text.len()).diagnostic(None)]));
    }
    let (interpolated, reps) = interpolate_mapped(text, env);
    if interpolated.len() > MAX_INPUT_BYTES {
        let d = Limit::Size(interpolated.len()).diagnostic(None);
        return Err(Diagnostics(vec![d.with_hint(
            "${VAR} interpolation made the text this long; check the app environment",
        )]));
    }
    let places = Places::new(text, &interpolated, reps);
    let tree =
        tree::build(&interpolated, &places).map_err(|e| e.into_diagnostics(&interpolated))?;
    let mut walk = walk::Walk::new(tree);
    let (value, source) = walk.root().map_err(|e| e.into_diagnostics(&interpolated))?;
    if walk.diags.has_errors() {
        return Err(walk.diags);
    }
    Ok(Document {
        value,
        source,
        quoted: walk.quoted,
    })
}

/// `parent.key`, or `key` at the top.
pub(crate) fn join_key(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_string()
    } else {
        let mut s = String::with_capacity(parent.len() + 1 + key.len());
        s.push_str(parent);
        s.push('.');
        s.push_str(key);
        s
    }
}

/// `parent[index]`.
pub(crate) fn join_index(parent: &str, index: usize) -> String {
    use std::fmt::Write;
    let mut s = String::with_capacity(parent.len() + 6);
    s.push_str(parent);
    // Writing to a String cannot fail.
    let _ = write!(s, "[{index}]");
    s
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
    fn an_anchor_reads_the_same_wherever_it_is_used() {
        let text = "x: &a {image: base, tags: [\"q\"]}\nservices:\n  web: *a\n  api: *a\n";
        let doc = load(text, &BTreeMap::new()).unwrap();
        for s in ["web", "api"] {
            let svc = &doc.value["services"][s];
            assert_eq!(svc["image"].as_str(), Some("base"), "{s}");
            assert_eq!(svc["tags"][0].as_str(), Some("q"), "{s}");
            assert!(doc.quoted.contains(&format!("services.{s}.tags[0]")), "{s}");
        }
        assert_eq!(doc.value["x"]["image"].as_str(), Some("base"));
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
