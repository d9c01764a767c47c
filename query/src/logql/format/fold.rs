//! Folding of binary operations between number literals, as Loki's parser does.

use crate::logql::ast::MetricExpr;

/// Folds every binary operation between two literals into a literal, bottom-up, as Loki's
/// parser does while building its tree.
pub(super) fn fold_literals(m: &MetricExpr) -> MetricExpr {
    match m {
        MetricExpr::BinOp { op, modifier, lhs, rhs } => {
            let (lhs, rhs) = (fold_literals(lhs), fold_literals(rhs));
            match (&lhs, &rhs) {
                (MetricExpr::Literal(a), MetricExpr::Literal(b)) => MetricExpr::Literal(crate::plan::ops::arith(*op, *a, *b)),
                _ => MetricExpr::BinOp { op: *op, modifier: modifier.clone(), lhs: Box::new(lhs), rhs: Box::new(rhs) },
            }
        }
        MetricExpr::VectorAggregation { op, param, grouping, expr } => MetricExpr::VectorAggregation {
            op: *op,
            param: *param,
            grouping: grouping.clone(),
            expr: Box::new(fold_literals(expr)),
        },
        MetricExpr::LabelReplace { expr, dst, replacement, src, regex } => MetricExpr::LabelReplace {
            expr: Box::new(fold_literals(expr)),
            dst: dst.clone(),
            replacement: replacement.clone(),
            src: src.clone(),
            regex: regex.clone(),
        },
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use crate::logql::format::canonical;
    use crate::logql::parse;

    fn canon(q: &str) -> String {
        canonical(&parse(q).unwrap_or_else(|e| panic!("{q}: {e}")))
    }

    #[test]
    fn literal_operations_fold() {
        assert_eq!(canon("1 > 1 > 1"), "0");
        assert_eq!(canon("1.6"), "1.6");
        assert_eq!(canon("1 > 1 > bool 1"), "0");
        assert_eq!(
            canon(r#"1 > bool 1 > count_over_time({foo="bar"}[1m])"#),
            r#"(0 > count_over_time({foo="bar"}[1m]))"#
        );
        assert_eq!(
            canon(r#"1 > bool 1 > bool count_over_time({foo="bar"}[1m])"#),
            r#"(0 > bool count_over_time({foo="bar"}[1m]))"#
        );
        assert_eq!(canon("2 * 3 + 1"), "7");
        assert_eq!(canon("1 / 0"), "NaN");
        assert_eq!(canon("1000000 * 1"), "1e+06");
        assert_eq!(canon("0.00001 + 0"), "1e-05");
        assert_eq!(canon("2 ^ 0.5 * 0 + 123456"), "123456");
        assert_eq!(canon("-2 ^ 0.5"), "NaN");
    }
}
