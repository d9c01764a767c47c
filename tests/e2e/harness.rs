//! Test harness: spawns the real `skald` binary on random 127.0.0.1 ports in a private data
//! directory, and talks to it over HTTP (and gRPC) the way Loki clients do.
//!
//! Everything here waits with a deadline: a server that never gets ready, never exits or never
//! answers fails the test with its captured stderr instead of hanging CI.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use proto::logproto::{EntryAdapter, LabelPairAdapter, PushRequest, StreamAdapter};
use serde_json::{json, Value};

/// The server binary: the one cargo built for this package, unless `SKALD_E2E_BIN` names
/// another build (e.g. a release binary) to run the suite against.
pub fn bin() -> String {
    std::env::var("SKALD_E2E_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_skald").to_string())
}
/// How long a start (including WAL/Raft replay after a crash) may take.
pub const STARTUP_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a graceful shutdown (which flushes every head) may take.
pub const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(60);
/// Per-request HTTP timeout.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Most server output kept for failure reports.
const LOG_CAP: usize = 256 * 1024;

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// Writes straight to the process's stderr, bypassing libtest's output capture, so that
/// informational lines (such as the full conformance score) show up in CI logs.
pub fn report(msg: &str) {
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "{msg}");
}

// ---------------------------------------------------------------------------------------------
// Temporary directories
// ---------------------------------------------------------------------------------------------

/// A unique directory per test: `$TMPDIR/skald-e2e-<pid>-<counter>`. Removed when the test
/// passes, kept (and its path printed) when it fails.
pub struct TestDir {
    pub path: PathBuf,
}

impl TestDir {
    pub fn new(test: &str) -> TestDir {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let path = std::env::temp_dir().join(format!("skald-e2e-{}-{}", std::process::id(), n));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("create test dir");
        println!("[{test}] test dir {}", path.display());
        TestDir { path }
    }

    /// The server's data directory (`common.path_prefix`).
    pub fn data(&self) -> PathBuf {
        self.path.join("data")
    }

    /// A path for a helper file (config, dataset) beside the data directory.
    pub fn file(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }
}

impl Drop for TestDir {
    fn drop(&mut self) {
        if std::thread::panicking() {
            report(&format!("test failed: keeping {} for inspection", self.path.display()));
        } else {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Processes
// ---------------------------------------------------------------------------------------------

/// A spawned process whose stdout lines are forwarded to a channel and whose stdout and stderr
/// are kept (capped) for failure reports. Draining both pipes in threads means the child never
/// blocks on a full pipe.
struct Proc {
    child: Child,
    lines: mpsc::Receiver<String>,
    stdout: Arc<Mutex<String>>,
    stderr: Arc<Mutex<String>>,
}

fn append_capped(buf: &Mutex<String>, line: &str) {
    let mut b = match buf.lock() {
        Ok(b) => b,
        Err(p) => p.into_inner(),
    };
    b.push_str(line);
    b.push('\n');
    if b.len() > LOG_CAP {
        let mut cut = b.len() - LOG_CAP / 2;
        while !b.is_char_boundary(cut) {
            cut += 1;
        }
        b.replace_range(..cut, "[...]\n");
    }
}

fn read_buf(buf: &Mutex<String>) -> String {
    match buf.lock() {
        Ok(b) => b.clone(),
        Err(p) => p.into_inner().clone(),
    }
}

impl Proc {
    fn spawn(args: &[String]) -> Proc {
        let bin = bin();
        let mut child = Command::new(&bin)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .env("RUST_BACKTRACE", "1")
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {bin}: {e}"));
        let stdout = Arc::new(Mutex::new(String::new()));
        let stderr = Arc::new(Mutex::new(String::new()));
        let (tx, lines) = mpsc::channel();
        let out = child.stdout.take().expect("child stdout");
        let keep = Arc::clone(&stdout);
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                append_capped(&keep, &line);
                let _ = tx.send(line);
            }
        });
        let err = child.stderr.take().expect("child stderr");
        let keep = Arc::clone(&stderr);
        std::thread::spawn(move || {
            let mut r = BufReader::new(err);
            let mut buf = Vec::new();
            loop {
                buf.clear();
                match r.read_until(b'\n', &mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => append_capped(&keep, String::from_utf8_lossy(&buf).trim_end()),
                }
            }
        });
        Proc { child, lines, stdout, stderr }
    }

