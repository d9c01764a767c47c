//! Push validation, as Loki's distributor does it: label rules, line size, timestamps and
//! structured metadata. Bad entries are dropped with Loki's message; the rest go on.

use store::entry::Entry;
use store::labels::Labels;
use store::limits::Limits;
use store::time::format_rfc3339_secs;

use crate::command::{StreamPush, TenantPush};
use crate::decode::RawStream;

/// The result of validating one push.
#[derive(Debug, Default)]
pub struct Validated {
    /// What to write: valid streams with their valid entries.
    pub push: TenantPush,
    /// Loki-format messages for everything dropped.
    pub errors: Vec<String>,
    /// Entries dropped.
    pub rejected: u64,
}

/// Normalises a structured metadata name as Loki does: characters outside `[A-Za-z0-9_]`
/// become `_`, runs of `_` collapse, and a leading digit gets a `key_` prefix.
pub fn normalize_metadata_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        let c = if c.is_ascii_alphanumeric() || c == '_' { c } else { '_' };
        if c == '_' && out.ends_with('_') {
            continue;
        }
        out.push(c);
    }
    if out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert_str(0, "key_");
    }
    out
}

fn with_service_name(labels: Labels, discover: &[String]) -> Labels {
    if discover.is_empty() || labels.get("service_name").is_some() {
        return labels;
    }
    let value = discover
        .iter()
        .find_map(|l| labels.get(l).filter(|v| !v.is_empty()))
        .unwrap_or("unknown_service")
        .to_string();
    let mut pairs = labels.pairs().to_vec();
    pairs.push(("service_name".to_string(), value));
    Labels::from_pairs(pairs).unwrap_or(labels)
}

/// The label string Loki quotes in label errors: as a protobuf push sent it, unless a
/// `service_name` was added, else the sorted label set. Formatted only for an error.
struct Shown<'a> {
    labels: &'a Labels,
    pushed: Option<&'a str>,
}

impl std::fmt::Display for Shown<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.pushed {
            Some(pushed) => f.write_str(pushed),
            None => std::fmt::Display::fmt(self.labels, f),
        }
    }
}

fn label_error(labels: &Labels, shown: &Shown<'_>, limits: &Limits) -> Option<String> {
    if labels.is_empty() {
        return Some("error at least one label pair is required per stream".to_string());
    }
    let counted = labels.len() - usize::from(labels.get("service_name").is_some());
    if counted > limits.max_label_names_per_series {
        return Some(format!(
            "entry for stream '{shown}' has {counted} label names; limit {}",
            limits.max_label_names_per_series
        ));
    }
    for (n, v) in labels.pairs() {
        if n.len() > limits.max_label_name_length {
            return Some(format!("stream '{shown}' has label name too long: '{n}'"));
        }
        if v.len() > limits.max_label_value_length {
            return Some(format!("stream '{shown}' has label value too long: '{v}'"));
        }
    }
    None
}

fn entry_error(e: &Entry, labels: &Labels, limits: &Limits, now_ns: i64) -> Option<String> {
    if limits.reject_old_samples {
        let oldest = now_ns.saturating_sub(limits.reject_old_samples_max_age.as_nanos_i64());
        if e.ts < oldest {
            return Some(format!(
                "entry for stream '{labels}' has timestamp too old: {}, oldest acceptable timestamp is: {}",
                format_rfc3339_secs(e.ts),
                format_rfc3339_secs(oldest)
            ));
        }
    }
    if e.ts > now_ns.saturating_add(limits.creation_grace_period.as_nanos_i64()) {
        return Some(format!("entry for stream '{labels}' has timestamp too new: {}", format_rfc3339_secs(e.ts)));
    }
    let max_line = limits.max_line_size.0 as usize;
    if max_line > 0 && e.line.len() > max_line {
        return Some(format!(
            "max entry size '{max_line}' bytes exceeded for stream '{labels}' while adding an entry with length '{}' bytes",
            e.line.len()
        ));
    }
    if !e.metadata.is_empty() {
        if !limits.allow_structured_metadata {
            return Some(format!(
                "stream '{labels}' includes structured metadata, but this feature is disallowed. Please see `limits_config.allow_structured_metadata` or contact your Loki administrator to enable it."
            ));
        }
        let size: usize = e.metadata.iter().map(|(n, v)| n.len() + v.len()).sum();
        let max = limits.max_structured_metadata_size.0 as usize;
        if max > 0 && size > max {
            return Some(format!(
                "stream '{labels}' has structured metadata too large: '{size}' bytes, limit: '{max}' bytes. Please see `limits_config.max_structured_metadata_size` or contact your Loki administrator to increase it."
            ));
        }
        let max_count = limits.max_structured_metadata_entries_count;
        if max_count > 0 && e.metadata.len() > max_count {
            return Some(format!(
                "stream '{labels}' has too many structured metadata labels: '{}', limit: '{max_count}'. Please see `limits_config.max_structured_metadata_entries_count` or contact your Loki administrator to increase it.",
                e.metadata.len()
            ));
        }
    }
    None
}

