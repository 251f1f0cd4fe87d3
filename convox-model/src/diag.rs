//! Diagnostics: what is wrong with an input, where, and how to fix it.

use std::fmt;

use serde::Serialize;

/// How bad a diagnostic is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The input is accepted; something in it is probably not what was meant.
    Warning,
    /// The input is refused.
    Error,
}

/// A line and column in the source text, both 1-based.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Location {
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
}

/// One problem found in an input.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    /// Error or warning.
    pub severity: Severity,
    /// The YAML path of the offending node, such as `services.web.links[0]`;
    /// empty when the problem is with the document as a whole.
    pub path: String,
    /// Where the node starts in the source, when the YAML parser knows.
    pub location: Option<Location>,
    /// What is wrong. Convox's own words appear inside ours where Convox has a message.
    pub message: String,
    /// How to fix it, where there is something useful to say.
    pub hint: Option<String>,
}

impl Diagnostic {
    /// An error at `path`.
    pub fn error(path: impl Into<String>, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Error,
            path: path.into(),
            location: None,
            message: message.into(),
            hint: None,
        }
    }

    /// A warning at `path`.
    pub fn warning(path: impl Into<String>, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Warning,
            ..Diagnostic::error(path, message)
        }
    }

    /// Adds a hint.
    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// Sets the location.
    pub fn at(mut self, location: Option<Location>) -> Self {
        self.location = location;
        self
    }

    /// Whether this is an error.
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// Renders as `FILE:LINE:COL: PATH: message` (with `-` for an unknown place),
    /// followed by an indented `hint:` line when there is a hint.
    pub fn render(&self, file: &str) -> String {
        let place = match self.location {
            Some(l) => format!("{file}:{}:{}", l.line, l.column),
            None => format!("{file}:-"),
        };
        let path = if self.path.is_empty() {
            "-"
        } else {
            &self.path
        };
        let level = match self.severity {
            Severity::Error => "",
            Severity::Warning => "warning: ",
        };
        let mut s = format!("{place}: {path}: {level}{}", self.message);
        if let Some(h) = &self.hint {
            s.push_str("\n  hint: ");
            s.push_str(h);
        }
        s
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render("convox.yml"))
    }
}

/// Every diagnostic of an input, errors and warnings, in source order.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl Diagnostics {
    /// Adds one.
    pub fn push(&mut self, d: Diagnostic) {
        self.0.push(d);
    }

    /// Whether any is an error.
    pub fn has_errors(&self) -> bool {
        self.0.iter().any(Diagnostic::is_error)
    }

    /// The errors.
    pub fn errors(&self) -> impl Iterator<Item = &Diagnostic> {
        self.0.iter().filter(|d| d.is_error())
    }

    /// The warnings.
    pub fn warnings(&self) -> impl Iterator<Item = &Diagnostic> {
        self.0.iter().filter(|d| !d.is_error())
    }

    /// Sorts by location (unknown places last), keeping insertion order among equals.
    pub fn sort(&mut self) {
        self.0.sort_by_key(|d| {
            d.location
                .map_or((usize::MAX, usize::MAX), |l| (l.line, l.column))
        });
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// How many.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Renders every diagnostic, one per line (hints indented below).
    pub fn render(&self, file: &str) -> String {
        self.0
            .iter()
            .map(|d| d.render(file))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render("convox.yml"))
    }
}

impl std::error::Error for Diagnostics {}

impl Extend<Diagnostic> for Diagnostics {
    fn extend<T: IntoIterator<Item = Diagnostic>>(&mut self, iter: T) {
        self.0.extend(iter)
    }
}

impl IntoIterator for Diagnostics {
    type Item = Diagnostic;
    type IntoIter = std::vec::IntoIter<Diagnostic>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}
