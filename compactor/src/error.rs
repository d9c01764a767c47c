//! Errors of a compaction cycle.

/// Why a compaction cycle failed.
#[derive(Debug, thiserror::Error)]
pub enum CompactorError {
    /// Reading or writing chunk files, or the shards' indexes.
    #[error("{0}")]
    Store(#[from] store::StoreError),
    /// Planning or running the merge.
    #[error("merging: {0}")]
    Merge(#[from] datafusion::error::DataFusionError),
    /// Filtering rows.
    #[error("filtering rows: {0}")]
    Arrow(#[from] arrow::error::ArrowError),
    /// Another node holds the cluster's compactor lease.
    #[error("node {0} holds the compactor lease; run compactions there")]
    NotHolder(u64),
    /// The process is shutting down.
    #[error("the compactor is stopping")]
    Stopping,
    /// Deleting an object.
    #[error("object store: {0}")]
    Object(#[from] object_store::Error),
}
