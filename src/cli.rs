//! `skald query`: runs a LogQL query against a running Skald over HTTP and prints the
//! answer, or with `--explain` the DataFusion plans it runs as.

use std::time::Duration;

use anyhow::{Context, Result, bail};

/// Usage text of `skald query`.
pub const QUERY_USAGE: &str = "\
usage: skald query [--explain] [--addr=URL] [--org-id=TENANT] [--since=DURATION]
                   [--start=TS] [--end=TS] [--step=DURATION] [--limit=N] [--time=TS] '<logql>'

Sends the query to a running Skald (default http://127.0.0.1:3100) and prints the JSON answer
of /loki/api/v1/query_range (of /loki/api/v1/query with --time). With --explain it prints the
query as Skald parsed it and the DataFusion logical and physical plans instead.
";

/// A parsed `skald query` command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryCommand {
    /// Print the plans instead of running the query.
    pub explain: bool,
    /// Base URL of the server.
    pub addr: String,
    /// `X-Scope-OrgID`, if any.
    pub org_id: Option<String>,
    /// Query parameters passed through (`since`, `start`, `end`, `step`, `limit`, `time`).
    pub params: Vec<(String, String)>,
    /// The LogQL text.
    pub query: String,
}

/// Parses the arguments after `query`.
pub fn parse_query_args<I: IntoIterator<Item = String>>(args: I) -> Result<QueryCommand> {
    let mut cmd = QueryCommand { explain: false, addr: "http://127.0.0.1:3100".into(), org_id: None, params: Vec::new(), query: String::new() };
    let mut query = None;
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let Some(flag) = arg.strip_prefix("--") else {
            if query.replace(arg).is_some() {
                bail!("more than one query given\n{QUERY_USAGE}");
            }
            continue;
        };
        let (key, value) = match flag.split_once('=') {
            Some((k, v)) => (k.to_string(), Some(v.to_string())),
            None => (flag.to_string(), None),
        };
        if key == "explain" {
            cmd.explain = true;
            continue;
        }
        let value = match value {
            Some(v) => v,
            None => args.next().with_context(|| format!("--{key} needs a value"))?,
        };
        match key.as_str() {
            "addr" => cmd.addr = value.trim_end_matches('/').to_string(),
            "org-id" | "org_id" => cmd.org_id = Some(value),
            "since" | "start" | "end" | "step" | "limit" | "time" | "direction" => cmd.params.push((key, value)),
            other => bail!("unknown flag --{other}\n{QUERY_USAGE}"),
        }
    }
    cmd.query = query.with_context(|| format!("no query given\n{QUERY_USAGE}"))?;
    Ok(cmd)
}

/// Runs the command and returns what to print.
pub async fn run_query(cmd: &QueryCommand) -> Result<String> {
    let path = if cmd.explain {
        "/skald/api/v1/explain"
    } else if cmd.params.iter().any(|(k, _)| k == "time") {
        "/loki/api/v1/query"
    } else {
        "/loki/api/v1/query_range"
    };
    let mut params = cmd.params.clone();
    params.push(("query".into(), cmd.query.clone()));
    let client = reqwest::Client::builder().timeout(Duration::from_secs(300)).build()?;
    let mut req = client.get(format!("{}{path}", cmd.addr)).query(&params);
    if let Some(org) = &cmd.org_id {
        req = req.header("X-Scope-OrgID", org);
    }
    let resp = req.send().await.with_context(|| format!("cannot reach {}", cmd.addr))?;
    let status = resp.status();
    let body = resp.text().await?;
    if !status.is_success() {
        bail!("{status}: {}", body.trim_end());
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_flags_and_query() {
        let a = |v: &[&str]| parse_query_args(v.iter().map(|s| s.to_string()));
        let c = a(&["--explain", "--addr=http://h:1/", "--org-id", "t", "--since=1h", "{a=\"b\"}"]).unwrap();
        assert!(c.explain);
        assert_eq!(c.addr, "http://h:1");
        assert_eq!(c.org_id.as_deref(), Some("t"));
        assert_eq!(c.params, vec![("since".to_string(), "1h".to_string())]);
        assert_eq!(c.query, "{a=\"b\"}");
        assert!(a(&["--explain"]).is_err());
        assert!(a(&["--bogus=1", "q"]).is_err());
        assert!(a(&["q1", "q2"]).is_err());
    }
}
