//! The Arrow schema of stored entries, shared by chunk files and head batches.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, Int64Builder, MapBuilder, RecordBatch, StringBuilder, UInt64Builder};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};

use crate::StoreError;
use crate::labels::StreamId;

/// Column holding the stream fingerprint (`UInt64`).
pub const STREAM_ID: &str = "stream_id";
/// Column holding the entry timestamp in nanoseconds (`Int64`).
pub const TS: &str = "ts";
/// Column holding the log line (`Utf8`).
pub const LINE: &str = "line";
/// Column holding structured metadata (`Map<Utf8, Utf8>`).
pub const METADATA: &str = "metadata";

fn metadata_builder() -> MapBuilder<StringBuilder, StringBuilder> {
    MapBuilder::new(None, StringBuilder::new(), StringBuilder::new())
}

/// The entry schema: `stream_id`, `ts`, `line`, `metadata`, all non-null but metadata values.
pub fn entry_schema() -> SchemaRef {
    static SCHEMA: std::sync::OnceLock<SchemaRef> = std::sync::OnceLock::new();
    SCHEMA
        .get_or_init(|| {
            let map_type = metadata_builder().finish().data_type().clone();
            Arc::new(Schema::new(vec![
                Field::new(STREAM_ID, DataType::UInt64, false),
                Field::new(TS, DataType::Int64, false),
                Field::new(LINE, DataType::Utf8, false),
                Field::new(METADATA, map_type, false),
            ]))
        })
        .clone()
}

/// Accumulates entries into a record batch of [`entry_schema`].
pub struct EntryBatchBuilder {
    stream_id: UInt64Builder,
    ts: Int64Builder,
    line: StringBuilder,
    metadata: MapBuilder<StringBuilder, StringBuilder>,
    rows: usize,
}

impl Default for EntryBatchBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl EntryBatchBuilder {
    /// An empty builder.
    pub fn new() -> Self {
        EntryBatchBuilder {
            stream_id: UInt64Builder::new(),
            ts: Int64Builder::new(),
            line: StringBuilder::new(),
            metadata: metadata_builder(),
            rows: 0,
        }
    }

    /// Appends one entry.
    pub fn push(&mut self, stream: StreamId, ts: i64, line: &str, metadata: &[(String, String)]) -> Result<(), StoreError> {
        self.stream_id.append_value(stream.0);
        self.ts.append_value(ts);
        self.line.append_value(line);
        for (n, v) in metadata {
            self.metadata.keys().append_value(n);
            self.metadata.values().append_value(v);
        }
        self.metadata.append(true)?;
        self.rows += 1;
        Ok(())
    }

    /// Rows appended so far.
    pub fn len(&self) -> usize {
        self.rows
    }

    /// True when nothing was appended.
    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// Finishes the batch and resets the builder.
    pub fn finish(&mut self) -> Result<RecordBatch, StoreError> {
        self.rows = 0;
        let cols: Vec<ArrayRef> = vec![
            Arc::new(self.stream_id.finish()),
            Arc::new(self.ts.finish()),
            Arc::new(self.line.finish()),
            Arc::new(self.metadata.finish()),
        ];
        Ok(RecordBatch::try_new(entry_schema(), cols)?)
    }
}
