//! The ingester of a node: its shard replicas, and the routing of every stream to its shard.
//!
//! Streams are placed by [`shard_key`] (tenant and labels) over the hash ranges of the
//! shard map (`ingester.shards` equal ranges at first, more after splits); each range is a
//! [`Shard`]: one openraft group with its own log, heads and flusher, replicated on the
//! nodes the map names. A push touching several shards is sent to every shard's leader
//! concurrently (proposed here when this node leads, forwarded over gRPC otherwise, retried
//! while a leader is being elected; streams a split moved are sent on to the shard that
//! took them) and answered when every one has committed. A read asks every shard's leader
//! for a snapshot after a read index (locally or over gRPC), follows splits to the shards
//! they created, and merges them; an entry lives in exactly one shard, so they never overlap.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use futures::future::{join_all, try_join_all};
use store::StoreError;
use store::deletes::DeleteRequests;
use store::object::ChunkStore;
use store::shard::shard_key;
use store::time::ByteSize;
use store::view::{IngestView, ReadSnapshot, SnapshotRequest};

use crate::command::{PushOutcome, TenantPush};
use crate::config::{ClusterConfig, IngesterConfig, RaftLogStoreKind};
use crate::error::IngestError;
use crate::forward::{AdminOut, admin, forward_admin, forward_push, forward_read};
use crate::wire::WireRead;
use crate::log_store::open_db;
use crate::metrics;
use crate::placement::{Placement, parse_seed};
use crate::layout::{check_layout, check_log_store};
use crate::node_log::NodeLog;
use crate::shard::{LogStores, Shard, ShardNode};
use crate::shard_map::{META_GROUP, ShardMap};
use crate::status::{ClusterStatus, NodeStatus, ShardStatus};
use crate::transport::{Channels, Groups, GrpcNetwork};

/// How long a push waits for a shard to have a leader before it fails with 503.
const LEADER_WAIT: Duration = Duration::from_secs(10);
/// Pause between attempts while a shard elects a leader.
const RETRY_PAUSE: Duration = Duration::from_millis(100);
/// The longest pause between two attempts to reach a shard's leader.
const MAX_RETRY_PAUSE: Duration = Duration::from_secs(1);

/// The pause before attempt `attempt` (from 1) to reach a leader: [`RETRY_PAUSE`], doubling
/// on each attempt up to [`MAX_RETRY_PAUSE`], with up to a quarter of jitter so that many
/// distributors do not retry in step.
fn retry_backoff(attempt: usize) -> Duration {
    let doubled = RETRY_PAUSE.saturating_mul(1u32 << attempt.saturating_sub(1).min(4)).min(MAX_RETRY_PAUSE);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
    doubled + doubled / 4 * (nanos % 1000) / 1000
}

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
    /// An administrative operation for the leader (the change's `op`).
    Admin(&'a proto::ingest::ShardAdmin),
}

/// What a [`ShardOp`] produced.
enum ShardOut {
    Pushed(PushOutcome),
    Read((ReadSnapshot, Vec<u64>)),
    Admin(AdminOut),
}

/// What opening another shard replica later needs.
pub(crate) struct OpenArgs {
    pub(crate) data_dir: std::path::PathBuf,
    pub(crate) store: ChunkStore,
    pub(crate) config: IngesterConfig,
    pub(crate) logs: LogStores,
}

