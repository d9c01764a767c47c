//! Range aggregations (`rate`, `count_over_time`, `quantile_over_time`, ...) as a DataFusion
//! operator: [`RangeAggNode`] / [`RangeAggExec`].
//!
//! Input: samples (`series`, `ts`, `value`) from the log pipeline. For every evaluation time
//! `t` (from `start` to `end` by `step`) each series gets one point computed over its samples
//! with `t - offset - range < ts <= t - offset`, at nanosecond precision; a series without
//! samples in a window has no point there (`absent_over_time` is the reverse). Samples of
//! one series are sorted by time once; the window bounds then only move forward.

use std::collections::HashMap;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use arrow::array::{Array, Float64Array, Float64Builder, Int64Array, Int64Builder, RecordBatch, StringArray, StringBuilder};
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::common::{DFSchema, DFSchemaRef, DataFusionError, Result as DfResult};
use datafusion::execution::TaskContext;
use datafusion::execution::memory_pool::{MemoryConsumer, MemoryReservation};
use datafusion::logical_expr::{Expr, LogicalPlan, UserDefinedLogicalNodeCore};
use datafusion::physical_expr::{EquivalenceProperties, Partitioning, PhysicalExpr};
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{DisplayAs, DisplayFormatType, Distribution, ExecutionPlan, PlanProperties, SendableRecordBatchStream};
use futures::StreamExt;
use store::labels::{parse_pairs, render_pairs};
use store::schema::TS;

use super::pipeline_exec::{SERIES, VALUE, samples_schema};
use crate::error::UserError;
use crate::logql::ast::RangeOp;
use crate::pipeline::labels::ERROR;

/// Evaluation times: `start`, `start + step`, ... up to `end` (ns).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Steps {
    /// First evaluation time.
    pub start: i64,
    /// Last evaluation time (inclusive).
    pub end: i64,
    /// Distance between evaluations (> 0).
    pub step: i64,
}

impl Steps {
    /// Every evaluation time.
    pub fn times(&self) -> impl Iterator<Item = i64> + '_ {
        let step = self.step.max(1);
        let n = if self.end < self.start { 0 } else { (self.end - self.start) / step + 1 };
        (0..n).map(move |i| self.start + i * step)
    }
}

/// What a range aggregation computes.
#[derive(Debug, Clone, PartialEq)]
pub struct RangeSpec {
    /// The function.
    pub op: RangeOp,
    /// φ of `quantile_over_time`.
    pub param: Option<f64>,
    /// Window length (ns).
    pub range: i64,
    /// `offset` (ns).
    pub offset: i64,
    /// Evaluation times.
    pub steps: Steps,
    /// Labels of the `absent_over_time` series.
    pub absent_labels: Vec<(String, String)>,
}

/// The logical plan node.
#[derive(Debug, Clone)]
pub struct RangeAggNode {
    input: LogicalPlan,
    spec: Arc<RangeSpec>,
    schema: DFSchemaRef,
}

impl RangeAggNode {
    /// A range aggregation over sample rows.
    pub fn new(input: LogicalPlan, spec: RangeSpec) -> DfResult<RangeAggNode> {
        Ok(RangeAggNode { input, spec: Arc::new(spec), schema: Arc::new(DFSchema::try_from(samples_schema().as_ref().clone())?) })
    }

    /// The aggregation.
    pub fn spec(&self) -> &Arc<RangeSpec> {
        &self.spec
    }
}

impl PartialEq for RangeAggNode {
    fn eq(&self, other: &Self) -> bool {
        self.spec == other.spec && self.input == other.input
    }
}
impl Eq for RangeAggNode {}
impl PartialOrd for RangeAggNode {
    /// Nodes are not ordered; only equal ones compare.
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        (self == other).then_some(std::cmp::Ordering::Equal)
    }
}
impl Hash for RangeAggNode {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.spec.op.as_str().hash(state);
        self.spec.range.hash(state);
        self.spec.steps.hash(state);
    }
}

