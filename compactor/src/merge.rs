//! Merging one job's files: DataFusion reads each file as its own partition in its declared
//! order (stream id, timestamp), a sort-preserving merge interleaves them without sorting
//! in memory (ties go to the earlier file), exact duplicates are dropped (`dedup`), and the
//! merged rows are written to new files cut at the target size, each with its skip filters
//! (`store::skip`).

use std::collections::HashSet;
use std::sync::Arc;

use arrow::array::{BooleanArray, RecordBatch, UInt64Array};
use arrow::compute::filter_record_batch;

use datafusion::datasource::listing::PartitionedFile;
use datafusion::datasource::physical_plan::{FileGroup, FileScanConfigBuilder, ParquetSource};
use datafusion::datasource::source::DataSourceExec;
use datafusion::execution::object_store::ObjectStoreUrl;
use datafusion::physical_expr::{LexOrdering, PhysicalSortExpr};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::expressions::col;
use datafusion::physical_plan::sorts::sort_preserving_merge::SortPreservingMergeExec;
use datafusion::prelude::SessionContext;
use futures::StreamExt;
use store::chunk::ChunkWriter;
use store::index::{CompactedFile, FileMeta};
use store::object::ChunkStore;
use store::schema::{STREAM_ID, TS, entry_schema};

use crate::CompactorError;
use crate::dedup::Dedup;

/// Rows per row group of a compacted file: large row groups compress better and keep the
/// skip filters small relative to the data (their grams repeat across rows).
pub const ROW_GROUP_ROWS: usize = 131_072;

/// Which rows of a batch to keep (true) when rewriting.
pub type RowFilter<'a> = &'a (dyn Fn(&RecordBatch) -> Result<BooleanArray, CompactorError> + Sync);

/// Keeps the rows of the streams in `keep`.
pub fn streams_in(keep: &HashSet<u64>, batch: &RecordBatch) -> Result<BooleanArray, CompactorError> {
    let ids = store::chunk::column::<UInt64Array>(batch, STREAM_ID)?;
    Ok(ids.iter().map(|id| Some(id.is_some_and(|id| keep.contains(&id)))).collect())
}

/// The URL the chunk store is registered under for the merge.
const STORE_URL: &str = "skald-compactor://chunks/";

/// Merges `files` (each sorted by stream id, then ts) into new files at the paths `name`
/// gives for 0, 1, ..., each cut once it passes `target_bytes`; answers them, durable.
/// With `keep`, only the rows it keeps are written.
pub async fn merge(
    chunks: &ChunkStore,
    files: &[FileMeta],
    target_bytes: u64,
    keep: Option<RowFilter<'_>>,
    name: impl Fn(usize) -> String,
) -> Result<Vec<CompactedFile>, CompactorError> {
    let url = ObjectStoreUrl::parse(STORE_URL)?;
    let ctx = SessionContext::new();
    ctx.register_object_store(url.as_ref(), Arc::clone(&chunks.store));
    let schema = entry_schema();
    let ordering = LexOrdering::new([PhysicalSortExpr::new_default(col(STREAM_ID, &schema)?), PhysicalSortExpr::new_default(col(TS, &schema)?)])
        .ok_or_else(|| datafusion::error::DataFusionError::Internal("empty merge ordering".into()))?;
    let groups = files.iter().map(|f| FileGroup::new(vec![PartitionedFile::new(f.path.clone(), f.size)])).collect();
    let scan = FileScanConfigBuilder::new(url, Arc::new(ParquetSource::new(Arc::clone(&schema))))
        .with_file_groups(groups)
        .with_output_ordering(vec![ordering.clone()])
        .build();
    let merged = SortPreservingMergeExec::new(ordering, DataSourceExec::from_data_source(scan)).with_round_robin_repartition(false);
    let mut rows = merged.execute(0, ctx.task_ctx())?;

    let mut out = Vec::new();
    let mut writer: Option<ChunkWriter<'_>> = None;
    let mut dedup = Dedup::default();
    while let Some(batch) = rows.next().await {
        let mut batch = batch?;
        if let Some(keep) = keep {
            batch = filter_record_batch(&batch, &keep(&batch)?)?;
        }
        let before = dedup.dropped;
        let unique = dedup.keep(&batch)?;
        if dedup.dropped > before {
            batch = filter_record_batch(&batch, &unique)?;
        }
        if batch.num_rows() == 0 {
            continue;
        }
        let w = match &mut writer {
            Some(w) => w,
            None => writer.insert(ChunkWriter::new(chunks, &name(out.len()), ROW_GROUP_ROWS)?.with_skip_filters()),
        };
        w.write(&batch).await?;
        if w.size() as u64 >= target_bytes
            && let Some(w) = writer.take()
        {
            let (meta, row_groups) = w.finish().await?;
            out.push(CompactedFile { meta, row_groups });
        }
    }
    if let Some(w) = writer.take() {
        let (meta, row_groups) = w.finish().await?;
        out.push(CompactedFile { meta, row_groups });
    }
    crate::metrics::DUPLICATES.add(dedup.dropped);
    Ok(out)
}
