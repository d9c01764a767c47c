//! The Raft state machine of an ingest shard: applies pushes to heads and flushes to the index.
//!
//! Snapshots are the whole [`Heads`] (chunk index plus unflushed rows). The flusher asks for
//! one right after each `Flushed` entry, when heads are small; openraft then purges the log up
//! to the snapshot. The current snapshot is kept in sled (`sm-{group}` tree), and on start the
//! state machine is restored from it; openraft re-applies the log entries after it.

use std::io;
use std::sync::{Arc, RwLock};
use std::time::Instant;

use futures::StreamExt;
use openraft::alias::{LogIdOf, SnapshotMetaOf, SnapshotOf, StoredMembershipOf};
use openraft::storage::{EntryResponder, RaftSnapshotBuilder, RaftStateMachine};
use openraft::{EntryPayload, OptionalSend, StoredMembership};

use crate::command::{ApplyResult, Command, TypeConfig};
use crate::heads::{Heads, HeadsConfig, SavedHeads};

const SNAPSHOT_META: &[u8] = b"snapshot_meta";
const SNAPSHOT_DATA: &[u8] = b"snapshot_data";

/// The state machine's data: heads plus the applied position, under one lock so a snapshot
/// or a query never sees one without the other.
#[derive(Debug, Clone, Default)]
pub struct SmState {
    /// Heads and chunk indexes.
    pub heads: Heads,
    last: Option<LogIdOf<TypeConfig>>,
    membership: StoredMembershipOf<TypeConfig>,
}

impl SmState {
    /// Index of the last applied log entry (0 before any).
    pub fn last_applied_index(&self) -> u64 {
        self.last.as_ref().map(|l| l.index).unwrap_or(0)
    }
}

/// Shared handle to a shard's state, read by queries and the flusher.
pub type SharedState = Arc<RwLock<SmState>>;

/// A snapshot's metadata and its encoded heads.
type SnapshotParts = (SnapshotMetaOf<TypeConfig>, Vec<u8>);

/// The state machine of one shard group.
#[derive(Clone)]
pub struct StateMachine {
    state: SharedState,
    tree: sled::Tree,
    config: HeadsConfig,
}

fn poisoned<T>(_: T) -> io::Error {
    io::Error::other("state machine lock poisoned")
}

fn invalid(e: impl std::fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e.to_string())
}

impl StateMachine {
    /// Opens the state machine of `group`, restoring the last snapshot if there is one.
    pub fn open(db: &sled::Db, group: u64, config: HeadsConfig) -> Result<StateMachine, io::Error> {
        let tree = db.open_tree(format!("sm-{group}")).map_err(io::Error::other)?;
        let sm = StateMachine {
            state: Arc::new(RwLock::new(SmState { heads: Heads::new(config), ..SmState::default() })),
            tree,
            config,
        };
        if let Some((meta, data)) = sm.load_snapshot()? {
            sm.restore(&meta, &data)?;
        }
        Ok(sm)
    }

    /// The state this state machine applies to.
    pub fn state(&self) -> SharedState {
        self.state.clone()
    }

    fn load_snapshot(&self) -> Result<Option<SnapshotParts>, io::Error> {
        let Some(meta) = self.tree.get(SNAPSHOT_META).map_err(io::Error::other)? else {
            return Ok(None);
        };
        let data = self
            .tree
            .get(SNAPSHOT_DATA)
            .map_err(io::Error::other)?
            .ok_or_else(|| invalid("snapshot metadata without data"))?;
        Ok(Some((serde_json::from_slice(&meta).map_err(invalid)?, data.to_vec())))
    }

    fn save_snapshot(&self, meta: &SnapshotMetaOf<TypeConfig>, data: &[u8]) -> Result<(), io::Error> {
        // Metadata and data are stored as raw values in one atomic batch.
        let mut batch = sled::Batch::default();
        batch.insert(SNAPSHOT_META, serde_json::to_vec(meta).map_err(invalid)?);
        batch.insert(SNAPSHOT_DATA, data);
        self.tree.apply_batch(batch).map_err(io::Error::other)?;
        self.tree.flush().map_err(io::Error::other)?;
        Ok(())
    }

