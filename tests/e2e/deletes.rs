//! Loki's delete API through the real process: requests filter their lines out of every
//! query at once, can be cancelled within the cancel period, and are carried out in the
//! chunk files by the compactor afterwards (the lines stay gone when the request is then
//! force-cancelled, and after a SIGKILL).

use std::time::Duration;

use crate::harness::*;

const TENANT: &str = "deleter";

/// Files a delete request; answers the status and the `X-Delete-Request-ID` header.
async fn file_delete(s: &Skald, tenant: Option<&str>, params: &[(&str, String)]) -> (u16, String, String) {
    let mut rb = reqwest::Client::new().post(format!("http://{}/loki/api/v1/delete", s.http)).query(params);
    if let Some(t) = tenant {
        rb = rb.header("X-Scope-OrgID", t);
    }
    let r = rb.send().await.expect("POST /loki/api/v1/delete");
    let id = r.headers().get("X-Delete-Request-ID").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    (r.status().as_u16(), id, r.text().await.unwrap_or_default())
}

async fn cancel(api: &Api, id: &str, force: bool) -> Resp {
    let url = format!("/loki/api/v1/delete?request_id={id}&force={force}");
    api.delete(&url).await
}

async fn lines_of(api: &Api, query: &str, t0: i64) -> Vec<String> {
    let mut out: Vec<String> = api.query_all(query, t0 - 1, now_ns() + 1, 1_000).await.into_iter().map(|r| r.line).collect();
    out.sort();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_requests_filter_at_once_and_are_carried_out_by_the_compactor() {
    let dir = TestDir::new("deletes");
    let args = |extra: &[&str]| {
        let mut a: Vec<String> = ["--auth_enabled=true", "--limits_config.reject_old_samples=false", "--compactor.compaction_interval=0s"].map(String::from).to_vec();
        a.extend(extra.iter().map(|s| s.to_string()));
        a
    };
    let mut s = Skald::start(dir, &args(&["--compactor.retention_enabled=true", "--compactor.delete_request_cancel_period=2s"]).iter().map(String::as_str).collect::<Vec<_>>());
    let api = s.api().tenant(TENANT);
    let t0 = now_ns() - 600_000_000_000;
    for app in ["a", "b"] {
        let values = (0..40).map(|i| jv(t0 + i * 1_000_000_000, &if i % 4 == 0 { format!("{app} secret={i}") } else { format!("{app} ok={i}") })).collect();
        api.push_json(&json_push(vec![json_stream(&[("app", app)], values)])).await.expect(204, "push");
    }
    api.flush().await;
    let all_a = lines_of(&api, r#"{app="a"}"#, t0).await;
    assert_eq!(all_a.len(), 40);

    // Bad requests.
    let start = (t0 / 1_000_000_000 - 1).to_string();
    let q = |query: &str| vec![("query", query.to_string()), ("start", start.clone())];
    assert_eq!(file_delete(&s, None, &q(r#"{app="a"}"#)).await.0, 401, "no org id");
    assert_eq!(file_delete(&s, Some(TENANT), &[("start", start.clone())]).await.0, 400, "no query");
    assert_eq!(file_delete(&s, Some(TENANT), &[("query", r#"{app="a"}"#.into()), ("start", "12345".into())]).await.0, 400, "start neither RFC3339 nor 10 digits");
    let (status, _, body) = file_delete(&s, Some(TENANT), &[("query", r#"{app="a"}"#.into()), ("start", start.clone()), ("end", "2999-01-01T00:00:00Z".into())]).await;
    assert_eq!((status, body.trim()), (400, "deletes in the future are not allowed"));
    assert_eq!(file_delete(&s, Some(TENANT), &q(r#"{app="a"} | json"#)).await.0, 400, "only line filters");

    // A request filters its lines from every query at once; the other stream is untouched.
    let end = chrono_rfc3339(now_ns());
    let (status, id, body) = file_delete(&s, Some(TENANT), &[("query", r#"{app="a"} |= "secret""#.into()), ("start", start.clone()), ("end", end.clone())]).await;
    assert_eq!(status, 204, "{body}");
    assert_eq!(id.len(), 8, "request id {id:?}");
    let kept_a = lines_of(&api, r#"{app="a"}"#, t0).await;
    assert_eq!(kept_a.len(), 30, "secret lines of app a are hidden: {kept_a:?}");
    assert!(kept_a.iter().all(|l| !l.contains("secret")));
    assert_eq!(lines_of(&api, r#"{app="b"} |= "secret""#, t0).await.len(), 10);
    let count = api.get("/loki/api/v1/query", &[("query", r#"sum(count_over_time({app="a"}[1h]))"#.into()), ("time", now_ns().to_string())]).await;
    assert_eq!(count.json()["data"]["result"][0]["value"][1], "30", "metric queries skip deleted lines too: {}", count.body);

    // A second request, cancelled within the period, stops filtering.
    let (status, other, _) = file_delete(&s, Some(TENANT), &[("query", r#"{app="b"}"#.into()), ("start", start.clone())]).await;
    assert_eq!(status, 204);
    assert!(lines_of(&api, r#"{app="b"}"#, t0).await.is_empty());
    assert_eq!(cancel(&api, &other, false).await.status, 204);
    assert_eq!(lines_of(&api, r#"{app="b"}"#, t0).await.len(), 40);
    assert_eq!(cancel(&api, "nosuchid", false).await.status, 404);

    let listed = api.get("/loki/api/v1/delete", &[]).await.json();
    assert_eq!(listed.as_array().map(Vec::len), Some(1), "cancelled requests are not listed: {listed}");
    assert_eq!((listed[0]["request_id"].as_str(), listed[0]["status"].as_str()), (Some(id.as_str()), Some("received")));
    assert_eq!(listed[0]["query"], r#"{app="a"} |= "secret""#);
    assert!(listed[0]["start_time"].as_f64().is_some() && listed[0]["created_at"].as_f64().is_some());

    // After the cancel period the compactor removes the lines from the files.
    tokio::time::sleep(Duration::from_millis(2_200)).await;
    assert_eq!(cancel(&api, &id, false).await.status, 400, "past the cancel period");
    let r = api.post("/compactor/run").await;
    r.expect(200, "POST /compactor/run");
    let summary = r.json();
    assert_eq!((summary["deletes_processed"].as_u64(), summary["delete_rewrites"].as_u64()), (Some(1), Some(1)), "{summary}");
    assert_eq!(api.get("/loki/api/v1/delete", &[]).await.json()[0]["status"], "processed");
    // Forced cancellation stops the filtering: what is left is what the files hold.
    assert_eq!(cancel(&api, &id, true).await.status, 204);
    assert_eq!(lines_of(&api, r#"{app="a"}"#, t0).await, kept_a, "the deleted lines are gone from the files");
    s.kill9();
    s.restart();
    let api = s.api().tenant(TENANT);
    assert_eq!(lines_of(&api, r#"{app="a"}"#, t0).await, kept_a, "and stay gone after a restart");
    assert_eq!(lines_of(&api, r#"{app="b"}"#, t0).await.len(), 40);

    // Without retention, or with deletion disabled, the API refuses.
    s.kill9();
    let mut base = base_args(&s.dir);
    base.extend(args(&[]));
    s.restart_with(base.clone());
    assert_eq!(file_delete(&s, Some(TENANT), &q(r#"{app="a"}"#)).await, (400, String::new(), "Retention is not enabled\n".into()));
    s.kill9();
    base.extend(["--compactor.retention_enabled=true".to_string(), "--limits_config.deletion_mode=disabled".to_string()]);
    s.restart_with(base);
    assert_eq!(file_delete(&s, Some(TENANT), &q(r#"{app="a"}"#)).await.0, 403);
}

/// RFC 3339 (seconds) for `ns`.
fn chrono_rfc3339(ns: i64) -> String {
    chrono::DateTime::from_timestamp(ns / 1_000_000_000, 0).expect("a valid time").format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_requests_are_validated_and_listed_as_in_loki() {
    let dir = TestDir::new("deletes_loki_validation");
    let s = Skald::start(
        dir,
        &["--auth_enabled=true", "--compactor.retention_enabled=true", "--compactor.compaction_interval=0s", "--compactor.delete_request_cancel_period=1s"],
    );
    let api = s.api().tenant(TENANT);
    let now_s = now_ns() / SEC;
    let (start, end) = ((now_s - 7_200).to_string(), (now_s - 3_600).to_string());
    let with = |query: &str, start: &str, end: &str, max_interval: &str| {
        let mut p = vec![("query", query.to_string()), ("start", start.to_string()), ("end", end.to_string())];
        if !max_interval.is_empty() {
            p.push(("max_interval", max_interval.to_string()));
        }
        p
    };
    let filtered = r#"{app="a"} |= "x""#;

    // max_interval, for a request with line filters: a Go duration of 1s to 24h, and no
    // longer than the request.
    let invalid = "invalid max_interval: valid time units are 's', 'm', 'h'\n";
    for (max_interval, body) in [
        ("1ms", invalid),
        ("999ms", invalid),
        ("not-a-duration", invalid),
        ("1d", invalid),
        ("25h", "max_interval can't be greater than 24h0m0s\n"),
        ("2h", "max_interval can't be greater than the interval to be deleted (1h0m0s)\n"),
    ] {
        let (status, id, got) = file_delete(&s, Some(TENANT), &with(filtered, &start, &end, max_interval)).await;
        assert_eq!((status, id.as_str(), got.as_str()), (400, "", body), "max_interval={max_interval}");
    }
    let (status, _, body) = file_delete(&s, Some(TENANT), &with(filtered, &start, &end, "30m")).await;
    assert_eq!(status, 204, "max_interval=30m: {body}");
    // Without line filters Loki does not look at max_interval.
    let (status, _, body) = file_delete(&s, Some(TENANT), &with(r#"{app="b"}"#, &start, &end, "not-a-duration")).await;
    assert_eq!(status, 204, "selector only: {body}");
    // An empty range is refused, with or without line filters.
    for query in [filtered, r#"{app="a"}"#] {
        let (status, _, body) = file_delete(&s, Some(TENANT), &with(query, &start, &start, "")).await;
        assert_eq!((status, body.as_str()), (400, "start time can't be greater than or equal to end time\n"), "{query}");
    }

    // DELETE without request_id: Loki looks up the empty id and answers 404.
    let r = api.delete("/loki/api/v1/delete").await;
    assert_eq!((r.status, r.body.as_str()), (404, "could not find delete request with given id\n"));

    // Times are listed as Loki's model.Time: seconds with millisecond precision.
    let end_secs = now_s - 60;
    let end_rfc3339 = format!("{}.123456789Z", chrono_rfc3339(end_secs * SEC).trim_end_matches('Z'));
    let (status, precise, body) = file_delete(&s, Some(TENANT), &with(r#"{app="c"}"#, &start, &end_rfc3339, "")).await;
    assert_eq!(status, 204, "{body}");
    let (status, _, body) = file_delete(&s, Some(TENANT), &[("query", r#"{app="d"}"#.into()), ("start", start.clone())]).await;
    assert_eq!(status, 204, "end defaults to now: {body}");
    let listed = api.get("/loki/api/v1/delete", &[]).await;
    listed.expect(200, "GET /loki/api/v1/delete");
    assert!(listed.body.contains(&format!("\"end_time\":{end_secs}.123,")) || listed.body.contains(&format!("\"end_time\":{end_secs}.123}}")), "{}", listed.body);
    assert!(listed.body.contains(&format!("\"start_time\":{start},")) || listed.body.contains(&format!("\"start_time\":{start}}}")), "whole seconds have no fraction: {}", listed.body);
    let requests = listed.json();
    let requests = requests.as_array().expect("a list");
    assert_eq!(requests.len(), 4, "{}", listed.body);
    for r in requests {
        for key in ["start_time", "end_time", "created_at"] {
            let ms = r[key].as_f64().expect("a number") * 1e3;
            assert!((ms - ms.round()).abs() < 1e-3, "{key} has millisecond precision: {r}");
        }
    }
    assert!(requests.iter().any(|r| r["request_id"] == precise.as_str() && r["end_time"].as_f64() == Some(end_secs as f64 + 0.123)));

    // Past the cancel period, without force: Loki's message.
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    let r = cancel(&api, &precise, false).await;
    assert_eq!(
        (r.status, r.body.as_str()),
        (400, "Cancellation of partially completed delete request or delete request past the deadline of 1s since its creation is not allowed. To force, use the ?force query parameter\n")
    );
    assert_eq!(cancel(&api, &precise, true).await.status, 204);
}
