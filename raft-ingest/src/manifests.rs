//! The ingest side of compaction ([`Manifests`]): the compactor reads the indexes of the
//! shards this node leads and swaps merged files in through each shard's Raft log.

use async_trait::async_trait;
use store::StoreError;
use store::deletes::{DeleteChange, DeleteRequest};
use store::manifest::{IndexedFiles, Manifests, Swap};

use crate::command::{ApplyResult, Command};
use crate::error::IngestError;
use crate::ingester::Ingester;
use crate::shard::Shard;

fn store_err(e: IngestError) -> StoreError {
    StoreError::Io(std::io::Error::other(e.to_string()))
}

impl Ingester {
    /// This node's replica of `shard` when it leads the shard.
    fn led(&self, shard: u64) -> Result<std::sync::Arc<Shard>, StoreError> {
        match self.replica(shard) {
            Some(r) if r.is_leader() => Ok(r),
            _ => Err(store_err(IngestError::NotLeader(format!("this node does not lead shard {shard}")))),
        }
    }
}

#[async_trait]
impl Manifests for Ingester {
    async fn indexed(&self) -> Result<Vec<IndexedFiles>, StoreError> {
        let mut out = Vec::new();
        for (_, replica) in self.replicas() {
            if replica.is_leader() {
                out.extend(replica.indexed()?);
            }
        }
        Ok(out)
    }

    async fn swap(&self, swap: Swap) -> Result<bool, StoreError> {
        let command = Command::Compacted { tenant: swap.tenant, remove: swap.remove, add: swap.add, at_ms: swap.at_ms };
        match self.led(swap.shard)?.propose(command).await.map_err(store_err)? {
            ApplyResult::Swapped(done) => Ok(done),
            other => Err(store_err(IngestError::Raft(format!("internal: a swap answered {other:?}")))),
        }
    }

    async fn forget(&self, shard: u64, tenant: &str, paths: Vec<String>) -> Result<(), StoreError> {
        self.led(shard)?.propose(Command::Forgotten { tenant: tenant.to_string(), paths }).await.map_err(store_err)?;
        Ok(())
    }

    fn leads_every_shard(&self) -> bool {
        self.shard_ids().into_iter().all(|s| self.replica(s).is_some_and(|r| r.is_leader()))
    }

    fn delete_requests(&self) -> Vec<(String, DeleteRequest)> {
        self.all_delete_requests()
    }

    async fn delete_processed(&self, tenant: &str, request_id: &str) -> Result<(), StoreError> {
        self.change_deletes(DeleteChange::Processed { tenant: tenant.to_string(), request_id: request_id.to_string() }).await.map_err(store_err)
    }
}