    fn output(&self) -> String {
        format!(
            "--- skald stdout ---\n{}\n--- skald stderr ---\n{}",
            read_buf(&self.stdout),
            read_buf(&self.stderr)
        )
    }

    /// Waits for the process to exit, up to `timeout`. None on timeout.
    fn wait_timeout(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            match self.child.try_wait() {
                Ok(Some(st)) => return Some(st),
                Ok(None) => {}
                Err(e) => panic!("waiting for skald: {e}"),
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    fn kill9(&mut self) {
        let _ = self.child.kill(); // SIGKILL on Unix
        let _ = self.child.wait();
    }
}

/// Runs `skald` with `args` and expects it to exit by itself (e.g. on a config error) within
/// 30 s. Returns (exit status, stdout, stderr).
pub fn run_expect_exit(args: &[String]) -> (ExitStatus, String, String) {
    let mut p = Proc::spawn(args);
    let Some(status) = p.wait_timeout(Duration::from_secs(30)) else {
        let out = p.output();
        p.kill9();
        panic!("skald {args:?} was expected to exit but kept running\n{out}");
    };
    // Let the reader threads drain the pipes after exit.
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline && Arc::strong_count(&p.stderr) > 1 {
        std::thread::sleep(Duration::from_millis(10));
    }
    while Instant::now() < deadline && Arc::strong_count(&p.stdout) > 1 {
        std::thread::sleep(Duration::from_millis(10));
    }
    (status, read_buf(&p.stdout), read_buf(&p.stderr))
}

/// Runs `skald <args>` (a client command or a start that must fail) off the async runtime;
/// returns (exit status, stdout, stderr).
pub async fn skald_cli<S: AsRef<str>>(args: &[S]) -> (ExitStatus, String, String) {
    let args: Vec<String> = args.iter().map(|a| a.as_ref().to_string()).collect();
    tokio::task::spawn_blocking(move || run_expect_exit(&args)).await.expect("skald command task")
}

/// The standard flags every test server gets: random ports on 127.0.0.1 only, and the test's
/// own data directory.
pub fn base_args(dir: &TestDir) -> Vec<String> {
    vec![
        "--server.http_listen_address=127.0.0.1".into(),
        "--server.http_listen_port=0".into(),
        "--server.grpc_listen_address=127.0.0.1".into(),
        "--server.grpc_listen_port=0".into(),
        format!("--common.path_prefix={}", dir.data().display()),
    ]
}

/// A running skald server. Dropping it kills the process (SIGKILL).
pub struct Skald {
    proc: Option<Proc>,
    args: Vec<String>,
    /// `127.0.0.1:PORT` of the HTTP server.
    pub http: String,
    /// `127.0.0.1:PORT` of the gRPC server.
    pub grpc: String,
    generation: usize,
    /// The test's directory; dropped after the process is killed.
    pub dir: TestDir,
}

impl Skald {
    /// Starts skald with the standard flags plus `extra`, and waits until it is ready.
    pub fn start(dir: TestDir, extra: &[&str]) -> Skald {
        let mut args = base_args(&dir);
        args.extend(extra.iter().map(|s| s.to_string()));
        Skald::start_raw(dir, args)
    }

    /// Starts skald with exactly `args` (nothing added), and waits until it is ready.
    pub fn start_raw(dir: TestDir, args: Vec<String>) -> Skald {
        let mut s = Skald { proc: None, args, http: String::new(), grpc: String::new(), generation: 0, dir };
        s.spawn_and_wait();
        s
    }

    fn spawn_and_wait(&mut self) {
        self.generation += 1;
        let mut p = Proc::spawn(&self.args);
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        let (mut http, mut grpc) = (None, None);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                let out = p.output();
                p.kill9();
                panic!("skald not ready within {STARTUP_TIMEOUT:?} (args {:?})\n{out}", self.args);
            }
            match p.lines.recv_timeout(left.min(Duration::from_millis(200))) {
                Ok(line) => {
                    if let Some(a) = line.trim().strip_prefix("skald: http listening on ") {
                        http = Some(a.trim().to_string());
                    } else if let Some(a) = line.trim().strip_prefix("skald: grpc listening on ") {
                        grpc = Some(a.trim().to_string());
                    } else if line.trim() == "skald: ready" {
                        break;
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    if let Ok(Some(st)) = p.child.try_wait() {
                        std::thread::sleep(Duration::from_millis(200));
                        panic!("skald exited during startup with {st} (args {:?})\n{}", self.args, p.output());
                    }
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    let st = p.wait_timeout(Duration::from_secs(5));
                    std::thread::sleep(Duration::from_millis(200));
                    panic!(
                        "skald closed stdout during startup (exit: {st:?}, args {:?})\n{}",
                        self.args,
                        p.output()
                    );
                }
            }
        }
        let (Some(http), Some(grpc)) = (http, grpc) else {
            let out = p.output();
            p.kill9();
            panic!("skald said ready before printing both listen addresses\n{out}");
        };
        assert!(http.starts_with("127.0.0.1:"), "http must bind 127.0.0.1, got {http}");
        assert!(grpc.starts_with("127.0.0.1:"), "grpc must bind 127.0.0.1, got {grpc}");
        self.http = http;
        self.grpc = grpc;
        self.proc = Some(p);
    }

    /// An HTTP client for this server with no tenant header.
    pub fn api(&self) -> Api {
        Api::new(&format!("http://{}", self.http))
    }

    /// SIGKILL: the process gets no chance to flush or clean up.
    pub fn kill9(&mut self) {
        if let Some(mut p) = self.proc.take() {
            p.kill9();
        }
    }

    /// Sends `signal` (e.g. `STOP`, `CONT`) to the running process.
    pub fn signal(&self, signal: &str) {
        let p = self.proc.as_ref().expect("skald is running");
        let pid = p.child.id().to_string();
        let st = Command::new("kill").args([&format!("-{signal}"), &pid]).status().expect("run kill");
        assert!(st.success(), "kill -{signal} {pid} failed: {st}");
    }

    /// SIGTERM, then waits for the exit. Panics (after a SIGKILL) if it does not exit in time.
    pub fn sigterm(&mut self) -> ExitStatus {
        let mut p = self.proc.take().expect("skald is running");
        let pid = p.child.id().to_string();
        let st = Command::new("kill").args(["-TERM", &pid]).status().expect("run kill -TERM");
        assert!(st.success(), "kill -TERM {pid} failed: {st}");
        match p.wait_timeout(SHUTDOWN_TIMEOUT) {
            Some(status) => {
                std::thread::sleep(Duration::from_millis(100));
                println!("skald exited after SIGTERM with {status}\n{}", p.output());
                status
            }
            None => {
                let out = p.output();
                p.kill9();
                panic!("skald did not exit within {SHUTDOWN_TIMEOUT:?} of SIGTERM\n{out}");
            }
        }
    }

    /// Starts the server again on the same data directory with new flags.
    pub fn restart_with(&mut self, args: Vec<String>) {
        assert!(self.proc.is_none(), "restart: stop the server first");
        self.args = args;
        self.spawn_and_wait();
    }

    /// Starts the server again on the same data directory with the same flags (new ports).
    pub fn restart(&mut self) {
        assert!(self.proc.is_none(), "restart: stop the server first");
        self.spawn_and_wait();
    }
}

impl Drop for Skald {
    fn drop(&mut self) {
        if let Some(mut p) = self.proc.take() {
            if std::thread::panicking() {
                report(&format!("skald (run #{}, args {:?}) output:\n{}", self.generation, self.args, p.output()));
            }
            p.kill9();
        }
    }
}

/// Writes a config file into the test dir and returns its path.
pub fn write_file(dir: &TestDir, name: &str, contents: &str) -> PathBuf {
    let p = dir.file(name);
    std::fs::write(&p, contents).expect("write test file");
    p
}

// ---------------------------------------------------------------------------------------------
// HTTP client
// ---------------------------------------------------------------------------------------------

/// An HTTP response reduced to what tests assert on.
#[derive(Debug, Clone)]
pub struct Resp {
    pub status: u16,
    pub body: String,
    pub content_type: String,
}

impl Resp {
    /// Parses the body as JSON; panics with the body if it is not.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("response is not JSON ({e}): HTTP {} {}", self.status, self.body))
    }

