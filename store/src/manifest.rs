//! The compaction contract between the compactor and the ingest side, whose replicated
//! state holds each shard's index of chunk files (the manifest, versioned by the Raft log).

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::StoreError;
use std::collections::BTreeMap;

use crate::deletes::DeleteRequest;
use crate::index::{CompactedFile, FileMeta, RetiredFile};
use crate::labels::{Labels, StreamId};

/// One tenant's indexed and retired files in one shard.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexedFiles {
    /// The shard whose index holds them.
    pub shard: u64,
    /// The tenant.
    pub tenant: String,
    /// Files in the index.
    pub files: Vec<FileMeta>,
    /// Files out of the index whose objects still wait for their grace period to end.
    pub retired: Vec<RetiredFile>,
    /// Labels of the streams in `files`.
    pub labels: BTreeMap<StreamId, Labels>,
}

/// An atomic replacement of files in one shard's index for one tenant.
#[derive(Debug, Clone)]
pub struct Swap {
    /// The shard whose index changes.
    pub shard: u64,
    /// The tenant.
    pub tenant: String,
    /// Paths of the files to take out; all must still be indexed.
    pub remove: Vec<String>,
    /// The files that replace them (durable already), with their row groups.
    pub add: Vec<CompactedFile>,
    /// When (ms since the epoch): the removed files are retired from then on.
    pub at_ms: i64,
}

/// Implemented by the ingest side; used by the compactor.
#[async_trait]
pub trait Manifests: Send + Sync {
    /// Every tenant's files in every shard of the cluster (from each shard's leader).
    async fn indexed(&self) -> Result<Vec<IndexedFiles>, StoreError>;
    /// Takes or renews the cluster's compactor lease for `ttl_ms` from `now_ms`; answers
    /// the node holding it afterwards and whether that is this node.
    async fn compactor_lease(&self, now_ms: i64, ttl_ms: i64) -> Result<(u64, bool), StoreError>;
    /// Applies `swap` through the shard's log; answers false (and changes nothing) when a
    /// file to remove is no longer indexed.
    async fn swap(&self, swap: Swap) -> Result<bool, StoreError>;
    /// Forgets retired files of `tenant` in `shard` whose objects are deleted.
    async fn forget(&self, shard: u64, tenant: &str, paths: Vec<String>) -> Result<(), StoreError>;
    /// Every tenant's delete requests as the metadata group has them now: (tenant, request).
    async fn delete_requests(&self) -> Result<Vec<(String, DeleteRequest)>, StoreError>;
    /// Records that `tenant`'s request `request_id` is done in every chunk file.
    async fn delete_processed(&self, tenant: &str, request_id: &str) -> Result<(), StoreError>;
}
