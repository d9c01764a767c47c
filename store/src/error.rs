//! The store crate's error type.

/// Everything that can fail in the storage layer, with the input that made it fail.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A label set string (`{a="b"}`) could not be parsed.
    #[error("{0}")]
    Labels(String),
    /// A matcher's regular expression is invalid.
    #[error("invalid regular expression {pattern:?}: {source}")]
    Regex {
        /// The pattern as written.
        pattern: String,
        /// Why it failed to compile.
        source: regex::Error,
    },
    /// A duration string could not be parsed.
    #[error("not a valid duration string: {0:?}")]
    Duration(String),
    /// A byte-size string could not be parsed.
    #[error("not a valid byte size: {0:?}")]
    Bytes(String),
    /// Arrow failed while building or reading record batches.
    #[error("arrow: {0}")]
    Arrow(#[from] arrow::error::ArrowError),
    /// Parquet failed while writing or reading a chunk file.
    #[error("parquet: {0}")]
    Parquet(#[from] parquet::errors::ParquetError),
    /// The object store failed.
    #[error("object store: {0}")]
    ObjectStore(#[from] object_store::Error),
    /// The object store configuration is invalid.
    #[error("storage config: {0}")]
    Config(String),
    /// A local I/O operation failed.
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
    /// The data cannot be reached now but may be soon (a shard without a leader or quorum):
    /// worth retrying.
    #[error("unavailable: {0}")]
    Unavailable(String),
}
