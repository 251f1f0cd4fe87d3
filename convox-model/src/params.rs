//! The rack parameters `Internal` and `InternalOnly`, as Convox spells them.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

/// The rack parameters this library acts on.
///
/// `Internal=Yes` gives the rack an internal router; `InternalOnly=Yes` removes the
/// external router and admits only internal services. `InternalOnly` requires
/// `Internal`: [`RackParams::new`] refuses the combination that would leave a rack
/// with no router at all.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct RackParams {
    internal: bool,
    internal_only: bool,
}

/// Why a set of rack parameters is refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParamError {
    /// `InternalOnly=Yes` with `Internal=No`.
    #[error(
        "InternalOnly=Yes requires Internal=Yes; set both in one command: convox rack params set Internal=Yes InternalOnly=Yes"
    )]
    InternalOnlyWithoutInternal,
    /// A parameter this library does not know.
    #[error("unknown rack parameter {0:?}; known parameters are Internal and InternalOnly")]
    Unknown(String),
    /// A value that is not `Yes` or `No`.
    #[error("rack parameter {name} must be Yes or No, not {value:?}")]
    NotYesNo {
        /// The parameter.
        name: String,
        /// The value given.
        value: String,
    },
    /// Not of the form `Key=Value`.
    #[error("{0:?} is not of the form Key=Value (for example Internal=Yes)")]
    Malformed(String),
}

impl RackParams {
    /// Both parameters, checked: `InternalOnly` requires `Internal`.
    pub fn new(internal: bool, internal_only: bool) -> Result<Self, ParamError> {
        if internal_only && !internal {
            return Err(ParamError::InternalOnlyWithoutInternal);
        }
        Ok(RackParams {
            internal,
            internal_only,
        })
    }

    /// Whether the rack has an internal router.
    pub fn internal(&self) -> bool {
        self.internal
    }

    /// Whether the rack has no external router and admits only internal services.
    pub fn internal_only(&self) -> bool {
        self.internal_only
    }

    /// Whether the rack has an external (internet-facing) router.
    pub fn has_external_router(&self) -> bool {
        !self.internal_only
    }

    /// Applies `Key=Value` assignments (`Internal=Yes`, `InternalOnly=No`) on top of
    /// `self`, all at once: the result is checked only after every assignment, so
    /// `Internal=Yes InternalOnly=Yes` is accepted on a rack that has neither.
    pub fn with_assignments<'a>(
        &self,
        assignments: impl IntoIterator<Item = &'a str>,
    ) -> Result<Self, ParamError> {
        let mut internal = self.internal;
        let mut internal_only = self.internal_only;
        for a in assignments {
            let (k, v) = a
                .split_once('=')
                .ok_or_else(|| ParamError::Malformed(a.to_string()))?;
            let value = parse_yes_no(k, v)?;
            match k {
                "Internal" => internal = value,
                "InternalOnly" => internal_only = value,
                _ => return Err(ParamError::Unknown(k.to_string())),
            }
        }
        RackParams::new(internal, internal_only)
    }

    /// The parameters as Convox prints them: `Internal` and `InternalOnly`, `Yes`/`No`.
    pub fn to_map(&self) -> BTreeMap<&'static str, &'static str> {
        let yn = |b: bool| if b { "Yes" } else { "No" };
        BTreeMap::from([
            ("Internal", yn(self.internal)),
            ("InternalOnly", yn(self.internal_only)),
        ])
    }
}

fn parse_yes_no(name: &str, value: &str) -> Result<bool, ParamError> {
    match value {
        "Yes" | "yes" | "YES" | "true" | "True" | "TRUE" => Ok(true),
        "No" | "no" | "NO" | "false" | "False" | "FALSE" => Ok(false),
        _ => {
            if name != "Internal" && name != "InternalOnly" {
                return Err(ParamError::Unknown(name.to_string()));
            }
            Err(ParamError::NotYesNo {
                name: name.to_string(),
                value: value.to_string(),
            })
        }
    }
}

impl fmt::Display for RackParams {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (k, v) in self.to_map() {
            writeln!(f, "{k:<14}{v}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_no() {
        let p = RackParams::default();
        assert!(!p.internal() && !p.internal_only() && p.has_external_router());
    }

    #[test]
    fn internal_only_requires_internal_and_names_the_fix() {
        let err = RackParams::default()
            .with_assignments(["InternalOnly=Yes"])
            .unwrap_err();
        assert_eq!(err, ParamError::InternalOnlyWithoutInternal);
        assert!(err.to_string().contains("Internal=Yes InternalOnly=Yes"));
        let ok = RackParams::default()
            .with_assignments(["InternalOnly=Yes", "Internal=Yes"])
            .unwrap();
        assert!(ok.internal() && ok.internal_only() && !ok.has_external_router());
    }

    #[test]
    fn rejects_unknown_and_malformed() {
        let p = RackParams::default();
        assert!(matches!(
            p.with_assignments(["Foo=Yes"]),
            Err(ParamError::Unknown(_))
        ));
        assert!(matches!(
            p.with_assignments(["Internal"]),
            Err(ParamError::Malformed(_))
        ));
        assert!(matches!(
            p.with_assignments(["Internal=maybe"]),
            Err(ParamError::NotYesNo { .. })
        ));
    }
}
