//! Per-tenant limits (`limits_config`), with Loki's keys and defaults.

use serde::{Deserialize, Serialize};

use crate::time::{ByteSize, ConfigDuration};

/// Loki's default list of labels a `service_name` is discovered from.
pub const DEFAULT_SERVICE_NAME_LABELS: &[&str] = &[
    "service", "app", "application", "app_name", "name", "app_kubernetes_io_name", "container",
    "container_name", "k8s_container_name", "component", "workload", "job", "k8s_job_name",
];

/// Limits applied to pushes and queries. Every field is the Loki key of the same name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Reject entries older than `reject_old_samples_max_age` (default true).
    pub reject_old_samples: bool,
    /// Oldest accepted entry age when `reject_old_samples` is on (default 168h).
    pub reject_old_samples_max_age: ConfigDuration,
    /// How far in the future an entry may be (default 10m).
    pub creation_grace_period: ConfigDuration,
    /// Largest `limit` a log query may ask for; 0 disables the check, as in Loki (default
    /// 5000).
    pub max_entries_limit_per_query: u32,
    /// Largest accepted line in bytes; 0 disables the check (default 256KB).
    pub max_line_size: ByteSize,
    /// Most label names a stream may have, `service_name` not counted (default 15).
    pub max_label_names_per_series: usize,
    /// Longest label name in bytes (default 1024).
    pub max_label_name_length: usize,
    /// Longest label value in bytes (default 2048).
    pub max_label_value_length: usize,
    /// Whether entries may carry structured metadata (default true).
    pub allow_structured_metadata: bool,
    /// Largest structured metadata of one entry in bytes (default 64KB).
    pub max_structured_metadata_size: ByteSize,
    /// Most structured metadata pairs on one entry (default 128).
    pub max_structured_metadata_entries_count: usize,
    /// Labels a missing `service_name` is taken from, in order; empty disables the discovery.
    pub discover_service_name: Vec<String>,
    /// Whether `detected_level` is derived on ingest. Skald does not derive it yet: only
    /// `false` is accepted.
    pub discover_log_levels: bool,
    /// Longest time range a query may cover; 0 disables the check (default 721h).
    pub max_query_length: ConfigDuration,
    /// Most series a metric query may return (default 500).
    pub max_query_series: usize,
    /// Longest a query may run before it is cancelled with 504 (default 1m).
    pub query_timeout: ConfigDuration,
    /// How long entries are kept; 0s keeps them forever (default). The compactor deletes
    /// older data when `compactor.retention_enabled` is true (Loki key).
    pub retention_period: ConfigDuration,
    /// Per-stream retention: of the rules whose selector matches a stream, the one with the
    /// highest priority (then the shortest period) replaces `retention_period` (Loki key).
    pub retention_stream: Vec<RetentionStream>,
    /// What the delete API does (Loki key; default `filter-and-delete`).
    pub deletion_mode: DeletionMode,
}

/// `deletion_mode`: what delete requests do.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DeletionMode {
    /// The delete API answers 403.
    Disabled,
    /// Queries filter the deleted lines out; chunk files keep them.
    FilterOnly,
    /// Queries filter them out, and the compactor removes them from chunk files once the
    /// cancel period is over.
    #[default]
    FilterAndDelete,
}

/// One `retention_stream` rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetentionStream {
    /// A LogQL stream selector, e.g. `{namespace="dev"}`.
    pub selector: String,
    /// Higher wins when several rules match (default 0).
    #[serde(default)]
    pub priority: u32,
    /// How long the matching streams' entries are kept.
    pub period: ConfigDuration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            reject_old_samples: true,
            reject_old_samples_max_age: ConfigDuration::secs(168 * 3600),
            creation_grace_period: ConfigDuration::secs(600),
            max_entries_limit_per_query: 5000,
            max_line_size: ByteSize(256_000),
            max_label_names_per_series: 15,
            max_label_name_length: 1024,
            max_label_value_length: 2048,
            allow_structured_metadata: true,
            max_structured_metadata_size: ByteSize(64_000),
            max_structured_metadata_entries_count: 128,
            discover_service_name: DEFAULT_SERVICE_NAME_LABELS.iter().map(|s| s.to_string()).collect(),
            discover_log_levels: false,
            max_query_length: ConfigDuration::secs(721 * 3600),
            max_query_series: 500,
            query_timeout: ConfigDuration::secs(60),
            retention_period: ConfigDuration::secs(0),
            retention_stream: Vec::new(),
            deletion_mode: DeletionMode::FilterAndDelete,
        }
    }
}

impl Limits {
    /// Checks values that parse but make no sense.
    pub fn validate(&self) -> Result<(), String> {
        if self.discover_log_levels {
            return Err("limits_config.discover_log_levels: true is not supported yet; set it to false".into());
        }
        let day = std::time::Duration::from_secs(24 * 3600);
        let short = |d: &ConfigDuration| !d.0.is_zero() && d.0 < day;
        if short(&self.retention_period) || self.retention_stream.iter().any(|r| short(&r.period)) {
            return Err("limits_config: retention period must be >= 24h".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_entries_limit_is_valid() {
        let limits = Limits { max_entries_limit_per_query: 0, ..Limits::default() };
        assert_eq!(limits.validate(), Ok(()));
    }
}
