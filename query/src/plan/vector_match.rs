//! Binary operations between two instant vectors (`a / on (x) b`, `a and b`, ...) as a
//! DataFusion operator: [`VectorMatchNode`] / [`VectorMatchExec`].
//!
//! Both inputs are samples (`series`, `ts`, `value`). At each timestamp the sides are
//! matched on their signature (all labels, the `on` labels, or all but the `ignoring`
//! labels), one-to-one or with `group_left`/`group_right`, and combined as Prometheus and
//! Loki do, with Loki's errors for ambiguous matches.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::hash::Hash;
use std::sync::Arc;

use arrow::array::{Float64Array, Float64Builder, Int64Array, Int64Builder, RecordBatch, StringArray, StringBuilder};
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::common::{DFSchema, DFSchemaRef, DataFusionError, Result as DfResult};
use datafusion::execution::TaskContext;
use datafusion::logical_expr::{Expr, LogicalPlan, UserDefinedLogicalNodeCore};
use datafusion::physical_expr::{EquivalenceProperties, Partitioning, PhysicalExpr};
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{DisplayAs, DisplayFormatType, Distribution, ExecutionPlan, PlanProperties, SendableRecordBatchStream};
use futures::StreamExt;
use store::labels::render_pairs;
use store::schema::TS;

use super::ops::{self, labels_of, signature};
use super::pipeline_exec::{SERIES, VALUE, samples_schema};
use crate::error::ExecError;
use crate::logql::ast::{BinOp, BinOpModifier, GroupSide};
use crate::pipeline::labels::Pairs;

/// The operation.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MatchSpec {
    /// The operator.
    pub op: BinOp,
    /// `bool`, `on`/`ignoring`, `group_left`/`group_right`.
    pub modifier: BinOpModifier,
}

/// The logical plan node (two inputs: lhs, rhs).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct VectorMatchNode {
    lhs: LogicalPlan,
    rhs: LogicalPlan,
    spec: MatchSpec,
    schema: DFSchemaRef,
}

impl VectorMatchNode {
    /// `lhs op rhs`.
    pub fn new(lhs: LogicalPlan, rhs: LogicalPlan, spec: MatchSpec) -> DfResult<VectorMatchNode> {
        Ok(VectorMatchNode { lhs, rhs, spec, schema: Arc::new(DFSchema::try_from(samples_schema().as_ref().clone())?) })
    }

    /// The operation.
    pub fn spec(&self) -> &MatchSpec {
        &self.spec
    }
}

impl PartialOrd for VectorMatchNode {
    fn partial_cmp(&self, _other: &Self) -> Option<std::cmp::Ordering> {
        None
    }
}

fn describe(spec: &MatchSpec) -> String {
    let m = &spec.modifier;
    let mut s = format!("{:?}", spec.op);
    if m.return_bool {
        s.push_str(" bool");
    }
    if let Some(labels) = &m.matching {
        s.push_str(&format!(" {}({})", if m.on { "on" } else { "ignoring" }, labels.join(",")));
    }
    match &m.group {
        Some(GroupSide::Left(l)) => s.push_str(&format!(" group_left({})", l.join(","))),
        Some(GroupSide::Right(l)) => s.push_str(&format!(" group_right({})", l.join(","))),
        None => {}
    }
    s
}

impl UserDefinedLogicalNodeCore for VectorMatchNode {
    fn name(&self) -> &str {
        "VectorMatch"
    }
    fn inputs(&self) -> Vec<&LogicalPlan> {
        vec![&self.lhs, &self.rhs]
    }
    fn schema(&self) -> &DFSchemaRef {
        &self.schema
    }
    fn expressions(&self) -> Vec<Expr> {
        Vec::new()
    }
    fn fmt_for_explain(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "VectorMatch: {}", describe(&self.spec))
    }
    fn with_exprs_and_inputs(&self, _exprs: Vec<Expr>, inputs: Vec<LogicalPlan>) -> DfResult<Self> {
        let [lhs, rhs]: [LogicalPlan; 2] = inputs.try_into().map_err(|_| DataFusionError::Internal("VectorMatch needs two inputs".into()))?;
        Ok(VectorMatchNode { lhs, rhs, spec: self.spec.clone(), schema: Arc::clone(&self.schema) })
    }
}

/// The physical operator.
#[derive(Debug)]
pub struct VectorMatchExec {
    lhs: Arc<dyn ExecutionPlan>,
    rhs: Arc<dyn ExecutionPlan>,
    spec: Arc<MatchSpec>,
    props: Arc<PlanProperties>,
}

impl VectorMatchExec {
    /// The operator over two sample inputs.
    pub fn new(lhs: Arc<dyn ExecutionPlan>, rhs: Arc<dyn ExecutionPlan>, spec: Arc<MatchSpec>) -> VectorMatchExec {
        let props = PlanProperties::new(
            EquivalenceProperties::new(samples_schema()),
            Partitioning::UnknownPartitioning(1),
            EmissionType::Final,
            Boundedness::Bounded,
        );
        VectorMatchExec { lhs, rhs, spec, props: Arc::new(props) }
    }
}

