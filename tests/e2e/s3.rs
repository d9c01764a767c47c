//! Chunk files on S3: a real S3-compatible server (moto, from PyPI; `.ci/run` installs it)
//! on 127.0.0.1, Skald configured with Loki's `common.storage.s3` keys, pushes flushed to
//! the bucket and read back, also after a restart.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::harness::*;

const BUCKET: &str = "skald-e2e";

/// A moto S3 server on a free 127.0.0.1 port; killed on drop.
struct S3Server {
    child: Child,
    url: String,
}

impl S3Server {
    fn start() -> S3Server {
        let bin = std::env::var("SKALD_MOTO_SERVER").unwrap_or_else(|_| "moto_server".to_string());
        let port = std::net::TcpListener::bind("127.0.0.1:0").expect("free port").local_addr().expect("addr").port();
        let child = Command::new(&bin)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot start the S3 test server {bin:?} ({e}); run .ci/run, or `pip install 'moto[server]'` and set SKALD_MOTO_SERVER")
            });
        S3Server { child, url: format!("http://127.0.0.1:{port}") }
    }

    /// Waits until the server answers, then creates the bucket.
    async fn create_bucket(&mut self) {
        let client = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(r) = client.put(format!("{}/{BUCKET}", self.url)).send().await {
                assert!(r.status().is_success(), "creating bucket: HTTP {}", r.status());
                return;
            }
            if let Ok(Some(st)) = self.child.try_wait() {
                panic!("the S3 test server exited with {st}");
            }
            assert!(Instant::now() < deadline, "the S3 test server did not answer within 60s");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Keys in the bucket.
    async fn keys(&self) -> Vec<String> {
        let body = reqwest::get(format!("{}/{BUCKET}?list-type=2", self.url)).await.expect("list bucket").text().await.expect("body");
        body.split("<Key>").skip(1).filter_map(|s| s.split("</Key>").next()).map(str::to_string).collect()
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chunks_live_in_s3() {
    let mut s3 = S3Server::start();
    s3.create_bucket().await;
    // Loki's form: `host:port`, with `insecure: true` choosing http.
    let endpoint = format!("--common.storage.s3.endpoint={}", s3.url.trim_start_matches("http://"));
    let flags = [
        "--limits_config.discover_service_name=[]",
        "--common.storage.s3.bucketnames=skald-e2e",
        endpoint.as_str(),
        "--common.storage.s3.region=us-east-1",
        "--common.storage.s3.access_key_id=skald",
        "--common.storage.s3.secret_access_key=secret",
        "--common.storage.s3.insecure=true",
        "--common.storage.s3.s3forcepathstyle=true",
    ];
    let mut s = Skald::start(TestDir::new("s3"), &flags);
    let api = s.api();
    let t = base_ts(10);
    let batch = |from: i64, n: i64| (from..from + n).map(|i| jv(t + i * SEC, &format!("line {i:03}"))).collect::<Vec<_>>();
    api.push_json(&json_push(vec![json_stream(&[("job", "s3")], batch(0, 50))])).await.expect(204, "first push");
    api.flush().await;
    api.push_json(&json_push(vec![json_stream(&[("job", "s3")], batch(50, 50))])).await.expect(204, "second push");

    let keys = s3.keys().await;
    assert!(
        keys.iter().any(|k| k.starts_with("fake/chunks/") && k.ends_with(".parquet")),
        "a flush must put a chunk file in the bucket, got keys {keys:?}"
    );
    assert!(parquet_files(&s.dir.data(), "fake").is_empty(), "with S3 configured no chunk file is written locally");
    let want: Vec<String> = (0..100).map(|i| format!("line {i:03}")).collect();
    let lines = |rows: Vec<Row>| rows.into_iter().map(|r| r.line).collect::<Vec<_>>();
    assert_eq!(lines(api.query_all(r#"{job="s3"}"#, t, t + 200 * SEC, 1000).await), want, "files in S3 and heads");

    // After a graceful restart everything is read from the bucket.
    assert!(s.sigterm().success(), "graceful shutdown");
    s.restart();
    let api = s.api();
    assert_eq!(lines(api.query_all(r#"{job="s3"}"#, t, t + 200 * SEC, 1000).await), want, "after restart");
    assert!(s3.keys().await.len() >= 2, "the shutdown flush adds a second chunk file");
}
