//! One group's view of the node's shared log ([`NodeLog`]): openraft's log storage for the
//! group, reading and writing only its own records.

use std::fmt::Debug;
use std::io;
use std::ops::{Bound, RangeBounds};

use openraft::OptionalSend;
use openraft::alias::{EntryOf, LogIdOf, VoteOf};
use openraft::storage::{IOFlushed, LogState, RaftLogReader, RaftLogStorage};

use crate::command::TypeConfig;
use crate::node_log::{NodeLog, Record, Waiter, poisoned};

/// The log of one group inside the node's shared log.
#[derive(Clone)]
pub struct GroupLog {
    log: NodeLog,
    group: u64,
}

impl GroupLog {
    /// `group`'s view of `log`.
    pub fn new(log: NodeLog, group: u64) -> GroupLog {
        GroupLog { log, group }
    }

    /// Writes `records` and returns once they are durable.
    async fn write_durably(&self, records: Vec<Record>) -> io::Result<()> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let log = self.log.clone();
        tokio::task::spawn_blocking(move || log.write_durable(&records, Waiter::Notify(tx))).await.map_err(io::Error::other)??;
        rx.await.map_err(|_| io::Error::other("the log dropped a durability wait"))?
    }

    /// Forgets the group (it left this node), so its entries stop holding segments.
    pub async fn drop_group(&self) -> io::Result<()> {
        self.write_durably(vec![Record::Drop(self.group)]).await?;
        self.log.collect()
    }
}

impl RaftLogReader<TypeConfig> for GroupLog {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<EntryOf<TypeConfig>>, io::Error> {
        let locs: Vec<_> = {
            let groups = self.log.groups.lock().map_err(poisoned)?;
            let Some(g) = groups.get(&self.group) else { return Ok(Vec::new()) };
            let start = match range.start_bound() {
                Bound::Included(i) => Bound::Included(*i),
                Bound::Excluded(i) => Bound::Excluded(*i),
                Bound::Unbounded => Bound::Unbounded,
            };
            let end = match range.end_bound() {
                Bound::Included(i) => Bound::Included(*i),
                Bound::Excluded(i) => Bound::Excluded(*i),
                Bound::Unbounded => Bound::Unbounded,
            };
            g.entries.range((start, end)).map(|(_, l)| l.clone()).collect()
        };
        self.log.read(locs)
    }

    async fn read_vote(&mut self) -> Result<Option<VoteOf<TypeConfig>>, io::Error> {
        Ok(self.log.groups.lock().map_err(poisoned)?.get(&self.group).and_then(|g| g.vote))
    }
}

impl RaftLogStorage<TypeConfig> for GroupLog {
    type LogReader = GroupLog;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, io::Error> {
        let groups = self.log.groups.lock().map_err(poisoned)?;
        let Some(g) = groups.get(&self.group) else { return Ok(LogState { last_purged_log_id: None, last_log_id: None }) };
        let last = g.entries.values().next_back().map(|l| l.log_id).or(g.purged);
        Ok(LogState { last_purged_log_id: g.purged, last_log_id: last })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &VoteOf<TypeConfig>) -> Result<(), io::Error> {
        self.write_durably(vec![Record::Vote(self.group, *vote)]).await
    }

    async fn save_committed(&mut self, committed: Option<LogIdOf<TypeConfig>>) -> Result<(), io::Error> {
        self.log.set_committed(self.group, committed)
    }

    async fn read_committed(&mut self) -> Result<Option<LogIdOf<TypeConfig>>, io::Error> {
        Ok(self.log.groups.lock().map_err(poisoned)?.get(&self.group).and_then(|g| g.committed))
    }

    async fn append<I>(&mut self, entries: I, callback: IOFlushed<TypeConfig>) -> Result<(), io::Error>
    where
        I: IntoIterator<Item = EntryOf<TypeConfig>> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let records: Vec<Record> = entries.into_iter().map(|e| Record::Entry(self.group, e)).collect();
        crate::metrics::LOG_APPENDS.inc();
        let log = self.log.clone();
        // Returns once written; openraft hears of durability through the callback.
        tokio::task::spawn_blocking(move || log.write_durable(&records, Waiter::Flushed(callback))).await.map_err(io::Error::other)?
    }

    async fn truncate_after(&mut self, last_log_id: Option<LogIdOf<TypeConfig>>) -> Result<(), io::Error> {
        let from = last_log_id.map(|l| l.index + 1).unwrap_or(0);
        self.write_durably(vec![Record::Truncate(self.group, from)]).await
    }

    async fn purge(&mut self, log_id: LogIdOf<TypeConfig>) -> Result<(), io::Error> {
        // The purge point is durable before any segment it frees is deleted.
        self.write_durably(vec![Record::Purge(self.group, log_id)]).await?;
        let log = self.log.clone();
        tokio::task::spawn_blocking(move || log.collect()).await.map_err(io::Error::other)?
    }
}