impl DisplayAs for VectorMatchExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "VectorMatchExec: {}", describe(&self.spec))
    }
}

impl ExecutionPlan for VectorMatchExec {
    fn name(&self) -> &str {
        "VectorMatchExec"
    }
    fn properties(&self) -> &Arc<PlanProperties> {
        &self.props
    }
    fn required_input_distribution(&self) -> Vec<Distribution> {
        vec![Distribution::SinglePartition, Distribution::SinglePartition]
    }
    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.lhs, &self.rhs]
    }
    fn apply_expressions(&self, _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> DfResult<TreeNodeRecursion>) -> DfResult<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }
    fn with_new_children(self: Arc<Self>, children: Vec<Arc<dyn ExecutionPlan>>) -> DfResult<Arc<dyn ExecutionPlan>> {
        let [lhs, rhs]: [Arc<dyn ExecutionPlan>; 2] =
            children.try_into().map_err(|_| DataFusionError::Internal("VectorMatchExec needs two inputs".into()))?;
        Ok(Arc::new(VectorMatchExec::new(lhs, rhs, Arc::clone(&self.spec))))
    }
    fn execute(&self, partition: usize, context: Arc<TaskContext>) -> DfResult<SendableRecordBatchStream> {
        let lhs = self.lhs.execute(partition, Arc::clone(&context))?;
        let rhs = self.rhs.execute(partition, context)?;
        let spec = Arc::clone(&self.spec);
        let fut = async move {
            let l: Vec<RecordBatch> = lhs.collect::<Vec<_>>().await.into_iter().collect::<DfResult<_>>()?;
            let r: Vec<RecordBatch> = rhs.collect::<Vec<_>>().await.into_iter().collect::<DfResult<_>>()?;
            evaluate(&spec, &by_time(&l)?, &by_time(&r)?).map_err(|e| DataFusionError::External(Box::new(ExecError(e))))
        };
        Ok(Box::pin(RecordBatchStreamAdapter::new(samples_schema(), futures::stream::once(fut))))
    }
}

/// One sample of a vector.
#[derive(Debug, Clone)]
struct Sample {
    labels: Pairs,
    value: f64,
}

type ByTime = BTreeMap<i64, Vec<Sample>>;

fn by_time(batches: &[RecordBatch]) -> DfResult<ByTime> {
    let mut out: ByTime = BTreeMap::new();
    for b in batches {
        let s = b.column_by_name(SERIES).and_then(|c| c.as_any().downcast_ref::<StringArray>());
        let t = b.column_by_name(TS).and_then(|c| c.as_any().downcast_ref::<Int64Array>());
        let v = b.column_by_name(VALUE).and_then(|c| c.as_any().downcast_ref::<Float64Array>());
        let (Some(s), Some(t), Some(v)) = (s, t, v) else {
            return Err(DataFusionError::Internal("VectorMatchExec: unexpected input schema".into()));
        };
        for i in 0..b.num_rows() {
            out.entry(t.value(i)).or_default().push(Sample { labels: labels_of(s.value(i)), value: v.value(i) });
        }
    }
    Ok(out)
}

/// Combines the two sides at every timestamp.
fn evaluate(spec: &MatchSpec, lhs: &ByTime, rhs: &ByTime) -> Result<RecordBatch, String> {
    let mut series = StringBuilder::new();
    let mut ts = Int64Builder::new();
    let mut values = Float64Builder::new();
    let times: std::collections::BTreeSet<i64> = lhs.keys().chain(rhs.keys()).copied().collect();
    let empty = Vec::new();
    for t in times {
        let l = lhs.get(&t).unwrap_or(&empty);
        let r = rhs.get(&t).unwrap_or(&empty);
        for s in combine(spec, l, r)? {
            series.append_value(render_pairs(&s.labels));
            ts.append_value(t);
            values.append_value(s.value);
        }
    }
    RecordBatch::try_new(samples_schema(), vec![Arc::new(series.finish()), Arc::new(ts.finish()), Arc::new(values.finish())])
        .map_err(|e| e.to_string())
}

/// One timestamp's result.
fn combine(spec: &MatchSpec, l: &[Sample], r: &[Sample]) -> Result<Vec<Sample>, String> {
    let m = &spec.modifier;
    let matching = m.matching.as_deref();
    let sig = |s: &Sample| signature(&s.labels, m.on, matching);
    match spec.op {
        BinOp::And => {
            if l.is_empty() || r.is_empty() {
                return Ok(Vec::new());
            }
            let rs: HashSet<String> = r.iter().map(sig).collect();
            Ok(l.iter().filter(|s| rs.contains(&sig(s))).cloned().collect())
        }
        BinOp::Unless => {
            let rs: HashSet<String> = r.iter().map(sig).collect();
            Ok(l.iter().filter(|s| !rs.contains(&sig(s))).cloned().collect())
        }
        BinOp::Or => {
            let ls: HashSet<String> = l.iter().map(sig).collect();
            let mut out: Vec<Sample> = l.to_vec();
            out.extend(r.iter().filter(|s| !ls.contains(&sig(s))).cloned());
            Ok(out)
        }
        op => arithmetic(op, m, l, r),
    }
}

