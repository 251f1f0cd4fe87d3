//! saphyr-parser's event stream → a tree of nodes, each with where it starts.
//!
//! The nodes live in one arena ([`Tree`]), indexed by [`Id`]. Aliases point at
//! their anchor's node, so building is linear in the text; expanding them is the
//! walk's business, under a budget. Collections are opened and closed on an
//! explicit stack, never by recursion, and the stack is refused past
//! [`MAX_DEPTH`].

use std::collections::HashMap;

use saphyr_parser::{Event, Parser, ScalarStyle, Tag};

use super::interpolate::Places;
use super::scalar::CoreTag;
use super::{Limit, LoadError, MAX_DEPTH};
use crate::diag::Location;

/// A node's index in its [`Tree`].
pub(super) type Id = usize;

/// Every node of a document; the root is the last one closed.
#[derive(Debug, Default)]
pub(super) struct Tree {
    pub nodes: Vec<Node>,
    pub root: Option<Id>,
}

/// A node of the document.
#[derive(Debug)]
pub(super) struct Node {
    /// Where the node starts, in the text as written.
    pub at: Location,
    /// Whether an alias may reach it (it or an enclosing collection is anchored):
    /// the walk copies a shared node's contents and may move anyone else's.
    pub shared: bool,
    pub kind: Kind,
}

/// How a node is tagged, as far as its value is concerned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Tagging {
    /// No tag, or a core tag on a collection.
    None,
    /// `!!str`, `!!int`, ...: the scalar must read as that type.
    Core(CoreTag),
    /// A tag of the user's, such as `!Ref`: the value is kept, marked as tagged.
    Local(String),
}

#[derive(Clone, Debug)]
pub(super) enum Kind {
    Scalar {
        text: String,
        plain: bool,
        tag: Tagging,
    },
    Seq {
        items: Vec<Id>,
        tag: Tagging,
    },
    Map {
        entries: Vec<(Id, Id)>,
        tag: Tagging,
    },
    /// `*name`: the anchored node.
    Alias(Id),
    /// Moved out by the walk, which never comes back for it.
    Taken,
}

impl Tree {
    /// The node behind any aliases.
    pub(super) fn target(&self, mut id: Id) -> Id {
        while let Some(Node {
            kind: Kind::Alias(t),
            ..
        }) = self.nodes.get(id)
        {
            id = *t;
        }
        id
    }

    /// The text of a scalar key, as written.
    pub(super) fn key_text(&self, id: Id) -> Option<&str> {
        match self.nodes.get(self.target(id)).map(|n| &n.kind) {
            Some(Kind::Scalar { text, .. }) => Some(text),
            _ => None,
        }
    }
}

fn tagging(tag: Option<&Tag>) -> Tagging {
    match tag {
        None => Tagging::None,
        Some(t) if t.is_yaml_core_schema() => {
            CoreTag::from_suffix(&t.suffix).map_or(Tagging::None, Tagging::Core)
        }
        Some(t) => Tagging::Local(format!("{}{}", t.handle, t.suffix)),
    }
}

/// An open collection: its node, its anchor, whether it is a mapping, and where
/// what it holds so far starts on the items stack (a mapping's keys and values
/// alternate); each collection's items are copied out once, when it closes.
struct Open {
    id: Id,
    anchor: usize,
    map: bool,
    /// Where its items start on the shared stack of items.
    mark: usize,
}

/// Builds the document's node tree; no root for an empty stream.
pub(super) fn build(text: &str, places: &Places) -> Result<Tree, LoadError> {
    let mut anchors: HashMap<usize, Id> = HashMap::new();
    let mut stack: Vec<Open> = Vec::new();
    let mut items: Vec<Id> = Vec::with_capacity(256);
    // About one node per ten bytes of a typical convox.yml: grown once or never.
    let mut tree = Tree {
        nodes: Vec::with_capacity(text.len() / 10 + 16),
        root: None,
    };
    // Open collections that carry an anchor: what they hold is shared.
    let mut anchored = 0usize;
    let mut documents = 0usize;
    for event in Parser::new_from_str(text) {
        let (event, span) = event.map_err(|e| {
            let m = e.marker();
            // The scanner reads ahead, and counts flow levels in a byte: deep `[[[…`
            // can reach its limit before the events reach ours.
            if e.info() == "recursion limit exceeded" {
                return LoadError::Limit(Limit::Depth, places.locate(m.line(), m.col()));
            }
            LoadError::Syntax {
                message: e.info().to_string(),
                at: places.locate(m.line(), m.col()),
                line: m.line(),
                col: m.col(),
            }
        })?;
        let at = places.locate(span.start.line(), span.start.col());
        let syntax = |message: &str| LoadError::Syntax {
            message: message.to_string(),
            at,
            line: span.start.line(),
            col: span.start.col(),
        };
        let is_map = matches!(event, Event::MappingStart(..));
        let done: Id = match event {
            Event::StreamStart | Event::Nothing | Event::DocumentEnd => continue,
            Event::StreamEnd => break,
            Event::DocumentStart(_) => {
                documents += 1;
                if documents > 1 {
                    return Err(syntax("convox.yml holds more than one document"));
                }
                continue;
            }
            Event::Alias(id) => {
                let Some(target) = anchors.get(&id).copied() else {
                    return Err(syntax("unknown anchor"));
                };
                tree.nodes.push(Node {
                    at: tree.nodes[target].at,
                    shared: anchored > 0,
                    kind: Kind::Alias(target),
                });
                tree.nodes.len() - 1
            }
            Event::Scalar(text, style, anchor, tag) => {
                tree.nodes.push(Node {
                    at,
                    shared: anchored > 0 || anchor > 0,
                    kind: Kind::Scalar {
                        text: text.into_owned(),
                        plain: style == ScalarStyle::Plain,
                        tag: tagging(tag.as_deref()),
                    },
                });
                let id = tree.nodes.len() - 1;
                if anchor > 0 {
                    anchors.insert(anchor, id);
                }
                id
            }
            Event::SequenceStart(..) | Event::MappingStart(..) if stack.len() >= MAX_DEPTH => {
                return Err(LoadError::Limit(Limit::Depth, at));
            }
            Event::SequenceStart(anchor, tag) | Event::MappingStart(anchor, tag) => {
                let tag = tagging(tag.as_deref());
                if anchor > 0 {
                    anchored += 1;
                }
                tree.nodes.push(Node {
                    at,
                    shared: anchored > 0,
                    kind: Kind::Seq {
                        items: Vec::new(),
                        tag,
                    },
                });
                stack.push(Open {
                    id: tree.nodes.len() - 1,
                    anchor,
                    map: is_map,
                    mark: items.len(),
                });
                continue;
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let Some(open) = stack.pop() else { break };
                let node = &mut tree.nodes[open.id];
                let tag = match std::mem::replace(&mut node.kind, Kind::Taken) {
                    Kind::Seq { tag, .. } => tag,
                    _ => Tagging::None,
                };
                let held = items.get(open.mark..).unwrap_or(&[]);
                node.kind = if open.map {
                    let entries = held.chunks_exact(2).map(|kv| (kv[0], kv[1])).collect();
                    Kind::Map { entries, tag }
                } else {
                    Kind::Seq {
                        items: held.to_vec(),
                        tag,
                    }
                };
                items.truncate(open.mark.min(items.len()));
                if open.anchor > 0 {
                    anchored -= 1;
                    anchors.insert(open.anchor, open.id);
                }
                open.id
            }
        };
        match stack.last_mut() {
            Some(_) => items.push(done),
            None => tree.root = Some(done),
        }
    }
    Ok(tree)
}
