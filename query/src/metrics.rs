//! Process-wide query metrics, registered once with [`store::metrics`].

use std::sync::Once;

use store::metrics::{Counter, Histogram, register_counter, register_histogram};

/// Query and metadata requests received.
pub static REQUESTS: Counter = Counter::new("skald_query_requests_total", "Query and metadata API requests received.");
/// Requests answered with an error status.
pub static ERRORS: Counter = Counter::new("skald_query_errors_total", "Query and metadata API requests that failed.");
/// Log entries returned by log queries.
pub static ENTRIES: Counter = Counter::new("skald_query_entries_returned_total", "Log entries returned by log queries.");
/// Request latency.
pub static DURATION: Histogram = Histogram::new("skald_query_duration_seconds", "Query and metadata API request latency.");

static REGISTER: Once = Once::new();

/// Registers the metrics above; later calls do nothing.
pub fn register() {
    REGISTER.call_once(|| {
        register_counter(&REQUESTS);
        register_counter(&ERRORS);
        register_counter(&ENTRIES);
        register_histogram(&DURATION);
    });
}