/// A node's running shard replicas.
pub struct Ingester {
    pub(crate) shards: std::sync::RwLock<BTreeMap<u64, Arc<Shard>>>,
    pub(crate) placement: Placement,
    pub(crate) channels: Channels,
    pub(crate) groups: Groups,
    /// What opening replicas needs; `None` on a node that hosts none (a process without
    /// the ingester role), which refuses to open one.
    pub(crate) open: Option<OpenArgs>,
    /// The delete requests as last fetched from the metadata leader, for a node without a
    /// metadata replica (refreshed every second; `None` until the first fetch).
    pub(crate) deletes_copy: std::sync::RwLock<Option<Arc<DeleteRequests>>>,
    /// The last node (id, address) that led each shard without a local replica.
    leader_hints: std::sync::Mutex<BTreeMap<u64, (u64, String)>>,
    /// This node's copy of the shard map.
    pub(crate) map: std::sync::RwLock<Arc<ShardMap>>,
    /// Wakes the map loop for an early refresh.
    pub(crate) map_wake: tokio::sync::Notify,
    /// Set once shutdown begins; the map loop ends.
    pub(crate) stopping: AtomicBool,
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
        check_log_store(&data_dir.join("raft"), config.raft_log_store)?;
        let logs = match config.raft_log_store {
            RaftLogStoreKind::Sled => LogStores::Sled(open_db(&data_dir.join("raft").join("sled"))?),
            RaftLogStoreKind::Segments => LogStores::PerGroup,
            RaftLogStoreKind::Shared => LogStores::Shared(NodeLog::open(&data_dir.join("raft").join("log"))?),
        };
        let mut per_shard = config.clone();
        per_shard.max_head_bytes = ByteSize(config.max_head_bytes.0 / count);
        let channels = Channels::with_book(placement.nodes.clone());
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
            Shard::start(data_dir, store.clone(), per_shard.clone(), i, logs.clone(), node)
        }))
        .await?;
        let shards = local.into_iter().zip(started).collect();
        let open = OpenArgs { data_dir: data_dir.to_path_buf(), store, config: per_shard, logs };
        let ingester = Ingester::assemble(placement, channels, groups, shards, Some(open));
        if ingester.placement.standalone() {
            // Alone, the map is recorded before the first request, so it is never taken
            // from the placement after a restart.
            ingester.refresh_map().await?;
        }
        tokio::spawn(crate::meta::map_loop(Arc::downgrade(&ingester)));
        tokio::spawn(crate::deletes::deletes_loop(Arc::downgrade(&ingester)));
        if let Some(OpenArgs { logs: LogStores::Shared(log), .. }) = &ingester.open {
            tokio::spawn(free_log_loop(Arc::downgrade(&ingester), log.clone()));
        }
        Ok(ingester)
    }

    /// Starts a node of the cluster `cluster.seeds` names that hosts no replica and never
    /// will (a stateless distributor, querier or compactor): it keeps a copy of the shard map and the delete
    /// requests, and sends every operation to the leaders of the cluster's groups. Its
    /// `cluster.node_id` must be unused by the cluster's nodes; it need not be among the
    /// seeds. Nothing is written to disk. Returns once the shard map arrived from the
    /// cluster, or after 10 s without it (it keeps asking in the background).
    pub async fn start_without_replicas(cluster: &ClusterConfig, grpc_addr: &str) -> Result<Arc<Ingester>, IngestError> {
        metrics::register();
        let mut seeds = cluster.clone();
        // Places no replica, so the replication factor is not this node's concern.
        seeds.replication_factor = 0;
        let own = if cluster.advertise_addr.is_empty() { grpc_addr } else { cluster.advertise_addr.as_str() };
        if !seeds.seeds.is_empty() && !seeds.seeds.iter().any(|s| parse_seed(s).is_ok_and(|(id, _)| id == cluster.node_id)) {
            seeds.seeds.push(format!("{}@{own}", cluster.node_id));
        }
        let placement = Placement::new(&seeds, 1, grpc_addr).map_err(IngestError::Layout)?;
        if placement.standalone() {
            return Err(IngestError::Layout("a process without the ingester role (target without write, ingester or all) needs cluster.seeds naming the cluster's nodes".into()));
        }
        let channels = Channels::with_book(placement.nodes.clone());
        let ingester = Ingester::assemble(placement, channels, Groups::default(), BTreeMap::new(), None);
        let deadline = Instant::now() + LEADER_WAIT;
        loop {
            match ingester.refresh_map().await {
                Ok(()) if ingester.map().version > 0 => break,
                Ok(()) => tracing::debug!("the cluster has recorded no shard map yet"),
                Err(e) => tracing::debug!(error = %e, "asking the cluster for the shard map"),
            }
            if Instant::now() >= deadline {
                tracing::warn!("no shard map from the cluster yet; starting anyway and asking again every second");
                break;
            }
            tokio::time::sleep(RETRY_PAUSE * 2).await;
        }
        tokio::spawn(crate::meta::map_loop(Arc::downgrade(&ingester)));
        tokio::spawn(crate::deletes::deletes_loop(Arc::downgrade(&ingester)));
        Ok(ingester)
    }

    fn assemble(placement: Placement, channels: Channels, groups: Groups, shards: BTreeMap<u64, Arc<Shard>>, open: Option<OpenArgs>) -> Arc<Ingester> {
        let map = std::sync::RwLock::new(Arc::new(placement.initial_map()));
        Arc::new(Ingester {
            shards: std::sync::RwLock::new(shards),
            placement,
            channels,
            groups,
            open,
            deletes_copy: std::sync::RwLock::default(),
            leader_hints: std::sync::Mutex::new(BTreeMap::new()),
            map,
            map_wake: tokio::sync::Notify::new(),
            stopping: AtomicBool::new(false),
        })
    }

    /// True when this node hosts replicas (false for a process without the ingester role).
    pub fn hosts_replicas(&self) -> bool {
        self.open.is_some()
    }

    /// This node's replica of `shard` (or of the metadata group), if it hosts one.
    pub fn replica(&self, shard: u64) -> Option<Arc<Shard>> {
        self.shards.read().ok().and_then(|s| s.get(&shard).cloned())
    }

    /// This node's shard replicas by shard id (the metadata group's is not a shard).
    pub fn replicas(&self) -> Vec<(u64, Arc<Shard>)> {
        self.shards
            .read()
            .map(|s| s.iter().filter(|(k, _)| **k != META_GROUP).map(|(k, v)| (*k, Arc::clone(v))).collect())
            .unwrap_or_default()
    }

    /// Every shard id: the map's and this node's replicas'.
    pub fn shard_ids(&self) -> Vec<u64> {
        let mut ids: BTreeSet<u64> = self.map().shards.keys().copied().collect();
        ids.extend(self.replicas().into_iter().map(|(id, _)| id));
        ids.into_iter().collect()
    }

    /// Nodes and shards as this node sees them: the shard map, with Raft state for the
    /// replicas this node holds.
    pub fn status(&self) -> ClusterStatus {
        let map = self.map();
        let nodes = map.nodes.iter().map(|(id, addr)| NodeStatus { id: *id, addr: addr.clone() }).collect();
        let shards = self
            .shard_ids()
            .into_iter()
            .map(|shard| {
                let entry = map.shards.get(&shard);
                let replicas = entry.map(|e| e.replicas.iter().copied().collect()).unwrap_or_default();
                let range = entry.map(|e| e.range);
                match self.replica(shard) {
                    Some(s) => {
                        let v = s.raft_view();
                        ShardStatus {
                            shard,
                            range: s.split_state().owned.or(range),
                            replicas: s.voters(),
                            local: true,
                            leader: v.leader,
                            term: Some(v.term),
                            last_log_index: v.last_log_index,
                            applied_index: v.applied_index,
                            lag: v.lag,
                        }
                    }
                    None => ShardStatus { shard, range, replicas, local: false, leader: None, term: None, last_log_index: None, applied_index: None, lag: Vec::new() },
                }
            })
            .collect();
        let meta = self.replica(META_GROUP).map(|m| m.raft_view());
        ClusterStatus { node_id: self.placement.node_id, map_version: map.version, meta_leader: meta.and_then(|v| v.leader), nodes, shards }
    }

    /// The Raft groups this node serves, for the transport server.
    pub fn groups(&self) -> Groups {
        self.groups.clone()
    }

    /// Sends `push` to the leaders of its streams' shards and returns once all have
    /// committed, fsynced and applied their part.
    pub async fn push(&self, push: TenantPush) -> Result<PushOutcome, IngestError> {
        let mut pieces = crate::pieces::split(push, crate::pieces::MAX_PIECE_BYTES).into_iter();
        let Some(first) = pieces.next() else { return Ok(PushOutcome::default()) };
        let mut total = self.push_piece(first).await?;
        // The pieces of a large push go one after another, so a stream's entries keep
        // their order.
        for piece in pieces {
            total.absorb(self.push_piece(piece).await?);
        }
        Ok(total)
    }

    /// Delivers one piece of a push to the leaders of the shards its streams belong to.
    async fn push_piece(&self, push: TenantPush) -> Result<PushOutcome, IngestError> {
        let map = self.map();
        let mut parts: BTreeMap<u64, TenantPush> = BTreeMap::new();
        for stream in push.streams {
            let key = shard_key(&push.tenant, &stream.labels);
            let shard = map.shard_of(key).ok_or_else(|| IngestError::Layout(format!("no shard owns key {key} in map version {}", map.version)))?;
            parts
                .entry(shard)
                .or_insert_with(|| TenantPush { tenant: push.tenant.clone(), streams: Vec::new() })
                .streams
                .push(stream);
        }
        let deadline = Instant::now() + LEADER_WAIT;
        let mut total = PushOutcome::default();
        loop {
            let outcomes = try_join_all(parts.iter().map(|(shard, part)| self.push_shard(*shard, part))).await?;
            // Streams a split moved go on to the shard that took them.
            let mut moved: BTreeMap<u64, TenantPush> = BTreeMap::new();
            for ((_, part), o) in parts.into_iter().zip(outcomes) {
                let misrouted = total.absorb(o);
                let mut streams: Vec<Option<_>> = part.streams.into_iter().map(Some).collect();
                for (i, to) in misrouted {
                    if let Some(stream) = streams.get_mut(i as usize).and_then(Option::take) {
                        moved.entry(to).or_insert_with(|| TenantPush { tenant: part.tenant.clone(), streams: Vec::new() }).streams.push(stream);
                    }
                }
            }
            if moved.is_empty() {
                return Ok(total);
            }
            self.map_wake.notify_one();
            if Instant::now() >= deadline {
                return Err(IngestError::Unavailable("streams kept moving between splitting shards".into()));
            }
            parts = moved;
        }
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
        if let Some(hint) = self.leader_hints.lock().ok().and_then(|h| h.get(&shard).cloned()) {
            return Some(hint);
        }
        let nodes: Vec<(u64, String)> = self.map().nodes.iter().filter(|(id, _)| **id != self.placement.node_id).map(|(id, a)| (*id, a.clone())).collect();
        nodes.get(attempt % nodes.len().max(1)).cloned()
    }

    fn set_hint(&self, shard: u64, leader: Option<(u64, String)>) {
        if let Ok(mut h) = self.leader_hints.lock() {
            match leader {
                Some(l) => h.insert(shard, l),
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
                    // Boxed: a split proposes to the metadata group through here again.
                    ShardOp::Admin(c) => Box::pin(admin(self, (*c).clone())).await.map(ShardOut::Admin),
                },
                Some((id, addr)) => match &op {
                    ShardOp::Push(p) => forward_push(&self.channels, (id, &addr), shard, p).await.map(ShardOut::Pushed),
                    ShardOp::Read { wire, .. } => forward_read(&self.channels, (id, &addr), shard, wire).await.map(ShardOut::Read),
                    ShardOp::Admin(c) => forward_admin(&self.channels, (id, &addr), (*c).clone()).await.map(ShardOut::Admin),
                },
                None => Err(IngestError::NotLeader(format!("shard {shard} has no leader yet"))),
            };
            match result {
                Err(IngestError::Redirect(id, addr)) if Instant::now() < deadline => {
                    // Follow the named leader at once (a short pause bounds a stale loop).
                    self.set_hint(shard, Some((id, addr)));
                    attempt += 1;
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                Err(IngestError::NotLeader(why)) | Err(IngestError::Unavailable(why)) | Err(IngestError::Redirect(_, why)) => {
                    self.set_hint(shard, None);
                    if Instant::now() >= deadline {
                        return Err(IngestError::Unavailable(format!("shard {shard} has no reachable leader: {why}")));
                    }
                    attempt += 1;
                    tokio::time::sleep(retry_backoff(attempt)).await;
                }
                other => return other,
            }
        }
    }

    /// Runs an administrative operation on `shard`'s leader (here or forwarded), retrying
    /// while the shard elects a leader.
    pub(crate) async fn on_leader_admin(&self, shard: u64, change: proto::ingest::ShardAdmin) -> Result<AdminOut, IngestError> {
        match self.on_leader(shard, ShardOp::Admin(&change)).await? {
            ShardOut::Admin(v) => Ok(v),
            _ => Err(IngestError::Raft("internal: a replica operation answered with data".into())),
        }
    }

    /// Delivers one shard's part of a push.
    async fn push_shard(&self, shard: u64, push: &TenantPush) -> Result<PushOutcome, IngestError> {
        match self.on_leader(shard, ShardOp::Push(push)).await? {
            ShardOut::Pushed(o) => Ok(o),
            _ => Err(IngestError::Raft("internal: a push answered with something else".into())),
        }
    }

    /// Reads `shard` here after confirming leadership (read index), with the shards split
    /// off it; `NotLeader` otherwise.
    pub async fn read_local(&self, shard: u64, tenant: &str, req: &SnapshotRequest) -> Result<(ReadSnapshot, Vec<u64>), IngestError> {
        let replica = self.replica(shard).ok_or_else(|| IngestError::NotLeader(format!("shard {shard} has no replica on node {}", self.placement.node_id)))?;
        if !self.placement.standalone() {
            if !replica.is_leader() {
                return Err(IngestError::NotLeader(format!("node {} does not lead shard {shard}", self.placement.node_id)));
            }
            replica.linearize().await?;
        }
        Ok(replica.read(tenant, req)?)
    }

    /// A linearizable snapshot of one shard, from its leader, with the shards split off it.
    async fn read_shard(&self, shard: u64, tenant: &str, req: &SnapshotRequest) -> Result<(ReadSnapshot, Vec<u64>), IngestError> {
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
        self.stopping.store(true, std::sync::atomic::Ordering::Relaxed);
        self.map_wake.notify_one();
        let all: Vec<Arc<Shard>> = self.shards.read().map(|s| s.values().cloned().collect()).unwrap_or_default();
        join_all(all.into_iter().map(|s| async move { s.shutdown().await })).await.into_iter().collect::<Result<Vec<()>, _>>()?;
        Ok(())
    }
}

