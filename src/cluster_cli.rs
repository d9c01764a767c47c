//! `skald cluster status`: the cluster as a running node sees it, as a table.

use std::fmt::Write as _;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use serde_json::Value;

/// Usage text of `skald cluster`.
pub const CLUSTER_USAGE: &str = "\
usage: skald cluster status [--addr=URL]

Prints the nodes and shards (replicas, leader, term, log and applied indexes, follower lag)
as the node at URL (default http://127.0.0.1:3100) sees them.
";

/// Parses the arguments after `cluster` and returns the node's base URL.
pub fn parse_cluster_args<I: IntoIterator<Item = String>>(args: I) -> Result<String> {
    let mut args = args.into_iter();
    match args.next().as_deref() {
        Some("status") => {}
        Some(other) => bail!("unknown cluster command {other:?}\n{CLUSTER_USAGE}"),
        None => bail!("no cluster command given\n{CLUSTER_USAGE}"),
    }
    let mut addr = "http://127.0.0.1:3100".to_string();
    while let Some(arg) = args.next() {
        match arg.split_once('=') {
            Some(("--addr", v)) => addr = v.trim_end_matches('/').to_string(),
            None if arg == "--addr" => addr = args.next().context("--addr needs a value")?.trim_end_matches('/').to_string(),
            _ => bail!("unexpected argument {arg:?}\n{CLUSTER_USAGE}"),
        }
    }
    Ok(addr)
}

fn cell(v: &Value) -> String {
    match v {
        Value::Null => "-".into(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Renders `/cluster/status` JSON as two text tables.
pub fn render(status: &Value) -> String {
    let mut out = format!("node {}\n\nNODE  ADDRESS\n", cell(&status["node_id"]));
    for n in status["nodes"].as_array().into_iter().flatten() {
        let _ = writeln!(out, "{:<5} {}", cell(&n["id"]), cell(&n["addr"]));
    }
    out.push_str("\nSHARD  REPLICAS    LEADER  TERM  LAST_LOG  APPLIED  LAG\n");
    for s in status["shards"].as_array().into_iter().flatten() {
        let replicas: Vec<String> = s["replicas"].as_array().into_iter().flatten().map(cell).collect();
        let lag: Vec<String> = s["lag"].as_array().into_iter().flatten().map(|p| format!("{}:{}", cell(&p[0]), cell(&p[1]))).collect();
        let _ = writeln!(
            out,
            "{:<6} {:<11} {:<7} {:<5} {:<9} {:<8} {}",
            cell(&s["shard"]),
            replicas.join(","),
            cell(&s["leader"]),
            cell(&s["term"]),
            cell(&s["last_log_index"]),
            cell(&s["applied_index"]),
            lag.join(" ")
        );
    }
    out
}

/// Fetches the status from `addr` and renders it.
pub async fn run_status(addr: &str) -> Result<String> {
    let client = reqwest::Client::builder().timeout(Duration::from_secs(30)).build()?;
    let resp = client.get(format!("{addr}/cluster/status")).send().await.with_context(|| format!("cannot reach {addr}"))?;
    let status = resp.status();
    let body = resp.text().await?;
    if !status.is_success() {
        bail!("{status}: {}", body.trim_end());
    }
    let v: Value = serde_json::from_str(&body).context("the status is not JSON")?;
    Ok(render(&v))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_renders() {
        let a = |v: &[&str]| parse_cluster_args(v.iter().map(|s| s.to_string()));
        assert_eq!(a(&["status"]).unwrap(), "http://127.0.0.1:3100");
        assert_eq!(a(&["status", "--addr=http://h:1/"]).unwrap(), "http://h:1");
        assert!(a(&[]).is_err() && a(&["grow"]).is_err() && a(&["status", "x"]).is_err());
        let v = serde_json::json!({"node_id": 1, "nodes": [{"id": 1, "addr": "a:1"}],
            "shards": [{"shard": 0, "replicas": [1, 2], "leader": 1, "term": 3, "last_log_index": 9, "applied_index": 9, "lag": [[2, 1]]}]});
        let text = render(&v);
        assert!(text.contains("a:1") && text.contains("1,2") && text.contains("2:1"), "{text}");
    }
}
