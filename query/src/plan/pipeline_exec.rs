//! The log pipeline as a DataFusion operator: [`LogPipelineNode`] in logical plans,
//! [`LogPipelineExec`] in physical plans.
//!
//! Input: rows of the entry schema (`stream_id`, `ts`, `line`, `metadata`) that passed the
//! scan's filters. Each row gets its stream's labels and its structured metadata, runs
//! through the [`Pipeline`], and comes out either as a log entry ([`entries_schema`]: the
//! possibly rewritten line and its labels by category) or as a sample ([`samples_schema`]:
//! series labels, timestamp, value) for a range aggregation.

use std::collections::HashMap;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, LazyLock};

use arrow::array::{Array, ArrayRef, Float64Builder, Int64Array, Int64Builder, MapArray, RecordBatch, StringArray, StringBuilder, UInt64Array, UInt64Builder};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::common::{DFSchema, DFSchemaRef, DataFusionError, Result as DfResult};
use datafusion::execution::TaskContext;
use datafusion::logical_expr::{Expr, LogicalPlan, UserDefinedLogicalNodeCore};
use datafusion::physical_expr::{EquivalenceProperties, PhysicalExpr};
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{DisplayAs, DisplayFormatType, ExecutionPlan, PlanProperties, SendableRecordBatchStream};
use futures::StreamExt;
use store::labels::render_pairs;
use store::schema::{LINE, METADATA, STREAM_ID, TS};

use super::overlap::OverlapDedup;
use crate::logql::ast::{Grouping, UnwrapConversion};
use crate::pipeline::Pipeline;
use crate::pipeline::convert::{parse_bytes, parse_duration_secs, parse_float};
use crate::pipeline::label_filter::Filter;
use crate::pipeline::labels::{ERROR, ERROR_DETAILS, LabelsBuilder, Pairs};

/// Column of the series labels (`{a="b"}` text) in sample and vector batches.
pub const SERIES: &str = "series";
/// Column of sample values.
pub const VALUE: &str = "value";
/// Columns of the entries output: visible stream labels, metadata, parsed labels.
pub const STREAM_LABELS: &str = "stream_labels";
/// See [`STREAM_LABELS`].
pub const METADATA_LABELS: &str = "metadata_labels";
/// See [`STREAM_LABELS`].
pub const PARSED_LABELS: &str = "parsed_labels";

/// `__error__` value of a failed `unwrap` conversion.
pub const SAMPLE_ERR: &str = "SampleExtractionErr";

/// Schema of log entries after the pipeline.
pub fn entries_schema() -> SchemaRef {
    static S: LazyLock<SchemaRef> = LazyLock::new(|| {
        Arc::new(Schema::new(vec![
            Field::new(STREAM_ID, DataType::UInt64, false),
            Field::new(TS, DataType::Int64, false),
            Field::new(LINE, DataType::Utf8, false),
            Field::new(STREAM_LABELS, DataType::Utf8, false),
            Field::new(METADATA_LABELS, DataType::Utf8, false),
            Field::new(PARSED_LABELS, DataType::Utf8, false),
        ]))
    });
    Arc::clone(&S)
}

/// Schema of samples and of instant vectors: series labels, timestamp (ns), value.
pub fn samples_schema() -> SchemaRef {
    static S: LazyLock<SchemaRef> = LazyLock::new(|| {
        Arc::new(Schema::new(vec![
            Field::new(SERIES, DataType::Utf8, false),
            Field::new(TS, DataType::Int64, false),
            Field::new(VALUE, DataType::Float64, false),
        ]))
    });
    Arc::clone(&S)
}

/// What a sample's value is.
#[derive(Debug, Clone, PartialEq)]
pub enum SampleValue {
    /// 1 per line (`count_over_time`, `rate`).
    Count,
    /// The line's length in bytes after the pipeline (`bytes_over_time`, `bytes_rate`).
    LineBytes,
    /// `unwrap label` with an optional conversion.
    Unwrap {
        /// The label read.
        label: String,
        /// `bytes()`, `duration()`, `duration_seconds()` or plain.
        conversion: Option<UnwrapConversion>,
    },
}

/// How lines become samples.
#[derive(Debug, Clone)]
pub struct SampleSpec {
    /// The value of each sample.
    pub value: SampleValue,
    /// Labels kept in the series (range-aggregation grouping, or a `sum` grouping pushed down).
    pub grouping: Option<Grouping>,
    /// Label filters after `unwrap`.
    pub post_filters: Vec<Filter>,
}

