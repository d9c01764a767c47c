//! LogQL metric query -> DataFusion logical plan.
//!
//! ```text
//!   rate({app="x"} | json [5m])            RangeAggregate(rate, 5m, steps)
//!                                            LogPipeline(json -> samples; copies once: overlap.rs)
//!                                              Filter(stream ids, window, line filters)
//!                                                Union(chunks, heads)
//!   sum by (l) (...)                        Aggregate(group: skald_group_by(l)(series), ts; sum(value))
//!   topk(k, ...)                            Filter(rn <= k) over Window(row_number() by group, ts)
//!   a / on (x) b                            VectorMatch(op, on/ignoring, group_left/right)
//!   x > 0.5, x * 2                          Filter / Projection with skald_* value UDFs
//!   label_replace(...)                      Projection(skald_label_replace(series))
//!   vector(1)                               Values
//! ```
//!
//! Every vector plan has the schema (`series`, `ts`, `value`): the label set as text, the
//! evaluation time in ns, the value. Scalars (literals and arithmetic between them) are
//! folded here and never reach DataFusion.

use std::sync::Arc;

use arrow::datatypes::DataType;
use datafusion::common::DFSchema;
use datafusion::functions::math::expr_fn::isnan;
use datafusion::functions_aggregate::expr_fn::{avg, count, max, min, stddev_pop, sum, var_pop};
use datafusion::functions_window::expr_fn::row_number;
use datafusion::logical_expr::{EmptyRelation, Expr, ExprFunctionExt, Extension, LogicalPlan, LogicalPlanBuilder, cast, lit};
use datafusion::prelude::col;
use store::matcher::MatchOp;
use store::schema::TS;
use store::view::ReadSnapshot;

use super::metric_udf::{BinOpUdf, SeriesFn, SeriesUdf};
use super::ops;
use super::overlap::{self, OverlapDedup};
use super::pipeline_exec::{LogPipelineNode, PipelineOutput, PipelineSpec, SERIES, SampleSpec, SampleValue, VALUE, samples_schema};
use super::range_exec::{RangeAggNode, RangeSpec, Steps};
use super::{ScanOptions, scan_plan};
use super::vector_match::{MatchSpec, VectorMatchNode};
use crate::error::QueryError;
use crate::logql::ast::{BinOp, Grouping, LogRange, MetricExpr, RangeOp, VectorOp};
use crate::pipeline::Pipeline;
use crate::pipeline::label_filter::Filter;

/// A planned metric expression.
#[derive(Debug)]
pub enum Planned {
    /// A number (literals and arithmetic between them).
    Scalar(f64),
    /// A vector at every step: a plan producing (`series`, `ts`, `value`).
    Vector(LogicalPlan),
}

/// The range selections of `expr` in the order [`MetricPlanner`] consumes their snapshots.
pub fn ranges(expr: &MetricExpr) -> Vec<&LogRange> {
    let mut out = Vec::new();
    collect(expr, &mut out);
    out
}

fn collect<'a>(expr: &'a MetricExpr, out: &mut Vec<&'a LogRange>) {
    match expr {
        MetricExpr::RangeAggregation { range, .. } => out.push(range),
        MetricExpr::VectorAggregation { expr, .. } | MetricExpr::LabelReplace { expr, .. } => collect(expr, out),
        MetricExpr::BinOp { lhs, rhs, .. } => {
            collect(lhs, out);
            collect(rhs, out);
        }
        MetricExpr::Literal(_) | MetricExpr::Vector(_) => {}
    }
}

fn nanos(d: std::time::Duration) -> i64 {
    i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)
}

/// The `[start, end)` scan window of a range over all `steps`: every sample some step's
/// window `(t - offset - range, t - offset]` needs.
pub fn scan_window(range: &LogRange, steps: Steps) -> (i64, i64) {
    let offset = range.offset.map(nanos).unwrap_or(0);
    let start = steps.start.saturating_sub(offset).saturating_sub(nanos(range.range)).saturating_add(1);
    let end = steps.end.saturating_sub(offset).saturating_add(1);
    (start, end)
}