    /// Asserts the status code.
    pub fn expect(&self, status: u16, ctx: &str) -> &Resp {
        assert_eq!(self.status, status, "{ctx}: expected HTTP {status}, got {} body {:?}", self.status, truncate(&self.body));
        self
    }

    /// Asserts the status code and that the body contains `needle`.
    pub fn expect_err(&self, status: u16, needle: &str, ctx: &str) -> &Resp {
        self.expect(status, ctx);
        assert!(self.body.contains(needle), "{ctx}: body should contain {needle:?}, got {:?}", truncate(&self.body));
        self
    }
}

fn truncate(s: &str) -> String {
    if s.len() <= 600 {
        return s.to_string();
    }
    let mut cut = 600;
    while !s.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}...[{} bytes]", &s[..cut], s.len())
}

/// A Loki API client bound to one server and (optionally) one tenant.
#[derive(Clone)]
pub struct Api {
    pub base: String,
    client: reqwest::Client,
    tenant: Option<String>,
}

impl Api {
    pub fn new(base: &str) -> Api {
        let client = reqwest::Client::builder()
            .no_proxy()
            .timeout(REQUEST_TIMEOUT)
            .build()
            .expect("build HTTP client");
        Api { base: base.to_string(), client, tenant: None }
    }

    /// The same server, sending `X-Scope-OrgID: tenant`.
    pub fn tenant(&self, tenant: &str) -> Api {
        Api { tenant: Some(tenant.to_string()), ..self.clone() }
    }

