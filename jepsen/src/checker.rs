//! Judges a history: is every acknowledged entry there exactly once, did no read miss an
//! entry acknowledged before it started, are streams in order, and does every tenant see
//! only its own entries?

use std::collections::{BTreeMap, HashMap, HashSet};

use serde::Serialize;

use crate::history::{Op, Outcome};

/// What the checker found.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Verdict {
    /// True when no violation was found.
    pub valid: bool,
    /// Pushes and reads made (faults not counted).
    pub operations: usize,
    /// Entries in acknowledged pushes.
    pub acknowledged: usize,
    /// Entries in pushes that certainly failed.
    pub failed: usize,
    /// Entries in pushes with an unknown outcome.
    pub unknown: usize,
    /// Reads that returned.
    pub reads: usize,
    /// Faults injected, by kind.
    pub faults: BTreeMap<String, usize>,
    /// Acknowledged entries missing from the final read.
    pub lost: Vec<u64>,
    /// Entries a read returned more than once.
    pub duplicated: Vec<u64>,
    /// Entries returned that were never pushed, or whose push certainly failed.
    pub phantom: Vec<u64>,
    /// `(read number, entry)`: an entry acknowledged before a read started that the read
    /// did not return.
    pub stale: Vec<(usize, u64)>,
    /// `(read number, entry)`: an entry out of timestamp order, or of another stream.
    pub disordered: Vec<(usize, u64)>,
    /// `(read number, entry)`: an entry of another tenant.
    pub foreign: Vec<(usize, u64)>,
    /// Unknown-outcome entries present in the final read.
    pub unknown_present: usize,
}

/// Most examples of one kind of violation kept.
const EXAMPLES: usize = 20;

fn keep<T>(v: &mut Vec<T>, x: T, count: &mut usize) {
    *count += 1;
    if v.len() < EXAMPLES {
        v.push(x);
    }
}

/// What was pushed of one entry.
struct Sent<'a> {
    tenant: &'a str,
    stream: u32,
    outcome: Outcome,
}

/// Checks `history`.
pub fn check(history: &[Op]) -> Verdict {
    let mut v = Verdict::default();
    let mut sent: HashMap<u64, Sent> = HashMap::new();
    // (tenant, stream) -> acknowledged (ack time, id), sorted by ack time.
    let mut acked: HashMap<(&str, u32), Vec<(u64, u64)>> = HashMap::new();
    for op in history {
        match op {
            Op::Push { tenant, stream, entries, end, outcome, .. } => {
                v.operations += 1;
                for (id, _) in entries {
                    match outcome {
                        Outcome::Ok => v.acknowledged += 1,
                        Outcome::Fail => v.failed += 1,
                        Outcome::Unknown => v.unknown += 1,
                    }
                    sent.insert(*id, Sent { tenant, stream: *stream, outcome: *outcome });
                    if *outcome == Outcome::Ok {
                        acked.entry((tenant, *stream)).or_default().push((*end, *id));
                    }
                }
            }
            Op::Read { .. } => v.operations += 1,
            Op::Fault { kind, .. } => *v.faults.entry(kind.clone()).or_default() += 1,
        }
    }
    for list in acked.values_mut() {
        list.sort_unstable();
    }
    let (mut n_dup, mut n_phantom, mut n_stale, mut n_dis, mut n_foreign, mut n_lost) = (0, 0, 0, 0, 0, 0);
    let mut final_seen: HashSet<u64> = HashSet::new();
    for (number, op) in history.iter().enumerate() {
        let Op::Read { tenant, stream, start, outcome: Outcome::Ok, last, seen, .. } = op else { continue };
        v.reads += 1;
        let mut here: HashSet<u64> = HashSet::with_capacity(seen.len());
        let mut prev_ts = i64::MIN;
        for s in seen {
            if !here.insert(s.id) {
                keep(&mut v.duplicated, s.id, &mut n_dup);
            }
            let pushed = sent.get(&s.id);
            if s.tenant.as_str() != tenant.as_str() || pushed.is_some_and(|p| p.tenant != tenant.as_str()) {
                keep(&mut v.foreign, (number, s.id), &mut n_foreign);
            } else {
                match pushed {
                    None => keep(&mut v.phantom, s.id, &mut n_phantom),
                    Some(p) if p.outcome == Outcome::Fail => keep(&mut v.phantom, s.id, &mut n_phantom),
                    Some(p) if p.stream != *stream || s.ts < prev_ts => keep(&mut v.disordered, (number, s.id), &mut n_dis),
                    Some(_) => {}
                }
            }
            prev_ts = prev_ts.max(s.ts);
        }
        // Everything acknowledged before the read started must be in it.
        for (at, id) in acked.get(&(tenant.as_str(), *stream)).into_iter().flatten() {
            if *at >= *start {
                break;
            }
            if !here.contains(id) && !*last {
                keep(&mut v.stale, (number, *id), &mut n_stale);
            }
        }
        if *last {
            final_seen.extend(here);
        }
    }
    // The final reads cover every stream: an acknowledged entry missing there is lost.
    let mut keys: Vec<&(&str, u32)> = acked.keys().collect();
    keys.sort_unstable();
    for key in keys {
        for (_, id) in &acked[key] {
            if !final_seen.contains(id) {
                keep(&mut v.lost, *id, &mut n_lost);
            }
        }
    }
    v.unknown_present = final_seen.iter().filter(|id| sent.get(id).is_some_and(|s| s.outcome == Outcome::Unknown)).count();
    v.valid = n_dup + n_phantom + n_stale + n_dis + n_foreign + n_lost == 0;
    v
}

