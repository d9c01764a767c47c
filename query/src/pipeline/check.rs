//! The errors Loki raises while it builds a query's pipelines, before reading any data.
//!
//! Loki's parser accepts any line-filter regex or pattern and any `line_format` /
//! `label_format` template; they are compiled when the querier builds the pipeline
//! (`MultiStageExpr.stages()` in `pkg/logql/syntax/ast.go`), and a failure there becomes
//! `logqlmodel.NewStageError`: the parse error `stage '<stage>' : <cause>`, answered 400 as
//! `parse error : stage '<stage>' : <cause>`.
//!
//! Loki builds the stages in the order of its `reorderStages`: consecutive line filters,
//! and those that follow stages which are not barriers (a label filter, `line_format`,
//! `unpack`), are moved forward and combined into one stage that prints as the whole chain.
//! Inside that chain the filters are compiled from the last to the first, so the last
//! invalid one is reported. [`check_expr`] follows the same order.

use super::format::LabelFormatStage;
use super::pattern::Pattern;
use crate::logql::ast::{Expr, FilterValue, LineFilter, LineFilterOp, MetricExpr, ParserStage, Stage};
use crate::logql::{ParseError, format};
use crate::template::{MissingKey, Template};

/// One stage as Loki builds it: a combined chain of line filters, or any other stage.
enum Built<'a> {
    Filters(Vec<&'a LineFilter>),
    Other(&'a Stage),
}

/// Loki's `reorderStages`.
fn reorder(stages: &[Stage]) -> Vec<Built<'_>> {
    let mut out = Vec::new();
    let mut filters: Vec<&LineFilter> = Vec::new();
    let mut others: Vec<&Stage> = Vec::new();
    for s in stages {
        match s {
            Stage::LineFilter(f) => filters.push(f),
            Stage::LabelFilter(_) => {
                combine(&mut out, &mut filters, &mut others);
                out.push(Built::Other(s));
            }
            Stage::LineFormat(_) | Stage::Parser(ParserStage::Unpack) => {
                others.push(s);
                combine(&mut out, &mut filters, &mut others);
            }
            _ => others.push(s),
        }
    }
    combine(&mut out, &mut filters, &mut others);
    out
}

/// Loki's `combineFilters` closure: the pending filters as one stage, then the pending
/// other stages.
fn combine<'a>(out: &mut Vec<Built<'a>>, filters: &mut Vec<&'a LineFilter>, others: &mut Vec<&'a Stage>) {
    if !filters.is_empty() {
        out.push(Built::Filters(std::mem::take(filters)));
    }
    out.extend(others.drain(..).map(Built::Other));
}

/// Why Loki cannot build one operand of a line filter, if it cannot.
fn operand_error(op: LineFilterOp, value: &FilterValue) -> Option<String> {
    let FilterValue::Literal(s) = value else { return None };
    match op {
        LineFilterOp::Regex | LineFilterOp::NotRegex => {
            regex::Regex::new(s).err().map(|e| crate::logql::parser::regex_error(&e))
        }
        LineFilterOp::Pattern | LineFilterOp::NotPattern => Pattern::parse_line_filter(s).err(),
        LineFilterOp::Contains | LineFilterOp::NotContains => None,
    }
}

/// Why Loki cannot build a chain of line filters: the links are compiled from the last,
/// the `or` operands of a link from the first. A negative filter with `or` operands is one
/// link per operand (`!= "a" or "b"` is `!= "a" != "b"`), a positive one a single link.
fn filters_error(filters: &[&LineFilter]) -> Option<String> {
    let mut links: Vec<(LineFilterOp, &[FilterValue])> = Vec::new();
    for f in filters {
        if f.op.is_negative() {
            links.extend(f.values.chunks(1).map(|v| (f.op, v)));
        } else {
            links.push((f.op, &f.values));
        }
    }
    links.iter().rev().find_map(|(op, values)| values.iter().find_map(|v| operand_error(*op, v)))
}

/// Why Loki cannot build `stage` (other than a line filter), if it is one whose failure
/// Loki reports as a stage error.
fn stage_error(stage: &Stage) -> Option<String> {
    match stage {
        Stage::LineFormat(src) => {
            Template::parse(src, MissingKey::Zero).err().map(|e| format!("invalid line template: {e}"))
        }
        Stage::LabelFormat(ops) => LabelFormatStage::compile(ops).err(),
        _ => None,
    }
}

