//! Chunk files: flushed entries as Parquet on the object store.
//!
//! A chunk holds the entries of one tenant from one flush, sorted by (stream id, timestamp),
//! compressed with zstd, with row-group statistics and a page index so that readers prune by
//! stream and time before they decompress anything.

use std::collections::HashSet;

use arrow::array::{Array, Int64Array, RecordBatch, StringArray, UInt64Array};
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
use crate::index::{FileMeta, RowGroupMeta, StreamRange};
use crate::object::ChunkStore;
use crate::schema::{LINE, STREAM_ID, TS, entry_schema};
use crate::skip;

/// Rows per row group of a flushed file: small enough to prune by stream, large enough to
/// compress well.
pub const ROW_GROUP_ROWS: usize = 65_536;
/// Rows per data page: the page index resolves time ranges to this granularity.
pub const PAGE_ROWS: usize = 4_096;

fn writer_properties(row_group_rows: usize) -> Result<WriterProperties, StoreError> {
    Ok(WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::try_new(3)?))
        .set_statistics_enabled(EnabledStatistics::Page)
        .set_max_row_group_row_count(Some(row_group_rows))
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
        extend_ranges(&mut out, b)?;
    }
    out.sort_by_key(|r| r.id);
    Ok(out)
}

/// Adds the rows of `batch` (sorted by stream id, ts, and following the rows already
/// counted) to `out`.
fn extend_ranges(out: &mut Vec<StreamRange>, batch: &RecordBatch) -> Result<(), StoreError> {
    let ids = column::<UInt64Array>(batch, STREAM_ID)?;
    let ts = column::<Int64Array>(batch, TS)?;
    for i in 0..batch.num_rows() {
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
    Ok(())
}

/// The column `name` of `batch` downcast to `T`.
pub fn column<'a, T: 'static>(batch: &'a RecordBatch, name: &str) -> Result<&'a T, StoreError> {
    batch
        .column_by_name(name)
        .and_then(|c| c.as_any().downcast_ref::<T>())
        .ok_or_else(|| StoreError::Arrow(arrow::error::ArrowError::SchemaError(format!("missing or mistyped column {name}"))))
}

/// Writes one chunk file batch by batch (sorted by stream id, then ts, across batches),
/// keeping its per-stream ranges as it goes.
pub struct ChunkWriter<'a> {
    chunks: &'a ChunkStore,
    path: String,
    writer: AsyncArrowWriter<BufWriter>,
    streams: Vec<StreamRange>,
    row_group_rows: usize,
    /// With skip filters: the grams of each row group so far (the last one in progress).
    grams: Option<Vec<HashSet<u64>>>,
    /// With skip filters: each row group's stream and time span so far.
    row_groups: Vec<RowGroupMeta>,
    /// Rows written so far.
    rows: usize,
}

impl<'a> ChunkWriter<'a> {
    /// Starts the object at `path` with row groups of `row_group_rows`.
    pub fn new(chunks: &'a ChunkStore, path: &str, row_group_rows: usize) -> Result<ChunkWriter<'a>, StoreError> {
        let buf = BufWriter::new(Arc::clone(&chunks.store), Path::from(path));
        let writer = AsyncArrowWriter::try_new(buf, entry_schema(), Some(writer_properties(row_group_rows)?))?;
        Ok(ChunkWriter { chunks, path: path.to_string(), writer, streams: Vec::new(), row_group_rows, grams: None, row_groups: Vec::new(), rows: 0 })
    }

    /// Also writes the file's skip filters ([`crate::skip`]) beside it and describes its
    /// row groups ([`ChunkWriter::finish`]).
    pub fn with_skip_filters(mut self) -> Self {
        self.grams = Some(Vec::new());
        self
    }

    /// Appends `batch`.
    pub async fn write(&mut self, batch: &RecordBatch) -> Result<(), StoreError> {
        extend_ranges(&mut self.streams, batch)?;
        if let Some(groups) = &mut self.grams {
            let lines = column::<StringArray>(batch, LINE)?;
            let ids = column::<UInt64Array>(batch, STREAM_ID)?;
            let ts = column::<Int64Array>(batch, TS)?;
            for i in 0..batch.num_rows() {
                let (id, t) = (crate::labels::StreamId(ids.value(i)), ts.value(i));
                if (self.rows + i).is_multiple_of(self.row_group_rows) || groups.is_empty() {
                    groups.push(HashSet::new());
                    self.row_groups.push(RowGroupMeta::first(id, t));
                } else if let Some(rg) = self.row_groups.last_mut() {
                    rg.add(id, t);
                }
                if let Some(set) = groups.last_mut() {
                    skip::for_each_gram(lines.value(i).as_bytes(), |g| {
                        set.insert(g);
                    });
                }
            }
        }
        self.rows += batch.num_rows();
        self.writer.write(batch).await?;
        Ok(())
    }

    /// Bytes written so far plus those buffered for the row group in progress.
    pub fn size(&self) -> usize {
        self.writer.bytes_written() + self.writer.in_progress_size()
    }

    /// Finishes the object durably: it returns only once the object survives a crash or
    /// power loss. Answers the file and, with skip filters, its row groups.
    pub async fn finish(self) -> Result<(FileMeta, Vec<RowGroupMeta>), StoreError> {
        let meta = self.writer.close().await?;
        self.chunks.sync(&self.path).await?;
        if let Some(groups) = self.grams {
            // The filters must line up with the row groups the writer actually cut.
            let cut: Vec<usize> = meta.row_groups().iter().map(|rg| rg.num_rows() as usize).collect();
            let expected: Vec<usize> = (0..groups.len()).map(|i| self.row_group_rows.min(self.rows - i * self.row_group_rows)).collect();
            if cut != expected {
                return Err(StoreError::Io(std::io::Error::other(format!("{}: row groups {cut:?}, filters for {expected:?}", self.path))));
            }
            let filter = skip::FileFilter { row_groups: groups.iter().map(skip::Bloom::build).collect() };
            let filter_path = skip::filter_path(&self.path);
            self.chunks.store.put(&Path::from(filter_path.as_str()), filter.encode().into()).await?;
            self.chunks.sync(&filter_path).await?;
        }
        let size = self.chunks.store.head(&Path::from(self.path.as_str())).await?.size;
        let mut streams = self.streams;
        streams.sort_by_key(|r| r.id);
        let meta = FileMeta {
            min_ts: streams.iter().map(|s| s.min_ts).min().unwrap_or(0),
            max_ts: streams.iter().map(|s| s.max_ts).max().unwrap_or(0),
            rows: streams.iter().map(|s| s.rows).sum(),
            path: self.path,
            size,
            streams,
        };
        Ok((meta, self.row_groups))
    }
}

/// Writes `batches` (already sorted by stream id, then ts) as one flushed Parquet object at
/// `path`, durably.
pub async fn write_chunk(chunks: &ChunkStore, path: &str, batches: &[RecordBatch]) -> Result<FileMeta, StoreError> {
    let mut w = ChunkWriter::new(chunks, path, ROW_GROUP_ROWS)?;
    for b in batches {
        w.write(b).await?;
    }
    Ok(w.finish().await?.0)
}
