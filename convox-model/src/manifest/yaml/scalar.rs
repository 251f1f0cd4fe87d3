//! What a scalar means: YAML 1.2's core schema as `serde_yaml` 0.9 resolves it,
//! so that a value reads the same as it did when `serde_yaml` parsed the text.
//!
//! A plain scalar is null (`~`, `null`, `Null`, `NULL`, empty), a boolean (`true`,
//! `True`, `TRUE` and the same for false), an integer (decimal, `0x`, `0o`, `0b`,
//! with an optional sign; `012` is a string), a float (`1.5`, `1e3`, `.inf`,
//! `-.inf`, `.nan`), else a string. A quoted or block scalar is always a string.
//! YAML 1.1's `yes`/`on` are strings here; the reader reads them as booleans where
//! Convox v2 did, and only when they were written plain.

use std::num::ParseIntError;

use serde_yaml::{Number, Value};

/// A core-schema tag (`!!int` and friends) on a scalar.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum CoreTag {
    Null,
    Bool,
    Int,
    Float,
    Str,
}

impl CoreTag {
    /// The tag for `!!{suffix}`; `None` for a suffix that types no scalar.
    pub(super) fn from_suffix(suffix: &str) -> Option<CoreTag> {
        match suffix {
            "null" => Some(CoreTag::Null),
            "bool" => Some(CoreTag::Bool),
            "int" => Some(CoreTag::Int),
            "float" => Some(CoreTag::Float),
            "str" => Some(CoreTag::Str),
            _ => None,
        }
    }

    fn expected(self) -> &'static str {
        match self {
            CoreTag::Null => "null",
            CoreTag::Bool => "a boolean",
            CoreTag::Int => "an integer",
            CoreTag::Float => "a float",
            CoreTag::Str => "a string",
        }
    }
}

/// The value of a plain, untagged scalar.
/// An owned text is moved into the value rather than copied.
pub(super) fn plain<S: AsRef<str> + Into<String>>(text: S) -> Value {
    let s = text.as_ref();
    if s.is_empty() || is_null(s) {
        return Value::Null;
    }
    if let Some(b) = parse_bool(s) {
        return Value::Bool(b);
    }
    // Only text that starts like a number can be one.
    if s.starts_with(|c: char| c.is_ascii_digit() || matches!(c, '+' | '-' | '.')) {
        if let Some(n) = parse_int(s) {
            return Value::Number(n);
        }
        if !digits_but_not_number(s)
            && let Some(f) = parse_f64(s)
        {
            return Value::Number(Number::from(f));
        }
    }
    Value::String(text.into())
}

/// The value of a scalar with a core tag, or what it should have been.
pub(super) fn tagged(s: &str, tag: CoreTag) -> Result<Value, String> {
    let value = match tag {
        CoreTag::Null => is_null(s).then_some(Value::Null),
        CoreTag::Bool => parse_bool(s).map(Value::Bool),
        CoreTag::Int => parse_int(s).map(Value::Number),
        CoreTag::Float => parse_f64(s).map(|f| Value::Number(Number::from(f))),
        CoreTag::Str => Some(Value::String(s.to_string())),
    };
    value.ok_or_else(|| format!("invalid value: string {s:?}, expected {}", tag.expected()))
}

fn is_null(s: &str) -> bool {
    matches!(s, "null" | "Null" | "NULL" | "~")
}

fn parse_bool(s: &str) -> Option<bool> {
    match s {
        "true" | "True" | "TRUE" => Some(true),
        "false" | "False" | "FALSE" => Some(false),
        _ => None,
    }
}

/// An integer that fits `u64` or `i64`, as `serde_yaml` reads one. Larger ones are
/// left to the float reading, as a `Value` cannot hold them.
fn parse_int(s: &str) -> Option<Number> {
    if let Some(n) = parse_unsigned(s, u64::from_str_radix) {
        return Some(n.into());
    }
    parse_negative(s, i64::from_str_radix).map(Number::from)
}

