//! Moving a shard replica between nodes, online: the target opens an empty replica, the
//! leader adds it as a learner (it catches up from the log or a streamed snapshot), then
//! replaces the old voter with it in one membership change, and the old node stops hosting
//! the shard. Each node records what it hosts beyond its placement (`hosted`), so restarts
//! keep the new layout.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use openraft::BasicNode;

use crate::error::IngestError;
use proto::ingest::ShardAdmin;

use crate::forward::{AdminOut, Voters, forward_admin};
use crate::hosted;
use crate::ingester::Ingester;
use crate::shard::{Shard, ShardNode};
use crate::shard_map::{META_GROUP, MetaChange};
use crate::transport::GrpcNetwork;

/// An administrative request without a move's parameters.
pub(crate) fn change(shard: u64, op: &str) -> ShardAdmin {
    ShardAdmin { shard, op: op.to_string(), ..ShardAdmin::default() }
}

impl Ingester {
    /// Moves `shard`'s replica from node `from` to node `to` (at `to_addr`), through the
    /// shard's leader wherever it is.
    pub async fn move_shard_replica(&self, shard: u64, from: u64, to: u64, to_addr: &str) -> Result<(), IngestError> {
        let request = ShardAdmin { shard, op: "move".into(), from, to, to_addr: to_addr.to_string(), ..ShardAdmin::default() };
        self.on_leader_admin(shard, request).await.map(|_| ())
    }

    /// `shard`'s voters and their addresses, from its leader wherever it is.
    pub async fn shard_voters(&self, shard: u64) -> Result<Voters, IngestError> {
        match self.on_leader_admin(shard, change(shard, "voters")).await? {
            AdminOut::Voters(v) => Ok(v),
            other => Err(IngestError::Raft(format!("internal: voters answered {other:?}"))),
        }
    }

    /// On `shard`'s leader: its voters with their addresses.
    pub fn voters_local(&self, shard: u64) -> Result<Voters, IngestError> {
        let replica = self.replica(shard).filter(|r| r.is_leader()).ok_or_else(|| {
            IngestError::NotLeader(format!("node {} does not lead shard {shard}", self.placement.node_id))
        })?;
        Ok(replica.voters().into_iter().map(|id| (id, replica.node_addr(id).unwrap_or_default())).collect())
    }

    /// After joining: takes this node's share of replicas (retried while the cluster is busy).
    pub async fn rebalance_after_join(&self) {
        let me = (self.placement.node_id, self.placement.addr(self.placement.node_id).unwrap_or_default().to_string());
        for attempt in 1..=5 {
            match self.rebalance(std::slice::from_ref(&me)).await {
                Ok(moves) => {
                    tracing::info!(moves = ?moves, "rebalanced after joining");
                    return;
                }
                Err(e) => {
                    tracing::warn!(attempt, error = %e, "rebalancing after joining failed; retrying");
                    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
                }
            }
        }
    }

    /// Spreads replicas evenly over the shards' voters plus `joining` nodes (id, gRPC
    /// address), moving one replica at a time; returns the moves made (shard, from, to).
    pub async fn rebalance(&self, joining: &[(u64, String)]) -> Result<Vec<(u64, u64, u64)>, IngestError> {
        let mut voters: BTreeMap<u64, BTreeSet<u64>> = BTreeMap::new();
        let mut addrs: BTreeMap<u64, String> = joining.iter().cloned().collect();
        for shard in self.shard_ids() {
            let v = self.shard_voters(shard).await?;
            voters.insert(shard, v.iter().map(|(id, _)| *id).collect());
            for (id, addr) in v {
                addrs.entry(id).or_insert(addr);
            }
        }
        let nodes: BTreeSet<u64> = addrs.keys().copied().collect();
        let moves = plan_moves(&voters, &nodes);
        for &(shard, from, to) in &moves {
            let to_addr = addrs.get(&to).cloned().unwrap_or_default();
            self.move_shard_replica(shard, from, to, &to_addr).await?;
        }
        Ok(moves)
    }

    /// Starts hosting a replica of `shard` that joins its group when the leader adds it.
    pub async fn open_replica(&self, shard: u64) -> Result<(), IngestError> {
        if self.replica(shard).is_some() {
            return Ok(());
        }
        let Some(open) = &self.open else {
            return Err(IngestError::Layout(format!("node {} runs without the ingester role and hosts no replica", self.placement.node_id)));
        };
        hosted::record(&open.data_dir.join("raft"), shard, true)?;
        let node = ShardNode {
            node_id: self.placement.node_id,
            members: Default::default(),
            initialize: false,
            standalone: false,
            network: GrpcNetwork::new(shard, self.channels.clone()),
            groups: self.groups.clone(),
        };
        let replica =
            Shard::start(&open.data_dir, open.store.clone(), open.config.clone(), shard, open.logs.clone(), node).await?;
        if let Ok(mut shards) = self.shards.write() {
            shards.insert(shard, replica);
        }
        Ok(())
    }

