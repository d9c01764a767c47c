//! `skald cluster ...`: the cluster as a running node sees it (`status`, as tables), and
//! online changes through any node: move a shard replica, drain a node, rebalance, split a
//! shard.

use std::fmt::Write as _;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use serde_json::Value;

/// Usage text of `skald cluster`.
pub const CLUSTER_USAGE: &str = "\
usage: skald cluster status [--addr=URL]
       skald cluster move --shard=S --from=NODE --to=NODE --to-addr=HOST:PORT [--addr=URL]
       skald cluster drain --node=NODE --to=NODE --to-addr=HOST:PORT [--addr=URL]
       skald cluster rebalance [--node=NODE --node-addr=HOST:PORT] [--addr=URL]
       skald cluster split --shard=S [--at=KEY] [--addr=URL]

status prints the nodes and shards (replicas, leader, term, log and applied indexes,
follower lag) as the node at URL (default http://127.0.0.1:3100) sees them. move replaces
shard S's replica on node FROM with one on node TO (its gRPC address), online: the new
replica catches up before it becomes a voter. drain moves every replica of NODE to TO, after
which NODE holds nothing and can be stopped. rebalance spreads replicas evenly over the
nodes that hold any, plus NODE when given (a node started with cluster.join does this itself).
split cuts shard S's key range in two at KEY (default: the middle); the upper part becomes a
new shard on the same replicas.
";

/// A parsed `skald cluster` command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClusterCommand {
    /// Print the status of the node at the URL.
    Status(String),
    /// Move a replica through the node at `addr`.
    Move {
        /// Base URL of any node.
        addr: String,
        /// The shard.
        shard: u64,
        /// Node giving up its replica.
        from: u64,
        /// Node receiving it.
        to: u64,
        /// gRPC address of `to`.
        to_addr: String,
    },
    /// Spread replicas evenly, optionally over a new node (id, gRPC address).
    Rebalance {
        /// Base URL of any node.
        addr: String,
        /// A node to include.
        node: Option<(u64, String)>,
    },
    /// Split `shard` at key `at` (0: the middle), through the node at `addr`.
    Split {
        /// Base URL of any node.
        addr: String,
        /// The shard.
        shard: u64,
        /// First key of the new shard (0: the middle).
        at: u64,
    },
    /// Move every replica of `node` to `to`, through the node at `addr`.
    Drain {
        /// Base URL of any node.
        addr: String,
        /// Node to empty.
        node: u64,
        /// Node receiving the replicas.
        to: u64,
        /// gRPC address of `to`.
        to_addr: String,
    },
}

/// Takes the numeric flag `--name` out of `flags`.
fn number(flags: &mut std::collections::BTreeMap<String, String>, name: &str) -> Result<u64> {
    flags
        .remove(name)
        .with_context(|| format!("--{name} is required\n{CLUSTER_USAGE}"))?
        .parse()
        .with_context(|| format!("--{name} must be a number"))
}

/// Parses the arguments after `cluster`.
pub fn parse_cluster_args<I: IntoIterator<Item = String>>(args: I) -> Result<ClusterCommand> {
    let mut args = args.into_iter();
    let cmd = match args.next() {
        Some(c) if ["status", "move", "drain", "rebalance", "split"].contains(&c.as_str()) => c,
        Some(other) => bail!("unknown cluster command {other:?}\n{CLUSTER_USAGE}"),
        None => bail!("no cluster command given\n{CLUSTER_USAGE}"),
    };
    let mut flags: std::collections::BTreeMap<String, String> = Default::default();
    while let Some(arg) = args.next() {
        let Some(flag) = arg.strip_prefix("--") else { bail!("unexpected argument {arg:?}\n{CLUSTER_USAGE}") };
        let (k, v) = match flag.split_once('=') {
            Some((k, v)) => (k.to_string(), v.to_string()),
            None => (flag.to_string(), args.next().with_context(|| format!("--{flag} needs a value"))?),
        };
        flags.insert(k, v);
    }
    let addr = flags.remove("addr").unwrap_or_else(|| "http://127.0.0.1:3100".into()).trim_end_matches('/').to_string();
    let out = match cmd.as_str() {
        "status" => ClusterCommand::Status(addr),
        "move" => {
            let (shard, from, to) = (number(&mut flags, "shard")?, number(&mut flags, "from")?, number(&mut flags, "to")?);
            let to_addr = flags.remove("to-addr").with_context(|| format!("--to-addr is required\n{CLUSTER_USAGE}"))?;
            ClusterCommand::Move { addr, shard, from, to, to_addr }
        }
        "rebalance" => {
            let node = match flags.remove("node-addr") {
                Some(a) => Some((number(&mut flags, "node")?, a)),
                None if flags.contains_key("node") => bail!("--node needs --node-addr\n{CLUSTER_USAGE}"),
                None => None,
            };
            ClusterCommand::Rebalance { addr, node }
        }
        "split" => {
            let shard = number(&mut flags, "shard")?;
            let at = if flags.contains_key("at") { number(&mut flags, "at")? } else { 0 };
            ClusterCommand::Split { addr, shard, at }
        }
        _ => {
            let (node, to) = (number(&mut flags, "node")?, number(&mut flags, "to")?);
            let to_addr = flags.remove("to-addr").with_context(|| format!("--to-addr is required\n{CLUSTER_USAGE}"))?;
            ClusterCommand::Drain { addr, node, to, to_addr }
        }
    };
    if let Some(extra) = flags.keys().next() {
        bail!("unknown flag --{extra}\n{CLUSTER_USAGE}");
    }
    Ok(out)
}

