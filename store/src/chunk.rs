//! Chunk files: flushed entries as Parquet on the object store.
//!
//! A chunk holds the entries of one tenant from one flush, sorted by (stream id, timestamp),
//! compressed with zstd, with row-group statistics and a page index so that readers prune by
//! stream and time before they decompress anything.

use arrow::array::{Array, Int64Array, RecordBatch, UInt64Array};
use object_store::ObjectStoreExt;
use object_store::buffered::BufWriter;
use object_store::path::Path;
use parquet::arrow::AsyncArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::metadata::SortingColumn;
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::schema::types::ColumnPath;
use std::sync::Arc;

use crate::StoreError;
use crate::index::{FileMeta, StreamRange};
use crate::object::ChunkStore;
use crate::schema::{LINE, STREAM_ID, TS, entry_schema};

/// Rows per row group: small enough to prune by stream, large enough to compress well.
pub const ROW_GROUP_ROWS: usize = 65_536;
/// Rows per data page: the page index resolves time ranges to this granularity.
pub const PAGE_ROWS: usize = 4_096;

fn writer_properties() -> Result<WriterProperties, StoreError> {
    Ok(WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::try_new(3)?))
        .set_statistics_enabled(EnabledStatistics::Page)
        .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
        .set_data_page_row_count_limit(PAGE_ROWS)
        .set_column_dictionary_enabled(ColumnPath::from(LINE), false)
        .set_column_statistics_enabled(ColumnPath::from(LINE), EnabledStatistics::None)
        .set_statistics_truncate_length(Some(64))
        .set_sorting_columns(Some(vec![
            SortingColumn { column_idx: 0, descending: false, nulls_first: false },
            SortingColumn { column_idx: 1, descending: false, nulls_first: false },
        ]))
        .build())
}

/// Per-stream ranges of batches sorted by (stream id, ts).
pub fn stream_ranges(batches: &[RecordBatch]) -> Result<Vec<StreamRange>, StoreError> {
    let mut out: Vec<StreamRange> = Vec::new();
    for b in batches {
        let ids = column::<UInt64Array>(b, STREAM_ID)?;
        let ts = column::<Int64Array>(b, TS)?;
        for i in 0..b.num_rows() {
            let (id, t) = (ids.value(i), ts.value(i));
            match out.last_mut() {
                Some(r) if r.id.0 == id => {
                    r.min_ts = r.min_ts.min(t);
                    r.max_ts = r.max_ts.max(t);
                    r.rows += 1;
                }
                _ => out.push(StreamRange { id: crate::labels::StreamId(id), min_ts: t, max_ts: t, rows: 1 }),
            }
        }
    }
    out.sort_by_key(|r| r.id);
    Ok(out)
}

/// The column `name` of `batch` downcast to `T`.
pub fn column<'a, T: 'static>(batch: &'a RecordBatch, name: &str) -> Result<&'a T, StoreError> {
    batch
        .column_by_name(name)
        .and_then(|c| c.as_any().downcast_ref::<T>())
        .ok_or_else(|| StoreError::Arrow(arrow::error::ArrowError::SchemaError(format!("missing or mistyped column {name}"))))
}

/// Writes `batches` (already sorted by stream id, then ts) as one Parquet object at `path`,
/// durably: it returns only once the object survives a crash or power loss.
pub async fn write_chunk(chunks: &ChunkStore, path: &str, batches: &[RecordBatch]) -> Result<FileMeta, StoreError> {
    let store = Arc::clone(&chunks.store);
    let streams = stream_ranges(batches)?;
    let object_path = Path::from(path);
    let writer = BufWriter::new(store.clone(), object_path.clone());
    let mut w = AsyncArrowWriter::try_new(writer, entry_schema(), Some(writer_properties()?))?;
    for b in batches {
        w.write(b).await?;
    }
    w.close().await?;
    chunks.sync(path).await?;
    let size = store.head(&object_path).await?.size;
    Ok(FileMeta {
        path: path.to_string(),
        size,
        min_ts: streams.iter().map(|s| s.min_ts).min().unwrap_or(0),
        max_ts: streams.iter().map(|s| s.max_ts).max().unwrap_or(0),
        rows: streams.iter().map(|s| s.rows).sum(),
        streams,
    })
}
