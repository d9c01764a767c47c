//! [`ChunkTable`]: the snapshot's Parquet chunk files, read through DataFusion's Parquet scan.
//!
//! The table lists exactly the files of the snapshot (with their sizes, so no `HEAD`
//! requests are needed) and reads them from the object store registered in the session's
//! runtime under [`CHUNKS_URL`]. Filters are accepted as `Inexact`: DataFusion keeps its
//! own filter above the scan and its physical filter-pushdown rule moves the predicate into
//! the Parquet source, where it prunes row groups by statistics (`stream_id`, `ts`), pages
//! by the page index, and evaluates the rest while decoding (late materialization). The
//! top-k dynamic filter of `ORDER BY ts LIMIT n` is pushed the same way. Before that, files
//! with skip filters ([`store::skip`]) drop the row groups that cannot hold the line
//! filters' literals (a `ParquetAccessPlan` per file), or the whole file.

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::Session;
use datafusion::common::Result as DfResult;
use datafusion::datasource::listing::PartitionedFile;
use datafusion::datasource::physical_plan::{FileGroup, FileScanConfigBuilder, ParquetSource};
use datafusion::datasource::source::DataSourceExec;
use datafusion::datasource::{TableProvider, TableType};
use datafusion::datasource::physical_plan::parquet::CachedParquetFileReaderFactory;
use datafusion::execution::object_store::ObjectStoreUrl;
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::empty::EmptyExec;
use datafusion::datasource::physical_plan::parquet::ParquetAccessPlan;
use object_store::ObjectStore;
use std::collections::HashMap;

use store::index::{FileMeta, RowGroupMeta};
use store::labels::StreamId;

use crate::metrics;
use crate::plan::skip_grams::Requirement;
use crate::table::skip::{candidate_row_groups, file_filter};

/// The URL the chunk object store is registered under in the session's runtime.
pub const CHUNKS_URL: &str = "skald://chunks/";

/// What the index says about the row groups of compacted files, and what a query wants.
#[derive(Debug, Clone, Default)]
pub struct RowGroupIndex {
    /// Row groups by file path.
    pub groups: HashMap<String, Vec<RowGroupMeta>>,
    /// The stream ids the query reads, sorted.
    pub ids: Vec<StreamId>,
    /// Inclusive start (ns).
    pub start: i64,
    /// Exclusive end (ns).
    pub end: i64,
}

/// The chunk files of one snapshot as a DataFusion table.
#[derive(Debug)]
pub struct ChunkTable {
    schema: SchemaRef,
    files: Vec<FileMeta>,
    store_url: ObjectStoreUrl,
    /// Grams a row group must hold for the line filters to pass (empty: skip nothing).
    requirement: Requirement,
    /// Row groups the index rules out by stream and time.
    index: RowGroupIndex,
}

impl ChunkTable {
    /// A table over `files` (paths relative to the object store root) that skips row
    /// groups `index` rules out and those whose skip filters miss `requirement`.
    pub fn new(files: Vec<FileMeta>, requirement: Requirement, index: RowGroupIndex) -> DfResult<ChunkTable> {
        Ok(ChunkTable { schema: store::schema::entry_schema(), files, store_url: ObjectStoreUrl::parse(CHUNKS_URL)?, requirement, index })
    }

    /// Which row groups of `f` to read (`None`: all, nothing known about them).
    async fn row_groups_to_read(&self, store: &Arc<dyn ObjectStore>, f: &FileMeta) -> Option<Vec<bool>> {
        let by_index: Option<Vec<bool>> =
            self.index.groups.get(&f.path).map(|groups| groups.iter().map(|g| g.may_hold(&self.index.ids, self.index.start, self.index.end)).collect());
        if let Some(keep) = &by_index {
            metrics::ROW_GROUPS_PRUNED_BY_INDEX.add(keep.iter().filter(|k| !**k).count() as u64);
            if !keep.iter().any(|k| *k) {
                return by_index;
            }
        }
        let filter = if self.requirement.is_empty() { None } else { file_filter(store, &f.path).await };
        let Some(filter) = filter else { return by_index };
        let by_filter = candidate_row_groups(&filter, &self.requirement);
        let index_kept = by_index.as_ref().map_or(by_filter.len(), |k| k.iter().filter(|k| **k).count());
        let keep: Vec<bool> = match by_index {
            Some(index) if index.len() == by_filter.len() => index.iter().zip(&by_filter).map(|(a, b)| *a && *b).collect(),
            Some(index) => {
                tracing::warn!("{}: the index and the skip filters disagree on the row groups; using the index", f.path);
                return Some(index);
            }
            None => by_filter,
        };
        let kept = keep.iter().filter(|k| **k).count();
        metrics::ROW_GROUPS_SKIPPED.add((index_kept - kept) as u64);
        metrics::ROW_GROUPS_SCANNED.add(kept as u64);
        Some(keep)
    }