    fn restore(&self, meta: &SnapshotMetaOf<TypeConfig>, data: &[u8]) -> Result<(), io::Error> {
        let saved: SavedHeads = postcard::from_bytes(data).map_err(invalid)?;
        let heads = Heads::from_saved(saved, self.config, Instant::now());
        *self.state.write().map_err(poisoned)? =
            SmState { heads, last: meta.last_log_id, membership: meta.last_membership.clone() };
        Ok(())
    }

    fn apply_one(&self, log_id: &LogIdOf<TypeConfig>, payload: EntryPayload<Command, u64, openraft::BasicNode>) -> Result<ApplyResult, io::Error> {
        let mut state = self.state.write().map_err(poisoned)?;
        let result = match payload {
            EntryPayload::Blank => ApplyResult::None,
            EntryPayload::Normal(Command::Push(pushes)) => {
                let now = Instant::now();
                ApplyResult::Push(pushes.into_iter().map(|p| state.heads.apply_push(log_id.index, p, now)).collect())
            }
            EntryPayload::Normal(Command::Flushed { upto, files }) => {
                state.heads.apply_flushed(upto, files);
                ApplyResult::None
            }
            EntryPayload::Membership(m) => {
                state.membership = StoredMembership::new(Some(*log_id), m);
                ApplyResult::None
            }
        };
        state.last = Some(*log_id);
        Ok(result)
    }
}

impl RaftSnapshotBuilder<TypeConfig> for StateMachine {
    type SnapshotData = Vec<u8>;

    async fn build_snapshot(&mut self) -> Result<SnapshotOf<TypeConfig, Vec<u8>>, io::Error> {
        let (data, meta) = {
            let state = self.state.read().map_err(poisoned)?;
            let data = postcard::to_stdvec(&state.heads.to_saved()).map_err(invalid)?;
            let meta = SnapshotMetaOf::<TypeConfig> {
                last_log_id: state.last,
                last_membership: state.membership.clone(),
            };
            (data, meta)
        };
        self.save_snapshot(&meta, &data)?;
        Ok(SnapshotOf::<TypeConfig, Vec<u8>> { meta, snapshot: data })
    }
}

impl RaftStateMachine<TypeConfig> for StateMachine {
    type SnapshotData = Vec<u8>;
    type SnapshotBuilder = StateMachine;

    async fn applied_state(&mut self) -> Result<(Option<LogIdOf<TypeConfig>>, StoredMembershipOf<TypeConfig>), io::Error> {
        let s = self.state.read().map_err(poisoned)?;
        Ok((s.last, s.membership.clone()))
    }

    async fn apply<Strm>(&mut self, mut entries: Strm) -> Result<(), io::Error>
    where
        Strm: futures::Stream<Item = Result<EntryResponder<TypeConfig>, io::Error>> + Unpin + OptionalSend,
    {
        while let Some(item) = entries.next().await {
            let (entry, responder) = item?;
            let result = self.apply_one(&entry.log_id, entry.payload)?;
            if let Some(r) = responder {
                r.send(result);
            }
        }
        Ok(())
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        self.clone()
    }

    async fn install_snapshot(&mut self, meta: &SnapshotMetaOf<TypeConfig>, snapshot: Vec<u8>) -> Result<(), io::Error> {
        self.restore(meta, &snapshot)?;
        self.save_snapshot(meta, &snapshot)
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<SnapshotOf<TypeConfig, Vec<u8>>>, io::Error> {
        Ok(self.load_snapshot()?.map(|(meta, snapshot)| SnapshotOf::<TypeConfig, Vec<u8>> { meta, snapshot }))
    }
}
