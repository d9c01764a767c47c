//! One compaction cycle, and the schedule that runs them.
//!
//! A cycle first deletes the objects of files retired longer than the grace period (then
//! has the shard forget them), then merges each planned group and swaps the result in. The
//! merged files are durable before the swap is proposed. When a swap is refused (an input
//! left the index meanwhile) its files are deleted; when it fails otherwise (say the shard
//! lost its leader) they are left alone, because the swap may still have been committed.

use std::collections::{BTreeSet, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use futures::StreamExt;
use std::time::{Duration, Instant};

/// Objects unknown to the index are deleted only once at least this old, so no write that
/// is still on its way to being committed can lose its file.
pub const ORPHAN_AGE: Duration = Duration::from_secs(3600);

use object_store::ObjectStoreExt;
use object_store::path::Path;
use serde::Serialize;
use store::deletes::{DeleteMatcher, DeleteRequest};
use store::index::{CompactedFile, FileMeta};
use store::limits::DeletionMode;
use store::manifest::{IndexedFiles, Manifests, Swap};
use store::object::ChunkStore;
use tokio::sync::watch;

use crate::config::CompactorConfig;
use crate::merge::{RowFilter, merge, streams_in};
use crate::plan::{day_of, plan};
use crate::retention::{RetentionPolicy, Verdict};
use crate::status::History;

/// What the compactor enforces besides merging.
pub struct Rules {
    /// Retention per tenant and stream (replaced while running when overrides change).
    pub retention: Arc<std::sync::RwLock<RetentionPolicy>>,
    /// Evaluates delete requests on chunk rows.
    pub deletes: Arc<dyn DeleteMatcher>,
    /// Whether delete requests are carried out in chunk files.
    pub deletion_mode: DeletionMode,
}
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
    /// Files dropped whole by retention.
    pub expired_files: usize,
    /// Files rewritten without the streams retention expired.
    pub trimmed_files: usize,
    /// Files rewritten without the lines of delete requests.
    pub delete_rewrites: usize,
    /// Delete requests done in every chunk file.
    pub deletes_processed: usize,
    /// Objects of retired files deleted after their grace period.
    pub objects_deleted: usize,
    /// Objects no index knows (left by writes whose swap or flush never committed) deleted.
    pub orphans_deleted: usize,
}

/// The compactor of this node: merges the files of the shards it leads.
pub struct Compactor {
    manifests: Arc<dyn Manifests>,
    chunks: ChunkStore,
    config: CompactorConfig,
    rules: Rules,
    /// One cycle at a time.
    running: tokio::sync::Mutex<()>,
    /// What the last cycles and lease answers were, for the status.
    pub(crate) history: std::sync::Mutex<History>,
    /// Set once the process stops: no new cycle starts, a running one ends after its group.
    stopping: AtomicBool,
    /// The task renewing the lease ([`Compactor::spawn_lease`]).
    lease_task: std::sync::Mutex<Option<tokio::task::JoinHandle<()>>>,
    /// Wakes the lease task when stopping.
    wake: tokio::sync::Notify,
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// Takes the next output number of a cycle.
fn next(outputs: &mut usize) -> usize {
    *outputs += 1;
    *outputs
}

/// The path of output `k` of a cycle's `seq`-th rewrite, at `now` (ms): unique, and marked
/// `-c` as a compacted file with skip filters.
fn output_name(tenant: &str, day: &str, shard: u64, now: i64, seq: usize, k: usize) -> String {
    format!("{tenant}/chunks/{day}/{shard:04}-c{now:013}-{seq:04}-{k:03}.parquet")
}

impl Compactor {
    /// A compactor over `manifests` whose files live in `chunks`, applying `rules`.
    pub fn new(manifests: Arc<dyn Manifests>, chunks: ChunkStore, config: CompactorConfig, rules: Rules) -> Arc<Compactor> {
        metrics::register();
        Arc::new(Compactor {
            manifests,
            chunks,
            config,
            rules,
            running: tokio::sync::Mutex::new(()),
            history: std::sync::Mutex::default(),
            stopping: AtomicBool::new(false),
            lease_task: std::sync::Mutex::new(None),
            wake: tokio::sync::Notify::new(),
        })
    }

