//! A Raft log in append-only segment files: the alternative to the sled log store.
//!
//! Entries are records `[len: u32][crc32: u32][postcard entry]` appended to the current
//! segment file `{first_index:020}.log`; every append batch ends with one `fdatasync` (and a
//! directory fsync when it opened a new segment). Purging deletes whole segments; truncating
//! cuts the tail segment at a record boundary. Vote, last-purged and committed ids live in
//! `meta.json`, replaced atomically (write, fsync, rename, fsync the directory).
//!
//! On open every segment is scanned and checksummed. A torn or partial record at the end of
//! the last segment is what a crash in the middle of an append leaves; it was never
//! acknowledged, so it is cut off. A bad record anywhere else is corruption and stops the node.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::ops::{Bound, RangeBounds};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use openraft::OptionalSend;
use openraft::alias::{EntryOf, LogIdOf, VoteOf};
use openraft::storage::{IOFlushed, LogState, RaftLogReader, RaftLogStorage};
use serde::{Deserialize, Serialize};

use crate::command::TypeConfig;
use crate::framing::{HEADER, frame, read_frames};

/// A segment is closed and a new one started once it passes this size.
pub const SEGMENT_BYTES: u64 = 64 * 1024 * 1024;

#[derive(Debug, Default, Serialize, Deserialize)]
struct Meta {
    vote: Option<VoteOf<TypeConfig>>,
    committed: Option<LogIdOf<TypeConfig>>,
    purged: Option<LogIdOf<TypeConfig>>,
}

/// Where a record is: payload offset, payload length, and the entry's log id.
type Record = (u64, u32, LogIdOf<TypeConfig>);

/// What scanning a segment found: whole records, the length of the valid prefix, and whether
/// the file ended exactly there.
struct Scanned {
    records: Vec<Record>,
    valid_len: u64,
    clean: bool,
}

struct Segment {
    first: u64,
    path: PathBuf,
    file: File,
    len: u64,
    /// `(offset, length of the payload, log id)` of each record; record `i` is `first + i`.
    records: Vec<Record>,
}

impl Segment {
    fn last_index(&self) -> Option<u64> {
        self.records.last().map(|r| r.2.index)
    }
}

struct Inner {
    dir: PathBuf,
    segments: BTreeMap<u64, Segment>,
    meta: Meta,
}

/// The segment-file log of one Raft group.
#[derive(Clone)]
pub struct SegmentLog {
    inner: Arc<Mutex<Inner>>,
}

fn corrupt(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg)
}

fn poisoned<T>(_: T) -> io::Error {
    io::Error::other("segment log lock poisoned")
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

fn segment_path(dir: &Path, first: u64) -> PathBuf {
    dir.join(format!("{first:020}.log"))
}

/// Reads every whole, checksummed record of a segment; returns them and the byte length of
/// the valid prefix.
fn scan(path: &Path) -> io::Result<Scanned> {
    let mut bytes = Vec::new();
    File::open(path)?.read_to_end(&mut bytes)?;
    let mut records = Vec::new();
    let valid = read_frames(&bytes, |start, payload| {
        let entry: EntryOf<TypeConfig> = postcard::from_bytes(payload).map_err(|e| corrupt(format!("{}: {e}", path.display())))?;
        records.push((start as u64, payload.len() as u32, entry.log_id));
        Ok(())
    })?;
    Ok(Scanned { records, valid_len: valid as u64, clean: valid == bytes.len() })
}

impl SegmentLog {
    /// Opens (or creates) the log in `dir`, recovering from a torn final append.
    pub fn open(dir: &Path) -> io::Result<SegmentLog> {
        std::fs::create_dir_all(dir)?;
        let meta = match std::fs::read(dir.join("meta.json")) {
            Ok(b) => serde_json::from_slice(&b).map_err(|e| corrupt(format!("meta.json: {e}")))?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => Meta::default(),
            Err(e) => return Err(e),
        };
        let mut firsts: Vec<u64> = Vec::new();
        for ent in std::fs::read_dir(dir)? {
            let name = ent?.file_name();
            let name = name.to_string_lossy();
            if let Some(n) = name.strip_suffix(".log").and_then(|s| s.parse().ok()) {
                firsts.push(n);
            }
        }
        firsts.sort_unstable();
        let mut segments = BTreeMap::new();
        for (i, first) in firsts.iter().enumerate() {
            let path = segment_path(dir, *first);
            let Scanned { records, valid_len: valid, clean } = scan(&path)?;
            let last = i + 1 == firsts.len();
            if !clean && !last {
                return Err(corrupt(format!("{}: damaged record in a closed segment", path.display())));
            }
            let file = OpenOptions::new().read(true).write(true).open(&path)?;
            if !clean {
                file.set_len(valid)?;
                file.sync_all()?;
            }
            if records.is_empty() {
                drop(file);
                std::fs::remove_file(&path)?;
                continue;
            }
            if records.first().map(|r| r.2.index) != Some(*first) {
                return Err(corrupt(format!("{}: first record is not index {first}", path.display())));
            }
            segments.insert(*first, Segment { first: *first, path, file, len: valid, records });
        }
        Ok(SegmentLog { inner: Arc::new(Mutex::new(Inner { dir: dir.to_path_buf(), segments, meta })) })
    }

    /// Bytes of segment files on disk.
    pub fn size_on_disk(&self) -> u64 {
        self.inner.lock().map(|i| i.segments.values().map(|s| s.len).sum()).unwrap_or(0)
    }

    async fn blocking<T: Send + 'static>(&self, f: impl FnOnce(&mut Inner) -> io::Result<T> + Send + 'static) -> io::Result<T> {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || {
            let mut guard = inner.lock().map_err(poisoned)?;
            f(&mut guard)
        })
        .await
        .map_err(io::Error::other)?
    }
}

