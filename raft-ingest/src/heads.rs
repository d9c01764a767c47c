//! Stream heads: the unflushed entries of every stream of a shard, in memory.
//!
//! A head stores its rows column-wise (timestamps, log indexes, one string arena for lines),
//! so an entry costs its line plus about 20 bytes. Rows are kept in apply order, which is log
//! order, so a flush up to log index `i` always removes a prefix of every head.
//!
//! Everything here is deterministic given the sequence of applied commands: replicas and
//! replays after a crash reach the same heads. Wall-clock times are kept only as hints for
//! the flusher and are never part of a decision the state machine makes.

use std::collections::{BTreeMap, HashMap};
use std::hash::{Hash, Hasher};
use std::time::{Duration, Instant};

use arrow::array::RecordBatch;
use serde::{Deserialize, Serialize};

use store::StoreError;
use store::entry::Entry;
use store::index::{FileMeta, TenantIndex};
use store::labels::{Labels, StreamId};
use store::matcher::matches_all;
use store::schema::EntryBatchBuilder;
use store::time::{format_go_time, format_rfc3339_secs};
use store::view::{ReadSnapshot, SnapshotRequest};

use crate::command::{FlushedFile, PushOutcome, TenantPush};

/// Settings that change how entries are applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeadsConfig {
    /// Out-of-order window: entries older than the stream's newest minus this are rejected
    /// (Loki's `max_chunk_age / 2`).
    pub out_of_order_window: Duration,
}

impl Default for HeadsConfig {
    fn default() -> Self {
        HeadsConfig { out_of_order_window: Duration::from_secs(3600) }
    }
}

/// Rows per record batch handed to queries and the chunk writer.
const BATCH_ROWS: usize = 8192;

/// The unflushed entries of one stream.
#[derive(Debug, Clone)]
pub struct StreamHead {
    labels: Labels,
    ts: Vec<i64>,
    log_index: Vec<u64>,
    line_ends: Vec<usize>,
    lines: String,
    /// `(row, metadata)` for rows that carry structured metadata, in row order.
    metadata: Vec<(usize, Vec<(String, String)>)>,
    /// Highest timestamp ever applied to the stream; survives flushes.
    max_ts: i64,
    /// True while `ts` is non-decreasing, so duplicates are found by binary search.
    sorted: bool,
    /// `(ts, line hash) -> row`, built only once rows arrive out of order.
    dedup: Option<HashMap<(i64, u64), usize>>,
    bytes: usize,
    first_append: Option<Instant>,
    last_append: Option<Instant>,
}

/// Hash of a line for the duplicate map: fixed keys, so it is stable across processes.
fn line_hash(line: &str) -> u64 {
    let mut h = std::hash::DefaultHasher::new();
    line.hash(&mut h);
    h.finish()
}

impl StreamHead {
    fn new(labels: Labels) -> StreamHead {
        StreamHead {
            labels,
            ts: Vec::new(),
            log_index: Vec::new(),
            line_ends: Vec::new(),
            lines: String::new(),
            metadata: Vec::new(),
            max_ts: i64::MIN,
            sorted: true,
            dedup: None,
            bytes: 0,
            first_append: None,
            last_append: None,
        }
    }

    /// Number of unflushed rows.
    pub fn rows(&self) -> usize {
        self.ts.len()
    }

    /// Unflushed bytes (lines and metadata).
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    fn line(&self, row: usize) -> &str {
        let start = if row == 0 { 0 } else { self.line_ends[row - 1] };
        &self.lines[start..self.line_ends[row]]
    }

    fn metadata_of(&self, row: usize) -> &[(String, String)] {
        match self.metadata.binary_search_by_key(&row, |(r, _)| *r) {
            Ok(i) => &self.metadata[i].1,
            Err(_) => &[],
        }
    }

    fn is_duplicate(&mut self, ts: i64, line: &str) -> bool {
        if ts > self.max_ts || self.ts.is_empty() {
            return false;
        }
        if self.sorted {
            let from = self.ts.partition_point(|t| *t < ts);
            let to = self.ts.partition_point(|t| *t <= ts);
            return (from..to).any(|r| self.line(r) == line);
        }
        let map = self.dedup_map();
        match map.get(&(ts, line_hash(line))) {
            Some(row) => {
                let row = *row;
                self.line(row) == line
            }
            None => false,
        }
    }

