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
    /// The fault kinds the run used (empty when a recorded history is judged again).
    pub fault_kinds: Vec<String>,
    /// Faults injected, by kind.
    pub faults: BTreeMap<String, usize>,
    /// How many violations of each kind were found (the lists below keep examples only).
    pub violations: Violations,
    /// Up to [`EXAMPLES`] acknowledged entries missing from the final read.
    pub lost: Vec<u64>,
    /// Up to [`EXAMPLES`] entries a read returned more than once.
    pub duplicated: Vec<u64>,
    /// Up to [`EXAMPLES`] entries returned that were never pushed, or whose push certainly
    /// failed.
    pub phantom: Vec<u64>,
    /// Up to [`EXAMPLES`] `(read number, entry)`: an entry acknowledged before a read
    /// started that the read did not return.
    pub stale: Vec<(usize, u64)>,
    /// Up to [`EXAMPLES`] `(read number, entry)`: an entry out of timestamp order, or of
    /// another stream.
    pub disordered: Vec<(usize, u64)>,
    /// Up to [`EXAMPLES`] `(read number, entry)`: an entry of another tenant.
    pub foreign: Vec<(usize, u64)>,
    /// Unknown-outcome entries present in the final read.
    pub unknown_present: usize,
    /// Streams whose acknowledged entries could not be judged for loss because the run
    /// broke off before their final read (only in a run that ended with an error).
    pub unjudged_streams: usize,
    /// Why the run broke off, when it did (every error met, in order): the verdict is then
    /// invalid whatever it found.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<String>,
}

/// The true number of violations of each kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Violations {
    /// Acknowledged entries missing from the final read.
    pub lost: usize,
    /// Entries returned more than once by one read (each extra copy counts).
    pub duplicated: usize,
    /// Entries returned that were never pushed, or whose push certainly failed.
    pub phantom: usize,
    /// Entries acknowledged before a read started that the read did not return.
    pub stale: usize,
    /// Entries out of timestamp order, or of another stream of the same tenant.
    pub disordered: usize,
    /// Entries of another tenant.
    pub foreign: usize,
}

impl Violations {
    /// All violations together.
    pub fn total(&self) -> usize {
        self.lost + self.duplicated + self.phantom + self.stale + self.disordered + self.foreign
    }
}

/// Most examples of one kind of violation kept.
pub const EXAMPLES: usize = 20;

/// Counts one violation and keeps it as an example while there are fewer than [`EXAMPLES`].
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

/// Checks `history`. A stream without a final read counts every acknowledged entry of it
/// as lost.
pub fn check(history: &[Op]) -> Verdict {
    judge(history, true)
}

/// Checks the history of a run that broke off: like [`check()`], but the acknowledged
/// entries of a stream that has no final read are not judged for loss (they are counted in
/// `unjudged_streams`); every other property is judged as usual. The caller marks the
/// verdict invalid with the error.
pub fn check_partial(history: &[Op]) -> Verdict {
    judge(history, false)
}