    /// Runs one cycle now (after any cycle already running) and answers what it did; only
    /// the holder of the cluster's compactor lease runs one ([`CompactorError::NotHolder`]).
    pub async fn run_once(&self) -> Result<Summary, CompactorError> {
        let _one = self.running.lock().await;
        if self.stopping() {
            return Err(CompactorError::Stopping);
        }
        let (holder, mine) = self.take_lease().await?;
        if !mine {
            return Err(CompactorError::NotHolder(holder));
        }
        let (started, started_ms) = (Instant::now(), now_ms());
        let result = self.cycle().await;
        let seconds = started.elapsed().as_secs_f64();
        metrics::SECONDS.observe(seconds);
        match &result {
            Ok(s) => {
                metrics::RUNS.inc();
                metrics::LAST_SUCCESS.set(now_ms() / 1000);
                tracing::info!(?s, "compaction cycle done");
            }
            Err(e) => {
                metrics::FAILURES.inc();
                tracing::warn!("compaction cycle failed: {e}");
            }
        }
        let outcome = result.as_ref().map(Clone::clone).map_err(ToString::to_string);
        self.record(|h| h.finished(started_ms, seconds, outcome));
        result
    }

    /// Takes or renews the cluster's compactor lease for `compactor.lease_duration`;
    /// answers the holder and whether it is this node.
    async fn take_lease(&self) -> Result<(u64, bool), CompactorError> {
        let ttl = i64::try_from(self.config.lease_duration.0.as_millis()).unwrap_or(i64::MAX);
        let (holder, mine) = self.manifests.compactor_lease(now_ms(), ttl).await?;
        self.record(|h| (h.lease_holder, h.holds_lease) = (Some(holder), mine));
        Ok((holder, mine))
    }

    fn stopping(&self) -> bool {
        self.stopping.load(Ordering::Relaxed)
    }

    /// Renews the lease, or tries to take it, every quarter of `compactor.lease_duration`
    /// until [`Compactor::stop`], so the holder keeps it through long cycles and another
    /// compactor takes over soon after the holder stops.
    pub fn spawn_lease(self: &Arc<Self>) {
        let every = (self.config.lease_duration.0 / 4).max(Duration::from_millis(100));
        let me = Arc::clone(self);
        let task = tokio::spawn(async move {
            while !me.stopping() {
                if let Err(e) = me.take_lease().await {
                    tracing::debug!("compactor lease: {e}");
                }
                tokio::select! {
                    _ = tokio::time::sleep(every) => {}
                    _ = me.wake.notified() => {}
                }
            }
        });
        if let Ok(mut slot) = self.lease_task.lock() {
            *slot = Some(task);
        }
    }

    /// Stops compacting on shutdown: no new cycle starts, a running one ends after the
    /// group it merges, the lease stops being renewed, and then, if this node holds the
    /// lease, it is given up so another compactor can take it at once. Each wait is bounded.
    pub async fn stop(&self) {
        self.stopping.store(true, Ordering::Relaxed);
        self.wake.notify_one();
        let task = self.lease_task.lock().ok().and_then(|mut t| t.take());
        if let Some(task) = task {
            // The renewal in flight finishes first, so it cannot land after the release.
            let _ = tokio::time::timeout(Duration::from_secs(15), task).await;
        }
        let Ok(_idle) = tokio::time::timeout(Duration::from_secs(60), self.running.lock()).await else {
            tracing::warn!("a compaction cycle still runs; leaving the lease to expire");
            return;
        };
        let holds = self.history.lock().map(|h| h.holds_lease).unwrap_or(false);
        if holds {
            let release = self.manifests.compactor_lease(now_ms(), 0);
            if let Ok(Err(e)) = tokio::time::timeout(Duration::from_secs(2), release).await {
                tracing::debug!("releasing the compactor lease: {e}");
            }
        }
    }

    fn record(&self, f: impl FnOnce(&mut History)) {
        f(&mut self.history.lock().unwrap_or_else(std::sync::PoisonError::into_inner));
    }

    /// This compactor's settings.
    pub fn config(&self) -> &CompactorConfig {
        &self.config
    }