    async fn send(&self, mut rb: reqwest::RequestBuilder, what: &str) -> Resp {
        if let Some(t) = &self.tenant {
            rb = rb.header("X-Scope-OrgID", t);
        }
        let r = rb.send().await.unwrap_or_else(|e| panic!("{what}: request failed: {e}"));
        let status = r.status().as_u16();
        let content_type =
            r.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
        let body = r.text().await.unwrap_or_else(|e| panic!("{what}: reading body failed: {e}"));
        Resp { status, body, content_type }
    }

    /// Like `send`, but returns the transport error instead of panicking (for crash tests).
    pub async fn try_push_json(&self, body: &Value) -> Result<Resp, String> {
        self.try_push_raw(Some("application/json"), serde_json::to_vec(body).expect("serialize push")).await
    }

    /// POST /loki/api/v1/push with an arbitrary body, returning a transport error instead
    /// of panicking.
    pub async fn try_push_raw(&self, content_type: Option<&str>, body: Vec<u8>) -> Result<Resp, String> {
        let mut rb = self.client.post(format!("{}/loki/api/v1/push", self.base)).body(body);
        if let Some(ct) = content_type {
            rb = rb.header("Content-Type", ct);
        }
        if let Some(t) = &self.tenant {
            rb = rb.header("X-Scope-OrgID", t);
        }
        let r = rb.send().await.map_err(|e| e.to_string())?;
        let status = r.status().as_u16();
        let body = r.text().await.map_err(|e| e.to_string())?;
        Ok(Resp { status, body, content_type: String::new() })
    }

    /// POST /loki/api/v1/push with an arbitrary body and headers.
    pub async fn push_raw(&self, content_type: Option<&str>, content_encoding: Option<&str>, body: Vec<u8>) -> Resp {
        let mut rb = self.client.post(format!("{}/loki/api/v1/push", self.base)).body(body);
        if let Some(ct) = content_type {
            rb = rb.header("Content-Type", ct);
        }
        if let Some(ce) = content_encoding {
            rb = rb.header("Content-Encoding", ce);
        }
        self.send(rb, "push").await
    }

    /// Push as JSON.
    pub async fn push_json(&self, body: &Value) -> Resp {
        self.push_raw(Some("application/json"), None, serde_json::to_vec(body).expect("serialize push")).await
    }

    /// Push as gzip-compressed JSON.
    pub async fn push_json_gzip(&self, body: &Value) -> Resp {
        let raw = serde_json::to_vec(body).expect("serialize push");
        self.push_raw(Some("application/json"), Some("gzip"), gzip(&raw)).await
    }

    /// Push as snappy-block-compressed protobuf, as Promtail and Alloy do.
    pub async fn push_proto(&self, req: &PushRequest) -> Resp {
        self.push_raw(Some("application/x-protobuf"), None, proto_snappy(req)).await
    }

