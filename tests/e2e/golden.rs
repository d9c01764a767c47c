//! Golden-file tests of the LogQL planner and evaluator: every `tests/golden/*.logql` file
//! holds a small dataset and queries with their expected answers (format: see
//! `tests/golden/README.md`). One `skald` process serves all files, each file in its own
//! tenant. `SKALD_GOLDEN_UPDATE=1` rewrites the `expect` blocks with what Skald answered
//! (review the diff before committing it).

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::harness::*;

/// Base time of the datasets: 2025-11-20T00:00:00Z, in ns.
const BASE: i64 = 1_763_596_800_000_000_000;

/// One query and what it must answer.
#[derive(Debug)]
struct Case {
    /// 1-based line of the directive, for messages.
    line: usize,
    /// `query_range` or `query`.
    endpoint: String,
    /// Request parameters besides `query` (times already absolute).
    params: Vec<(String, String)>,
    /// The LogQL text.
    query: String,
    /// The expected answer, normalized (see `normalize`).
    expect: Vec<String>,
    /// Line range (0-based, end exclusive) of the expect body, for updates.
    expect_span: (usize, usize),
}

/// A parsed golden file.
#[derive(Debug, Default)]
struct Golden {
    /// Push bodies and flushes, in file order.
    steps: Vec<Step>,
    cases: Vec<Case>,
}

#[derive(Debug)]
enum Step {
    Push(Value),
    Flush,
}

/// Parses a Go-style offset of integer parts (`1h2m3s`, `500ms`, `1ns`, `0s`) to ns.
fn offset_ns(s: &str) -> Result<i64, String> {
    let (neg, mut rest) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s),
    };
    if rest.is_empty() {
        return Err(format!("empty offset {s:?}"));
    }
    let mut total: i64 = 0;
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len());
        let n: i64 = rest[..digits].parse().map_err(|_| format!("bad offset {s:?}"))?;
        rest = &rest[digits..];
        let unit_len = rest.find(|c: char| c.is_ascii_digit()).unwrap_or(rest.len());
        let mult = match &rest[..unit_len] {
            "ns" => 1,
            "us" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            other => return Err(format!("bad unit {other:?} in offset {s:?}")),
        };
        total += n * mult;
        rest = &rest[unit_len..];
    }
    Ok(if neg { -total } else { total })
}

/// Formats ns as an offset `offset_ns` reads back.
fn format_offset(mut ns: i64) -> String {
    if ns == 0 {
        return "0s".into();
    }
    let mut out = String::new();
    if ns < 0 {
        out.push('-');
        ns = -ns;
    }
    for (unit, size) in [("h", 3_600_000_000_000), ("m", 60_000_000_000), ("s", 1_000_000_000), ("ms", 1_000_000), ("us", 1_000), ("ns", 1)] {
        if ns >= size {
            out.push_str(&format!("{}{unit}", ns / size));
            ns %= size;
        }
    }
    out
}

/// Splits `{a="b", c="d"} rest` into the label text and the rest.
fn split_labels(s: &str) -> Option<(&str, &str)> {
    if !s.starts_with('{') {
        return None;
    }
    let mut in_quote = false;
    let mut escaped = false;
    for (i, c) in s.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if in_quote => escaped = true,
            '"' => in_quote = !in_quote,
            '}' if !in_quote => return Some((&s[..=i], s[i + 1..].trim_start())),
            _ => {}
        }
    }
    None
}

fn label_object(text: &str) -> Result<Value, String> {
    let pairs = store::labels::parse_pairs(text)?;
    Ok(Value::Object(pairs.into_iter().map(|(k, v)| (k, Value::String(v))).collect()))
}

