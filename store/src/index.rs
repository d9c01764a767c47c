//! The per-tenant index of chunk files: which streams and time ranges each file holds.
//!
//! The index lives in the ingester's replicated state (it is part of every Raft snapshot), so
//! it is exactly as durable as the data it points to, and queries resolve files through it
//! without listing the object store.

use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap, HashSet};

use crate::labels::{Labels, StreamId};
use crate::matcher::{Matcher, matches_all};

/// The rows one stream has in one chunk file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamRange {
    /// Stream fingerprint.
    pub id: StreamId,
    /// Earliest timestamp of the stream in the file (ns).
    pub min_ts: i64,
    /// Latest timestamp of the stream in the file (ns).
    pub max_ts: i64,
    /// Number of entries of the stream in the file.
    pub rows: u64,
}

/// One chunk file of one tenant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileMeta {
    /// Object path relative to the store root.
    pub path: String,
    /// Size of the object in bytes.
    pub size: u64,
    /// Earliest timestamp in the file (ns).
    pub min_ts: i64,
    /// Latest timestamp in the file (ns).
    pub max_ts: i64,
    /// Total rows.
    pub rows: u64,
    /// Per-stream ranges, sorted by stream id.
    pub streams: Vec<StreamRange>,
}

impl FileMeta {
    /// True when the file holds rows of `id` overlapping `[start, end)`.
    pub fn has_stream_in(&self, id: StreamId, start: i64, end: i64) -> bool {
        self.streams
            .binary_search_by_key(&id, |s| s.id)
            .ok()
            .is_some_and(|i| self.streams[i].min_ts < end && self.streams[i].max_ts >= start)
    }
}

/// One row group of a compacted file: the stream ids and times its rows span (rows are
/// sorted by stream, then time, so the streams form one id range).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RowGroupMeta {
    /// Smallest stream id.
    pub first_stream: StreamId,
    /// Largest stream id.
    pub last_stream: StreamId,
    /// Earliest timestamp (ns).
    pub min_ts: i64,
    /// Latest timestamp (ns).
    pub max_ts: i64,
    /// Rows.
    pub rows: u64,
}

impl RowGroupMeta {
    /// Whether the row group may hold rows of `ids` (sorted) within `[start, end)`.
    pub fn may_hold(&self, ids: &[StreamId], start: i64, end: i64) -> bool {
        if self.min_ts >= end || self.max_ts < start {
            return false;
        }
        let from = ids.partition_point(|id| *id < self.first_stream);
        ids.get(from).is_some_and(|id| *id <= self.last_stream)
    }

    /// Adds a row of stream `id` at `ts`.
    pub fn add(&mut self, id: StreamId, ts: i64) {
        self.first_stream = self.first_stream.min(id);
        self.last_stream = self.last_stream.max(id);
        self.min_ts = self.min_ts.min(ts);
        self.max_ts = self.max_ts.max(ts);
        self.rows += 1;
    }

    /// A row group holding one row.
    pub fn first(id: StreamId, ts: i64) -> RowGroupMeta {
        RowGroupMeta { first_stream: id, last_stream: id, min_ts: ts, max_ts: ts, rows: 1 }
    }
}

/// A file written by the compactor with its row groups, for the index.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompactedFile {
    /// The file and its per-stream ranges.
    pub meta: FileMeta,
    /// Its row groups in order.
    pub row_groups: Vec<RowGroupMeta>,
}

/// A chunk file taken out of the index (replaced by compaction), whose object is deleted
/// once its grace period has passed, so queries that started before still read it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetiredFile {
    /// Object path relative to the store root.
    pub path: String,
    /// When it left the index (ms since the epoch, the proposer's clock).
    pub at_ms: i64,
}

/// A stream known to the index: its labels and the time range of its stored rows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexedStream {
    /// The stream's labels.
    pub labels: Labels,
    /// Earliest stored timestamp (ns).
    pub min_ts: i64,
    /// Latest stored timestamp (ns).
    pub max_ts: i64,
}

/// All chunk files and streams of one tenant.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TenantIndex {
    /// Chunk files in the order they were added.
    pub files: Vec<FileMeta>,
    /// Every stream that has rows in some file.
    pub streams: BTreeMap<StreamId, IndexedStream>,
}

impl TenantIndex {
    /// Records a new file and the labels of the streams in it.
    pub fn add_file(&mut self, file: FileMeta, labels: &HashMap<StreamId, Labels>) {
        for s in &file.streams {
            let entry = self.streams.entry(s.id).or_insert_with(|| IndexedStream {
                labels: labels.get(&s.id).cloned().unwrap_or_default(),
                min_ts: s.min_ts,
                max_ts: s.max_ts,
            });
            entry.min_ts = entry.min_ts.min(s.min_ts);
            entry.max_ts = entry.max_ts.max(s.max_ts);
        }
        self.files.push(file);
    }

    /// Replaces the files at `remove` by `add` (whose streams are already indexed), if every
    /// one of `remove` is still indexed; answers whether it did. Nothing changes otherwise,
    /// so a swap computed from an outdated view can never double or drop rows. Streams'
    /// time ranges are recomputed from the files left, and streams no file holds any more
    /// (retention) leave the index.
    pub fn swap(&mut self, remove: &[String], add: Vec<FileMeta>) -> bool {
        let remove: HashSet<&str> = remove.iter().map(String::as_str).collect();
        if self.files.iter().filter(|f| remove.contains(f.path.as_str())).count() != remove.len() {
            return false;
        }
        self.files.retain(|f| !remove.contains(f.path.as_str()));
        self.files.extend(add);
        let mut ranges: HashMap<StreamId, (i64, i64)> = HashMap::new();
        for s in self.files.iter().flat_map(|f| &f.streams) {
            let r = ranges.entry(s.id).or_insert((s.min_ts, s.max_ts));
            *r = (r.0.min(s.min_ts), r.1.max(s.max_ts));
        }
        self.streams.retain(|id, s| match ranges.get(id) {
            Some(&(min_ts, max_ts)) => {
                (s.min_ts, s.max_ts) = (min_ts, max_ts);
                true
            }
            None => false,
        });
        true
    }

    /// Streams whose labels satisfy `matchers` and whose rows overlap `[start, end)`.
    pub fn matching_streams(&self, matchers: &[Matcher], start: i64, end: i64) -> Vec<(StreamId, &Labels)> {
        self.streams
            .iter()
            .filter(|(_, s)| s.min_ts < end && s.max_ts >= start && matches_all(matchers, &s.labels))
            .map(|(id, s)| (*id, &s.labels))
            .collect()
    }

    /// Files holding rows of any of `ids` overlapping `[start, end)`.
    pub fn files_for(&self, ids: &[StreamId], start: i64, end: i64) -> Vec<FileMeta> {
        self.files
            .iter()
            .filter(|f| f.min_ts < end && f.max_ts >= start)
            .filter(|f| ids.iter().any(|id| f.has_stream_in(*id, start, end)))
            .cloned()
            .collect()
    }
}