fn parse_unsigned<T>(
    s: &str,
    from_str_radix: fn(&str, u32) -> Result<T, ParseIntError>,
) -> Option<T> {
    let unpositive = s.strip_prefix('+').unwrap_or(s);
    for (prefix, radix) in [("0x", 16), ("0o", 8), ("0b", 2)] {
        if let Some(rest) = unpositive.strip_prefix(prefix) {
            if rest.starts_with(['+', '-']) {
                return None;
            }
            if let Ok(n) = from_str_radix(rest, radix) {
                return Some(n);
            }
        }
    }
    if unpositive.starts_with(['+', '-']) || digits_but_not_number(s) {
        return None;
    }
    from_str_radix(unpositive, 10).ok()
}

fn parse_negative<T>(
    s: &str,
    from_str_radix: fn(&str, u32) -> Result<T, ParseIntError>,
) -> Option<T> {
    for (prefix, radix) in [("-0x", 16), ("-0o", 8), ("-0b", 2)] {
        if let Some(rest) = s.strip_prefix(prefix)
            && let Ok(n) = from_str_radix(&format!("-{rest}"), radix)
        {
            return Some(n);
        }
    }
    if digits_but_not_number(s) {
        return None;
    }
    from_str_radix(s, 10).ok()
}

fn parse_f64(s: &str) -> Option<f64> {
    let unpositive = match s.strip_prefix('+') {
        Some(u) if u.starts_with(['+', '-']) => return None,
        Some(u) => u,
        None => s,
    };
    if let ".inf" | ".Inf" | ".INF" = unpositive {
        return Some(f64::INFINITY);
    }
    if let "-.inf" | "-.Inf" | "-.INF" = s {
        return Some(f64::NEG_INFINITY);
    }
    if let ".nan" | ".NaN" | ".NAN" = s {
        return Some(f64::NAN.copysign(1.0));
    }
    unpositive.parse::<f64>().ok().filter(|f| f.is_finite())
}

/// YAML 1.2: leading zeros followed by digits make a string, not a number.
fn digits_but_not_number(s: &str) -> bool {
    let s = s.strip_prefix(['-', '+']).unwrap_or(s);
    s.len() > 1 && s.starts_with('0') && s[1..].bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn num(v: &Value) -> Option<f64> {
        v.as_f64()
    }

    #[test]
    fn resolves_as_serde_yaml_does() {
        for null in ["", "~", "null", "Null", "NULL"] {
            assert_eq!(plain(null), Value::Null, "{null:?}");
        }
        assert_eq!(plain("True"), Value::Bool(true));
        assert_eq!(plain("FALSE"), Value::Bool(false));
        for s in ["yes", "on", "y", "tRue"] {
            assert_eq!(plain(s), Value::String(s.to_string()), "{s}");
        }
        assert_eq!(plain("3000").as_u64(), Some(3000));
        assert_eq!(plain("+12").as_u64(), Some(12));
        assert_eq!(plain("-1").as_i64(), Some(-1));
        assert_eq!(plain("0x1F").as_u64(), Some(31));
        assert_eq!(plain("0o17").as_u64(), Some(15));
        assert_eq!(plain("0b101").as_u64(), Some(5));
        assert_eq!(plain("-0x10").as_i64(), Some(-16));
        assert_eq!(plain("012"), Value::String("012".to_string()));
        assert_eq!(num(&plain("1.5")), Some(1.5));
        assert_eq!(num(&plain("1e3")), Some(1000.0));
        assert_eq!(num(&plain(".inf")), Some(f64::INFINITY));
        assert_eq!(num(&plain("-.Inf")), Some(f64::NEG_INFINITY));
        assert!(num(&plain(".nan")).is_some_and(f64::is_nan));
        assert_eq!(plain("inf"), Value::String("inf".to_string()));
        assert_eq!(plain("1-3"), Value::String("1-3".to_string()));
        assert_eq!(plain("https:3000"), Value::String("https:3000".to_string()));
        assert!(plain("99999999999999999999").is_f64());
    }

    #[test]
    fn core_tags_type_or_refuse() {
        assert_eq!(tagged("5", CoreTag::Str), Ok(Value::String("5".into())));
        assert_eq!(tagged("5", CoreTag::Int).map(|v| v.as_u64()), Ok(Some(5)));
        assert!(tagged("x", CoreTag::Int).is_err());
        assert!(tagged("yes", CoreTag::Bool).is_err());
    }
}