fn arithmetic(op: BinOp, m: &BinOpModifier, l: &[Sample], r: &[Sample]) -> Result<Vec<Sample>, String> {
    let matching = m.matching.as_deref();
    // The "one" side is rhs, unless group_right makes lhs the one side.
    let (many, one, swapped, include) = match &m.group {
        Some(GroupSide::Right(inc)) => (r, l, true, Some(inc)),
        Some(GroupSide::Left(inc)) => (l, r, false, Some(inc)),
        None => (l, r, false, None),
    };
    let mut one_sigs: HashMap<String, &Sample> = HashMap::new();
    for s in one {
        if one_sigs.insert(signature(&s.labels, m.on, matching), s).is_some() {
            let side = if swapped { "left" } else { "right" };
            return Err(format!(
                "found duplicate series on the {side} hand-side;many-to-many matching not allowed: matching labels must be unique on one side"
            ));
        }
    }
    let mut out = Vec::new();
    let mut inserted: HashSet<String> = HashSet::new();
    for s in many {
        let key = signature(&s.labels, m.on, matching);
        let Some(o) = one_sigs.get(&key) else { continue };
        let (lv, rv) = if swapped { (o.value, s.value) } else { (s.value, o.value) };
        let value = if op.is_comparison() {
            if m.return_bool {
                f64::from(u8::from(ops::compare(op, lv, rv)))
            } else if ops::compare(op, lv, rv) {
                lv
            } else {
                continue;
            }
        } else {
            ops::arith(op, lv, rv)
        };
        let labels = result_labels(&s.labels, &o.labels, m, include);
        if include.is_none() {
            if !inserted.insert(key) {
                return Err("multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)".into());
            }
        } else if !inserted.insert(render_pairs(&labels)) {
            return Err("multiple matches for labels: grouping labels must ensure unique matches".into());
        }
        out.push(Sample { labels, value });
    }
    Ok(out)
}

/// The labels of a result sample: the many side's labels; one-to-one keeps only the `on`
/// labels or drops the `ignoring` ones; `group_*` copies the included labels from the one
/// side (or removes them when empty there).
fn result_labels(many: &Pairs, one: &Pairs, m: &BinOpModifier, include: Option<&Vec<String>>) -> Pairs {
    let mut labels = many.clone();
    match include {
        None => {
            if let Some(names) = &m.matching {
                labels.retain(|(n, _)| names.contains(n) == m.on);
            }
        }
        Some(inc) => {
            for name in inc {
                labels.retain(|(n, _)| n != name);
                if let Some((_, v)) = one.iter().find(|(n, _)| n == name).filter(|(_, v)| !v.is_empty()) {
                    labels.push((name.clone(), v.clone()));
                }
            }
            labels.sort();
        }
    }
    labels
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(labels: &[(&str, &str)], value: f64) -> Sample {
        Sample { labels: labels.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect(), value }
    }

    #[test]
    fn one_to_one_on() {
        let spec = MatchSpec { op: BinOp::Div, modifier: BinOpModifier { on: true, matching: Some(vec!["app".into()]), ..Default::default() } };
        let l = vec![s(&[("app", "a"), ("x", "1")], 10.0), s(&[("app", "b")], 1.0)];
        let r = vec![s(&[("app", "a"), ("y", "2")], 4.0)];
        let out = combine(&spec, &l, &r).unwrap();
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].labels, vec![("app".to_string(), "a".to_string())]);
        assert_eq!(out[0].value, 2.5);
    }

    #[test]
    fn set_operators_and_errors() {
        let and = MatchSpec { op: BinOp::And, modifier: BinOpModifier::default() };
        let l = vec![s(&[("a", "1")], 1.0), s(&[("a", "2")], 2.0)];
        let r = vec![s(&[("a", "2")], 9.0)];
        assert_eq!(combine(&and, &l, &r).unwrap()[0].value, 2.0);
        let unless = MatchSpec { op: BinOp::Unless, modifier: BinOpModifier::default() };
        assert_eq!(combine(&unless, &l, &r).unwrap()[0].value, 1.0);
        let add = MatchSpec { op: BinOp::Add, modifier: BinOpModifier { on: true, matching: Some(vec![]), ..Default::default() } };
        assert!(combine(&add, &l, &r).unwrap_err().starts_with("multiple matches for labels"));
    }
}
