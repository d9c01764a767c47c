//! One compaction cycle, and the schedule that runs them.
//!
//! A cycle first deletes the objects of files retired longer than the grace period (then
//! has the shard forget them), then merges each planned group and swaps the result in. The
//! merged files are durable before the swap is proposed. When a swap is refused (an input
//! left the index meanwhile) its files are deleted; when it fails otherwise (say the shard
//! lost its leader) they are left alone, because the swap may still have been committed.

use std::sync::Arc;
use std::time::Instant;

use object_store::ObjectStoreExt;
use object_store::path::Path;
use serde::Serialize;
use store::manifest::{IndexedFiles, Manifests, Swap};
use store::object::ChunkStore;
use tokio::sync::watch;

use crate::config::CompactorConfig;
use crate::merge::merge;
use crate::plan::plan;
use crate::{CompactorError, metrics};

/// What one cycle did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// Groups (shard, tenant, day) merged.
    pub groups: usize,
    /// Indexed files before the cycle.
    pub files_before: usize,
    /// Their bytes.
    pub bytes_before: u64,
    /// Indexed files after the cycle.
    pub files_after: usize,
    /// Their bytes.
    pub bytes_after: u64,
    /// Swaps refused because an input had left the index.
    pub refused: usize,
    /// Objects of retired files deleted after their grace period.
    pub objects_deleted: usize,
}

/// The compactor of this node: merges the files of the shards it leads.
pub struct Compactor {
    manifests: Arc<dyn Manifests>,
    chunks: ChunkStore,
    config: CompactorConfig,
    /// One cycle at a time.
    running: tokio::sync::Mutex<()>,
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

impl Compactor {
    /// A compactor over `manifests` whose files live in `chunks`.
    pub fn new(manifests: Arc<dyn Manifests>, chunks: ChunkStore, config: CompactorConfig) -> Arc<Compactor> {
        metrics::register();
        Arc::new(Compactor { manifests, chunks, config, running: tokio::sync::Mutex::new(()) })
    }

    /// Runs one cycle now (after any cycle already running) and answers what it did.
    pub async fn run_once(&self) -> Result<Summary, CompactorError> {
        let _one = self.running.lock().await;
        let started = Instant::now();
        let result = self.cycle().await;
        metrics::SECONDS.observe(started.elapsed().as_secs_f64());
        match &result {
            Ok(s) => {
                metrics::RUNS.inc();
                tracing::info!(?s, "compaction cycle done");
            }
            Err(e) => {
                metrics::FAILURES.inc();
                tracing::warn!("compaction cycle failed: {e}");
            }
        }
        result
    }

    /// Runs a cycle every `compaction_interval` until `stop` (none when it is zero).
    pub fn spawn_schedule(self: &Arc<Self>, mut stop: watch::Receiver<bool>) {
        let every = self.config.compaction_interval.0;
        if every.is_zero() {
            return;
        }
        let me = Arc::clone(self);
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(every) => {}
                    _ = stop.changed() => return,
                }
                let _ = me.run_once().await;
            }
        });
    }

    async fn cycle(&self) -> Result<Summary, CompactorError> {
        let now = now_ms();
        let indexed = self.manifests.indexed().await?;
        let mut s = Summary {
            files_before: indexed.iter().map(|g| g.files.len()).sum(),
            bytes_before: indexed.iter().flat_map(|g| &g.files).map(|f| f.size).sum(),
            ..Summary::default()
        };
        (s.files_after, s.bytes_after) = (s.files_before, s.bytes_before);
        s.objects_deleted = self.delete_expired(&indexed, now).await?;
        let target = self.config.target_file_size.0;
        for job in plan(&indexed, target) {
            let name = |k: usize| format!("{}/chunks/{}/{:04}-c{now:013}-{k:03}.parquet", job.tenant, job.day, job.shard);
            let added = merge(&self.chunks, &job.files, target, name).await?;
            let (bytes_in, bytes_out) = (job.files.iter().map(|f| f.size).sum::<u64>(), added.iter().map(|f| f.size).sum::<u64>());
            let (files_in, files_out) = (job.files.len(), added.len());
            let swap = Swap {
                shard: job.shard,
                tenant: job.tenant.clone(),
                remove: job.files.iter().map(|f| f.path.clone()).collect(),
                add: added.clone(),
                at_ms: now,
            };
            if self.manifests.swap(swap).await? {
                s.groups += 1;
                s.files_after = s.files_after - files_in + files_out;
                s.bytes_after = s.bytes_after - bytes_in + bytes_out;
                metrics::FILES_IN.add(files_in as u64);
                metrics::FILES_OUT.add(files_out as u64);
                metrics::BYTES_IN.add(bytes_in);
                metrics::BYTES_OUT.add(bytes_out);
            } else {
                s.refused += 1;
                metrics::REFUSED.inc();
                for f in &added {
                    self.delete(&f.path).await?;
                }
            }
        }
        Ok(s)
    }

    /// Deletes the objects of files retired before `now` minus the grace period and has
    /// their shards forget them; answers how many.
    async fn delete_expired(&self, indexed: &[IndexedFiles], now: i64) -> Result<usize, CompactorError> {
        let grace = i64::try_from(self.config.retention_delete_delay.0.as_millis()).unwrap_or(i64::MAX);
        let mut deleted = 0;
        for g in indexed {
            let due: Vec<String> = g.retired.iter().filter(|r| r.at_ms.saturating_add(grace) <= now).map(|r| r.path.clone()).collect();
            if due.is_empty() {
                continue;
            }
            for path in &due {
                self.delete(path).await?;
            }
            deleted += due.len();
            metrics::DELETED.add(due.len() as u64);
            self.manifests.forget(g.shard, &g.tenant, due).await?;
        }
        Ok(deleted)
    }

    /// Deletes a chunk file and its skip filters; objects already gone are fine.
    async fn delete(&self, path: &str) -> Result<(), CompactorError> {
        for object in [path.to_string(), store::skip::filter_path(path)] {
            match self.chunks.store.delete(&Path::from(object)).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }
}

