//! End-to-end tests of the crate: a real Parquet chunk on a local object store plus head
//! batches behind a tiny `IngestView`, queried through the router.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::RecordBatch;
use async_trait::async_trait;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use object_store::ObjectStore;
use object_store::local::LocalFileSystem;
use serde_json::{Value, json};
use store::StoreError;
use store::index::TenantIndex;
use store::labels::{Labels, StreamId};
use store::matcher::matches_all;
use store::schema::EntryBatchBuilder;
use store::view::{IngestView, ReadSnapshot, SnapshotRequest};
use tower::ServiceExt;

use crate::{QueryState, router};

const T0: i64 = 1_700_000_000_000_000_000;
const SEC: i64 = 1_000_000_000;
const TENANT: &str = "t1";

type Row = (&'static str, i64, &'static str, &'static [(&'static str, &'static str)]);
/// An entry of a test batch: stream, timestamp, line, structured metadata.
type Entry<'a> = (StreamId, i64, &'a str, &'a [(&'a str, &'a str)]);

struct TestView {
    index: TenantIndex,
    /// Head rows per stream, already in entry schema.
    heads: Vec<(StreamId, Labels, RecordBatch)>,
}

#[async_trait]
impl IngestView for TestView {
    async fn snapshot(&self, tenant: &str, req: &SnapshotRequest) -> Result<ReadSnapshot, StoreError> {
        if tenant != TENANT {
            return Ok(ReadSnapshot::default());
        }
        let mut streams: HashMap<StreamId, Labels> = self
            .index
            .matching_streams(&req.matchers, req.start, req.end)
            .into_iter()
            .map(|(id, l)| (id, l.clone()))
            .collect();
        let mut heads = Vec::new();
        for (id, labels, batch) in &self.heads {
            if matches_all(&req.matchers, labels) {
                streams.insert(*id, labels.clone());
                if req.with_data {
                    heads.push(batch.clone());
                }
            }
        }
        let ids: Vec<StreamId> = streams.keys().copied().collect();
        let files = if req.with_data { self.index.files_for(&ids, req.start, req.end) } else { Vec::new() };
        Ok(ReadSnapshot { streams: streams.into_iter().collect(), files, heads, deletes: Vec::new(), row_groups: Default::default() })
    }
}

fn labels(s: &str) -> Labels {
    Labels::parse(s).expect("test labels")
}

fn batch(rows: &[Entry<'_>]) -> RecordBatch {
    let mut b = EntryBatchBuilder::new();
    for (id, ts, line, md) in rows {
        let md: Vec<(String, String)> = md.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        b.push(*id, *ts, line, &md).expect("push");
    }
    b.finish().expect("batch")
}

/// Two streams; older rows in a Parquet chunk, newer ones in heads.
async fn fixture() -> (axum::Router, std::path::PathBuf) {
    let dir = std::env::temp_dir().join(format!("skald-query-test-{}-{}", std::process::id(), rand_suffix()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let store: Arc<dyn ObjectStore> = Arc::new(LocalFileSystem::new_with_prefix(&dir).expect("local store"));
    let api = labels(r#"{app="api", env="prod"}"#);
    let web = labels(r#"{app="web", env="dev"}"#);
    let by_name: HashMap<&str, Labels> = HashMap::from([("api", api.clone()), ("web", web.clone())]);
    let file_rows: &[Row] = &[
        ("api", T0 + SEC, "GET /a 200", &[]),
        ("api", T0 + 2 * SEC, "GET /b 500 error", &[]),
        ("api", T0 + 3 * SEC, "POST /c 200", &[("trace_id", "abc")]),
        ("web", T0 + 3 * SEC / 2, "web started", &[]),
        ("web", T0 + 5 * SEC / 2, "web error timeout", &[]),
    ];
    let mut sorted: Vec<Entry<'_>> =
        file_rows.iter().map(|(s, ts, l, md)| (by_name[s].stream_id(), *ts, *l, *md)).collect();
    sorted.sort_by_key(|r| (r.0, r.1));
    let meta = store::chunk::write_chunk(&store::object::ChunkStore::remote(Arc::clone(&store)), "t1/chunks/0/1-1-5.parquet", &[batch(&sorted)])
        .await
        .expect("write chunk");
    let mut index = TenantIndex::default();
    let ids = HashMap::from([(api.stream_id(), api.clone()), (web.stream_id(), web.clone())]);
    index.add_file(meta, &ids);
    let heads = vec![
        (
            api.stream_id(),
            api.clone(),
            batch(&[
                (api.stream_id(), T0 + 4 * SEC, "GET /d 200 from 192.168.1.7", &[]),
                (api.stream_id(), T0 + 5 * SEC, "GET /e 503 error", &[("trace_id", "def")]),
            ]),
        ),
        (web.stream_id(), web.clone(), batch(&[(web.stream_id(), T0 + 9 * SEC / 2, "web ok", &[("app", "shadow")])])),
    ];
    let view = Arc::new(TestView { index, heads });
    let state = Arc::new(QueryState {
        view,
        object_store: store,
        limits: store::limits::Limits { max_entries_limit_per_query: 1000, ..Default::default() },
        auth_enabled: true,
        querier: crate::QuerierConfig::default(),
    });
    (router(state), dir)
}

fn rand_suffix() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(0);
    t ^ N.fetch_add(1, Ordering::Relaxed)
}

struct Resp {
    status: StatusCode,
    content_type: String,
    body: String,
}

impl Resp {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

async fn send(app: &axum::Router, req: Request<Body>) -> Resp {
    let resp = app.clone().oneshot(req).await.expect("router");
    let status = resp.status();
    let content_type = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX).await.expect("body");
    Resp { status, content_type, body: String::from_utf8_lossy(&bytes).into_owned() }
}

fn url(path: &str, params: &[(&str, &str)]) -> String {
    let q: String = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(params).finish();
    format!("{path}?{q}")
}

async fn get(app: &axum::Router, path: &str, params: &[(&str, &str)], headers: &[(&str, &str)]) -> Resp {
    let mut req = Request::get(url(path, params)).header("X-Scope-OrgID", TENANT);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    send(app, req.body(Body::empty()).expect("request")).await
}

async fn range(app: &axum::Router, query: &str, extra: &[(&str, &str)]) -> Resp {
    let start = T0.to_string();
    let end = (T0 + 10 * SEC).to_string();
    let mut params = vec![("query", query), ("start", start.as_str()), ("end", end.as_str())];
    params.extend_from_slice(extra);
    get(app, "/loki/api/v1/query_range", &params, &[]).await
}

/// `(labels, [ts offsets in ms])` per result stream, in response order.
fn streams(v: &Value) -> Vec<(Value, Vec<i64>)> {
    v["data"]["result"]
        .as_array()
        .expect("result")
        .iter()
        .map(|s| {
            let ts = s["values"]
                .as_array()
                .expect("values")
                .iter()
                .map(|e| (e[0].as_str().expect("ts").parse::<i64>().expect("ns") - T0) / 1_000_000)
                .collect();
            (s["stream"].clone(), ts)
        })
        .collect()
}

/// All entry offsets (ms) in response order across streams, sorted by the direction.
fn all_ts(v: &Value, backward: bool) -> Vec<i64> {
    let mut ts: Vec<i64> = streams(v).into_iter().flat_map(|(_, t)| t).collect();
    ts.sort();
    if backward {
        ts.reverse();
    }
    ts
}

#[tokio::test]
async fn log_queries_across_files_and_heads() {
    let (app, dir) = fixture().await;

    // Backward, global limit: the three newest entries, all from heads, metadata folded.
    let r = range(&app, r#"{env=~".+"}"#, &[("limit", "3")]).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.content_type, "application/json; charset=UTF-8");
    let v = r.json();
    assert_eq!(all_ts(&v, true), vec![5000, 4500, 4000]);
    let s = streams(&v);
    assert_eq!(
        s,
        vec![
            // Sorted by label string, where ',' sorts before '}'.
            (json!({"app": "api", "env": "prod", "trace_id": "def"}), vec![5000]),
            (json!({"app": "api", "env": "prod"}), vec![4000]),
            (json!({"app": "web", "app_extracted": "shadow", "env": "dev"}), vec![4500]),
        ]
    );
    assert!(r.body.starts_with(r#"{"status":"success","data":{"resultType":"streams","result":["#), "{}", r.body);
    assert_eq!(v["data"]["stats"]["summary"]["totalEntriesReturned"], json!(3));
    assert_eq!(v["data"]["stats"]["summary"]["totalLinesProcessed"], json!(8));

    // Forward: the oldest entries, all from the Parquet chunk, entries ascending per stream.
    let v = range(&app, r#"{env=~".+"}"#, &[("limit", "4"), ("direction", "FORWARD")]).await.json();
    assert_eq!(all_ts(&v, false), vec![1000, 1500, 2000, 2500]);
    assert_eq!(
        streams(&v),
        vec![(json!({"app": "api", "env": "prod"}), vec![1000, 2000]), (json!({"app": "web", "env": "dev"}), vec![1500, 2500])]
    );

    // Line filters across both sources.
    let v = range(&app, r#"{app="api"} |= "error""#, &[]).await.json();
    assert_eq!(all_ts(&v, true), vec![5000, 2000]);
    let v = range(&app, r#"{env=~".+"} |~ "(?i)ERROR" != "timeout""#, &[]).await.json();
    assert_eq!(all_ts(&v, true), vec![5000, 2000]);
    let v = range(&app, r#"{app="web"} |= "started" or "ok""#, &[]).await.json();
    assert_eq!(all_ts(&v, true), vec![4500, 1500]);
    let v = range(&app, r#"{app="web"} != "started" or "ok""#, &[]).await.json();
    assert_eq!(all_ts(&v, true), vec![2500]);
    let v = range(&app, r#"{app="api"} |= ip("192.168.1.0/24")"#, &[]).await.json();
    assert_eq!(all_ts(&v, true), vec![4000]);
    // A pattern ending in a literal must end the line; one ending in a capture needs text.
    let v = range(&app, r#"{app="api"} |> "GET <_> 200""#, &[]).await.json();
    assert_eq!(all_ts(&v, true), vec![1000]);
    let v = range(&app, r#"{app="api"} |> "<_> 200 <_>""#, &[]).await.json();
    assert_eq!(all_ts(&v, true), vec![4000]);
    let v = range(&app, r#"{app="api"} !> "GET <_>" or "<_> 500 <_>""#, &[]).await.json();
    assert_eq!(all_ts(&v, true), vec![3000]);
    let v = range(&app, r#"{app="api"} !~ "GET""#, &[]).await.json();
    assert_eq!(all_ts(&v, true), vec![3000]);

    // [start, end): the end is exclusive, the start inclusive.
    let start = (T0 + 2 * SEC).to_string();
    let end = (T0 + 4 * SEC).to_string();
    let r = get(&app, "/loki/api/v1/query_range", &[("query", r#"{env=~".+"}"#), ("start", &start), ("end", &end)], &[]).await;
    assert_eq!(all_ts(&r.json(), true), vec![3000, 2500, 2000]);

    // Categorized labels: indexed labels only, a third element on every value.
    let r = get(
        &app,
        "/loki/api/v1/query_range",
        &[("query", r#"{app="api"}"#), ("start", &T0.to_string()), ("end", &(T0 + 10 * SEC).to_string()), ("limit", "3")],
        &[("X-Loki-Response-Encoding-Flags", "categorize-labels")],
    )
    .await;
    assert!(
        r.body.starts_with(r#"{"status":"success","data":{"resultType":"streams","encodingFlags":["categorize-labels"],"result":[{"stream":{"app":"api","env":"prod"},"values":[["#),
        "{}",
        r.body
    );
    let v = r.json();
    let values = v["data"]["result"][0]["values"].as_array().expect("values").clone();
    assert_eq!(values.len(), 3);
    assert_eq!(values[0][2], json!({"structuredMetadata": {"trace_id": "def"}}));
    assert_eq!(values[1][2], json!({}));
    assert_eq!(values[2][2], json!({"structuredMetadata": {"trace_id": "abc"}}));

    // POST with a form body.
    let body = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs([("query", r#"{app="web"}"#), ("start", &T0.to_string()), ("end", &(T0 + 10 * SEC).to_string()), ("limit", "1")])
        .finish();
    let req = Request::post("/loki/api/v1/query_range")
        .header("X-Scope-OrgID", TENANT)
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(Body::from(body))
        .expect("request");
    let r = send(&app, req).await;
    assert_eq!(all_ts(&r.json(), true), vec![4500]);

    // Interval: at most one entry per 2s step, newest first.
    let v = range(&app, r#"{env=~".+"}"#, &[("interval", "2")]).await.json();
    assert_eq!(all_ts(&v, true), vec![5000, 3000, 1000]);

    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn errors_have_loki_status_and_text() {
    let (app, dir) = fixture().await;
    let check = |r: Resp, status: StatusCode, body: &str| {
        assert_eq!(r.status, status, "{}", r.body);
        assert_eq!(r.body, body);
        assert_eq!(r.content_type, "text/plain; charset=utf-8");
    };
    check(
        range(&app, "sum_over_time({app=\"api\"} | unwrap x [1m]) by (app)", &[]).await,
        StatusCode::BAD_REQUEST,
        "parse error : grouping not allowed for sum_over_time aggregation",
    );
    check(
        range(&app, "{}", &[]).await,
        StatusCode::BAD_REQUEST,
        &format!("parse error : {}", crate::logql::parser::EMPTY_MATCHERS_MSG),
    );
    check(
        range(&app, "rate({app=\"api\"}[1m]", &[]).await,
        StatusCode::BAD_REQUEST,
        "parse error at line 1, col 21: syntax error: unexpected $end, expecting )",
    );
    check(
        range(&app, "{app=\"api\"}", &[("limit", "1001")]).await,
        StatusCode::BAD_REQUEST,
        "max entries limit per query exceeded, limit > max_entries_limit_per_query (1001 > 1000)",
    );
    check(range(&app, "{app=\"api\"}", &[("direction", "sideways")]).await, StatusCode::BAD_REQUEST, "invalid direction 'sideways'");
    check(
        get(&app, "/loki/api/v1/query", &[("query", "{app=\"api\"}")], &[]).await,
        StatusCode::BAD_REQUEST,
        crate::error::LOG_INSTANT_NOT_SUPPORTED,
    );
    check(
        get(&app, "/loki/api/v1/query", &[("query", "topk(0, rate({app=\"api\"}[1m]))")], &[]).await,
        StatusCode::BAD_REQUEST,
        "parse error : invalid parameter (must be greater than 0) topk(0",
    );
    check(
        get(&app, "/loki/api/v1/query_range", &[("query", "{app=\"api\"}"), ("start", "0"), ("end", "100000000")], &[]).await,
        StatusCode::BAD_REQUEST,
        "the query time range exceeds the limit (query length: 27777h46m40s, limit: 30d1h)",
    );
    let req = Request::get(url("/loki/api/v1/labels", &[])).body(Body::empty()).expect("request");
    check(send(&app, req).await, StatusCode::UNAUTHORIZED, "no org id");
    // format_query answers a parse error as JSON, as Loki's handler does.
    let r = get(&app, "/loki/api/v1/format_query", &[("query", "sum(")], &[]).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    assert_eq!(r.content_type, "application/json; charset=utf-8");
    assert_eq!(r.body, r#"{"status":"invalid-query","error":"parse error at line 1, col 5: syntax error: unexpected $end"}"#);
    let r = range(&app, "{app=\"api\"} | json", &[]).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn metadata_endpoints() {
    let (app, dir) = fixture().await;
    let start = T0.to_string();
    let end = (T0 + 10 * SEC).to_string();
    let window = [("start", start.as_str()), ("end", end.as_str())];
    let r = get(&app, "/loki/api/v1/labels", &window, &[]).await;
    assert_eq!(r.body, r#"{"status":"success","data":["app","env"]}"#);
    let r = get(&app, "/loki/api/v1/label", &window, &[]).await;
    assert_eq!(r.body, r#"{"status":"success","data":["app","env"]}"#);
    let r = get(&app, "/loki/api/v1/label/app/values", &window, &[]).await;
    assert_eq!(r.body, r#"{"status":"success","data":["api","web"]}"#);
    let mut q = window.to_vec();
    q.push(("query", r#"{env="dev"}"#));
    let r = get(&app, "/loki/api/v1/label/app/values", &q, &[]).await;
    assert_eq!(r.body, r#"{"status":"success","data":["web"]}"#);
    let mut q = window.to_vec();
    q.push(("query", r#"{app="nope"}"#));
    let r = get(&app, "/loki/api/v1/labels", &q, &[]).await;
    assert_eq!(r.body, r#"{"status":"success"}"#);
    let mut q = window.to_vec();
    q.extend([("match[]", r#"{app="web"}"#), ("match", r#"{app="api"}"#), ("match[]", r#"{app="web"}"#)]);
    let r = get(&app, "/loki/api/v1/series", &q, &[]).await;
    assert_eq!(r.body, r#"{"status":"success","data":[{"app":"api","env":"prod"},{"app":"web","env":"dev"}]}"#);
    let mut q = window.to_vec();
    q.push(("match[]", "{ }"));
    let r = get(&app, "/loki/api/v1/series", &q, &[]).await;
    assert_eq!(r.json()["data"].as_array().map(Vec::len), Some(2));
    // No matcher at all: every series, as Loki's ParseSeriesQuery allows.
    let r = get(&app, "/loki/api/v1/series", &window, &[]).await;
    assert_eq!(r.body, r#"{"status":"success","data":[{"app":"api","env":"prod"},{"app":"web","env":"dev"}]}"#);
    let mut q = window.to_vec();
    q.push(("match[]", "{app="));
    let r = get(&app, "/loki/api/v1/series", &q, &[]).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    // A selector whose every matcher accepts the empty value is refused, as in Loki.
    let mut q = window.to_vec();
    q.push(("match[]", r#"{app=~".*"}"#));
    let r = get(&app, "/loki/api/v1/series", &q, &[]).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.body.contains("queries require at least one regexp or equality matcher"), "{}", r.body);
    let mut q = window.to_vec();
    q.push(("match[]", r#"{app="zzz"}"#));
    let r = get(&app, "/loki/api/v1/series", &q, &[]).await;
    assert_eq!(r.body, r#"{"status":"success","data":[]}"#);
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn parquet_scan_gets_the_predicate() {
    use datafusion::physical_plan::displayable;

    let dir = std::env::temp_dir().join(format!("skald-query-plan-{}-{}", std::process::id(), rand_suffix()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let store: Arc<dyn ObjectStore> = Arc::new(LocalFileSystem::new_with_prefix(&dir).expect("local store"));
    let l = labels(r#"{app="x"}"#);
    let id = l.stream_id();
    let meta = store::chunk::write_chunk(&store::object::ChunkStore::remote(Arc::clone(&store)), "c.parquet", &[batch(&[(id, T0, "a error", &[]), (id, T0 + 1, "b", &[])])])
        .await
        .expect("write");
    let snapshot = ReadSnapshot {
        streams: vec![(id, l.clone())],
        files: vec![meta],
        heads: vec![batch(&[(id, T0 + 2, "c error", &[])])],
        deletes: Vec::new(),
        row_groups: Default::default(),
    };
    let query = crate::plan::LogQuery {
        filters: vec![crate::logql::ast::LineFilter {
            op: crate::logql::ast::LineFilterOp::Contains,
            values: vec![crate::logql::ast::FilterValue::Literal("error".into())],
        }],
        start: T0,
        end: T0 + SEC,
        direction: crate::params::Direction::Backward,
    };
    let engine = crate::engine::Engine::new(store);
    let plan = crate::plan::build_log_plan(&snapshot, &query, None, Some(10), crate::plan::ScanOptions { partitions: 2, skip_filters: true }).expect("plan").expect("some plan");
    let physical = engine.session().state().create_physical_plan(&plan).await.expect("physical");
    let text = displayable(physical.as_ref()).indent(true).to_string();
    let parquet_line = text.lines().find(|l| l.contains("file_type=parquet")).unwrap_or_else(|| panic!("{text}"));
    assert!(parquet_line.contains("predicate="), "{text}");
    assert!(parquet_line.contains("stream_id"), "{text}");
    assert!(parquet_line.contains("contains"), "{text}");
    assert!(text.contains("fetch=10") || text.contains("TopK"), "{text}");
    let rows = engine.log_query(&snapshot, &query, None, 10, 0).await.expect("rows");
    assert_eq!(rows.iter().map(|r| r.ts).collect::<Vec<_>>(), vec![T0 + 2, T0]);
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn the_row_group_index_and_skip_filters_prune_row_groups() {
    let store: Arc<dyn ObjectStore> = Arc::new(object_store::memory::InMemory::new());
    let chunks = store::object::ChunkStore::remote(Arc::clone(&store));
    // Three streams, four rows each, in row groups of four rows: one stream per row group.
    let mut streams: Vec<(store::labels::StreamId, store::labels::Labels)> =
        ["a", "b", "c"].iter().map(|app| { let l = labels(&format!(r#"{{app="{app}"}}"#)); (l.stream_id(), l) }).collect();
    streams.sort_by_key(|(id, _)| *id);
    let lines: Vec<(store::labels::StreamId, i64, String)> = streams
        .iter()
        .enumerate()
        .flat_map(|(s, (id, _))| (0..4).map(move |i| (*id, T0 + i, if s == 2 && i == 1 { "needle qwertyzx".to_string() } else { format!("line {s} {i}") })))
        .collect();
    let rows: Vec<Entry<'_>> = lines.iter().map(|(id, ts, line)| (*id, *ts, line.as_str(), &[][..])).collect();
    let mut w = store::chunk::ChunkWriter::new(&chunks, "t/chunks/2026-11-26/0000-c1-0001-000.parquet", 4).expect("writer").with_skip_filters();
    w.write(&batch(&rows)).await.expect("write");
    let (meta, row_groups) = w.finish().await.expect("finish");
    assert_eq!(row_groups.len(), 3);
    let snapshot = |ids: &[usize]| ReadSnapshot {
        streams: ids.iter().map(|i| streams[*i].clone()).collect(),
        files: vec![meta.clone()],
        heads: Vec::new(),
        deletes: Vec::new(),
        row_groups: [(meta.path.clone(), row_groups.clone())].into(),
    };
    let query = |needle: Option<&str>| crate::plan::LogQuery {
        filters: needle
            .map(|n| crate::logql::ast::LineFilter {
                op: crate::logql::ast::LineFilterOp::Contains,
                values: vec![crate::logql::ast::FilterValue::Literal(n.into())],
            })
            .into_iter()
            .collect(),
        start: T0,
        end: T0 + SEC,
        direction: crate::params::Direction::Forward,
    };
    let engine = crate::engine::Engine::new(Arc::clone(&store));
    let pruned = crate::metrics::ROW_GROUPS_PRUNED_BY_INDEX.get();
    let rows = engine.log_query(&snapshot(&[1]), &query(None), None, 100, 0).await.expect("rows");
    assert_eq!(rows.len(), 4, "one stream's rows");
    assert!(crate::metrics::ROW_GROUPS_PRUNED_BY_INDEX.get() >= pruned + 2, "the other streams' row groups are not read");
    let skipped = crate::metrics::ROW_GROUPS_SKIPPED.get();
    let rows = engine.log_query(&snapshot(&[0, 1, 2]), &query(Some("qwertyzx")), None, 100, 0).await.expect("rows");
    assert_eq!(rows.iter().map(|r| r.line.as_str()).collect::<Vec<_>>(), vec!["needle qwertyzx"]);
    assert!(crate::metrics::ROW_GROUPS_SKIPPED.get() >= skipped + 2, "the skip filters rule out the other row groups");
}
