//! Skald's read path: LogQL log queries executed through DataFusion, and the label and
//! series metadata endpoints, behind Loki's HTTP API.
//!
//! # Flow of a log query
//!
//! 1. [`router`] exposes `/loki/api/v1/{query_range,query,labels,label,label/{name}/values,series}`
//!    (GET and POST). The HTTP edge (`http`) resolves the tenant from `X-Scope-OrgID`,
//!    merges form body and URL parameters and parses them as Loki does ([`params`]).
//! 2. The query text is parsed by our own LogQL lexer and recursive-descent parser
//!    ([`logql`]) into an AST covering the whole grammar.
//! 3. The stream selector goes to the ingest side through
//!    [`IngestView::snapshot`](store::view::IngestView::snapshot), which returns the matching
//!    streams, the Parquet chunk files that may hold their rows, and the unflushed head rows,
//!    never overlapping.
//! 4. [`plan`] builds a DataFusion logical plan: a union of two table providers ([`table`]:
//!    [`ChunkTable`](table::ChunkTable) over the files via DataFusion's Parquet scan, and
//!    [`HeadTable`](table::HeadTable) over the head batches), filtered by stream ids, the
//!    `[start, end)` window and the line filters, sorted by timestamp in the requested
//!    direction with the limit as fetch (a top-k). DataFusion pushes the predicate into the
//!    Parquet reader (row-group and page pruning, late materialization).
//! 5. [`engine`] runs the plan on a shared `SessionContext`, drops exact duplicates, and
//!    [`response`] groups entries into streams (folding structured metadata into the labels,
//!    or categorizing it when `X-Loki-Response-Encoding-Flags: categorize-labels` is sent)
//!    and writes Loki's JSON with a `stats` block.
//!
//! Stages after the leading line filters run in the [`LogPipelineNode`](plan::pipeline_exec::LogPipelineNode)
//! ([`pipeline`], [`template`]). Metric queries are planned by [`plan::metric`] into range
//! aggregation, vector matching and DataFusion aggregate nodes and answered as Loki's
//! matrix, vector or scalar.
//!
//! Metadata endpoints take a snapshot without data and read only the stream label sets.
//! Every failure is a [`QueryError`], mapped to Loki's status and plain-text message in
//! one place.

#![warn(missing_docs)]

pub mod deletes;
pub mod engine;
pub mod error;
mod http;
pub mod logql;
pub mod metrics;
pub mod params;
pub mod pipeline;
pub mod plan;
pub mod response;
pub mod table;
pub mod template;

use std::sync::Arc;

pub use error::QueryError;

/// What the query API needs from the rest of the process.
pub struct QueryState {
    /// The ingest side: consistent snapshots of files and heads.
    pub view: Arc<dyn store::view::IngestView>,
    /// The object store holding chunk files (paths in the index are relative to its root).
    pub object_store: Arc<dyn object_store::ObjectStore>,
    /// Query limits (`max_entries_limit_per_query`, `max_query_length`).
    pub limits: store::limits::Limits,
    /// Whether `X-Scope-OrgID` is required (`auth_enabled`).
    pub auth_enabled: bool,
    /// Querier settings.
    pub querier: QuerierConfig,
}

/// `querier:` settings.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QuerierConfig {
    /// Memory all running queries together may hold in aggregations and sorts; a query that
    /// needs more fails with 400 (default 2GB; 0 disables the limit).
    pub max_query_memory: store::time::ByteSize,
    /// Skip row groups of compacted chunk files whose skip filters show they cannot hold a
    /// line filter's literal (default true; false reads them all, for comparison).
    pub skip_filters: bool,
}

impl Default for QuerierConfig {
    fn default() -> Self {
        QuerierConfig { max_query_memory: store::time::ByteSize(2_000_000_000), skip_filters: true }
    }
}

/// The query and metadata routes with their state applied; also registers the metrics.
pub fn router(state: Arc<QueryState>) -> axum::Router {
    metrics::register();
    let limit = usize::try_from(state.querier.max_query_memory.0).unwrap_or(usize::MAX);
    let engine = engine::Engine::with_memory_limit(Arc::clone(&state.object_store), limit).with_skip_filters(state.querier.skip_filters);
    http::routes(Arc::new(http::Service { state, engine }))
}

#[cfg(test)]
mod fuzz;
#[cfg(test)]
mod tests;
