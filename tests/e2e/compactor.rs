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
    // The cycles, files and bytes are counted on /metrics.
    assert!(counter(&s, "skald_compactor_runs_total").await >= 3, "completed cycles are counted");
    assert_eq!(counter(&s, "skald_compactor_files_merged_total").await, 3, "files merged away");
    assert_eq!(counter(&s, "skald_compactor_files_written_total").await, 1, "files written");
    assert_eq!(counter(&s, "skald_compactor_objects_deleted_total").await, 3, "objects deleted after the grace period");
    assert!(counter(&s, "skald_compactor_bytes_written_total").await > 0, "bytes written");

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

    // Objects no index knows go once they are an hour old; younger ones may still be on
    // their way to a commit and stay.
    let day = std::fs::read_dir(s.dir.data().join("chunks").join(TENANT).join("chunks")).expect("chunk dir").flatten().next().expect("a day").path();
    let (old, young) = (day.join("0000-c0000000000001-0001-000.parquet"), day.join("0000-c0000000000002-0001-000.parquet"));
    for f in [&old, &young] {
        std::fs::write(f, b"PAR1 left by a write that never committed").expect("orphan");
    }
    let hours_ago = std::time::SystemTime::now() - Duration::from_secs(2 * 3600);
    std::fs::File::options().write(true).open(&old).expect("open").set_modified(hours_ago).expect("age the orphan");
    let api = api_of(&s);
    let summary = run(&api).await;
    assert!(summary["orphans_deleted"].as_u64() >= Some(1), "{summary}");
    assert!(!old.exists() && young.exists(), "the old orphan goes, the young one stays");
    assert_exactly(&read_all(&api, t0).await, written, "after collecting orphans");
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