    /// GET `path` with query parameters.
    pub async fn get(&self, path: &str, params: &[(&str, String)]) -> Resp {
        let rb = self.client.get(format!("{}{}", self.base, path)).query(params);
        self.send(rb, path).await
    }

    /// GET with extra request headers.
    pub async fn get_with_headers(&self, path: &str, params: &[(&str, String)], headers: &[(&str, &str)]) -> Resp {
        let mut rb = self.client.get(format!("{}{}", self.base, path)).query(params);
        for (k, v) in headers {
            rb = rb.header(*k, *v);
        }
        self.send(rb, path).await
    }

    /// POST with an `application/x-www-form-urlencoded` body (Grafana's POST form of queries).
    pub async fn post_form(&self, path: &str, params: &[(&str, String)]) -> Resp {
        let body: String = params
            .iter()
            .map(|(k, v)| format!("{}={}", urlencode(k), urlencode(v)))
            .collect::<Vec<_>>()
            .join("&");
        let rb = self
            .client
            .post(format!("{}{}", self.base, path))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(body);
        self.send(rb, path).await
    }

    /// DELETE with an empty body.
    pub async fn delete(&self, path: &str) -> Resp {
        let rb = self.client.delete(format!("{}{}", self.base, path));
        self.send(rb, path).await
    }

    /// POST with an empty body.
    pub async fn post(&self, path: &str) -> Resp {
        let rb = self.client.post(format!("{}{}", self.base, path));
        self.send(rb, path).await
    }

    /// POST /flush and require 204 (the flush is durable when it returns).
    pub async fn flush(&self) {
        self.post("/flush").await.expect(204, "POST /flush");
    }

    /// A log query_range with explicit bounds; returns the raw response.
    pub async fn query_range_resp(&self, query: &str, start: i64, end: i64, limit: usize, direction: &str) -> Resp {
        self.get(
            "/loki/api/v1/query_range",
            &[
                ("query", query.to_string()),
                ("start", start.to_string()),
                ("end", end.to_string()),
                ("limit", limit.to_string()),
                ("direction", direction.to_string()),
            ],
        )
        .await
    }

    /// A log query_range that must succeed with a `streams` result; returns the parsed streams.
    pub async fn query_streams(&self, query: &str, start: i64, end: i64, limit: usize, direction: &str) -> Vec<Stream> {
        let r = self.query_range_resp(query, start, end, limit, direction).await;
        r.expect(200, &format!("query_range {query}"));
        let v = r.json();
        assert_eq!(v["status"], "success", "query {query}: {}", r.body);
        assert_eq!(v["data"]["resultType"], "streams", "query {query}: {}", r.body);
        parse_streams(&v["data"]["result"])
    }

    /// Every entry matching `query` in [start, end), fetched forward in pages of `page`
    /// entries. Entries on the page boundary timestamp are re-fetched with the next page, so
    /// duplicates stored by the server are never hidden by pagination.
    pub async fn query_all(&self, query: &str, start: i64, end: i64, page: usize) -> Vec<Row> {
        let mut out = Vec::new();
        let mut from = start;
        for _ in 0..10_000 {
            let streams = self.query_streams(query, from, end, page, "forward").await;
            let mut rows = flatten(&streams);
            let n = rows.len();
            if n < page {
                out.extend(rows);
                return out;
            }
            rows.sort_by_key(|r| r.ts);
            let last = rows[n - 1].ts;
            let before: Vec<Row> = rows.into_iter().filter(|r| r.ts < last).collect();
            assert!(!before.is_empty(), "query_all: a whole page of {page} entries shares timestamp {last}");
            out.extend(before);
            from = last;
        }
        panic!("query_all: too many pages");
    }
}

fn urlencode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(b as char),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

pub fn gzip(raw: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(raw).expect("gzip");
    enc.finish().expect("gzip")
}

pub fn proto_snappy(req: &PushRequest) -> Vec<u8> {
    let raw = prost::Message::encode_to_vec(req);
    snap::raw::Encoder::new().compress_vec(&raw).expect("snappy")
}

// ---------------------------------------------------------------------------------------------
// Push bodies
// ---------------------------------------------------------------------------------------------

pub type Labels = BTreeMap<String, String>;

