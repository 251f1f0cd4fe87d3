//! The node tree → the value tree the reader walks, with the [`SourceMap`], the
//! quoted scalars, merge keys applied and duplicate keys reported, in one walk.
//!
//! Aliases are expanded here, so this is where hostile input would blow up: every
//! node reached through an alias counts against [`MAX_ALIAS_NODES`], and the
//! depth reached through aliases against [`MAX_DEPTH`]. The walk recurses, but
//! never deeper than [`MAX_DEPTH`] levels.

use std::collections::HashSet;
use std::rc::Rc;

use serde_yaml::value::{Tag, TaggedValue};
use serde_yaml::{Mapping, Value};

use super::scalar;
use super::tree::{Kind, Node, Tagging};
use super::{Limit, LoadError, MAX_ALIAS_NODES, MAX_DEPTH, join_index, join_key};
use crate::diag::{Diagnostic, Diagnostics, Location};
use crate::manifest::SourceMap;

/// What the walk gathers besides the value.
#[derive(Default)]
pub(super) struct Walk {
    pub source: SourceMap,
    pub quoted: HashSet<String>,
    /// Duplicate keys and bad merges: every one is reported, then reading stops.
    pub diags: Diagnostics,
    /// Nodes reached through an alias so far.
    expanded: usize,
}

/// A node's parts, moved out when the node is not shared, copied when it is.
enum Parts {
    Scalar {
        text: String,
        plain: bool,
        tag: Tagging,
    },
    Seq(Vec<Rc<Node>>, Tagging),
    Map(Vec<(Rc<Node>, Rc<Node>)>, Tagging),
    Alias(Rc<Node>),
}

fn parts(node: Rc<Node>) -> (Location, Parts) {
    match Rc::try_unwrap(node) {
        Ok(n) => {
            let parts = match n.kind {
                Kind::Scalar { text, plain, tag } => Parts::Scalar { text, plain, tag },
                Kind::Seq { items, tag } => Parts::Seq(items, tag),
                Kind::Map { entries, tag } => Parts::Map(entries, tag),
                Kind::Alias(target) => Parts::Alias(target),
            };
            (n.at, parts)
        }
        Err(shared) => {
            let parts = match &shared.kind {
                Kind::Scalar { text, plain, tag } => Parts::Scalar {
                    text: text.clone(),
                    plain: *plain,
                    tag: tag.clone(),
                },
                Kind::Seq { items, tag } => Parts::Seq(items.clone(), tag.clone()),
                Kind::Map { entries, tag } => Parts::Map(entries.clone(), tag.clone()),
                Kind::Alias(target) => Parts::Alias(Rc::clone(target)),
            };
            (shared.at, parts)
        }
    }
}

/// The node behind any aliases.
fn target(node: &Rc<Node>) -> &Rc<Node> {
    let mut n = node;
    while let Kind::Alias(t) = &n.kind {
        n = t;
    }
    n
}

fn is_merge_key(node: &Node) -> bool {
    node.key_text() == Some("<<")
}

