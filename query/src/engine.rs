//! Runs log queries through DataFusion and turns the sorted output into entries.
//!
//! One [`Engine`] (one DataFusion `SessionContext`) serves every request: the chunk object
//! store is registered once under [`CHUNKS_URL`], so Parquet footers and page indexes stay
//! in DataFusion's metadata cache between queries. Per query, [`build_log_plan`] creates
//! fresh table providers over the request's snapshot.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, Float64Array, Int64Array, MapArray, RecordBatch, StringArray, UInt64Array};
use arrow::compute::cast;
use arrow::datatypes::DataType;
use datafusion::execution::object_store::ObjectStoreUrl;
use datafusion::execution::SessionStateBuilder;
use datafusion::execution::runtime_env::{RuntimeEnv, RuntimeEnvBuilder};
use datafusion::logical_expr::LogicalPlan;
use datafusion::prelude::{SessionConfig, SessionContext};
use futures::StreamExt;
use object_store::ObjectStore;
use store::labels::{StreamId, parse_pairs};
use store::schema::{LINE, METADATA, STREAM_ID, TS};
use store::view::ReadSnapshot;

use crate::error::QueryError;
use crate::params::Direction;
use crate::pipeline::labels::Pairs;
use crate::plan::extension::SkaldQueryPlanner;
use crate::plan::pipeline_exec::{METADATA_LABELS, PARSED_LABELS, PipelineSpec, SERIES, STREAM_LABELS, VALUE};
use crate::plan::{LogQuery, ScanOptions, build_log_plan};
use crate::table::CHUNKS_URL;

/// How many times a query is re-run with a larger fetch when duplicates ate into the limit.
const MAX_REFETCH: usize = 4;

/// One log entry of a result, before grouping into streams.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogRow {
    /// The stream it belongs to.
    pub stream: StreamId,
    /// Timestamp (ns).
    pub ts: i64,
    /// The line.
    pub line: String,
    /// Structured metadata, in stored order (empty when `labels` is set).
    pub metadata: Vec<(String, String)>,
    /// The labels a pipeline left, when the query had one.
    pub labels: Option<Box<EntryLabels>>,
}

/// The labels of an entry after a log pipeline, by Loki's categories (each sorted).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EntryLabels {
    /// Stream labels still visible.
    pub stream: Pairs,
    /// Structured metadata still visible.
    pub metadata: Pairs,
    /// Labels set by parsers and `label_format`, with `__error__` / `__error_details__`.
    pub parsed: Pairs,
}

/// One series of a metric result: its labels and points (ns, value) in time order.
#[derive(Debug, Clone, PartialEq)]
pub struct SeriesResult {
    /// Labels, sorted by name.
    pub labels: Pairs,
    /// Points in ascending time.
    pub points: Vec<(i64, f64)>,
}

/// The shared DataFusion session of the query path.
pub struct Engine {
    ctx: SessionContext,
    scan: ScanOptions,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine").field("scan", &self.scan).finish()
    }
}

impl Engine {
    /// A session reading chunk files from `object_store`, with no memory limit.
    pub fn new(object_store: Arc<dyn ObjectStore>) -> Engine {
        Engine::with_memory_limit(object_store, 0)
    }

