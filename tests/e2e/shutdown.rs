//! Graceful shutdown: SIGTERM flushes every head to Parquet and exits 0; a restart serves the
//! same data exactly once.

use crate::harness::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_flushes_and_restart_serves() {
    // Default flush settings (30m idle, 2h age): nothing is flushed on its own during the test.
    let mut s = Skald::start(TestDir::new("sigterm"), &["--limits_config.discover_service_name=[]"]);
    let t = base_ts(20);
    let api = s.api();
    let mut want = Vec::new();
    for st in ["x", "y", "z"] {
        let l = labels(&[("job", "term"), ("st", st)]);
        let values: Vec<_> = (0..50).map(|i| jv(t + i * SEC, &format!("{st} entry {i}"))).collect();
        for i in 0..50 {
            want.push(row(t + i * SEC, &format!("{st} entry {i}"), &l));
        }
        api.push_json(&json_push(vec![json_stream(&[("job", "term"), ("st", st)], values)])).await.expect(204, "push");
    }
    // One entry with structured metadata survives the shutdown with its metadata.
    api.push_json(&json_push(vec![json_stream(&[("job", "term"), ("st", "x")], vec![jv_sm(t + 60 * SEC, "with metadata", &[("trace_id", "abc")])])]))
        .await
        .expect(204, "push with metadata");
    want.push(row(t + 60 * SEC, "with metadata", &labels(&[("job", "term"), ("st", "x"), ("trace_id", "abc")])));

    let before = parquet_files(&s.dir.data(), "fake").len();
    let status = s.sigterm();
    assert_eq!(status.code(), Some(0), "SIGTERM must exit 0, got {status}");
    let after = parquet_files(&s.dir.data(), "fake").len();
    assert!(after > before, "SIGTERM must flush heads to parquet ({before} files before, {after} after)");

    s.restart();
    let api = s.api();
    api.get("/ready", &[]).await.expect(200, "/ready after restart");
    let streams = api.query_streams(r#"{job="term"}"#, t, t + 120 * SEC, 1000, "forward").await;
    assert_direction(&streams, "forward", "after restart");
    assert_rows_eq(flatten(&streams), want.clone(), "after SIGTERM and restart");

    // The restarted server keeps accepting writes to the same streams, and a second graceful
    // cycle still yields every entry once.
    api.push_json(&json_push(vec![json_stream(&[("job", "term"), ("st", "y")], vec![jv(t + 70 * SEC, "after restart")])]))
        .await
        .expect(204, "push after restart");
    want.push(row(t + 70 * SEC, "after restart", &labels(&[("job", "term"), ("st", "y")])));
    let status = s.sigterm();
    assert_eq!(status.code(), Some(0), "second SIGTERM must exit 0, got {status}");
    s.restart();
    let streams = s.api().query_streams(r#"{job="term"}"#, t, t + 120 * SEC, 1000, "backward").await;
    assert_direction(&streams, "backward", "after second restart");
    assert_rows_eq(flatten(&streams), want, "after second SIGTERM and restart");
}
