//! `${VAR}` interpolation, done on the raw text before YAML as Convox does, and
//! the map from places in the interpolated text back to the text as written.

use std::collections::BTreeMap;

use crate::diag::Location;

/// Replaces `${VAR}` with the value of `VAR` in `env`, or nothing when it is unset,
/// as Convox does before it parses the YAML. `$VAR` without braces is left alone.
pub fn interpolate(text: &str, env: &BTreeMap<String, String>) -> String {
    interpolate_mapped(text, env).0
}

/// One `${VAR}` replacement, in character offsets.
#[derive(Clone, Copy, Debug)]
pub(super) struct Replacement {
    /// Where the value starts in the interpolated text.
    new_start: usize,
    /// Where the value ends in the interpolated text.
    new_end: usize,
    /// Where `${` starts in the original text.
    old_start: usize,
    /// Just after `}` in the original text.
    old_end: usize,
}

pub(super) fn interpolate_mapped(
    text: &str,
    env: &BTreeMap<String, String>,
) -> (String, Vec<Replacement>) {
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
pub(super) struct Places {
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
    pub(super) fn new(original: &str, interpolated: &str, reps: Vec<Replacement>) -> Self {
        // Without replacements places need no mapping, nor these tables.
        let (old_lines, new_lines) = if reps.is_empty() {
            (Vec::new(), Vec::new())
        } else {
            (line_starts(original), line_starts(interpolated))
        };
        Places {
            new_lines,
            old_lines,
            reps,
        }
    }

    /// The original place of 1-based `line`, 0-based `col` in the interpolated text.
    pub(super) fn locate(&self, line: usize, col: usize) -> Location {
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