    /// A session whose queries together may hold at most `memory_limit` bytes in operators
    /// that account for memory (0: unlimited).
    pub fn with_memory_limit(object_store: Arc<dyn ObjectStore>, memory_limit: usize) -> Engine {
        let partitions = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2);
        let config = SessionConfig::new().with_target_partitions(partitions);
        let mut runtime = RuntimeEnvBuilder::new();
        if memory_limit > 0 {
            runtime = runtime.with_memory_limit(memory_limit, 1.0);
        }
        let runtime = match runtime.build_arc() {
            Ok(r) => r,
            Err(e) => {
                tracing::error!(error = %e, "cannot build the DataFusion runtime; running without a memory limit");
                Arc::new(RuntimeEnv::default())
            }
        };
        let state = SessionStateBuilder::new()
            .with_config(config)
            .with_runtime_env(runtime)
            .with_default_features()
            .with_query_planner(Arc::new(SkaldQueryPlanner))
            .build();
        let ctx = SessionContext::new_with_state(state);
        match ObjectStoreUrl::parse(CHUNKS_URL) {
            Ok(url) => {
                ctx.register_object_store(url.as_ref(), object_store);
            }
            // CHUNKS_URL is a constant valid URL; this cannot happen.
            Err(e) => tracing::error!(error = %e, "cannot register the chunk object store"),
        }
        Engine { ctx, scan: ScanOptions { partitions, skip_filters: true } }
    }

    /// Whether scans use the chunk files' skip filters (default true).
    pub fn with_skip_filters(mut self, on: bool) -> Engine {
        self.scan.skip_filters = on;
        self
    }

    /// The DataFusion session (for explain and tests).
    pub fn session(&self) -> &SessionContext {
        &self.ctx
    }

    /// How scans are built (parallelism, skip filters).
    pub fn scan_options(&self) -> ScanOptions {
        self.scan
    }

    /// Runs a log query: at most `limit` entries across all streams, in `query.direction`
    /// order, exact duplicates (same stream, timestamp, line and labels) dropped, and with
    /// `interval > 0` at most one entry per interval. `pipeline` runs the stages after the
    /// scan's line filters, when there are any.
    pub async fn log_query(
        &self,
        snapshot: &ReadSnapshot,
        query: &LogQuery,
        pipeline: Option<Arc<PipelineSpec>>,
        limit: usize,
        interval: i64,
    ) -> Result<Vec<LogRow>, QueryError> {
        let mut fetch = if interval > 0 { None } else { Some(limit) };
        for attempt in 1..=MAX_REFETCH {
            if attempt == MAX_REFETCH {
                // Last round: no cap, so the answer is complete however many duplicates exist.
                fetch = None;
            }
            let Some(plan) = build_log_plan(snapshot, query, pipeline.as_ref(), fetch, self.scan)? else {
                return Ok(Vec::new());
            };
            let mut stream = self.ctx.execute_logical_plan(plan).await?.execute_stream().await?;
            let mut out: Vec<LogRow> = Vec::new();
            let mut seen: HashSet<(StreamId, i64, String, Option<Box<EntryLabels>>)> = HashSet::new();
            let mut raw = 0usize;
            let mut last_ts: Option<i64> = None;
            while let Some(batch) = stream.next().await {
                for row in batch_rows(&batch?)? {
                    raw += 1;
                    if !seen.insert((row.stream, row.ts, row.line.clone(), row.labels.clone())) {
                        continue;
                    }
                    if interval > 0 {
                        if let Some(last) = last_ts {
                            let due = match query.direction {
                                Direction::Forward => row.ts >= last.saturating_add(interval),
                                Direction::Backward => row.ts <= last.saturating_sub(interval),
                            };
                            if !due {
                                continue;
                            }
                        }
                        last_ts = Some(row.ts);
                    }
                    out.push(row);
                    if out.len() >= limit {
                        return Ok(out);
                    }
                }
            }
            match fetch {
                // Duplicates were dropped and the fetch was exhausted: more rows may exist.
                Some(f) if raw >= f && out.len() < limit => fetch = Some(f.saturating_mul(2)),
                _ => return Ok(out),
            }
        }
        // The last round runs uncapped and always returns.
        Ok(Vec::new())
    }

    /// The optimized logical plan and the physical plan of `plan`, as indented text.
    pub async fn explain(&self, plan: LogicalPlan) -> Result<String, QueryError> {
        let df = self.ctx.execute_logical_plan(plan).await?;
        let logical = df.clone().into_optimized_plan()?;
        let physical = df.create_physical_plan().await?;
        Ok(format!(
            "== logical plan ==\n{}\n\n== physical plan ==\n{}",
            logical.display_indent(),
            datafusion::physical_plan::displayable(physical.as_ref()).indent(true)
        ))
    }

    /// Runs a metric plan (`series`, `ts`, `value` rows) and gathers its series, sorted by
    /// labels; more than `max_series` distinct series is an error (0 disables the limit).
    pub async fn metric_query(&self, plan: LogicalPlan, max_series: usize) -> Result<Vec<SeriesResult>, QueryError> {
        let mut stream = self.ctx.execute_logical_plan(plan).await?.execute_stream().await?;
        let mut index: HashMap<String, usize> = HashMap::new();
        let mut out: Vec<SeriesResult> = Vec::new();
        while let Some(batch) = stream.next().await {
            let batch = batch?;
            let series = as_utf8(batch.column_by_name(SERIES).ok_or_else(|| missing(SERIES))?)?;
            let series = strings(&series)?;
            let ts = column::<Int64Array>(&batch, TS)?;
            let values = column::<Float64Array>(&batch, VALUE)?;
            for i in 0..batch.num_rows() {
                let key = series.value(i);
                let slot = match index.get(key) {
                    Some(slot) => *slot,
                    None => {
                        if max_series > 0 && out.len() >= max_series {
                            return Err(QueryError::BadRequest(format!("maximum of series ({max_series}) reached for a single query")));
                        }
                        let labels = parse_pairs(key).map_err(|e| QueryError::BadRequest(format!("internal: bad series labels {key}: {e}")))?;
                        out.push(SeriesResult { labels, points: Vec::new() });
                        index.insert(key.to_string(), out.len() - 1);
                        out.len() - 1
                    }
                };
                out[slot].points.push((ts.value(i), values.value(i)));
            }
        }
        for s in &mut out {
            s.points.sort_by_key(|p| p.0);
        }
        // Prometheus' `labels.Compare` is the order of sorted pair lists: pairwise by name,
        // then value; a prefix first.
        out.sort_by(|a, b| a.labels.cmp(&b.labels));
        Ok(out)
    }
}

