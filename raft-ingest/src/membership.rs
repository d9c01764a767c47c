//! Moving a shard replica between nodes, online: the target opens an empty replica, the
//! leader adds it as a learner (it catches up from the log or a streamed snapshot), then
//! replaces the old voter with it in one membership change, and the old node stops hosting
//! the shard. Each node records what it hosts beyond its placement (`hosted`), so restarts
//! keep the new layout.

use std::collections::BTreeSet;
use std::sync::Arc;

use openraft::BasicNode;

use crate::error::IngestError;
use proto::ingest::ShardAdmin;

use crate::forward::forward_admin;
use crate::hosted;
use crate::ingester::Ingester;
use crate::shard::{Shard, ShardNode};
use crate::transport::GrpcNetwork;

/// A replica change without a move's parameters.
fn change(shard: u64, op: &str) -> ShardAdmin {
    ShardAdmin { shard, op: op.to_string(), ..ShardAdmin::default() }
}

impl Ingester {
    /// Moves `shard`'s replica from node `from` to node `to` (at `to_addr`), through the
    /// shard's leader wherever it is.
    pub async fn move_shard_replica(&self, shard: u64, from: u64, to: u64, to_addr: &str) -> Result<(), IngestError> {
        let request = ShardAdmin { shard, op: "move".into(), from, to, to_addr: to_addr.to_string() };
        self.on_leader_admin(shard, request).await
    }

    /// Starts hosting a replica of `shard` that joins its group when the leader adds it.
    pub async fn open_replica(&self, shard: u64) -> Result<(), IngestError> {
        if self.replica(shard).is_some() {
            return Ok(());
        }
        hosted::record(&self.open.data_dir.join("raft"), shard, true)?;
        let node = ShardNode {
            node_id: self.placement.node_id,
            members: Default::default(),
            initialize: false,
            standalone: false,
            network: GrpcNetwork::new(shard, self.channels.clone()),
            groups: self.groups.clone(),
        };
        let replica =
            Shard::start(&self.open.data_dir, self.open.store.clone(), self.open.config.clone(), shard, self.open.db.clone(), node).await?;
        if let Ok(mut shards) = self.shards.write() {
            shards.insert(shard, replica);
        }
        Ok(())
    }

    /// Stops hosting `shard` (after the group removed this node); its files stay on disk.
    pub async fn close_replica(&self, shard: u64) -> Result<(), IngestError> {
        let replica: Option<Arc<Shard>> = self.shards.write().ok().and_then(|mut s| s.remove(&shard));
        hosted::record(&self.open.data_dir.join("raft"), shard, false)?;
        self.groups.remove(shard);
        if let Some(r) = replica {
            r.stop().await?;
        }
        Ok(())
    }

    /// Moves every replica node `node` holds to node `to` (at `to_addr`), shard by shard, so
    /// `node` can be stopped and removed; returns the shards moved. Shards `node` does not
    /// hold, or `to` already holds, are skipped.
    pub async fn drain_node(&self, node: u64, to: u64, to_addr: &str) -> Result<Vec<u64>, IngestError> {
        let mut moved = Vec::new();
        for shard in 0..self.placement.shards {
            match self.move_shard_replica(shard, node, to, to_addr).await {
                Ok(()) => moved.push(shard),
                Err(IngestError::Layout(_)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(moved)
    }

    /// On `shard`'s leader: moves the replica on node `from` to node `to` at `to_addr`.
    pub async fn move_replica(&self, shard: u64, from: u64, to: u64, to_addr: &str) -> Result<(), IngestError> {
        let replica = self.replica(shard).filter(|r| r.is_leader()).ok_or_else(|| {
            IngestError::NotLeader(format!("node {} does not lead shard {shard}", self.placement.node_id))
        })?;
        let voters: BTreeSet<u64> = replica.voters().into_iter().collect();
        if !voters.contains(&from) {
            return Err(IngestError::Layout(format!("node {from} holds no replica of shard {shard} (voters {voters:?})")));
        }
        if voters.contains(&to) {
            return Err(IngestError::Layout(format!("node {to} already holds a replica of shard {shard}")));
        }
        let from_addr = replica.node_addr(from).unwrap_or_default();
        forward_admin(&self.channels, to_addr, change(shard, "open")).await?;
        let raft = replica.raft();
        raft.add_learner(to, BasicNode::new(to_addr), true).await.map_err(|e| IngestError::Raft(format!("adding node {to} as a learner: {e}")))?;
        let mut next = voters.clone();
        next.remove(&from);
        next.insert(to);
        raft.change_membership(next, false).await.map_err(|e| IngestError::Raft(format!("replacing node {from} with {to}: {e}")))?;
        if from == self.placement.node_id {
            self.close_replica(shard).await
        } else {
            forward_admin(&self.channels, &from_addr, change(shard, "close")).await
        }
    }
}