pub fn labels(pairs: &[(&str, &str)]) -> Labels {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

/// One JSON stream: `{"stream":{...},"values":[...]}`.
pub fn json_stream(pairs: &[(&str, &str)], values: Vec<Value>) -> Value {
    json!({"stream": labels(pairs), "values": values})
}

/// `["<ns>", "line"]`
pub fn jv(ts: i64, line: &str) -> Value {
    json!([ts.to_string(), line])
}

/// `["<ns>", "line", {structured metadata}]`
pub fn jv_sm(ts: i64, line: &str, sm: &[(&str, &str)]) -> Value {
    json!([ts.to_string(), line, labels(sm)])
}

/// `{"streams":[...]}`
pub fn json_push(streams: Vec<Value>) -> Value {
    json!({ "streams": streams })
}

pub fn proto_ts(ts: i64) -> prost_types::Timestamp {
    prost_types::Timestamp { seconds: ts.div_euclid(1_000_000_000), nanos: ts.rem_euclid(1_000_000_000) as i32 }
}

pub fn proto_entry(ts: i64, line: &str, sm: &[(&str, &str)]) -> EntryAdapter {
    EntryAdapter {
        timestamp: Some(proto_ts(ts)),
        line: line.into(),
        structured_metadata: sm
            .iter()
            .map(|(k, v)| LabelPairAdapter { name: k.as_bytes().to_vec(), value: v.as_bytes().to_vec() })
            .collect(),
        parsed: Vec::new(),
    }
}

pub fn proto_stream(labels: &str, entries: Vec<EntryAdapter>) -> StreamAdapter {
    StreamAdapter { labels: labels.into(), entries, hash: 0 }
}

pub fn proto_push(streams: Vec<StreamAdapter>) -> PushRequest {
    PushRequest { streams, format: String::new() }
}

// ---------------------------------------------------------------------------------------------
// Query results
// ---------------------------------------------------------------------------------------------

/// One result stream of a log query.
#[derive(Debug, Clone)]
pub struct Stream {
    pub labels: Labels,
    /// (ts ns, line, third element if present)
    pub values: Vec<(i64, String, Option<Value>)>,
}

/// One entry with its result-stream labels.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Row {
    pub ts: i64,
    pub line: String,
    pub labels: Labels,
}

pub fn row(ts: i64, line: &str, l: &Labels) -> Row {
    Row { ts, line: line.to_string(), labels: l.clone() }
}

/// Parses `data.result` of a streams response, checking its shape.
pub fn parse_streams(result: &Value) -> Vec<Stream> {
    let arr = result.as_array().unwrap_or_else(|| panic!("result is not an array: {result}"));
    arr.iter()
        .map(|s| {
            let lbl = s["stream"].as_object().unwrap_or_else(|| panic!("stream without labels: {s}"));
            let labels = lbl
                .iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_else(|| panic!("label value not a string: {s}")).to_string()))
                .collect();
            let values = s["values"]
                .as_array()
                .unwrap_or_else(|| panic!("stream without values: {s}"))
                .iter()
                .map(|v| {
                    let a = v.as_array().unwrap_or_else(|| panic!("value is not an array: {v}"));
                    assert!(a.len() == 2 || a.len() == 3, "value must have 2 or 3 elements: {v}");
                    let ts: i64 = a[0]
                        .as_str()
                        .unwrap_or_else(|| panic!("timestamp must be a string: {v}"))
                        .parse()
                        .unwrap_or_else(|_| panic!("timestamp must be integer ns: {v}"));
                    let line = a[1].as_str().unwrap_or_else(|| panic!("line must be a string: {v}")).to_string();
                    (ts, line, a.get(2).cloned())
                })
                .collect();
            Stream { labels, values }
        })
        .collect()
}

/// All entries of a streams result, in response order.
pub fn flatten(streams: &[Stream]) -> Vec<Row> {
    streams
        .iter()
        .flat_map(|s| s.values.iter().map(move |(ts, line, _)| Row { ts: *ts, line: line.clone(), labels: s.labels.clone() }))
        .collect()
}

/// Sorted copy, for order-independent comparisons that still catch duplicates.
pub fn sorted(mut rows: Vec<Row>) -> Vec<Row> {
    rows.sort();
    rows
}

/// Asserts that entries inside every stream follow the direction.
pub fn assert_direction(streams: &[Stream], direction: &str, ctx: &str) {
    for s in streams {
        for w in s.values.windows(2) {
            let ok = if direction == "forward" { w[0].0 <= w[1].0 } else { w[0].0 >= w[1].0 };
            assert!(ok, "{ctx}: stream {:?} not in {direction} order: {} then {}", s.labels, w[0].0, w[1].0);
        }
    }
}