    /// Every tenant's files in every shard, as the shards' leaders index them now.
    pub async fn indexed(&self) -> Result<Vec<IndexedFiles>, CompactorError> {
        Ok(self.manifests.indexed().await?)
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
                if let Err(CompactorError::NotHolder(holder)) = me.run_once().await {
                    tracing::debug!("node {holder} holds the compactor lease; not compacting here");
                }
            }
        });
    }

    async fn cycle(&self) -> Result<Summary, CompactorError> {
        let now = now_ms();
        let mut indexed = self.manifests.indexed().await?;
        let mut s = Summary {
            files_before: indexed.iter().map(|g| g.files.len()).sum(),
            bytes_before: indexed.iter().flat_map(|g| &g.files).map(|f| f.size).sum(),
            ..Summary::default()
        };
        (s.files_after, s.bytes_after) = (s.files_before, s.bytes_before);
        s.objects_deleted = self.delete_expired(&indexed, now).await?;
        s.orphans_deleted = self.delete_orphans(&indexed, now).await?;
        let mut outputs = 0usize;
        if self.config.retention_enabled && self.apply_retention(&indexed, now, &mut outputs, &mut s).await? {
            indexed = self.manifests.indexed().await?;
        }
        if self.config.retention_enabled && self.rules.deletion_mode == DeletionMode::FilterAndDelete {
            indexed = self.apply_deletes(indexed, now, &mut outputs, &mut s).await?;
        }
        let target = self.config.target_file_size.0;
        for job in plan(&indexed, target) {
            if self.stopping() {
                break;
            }
            let seq = next(&mut outputs);
            let name = |k: usize| output_name(&job.tenant, &job.day, job.shard, now, seq, k);
            let added = merge(&self.chunks, &job.files, target, None, name).await?;
            if self.swap_in(job.shard, &job.tenant, &job.files, added, now, &mut s).await? {
                s.groups += 1;
            }
        }
        Ok(s)
    }

    /// Drops or trims the files retention expired; answers whether any changed.
    async fn apply_retention(&self, indexed: &[IndexedFiles], now: i64, outputs: &mut usize, s: &mut Summary) -> Result<bool, CompactorError> {
        let now_ns = now.saturating_mul(1_000_000);
        let mut changed = false;
        let policy = self.rules.retention.read().map(|p| p.clone()).unwrap_or_default();
        for g in indexed {
            let retention = policy.for_tenant(&g.tenant);
            if retention.keeps_forever() {
                continue;
            }
            for f in &g.files {
                let added = match retention.verdict(f, &g.labels, now_ns) {
                    Verdict::Keep => continue,
                    Verdict::Drop => Vec::new(),
                    Verdict::Trim(keep) => self.rewrite(g, f, &|b| streams_in(&keep, b), now, outputs).await?,
                };
                let trimmed = !added.is_empty();
                if self.swap_in(g.shard, &g.tenant, std::slice::from_ref(f), added, now, s).await? {
                    changed = true;
                    if trimmed {
                        s.trimmed_files += 1;
                    } else {
                        s.expired_files += 1;
                    }
                    metrics::EXPIRED.inc();
                }
            }
        }
        Ok(changed)
    }

    /// Removes the lines of every delete request past its cancel period from the chunk
    /// files; a request counts as processed once every file it touches is rewritten.
    /// Answers the index as it is afterwards.
    async fn apply_deletes(&self, mut indexed: Vec<IndexedFiles>, now: i64, outputs: &mut usize, s: &mut Summary) -> Result<Vec<IndexedFiles>, CompactorError> {
        let cancel = i64::try_from(self.config.delete_request_cancel_period.0.as_millis()).unwrap_or(i64::MAX);
        let due: Vec<(String, DeleteRequest)> =
            self.manifests.delete_requests().await?.into_iter().filter(|(_, r)| !r.processed && r.created_at_ms.saturating_add(cancel) <= now).collect();
        for (tenant, request) in due {
            let mut done = true;
            let mut changed = false;
            for g in indexed.iter().filter(|g| g.tenant == tenant) {
                let touched: Vec<&FileMeta> = g.files.iter().filter(|f| f.min_ts <= request.end_ns && f.max_ts >= request.start_ns).collect();
                if touched.is_empty() {
                    continue;
                }
                let deleted = self.rules.deletes.prepare(&request, &g.labels)?;
                for f in touched {
                    let added = self.rewrite(g, f, &|b| Ok(arrow::compute::not(&deleted(b)?)?), now, outputs).await?;
                    if added.iter().map(|a| a.meta.rows).sum::<u64>() == f.rows {
                        for a in &added {
                            self.delete(&a.meta.path).await?;
                        }
                        continue;
                    }
                    if self.swap_in(g.shard, &g.tenant, std::slice::from_ref(f), added, now, s).await? {
                        s.delete_rewrites += 1;
                        changed = true;
                    } else {
                        done = false;
                    }
                }
            }
            if done {
                self.manifests.delete_processed(&tenant, &request.request_id).await?;
                s.deletes_processed += 1;
            }
            if changed {
                indexed = self.manifests.indexed().await?;
            }
        }
        Ok(indexed)
    }

    /// Writes `f` (of group `g`) again with only the rows `keep` keeps, as new files.
    async fn rewrite(&self, g: &IndexedFiles, f: &FileMeta, keep: RowFilter<'_>, now: i64, outputs: &mut usize) -> Result<Vec<CompactedFile>, CompactorError> {
        let seq = next(outputs);
        let day = day_of(&f.path).unwrap_or("unknown");
        let name = |k: usize| output_name(&g.tenant, day, g.shard, now, seq, k);
        merge(&self.chunks, std::slice::from_ref(f), self.config.target_file_size.0, Some(keep), name).await
    }

    /// Swaps `added` in for `removed` and accounts for it in `s`; a refused swap deletes
    /// `added` (nothing references them).
    async fn swap_in(&self, shard: u64, tenant: &str, removed: &[FileMeta], added: Vec<CompactedFile>, now: i64, s: &mut Summary) -> Result<bool, CompactorError> {
        let (bytes_in, bytes_out) = (removed.iter().map(|f| f.size).sum::<u64>(), added.iter().map(|f| f.meta.size).sum::<u64>());
        let (files_in, files_out) = (removed.len(), added.len());
        let swap = Swap { shard, tenant: tenant.to_string(), remove: removed.iter().map(|f| f.path.clone()).collect(), add: added.clone(), at_ms: now };
        if !self.manifests.swap(swap).await? {
            s.refused += 1;
            metrics::REFUSED.inc();
            for f in &added {
                self.delete(&f.meta.path).await?;
            }
            return Ok(false);
        }
        s.files_after = s.files_after - files_in + files_out;
        s.bytes_after = s.bytes_after - bytes_in + bytes_out;
        metrics::FILES_IN.add(files_in as u64);
        metrics::FILES_OUT.add(files_out as u64);
        metrics::BYTES_IN.add(bytes_in);
        metrics::BYTES_OUT.add(bytes_out);
        Ok(true)
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

    /// Deletes the objects under each tenant's chunk prefix that neither the index nor the
    /// retired list knows and that are older than [`ORPHAN_AGE`] (and the grace period): a
    /// flush or a compaction writes its files before it commits them, and one that never
    /// commits leaves them behind. `indexed` must cover every shard.
    async fn delete_orphans(&self, indexed: &[IndexedFiles], now: i64) -> Result<usize, CompactorError> {
        let grace = self.config.retention_delete_delay.0.max(ORPHAN_AGE);
        let cutoff = chrono::DateTime::from_timestamp_millis(now).unwrap_or_default() - chrono::Duration::from_std(grace).unwrap_or(chrono::Duration::MAX);
        let mut known: HashSet<String> = HashSet::new();
        let mut tenants: BTreeSet<&str> = BTreeSet::new();
        for g in indexed {
            tenants.insert(&g.tenant);
            for path in g.files.iter().map(|f| &f.path).chain(g.retired.iter().map(|r| &r.path)) {
                known.insert(store::skip::filter_path(path));
                known.insert(path.clone());
            }
        }
        let mut deleted = 0;
        for tenant in tenants {
            let prefix = Path::from(format!("{tenant}/chunks"));
            let mut listing = self.chunks.store.list(Some(&prefix));
            let mut doomed = Vec::new();
            while let Some(object) = listing.next().await {
                let object = object?;
                if object.last_modified < cutoff && !known.contains(object.location.as_ref()) {
                    doomed.push(object.location);
                }
            }
            for location in doomed {
                tracing::info!("deleting {location}: no index holds it");
                match self.chunks.store.delete(&location).await {
                    Ok(()) | Err(object_store::Error::NotFound { .. }) => deleted += 1,
                    Err(e) => return Err(e.into()),
                }
            }
        }
        metrics::ORPHANS.add(deleted as u64);
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

