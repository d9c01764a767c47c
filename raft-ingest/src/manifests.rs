//! The ingest side of compaction ([`Manifests`]): the compactor reads every shard's index
//! from the shard's leader and swaps merged files in through the shard's Raft log, wherever
//! that leader is; the compactor lease and the delete requests live in the metadata group
//! and are read from its leader.

use std::sync::Arc;

use async_trait::async_trait;
use futures::future::try_join_all;
use proto::ingest::ShardAdmin;
use store::StoreError;
use store::deletes::{DeleteChange, DeleteRequest};
use store::manifest::{IndexedFiles, Manifests, Swap};

use crate::command::{ApplyResult, Command};
use crate::error::IngestError;
use crate::forward::AdminOut;
use crate::ingester::Ingester;
use crate::shard_map::{MetaChange, ShardMap};
use crate::transport::codec::encode;

fn unexpected(what: &str, out: &AdminOut) -> IngestError {
    IngestError::Raft(format!("internal: {what} answered {out:?}"))
}

impl Ingester {
    /// On `shard`'s leader: its indexed and retired files.
    pub(crate) fn indexed_local(&self, shard: u64) -> Result<Vec<IndexedFiles>, IngestError> {
        let replica = self.replica(shard).filter(|r| r.is_leader()).ok_or_else(|| IngestError::NotLeader(format!("this node does not lead shard {shard}")))?;
        replica.indexed().map_err(|e| IngestError::Raft(e.to_string()))
    }

    /// On `shard`'s leader: proposes `command` and answers its apply result.
    pub(crate) async fn propose_local(&self, shard: u64, command: Command) -> Result<ApplyResult, IngestError> {
        let replica = self.replica(shard).filter(|r| r.is_leader()).ok_or_else(|| IngestError::NotLeader(format!("this node does not lead shard {shard}")))?;
        replica.propose(command).await
    }

    /// Proposes `command` on `shard`'s leader, wherever it is.
    async fn propose_on_leader(&self, shard: u64, command: &Command) -> Result<ApplyResult, IngestError> {
        let change = encode(command).map_err(|e| IngestError::Raft(e.to_string()))?;
        match self.on_leader_admin(shard, ShardAdmin { shard, op: "propose".into(), change, ..ShardAdmin::default() }).await? {
            AdminOut::Applied(r) => Ok(r),
            other => Err(unexpected("propose", &other)),
        }
    }

    /// The shard map the compactor works from. A node without replicas has only the
    /// placement's guess until the cluster's recorded map arrives, and must not act on it.
    fn compaction_map(&self) -> Result<Arc<ShardMap>, IngestError> {
        let map = self.map();
        if !self.hosts_replicas() && map.version == 0 {
            return Err(IngestError::Unavailable("the shard map has not arrived from the cluster yet".into()));
        }
        Ok(map)
    }
}

#[async_trait]
impl Manifests for Ingester {
    async fn indexed(&self) -> Result<Vec<IndexedFiles>, StoreError> {
        self.compaction_map()?;
        let per_shard = try_join_all(self.shard_ids().into_iter().map(|shard| async move {
            match self.on_leader_admin(shard, ShardAdmin { shard, op: "indexed".into(), ..ShardAdmin::default() }).await? {
                AdminOut::Indexed(files) => Ok(files),
                other => Err(unexpected("indexed", &other)),
            }
        }))
        .await?;
        Ok(per_shard.into_iter().flatten().collect())
    }

    async fn compactor_lease(&self, now_ms: i64, ttl_ms: i64) -> Result<(u64, bool), StoreError> {
        let me = self.placement.node_id;
        let map = self.compaction_map()?;
        if let Some(addr) = map.nodes.get(&me).filter(|_| !self.hosts_replicas()) {
            // Sharing a node's id would share its lease.
            return Err(IngestError::Layout(format!(
                "cluster.node_id {me} belongs to the cluster's node at {addr}; a process without the ingester role needs an id no node uses"
            ))
            .into());
        }
        let change = MetaChange::Lease { name: "compactor".into(), holder: me, now_ms, ttl_ms };
        match self.propose_meta(change).await? {
            AdminOut::Lease(holder) => Ok((holder, holder == me)),
            other => Err(unexpected("the compactor lease", &other).into()),
        }
    }

    async fn swap(&self, swap: Swap) -> Result<bool, StoreError> {
        let command = Command::Compacted { tenant: swap.tenant, remove: swap.remove, add: swap.add, at_ms: swap.at_ms };
        match self.propose_on_leader(swap.shard, &command).await? {
            ApplyResult::Swapped(done) => Ok(done),
            other => Err(IngestError::Raft(format!("internal: a swap answered {other:?}")).into()),
        }
    }

    async fn forget(&self, shard: u64, tenant: &str, paths: Vec<String>) -> Result<(), StoreError> {
        self.propose_on_leader(shard, &Command::Forgotten { tenant: tenant.to_string(), paths }).await?;
        Ok(())
    }

    async fn delete_requests(&self) -> Result<Vec<(String, DeleteRequest)>, StoreError> {
        let all = self.leader_deletes().await?;
        Ok(all.tenants.into_iter().flat_map(|(t, reqs)| reqs.into_iter().map(move |r| (t.clone(), r))).collect())
    }

    async fn delete_processed(&self, tenant: &str, request_id: &str) -> Result<(), StoreError> {
        Ok(self.change_deletes(DeleteChange::Processed { tenant: tenant.to_string(), request_id: request_id.to_string() }).await?)
    }
}