fn judge(history: &[Op], complete: bool) -> Verdict {
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
    let mut n = Violations::default();
    // Entries the final reads returned under their own tenant and stream, and which
    // (tenant, stream) had a final read.
    let mut final_seen: HashSet<u64> = HashSet::new();
    let mut final_read: HashSet<(&str, u32)> = HashSet::new();
    for (number, op) in history.iter().enumerate() {
        let Op::Read { tenant, stream, start, outcome: Outcome::Ok, last, seen, .. } = op else { continue };
        v.reads += 1;
        let mut here: HashSet<u64> = HashSet::with_capacity(seen.len());
        let mut prev_ts = i64::MIN;
        for s in seen {
            if !here.insert(s.id) {
                keep(&mut v.duplicated, s.id, &mut n.duplicated);
            }
            let pushed = sent.get(&s.id);
            // Foreign: the id was pushed by another tenant, or the line names another one.
            if s.tenant.as_str() != tenant.as_str() || pushed.is_some_and(|p| p.tenant != tenant.as_str()) {
                keep(&mut v.foreign, (number, s.id), &mut n.foreign);
            } else {
                match pushed {
                    None => keep(&mut v.phantom, s.id, &mut n.phantom),
                    Some(p) if p.outcome == Outcome::Fail => keep(&mut v.phantom, s.id, &mut n.phantom),
                    Some(p) if p.stream != *stream => keep(&mut v.disordered, (number, s.id), &mut n.disordered),
                    Some(_) => {
                        if s.ts < prev_ts {
                            keep(&mut v.disordered, (number, s.id), &mut n.disordered);
                        }
                        if *last {
                            final_seen.insert(s.id);
                        }
                    }
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
                keep(&mut v.stale, (number, *id), &mut n.stale);
            }
        }
        if *last {
            final_read.insert((tenant.as_str(), *stream));
        }
    }
    // The final reads cover every stream: an acknowledged entry missing there (or found
    // only under another tenant or stream) is lost.
    let mut keys: Vec<&(&str, u32)> = acked.keys().collect();
    keys.sort_unstable();
    for key in keys {
        if !complete && !final_read.contains(key) {
            v.unjudged_streams += 1;
            continue;
        }
        for (_, id) in &acked[key] {
            if !final_seen.contains(id) {
                keep(&mut v.lost, *id, &mut n.lost);
            }
        }
    }
    v.unknown_present = final_seen.iter().filter(|id| sent.get(id).is_some_and(|s| s.outcome == Outcome::Unknown)).count();
    v.violations = n;
    v.valid = n.total() == 0;
    v
}

impl Verdict {
    /// Marks the verdict invalid because the run broke off with `errors`.
    pub fn broke_off(&mut self, errors: Vec<String>) {
        self.valid = false;
        self.errors.extend(errors);
    }

    /// The one-line summary: `valid` or `invalid`, then the counts (true totals, not the
    /// examples kept), the faults by kind, and the first error a broken-off run met.
    pub fn summary(&self) -> String {
        let faults: usize = self.faults.values().sum();
        let by_kind: Vec<String> = self.faults.iter().map(|(k, n)| format!("{k}:{n}")).collect();
        let mut line = format!(
            "{} operations={} acknowledged={} failed={} unknown={} unknown_present={} reads={} faults={} lost={} duplicated={} phantom={} stale={} disordered={} foreign={} faults_by_kind={}",
            if self.valid { "valid" } else { "invalid" },
            self.operations,
            self.acknowledged,
            self.failed,
            self.unknown,
            self.unknown_present,
            self.reads,
            faults,
            self.violations.lost,
            self.violations.duplicated,
            self.violations.phantom,
            self.violations.stale,
            self.violations.disordered,
            self.violations.foreign,
            if by_kind.is_empty() { "-".to_string() } else { by_kind.join(",") },
        );
        if self.unjudged_streams > 0 {
            line += &format!(" unjudged_streams={}", self.unjudged_streams);
        }
        if let Some(e) = self.errors.first() {
            line += " error: ";
            line += &e.split_whitespace().collect::<Vec<_>>().join(" ");
            if self.errors.len() > 1 {
                line += &format!(" (and {} more errors in verdict.json)", self.errors.len() - 1);
            }
        }
        line
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::{Seen, Tenant};

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

    fn push_as(tenant: &str, id: u64, ts: i64, end: u64) -> Op {
        Op::Push { process: 0, node: 0, tenant: tenant.into(), stream: 1, entries: vec![(id, ts)], start: end - 1, end, outcome: Outcome::Ok }
    }

    /// A read of `tenant`'s stream 1 returning `(id, ts, tenant its line names)`.
    fn read_lines(tenant: &str, start: u64, last: bool, seen: &[(u64, i64, &str)]) -> Op {
        let seen = seen.iter().map(|(id, ts, t)| Seen { id: *id, ts: *ts, tenant: Tenant::new(t), stream: 1 }).collect();
        Op::Read { process: 9, node: 0, tenant: tenant.into(), stream: 1, start, end: start + 1, outcome: Outcome::Ok, last, seen }
    }

    #[test]
    fn tenants_sharing_a_label_set_are_judged_apart() {
        // Both tenants write stream 1 with the same timestamps.
        let mut h = vec![push_as("a", 1, 10, 2), push_as("b", 2, 10, 3), push_as("a", 3, 20, 4), push_as("b", 4, 20, 5)];
        h.push(read_lines("a", 10, false, &[(1, 10, "a"), (3, 20, "a")]));
        h.push(read_lines("b", 11, false, &[(2, 10, "b"), (4, 20, "b")]));
        let mut clean = h.clone();
        clean.push(read_lines("a", 20, true, &[(1, 10, "a"), (3, 20, "a")]));
        clean.push(read_lines("b", 21, true, &[(2, 10, "b"), (4, 20, "b")]));
        let v = check(&clean);
        assert!(v.valid, "{v:?}");
        // A read of tenant a returns b's entry 4: with its own line, or with a line that
        // claims tenant a (the id still belongs to b). And b's final read misses 4, so it is
        // lost: found under another tenant does not count.
        h.push(read_lines("a", 12, false, &[(1, 10, "a"), (3, 20, "a"), (4, 20, "b")]));
        h.push(read_lines("a", 20, true, &[(1, 10, "a"), (3, 20, "a"), (4, 20, "a")]));
        h.push(read_lines("b", 21, true, &[(2, 10, "b")]));
        let v = check(&h);
        assert_eq!(v.foreign, vec![(6, 4), (7, 4)]);
        assert_eq!(v.lost, vec![4]);
        assert_eq!((v.violations.foreign, v.violations.lost, v.violations.stale), (2, 1, 0));
        assert!(!v.valid);
        assert!(v.summary().contains("lost=1 duplicated=0 phantom=0 stale=0 disordered=0 foreign=2"), "{}", v.summary());
    }

    #[test]
    fn counts_are_true_totals_beyond_the_examples() {
        let mut h: Vec<Op> = (1..=30).map(|id| push(id, id as i64 * 10, 100 + id, Outcome::Ok)).collect();
        // A read after all acknowledgements sees none; the final read sees the first five
        // twice.
        h.push(read(200, false, &[]));
        let twice: Vec<(u64, i64)> = (1..=5).flat_map(|id| [(id, id as i64 * 10), (id, id as i64 * 10)]).collect();
        h.push(read(300, true, &twice));
        let v = check(&h);
        assert_eq!(v.violations, Violations { lost: 25, duplicated: 5, phantom: 0, stale: 30, disordered: 0, foreign: 0 });
        assert_eq!((v.lost.len(), v.stale.len(), v.duplicated.len()), (EXAMPLES, EXAMPLES, 5));
        assert!(v.summary().contains("lost=25 duplicated=5 phantom=0 stale=30"), "{}", v.summary());
        let json = serde_json::to_value(&v).expect("json");
        assert_eq!(json["violations"]["lost"], 25);
        assert_eq!(json["violations"]["stale"], 30);
    }

    #[test]
    fn a_broken_off_run_is_judged_as_far_as_it_got() {
        // No final read: a complete check calls everything lost, a partial one judges only
        // the reads made, and still finds a stale one.
        let mut h = base();
        h.push(read(7, false, &[(1, 10)]));
        let strict = check(&h);
        assert_eq!(strict.violations.lost, 2);
        let mut v = check_partial(&h);
        assert_eq!((v.violations.lost, v.violations.stale, v.unjudged_streams), (0, 1, 1));
        v.broke_off(vec!["the final read of a stream 1 never succeeded:\n503".into()]);
        assert!(!v.valid);
        let line = v.summary();
        assert!(line.starts_with("invalid operations=6"), "{line}");
        assert!(line.ends_with("unjudged_streams=1 error: the final read of a stream 1 never succeeded: 503"), "{line}");
        let json = serde_json::to_value(&v).expect("json");
        assert!(json["errors"][0].as_str().is_some_and(|e| e.contains("never succeeded")));
        // A clean but broken-off run is invalid too.
        let mut h = base();
        h.push(read(20, true, &[(1, 10), (2, 20)]));
        let mut v = check_partial(&h);
        assert!(v.valid && v.unjudged_streams == 0);
        v.broke_off(vec!["the nemesis failed".into(), "a final read failed".into()]);
        assert!(v.summary().starts_with("invalid ") && v.summary().ends_with("error: the nemesis failed (and 1 more errors in verdict.json)"));
        assert!(serde_json::to_value(check(&h)).expect("json").get("errors").is_none(), "no errors, no field");
    }
}
