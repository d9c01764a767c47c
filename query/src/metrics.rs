//! Process-wide query metrics, registered once with [`store::metrics`].

use std::sync::Once;

use store::metrics::{Counter, Histogram, register_counter, register_histogram};

/// Query and metadata requests received.
pub static REQUESTS: Counter = Counter::new("skald_query_requests_total", "Query and metadata API requests received.");
/// Requests answered with an error status.
pub static ERRORS: Counter = Counter::new("skald_query_errors_total", "Query and metadata API requests that failed.");
/// Log entries returned by log queries.
pub static ENTRIES: Counter = Counter::new("skald_query_entries_returned_total", "Log entries returned by log queries.");
/// Row groups of chunk files skipped by skip filters.
pub static ROW_GROUPS_SKIPPED: Counter = Counter::new("skald_query_row_groups_skipped_total", "Row groups of chunk files that skip filters proved cannot match.");
/// Row groups of files with skip filters that had to be read.
pub static ROW_GROUPS_SCANNED: Counter = Counter::new("skald_query_row_groups_filtered_scanned_total", "Row groups of chunk files with skip filters that a query still read.");
/// Row groups of chunk files the index ruled out by stream and time.
pub static ROW_GROUPS_PRUNED_BY_INDEX: Counter = Counter::new("skald_query_row_groups_pruned_by_index_total", "Row groups of compacted chunk files the index ruled out by stream and time.");
/// Skip filters that could not be read.
pub static SKIP_FILTER_ERRORS: Counter = Counter::new("skald_query_skip_filter_errors_total", "Chunk files whose skip filters could not be read (scanned whole).");
/// Request latency.
pub static DURATION: Histogram = Histogram::new("skald_query_duration_seconds", "Query and metadata API request latency.");

static REGISTER: Once = Once::new();

/// Registers the metrics above; later calls do nothing.
pub fn register() {
    REGISTER.call_once(|| {
        register_counter(&REQUESTS);
        register_counter(&ERRORS);
        register_counter(&ENTRIES);
        register_counter(&ROW_GROUPS_SKIPPED);
        register_counter(&ROW_GROUPS_SCANNED);
        register_counter(&SKIP_FILTER_ERRORS);
        register_counter(&ROW_GROUPS_PRUNED_BY_INDEX);
        register_histogram(&DURATION);
    });
}
