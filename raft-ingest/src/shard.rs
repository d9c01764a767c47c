//! One ingest shard: an openraft group over its Raft log, with group commit and a flusher.
//!
//! Pushes queue into a bounded channel; the proposer drains whatever has queued while the
//! previous proposals were being fsynced and proposes it as one `Command::Push`, so
//! concurrent pushes share one log entry and one fsync. The flusher watches the heads and,
//! when a flush condition holds, writes them to Parquet, proposes `Flushed`, and asks
//! openraft for a snapshot so the log before it can be purged.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use openraft::async_runtime::WatchReceiver;
use openraft::{BasicNode, Config, Raft, SnapshotPolicy};
use tokio::sync::{Mutex, Notify, Semaphore, mpsc, oneshot, watch};

use store::StoreError;
use store::chunk::write_chunk;
use store::manifest::IndexedFiles;
use store::object::ChunkStore;
use store::view::{ReadSnapshot, SnapshotRequest};

use crate::command::{ApplyResult, Command, FlushedFile, PushOutcome, TenantPush, TypeConfig};
use crate::config::IngesterConfig;
use crate::group_log::GroupLog;
use crate::node_log::NodeLog;
use crate::error::IngestError;
use crate::heads::{FlushStats, HeadsConfig};
use crate::log_store::LogStore;
use crate::metrics;
use crate::transport::{Groups, GrpcNetwork};
use crate::segment_log::SegmentLog;
use crate::shard_map::{ShardMap, SplitState, group_name};
use crate::state_machine::{SharedState, StateMachine, snapshot_file};

/// Where a node's groups keep their Raft logs.
#[derive(Clone)]
pub enum LogStores {
    /// One log for every group of the node.
    Shared(NodeLog),
    /// A segment log per group under `raft/segments-{group}`.
    PerGroup,
    /// Trees of one sled database.
    Sled(sled::Db),
}

/// How this node takes part in a shard's group.
#[derive(Debug, Clone)]
pub struct ShardNode {
    /// This node's id.
    pub node_id: u64,
    /// The group's voters, used when this node initializes it.
    pub members: BTreeMap<u64, BasicNode>,
    /// Whether this node initializes a new group (see [`crate::placement::Placement::initializes`]).
    pub initialize: bool,
    /// Whether the group has this node as its only voter.
    pub standalone: bool,
    /// Clients to peers.
    pub network: GrpcNetwork,
    /// Where the transport server finds this group.
    pub groups: Groups,
}
/// How long a clustered shard tries to flush on shutdown.
const CLUSTER_SHUTDOWN_FLUSH: Duration = Duration::from_secs(5);
/// How long a push waits for its proposal to commit before it fails with 503.
const COMMIT_WAIT: Duration = Duration::from_secs(8);
/// Proposals in flight at once: one being fsynced while the next one fills.
const PROPOSALS_IN_FLIGHT: usize = 2;
/// Pushes waiting for a proposal before new ones wait at the door.
const QUEUE_LEN: usize = 1024;

struct Pending {
    push: TenantPush,
    bytes: usize,
    reply: oneshot::Sender<Result<PushOutcome, IngestError>>,
}

/// One replica's view of its group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RaftView {
    /// The leader it knows of.
    pub leader: Option<u64>,
    /// Current term.
    pub term: u64,
    /// Last log index.
    pub last_log_index: Option<u64>,
    /// Last applied index.
    pub applied_index: Option<u64>,
    /// On the leader: entries each follower is behind.
    pub lag: Vec<(u64, u64)>,
}

/// A running ingest shard.
pub struct Shard {
    raft: Raft<TypeConfig, StateMachine>,
    state: SharedState,
    /// Where the group's log is.
    logs: LogStores,
    /// The directory of the group's snapshot (and per-group log).
    raft_dir: std::path::PathBuf,
    queue: Mutex<Option<mpsc::Sender<Pending>>>,
    flush_lock: Mutex<()>,
    store: ChunkStore,
    config: IngesterConfig,
    shard: u64,
    /// The group has this node as its only voter.
    standalone: bool,
    stop: watch::Sender<bool>,
    /// Wakes the flusher as soon as a push takes heads past a size limit.
    flush_wake: Notify,
}

