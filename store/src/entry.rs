//! One log entry as it travels through the write path.

use serde::{Deserialize, Serialize};

/// A log entry: timestamp, line and structured metadata, in push order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// Timestamp in nanoseconds since the Unix epoch.
    pub ts: i64,
    /// The log line.
    pub line: String,
    /// Structured metadata as name/value pairs.
    pub metadata: Vec<(String, String)>,
}

impl Entry {
    /// Bytes this entry counts for in size targets and rates: line plus metadata.
    pub fn size(&self) -> usize {
        self.line.len() + self.metadata.iter().map(|(n, v)| n.len() + v.len()).sum::<usize>()
    }
}
