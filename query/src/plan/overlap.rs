//! Counting every entry once in metric queries. An entry can be stored twice when a client
//! retried a push after the original was flushed (the head that would have caught the retry
//! was emptied), until the compactor merges the two copies into one. Log queries drop such
//! copies as they gather rows; metric queries drop them here, as Loki's merge iterators do:
//! rows identical in stream, timestamp and line count once.
//!
//! Copies can only sit in two different sources (files, heads) that both hold the stream at
//! that time. [`overlaps`] finds those stretches from the index and the heads before the
//! scan; the `LogPipeline` node then asks [`OverlapDedup::first`] about the rows inside
//! them (a set shared by every partition, since two copies may be read by different
//! partitions) and skips the copies. Rows outside cost one lookup in a sorted list; with no
//! overlap (the usual case: each flush holds a later slice of each stream) there is no
//! check at all.

use std::collections::{HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex};

use arrow::array::{Int64Array, UInt64Array};
use store::schema::{STREAM_ID, TS};
use store::view::ReadSnapshot;

use crate::error::QueryError;

/// One stretch of one stream that two sources both cover: (stream id, first ts, last ts).
pub type Window = (u64, i64, i64);

/// The stretches of `[start, end)` in which two of `snapshot`'s sources (files and the
/// heads) hold rows of the same stream, merged and sorted.
pub fn overlaps(snapshot: &ReadSnapshot, start: i64, end: i64) -> Result<Vec<Window>, QueryError> {
    // The heads are one source: without a file there is nothing to overlap them.
    if snapshot.files.is_empty() {
        return Ok(Vec::new());
    }
    let mut spans: HashMap<u64, Vec<(i64, i64)>> = HashMap::new();
    let wanted: std::collections::HashSet<u64> = snapshot.streams.iter().map(|(id, _)| id.0).collect();
    for file in &snapshot.files {
        for s in &file.streams {
            if wanted.contains(&s.id.0) && s.min_ts < end && s.max_ts >= start {
                spans.entry(s.id.0).or_default().push((s.min_ts.max(start), s.max_ts.min(end - 1)));
            }
        }
    }
    // The heads are one source: each stream's span across every head batch.
    let mut heads: HashMap<u64, (i64, i64)> = HashMap::new();
    for batch in &snapshot.heads {
        let ids = store::chunk::column::<UInt64Array>(batch, STREAM_ID)?;
        let ts = store::chunk::column::<Int64Array>(batch, TS)?;
        for (id, t) in ids.values().iter().zip(ts.values().iter()) {
            let span = heads.entry(*id).or_insert((*t, *t));
            span.0 = span.0.min(*t);
            span.1 = span.1.max(*t);
        }
    }
    for (id, (lo, hi)) in heads {
        if wanted.contains(&id) && lo < end && hi >= start && spans.contains_key(&id) {
            spans.entry(id).or_default().push((lo.max(start), hi.min(end - 1)));
        }
    }
    let mut out = Vec::new();
    for (id, mut list) in spans {
        if list.len() < 2 {
            continue;
        }
        list.sort_unstable();
        let mut reach = list[0].1;
        for &(lo, hi) in &list[1..] {
            if lo <= reach {
                let w = (id, lo, hi.min(reach));
                match out.last_mut() {
                    Some((lid, _, lhi)) if *lid == id && w.1 <= *lhi => *lhi = (*lhi).max(w.2),
                    _ => out.push(w),
                }
            }
            reach = reach.max(hi);
        }
    }
    out.sort_unstable();
    Ok(out)
}

/// Locks the seen-set is split over (by stream), so partitions rarely wait for each other.
const SEEN_SHARDS: usize = 16;

/// The rows a metric scan has seen inside the overlap windows, shared by its partitions:
/// (stream, ts, hash of the line); two different lines of one stream at one nanosecond
/// would have to collide in 64 bits to be taken for copies.
#[derive(Debug)]
pub struct OverlapDedup {
    windows: Vec<Window>,
    seen: [Mutex<HashSet<(u64, i64, u64)>>; SEEN_SHARDS],
}

