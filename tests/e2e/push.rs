//! Push formats: JSON, gzip JSON, protobuf+snappy (HTTP) and protobuf over gRPC, each with
//! structured metadata, read back in both response encodings.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::harness::*;

const NO_DISCOVERY: &str = "--limits_config.discover_service_name=[]";

/// What one pushed entry should look like when read back.
struct Want {
    stream: Labels,
    ts: i64,
    line: String,
    sm: Labels,
}

fn want(stream: &[(&str, &str)], ts: i64, line: &str, sm: &[(&str, &str)]) -> Want {
    Want { stream: labels(stream), ts, line: line.to_string(), sm: labels(sm) }
}

/// Checks a query in both encodings against the expected entries:
/// * default: structured metadata folded into the stream labels;
/// * categorize-labels: stream = indexed labels only, 3-element values with the metadata.
async fn check_both_encodings(api: &Api, query: &str, start: i64, end: i64, wants: &[Want]) {
    // Default encoding.
    let streams = api.query_streams(query, start, end, 1000, "forward").await;
    assert_direction(&streams, "forward", query);
    for s in &streams {
        for v in &s.values {
            assert!(v.2.is_none(), "default encoding must return 2-element values, got {:?}", v);
        }
    }
    let want_rows: Vec<Row> = wants
        .iter()
        .map(|w| {
            let mut l = w.stream.clone();
            l.extend(w.sm.clone());
            row(w.ts, &w.line, &l)
        })
        .collect();
    assert_rows_eq(flatten(&streams), want_rows, &format!("{query} (default encoding)"));

    // categorize-labels.
    let r = api
        .get_with_headers(
            "/loki/api/v1/query_range",
            &[
                ("query", query.to_string()),
                ("start", start.to_string()),
                ("end", end.to_string()),
                ("limit", "1000".to_string()),
                ("direction", "forward".to_string()),
            ],
            &[("X-Loki-Response-Encoding-Flags", "categorize-labels")],
        )
        .await;
    r.expect(200, "categorize-labels query");
    let v = r.json();
    let flags = v["data"]["encodingFlags"].as_array().cloned().unwrap_or_default();
    assert!(
        flags.iter().any(|f| f == "categorize-labels"),
        "categorize-labels response must carry data.encodingFlags, got {}",
        r.body
    );
    let streams = parse_streams(&v["data"]["result"]);
    let mut got = Vec::new();
    for s in &streams {
        for (ts, line, third) in &s.values {
            let third = third.as_ref().unwrap_or_else(|| panic!("categorize-labels: value without 3rd element in {:?}", s.labels));
            assert!(third.is_object(), "3rd element must be an object, got {third}");
            let sm: Labels = match third.get("structuredMetadata") {
                None | Some(Value::Null) => BTreeMap::new(),
                Some(m) => serde_json::from_value(m.clone()).unwrap_or_else(|e| panic!("bad structuredMetadata {m}: {e}")),
            };
            got.push((s.labels.clone(), *ts, line.clone(), sm));
        }
    }
    let mut want: Vec<(Labels, i64, String, Labels)> =
        wants.iter().map(|w| (w.stream.clone(), w.ts, w.line.clone(), w.sm.clone())).collect();
    got.sort();
    want.sort();
    assert_eq!(got, want, "{query} (categorize-labels): (stream, ts, line, structured metadata) differ");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_formats_with_structured_metadata() {
    let s = Skald::start(TestDir::new("push_formats"), &[NO_DISCOVERY]);
    let api = s.api();
    let t = base_ts(20);
    let mut wants = Vec::new();

    // JSON, with and without structured metadata in one stream.
    let body = json_push(vec![json_stream(
        &[("test", "formats"), ("fmt", "json")],
        vec![
            jv(t + SEC, "json line one"),
            jv_sm(t + 2 * SEC, "json line two", &[("trace_id", "tj2"), ("user", "alice")]),
            jv_sm(t + 3 * SEC, "json line three", &[("trace_id", "tj3")]),
        ],
    )]);
    api.push_json(&body).await.expect(204, "JSON push");
    wants.push(want(&[("test", "formats"), ("fmt", "json")], t + SEC, "json line one", &[]));
    wants.push(want(&[("test", "formats"), ("fmt", "json")], t + 2 * SEC, "json line two", &[("trace_id", "tj2"), ("user", "alice")]));
    wants.push(want(&[("test", "formats"), ("fmt", "json")], t + 3 * SEC, "json line three", &[("trace_id", "tj3")]));

    // JSON with a charset parameter still counts as JSON.
    let body = json_push(vec![json_stream(&[("test", "formats"), ("fmt", "json")], vec![jv(t + 4 * SEC, "json charset")])]);
    api.push_raw(Some("application/json; charset=utf-8"), None, serde_json::to_vec(&body).expect("json"))
        .await
        .expect(204, "JSON push with charset");
    wants.push(want(&[("test", "formats"), ("fmt", "json")], t + 4 * SEC, "json charset", &[]));

    // gzip JSON.
    let body = json_push(vec![json_stream(
        &[("test", "formats"), ("fmt", "gzip")],
        vec![
            jv_sm(t + 5 * SEC, "gzip line one", &[("trace_id", "tg1")]),
            jv(t + 6 * SEC, "gzip line two \u{00e9}\u{4e2d} unicode"),
        ],
    )]);
    api.push_json_gzip(&body).await.expect(204, "gzip JSON push");
    wants.push(want(&[("test", "formats"), ("fmt", "gzip")], t + 5 * SEC, "gzip line one", &[("trace_id", "tg1")]));
    wants.push(want(&[("test", "formats"), ("fmt", "gzip")], t + 6 * SEC, "gzip line two \u{00e9}\u{4e2d} unicode", &[]));

    // protobuf + snappy, with a nanosecond-precise timestamp.
    let req = proto_push(vec![proto_stream(
        r#"{test="formats", fmt="proto"}"#,
        vec![
            proto_entry(t + 7 * SEC + 123_456_789, "proto line one", &[("trace_id", "tp1"), ("span", "s1")]),
            proto_entry(t + 8 * SEC, "proto line two", &[]),
        ],
    )]);
    api.push_proto(&req).await.expect(204, "protobuf push");
    wants.push(want(&[("test", "formats"), ("fmt", "proto")], t + 7 * SEC + 123_456_789, "proto line one", &[("trace_id", "tp1"), ("span", "s1")]));
    wants.push(want(&[("test", "formats"), ("fmt", "proto")], t + 8 * SEC, "proto line two", &[]));

    // Protobuf with no Content-Type at all is still protobuf (Loki's rule).
    let req = proto_push(vec![proto_stream(r#"{test="formats", fmt="proto"}"#, vec![proto_entry(t + 9 * SEC, "proto no content type", &[])])]);
    api.push_raw(None, None, proto_snappy(&req)).await.expect(204, "protobuf push without Content-Type");
    wants.push(want(&[("test", "formats"), ("fmt", "proto")], t + 9 * SEC, "proto no content type", &[]));

    let (start, end) = (t, t + 60 * SEC);
    check_both_encodings(&api, r#"{test="formats"}"#, start, end, &wants).await;

    // The same data after a flush comes from Parquet files and must look the same.
    api.flush().await;
    assert!(!parquet_files(&s.dir.data(), "fake").is_empty(), "no parquet files after /flush");
    check_both_encodings(&api, r#"{test="formats"}"#, start, end, &wants).await;

    // Selecting on a label of one format only.
    let only_proto: Vec<Want> = wants
        .iter()
        .filter(|w| w.stream.get("fmt").map(String::as_str) == Some("proto"))
        .map(|w| Want { stream: w.stream.clone(), ts: w.ts, line: w.line.clone(), sm: w.sm.clone() })
        .collect();
    check_both_encodings(&api, r#"{fmt="proto"}"#, start, end, &only_proto).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_push() {
    let s = Skald::start(TestDir::new("grpc_push"), &[NO_DISCOVERY]);
    let api = s.api();
    let t = base_ts(15);
    let mut client = proto::logproto::pusher_client::PusherClient::connect(format!("http://{}", s.grpc))
        .await
        .expect("connect to gRPC port");
    let req = proto_push(vec![proto_stream(
        r#"{test="grpc", via="pusher"}"#,
        vec![
            proto_entry(t + SEC, "grpc line one", &[("trace_id", "g1")]),
            proto_entry(t + 2 * SEC, "grpc line two", &[]),
        ],
    )]);
    tokio::time::timeout(REQUEST_TIMEOUT, client.push(req))
        .await
        .expect("gRPC push timed out")
        .expect("gRPC push failed");

    let wants = vec![
        want(&[("test", "grpc"), ("via", "pusher")], t + SEC, "grpc line one", &[("trace_id", "g1")]),
        want(&[("test", "grpc"), ("via", "pusher")], t + 2 * SEC, "grpc line two", &[]),
    ];
    check_both_encodings(&api, r#"{test="grpc"}"#, t, t + 60 * SEC, &wants).await;

    // An invalid stream over gRPC is rejected, not silently stored.
    let bad = proto_push(vec![proto_stream("{}", vec![proto_entry(t + 3 * SEC, "no labels", &[])])]);
    let res = tokio::time::timeout(REQUEST_TIMEOUT, client.push(bad)).await.expect("gRPC push timed out");
    assert!(res.is_err(), "gRPC push of a stream without labels must fail");
}

/// With Loki's default `discover_service_name`, a stream without `service_name` gets one from
/// the first present label of the list, else `unknown_service`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn service_name_discovery_default() {
    let s = Skald::start(TestDir::new("service_name"), &[]);
    let api = s.api();
    let t = base_ts(10);
    let body = json_push(vec![
        json_stream(&[("test", "svc"), ("app", "shop"), ("job", "ignored")], vec![jv(t + SEC, "from app")]),
        json_stream(&[("test", "svc"), ("job", "cron")], vec![jv(t + 2 * SEC, "from job")]),
        json_stream(&[("test", "svc"), ("zone", "x")], vec![jv(t + 3 * SEC, "nothing to discover")]),
        json_stream(&[("test", "svc"), ("service_name", "given"), ("app", "other")], vec![jv(t + 4 * SEC, "explicit")]),
    ]);
    api.push_json(&body).await.expect(204, "push");
    let streams = api.query_streams(r#"{test="svc"}"#, t, t + 60 * SEC, 100, "forward").await;
    let got = sorted(flatten(&streams));
    let want = sorted(vec![
        row(t + SEC, "from app", &labels(&[("test", "svc"), ("app", "shop"), ("job", "ignored"), ("service_name", "shop")])),
        row(t + 2 * SEC, "from job", &labels(&[("test", "svc"), ("job", "cron"), ("service_name", "cron")])),
        row(t + 3 * SEC, "nothing to discover", &labels(&[("test", "svc"), ("zone", "x"), ("service_name", "unknown_service")])),
        row(t + 4 * SEC, "explicit", &labels(&[("test", "svc"), ("service_name", "given"), ("app", "other")])),
    ]);
    assert_rows_eq(got, want, "service_name discovery");
    let r = api
        .get("/loki/api/v1/label/service_name/values", &[("start", t.to_string()), ("end", (t + 60 * SEC).to_string())])
        .await;
    let mut vals = string_list(&r, "service_name values");
    vals.sort();
    assert_eq!(vals, vec!["cron", "given", "shop", "unknown_service"]);
}
