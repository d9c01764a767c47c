//! The write path's Prometheus metrics.

use std::sync::Once;

use store::metrics::{Counter, Histogram, register_counter, register_histogram};

/// Push requests received over HTTP or gRPC.
pub static PUSH_REQUESTS: Counter = Counter::new("skald_push_requests_total", "Push requests received.");
/// Push requests answered with an error.
pub static PUSH_ERRORS: Counter = Counter::new("skald_push_errors_total", "Push requests answered with an error status.");
/// Entries appended to heads.
pub static ENTRIES_ACCEPTED: Counter = Counter::new("skald_entries_accepted_total", "Entries appended to stream heads.");
/// Line bytes of appended entries.
pub static BYTES_ACCEPTED: Counter = Counter::new("skald_bytes_accepted_total", "Line and metadata bytes of appended entries.");
/// Entries rejected by validation or the out-of-order window.
pub static ENTRIES_REJECTED: Counter = Counter::new("skald_entries_rejected_total", "Entries rejected by validation.");
/// Entries dropped as exact duplicates.
pub static ENTRIES_DUPLICATE: Counter = Counter::new("skald_entries_duplicate_total", "Entries dropped as duplicates.");
/// Raft proposals of batched pushes.
pub static PROPOSALS: Counter = Counter::new("skald_raft_proposals_total", "Raft proposals of batched pushes.");
/// Pushes carried by those proposals.
pub static PROPOSED_PUSHES: Counter = Counter::new("skald_raft_proposed_pushes_total", "Pushes carried by Raft proposals.");
/// Completed flushes.
pub static FLUSHES: Counter = Counter::new("skald_flushes_total", "Completed flushes of heads to chunk files.");
/// Failed flushes.
pub static FLUSH_ERRORS: Counter = Counter::new("skald_flush_errors_total", "Failed flush attempts.");
/// Bytes of chunk files written.
pub static FLUSHED_BYTES: Counter = Counter::new("skald_flushed_bytes_total", "Bytes of chunk files written.");
/// Rows written to chunk files.
pub static FLUSHED_ROWS: Counter = Counter::new("skald_flushed_rows_total", "Entries written to chunk files.");
/// Leader changes seen by this node's replicas (elections anywhere in their groups).
pub static LEADER_CHANGES: Counter = Counter::new("skald_raft_leader_changes_total", "Leader changes seen by this node's shard replicas.");
/// Elections won by this node's replicas.
pub static ELECTIONS_WON: Counter = Counter::new("skald_raft_elections_won_total", "Times a shard replica on this node became leader.");
/// Log entries known committed by this node's replicas.
pub static COMMITTED_ENTRIES: Counter = Counter::new("skald_raft_committed_entries_total", "Log entries this node's replicas know are committed.");
/// Log entries applied by this node's replicas (committed minus applied is the apply lag).
pub static APPLIED_ENTRIES: Counter = Counter::new("skald_raft_applied_entries_total", "Log entries applied by this node's replicas.");
/// Snapshots streamed to other replicas.
pub static SNAPSHOTS_SENT: Counter = Counter::new("skald_raft_snapshots_sent_total", "Snapshots streamed to lagging or new replicas.");
/// Bytes of snapshots streamed to other replicas.
pub static SNAPSHOT_BYTES_SENT: Counter = Counter::new("skald_raft_snapshot_bytes_sent_total", "Bytes of snapshots streamed to other replicas.");
/// Snapshots received and installed.
pub static SNAPSHOTS_RECEIVED: Counter = Counter::new("skald_raft_snapshots_received_total", "Snapshots received from leaders and installed.");
/// fsyncs of the node's shared Raft log.
pub static LOG_SYNCS: Counter = Counter::new("skald_raft_log_syncs_total", "fsyncs of the node's shared Raft log (one covers every group's appends since the last).");
/// Appends to the node's shared Raft log, over all groups.
pub static LOG_APPENDS: Counter = Counter::new("skald_raft_log_appends_total", "Appends of log entries to the node's shared Raft log, over all groups.");
/// Writes that found the node's disk full and waited for space.
pub static DISK_FULL_WAITS: Counter = Counter::new("skald_disk_full_waits_total", "Log or snapshot writes that found the disk full and waited for space.");
/// Time from proposing a batch to its commit and apply on the leader.
pub static COMMIT_SECONDS: Histogram = Histogram::new("skald_raft_commit_duration_seconds", "Proposal to commit and apply on the leader.");
/// Push latency.
pub static PUSH_SECONDS: Histogram = Histogram::new("skald_push_duration_seconds", "Push request latency.");
/// Flush latency.
pub static FLUSH_SECONDS: Histogram = Histogram::new("skald_flush_duration_seconds", "Flush duration.");

/// Registers the write path's metrics once per process.
pub fn register() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        for c in [
            &PUSH_REQUESTS, &PUSH_ERRORS, &ENTRIES_ACCEPTED, &BYTES_ACCEPTED, &ENTRIES_REJECTED, &ENTRIES_DUPLICATE,
            &PROPOSALS, &PROPOSED_PUSHES, &FLUSHES, &FLUSH_ERRORS, &FLUSHED_BYTES, &FLUSHED_ROWS, &LEADER_CHANGES,
            &ELECTIONS_WON, &COMMITTED_ENTRIES, &APPLIED_ENTRIES, &SNAPSHOTS_SENT, &SNAPSHOT_BYTES_SENT, &SNAPSHOTS_RECEIVED,
            &LOG_SYNCS, &LOG_APPENDS, &DISK_FULL_WAITS,
        ] {
            register_counter(c);
        }
        register_histogram(&PUSH_SECONDS);
        register_histogram(&FLUSH_SECONDS);
        register_histogram(&COMMIT_SECONDS);
    });
}