fn describe(spec: &RangeSpec) -> String {
    format!(
        "{}{} range={}ns offset={}ns steps={}..={} by {}ns",
        spec.op.as_str(),
        spec.param.map(|p| format!("({p})")).unwrap_or_default(),
        spec.range,
        spec.offset,
        spec.steps.start,
        spec.steps.end,
        spec.steps.step
    )
}

impl UserDefinedLogicalNodeCore for RangeAggNode {
    fn name(&self) -> &str {
        "RangeAggregate"
    }
    fn inputs(&self) -> Vec<&LogicalPlan> {
        vec![&self.input]
    }
    fn schema(&self) -> &DFSchemaRef {
        &self.schema
    }
    fn expressions(&self) -> Vec<Expr> {
        Vec::new()
    }
    fn fmt_for_explain(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "RangeAggregate: {}", describe(&self.spec))
    }
    fn with_exprs_and_inputs(&self, _exprs: Vec<Expr>, mut inputs: Vec<LogicalPlan>) -> DfResult<Self> {
        let input = inputs.pop().ok_or_else(|| DataFusionError::Internal("RangeAggregate needs one input".into()))?;
        Ok(RangeAggNode { input, spec: Arc::clone(&self.spec), schema: Arc::clone(&self.schema) })
    }
}

/// The physical operator: collects every sample, then evaluates each step.
#[derive(Debug)]
pub struct RangeAggExec {
    input: Arc<dyn ExecutionPlan>,
    spec: Arc<RangeSpec>,
    props: Arc<PlanProperties>,
}

impl RangeAggExec {
    /// The operator over `input` (which the planner merges into one partition).
    pub fn new(input: Arc<dyn ExecutionPlan>, spec: Arc<RangeSpec>) -> RangeAggExec {
        let props = PlanProperties::new(
            EquivalenceProperties::new(samples_schema()),
            Partitioning::UnknownPartitioning(1),
            EmissionType::Final,
            Boundedness::Bounded,
        );
        RangeAggExec { input, spec, props: Arc::new(props) }
    }
}

impl DisplayAs for RangeAggExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "RangeAggExec: {}", describe(&self.spec))
    }
}

impl ExecutionPlan for RangeAggExec {
    fn name(&self) -> &str {
        "RangeAggExec"
    }
    fn properties(&self) -> &Arc<PlanProperties> {
        &self.props
    }
    fn required_input_distribution(&self) -> Vec<Distribution> {
        vec![Distribution::SinglePartition]
    }
    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.input]
    }
    fn apply_expressions(&self, _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> DfResult<TreeNodeRecursion>) -> DfResult<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }
    fn with_new_children(self: Arc<Self>, mut children: Vec<Arc<dyn ExecutionPlan>>) -> DfResult<Arc<dyn ExecutionPlan>> {
        let input = children.pop().ok_or_else(|| DataFusionError::Internal("RangeAggExec needs one input".into()))?;
        Ok(Arc::new(RangeAggExec::new(input, Arc::clone(&self.spec))))
    }
    fn execute(&self, partition: usize, context: Arc<TaskContext>) -> DfResult<SendableRecordBatchStream> {
        let mut input = self.input.execute(partition, Arc::clone(&context))?;
        let spec = Arc::clone(&self.spec);
        let reservation = MemoryConsumer::new("RangeAggExec").register(context.memory_pool());
        let fut = async move {
            let mut acc = Samples::new(spec.op == RangeOp::AbsentOverTime, reservation);
            while let Some(batch) = input.next().await {
                acc.add(&batch?)?;
            }
            evaluate(&spec, acc.series, acc.errors)
        };
        Ok(Box::pin(RecordBatchStreamAdapter::new(samples_schema(), futures::stream::once(fut))))
    }
}

