//! The recorded history of a run: every push and read the clients made, with their times and
//! outcomes, and every fault the nemesis injected. Written as JSON lines.

use std::collections::HashSet;
use std::io::Write;
use std::path::Path;
use std::sync::{Arc, LazyLock, Mutex};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A tenant name, one shared copy per name: reads hold millions of entries, each naming its
/// tenant.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Tenant(Arc<str>);

impl Tenant {
    /// The shared copy of `name`.
    pub fn new(name: &str) -> Tenant {
        static NAMES: LazyLock<Mutex<HashSet<Arc<str>>>> = LazyLock::new(Mutex::default);
        let mut names = NAMES.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        match names.get(name) {
            Some(n) => Tenant(Arc::clone(n)),
            None => {
                let n: Arc<str> = Arc::from(name);
                names.insert(Arc::clone(&n));
                Tenant(n)
            }
        }
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl From<&str> for Tenant {
    fn from(name: &str) -> Tenant {
        Tenant::new(name)
    }
}

impl Serialize for Tenant {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Tenant {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Tenant, D::Error> {
        Ok(Tenant::new(&String::deserialize(d)?))
    }
}

/// How an operation ended, as the client saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Acknowledged (a push answered 204, a read answered 200).
    Ok,
    /// Certainly not applied (the connection was refused before the request was sent).
    Fail,
    /// May or may not have been applied (timeout, 5xx, connection lost mid-request).
    Unknown,
}

/// One entry as a read returned it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Seen {
    /// The entry's id (from its line).
    pub id: u64,
    /// Its timestamp in the result.
    pub ts: i64,
    /// The tenant its line names.
    pub tenant: Tenant,
    /// The stream its line names.
    pub stream: u32,
}

/// One operation or fault, times in nanoseconds since the run started.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Op {
    /// A push of entries `(id, ts)` to one stream of one tenant.
    Push {
        /// Client number.
        process: u32,
        /// Node the request went to.
        node: usize,
        /// Tenant.
        tenant: String,
        /// Stream number.
        stream: u32,
        /// Entries `(id, timestamp)`.
        entries: Vec<(u64, i64)>,
        /// When the request was sent.
        start: u64,
        /// When the answer (or the failure) came.
        end: u64,
        /// What the client saw.
        outcome: Outcome,
    },
    /// A read of one whole stream of one tenant.
    Read {
        /// Client number.
        process: u32,
        /// Node the request went to.
        node: usize,
        /// Tenant.
        tenant: String,
        /// Stream number.
        stream: u32,
        /// When the first request was sent.
        start: u64,
        /// When the last answer came.
        end: u64,
        /// What the client saw.
        outcome: Outcome,
        /// Whether this is the final read after healing.
        #[serde(default)]
        last: bool,
        /// Entries returned, in result order.
        seen: Vec<Seen>,
    },
    /// A fault the nemesis injected, from `start` until it healed at `end`.
    Fault {
        /// The kind, e.g. `kill`, `pause`, `partition`.
        kind: String,
        /// What it hit, e.g. `node 2`.
        target: String,
        /// Injected at.
        start: u64,
        /// Healed at.
        end: u64,
    },
}

/// Writes `ops` to `path`, one JSON object per line.
pub fn write(path: &Path, ops: &[Op]) -> std::io::Result<()> {
    let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
    for op in ops {
        serde_json::to_writer(&mut out, op)?;
        out.write_all(b"\n")?;
    }
    out.flush()
}

/// Reads a history written by [`write()`].
pub fn read(path: &Path) -> std::io::Result<Vec<Op>> {
    let text = std::fs::read_to_string(path)?;
    text.lines().filter(|l| !l.trim().is_empty()).map(|l| serde_json::from_str(l).map_err(std::io::Error::other)).collect()
}

/// The log line of entry `id` of `tenant`'s `stream`: the checker reads all three back.
pub fn line(id: u64, tenant: &str, stream: u32) -> String {
    format!("id={id} tenant={tenant} stream={stream}")
}

/// Parses a line made by [`line()`].
pub fn parse_line(line: &str, ts: i64) -> Option<Seen> {
    let mut id = None;
    let mut tenant = None;
    let mut stream = None;
    for part in line.split(' ') {
        match part.split_once('=') {
            Some(("id", v)) => id = v.parse().ok(),
            Some(("tenant", v)) => tenant = Some(Tenant::new(v)),
            Some(("stream", v)) => stream = v.parse().ok(),
            _ => {}
        }
    }
    Some(Seen { id: id?, ts, tenant: tenant?, stream: stream? })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_and_history_round_trip() {
        let seen = parse_line(&line(42, "t1", 7), 9).expect("parse");
        assert_eq!(seen, Seen { id: 42, ts: 9, tenant: "t1".into(), stream: 7 });
        assert!(parse_line("garbage", 1).is_none());
        let ops = vec![
            Op::Push { process: 1, node: 0, tenant: "t".into(), stream: 2, entries: vec![(1, 10)], start: 1, end: 2, outcome: Outcome::Unknown },
            Op::Read { process: 2, node: 1, tenant: "t".into(), stream: 2, start: 3, end: 4, outcome: Outcome::Ok, last: true, seen: vec![seen] },
            Op::Fault { kind: "kill".into(), target: "node 1".into(), start: 5, end: 6 },
        ];
        let dir = std::env::temp_dir().join(format!("skald-jepsen-history-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("history.jsonl");
        write(&path, &ops).expect("write");
        let back = read(&path).expect("read");
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!(back, ops);
    }
}
