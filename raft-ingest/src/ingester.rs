//! The ingester of a node: its shard replicas, and the routing of every stream to its shard.
//!
//! Streams are placed by [`shard_key`] (tenant and labels) over `ingester.shards` equal
//! hash ranges; each range is a [`Shard`]: one openraft group with its own log, heads and
//! flusher, replicated on the nodes [`Placement`] names. A push touching several shards is
//! sent to every shard's leader concurrently (proposed here when this node leads, forwarded
//! over gRPC otherwise, retried while a leader is being elected) and answered when every one
//! has committed. A read asks every shard's leader for a snapshot after a read index
//! (locally or over gRPC) and merges them; they never overlap because a stream lives in
//! exactly one shard.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use futures::future::{join_all, try_join_all};
use store::StoreError;
use store::object::ChunkStore;
use store::shard::{EvenRanges, shard_key};
use store::time::ByteSize;
use store::view::{IngestView, ReadSnapshot, SnapshotRequest};

use crate::command::{PushOutcome, TenantPush};
use crate::config::{ClusterConfig, IngesterConfig, RaftLogStoreKind};
use crate::error::IngestError;
use crate::forward::{Voters, forward_admin, forward_push, forward_read};
use crate::wire::WireRead;
use crate::log_store::open_db;
use crate::metrics;
use crate::placement::Placement;
use crate::shard::{Shard, ShardNode};
use crate::status::{ClusterStatus, NodeStatus, ShardStatus};
use crate::transport::{Channels, Groups, GrpcNetwork};

/// How long a push waits for a shard to have a leader before it fails with 503.
const LEADER_WAIT: Duration = Duration::from_secs(10);
/// Pause between attempts while a shard elects a leader.
const RETRY_PAUSE: Duration = Duration::from_millis(100);

/// An operation that must run on a shard's leader.
enum ShardOp<'a> {
    /// Propose a push.
    Push(&'a TenantPush),
    /// Take a linearizable snapshot.
    Read {
        /// Tenant.
        tenant: &'a str,
        /// The request, compiled.
        req: &'a SnapshotRequest,
        /// The request, as sent to another node.
        wire: &'a WireRead,
    },
    /// Move a replica, or list the voters (the change's `op`).
    Admin(&'a proto::ingest::ShardAdmin),
}

/// What a [`ShardOp`] produced.
enum ShardOut {
    Pushed(PushOutcome),
    Read(ReadSnapshot),
    Admin(Voters),
}

/// What opening another shard replica later needs.
pub(crate) struct OpenArgs {
    pub(crate) data_dir: std::path::PathBuf,
    pub(crate) store: ChunkStore,
    pub(crate) config: IngesterConfig,
    pub(crate) db: Option<sled::Db>,
}

/// A node's running shard replicas.
pub struct Ingester {
    pub(crate) shards: std::sync::RwLock<BTreeMap<u64, Arc<Shard>>>,
    pub(crate) placement: Placement,
    pub(crate) channels: Channels,
    pub(crate) groups: Groups,
    pub(crate) open: OpenArgs,
    /// The last address that led each shard without a local replica.
    leader_hints: std::sync::Mutex<BTreeMap<u64, String>>,
}

impl std::fmt::Debug for Ingester {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ingester").field("shards", &self.replicas().len()).field("placement", &self.placement).finish()
    }
}