    /// Stops hosting `shard` (after the group removed this node); its files stay on disk.
    pub async fn close_replica(&self, shard: u64) -> Result<(), IngestError> {
        let replica: Option<Arc<Shard>> = self.shards.write().ok().and_then(|mut s| s.remove(&shard));
        if let Some(open) = &self.open {
            hosted::record(&open.data_dir.join("raft"), shard, false)?;
        }
        self.groups.remove(shard);
        if let Some(r) = replica {
            r.stop().await?;
        }
        Ok(())
    }

    /// Moves every replica node `node` holds (its metadata group replica included) to node
    /// `to` (at `to_addr`), group by group, and removes `node` from the shard map, so it can
    /// be stopped; returns the shards moved. Groups `node` does not hold, or `to` already
    /// holds, are skipped; any failed move (say `to` hosts no replicas) stops the drain
    /// before `node` leaves the map.
    pub async fn drain_node(&self, node: u64, to: u64, to_addr: &str) -> Result<Vec<u64>, IngestError> {
        let mut moved = Vec::new();
        for shard in self.shard_ids().into_iter().chain([META_GROUP]) {
            let voters = self.shard_voters(shard).await?;
            if !voters.iter().any(|(v, _)| *v == node) || voters.iter().any(|(v, _)| *v == to) {
                continue;
            }
            self.move_shard_replica(shard, node, to, to_addr).await?;
            if shard != META_GROUP {
                moved.push(shard);
            }
        }
        self.propose_meta(MetaChange::RemoveNode { id: node }).await?;
        self.map_wake.notify_one();
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
        forward_admin(&self.channels, (to, to_addr), change(shard, "open")).await?;
        let raft = replica.raft();
        raft.add_learner(to, BasicNode::new(to_addr), true).await.map_err(|e| IngestError::Raft(format!("adding node {to} as a learner: {e}")))?;
        let mut next = voters.clone();
        next.remove(&from);
        next.insert(to);
        raft.change_membership(next, false).await.map_err(|e| IngestError::Raft(format!("replacing node {from} with {to}: {e}")))?;
        if from == self.placement.node_id {
            self.close_replica(shard).await?;
        } else if let Err(e) = forward_admin(&self.channels, (from, &from_addr), change(shard, "close")).await {
            // The group no longer counts `from`; closing its replica only tidies up, and a
            // dead node (the usual reason to drain it) cannot be asked.
            tracing::warn!(shard, node = from, error = %e, "the replaced replica could not be closed; it is out of the group");
        }
        self.map_wake.notify_one();
        Ok(())
    }
}

/// The replica moves that even out how many shards each of `nodes` is a voter of: while
/// the most loaded node holds two more than the least loaded, move one of its replicas (of
/// the lowest shard the least loaded node lacks) there.
pub fn plan_moves(voters: &BTreeMap<u64, BTreeSet<u64>>, nodes: &BTreeSet<u64>) -> Vec<(u64, u64, u64)> {
    let mut voters = voters.clone();
    let mut load: BTreeMap<u64, usize> = nodes.iter().map(|n| (*n, 0)).collect();
    for v in voters.values() {
        for n in v {
            *load.entry(*n).or_default() += 1;
        }
    }
    let mut moves = Vec::new();
    let least = |load: &BTreeMap<u64, usize>| load.iter().min_by_key(|(id, l)| (**l, **id)).map(|(id, l)| (*id, *l));
    let most = |load: &BTreeMap<u64, usize>| load.iter().max_by_key(|(id, l)| (**l, std::cmp::Reverse(**id))).map(|(id, l)| (*id, *l));
    while let (Some((under, low)), Some((over, high))) = (least(&load), most(&load)) {
        if high < low + 2 {
            break;
        }
        let Some(shard) = voters.iter().find(|(_, v)| v.contains(&over) && !v.contains(&under)).map(|(s, _)| *s) else { break };
        if let Some(v) = voters.get_mut(&shard) {
            v.remove(&over);
            v.insert(under);
        }
        *load.entry(over).or_default() -= 1;
        *load.entry(under).or_default() += 1;
        moves.push((shard, over, under));
    }
    moves
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plans_even_spread() {
        let v = |ids: &[u64]| ids.iter().copied().collect::<BTreeSet<u64>>();
        // 4 shards x RF 3 on nodes 1-3, node 4 joins: it gets 3 replicas, one from each.
        let voters: BTreeMap<u64, BTreeSet<u64>> = (0..4).map(|s| (s, v(&[1, 2, 3]))).collect();
        let moves = plan_moves(&voters, &v(&[1, 2, 3, 4]));
        assert_eq!(moves.len(), 3, "{moves:?}");
        assert!(moves.iter().all(|m| m.2 == 4));
        let froms: BTreeSet<u64> = moves.iter().map(|m| m.1).collect();
        assert_eq!(froms, v(&[1, 2, 3]));
        // Already even: nothing to do.
        assert!(plan_moves(&voters, &v(&[1, 2, 3])).is_empty());
        // A shard never gets the same node twice.
        let voters: BTreeMap<u64, BTreeSet<u64>> = BTreeMap::from([(0, v(&[1, 2]))]);
        assert!(plan_moves(&voters, &v(&[1, 2, 3])).is_empty());
    }
}