impl Shard {
    /// Opens shard `shard`'s log (in `logs`) and state under `data_dir`, starts Raft, the
    /// proposer and the flusher. A standalone node
    /// returns once it leads the group and has replayed its log; in a cluster the group
    /// elects its leader in the background.
    pub async fn start(
        data_dir: &Path,
        store: ChunkStore,
        config: IngesterConfig,
        shard: u64,
        logs: LogStores,
        node: ShardNode,
    ) -> Result<Arc<Shard>, IngestError> {
        let raft_dir = data_dir.join("raft");
        let heads_config = HeadsConfig { out_of_order_window: config.max_chunk_age.0 / 2 };
        let sm = StateMachine::open(&raft_dir, shard, heads_config)?;
        let state = sm.state();
        let raft_config = Config {
            cluster_name: format!("skald-shard-{}", group_name(shard)),
            heartbeat_interval: 100,
            election_timeout_min: 200,
            election_timeout_max: 400,
            snapshot_policy: SnapshotPolicy::Never,
            // A restarted leader must win an election before it serves again: the state
            // machine is in memory and the commit point is not persisted, so a leader that
            // restored itself would answer read-index reads from a state that is missing
            // entries committed before the crash.
            enable_leader_restore: Some(false),
            max_in_snapshot_log_to_keep: 0,
            purge_batch_size: 1,
            ..Config::default()
        }
        .validate()
        .map_err(|e| IngestError::Raft(e.to_string()))?;
        let raft_config = Arc::new(raft_config);
        let raft = match &logs {
            LogStores::Shared(log) => Raft::new(node.node_id, raft_config, node.network.clone(), GroupLog::new(log.clone(), shard), sm).await,
            LogStores::PerGroup => {
                let log = SegmentLog::open(&raft_dir.join(format!("segments-{}", group_name(shard))))?;
                Raft::new(node.node_id, raft_config, node.network.clone(), log, sm).await
            }
            LogStores::Sled(db) => Raft::new(node.node_id, raft_config, node.network.clone(), LogStore::open(db, shard)?, sm).await,
        };
        let raft = raft.map_err(|e| IngestError::Raft(e.to_string()))?;
        node.groups.insert(shard, raft.clone());
        if node.initialize && !raft.is_initialized().await.map_err(|e| IngestError::Raft(e.to_string()))? {
            raft.initialize(node.members.clone()).await.map_err(|e| IngestError::Raft(e.to_string()))?;
        }
        if node.standalone {
            raft.wait(Some(Duration::from_secs(30)))
                .current_leader(node.node_id, "single-node shard elects itself")
                .await
                .map_err(|e| IngestError::Raft(e.to_string()))?;
            // Serve only once everything in the log is applied, so reads after a restart see
            // every entry acknowledged before it.
            let last_log = raft.metrics().borrow_watched().last_log_index;
            raft.wait(Some(Duration::from_secs(300)))
                .applied_index_at_least(last_log, "replay the log after restart")
                .await
                .map_err(|e| IngestError::Raft(e.to_string()))?;
        }
        let (tx, rx) = mpsc::channel(QUEUE_LEN);
        let (stop, stop_rx) = watch::channel(false);
        let ingester = Arc::new(Shard {
            raft,
            state,
            logs,
            raft_dir,
            queue: Mutex::new(Some(tx)),
            flush_lock: Mutex::new(()),
            store,
            config,
            shard,
            standalone: node.standalone,
            stop,
            flush_wake: Notify::new(),
        });
        tokio::spawn(propose_loop(ingester.raft.clone(), rx, ingester.config.max_batch_bytes.0 as usize));
        tokio::spawn(watch_raft(ingester.raft.clone()));
        tokio::spawn(flush_loop(Arc::downgrade(&ingester), stop_rx));
        Ok(ingester)
    }

