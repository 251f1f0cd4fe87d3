//! Validated names: service, timer, resource, app and rack names are DNS labels.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Longest DNS label.
pub const MAX_LABEL_LEN: usize = 63;

/// Longest hostname.
pub const MAX_HOSTNAME_LEN: usize = 253;

/// A lowercase DNS label: `[a-z]([a-z0-9-]*[a-z0-9])?`, at most 63 characters.
///
/// Service, timer, resource, app and rack names are all of this shape, so every
/// hostname built from them is a valid DNS name (given its total length fits).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Name(String);

/// Why a string is not a [`Name`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NameError {
    /// The string is empty.
    #[error("a name cannot be empty")]
    Empty,
    /// The string is longer than [`MAX_LABEL_LEN`].
    #[error("{0:?} is {1} characters long; a name is at most 63")]
    TooLong(String, usize),
    /// The string has a character or shape outside the DNS label rule.
    #[error(
        "{0:?} must contain only lowercase alphanumeric and dashes, start with a letter and not end with a dash"
    )]
    Invalid(String),
}

impl Name {
    /// Checks `s` against the DNS label rule.
    pub fn new(s: impl Into<String>) -> Result<Self, NameError> {
        let s = s.into();
        if s.is_empty() {
            return Err(NameError::Empty);
        }
        if s.len() > MAX_LABEL_LEN {
            let len = s.len();
            return Err(NameError::TooLong(s, len));
        }
        let bytes = s.as_bytes();
        let body_ok = bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-');
        let first_ok = bytes[0].is_ascii_lowercase();
        let last_ok = bytes[bytes.len() - 1] != b'-';
        if body_ok && first_ok && last_ok {
            Ok(Name(s))
        } else {
            Err(NameError::Invalid(s))
        }
    }

    /// The name as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether `s` is a valid name.
    pub fn is_valid(s: &str) -> bool {
        Name::new(s).is_ok()
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for Name {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Name {
    type Error = NameError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Name::new(s)
    }
}

impl From<Name> for String {
    fn from(n: Name) -> String {
        n.0
    }
}

impl std::str::FromStr for Name {
    type Err = NameError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Name::new(s)
    }
}

/// The variable a link sets: the link name upper-cased, `-` turned into `_`, plus
/// `_URL` (`api-v2` → `API_V2_URL`).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct LinkVar(String);

impl LinkVar {
    /// The variable a link to `target` sets.
    pub fn for_link(target: &Name) -> Self {
        let mut s: String = target
            .as_str()
            .chars()
            .map(|c| {
                if c == '-' {
                    '_'
                } else {
                    c.to_ascii_uppercase()
                }
            })
            .collect();
        s.push_str("_URL");
        LinkVar(s)
    }

    /// The variable's name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for LinkVar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// `s` as a name, for unit tests: panics when it is not one.
#[cfg(test)]
pub(crate) fn n(s: &str) -> Name {
    Name::new(s).unwrap()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_var_upper_cases_and_turns_dashes_into_underscores() {
        let n = Name::new("api-v2").unwrap();
        assert_eq!(LinkVar::for_link(&n).as_str(), "API_V2_URL");
    }

    #[test]
    fn accepts_dns_labels() {
        for ok in ["a", "web", "api-2", "a1", &"x".repeat(63)] {
            assert!(Name::new(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn rejects_everything_else() {
        for bad in [
            "",
            "1web",
            "Web",
            "web-",
            "we_b",
            "-web",
            "wéb",
            &"x".repeat(64),
        ] {
            assert!(Name::new(bad).is_err(), "{bad}");
        }
    }
}