/// Samples gathered by series, with their memory accounted in the session's pool.
pub struct Samples {
    /// Samples by series labels.
    pub series: HashMap<String, Vec<(i64, f64)>>,
    /// With `merge_all`: the sample times of each series carrying `__error__`, so that the
    /// query can still fail on them as Loki's does.
    pub errors: HashMap<String, Vec<i64>>,
    merge_all: bool,
    reservation: MemoryReservation,
}

impl Samples {
    /// An empty set; `merge_all` puts every sample into one series (`absent_over_time`).
    pub fn new(merge_all: bool, reservation: MemoryReservation) -> Samples {
        Samples { series: HashMap::new(), errors: HashMap::new(), merge_all, reservation }
    }

    /// Adds a batch of (`series`, `ts`, `value`) rows; fails when the pool is exhausted.
    pub fn add(&mut self, b: &RecordBatch) -> DfResult<()> {
        let s = b.column_by_name(SERIES).and_then(|c| c.as_any().downcast_ref::<StringArray>());
        let t = b.column_by_name(TS).and_then(|c| c.as_any().downcast_ref::<Int64Array>());
        let v = b.column_by_name(VALUE).and_then(|c| c.as_any().downcast_ref::<Float64Array>());
        let (Some(s), Some(t), Some(v)) = (s, t, v) else {
            return Err(DataFusionError::Internal("RangeAggExec: unexpected input schema".into()));
        };
        let mut grown = b.num_rows() * std::mem::size_of::<(i64, f64)>();
        for i in 0..b.num_rows() {
            if self.merge_all && s.value(i).contains(ERROR) {
                let label = s.value(i);
                match self.errors.get_mut(label) {
                    Some(times) => times.push(t.value(i)),
                    None => {
                        grown += label.len() + SERIES_OVERHEAD;
                        self.errors.insert(label.to_string(), vec![t.value(i)]);
                    }
                }
            }
            let key = if self.merge_all { "" } else { s.value(i) };
            match self.series.get_mut(key) {
                Some(samples) => samples.push((t.value(i), v.value(i))),
                None => {
                    grown += key.len() + SERIES_OVERHEAD;
                    self.series.insert(key.to_string(), vec![(t.value(i), v.value(i))]);
                }
            }
        }
        self.reservation.try_grow(grown)
    }
}

/// Bytes a new series costs besides its label text (map slot, vector header).
const SERIES_OVERHEAD: usize = 64;

/// Evaluates every step over samples grouped by series (for `absent_over_time`, all
/// samples under `""`, and the times of the series with `__error__` in `errors`).
pub fn evaluate(spec: &RangeSpec, mut series: HashMap<String, Vec<(i64, f64)>>, errors: HashMap<String, Vec<i64>>) -> DfResult<RecordBatch> {
    let mut keys: Vec<String> = series.keys().cloned().collect();
    keys.sort();
    let mut out_series = StringBuilder::new();
    let mut out_ts = Int64Builder::new();
    let mut out_value = Float64Builder::new();
    let range_secs = spec.range as f64 / 1e9;
    if spec.op == RangeOp::AbsentOverTime {
        // A series with `__error__` fails the query as soon as one of its samples falls
        // into a window, as for every other range aggregation.
        let mut error_keys: Vec<&String> = errors.keys().collect();
        error_keys.sort();
        for key in error_keys {
            let Some(times) = errors.get(key) else { continue };
            let mut samples: Vec<(i64, f64)> = times.iter().map(|t| (*t, 0.0)).collect();
            samples.sort_by_key(|s| s.0);
            let mut w = Window::default();
            if spec.steps.times().any(|t| !w.advance(&samples, t - spec.offset - spec.range, t - spec.offset).is_empty()) {
                check_error(key)?;
            }
        }
        let mut samples = series.remove("").unwrap_or_default();
        samples.sort_by_key(|s| s.0);
        let label = render_pairs(&spec.absent_labels);
        let mut w = Window::default();
        for t in spec.steps.times() {
            let slice = w.advance(&samples, t - spec.offset - spec.range, t - spec.offset);
            if slice.is_empty() {
                out_series.append_value(&label);
                out_ts.append_value(t);
                out_value.append_value(1.0);
            }
        }
    } else {
        for key in &keys {
            let Some(samples) = series.get_mut(key) else { continue };
            samples.sort_by_key(|s| s.0);
            let mut w = Window::default();
            let mut any = false;
            for t in spec.steps.times() {
                let (lo_t, hi_t) = (t - spec.offset - spec.range, t - spec.offset);
                let slice = w.advance(samples, lo_t, hi_t);
                if slice.is_empty() {
                    continue;
                }
                any = true;
                let value = apply(spec, slice, range_secs);
                out_series.append_value(key);
                out_ts.append_value(t);
                out_value.append_value(value);
            }
            if any {
                check_error(key)?;
            }
        }
    }
    Ok(RecordBatch::try_new(samples_schema(), vec![Arc::new(out_series.finish()), Arc::new(out_ts.finish()), Arc::new(out_value.finish())])?)
}

