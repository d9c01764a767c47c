//! Queries across the flush boundary (entries in Parquet files and in heads at once), the
//! metadata endpoints, and the small HTTP API surface (/ready, /metrics, buildinfo, errors).

use crate::harness::*;

const NO_DISCOVERY: &str = "--limits_config.discover_service_name=[]";
const PARTS: [(&str, i64); 4] = [("a", 0), ("b", 1), ("old", 3), ("c", 2)];

/// The entry model of the flush test: (part, i) -> timestamp and line.
fn entry(t: i64, part: &str, off_ms: i64, i: i64) -> Row {
    let phase = if i < 40 { 1 } else { 2 };
    let level = if i % 3 == 0 { "error" } else { "info" };
    let line = format!("part={part} i={i:03} phase={phase} level={level} marker");
    row(t + i * SEC + off_ms * MS, &line, &labels(&[("job", "flush"), ("part", part)]))
}

/// a and b: phases 1 and 2; old: phase 1 only (files only); c: phase 2 only (heads only).
fn phase_rows(t: i64, phase: u8) -> Vec<Row> {
    let mut out = Vec::new();
    for (part, off) in PARTS {
        let range = if phase == 1 { 0..40 } else { 40..80 };
        for i in range {
            if (part == "old" && i >= 40) || (part == "c" && i < 40) {
                continue;
            }
            out.push(entry(t, part, off, i));
        }
    }
    out
}