fn parse_golden(text: &str) -> Result<Golden, String> {
    let lines: Vec<&str> = text.lines().collect();
    let mut g = Golden::default();
    let mut i = 0;
    let mut stream: Option<(Value, Vec<Value>)> = None;
    let finish_push = |stream: &mut Option<(Value, Vec<Value>)>, g: &mut Golden| {
        if let Some((labels, values)) = stream.take() {
            g.steps.push(Step::Push(json!({"streams": [{"stream": labels, "values": values}]})));
        }
    };
    while i < lines.len() {
        let raw = lines[i];
        let line = raw.trim_end();
        let ln = i + 1;
        i += 1;
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let (word, rest) = line.split_once(' ').unwrap_or((line, ""));
        match word {
            "push" => {
                finish_push(&mut stream, &mut g);
                stream = Some((label_object(rest.trim()).map_err(|e| format!("line {ln}: {e}"))?, Vec::new()));
            }
            "flush" => {
                finish_push(&mut stream, &mut g);
                g.steps.push(Step::Flush);
            }
            "query_range" | "query" => {
                finish_push(&mut stream, &mut g);
                let mut params = Vec::new();
                for kv in rest.split_whitespace() {
                    let (k, v) = kv.split_once('=').ok_or_else(|| format!("line {ln}: expected key=value, got {kv:?}"))?;
                    let v = match k {
                        "start" | "end" | "time" => (BASE + offset_ns(v).map_err(|e| format!("line {ln}: {e}"))?).to_string(),
                        _ => v.to_string(),
                    };
                    params.push((k.to_string(), v));
                }
                let mut query = Vec::new();
                while i < lines.len() && lines[i].trim_end() != "expect" {
                    query.push(lines[i].trim_end());
                    i += 1;
                }
                if i == lines.len() {
                    return Err(format!("line {ln}: query without an `expect` line"));
                }
                i += 1;
                let start = i;
                while i < lines.len() && !lines[i].trim().is_empty() && !lines[i].starts_with('#') {
                    i += 1;
                }
                let expect = lines[start..i].iter().map(|l| l.trim_end().to_string()).collect();
                g.cases.push(Case {
                    line: ln,
                    endpoint: word.to_string(),
                    params,
                    query: query.join("\n"),
                    expect,
                    expect_span: (start, i),
                });
            }
            _ => {
                let Some((_, values)) = stream.as_mut() else {
                    return Err(format!("line {ln}: entry outside a push block: {line:?}"));
                };
                let (ts, rest) = line.split_once(' ').unwrap_or((line, ""));
                let ts = BASE + offset_ns(ts).map_err(|e| format!("line {ln}: {e}"))?;
                match rest.strip_prefix("md").and_then(split_labels) {
                    Some((md, text)) => {
                        values.push(json!([ts.to_string(), text, label_object(md).map_err(|e| format!("line {ln}: {e}"))?]))
                    }
                    None => values.push(json!([ts.to_string(), rest])),
                }
            }
        }
    }
    finish_push(&mut stream, &mut g);
    Ok(g)
}

fn labels_text(v: &Value) -> String {
    let mut pairs: Vec<(String, String)> =
        v.as_object().map(|m| m.iter().map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_string())).collect()).unwrap_or_default();
    pairs.sort();
    store::labels::render_pairs(&pairs)
}

fn ts_offset(v: &Value) -> String {
    // Matrix and vector times are seconds (number); stream times ns (string).
    match v {
        Value::String(s) => format_offset(s.parse::<i64>().unwrap_or(0) - BASE),
        Value::Number(n) => format_offset((n.as_f64().unwrap_or(0.0) * 1000.0).round() as i64 * 1_000_000 - BASE),
        _ => "?".into(),
    }
}

/// An answer in the golden notation, one string per line.
fn normalize(status: u16, body: &str) -> Vec<String> {
    if status != 200 {
        return format!("error {status} {}", body.trim_end()).lines().map(str::to_string).collect();
    }
    let v: Value = match serde_json::from_str(body) {
        Ok(v) => v,
        Err(e) => return vec![format!("bad json {e}: {body}")],
    };
    let data = &v["data"];
    let result = &data["result"];
    let rows = result.as_array().cloned().unwrap_or_default();
    match data["resultType"].as_str() {
        Some("streams") => {
            let mut out: Vec<(String, Vec<String>)> = rows
                .iter()
                .map(|s| {
                    let l = labels_text(&s["stream"]);
                    let entries = s["values"]
                        .as_array()
                        .map(|vals| vals.iter().map(|e| format!("{l} {} {}", ts_offset(&e[0]), e[1].as_str().unwrap_or(""))).collect())
                        .unwrap_or_default();
                    (l, entries)
                })
                .collect();
            out.sort_by(|a, b| a.0.cmp(&b.0));
            out.into_iter().flat_map(|(_, e)| e).collect()
        }
        Some("matrix") => {
            let mut out: Vec<String> = rows
                .iter()
                .map(|s| {
                    let points: Vec<String> = s["values"]
                        .as_array()
                        .map(|p| p.iter().map(|p| format!("{}={}", ts_offset(&p[0]), p[1].as_str().unwrap_or("?"))).collect())
                        .unwrap_or_default();
                    format!("{} {}", labels_text(&s["metric"]), points.join(" "))
                })
                .collect();
            out.sort();
            out
        }
        Some("vector") => {
            let mut out: Vec<String> =
                rows.iter().map(|s| format!("{} {}", labels_text(&s["metric"]), s["value"][1].as_str().unwrap_or("?"))).collect();
            out.sort();
            out
        }
        Some("scalar") => vec![format!("scalar {}", result[1].as_str().unwrap_or("?"))],
        other => vec![format!("unknown result type {other:?}")],
    }
}