/// What the operator emits.
#[derive(Debug, Clone)]
pub enum PipelineOutput {
    /// Log entries ([`entries_schema`]).
    Entries,
    /// Samples ([`samples_schema`]).
    Samples(SampleSpec),
}

/// Everything the operator needs besides its input.
#[derive(Debug)]
pub struct PipelineSpec {
    /// The compiled pipeline (scan filters excluded: the input already applied them).
    pub pipeline: Pipeline,
    /// Stream labels by stream id.
    pub streams: HashMap<u64, Arc<Pairs>>,
    /// Entries or samples.
    pub output: PipelineOutput,
    /// A short description for EXPLAIN.
    pub describe: String,
    /// Where copies of an entry may be read twice (metric queries; see `plan::overlap`):
    /// rows it has seen before are skipped.
    pub dedup: Option<Arc<OverlapDedup>>,
}

impl PipelineSpec {
    fn schema(&self) -> SchemaRef {
        match self.output {
            PipelineOutput::Entries => entries_schema(),
            PipelineOutput::Samples(_) => samples_schema(),
        }
    }
}

/// The logical plan node.
#[derive(Debug, Clone)]
pub struct LogPipelineNode {
    input: LogicalPlan,
    spec: Arc<PipelineSpec>,
    schema: DFSchemaRef,
}

impl LogPipelineNode {
    /// A node running `spec` over `input`.
    pub fn new(input: LogicalPlan, spec: Arc<PipelineSpec>) -> DfResult<LogPipelineNode> {
        let schema = Arc::new(DFSchema::try_from(spec.schema().as_ref().clone())?);
        Ok(LogPipelineNode { input, spec, schema })
    }

    /// The operator's specification.
    pub fn spec(&self) -> &Arc<PipelineSpec> {
        &self.spec
    }
}

impl PartialEq for LogPipelineNode {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.spec, &other.spec) && self.input == other.input
    }
}

impl Eq for LogPipelineNode {}

impl PartialOrd for LogPipelineNode {
    /// Nodes are not ordered; only equal ones compare.
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        (self == other).then_some(std::cmp::Ordering::Equal)
    }
}

impl Hash for LogPipelineNode {
    fn hash<H: Hasher>(&self, state: &mut H) {
        (Arc::as_ptr(&self.spec) as usize).hash(state);
    }
}

impl UserDefinedLogicalNodeCore for LogPipelineNode {
    fn name(&self) -> &str {
        "LogPipeline"
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
        write!(f, "LogPipeline: {}", self.spec.describe)
    }

    fn with_exprs_and_inputs(&self, _exprs: Vec<Expr>, mut inputs: Vec<LogicalPlan>) -> DfResult<Self> {
        let input = inputs.pop().ok_or_else(|| DataFusionError::Internal("LogPipeline needs one input".into()))?;
        Ok(LogPipelineNode { input, spec: Arc::clone(&self.spec), schema: Arc::clone(&self.schema) })
    }
}

/// The physical operator.
#[derive(Debug)]
pub struct LogPipelineExec {
    input: Arc<dyn ExecutionPlan>,
    spec: Arc<PipelineSpec>,
    props: Arc<PlanProperties>,
}

impl LogPipelineExec {
    /// An operator running `spec` over `input`, partition by partition.
    pub fn new(input: Arc<dyn ExecutionPlan>, spec: Arc<PipelineSpec>) -> LogPipelineExec {
        let props = PlanProperties::new(
            EquivalenceProperties::new(spec.schema()),
            input.properties().output_partitioning().clone(),
            EmissionType::Incremental,
            Boundedness::Bounded,
        );
        LogPipelineExec { input, spec, props: Arc::new(props) }
    }
}

impl DisplayAs for LogPipelineExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "LogPipelineExec: {}", self.spec.describe)
    }
}

