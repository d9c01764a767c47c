//! What a data directory records about how it was written, checked on every start: the
//! shard count it started with (`raft/shards`) and the Raft log store kind
//! (`raft/log_store`). Either one changed would hide the data written before.

use std::path::Path;

use crate::config::RaftLogStoreKind;
use crate::error::IngestError;

/// Writes `value` to `raft_dir/name` durably (write, fsync, rename).
fn record(raft_dir: &Path, name: &str, value: &str) -> std::io::Result<()> {
    let tmp = raft_dir.join(format!("{name}.tmp"));
    std::fs::write(&tmp, format!("{value}\n"))?;
    std::fs::File::open(&tmp)?.sync_all()?;
    std::fs::rename(&tmp, raft_dir.join(name))
}

/// Records the log store kind in `raft/log_store` on first start and refuses another kind
/// later (the entries are only where they were written). Directories from before the record
/// hold per-group segment logs or sled.
pub(crate) fn check_log_store(raft_dir: &Path, kind: RaftLogStoreKind) -> Result<(), IngestError> {
    let path = raft_dir.join("log_store");
    let stored = match std::fs::read_to_string(&path) {
        Ok(text) => text.trim().to_string(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let earlier = if raft_dir.join("sled").exists() {
                Some(RaftLogStoreKind::Sled)
            } else if raft_dir.join("segments-0").exists() {
                Some(RaftLogStoreKind::Segments)
            } else {
                None
            };
            let recorded = earlier.unwrap_or(kind);
            record(raft_dir, "log_store", recorded.name())?;
            recorded.name().to_string()
        }
        Err(e) => return Err(e.into()),
    };
    if stored != kind.name() {
        return Err(IngestError::Layout(format!(
            "ingester.raft_log_store is {} but the Raft log in {} was written as {stored}; start with ingester.raft_log_store: {stored}",
            kind.name(),
            raft_dir.display()
        )));
    }
    Ok(())
}

/// Records the shard count in `raft/shards` on first start and refuses another count later:
/// streams are placed by it, so changing it would hide stored data.
pub(crate) fn check_layout(raft_dir: &Path, count: u64) -> Result<(), IngestError> {
    std::fs::create_dir_all(raft_dir)?;
    let path = raft_dir.join("shards");
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let stored: u64 = text.trim().parse().map_err(|_| IngestError::Layout(format!("{} is not a shard count: {text:?}", path.display())))?;
            if stored != count {
                return Err(IngestError::Layout(format!(
                    "ingester.shards is {count} but the data in {} was written with {stored} shards; start with ingester.shards: {stored}",
                    raft_dir.display()
                )));
            }
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            // Data written before the count was recorded used one shard.
            let existing = raft_dir.join("segments-0").exists() || raft_dir.join("sled").exists() || raft_dir.join("snapshot-0.bin").exists();
            if existing && count != 1 {
                return Err(IngestError::Layout(format!(
                    "ingester.shards is {count} but the data in {} was written with 1 shard; start with ingester.shards: 1",
                    raft_dir.display()
                )));
            }
            Ok(record(raft_dir, "shards", &count.to_string())?)
        }
        Err(e) => Err(e.into()),
    }
}

