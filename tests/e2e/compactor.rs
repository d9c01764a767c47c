//! Compaction through the real process: many small flushes, `POST /compactor/run`, every
//! entry still read exactly once; replaced objects deleted only after the grace period; and
//! SIGKILL at different moments of a compaction (mid-merge, right after the merged file is
//! written, mid-deletion of replaced objects) loses and duplicates nothing.

use std::collections::HashMap;
use std::time::Duration;

use serde_json::Value;

use crate::harness::*;

const TENANT: &str = "compact";
const STREAMS: usize = 4;
/// Entries per stream per flushed file.
const PER_FILE: i64 = 3_000;

/// Pushes `PER_FILE` entries to each stream for file number `n`, then flushes.
async fn push_file(api: &Api, t0: i64, n: i64) {
    for s in 0..STREAMS {
        let values = (0..PER_FILE)
            .map(|i| {
                let seq = n * PER_FILE + i;
                jv(t0 + seq * 1_000, &format!("compact stream={s} seq={seq} payload={}", "x".repeat(40 + (seq % 50) as usize)))
            })
            .collect();
        let stream = s.to_string();
        api.push_json(&json_push(vec![json_stream(&[("job", "compact"), ("stream", &stream)], values)])).await.expect(204, "push");
    }
    api.flush().await;
}

/// Every stored entry: line -> how often it was read.
async fn read_all(api: &Api, t0: i64) -> HashMap<String, usize> {
    let mut seen = HashMap::new();
    for r in api.query_all(r#"{job="compact"}"#, t0, t0 + 3_600_000_000_000, 5_000).await {
        *seen.entry(r.line).or_insert(0) += 1;
    }
    seen
}

/// Asserts that exactly the entries of files `0..files` are stored, each once.
fn assert_exactly(seen: &HashMap<String, usize>, files: i64, ctx: &str) {
    let dup: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).take(3).collect();
    assert!(dup.is_empty(), "{ctx}: duplicated entries, e.g. {dup:?}");
    let want = STREAMS * (files * PER_FILE) as usize;
    assert_eq!(seen.len(), want, "{ctx}: {} distinct entries stored, {want} pushed", seen.len());
}

async fn run(api: &Api) -> Value {
    let r = api.post("/compactor/run").await;
    r.expect(200, "POST /compactor/run");
    r.json()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compaction_merges_files_and_survives_sigkill() {
    let dir = TestDir::new("compactor");
    let mut s = Skald::start(
        dir,
        &["--auth_enabled=true", "--limits_config.reject_old_samples=false", "--compactor.retention_delete_delay=3s", "--compactor.compaction_interval=0s"],
    );
    let t0 = now_ns() - 3_000_000_000_000;
    let api = s.api().tenant(TENANT);
    for n in 0..3 {
        push_file(&api, t0, n).await;
    }
    let files = parquet_files(&s.dir.data(), TENANT);
    assert_eq!(files.len(), 3, "one file per flush: {files:?}");
    assert_exactly(&read_all(&api, t0).await, 3, "before compaction");

    let summary = run(&api).await;
    assert_eq!((summary["files_before"].as_u64(), summary["files_after"].as_u64(), summary["groups"].as_u64()), (Some(3), Some(1), Some(1)), "{summary}");
    assert!(summary["bytes_after"].as_u64() > Some(0), "{summary}");
    assert_exactly(&read_all(&api, t0).await, 3, "after compaction");
    // The replaced objects stay for the grace period, then the next cycle deletes them.
    assert_eq!(parquet_files(&s.dir.data(), TENANT).len(), 4, "old files kept during the grace period");
    assert_eq!(run(&api).await["objects_deleted"], 0, "nothing deleted inside the grace period");
    tokio::time::sleep(Duration::from_millis(3_200)).await;
    let summary = run(&api).await;
    assert_eq!((summary["objects_deleted"].as_u64(), summary["groups"].as_u64()), (Some(3), Some(0)), "{summary}");
    let left = parquet_files(&s.dir.data(), TENANT);
    assert_eq!(left.len(), 1, "only the merged file is left: {left:?}");
    assert!(files.iter().all(|f| !f.exists()), "every replaced file is deleted");

    // SIGKILL at different moments of a compaction; every restart reads everything once.
    let mut written = 3;
    for (round, when) in [Kill::After(0), Kill::After(60), Kill::After(150), Kill::Written, Kill::After(400), Kill::Deleting].into_iter().enumerate() {
        for _ in 0..2 {
            push_file(&api_of(&s), t0, written).await;
            written += 1;
        }
        if when == Kill::Deleting {
            // Retire files, let their grace period pass: the next cycle starts by deleting them.
            run(&api_of(&s)).await;
            tokio::time::sleep(Duration::from_millis(3_200)).await;
        }
        let before = chunk_names(&s);
        let url = format!("http://{}/compactor/run", s.http);
        let compaction = tokio::spawn(async move { reqwest::Client::new().post(url).send().await.map(|r| r.status().as_u16()) });
        let hit = match when {
            Kill::After(ms) => {
                tokio::time::sleep(Duration::from_millis(ms)).await;
                true
            }
            Kill::Written => wait_for(|| chunk_names(&s).iter().any(|n| n.contains("-c") && n.ends_with(".parquet") && !before.contains(n))).await,
            Kill::Deleting => wait_for(|| before.iter().any(|n| !chunk_names(&s).contains(n))).await,
        };
        s.kill9();
        assert!(hit, "round {round}: the compaction never reached the moment {when:?}");
        let answered = compaction.await.ok().and_then(Result::ok);
        s.restart();
        println!("round {round}: SIGKILL at {when:?} (answered: {answered:?}); {} files on disk", chunk_names(&s).len());
        assert_exactly(&read_all(&api_of(&s), t0).await, written, &format!("after SIGKILL at {when:?} (round {round})"));
    }
    let api = api_of(&s);
    let summary = run(&api).await;
    assert!(summary["files_after"].as_u64() < summary["files_before"].as_u64() || summary["files_before"] == 1, "{summary}");
    assert_exactly(&read_all(&api, t0).await, written, "after the final compaction");
    s.kill9();
    s.restart();
    assert_exactly(&read_all(&api_of(&s), t0).await, written, "after a restart");
}

/// When to SIGKILL the process during a compaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kill {
    /// This many milliseconds after the request.
    After(u64),
    /// As soon as a merged file is in place (before or just after its swap).
    Written,
    /// As soon as one retired object is deleted (before its shard forgets it).
    Deleting,
}

/// Names of every object under the tenant's chunk directory.
fn chunk_names(s: &Skald) -> Vec<String> {
    parquet_files(&s.dir.data(), TENANT).iter().filter_map(|p| p.file_name()).map(|n| n.to_string_lossy().to_string()).collect()
}

/// Polls `cond` every 2 ms for up to 30 s; answers whether it held.
async fn wait_for(cond: impl Fn() -> bool) -> bool {
    for _ in 0..15_000 {
        if cond() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    false
}

fn api_of(s: &Skald) -> Api {
    s.api().tenant(TENANT)
}