impl Ingester {
    /// Starts this node's shard replicas under `data_dir`. `grpc_addr` is the address peers
    /// reach this node at unless `cluster.advertise_addr` says otherwise. Standalone, it
    /// returns once every shard leads its group; in a cluster, groups elect in the background.
    /// Head size limits (`max_head_bytes`) are split evenly between the shards.
    pub async fn start(
        data_dir: &Path,
        store: ChunkStore,
        config: IngesterConfig,
        cluster: &ClusterConfig,
        grpc_addr: &str,
    ) -> Result<Arc<Ingester>, IngestError> {
        metrics::register();
        let count = config.shards.max(1);
        let placement = Placement::new(cluster, count, grpc_addr).map_err(IngestError::Layout)?;
        check_layout(&data_dir.join("raft"), count)?;
        let db = match config.raft_log_store {
            RaftLogStoreKind::Sled => Some(open_db(&data_dir.join("raft").join("sled"))?),
            RaftLogStoreKind::Segments => None,
        };
        let mut per_shard = config.clone();
        per_shard.max_head_bytes = ByteSize(config.max_head_bytes.0 / count);
        let channels = Channels::default();
        let groups = Groups::default();
        let hosted = crate::hosted::load(&data_dir.join("raft"))?;
        let mut local: Vec<u64> = if cluster.join { Vec::new() } else { placement.local_shards() };
        local.extend(hosted.added.iter().copied());
        local.retain(|s| !hosted.removed.contains(s));
        local.sort_unstable();
        local.dedup();
        let started = try_join_all(local.iter().map(|&i| {
            let node = ShardNode {
                node_id: placement.node_id,
                members: placement.members(i),
                initialize: placement.initializes(i) && !cluster.join && !hosted.added.contains(&i),
                standalone: placement.standalone(),
                network: GrpcNetwork::new(i, channels.clone()),
                groups: groups.clone(),
            };
            Shard::start(data_dir, store.clone(), per_shard.clone(), i, db.clone(), node)
        }))
        .await?;
        let shards = std::sync::RwLock::new(local.into_iter().zip(started).collect());
        let open = OpenArgs { data_dir: data_dir.to_path_buf(), store, config: per_shard, db };
        Ok(Arc::new(Ingester {
            shards,
            placement,
            channels,
            groups,
            open,
            leader_hints: std::sync::Mutex::new(BTreeMap::new()),
        }))
    }

    /// This node's replica of `shard`, if it hosts one.
    pub fn replica(&self, shard: u64) -> Option<Arc<Shard>> {
        self.shards.read().ok().and_then(|s| s.get(&shard).cloned())
    }

    /// This node's shard replicas by shard id.
    pub fn replicas(&self) -> Vec<(u64, Arc<Shard>)> {
        self.shards.read().map(|s| s.iter().map(|(k, v)| (*k, Arc::clone(v))).collect()).unwrap_or_default()
    }

    /// Nodes and shards as this node sees them.
    pub fn status(&self) -> ClusterStatus {
        let nodes = self.placement.nodes.iter().map(|(id, addr)| NodeStatus { id: *id, addr: addr.clone() }).collect();
        let shards = (0..self.placement.shards)
            .map(|shard| {
                let replicas = self.placement.replicas(shard);
                match self.replica(shard) {
                    Some(s) => {
                        let v = s.raft_view();
                        ShardStatus {
                            shard,
                            replicas: s.voters(),
                            local: true,
                            leader: v.leader,
                            term: Some(v.term),
                            last_log_index: v.last_log_index,
                            applied_index: v.applied_index,
                            lag: v.lag,
                        }
                    }
                    None => ShardStatus { shard, replicas, local: false, leader: None, term: None, last_log_index: None, applied_index: None, lag: Vec::new() },
                }
            })
            .collect();
        ClusterStatus { node_id: self.placement.node_id, nodes, shards }
    }

    /// The Raft groups this node serves, for the transport server.
    pub fn groups(&self) -> Groups {
        self.groups.clone()
    }

    /// Sends `push` to the leaders of its streams' shards and returns once all have
    /// committed, fsynced and applied their part.
    pub async fn push(&self, push: TenantPush) -> Result<PushOutcome, IngestError> {
        let mut parts: BTreeMap<u64, TenantPush> = BTreeMap::new();
        for stream in push.streams {
            let shard = EvenRanges::new(self.placement.shards).range_of(shard_key(&push.tenant, &stream.labels));
            parts
                .entry(shard)
                .or_insert_with(|| TenantPush { tenant: push.tenant.clone(), streams: Vec::new() })
                .streams
                .push(stream);
        }
        let outcomes = try_join_all(parts.into_iter().map(|(shard, part)| self.push_shard(shard, part))).await?;
        let mut total = PushOutcome::default();
        for o in outcomes {
            total.accepted += o.accepted;
            total.bytes += o.bytes;
            total.duplicates += o.duplicates;
            total.rejected.extend(o.rejected);
        }
        Ok(total)
    }