/// Compares two entry lists as multisets, with a readable diff.
pub fn assert_rows_eq(got: Vec<Row>, want: Vec<Row>, ctx: &str) {
    let got = sorted(got);
    let want = sorted(want);
    if got == want {
        return;
    }
    let missing: Vec<&Row> = want.iter().filter(|r| !got.contains(r)).take(5).collect();
    let extra: Vec<&Row> = got.iter().filter(|r| !want.contains(r)).take(5).collect();
    let mut dups = Vec::new();
    for w in got.windows(2) {
        if w[0] == w[1] && dups.len() < 5 {
            dups.push(w[0].clone());
        }
    }
    panic!(
        "{ctx}: got {} entries, want {}\n missing (first 5): {missing:?}\n unexpected (first 5): {extra:?}\n duplicated (first 5): {dups:?}",
        got.len(),
        want.len()
    );
}

/// `data` of a labels / label values / series response, checked for status success.
pub fn data_list(r: &Resp, ctx: &str) -> Vec<Value> {
    r.expect(200, ctx);
    let v = r.json();
    assert_eq!(v["status"], "success", "{ctx}: {}", r.body);
    match &v["data"] {
        Value::Null => Vec::new(), // Loki omits an empty `data` for labels
        Value::Array(a) => a.clone(),
        other => panic!("{ctx}: data is not a list: {other}"),
    }
}

/// `data` of a labels / label values response as strings.
pub fn string_list(r: &Resp, ctx: &str) -> Vec<String> {
    data_list(r, ctx)
        .into_iter()
        .map(|v| v.as_str().unwrap_or_else(|| panic!("{ctx}: not a string: {v}")).to_string())
        .collect()
}

/// `data` of a series response as label maps, sorted.
pub fn series_list(r: &Resp, ctx: &str) -> Vec<Labels> {
    let mut out: Vec<Labels> = data_list(r, ctx)
        .into_iter()
        .map(|v| serde_json::from_value(v.clone()).unwrap_or_else(|e| panic!("{ctx}: bad series {v}: {e}")))
        .collect();
    out.sort();
    out
}

// ---------------------------------------------------------------------------------------------
// Time and files
// ---------------------------------------------------------------------------------------------

pub fn now_ns() -> i64 {
    let d = SystemTime::now().duration_since(UNIX_EPOCH).expect("clock after 1970");
    i64::try_from(d.as_nanos()).expect("time fits i64")
}

pub const SEC: i64 = 1_000_000_000;
pub const MS: i64 = 1_000_000;

/// A base timestamp `minutes_ago` minutes in the past, rounded down to the second.
pub fn base_ts(minutes_ago: i64) -> i64 {
    let t = now_ns() - minutes_ago * 60 * SEC;
    t - t.rem_euclid(SEC)
}

/// Chunk files of a tenant: `<data>/chunks/<tenant>/chunks/<day>/*.parquet`. Each must be a
/// non-empty Parquet file (PAR1 magic at both ends).
pub fn parquet_files(data: &Path, tenant: &str) -> Vec<PathBuf> {
    let root = data.join("chunks").join(tenant).join("chunks");
    let mut out = Vec::new();
    let Ok(days) = std::fs::read_dir(&root) else { return out };
    for day in days.flatten() {
        if !day.path().is_dir() {
            continue;
        }
        let Ok(files) = std::fs::read_dir(day.path()) else { continue };
        for f in files.flatten() {
            let p = f.path();
            if p.extension().and_then(|e| e.to_str()) == Some("parquet") {
                check_parquet_magic(&p);
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

fn check_parquet_magic(p: &Path) {
    let mut f = std::fs::File::open(p).unwrap_or_else(|e| panic!("open {}: {e}", p.display()));
    let mut all = Vec::new();
    f.read_to_end(&mut all).unwrap_or_else(|e| panic!("read {}: {e}", p.display()));
    assert!(
        all.len() >= 12 && all.starts_with(b"PAR1") && all.ends_with(b"PAR1"),
        "{} is not a complete Parquet file ({} bytes)",
        p.display(),
        all.len()
    );
}