/// Checks that Loki could build the pipeline `stages`; the error is Loki's stage error.
pub fn check_stages(stages: &[Stage]) -> Result<(), ParseError> {
    for built in reorder(stages) {
        let failure = match &built {
            Built::Filters(filters) => filters_error(filters).map(|cause| {
                let chain: Vec<String> = filters.iter().map(|f| format::stage(&Stage::LineFilter((*f).clone()))).collect();
                (chain.join(" "), cause)
            }),
            Built::Other(stage) => stage_error(stage).map(|cause| (format::stage(stage), cause)),
        };
        if let Some((text, cause)) = failure {
            return Err(ParseError::plain(format!("stage '{text}' : {cause}")));
        }
    }
    Ok(())
}

/// Checks every pipeline of `expr`, left to right.
pub fn check_expr(expr: &Expr) -> Result<(), ParseError> {
    match expr {
        Expr::Log(l) => check_stages(&l.pipeline),
        Expr::Metric(m) => check_metric(m),
    }
}

/// Checks every pipeline of a metric expression, left to right.
pub fn check_metric(m: &MetricExpr) -> Result<(), ParseError> {
    match m {
        MetricExpr::RangeAggregation { range, .. } => check_stages(&range.log.pipeline),
        MetricExpr::VectorAggregation { expr, .. } | MetricExpr::LabelReplace { expr, .. } => check_metric(expr),
        MetricExpr::BinOp { lhs, rhs, .. } => {
            check_metric(lhs)?;
            check_metric(rhs)
        }
        MetricExpr::Literal(_) | MetricExpr::Vector(_) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(q: &str) -> String {
        let expr = crate::logql::parse(q).unwrap();
        check_expr(&expr).unwrap_err().to_string()
    }

    #[test]
    fn pattern_filters_refuse_named_captures_as_a_stage_error() {
        assert_eq!(
            err(r#"{a="b"} |> "<_> foo <ip>""#),
            r#"parse error : stage '|> "<_> foo <ip>"' : named captures are not allowed: found '<ip>'"#
        );
        assert_eq!(
            err(r#"count_over_time({a="b"} !> "<a><_>" [1m])"#),
            r#"parse error : stage '!> "<a><_>"' : found consecutive capture '<a><_>': invalid expression"#
        );
        assert!(check_expr(&crate::logql::parse(r#"{a="b"} |> "<_> 500" or "<_> 404""#).unwrap()).is_ok());
    }

    #[test]
    fn line_filters_form_one_stage_reported_from_the_last() {
        // Filters after a parser join the chain before it; the last bad one is reported.
        assert_eq!(
            err(r#"{a="b"} |= "x" |> "<a>" | json |~ "(" | line_format "{{.a}}""#),
            format!(r#"parse error : stage '|= "x" |> "<a>" |~ "("' : {}"#, regex_cause("("))
        );
        // A label filter closes the chain: the filter after it is a stage of its own.
        assert_eq!(
            err(r#"{a="b"} |= "x" | l="v" != "y" or "<b>" !> "<b>""#),
            r#"parse error : stage '!= "y" != "<b>" !> "<b>"' : named captures are not allowed: found '<b>'"#
        );
    }

    fn regex_cause(re: &str) -> String {
        crate::logql::parser::regex_error(&regex::Regex::new(re).unwrap_err())
    }

    #[test]
    fn templates_fail_with_gos_located_messages() {
        assert_eq!(
            err(r#"{a="b"} | json | line_format "{{.status""#),
            r#"parse error : stage '| line_format "{{.status"' : invalid line template: template: line:1: unclosed action"#
        );
        assert_eq!(
            err(r#"{a="b"} | label_format x="{{ foo .a }}",y=a"#),
            r#"parse error : stage '| label_format x="{{ foo .a }}",y=a' : invalid template for label 'x': template: label:1: function "foo" not defined"#
        );
        assert_eq!(
            err(r#"sum(count_over_time({a="b"} | label_format a=b,a="x" [1m]))"#),
            r#"parse error : stage '| label_format a=b,a="x"' : multiple label name 'a' not allowed in a single format operation"#
        );
        // A stage before a bad one is built first: its error wins.
        assert_eq!(
            err(r#"{a="b"} | line_format "{{if .a}}" |~ "(""#),
            r#"parse error : stage '| line_format "{{if .a}}"' : invalid line template: template: line:1: unexpected EOF"#
        );
    }
}