    /// The files to read, each with the row groups to read when its skip filters rule
    /// some out; files none of whose row groups can match are left out.
    async fn files_to_read(&self, store: &Arc<dyn ObjectStore>) -> Vec<(u64, PartitionedFile)> {
        let mut out = Vec::with_capacity(self.files.len());
        for f in &self.files {
            let file = PartitionedFile::new(f.path.clone(), f.size);
            let Some(read) = self.row_groups_to_read(store, f).await else {
                out.push((f.size, file));
                continue;
            };
            let kept = read.iter().filter(|r| **r).count();
            if kept == 0 {
                continue;
            }
            if kept == read.len() {
                out.push((f.size, file));
                continue;
            }
            let mut plan = ParquetAccessPlan::new_none(read.len());
            for (i, _) in read.iter().enumerate().filter(|(_, r)| **r) {
                plan.scan(i);
            }
            // Bytes are balanced by the share of row groups read.
            out.push((f.size * kept as u64 / read.len() as u64, file.with_extension(plan)));
        }
        out
    }
}

/// Spreads `files` over at most `partitions` groups, balancing bytes.
fn file_groups(mut files: Vec<(u64, PartitionedFile)>, partitions: usize) -> Vec<FileGroup> {
    let n = partitions.clamp(1, files.len().max(1));
    let mut groups: Vec<(u64, Vec<PartitionedFile>)> = (0..n).map(|_| (0, Vec::new())).collect();
    files.sort_by_key(|(size, _)| std::cmp::Reverse(*size));
    for (size, f) in files {
        if let Some(g) = groups.iter_mut().min_by_key(|g| g.0) {
            g.0 += size;
            g.1.push(f);
        }
    }
    groups.into_iter().filter(|g| !g.1.is_empty()).map(|g| FileGroup::new(g.1)).collect()
}

#[async_trait]
impl TableProvider for ChunkTable {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    fn supports_filters_pushdown(&self, filters: &[&Expr]) -> DfResult<Vec<TableProviderFilterPushDown>> {
        Ok(vec![TableProviderFilterPushDown::Inexact; filters.len()])
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        _filters: &[Expr],
        limit: Option<usize>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        let runtime = state.runtime_env();
        let store = runtime.object_store(&self.store_url)?;
        let files = self.files_to_read(&store).await;
        if files.is_empty() {
            let schema = datafusion::physical_plan::project_schema(&self.schema, projection)?;
            return Ok(Arc::new(EmptyExec::new(schema)));
        }
        let mut options = state.table_options().parquet.clone();
        options.global.pushdown_filters = true;
        options.global.reorder_filters = true;
        options.global.enable_page_index = true;
        options.global.pruning = true;
        let reader = CachedParquetFileReaderFactory::new(store, runtime.cache_manager.get_file_metadata_cache());
        let source = ParquetSource::new(Arc::clone(&self.schema))
            .with_table_parquet_options(options)
            .with_parquet_file_reader_factory(Arc::new(reader));
        let config = FileScanConfigBuilder::new(self.store_url.clone(), Arc::new(source))
            .with_file_groups(file_groups(files, state.config().target_partitions()))
            .with_projection_indices(projection.cloned())?
            .with_limit(limit)
            .build();
        Ok(DataSourceExec::from_data_source(config))
    }
}