impl OverlapDedup {
    /// A deduplicator for `windows` (sorted, disjoint per stream, as [`overlaps`] answers);
    /// `None` when there are none.
    pub fn new(windows: Vec<Window>) -> Option<Arc<OverlapDedup>> {
        (!windows.is_empty()).then(|| Arc::new(OverlapDedup { windows, seen: Default::default() }))
    }

    /// How many windows it covers (for EXPLAIN).
    pub fn windows(&self) -> usize {
        self.windows.len()
    }

    /// True unless the row is a copy of one seen before: rows outside every window are
    /// always first; inside, the first (stream, ts, line) wins.
    pub fn first(&self, id: u64, ts: i64, line: &str) -> bool {
        let after = self.windows.partition_point(|(wid, lo, _)| (*wid, *lo) <= (id, ts));
        if after == 0 || self.windows[after - 1].0 != id || ts > self.windows[after - 1].2 {
            return true;
        }
        let mut hasher = std::hash::DefaultHasher::new();
        line.hash(&mut hasher);
        match self.seen[(id % SEEN_SHARDS as u64) as usize].lock() {
            Ok(mut seen) => seen.insert((id, ts, hasher.finish())),
            // A poisoned set only means another partition panicked; count the row.
            Err(_) => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use store::index::{FileMeta, StreamRange};
    use store::labels::{Labels, StreamId};

    use super::*;

    fn file(path: &str, streams: &[(u64, i64, i64)]) -> FileMeta {
        FileMeta {
            path: path.into(),
            size: 1,
            min_ts: streams.iter().map(|s| s.1).min().unwrap_or(0),
            max_ts: streams.iter().map(|s| s.2).max().unwrap_or(0),
            rows: 1,
            streams: streams.iter().map(|s| StreamRange { id: StreamId(s.0), min_ts: s.1, max_ts: s.2, rows: 1 }).collect(),
        }
    }

    fn snapshot(files: Vec<FileMeta>) -> ReadSnapshot {
        let labels = Labels::parse("{a=\"b\"}").expect("labels");
        ReadSnapshot { streams: vec![(StreamId(1), labels.clone()), (StreamId(2), labels)], files, ..ReadSnapshot::default() }
    }

    #[test]
    fn only_shared_stretches_of_a_stream_overlap() {
        // Stream 1: files cover 0-10 and 20-30: no overlap. Stream 2: 0-10, 5-15, 12-20.
        let snap = snapshot(vec![file("a", &[(1, 0, 10), (2, 0, 10)]), file("b", &[(1, 20, 30), (2, 5, 15)]), file("c", &[(2, 12, 20)])]);
        assert_eq!(overlaps(&snap, 0, 100).expect("overlaps"), vec![(2, 5, 10), (2, 12, 15)]);
        // Clipped to the query range.
        assert_eq!(overlaps(&snap, 0, 8).expect("overlaps"), vec![(2, 5, 7)]);
        let none = snapshot(vec![file("a", &[(1, 0, 10)]), file("b", &[(1, 11, 30)])]);
        assert!(overlaps(&none, 0, 100).expect("overlaps").is_empty());
    }

    #[test]
    fn only_repeats_inside_a_window_are_dropped() {
        let d = OverlapDedup::new(vec![(1, 5, 10), (1, 20, 20), (3, 0, 4)]).expect("windows");
        // Outside every window a row always counts, repeated or not.
        for (id, ts) in [(1, 4), (1, 11), (2, 7), (3, 5), (0, 5), (1, 4)] {
            assert!(d.first(id, ts, "x"), "({id}, {ts}) is outside");
        }
        // Inside, the second copy of (stream, ts, line) is dropped; another line is not.
        assert!(d.first(1, 5, "x") && !d.first(1, 5, "x") && d.first(1, 5, "y"));
        assert!(d.first(1, 10, "x") && !d.first(1, 10, "x"));
        assert!(d.first(1, 20, "x") && !d.first(1, 20, "x"));
        assert!(d.first(3, 0, "x") && !d.first(3, 0, "x") && d.first(3, 1, "x"));
        assert!(OverlapDedup::new(Vec::new()).is_none());
    }
}