/// Fails the query when a series carries `__error__`, with Loki's message.
fn check_error(series: &str) -> DfResult<()> {
    if !series.contains(ERROR) {
        return Ok(());
    }
    let Ok(pairs) = parse_pairs(series) else { return Ok(()) };
    if let Some((_, kind)) = pairs.iter().find(|(n, _)| n == ERROR) {
        let msg = format!(
            "pipeline error: '{kind}' for series: '{}'.\nUse a label filter to intentionally skip this error. (e.g | __error__!=\"{kind}\").\nTo skip all potential errors you can match empty errors.(e.g __error__=\"\")\nThe label filter can also be specified after unwrap. (e.g | unwrap latency | __error__=\"\" )\n",
            render_pairs(&pairs)
        );
        return Err(DataFusionError::External(Box::new(UserError(msg))));
    }
    Ok(())
}

/// Two forward-only indexes into a time-sorted sample list.
#[derive(Default)]
struct Window {
    lo: usize,
    hi: usize,
}

impl Window {
    /// The samples with `lo_t < ts <= hi_t` (bounds never decrease between calls).
    fn advance<'a>(&mut self, samples: &'a [(i64, f64)], lo_t: i64, hi_t: i64) -> &'a [(i64, f64)] {
        while self.hi < samples.len() && samples[self.hi].0 <= hi_t {
            self.hi += 1;
        }
        while self.lo < self.hi && samples[self.lo].0 <= lo_t {
            self.lo += 1;
        }
        &samples[self.lo.min(self.hi)..self.hi]
    }
}

/// The function over one non-empty window.
fn apply(spec: &RangeSpec, w: &[(i64, f64)], range_secs: f64) -> f64 {
    let n = w.len() as f64;
    match spec.op {
        RangeOp::CountOverTime => n,
        RangeOp::Rate => {
            // Without unwrap every value is 1, so the sum is the count.
            w.iter().map(|s| s.1).sum::<f64>() / range_secs
        }
        RangeOp::BytesOverTime | RangeOp::SumOverTime => w.iter().map(|s| s.1).sum(),
        RangeOp::BytesRate => w.iter().map(|s| s.1).sum::<f64>() / range_secs,
        RangeOp::AvgOverTime => {
            let mut mean: f64 = 0.0;
            let mut count: f64 = 0.0;
            for (_, x) in w {
                count += 1.0;
                if mean.is_infinite() {
                    if x.is_infinite() && x.signum() != mean.signum() {
                        mean = f64::NAN;
                    }
                    continue;
                }
                mean += x / count - mean / count;
            }
            mean
        }
        RangeOp::MinOverTime => w.iter().skip(1).fold(w[0].1, |acc, (_, x)| if *x < acc || acc.is_nan() { *x } else { acc }),
        RangeOp::MaxOverTime => w.iter().skip(1).fold(w[0].1, |acc, (_, x)| if *x > acc || acc.is_nan() { *x } else { acc }),
        RangeOp::StdvarOverTime => welford(w),
        RangeOp::StddevOverTime => welford(w).sqrt(),
        RangeOp::QuantileOverTime => quantile(spec.param.unwrap_or(0.0), w),
        RangeOp::FirstOverTime => w[0].1,
        RangeOp::LastOverTime => w[w.len() - 1].1,
        RangeOp::RateCounter => rate_counter(w, spec.range),
        RangeOp::AbsentOverTime => 1.0,
    }
}