    /// Proposes `push` (batched with concurrent ones) and returns once it is committed,
    /// fsynced and applied.
    pub async fn push(&self, push: TenantPush) -> Result<PushOutcome, IngestError> {
        let bytes = crate::pieces::push_weight(&push);
        let (reply, rx) = oneshot::channel();
        let sender = self.queue.lock().await.clone().ok_or(IngestError::ShuttingDown)?;
        sender.send(Pending { push, bytes, reply }).await.map_err(|_| IngestError::ShuttingDown)?;
        // A leader that lost its quorum keeps the proposal; the client gets a 503 and retries
        // (a retry of an entry that did commit is dropped as a duplicate).
        let outcome = match tokio::time::timeout(COMMIT_WAIT, rx).await {
            Ok(r) => r.map_err(|_| IngestError::ShuttingDown)?,
            Err(_) => {
                return Err(IngestError::Unavailable(format!(
                    "shard {} did not commit the push within {} s (no quorum?)",
                    self.shard,
                    COMMIT_WAIT.as_secs()
                )));
            }
        };
        if self.over_size_limit() {
            self.flush_wake.notify_one();
        }
        outcome
    }

    /// This replica's view of the group: leader, term, log and applied indexes, and on the
    /// leader each follower's lag in entries.
    pub fn raft_view(&self) -> RaftView {
        self.with_metrics(|m| {
            let last = m.last_log_index.unwrap_or(0);
            let lag = m
                .replication
                .as_ref()
                .map(|r| r.iter().filter(|(id, _)| **id != m.id).map(|(id, matched)| (*id, last.saturating_sub(matched.map(|l| l.index).unwrap_or(0)))).collect())
                .unwrap_or_default();
            RaftView { leader: m.current_leader, term: m.current_term, last_log_index: m.last_log_index, applied_index: m.last_applied.map(|l| l.index), lag }
        })
    }

    /// Runs `f` on the replica's current Raft metrics without copying them (this is on the
    /// path of every push and read).
    fn with_metrics<T>(&self, f: impl FnOnce(&openraft::RaftMetrics<TypeConfig>) -> T) -> T {
        let rx = self.raft.metrics();
        let m = rx.borrow_watched();
        f(&m)
    }

    /// Confirms with a quorum that this replica still leads and waits until everything
    /// committed before now is applied (read index), so a read that follows sees every
    /// acknowledged write.
    pub async fn linearize(&self) -> Result<(), IngestError> {
        match self.raft.ensure_linearizable(openraft::ReadPolicy::ReadIndex).await {
            Ok(_) => Ok(()),
            Err(e) if e.forward_to_leader().is_some() => Err(IngestError::NotLeader(e.to_string())),
            Err(e) => Err(IngestError::NotLeader(format!("shard {} cannot confirm leadership: {e}", self.shard))),
        }
    }

    /// The group's voters, from its current membership.
    pub fn voters(&self) -> Vec<u64> {
        self.with_metrics(|m| m.membership_config.membership().voter_ids().collect())
    }

    /// The address of `node` in the group's membership.
    pub fn node_addr(&self, node: u64) -> Option<String> {
        self.with_metrics(|m| m.membership_config.membership().get_node(&node).map(|n| n.addr.clone()))
    }

    /// The Raft handle, for membership changes.
    pub(crate) fn raft(&self) -> &Raft<TypeConfig, StateMachine> {
        &self.raft
    }