/// Segments of the shared log kept before groups holding the oldest are snapshotted.
const LOG_SEGMENTS_KEPT: usize = 4;

/// Every 10 s, snapshots the groups that keep the shared log's oldest segment alive (an
/// idle group's last entries would otherwise hold every segment after them), so openraft
/// purges their log and the segment is deleted.
async fn free_log_loop(ingester: std::sync::Weak<Ingester>, log: NodeLog) {
    loop {
        tokio::time::sleep(Duration::from_secs(10)).await;
        let Some(i) = ingester.upgrade() else { return };
        if i.stopping.load(std::sync::atomic::Ordering::Relaxed) {
            return;
        }
        for group in log.pinning_groups(LOG_SEGMENTS_KEPT) {
            if let Some(replica) = i.replica(group)
                && let Err(e) = replica.snapshot().await
            {
                tracing::warn!(group, error = %e, "snapshot to free the shared log failed");
            }
        }
    }
}

#[async_trait]
impl IngestView for Ingester {
    /// Every shard's snapshot from its leader (read index), so a read sees every push
    /// acknowledged before it started; shards are read concurrently.
    /// A shard that split names the shards it split into, and they are read as well, so a
    /// stale map never hides a push acknowledged by a new shard. A stream whose entries
    /// straddle a split appears in both shards and is listed once.
    async fn snapshot(&self, tenant: &str, req: &SnapshotRequest) -> Result<ReadSnapshot, StoreError> {
        let mut out = ReadSnapshot::default();
        let mut todo: Vec<u64> = self.map().shards.keys().copied().collect();
        let mut seen: HashSet<u64> = todo.iter().copied().collect();
        let mut streams = HashSet::new();
        while !todo.is_empty() {
            let parts = try_join_all(todo.iter().map(|shard| self.read_shard(*shard, tenant, req))).await?;
            todo.clear();
            for (s, children) in parts {
                todo.extend(children.into_iter().filter(|c| seen.insert(*c)));
                out.streams.extend(s.streams.into_iter().filter(|(id, _)| streams.insert(*id)));
                out.files.extend(s.files);
                out.heads.extend(s.heads);
                out.row_groups.extend(s.row_groups);
            }
        }
        let deletes = self.delete_requests_of(tenant).await?;
        out.deletes = deletes.into_iter().filter(|d| d.start_ns < req.end && d.end_ns >= req.start).collect();
        Ok(out)
    }
}
