//! Delete requests on the read path: a request's query (a stream selector with optional
//! line filters) becomes a predicate over stored rows. Queries exclude the rows it matches
//! from the moment the request is received, and the compactor evaluates the same predicate
//! ([`LogqlDeleteMatcher`]) to remove them from chunk files, so both agree on every line.

use std::collections::BTreeMap;

use arrow::array::{Array, BooleanArray, RecordBatch};
use datafusion::common::DFSchema;
use datafusion::execution::context::ExecutionProps;
use datafusion::logical_expr::{Expr, lit};
use datafusion::logical_expr::physical_planning_context::PhysicalPlanningContext;
use datafusion::physical_expr::create_physical_expr;
use datafusion::prelude::col;
use store::StoreError;
use store::deletes::{DeleteMatcher, DeleteRequest, RowTest};
use store::labels::{Labels, StreamId};
use store::matcher::{Matcher, matches_all};
use store::schema::{STREAM_ID, TS};

use crate::QueryError;
use crate::logql::ast::{Expr as LogqlExpr, LineFilter, Stage};
use crate::plan::filters::line_filter_expr;

/// A delete request's query, parsed.
#[derive(Debug, Clone)]
pub struct DeleteQuery {
    /// The stream selector.
    pub matchers: Vec<Matcher>,
    /// Line filters, all of which must pass for a line to be deleted.
    pub filters: Vec<LineFilter>,
}

/// Parses a delete request's query: a log selector with nothing but line filters after it.
pub fn parse_delete_query(query: &str) -> Result<DeleteQuery, QueryError> {
    let expr = crate::logql::parser::parse(query).map_err(|e| QueryError::BadRequest(e.to_string()))?;
    crate::pipeline::check::check_expr(&expr).map_err(|e| QueryError::BadRequest(e.to_string()))?;
    let LogqlExpr::Log(log) = expr else {
        return Err(QueryError::BadRequest("invalid query expression: a delete query is a log selector with optional line filters".into()));
    };
    let mut filters = Vec::new();
    for stage in log.pipeline {
        match stage {
            Stage::LineFilter(f) => filters.push(f),
            _ => return Err(QueryError::BadRequest("invalid query expression: only line filters may follow the selector of a delete query".into())),
        }
    }
    Ok(DeleteQuery { matchers: log.matchers, filters })
}

/// The rows `request` deletes among `streams`: `None` when it matches none of them.
pub fn deleted_expr(request: &DeleteRequest, streams: &[(StreamId, Labels)]) -> Option<Expr> {
    let q = parse_delete_query(&request.query).ok()?;
    let ids: Vec<Expr> = streams.iter().filter(|(_, l)| matches_all(&q.matchers, l)).map(|(id, _)| lit(id.0)).collect();
    if ids.is_empty() {
        return None;
    }
    let mut e = col(STREAM_ID).in_list(ids, false).and(col(TS).gt_eq(lit(request.start_ns))).and(col(TS).lt_eq(lit(request.end_ns)));
    for f in &q.filters {
        e = e.and(line_filter_expr(f).ok()?);
    }
    Some(e)
}

/// The predicate rows must fail to be returned: none of `deletes` may match them.
pub fn not_deleted(deletes: &[DeleteRequest], streams: &[(StreamId, Labels)]) -> Option<Expr> {
    deletes.iter().filter_map(|d| deleted_expr(d, streams)).reduce(Expr::or).map(|e| !e)
}

/// Evaluates delete requests on chunk batches for the compactor, with the querier's own
/// predicate.
#[derive(Debug, Default)]
pub struct LogqlDeleteMatcher;

fn df_err(e: datafusion::error::DataFusionError) -> StoreError {
    StoreError::Io(std::io::Error::other(e.to_string()))
}

impl DeleteMatcher for LogqlDeleteMatcher {
    fn prepare(&self, request: &DeleteRequest, labels: &BTreeMap<StreamId, Labels>) -> Result<RowTest, StoreError> {
        let streams: Vec<(StreamId, Labels)> = labels.iter().map(|(id, l)| (*id, l.clone())).collect();
        let Some(expr) = deleted_expr(request, &streams) else {
            return Ok(Box::new(|batch: &RecordBatch| Ok(BooleanArray::from(vec![false; batch.num_rows()]))));
        };
        let schema = DFSchema::try_from(store::schema::entry_schema().as_ref().clone()).map_err(df_err)?;
        let physical = create_physical_expr(&expr, &schema, &ExecutionProps::new(), &PhysicalPlanningContext::default()).map_err(df_err)?;
        Ok(Box::new(move |batch: &RecordBatch| {
            let values = physical.evaluate(batch).map_err(df_err)?.into_array(batch.num_rows()).map_err(df_err)?;
            let mask = values
                .as_any()
                .downcast_ref::<BooleanArray>()
                .ok_or_else(|| StoreError::Io(std::io::Error::other("a delete predicate is not boolean")))?;
            // A null (never expected: lines are not null) keeps the row.
            Ok(mask.iter().map(|v| Some(v.unwrap_or(false))).collect())
        }))
    }
}