/// Runs a parsed command and returns what to print.
pub async fn run(cmd: ClusterCommand) -> Result<String> {
    match cmd {
        ClusterCommand::Status(addr) => run_status(&addr).await,
        ClusterCommand::Move { addr, shard, from, to, to_addr } => {
            let query = [("from", from.to_string()), ("to", to.to_string()), ("to_addr", to_addr)];
            post(&format!("{addr}/cluster/shards/{shard}/move"), &query).await
        }
        ClusterCommand::Rebalance { addr, node } => {
            let query: Vec<(&str, String)> = node.map(|(n, a)| vec![("node", n.to_string()), ("addr", a)]).unwrap_or_default();
            post(&format!("{addr}/cluster/rebalance"), &query).await
        }
        ClusterCommand::Split { addr, shard, at } => {
            let query: Vec<(&str, String)> = if at == 0 { Vec::new() } else { vec![("at", at.to_string())] };
            post(&format!("{addr}/cluster/shards/{shard}/split"), &query).await
        }
        ClusterCommand::Drain { addr, node, to, to_addr } => {
            post(&format!("{addr}/cluster/nodes/{node}/drain"), &[("to", to.to_string()), ("to_addr", to_addr)]).await
        }
    }
}

/// POSTs an admin request and returns its plain-text answer.
async fn post(url: &str, query: &[(&str, String)]) -> Result<String> {
    let client = reqwest::Client::builder().timeout(Duration::from_secs(600)).build()?;
    let resp = client.post(url).query(query).send().await.with_context(|| format!("cannot reach {url}"))?;
    let status = resp.status();
    let body = resp.text().await?;
    if !status.is_success() {
        bail!("{status}: {}", body.trim_end());
    }
    Ok(body)
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
    let mut out = format!(
        "node {}, shard map version {}, metadata leader {}\n\nNODE  ADDRESS\n",
        cell(&status["node_id"]),
        cell(&status["map_version"]),
        cell(&status["meta_leader"])
    );
    for n in status["nodes"].as_array().into_iter().flatten() {
        let _ = writeln!(out, "{:<5} {}", cell(&n["id"]), cell(&n["addr"]));
    }
    out.push_str("\nSHARD  KEYS                               REPLICAS    LEADER  TERM  LAST_LOG  APPLIED  LAG\n");
    for s in status["shards"].as_array().into_iter().flatten() {
        let replicas: Vec<String> = s["replicas"].as_array().into_iter().flatten().map(cell).collect();
        let lag: Vec<String> = s["lag"].as_array().into_iter().flatten().map(|p| format!("{}:{}", cell(&p[0]), cell(&p[1]))).collect();
        let _ = writeln!(
            out,
            "{:<6} {:<34} {:<11} {:<7} {:<5} {:<9} {:<8} {}",
            cell(&s["shard"]),
            keys(&s["range"]),
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

/// A key range as two hex numbers.
fn keys(range: &Value) -> String {
    match (range["first"].as_u64(), range["last"].as_u64()) {
        (Some(f), Some(l)) => format!("{f:016x}-{l:016x}"),
        _ => "-".into(),
    }
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
        assert_eq!(a(&["status"]).unwrap(), ClusterCommand::Status("http://127.0.0.1:3100".into()));
        assert_eq!(a(&["status", "--addr=http://h:1/"]).unwrap(), ClusterCommand::Status("http://h:1".into()));
        assert!(a(&[]).is_err() && a(&["grow"]).is_err() && a(&["status", "x"]).is_err() && a(&["status", "--bogus=1"]).is_err());
        assert_eq!(
            a(&["move", "--shard=0", "--from", "3", "--to=4", "--to-addr=h:9"]).unwrap(),
            ClusterCommand::Move { addr: "http://127.0.0.1:3100".into(), shard: 0, from: 3, to: 4, to_addr: "h:9".into() }
        );
        assert!(a(&["move", "--shard=0", "--from=3"]).is_err());
        assert_eq!(
            a(&["drain", "--node=3", "--to=4", "--to-addr=h:9", "--addr=http://x:1"]).unwrap(),
            ClusterCommand::Drain { addr: "http://x:1".into(), node: 3, to: 4, to_addr: "h:9".into() }
        );
        assert_eq!(a(&["rebalance"]).unwrap(), ClusterCommand::Rebalance { addr: "http://127.0.0.1:3100".into(), node: None });
        assert_eq!(
            a(&["rebalance", "--node=4", "--node-addr=h:4"]).unwrap(),
            ClusterCommand::Rebalance { addr: "http://127.0.0.1:3100".into(), node: Some((4, "h:4".into())) }
        );
        assert!(a(&["rebalance", "--node=4"]).is_err());
        assert_eq!(a(&["split", "--shard=2"]).unwrap(), ClusterCommand::Split { addr: "http://127.0.0.1:3100".into(), shard: 2, at: 0 });
        assert_eq!(a(&["split", "--shard=2", "--at=99"]).unwrap(), ClusterCommand::Split { addr: "http://127.0.0.1:3100".into(), shard: 2, at: 99 });
        assert!(a(&["split"]).is_err());
        let v = serde_json::json!({"node_id": 1, "nodes": [{"id": 1, "addr": "a:1"}],
            "shards": [{"shard": 0, "range": {"first": 0, "last": 255}, "replicas": [1, 2], "leader": 1, "term": 3, "last_log_index": 9, "applied_index": 9, "lag": [[2, 1]]}]});
        let text = render(&v);
        assert!(text.contains("a:1") && text.contains("1,2") && text.contains("2:1") && text.contains("00000000000000ff"), "{text}");
    }
}
