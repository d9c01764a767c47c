//! The ingester of a node: its shards, and the routing of every stream to its shard.
//!
//! Streams are placed by [`shard_key`] (tenant and labels) over `ingester.shards` equal
//! hash ranges; each range is a [`Shard`] with its own openraft group, log, heads and
//! flusher. A push touching several shards is proposed to all of them concurrently and
//! answered when every one has committed; a read merges the shards' snapshots, which never
//! overlap because a stream lives in exactly one shard.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use futures::future::{join_all, try_join_all};
use store::StoreError;
use store::object::ChunkStore;
use store::shard::{EvenRanges, shard_key};
use store::time::ByteSize;
use store::view::{IngestView, ReadSnapshot, SnapshotRequest};

use crate::command::{PushOutcome, TenantPush};
use crate::config::{IngesterConfig, RaftLogStoreKind};
use crate::error::IngestError;
use crate::log_store::open_db;
use crate::metrics;
use crate::shard::Shard;

/// A node's running shards.
pub struct Ingester {
    shards: Vec<Arc<Shard>>,
    ranges: EvenRanges,
}

impl std::fmt::Debug for Ingester {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ingester").field("shards", &self.shards.len()).finish()
    }
}

impl Ingester {
    /// Starts every shard under `data_dir` and returns once each leads its group. Head size
    /// limits (`max_head_bytes`) are split evenly between the shards.
    pub async fn start(data_dir: &Path, store: ChunkStore, config: IngesterConfig) -> Result<Arc<Ingester>, IngestError> {
        metrics::register();
        let count = config.shards.max(1);
        check_layout(&data_dir.join("raft"), count)?;
        let db = match config.raft_log_store {
            RaftLogStoreKind::Sled => Some(open_db(&data_dir.join("raft").join("sled"))?),
            RaftLogStoreKind::Segments => None,
        };
        let mut per_shard = config.clone();
        per_shard.max_head_bytes = ByteSize(config.max_head_bytes.0 / count);
        let shards = try_join_all((0..count).map(|i| Shard::start(data_dir, store.clone(), per_shard.clone(), i, db.clone()))).await?;
        Ok(Arc::new(Ingester { shards, ranges: EvenRanges::new(count) }))
    }

    /// The shards, in range order.
    pub fn shards(&self) -> &[Arc<Shard>] {
        &self.shards
    }

    /// Proposes `push` to the shards of its streams and returns once all have committed,
    /// fsynced and applied their part.
    pub async fn push(&self, push: TenantPush) -> Result<PushOutcome, IngestError> {
        if self.shards.len() == 1 {
            return self.shards[0].push(push).await;
        }
        let mut parts: BTreeMap<u64, TenantPush> = BTreeMap::new();
        for stream in push.streams {
            let shard = self.ranges.range_of(shard_key(&push.tenant, &stream.labels));
            parts
                .entry(shard)
                .or_insert_with(|| TenantPush { tenant: push.tenant.clone(), streams: Vec::new() })
                .streams
                .push(stream);
        }
        let outcomes = try_join_all(parts.into_iter().map(|(shard, part)| self.shards[shard as usize].push(part))).await?;
        let mut total = PushOutcome::default();
        for o in outcomes {
            total.accepted += o.accepted;
            total.bytes += o.bytes;
            total.duplicates += o.duplicates;
            total.rejected.extend(o.rejected);
        }
        Ok(total)
    }

    /// Writes every shard's heads to chunk files now; returns once every flush is recorded.
    pub async fn flush(&self) -> Result<(), IngestError> {
        try_join_all(self.shards.iter().map(|s| s.flush())).await?;
        Ok(())
    }

    /// Stops every shard (flushing heads if configured); the first error is returned after
    /// all shards were asked to stop.
    pub async fn shutdown(&self) -> Result<(), IngestError> {
        join_all(self.shards.iter().map(|s| s.shutdown())).await.into_iter().collect::<Result<Vec<()>, _>>()?;
        Ok(())
    }
}

/// Records the shard count in `raft/shards` on first start and refuses another count later:
/// streams are placed by it, so changing it would hide stored data.
fn check_layout(raft_dir: &Path, count: u64) -> Result<(), IngestError> {
    std::fs::create_dir_all(raft_dir)?;
    let path = raft_dir.join("shards");
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let stored: u64 = text.trim().parse().map_err(|_| IngestError::Layout(format!("{} is not a shard count: {text:?}", path.display())))?;
            if stored != count {
                return Err(IngestError::Layout(format!(
                    "ingester.shards is {count} but the data in {} was written with {stored} shards; start with ingester.shards: {stored}",
                    raft_dir.display()
                )));
            }
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            // Data written before the count was recorded used one shard.
            let existing = raft_dir.join("segments-0").exists() || raft_dir.join("sled").exists() || raft_dir.join("snapshot-0.bin").exists();
            if existing && count != 1 {
                return Err(IngestError::Layout(format!(
                    "ingester.shards is {count} but the data in {} was written with 1 shard; start with ingester.shards: 1",
                    raft_dir.display()
                )));
            }
            let tmp = raft_dir.join("shards.tmp");
            std::fs::write(&tmp, format!("{count}\n"))?;
            std::fs::File::open(&tmp)?.sync_all()?;
            std::fs::rename(&tmp, &path)?;
            Ok(())
        }
        Err(e) => Err(e.into()),
    }
}

#[async_trait]
impl IngestView for Ingester {
    async fn snapshot(&self, tenant: &str, req: &SnapshotRequest) -> Result<ReadSnapshot, StoreError> {
        let mut out = ReadSnapshot::default();
        for shard in &self.shards {
            let s = shard.snapshot(tenant, req).await?;
            out.streams.extend(s.streams);
            out.files.extend(s.files);
            out.heads.extend(s.heads);
        }
        Ok(out)
    }
}