/// Two answer lines agree: same text, or the same shape with numbers within 1e-9 relative.
fn same_line(want: &str, got: &str) -> bool {
    if want == got {
        return true;
    }
    let (w, g): (Vec<&str>, Vec<&str>) = (want.split(' ').collect(), got.split(' ').collect());
    w.len() == g.len()
        && w.iter().zip(&g).all(|(a, b)| {
            if a == b {
                return true;
            }
            let num = |s: &str| s.rsplit('=').next().and_then(|n| n.parse::<f64>().ok());
            let prefix = |s: &str| s.rsplit_once('=').map(|p| p.0.to_string()).unwrap_or_default();
            match (num(a), num(b)) {
                (Some(x), Some(y)) if prefix(a) == prefix(b) => {
                    (x - y).abs() <= 1e-9 * x.abs().max(y.abs()) || (x.is_nan() && y.is_nan())
                }
                _ => false,
            }
        })
}

fn golden_files() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "logql"))
        .collect();
    files.sort();
    files
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn golden_logql_files() {
    let update = std::env::var("SKALD_GOLDEN_UPDATE").is_ok_and(|v| v == "1");
    let files = golden_files();
    assert!(!files.is_empty(), "no golden files");
    let s = Skald::start(
        TestDir::new("golden"),
        &["--auth_enabled=true", "--limits_config.reject_old_samples=false", "--limits_config.discover_service_name=[]"],
    );
    let mut failures = Vec::new();
    let mut total = 0;
    for file in &files {
        let name = file.file_stem().and_then(|s| s.to_str()).unwrap_or("golden").to_string();
        let text = std::fs::read_to_string(file).unwrap_or_else(|e| panic!("read {}: {e}", file.display()));
        let g = parse_golden(&text).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        let api = s.api().tenant(&name);
        for step in &g.steps {
            match step {
                Step::Push(body) => {
                    api.push_json(body).await.expect(204, &format!("{name}: push"));
                }
                Step::Flush => api.flush().await,
            }
        }
        let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
        // Replace expect blocks from the end so earlier spans stay valid.
        let mut updates: Vec<((usize, usize), Vec<String>)> = Vec::new();
        for case in &g.cases {
            total += 1;
            let mut params: Vec<(&str, String)> = case.params.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
            params.push(("query", case.query.clone()));
            let r = api.get(&format!("/loki/api/v1/{}", case.endpoint), &params).await;
            let got = normalize(r.status, &r.body);
            let ok = got.len() == case.expect.len() && case.expect.iter().zip(&got).all(|(w, g)| same_line(w, g));
            if !ok {
                if update {
                    updates.push((case.expect_span, got));
                } else {
                    failures.push(format!(
                        "{}:{}: {}\n  want:\n    {}\n  got:\n    {}",
                        file.display(),
                        case.line,
                        case.query,
                        case.expect.join("\n    "),
                        got.join("\n    ")
                    ));
                }
            }
        }
        if update && !updates.is_empty() {
            for ((from, to), got) in updates.into_iter().rev() {
                lines.splice(from..to, got);
            }
            std::fs::write(file, lines.join("\n") + "\n").unwrap_or_else(|e| panic!("write {}: {e}", file.display()));
        }
    }
    report(&format!("golden LogQL files: {} files, {total} cases, {} failed", files.len(), failures.len()));
    assert!(failures.is_empty(), "{} golden case(s) failed:\n{}", failures.len(), failures.join("\n"));
}

#[test]
fn offsets_round_trip() {
    for s in ["0s", "1ns", "1h2m3s4ms5us6ns", "90s", "-5m"] {
        let ns = offset_ns(s).expect("parse");
        assert_eq!(offset_ns(&format_offset(ns)), Ok(ns), "{s}");
    }
    assert_eq!(offset_ns("1m30s"), Ok(90_000_000_000));
    assert!(offset_ns("5d").is_err());
    assert_eq!(split_labels(r#"{a="}"} rest"#), Some((r#"{a="}"}"#, "rest")));
}