    /// Proposes `push` to `shard` here if this node leads it; `NotLeader` otherwise.
    pub async fn push_local(&self, shard: u64, push: TenantPush) -> Result<PushOutcome, IngestError> {
        let replica = self.replica(shard).ok_or_else(|| IngestError::NotLeader(format!("shard {shard} has no replica on node {}", self.placement.node_id)))?;
        match replica.leader() {
            Some((id, _)) if id == self.placement.node_id => replica.push(push).await,
            Some((id, addr)) => Err(IngestError::NotLeader(format!("shard {shard} is led by node {id} at {addr}"))),
            None => Err(IngestError::NotLeader(format!("shard {shard} has no leader yet"))),
        }
    }

    /// Where to send `shard`'s requests: the leader this node's replica knows of, else the
    /// last leader another node named, else every known node in turn.
    fn route(&self, shard: u64, attempt: usize) -> Option<(u64, String)> {
        if let Some(replica) = self.replica(shard) {
            return replica.leader();
        }
        if let Some(addr) = self.leader_hints.lock().ok().and_then(|h| h.get(&shard).cloned()) {
            return Some((0, addr));
        }
        let ids: Vec<u64> = self.placement.nodes.keys().copied().filter(|id| *id != self.placement.node_id).collect();
        let id = *ids.get(attempt % ids.len().max(1))?;
        Some((id, self.placement.addr(id)?.to_string()))
    }

    fn set_hint(&self, shard: u64, addr: Option<String>) {
        if let Ok(mut h) = self.leader_hints.lock() {
            match addr {
                Some(a) => h.insert(shard, a),
                None => h.remove(&shard),
            };
        }
    }

