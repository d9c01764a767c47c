//! LogQL conformance against the answers of the real Grafana Loki (../shared/conformance).
//!
//! The dataset is pushed in two halves with a flush in between, so every case reads from
//! Parquet files and from heads at once. The cases listed in `conformance_cases.txt` (today: all of them) must pass.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::harness::*;

const TENANT: &str = "conformance";

fn shared_dir() -> PathBuf {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join("shared").join("conformance");
    assert!(
        p.join("check.py").is_file(),
        "conformance material not found at {} (the shared/ directory must sit beside the repository)",
        p.display()
    );
    p
}

/// Runs `python3 args...` with a deadline; returns (success, stdout, stderr).
fn python(dir: &Path, name: &str, args: &[String], timeout: Duration) -> (bool, String, String) {
    let out_path = dir.join(format!("{name}.stdout"));
    let err_path = dir.join(format!("{name}.stderr"));
    let out = std::fs::File::create(&out_path).expect("create stdout file");
    let err = std::fs::File::create(&err_path).expect("create stderr file");
    let mut child = Command::new("python3")
        .args(args)
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .env("NO_PROXY", "127.0.0.1")
        .env("no_proxy", "127.0.0.1")
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run python3 (needed for conformance): {e}"));
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(st) = child.try_wait().expect("wait for python3") {
            break Some(st);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let stdout = std::fs::read_to_string(&out_path).unwrap_or_default();
    let stderr = std::fs::read_to_string(&err_path).unwrap_or_default();
    match status {
        Some(st) => (st.success(), stdout, stderr),
        None => panic!("python3 {args:?} did not finish within {timeout:?}\nstdout:\n{stdout}\nstderr:\n{stderr}"),
    }
}

fn required_ids() -> Vec<String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/e2e/conformance_cases.txt");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_string)
        .collect()
}

/// Runs check.py on a cases file without blocking the async runtime.
async fn check(dir: &TestDir, name: &str, args: Vec<String>) -> (bool, String, String) {
    let dir_path = dir.path.clone();
    let name = name.to_string();
    tokio::task::spawn_blocking(move || python(&dir_path, &name, &args, Duration::from_secs(600)))
    .await
    .expect("check.py task")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logql_conformance() {
    let shared = shared_dir();
    let check_py = shared.join("check.py").display().to_string();
    let dir = TestDir::new("conformance");

    // The dataset, split into two halves.
    let (ok, dataset, err) = python(&dir.path, "gen", &[shared.join("gen_dataset.py").display().to_string()], Duration::from_secs(120));
    assert!(ok, "gen_dataset.py failed:\n{err}");
    let lines: Vec<&str> = dataset.lines().filter(|l| !l.trim().is_empty()).collect();
    assert!(lines.len() >= 2, "dataset too small: {} lines", lines.len());
    // Three flushed parts of the first half (so compaction has files to merge), the second
    // half left in heads.
    let half = lines.len() / 2;
    let third = half.div_ceil(3);
    let flushed: Vec<PathBuf> = lines[..half]
        .chunks(third)
        .enumerate()
        .map(|(i, part)| write_file(&dir, &format!("part1-{i}.jsonl"), &(part.join("\n") + "\n")))
        .collect();
    let second = write_file(&dir, "part2.jsonl", &(lines[half..].join("\n") + "\n"));
    drop(dataset);

    // The must-pass cases, checked against cases.json.
    let cases: Vec<Value> = serde_json::from_str(
        &std::fs::read_to_string(shared.join("cases.json")).expect("read cases.json"),
    )
    .expect("parse cases.json");
    let required = required_ids();
    for id in &required {
        assert!(cases.iter().any(|c| c["id"] == id.as_str()), "conformance_cases.txt lists unknown case {id:?}");
    }
    let selected: Vec<Value> =
        cases.iter().filter(|c| c["id"].as_str().is_some_and(|id| required.iter().any(|r| r == id))).cloned().collect();
    let required_file = write_file(&dir, "required-cases.json", &serde_json::to_string(&selected).expect("json"));

    let s = Skald::start(
        dir,
        &[
            "--auth_enabled=true",
            "--limits_config.reject_old_samples=false",
            "--limits_config.max_entries_limit_per_query=100000",
            "--limits_config.discover_service_name=[]",
            "--limits_config.discover_log_levels=false",
            "--limits_config.allow_structured_metadata=true",
        ],
    );
    let url = format!("http://{}", s.http);
    let api = s.api().tenant(TENANT);
    let no_cases = s.dir.file("no-such-cases.json").display().to_string();

    // Push half in three flushed parts, then the rest: cases span files and heads.
    let push = |file: &Path| {
        vec![check_py.clone(), "--url".into(), url.clone(), "--tenant".into(), TENANT.into(), "--push".into(), file.display().to_string(), "--cases".into(), no_cases.clone()]
    };
    for (i, part) in flushed.iter().enumerate() {
        let (ok, out, err) = check(&s.dir, &format!("push1-{i}"), push(part)).await;
        assert!(ok, "pushing part {i} of the first half failed:\n{out}\n{err}");
        print!("{out}");
        api.flush().await;
    }
    assert!(parquet_files(&s.dir.data(), TENANT).len() >= 3, "a chunk file per flushed part for tenant {TENANT}");
    let (ok, out, err) = check(&s.dir, "push2", push(&second)).await;
    assert!(ok, "pushing the second half failed:\n{out}\n{err}");
    print!("{out}");

    // The must-pass cases.
    let req_args = vec![
        check_py.clone(),
        "--url".into(),
        url.clone(),
        "--tenant".into(),
        TENANT.into(),
        "--cases".into(),
        required_file.display().to_string(),
    ];
    let (ok, out, err) = check(&s.dir, "required", req_args.clone()).await;
    println!("required conformance cases:\n{out}{err}");
    let summary = out.lines().rev().find(|l| l.contains(" passed, ")).unwrap_or("(no summary line)").to_string();
    report(&format!("conformance (required {} cases): {summary}", selected.len()));
    assert!(ok, "required conformance cases failed:\n{out}\n{err}");
    assert!(out.contains(&format!("{} passed, 0 failed", selected.len())), "unexpected check.py summary:\n{out}");

    // The same answers once the flushed files are compacted.
    let r = s.api().post("/compactor/run").await;
    r.expect(200, "POST /compactor/run");
    let compaction = r.json();
    assert!(compaction["groups"].as_u64() >= Some(1), "nothing compacted: {compaction}");
    assert!(compaction["files_after"].as_u64() < compaction["files_before"].as_u64(), "{compaction}");
    let (ok, out, err) = check(&s.dir, "required-compacted", req_args).await;
    let summary = out.lines().rev().find(|l| l.contains(" passed, ")).unwrap_or("(no summary line)").to_string();
    report(&format!("conformance after compaction ({compaction}): {summary}"));
    assert!(ok, "required conformance cases failed after compaction:\n{out}\n{err}");
    assert!(out.contains(&format!("{} passed, 0 failed", selected.len())), "unexpected check.py summary after compaction:\n{out}");
}