    /// Stops this replica without flushing (it left the group; the others hold the data)
    /// and frees its part of the shared log.
    pub async fn stop(&self) -> Result<(), IngestError> {
        self.queue.lock().await.take();
        let _ = self.stop.send(true);
        self.raft.shutdown().await.map_err(|e| IngestError::Raft(e.to_string()))?;
        if let LogStores::Shared(log) = &self.logs {
            // The group's log is gone; a snapshot without it would not match a log if the
            // replica ever came back, so it goes too (the other replicas hold the data).
            GroupLog::new(log.clone(), self.shard).drop_group().await?;
            match std::fs::remove_file(snapshot_file(&self.raft_dir, self.shard)) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e.into()),
                _ => {}
            }
        }
        Ok(())
    }

    /// Asks openraft for a snapshot, after which the log before it is purged.
    pub async fn snapshot(&self) -> Result<(), IngestError> {
        self.raft.trigger().snapshot().await.map_err(|e| IngestError::Raft(e.to_string()))
    }

    /// True when this replica leads its group.
    pub fn is_leader(&self) -> bool {
        self.with_metrics(|m| m.current_leader == Some(m.id))
    }

    /// The node this replica believes leads the group, and its address.
    pub fn leader(&self) -> Option<(u64, String)> {
        self.with_metrics(|m| {
            let id = m.current_leader?;
            let addr = m.membership_config.membership().get_node(&id).map(|n| n.addr.clone())?;
            Some((id, addr))
        })
    }

    /// True when heads have grown past `max_head_bytes` or one head past `chunk_target_size`.
    fn over_size_limit(&self) -> bool {
        self.state.read().is_ok_and(|s| {
            s.heads.bytes() >= self.config.max_head_bytes.0 as usize
                || s.heads.largest_stream_bytes() >= self.config.target_head_bytes()
        })
    }

    /// Writes every head to chunk files now and returns once the flush is recorded.
    /// Only the leader flushes: its `Flushed` entry drops the rows on every replica.
    pub async fn flush(&self) -> Result<(), IngestError> {
        if !self.is_leader() {
            return Ok(());
        }
        let _guard = self.flush_lock.lock().await;
        // A leader new to its term may not have applied its predecessor's last `Flushed`
        // yet; cutting before it would write those rows into a second file. A read index
        // waits until everything committed before this term is applied.
        self.linearize().await?;
        let cut = {
            let state = self.state.read().map_err(|_| IngestError::Raft("state lock poisoned".into()))?;
            let first = state.heads.flushed_upto + 1;
            state.heads.cut()?.map(|c| (first, c))
        };
        let Some((first, cut)) = cut else { return Ok(()) };
        let started = Instant::now();
        let mut files = Vec::with_capacity(cut.tenants.len());
        for (tenant, batches, labels) in cut.tenants {
            let min_ts = batches
                .iter()
                .filter_map(|b| store::chunk::column::<arrow::array::Int64Array>(b, store::schema::TS).ok())
                .filter_map(arrow::compute::min)
                .min()
                .unwrap_or(0);
            let day = chrono::DateTime::from_timestamp_nanos(min_ts).format("%Y-%m-%d");
            let path = format!("{tenant}/chunks/{day}/{:04}-{first:020}-{:020}.parquet", self.shard, cut.upto);
            let file = write_chunk(&self.store, &path, &batches).await?;
            metrics::FLUSHED_BYTES.add(file.size);
            metrics::FLUSHED_ROWS.add(file.rows);
            files.push(FlushedFile { tenant, file, labels });
        }
        self.propose(Command::Flushed { upto: cut.upto, files }).await?;
        self.snapshot().await?;
        metrics::FLUSHES.inc();
        metrics::FLUSH_SECONDS.observe(started.elapsed().as_secs_f64());
        Ok(())
    }

    fn should_flush(&self, s: &FlushStats) -> bool {
        if s.rows == 0 {
            return false;
        }
        s.bytes >= self.config.max_head_bytes.0 as usize
            || s.largest_stream_bytes >= self.config.target_head_bytes()
            || s.oldest_age.is_some_and(|a| a >= self.config.max_chunk_age.0)
            || s.longest_idle.is_some_and(|i| i >= self.config.chunk_idle_period.0)
    }

    /// Stops taking pushes, flushes heads if configured, and stops Raft.
    pub async fn shutdown(&self) -> Result<(), IngestError> {
        self.queue.lock().await.take();
        let _ = self.stop.send(true);
        let flushed = match (self.config.flush_on_shutdown, self.standalone) {
            (false, _) => Ok(()),
            (true, true) => self.flush().await,
            // In a cluster the peers may be stopping too and a flush could wait forever for a
            // quorum; the unflushed rows are safe in the replicated log either way.
            (true, false) => match tokio::time::timeout(CLUSTER_SHUTDOWN_FLUSH, self.flush()).await {
                Ok(r) => r,
                Err(_) => {
                    tracing::warn!(shard = self.shard, "shutdown flush found no quorum; heads stay in the Raft log");
                    Ok(())
                }
            },
        };
        self.raft.shutdown().await.map_err(|e| IngestError::Raft(e.to_string()))?;
        if let LogStores::Sled(db) = &self.logs {
            db.flush_async().await.map_err(std::io::Error::other)?;
        }
        flushed
    }

}