    fn dedup_map(&mut self) -> &mut HashMap<(i64, u64), usize> {
        if self.dedup.is_none() {
            let mut map = HashMap::with_capacity(self.ts.len());
            for row in 0..self.ts.len() {
                map.entry((self.ts[row], line_hash(self.line(row)))).or_insert(row);
            }
            self.dedup = Some(map);
        }
        self.dedup.get_or_insert_with(HashMap::new)
    }

    fn append(&mut self, log_index: u64, entry: Entry, now: Instant) {
        let row = self.ts.len();
        if let Some(last) = self.ts.last()
            && entry.ts < *last
        {
            self.sorted = false;
        }
        if !self.sorted {
            let h = line_hash(&entry.line);
            self.dedup_map().entry((entry.ts, h)).or_insert(row);
        }
        self.bytes += entry.size();
        self.ts.push(entry.ts);
        self.log_index.push(log_index);
        self.lines.push_str(&entry.line);
        self.line_ends.push(self.lines.len());
        if !entry.metadata.is_empty() {
            self.metadata.push((row, entry.metadata));
        }
        self.max_ts = self.max_ts.max(entry.ts);
        self.first_append.get_or_insert(now);
        self.last_append = Some(now);
    }

    /// Drops every row applied at or before log index `upto`.
    fn drop_upto(&mut self, upto: u64) {
        let cut = self.log_index.partition_point(|i| *i <= upto);
        if cut == 0 {
            return;
        }
        if cut == self.ts.len() {
            // Everything was flushed: give the memory back instead of keeping the capacity.
            self.ts = Vec::new();
            self.log_index = Vec::new();
            self.line_ends = Vec::new();
            self.lines = String::new();
            self.metadata = Vec::new();
            self.sorted = true;
            self.dedup = None;
            self.bytes = 0;
            self.first_append = None;
            return;
        }
        let byte_cut = self.line_ends[cut - 1];
        self.ts.drain(..cut);
        self.log_index.drain(..cut);
        self.line_ends.drain(..cut);
        for e in &mut self.line_ends {
            *e -= byte_cut;
        }
        self.lines.drain(..byte_cut);
        self.metadata.retain(|(r, _)| *r >= cut);
        for (r, _) in &mut self.metadata {
            *r -= cut;
        }
        self.sorted = self.ts.windows(2).all(|w| w[0] <= w[1]);
        self.dedup = None;
        self.bytes = self.lines.len()
            + self.metadata.iter().flat_map(|(_, m)| m.iter()).map(|(n, v)| n.len() + v.len()).sum::<usize>();
        if self.ts.is_empty() {
            self.first_append = None;
        }
    }

    /// Rows (in time order) within `[start, end)`.
    fn rows_in(&self, start: i64, end: i64) -> Vec<usize> {
        let mut rows: Vec<usize> = (0..self.ts.len()).filter(|r| self.ts[*r] >= start && self.ts[*r] < end).collect();
        if !self.sorted {
            rows.sort_by_key(|r| self.ts[*r]);
        }
        rows
    }
}

/// The state of one tenant in a shard: heads and the chunk index.
#[derive(Debug, Clone, Default)]
pub struct TenantState {
    streams: HashMap<StreamId, StreamHead>,
    index: TenantIndex,
}

/// All heads and indexes of a shard: the Raft state machine's data.
#[derive(Debug, Clone, Default)]
pub struct Heads {
    tenants: BTreeMap<String, TenantState>,
    config: HeadsConfig,
    /// Log index up to which everything is in chunk files.
    pub flushed_upto: u64,
    bytes: usize,
    /// Unflushed bytes of the largest head, maintained on append and recomputed on flush.
    largest_stream_bytes: usize,
}

/// Summary the flusher uses to decide whether to flush.
#[derive(Debug, Clone, Copy, Default)]
pub struct FlushStats {
    /// Unflushed bytes across the shard.
    pub bytes: usize,
    /// Unflushed bytes of the largest stream head.
    pub largest_stream_bytes: usize,
    /// Age of the oldest unflushed head.
    pub oldest_age: Option<Duration>,
    /// Shortest idle time among heads with unflushed rows; the longest matters.
    pub longest_idle: Option<Duration>,
    /// Unflushed rows.
    pub rows: usize,
}

/// What a flush must write: one sorted set of batches per tenant.
pub struct FlushCut {
    /// Everything applied at or before this index is in the cut.
    pub upto: u64,
    /// `(tenant, batches sorted by stream then time, labels of those streams)`.
    pub tenants: Vec<(String, Vec<RecordBatch>, Vec<Labels>)>,
}

impl Heads {
    /// Empty heads with `config`.
    pub fn new(config: HeadsConfig) -> Heads {
        Heads { config, ..Heads::default() }
    }

