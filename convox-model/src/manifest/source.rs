//! Where each YAML path starts: the document's shape with a place on every node,
//! kept as the YAML walk found it, and a path's place found only when asked.
//!
//! Recording one path string per node cost an allocation and a hash for every
//! node of every document, while only a diagnostic ever asks for a place. The
//! walk instead records a flat tree (nodes, their edges, the keys' text in one
//! buffer), and [`SourceMap::get`] follows a path (`services.web.links[0]`) down
//! it. Places recorded by hand ([`SourceMap::insert`]) are kept by path and win
//! over the tree's.

use std::collections::BTreeMap;

use crate::diag::Location;

/// Maps YAML paths (`services.web.links[0]`) to where their node starts.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SourceMap {
    /// The document's nodes; the root is `root`.
    nodes: Vec<Place>,
    /// Every node's edges, each node's contiguous.
    edges: Vec<Edge>,
    /// The keys' text, one after the other.
    keys: String,
    root: Option<u32>,
    /// Places recorded by path.
    extra: BTreeMap<String, Location>,
}

/// A node: where its path starts (`None` for the root, which has no path), and
/// its edges, `edges[first..first + len]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Place {
    at: Option<Location>,
    map: bool,
    first: u32,
    len: u32,
}

/// An edge to a child: its key's text, `keys[key..key + key_len]` (empty for a
/// list item, whose index is its position), and the child.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Edge {
    key: u32,
    key_len: u32,
    child: u32,
}

/// Where a key's text is in the map's buffer.
#[derive(Clone, Copy, Debug)]
pub(crate) struct KeySpan(u32, u32);

/// Builds a [`SourceMap`]'s tree bottom-up, as the YAML walk finishes nodes.
#[derive(Debug, Default)]
pub(crate) struct Builder {
    map: SourceMap,
    /// Edges of the collections still open, innermost last.
    pending: Vec<Edge>,
}

impl Builder {
    /// A builder with room for about `n` nodes.
    pub(crate) fn with_capacity(n: usize) -> Self {
        let mut b = Builder::default();
        b.map.nodes.reserve(n);
        b.map.edges.reserve(n);
        // Keys are short: about half the nodes are keys of a few bytes.
        b.map.keys.reserve(n * 4);
        b.pending.reserve(64);
        b
    }

    /// Where the edges of a collection about to be walked will start.
    pub(crate) fn mark(&self) -> usize {
        self.pending.len()
    }

    /// A leaf node (a scalar); its id.
    pub(crate) fn leaf(&mut self) -> u32 {
        self.push(Place {
            at: None,
            map: false,
            first: 0,
            len: 0,
        })
    }

    /// Node `child` is the next item of the collection opened at some mark,
    /// starting at `at`.
    pub(crate) fn item(&mut self, child: u32, at: Location) {
        self.set_at(child, at);
        self.pending.push(Edge {
            key: 0,
            key_len: 0,
            child,
        });
    }

    /// Keeps a key's text for an entry to come; its span.
    pub(crate) fn key_text(&mut self, key: &str) -> KeySpan {
        let start = u32::try_from(self.map.keys.len()).unwrap_or(u32::MAX);
        self.map.keys.push_str(key);
        KeySpan(start, u32::try_from(key.len()).unwrap_or(0))
    }

    /// A key's text kept by [`Builder::key_text`].
    pub(crate) fn key(&self, span: KeySpan) -> &str {
        let start = span.0 as usize;
        self.map
            .keys
            .get(start..start + span.1 as usize)
            .unwrap_or("")
    }

    /// Node `child` is the value of the key kept as `key`, which starts at `at`.
    pub(crate) fn entry(&mut self, key: KeySpan, child: u32, at: Location) {
        self.set_at(child, at);
        self.pending.push(Edge {
            key: key.0,
            key_len: key.1,
            child,
        });
    }

    /// Where key `key` of the mapping opened at `mark` starts, if it has one.
    pub(crate) fn entry_at(&self, mark: usize, key: &str) -> Option<Location> {
        self.pending.get(mark..)?.iter().find_map(|e| {
            (self.map.key(e) == key)
                .then(|| self.map.nodes.get(e.child as usize).and_then(|p| p.at))
                .flatten()
        })
    }

    /// Closes the collection opened at `mark`: a node holding the edges since.
    pub(crate) fn close(&mut self, mark: usize, map: bool) -> u32 {
        let first = u32::try_from(self.map.edges.len()).unwrap_or(u32::MAX);
        let mark = mark.min(self.pending.len());
        self.map.edges.extend(self.pending.drain(mark..));
        let len = u32::try_from(self.map.edges.len()).unwrap_or(u32::MAX) - first;
        self.push(Place {
            at: None,
            map,
            first,
            len,
        })
    }

    /// Drops the edges since `mark` (a collection that is no path's value).
    pub(crate) fn discard(&mut self, mark: usize) {
        self.pending.truncate(mark);
    }

    /// The finished map, with `root` as the document's root.
    pub(crate) fn finish(mut self, root: Option<u32>) -> SourceMap {
        self.map.root = root;
        self.map
    }

    fn push(&mut self, p: Place) -> u32 {
        let id = u32::try_from(self.map.nodes.len()).unwrap_or(u32::MAX);
        self.map.nodes.push(p);
        id
    }

    fn set_at(&mut self, id: u32, at: Location) {
        if let Some(p) = self.map.nodes.get_mut(id as usize) {
            p.at = Some(at);
        }
    }
}

impl SourceMap {
    /// Records where `path` starts.
    pub fn insert(&mut self, path: impl Into<String>, location: Location) {
        self.extra.insert(path.into(), location);
    }

    /// Where `path` starts; failing that, its nearest recorded ancestor.
    pub fn locate(&self, path: &str) -> Option<Location> {
        let mut p = path;
        loop {
            if let Some(l) = self.get(p) {
                return Some(l);
            }
            let cut = p.rfind(['.', '['])?;
            p = &p[..cut];
        }
    }

    /// Where `path` itself starts, without falling back to an ancestor.
    pub fn get(&self, path: &str) -> Option<Location> {
        if let Some(l) = self.extra.get(path) {
            return Some(*l);
        }
        let root = self.root?;
        self.find(root, path, true)
    }

    fn key(&self, e: &Edge) -> &str {
        let start = e.key as usize;
        self.keys
            .get(start..start + e.key_len as usize)
            .unwrap_or("")
    }

    fn edges(&self, p: &Place) -> &[Edge] {
        let first = p.first as usize;
        self.edges.get(first..first + p.len as usize).unwrap_or(&[])
    }

    /// The place of `rest` below node `id`; `top` at the root, where a key has no
    /// `.` before it. Keys may hold `.` or `[`, so every key that `rest` starts
    /// with is tried.
    fn find(&self, id: u32, rest: &str, top: bool) -> Option<Location> {
        let place = self.nodes.get(id as usize)?;
        if rest.is_empty() {
            return place.at;
        }
        if place.map {
            let rest = if top { rest } else { rest.strip_prefix('.')? };
            self.edges(place).iter().find_map(|e| {
                let after = rest.strip_prefix(self.key(e))?;
                if !(after.is_empty() || after.starts_with(['.', '['])) {
                    return None;
                }
                self.find(e.child, after, false)
            })
        } else {
            let inner = rest.strip_prefix('[')?;
            let (index, after) = inner.split_once(']')?;
            if index.is_empty() || !index.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            let e = self.edges(place).get(index.parse::<usize>().ok()?)?;
            self.find(e.child, after, false)
        }
    }
}
