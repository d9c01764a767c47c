//! One Raft log for every group on a node: the shards and the metadata group append to the
//! same segment files, and one `fdatasync` makes a whole batch of every group's appends
//! durable, so a push touching N shards costs one fsync, not N.
//!
//! Records are `[len: u32][crc32: u32][postcard Record]` appended to the active segment
//! `{first_seq:020}.log` under `raft/log/`; each names its group. An append writes its
//! records, then waits for an fsync: the first writer to find none running fsyncs the active
//! segment and keeps doing so while others wait, completing every waiter each fsync covers
//! (openraft's `IOFlushed` callbacks let it report them flushed from there). So appends of
//! many groups arriving together share one fsync, and a lone append pays no hand-off. A
//! segment is synced before the next one starts, and every segment starts with each group's
//! vote, purge point and commit point, so old segments can be deleted once no group has a
//! live entry in them.
//!
//! On open every segment is replayed in order; a torn record at the end of the last one is
//! what a crash mid-append leaves (never acknowledged) and is cut off; damage anywhere else
//! stops the node. A group that keeps an old segment alive (an idle group whose entries were
//! never purged) is named by [`NodeLog::pinning_groups`], so the node can snapshot it.

use std::collections::{BTreeMap, HashMap};
use std::fs::{File, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use openraft::alias::{EntryOf, LogIdOf, VoteOf};
use openraft::storage::IOFlushed;
use serde::{Deserialize, Serialize};

use crate::command::TypeConfig;
use crate::framing::{frame, read_frames};

/// A segment is closed and a new one started once it passes this size.
pub const SEGMENT_BYTES: u64 = 64 * 1024 * 1024;
/// Above this size an active segment of only purged entries is replaced by a new one.
pub const IDLE_ROLL_BYTES: u64 = 1024 * 1024;

/// One record of the shared log.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum Record {
    /// A log entry of `group`.
    Entry(u64, EntryOf<TypeConfig>),
    /// `group` dropped its entries from this index on.
    Truncate(u64, u64),
    /// `group` purged its entries up to this log id.
    Purge(u64, LogIdOf<TypeConfig>),
    /// `group`'s vote.
    Vote(u64, VoteOf<TypeConfig>),
    /// `group`'s commit point (a hint for how far to re-apply after a restart).
    Committed(u64, Option<LogIdOf<TypeConfig>>),
    /// `group` left this node: forget it.
    Drop(u64),
}

/// Where an entry's record is.
#[derive(Debug, Clone)]
pub(crate) struct Loc {
    /// First sequence number of the segment holding it.
    pub segment: u64,
    /// The segment file (kept open here, so reads never wait for the file lock).
    pub file: Arc<File>,
    /// Offset of the payload in the segment.
    pub offset: u64,
    /// Payload length.
    pub len: u32,
    /// The entry's log id.
    pub log_id: LogIdOf<TypeConfig>,
}

/// What the log knows of one group.
#[derive(Debug, Default)]
pub(crate) struct GroupState {
    /// Live entries by index.
    pub entries: BTreeMap<u64, Loc>,
    /// Last vote.
    pub vote: Option<VoteOf<TypeConfig>>,
    /// Last purged log id.
    pub purged: Option<LogIdOf<TypeConfig>>,
    /// Last commit point saved.
    pub committed: Option<LogIdOf<TypeConfig>>,
}

/// Every group's state by group id.
pub(crate) type Groups = HashMap<u64, GroupState>;

impl GroupState {
    fn apply(&mut self, record: &Record, loc: Option<Loc>) {
        match record {
            Record::Entry(_, e) => {
                let _ = self.entries.split_off(&e.log_id.index);
                if let Some(loc) = loc {
                    self.entries.insert(e.log_id.index, loc);
                }
            }
            Record::Truncate(_, from) => {
                let _ = self.entries.split_off(from);
            }
            Record::Purge(_, upto) => {
                self.purged = Some(*upto);
                self.entries = self.entries.split_off(&(upto.index + 1));
            }
            Record::Vote(_, v) => self.vote = Some(*v),
            Record::Committed(_, c) => self.committed = *c,
            Record::Drop(_) => {}
        }
    }
}

impl Record {
    fn group(&self) -> u64 {
        match self {
            Record::Entry(g, _)
            | Record::Truncate(g, _)
            | Record::Purge(g, _)
            | Record::Vote(g, _)
            | Record::Committed(g, _)
            | Record::Drop(g) => *g,
        }
    }
}

struct Segment {
    path: PathBuf,
    file: Arc<File>,
    len: u64,
}

/// The log's files. Writers hold this lock while they write (the log's order is the order
/// they take it in); readers never take it.
struct Files {
    dir: PathBuf,
    /// Segments by first sequence number; the last one is active.
    segments: BTreeMap<u64, Segment>,
    /// Records written so far (the next record's sequence number).
    next_seq: u64,
}

