//! Configuration: Loki's YAML keys are honoured, flags override them, unknown keys are fatal.

use crate::harness::*;

fn assert_fails_naming(args: Vec<String>, key: &str, ctx: &str) {
    let (status, stdout, stderr) = run_expect_exit(&args);
    assert!(!status.success(), "{ctx}: skald must exit non-zero, got {status}\nstdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(stderr.contains(key), "{ctx}: stderr must name {key:?}, got:\n{stderr}");
    assert!(!stdout.contains("skald: ready"), "{ctx}: must not become ready");
}

#[test]
fn unknown_keys_are_fatal() {
    let dir = TestDir::new("config_unknown");
    let yaml = write_file(
        &dir,
        "unknown.yaml",
        "auth_enabled: false\nlimits_config:\n  max_line_size: 1KB\n  no_such_limit_xyz: 5\n",
    );
    let mut args = base_args(&dir);
    args.push(format!("--config.file={}", yaml.display()));
    assert_fails_naming(args, "no_such_limit_xyz", "unknown nested key in YAML");

    let yaml = write_file(&dir, "unknown_top.yaml", "bogus_section_xyz:\n  a: 1\n");
    let mut args = base_args(&dir);
    args.push(format!("--config.file={}", yaml.display()));
    assert_fails_naming(args, "bogus_section_xyz", "unknown top-level key in YAML");

    let mut args = base_args(&dir);
    args.push("--limits_config.bogus_flag_xyz=1".into());
    assert_fails_naming(args, "bogus_flag_xyz", "unknown key as a flag");

    let mut args = base_args(&dir);
    args.push("--not_a_section_xyz.port=1".into());
    assert_fails_naming(args, "not_a_section_xyz", "unknown section as a flag");

    // A config file that does not exist is an error too.
    let mut args = base_args(&dir);
    args.push(format!("--config.file={}", dir.file("missing.yaml").display()));
    let (status, _, stderr) = run_expect_exit(&args);
    assert!(!status.success(), "missing config file must be fatal; stderr:\n{stderr}");
    // A value of the wrong type names the key.
    let mut args = base_args(&dir);
    args.push("--limits_config.max_label_names_per_series=lots".into());
    assert_fails_naming(args, "max_label_names_per_series", "bad value as a flag");
    // A value that parses but makes no sense names the key.
    let mut args = base_args(&dir);
    args.push("--compactor.lease_duration=0s".into());
    assert_fails_naming(args, "compactor.lease_duration", "a lease of no time");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn yaml_config_is_honoured_and_flags_override() {
    let dir = TestDir::new("config_yaml");
    let yaml = format!(
        "\
auth_enabled: false
server:
  http_listen_address: 127.0.0.1
  http_listen_port: 0
  grpc_listen_address: 127.0.0.1
  grpc_listen_port: 0
common:
  path_prefix: {data}
limits_config:
  max_line_size: 1KB
  allow_structured_metadata: false
  max_label_names_per_series: 3
  discover_service_name: []
  discover_log_levels: false
  reject_old_samples: true
  reject_old_samples_max_age: 1h
ingester:
  chunk_idle_period: 30m
  max_chunk_age: 2h
  chunk_target_size: 1572864
  flush_check_period: 30s
",
        data = dir.data().display()
    );
    let cfg = write_file(&dir, "loki.yaml", &yaml);
    let cfg_arg = format!("--config.file={}", cfg.display());
    // Only the config file: ports, addresses and the data dir come from YAML.
    let mut s = Skald::start_raw(dir, vec![cfg_arg.clone()]);
    let api = s.api();
    let t = base_ts(10);
    let push = |ts: i64, line: String| json_push(vec![json_stream(&[("job", "cfg")], vec![jv(ts, &line)])]);

    api.push_json(&push(t, "x".repeat(3000))).await.expect_err(400, "max entry size", "3000-byte line with max_line_size 1KB");
    api.push_json(&push(t, "short line".into())).await.expect(204, "short line");
    api.push_json(&json_push(vec![json_stream(&[("job", "cfg")], vec![jv_sm(t + SEC, "meta", &[("trace_id", "1")])])]))
        .await
        .expect_err(400, "structured metadata", "structured metadata disallowed by YAML");
    api.push_json(&json_push(vec![json_stream(&[("job", "cfg"), ("a", "1"), ("b", "2"), ("c", "3")], vec![jv(t, "4 labels")])]))
        .await
        .expect_err(400, "has 4 label names; limit 3", "max_label_names_per_series from YAML");
    api.push_json(&json_push(vec![json_stream(&[("job", "cfg")], vec![jv(now_ns() - 2 * 3600 * SEC, "2h old")])]))
        .await
        .expect_err(400, "timestamp too old", "reject_old_samples_max_age 1h from YAML");
    // auth_enabled: false -> tenant "fake": chunk files land under chunks/fake.
    api.flush().await;
    assert!(!parquet_files(&s.dir.data(), "fake").is_empty(), "YAML path_prefix: no chunk files under {}", s.dir.data().display());

    // Flags override YAML keys.
    let status = s.sigterm();
    assert!(status.success(), "SIGTERM exit: {status}");
    s.restart_with(vec![
        cfg_arg,
        "--limits_config.max_line_size=8KB".into(),
        "--limits_config.allow_structured_metadata=true".into(),
    ]);
    let api = s.api();
    api.push_json(&push(t + 2 * SEC, "x".repeat(3000))).await.expect(204, "3000-byte line once the flag raises max_line_size");
    api.push_json(&json_push(vec![json_stream(&[("job", "cfg")], vec![jv_sm(t + 3 * SEC, "meta", &[("trace_id", "1")])])]))
        .await
        .expect(204, "structured metadata allowed by flag");
    let mut rows = flatten(&api.query_streams(r#"{job="cfg"}"#, t, t + 60 * SEC, 100, "forward").await);
    rows.sort_by_key(|r| r.ts);
    let lines: Vec<usize> = rows.iter().map(|r| r.line.len()).collect();
    assert_eq!(lines, vec![10, 3000, 4], "entries after the restart with overrides: {rows:?}");
}

/// The keys of Loki's own local config (`cmd/loki/loki-local-config.yaml`) that Skald
/// accepts and ignores, each logged once.
const LOKI_LOCAL_IGNORED: &[&str] = &[
    "server.grpc_server_max_concurrent_streams",
    "common.instance_addr",
    "common.ring",
    "common.storage.filesystem.rules_directory",
    "limits_config.metric_aggregation_enabled",
    "limits_config.split_queries_by_interval",
    "query_range",
    "schema_config",
    "pattern_ingester",
    "ruler",
    "frontend",
    "analytics",
];

/// Loki's `cmd/loki/loki-local-config.yaml`, with random ports (0), the directories under
/// `root`, and the analytics opt-out it suggests uncommented.
fn loki_local_config(root: &std::path::Path, http_port: u16) -> String {
    format!(
        "\
auth_enabled: false

server:
  http_listen_port: {http_port}
  grpc_listen_port: 0
  log_level: debug
  grpc_server_max_concurrent_streams: 1000

common:
  instance_addr: 127.0.0.1
  path_prefix: {root}
  storage:
    filesystem:
      chunks_directory: {root}/chunks
      rules_directory: {root}/rules
  replication_factor: 1
  ring:
    kvstore:
      store: inmemory

query_range:
  align_queries_with_step: true
  results_cache:
    cache:
      embedded_cache:
        enabled: true
        max_size_mb: 100

limits_config:
  metric_aggregation_enabled: true
  split_queries_by_interval: 15m

schema_config:
  configs:
    - from: 2020-10-24
      store: tsdb
      object_store: filesystem
      schema: v13
      index:
        prefix: index_
        period: 24h

pattern_ingester:
  enabled: true
  metric_aggregation:
    loki_address: localhost:3100

ruler:
  alertmanager_url: http://localhost:9093

frontend:
  encoding: protobuf

analytics:
  reporting_enabled: false
",
        root = root.display()
    )
}

/// Loki's config binds every interface; the harness wants 127.0.0.1, so only the listen
/// addresses come as flags.
fn loopback_flags(cfg: &std::path::Path) -> Vec<String> {
    vec![
        format!("--config.file={}", cfg.display()),
        "--server.http_listen_address=127.0.0.1".into(),
        "--server.grpc_listen_address=127.0.0.1".into(),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lokis_local_config_loads_and_serves() {
    let dir = TestDir::new("config_loki_local");
    let root = dir.file("loki");
    let cfg = write_file(&dir, "loki-local-config.yaml", &loki_local_config(&root, 0));
    let s = Skald::start_raw(dir, loopback_flags(&cfg));
    let api = s.api();

    let t = base_ts(5);
    let values = (0..10).map(|i| jv(t + i * SEC, &format!("line {i}"))).collect();
    api.push_json(&json_push(vec![json_stream(&[("job", "loki-cfg")], values)])).await.expect(204, "push");
    let lines = |rows: Vec<Row>| rows.into_iter().map(|r| r.line).collect::<Vec<_>>();
    let want: Vec<String> = (0..10).map(|i| format!("line {i}")).collect();
    let got = lines(sorted(flatten(&api.query_streams(r#"{job="loki-cfg"}"#, t, t + 60 * SEC, 100, "forward").await)));
    assert_eq!(got, want, "from the heads");
    api.flush().await;
    assert!(!parquet_files(&root, "fake").is_empty(), "chunks go to common.storage.filesystem.chunks_directory");
    let got = lines(sorted(flatten(&api.query_streams(r#"{job="loki-cfg"} |= "line""#, t, t + 60 * SEC, 100, "forward").await)));
    assert_eq!(got, want, "from the chunk files");
    let count = api.get("/loki/api/v1/query", &[("query", r#"sum(count_over_time({job="loki-cfg"}[10m]))"#.into()), ("time", now_ns().to_string())]).await;
    assert_eq!(count.json()["data"]["result"][0]["value"][1], "10", "{}", count.body);

    // common.replication_factor is Skald's cluster.replication_factor; the ignored keys are
    // gone from the effective configuration.
    let effective = api.get("/config", &[]).await;
    effective.expect(200, "GET /config");
    let effective: serde_yaml_ng::Value = serde_yaml_ng::from_str(&effective.body).expect("/config is YAML");
    assert_eq!(effective["cluster"]["replication_factor"].as_u64(), Some(1), "{effective:?}");
    assert_eq!(effective["server"]["log_level"].as_str(), Some("debug"));
    for key in ["query_range", "schema_config", "ruler", "analytics"] {
        assert!(effective.get(key).is_none(), "{key} is not part of Skald's configuration");
    }
}

#[test]
fn ignored_loki_keys_are_logged_once_each() {
    let dir = TestDir::new("config_loki_warnings");
    // A port that is taken: the server logs its warnings, then fails to bind and exits.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a port");
    let port = taken.local_addr().expect("local addr").port();
    let cfg = write_file(&dir, "loki-local-config.yaml", &loki_local_config(&dir.file("loki"), port));
    let (status, _, stderr) = run_expect_exit(&loopback_flags(&cfg));
    assert!(!status.success(), "the HTTP port is taken; stderr:\n{stderr}");
    for key in LOKI_LOCAL_IGNORED {
        let needle = format!("ignoring Loki configuration key {key}:");
        assert_eq!(stderr.matches(&needle).count(), 1, "one warning for {key}; stderr:\n{stderr}");
    }
    let warnings = stderr.matches("ignoring Loki configuration key").count();
    assert_eq!(warnings, LOKI_LOCAL_IGNORED.len(), "no other key is ignored; stderr:\n{stderr}");
    assert!(!stderr.contains("ignoring Loki configuration key common.replication_factor"), "it is mapped, not ignored");
    drop(taken);

    // A key Loki does not have is still refused, naming it, even beside ignored ones.
    let yaml = loki_local_config(&dir.file("loki"), 0).replace("  instance_addr: 127.0.0.1\n", "  instance_addr: 127.0.0.1\n  no_such_common_option_xyz: 1\n");
    assert!(yaml.contains("no_such_common_option_xyz"));
    let cfg = write_file(&dir, "typo.yaml", &yaml);
    assert_fails_naming(loopback_flags(&cfg), "no_such_common_option_xyz", "unknown key beside ignored ones");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_entries_limit_per_query_zero_means_no_limit() {
    let dir = TestDir::new("config_no_entries_limit");
    let s = Skald::start(dir, &["--limits_config.max_entries_limit_per_query=0"]);
    let api = s.api();
    let t = base_ts(5);
    let values = (0..7).map(|i| jv(t + i * SEC, &format!("entry {i}"))).collect();
    api.push_json(&json_push(vec![json_stream(&[("job", "nolimit")], values)])).await.expect(204, "push");
    for limit in [5_001, 1_000_000] {
        let rows = flatten(&api.query_streams(r#"{job="nolimit"}"#, t, t + 60 * SEC, limit, "forward").await);
        assert_eq!(rows.len(), 7, "limit {limit} is accepted when max_entries_limit_per_query is 0");
    }
    // The request's own limit still applies.
    let rows = flatten(&api.query_streams(r#"{job="nolimit"}"#, t, t + 60 * SEC, 3, "backward").await);
    assert_eq!(rows.len(), 3);
}
