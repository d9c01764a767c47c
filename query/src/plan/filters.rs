//! LogQL line filters as DataFusion expressions over the `line` column.
//!
//! * `|= "s"` becomes `contains(line, 's')` (arrow's memchr-based substring kernel);
//! * `|~ "re"` becomes `line ~ 're'` (RE2-like, unanchored; the regex is compiled once per
//!   batch by arrow's scalar regex kernel);
//! * `|> "<_> 500 <_>"` becomes a regex anchored at the line start;
//! * `|= ip("cidr")` becomes the [`skald_ip_match`](super::ip::IpMatchUdf) UDF.
//!
//! `or` alternatives of a positive filter are OR-ed; a negative filter with alternatives is
//! `NOT (a OR b)`, i.e. none may match, as in Loki.

use datafusion::functions::string::expr_fn::contains;
use datafusion::logical_expr::{Expr, Operator, binary_expr, lit};
use datafusion::prelude::col;

use crate::logql::ast::{FilterValue, LineFilter, LineFilterOp};
use store::schema::LINE;

use super::ip::IpMatchUdf;

/// The predicate for one line filter (with its `or` alternatives).
pub fn line_filter_expr(filter: &LineFilter) -> Result<Expr, String> {
    let mut positive: Option<Expr> = None;
    for v in &filter.values {
        let e = operand_expr(filter.op, v)?;
        positive = Some(match positive {
            None => e,
            Some(acc) => acc.or(e),
        });
    }
    let positive = positive.ok_or_else(|| "empty line filter".to_string())?;
    Ok(if filter.op.is_negative() { negate(positive) } else { positive })
}

/// `NOT e`, folding `NOT (line ~ re)` into `line !~ re`.
fn negate(e: Expr) -> Expr {
    match e {
        Expr::BinaryExpr(b) if b.op == Operator::RegexMatch => binary_expr(*b.left, Operator::RegexNotMatch, *b.right),
        other => !other,
    }
}

/// The positive predicate of one operand.
fn operand_expr(op: LineFilterOp, value: &FilterValue) -> Result<Expr, String> {
    let line = col(LINE);
    Ok(match (op, value) {
        (_, FilterValue::Ip(pattern)) => IpMatchUdf::udf().call(vec![line, lit(pattern.clone())]),
        (LineFilterOp::Contains | LineFilterOp::NotContains, FilterValue::Literal(s)) => {
            if s.is_empty() {
                lit(true)
            } else {
                contains(line, lit(s.clone()))
            }
        }
        (LineFilterOp::Regex | LineFilterOp::NotRegex, FilterValue::Literal(re)) => {
            binary_expr(line, Operator::RegexMatch, lit(re.clone()))
        }
        (LineFilterOp::Pattern | LineFilterOp::NotPattern, FilterValue::Literal(p)) => {
            binary_expr(line, Operator::RegexMatch, lit(pattern_to_regex(p)?))
        }
    })
}

/// Translates a Loki pattern (`<_> 500 <_>`, `<ip> - <_>`) into an equivalent regex.
///
/// Literal text must appear in order, the first one at the start of the line when the
/// pattern does not start with a capture; every capture (`<_>` or `<name>`) matches any text.
/// Two captures must be separated by a literal.
pub fn pattern_to_regex(pattern: &str) -> Result<String, String> {
    let mut out = String::from("^(?s)");
    let mut rest = pattern;
    let mut last_was_capture = false;
    let mut literal = String::new();
    while !rest.is_empty() {
        if let Some(end) = capture_len(rest) {
            if !literal.is_empty() {
                out.push_str(&regex::escape(&literal));
                literal.clear();
            } else if last_was_capture {
                return Err(format!("invalid pattern {pattern:?}: captures must be separated by literal text"));
            }
            out.push_str(".*?");
            last_was_capture = true;
            rest = &rest[end..];
        } else {
            let mut chars = rest.chars();
            if let Some(c) = chars.next() {
                literal.push(c);
                last_was_capture = false;
            }
            rest = chars.as_str();
        }
    }
    out.push_str(&regex::escape(&literal));
    Ok(out)
}

/// Length of a `<name>` or `<_>` capture at the start of `s`.
fn capture_len(s: &str) -> Option<usize> {
    let inner = s.strip_prefix('<')?;
    let end = inner.find('>')?;
    let name = &inner[..end];
    let valid = !name.is_empty()
        && name.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    valid.then_some(end + 2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_become_regexes() {
        let re = regex::Regex::new(&pattern_to_regex("<_> 500 <_>").unwrap()).unwrap();
        assert!(re.is_match("1.2.3.4 - - [x] \"GET /\" 500 12 \"-\""));
        assert!(!re.is_match("1.2.3.4 - - [x] \"GET /\" 200 12"));
        let anchored = regex::Regex::new(&pattern_to_regex("GET <path> HTTP").unwrap()).unwrap();
        assert!(anchored.is_match("GET /a HTTP/1.1"));
        assert!(!anchored.is_match("x GET /a HTTP/1.1"));
        assert!(pattern_to_regex("<a><b>").is_err());
        assert_eq!(pattern_to_regex("a.b").unwrap(), r"^(?s)a\.b");
    }
}