impl Verdict {
    /// The one-line summary: `valid` or `invalid`, then the counts.
    pub fn summary(&self) -> String {
        let faults: usize = self.faults.values().sum();
        format!(
            "{} operations={} acknowledged={} failed={} unknown={} unknown_present={} reads={} faults={} lost={} duplicated={} phantom={} stale={} disordered={} foreign={}",
            if self.valid { "valid" } else { "invalid" },
            self.operations,
            self.acknowledged,
            self.failed,
            self.unknown,
            self.unknown_present,
            self.reads,
            faults,
            self.lost.len(),
            self.duplicated.len(),
            self.phantom.len(),
            self.stale.len(),
            self.disordered.len(),
            self.foreign.len(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::Seen;

    fn push(id: u64, ts: i64, end: u64, outcome: Outcome) -> Op {
        Op::Push { process: 0, node: 0, tenant: "a".into(), stream: 1, entries: vec![(id, ts)], start: end - 1, end, outcome }
    }

    fn read(start: u64, last: bool, seen: &[(u64, i64)]) -> Op {
        read_as("a", start, last, seen)
    }

    fn read_as(tenant: &str, start: u64, last: bool, seen: &[(u64, i64)]) -> Op {
        let seen = seen.iter().map(|(id, ts)| Seen { id: *id, ts: *ts, tenant: if *id >= 100 { "b".into() } else { "a".into() }, stream: 1 }).collect();
        Op::Read { process: 9, node: 0, tenant: tenant.into(), stream: 1, start, end: start + 1, outcome: Outcome::Ok, last, seen }
    }

    /// Two acknowledged entries, one unknown and one failed push, a read in the middle.
    fn base() -> Vec<Op> {
        vec![
            push(1, 10, 5, Outcome::Ok),
            push(2, 20, 6, Outcome::Ok),
            push(3, 30, 7, Outcome::Unknown),
            push(4, 40, 8, Outcome::Fail),
            read(6, false, &[(1, 10)]),
            Op::Fault { kind: "kill".into(), target: "node 1".into(), start: 1, end: 2 },
        ]
    }

    #[test]
    fn a_clean_history_is_valid() {
        let mut h = base();
        h.push(read(20, true, &[(1, 10), (2, 20), (3, 30)]));
        let v = check(&h);
        assert!(v.valid, "{v:?}");
        assert_eq!((v.acknowledged, v.unknown, v.failed, v.unknown_present), (2, 1, 1, 1));
        assert_eq!(v.faults.get("kill"), Some(&1));
        assert!(v.summary().starts_with("valid operations=6 acknowledged=2"), "{}", v.summary());
    }

    #[test]
    fn a_lost_entry_is_caught() {
        let mut h = base();
        h.push(read(20, true, &[(1, 10)]));
        let v = check(&h);
        assert!(!v.valid);
        assert_eq!(v.lost, vec![2]);
        assert!(v.summary().starts_with("invalid"));
    }

    #[test]
    fn a_stream_without_a_final_read_counts_as_lost() {
        let v = check(&base());
        assert_eq!(v.lost, vec![1, 2]);
    }

    #[test]
    fn a_duplicate_is_caught() {
        let mut h = base();
        h.push(read(20, true, &[(1, 10), (2, 20), (2, 20)]));
        assert_eq!(check(&h).duplicated, vec![2]);
        // An unknown-outcome entry may be there once, never twice.
        let mut h = base();
        h.push(read(20, true, &[(1, 10), (2, 20), (3, 30), (3, 30)]));
        assert_eq!(check(&h).duplicated, vec![3]);
    }

    #[test]
    fn a_phantom_or_resurrected_entry_is_caught() {
        let mut h = base();
        h.push(read(20, true, &[(1, 10), (2, 20), (4, 40), (77, 50)]));
        assert_eq!(check(&h).phantom, vec![4, 77]);
    }

    #[test]
    fn a_reordering_is_caught() {
        let mut h = base();
        h.push(read(20, true, &[(2, 20), (1, 10)]));
        let v = check(&h);
        assert_eq!(v.disordered, vec![(6, 1)]);
        assert!(!v.valid);
    }

    #[test]
    fn a_stale_read_is_caught() {
        let mut h = base();
        // Entry 2 was acknowledged at 6; a read starting at 7 must return it.
        h.push(read(7, false, &[(1, 10)]));
        h.push(read(20, true, &[(1, 10), (2, 20)]));
        let v = check(&h);
        assert_eq!(v.stale, vec![(6, 2)]);
        assert!(!v.valid);
        // A read that started before the acknowledgement may miss it (read 4 in base).
        assert!(!v.stale.iter().any(|(n, _)| *n == 4));
    }

    #[test]
    fn another_tenants_entry_is_caught() {
        let mut h = base();
        h.push(Op::Push { process: 0, node: 0, tenant: "b".into(), stream: 1, entries: vec![(100, 15)], start: 1, end: 2, outcome: Outcome::Ok });
        h.push(read(20, true, &[(1, 10), (100, 15), (2, 20)]));
        h.push(read_as("b", 21, true, &[(100, 15)]));
        let v = check(&h);
        assert_eq!(v.foreign, vec![(7, 100)]);
        assert!(!v.valid);
    }
}