impl Inner {
    fn save_meta(&self) -> io::Result<()> {
        let tmp = self.dir.join("meta.json.tmp");
        let mut f = File::create(&tmp)?;
        f.write_all(&serde_json::to_vec(&self.meta).map_err(io::Error::other)?)?;
        f.sync_all()?;
        std::fs::rename(&tmp, self.dir.join("meta.json"))?;
        sync_dir(&self.dir)
    }

    fn read(&self, index: u64) -> io::Result<Option<EntryOf<TypeConfig>>> {
        let Some((_, seg)) = self.segments.range(..=index).next_back() else { return Ok(None) };
        let Some((offset, len, _)) = usize::try_from(index - seg.first).ok().and_then(|i| seg.records.get(i)) else {
            return Ok(None);
        };
        let mut buf = vec![0u8; *len as usize];
        seg.file.read_exact_at(&mut buf, *offset)?;
        postcard::from_bytes(&buf).map(Some).map_err(|e| corrupt(format!("{}: {e}", seg.path.display())))
    }

    fn append(&mut self, entries: Vec<EntryOf<TypeConfig>>) -> io::Result<()> {
        let mut new_segment = false;
        let mut touched: Vec<u64> = Vec::new();
        for e in entries {
            let roll = match self.segments.values().next_back() {
                Some(s) => s.len >= SEGMENT_BYTES,
                None => true,
            };
            if roll {
                let path = segment_path(&self.dir, e.log_id.index);
                let file = OpenOptions::new().read(true).write(true).create(true).truncate(true).open(&path)?;
                self.segments.insert(e.log_id.index, Segment { first: e.log_id.index, path, file, len: 0, records: Vec::new() });
                new_segment = true;
            }
            let Some(seg) = self.segments.values_mut().next_back() else { return Err(io::Error::other("no segment")) };
            let mut record = Vec::new();
            let (at, len) = frame(&e, &mut record)?;
            seg.file.write_all_at(&record, seg.len)?;
            seg.records.push((seg.len + at, len, e.log_id));
            seg.len += record.len() as u64;
            if touched.last() != Some(&seg.first) {
                touched.push(seg.first);
            }
        }
        for first in touched {
            if let Some(seg) = self.segments.get(&first) {
                seg.file.sync_data()?;
            }
        }
        if new_segment {
            sync_dir(&self.dir)?;
        }
        Ok(())
    }

    fn truncate_from(&mut self, from: u64) -> io::Result<()> {
        let doomed: Vec<u64> = self.segments.range(from..).map(|(k, _)| *k).filter(|k| *k >= from).collect();
        for first in doomed {
            if let Some(seg) = self.segments.remove(&first) {
                std::fs::remove_file(&seg.path)?;
            }
        }
        if let Some((_, seg)) = self.segments.range_mut(..from).next_back()
            && let Ok(keep) = usize::try_from(from - seg.first)
            && keep < seg.records.len()
        {
            let cut = seg.records[keep].0 - HEADER as u64;
            seg.records.truncate(keep);
            seg.file.set_len(cut)?;
            seg.file.sync_all()?;
            seg.len = cut;
        }
        sync_dir(&self.dir)
    }

    fn purge(&mut self, upto: u64) -> io::Result<()> {
        let doomed: Vec<u64> = self
            .segments
            .values()
            .filter(|s| s.last_index().is_some_and(|l| l <= upto))
            .map(|s| s.first)
            .collect();
        for first in doomed {
            if let Some(seg) = self.segments.remove(&first) {
                std::fs::remove_file(&seg.path)?;
            }
        }
        sync_dir(&self.dir)
    }
}

impl RaftLogReader<TypeConfig> for SegmentLog {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<EntryOf<TypeConfig>>, io::Error> {
        let inner = self.inner.lock().map_err(poisoned)?;
        let first = inner.segments.values().next().map(|s| s.first).unwrap_or(0);
        let last = inner.segments.values().next_back().and_then(|s| s.last_index());
        let Some(last) = last else { return Ok(Vec::new()) };
        let start = match range.start_bound() {
            Bound::Included(i) => *i,
            Bound::Excluded(i) => i.saturating_add(1),
            Bound::Unbounded => first,
        }
        .max(first);
        let end = match range.end_bound() {
            Bound::Included(i) => *i,
            Bound::Excluded(i) => match i.checked_sub(1) {
                Some(v) => v,
                None => return Ok(Vec::new()),
            },
            Bound::Unbounded => last,
        }
        .min(last);
        let purged = inner.meta.purged.map(|p| p.index);
        let mut out = Vec::new();
        let mut index = start;
        while index <= end {
            if purged.is_none_or(|p| index > p)
                && let Some(e) = inner.read(index)?
            {
                out.push(e);
            }
            index += 1;
        }
        Ok(out)
    }

