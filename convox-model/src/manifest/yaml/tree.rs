//! saphyr-parser's event stream → a tree of nodes, each with where it starts.
//!
//! Aliases share their anchor's node (an [`Rc`]), so building is linear in the
//! text; expanding them is the walk's business, under a budget. Collections are
//! opened and closed on an explicit stack, never by recursion, and the stack is
//! refused past [`MAX_DEPTH`].

use std::collections::HashMap;
use std::rc::Rc;

use saphyr_parser::{Event, Parser, ScalarStyle, Tag};

use super::interpolate::Places;
use super::scalar::CoreTag;
use super::{Limit, LoadError, MAX_DEPTH};
use crate::diag::Location;

/// A node of the document.
#[derive(Debug)]
pub(super) struct Node {
    /// Where the node starts, in the text as written.
    pub at: Location,
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

#[derive(Debug)]
pub(super) enum Kind {
    Scalar {
        text: String,
        plain: bool,
        tag: Tagging,
    },
    Seq {
        items: Vec<Rc<Node>>,
        tag: Tagging,
    },
    Map {
        entries: Vec<(Rc<Node>, Rc<Node>)>,
        tag: Tagging,
    },
    /// `*name`: the anchored node, shared.
    Alias(Rc<Node>),
}

impl Node {
    /// The text of a scalar key, as written.
    pub(super) fn key_text(&self) -> Option<&str> {
        match &self.kind {
            Kind::Scalar { text, .. } => Some(text),
            Kind::Alias(target) => target.key_text(),
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

/// An open collection: where it starts, its anchor, its tag and what it holds so
/// far (a mapping's keys and values alternate).
struct Open {
    at: Location,
    anchor: usize,
    tag: Tagging,
    map: bool,
    items: Vec<Rc<Node>>,
}

/// Builds the document's node tree; `Ok(None)` for an empty stream.
pub(super) fn build(text: &str, places: &Places) -> Result<Option<Rc<Node>>, LoadError> {
    let mut anchors: HashMap<usize, Rc<Node>> = HashMap::new();
    let mut stack: Vec<Open> = Vec::new();
    let mut root: Option<Rc<Node>> = None;
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
        let done: Rc<Node> = match event {
            Event::StreamStart | Event::Nothing | Event::DocumentEnd => continue,
            Event::StreamEnd => break,
            Event::DocumentStart(_) => {
                documents += 1;
                if documents > 1 {
                    return Err(LoadError::Syntax {
                        message: "convox.yml holds more than one document".to_string(),
                        at,
                        line: span.start.line(),
                        col: span.start.col(),
                    });
                }
                continue;
            }
            Event::Alias(id) => match anchors.get(&id) {
                Some(n) => Rc::new(Node {
                    at: n.at,
                    kind: Kind::Alias(Rc::clone(n)),
                }),
                None => {
                    return Err(LoadError::Syntax {
                        message: "unknown anchor".to_string(),
                        at,
                        line: span.start.line(),
                        col: span.start.col(),
                    });
                }
            },
            Event::Scalar(text, style, anchor, tag) => {
                let node = Rc::new(Node {
                    at,
                    kind: Kind::Scalar {
                        text: text.into_owned(),
                        plain: style == ScalarStyle::Plain,
                        tag: tagging(tag.as_deref()),
                    },
                });
                if anchor > 0 {
                    anchors.insert(anchor, Rc::clone(&node));
                }
                node
            }
            Event::SequenceStart(..) | Event::MappingStart(..) if stack.len() >= MAX_DEPTH => {
                return Err(LoadError::Limit(Limit::Depth, at));
            }
            Event::SequenceStart(anchor, tag) => {
                stack.push(Open {
                    at,
                    anchor,
                    tag: tagging(tag.as_deref()),
                    map: false,
                    items: Vec::new(),
                });
                continue;
            }
            Event::MappingStart(anchor, tag) => {
                stack.push(Open {
                    at,
                    anchor,
                    tag: tagging(tag.as_deref()),
                    map: true,
                    items: Vec::new(),
                });
                continue;
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let Some(open) = stack.pop() else { break };
                let kind = if open.map {
                    let mut entries = Vec::with_capacity(open.items.len() / 2);
                    let mut it = open.items.into_iter();
                    while let (Some(k), Some(v)) = (it.next(), it.next()) {
                        entries.push((k, v));
                    }
                    Kind::Map {
                        entries,
                        tag: open.tag,
                    }
                } else {
                    Kind::Seq {
                        items: open.items,
                        tag: open.tag,
                    }
                };
                let node = Rc::new(Node { at: open.at, kind });
                if open.anchor > 0 {
                    anchors.insert(open.anchor, Rc::clone(&node));
                }
                node
            }
        };
        match stack.last_mut() {
            Some(open) => open.items.push(done),
            None => root = Some(done),
        }
    }
    Ok(root)
}