impl ExecutionPlan for LogPipelineExec {
    fn name(&self) -> &str {
        "LogPipelineExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.props
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.input]
    }

    fn apply_expressions(&self, _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> DfResult<TreeNodeRecursion>) -> DfResult<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn with_new_children(self: Arc<Self>, mut children: Vec<Arc<dyn ExecutionPlan>>) -> DfResult<Arc<dyn ExecutionPlan>> {
        let input = children.pop().ok_or_else(|| DataFusionError::Internal("LogPipelineExec needs one input".into()))?;
        Ok(Arc::new(LogPipelineExec::new(input, Arc::clone(&self.spec))))
    }

    fn execute(&self, partition: usize, context: Arc<TaskContext>) -> DfResult<SendableRecordBatchStream> {
        let input = self.input.execute(partition, context)?;
        let spec = Arc::clone(&self.spec);
        let schema = spec.schema();
        let mut runner = Runner { spec, lbs: LabelsBuilder::default(), metadata: Vec::new() };
        let stream = input.map(move |batch| batch.and_then(|b| runner.batch(&b)));
        Ok(Box::pin(RecordBatchStreamAdapter::new(schema, stream)))
    }
}

/// Per-partition state: the labels builder is reused across rows.
struct Runner {
    spec: Arc<PipelineSpec>,
    lbs: LabelsBuilder,
    metadata: Pairs,
}

fn df_err(msg: impl Into<String>) -> DataFusionError {
    DataFusionError::Internal(msg.into())
}

fn utf8(array: &ArrayRef) -> DfResult<ArrayRef> {
    if array.data_type() == &DataType::Utf8 { Ok(Arc::clone(array)) } else { Ok(cast(array, &DataType::Utf8)?) }
}

impl Runner {
    fn batch(&mut self, batch: &RecordBatch) -> DfResult<RecordBatch> {
        let ids = batch.column_by_name(STREAM_ID).and_then(|c| c.as_any().downcast_ref::<UInt64Array>()).ok_or_else(|| df_err("stream_id"))?;
        let ts = batch.column_by_name(TS).and_then(|c| c.as_any().downcast_ref::<Int64Array>()).ok_or_else(|| df_err("ts"))?;
        let lines = utf8(batch.column_by_name(LINE).ok_or_else(|| df_err("line"))?)?;
        let lines = lines.as_any().downcast_ref::<StringArray>().ok_or_else(|| df_err("line type"))?;
        let meta = batch.column_by_name(METADATA).and_then(|c| c.as_any().downcast_ref::<MapArray>());
        let (keys, values) = match meta {
            Some(m) => (Some(utf8(m.keys())?), Some(utf8(m.values())?)),
            None => (None, None),
        };
        let keys = keys.as_ref().and_then(|k| k.as_any().downcast_ref::<StringArray>());
        let values = values.as_ref().and_then(|v| v.as_any().downcast_ref::<StringArray>());
        let spec = Arc::clone(&self.spec);
        let empty: Arc<Pairs> = Arc::new(Vec::new());
        let mut out = Output::new(&spec.output, batch.num_rows());
        for i in 0..batch.num_rows() {
            self.metadata.clear();
            if let (Some(m), Some(k), Some(v)) = (meta, keys, values)
                && m.is_valid(i)
            {
                let offsets = m.value_offsets();
                for j in offsets[i] as usize..offsets[i + 1] as usize {
                    if k.is_valid(j) && v.is_valid(j) {
                        self.metadata.push((k.value(j).to_string(), v.value(j).to_string()));
                    }
                }
            }
            let base = spec.streams.get(&ids.value(i)).unwrap_or(&empty);
            self.lbs.reset(base, &self.metadata);
            let line = if lines.is_valid(i) { lines.value(i) } else { "" };
            if let Some(d) = &spec.dedup
                && !d.first(ids.value(i), ts.value(i), line)
            {
                continue;
            }
            let Some(line) = spec.pipeline.process(line, ts.value(i), &mut self.lbs) else { continue };
            match &spec.output {
                PipelineOutput::Entries => out.entry(ids.value(i), ts.value(i), &line, &self.lbs),
                PipelineOutput::Samples(s) => {
                    if let Some((series, value)) = sample(s, &line, &mut self.lbs) {
                        out.sample(&series, ts.value(i), value);
                    }
                }
            }
        }
        out.finish()
    }
}

