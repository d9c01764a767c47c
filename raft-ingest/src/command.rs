//! What goes through the Raft log: the commands proposed and the results of applying them.

use serde::{Deserialize, Serialize};
use std::fmt;

use store::entry::Entry;
use store::index::{CompactedFile, FileMeta};
use store::labels::Labels;

use crate::shard_map::{KeyRange, MetaChange, SplitChild};

/// The entries of one stream in one push, already validated by the distributor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamPush {
    /// The stream's labels (sorted, validated).
    pub labels: Labels,
    /// Entries in push order.
    pub entries: Vec<Entry>,
}

/// One client push: a tenant and its streams.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TenantPush {
    /// Tenant id.
    pub tenant: String,
    /// Streams with their entries.
    pub streams: Vec<StreamPush>,
}

/// A chunk file produced by a flush, with the labels of the streams it holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlushedFile {
    /// Tenant the file belongs to.
    pub tenant: String,
    /// The file and its per-stream ranges.
    pub file: FileMeta,
    /// Labels of every stream in the file.
    pub labels: Vec<Labels>,
}

/// A Raft log command.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Command {
    /// Concurrent client pushes batched into one proposal (group commit).
    Push(Vec<TenantPush>),
    /// Heads up to `upto` (a log index) were written to `files`: drop them from the heads and
    /// add the files to the index.
    Flushed {
        /// Every entry applied at or before this log index is in `files`.
        upto: u64,
        /// The chunk files written, one per tenant.
        files: Vec<FlushedFile>,
    },
    /// The shard keeps `keep` and hands the rest of its range to `child`: from this entry
    /// on it turns away streams outside `keep` (their heads stay here until flushed).
    Split {
        /// The keys this shard keeps.
        keep: KeyRange,
        /// The new shard and the keys it takes.
        child: SplitChild,
    },
    /// A change to the shard map (metadata group only).
    Meta(MetaChange),
    /// A compaction of `tenant`'s files: `add` replaces `remove` if every file of `remove`
    /// is still indexed (else nothing changes); the removed files are retired at `at_ms`.
    Compacted {
        /// The tenant.
        tenant: String,
        /// Paths of the files replaced.
        remove: Vec<String>,
        /// The merged files with their row groups.
        add: Vec<CompactedFile>,
        /// When (ms since the epoch, the proposer's clock).
        at_ms: i64,
    },
    /// Retired files of `tenant` whose objects are deleted: forget them.
    Forgotten {
        /// The tenant.
        tenant: String,
        /// Their paths.
        paths: Vec<String>,
    },
}

impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Command::Push(p) => write!(f, "Push({} pushes)", p.len()),
            Command::Flushed { upto, files } => write!(f, "Flushed(upto={upto}, {} files)", files.len()),
            Command::Split { keep, child } => write!(f, "Split(keep={}..={}, child={})", keep.first, keep.last, child.shard),
            Command::Meta(c) => write!(f, "Meta({c:?})"),
            Command::Compacted { tenant, remove, add, .. } => write!(f, "Compacted({tenant}: {} files -> {})", remove.len(), add.len()),
            Command::Forgotten { tenant, paths } => write!(f, "Forgotten({tenant}: {} files)", paths.len()),
        }
    }
}

/// What applying one client push did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PushOutcome {
    /// Entries appended to heads.
    pub accepted: u64,
    /// Line and metadata bytes of the appended entries.
    pub bytes: u64,
    /// Entries dropped as exact duplicates of stored ones.
    pub duplicates: u64,
    /// Rejection messages (entries outside the out-of-order window), Loki's format.
    pub rejected: Vec<String>,
    /// Streams this shard no longer owns since a split: (index in the push, the shard that
    /// took the stream's key). None of their entries were applied.
    pub misrouted: Vec<(u32, u64)>,
}

impl PushOutcome {
    /// Adds `other`'s counts and rejections to this outcome and hands back its misrouted
    /// streams, which are the caller's to deliver.
    pub fn absorb(&mut self, other: PushOutcome) -> Vec<(u32, u64)> {
        self.accepted += other.accepted;
        self.bytes += other.bytes;
        self.duplicates += other.duplicates;
        self.rejected.extend(other.rejected);
        other.misrouted
    }
}

/// The result of applying a command.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum ApplyResult {
    /// Blank, membership or flush entries.
    #[default]
    None,
    /// One outcome per client push, in proposal order.
    Push(Vec<PushOutcome>),
    /// The shard id a `Meta(Reserve)` reserved.
    Reserved(u64),
    /// Whether a `Compacted` swap was made.
    Swapped(bool),
    /// The node holding a lease after a `Meta(Lease)`.
    Lease(u64),
}

openraft::declare_raft_types!(
    /// Raft types of an ingest shard group.
    pub TypeConfig:
        D = Command,
        R = ApplyResult,
        NodeId = u64,
        Node = openraft::BasicNode,
);
