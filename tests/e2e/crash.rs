//! Crash safety: concurrent pushers, flushes happening under load, SIGKILL mid-load, restart
//! on the same data directory. Every push answered 204 must be readable exactly once, and no
//! entry may ever be returned twice.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::harness::*;

const PUSHERS: i64 = 6;
/// Entries per push.
const BATCH: i64 = 5;
/// Most pushes per pusher per round (bounds the total to a few thousand pushes).
const MAX_PUSHES: usize = 400;
/// Kill after this long under load, or once this many pushes were acknowledged.
const KILL_AFTER: Duration = Duration::from_secs(2);
const KILL_AFTER_ACKED: usize = 1000;

struct Outcome {
    /// Entries of pushes answered 204: (ts, line).
    acked: Vec<(i64, String)>,
    /// Entries of pushes whose fate is unknown (the connection died mid-request).
    unknown: Vec<(i64, String)>,
    /// Unexpected HTTP answers (a valid push must never get a 4xx).
    bad: Vec<String>,
    next_seq: i64,
}

async fn pusher(
    api: Api,
    k: i64,
    round: usize,
    t0: i64,
    mut seq: i64,
    stop: Arc<AtomicBool>,
    acked_pushes: Arc<AtomicUsize>,
) -> Outcome {
    let mut out = Outcome { acked: Vec::new(), unknown: Vec::new(), bad: Vec::new(), next_seq: seq };
    let pusher = k.to_string();
    let deadline = Instant::now() + Duration::from_secs(60);
    for _ in 0..MAX_PUSHES {
        if stop.load(Ordering::SeqCst) || Instant::now() > deadline {
            break;
        }
        // Globally unique, per-pusher increasing timestamps (microsecond grid).
        let entries: Vec<(i64, String)> = (seq..seq + BATCH)
            .map(|n| (t0 + (n * PUSHERS + k) * 1_000, format!("crash pusher={k} round={round} seq={n}")))
            .collect();
        seq += BATCH;
        out.next_seq = seq;
        let values = entries.iter().map(|(ts, l)| jv(*ts, l)).collect();
        let body = json_push(vec![json_stream(&[("job", "crash"), ("pusher", &pusher)], values)]);
        match api.try_push_json(&body).await {
            Ok(r) if r.status == 204 => {
                out.acked.extend(entries);
                acked_pushes.fetch_add(1, Ordering::SeqCst);
            }
            Ok(r) => {
                // Overload answers (429/5xx) mean "not written"; anything else is a bug.
                if r.status < 500 && r.status != 429 {
                    out.bad.push(format!("HTTP {} {}", r.status, r.body));
                }
                out.unknown.extend(entries);
            }
            Err(e) => {
                out.unknown.extend(entries);
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                // Not killed yet: a transport error is unexpected but may be a slow server.
                out.bad.push(format!("transport error before kill: {e}"));
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
    out
}

/// Reads back everything and checks: every acknowledged entry exactly once, nothing twice,
/// nothing that was never sent, and the right labels and timestamps.
async fn verify(api: &Api, t0: i64, acked: &HashMap<String, i64>, sent: &HashMap<String, i64>, ctx: &str) {
    let rows = api.query_all(r#"{job="crash"}"#, t0 - SEC, now_ns() + 60 * SEC, 20_000).await;
    let mut count: HashMap<&str, usize> = HashMap::new();
    let mut problems = Vec::new();
    for r in &rows {
        *count.entry(r.line.as_str()).or_default() += 1;
        match sent.get(&r.line) {
            None => problems.push(format!("never-sent line {:?}", r.line)),
            Some(ts) if *ts != r.ts => problems.push(format!("{:?}: ts {} want {ts}", r.line, r.ts)),
            Some(_) => {}
        }
        let pusher = r.line.split_whitespace().nth(1).and_then(|p| p.strip_prefix("pusher=")).unwrap_or("?");
        if r.labels != labels(&[("job", "crash"), ("pusher", pusher)]) {
            problems.push(format!("{:?}: labels {:?}", r.line, r.labels));
        }
    }
    let dups: Vec<(&&str, &usize)> = count.iter().filter(|(_, n)| **n > 1).collect();
    let missing: Vec<&String> = acked.keys().filter(|l| !count.contains_key(l.as_str())).collect();
    let unacked_present = count.keys().filter(|l| !acked.contains_key(**l)).count();
    println!(
        "{ctx}: {} rows read, {} acknowledged, {} of the unacknowledged in-flight entries present",
        rows.len(),
        acked.len(),
        unacked_present
    );
    let mut missing_sorted: Vec<&String> = missing.clone();
    missing_sorted.sort();
    assert!(
        missing.is_empty() && dups.is_empty() && problems.is_empty(),
        "{ctx}: {} acknowledged entries missing (first: {:?}), {} entries duplicated (first: {:?}), other problems (first: {:?})",
        missing.len(),
        missing_sorted.iter().take(5).collect::<Vec<_>>(),
        dups.len(),
        dups.iter().take(5).collect::<Vec<_>>(),
        problems.iter().take(5).collect::<Vec<_>>()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill9_under_load_loses_nothing_acknowledged() {
    kill9_under_load("--ingester.raft_log_store=sled").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill9_under_load_loses_nothing_acknowledged_segment_log() {
    kill9_under_load("--ingester.raft_log_store=segments").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill9_under_load_loses_nothing_acknowledged_shared_log_of_three_shards() {
    kill9_under_load("--ingester.shards=3").await;
}

/// Pushes under load, kills the server twice with SIGKILL, and checks after each restart that
/// every acknowledged entry is there exactly once, with the extra setting `store` (the Raft
/// log store, or the shard count over the default shared log).
async fn kill9_under_load(store: &str) {
    let mut s = Skald::start(
        TestDir::new("crash"),
        &[
            store,
            "--ingester.flush_check_period=200ms",
            "--ingester.chunk_target_size=20000",
            "--ingester.chunk_idle_period=1s",
            "--limits_config.max_entries_limit_per_query=100000",
            "--limits_config.discover_service_name=[]",
        ],
    );
    let t0 = base_ts(30);
    let mut acked: HashMap<String, i64> = HashMap::new();
    let mut sent: HashMap<String, i64> = HashMap::new();
    let mut next_seq = vec![0i64; PUSHERS as usize];

    for round in 1..=2 {
        let api = s.api();
        let stop = Arc::new(AtomicBool::new(false));
        let acked_pushes = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for k in 0..PUSHERS {
            tasks.push(tokio::spawn(pusher(
                api.clone(),
                k,
                round,
                t0,
                next_seq[k as usize],
                Arc::clone(&stop),
                Arc::clone(&acked_pushes),
            )));
        }
        let started = Instant::now();
        while started.elapsed() < KILL_AFTER
            && acked_pushes.load(Ordering::SeqCst) < KILL_AFTER_ACKED
            && !tasks.iter().all(|t| t.is_finished())
        {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let at_kill = acked_pushes.load(Ordering::SeqCst);
        // Stop first, so that every transport error after this point is attributed to the kill;
        // requests already in flight are cut by the SIGKILL.
        stop.store(true, Ordering::SeqCst);
        s.kill9();
        let mut bad = Vec::new();
        let mut unknown = 0;
        for (k, t) in tasks.into_iter().enumerate() {
            let o = tokio::time::timeout(Duration::from_secs(60), t)
                .await
                .expect("pusher did not stop within 60s")
                .expect("pusher task panicked");
            next_seq[k] = o.next_seq;
            for (ts, l) in o.acked {
                sent.insert(l.clone(), ts);
                acked.insert(l, ts);
            }
            unknown += o.unknown.len();
            for (ts, l) in o.unknown {
                sent.insert(l, ts);
            }
            bad.extend(o.bad);
        }
        println!(
            "round {round}: killed after {:?} with {at_kill} pushes acknowledged; {} entries acknowledged in total, {unknown} in flight",
            started.elapsed(),
            acked.len()
        );
        assert!(bad.is_empty(), "round {round}: unexpected push answers (first 5): {:?}", &bad[..bad.len().min(5)]);
        assert!(at_kill >= 20, "round {round}: only {at_kill} pushes acknowledged before the kill; the load test proved nothing");

        println!("round {round}: {} chunk files on disk at the kill", parquet_files(&s.dir.data(), "fake").len());
        s.restart();
        verify(&s.api(), t0, &acked, &sent, &format!("after kill -9 #{round}")).await;
    }

    // Chunk files were written during the load (small chunk_target_size, fast flush checks)
    // and the restarted server still reads them; one more explicit flush keeps everything once.
    let api = s.api();
    api.flush().await;
    assert!(!parquet_files(&s.dir.data(), "fake").is_empty(), "no chunk files after load and /flush");
    verify(&api, t0, &acked, &sent, "after final /flush").await;
}
