//! `GET /compactor/status`: the schedule, the last cycle this node ran, the lease holder it
//! last saw, and the backlog (what a cycle started now would merge), so an operator can
//! tell whether compaction keeps up.

use serde::Serialize;

use store::manifest::IndexedFiles;

use crate::cycle::{Compactor, Summary};
use crate::plan::plan;

/// A finished cycle.
#[derive(Debug, Clone, Serialize)]
pub struct LastRun {
    /// When it started (Unix ms).
    pub started_unix_ms: i64,
    /// How long it ran.
    pub duration_seconds: f64,
    /// What it did, when it succeeded.
    pub summary: Option<Summary>,
    /// Why it failed, when it did.
    pub error: Option<String>,
}

/// What this node's compactor has seen, kept between cycles.
#[derive(Debug, Clone, Default)]
pub struct History {
    /// The lease holder named by the last lease request.
    pub lease_holder: Option<u64>,
    /// Whether that is this node.
    pub holds_lease: bool,
    /// The last cycle.
    pub last_run: Option<LastRun>,
    /// When the last successful cycle ended (Unix ms).
    pub last_success_unix_ms: Option<i64>,
}

impl History {
    /// Records a cycle that started at `started_ms` and ran `seconds`.
    pub fn finished(&mut self, started_ms: i64, seconds: f64, outcome: Result<Summary, String>) {
        let (summary, error) = match outcome {
            Ok(s) => {
                self.last_success_unix_ms = Some(chrono::Utc::now().timestamp_millis());
                (Some(s), None)
            }
            Err(e) => (None, Some(e)),
        };
        self.last_run = Some(LastRun { started_unix_ms: started_ms, duration_seconds: seconds, summary, error });
    }
}

/// The files waiting to be merged now.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Backlog {
    /// Groups (shard, tenant, day) with files to merge.
    pub groups: usize,
    /// Files in them.
    pub files: usize,
    /// Their bytes.
    pub bytes: u64,
    /// Every indexed file.
    pub indexed_files: usize,
    /// Their bytes.
    pub indexed_bytes: u64,
}

/// What `GET /compactor/status` answers.
#[derive(Debug, Clone, Serialize)]
pub struct Status {
    /// `compactor.compaction_interval` in seconds (0: cycles run only on request).
    pub compaction_interval_seconds: u64,
    /// `compactor.target_file_size` in bytes.
    pub target_file_size: u64,
    /// `compactor.retention_enabled`.
    pub retention_enabled: bool,
    /// The node that held the compactor lease at this node's last attempt.
    pub lease_holder: Option<u64>,
    /// The last cycle this node ran.
    pub last_run: Option<LastRun>,
    /// When this node's last successful cycle ended (Unix ms).
    pub last_success_unix_ms: Option<i64>,
    /// Seconds since then: the compaction lag.
    pub seconds_since_last_success: Option<f64>,
    /// What a cycle started now would merge (none when the indexes could not be read).
    pub backlog: Option<Backlog>,
    /// Why the indexes could not be read.
    pub backlog_error: Option<String>,
}

impl Compactor {
    /// The status, with the backlog read from the shards' indexes now.
    pub async fn status(&self) -> Status {
        let target = self.config().target_file_size.0;
        let (backlog, backlog_error) = match self.indexed().await {
            Ok(indexed) => (Some(backlog(&indexed, target)), None),
            Err(e) => (None, Some(e.to_string())),
        };
        let history = self.history.lock().map(|h| h.clone()).unwrap_or_else(|p| p.into_inner().clone());
        let now = chrono::Utc::now().timestamp_millis();
        Status {
            compaction_interval_seconds: self.config().compaction_interval.0.as_secs(),
            target_file_size: target,
            retention_enabled: self.config().retention_enabled,
            lease_holder: history.lease_holder,
            seconds_since_last_success: history.last_success_unix_ms.map(|t| (now - t) as f64 / 1000.0),
            last_success_unix_ms: history.last_success_unix_ms,
            last_run: history.last_run,
            backlog,
            backlog_error,
        }
    }
}

/// What `plan` would merge in `indexed`, and what is indexed.
fn backlog(indexed: &[IndexedFiles], target: u64) -> Backlog {
    let jobs = plan(indexed, target);
    let waiting = jobs.iter().flat_map(|j| &j.files);
    Backlog {
        groups: jobs.len(),
        files: waiting.clone().count(),
        bytes: waiting.map(|f| f.size).sum(),
        indexed_files: indexed.iter().map(|g| g.files.len()).sum(),
        indexed_bytes: indexed.iter().flat_map(|g| &g.files).map(|f| f.size).sum(),
    }
}