    /// Runs `op` on `shard`'s leader: here when this node leads it, over gRPC otherwise
    /// (to the leader this node knows of, or to each replica in turn), retrying on
    /// `NotLeader` while the shard elects a leader.
    async fn on_leader(&self, shard: u64, op: ShardOp<'_>) -> Result<ShardOut, IngestError> {
        let deadline = Instant::now() + LEADER_WAIT;
        let mut attempt = 0;
        loop {
            let result = match self.route(shard, attempt) {
                Some((id, _)) if id == self.placement.node_id => match &op {
                    ShardOp::Push(p) => self.push_local(shard, (*p).clone()).await.map(ShardOut::Pushed),
                    ShardOp::Read { tenant, req, .. } => self.read_local(shard, tenant, req).await.map(ShardOut::Read),
                    ShardOp::Admin(c) if c.op == "voters" => self.voters_local(shard).map(ShardOut::Admin),
                    ShardOp::Admin(c) => self.move_replica(shard, c.from, c.to, &c.to_addr).await.map(|()| ShardOut::Admin(Vec::new())),
                },
                Some((_, addr)) => match &op {
                    ShardOp::Push(p) => forward_push(&self.channels, &addr, shard, p).await.map(ShardOut::Pushed),
                    ShardOp::Read { wire, .. } => forward_read(&self.channels, &addr, shard, wire).await.map(ShardOut::Read),
                    ShardOp::Admin(c) => forward_admin(&self.channels, &addr, (*c).clone()).await.map(ShardOut::Admin),
                },
                None => Err(IngestError::NotLeader(format!("shard {shard} has no leader yet"))),
            };
            match result {
                Err(IngestError::Redirect(addr)) if Instant::now() < deadline => {
                    // Follow the named leader at once (a short pause bounds a stale loop).
                    self.set_hint(shard, Some(addr));
                    attempt += 1;
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                Err(IngestError::NotLeader(why)) | Err(IngestError::Unavailable(why)) | Err(IngestError::Redirect(why)) => {
                    self.set_hint(shard, None);
                    if Instant::now() >= deadline {
                        return Err(IngestError::Unavailable(format!("shard {shard} has no reachable leader: {why}")));
                    }
                    attempt += 1;
                    tokio::time::sleep(RETRY_PAUSE).await;
                }
                other => return other,
            }
        }
    }

    /// Runs a replica change on `shard`'s leader (here or forwarded), retrying while the
    /// shard elects a leader.
    pub(crate) async fn on_leader_admin(&self, shard: u64, change: proto::ingest::ShardAdmin) -> Result<Voters, IngestError> {
        match self.on_leader(shard, ShardOp::Admin(&change)).await? {
            ShardOut::Admin(v) => Ok(v),
            _ => Err(IngestError::Raft("internal: a replica operation answered with data".into())),
        }
    }

    /// Delivers one shard's part of a push.
    async fn push_shard(&self, shard: u64, push: TenantPush) -> Result<PushOutcome, IngestError> {
        match self.on_leader(shard, ShardOp::Push(&push)).await? {
            ShardOut::Pushed(o) => Ok(o),
            _ => Err(IngestError::Raft("internal: a push answered with something else".into())),
        }
    }

    /// Reads `shard` here after confirming leadership (read index); `NotLeader` otherwise.
    pub async fn read_local(&self, shard: u64, tenant: &str, req: &SnapshotRequest) -> Result<ReadSnapshot, IngestError> {
        let replica = self.replica(shard).ok_or_else(|| IngestError::NotLeader(format!("shard {shard} has no replica on node {}", self.placement.node_id)))?;
        if !self.placement.standalone() {
            if !replica.is_leader() {
                return Err(IngestError::NotLeader(format!("node {} does not lead shard {shard}", self.placement.node_id)));
            }
            replica.linearize().await?;
        }
        Ok(replica.snapshot(tenant, req).await?)
    }

    /// A linearizable snapshot of one shard, from its leader.
    async fn read_shard(&self, shard: u64, tenant: &str, req: &SnapshotRequest) -> Result<ReadSnapshot, IngestError> {
        let wire = WireRead::new(tenant, req);
        match self.on_leader(shard, ShardOp::Read { tenant, req, wire: &wire }).await? {
            ShardOut::Read(s) => Ok(s),
            _ => Err(IngestError::Raft("internal: a read answered with something else".into())),
        }
    }

    /// Writes every shard's heads to chunk files now; returns once every flush is recorded.
    pub async fn flush(&self) -> Result<(), IngestError> {
        try_join_all(self.replicas().into_iter().map(|(_, s)| async move { s.flush().await })).await?;
        Ok(())
    }

    /// Stops every shard (flushing heads if configured); the first error is returned after
    /// all shards were asked to stop.
    pub async fn shutdown(&self) -> Result<(), IngestError> {
        join_all(self.replicas().into_iter().map(|(_, s)| async move { s.shutdown().await })).await.into_iter().collect::<Result<Vec<()>, _>>()?;
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
    /// Every shard's snapshot from its leader (read index), so a read sees every push
    /// acknowledged before it started; shards are read concurrently.
    async fn snapshot(&self, tenant: &str, req: &SnapshotRequest) -> Result<ReadSnapshot, StoreError> {
        let mut out = ReadSnapshot::default();
        let parts = try_join_all((0..self.placement.shards).map(|shard| self.read_shard(shard, tenant, req)))
            .await
            .map_err(|e| StoreError::Io(std::io::Error::other(e.to_string())))?;
        for s in parts {
            out.streams.extend(s.streams);
            out.files.extend(s.files);
            out.heads.extend(s.heads);
        }
        Ok(out)
    }
}
