//! The compactor's Prometheus metrics.

use std::sync::Once;

use store::metrics::{Counter, Gauge, Histogram, register_counter, register_gauge, register_histogram};

/// Completed compaction cycles.
pub static RUNS: Counter = Counter::new("skald_compactor_runs_total", "Completed compaction cycles.");
/// Failed compaction cycles.
pub static FAILURES: Counter = Counter::new("skald_compactor_failures_total", "Compaction cycles that failed.");
/// Chunk files merged away.
pub static FILES_IN: Counter = Counter::new("skald_compactor_files_merged_total", "Chunk files replaced by compaction.");
/// Chunk files written by compaction.
pub static FILES_OUT: Counter = Counter::new("skald_compactor_files_written_total", "Chunk files written by compaction.");
/// Bytes of the files merged away.
pub static BYTES_IN: Counter = Counter::new("skald_compactor_bytes_merged_total", "Bytes of chunk files replaced by compaction.");
/// Bytes of the files written.
pub static BYTES_OUT: Counter = Counter::new("skald_compactor_bytes_written_total", "Bytes of chunk files written by compaction.");
/// Objects deleted after their grace period.
pub static DELETED: Counter = Counter::new("skald_compactor_objects_deleted_total", "Replaced chunk objects deleted after their grace period.");
/// Objects no index knew, deleted.
pub static ORPHANS: Counter = Counter::new("skald_compactor_orphans_deleted_total", "Chunk objects no index knew (from writes that never committed), deleted.");
/// Swaps refused because their inputs changed.
pub static REFUSED: Counter = Counter::new("skald_compactor_swaps_refused_total", "Compactions whose swap was refused because an input left the index.");
/// Duplicate entries dropped while merging.
pub static DUPLICATES: Counter = Counter::new("skald_compactor_duplicates_dropped_total", "Entries identical in stream, timestamp and line to another, dropped while merging.");
/// Files dropped or rewritten by retention.
pub static EXPIRED: Counter = Counter::new("skald_compactor_retention_files_total", "Chunk files dropped or rewritten by retention.");
/// When the last cycle succeeded (Unix seconds; the compaction lag is now minus this).
pub static LAST_SUCCESS: Gauge = Gauge::new("skald_compactor_last_success_timestamp_seconds", "When the last compaction cycle succeeded (Unix seconds).");
/// Cycle duration.
pub static SECONDS: Histogram = Histogram::new("skald_compactor_run_duration_seconds", "Duration of compaction cycles.");

/// Registers the compactor's metrics once per process.
pub fn register() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        for c in [&RUNS, &FAILURES, &FILES_IN, &FILES_OUT, &BYTES_IN, &BYTES_OUT, &DELETED, &REFUSED, &EXPIRED, &ORPHANS, &DUPLICATES] {
            register_counter(c);
        }
        register_gauge(&LAST_SUCCESS);
        register_histogram(&SECONDS);
    });
}