    async fn read_vote(&mut self) -> Result<Option<VoteOf<TypeConfig>>, io::Error> {
        Ok(self.inner.lock().map_err(poisoned)?.meta.vote)
    }
}

impl RaftLogStorage<TypeConfig> for SegmentLog {
    type LogReader = SegmentLog;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, io::Error> {
        let inner = self.inner.lock().map_err(poisoned)?;
        let purged = inner.meta.purged;
        let last = inner.segments.values().next_back().and_then(|s| s.records.last()).map(|r| r.2);
        let last = match (last, purged) {
            (Some(l), Some(p)) if p.index >= l.index => Some(p),
            (Some(l), _) => Some(l),
            (None, p) => p,
        };
        Ok(LogState { last_purged_log_id: purged, last_log_id: last })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &VoteOf<TypeConfig>) -> Result<(), io::Error> {
        let vote = *vote;
        self.blocking(move |inner| {
            inner.meta.vote = Some(vote);
            inner.save_meta()
        })
        .await
    }

    async fn save_committed(&mut self, committed: Option<LogIdOf<TypeConfig>>) -> Result<(), io::Error> {
        // Kept in memory and written with the next vote or purge: it is only a hint for how
        // far to re-apply after a restart.
        self.inner.lock().map_err(poisoned)?.meta.committed = committed;
        Ok(())
    }

    async fn read_committed(&mut self) -> Result<Option<LogIdOf<TypeConfig>>, io::Error> {
        Ok(self.inner.lock().map_err(poisoned)?.meta.committed)
    }

    async fn append<I>(&mut self, entries: I, callback: IOFlushed<TypeConfig>) -> Result<(), io::Error>
    where
        I: IntoIterator<Item = EntryOf<TypeConfig>> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let entries: Vec<_> = entries.into_iter().collect();
        let res = self.blocking(move |inner| inner.append(entries)).await;
        let reported = res.as_ref().map(|_| ()).map_err(|e| io::Error::new(e.kind(), e.to_string()));
        callback.io_completed(reported);
        res
    }

    async fn truncate_after(&mut self, last_log_id: Option<LogIdOf<TypeConfig>>) -> Result<(), io::Error> {
        let from = last_log_id.map(|l| l.index + 1).unwrap_or(0);
        self.blocking(move |inner| inner.truncate_from(from)).await
    }

    async fn purge(&mut self, log_id: LogIdOf<TypeConfig>) -> Result<(), io::Error> {
        self.blocking(move |inner| {
            inner.meta.purged = Some(log_id);
            inner.save_meta()?;
            inner.purge(log_id.index)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{TempDir, run_storage_suite, storage_err, suite_state_machine};
    use openraft::StorageError;
    use openraft::testing::log::StoreBuilder;

    struct SegmentBuilder;

    impl StoreBuilder<TypeConfig, SegmentLog, crate::state_machine::StateMachine, TempDir> for SegmentBuilder {
        async fn build(&self) -> Result<(TempDir, SegmentLog, crate::state_machine::StateMachine), StorageError<TypeConfig>> {
            let dir = crate::testutil::temp_dir("segsuite");
            let log = SegmentLog::open(&dir.join("log")).map_err(storage_err)?;
            let sm = suite_state_machine(&dir.join("sm"))?;
            Ok((dir, log, sm))
        }
    }

    #[test]
    fn openraft_storage_suite() -> Result<(), StorageError<TypeConfig>> {
        run_storage_suite(SegmentBuilder)
    }

    #[test]
    fn torn_tail_is_cut_and_earlier_entries_survive() {
        use openraft::testing::{blank_ent, log_id};
        let dir = crate::testutil::temp_dir("segtorn");
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(async {
            let log = SegmentLog::open(&dir).unwrap();
            let entries: Vec<EntryOf<TypeConfig>> = (1..=3).map(|i| blank_ent::<TypeConfig>(1, 1, i)).collect();
            log.inner.lock().unwrap().append(entries).unwrap();
            // A crash in the middle of the next append leaves half a record.
            let path = segment_path(&dir, 1);
            let mut f = OpenOptions::new().append(true).open(&path).unwrap();
            f.write_all(&[9, 0, 0, 0, 1, 2]).unwrap();
            drop(f);
            let mut log = SegmentLog::open(&dir).unwrap();
            let state = log.get_log_state().await.unwrap();
            assert_eq!(state.last_log_id, Some(log_id::<TypeConfig>(1, 1, 3)));
            assert_eq!(log.try_get_log_entries(1..=3).await.unwrap().len(), 3);
        });
    }
}
