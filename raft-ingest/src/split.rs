//! Splitting a shard's key range in two, online.
//!
//! On the shard's leader: reserve a shard id in the metadata group, open the new shard's
//! replicas on the shard's voters and initialize its group, then propose `Split` to the old
//! shard. From that entry on the old shard turns away streams of the upper range, naming
//! the new shard, and the distributor sends them there; the map records both ranges. The
//! old shard keeps the heads of moved streams until its next flush and its chunk files
//! after, and readers follow its `Split` records to the new shard, so nothing acknowledged
//! is hidden and nothing is read twice.

use std::collections::{BTreeMap, BTreeSet};

use openraft::BasicNode;
use proto::ingest::ShardAdmin;

use crate::command::Command;
use crate::error::IngestError;
use crate::forward::{AdminOut, forward_admin};
use crate::ingester::Ingester;
use crate::membership::change;
use crate::shard_map::{MetaChange, ShardEntry, SplitChild};

impl Ingester {
    /// Splits `shard` at key `at` (0: the middle of its range) through its leader, wherever
    /// it is; returns the new shard's id.
    pub async fn split_shard(&self, shard: u64, at: u64) -> Result<u64, IngestError> {
        if !self.shard_ids().contains(&shard) {
            return Err(IngestError::Layout(format!("there is no shard {shard}")));
        }
        let request = ShardAdmin { shard, op: "split".into(), at, ..ShardAdmin::default() };
        match self.on_leader_admin(shard, request).await? {
            AdminOut::Shard(id) => Ok(id),
            other => Err(IngestError::Raft(format!("internal: split answered {other:?}"))),
        }
    }

    /// On `shard`'s leader: splits it at `at` and returns the new shard's id.
    pub async fn split_local(&self, shard: u64, at: u64) -> Result<u64, IngestError> {
        let me = self.placement.node_id;
        let replica = self
            .replica(shard)
            .filter(|r| r.is_leader())
            .ok_or_else(|| IngestError::NotLeader(format!("node {me} does not lead shard {shard}")))?;
        let range = match replica.split_state().owned {
            Some(r) => r,
            None => self
                .local_map()
                .shards
                .get(&shard)
                .map(|e| e.range)
                .ok_or_else(|| IngestError::Unavailable(format!("shard {shard} is not in the shard map yet; retry")))?,
        };
        let (keep, give) = range.split(at).map_err(IngestError::Layout)?;
        let child = match self.propose_meta(MetaChange::Reserve).await? {
            AdminOut::Shard(id) => id,
            other => return Err(IngestError::Raft(format!("internal: reserving a shard id answered {other:?}"))),
        };
        let voters = self.voters_local(shard)?;
        for (id, addr) in &voters {
            if *id == me {
                self.open_replica(child).await?;
            } else {
                forward_admin(&self.channels, (*id, addr), change(child, "open")).await?;
            }
        }
        let members: BTreeMap<u64, BasicNode> = voters.iter().map(|(id, addr)| (*id, BasicNode::new(addr))).collect();
        let new = self.replica(child).ok_or_else(|| IngestError::Raft(format!("shard {child} did not open")))?;
        new.raft().initialize(members).await.map_err(|e| IngestError::Raft(format!("initializing shard {child}: {e}")))?;
        let replicas: BTreeSet<u64> = voters.iter().map(|(id, _)| *id).collect();
        replica.propose(Command::Split { keep, child: SplitChild { shard: child, range: give, replicas: replicas.clone() } }).await?;
        let upsert = vec![(shard, ShardEntry { range: keep, replicas: replicas.clone() }), (child, ShardEntry { range: give, replicas })];
        if let Err(e) = self.propose_meta(MetaChange::Upsert(upsert)).await {
            tracing::warn!(shard, child, error = %e, "recording the split in the shard map failed; the map loop records it later");
        }
        self.map_wake.notify_one();
        tracing::info!(shard, child, at = give.first, "split shard");
        Ok(child)
    }
}