/// Turns the replica's Raft metrics into process metrics: leader changes, elections won,
/// committed and applied entries. Ends when Raft shuts down.
async fn watch_raft(raft: Raft<TypeConfig, StateMachine>) {
    let mut rx = raft.metrics();
    // (id, leader, committed, applied), read without copying the metrics.
    fn read(m: &openraft::RaftMetrics<TypeConfig>) -> (u64, Option<u64>, u64, u64) {
        (m.id, m.current_leader, m.local_committed.map(|l| l.index).unwrap_or(0), m.last_applied.map(|l| l.index).unwrap_or(0))
    }
    let (_, mut leader, mut committed, mut applied) = read(&rx.borrow_watched());
    while rx.changed().await.is_ok() {
        let (id, now_leader, c, a) = read(&rx.borrow_watched());
        if now_leader != leader && now_leader.is_some() {
            metrics::LEADER_CHANGES.inc();
            if now_leader == Some(id) {
                metrics::ELECTIONS_WON.inc();
            }
        }
        leader = now_leader;
        metrics::COMMITTED_ENTRIES.add(c.saturating_sub(committed));
        metrics::APPLIED_ENTRIES.add(a.saturating_sub(applied));
        committed = committed.max(c);
        applied = applied.max(a);
    }
}

/// Drains the queue into proposals of at most `max_batch_bytes` (a heavier push goes alone);
/// at most [`PROPOSALS_IN_FLIGHT`] at once.
async fn propose_loop(raft: Raft<TypeConfig, StateMachine>, mut rx: mpsc::Receiver<Pending>, max_batch_bytes: usize) {
    let slots = Arc::new(Semaphore::new(PROPOSALS_IN_FLIGHT));
    // A push that would have taken the last batch past `max_batch_bytes` starts the next.
    let mut carried: Option<Pending> = None;
    loop {
        let first = match carried.take() {
            Some(p) => p,
            None => match rx.recv().await {
                Some(p) => p,
                None => return,
            },
        };
        let Ok(permit) = slots.clone().acquire_owned().await else { return };
        let mut bytes = first.bytes;
        let mut batch = vec![first];
        while bytes < max_batch_bytes {
            match rx.try_recv() {
                Ok(p) if bytes + p.bytes > max_batch_bytes => {
                    carried = Some(p);
                    break;
                }
                Ok(p) => {
                    bytes += p.bytes;
                    batch.push(p);
                }
                Err(_) => break,
            }
        }
        let raft = raft.clone();
        tokio::spawn(async move {
            metrics::PROPOSALS.inc();
            metrics::PROPOSED_PUSHES.add(batch.len() as u64);
            let (pushes, replies): (Vec<TenantPush>, Vec<_>) = batch.into_iter().map(|p| (p.push, p.reply)).unzip();
            let started = Instant::now();
            let result = raft.client_write(Command::Push(pushes)).await;
            metrics::COMMIT_SECONDS.observe(started.elapsed().as_secs_f64());
            drop(permit);
            match result {
                Ok(resp) => {
                    let outcomes = match resp.data {
                        ApplyResult::Push(o) => o,
                        _ => Vec::new(),
                    };
                    let mut outcomes = outcomes.into_iter();
                    for reply in replies {
                        let r = outcomes.next().ok_or_else(|| IngestError::Raft("missing apply result".into()));
                        let _ = reply.send(r);
                    }
                }
                Err(e) => {
                    for reply in replies {
                        let _ = reply.send(Err(write_error(&e)));
                    }
                }
            }
        });
    }
}