fn missing(name: &str) -> QueryError {
    QueryError::Arrow(arrow::error::ArrowError::SchemaError(format!("missing column {name}")))
}

/// Parses a label column written by the pipeline operator.
fn pairs_at(array: &StringArray, i: usize) -> Result<Pairs, QueryError> {
    let text = if array.is_valid(i) { array.value(i) } else { "{}" };
    parse_pairs(text).map_err(|e| QueryError::BadRequest(format!("internal: bad labels {text}: {e}")))
}

fn column<'a, T: 'static>(batch: &'a RecordBatch, name: &str) -> Result<&'a T, QueryError> {
    batch
        .column_by_name(name)
        .and_then(|c| c.as_any().downcast_ref::<T>())
        .ok_or_else(|| QueryError::Arrow(arrow::error::ArrowError::SchemaError(format!("missing or mistyped column {name}"))))
}

fn as_utf8(array: &ArrayRef) -> Result<ArrayRef, QueryError> {
    if array.data_type() == &DataType::Utf8 { Ok(Arc::clone(array)) } else { Ok(cast(array, &DataType::Utf8)?) }
}

fn strings(array: &ArrayRef) -> Result<&StringArray, QueryError> {
    array
        .as_any()
        .downcast_ref::<StringArray>()
        .ok_or_else(|| QueryError::Arrow(arrow::error::ArrowError::SchemaError("expected a string column".into())))
}

/// The rows of one result batch: the scan's columns, or the pipeline operator's.
pub fn batch_rows(batch: &RecordBatch) -> Result<Vec<LogRow>, QueryError> {
    if batch.column_by_name(STREAM_LABELS).is_some() {
        return pipeline_rows(batch);
    }
    let ids = column::<UInt64Array>(batch, STREAM_ID)?;
    let ts = column::<Int64Array>(batch, TS)?;
    let line_col = batch
        .column_by_name(LINE)
        .ok_or_else(|| QueryError::Arrow(arrow::error::ArrowError::SchemaError("missing column line".into())))?;
    let lines = as_utf8(line_col)?;
    let lines = strings(&lines)?;
    let meta = column::<MapArray>(batch, METADATA)?;
    let keys = as_utf8(meta.keys())?;
    let keys = strings(&keys)?;
    let values = as_utf8(meta.values())?;
    let values = strings(&values)?;
    let offsets = meta.value_offsets();
    let mut out = Vec::with_capacity(batch.num_rows());
    for i in 0..batch.num_rows() {
        let mut metadata = Vec::new();
        if meta.is_valid(i) {
            let (from, to) = (offsets[i] as usize, offsets[i + 1] as usize);
            for j in from..to {
                if keys.is_valid(j) && values.is_valid(j) {
                    metadata.push((keys.value(j).to_string(), values.value(j).to_string()));
                }
            }
        }
        out.push(LogRow {
            stream: StreamId(ids.value(i)),
            ts: ts.value(i),
            line: if lines.is_valid(i) { lines.value(i).to_string() } else { String::new() },
            metadata,
            labels: None,
        });
    }
    Ok(out)
}

/// Rows of the pipeline operator's entries schema.
fn pipeline_rows(batch: &RecordBatch) -> Result<Vec<LogRow>, QueryError> {
    let ids = column::<UInt64Array>(batch, STREAM_ID)?;
    let ts = column::<Int64Array>(batch, TS)?;
    let lines = column::<StringArray>(batch, LINE)?;
    let stream = column::<StringArray>(batch, STREAM_LABELS)?;
    let meta = column::<StringArray>(batch, METADATA_LABELS)?;
    let parsed = column::<StringArray>(batch, PARSED_LABELS)?;
    let mut out = Vec::with_capacity(batch.num_rows());
    for i in 0..batch.num_rows() {
        out.push(LogRow {
            stream: StreamId(ids.value(i)),
            ts: ts.value(i),
            line: lines.value(i).to_string(),
            metadata: Vec::new(),
            labels: Some(Box::new(EntryLabels {
                stream: pairs_at(stream, i)?,
                metadata: pairs_at(meta, i)?,
                parsed: pairs_at(parsed, i)?,
            })),
        });
    }
    Ok(out)
}

/// What a snapshot held, for the `stats` block.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ScanStats {
    /// Head rows scanned.
    pub head_lines: u64,
    /// Bytes of head lines scanned.
    pub head_bytes: u64,
    /// Chunk rows of the matching streams in the files scanned.
    pub file_lines: u64,
    /// Compressed bytes of the files scanned.
    pub file_bytes: u64,
    /// Number of files.
    pub files: u64,
    /// Number of matching streams.
    pub streams: u64,
}