/// Validates decoded streams for `tenant` at wall-clock time `now_ns`.
pub fn validate(tenant: &str, streams: Vec<RawStream>, limits: &Limits, now_ns: i64) -> Validated {
    let mut out = Validated { push: TenantPush { tenant: tenant.to_string(), streams: Vec::new() }, ..Validated::default() };
    for raw in streams {
        if raw.entries.is_empty() {
            continue;
        }
        if let Some(dup) = &raw.duplicate {
            out.rejected += raw.entries.len() as u64;
            let shown = raw.pushed.as_deref().unwrap_or(&dup.labels);
            out.errors.push(format!("stream '{shown}' has duplicate label name: '{}'", dup.name));
            continue;
        }
        let before = raw.labels.len();
        let labels = with_service_name(raw.labels, &limits.discover_service_name);
        let shown = Shown { labels: &labels, pushed: raw.pushed.as_deref().filter(|_| labels.len() == before) };
        if let Some(err) = label_error(&labels, &shown, limits) {
            out.rejected += raw.entries.len() as u64;
            out.errors.push(err);
            continue;
        }
        let mut entries = Vec::with_capacity(raw.entries.len());
        for mut e in raw.entries {
            if let Some(err) = entry_error(&e, &labels, limits, now_ns) {
                out.rejected += 1;
                out.errors.push(err);
                continue;
            }
            for (n, _) in &mut e.metadata {
                if !n.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') || n.starts_with(|c: char| c.is_ascii_digit()) {
                    *n = normalize_metadata_name(n);
                }
            }
            entries.push(e);
        }
        if !entries.is_empty() {
            out.push.streams.push(StreamPush { labels, entries });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(labels: &str, entries: Vec<(i64, &str)>) -> RawStream {
        RawStream {
            labels: Labels::parse(labels).unwrap(),
            duplicate: None,
            pushed: None,
            entries: entries.into_iter().map(|(ts, l)| Entry { ts, line: l.into(), metadata: vec![] }).collect(),
        }
    }

    #[test]
    fn service_name_is_discovered() {
        let limits = Limits::default();
        let now = 1_000_000_000_000_000_000;
        let v = validate("t", vec![raw(r#"{app="api"}"#, vec![(now, "x")])], &limits, now);
        assert!(v.errors.is_empty());
        assert_eq!(v.push.streams[0].labels.get("service_name"), Some("api"));
        let v = validate("t", vec![raw(r#"{foo="bar"}"#, vec![(now, "x")])], &limits, now);
        assert_eq!(v.push.streams[0].labels.get("service_name"), Some("unknown_service"));
    }

    #[test]
    fn bad_entries_are_dropped_good_ones_kept() {
        let limits = Limits { discover_service_name: vec![], ..Limits::default() };
        let now = 1_000_000_000_000_000_000;
        let long = "x".repeat(300 * 1024);
        let v = validate("t", vec![raw(r#"{a="b"}"#, vec![(now, "ok"), (now, &long), (1, "old"), (now + 3_600_000_000_000, "new")])], &limits, now);
        assert_eq!(v.push.streams[0].entries.len(), 1);
        assert_eq!(v.errors.len(), 3);
        assert!(v.errors[0].contains("max entry size"));
        assert!(v.errors[1].contains("timestamp too old"));
        assert!(v.errors[2].contains("timestamp too new"));
    }

    #[test]
    fn metadata_names_are_normalised() {
        assert_eq!(normalize_metadata_name("trace.id"), "trace_id");
        assert_eq!(normalize_metadata_name("1abc"), "key_1abc");
        assert_eq!(normalize_metadata_name("a..b"), "a_b");
    }
}
