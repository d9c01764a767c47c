//! Dynamic values of the template engine, with Go's truthiness, comparison and printing.

use std::fmt::Write as _;

use chrono::{DateTime, FixedOffset};

/// A value flowing through a template pipeline.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// Go's `nil` (also what a missing map key gives).
    Nil,
    /// A string.
    Str(String),
    /// A signed integer.
    Int(i64),
    /// A float.
    Float(f64),
    /// A boolean.
    Bool(bool),
    /// A point in time with its zone.
    Time(DateTime<FixedOffset>),
    /// A list (from `fromJson`, `slice`, ...).
    List(Vec<Value>),
    /// A map with string keys, in key order (from `fromJson`, or the root data).
    Map(Vec<(String, Value)>),
}

impl Value {
    /// Go's truth: false, 0, nil and empty strings, lists and maps are false.
    pub fn truthy(&self) -> bool {
        match self {
            Value::Nil => false,
            Value::Str(s) => !s.is_empty(),
            Value::Int(i) => *i != 0,
            Value::Float(f) => *f != 0.0,
            Value::Bool(b) => *b,
            Value::Time(_) => true,
            Value::List(l) => !l.is_empty(),
            Value::Map(m) => !m.is_empty(),
        }
    }

    /// A map field by key; `Nil` when absent or when `self` is not a map.
    pub fn field(&self, key: &str) -> Value {
        match self {
            Value::Map(m) => m.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone()).unwrap_or(Value::Nil),
            _ => Value::Nil,
        }
    }

    /// How `fmt.Sprint` prints the value (what `{{ . }}` writes).
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        self.write_text(&mut out);
        out
    }

    fn write_text(&self, out: &mut String) {
        match self {
            Value::Nil => out.push_str("<no value>"),
            Value::Str(s) => out.push_str(s),
            Value::Int(i) => {
                let _ = write!(out, "{i}");
            }
            Value::Float(f) => out.push_str(&format_float_g(*f)),
            Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Value::Time(t) => out.push_str(&format_go_time(t)),
            Value::List(l) => {
                out.push('[');
                for (i, v) in l.iter().enumerate() {
                    if i > 0 {
                        out.push(' ');
                    }
                    v.write_nested(out);
                }
                out.push(']');
            }
            Value::Map(m) => {
                out.push_str("map[");
                for (i, (k, v)) in m.iter().enumerate() {
                    if i > 0 {
                        out.push(' ');
                    }
                    out.push_str(k);
                    out.push(':');
                    v.write_nested(out);
                }
                out.push(']');
            }
        }
    }

    /// Inside a list or map, `nil` prints as `<nil>`.
    fn write_nested(&self, out: &mut String) {
        match self {
            Value::Nil => out.push_str("<nil>"),
            other => other.write_text(out),
        }
    }

    /// The value as a string argument (Sprig's `toString` conversion).
    pub fn as_string(&self) -> String {
        match self {
            Value::Nil => String::new(),
            Value::Str(s) => s.clone(),
            other => other.to_text(),
        }
    }

    /// The value as an integer (Sprig's `toInt64`): strings are parsed, floats truncated,
    /// anything else is 0.
    pub fn as_i64(&self) -> i64 {
        match self {
            Value::Int(i) => *i,
            Value::Float(f) => *f as i64,
            Value::Bool(b) => i64::from(*b),
            Value::Str(s) => {
                let t = s.trim();
                t.parse::<i64>().ok().or_else(|| t.parse::<f64>().ok().map(|f| f as i64)).unwrap_or(0)
            }
            _ => 0,
        }
    }

    /// The value as a float (Sprig's `toFloat64`): strings are parsed, anything else is 0.
    pub fn as_f64(&self) -> f64 {
        match self {
            Value::Int(i) => *i as f64,
            Value::Float(f) => *f,
            Value::Bool(b) => f64::from(u8::from(*b)),
            Value::Str(s) => s.trim().parse::<f64>().unwrap_or(0.0),
            _ => 0.0,
        }
    }

    /// Go's `len`.
    #[allow(clippy::len_without_is_empty)]
    pub fn len(&self) -> Option<usize> {
        match self {
            Value::Str(s) => Some(s.len()),
            Value::List(l) => Some(l.len()),
            Value::Map(m) => Some(m.len()),
            _ => None,
        }
    }

    /// The kind name used in error messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Value::Nil => "nil",
            Value::Str(_) => "string",
            Value::Int(_) => "int",
            Value::Float(_) => "float64",
            Value::Bool(_) => "bool",
            Value::Time(_) => "time.Time",
            Value::List(_) => "slice",
            Value::Map(_) => "map",
        }
    }
}

/// Go's `%v` for a float64: `strconv.FormatFloat(f, 'g', -1, 64)`, the shortest
/// representation, in exponent form when the decimal exponent is below -4 or at least 6.
pub fn format_float_g(f: f64) -> String {
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "+Inf".into() } else { "-Inf".into() };
    }
    if f == 0.0 {
        return if f.is_sign_negative() { "-0".into() } else { "0".into() };
    }
    // Shortest round-trip digits and the decimal exponent, from Rust's `{:e}`.
    let e = format!("{f:e}");
    let (mantissa, exp) = e.split_once('e').unwrap_or((&e, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let negative = mantissa.starts_with('-');
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    // With the shortest precision Go decides on the exponent form with precision 6.
    if !(-4..6).contains(&exp) {
        let mut out = String::new();
        if negative {
            out.push('-');
        }
        out.push_str(&digits[..1]);
        if digits.len() > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        let _ = write!(out, "e{}{:02}", if exp < 0 { '-' } else { '+' }, exp.abs());
        out
    } else {
        let mut out = format!("{f}");
        if out == "-0" {
            out = "0".into();
        }
        out
    }
}

/// Go's `time.Time.String()`: `2006-01-02 15:04:05.999999999 -0700 MST` (zone name as the
/// offset when it has none, as for fixed zones).
pub fn format_go_time(t: &DateTime<FixedOffset>) -> String {
    let nanos = t.timestamp_subsec_nanos();
    let frac = if nanos == 0 { String::new() } else { format!(".{nanos:09}").trim_end_matches('0').to_string() };
    let offset = t.format("%z").to_string();
    let zone = if t.offset().local_minus_utc() == 0 { "UTC".to_string() } else { offset.clone() };
    format!("{}{frac} {offset} {zone}", t.format("%Y-%m-%d %H:%M:%S"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_print_like_go() {
        assert_eq!(format_float_g(1.5), "1.5");
        assert_eq!(format_float_g(1_000_000.0), "1e+06");
        assert_eq!(format_float_g(123_456.0), "123456");
        assert_eq!(format_float_g(0.0001), "0.0001");
        assert_eq!(format_float_g(0.00001), "1e-05");
        assert_eq!(format_float_g(3.0), "3");
        assert_eq!(format_float_g(1_234_567.0), "1.234567e+06");
    }

    #[test]
    fn truthiness() {
        assert!(!Value::Str(String::new()).truthy());
        assert!(Value::Str("0".into()).truthy());
        assert!(!Value::Int(0).truthy());
        assert!(!Value::Nil.truthy());
    }
}
