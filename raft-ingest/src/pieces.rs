//! Cutting a large push into pieces that each fit one Raft entry, so that no entry outgrows a
//! replication message and one huge push cannot stall a group's replication.

use store::entry::Entry;

use crate::command::{StreamPush, TenantPush};

/// The most a push proposes as one piece (entry weights, see [`weight`]).
pub const MAX_PIECE_BYTES: usize = 4 * 1024 * 1024;

/// Bytes an entry costs in a Raft entry beyond its line and metadata (timestamp, lengths).
const ENTRY_OVERHEAD: usize = 16;

/// What `entry` weighs in a Raft entry: line, metadata and framing.
pub fn weight(entry: &Entry) -> usize {
    entry.size() + ENTRY_OVERHEAD
}

/// What all of `push`'s entries weigh.
pub fn push_weight(push: &TenantPush) -> usize {
    push.streams.iter().flat_map(|s| s.entries.iter()).map(weight).sum()
}

/// Cuts `push` into consecutive pieces of at most `max` bytes of entry weight. A piece holds
/// at least one entry, so an entry heavier than `max` is a piece of its own. Entries keep
/// their order; a stream heavier than what is left of a piece continues in the next one.
pub fn split(push: TenantPush, max: usize) -> Vec<TenantPush> {
    if push_weight(&push) <= max {
        return vec![push];
    }
    let tenant = push.tenant;
    let empty = || TenantPush { tenant: tenant.clone(), streams: Vec::new() };
    let mut pieces = Vec::new();
    let mut piece = empty();
    let mut filled = 0;
    for stream in push.streams {
        let mut part = StreamPush { labels: stream.labels.clone(), entries: Vec::new() };
        for entry in stream.entries {
            let w = weight(&entry);
            if filled > 0 && filled + w > max {
                if !part.entries.is_empty() {
                    let next = StreamPush { labels: stream.labels.clone(), entries: Vec::new() };
                    piece.streams.push(std::mem::replace(&mut part, next));
                }
                pieces.push(std::mem::replace(&mut piece, empty()));
                filled = 0;
            }
            filled += w;
            part.entries.push(entry);
        }
        if !part.entries.is_empty() {
            piece.streams.push(part);
        }
    }
    if !piece.streams.is_empty() {
        pieces.push(piece);
    }
    pieces
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(ts: i64, len: usize) -> Entry {
        Entry { ts, line: "x".repeat(len), metadata: Vec::new() }
    }

    fn stream(name: &str, entries: Vec<Entry>) -> StreamPush {
        let labels = store::labels::Labels::parse(&format!("{{app=\"{name}\"}}")).expect("test labels");
        StreamPush { labels, entries }
    }

    #[test]
    fn a_small_push_is_one_piece() {
        let push = TenantPush { tenant: "t".into(), streams: vec![stream("a", vec![entry(1, 10)])] };
        assert_eq!(split(push.clone(), 1000), vec![push]);
    }

    #[test]
    fn a_large_push_is_cut_in_order_and_within_the_limit() {
        let a: Vec<Entry> = (0..10).map(|i| entry(i, 84)).collect(); // 100 bytes each
        let b: Vec<Entry> = (0..3).map(|i| entry(100 + i, 184)).collect(); // 200 bytes each
        let big = entry(999, 984); // heavier than a piece
        let push = TenantPush { tenant: "t".into(), streams: vec![stream("a", a.clone()), stream("b", b.clone()), stream("c", vec![big.clone()])] };
        let pieces = split(push, 350);
        for p in &pieces {
            let w = push_weight(p);
            assert!(w <= 350 || p.streams.iter().map(|s| s.entries.len()).sum::<usize>() == 1, "piece of {w} bytes");
            assert!(p.streams.iter().all(|s| !s.entries.is_empty()));
            assert_eq!(p.tenant, "t");
        }
        // Reassembled, the pieces are the push: same streams, same entries, same order.
        let mut seen: Vec<(String, Vec<Entry>)> = Vec::new();
        for s in pieces.iter().flat_map(|p| p.streams.iter()) {
            let name = s.labels.get("app").unwrap_or_default().to_string();
            match seen.last_mut() {
                Some((n, e)) if *n == name => e.extend(s.entries.iter().cloned()),
                _ => seen.push((name, s.entries.clone())),
            }
        }
        assert_eq!(seen, vec![("a".to_string(), a), ("b".to_string(), b), ("c".to_string(), vec![big])]);
        // a0-a2 | a3-a5 | a6-a8 | a9 b0 | b1 | b2 | c alone
        assert_eq!(pieces.len(), 7);
    }
}
