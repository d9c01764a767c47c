//! Retention: how long each stream's entries are kept, from `limits_config.retention_period`
//! and `retention_stream` (Loki's keys and precedence), and which indexed files hold only
//! expired data.
//!
//! The unit of deletion is a stream's rows in one file: they go once the newest of them is
//! older than the stream's cutoff, as Loki deletes a chunk once its end passed the cutoff.
//! A file whose streams all expired is dropped from the index; a file where only some did is
//! rewritten without them.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

use store::index::FileMeta;
use store::labels::{Labels, StreamId};
use store::matcher::{Matcher, matches_all};

/// One per-stream rule, its selector parsed.
#[derive(Debug, Clone)]
pub struct StreamRule {
    /// The selector's matchers.
    pub matchers: Vec<Matcher>,
    /// Higher wins.
    pub priority: u32,
    /// Retention of the matching streams.
    pub period: Duration,
}

/// Retention of one tenant (or of every tenant).
#[derive(Debug, Clone, Default)]
pub struct Retention {
    /// Default period; zero keeps forever.
    pub period: Duration,
    /// Per-stream rules.
    pub streams: Vec<StreamRule>,
    /// Rules consulted only when none of `streams` matches (a tenant's rules come before
    /// the global ones, whatever their priority, as in Loki).
    pub fallback: Vec<StreamRule>,
}

/// Retention of every tenant: a default and per-tenant replacements.
#[derive(Debug, Clone, Default)]
pub struct RetentionPolicy {
    /// For tenants without their own.
    pub default: Retention,
    /// Per-tenant retention.
    pub tenants: HashMap<String, Retention>,
}

impl RetentionPolicy {
    /// The retention of `tenant`.
    pub fn for_tenant(&self, tenant: &str) -> &Retention {
        self.tenants.get(tenant).unwrap_or(&self.default)
    }
}

/// What retention does to one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Nothing expired.
    Keep,
    /// Every stream expired: drop the file.
    Drop,
    /// Some streams expired: rewrite the file with only these.
    Trim(HashSet<u64>),
}

impl Retention {
    /// Whether nothing is ever deleted.
    pub fn keeps_forever(&self) -> bool {
        self.period.is_zero() && self.streams.iter().chain(&self.fallback).all(|r| r.period.is_zero())
    }

    /// The period for a stream with `labels` (zero: forever).
    pub fn period_for(&self, labels: &Labels) -> Duration {
        let best = |rules: &[StreamRule]| {
            rules
                .iter()
                .filter(|r| matches_all(&r.matchers, labels))
                .max_by(|a, b| a.priority.cmp(&b.priority).then(b.period.cmp(&a.period)))
                .map(|r| r.period)
        };
        best(&self.streams).or_else(|| best(&self.fallback)).unwrap_or(self.period)
    }

    /// What to do with `file` at `now_ns`, given the labels of the tenant's streams.
    pub fn verdict(&self, file: &FileMeta, labels: &BTreeMap<StreamId, Labels>, now_ns: i64) -> Verdict {
        let expired = |id: StreamId, max_ts: i64| {
            let period = labels.get(&id).map_or(self.period, |l| self.period_for(l));
            !period.is_zero() && max_ts < now_ns.saturating_sub(i64::try_from(period.as_nanos()).unwrap_or(i64::MAX))
        };
        let keep: HashSet<u64> = file.streams.iter().filter(|s| !expired(s.id, s.max_ts)).map(|s| s.id.0).collect();
        if keep.len() == file.streams.len() {
            Verdict::Keep
        } else if keep.is_empty() {
            Verdict::Drop
        } else {
            Verdict::Trim(keep)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use store::index::StreamRange;
    use store::matcher::MatchOp;

    const H: i64 = 3_600_000_000_000;

    fn labels(s: &str) -> Labels {
        Labels::parse(s).expect("labels")
    }

    #[test]
    fn the_highest_priority_rule_wins_then_the_shortest_period() {
        let rule = |name: &str, value: &str, priority: u32, hours: u64| StreamRule {
            matchers: vec![Matcher::new(name, MatchOp::Eq, value).expect("matcher")],
            priority,
            period: Duration::from_secs(hours * 3600),
        };
        let r = Retention {
            period: Duration::from_secs(48 * 3600),
            streams: vec![rule("env", "dev", 1, 24), rule("app", "x", 2, 72), rule("env", "dev", 1, 12)],
            fallback: vec![rule("env", "prod", 9, 96), rule("env", "dev", 9, 1)],
        };
        assert_eq!(r.period_for(&labels(r#"{env="prod"}"#)), Duration::from_secs(96 * 3600), "a fallback rule when no own rule matches");
        assert_eq!(r.period_for(&labels(r#"{env="qa"}"#)), Duration::from_secs(48 * 3600));
        assert_eq!(r.period_for(&labels(r#"{env="dev"}"#)), Duration::from_secs(12 * 3600));
        assert_eq!(r.period_for(&labels(r#"{env="dev", app="x"}"#)), Duration::from_secs(72 * 3600));

        let r = Retention { fallback: Vec::new(), ..r };
        let (dev, prod) = (labels(r#"{env="dev"}"#), labels(r#"{env="prod"}"#));
        let all: BTreeMap<StreamId, Labels> = [(dev.stream_id(), dev.clone()), (prod.stream_id(), prod.clone())].into();
        let now = 100 * H;
        let file = |ranges: &[(&Labels, i64)]| FileMeta {
            path: "f".into(),
            size: 1,
            min_ts: 0,
            max_ts: 0,
            rows: 1,
            streams: ranges.iter().map(|(l, max)| StreamRange { id: l.stream_id(), min_ts: 0, max_ts: *max, rows: 1 }).collect(),
        };
        assert_eq!(r.verdict(&file(&[(&dev, now - 13 * H), (&prod, now - 49 * H)]), &all, now), Verdict::Drop);
        assert_eq!(r.verdict(&file(&[(&dev, now - 13 * H), (&prod, now - 47 * H)]), &all, now), Verdict::Trim([prod.stream_id().0].into()));
        assert_eq!(r.verdict(&file(&[(&dev, now - 11 * H)]), &all, now), Verdict::Keep);
        assert!(Retention::default().keeps_forever());
    }
}
