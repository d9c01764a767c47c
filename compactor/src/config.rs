//! `compactor:` configuration, with Loki's keys where the concept is Loki's.

use serde::{Deserialize, Serialize};
use store::time::{ByteSize, ConfigDuration};

/// When and how chunk files are compacted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CompactorConfig {
    /// How often a compaction cycle runs (Loki key; default 10m; 0s runs none on a
    /// schedule, `POST /compactor/run` still does).
    pub compaction_interval: ConfigDuration,
    /// How long files replaced by compaction stay readable before their objects are deleted,
    /// so queries that started before the swap finish (Loki key; default 2h).
    pub retention_delete_delay: ConfigDuration,
    /// Size at which a compacted file is cut (default 128MiB); files under half of it are
    /// merged.
    pub target_file_size: ByteSize,
    /// Delete data older than `limits_config.retention_period` / `retention_stream` (Loki
    /// key; default false).
    pub retention_enabled: bool,
    /// How long a delete request can be cancelled; the compactor removes its lines from
    /// chunk files only after that (Loki key; default 24h).
    pub delete_request_cancel_period: ConfigDuration,
    /// How long the compactor lease lasts unless renewed (default 1m). Every node running
    /// the compactor renews it, or tries to take it, every quarter of this, so another
    /// compactor takes over about this long after the holder stops.
    pub lease_duration: ConfigDuration,
    /// Accepted for Loki configs and unused: Skald's compactor keeps no local files (Loki
    /// key).
    pub working_directory: String,
    /// Accepted for Loki configs and unused: delete requests live in the metadata Raft group
    /// (Loki key).
    pub delete_request_store: String,
}

impl Default for CompactorConfig {
    fn default() -> Self {
        CompactorConfig {
            compaction_interval: ConfigDuration::secs(600),
            retention_delete_delay: ConfigDuration::secs(2 * 3600),
            target_file_size: ByteSize(128 << 20),
            retention_enabled: false,
            delete_request_cancel_period: ConfigDuration::secs(24 * 3600),
            lease_duration: ConfigDuration::secs(60),
            working_directory: String::new(),
            delete_request_store: String::new(),
        }
    }
}

impl CompactorConfig {
    /// Checks values that parse but make no sense.
    pub fn validate(&self) -> Result<(), String> {
        if self.lease_duration.0.is_zero() {
            return Err("compactor.lease_duration must be more than 0s".into());
        }
        Ok(())
    }
}
