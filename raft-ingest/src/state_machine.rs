//! The Raft state machine of an ingest shard: applies pushes to heads and flushes to the index.
//!
//! Snapshots are the whole [`Heads`] (chunk index plus unflushed rows), followed by the
//! group's [`SplitState`] and, in the metadata group, the [`ShardMap`]. The flusher asks for
//! one right after each `Flushed` entry, when heads are small; openraft then purges the log up
//! to the snapshot. The current snapshot is kept in `snapshot-{group}.bin` beside the log
//! (replaced atomically: write, fsync, rename, fsync the directory), and on start the
//! state machine is restored from it; openraft re-applies the log entries after it.

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Instant;

use futures::StreamExt;
use openraft::alias::{LogIdOf, SnapshotMetaOf, SnapshotOf, StoredMembershipOf};
use openraft::storage::{EntryResponder, RaftSnapshotBuilder, RaftStateMachine};
use openraft::{EntryPayload, OptionalSend, StoredMembership};

use crate::command::{ApplyResult, Command, PushOutcome, TenantPush, TypeConfig};
use store::deletes::DeleteRequests;
use store::index::{RetiredFile, RowGroupMeta};
use store::shard::shard_key;
use crate::heads::{Heads, HeadsConfig, SavedHeads};
use crate::shard_map::{MetaChange, ShardMap, SplitState, group_name};

/// Snapshot file layout: `[meta length: u32][crc32 of the rest: u32][meta JSON][heads]`.
const SNAPSHOT_HEADER: usize = 8;

/// The state machine's data: heads plus the applied position, under one lock so a snapshot
/// or a query never sees one without the other.
#[derive(Debug, Clone, Default)]
pub struct SmState {
    /// Heads and chunk indexes.
    pub heads: Heads,
    /// The range a split shard still owns and the shards split off it.
    pub split: SplitState,
    /// The shard map (metadata group only; empty elsewhere).
    pub map: ShardMap,
    /// Files compaction took out of each tenant's index, until their objects are deleted.
    pub retired: BTreeMap<String, Vec<RetiredFile>>,
    /// Delete requests (metadata group only; empty elsewhere).
    pub deletes: DeleteRequests,
    /// Leases by name: holder and expiry in ms (metadata group only).
    pub leases: BTreeMap<String, (u64, i64)>,
    /// Row groups of the compacted files in the index, by path.
    pub row_groups: BTreeMap<String, Vec<RowGroupMeta>>,
    last: Option<LogIdOf<TypeConfig>>,
    membership: StoredMembershipOf<TypeConfig>,
}

impl SmState {
    /// Applies one client push, turning away the streams a split handed to another shard.
    fn apply_push(&mut self, log_index: u64, mut push: TenantPush, now: Instant) -> PushOutcome {
        let mut misrouted = Vec::new();
        if self.split.owned.is_some() {
            let mut i: u32 = 0;
            push.streams.retain(|s| {
                let to = self.split.moved_to(shard_key(&push.tenant, &s.labels));
                if let Some(to) = to {
                    misrouted.push((i, to));
                }
                i += 1;
                to.is_none()
            });
        }
        let mut out = self.heads.apply_push(log_index, push, now);
        out.misrouted = misrouted;
        out
    }

    /// Index of the last applied log entry (0 before any).
    pub fn last_applied_index(&self) -> u64 {
        self.last.as_ref().map(|l| l.index).unwrap_or(0)
    }
}

/// Shared handle to a shard's state, read by queries and the flusher.
pub type SharedState = Arc<RwLock<SmState>>;

/// The next section of a snapshot after the heads, or its default when the snapshot ends
/// before it (written before that section existed).
fn next_section<T: serde::de::DeserializeOwned + Default>(rest: &[u8]) -> Result<(T, &[u8]), io::Error> {
    if rest.is_empty() { Ok((T::default(), rest)) } else { postcard::take_from_bytes(rest).map_err(invalid) }
}

/// A snapshot's metadata and its encoded heads.
type SnapshotParts = (SnapshotMetaOf<TypeConfig>, Vec<u8>);

/// Where `group`'s snapshot is kept under `dir`.
pub fn snapshot_file(dir: &Path, group: u64) -> PathBuf {
    dir.join(format!("snapshot-{}.bin", group_name(group)))
}

