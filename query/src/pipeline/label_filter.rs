//! Label filters (`| status >= 500 and level="error"`), evaluated on a [`LabelsBuilder`].
//!
//! * string matchers read a missing label as `""`; on `__error__` they read the error;
//!   `__error_details__` always reads `""`;
//! * numeric, duration and byte comparisons drop lines without the label; a value that does
//!   not convert sets `__error__=LabelFilterErr` (unless an error is already set) and keeps
//!   the line;
//! * `ip()` passes lines that carry an error, drops lines without the label, and otherwise
//!   looks for any address of the range inside the value;
//! * `and` evaluates both sides; `or` stops at the first true side.

use std::cmp::Ordering;

use store::matcher::Matcher;

use super::convert::{parse_bytes, parse_duration_secs, parse_float};
use super::labels::{ERROR, ERROR_DETAILS, LabelsBuilder};
use crate::logql::ast::{CmpOp, LabelFilter};
use crate::plan::ip::IpPattern;

/// `__error__` value of a failed conversion in a label filter.
pub const LABEL_FILTER_ERR: &str = "LabelFilterErr";

/// How a comparison filter converts the label value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Conversion {
    /// Go's `ParseFloat`.
    Number,
    /// Go's `ParseDuration`, in seconds.
    Duration,
    /// go-humanize's `ParseBytes`.
    Bytes,
}

/// A compiled label filter.
#[derive(Debug, Clone)]
pub enum Filter {
    /// A string matcher.
    Matcher(Matcher),
    /// A numeric, duration or byte comparison.
    Compare {
        /// Label name.
        name: String,
        /// Operator.
        op: CmpOp,
        /// Right-hand side (seconds for durations, bytes for sizes).
        value: f64,
        /// How the label is read.
        conversion: Conversion,
    },
    /// `name = ip("...")` / `!=`.
    Ip {
        /// Label name.
        name: String,
        /// True for `!=`.
        negated: bool,
        /// The range.
        pattern: IpPattern,
    },
    /// Both.
    And(Box<Filter>, Box<Filter>),
    /// Either.
    Or(Box<Filter>, Box<Filter>),
}

impl Filter {
    /// Compiles an AST label filter.
    pub fn compile(f: &LabelFilter) -> Result<Filter, String> {
        Ok(match f {
            LabelFilter::Matcher(m) => Filter::Matcher(m.clone()),
            LabelFilter::Number { name, op, value } => {
                Filter::Compare { name: name.clone(), op: *op, value: *value, conversion: Conversion::Number }
            }
            LabelFilter::Duration { name, op, value } => {
                Filter::Compare { name: name.clone(), op: *op, value: value.as_secs_f64(), conversion: Conversion::Duration }
            }
            LabelFilter::Bytes { name, op, value } => {
                Filter::Compare { name: name.clone(), op: *op, value: *value as f64, conversion: Conversion::Bytes }
            }
            LabelFilter::Ip { name, negated, pattern } => {
                Filter::Ip { name: name.clone(), negated: *negated, pattern: IpPattern::parse(pattern)? }
            }
            LabelFilter::And(a, b) => Filter::And(Box::new(Filter::compile(a)?), Box::new(Filter::compile(b)?)),
            LabelFilter::Or(a, b) => Filter::Or(Box::new(Filter::compile(a)?), Box::new(Filter::compile(b)?)),
        })
    }

    /// True when the line passes; may set `LabelFilterErr`.
    pub fn test(&self, lbs: &mut LabelsBuilder) -> bool {
        match self {
            Filter::Matcher(m) => {
                let v = match m.name.as_str() {
                    ERROR => lbs.error().unwrap_or(""),
                    ERROR_DETAILS => "",
                    name => lbs.get(name).unwrap_or(""),
                };
                m.matches_value(v)
            }
            Filter::Compare { name, op, value, conversion } => {
                let Some(raw) = lbs.get(name) else { return false };
                let parsed = match conversion {
                    Conversion::Number => parse_float(raw),
                    Conversion::Duration => parse_duration_secs(raw),
                    Conversion::Bytes => parse_bytes(raw),
                };
                match parsed {
                    Ok(v) => compare(v, *op, *value),
                    Err(details) => {
                        if !lbs.has_error() {
                            lbs.set_error(LABEL_FILTER_ERR, details);
                        }
                        true
                    }
                }
            }
            Filter::Ip { name, negated, pattern } => {
                if lbs.has_error() {
                    return true;
                }
                let Some(v) = lbs.get(name) else { return false };
                pattern.matches_line(v) != *negated
            }
            Filter::And(a, b) => {
                let l = a.test(lbs);
                let r = b.test(lbs);
                l && r
            }
            Filter::Or(a, b) => a.test(lbs) || b.test(lbs),
        }
    }
}

fn compare(v: f64, op: CmpOp, rhs: f64) -> bool {
    let o = v.partial_cmp(&rhs);
    match op {
        CmpOp::Eq => o == Some(Ordering::Equal),
        CmpOp::Neq => o != Some(Ordering::Equal),
        CmpOp::Gt => o == Some(Ordering::Greater),
        CmpOp::Gte => matches!(o, Some(Ordering::Greater | Ordering::Equal)),
        CmpOp::Lt => o == Some(Ordering::Less),
        CmpOp::Lte => matches!(o, Some(Ordering::Less | Ordering::Equal)),
    }
}
