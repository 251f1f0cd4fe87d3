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
use super::{Limit, LoadError, MAX_ALIAS_NODES, MAX_DEPTH, join_key};
use crate::diag::{Diagnostic, Diagnostics, Location};
use crate::manifest::SourceMap;
use crate::manifest::source::{Builder, KeySpan};

/// What the walk gathers besides the value.
pub(super) struct Walk {
    tree: Tree,
    source: Builder,
    /// The YAML path of the node being walked.
    path: String,
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
        // About one place per node: sized once.
        let source = Builder::with_capacity(tree.nodes.len());
        Walk {
            tree,
            source,
            path: String::with_capacity(128),
            quoted: HashSet::new(),
            diags: Diagnostics::default(),
            expanded: 0,
        }
    }

    /// The document's value (`Null` when it is empty) and where its paths start.
    pub(super) fn root(&mut self) -> Result<(Value, SourceMap), LoadError> {
        let (value, root) = match self.tree.root {
            None => (Value::Null, None),
            Some(root) => {
                let (value, id) = self.node(root, 0, false)?;
                (value, Some(id))
            }
        };
        let source = std::mem::take(&mut self.source).finish(root);
        Ok((value, source))
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

    /// The value of node `id` at the YAML path `self.path`, `depth` collections
    /// down, and its node in the source map; `aliased` when it was reached through
    /// an alias.
    fn node(&mut self, id: Id, depth: usize, aliased: bool) -> Result<(Value, u32), LoadError> {
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
            Kind::Taken => Ok((Value::Null, self.source.leaf())),
            Kind::Alias(target) => self.node(target, depth, true),
            Kind::Scalar { text, plain, tag } => {
                if !plain {
                    self.quoted.insert(self.path.clone());
                }
                Ok((scalar_value(text, plain, tag, at)?, self.source.leaf()))
            }
            Kind::Seq { items, tag } => {
                let mark = self.source.mark();
                let mut out = Vec::with_capacity(items.len());
                for (i, item) in items.into_iter().enumerate() {
                    let len = self.path.len();
                    push_index(&mut self.path, i);
                    let item_at = self.at(item);
                    let r = self.node(item, depth + 1, aliased);
                    self.path.truncate(len);
                    let (value, child) = r?;
                    out.push(value);
                    self.source.item(child, item_at);
                }
                let id = self.source.close(mark, false);
                Ok((tag_value(tag, Value::Sequence(out)), id))
            }
            Kind::Map { entries, tag } => {
                let mark = self.source.mark();
                let map = self.mapping(entries, depth, aliased, mark)?;
                let id = self.source.close(mark, true);
                Ok((tag_value(tag, Value::Mapping(map)), id))
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

    /// The value of node `v`, the entry under key `span` of the mapping at
    /// `self.path`, `depth` collections down, and its node in the source map.
    fn entry(
        &mut self,
        span: KeySpan,
        v: Id,
        depth: usize,
        aliased: bool,
    ) -> Result<(Value, u32), LoadError> {
        let len = self.path.len();
        push_key(&mut self.path, self.source.key(span));
        let r = self.node(v, depth + 1, aliased);
        self.path.truncate(len);
        r
    }

    /// A key's value: scalars resolve on their own; a collection as a key (which
    /// convox.yml never needs) is walked under a path no key can have, and is no
    /// path's place.
    fn key(&mut self, key: Id, depth: usize) -> Result<Value, LoadError> {
        let key = self.tree.target(key);
        if let Some(Kind::Scalar { .. }) = self.kind(key)
            && let (at, Kind::Scalar { text, plain, tag }) = self.take(key)
        {
            return scalar_value(text, plain, tag, at);
        }
        let len = self.path.len();
        push_key(&mut self.path, "?");
        let mark = self.source.mark();
        let r = self.node(key, depth + 1, false);
        self.source.discard(mark);
        self.path.truncate(len);
        r.map(|(v, _)| v)
    }

    /// A mapping's own keys in file order, then each merged mapping's keys that it
    /// does not have, in order: YAML 1.1's `<<`, order-preserving. Its entries'
    /// places go to the source map after `mark`.
    fn mapping(
        &mut self,
        entries: Vec<(Id, Id)>,
        depth: usize,
        aliased: bool,
        mark: usize,
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
            let span = self.source.key_text(self.tree.key_text(k).unwrap_or("?"));
            let key = self.key(k, depth)?;
            let Entry::Vacant(slot) = map.entry(key) else {
                self.duplicate(span, key_at, mark);
                continue;
            };
            let (value, child) = self.entry(span, v, depth, aliased)?;
            slot.insert(value);
            self.source.entry(span, child, key_at);
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
                let span = self.source.key_text(self.tree.key_text(k).unwrap_or("?"));
                let key = self.key(k, depth)?;
                if map.contains_key(&key) {
                    continue;
                }
                let (value, child) = self.entry(span, v, depth, via_alias)?;
                map.insert(key, value);
                self.source.entry(span, child, self.at(k));
            }
        }
        Ok(map)
    }

    /// Reports key `k`, at `key_at`, as a duplicate in the mapping at `self.path`
    /// whose entries started at `mark`.
    fn duplicate(&mut self, span: KeySpan, key_at: Location, mark: usize) {
        let name = self.source.key(span);
        let p = join_key(&self.path, name);
        let first = self.source.entry_at(mark, name).map_or(0, |l| l.line);
        let what = dup_kind(&p);
        let message = format!("duplicate {what} {name}: first defined at line {first}");
        self.diags.push(
            Diagnostic::error(p, message)
                .at(Some(key_at))
                .with_hint(format!("rename or remove one of the two {what}s")),
        );
    }

    fn kind(&self, id: Id) -> Option<&Kind> {
        self.tree.nodes.get(id).map(|n| &n.kind)
    }
}

/// `path` becomes `path.key`, or `key` at the top.
fn push_key(path: &mut String, key: &str) {
    if !path.is_empty() {
        path.push('.');
    }
    path.push_str(key);
}

/// `path` becomes `path[index]`.
fn push_index(path: &mut String, index: usize) {
    use std::fmt::Write;
    // Writing to a String cannot fail.
    let _ = write!(path, "[{index}]");
}

fn scalar_value(text: String, plain: bool, tag: Tagging, at: Location) -> Result<Value, LoadError> {
    match tag {
        Tagging::None if plain => Ok(scalar::plain(text)),
        Tagging::None => Ok(Value::String(text)),
        Tagging::Core(t) => {
            scalar::tagged(&text, t).map_err(|message| LoadError::Value { message, at })
        }
        Tagging::Local(t) => {
            let value = if plain {
                scalar::plain(text)
            } else {
                Value::String(text)
            };
            Ok(tag_value(Tagging::Local(t), value))
        }
    }
}