/// Population variance, by Welford's method.
fn welford(w: &[(i64, f64)]) -> f64 {
    let (mut count, mut mean, mut aux) = (0.0, 0.0, 0.0);
    for (_, x) in w {
        count += 1.0;
        let delta = x - mean;
        mean += delta / count;
        aux += delta * (x - mean);
    }
    aux / count
}

/// The φ-quantile with linear interpolation between closest ranks.
pub fn quantile(phi: f64, w: &[(i64, f64)]) -> f64 {
    if phi.is_nan() {
        return f64::NAN;
    }
    if phi < 0.0 {
        return f64::NEG_INFINITY;
    }
    if phi > 1.0 {
        return f64::INFINITY;
    }
    let mut v: Vec<f64> = w.iter().map(|s| s.1).collect();
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    let rank = phi * (n - 1) as f64;
    let lo = rank.floor().max(0.0) as usize;
    let hi = (lo + 1).min(n - 1);
    let weight = rank - rank.floor();
    v[lo] * (1.0 - weight) + v[hi] * weight
}

/// `rate_counter`, with Loki's numbers (Loki 3.x `extrapolatedRate` with `isCounter` and
/// `isRate`): a Prometheus-style extrapolated counter rate whose window is anchored on the
/// samples rather than on the evaluation time, with Loki's mix of units kept.
///
/// * Fewer than two samples give 0.
/// * The increase is `last - first`, plus the value before every drop (counter resets).
/// * Loki takes the window start as the first sample's time (ns) minus the range in *ms*
///   and the window end as the last sample's time, and divides ns differences by 1000. So
///   the gap to the start is always `range_ms / 1000` (the range in seconds), the gap to the
///   end is 0, and the sampled interval and the mean gap between samples are in µs.
/// * If the increase is positive and the first value not negative, the gap to the start is
///   clamped to the gap to the counter's zero point (`sampled * first / increase`) before
///   the extrapolation threshold (1.1 times the mean gap) is applied: a gap below the
///   threshold is added to the sampled interval, otherwise half the mean gap is.
/// * The increase is scaled by `extrapolated / sampled` and divided by the range in seconds;
///   samples that all share one timestamp give `0 / 0`, so NaN.
fn rate_counter(w: &[(i64, f64)], range_ns: i64) -> f64 {
    if w.len() < 2 {
        return 0.0;
    }
    let (first, last) = (w[0], w[w.len() - 1]);
    let mut increase = last.1 - first.1;
    let mut prev = 0.0;
    for &(_, v) in w {
        if v < prev {
            increase += prev;
        }
        prev = v;
    }
    let range_ms = range_ns / 1_000_000;
    let mut to_start = range_ms as f64 / 1000.0;
    let to_end = 0.0;
    let sampled = (last.0 - first.0) as f64 / 1000.0;
    let mean_gap = sampled / (w.len() - 1) as f64;
    if increase > 0.0 && first.1 >= 0.0 {
        let to_zero = sampled * (first.1 / increase);
        if to_zero < to_start {
            to_start = to_zero;
        }
    }
    let threshold = mean_gap * 1.1;
    let mut extrapolated = sampled;
    extrapolated += if to_start < threshold { to_start } else { mean_gap / 2.0 };
    extrapolated += if to_end < threshold { to_end } else { mean_gap / 2.0 };
    increase * (extrapolated / sampled) / (range_ns as f64 / 1e9)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_are_left_open_right_closed() {
        let samples = [(10, 1.0), (20, 1.0), (30, 1.0)];
        let mut w = Window::default();
        assert_eq!(w.advance(&samples, 0, 10).len(), 1);
        assert_eq!(w.advance(&samples, 10, 20).len(), 1);
        assert_eq!(w.advance(&samples, 15, 35).len(), 2);
    }

    #[test]
    fn quantiles_interpolate() {
        let w: Vec<(i64, f64)> = [1.0, 2.0, 3.0, 4.0].iter().map(|v| (0, *v)).collect();
        assert_eq!(quantile(0.5, &w), 2.5);
        assert_eq!(quantile(1.0, &w), 4.0);
        assert!(quantile(1.5, &w).is_infinite());
    }

    #[test]
    fn rate_counter_has_lokis_numbers() {
        const S: i64 = 1_000_000_000;
        let range = 60 * S;
        // 1, 3, 6 at 10s, 20s, 30s: increase 5, sampled 2e7 (ns / 1000), gap to start 60
        // (below the threshold 1.1e7, and the zero point 4e6 is farther), gap to end 0:
        // 5 * (2e7 + 60) / 2e7 / 60.
        let w = [(10 * S, 1.0), (20 * S, 3.0), (30 * S, 6.0)];
        let want = 5.0 * (2e7 + 60.0) / 2e7 / 60.0;
        assert!((rate_counter(&w, range) - want).abs() < 1e-15, "{}", rate_counter(&w, range));
        assert!((want - 0.083_333_583_333_333_33).abs() < 1e-15);
        // A reset adds the value before the drop: 4 - 5 + 5 = 4.
        let w = [(10 * S, 5.0), (20 * S, 2.0), (30 * S, 4.0)];
        assert!((rate_counter(&w, range) - 4.0 * (2e7 + 60.0) / 2e7 / 60.0).abs() < 1e-15);
        // Starting at 0 the zero point is the first sample: no extrapolation at all.
        let w = [(10 * S, 0.0), (20 * S, 10.0)];
        assert!((rate_counter(&w, range) - 10.0 / 60.0).abs() < 1e-15);
        // A negative first value skips the zero-point clamp.
        let w = [(10 * S, -2.0), (20 * S, 2.0)];
        assert!((rate_counter(&w, range) - 4.0 * (1e7 + 60.0) / 1e7 / 60.0).abs() < 1e-15);
        // Fewer than two samples: 0; one timestamp only: NaN.
        assert_eq!(rate_counter(&[(10 * S, 7.0)], range), 0.0);
        assert!(rate_counter(&[(10 * S, 1.0), (10 * S, 2.0)], range).is_nan());
        assert!(rate_counter(&[(10 * S, 1.0), (10 * S, 1.0)], range).is_nan());
    }

    #[test]
    fn absent_over_time_fails_on_error_series() {
        let spec = RangeSpec {
            op: RangeOp::AbsentOverTime,
            param: None,
            range: 10,
            offset: 0,
            steps: Steps { start: 10, end: 40, step: 10 },
            absent_labels: vec![("app".into(), "x".into())],
        };
        let bad = r#"{__error__="JSONParserErr", app="x"}"#.to_string();
        let series = HashMap::from([(String::new(), vec![(15, 1.0)])]);
        let err = evaluate(&spec, series.clone(), HashMap::from([(bad.clone(), vec![15])])).unwrap_err();
        assert!(err.to_string().contains("pipeline error: 'JSONParserErr' for series: '{__error__=\"JSONParserErr\", app=\"x\"}'"), "{err}");
        // An error sample outside every window does not count.
        let out = evaluate(&spec, series.clone(), HashMap::from([(bad, vec![100])])).unwrap();
        assert_eq!(out.num_rows(), 3, "absent at 10, 30 and 40");
        assert_eq!(evaluate(&spec, series, HashMap::new()).unwrap().num_rows(), 3);
    }

    #[test]
    fn steps() {
        let s = Steps { start: 0, end: 10, step: 5 };
        assert_eq!(s.times().collect::<Vec<_>>(), vec![0, 5, 10]);
    }
}