/// The `sort` or `sort_desc` whose order an instant query's result keeps, if any.
///
/// Loki leaves an instant vector in evaluation order when the query contains `sort` or
/// `sort_desc` (`Sortable`), and its evaluators keep the order of their left input. We
/// follow the sort through the operations that keep each sample's value as well as the
/// order (`label_replace`, a comparison filter against a number on the right, `and` and
/// `unless`) and through arithmetic with a number that cannot reorder values (`+`, `-` on
/// the right, `*` and `/` by a positive number), so that ordering the final values gives
/// the sort's order. Elsewhere Loki's order comes from hash-map iteration, and the result
/// stays sorted by labels.
pub fn value_order(expr: &MetricExpr) -> Option<VectorOp> {
    match expr {
        MetricExpr::VectorAggregation { op: op @ (VectorOp::Sort | VectorOp::SortDesc), .. } => Some(*op),
        MetricExpr::LabelReplace { expr, .. } => value_order(expr),
        MetricExpr::BinOp { op, modifier, lhs, rhs } => {
            let keeps_order = match (op, lhs.as_ref(), rhs.as_ref()) {
                (BinOp::And | BinOp::Unless, _, _) => true,
                (op, _, MetricExpr::Literal(_)) if op.is_comparison() => !modifier.return_bool,
                (BinOp::Add | BinOp::Sub, _, MetricExpr::Literal(_)) => true,
                (BinOp::Mul | BinOp::Div, _, MetricExpr::Literal(v)) => *v > 0.0,
                _ => false,
            };
            if keeps_order { value_order(lhs) } else { None }
        }
        _ => None,
    }
}

/// Orders an instant vector as Loki's `sort` (ascending) or `sort_desc` (descending) does:
/// its heaps put NaN after every number in both directions. Ties keep their order (by
/// labels); Loki's order for ties follows its input's hash-map order, so it is not fixed.
pub fn order_by_value(series: &mut [crate::engine::SeriesResult], op: VectorOp) {
    let value = |s: &crate::engine::SeriesResult| s.points.first().map(|p| p.1).unwrap_or(f64::NAN);
    let descending = op == VectorOp::SortDesc;
    series.sort_by(|a, b| {
        let (x, y) = (value(a), value(b));
        match (x.is_nan(), y.is_nan()) {
            (true, true) => std::cmp::Ordering::Equal,
            (true, false) => std::cmp::Ordering::Greater,
            (false, true) => std::cmp::Ordering::Less,
            (false, false) if descending => y.total_cmp(&x),
            (false, false) => x.total_cmp(&y),
        }
    });
}

/// Builds plans for metric expressions whose snapshots were taken in [`ranges`] order.
pub struct MetricPlanner<'a> {
    steps: Steps,
    snapshots: std::slice::Iter<'a, ReadSnapshot>,
    scan: ScanOptions,
    /// Set when the result's order is that of a `sort` or `sort_desc` (see [`value_order`]).
    pub sort: Option<VectorOp>,
}

