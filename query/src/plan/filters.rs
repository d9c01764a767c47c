//! LogQL line filters as DataFusion expressions over the `line` column.
//!
//! * `|= "s"` becomes `contains(line, 's')` (arrow's memchr-based substring kernel);
//! * `|~ "re"` becomes `line ~ 're'` (RE2-like, unanchored; the regex is compiled once per
//!   batch by arrow's scalar regex kernel);
//! * `|> "<_> 500 <_>"` becomes the [`skald_pattern_match`](super::pattern_udf::PatternMatchUdf)
//!   UDF (Loki's first-occurrence matching cannot be written as a regex);
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
use super::pattern_udf::PatternMatchUdf;
use crate::pipeline::pattern::Pattern;

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
            // Checked here too so that an invalid regex is refused before DataFusion sees it.
            regex::Regex::new(re).map_err(|e| crate::logql::parser::regex_error(&e))?;
            binary_expr(line, Operator::RegexMatch, lit(re.clone()))
        }
        (LineFilterOp::Pattern | LineFilterOp::NotPattern, FilterValue::Literal(p)) => {
            Pattern::parse_line_filter(p)?;
            PatternMatchUdf::udf().call(vec![line, lit(p.clone())])
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_become_the_udf() {
        let f = LineFilter { op: LineFilterOp::NotPattern, values: vec![FilterValue::Literal("<_> 500".into())] };
        let e = line_filter_expr(&f).unwrap();
        assert_eq!(e.to_string(), "NOT skald_pattern_match(line, Utf8(\"<_> 500\"))");
        let bad = LineFilter { op: LineFilterOp::Pattern, values: vec![FilterValue::Literal("<a><b>".into())] };
        assert!(line_filter_expr(&bad).is_err());
    }
}
