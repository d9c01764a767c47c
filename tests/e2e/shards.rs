//! A node with several hash-range shards (`ingester.shards`): pushes spread over every
//! shard's Raft group and log, queries merge them exactly once, across flushes and a kill -9.

use crate::harness::*;

const STREAMS: i64 = 40;
const PER_STREAM: i64 = 10;

fn push_body(t: i64, round: i64) -> serde_json::Value {
    let streams = (0..STREAMS)
        .map(|s| {
            let app = format!("app{s}");
            json_stream(
                &[("job", "shards"), ("app", app.as_str())],
                (0..PER_STREAM).map(|i| jv(t + (round * PER_STREAM + i) * SEC + s, &format!("round={round} i={i}"))).collect(),
            )
        })
        .collect();
    json_push(streams)
}

async fn count(api: &Api, t: i64) -> i64 {
    let rows = api.query_all(r#"{job="shards"}"#, t, t + 3600 * SEC, 500).await;
    let n = rows.len() as i64;
    let r = api
        .get(
            "/loki/api/v1/query",
            &[("query", r#"sum(count_over_time({job="shards"}[2h]))"#.into()), ("time", (t + 3600 * SEC).to_string())],
        )
        .await;
    r.expect(200, "instant count");
    let v = r.json();
    let metric: i64 = v["data"]["result"][0]["value"][1].as_str().and_then(|s| s.parse().ok()).unwrap_or(0);
    assert_eq!(metric, n, "the metric count and the log rows must agree: {}", r.body);
    n
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_spread_over_shards_and_survive_kill9() {
    let mut s = Skald::start(TestDir::new("shards"), &["--limits_config.discover_service_name=[]", "--ingester.shards=4"]);
    let api = s.api();
    let t = base_ts(30);
    let applied = |status: &serde_json::Value| -> Vec<u64> {
        status["shards"].as_array().into_iter().flatten().map(|x| x["applied_index"].as_u64().unwrap_or(0)).collect()
    };
    let before = applied(&api.get("/cluster/status", &[]).await.json());
    api.push_json(&push_body(t, 0)).await.expect(204, "push round 0");
    assert_eq!(count(&api, t).await, STREAMS * PER_STREAM);

    // Every shard is its own Raft group, and the streams landed in more than one of them;
    // all of them share the node's one log.
    let after = applied(&api.get("/cluster/status", &[]).await.json());
    assert_eq!(after.len(), 4);
    let used = after.iter().zip(&before).filter(|(a, b)| a > b).count();
    assert!(used >= 2, "pushes should reach several shards, applied indexes went from {before:?} to {after:?}");
    let raft = s.dir.data().join("raft");
    assert!(raft.join("log").is_dir() && !raft.join("segments-0").exists(), "one shared log under {}", raft.display());
    let m = api.get("/metrics", &[]).await.body;
    let value = |name: &str| -> u64 { m.lines().find_map(|l| l.strip_prefix(name).and_then(|v| v.trim().parse().ok())).unwrap_or(0) };
    assert!(value("skald_raft_log_syncs_total ") > 0 && value("skald_raft_log_appends_total ") > 0, "the shared log is in use:\n{m}");

    // Flush (files per shard), push more (heads), and read both once.
    api.flush().await;
    api.push_json(&push_body(t, 1)).await.expect(204, "push round 1");
    assert_eq!(count(&api, t).await, 2 * STREAMS * PER_STREAM);
    // A retried push is idempotent in every shard.
    api.push_json(&push_body(t, 1)).await.expect(204, "retry round 1");
    assert_eq!(count(&api, t).await, 2 * STREAMS * PER_STREAM);

    // kill -9 and restart with the same shard count: nothing acknowledged is lost.
    s.kill9();
    s.restart();
    let api = s.api();
    assert_eq!(count(&api, t).await, 2 * STREAMS * PER_STREAM);
    let r = api.get("/loki/api/v1/series", &[("match[]", r#"{job="shards"}"#.into()), ("start", t.to_string()), ("end", (t + 3600 * SEC).to_string())]).await;
    r.expect(200, "series");
    assert_eq!(r.json()["data"].as_array().map(Vec::len), Some(STREAMS as usize), "{}", r.body);

    // Another shard count on the same data is refused with a clear message.
    s.sigterm();
    let mut args = base_args(&s.dir);
    args.push("--ingester.shards=2".into());
    let (status, _, err) = skald_cli(&args).await;
    assert!(!status.success(), "a different shard count must not start");
    assert!(err.contains("was written with 4 shards"), "{err}");
}

/// Splitting shards on one node: pushes after a split land in the new shard, queries see
/// every entry once across the split, a flush and a kill -9, and a split shard splits again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shard_splits_online() {
    let mut s = Skald::start(TestDir::new("split"), &["--limits_config.discover_service_name=[]"]);
    let api = s.api();
    let t = base_ts(30);
    api.push_json(&push_body(t, 0)).await.expect(204, "push before the split");

    let r = api.post_form("/cluster/shards/0/split", &[]).await;
    r.expect(200, "split shard 0");
    assert!(r.body.contains("now shard 1"), "{}", r.body);
    api.post_form("/cluster/shards/7/split", &[]).await.expect_err(400, "there is no shard 7", "splitting an unknown shard");
    api.post_form("/cluster/shards/0/split?at=18446744073709551615", &[]).await.expect_err(400, "not inside the range", "a split point outside the range");

    let applied = |status: &serde_json::Value, i: usize| status["shards"][i]["applied_index"].as_u64().unwrap_or(0);
    let before = api.get("/cluster/status", &[]).await.json();
    // Round 1 reaches both halves; round 0's heads stay in shard 0 and are read once.
    api.push_json(&push_body(t, 1)).await.expect(204, "push after the split");
    assert_eq!(count(&api, t).await, 2 * STREAMS * PER_STREAM);
    api.push_json(&push_body(t, 1)).await.expect(204, "retry after the split");
    assert_eq!(count(&api, t).await, 2 * STREAMS * PER_STREAM, "a retried push is still idempotent");
    let status = api.get("/cluster/status", &[]).await.json();
    let shards = status["shards"].as_array().cloned().unwrap_or_default();
    assert_eq!(shards.len(), 2, "{status}");
    assert_eq!(shards[0]["range"]["first"], 0, "{status}");
    assert_eq!(shards[1]["range"]["last"], u64::MAX, "{status}");
    assert_eq!(shards[0]["range"]["last"].as_u64().map(|l| l + 1), shards[1]["range"]["first"].as_u64(), "{status}");
    assert!(status["map_version"].as_u64() >= Some(2), "{status}");
    assert!(applied(&status, 1) > applied(&before, 1), "the new shard took pushes: {before} then {status}");

    // Split the new shard again through the CLI, flush, kill -9, restart: nothing lost or doubled.
    let (st, out, err) = skald_cli(&["cluster", "split", "--shard=1", &format!("--addr={}", api.base)]).await;
    assert!(st.success() && out.contains("now shard 2"), "skald cluster split: {out}{err}");
    api.push_json(&push_body(t, 2)).await.expect(204, "push after the second split");
    api.flush().await;
    api.push_json(&push_body(t, 3)).await.expect(204, "push after the flush");
    assert_eq!(count(&api, t).await, 4 * STREAMS * PER_STREAM);
    s.kill9();
    s.restart();
    let api = s.api();
    assert_eq!(count(&api, t).await, 4 * STREAMS * PER_STREAM, "after kill -9 and restart");
    api.push_json(&push_body(t, 4)).await.expect(204, "push after the restart");
    assert_eq!(count(&api, t).await, 5 * STREAMS * PER_STREAM);
    let status = api.get("/cluster/status", &[]).await.json();
    assert_eq!(status["shards"].as_array().map(Vec::len), Some(3), "{status}");
}
