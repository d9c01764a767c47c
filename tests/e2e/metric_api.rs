//! Metric query limits (series, timeout, memory), `format_query`, the explain endpoint and
//! `skald query`, against real processes.

use crate::harness::*;

const NO_DISCOVERY: &str = "--limits_config.discover_service_name=[]";

/// Three streams with a few lines each, `minutes_ago` minutes back.
async fn load(api: &Api) -> i64 {
    let t = base_ts(10);
    let streams = ["a", "b", "c"]
        .iter()
        .map(|pod| json_stream(&[("app", "m"), ("pod", pod)], (0..5).map(|i| jv(t + i * SEC, &format!("level=info n={i}"))).collect()))
        .collect();
    api.push_json(&json_push(streams)).await.expect(204, "push");
    t
}

fn range_params(q: &str, t: i64) -> Vec<(&'static str, String)> {
    vec![("query", q.to_string()), ("start", (t - 60 * SEC).to_string()), ("end", (t + 60 * SEC).to_string()), ("step", "10".into())]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn series_limit_explain_format_and_cli() {
    let s = Skald::start(TestDir::new("metric_api"), &[NO_DISCOVERY, "--limits_config.max_query_series=2"]);
    let api = s.api();
    let t = load(&api).await;

    // Two series pass, three hit the limit.
    let r = api.get("/loki/api/v1/query_range", &range_params(r#"sum by (pod) (count_over_time({app="m", pod!="c"}[1m]))"#, t)).await;
    r.expect(200, "two series");
    assert_eq!(r.json()["data"]["result"].as_array().map(Vec::len), Some(2), "{}", r.body);
    let r = api.get("/loki/api/v1/query_range", &range_params(r#"sum by (pod) (count_over_time({app="m"}[1m]))"#, t)).await;
    r.expect_err(400, "maximum of series (2) reached for a single query", "three series");

    // format_query pretty-prints; a bad query is a parse error.
    let r = api.get("/loki/api/v1/format_query", &[("query", r#"sum by(pod)(rate({app="m"}|="x"[5m]))"#.into())]).await;
    r.expect(200, "format_query");
    let v = r.json();
    assert_eq!(v["status"], "success");
    assert_eq!(v["data"], r#"sum by (pod)(rate({app="m"} |= "x"[5m]))"#, "{}", r.body);
    let r = api.get("/loki/api/v1/format_query", &[("query", "sum(".into())]).await;
    r.expect_err(400, "parse error", "bad format_query");
    let v = r.json();
    assert_eq!(v["status"], "invalid-query", "{}", r.body);
    assert!(v["error"].as_str().is_some_and(|e| e.starts_with("parse error")), "{}", r.body);

    // Explain shows the translation: our operators inside DataFusion's plans.
    let r = api.get("/skald/api/v1/explain", &range_params(r#"sum by (level) (count_over_time({app="m"} | logfmt [1m]))"#, t)).await;
    r.expect(200, "explain");
    for needle in ["== logical plan ==", "LogPipeline", "RangeAggregate", "== physical plan ==", "LogPipelineExec", "RangeAggExec", "AggregateExec"] {
        assert!(r.body.contains(needle), "explain output lacks {needle}:\n{}", r.body);
    }
    let r = api.get("/skald/api/v1/explain", &[("query", r#"{app="m"} |= "n=1""#.into()), ("since", "1h".into())]).await;
    r.expect(200, "explain log query");
    assert!(r.body.contains("contains") && r.body.contains("SortExec"), "{}", r.body);

    // The CLI prints the same plans, and query answers.
    let addr = format!("--addr={}", api.base);
    let (status, out, err) = skald_cli(&["query", "--explain", &addr, "--since=1h", r#"rate({app="m"}[1m])"#]).await;
    assert!(status.success(), "skald query --explain failed: {err}");
    assert!(out.contains("RangeAggExec"), "{out}");
    let (status, out, err) = skald_cli(&["query", &addr, "--since=1h", r#"{app="m", pod="a"} |= "n=3""#]).await;
    assert!(status.success(), "skald query failed: {err}");
    assert!(out.contains(r#""resultType":"streams""#) && out.contains("level=info n=3"), "{out}");
    let (status, _, err) = skald_cli(&["query", &addr, "sum("]).await;
    assert!(!status.success() && err.contains("parse error"), "a bad query must fail with the server's message: {err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeout_and_memory_limits() {
    let s = Skald::start(TestDir::new("metric_timeout"), &[NO_DISCOVERY, "--limits_config.query_timeout=1ns"]);
    let api = s.api();
    let t = load(&api).await;
    let r = api.get("/loki/api/v1/query_range", &range_params(r#"sum(count_over_time({app="m"}[1m]))"#, t)).await;
    r.expect_err(504, "request timed out, decrease the duration of the request", "timeout");
    drop(s);

    let s = Skald::start(TestDir::new("metric_memory"), &[NO_DISCOVERY, "--querier.max_query_memory=64B"]);
    let api = s.api();
    let t = load(&api).await;
    let r = api.get("/loki/api/v1/query_range", &range_params(r#"count_over_time({app="m"}[1m])"#, t)).await;
    r.expect_err(400, "needs more memory than querier.max_query_memory allows", "memory");
}