/// Who waits for the next fsync.
pub(crate) enum Waiter {
    /// openraft's completion of an append.
    Flushed(IOFlushed<TypeConfig>),
    /// A caller blocked until the records it wrote are durable.
    Notify(tokio::sync::oneshot::Sender<io::Result<()>>),
}

/// Writers waiting for the next fsync, and whether one is running.
#[derive(Default)]
struct Syncing {
    running: bool,
    waiters: Vec<Waiter>,
}

/// The node's shared log: cheap to clone, one per node.
#[derive(Clone)]
pub struct NodeLog {
    files: Arc<Mutex<Files>>,
    /// Every group's state; taken after `files` when both are needed.
    pub(crate) groups: Arc<Mutex<Groups>>,
    syncing: Arc<Mutex<Syncing>>,
}

fn corrupt(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg)
}

pub(crate) fn poisoned<T>(_: T) -> io::Error {
    io::Error::other("node log lock poisoned")
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

fn segment_path(dir: &Path, first: u64) -> PathBuf {
    dir.join(format!("{first:020}.log"))
}

/// Applies `record` (at `loc`, for an entry) to its group.
fn apply(groups: &mut Groups, record: &Record, loc: Option<Loc>) {
    if let Record::Drop(g) = record {
        groups.remove(g);
    } else {
        groups.entry(record.group()).or_default().apply(record, loc);
    }
}

/// Replays one segment into `groups`; returns the valid length, the records read and
/// whether the file ended exactly there.
fn replay(path: &Path, file: &Arc<File>, segment: u64, groups: &mut Groups) -> io::Result<(u64, u64, bool)> {
    let mut bytes = Vec::new();
    File::open(path)?.read_to_end(&mut bytes)?;
    let mut count = 0u64;
    let valid = read_frames(&bytes, |start, payload| {
        let record: Record = postcard::from_bytes(payload).map_err(|e| corrupt(format!("{}: {e}", path.display())))?;
        let loc = match &record {
            Record::Entry(_, e) => Some(Loc { segment, file: Arc::clone(file), offset: start as u64, len: payload.len() as u32, log_id: e.log_id }),
            _ => None,
        };
        apply(groups, &record, loc);
        count += 1;
        Ok(())
    })?;
    Ok((valid as u64, count, valid == bytes.len()))
}

impl NodeLog {
    /// Opens (or creates) the log in `dir`, replaying every segment and recovering from a
    /// torn final append.
    pub fn open(dir: &Path) -> io::Result<NodeLog> {
        std::fs::create_dir_all(dir)?;
        let mut firsts: Vec<u64> = Vec::new();
        for ent in std::fs::read_dir(dir)? {
            let name = ent?.file_name();
            if let Some(n) = name.to_string_lossy().strip_suffix(".log").and_then(|s| s.parse().ok()) {
                firsts.push(n);
            }
        }
        firsts.sort_unstable();
        let mut groups = HashMap::new();
        let mut segments = BTreeMap::new();
        let mut next_seq = firsts.first().copied().unwrap_or(0);
        for (i, first) in firsts.iter().enumerate() {
            let path = segment_path(dir, *first);
            if *first != next_seq {
                return Err(corrupt(format!("{}: expected a segment starting at record {next_seq}", path.display())));
            }
            let file = Arc::new(OpenOptions::new().read(true).write(true).open(&path)?);
            let (valid, count, clean) = replay(&path, &file, *first, &mut groups)?;
            if !clean && i + 1 != firsts.len() {
                return Err(corrupt(format!("{}: damaged record in a closed segment", path.display())));
            }
            if !clean {
                file.set_len(valid)?;
                file.sync_all()?;
            }
            next_seq = first + count;
            segments.insert(*first, Segment { path, file, len: valid });
        }
        let files = Arc::new(Mutex::new(Files { dir: dir.to_path_buf(), segments, next_seq }));
        Ok(NodeLog { files, groups: Arc::new(Mutex::new(groups)), syncing: Arc::default() })
    }

    /// Writes `records` and tells `waiter` once they are durable (blocking: call it off the
    /// async runtime). A write error is told to `waiter` and returned.
    pub(crate) fn write_durable(&self, records: &[Record], waiter: Waiter) -> io::Result<()> {
        match self.write(records) {
            Ok(()) => {
                self.sync_with(waiter);
                Ok(())
            }
            Err(e) => {
                complete(waiter, Err(io::Error::new(e.kind(), e.to_string())));
                Err(e)
            }
        }
    }

    /// Queues `waiter` for the next fsync. When none is running, this caller runs one for
    /// everyone queued; writers that queued meanwhile are served by a blocking task that
    /// fsyncs until nobody waits, so this caller's group goes on with its log I/O.
    fn sync_with(&self, waiter: Waiter) {
        match self.syncing.lock() {
            Ok(mut s) => {
                s.waiters.push(waiter);
                if s.running {
                    return;
                }
                s.running = true;
            }
            Err(_) => return complete(waiter, Err(io::Error::other("node log lock poisoned"))),
        }
        if self.sync_once() {
            let log = self.clone();
            match tokio::runtime::Handle::try_current() {
                Ok(rt) => drop(rt.spawn_blocking(move || while log.sync_once() {})),
                Err(_) => while log.sync_once() {},
            }
        }
    }

    /// Fsyncs once for every waiter queued and tells them; answers whether more queued
    /// meanwhile (if not, no fsync is running any more).
    fn sync_once(&self) -> bool {
        let batch = match self.syncing.lock() {
            Ok(mut s) => std::mem::take(&mut s.waiters),
            Err(_) => return false,
        };
        // Everything a waiter wrote is in the active segment or in one synced when it rolled.
        let active = self.files.lock().ok().and_then(|f| f.segments.values().next_back().map(|seg| Arc::clone(&seg.file)));
        let result = match active {
            Some(file) => file.sync_data(),
            None => Ok(()),
        };
        crate::metrics::LOG_SYNCS.inc();
        for w in batch {
            complete(w, result.as_ref().map(|_| ()).map_err(|e| io::Error::new(e.kind(), e.to_string())));
        }
        match self.syncing.lock() {
            Ok(mut s) if s.waiters.is_empty() => {
                s.running = false;
                false
            }
            Ok(_) => true,
            Err(_) => false,
        }
    }

    /// Writes `records` (not yet durable) and returns once they are in the page cache.
    /// Encoding happens before any lock is taken; group state changes while the file lock
    /// is held, so a segment header written by a roll always includes every record before it.
    /// On a full disk it waits for space ([`crate::disk_full`]), without holding the lock.
    pub(crate) fn write(&self, records: &[Record]) -> io::Result<()> {
        let mut buf = Vec::new();
        let mut frames = Vec::with_capacity(records.len());
        for r in records {
            frames.push(frame(r, &mut buf)?);
        }
        let attempt = || {
            let mut files = self.files.lock().map_err(poisoned)?;
            if files.segments.values().next_back().is_none_or(|s| s.len >= SEGMENT_BYTES) {
                self.roll(&mut files)?;
            }
            files.append(&buf, records.len() as u64, |segment, file, base| {
                let mut groups = self.groups.lock().map_err(poisoned)?;
                for (r, &(at, len)) in records.iter().zip(&frames) {
                    let loc = match r {
                        Record::Entry(_, e) => Some(Loc { segment, file: Arc::clone(file), offset: base + at, len, log_id: e.log_id }),
                        _ => None,
                    };
                    apply(&mut groups, r, loc);
                }
                Ok(())
            })
        };
        crate::disk_full::retry_when_full("appending to the Raft log", attempt, || {})
    }

    /// Syncs the active segment and starts a new one that begins with every group's vote,
    /// purge point and commit point. The new segment counts only once its header is written
    /// (a failed roll removes it, so no segment ever lacks its header).
    fn roll(&self, files: &mut Files) -> io::Result<()> {
        if let Some(active) = files.segments.values().next_back() {
            active.file.sync_data()?;
        }
        let header: Vec<Record> = {
            let groups = self.groups.lock().map_err(poisoned)?;
            let mut ids: Vec<u64> = groups.keys().copied().collect();
            ids.sort_unstable();
            let mut header = Vec::new();
            for id in ids {
                let g = &groups[&id];
                header.extend(g.vote.map(|v| Record::Vote(id, v)));
                header.extend(g.purged.map(|p| Record::Purge(id, p)));
                header.push(Record::Committed(id, g.committed));
            }
            header
        };
        // Re-applying a group's own metadata changes nothing; writing it here keeps it.
        let mut buf = Vec::new();
        for r in &header {
            frame(r, &mut buf)?;
        }
        let first = files.next_seq;
        let path = segment_path(&files.dir, first);
        let file = OpenOptions::new().read(true).write(true).create(true).truncate(true).open(&path)?;
        if let Err(e) = file.write_all_at(&buf, 0).and_then(|()| sync_dir(&files.dir)) {
            let _ = std::fs::remove_file(&path);
            return Err(e);
        }
        files.segments.insert(first, Segment { path, file: Arc::new(file), len: buf.len() as u64 });
        files.next_seq += header.len() as u64;
        Ok(())
    }

    /// Keeps `group`'s commit point in memory; segment headers make it durable (it is only a
    /// hint for how far to re-apply after a restart).
    pub(crate) fn set_committed(&self, group: u64, committed: Option<LogIdOf<TypeConfig>>) -> io::Result<()> {
        self.groups.lock().map_err(poisoned)?.entry(group).or_default().committed = committed;
        Ok(())
    }

    /// Deletes the segments no group needs any more: those older than the oldest live entry.
    /// When no group has a live entry and the active segment has grown past
    /// [`IDLE_ROLL_BYTES`], it rolls first, so a log whose every entry is flushed and purged
    /// shrinks to one segment header instead of keeping up to a segment of dead entries.
    pub(crate) fn collect(&self) -> io::Result<()> {
        let mut files = self.files.lock().map_err(poisoned)?;
        let Some(&active) = files.segments.keys().next_back() else { return Ok(()) };
        let (oldest_live, idle) = {
            let groups = self.groups.lock().map_err(poisoned)?;
            let oldest = groups.values().filter_map(|g| g.entries.values().next().map(|l| l.segment)).min();
            (oldest, groups.values().all(|g| g.entries.is_empty()))
        };
        let mut needed = oldest_live.unwrap_or(active).min(active);
        if idle && files.segments.get(&active).is_some_and(|s| s.len > IDLE_ROLL_BYTES) {
            // The new segment's header (every group's vote, purge and commit points) must be
            // durable before the segment that held them until now is deleted.
            self.roll(&mut files)?;
            if let Some((&first, seg)) = files.segments.iter().next_back() {
                seg.file.sync_data()?;
                needed = first;
            }
        }
        let doomed: Vec<u64> = files.segments.range(..needed).map(|(k, _)| *k).collect();
        if doomed.is_empty() {
            return Ok(());
        }
        for first in doomed {
            if let Some(seg) = files.segments.remove(&first) {
                std::fs::remove_file(&seg.path)?;
            }
        }
        sync_dir(&files.dir)
    }

    /// Groups with live entries in the oldest segment, once more than `keep` segments are
    /// on disk: snapshotting them lets the segment go.
    pub fn pinning_groups(&self, keep: usize) -> Vec<u64> {
        let oldest = match self.files.lock() {
            Ok(f) if f.segments.len() > keep => f.segments.keys().next().copied(),
            _ => None,
        };
        let (Some(oldest), Ok(groups)) = (oldest, self.groups.lock()) else { return Vec::new() };
        let mut out: Vec<u64> = groups.iter().filter(|(_, g)| g.entries.values().next().is_some_and(|l| l.segment == oldest)).map(|(id, _)| *id).collect();
        out.sort_unstable();
        out
    }

    /// Number of segment files and their bytes.
    pub fn size_on_disk(&self) -> (usize, u64) {
        self.files.lock().map(|f| (f.segments.len(), f.segments.values().map(|s| s.len).sum())).unwrap_or((0, 0))
    }

    /// Reads the entries at `locs`.
    pub(crate) fn read(&self, locs: Vec<Loc>) -> io::Result<Vec<EntryOf<TypeConfig>>> {
        let mut out = Vec::with_capacity(locs.len());
        for loc in locs {
            let mut buf = vec![0u8; loc.len as usize];
            loc.file.read_exact_at(&mut buf, loc.offset)?;
            match postcard::from_bytes(&buf).map_err(|e| corrupt(format!("log record at {}: {e}", loc.offset)))? {
                Record::Entry(_, e) => out.push(e),
                _ => return Err(corrupt(format!("log record at {} is not an entry", loc.offset))),
            }
        }
        Ok(out)
    }
}

impl Files {
    /// Writes `buf` (`count` framed records) at the end of the active segment, then lets
    /// `register` record where they went (segment, its file, offset of `buf`) while this
    /// lock is still held.
    fn append(&mut self, buf: &[u8], count: u64, register: impl FnOnce(u64, &Arc<File>, u64) -> io::Result<()>) -> io::Result<()> {
        let Some((&first, seg)) = self.segments.iter_mut().next_back() else { return Err(io::Error::other("no active segment")) };
        if let Err(e) = seg.file.write_all_at(buf, seg.len) {
            // A partial write must not stay behind the segment's end: a later roll would
            // close the segment with bytes that replay reads as damage.
            let _ = seg.file.set_len(seg.len);
            return Err(e);
        }
        let base = seg.len;
        seg.len += buf.len() as u64;
        let file = Arc::clone(&seg.file);
        self.next_seq += count;
        register(first, &file, base)
    }
}

fn complete(waiter: Waiter, result: io::Result<()>) {
    match waiter {
        Waiter::Flushed(cb) => cb.io_completed(result),
        Waiter::Notify(tx) => {
            let _ = tx.send(result);
        }
    }
}