impl<'a> MetricPlanner<'a> {
    /// A planner for evaluation times `steps` over `snapshots` (one per range, in order).
    pub fn new(steps: Steps, snapshots: &'a [ReadSnapshot], scan: ScanOptions) -> MetricPlanner<'a> {
        MetricPlanner { steps, snapshots: snapshots.iter(), scan, sort: None }
    }

    /// Plans the whole query.
    pub fn plan_query(&mut self, expr: &MetricExpr) -> Result<Planned, QueryError> {
        self.sort = value_order(expr);
        self.plan(expr)
    }

    fn plan(&mut self, expr: &MetricExpr) -> Result<Planned, QueryError> {
        Ok(match expr {
            MetricExpr::Literal(v) => Planned::Scalar(*v),
            MetricExpr::Vector(v) => Planned::Vector(self.constant(*v)?),
            MetricExpr::RangeAggregation { op, param, range, grouping } => {
                Planned::Vector(self.range(*op, *param, range, grouping.clone(), None)?)
            }
            MetricExpr::VectorAggregation { op, param, grouping, expr } => {
                Planned::Vector(self.vector_agg(*op, *param, grouping.as_ref(), expr)?)
            }
            MetricExpr::LabelReplace { expr, dst, replacement, src, regex } => {
                let input = self.vector(expr)?;
                let udf = SeriesUdf::udf(SeriesFn::LabelReplace {
                    dst: dst.clone(),
                    replacement: replacement.clone(),
                    src: src.clone(),
                    regex: regex.clone(),
                })
                .map_err(QueryError::BadRequest)?;
                Planned::Vector(
                    LogicalPlanBuilder::from(input)
                        .project(vec![udf.call(vec![col(SERIES)]).alias(SERIES), col(TS), col(VALUE)])?
                        .build()?,
                )
            }
            MetricExpr::BinOp { op, modifier, lhs, rhs } => {
                let l = self.plan(lhs)?;
                let r = self.plan(rhs)?;
                match (l, r) {
                    (Planned::Scalar(a), Planned::Scalar(b)) => Planned::Scalar(ops::arith(*op, a, b)),
                    (Planned::Vector(v), Planned::Scalar(s)) => Planned::Vector(scalar_op(v, *op, s, false, modifier.return_bool)?),
                    (Planned::Scalar(s), Planned::Vector(v)) => Planned::Vector(scalar_op(v, *op, s, true, modifier.return_bool)?),
                    (Planned::Vector(a), Planned::Vector(b)) => {
                        let node = VectorMatchNode::new(a, b, MatchSpec { op: *op, modifier: modifier.clone() })?;
                        Planned::Vector(LogicalPlan::Extension(Extension { node: Arc::new(node) }))
                    }
                }
            }
        })
    }

    fn vector(&mut self, expr: &MetricExpr) -> Result<LogicalPlan, QueryError> {
        match self.plan(expr)? {
            Planned::Vector(p) => Ok(p),
            Planned::Scalar(v) => self.constant(v),
        }
    }

    /// `vector(v)`: `{}` = v at every step.
    fn constant(&self, v: f64) -> Result<LogicalPlan, QueryError> {
        let rows: Vec<Vec<Expr>> = self.steps.times().map(|t| vec![lit("{}"), lit(t), lit(v)]).collect();
        if rows.is_empty() {
            return empty();
        }
        Ok(LogicalPlanBuilder::values(rows)?
            .project(vec![col("column1").alias(SERIES), col("column2").alias(TS), col("column3").alias(VALUE)])?
            .build()?)
    }

    /// A range aggregation; `injected` is a `sum` grouping pushed into the extraction.
    fn range(
        &mut self,
        op: RangeOp,
        param: Option<f64>,
        range: &LogRange,
        grouping: Option<Grouping>,
        injected: Option<Grouping>,
    ) -> Result<LogicalPlan, QueryError> {
        let snapshot = self.snapshots.next().ok_or_else(|| QueryError::BadRequest("internal: missing snapshot for a range".into()))?;
        let pipeline = Pipeline::compile(&range.log.pipeline).map_err(QueryError::BadRequest)?;
        let value = match (&range.unwrap, op) {
            (Some(u), _) => SampleValue::Unwrap { label: u.label.clone(), conversion: u.conversion },
            (None, RangeOp::BytesOverTime | RangeOp::BytesRate) => SampleValue::LineBytes,
            (None, _) => SampleValue::Count,
        };
        let post_filters = match &range.unwrap {
            Some(u) => u.post_filters.iter().map(Filter::compile).collect::<Result<_, _>>().map_err(QueryError::BadRequest)?,
            None => Vec::new(),
        };
        let (start, end) = scan_window(range, self.steps);
        let dedup = OverlapDedup::new(overlap::overlaps(snapshot, start, end)?);
        let spec = PipelineSpec {
            describe: format!(
                "{} stage(s) -> samples ({value:?}){}",
                pipeline.steps.len(),
                dedup.as_ref().map(|d| format!(", copies counted once in {} overlap(s)", d.windows())).unwrap_or_default()
            ),
            dedup,
            streams: snapshot.streams.iter().map(|(id, l)| (id.0, Arc::new(l.pairs().to_vec()))).collect(),
            pipeline: pipeline.clone(),
            output: PipelineOutput::Samples(SampleSpec { value, grouping: grouping.or(injected), post_filters }),
        };
        let samples = match scan_plan(snapshot, &pipeline.scan_filters, start, end, self.scan)? {
            Some(scan) => {
                let node = LogPipelineNode::new(scan.build()?, Arc::new(spec))?;
                LogicalPlan::Extension(Extension { node: Arc::new(node) })
            }
            None => empty()?,
        };
        let agg = RangeAggNode::new(
            samples,
            RangeSpec {
                op,
                param,
                range: nanos(range.range),
                offset: range.offset.map(nanos).unwrap_or(0),
                steps: self.steps,
                absent_labels: absent_labels(range),
            },
        )?;
        Ok(LogicalPlan::Extension(Extension { node: Arc::new(agg) }))
    }

    fn vector_agg(&mut self, op: VectorOp, param: Option<f64>, grouping: Option<&Grouping>, inner: &MetricExpr) -> Result<LogicalPlan, QueryError> {
        // A sum over count/rate/bytes/sum_over_time groups already at extraction.
        let input = match inner {
            MetricExpr::RangeAggregation { op: rop, param: rparam, range, grouping: None }
                if op == VectorOp::Sum
                    && matches!(rop, RangeOp::CountOverTime | RangeOp::Rate | RangeOp::BytesOverTime | RangeOp::BytesRate | RangeOp::SumOverTime) =>
            {
                let injected = Some(grouping.cloned().unwrap_or(Grouping { without: false, labels: Vec::new() }));
                self.range(*rop, *rparam, range, None, injected)?
            }
            other => self.vector(other)?,
        };
        let group = SeriesUdf::udf(SeriesFn::Group(grouping.cloned())).map_err(QueryError::BadRequest)?;
        let group_expr = group.call(vec![col(SERIES)]);
        let agg = match op {
            VectorOp::Sum => sum(col(VALUE)),
            VectorOp::Avg => avg(col(VALUE)),
            VectorOp::Min => min(col(VALUE)),
            VectorOp::Max => max(col(VALUE)),
            VectorOp::Count => cast(count(col(VALUE)), DataType::Float64),
            VectorOp::Stddev => stddev_pop(col(VALUE)),
            VectorOp::Stdvar => var_pop(col(VALUE)),
            VectorOp::Sort | VectorOp::SortDesc => return Ok(input),
            VectorOp::Topk | VectorOp::Bottomk => return top_k(input, op, param, group_expr),
            VectorOp::ApproxTopk => {
                return Err(QueryError::BadRequest("approx_topk is not supported; use topk".into()));
            }
        };
        Ok(LogicalPlanBuilder::from(input)
            .aggregate(vec![group_expr.alias(SERIES), col(TS)], vec![agg.alias(VALUE)])?
            .project(vec![col(SERIES), col(TS), col(VALUE)])?
            .build()?)
    }
}

/// `topk`/`bottomk`: the k largest (smallest) samples of each group at each step, with
/// their own labels.
fn top_k(input: LogicalPlan, op: VectorOp, param: Option<f64>, group: Expr) -> Result<LogicalPlan, QueryError> {
    let k = param.unwrap_or(0.0);
    if k < 1.0 || k.fract() != 0.0 {
        return Err(QueryError::BadRequest(format!("parse error : invalid parameter {}({k}, ...)", op.as_str())));
    }
    let descending = op == VectorOp::Topk;
    // NaN ranks after every number for both (Prometheus' heaps replace a NaN first).
    let rank = row_number()
        .partition_by(vec![col("skald_group"), col(TS)])
        .order_by(vec![isnan(col(VALUE)).sort(true, false), col(VALUE).sort(!descending, !descending), col(SERIES).sort(true, false)])
        .build()?
        .alias("skald_rank");
    Ok(LogicalPlanBuilder::from(input)
        .project(vec![col(SERIES), col(TS), col(VALUE), group.alias("skald_group")])?
        .window(vec![rank])?
        .filter(col("skald_rank").lt_eq(lit(k as u64)))?
        .project(vec![col(SERIES), col(TS), col(VALUE)])?
        .build()?)
}

/// `vector op scalar` (or `scalar op vector` when `scalar_left`).
fn scalar_op(input: LogicalPlan, op: BinOp, s: f64, scalar_left: bool, return_bool: bool) -> Result<LogicalPlan, QueryError> {
    let (l, r) = if scalar_left { (lit(s), col(VALUE)) } else { (col(VALUE), lit(s)) };
    let builder = LogicalPlanBuilder::from(input);
    let plan = if op.is_comparison() && !return_bool {
        builder.filter(BinOpUdf::udf(op, true).call(vec![l, r]))?.build()?
    } else {
        builder.project(vec![col(SERIES), col(TS), BinOpUdf::udf(op, false).call(vec![l, r]).alias(VALUE)])?.build()?
    };
    Ok(plan)
}

/// A plan with the vector schema and no rows.
fn empty() -> Result<LogicalPlan, QueryError> {
    Ok(LogicalPlan::EmptyRelation(EmptyRelation {
        produce_one_row: false,
        schema: Arc::new(DFSchema::try_from(samples_schema().as_ref().clone())?),
    }))
}

/// The labels `absent_over_time` reports: each `name="value"` matcher of the selector,
/// unless the name appears in another matcher too.
fn absent_labels(range: &LogRange) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    let mut dropped: Vec<String> = Vec::new();
    for m in &range.log.matchers {
        if m.op == MatchOp::Eq && !out.iter().any(|(n, _)| *n == m.name) {
            out.push((m.name.clone(), m.value.clone()));
        } else {
            dropped.push(m.name.clone());
        }
    }
    out.retain(|(n, _)| !dropped.contains(n));
    out.sort();
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::SeriesResult;