fn tag_value(tag: Tagging, value: Value) -> Value {
    match tag {
        Tagging::Local(t) if !t.is_empty() => Value::Tagged(Box::new(TaggedValue {
            tag: Tag::new(t),
            value,
        })),
        _ => value,
    }
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

fn merge_error(at: Location) -> Diagnostic {
    Diagnostic::error(
        "",
        "yaml: a merge key `<<` must name a mapping or a list of mappings",
    )
    .at(Some(at))
    .with_hint("write `<<: *anchor` where `&anchor` marks a mapping")
}

impl Walk {
    /// The value of `node` at YAML path `path`, `depth` collections down;
    /// `aliased` when it was reached through an alias.
    pub(super) fn node(
        &mut self,
        node: Rc<Node>,
        path: &str,
        depth: usize,
        aliased: bool,
    ) -> Result<Value, LoadError> {
        if aliased {
            self.expanded += 1;
            if self.expanded > MAX_ALIAS_NODES {
                return Err(LoadError::Limit(Limit::Aliases, node.at));
            }
        }
        if depth > MAX_DEPTH {
            return Err(LoadError::Limit(Limit::Depth, node.at));
        }
        let (at, parts) = parts(node);
        match parts {
            Parts::Alias(target) => self.node(target, path, depth, true),
            Parts::Scalar { text, plain, tag } => {
                if !plain {
                    self.quoted.insert(path.to_string());
                }
                self.scalar(text, plain, tag, at)
            }
            Parts::Seq(items, tag) => {
                let mut out = Vec::with_capacity(items.len());
                for (i, item) in items.into_iter().enumerate() {
                    let p = join_index(path, i);
                    self.source.insert(p.clone(), item.at);
                    out.push(self.node(item, &p, depth + 1, aliased)?);
                }
                Ok(tag_value(tag, Value::Sequence(out)))
            }
            Parts::Map(entries, tag) => {
                let map = self.mapping(entries, path, depth, aliased)?;
                Ok(tag_value(tag, Value::Mapping(map)))
            }
        }
    }

    fn scalar(
        &mut self,
        text: String,
        plain: bool,
        tag: Tagging,
        at: Location,
    ) -> Result<Value, LoadError> {
        match tag {
            Tagging::None if plain => Ok(scalar::plain(&text)),
            Tagging::None => Ok(Value::String(text)),
            Tagging::Core(t) => {
                scalar::tagged(&text, t).map_err(|message| LoadError::Value { message, at })
            }
            Tagging::Local(t) => {
                let value = if plain {
                    scalar::plain(&text)
                } else {
                    Value::String(text)
                };
                Ok(tag_value(Tagging::Local(t), value))
            }
        }
    }

    /// A key's value: scalars resolve on their own; a collection as a key (which
    /// convox.yml never needs) is walked under a path no key can have.
    fn key(&mut self, key: Rc<Node>, path: &str, depth: usize) -> Result<Value, LoadError> {
        let key = Rc::clone(target(&key));
        let (at, parts) = parts(key);
        match parts {
            Parts::Scalar { text, plain, tag } => self.scalar(text, plain, tag, at),
            Parts::Seq(items, tag) => self.node(
                Rc::new(Node {
                    at,
                    kind: Kind::Seq { items, tag },
                }),
                &join_key(path, "?"),
                depth + 1,
                false,
            ),
            Parts::Map(entries, tag) => self.node(
                Rc::new(Node {
                    at,
                    kind: Kind::Map { entries, tag },
                }),
                &join_key(path, "?"),
                depth + 1,
                false,
            ),
            Parts::Alias(_) => Ok(Value::Null),
        }
    }

    /// A mapping's own keys in file order, then each merged mapping's keys that it
    /// does not have, in order: YAML 1.1's `<<`, order-preserving.
    fn mapping(
        &mut self,
        entries: Vec<(Rc<Node>, Rc<Node>)>,
        path: &str,
        depth: usize,
        aliased: bool,
    ) -> Result<Mapping, LoadError> {
        let mut map = Mapping::with_capacity(entries.len());
        let mut merges: Vec<(Rc<Node>, bool)> = Vec::new();
        for (k, v) in entries {
            if is_merge_key(&k) {
                let via_alias = aliased || matches!(v.kind, Kind::Alias(_));
                match &target(&v).kind {
                    Kind::Seq { items, .. } => {
                        merges.extend(items.iter().map(|i| (Rc::clone(i), via_alias)))
                    }
                    _ => merges.push((v, aliased)),
                }
                continue;
            }
            let key_at = k.at;
            let p = match k.key_text() {
                Some(text) => join_key(path, text),
                None => join_key(path, "?"),
            };
            let key = self.key(k, path, depth)?;
            if map.contains_key(&key) {
                let name = if path.is_empty() {
                    &p[..]
                } else {
                    &p[path.len() + 1..]
                };
                let first = self.source.get(&p).map_or(0, |l| l.line);
                let what = dup_kind(&p);
                let message = format!("duplicate {what} {name}: first defined at line {first}");
                self.diags.push(
                    Diagnostic::error(p.clone(), message)
                        .at(Some(key_at))
                        .with_hint(format!("rename or remove one of the two {what}s")),
                );
                continue;
            }
            self.source.insert(p.clone(), key_at);
            let value = self.node(v, &p, depth + 1, aliased)?;
            map.insert(key, value);
        }
        for (source, via_alias) in merges {
            let source_at = source.at;
            let via_alias = via_alias || matches!(source.kind, Kind::Alias(_));
            let Kind::Map { entries, .. } = &target(&source).kind else {
                self.diags.push(merge_error(source_at));
                continue;
            };
            for (k, v) in entries {
                if is_merge_key(k) {
                    continue;
                }
                let key = self.key(Rc::clone(k), path, depth)?;
                if map.contains_key(&key) {
                    continue;
                }
                let p = join_key(path, k.key_text().unwrap_or("?"));
                self.source.insert(p.clone(), k.at);
                let value = self.node(Rc::clone(v), &p, depth + 1, via_alias)?;
                map.insert(key, value);
            }
        }
        Ok(map)
    }
}
