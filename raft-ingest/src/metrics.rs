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
            &PROPOSALS, &PROPOSED_PUSHES, &FLUSHES, &FLUSH_ERRORS, &FLUSHED_BYTES, &FLUSHED_ROWS,
        ] {
            register_counter(c);
        }
        register_histogram(&PUSH_SECONDS);
        register_histogram(&FLUSH_SECONDS);
    });
}
