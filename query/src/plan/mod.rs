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

pub mod filters;
pub mod ip;

use std::sync::Arc;

use datafusion::catalog::default_table_source::provider_as_source;
use datafusion::logical_expr::{Expr, LogicalPlan, LogicalPlanBuilder, lit};
use datafusion::prelude::col;
use store::schema::{LINE, STREAM_ID, TS};
use store::view::ReadSnapshot;

use crate::error::QueryError;
use crate::logql::ast::LineFilter;
use crate::params::Direction;
use crate::table::{ChunkTable, HeadTable};

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

/// Builds the plan over `snapshot`; `None` when there is nothing to read. `fetch` caps the
/// sorted output (the query limit), `None` leaves it uncapped.
pub fn build_log_plan(
    snapshot: &ReadSnapshot,
    query: &LogQuery,
    fetch: Option<usize>,
    partitions: usize,
) -> Result<Option<LogicalPlan>, QueryError> {
    if snapshot.streams.is_empty() || (snapshot.files.is_empty() && snapshot.heads.is_empty()) {
        return Ok(None);
    }
    let mut builder: Option<LogicalPlanBuilder> = None;
    if !snapshot.files.is_empty() {
        let table = ChunkTable::new(snapshot.files.clone())?;
        builder = Some(LogicalPlanBuilder::scan("chunks", provider_as_source(Arc::new(table)), None)?);
    }
    if snapshot.heads.iter().any(|b| b.num_rows() > 0) {
        let table = HeadTable::new(snapshot.heads.clone(), partitions)?;
        let heads = LogicalPlanBuilder::scan("heads", provider_as_source(Arc::new(table)), None)?.build()?;
        builder = Some(match builder {
            Some(b) => b.union(heads)?,
            None => LogicalPlanBuilder::from(heads),
        });
    }
    let Some(builder) = builder else { return Ok(None) };
    let predicate = predicate(snapshot, query)?;
    let descending = query.direction == Direction::Backward;
    let sort = vec![
        col(TS).sort(!descending, false),
        col(STREAM_ID).sort(true, false),
        col(LINE).sort(true, false),
    ];
    let plan = builder.filter(predicate)?.sort_with_limit(sort, fetch)?.build()?;
    Ok(Some(plan))
}

/// `stream_id IN (...) AND ts >= start AND ts < end AND <each line filter>`.
fn predicate(snapshot: &ReadSnapshot, query: &LogQuery) -> Result<Expr, QueryError> {
    let ids: Vec<Expr> = snapshot.streams.iter().map(|(id, _)| lit(id.0)).collect();
    let mut p = col(STREAM_ID)
        .in_list(ids, false)
        .and(col(TS).gt_eq(lit(query.start)))
        .and(col(TS).lt(lit(query.end)));
    for f in &query.filters {
        p = p.and(filters::line_filter_expr(f).map_err(QueryError::BadRequest)?);
    }
    Ok(p)
}