#[cfg(test)]
mod tests {

    use openraft::StorageError;
    use openraft::testing::log::StoreBuilder;
    use openraft::testing::{blank_ent, log_id};

    use super::*;
    use crate::node_log::SEGMENT_BYTES;
    use crate::testutil::{TempDir, run_storage_suite, storage_err as se, suite_state_machine};

    /// Every suite store is group 7 of a log that group 3 also writes to.
    struct SharedBuilder;

    impl StoreBuilder<TypeConfig, GroupLog, crate::state_machine::StateMachine, TempDir> for SharedBuilder {
        async fn build(&self) -> Result<(TempDir, GroupLog, crate::state_machine::StateMachine), StorageError<TypeConfig>> {
            let dir = crate::testutil::temp_dir("nodelog-suite");
            let log = NodeLog::open(&dir.join("log")).map_err(se)?;
            let mut other = GroupLog::new(log.clone(), 3);
            other.save_vote(&openraft::Vote::new(5, 1)).await.map_err(se)?;
            let sm = suite_state_machine(&dir.join("sm"))?;
            Ok((dir, GroupLog::new(log, 7), sm))
        }
    }

    #[test]
    fn openraft_storage_suite() -> Result<(), StorageError<TypeConfig>> {
        run_storage_suite(SharedBuilder)
    }

    fn entries(group_term: u64, from: u64, to: u64) -> Vec<EntryOf<TypeConfig>> {
        (from..=to).map(|i| blank_ent::<TypeConfig>(group_term, 1, i)).collect()
    }

    async fn append(g: &mut GroupLog, e: Vec<EntryOf<TypeConfig>>) {
        use openraft::type_config::TypeConfigExt;
        let (tx, rx) = TypeConfig::oneshot();
        let cb = IOFlushed::<TypeConfig>::signal(tx);
        g.append(e, cb).await.expect("append");
        rx.await.expect("flushed").expect("durable");
    }

    #[tokio::test]
    async fn groups_interleave_replay_and_free_segments() {
        let dir = crate::testutil::temp_dir("nodelog");
        let log = NodeLog::open(&dir).expect("open");
        let (mut a, mut b) = (GroupLog::new(log.clone(), 1), GroupLog::new(log.clone(), 2));
        append(&mut a, entries(1, 1, 3)).await;
        append(&mut b, entries(2, 1, 2)).await;
        append(&mut a, entries(1, 4, 5)).await;
        b.truncate_after(Some(log_id::<TypeConfig>(2, 1, 1))).await.expect("truncate");
        append(&mut b, entries(3, 2, 2)).await;
        a.save_vote(&openraft::Vote::new(4, 1)).await.expect("vote");
        a.purge(log_id::<TypeConfig>(1, 1, 2)).await.expect("purge");
        drop((a, b, log));
        // A crash mid-append leaves half a record at the end.
        let last = std::fs::read_dir(&dir).expect("dir").filter_map(Result::ok).map(|e| e.path()).max().expect("a segment");
        let mut f = std::fs::OpenOptions::new().append(true).open(&last).expect("open segment");
        std::io::Write::write_all(&mut f, &[40, 0, 0, 0, 1, 2, 3]).expect("torn write");
        drop(f);

        let log = NodeLog::open(&dir).expect("reopen");
        let (mut a, mut b) = (GroupLog::new(log.clone(), 1), GroupLog::new(log.clone(), 2));
        let sa = a.get_log_state().await.expect("state");
        assert_eq!((sa.last_purged_log_id.map(|l| l.index), sa.last_log_id.map(|l| l.index)), (Some(2), Some(5)));
        assert_eq!(a.try_get_log_entries(0..).await.expect("read").iter().map(|e| e.log_id.index).collect::<Vec<_>>(), vec![3, 4, 5]);
        assert_eq!(a.read_vote().await.expect("vote"), Some(openraft::Vote::new(4, 1)));
        let eb = b.try_get_log_entries(..).await.expect("read");
        assert_eq!(eb.iter().map(|e| (e.log_id.leader_id.term, e.log_id.index)).collect::<Vec<_>>(), vec![(2, 1), (3, 2)], "the truncated entry stays gone");

        // Fill past a segment; once both groups purge, the old segments go.
        let big = |i: u64| {
            let mut e = blank_ent::<TypeConfig>(3, 1, i);
            e.payload = openraft::EntryPayload::Normal(crate::command::Command::Push(vec![crate::command::TenantPush {
                tenant: "x".repeat(1024 * 1024),
                streams: Vec::new(),
            }]));
            e
        };
        for i in 6..6 + SEGMENT_BYTES / (1024 * 1024) + 2 {
            append(&mut a, vec![big(i)]).await;
        }
        assert!(log.size_on_disk().0 >= 2, "rolled to a new segment");
        assert_eq!(log.pinning_groups(1), vec![1, 2], "both groups hold the first segment");
        let last_a = a.get_log_state().await.expect("state").last_log_id.expect("last");
        a.purge(last_a).await.expect("purge a");
        assert_eq!(log.pinning_groups(1), vec![2], "only the idle group holds it now");
        b.drop_group().await.expect("drop b");
        let (segments, bytes) = log.size_on_disk();
        assert_eq!(segments, 1, "every old segment is deleted");
        assert!(bytes < crate::node_log::IDLE_ROLL_BYTES, "with nothing live, the active segment of dead entries is replaced too ({bytes} bytes)");
        drop((a, b, log));
        let log = NodeLog::open(&dir).expect("reopen after purge");
        let mut a = GroupLog::new(log.clone(), 1);
        assert_eq!(a.get_log_state().await.expect("state").last_log_id, Some(last_a));
        assert_eq!(a.read_vote().await.expect("vote"), Some(openraft::Vote::new(4, 1)), "the vote survives in the new segment's header");
        assert_eq!(GroupLog::new(log, 2).get_log_state().await.expect("state").last_log_id, None, "a dropped group is forgotten");
    }