/// The state machine of one shard group.
#[derive(Clone)]
pub struct StateMachine {
    state: SharedState,
    dir: PathBuf,
    group: u64,
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
    pub fn open(dir: &Path, group: u64, config: HeadsConfig) -> Result<StateMachine, io::Error> {
        std::fs::create_dir_all(dir)?;
        let sm = StateMachine {
            state: Arc::new(RwLock::new(SmState { heads: Heads::new(config), ..SmState::default() })),
            dir: dir.to_path_buf(),
            group,
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

    fn snapshot_path(&self) -> PathBuf {
        snapshot_file(&self.dir, self.group)
    }

    fn load_snapshot(&self) -> Result<Option<SnapshotParts>, io::Error> {
        let bytes = match std::fs::read(self.snapshot_path()) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        let header = bytes.get(..SNAPSHOT_HEADER).ok_or_else(|| invalid("snapshot file too short"))?;
        let meta_len = u32::from_le_bytes([header[0], header[1], header[2], header[3]]) as usize;
        let crc = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
        let rest = &bytes[SNAPSHOT_HEADER..];
        if crc32fast::hash(rest) != crc || meta_len > rest.len() {
            return Err(invalid("snapshot file fails its checksum"));
        }
        let meta = serde_json::from_slice(&rest[..meta_len]).map_err(invalid)?;
        Ok(Some((meta, rest[meta_len..].to_vec())))
    }

    /// Writes the snapshot beside the old one and renames it over; on a full disk it waits
    /// for space ([`crate::disk_full`]).
    fn save_snapshot(&self, meta: &SnapshotMetaOf<TypeConfig>, data: &[u8]) -> Result<(), io::Error> {
        let meta = serde_json::to_vec(meta).map_err(invalid)?;
        let mut crc = crc32fast::Hasher::new();
        crc.update(&meta);
        crc.update(data);
        let meta_len = u32::try_from(meta.len()).map_err(|_| invalid("snapshot metadata over 4 GiB"))?;
        let crc = crc.finalize();
        let tmp = self.dir.join(format!("snapshot-{}.tmp", group_name(self.group)));
        let write = || {
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(&meta_len.to_le_bytes())?;
            f.write_all(&crc.to_le_bytes())?;
            f.write_all(&meta)?;
            f.write_all(data)?;
            f.sync_all()?;
            std::fs::rename(&tmp, self.snapshot_path())?;
            std::fs::File::open(&self.dir)?.sync_all()
        };
        crate::disk_full::retry_when_full("writing a snapshot", write, || {
            let _ = std::fs::remove_file(&tmp);
        })
    }

    /// [`Self::save_snapshot`] on a blocking thread (it may wait for disk space); hands the
    /// snapshot back.
    async fn save_snapshot_off_runtime(&self, meta: SnapshotMetaOf<TypeConfig>, data: Vec<u8>) -> io::Result<SnapshotParts> {
        let sm = self.clone();
        tokio::task::spawn_blocking(move || sm.save_snapshot(&meta, &data).map(|()| (meta, data))).await.map_err(io::Error::other)?
    }

    fn restore(&self, meta: &SnapshotMetaOf<TypeConfig>, data: &[u8]) -> Result<(), io::Error> {
        let (saved, rest): (SavedHeads, &[u8]) = postcard::take_from_bytes(data).map_err(invalid)?;
        // Older snapshots end early: sections added later are missing, and start empty.
        let ((split, map), rest): ((SplitState, ShardMap), _) = next_section(rest)?;
        let (retired, rest) = next_section(rest)?;
        let (deletes, rest) = next_section(rest)?;
        let (leases, rest) = next_section(rest)?;
        let (row_groups, _) = next_section(rest)?;
        let heads = Heads::from_saved(saved, self.config, Instant::now());
        *self.state.write().map_err(poisoned)? =
            SmState { heads, split, map, retired, deletes, leases, row_groups, last: meta.last_log_id, membership: meta.last_membership.clone() };
        Ok(())
    }

    fn apply_one(&self, log_id: &LogIdOf<TypeConfig>, payload: EntryPayload<Command, u64, openraft::BasicNode>) -> Result<ApplyResult, io::Error> {
        let mut state = self.state.write().map_err(poisoned)?;
        let result = match payload {
            EntryPayload::Blank => ApplyResult::None,
            EntryPayload::Normal(Command::Push(pushes)) => {
                let now = Instant::now();
                let outcomes = pushes.into_iter().map(|p| state.apply_push(log_id.index, p, now)).collect();
                ApplyResult::Push(outcomes)
            }
            EntryPayload::Normal(Command::Split { keep, child }) => {
                state.split.owned = Some(keep);
                state.split.children.push(child);
                ApplyResult::None
            }
            EntryPayload::Normal(Command::Meta(MetaChange::Deletes(change))) => {
                state.deletes.apply(change);
                ApplyResult::None
            }
            EntryPayload::Normal(Command::Meta(MetaChange::Lease { name, holder, now_ms, ttl_ms })) => {
                let lease = state.leases.entry(name).or_insert((holder, i64::MIN));
                if lease.0 == holder || lease.1 <= now_ms {
                    *lease = (holder, now_ms.saturating_add(ttl_ms));
                }
                ApplyResult::Lease(lease.0)
            }
            EntryPayload::Normal(Command::Meta(change)) => match state.map.apply(change) {
                Some(id) => ApplyResult::Reserved(id),
                None => ApplyResult::None,
            },
            EntryPayload::Normal(Command::Compacted { tenant, remove, add, at_ms }) => {
                let (files, groups): (Vec<_>, Vec<_>) = add.into_iter().map(|c| (c.meta, c.row_groups)).unzip();
                let paths: Vec<String> = files.iter().map(|f| f.path.clone()).collect();
                let swapped = state.heads.swap_files(&tenant, &remove, files);
                if swapped {
                    for path in &remove {
                        state.row_groups.remove(path);
                    }
                    state.row_groups.extend(paths.into_iter().zip(groups).filter(|(_, g)| !g.is_empty()));
                    state.retired.entry(tenant).or_default().extend(remove.into_iter().map(|path| RetiredFile { path, at_ms }));
                }
                ApplyResult::Swapped(swapped)
            }
            EntryPayload::Normal(Command::Forgotten { tenant, paths }) => {
                if let Some(files) = state.retired.get_mut(&tenant) {
                    files.retain(|f| !paths.contains(&f.path));
                    if files.is_empty() {
                        state.retired.remove(&tenant);
                    }
                }
                ApplyResult::None
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
            let mut data = postcard::to_stdvec(&state.heads.to_saved()).map_err(invalid)?;
            data.extend(postcard::to_stdvec(&(&state.split, &state.map)).map_err(invalid)?);
            data.extend(postcard::to_stdvec(&state.retired).map_err(invalid)?);
            data.extend(postcard::to_stdvec(&state.deletes).map_err(invalid)?);
            data.extend(postcard::to_stdvec(&state.leases).map_err(invalid)?);
            data.extend(postcard::to_stdvec(&state.row_groups).map_err(invalid)?);
            let meta = SnapshotMetaOf::<TypeConfig> {
                last_log_id: state.last,
                last_membership: state.membership.clone(),
            };
            (data, meta)
        };
        let (meta, data) = self.save_snapshot_off_runtime(meta, data).await?;
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
        self.save_snapshot_off_runtime(meta.clone(), snapshot).await.map(|_| ())
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<SnapshotOf<TypeConfig, Vec<u8>>>, io::Error> {
        Ok(self.load_snapshot()?.map(|(meta, snapshot)| SnapshotOf::<TypeConfig, Vec<u8>> { meta, snapshot }))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use store::entry::Entry;
    use store::labels::Labels;

    use super::*;
    use crate::command::StreamPush;
    use crate::shard_map::{KeyRange, MetaChange, SplitChild};

    #[tokio::test]
    async fn split_turns_streams_away_and_survives_a_snapshot() {
        let dir = crate::testutil::temp_dir("sm-split");
        let mut sm = StateMachine::open(&dir, 3, HeadsConfig::default()).expect("open");
        let (keep, give) = KeyRange::ALL.split(0).expect("split");
        let labels: Vec<Labels> = (0..20).map(|i| Labels::parse(&format!(r#"{{app="a{i}"}}"#)).expect("labels")).collect();
        let child_of = |l: &Labels| give.contains(shard_key("t", l));
        assert!(labels.iter().any(child_of) && !labels.iter().all(child_of), "test streams fall on both sides");
        {
            let mut s = sm.state.write().expect("lock");
            s.split.owned = Some(keep);
            s.split.children.push(SplitChild { shard: 9, range: give, replicas: BTreeSet::from([1]) });
            s.map.apply(MetaChange::AddNode { id: 1, addr: "h:1".into() });
            let push = TenantPush {
                tenant: "t".into(),
                streams: labels.iter().map(|l| StreamPush { labels: l.clone(), entries: vec![Entry { ts: 1, line: "x".into(), metadata: Vec::new() }] }).collect(),
            };
            let out = s.apply_push(1, push, Instant::now());
            let moved: Vec<usize> = labels.iter().enumerate().filter(|(_, l)| child_of(l)).map(|(i, _)| i).collect();
            assert_eq!(out.misrouted, moved.iter().map(|i| (*i as u32, 9)).collect::<Vec<_>>());
            assert_eq!(out.accepted as usize, labels.len() - moved.len(), "only owned streams are applied");
        }
        let snap = sm.build_snapshot().await.expect("snapshot");
        let restored = StateMachine::open(&dir, 3, HeadsConfig::default()).expect("reopen");
        let (a, b) = (restored.state.read().expect("lock"), sm.state.read().expect("lock"));
        assert_eq!((&a.split, &a.map), (&b.split, &b.map), "split state and map come back from {} bytes", snap.snapshot.len());
        assert_eq!(a.heads.bytes(), b.heads.bytes());
    }
}
