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