async fn push_rows(api: &Api, rows: &[Row]) {
    // Group by part, in chunks of 10 entries, alternating formats.
    for (n, (part, _)) in PARTS.iter().enumerate() {
        let mine: Vec<&Row> = rows.iter().filter(|r| r.labels["part"] == *part).collect();
        for (k, chunk) in mine.chunks(10).enumerate() {
            if (n + k) % 2 == 0 {
                let values = chunk.iter().map(|r| jv(r.ts, &r.line)).collect();
                api.push_json(&json_push(vec![json_stream(&[("job", "flush"), ("part", part)], values)]))
                    .await
                    .expect(204, "push JSON");
            } else {
                let entries = chunk.iter().map(|r| proto_entry(r.ts, &r.line, &[])).collect();
                let req = proto_push(vec![proto_stream(&format!(r#"{{job="flush", part="{part}"}}"#), entries)]);
                api.push_proto(&req).await.expect(204, "push protobuf");
            }
        }
    }
}

/// Runs a log query and compares it with the model filtered by `keep`, then applies
/// direction and limit the way Loki does (a global cut by timestamp across streams).
#[allow(clippy::too_many_arguments)]
async fn check_query(
    api: &Api,
    model: &[Row],
    query: &str,
    start: i64,
    end: i64,
    limit: usize,
    direction: &str,
    keep: &dyn Fn(&Row) -> bool,
) {
    let mut want: Vec<Row> = model.iter().filter(|r| r.ts >= start && r.ts < end && keep(r)).cloned().collect();
    want.sort_by_key(|r| r.ts);
    if direction == "backward" {
        want.reverse();
    }
    want.truncate(limit);
    let streams = api.query_streams(query, start, end, limit, direction).await;
    let ctx = format!("{query} [{start},{end}) limit={limit} {direction}");
    assert_direction(&streams, direction, &ctx);
    // Streams are distinct label sets.
    let mut seen = std::collections::BTreeSet::new();
    for s in &streams {
        assert!(seen.insert(s.labels.clone()), "{ctx}: stream {:?} returned twice", s.labels);
    }
    assert_rows_eq(flatten(&streams), want, &ctx);
}

async fn check_all_queries(api: &Api, model: &[Row], t: i64) {
    let end = t + 200 * SEC;
    let all = |_: &Row| true;
    let part = |r: &Row| r.labels["part"].clone();
    // Everything, both directions, exactly once.
    check_query(api, model, r#"{job="flush"}"#, t, end, 1000, "forward", &all).await;
    check_query(api, model, r#"{job="flush"}"#, t, end, 1000, "backward", &all).await;
    // Limit across streams.
    check_query(api, model, r#"{job="flush"}"#, t, end, 10, "backward", &all).await;
    check_query(api, model, r#"{job="flush"}"#, t, end, 7, "forward", &all).await;
    // A limit that cuts inside the flushed range and one that needs the heads.
    check_query(api, model, r#"{job="flush"}"#, t, end, 150, "forward", &all).await;
    check_query(api, model, r#"{job="flush"}"#, t, end, 150, "backward", &all).await;
    // [start, end): start inclusive, end exclusive, on exact entry timestamps.
    check_query(api, model, r#"{job="flush", part="a"}"#, t + 10 * SEC, t + 20 * SEC, 1000, "forward", &|r| part(r) == "a").await;
    check_query(api, model, r#"{job="flush"}"#, t + 10 * SEC, t + 20 * SEC, 1000, "backward", &all).await;
    // A window spanning files (i < 40) and heads (i >= 40).
    check_query(api, model, r#"{job="flush"}"#, t + 35 * SEC, t + 45 * SEC + 2 * MS, 1000, "forward", &all).await;
    check_query(api, model, r#"{job="flush"}"#, t + 35 * SEC, t + 45 * SEC + 2 * MS, 5, "backward", &all).await;
    // Regex and negative selectors.
    check_query(api, model, r#"{job="flush", part=~"a|c"}"#, t, end, 1000, "forward", &|r| ["a", "c"].contains(&part(r).as_str())).await;
    check_query(api, model, r#"{job="flush", part!~"a|b"}"#, t, end, 1000, "forward", &|r| ["old", "c"].contains(&part(r).as_str())).await;
    check_query(api, model, r#"{job="flush", part!="a"}"#, t, end, 1000, "backward", &|r| part(r) != "a").await;
    check_query(api, model, r#"{part=~"o.*"}"#, t, end, 1000, "forward", &|r| part(r) == "old").await;
    check_query(api, model, r#"{job=~"fl.sh", part=~".+", part!~"b|c|old"}"#, t, end, 1000, "forward", &|r| part(r) == "a").await;
    // Line filter chains.
    check_query(api, model, r#"{job="flush"} |= "level=error" != "part=b" |~ "i=0[0-9]7""#, t, end, 1000, "forward", &|r| {
        r.line.contains("level=error") && !r.line.contains("part=b") && r.line.contains("i=0") && r.line[r.line.find("i=").expect("i=") + 4..].starts_with('7')
    })
    .await;
    check_query(api, model, r#"{job="flush"} |~ "(?i)LEVEL=ERROR" !~ "phase=1""#, t, end, 1000, "backward", &|r| {
        r.line.contains("level=error") && r.line.contains("phase=2")
    })
    .await;
    check_query(api, model, r#"{job="flush"} |= "i=04""#, t, end, 1000, "forward", &|r| r.line.contains("i=04")).await;
    check_query(api, model, r#"{job="flush"} != "marker""#, t, end, 1000, "forward", &|_| false).await;
    // No match at all.
    check_query(api, model, r#"{job="nope"}"#, t, end, 1000, "forward", &|_| false).await;

    // Labels, label values and series see files and heads.
    let range = vec![("start", t.to_string()), ("end", end.to_string())];
    let names = string_list(&api.get("/loki/api/v1/labels", &range).await, "labels");
    assert_eq!(names, vec!["job", "part"], "labels must be sorted, unique, and complete");
    let alias = string_list(&api.get("/loki/api/v1/label", &range).await, "label alias");
    assert_eq!(alias, names, "/label is an alias of /labels");
    let vals = string_list(&api.get("/loki/api/v1/label/part/values", &range).await, "part values");
    assert_eq!(vals, vec!["a", "b", "c", "old"], "label values from files (old) and heads (c)");
    let mut q = range.clone();
    q.push(("query", r#"{part=~"a|old"}"#.to_string()));
    let vals = string_list(&api.get("/loki/api/v1/label/part/values", &q).await, "part values with query");
    assert_eq!(vals, vec!["a", "old"], "label values restricted by query");
    let vals = string_list(&api.get("/loki/api/v1/label/nope/values", &range).await, "unknown label values");
    assert!(vals.is_empty(), "values of an unknown label: {vals:?}");

    let series = |ps: &[&str]| -> Vec<Labels> {
        let mut v: Vec<Labels> = ps.iter().map(|p| labels(&[("job", "flush"), ("part", p)])).collect();
        v.sort();
        v
    };
    let mut q = range.clone();
    q.push(("match[]", r#"{job="flush"}"#.to_string()));
    assert_eq!(series_list(&api.get("/loki/api/v1/series", &q).await, "series match[]"), series(&["a", "b", "c", "old"]));
    let mut q = range.clone();
    q.push(("match", r#"{part=~"a|old"}"#.to_string()));
    assert_eq!(series_list(&api.get("/loki/api/v1/series", &q).await, "series match"), series(&["a", "old"]));
    let mut q = range.clone();
    q.push(("match[]", r#"{part="c"}"#.to_string()));
    q.push(("match[]", r#"{part="old"}"#.to_string()));
    assert_eq!(series_list(&api.get("/loki/api/v1/series", &q).await, "series union"), series(&["c", "old"]));
    // A time range that only covers phase 1 does not list c (phase 2 only).
    let q = vec![("start", t.to_string()), ("end", (t + 30 * SEC).to_string()), ("match[]", r#"{job="flush"}"#.to_string())];
    assert_eq!(series_list(&api.get("/loki/api/v1/series", &q).await, "series phase 1"), series(&["a", "b", "old"]));
    let q = vec![("start", t.to_string()), ("end", end.to_string()), ("match[]", r#"{job="none"}"#.to_string())];
    let r = api.get("/loki/api/v1/series", &q).await;
    r.expect(200, "series without match");
    assert!(r.json()["data"].is_array(), "series data must be present even when empty: {}", r.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queries_across_flush_boundary() {
    let s = Skald::start(TestDir::new("flush_boundary"), &[NO_DISCOVERY]);
    let api = s.api();
    let t = base_ts(30);
    let data = s.dir.data();

    let p1 = phase_rows(t, 1);
    push_rows(&api, &p1).await;
    api.flush().await;
    let files1 = parquet_files(&data, "fake");
    assert!(!files1.is_empty(), "POST /flush returned but no parquet file under {}/chunks/fake/chunks/<day>/", data.display());
    // Heads are empty now; everything comes from files.
    check_query(&api, &p1, r#"{job="flush"}"#, t, t + 200 * SEC, 1000, "forward", &|_| true).await;

    let p2 = phase_rows(t, 2);
    push_rows(&api, &p2).await;
    let model: Vec<Row> = p1.iter().chain(p2.iter()).cloned().collect();
    check_all_queries(&api, &model, t).await;

    // A second flush moves phase 2 into files too; nothing is lost or doubled.
    api.flush().await;
    let files2 = parquet_files(&data, "fake");
    assert!(files2.len() > files1.len(), "second /flush wrote no new file ({} -> {})", files1.len(), files2.len());
    check_all_queries(&api, &model, t).await;
    // A flush with nothing to flush is fine and changes nothing.
    api.flush().await;
    check_query(&api, &model, r#"{job="flush"}"#, t, t + 200 * SEC, 1000, "forward", &|_| true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_api_surface() {
    let s = Skald::start(TestDir::new("api_surface"), &[NO_DISCOVERY]);
    let api = s.api();
    let t = base_ts(10);

    let r = api.get("/ready", &[]).await;
    r.expect(200, "/ready");
    assert_eq!(r.body.trim(), "ready");

    api.push_json(&json_push(vec![json_stream(&[("job", "api")], vec![jv(t, "hello"), jv(t + SEC, "world")])]))
        .await
        .expect(204, "push");

    let r = api.get("/metrics", &[]).await;
    r.expect(200, "/metrics");
    assert!(
        r.body.lines().any(|l| l.starts_with("skald_")),
        "/metrics must expose skald_* series, got {:?}",
        r.body.chars().take(500).collect::<String>()
    );
    assert!(r.body.contains("# TYPE"), "/metrics must be Prometheus text format");

    let r = api.get("/loki/api/v1/status/buildinfo", &[]).await;
    r.expect(200, "buildinfo");
    let v = r.json();
    assert!(v["version"].is_string(), "buildinfo must be flat JSON with a version: {}", r.body);
    assert!(v.get("status").is_none() && v.get("data").is_none(), "buildinfo has no status wrapper: {}", r.body);

    // Success responses are Loki JSON with stats.
    let r = api.query_range_resp(r#"{job="api"}"#, t, t + 60 * SEC, 10, "forward").await;
    r.expect(200, "query_range");
    assert!(r.content_type.starts_with("application/json"), "content type {}", r.content_type);
    let v = r.json();
    assert!(v["data"]["stats"].is_object(), "data.stats must be present: {}", r.body);
    let rows = flatten(&parse_streams(&v["data"]["result"]));
    assert_eq!(rows.iter().map(|r| r.line.as_str()).collect::<Vec<_>>(), vec!["hello", "world"]);

    // Seconds, RFC3339 and ns timestamps are all accepted for start/end; POST form too.
    let secs = |ns: i64| format!("{}.{:03}", ns / SEC, (ns % SEC) / MS);
    for (start, end) in [
        (secs(t), secs(t + 60 * SEC)),
        ((t / SEC).to_string(), (t / SEC + 60).to_string()),
        (rfc3339(t), rfc3339(t + 60 * SEC)),
        (t.to_string(), (t + 60 * SEC).to_string()),
    ] {
        let r = api
            .get(
                "/loki/api/v1/query_range",
                &[("query", r#"{job="api"}"#.into()), ("start", start.clone()), ("end", end.clone()), ("direction", "forward".into())],
            )
            .await;
        r.expect(200, &format!("query_range start={start}"));
        assert_eq!(flatten(&parse_streams(&r.json()["data"]["result"])).len(), 2, "start={start} end={end}: {}", r.body);
    }
    let r = api
        .post_form(
            "/loki/api/v1/query_range",
            &[("query", r#"{job="api"} |= "world""#.into()), ("start", t.to_string()), ("end", (t + 60 * SEC).to_string())],
        )
        .await;
    r.expect(200, "POST query_range");
    let rows = flatten(&parse_streams(&r.json()["data"]["result"]));
    assert_eq!(rows.iter().map(|r| r.line.as_str()).collect::<Vec<_>>(), vec!["world"]);
    // `since` default window includes recent data.
    let r = api.get("/loki/api/v1/query_range", &[("query", r#"{job="api"}"#.into()), ("since", "1h".into())]).await;
    r.expect(200, "query_range since");
    assert_eq!(flatten(&parse_streams(&r.json()["data"]["result"])).len(), 2, "since=1h: {}", r.body);

    // Errors.
    // Query parameters with `extra` replacing the defaults of the same name.
    let q = |query: &str, extra: &[(&'static str, String)]| {
        let mut p = vec![("query", query.to_string()), ("start", t.to_string()), ("end", (t + 60 * SEC).to_string())];
        p.retain(|(k, _)| !extra.iter().any(|(e, _)| e == k));
        p.extend(extra.iter().cloned());
        p
    };
    api.get("/loki/api/v1/query_range", &q(r#"{job="api""#, &[]))
        .await
        .expect_err(400, "parse error at line 1, col", "unterminated selector");
    api.get("/loki/api/v1/query_range", &q(r#"{job="api"} |= "#, &[])).await.expect_err(400, "parse error", "dangling filter");
    api.get("/loki/api/v1/query_range", &q(r#"{job="api"}"#, &[("direction", "sideways".into())]))
        .await
        .expect_err(400, "invalid direction", "bad direction");
    api.get("/loki/api/v1/query_range", &q(r#"{job="api"}"#, &[("limit", "5001".into())]))
        .await
        .expect_err(400, "max entries limit per query exceeded", "limit above max_entries_limit_per_query");
    api.get("/loki/api/v1/query_range", &q(r#"{job="api"}"#, &[("limit", "0".into())])).await.expect(400, "limit 0");
    api.get(
        "/loki/api/v1/query_range",
        &[("query", r#"{job="api"}"#.into()), ("start", (t + 60 * SEC).to_string()), ("end", t.to_string())],
    )
    .await
    .expect(400, "end before start");
    api.get("/loki/api/v1/query_range", &q(r#"{job="api"}"#, &[("start", "yesterday".into())]))
        .await
        .expect_err(400, "could not parse 'start' parameter", "bad start");
    api.get("/loki/api/v1/query", &[("query", r#"{job="api"}"#.into()), ("time", (t + SEC).to_string())])
        .await
        .expect_err(400, "log queries are not supported as an instant query type", "instant log query");
    api.get("/loki/api/v1/series", &[("match[]", "{job=".into())]).await.expect(400, "bad series matcher");
    // Case-insensitive direction works.
    api.get("/loki/api/v1/query_range", &q(r#"{job="api"}"#, &[("direction", "FORWARD".into())])).await.expect(200, "FORWARD");
}

/// `2025-11-20T10:00:00.5Z`-style RFC3339 with nanoseconds.
fn rfc3339(ns: i64) -> String {
    chrono::DateTime::from_timestamp_nanos(ns).to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}
