//! The node tree → the value tree the reader walks, with the [`SourceMap`], the
//! quoted scalars, merge keys applied and duplicate keys reported, in one walk.
//!
//! Aliases are expanded here, so this is where hostile input would blow up: every
//! node reached through an alias counts against [`MAX_ALIAS_NODES`], and the
//! depth reached through aliases against [`MAX_DEPTH`]. The walk recurses, but
//! never deeper than [`MAX_DEPTH`] levels.

use std::collections::HashSet;

use serde_yaml::mapping::Entry;
use serde_yaml::value::{Tag, TaggedValue};
use serde_yaml::{Mapping, Value};

use super::scalar;
use super::tree::{Id, Kind, Tagging, Tree};
use super::{Limit, LoadError, MAX_ALIAS_NODES, MAX_DEPTH, join_index, join_key};
use crate::diag::{Diagnostic, Diagnostics, Location};
use crate::manifest::SourceMap;

/// What the walk gathers besides the value.
pub(super) struct Walk {
    tree: Tree,
    pub source: SourceMap,
    pub quoted: HashSet<String>,
    /// Duplicate keys and bad merges: every one is reported, then reading stops.
    pub diags: Diagnostics,
    /// Nodes reached through an alias so far.
    expanded: usize,
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
    pub(super) fn new(tree: Tree) -> Self {
        // About one path per node: sized once, never rehashed.
        let source = SourceMap::with_capacity(tree.nodes.len());
        Walk {
            tree,
            source,
            quoted: HashSet::new(),
            diags: Diagnostics::default(),
            expanded: 0,
        }
    }

    /// The document's value: `Null` when it is empty.
    pub(super) fn root(&mut self) -> Result<Value, LoadError> {
        match self.tree.root {
            None => Ok(Value::Null),
            Some(root) => self.node(root, "", 0, false),
        }
    }

    /// Node `id`'s place and contents: moved out when no alias can reach it (the
    /// walk visits it once), copied when one can.
    fn take(&mut self, id: Id) -> (Location, Kind) {
        match self.tree.nodes.get_mut(id) {
            Some(n) if n.shared => (n.at, n.kind.clone()),
            Some(n) => (n.at, std::mem::replace(&mut n.kind, Kind::Taken)),
            None => (Location { line: 1, column: 1 }, Kind::Taken),
        }
    }

    /// The value of node `id` at YAML path `path`, `depth` collections down;
    /// `aliased` when it was reached through an alias.
    fn node(
        &mut self,
        id: Id,
        path: &str,
        depth: usize,
        aliased: bool,
    ) -> Result<Value, LoadError> {
        let (at, kind) = self.take(id);
        if aliased {
            self.expanded += 1;
            if self.expanded > MAX_ALIAS_NODES {
                return Err(LoadError::Limit(Limit::Aliases, at));
            }
        }
        if depth > MAX_DEPTH {
            return Err(LoadError::Limit(Limit::Depth, at));
        }
        match kind {
            Kind::Taken => Ok(Value::Null),
            Kind::Alias(target) => self.node(target, path, depth, true),
            Kind::Scalar { text, plain, tag } => {
                if !plain {
                    self.quoted.insert(path.to_string());
                }
                scalar_value(text, plain, tag, at)
            }
            Kind::Seq { items, tag } => {
                let mut out = Vec::with_capacity(items.len());
                for (i, item) in items.into_iter().enumerate() {
                    let p = join_index(path, i);
                    let item_at = self.at(item);
                    out.push(self.node(item, &p, depth + 1, aliased)?);
                    self.source.insert(p, item_at);
                }
                Ok(tag_value(tag, Value::Sequence(out)))
            }
            Kind::Map { entries, tag } => {
                let map = self.mapping(entries, path, depth, aliased)?;
                Ok(tag_value(tag, Value::Mapping(map)))
            }
        }
    }

    fn at(&self, id: Id) -> Location {
        self.tree
            .nodes
            .get(id)
            .map_or(Location { line: 1, column: 1 }, |n| n.at)
    }

    fn is_merge_key(&self, id: Id) -> bool {
        self.tree.key_text(id) == Some("<<")
    }

    /// A key's value: scalars resolve on their own; a collection as a key (which
    /// convox.yml never needs) is walked under a path no key can have.
    fn key(&mut self, key: Id, path: &str, depth: usize) -> Result<Value, LoadError> {
        let key = self.tree.target(key);
        if let Some(Kind::Scalar { .. }) = self.kind(key)
            && let (at, Kind::Scalar { text, plain, tag }) = self.take(key)
        {
            return scalar_value(text, plain, tag, at);
        }
        self.node(key, &join_key(path, "?"), depth + 1, false)
    }

    /// A mapping's own keys in file order, then each merged mapping's keys that it
    /// does not have, in order: YAML 1.1's `<<`, order-preserving.
    fn mapping(
        &mut self,
        entries: Vec<(Id, Id)>,
        path: &str,
        depth: usize,
        aliased: bool,
    ) -> Result<Mapping, LoadError> {
        let mut map = Mapping::with_capacity(entries.len());
        let mut merges: Vec<(Id, bool)> = Vec::new();
        for (k, v) in entries {
            if self.is_merge_key(k) {
                let via_alias = aliased || matches!(self.kind(v), Some(Kind::Alias(_)));
                let target = self.tree.target(v);
                match self.kind(target) {
                    Some(Kind::Seq { items, .. }) => {
                        merges.extend(items.iter().map(|i| (*i, via_alias)));
                    }
                    _ => merges.push((v, aliased)),
                }
                continue;
            }
            let key_at = self.at(k);
            let p = join_key(path, self.tree.key_text(k).unwrap_or("?"));
            let key = self.key(k, path, depth)?;
            let Entry::Vacant(slot) = map.entry(key) else {
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
            };
            slot.insert(self.node(v, &p, depth + 1, aliased)?);
            self.source.insert(p, key_at);
        }
        for (source, via_alias) in merges {
            let source_at = self.at(source);
            let via_alias = via_alias || matches!(self.kind(source), Some(Kind::Alias(_)));
            let target = self.tree.target(source);
            let Some(Kind::Map { entries, .. }) = self.kind(target) else {
                self.diags.push(merge_error(source_at));
                continue;
            };
            for (k, v) in entries.clone() {
                if self.is_merge_key(k) {
                    continue;
                }
                let p = join_key(path, self.tree.key_text(k).unwrap_or("?"));
                let key = self.key(k, path, depth)?;
                if map.contains_key(&key) {
                    continue;
                }
                let value = self.node(v, &p, depth + 1, via_alias)?;
                map.insert(key, value);
                self.source.insert(p, self.at(k));
            }
        }
        Ok(map)
    }

    fn kind(&self, id: Id) -> Option<&Kind> {
        self.tree.nodes.get(id).map(|n| &n.kind)
    }
}

fn scalar_value(text: String, plain: bool, tag: Tagging, at: Location) -> Result<Value, LoadError> {
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