    /// Applies one client push at log index `log_index`.
    pub fn apply_push(&mut self, log_index: u64, push: TenantPush, now: Instant) -> PushOutcome {
        let window = i64::try_from(self.config.out_of_order_window.as_nanos()).unwrap_or(i64::MAX);
        let tenant = self.tenants.entry(push.tenant.clone()).or_default();
        let mut out = PushOutcome::default();
        for stream in push.streams {
            let id = stream.labels.stream_id();
            let head = tenant.streams.entry(id).or_insert_with(|| StreamHead::new(stream.labels.clone()));
            let total = stream.entries.len();
            let mut ignored = Vec::new();
            for entry in stream.entries {
                if head.max_ts != i64::MIN && entry.ts < head.max_ts.saturating_sub(window) {
                    ignored.push(format!(
                        "entry with timestamp {} ignored, reason: 'entry too far behind, entry timestamp is: {}, oldest acceptable timestamp is: {}',",
                        format_go_time(entry.ts),
                        format_rfc3339_secs(entry.ts),
                        format_rfc3339_secs(head.max_ts.saturating_sub(window)),
                    ));
                    continue;
                }
                if head.is_duplicate(entry.ts, &entry.line) {
                    out.duplicates += 1;
                    continue;
                }
                self.bytes += entry.size();
                out.bytes += entry.size() as u64;
                head.append(log_index, entry, now);
                self.largest_stream_bytes = self.largest_stream_bytes.max(head.bytes);
                out.accepted += 1;
            }
            if !ignored.is_empty() {
                let n = ignored.len();
                let mut msg: String = ignored.into_iter().take(10).map(|l| l + "\n").collect();
                msg.push_str(&format!(
                    "user '{}', total ignored: {n} out of {total} for stream: {}",
                    push.tenant, stream.labels
                ));
                out.rejected.push(msg);
            }
        }
        out
    }

    /// Every tenant's chunk index.
    pub fn indexes(&self) -> impl Iterator<Item = (&str, &TenantIndex)> {
        self.tenants.iter().map(|(t, s)| (t.as_str(), &s.index))
    }

    /// Applies a compaction to `tenant`'s index (see [`TenantIndex::swap`]).
    pub fn swap_files(&mut self, tenant: &str, remove: &[String], add: Vec<FileMeta>) -> bool {
        self.tenants.get_mut(tenant).is_some_and(|t| t.index.swap(remove, add))
    }

    /// Applies a `Flushed` command: drops flushed rows and indexes the new files.
    pub fn apply_flushed(&mut self, upto: u64, files: Vec<FlushedFile>) {
        for f in files {
            let labels: HashMap<StreamId, Labels> = f.labels.into_iter().map(|l| (l.stream_id(), l)).collect();
            self.tenants.entry(f.tenant).or_default().index.add_file(f.file, &labels);
        }
        let (mut bytes, mut largest) = (0, 0);
        for t in self.tenants.values_mut() {
            for h in t.streams.values_mut() {
                h.drop_upto(upto);
                bytes += h.bytes;
                largest = largest.max(h.bytes);
            }
        }
        self.bytes = bytes;
        self.largest_stream_bytes = largest;
        self.flushed_upto = self.flushed_upto.max(upto);
    }

    /// Numbers the flusher decides on.
    pub fn flush_stats(&self, now: Instant) -> FlushStats {
        let mut s = FlushStats { bytes: self.bytes, ..FlushStats::default() };
        for t in self.tenants.values() {
            for h in t.streams.values() {
                if h.ts.is_empty() {
                    continue;
                }
                s.rows += h.ts.len();
                s.largest_stream_bytes = s.largest_stream_bytes.max(h.bytes);
                if let Some(first) = h.first_append {
                    let age = now.saturating_duration_since(first);
                    s.oldest_age = Some(s.oldest_age.map_or(age, |a| a.max(age)));
                }
                if let Some(last) = h.last_append {
                    let idle = now.saturating_duration_since(last);
                    s.longest_idle = Some(s.longest_idle.map_or(idle, |a| a.max(idle)));
                }
            }
        }
        s
    }