/// Names of the Parquet objects under the tenant's chunk directory (listed only: the server
/// may be deleting them meanwhile).
fn chunk_names(s: &Skald) -> Vec<String> {
    let root = s.dir.data().join("chunks").join(TENANT).join("chunks");
    std::fs::read_dir(root)
        .into_iter()
        .flatten()
        .flatten()
        .flat_map(|day| std::fs::read_dir(day.path()).into_iter().flatten().flatten())
        .map(|f| f.file_name().to_string_lossy().to_string())
        .filter(|n| n.ends_with(".parquet"))
        .collect()
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

/// The value of counter `name` on the server's `/metrics`.
async fn counter(s: &Skald, name: &str) -> u64 {
    let body = s.api().get("/metrics", &[]).await.body;
    body.lines().find_map(|l| l.strip_prefix(name).and_then(|v| v.trim().parse().ok())).unwrap_or_else(|| panic!("no {name} in /metrics"))
}

/// Sorted lines of a query over `[start, end)`.
async fn lines(api: &Api, query: &str, start: i64, end: i64) -> Vec<String> {
    let mut out: Vec<String> = api.query_all(query, start, end, 5_000).await.into_iter().map(|r| r.line).collect();
    out.sort();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn skip_filters_skip_what_cannot_match_and_change_no_answer() {
    const DAY: i64 = 86_400_000_000_000;
    let dir = TestDir::new("skipfilters");
    let mut s = Skald::start(dir, &["--auth_enabled=true", "--limits_config.reject_old_samples=false", "--compactor.compaction_interval=0s"]);
    // Midnight, a few days back: three days of data, two flushes each, one needle on day 1.
    let t0 = (now_ns() / DAY - 5) * DAY;
    let api = s.api().tenant(TENANT);
    for day in 0..3i64 {
        for part in 0..2i64 {
            let values = (0..1_000i64)
                .map(|i| {
                    let n = part * 1_000 + i;
                    let line = if day == 1 && n == 777 {
                        "level=error msg=\"payment failed\" trace=Zq8v3K2m9Lw4".to_string()
                    } else {
                        format!("level=info msg=\"request served\" day={day} n={n} trace={:016x}", (day * 7919 + n) * 104_729)
                    };
                    jv(t0 + day * DAY + n * 1_000_000, &line)
                })
                .collect();
            api.push_json(&json_push(vec![json_stream(&[("job", "skip")], values)])).await.expect(204, "push");
            api.flush().await;
        }
    }
    let queries = [
        r#"{job="skip"} |= "Zq8v3K2m9Lw4""#,
        r#"{job="skip"} |~ "(?i)zq8v3k2m9lw4""#,
        r#"{job="skip"} |= "payment" or "nothing-like-it""#,
        r#"{job="skip"} |= "request served""#,
        r#"{job="skip"} != "request served""#,
    ];
    let mut before = Vec::new();
    for q in queries {
        before.push(lines(&api, q, t0, t0 + 4 * DAY).await);
    }
    assert_eq!(before[0].len(), 1, "the needle");
    assert_eq!(before[3].len(), 5_999);

    let summary = run(&api).await;
    assert_eq!(summary["groups"], 3, "one merge per day: {summary}");
    let blooms = std::fs::read_dir(s.dir.data().join("chunks").join(TENANT).join("chunks"))
        .expect("chunk dir")
        .flatten()
        .flat_map(|d| std::fs::read_dir(d.path()).into_iter().flatten().flatten())
        .filter(|f| f.path().extension().is_some_and(|e| e == "bloom"))
        .count();
    assert_eq!(blooms, 3, "a skip filter object beside each compacted file");

    // Needle queries skip the two days without the needle; answers never change.
    for (i, q) in queries.iter().enumerate() {
        let skipped = counter(&s, "skald_query_row_groups_skipped_total").await;
        assert_eq!(lines(&api, q, t0, t0 + 4 * DAY).await, before[i], "{q} after compaction");
        let now_skipped = counter(&s, "skald_query_row_groups_skipped_total").await - skipped;
        let expected = if i < 3 { 2 } else { 0 };
        assert_eq!(now_skipped, expected, "row groups skipped by {q}");
    }

    // Switched off, or with a damaged filter, the same answers come from full scans.
    s.kill9();
    let mut args = base_args(&s.dir);
    args.extend(["--auth_enabled=true", "--limits_config.reject_old_samples=false", "--querier.skip_filters=false"].map(String::from));
    s.restart_with(args.clone());
    let api = api_of(&s);
    assert_eq!(lines(&api, queries[0], t0, t0 + 4 * DAY).await, before[0]);
    assert_eq!(counter(&s, "skald_query_row_groups_skipped_total").await, 0);
    s.kill9();
    for d in std::fs::read_dir(s.dir.data().join("chunks").join(TENANT).join("chunks")).expect("chunk dir").flatten() {
        for f in std::fs::read_dir(d.path()).expect("day dir").flatten() {
            if f.path().extension().is_some_and(|e| e == "bloom") {
                std::fs::write(f.path(), b"damaged").expect("damage a filter");
            }
        }
    }
    args.pop();
    s.restart_with(args);
    let api = api_of(&s);
    assert_eq!(lines(&api, queries[0], t0, t0 + 4 * DAY).await, before[0]);
    assert_eq!(counter(&s, "skald_query_skip_filter_errors_total").await, 3, "each damaged filter is reported");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_drops_expired_files_and_streams() {
    const H: i64 = 3_600_000_000_000;
    let dir = TestDir::new("retention");
    let overrides = write_file(
        &dir,
        "overrides.yaml",
        "overrides:\n  other:\n    retention_period: 120h\n    retention_stream:\n      - selector: '{env=\"prod\"}'\n        period: 24h\n",
    );
    let config = write_file(
        &dir,
        "retention.yaml",
        &format!(
            "limits_config:\n  retention_period: 48h\n  retention_stream:\n    - selector: '{{env=\"dev\"}}'\n      priority: 1\n      period: 24h\nruntime_config:\n  file: {}\n",
            overrides.display()
        ),
    );
    let s = Skald::start(
        dir,
        &[
            &format!("--config.file={}", config.display()),
            "--auth_enabled=true",
            "--limits_config.reject_old_samples=false",
            "--compactor.retention_enabled=true",
            "--compactor.compaction_interval=0s",
        ],
    );
    let api = s.api().tenant(TENANT);
    let other = s.api().tenant("other");
    let now = now_ns();
    // Three flushed files per tenant: 100 h, 36 h and 1 h old.
    for (age, envs) in [(100 * H, &["prod", "dev", "old"][..]), (36 * H, &["prod", "dev"][..]), (H, &["prod", "dev"][..])] {
        let streams: Vec<_> = envs
            .iter()
            .map(|env| json_stream(&[("job", "ret"), ("env", env)], (0..10).map(|i| jv(now - age + i, &format!("{env} age={} i={i}", age / H))).collect()))
            .collect();
        api.push_json(&json_push(streams.clone())).await.expect(204, "push");
        other.push_json(&json_push(streams)).await.expect(204, "push");
        api.flush().await;
    }
    // Globally: 48 h, dev 24 h. Tenant "other": 120 h, its own prod rule 24 h before the
    // global dev rule.
    let summary = run(&api).await;
    assert_eq!((summary["expired_files"].as_u64(), summary["trimmed_files"].as_u64()), (Some(2), Some(2)), "{summary}");
    let ages_of = |api: Api, env: &'static str| async move {
        let mut ages: Vec<String> = lines(&api, &format!(r#"{{job="ret", env="{env}"}}"#), now - 200 * H, now + H).await.into_iter().map(|l| l.split(' ').nth(1).unwrap_or("").to_string()).collect();
        ages.dedup();
        ages
    };
    assert_eq!(ages_of(other.clone(), "prod").await, vec!["age=1"], "the tenant's own rule");
    assert_eq!(ages_of(other.clone(), "dev").await, vec!["age=1"], "the global rule where the tenant has none");
    assert_eq!(ages_of(other.clone(), "old").await, vec!["age=100"], "the tenant's period");
    let ages = |env: &'static str| {
        let api = api.clone();
        async move {
            let mut ages: Vec<String> = lines(&api, &format!(r#"{{job="ret", env="{env}"}}"#), now - 200 * H, now + H).await.into_iter().map(|l| l.split(' ').nth(1).unwrap_or("").to_string()).collect();
            ages.dedup();
            ages
        }
    };
    assert_eq!(ages("prod").await, vec!["age=1", "age=36"], "prod keeps 48 h");
    assert_eq!(ages("dev").await, vec!["age=1"], "dev keeps 24 h");
    assert!(ages("old").await.is_empty(), "the 100 h old file is gone");
    let series = api.get("/loki/api/v1/series", &[("match[]", r#"{job="ret"}"#.to_string()), ("start", (now - 200 * H).to_string()), ("end", now.to_string())]).await;
    let envs: Vec<String> = series.json()["data"].as_array().expect("series").iter().map(|s| s["env"].as_str().unwrap_or("").to_string()).collect();
    assert!(!envs.contains(&"old".to_string()) && envs.len() == 2, "a stream with no data left is no series: {envs:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_target_decides_whether_a_node_compacts() {
    let dir = TestDir::new("target");
    let mut args = base_args(&dir);
    args.push("--target=compactor".into());
    let (status, _, stderr) = run_expect_exit(&args);
    assert!(!status.success() && stderr.contains("needs cluster.seeds"), "a compactor-only process needs a cluster: {stderr}");
    args.pop();
    args.push("--target=read".into());
    let (status, _, stderr) = run_expect_exit(&args);
    assert!(!status.success() && stderr.contains("needs cluster.seeds"), "a stateless querier needs a cluster: {stderr}");
    let s = Skald::start(dir, &["--target=write"]);
    assert_eq!(s.api().post("/compactor/run").await.status, 404, "no compactor role, no compactor endpoint");
    s.api().push_json(&json_push(vec![json_stream(&[("job", "t")], vec![jv(now_ns(), "still serves pushes")])])).await.expect(204, "push");
    let query = s.api().get("/loki/api/v1/query_range", &[("query", r#"{job="t"}"#.into())]).await;
    assert_eq!(query.status, 404, "target: write serves no queries: {}", query.body);
}
