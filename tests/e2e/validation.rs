//! Ingest validation (Loki's messages and status codes), partial success, deduplication, the
//! out-of-order window, and tenants.

use serde_json::json;

use crate::harness::*;

const NO_DISCOVERY: &str = "--limits_config.discover_service_name=[]";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_validation_errors() {
    let s = Skald::start(TestDir::new("validation"), &[NO_DISCOVERY]);
    let api = s.api();
    let now = now_ns();
    let t = base_ts(30);
    let ok = |l: &str| json_stream(&[("test", "valid"), ("case", l)], vec![jv(t, "fine")]);

    // Empty request.
    api.push_json(&json!({"streams": []})).await.expect_err(
        422,
        "error at least one valid stream is required for ingestion",
        "empty streams",
    );
    // A stream without labels.
    api.push_json(&json_push(vec![json_stream(&[], vec![jv(t, "x")])])).await.expect_err(
        400,
        "at least one label pair is required per stream",
        "empty label set",
    );
    // Line too long (default max_line_size 256KB).
    let long = "x".repeat(300_000);
    api.push_json(&json_push(vec![json_stream(&[("test", "valid"), ("case", "long")], vec![jv(t, &long)])]))
        .await
        .expect_err(400, "max entry size", "line too long")
        .expect_err(400, "bytes exceeded for stream", "line too long")
        .expect_err(400, "300000", "line too long (entry length)");
    // Too old (default 168h).
    api.push_json(&json_push(vec![json_stream(&[("test", "valid"), ("case", "old")], vec![jv(now - 8 * 24 * 3600 * SEC, "old")])]))
        .await
        .expect_err(400, "timestamp too old", "too old");
    // Too new (default grace 10m).
    api.push_json(&json_push(vec![json_stream(&[("test", "valid"), ("case", "new")], vec![jv(now + 3600 * SEC, "new")])]))
        .await
        .expect_err(400, "timestamp too new", "too new");
    // 16 label names, limit 15.
    let many: Vec<(String, String)> = (0..16).map(|i| (format!("l{i:02}"), "v".to_string())).collect();
    let many_ref: Vec<(&str, &str)> = many.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    api.push_json(&json_push(vec![json_stream(&many_ref, vec![jv(t, "many labels")])]))
        .await
        .expect_err(400, "has 16 label names; limit 15", "too many labels");
    // Label name too long (1024).
    let long_name = "n".repeat(1025);
    api.push_json(&json_push(vec![json_stream(&[("test", "valid"), (long_name.as_str(), "v")], vec![jv(t, "x")])]))
        .await
        .expect_err(400, "has label name too long", "label name too long");
    // Label value too long (2048).
    let long_value = "v".repeat(2049);
    api.push_json(&json_push(vec![json_stream(&[("test", "valid"), ("case", long_value.as_str())], vec![jv(t, "x")])]))
        .await
        .expect_err(400, "has label value too long", "label value too long");
    // Duplicate label name (only expressible in the protobuf labels string).
    let req = proto_push(vec![proto_stream(r#"{test="valid", dup="1", dup="2"}"#, vec![proto_entry(t, "dup", &[])])]);
    api.push_proto(&req).await.expect_err(400, "duplicate label name", "duplicate label name");
    // Unparseable labels string: 400 for the whole request.
    let req = proto_push(vec![
        proto_stream(r#"{test="valid", case="parse-ok"}"#, vec![proto_entry(t, "with a bad neighbour", &[])]),
        proto_stream(r#"{test="valid", broken="#, vec![proto_entry(t, "bad labels", &[])]),
    ]);
    api.push_proto(&req).await.expect_err(400, "couldn't parse labels", "bad labels string");
    // A JSON label key that is not a valid label name.
    api.push_json(&json_push(vec![json_stream(&[("service.name", "x")], vec![jv(t, "dotted")])]))
        .await
        .expect(400, "dotted label name");
    // Timestamp as a JSON number, and as RFC3339.
    let body = json!({"streams":[{"stream":{"test":"valid","case":"numts"},"values":[[t, "number ts"]]}]});
    api.push_json(&body).await.expect(400, "numeric timestamp");
    let body = json!({"streams":[{"stream":{"test":"valid","case":"rfcts"},"values":[["2025-11-20T00:00:00Z", "rfc ts"]]}]});
    api.push_json(&body).await.expect(400, "RFC3339 timestamp");
    // Structured metadata values must be strings.
    let body = json!({"streams":[{"stream":{"test":"valid","case":"smnum"},"values":[[t.to_string(), "sm number", {"n": 1}]]}]});
    api.push_json(&body).await.expect(400, "non-string structured metadata");
    // Malformed JSON and malformed protobuf.
    api.push_raw(Some("application/json"), None, b"{\"streams\": [".to_vec()).await.expect(400, "truncated JSON");
    api.push_raw(Some("application/x-protobuf"), None, b"definitely not snappy".to_vec()).await.expect(400, "garbage protobuf");
    // Unsupported Content-Encoding.
    api.push_raw(Some("application/json"), Some("br"), serde_json::to_vec(&json_push(vec![ok("br")])).expect("json"))
        .await
        .expect_err(400, "not supported", "Content-Encoding br");

    // None of the rejected requests stored anything.
    let streams = api.query_streams(r#"{test="valid"}"#, t - 10 * 24 * 3600 * SEC, now + 5 * 60 * SEC, 1000, "forward").await;
    assert!(streams.is_empty(), "rejected pushes must not store entries, got {streams:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partial_success_dedup_and_order_window() {
    let s = Skald::start(TestDir::new("partial"), &[NO_DISCOVERY]);
    let api = s.api();
    let now = now_ns();
    let t = base_ts(30);
    let a = labels(&[("test", "partial"), ("s", "a")]);
    let b = labels(&[("test", "partial"), ("s", "b")]);

    // One request, two streams, a mix of valid and invalid entries.
    let body = json_push(vec![
        json_stream(
            &[("test", "partial"), ("s", "a")],
            vec![jv(t + SEC, "a valid 1"), jv(t + 2 * SEC, &"y".repeat(300_000)), jv(t + 3 * SEC, "a valid 2")],
        ),
        json_stream(
            &[("test", "partial"), ("s", "b")],
            vec![jv(now - 9 * 24 * 3600 * SEC, "b too old"), jv(t + 4 * SEC, "b valid"), jv(now + 3600 * SEC, "b too new")],
        ),
    ]);
    let r = api.push_json(&body).await;
    r.expect(400, "partly invalid push");
    assert!(r.body.contains("max entry size"), "partial push body should report the long line: {}", r.body);
    assert!(r.body.contains("timestamp too old"), "partial push body should report the old entry: {}", r.body);
    assert!(r.body.contains("timestamp too new"), "partial push body should report the new entry: {}", r.body);

    let got = api.query_streams(r#"{test="partial"}"#, t, now + 2 * 3600 * SEC, 1000, "forward").await;
    assert_rows_eq(
        flatten(&got),
        vec![row(t + SEC, "a valid 1", &a), row(t + 3 * SEC, "a valid 2", &a), row(t + 4 * SEC, "b valid", &b)],
        "valid entries of a partly invalid push are written",
    );

    // Exact duplicates (stream, ts, line) are stored once; same ts with another line is kept.
    let dup = json_push(vec![json_stream(&[("test", "partial"), ("s", "a")], vec![jv(t + 10 * SEC, "dup line")])]);
    api.push_json(&dup).await.expect(204, "first copy");
    api.push_json(&dup).await.expect(204, "second copy");
    let req = proto_push(vec![proto_stream(r#"{test="partial", s="a"}"#, vec![proto_entry(t + 10 * SEC, "dup line", &[])])]);
    api.push_proto(&req).await.expect(204, "third copy via protobuf");
    let same_ts = json_push(vec![json_stream(&[("test", "partial"), ("s", "a")], vec![jv(t + 10 * SEC, "other line same ts")])]);
    api.push_json(&same_ts).await.expect(204, "same ts, other line");
    // Duplicates inside one request too.
    let inner = json_push(vec![json_stream(
        &[("test", "partial"), ("s", "a")],
        vec![jv(t + 11 * SEC, "inner dup"), jv(t + 11 * SEC, "inner dup")],
    )]);
    api.push_json(&inner).await.expect(204, "duplicate inside one request");

    let check_dups = |got: Vec<Row>| {
        let n = |line: &str| got.iter().filter(|r| r.line == line).count();
        assert_eq!(n("dup line"), 1, "identical entry pushed three times must be stored once: {got:?}");
        assert_eq!(n("other line same ts"), 1, "same timestamp, other line must be kept");
        assert_eq!(n("inner dup"), 1, "identical entries in one request must be stored once");
    };
    let end = t + 3600 * SEC;
    check_dups(flatten(&api.query_streams(r#"{test="partial", s="a"}"#, t, end, 1000, "forward").await));
    // Still once after the heads moved to files, and after pushing the same entry again on top.
    api.flush().await;
    api.push_json(&dup).await.expect(204, "copy after flush");
    check_dups(flatten(&api.query_streams(r#"{test="partial", s="a"}"#, t, end, 1000, "forward").await));
    api.flush().await;
    check_dups(flatten(&api.query_streams(r#"{test="partial", s="a"}"#, t, end, 1000, "forward").await));
    // Metric queries count the entry once too: while its copies sit in two files, and after
    // the compactor merged them into one.
    let count = || async {
        let q = r#"sum(count_over_time({test="partial", s="a"} |= "dup line" [2h]))"#;
        let r = api.get("/loki/api/v1/query", &[("query", q.to_string()), ("time", end.to_string())]).await;
        r.expect(200, "count of the duplicated entry");
        r.json()["data"]["result"][0]["value"][1].as_str().unwrap_or("none").to_string()
    };
    assert_eq!(count().await, "1", "a retried entry counts once across files");
    api.post("/compactor/run").await.expect(200, "compaction");
    assert_eq!(count().await, "1", "a retried entry counts once after compaction");
    check_dups(flatten(&api.query_streams(r#"{test="partial", s="a"}"#, t, end, 1000, "forward").await));
    let metrics = api.get("/metrics", &[]).await.body;
    assert!(
        metrics.lines().any(|l| l.strip_prefix("skald_compactor_duplicates_dropped_total ").is_some_and(|v| v.trim() != "0")),
        "the compactor dropped the stored copy"
    );

    // Out-of-order window: highest ts - max_chunk_age/2 (1h by default).
    let o = json_stream(&[("test", "order")], vec![jv(now - 5 * 60 * SEC, "newest")]);
    api.push_json(&json_push(vec![o])).await.expect(204, "newest entry");
    let within = json_stream(&[("test", "order")], vec![jv(now - 40 * 60 * SEC, "40m behind")]);
    api.push_json(&json_push(vec![within])).await.expect(204, "entry within the window");
    let behind = json_stream(&[("test", "order")], vec![jv(now - 2 * 3600 * SEC, "2h behind")]);
    api.push_json(&json_push(vec![behind])).await.expect_err(400, "entry too far behind", "entry behind the window");
    let got = api.query_streams(r#"{test="order"}"#, now - 3 * 3600 * SEC, now + 60 * SEC, 100, "forward").await;
    let lines: Vec<String> = flatten(&got).into_iter().map(|r| r.line).collect();
    assert_eq!(lines, vec!["40m behind", "newest"], "out-of-order window");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_and_tenant_isolation() {
    let s = Skald::start(TestDir::new("auth"), &["--auth_enabled=true", NO_DISCOVERY]);
    let anon = s.api();
    let ta = anon.tenant("tenant-a");
    let tb = anon.tenant("tenant-b");
    let t = base_ts(20);
    let (start, end) = (t, t + 600 * SEC);
    let range = [("start", start.to_string()), ("end", end.to_string())];

    // Without X-Scope-OrgID: 401 "no org id", on push and on reads.
    let body = json_push(vec![json_stream(&[("who", "nobody")], vec![jv(t + SEC, "anon")])]);
    anon.push_json(&body).await.expect_err(401, "no org id", "push without tenant");
    anon.query_range_resp(r#"{who="nobody"}"#, start, end, 10, "forward").await.expect_err(401, "no org id", "query without tenant");
    anon.get("/loki/api/v1/labels", &range).await.expect_err(401, "no org id", "labels without tenant");
    anon.get("/loki/api/v1/series", &[("match[]", r#"{who="nobody"}"#.to_string())]).await.expect(401, "series without tenant");
    // An invalid tenant id must never reach the file system.
    anon.tenant("../escape").push_json(&body).await.expect(400, "tenant id with a slash");
    anon.tenant("..").push_json(&body).await.expect(400, "tenant id '..'");

    ta.push_json(&json_push(vec![json_stream(&[("who", "a"), ("only_a", "yes")], vec![jv(t + SEC, "secret of a")])]))
        .await
        .expect(204, "push a");
    tb.push_json(&json_push(vec![json_stream(&[("who", "b")], vec![jv(t + 2 * SEC, "secret of b")])]))
        .await
        .expect(204, "push b");
    // A same-label stream in both tenants.
    for (api, line) in [(&ta, "shared from a"), (&tb, "shared from b")] {
        api.push_json(&json_push(vec![json_stream(&[("shared", "1")], vec![jv(t + 3 * SEC, line)])])).await.expect(204, "shared push");
    }

    check_tenant(&ta, "a", "b", start, end).await;
    check_tenant(&tb, "b", "a", start, end).await;

    // Flush writes per-tenant files; isolation holds across files too.
    ta.flush().await;
    tb.flush().await;
    assert!(!parquet_files(&s.dir.data(), "tenant-a").is_empty(), "tenant-a has no chunk files after /flush");
    assert!(!parquet_files(&s.dir.data(), "tenant-b").is_empty(), "tenant-b has no chunk files after /flush");
    check_tenant(&ta, "a", "b", start, end).await;
    check_tenant(&tb, "b", "a", start, end).await;
}

async fn check_tenant(api: &Api, me: &str, other: &str, start: i64, end: i64) {
    let range = [("start", start.to_string()), ("end", end.to_string())];
    let rows = flatten(&api.query_streams(r#"{who=~".+"}"#, start, end, 100, "forward").await);
    let lines: Vec<&str> = rows.iter().map(|r| r.line.as_str()).collect();
    assert_eq!(lines, vec![format!("secret of {me}")], "tenant {me} sees only its own entries");
    let rows = flatten(&api.query_streams(r#"{shared="1"}"#, start, end, 100, "forward").await);
    let lines: Vec<&str> = rows.iter().map(|r| r.line.as_str()).collect();
    assert_eq!(lines, vec![format!("shared from {me}")], "tenant {me}: same labels, own data");
    let vals = string_list(&api.get("/loki/api/v1/label/who/values", &range).await, "who values");
    assert_eq!(vals, vec![me.to_string()], "tenant {me}: label values");
    let names = string_list(&api.get("/loki/api/v1/labels", &range).await, "labels");
    assert_eq!(names.contains(&"only_a".to_string()), me == "a", "tenant {me}: labels {names:?}");
    let mut params = range.to_vec();
    params.push(("match[]", format!(r#"{{who="{other}"}}"#)));
    let series = series_list(&api.get("/loki/api/v1/series", &params).await, "series");
    assert!(series.is_empty(), "tenant {me} must not see series of {other}: {series:?}");
}
