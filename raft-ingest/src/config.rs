//! `ingester:` configuration, with Loki's keys where the concept is Loki's.

use serde::{Deserialize, Serialize};
use std::time::Duration;

use store::time::{ByteSize, ConfigDuration};

/// When heads are cut into chunk files.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IngesterConfig {
    /// Flush a stream's head once no entry arrived for this long (Loki key; default 30m).
    pub chunk_idle_period: ConfigDuration,
    /// Flush a head once its oldest unflushed entry arrived this long ago (Loki key; default
    /// 2h). Half of it is the out-of-order window, as in Loki.
    pub max_chunk_age: ConfigDuration,
    /// Flush once one stream's head holds this many bytes (Loki key; default 1572864; 0, as
    /// in Loki, means ten 256 KiB blocks).
    pub chunk_target_size: ByteSize,
    /// How often the flush conditions are checked (Loki key; default 30s).
    pub flush_check_period: ConfigDuration,
    /// Flush once all heads of the node together hold this many bytes (default 64MiB).
    pub max_head_bytes: ByteSize,
    /// Flush every head on graceful shutdown (Loki key; default true).
    pub flush_on_shutdown: bool,
    /// Most bytes of pushes batched into one Raft proposal (default 16MiB).
    pub max_batch_bytes: ByteSize,
    /// Where Raft log entries are kept: `shared` (default; one log of append-only segment
    /// files for every group of the node, one fsync per batch of all groups' appends),
    /// `segments` (the same files, one log per group) or `sled` (entries in trees of one
    /// sled database; leaks disk, see docs/design/2026-11-25-sled-raft-log-measurements.md).
    /// A data directory keeps the kind it was created with.
    pub raft_log_store: RaftLogStoreKind,
    /// Hash-range shards on this node, each its own Raft group and log (default 1). The
    /// number must stay the same across restarts of a data directory.
    pub shards: u64,
}

/// The Raft log store implementation.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RaftLogStoreKind {
    /// Entries in a sled tree.
    Sled,
    /// Entries in append-only segment files, one log per group.
    Segments,
    /// Entries of every group in one log of append-only segment files.
    #[default]
    Shared,
}

impl RaftLogStoreKind {
    /// The configuration value.
    pub fn name(self) -> &'static str {
        match self {
            RaftLogStoreKind::Sled => "sled",
            RaftLogStoreKind::Segments => "segments",
            RaftLogStoreKind::Shared => "shared",
        }
    }
}

impl Default for IngesterConfig {
    fn default() -> Self {
        IngesterConfig {
            chunk_idle_period: ConfigDuration::secs(30 * 60),
            max_chunk_age: ConfigDuration::secs(2 * 3600),
            chunk_target_size: ByteSize(1_572_864),
            flush_check_period: ConfigDuration::secs(30),
            max_head_bytes: ByteSize(64 * 1024 * 1024),
            flush_on_shutdown: true,
            max_batch_bytes: ByteSize(16 * 1024 * 1024),
            raft_log_store: RaftLogStoreKind::Shared,
            shards: 1,
        }
    }
}

/// The largest `max_batch_bytes`: half of the transport's message limit.
const MAX_BATCH_LIMIT: u64 = (crate::transport::MAX_MESSAGE / 2) as u64;

/// What `chunk_target_size: 0` stands for: Loki's fixed ten blocks of 256 KiB.
const TEN_BLOCKS: usize = 10 * 256 * 1024;

impl IngesterConfig {
    /// The head size (bytes) at which one stream's head is flushed.
    pub fn target_head_bytes(&self) -> usize {
        match self.chunk_target_size.0 as usize {
            0 => TEN_BLOCKS,
            n => n,
        }
    }

    /// Checks values that parse but make no sense.
    pub fn validate(&self) -> Result<(), String> {
        if self.flush_check_period.0 < Duration::from_millis(10) {
            return Err("ingester.flush_check_period must be at least 10ms".into());
        }
        if !(1..=256).contains(&self.shards) {
            return Err("ingester.shards must be between 1 and 256".into());
        }
        if self.max_batch_bytes.0 > MAX_BATCH_LIMIT {
            return Err(format!("ingester.max_batch_bytes must be at most {}MiB, so one Raft entry fits a replication message", MAX_BATCH_LIMIT >> 20));
        }
        if self.max_chunk_age.0.is_zero() {
            return Err("ingester.max_chunk_age must be positive".into());
        }
        Ok(())
    }
}

/// `cluster:` settings: this node's identity and the nodes it forms shard groups with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClusterConfig {
    /// This node's id (default 1; must be among `seeds` when they are given).
    pub node_id: u64,
    /// The gRPC `host:port` other nodes reach this one at (default: 127.0.0.1 and the gRPC
    /// listen port); when `seeds` name this node, its seed entry is used instead (a different
    /// value is logged as a warning).
    pub advertise_addr: String,
    /// Every node of the cluster as `id@host:port` (gRPC): the same ids on every node, each
    /// address how this node reaches that one; empty runs standalone.
    pub seeds: Vec<String>,
    /// Replicas per shard; 0 picks min(3, nodes) (default 0).
    pub replication_factor: u64,
    /// Join an existing cluster: host no shard by placement, only replicas moved onto this
    /// node (default false).
    pub join: bool,
    /// With `join`: take this node's share of replicas once started (default true).
    pub rebalance_on_join: bool,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        ClusterConfig { node_id: 1, advertise_addr: String::new(), seeds: Vec::new(), replication_factor: 0, join: false, rebalance_on_join: true }
    }
}
