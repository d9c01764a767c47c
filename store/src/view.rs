//! The read contract between the write path (heads, index) and the read path (querier).

use arrow::array::RecordBatch;
use async_trait::async_trait;

use crate::StoreError;
use crate::deletes::DeleteRequest;
use std::collections::HashMap;

use crate::index::{FileMeta, RowGroupMeta};
use crate::labels::{Labels, StreamId};
use crate::matcher::Matcher;

/// What a query asks the ingest side for.
#[derive(Debug, Clone)]
pub struct SnapshotRequest {
    /// Stream selector; every matcher must hold.
    pub matchers: Vec<Matcher>,
    /// Inclusive lower time bound (ns).
    pub start: i64,
    /// Exclusive upper time bound (ns).
    pub end: i64,
    /// Whether head rows and files are wanted (log queries), or only streams (metadata).
    pub with_data: bool,
}

/// One consistent view: files and head rows never hold the same entry, and together they
/// hold every acknowledged entry of the matching streams in the range.
#[derive(Debug, Clone, Default)]
pub struct ReadSnapshot {
    /// Matching streams that have entries in the range, in files or heads.
    pub streams: Vec<(StreamId, Labels)>,
    /// Chunk files that may hold matching rows (empty unless `with_data`).
    pub files: Vec<FileMeta>,
    /// Unflushed head rows of the matching streams within the range, in
    /// [`entry_schema`](crate::schema::entry_schema) (empty unless `with_data`).
    pub heads: Vec<RecordBatch>,
    /// The tenant's delete requests overlapping the range: their lines must not be returned.
    pub deletes: Vec<DeleteRequest>,
    /// Row groups of the compacted files among `files`, by path, so scans can skip row
    /// groups without opening files.
    pub row_groups: HashMap<String, Vec<RowGroupMeta>>,
}

/// Implemented by the ingest side; consumed by queriers.
#[async_trait]
pub trait IngestView: Send + Sync {
    /// Takes one consistent snapshot of `tenant`'s files and heads for `req`.
    async fn snapshot(&self, tenant: &str, req: &SnapshotRequest) -> Result<ReadSnapshot, StoreError>;
}
