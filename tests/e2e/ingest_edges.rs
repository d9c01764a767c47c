//! Push edge cases with Loki's exact messages (limit boundaries, grouped errors, duplicate
//! label names, invalid UTF-8, structured metadata limits), group commit, the metrics that
//! count all of it, and flushes started by the size and idle triggers alone.

use std::time::{Duration, Instant};

use crate::harness::*;

const NO_DISCOVERY: &str = "--limits_config.discover_service_name=[]";

/// The value of an unlabelled series in Prometheus text, or 0 when absent.
fn metric(body: &str, name: &str) -> f64 {
    body.lines()
        .find_map(|l| l.strip_prefix(name).and_then(|rest| rest.strip_prefix(' ')))
        .map(|v| v.trim().parse::<f64>().unwrap_or_else(|e| panic!("metric {name} value {v:?}: {e}")))
        .unwrap_or(0.0)
}

async fn metrics(api: &Api) -> String {
    let r = api.get("/metrics", &[]).await;
    r.expect(200, "/metrics");
    r.body.clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_messages_match_loki_exactly() {
    let s = Skald::start(TestDir::new("push_messages"), &[NO_DISCOVERY]);
    let api = s.api();
    let t = base_ts(20);
    let now = now_ns();

    // max_line_size defaults to 256KB = 256000 bytes (humanized, as in Loki).
    let stream = [("test", "edges"), ("case", "size")];
    let exact = "x".repeat(256_000);
    api.push_json(&json_push(vec![json_stream(&stream, vec![jv(t, &exact)])])).await.expect(204, "a 256000-byte line");
    let r = api.push_json(&json_push(vec![json_stream(&stream, vec![jv(t + 1, &"y".repeat(256_001))])])).await;
    r.expect(400, "a 256001-byte line");
    assert_eq!(
        r.body.trim_end(),
        r#"max entry size '256000' bytes exceeded for stream '{case="size", test="edges"}' while adding an entry with length '256001' bytes"#
    );

    // Repeated messages are grouped; distinct ones joined with "; ".
    let long = "z".repeat(300_000);
    let r = api
        .push_json(&json_push(vec![
            json_stream(&[("test", "edges"), ("case", "grouped")], vec![jv(t, &long), jv(t + 1, &long), jv(t + 2, "kept")]),
            json_stream(&[], vec![jv(t, "no labels")]),
        ]))
        .await;
    r.expect(400, "grouped errors");
    assert_eq!(
        r.body.trim_end(),
        "2 errors like: max entry size '256000' bytes exceeded for stream '{case=\"grouped\", test=\"edges\"}' while adding an entry with length '300000' bytes; 1 errors like: error at least one label pair is required per stream"
    );

    // A duplicated label name rejects that stream only.
    let req = proto_push(vec![
        proto_stream(r#"{test="edges", case="dup", case="again"}"#, vec![proto_entry(t, "dup stream", &[])]),
        proto_stream(r#"{test="edges", case="dup-neighbour"}"#, vec![proto_entry(t, "neighbour", &[])]),
    ]);
    let r = api.push_proto(&req).await;
    r.expect(400, "duplicate label name");
    // Loki quotes the label string exactly as a protobuf push sent it.
    assert_eq!(r.body.trim_end(), r#"stream '{test="edges", case="dup", case="again"}' has duplicate label name: 'case'"#);

    let long = "v".repeat(2049);
    let pushed = format!(r#"{{zz="{long}",test="edges", case="long"}}"#);
    let r = api.push_proto(&proto_push(vec![proto_stream(&pushed, vec![proto_entry(t, "long value", &[])])])).await;
    r.expect(400, "label value too long");
    assert_eq!(r.body.trim_end(), format!("stream '{pushed}' has label value too long: '{long}'"));

    // Invalid UTF-8 in a protobuf line is stored with U+FFFD, not rejected.
    let mut entry = proto_entry(t, "", &[]);
    entry.line = b"bad \xff byte".to_vec();
    api.push_proto(&proto_push(vec![proto_stream(r#"{test="edges", case="utf8"}"#, vec![entry])])).await.expect(204, "invalid UTF-8");

    // Structured metadata limits (64KB = 64000 bytes, 128 pairs).
    let big = "m".repeat(64_000);
    let r = api
        .push_json(&json_push(vec![json_stream(&[("test", "edges"), ("case", "sm")], vec![jv_sm(t, "big sm", &[("k", big.as_str())])])]))
        .await;
    r.expect(400, "structured metadata too large");
    assert!(
        r.body.starts_with(r#"stream '{case="sm", test="edges"}' has structured metadata too large: '64001' bytes, limit: '64000' bytes."#),
        "{}",
        r.body
    );
    let names: Vec<String> = (0..129).map(|i| format!("k{i}")).collect();
    let pairs: Vec<(&str, &str)> = names.iter().map(|n| (n.as_str(), "v")).collect();
    let r = api.push_json(&json_push(vec![json_stream(&[("test", "edges"), ("case", "sm")], vec![jv_sm(t, "many sm", &pairs)])])).await;
    r.expect(400, "too many structured metadata pairs");
    assert!(r.body.contains("has too many structured metadata labels: '129', limit: '128'."), "{}", r.body);

    // What was accepted, and only that, is stored.
    let got = flatten(&api.query_streams(r#"{test="edges"}"#, t - SEC, now + 60 * SEC, 1000, "forward").await);
    let mut lines: Vec<(String, String)> =
        got.iter().map(|r| (r.labels["case"].clone(), if r.line.len() > 40 { format!("<{} bytes>", r.line.len()) } else { r.line.clone() })).collect();
    lines.sort();
    let want: Vec<(String, String)> = vec![
        ("dup-neighbour".into(), "neighbour".into()),
        ("grouped".into(), "kept".into()),
        ("size".into(), "<256000 bytes>".into()),
        ("utf8".into(), "bad \u{fffd} byte".into()),
    ];
    assert_eq!(lines, want);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_pushes_share_proposals_and_metrics_count() {
    let s = Skald::start(TestDir::new("group_commit"), &[NO_DISCOVERY]);
    let api = s.api();
    let t = base_ts(10);
    let before = metrics(&api).await;
    assert_eq!(metric(&before, "skald_push_requests_total"), 0.0, "fresh process");

    // Rounds of 32 concurrent pushes: group commit must carry several pushes in one
    // proposal (and so one fsync) at least once.
    let mut pushes = 0;
    let mut batched = false;
    for round in 0..10 {
        let futures = (0..32).map(|i| {
            let api = api.clone();
            let body = json_push(vec![json_stream(&[("test", "group"), ("pusher", &i.to_string())], vec![jv(t + round * 100 + i, "line")])]);
            async move { api.push_json(&body).await }
        });
        for r in futures::future::join_all(futures).await {
            r.expect(204, "concurrent push");
        }
        pushes += 32;
        let m = metrics(&api).await;
        let (proposals, carried) = (metric(&m, "skald_raft_proposals_total"), metric(&m, "skald_raft_proposed_pushes_total"));
        assert_eq!(carried, pushes as f64, "every push is carried by exactly one proposal");
        if proposals < carried {
            batched = true;
            break;
        }
    }
    assert!(batched, "{pushes} concurrent pushes never shared a Raft proposal");

    let got = api.query_all(r#"{test="group"}"#, t - SEC, t + 2000, 1000).await;
    assert_eq!(got.len(), pushes as usize, "every acknowledged push is readable");
    api.flush().await;
    let m = metrics(&api).await;
    assert_eq!(metric(&m, "skald_push_requests_total"), pushes as f64);
    assert_eq!(metric(&m, "skald_entries_accepted_total"), pushes as f64);
    assert!(metric(&m, "skald_bytes_accepted_total") >= 4.0 * pushes as f64);
    assert!(metric(&m, "skald_flushes_total") >= 1.0, "a flush is counted");
    assert_eq!(metric(&m, "skald_flushed_rows_total"), pushes as f64);
    assert!(metric(&m, "skald_query_requests_total") >= 1.0, "queries are counted");
    assert!(metric(&m, "skald_query_duration_seconds_count") >= 1.0, "query latency is observed");
    assert!(metric(&m, "skald_push_duration_seconds_count") >= pushes as f64, "push latency is observed");
}

/// Waits until the tenant has chunk files, without ever asking for a flush.
fn wait_for_files(s: &Skald, tenant: &str, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while parquet_files(&s.dir.data(), tenant).is_empty() {
        assert!(Instant::now() < deadline, "{what}: no chunk file appeared within 30s");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn size_and_idle_triggers_flush_on_their_own() {
    let t = base_ts(10);

    // Size: one stream's head passes chunk_target_size.
    let s = Skald::start(TestDir::new("size_trigger"), &[NO_DISCOVERY, "--ingester.chunk_target_size=64KB"]);
    let api = s.api();
    let small: Vec<_> = (0..10).map(|i| jv(t + i, "small")).collect();
    api.push_json(&json_push(vec![json_stream(&[("test", "size")], small)])).await.expect(204, "small push");
    std::thread::sleep(Duration::from_millis(300));
    assert!(parquet_files(&s.dir.data(), "fake").is_empty(), "a head under every limit must not be flushed");
    let big: Vec<_> = (0..100).map(|i| jv(t + 100 + i, &format!("{i:04} {}", "b".repeat(1000)))).collect();
    api.push_json(&json_push(vec![json_stream(&[("test", "size")], big)])).await.expect(204, "big push");
    wait_for_files(&s, "fake", "size trigger");
    assert_eq!(api.query_all(r#"{test="size"}"#, t - SEC, t + SEC, 1000).await.len(), 110);
    drop(s);

    // Idle: no entry for chunk_idle_period.
    let s = Skald::start(
        TestDir::new("idle_trigger"),
        &[NO_DISCOVERY, "--ingester.chunk_idle_period=1s", "--ingester.flush_check_period=100ms"],
    );
    let api = s.api();
    api.push_json(&json_push(vec![json_stream(&[("test", "idle")], vec![jv(t, "idle line")])])).await.expect(204, "push");
    wait_for_files(&s, "fake", "idle trigger");
    assert_eq!(api.query_all(r#"{test="idle"}"#, t - SEC, t + SEC, 1000).await.len(), 1);
    drop(s);

    // Age: a head older than max_chunk_age is flushed though its stream keeps receiving
    // entries (so it is never idle) and stays far under every size limit.
    let s = Skald::start(TestDir::new("age_trigger"), &[NO_DISCOVERY, "--ingester.max_chunk_age=2s", "--ingester.flush_check_period=100ms"]);
    let api = s.api();
    let started = Instant::now();
    let mut pushed = 0;
    while parquet_files(&s.dir.data(), "fake").is_empty() {
        assert!(started.elapsed() < Duration::from_secs(30), "age trigger: nothing flushed within 30 s");
        let entry = jv(t + pushed * 1_000_000, &format!("aging {pushed}"));
        api.push_json(&json_push(vec![json_stream(&[("test", "age")], vec![entry])])).await.expect(204, "push");
        pushed += 1;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(pushed >= 15, "the head was flushed after {pushed} pushes 100 ms apart, before it was 2 s old");
    assert_eq!(api.query_all(r#"{test="age"}"#, t - SEC, t + 60 * SEC, 1000).await.len(), pushed as usize);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenant_header_and_body_limits_answer_as_loki() {
    let s = Skald::start(TestDir::new("push_limits"), &[NO_DISCOVERY, "--auth_enabled=true"]);
    let t = base_ts(20);
    let body = json_push(vec![json_stream(&[("test", "limits")], vec![jv(t, "a line")])]);
    s.api().push_json(&body).await.expect_err(401, "no org id", "a push without X-Scope-OrgID");
    s.api().tenant("a|b").push_json(&body).await.expect_err(400, "multiple org IDs present", "a push naming two tenants");
    let api = s.api().tenant("acme");
    api.push_json(&body).await.expect(204, "a push naming one tenant");

    // A body over 100 MiB is refused with 413 before it is read, and nothing of it is kept.
    let big = vec![b' '; 100 * 1024 * 1024 + 1];
    match api.try_push_raw(Some("application/json"), big).await {
        Ok(r) => assert_eq!((r.status, r.body.trim_end()), (413, "request body too large: limit 104857600 bytes")),
        // The server may answer and close before the client finished sending.
        Err(e) => panic!("the 413 answer was lost: {e}"),
    }
    let rows = api.query_all(r#"{test="limits"}"#, t, t + 3600 * SEC, 100).await;
    assert_eq!(rows.len(), 1, "only the accepted push is stored: {rows:?}");
}