/// The series labels and value of a line, or `None` when it yields no sample.
fn sample(spec: &SampleSpec, line: &str, lbs: &mut LabelsBuilder) -> Option<(String, f64)> {
    let value = match &spec.value {
        SampleValue::Count => 1.0,
        SampleValue::LineBytes => line.len() as f64,
        SampleValue::Unwrap { label, conversion } => {
            let raw = lbs.get(label).filter(|v| !v.is_empty())?.to_string();
            let parsed = match conversion {
                None => parse_float(&raw),
                Some(UnwrapConversion::Bytes) => parse_bytes(&raw),
                Some(UnwrapConversion::Duration | UnwrapConversion::DurationSeconds) => parse_duration_secs(&raw),
            };
            match parsed {
                Ok(v) => v,
                Err(details) => {
                    lbs.set_error(SAMPLE_ERR, details);
                    0.0
                }
            }
        }
    };
    for f in &spec.post_filters {
        if !f.test(lbs) {
            return None;
        }
    }
    let unwrapped = match &spec.value {
        SampleValue::Unwrap { label, .. } => Some(label.as_str()),
        _ => None,
    };
    Some((render_pairs(&series_labels(lbs, spec.grouping.as_ref(), unwrapped)), value))
}

/// The labels a sample's series carries.
///
/// * `by (l...)`: the listed labels that are present; but a line with an error keeps
///   every label, so the error cannot be grouped away;
/// * `without (l...)` or no grouping: every label except those listed and the unwrapped one.
pub fn series_labels(lbs: &LabelsBuilder, grouping: Option<&Grouping>, unwrapped: Option<&str>) -> Pairs {
    match grouping {
        Some(g) if !g.without && !lbs.has_error() => {
            let mut out: Pairs = g.labels.iter().filter_map(|n| lbs.get(n).map(|v| (n.clone(), v.to_string()))).collect();
            out.sort();
            out.dedup_by(|a, b| a.0 == b.0);
            out
        }
        Some(g) if !g.without => lbs.pairs(),
        _ => {
            let removed: &[String] = grouping.map(|g| g.labels.as_slice()).unwrap_or(&[]);
            lbs.pairs()
                .into_iter()
                .filter(|(n, _)| Some(n.as_str()) != unwrapped && !removed.contains(n) || n == ERROR || n == ERROR_DETAILS)
                .collect()
        }
    }
}

/// Builds the output batch (one per input batch, so the size difference does not matter).
#[allow(clippy::large_enum_variant)]
enum Output {
    Entries { ids: UInt64Builder, ts: Int64Builder, line: StringBuilder, stream: StringBuilder, meta: StringBuilder, parsed: StringBuilder },
    Samples { series: StringBuilder, ts: Int64Builder, value: Float64Builder },
}

impl Output {
    fn new(kind: &PipelineOutput, rows: usize) -> Output {
        match kind {
            PipelineOutput::Entries => Output::Entries {
                ids: UInt64Builder::with_capacity(rows),
                ts: Int64Builder::with_capacity(rows),
                line: StringBuilder::new(),
                stream: StringBuilder::new(),
                meta: StringBuilder::new(),
                parsed: StringBuilder::new(),
            },
            PipelineOutput::Samples(_) => Output::Samples {
                series: StringBuilder::new(),
                ts: Int64Builder::with_capacity(rows),
                value: Float64Builder::with_capacity(rows),
            },
        }
    }

    fn entry(&mut self, id: u64, t: i64, l: &str, lbs: &LabelsBuilder) {
        if let Output::Entries { ids, ts, line, stream, meta, parsed } = self {
            let c = lbs.categorized();
            ids.append_value(id);
            ts.append_value(t);
            line.append_value(l);
            stream.append_value(render_pairs(&c.stream));
            meta.append_value(render_pairs(&c.metadata));
            parsed.append_value(render_pairs(&c.parsed));
        }
    }

    fn sample(&mut self, s: &str, t: i64, v: f64) {
        if let Output::Samples { series, ts, value } = self {
            series.append_value(s);
            ts.append_value(t);
            value.append_value(v);
        }
    }

    fn finish(self) -> DfResult<RecordBatch> {
        Ok(match self {
            Output::Entries { mut ids, mut ts, mut line, mut stream, mut meta, mut parsed } => RecordBatch::try_new(
                entries_schema(),
                vec![
                    Arc::new(ids.finish()),
                    Arc::new(ts.finish()),
                    Arc::new(line.finish()),
                    Arc::new(stream.finish()),
                    Arc::new(meta.finish()),
                    Arc::new(parsed.finish()),
                ],
            )?,
            Output::Samples { mut series, mut ts, mut value } => {
                RecordBatch::try_new(samples_schema(), vec![Arc::new(series.finish()), Arc::new(ts.finish()), Arc::new(value.finish())])?
            }
        })
    }
}
