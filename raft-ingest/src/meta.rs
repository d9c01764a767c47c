//! The metadata group at work on a node: keeping this node's copy of the shard map fresh,
//! recording the first map, proposing changes through the metadata leader, and making the
//! map follow what the shard groups themselves decided (membership changes, splits).
//!
//! The shard groups are the truth about their own voters and ranges; the map records it
//! for routing and status. A leader that sees its shard differ from the map proposes the
//! difference, so a change whose map update was lost (a crash between the group's change
//! and the map's) is recorded on the next round.

use std::collections::BTreeSet;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::Duration;

use proto::ingest::ShardAdmin;

use crate::command::{ApplyResult, Command};
use crate::error::IngestError;
use crate::forward::{AdminOut, forward_admin};
use crate::ingester::Ingester;
use crate::membership::change;
use crate::shard::Shard;
use crate::shard_map::{META_GROUP, MetaChange, ShardEntry, ShardMap};
use crate::transport::codec::encode;

/// How often a node refreshes its copy of the map.
const MAP_REFRESH: Duration = Duration::from_secs(1);

impl Ingester {
    /// This node's copy of the shard map (the placement's until a recorded map arrives).
    pub fn map(&self) -> Arc<ShardMap> {
        match self.map.read() {
            Ok(m) => Arc::clone(&m),
            Err(_) => Arc::new(self.placement.initial_map()),
        }
    }

    /// The freshest map this node has: its metadata replica's or its copy.
    pub fn local_map(&self) -> ShardMap {
        let copy = self.map();
        match self.replica(META_GROUP).map(|m| m.map()) {
            Some(applied) if !applied.is_empty() && applied.version >= copy.version => applied,
            _ => (*copy).clone(),
        }
    }

    /// Replaces the copy with `map` when it is a newer recorded map.
    fn install_map(&self, map: ShardMap) {
        if map.is_empty() {
            return;
        }
        if let Ok(mut current) = self.map.write()
            && map.version > current.version
        {
            *current = Arc::new(map);
        }
    }

    /// On the metadata leader: records the first map (the placement's) when there is none.
    async fn init_map(&self, meta: &Shard) -> Result<(), IngestError> {
        if meta.is_leader() && meta.map().is_empty() {
            meta.propose(Command::Meta(MetaChange::Init(self.placement.initial_map()))).await?;
        }
        Ok(())
    }

    /// Refreshes the copy from the local metadata replica, else from the other nodes in
    /// turn.
    pub(crate) async fn refresh_map(&self) -> Result<(), IngestError> {
        if let Some(meta) = self.replica(META_GROUP) {
            self.init_map(&meta).await?;
            let applied = meta.map();
            if !applied.is_empty() {
                self.install_map(applied);
                return Ok(());
            }
        }
        let me = self.placement.node_id;
        let mut last = IngestError::Unavailable("no other node to ask for the shard map".into());
        for (id, addr) in self.map().nodes.iter().filter(|(id, _)| **id != me) {
            match forward_admin(&self.channels, (*id, addr), change(META_GROUP, "map")).await {
                Ok(AdminOut::Map(m)) if !m.is_empty() => {
                    self.install_map(m);
                    return Ok(());
                }
                Ok(_) => {}
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    /// Proposes `change` to the metadata group through its leader, wherever it is.
    pub(crate) async fn propose_meta(&self, change: MetaChange) -> Result<AdminOut, IngestError> {
        let bytes = encode(&change).map_err(|e| IngestError::Raft(e.to_string()))?;
        let request = ShardAdmin { shard: META_GROUP, op: "meta".into(), change: bytes, ..ShardAdmin::default() };
        self.on_leader_admin(META_GROUP, request).await
    }

    /// On the metadata leader: proposes `change` and answers a reserved id, if any.
    pub async fn meta_local(&self, change: MetaChange) -> Result<AdminOut, IngestError> {
        let meta = self.replica(META_GROUP).filter(|m| m.is_leader()).ok_or_else(|| {
            IngestError::NotLeader(format!("node {} does not lead the metadata group", self.placement.node_id))
        })?;
        self.init_map(&meta).await?;
        match meta.propose(Command::Meta(change)).await? {
            ApplyResult::Reserved(id) => Ok(AdminOut::Shard(id)),
            ApplyResult::Lease(holder) => Ok(AdminOut::Lease(holder)),
            _ => Ok(AdminOut::Done),
        }
    }

    /// Proposes what the groups this node leads know and the map does not: their voters,
    /// their range after splits, the shards split off them, and voters missing from the
    /// node list.
    pub(crate) async fn reconcile_map(&self) -> Result<(), IngestError> {
        let map = self.local_map();
        if map.is_empty() || map.version == 0 {
            return Ok(());
        }
        let mut upserts = Vec::new();
        let mut nodes = Vec::new();
        for (id, replica) in self.replicas() {
            if !replica.is_leader() {
                continue;
            }
            let split = replica.split_state();
            let voters: BTreeSet<u64> = replica.voters().into_iter().collect();
            for v in voters.iter().filter(|v| !map.nodes.contains_key(v)) {
                if let Some(addr) = replica.node_addr(*v) {
                    nodes.push((*v, addr));
                }
            }
            let Some(range) = split.owned.or_else(|| map.shards.get(&id).map(|e| e.range)) else { continue };
            let entry = ShardEntry { range, replicas: voters };
            if map.shards.get(&id) != Some(&entry) {
                upserts.push((id, entry));
            }
            for c in split.children.iter().filter(|c| !map.shards.contains_key(&c.shard)) {
                upserts.push((c.shard, ShardEntry { range: c.range, replicas: c.replicas.clone() }));
            }
        }
        nodes.sort_unstable();
        nodes.dedup();
        for (id, addr) in nodes {
            self.propose_meta(MetaChange::AddNode { id, addr }).await?;
        }
        if !upserts.is_empty() {
            self.propose_meta(MetaChange::Upsert(upserts)).await?;
            self.refresh_map().await?;
        }
        Ok(())
    }
}

/// Refreshes the map copy and reconciles it every [`MAP_REFRESH`], or at once when woken,
/// until the ingester shuts down.
pub(crate) async fn map_loop(ingester: Weak<Ingester>) {
    loop {
        let Some(i) = ingester.upgrade() else { return };
        if i.stopping.load(Ordering::Relaxed) {
            return;
        }
        match i.refresh_map().await {
            Ok(()) => {
                if let Err(e) = i.reconcile_map().await {
                    tracing::debug!(error = %e, "shard map reconcile failed; retrying");
                }
            }
            Err(e) => tracing::debug!(error = %e, "shard map refresh failed; retrying"),
        }
        tokio::select! {
            _ = tokio::time::sleep(MAP_REFRESH) => {}
            _ = i.map_wake.notified() => {}
        }
    }
}