impl ScanStats {
    /// Adds the counts of another scan.
    pub fn add(&mut self, other: &ScanStats) {
        self.head_lines += other.head_lines;
        self.head_bytes += other.head_bytes;
        self.file_lines += other.file_lines;
        self.file_bytes += other.file_bytes;
        self.files += other.files;
        self.streams += other.streams;
    }

    /// Counts what `snapshot` hands the query.
    pub fn of(snapshot: &ReadSnapshot, start: i64, end: i64) -> ScanStats {
        let ids: HashSet<StreamId> = snapshot.streams.iter().map(|(id, _)| *id).collect();
        let mut s = ScanStats {
            files: snapshot.files.len() as u64,
            streams: ids.len() as u64,
            ..ScanStats::default()
        };
        for f in &snapshot.files {
            s.file_bytes += f.size;
            s.file_lines += f
                .streams
                .iter()
                .filter(|r| ids.contains(&r.id) && r.min_ts < end && r.max_ts >= start)
                .map(|r| r.rows)
                .sum::<u64>();
        }
        for b in &snapshot.heads {
            s.head_lines += b.num_rows() as u64;
            if let Some(a) = b.column_by_name(LINE).and_then(|c| c.as_any().downcast_ref::<StringArray>()) {
                s.head_bytes += a.value_data().len() as u64;
            }
        }
        s
    }
}