    fn metric(q: &str) -> MetricExpr {
        match crate::logql::parse(q).unwrap() {
            crate::logql::Expr::Metric(m) => m,
            crate::logql::Expr::Log(_) => panic!("{q} is a log query"),
        }
    }

    #[test]
    fn value_order_follows_sort_through_order_keeping_operations() {
        let order = |q: &str| value_order(&metric(q));
        let c = r#"count_over_time({a="b"}[1m])"#;
        assert_eq!(order(&format!("sort({c})")), Some(VectorOp::Sort));
        assert_eq!(order(&format!("sort_desc({c}) > 1")), Some(VectorOp::SortDesc));
        assert_eq!(order(&format!(r#"label_replace(sort_desc({c}), "x", "$1", "a", "(.*)") * 2"#)), Some(VectorOp::SortDesc));
        assert_eq!(order(&format!("sort({c}) and {c}")), Some(VectorOp::Sort));
        // Operations that can reorder values, or whose order is Loki's hash-map order.
        assert_eq!(order(&format!("sort({c}) > bool 1")), None);
        assert_eq!(order(&format!("sort({c}) * -1")), None);
        assert_eq!(order(&format!("sum(sort({c}))")), None);
        assert_eq!(order(&format!("{c} and sort({c})")), None);
        assert_eq!(order(c), None);
    }

    fn series(values: &[(&str, f64)]) -> Vec<SeriesResult> {
        values.iter().map(|(n, v)| SeriesResult { labels: vec![("n".into(), n.to_string())], points: vec![(0, *v)] }).collect()
    }

    fn names(s: &[SeriesResult]) -> Vec<String> {
        s.iter().map(|x| x.labels[0].1.clone()).collect()
    }

    #[test]
    fn nan_sorts_last_in_both_directions_and_ties_keep_label_order() {
        // 0/0 on x86 is a NaN with the sign bit set, which `total_cmp` would put first.
        let neg_nan = f64::from_bits(0xfff8_0000_0000_0000);
        let input = [("a", 2.0), ("b", f64::NAN), ("c", 1.0), ("d", neg_nan), ("e", 2.0), ("f", f64::NEG_INFINITY)];
        let mut asc = series(&input);
        order_by_value(&mut asc, VectorOp::Sort);
        assert_eq!(names(&asc), ["f", "c", "a", "e", "b", "d"]);
        let mut desc = series(&input);
        order_by_value(&mut desc, VectorOp::SortDesc);
        assert_eq!(names(&desc), ["a", "e", "c", "f", "b", "d"]);
    }
}
