//! LogQL log query -> DataFusion logical plan.
//!
//! ```text
//!   Sort(ts DESC|ASC, stream_id, line; fetch = limit)
//!     Filter(stream_id IN (...) AND ts >= start AND ts < end AND <line filters>)
//!       Union
//!         TableScan chunks   (ChunkTable: Parquet files of the snapshot)
//!         TableScan heads    (HeadTable: unflushed head batches)
//! ```
//!
//! DataFusion's optimizer pushes the filter below the union into both scans (and, through
//! its physical filter-pushdown rule, into the Parquet reader), and turns the sort with a
//! fetch into a per-partition top-k whose dynamic bound also prunes Parquet row groups.

pub mod extension;
pub mod filters;
pub mod ip;
pub mod line_udf;
pub mod metric;
pub mod metric_udf;
pub mod ops;
pub mod overlap;
pub mod pattern_udf;
pub mod pipeline_exec;
pub mod range_exec;
pub mod skip_grams;
pub mod vector_match;

use std::sync::Arc;

use datafusion::catalog::default_table_source::provider_as_source;
use datafusion::logical_expr::{Expr, Extension, LogicalPlan, LogicalPlanBuilder, lit};
use datafusion::prelude::col;
use store::schema::{LINE, STREAM_ID, TS};
use store::labels::StreamId;
use store::view::ReadSnapshot;

use crate::error::QueryError;
use crate::logql::ast::LineFilter;
use crate::params::Direction;
use crate::table::chunks::RowGroupIndex;
use crate::table::{ChunkTable, HeadTable};
use pipeline_exec::{LogPipelineNode, PipelineSpec};

/// What a log query asks of the data, once parsed and validated.
#[derive(Debug, Clone)]
pub struct LogQuery {
    /// Line filters, all of which must pass.
    pub filters: Vec<LineFilter>,
    /// Inclusive start (ns).
    pub start: i64,
    /// Exclusive end (ns).
    pub end: i64,
    /// Newest first (backward) or oldest first (forward).
    pub direction: Direction,
}

/// How scans are built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScanOptions {
    /// Parallelism of head partitions.
    pub partitions: usize,
    /// Whether chunk scans skip row groups by their skip filters.
    pub skip_filters: bool,
}

/// The scan of a snapshot: chunk files and head batches, filtered by the snapshot's stream
/// ids, `[start, end)` and the line filters. `None` when there is nothing to read.
pub fn scan_plan(
    snapshot: &ReadSnapshot,
    filters: &[LineFilter],
    start: i64,
    end: i64,
    scan: ScanOptions,
) -> Result<Option<LogicalPlanBuilder>, QueryError> {
    if snapshot.streams.is_empty() || (snapshot.files.is_empty() && snapshot.heads.is_empty()) {
        return Ok(None);
    }
    let mut builder: Option<LogicalPlanBuilder> = None;
    if !snapshot.files.is_empty() {
        let requirement = if scan.skip_filters { skip_grams::required_grams(filters) } else { Vec::new() };
        let mut ids: Vec<StreamId> = snapshot.streams.iter().map(|(id, _)| *id).collect();
        ids.sort_unstable();
        let index = RowGroupIndex { groups: snapshot.row_groups.clone(), ids, start, end };
        let table = ChunkTable::new(snapshot.files.clone(), requirement, index)?;
        builder = Some(LogicalPlanBuilder::scan("chunks", provider_as_source(Arc::new(table)), None)?);
    }
    if snapshot.heads.iter().any(|b| b.num_rows() > 0) {
        let table = HeadTable::new(snapshot.heads.clone(), scan.partitions)?;
        let heads = LogicalPlanBuilder::scan("heads", provider_as_source(Arc::new(table)), None)?.build()?;
        builder = Some(match builder {
            Some(b) => b.union(heads)?,
            None => LogicalPlanBuilder::from(heads),
        });
    }
    let Some(builder) = builder else { return Ok(None) };
    Ok(Some(builder.filter(predicate(snapshot, filters, start, end)?)?))
}

/// The sort of a log query: by time in the query's direction, then stream and line so that
/// ties are deterministic; `fetch` caps the output.
fn log_sort(builder: LogicalPlanBuilder, direction: Direction, fetch: Option<usize>) -> Result<LogicalPlan, QueryError> {
    let descending = direction == Direction::Backward;
    let sort = vec![
        col(TS).sort(!descending, false),
        col(STREAM_ID).sort(true, false),
        col(LINE).sort(true, false),
    ];
    Ok(builder.sort_with_limit(sort, fetch)?.build()?)
}

/// Builds the plan over `snapshot`; `None` when there is nothing to read. With `pipeline`,
/// the stages after the scan's line filters (parsers, label filters, formatting) run in a
/// [`LogPipelineNode`] between the scan and the sort. `fetch` caps the sorted output (the
/// query limit), `None` leaves it uncapped.
pub fn build_log_plan(
    snapshot: &ReadSnapshot,
    query: &LogQuery,
    pipeline: Option<&Arc<PipelineSpec>>,
    fetch: Option<usize>,
    options: ScanOptions,
) -> Result<Option<LogicalPlan>, QueryError> {
    let Some(scan) = scan_plan(snapshot, &query.filters, query.start, query.end, options)? else { return Ok(None) };
    let builder = match pipeline {
        Some(spec) => {
            let node = LogPipelineNode::new(scan.build()?, Arc::clone(spec))?;
            LogicalPlanBuilder::from(LogicalPlan::Extension(Extension { node: Arc::new(node) }))
        }
        None => scan,
    };
    Ok(Some(log_sort(builder, query.direction, fetch)?))
}

/// `stream_id IN (...) AND ts >= start AND ts < end AND <each line filter>`.
fn predicate(snapshot: &ReadSnapshot, filters: &[LineFilter], start: i64, end: i64) -> Result<Expr, QueryError> {
    let ids: Vec<Expr> = snapshot.streams.iter().map(|(id, _)| lit(id.0)).collect();
    let mut p = col(STREAM_ID).in_list(ids, false).and(col(TS).gt_eq(lit(start))).and(col(TS).lt(lit(end)));
    for f in filters {
        p = p.and(filters::line_filter_expr(f).map_err(QueryError::BadRequest)?);
    }
    if let Some(kept) = crate::deletes::not_deleted(&snapshot.deletes, &snapshot.streams) {
        p = p.and(kept);
    }
    Ok(p)
}
