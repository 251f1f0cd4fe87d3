//! Scalars, lists and mappings as Convox v2 read them, and Go's words for what a
//! value was when it was not what v2 expected.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt::Display;

use serde_yaml::Value;

use super::{Reader, join_index, join_key};
use crate::name::{Name, NameError};

/// Go's names for YAML value types, as v2's messages print them.
pub(super) fn go_type(v: &Value) -> &'static str {
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
pub(super) fn yaml_tag(v: &Value) -> &'static str {
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
pub(super) fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// A short rendering of any value for messages.
pub(super) fn show(v: &Value) -> String {
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
pub(super) fn yaml11_bool(s: &str) -> Option<bool> {
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

impl Reader<'_> {
    /// The entries of a mapping with their keys as text; `None` (and an error) for
    /// anything else but null, which reads as an empty mapping.
    pub(super) fn mapping<'v>(
        &mut self,
        path: &str,
        v: &'v Value,
        what: &str,
    ) -> Option<Vec<(Cow<'v, str>, &'v Value)>> {
        match v {
            Value::Null => Some(Vec::new()),
            Value::Mapping(m) => Some(
                m.iter()
                    .map(|(k, v)| {
                        let key = match k {
                            // Most keys: borrowed, not copied.
                            Value::String(s) => Cow::Borrowed(s.as_str()),
                            other => Cow::Owned(scalar_text(other).unwrap_or_else(|| show(other))),
                        };
                        (key, v)
                    })
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
    pub(super) fn boolean(&mut self, path: &str, v: &Value) -> Option<bool> {
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

    pub(super) fn bool_error(&mut self, path: &str, v: &Value) {
        self.error(
            path,
            format!("cannot unmarshal {} `{}` into bool", yaml_tag(v), show(v)),
            Some("write true or false (or yes/no), without quotes".to_string()),
        );
    }

    /// A non-negative integer. `lenient`: v2 read these keys from an untyped
    /// mapping and silently ignored a quoted number; we ignore it too, but say so.
    pub(super) fn number(&mut self, path: &str, v: &Value, lenient: bool) -> Option<u32> {
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

    /// Says that `0` at `path` stands for v2's default, `became` (v2 applies its
    /// defaults wherever a value is zero): a warning, so the file can say what it means.
    pub(super) fn zero_means_default(&mut self, path: &str, what: &str, became: impl Display) {
        let key = path.rsplit('.').next().unwrap_or(path);
        self.warning(
            path,
            format!("{what} 0 means the default: {became}"),
            Some(format!(
                "leave {key} out for the default, or write the value you mean"
            )),
        );
    }

    /// A number where v2 takes 0 for "use the default": `None` for 0 (with a
    /// warning naming `default`, as `what`), as for a key not written.
    pub(super) fn number_or_default(
        &mut self,
        path: &str,
        v: &Value,
        lenient: bool,
        what: &str,
        default: u32,
    ) -> Option<u32> {
        match self.number(path, v, lenient) {
            Some(0) => {
                self.zero_means_default(path, what, default);
                None
            }
            n => n,
        }
    }

    /// A string scalar; numbers and booleans are taken as their text, as v2 did.
    pub(super) fn string(&mut self, path: &str, v: &Value) -> Option<String> {
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
    pub(super) fn string_list(&mut self, path: &str, v: &Value, what: &str) -> Vec<String> {
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
                self.not_a_string_list(
                    path,
                    other,
                    Some(format!(
                        "write {what} as a list: [a, b] or one `- item` per line"
                    )),
                );
                Vec::new()
            }
        }
    }

    /// A mapping of scalars to text.
    pub(super) fn string_map(
        &mut self,
        path: &str,
        v: &Value,
        what: &str,
    ) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        for (k, v) in self.mapping(path, v, what).unwrap_or_default() {
            let p = join_key(path, &k);
            if let Some(s) = self.string(&p, v) {
                out.insert(k.into_owned(), s);
            }
        }
        out
    }

    pub(super) fn name(&mut self, path: &str, raw: &str, kind: &str) -> Option<Name> {
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
}
