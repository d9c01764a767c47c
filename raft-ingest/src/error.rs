//! The write path's error type.

use store::StoreError;

/// Everything that can fail between a push arriving and its entries being applied.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// Opening or writing the sled database failed.
    #[error("raft log storage: {0}")]
    Storage(#[from] std::io::Error),
    /// openraft reported a fatal error or refused a proposal.
    #[error("raft: {0}")]
    Raft(String),
    /// This replica does not lead its group (the message names the leader if known).
    #[error("not the shard leader: {0}")]
    NotLeader(String),
    /// The receiver does not lead the shard but named the node that does (id, 0 when not
    /// known, and address).
    #[error("the shard is led by node {0} at {1}")]
    Redirect(u64, String),
    /// No leader could take the write in time (the shard lacks a quorum or is electing).
    #[error("{0}")]
    Unavailable(String),
    /// The node is shutting down and takes no more writes.
    #[error("ingester is shutting down")]
    ShuttingDown,
    /// The data directory was written with a different layout (e.g. another shard count).
    #[error("{0}")]
    Layout(String),
    /// Writing a chunk file or reading the store failed.
    #[error("store: {0}")]
    Store(#[from] StoreError),
}

impl From<IngestError> for StoreError {
    /// The store error a store-facing trait ([`store::view::IngestView`],
    /// [`store::manifest::Manifests`]) answers for an ingest failure.
    fn from(e: IngestError) -> StoreError {
        match e {
            IngestError::Store(e) => e,
            IngestError::Unavailable(_) | IngestError::NotLeader(_) | IngestError::Redirect(..) | IngestError::ShuttingDown => {
                StoreError::Unavailable(e.to_string())
            }
            other => StoreError::Io(std::io::Error::other(other.to_string())),
        }
    }
}