    /// Runs again in a child process inside its own user and mount namespaces (`unshare`),
    /// where it mounts a small tmpfs for the log and fills it.
    #[test]
    fn a_full_disk_stalls_appends_until_space_returns() {
        const NAME: &str = "group_log::tests::a_full_disk_stalls_appends_until_space_returns";
        if std::env::var_os("SKALD_DISK_FULL_CHILD").is_none() {
            let exe = std::env::current_exe().expect("test binary");
            let out = std::process::Command::new("unshare")
                .args(["--user", "--map-root-user", "--mount"])
                .arg(exe)
                .args([NAME, "--exact", "--nocapture"])
                .env("SKALD_DISK_FULL_CHILD", "1")
                .output()
                .expect("running unshare");
            let text = String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
            assert!(out.status.success() && text.contains("disk-full checked"), "{text}");
            return;
        }
        let dir = crate::testutil::temp_dir("diskfull");
        let mounted = std::process::Command::new("mount").args(["-t", "tmpfs", "-o", "size=4m", "skald-test"]).arg(&*dir).status().expect("mount");
        assert!(mounted.success(), "mounting a tmpfs");
        let rt = tokio::runtime::Runtime::new().expect("runtime");
        rt.block_on(async {
            let log = NodeLog::open(&dir.join("log")).expect("open");
            let mut g = GroupLog::new(log.clone(), 1);
            append(&mut g, entries(1, 1, 3)).await;
            let ballast = dir.join("ballast");
            let mut f = std::fs::File::create(&ballast).expect("ballast");
            let full = loop {
                if let Err(e) = std::io::Write::write_all(&mut f, &[0u8; 4096]) {
                    break e;
                }
            };
            assert_eq!(full.kind(), std::io::ErrorKind::StorageFull, "{full}");
            // Larger than a page, so it cannot fit in the segment's last page.
            let mut e = blank_ent::<TypeConfig>(1, 1, 4);
            e.payload = openraft::EntryPayload::Normal(crate::command::Command::Push(vec![crate::command::TenantPush {
                tenant: "x".repeat(64 * 1024),
                streams: Vec::new(),
            }]));
            let mut g2 = g.clone();
            let stalled = tokio::spawn(async move { append(&mut g2, vec![e]).await });
            tokio::time::sleep(std::time::Duration::from_millis(800)).await;
            assert!(!stalled.is_finished(), "an append waits while the disk is full");
            drop(f);
            std::fs::remove_file(&ballast).expect("free the space");
            tokio::time::timeout(std::time::Duration::from_secs(10), stalled).await.expect("the append goes on").expect("task");
            drop((g, log));
            let mut g = GroupLog::new(NodeLog::open(&dir.join("log")).expect("reopen"), 1);
            let got: Vec<u64> = g.try_get_log_entries(..).await.expect("read").iter().map(|e| e.log_id.index).collect();
            assert_eq!(got, vec![1, 2, 3, 4], "every append is in the log once, nothing damaged");
        });
        drop(rt);
        // Unmounted, the directory can be removed when `dir` drops.
        let _ = std::process::Command::new("umount").arg(&*dir).status();
        println!("disk-full checked");
    }
}