    /// Every unflushed row, as sorted batches per tenant; `None` when heads are empty.
    pub fn cut(&self) -> Result<Option<FlushCut>, StoreError> {
        let upto = self
            .tenants
            .values()
            .flat_map(|t| t.streams.values())
            .filter_map(|h| h.log_index.last().copied())
            .max();
        let Some(upto) = upto else { return Ok(None) };
        let mut tenants = Vec::new();
        for (name, t) in &self.tenants {
            let mut ids: Vec<&StreamId> = t.streams.iter().filter(|(_, h)| !h.ts.is_empty()).map(|(id, _)| id).collect();
            if ids.is_empty() {
                continue;
            }
            ids.sort();
            let mut batches = Vec::new();
            let mut labels = Vec::new();
            let mut b = EntryBatchBuilder::new();
            for id in ids {
                let h = &t.streams[id];
                let mut rows: Vec<usize> = (0..h.ts.len()).filter(|r| h.log_index[*r] <= upto).collect();
                if rows.is_empty() {
                    continue;
                }
                if !h.sorted {
                    rows.sort_by_key(|r| h.ts[*r]);
                }
                labels.push(h.labels.clone());
                for r in rows {
                    b.push(*id, h.ts[r], h.line(r), h.metadata_of(r))?;
                    if b.len() >= BATCH_ROWS {
                        batches.push(b.finish()?);
                    }
                }
            }
            if !b.is_empty() {
                batches.push(b.finish()?);
            }
            if !batches.is_empty() {
                tenants.push((name.clone(), batches, labels));
            }
        }
        Ok(Some(FlushCut { upto, tenants }))
    }

    /// One consistent read view of `tenant` for a query.
    pub fn read(&self, tenant: &str, req: &SnapshotRequest) -> Result<ReadSnapshot, StoreError> {
        let Some(t) = self.tenants.get(tenant) else {
            return Ok(ReadSnapshot::default());
        };
        let mut streams: BTreeMap<StreamId, Labels> = BTreeMap::new();
        let indexed = t.index.matching_streams(&req.matchers, req.start, req.end);
        let indexed_ids: Vec<StreamId> = indexed.iter().map(|(id, _)| *id).collect();
        for (id, labels) in indexed {
            streams.insert(id, labels.clone());
        }
        let mut heads = Vec::new();
        let mut b = EntryBatchBuilder::new();
        let mut head_ids: Vec<(&StreamId, &StreamHead)> =
            t.streams.iter().filter(|(_, h)| !h.ts.is_empty() && matches_all(&req.matchers, &h.labels)).collect();
        head_ids.sort_by_key(|(id, _)| **id);
        for (id, h) in head_ids {
            let rows = h.rows_in(req.start, req.end);
            if rows.is_empty() {
                continue;
            }
            streams.entry(*id).or_insert_with(|| h.labels.clone());
            if !req.with_data {
                continue;
            }
            for r in rows {
                b.push(*id, h.ts[r], h.line(r), h.metadata_of(r))?;
                if b.len() >= BATCH_ROWS {
                    heads.push(b.finish()?);
                }
            }
        }
        if !b.is_empty() {
            heads.push(b.finish()?);
        }
        let files = if req.with_data { t.index.files_for(&indexed_ids, req.start, req.end) } else { Vec::new() };
        Ok(ReadSnapshot { streams: streams.into_iter().collect(), files, heads, deletes: Vec::new(), row_groups: Default::default() })
    }

    /// Unflushed bytes across the shard.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Unflushed bytes of the largest stream head.
    pub fn largest_stream_bytes(&self) -> usize {
        self.largest_stream_bytes
    }

    /// Serializable form of the whole state, for Raft snapshots.
    pub fn to_saved(&self) -> SavedHeads {
        let tenants = self
            .tenants
            .iter()
            .map(|(name, t)| SavedTenant {
                name: name.clone(),
                index: t.index.clone(),
                streams: t
                    .streams
                    .values()
                    .map(|h| SavedStream {
                        labels: h.labels.clone(),
                        max_ts: h.max_ts,
                        rows: (0..h.ts.len())
                            .map(|r| SavedRow {
                                log_index: h.log_index[r],
                                entry: Entry { ts: h.ts[r], line: h.line(r).to_string(), metadata: h.metadata_of(r).to_vec() },
                            })
                            .collect(),
                    })
                    .collect(),
            })
            .collect();
        SavedHeads { flushed_upto: self.flushed_upto, tenants }
    }

    /// Rebuilds heads from a snapshot.
    pub fn from_saved(saved: SavedHeads, config: HeadsConfig, now: Instant) -> Heads {
        let mut heads = Heads::new(config);
        heads.flushed_upto = saved.flushed_upto;
        for t in saved.tenants {
            let mut state = TenantState { index: t.index, streams: HashMap::new() };
            for s in t.streams {
                let mut h = StreamHead::new(s.labels);
                for row in s.rows {
                    heads.bytes += row.entry.size();
                    h.append(row.log_index, row.entry, now);
                }
                heads.largest_stream_bytes = heads.largest_stream_bytes.max(h.bytes);
                h.max_ts = h.max_ts.max(s.max_ts);
                state.streams.insert(h.labels.stream_id(), h);
            }
            heads.tenants.insert(t.name, state);
        }
        heads
    }
}

