//! Sample arithmetic and label-set functions with Loki's semantics, shared by the UDFs and
//! the vector-matching operator.

use regex::Regex;
use store::labels::{parse_pairs, render_pairs};

use crate::logql::ast::{BinOp, Grouping};
use crate::pipeline::labels::Pairs;

/// `l op r` for arithmetic operators: division and modulo by zero give NaN, `%` keeps the
/// dividend's sign (Go's `math.Mod`), `^` is `pow`.
pub fn arith(op: BinOp, l: f64, r: f64) -> f64 {
    match op {
        BinOp::Add => l + r,
        BinOp::Sub => l - r,
        BinOp::Mul => l * r,
        BinOp::Div => {
            if r == 0.0 {
                f64::NAN
            } else {
                l / r
            }
        }
        BinOp::Mod => {
            if r == 0.0 {
                f64::NAN
            } else {
                l % r
            }
        }
        BinOp::Pow => l.powf(r),
        // Comparisons as arithmetic: 1 or 0.
        op if op.is_comparison() => f64::from(u8::from(compare(op, l, r))),
        _ => f64::NAN,
    }
}

/// `l op r` for comparison operators; NaN compares false except with `!=`.
pub fn compare(op: BinOp, l: f64, r: f64) -> bool {
    match op {
        BinOp::Eq => l == r,
        BinOp::Neq => l != r,
        BinOp::Gt => l > r,
        BinOp::Gte => l >= r,
        BinOp::Lt => l < r,
        BinOp::Lte => l <= r,
        _ => false,
    }
}

/// Parses a series label string; malformed text (never produced here) gives no labels.
pub fn labels_of(series: &str) -> Pairs {
    parse_pairs(series).unwrap_or_default()
}

/// The labels of a vector aggregation group: `by` keeps the listed labels that are present,
/// `without` removes them; no grouping gives `{}`.
pub fn group_labels(series: &str, grouping: Option<&Grouping>) -> String {
    let Some(g) = grouping else { return "{}".to_string() };
    let mut pairs = labels_of(series);
    if g.without {
        pairs.retain(|(n, _)| !g.labels.contains(n));
    } else {
        pairs.retain(|(n, _)| g.labels.contains(n));
    }
    render_pairs(&pairs)
}

/// `label_replace`: when `regex` (anchored) matches the value of `src` (`""` when absent),
/// `dst` becomes the expanded `replacement`, or is removed when that is empty.
pub fn label_replace(series: &str, dst: &str, replacement: &str, src: &str, regex: &Regex) -> String {
    let mut pairs = labels_of(series);
    let value = pairs.iter().find(|(n, _)| n == src).map(|(_, v)| v.clone()).unwrap_or_default();
    let Some(caps) = regex.captures(&value) else { return series.to_string() };
    let mut expanded = String::new();
    caps.expand(replacement, &mut expanded);
    pairs.retain(|(n, _)| n != dst);
    if !expanded.is_empty() {
        pairs.push((dst.to_string(), expanded));
        pairs.sort();
    }
    render_pairs(&pairs)
}

/// The anchored regex `label_replace` uses.
pub fn label_replace_regex(re: &str) -> Result<Regex, String> {
    Regex::new(&format!("^(?s:{re})$")).map_err(|e| format!("invalid regex in label_replace: {e}"))
}

/// The matching signature of a series for vector matching: all labels, only the `on`
/// labels, or all but the `ignoring` labels.
pub fn signature(pairs: &Pairs, on: bool, matching: Option<&[String]>) -> String {
    match matching {
        None => render_pairs(pairs),
        Some(names) => {
            let kept: Pairs = pairs.iter().filter(|(n, _)| names.contains(n) == on).cloned().collect();
            render_pairs(&kept)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loki_arithmetic() {
        assert!(arith(BinOp::Div, 1.0, 0.0).is_nan());
        assert!(arith(BinOp::Mod, 1.0, 0.0).is_nan());
        assert_eq!(arith(BinOp::Mod, -7.0, 3.0), -1.0);
        assert_eq!(arith(BinOp::Pow, 2.0, 10.0), 1024.0);
        assert!(!compare(BinOp::Gt, f64::NAN, 1.0));
        assert!(compare(BinOp::Neq, f64::NAN, f64::NAN));
    }

    #[test]
    fn label_functions() {
        let s = r#"{app="api", system="HDFS"}"#;
        let by = Grouping { without: false, labels: vec!["system".into(), "nope".into()] };
        assert_eq!(group_labels(s, Some(&by)), r#"{system="HDFS"}"#);
        let without = Grouping { without: true, labels: vec!["system".into()] };
        assert_eq!(group_labels(s, Some(&without)), r#"{app="api"}"#);
        let re = label_replace_regex("(H.*)").unwrap();
        assert_eq!(label_replace(s, "sys", "$1", "system", &re), r#"{app="api", sys="HDFS", system="HDFS"}"#);
        assert_eq!(label_replace(s, "sys", "$1", "app", &re), s);
    }
}
