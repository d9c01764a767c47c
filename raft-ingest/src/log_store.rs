//! The Raft log on sled: every proposal is here, fsynced, before a push is acknowledged.
//!
//! This is the only module that touches sled. Keys of the `log-{group}` tree are big-endian
//! log indexes, so sled's ordered iteration is log order; values are postcard-encoded
//! entries. Vote, committed and last-purged ids live in the `meta-{group}` tree. Every
//! append ends with one `flush` (fsync) of the whole database, so entries of concurrent
//! proposals, and of every group on the node, share one fsync.

use std::fmt::Debug;
use std::io;
use std::ops::{Bound, RangeBounds};
use std::path::Path;

use openraft::alias::{EntryOf, LogIdOf, VoteOf};
use openraft::storage::{IOFlushed, LogState, RaftLogReader, RaftLogStorage};
use openraft::OptionalSend;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::command::TypeConfig;

const VOTE: &[u8] = b"vote";
const COMMITTED: &[u8] = b"committed";
const PURGED: &[u8] = b"last_purged";

/// Opens (or creates) the sled database under `dir`.
pub fn open_db(dir: &Path) -> Result<sled::Db, io::Error> {
    sled::Config::new()
        .path(dir)
        .mode(sled::Mode::HighThroughput)
        .cache_capacity(64 * 1024 * 1024)
        .open()
        .map_err(io::Error::other)
}

/// The sled-backed log of one Raft group.
#[derive(Clone)]
pub struct LogStore {
    db: sled::Db,
    log: sled::Tree,
    meta: sled::Tree,
}

fn encode<T: Serialize>(v: &T) -> Result<Vec<u8>, io::Error> {
    postcard::to_stdvec(v).map_err(io::Error::other)
}

fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, io::Error> {
    postcard::from_bytes(bytes).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

impl LogStore {
    /// The log of group `group` inside `db`.
    pub fn open(db: &sled::Db, group: u64) -> Result<LogStore, io::Error> {
        Ok(LogStore {
            db: db.clone(),
            log: db.open_tree(format!("log-{group}")).map_err(io::Error::other)?,
            meta: db.open_tree(format!("meta-{group}")).map_err(io::Error::other)?,
        })
    }

    fn get_meta<T: DeserializeOwned>(&self, key: &[u8]) -> Result<Option<T>, io::Error> {
        match self.meta.get(key).map_err(io::Error::other)? {
            Some(v) => Ok(Some(decode(&v)?)),
            None => Ok(None),
        }
    }

    fn put_meta<T: Serialize>(&self, key: &[u8], v: &T) -> Result<(), io::Error> {
        self.meta.insert(key, encode(v)?).map_err(io::Error::other)?;
        Ok(())
    }

    async fn sync(&self) -> Result<(), io::Error> {
        self.db.flush_async().await.map_err(io::Error::other)?;
        Ok(())
    }

    /// Bytes the sled database occupies on disk.
    pub fn size_on_disk(&self) -> u64 {
        self.db.size_on_disk().unwrap_or(0)
    }
}

fn bound_key(b: Bound<&u64>) -> Bound<[u8; 8]> {
    match b {
        Bound::Included(i) => Bound::Included(i.to_be_bytes()),
        Bound::Excluded(i) => Bound::Excluded(i.to_be_bytes()),
        Bound::Unbounded => Bound::Unbounded,
    }
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<EntryOf<TypeConfig>>, io::Error> {
        let range = (bound_key(range.start_bound()), bound_key(range.end_bound()));
        let mut out = Vec::new();
        for item in self.log.range::<[u8; 8], _>(range) {
            let (_, v) = item.map_err(io::Error::other)?;
            out.push(decode(&v)?);
        }
        Ok(out)
    }

    async fn read_vote(&mut self) -> Result<Option<VoteOf<TypeConfig>>, io::Error> {
        self.get_meta(VOTE)
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = LogStore;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, io::Error> {
        let last_purged: Option<LogIdOf<TypeConfig>> = self.get_meta(PURGED)?;
        let last = match self.log.last().map_err(io::Error::other)? {
            Some((_, v)) => Some(decode::<EntryOf<TypeConfig>>(&v)?.log_id),
            None => last_purged,
        };
        Ok(LogState { last_purged_log_id: last_purged, last_log_id: last })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &VoteOf<TypeConfig>) -> Result<(), io::Error> {
        self.put_meta(VOTE, vote)?;
        self.sync().await
    }

    async fn save_committed(&mut self, committed: Option<LogIdOf<TypeConfig>>) -> Result<(), io::Error> {
        // Made durable by the next append's fsync; losing it only means re-applying from the
        // last snapshot, which is idempotent.
        self.put_meta(COMMITTED, &committed)
    }

    async fn read_committed(&mut self) -> Result<Option<LogIdOf<TypeConfig>>, io::Error> {
        Ok(self.get_meta::<Option<LogIdOf<TypeConfig>>>(COMMITTED)?.flatten())
    }

    async fn append<I>(&mut self, entries: I, callback: IOFlushed<TypeConfig>) -> Result<(), io::Error>
    where
        I: IntoIterator<Item = EntryOf<TypeConfig>> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let mut batch = sled::Batch::default();
        for e in entries {
            batch.insert(&e.log_id.index.to_be_bytes(), encode(&e)?);
        }
        self.log.apply_batch(batch).map_err(io::Error::other)?;
        let res = self.sync().await;
        let reported = res.as_ref().map(|_| ()).map_err(|e| io::Error::new(e.kind(), e.to_string()));
        callback.io_completed(reported);
        res
    }

    async fn truncate_after(&mut self, last_log_id: Option<LogIdOf<TypeConfig>>) -> Result<(), io::Error> {
        let from = last_log_id.map(|l| l.index + 1).unwrap_or(0);
        let mut batch = sled::Batch::default();
        for item in self.log.range(from.to_be_bytes()..) {
            let (k, _) = item.map_err(io::Error::other)?;
            batch.remove(k);
        }
        self.log.apply_batch(batch).map_err(io::Error::other)?;
        self.sync().await
    }

    async fn purge(&mut self, log_id: LogIdOf<TypeConfig>) -> Result<(), io::Error> {
        self.put_meta(PURGED, &log_id)?;
        let mut batch = sled::Batch::default();
        for item in self.log.range(..=log_id.index.to_be_bytes()) {
            let (k, _) = item.map_err(io::Error::other)?;
            batch.remove(k);
        }
        self.log.apply_batch(batch).map_err(io::Error::other)?;
        self.sync().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{TempDir, run_storage_suite, storage_err, suite_state_machine};
    use openraft::StorageError;
    use openraft::testing::log::StoreBuilder;

    struct SledBuilder;

    impl StoreBuilder<TypeConfig, LogStore, crate::state_machine::StateMachine, TempDir> for SledBuilder {
        async fn build(&self) -> Result<(TempDir, LogStore, crate::state_machine::StateMachine), StorageError<TypeConfig>> {
            let dir = crate::testutil::temp_dir("logsuite");
            let db = open_db(&dir).map_err(storage_err)?;
            let log = LogStore::open(&db, 0).map_err(storage_err)?;
            let sm = suite_state_machine(&dir)?;
            Ok((dir, log, sm))
        }
    }

    #[test]
    fn openraft_storage_suite() -> Result<(), StorageError<TypeConfig>> {
        run_storage_suite(SledBuilder)
    }
}