/// One head row in a snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SavedRow {
    /// Log index the row was applied at.
    pub log_index: u64,
    /// The entry.
    pub entry: Entry,
}

/// One stream head in a snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SavedStream {
    /// Stream labels.
    pub labels: Labels,
    /// Highest timestamp ever applied.
    pub max_ts: i64,
    /// Unflushed rows in apply order.
    pub rows: Vec<SavedRow>,
}

/// One tenant in a snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SavedTenant {
    /// Tenant id.
    pub name: String,
    /// Chunk index.
    pub index: TenantIndex,
    /// Stream heads.
    pub streams: Vec<SavedStream>,
}

/// The serializable state machine data.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SavedHeads {
    /// Log index up to which everything is in chunk files.
    pub flushed_upto: u64,
    /// Tenants.
    pub tenants: Vec<SavedTenant>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::StreamPush;
    use store::matcher::{MatchOp, Matcher};

    fn push(tenant: &str, labels: &str, entries: &[(i64, &str)]) -> TenantPush {
        TenantPush {
            tenant: tenant.into(),
            streams: vec![StreamPush {
                labels: Labels::parse(labels).unwrap(),
                entries: entries.iter().map(|(ts, l)| Entry { ts: *ts, line: l.to_string(), metadata: vec![] }).collect(),
            }],
        }
    }

    fn read_all(h: &Heads, tenant: &str) -> usize {
        let req = SnapshotRequest {
            matchers: vec![Matcher::new("a", MatchOp::Re, ".+").unwrap()],
            start: i64::MIN,
            end: i64::MAX,
            with_data: true,
        };
        h.read(tenant, &req).unwrap().heads.iter().map(|b| b.num_rows()).sum()
    }

    #[test]
    fn duplicates_are_dropped_in_and_out_of_order() {
        let mut h = Heads::new(HeadsConfig::default());
        let now = Instant::now();
        let o = h.apply_push(1, push("t", r#"{a="1"}"#, &[(10, "x"), (20, "y"), (20, "z")]), now);
        assert_eq!((o.accepted, o.duplicates), (3, 0));
        let o = h.apply_push(2, push("t", r#"{a="1"}"#, &[(20, "y"), (15, "w"), (15, "w"), (10, "x")]), now);
        assert_eq!((o.accepted, o.duplicates), (1, 3));
        assert_eq!(read_all(&h, "t"), 4);
    }

    #[test]
    fn out_of_order_window_rejects_old_entries() {
        let mut h = Heads::new(HeadsConfig { out_of_order_window: Duration::from_secs(10) });
        let now = Instant::now();
        let s = 1_000_000_000;
        h.apply_push(1, push("t", r#"{a="1"}"#, &[(100 * s, "new")]), now);
        let o = h.apply_push(2, push("t", r#"{a="1"}"#, &[(95 * s, "ok"), (80 * s, "too old")]), now);
        assert_eq!(o.accepted, 1);
        assert_eq!(o.rejected.len(), 1);
        assert!(o.rejected[0].contains("entry too far behind"), "{}", o.rejected[0]);
        assert!(o.rejected[0].contains("total ignored: 1 out of 2"), "{}", o.rejected[0]);
    }

    #[test]
    fn flush_drops_exactly_the_cut_and_snapshot_round_trips() {
        let mut h = Heads::new(HeadsConfig::default());
        let now = Instant::now();
        h.apply_push(1, push("t", r#"{a="1"}"#, &[(10, "x"), (5, "early")]), now);
        h.apply_push(2, push("u", r#"{a="2"}"#, &[(10, "y")]), now);
        let cut = h.cut().unwrap().unwrap();
        assert_eq!(cut.upto, 2);
        assert_eq!(cut.tenants.len(), 2);
        h.apply_push(3, push("t", r#"{a="1"}"#, &[(30, "after")]), now);
        h.apply_flushed(2, Vec::new());
        assert_eq!(read_all(&h, "t"), 1);
        assert_eq!(read_all(&h, "u"), 0);
        let restored = Heads::from_saved(h.to_saved(), HeadsConfig::default(), now);
        assert_eq!(restored.to_saved(), h.to_saved());
        assert_eq!(restored.flushed_upto, 2);
    }
}