/// Checks the flush conditions every `flush_check_period` until stopped.
async fn flush_loop(ingester: std::sync::Weak<Shard>, mut stop: watch::Receiver<bool>) {
    loop {
        let Some(i) = ingester.upgrade() else { return };
        tokio::select! {
            _ = tokio::time::sleep(i.config.flush_check_period.0) => {}
            _ = i.flush_wake.notified() => {}
            _ = stop.changed() => return,
        }
        let stats = match i.state.read() {
            Ok(s) => s.heads.flush_stats(Instant::now()),
            Err(_) => return,
        };
        if !i.should_flush(&stats) {
            continue;
        }
        // The flush runs as its own task, so even a panic in a store client fails one
        // attempt, not the flusher.
        let shard = Arc::clone(&i);
        let failed = match tokio::spawn(async move { shard.flush().await }).await {
            Ok(Ok(())) => None,
            Ok(Err(e)) => Some(e.to_string()),
            Err(e) => Some(format!("the flush task failed: {e}")),
        };
        if let Some(error) = failed {
            metrics::FLUSH_ERRORS.inc();
            tracing::error!(shard = i.shard, %error, "flush failed; heads are kept and retried");
        }
    }
}

impl Shard {
    /// One consistent view of `tenant` for `req` on this replica, with the shards split off
    /// this one (a reader must read those too: they hold the keys this shard gave away).
    pub fn read(&self, tenant: &str, req: &SnapshotRequest) -> Result<(ReadSnapshot, Vec<u64>), StoreError> {
        let state = self.state.read().map_err(|_| StoreError::Io(std::io::Error::other("state lock poisoned")))?;
        let mut snapshot = state.heads.read(tenant, req)?;
        snapshot.row_groups = snapshot.files.iter().filter_map(|f| state.row_groups.get(&f.path).map(|g| (f.path.clone(), g.clone()))).collect();
        Ok((snapshot, state.split.children.iter().map(|c| c.shard).collect()))
    }

    /// Every tenant's indexed and retired files as applied on this replica.
    pub fn indexed(&self) -> Result<Vec<IndexedFiles>, StoreError> {
        let state = self.state.read().map_err(|_| StoreError::Io(std::io::Error::other("state lock poisoned")))?;
        Ok(state
            .heads
            .indexes()
            .map(|(tenant, index)| IndexedFiles {
                shard: self.shard,
                tenant: tenant.to_string(),
                files: index.files.clone(),
                retired: state.retired.get(tenant).cloned().unwrap_or_default(),
                labels: index.streams.iter().map(|(id, s)| (*id, s.labels.clone())).collect(),
            })
            .collect())
    }

    /// `f` of the delete requests as applied on this replica (metadata group only).
    pub fn with_deletes<T>(&self, f: impl FnOnce(&store::deletes::DeleteRequests) -> T) -> T {
        // A poisoned lock still holds the last applied requests; hiding them would bring
        // deleted lines back.
        let state = self.state.read().unwrap_or_else(std::sync::PoisonError::into_inner);
        f(&state.deletes)
    }

    /// The group's split state as applied on this replica.
    pub fn split_state(&self) -> SplitState {
        self.state.read().map(|s| s.split.clone()).unwrap_or_default()
    }

    /// The shard map as applied on this replica (metadata group only).
    pub fn map(&self) -> ShardMap {
        self.state.read().map(|s| s.map.clone()).unwrap_or_default()
    }

    /// Proposes `command` directly (not batched) and returns its apply result.
    pub async fn propose(&self, command: Command) -> Result<ApplyResult, IngestError> {
        self.raft.client_write(command).await.map(|resp| resp.data).map_err(|e| write_error(&e))
    }
}

/// A failed proposal as the ingester reports it: `NotLeader` (retry elsewhere) when this
/// replica does not lead, a Raft error otherwise.
fn write_error(e: &openraft::errors::RaftError<TypeConfig, openraft::errors::ClientWriteError<TypeConfig>>) -> IngestError {
    if e.forward_to_leader().is_some() { IngestError::NotLeader(e.to_string()) } else { IngestError::Raft(e.to_string()) }
}
