//! Cluster status and administration: nodes, shards, leaders, terms, log indexes and
//! replication lag, as JSON (`GET /cluster/status`) and as a readable HTML table (`GET /ring`,
//! or JSON there too with `Accept: application/json`); moving a shard replica
//! (`POST /cluster/shards/{shard}/move?from=A&to=B&to_addr=host:port`) and draining a node
//! onto another (`POST /cluster/nodes/{node}/drain?to=B&to_addr=host:port`), and spreading
//! replicas evenly, optionally over a new node (`POST /cluster/rebalance?node=N&addr=host:port`),
//! and splitting a shard's range in two (`POST /cluster/shards/{shard}/split?at=KEY`).

use std::fmt::Write as _;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Json, Response};
use axum::routing::{get, post};
use serde::Serialize;

use crate::error::IngestError;
use crate::ingester::Ingester;
use crate::shard_map::KeyRange;

/// One node of the cluster.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct NodeStatus {
    /// Node id.
    pub id: u64,
    /// gRPC address.
    pub addr: String,
}

/// One shard as this node sees it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ShardStatus {
    /// Shard (and group) id.
    pub shard: u64,
    /// The keys the shard owns (from its own state when local, else from the map).
    pub range: Option<KeyRange>,
    /// Replica node ids.
    pub replicas: Vec<u64>,
    /// Whether this node holds a replica (the fields below are known only then).
    pub local: bool,
    /// The leader this replica knows of.
    pub leader: Option<u64>,
    /// Current Raft term.
    pub term: Option<u64>,
    /// Last log index on this replica.
    pub last_log_index: Option<u64>,
    /// Last applied index on this replica.
    pub applied_index: Option<u64>,
    /// On the leader: entries each follower is behind (`last_log_index` - matched).
    pub lag: Vec<(u64, u64)>,
}

/// What `/cluster/status` answers.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ClusterStatus {
    /// This node's id.
    pub node_id: u64,
    /// Version of this node's copy of the shard map.
    pub map_version: u64,
    /// The metadata group's leader, when this node holds a metadata replica.
    pub meta_leader: Option<u64>,
    /// Every node.
    pub nodes: Vec<NodeStatus>,
    /// Every shard.
    pub shards: Vec<ShardStatus>,
}

async fn status_json(State(i): State<Arc<Ingester>>) -> Json<ClusterStatus> {
    Json(i.status())
}

async fn ring(State(i): State<Arc<Ingester>>, headers: HeaderMap) -> Response {
    let s = i.status();
    let wants_json = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).is_some_and(|a| a.contains("application/json"));
    if wants_json {
        return Json(s).into_response();
    }
    Html(render_html(&s)).into_response()
}

fn opt(v: Option<u64>) -> String {
    v.map(|v| v.to_string()).unwrap_or_else(|| "-".into())
}

/// The status as an HTML page with a nodes table and a shards table.
pub fn render_html(s: &ClusterStatus) -> String {
    let mut out = format!(
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>Skald cluster</title></head><body><h1>Skald cluster (node {})</h1><p>shard map version {}, metadata leader {}</p>",
        s.node_id,
        s.map_version,
        opt(s.meta_leader)
    );
    out.push_str("<h2>Nodes</h2><table border=\"1\"><tr><th>id</th><th>address</th></tr>");
    for n in &s.nodes {
        let _ = write!(out, "<tr><td>{}</td><td>{}</td></tr>", n.id, html_escape(&n.addr));
    }
    out.push_str("</table><h2>Shards</h2><table border=\"1\"><tr><th>shard</th><th>key range</th><th>replicas</th><th>leader</th><th>term</th><th>last log index</th><th>applied</th><th>follower lag</th></tr>");
    for sh in &s.shards {
        let replicas: Vec<String> = sh.replicas.iter().map(u64::to_string).collect();
        let lag: Vec<String> = sh.lag.iter().map(|(n, l)| format!("{n}: {l}")).collect();
        let _ = write!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            sh.shard,
            sh.range.map(|r| format!("{:016x}-{:016x}", r.first, r.last)).unwrap_or_else(|| "-".into()),
            replicas.join(", "),
            opt(sh.leader),
            opt(sh.term),
            opt(sh.last_log_index),
            opt(sh.applied_index),
            lag.join(", ")
        );
    }
    out.push_str("</table></body></html>");
    out
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// Parameters of a replica move.
#[derive(Debug, serde::Deserialize)]
struct MoveParams {
    from: u64,
    to: u64,
    to_addr: String,
}

async fn move_replica(State(i): State<Arc<Ingester>>, Path(shard): Path<u64>, Query(p): Query<MoveParams>) -> Response {
    let result = i.move_shard_replica(shard, p.from, p.to, &p.to_addr).await;
    text_result(result.map(|()| format!("shard {shard}: replica moved from node {} to node {}", p.from, p.to)))
}

/// Parameters of a split: the first key of the new shard (default: the middle).
#[derive(Debug, serde::Deserialize)]
struct SplitParams {
    at: Option<u64>,
}

async fn split(State(i): State<Arc<Ingester>>, Path(shard): Path<u64>, Query(p): Query<SplitParams>) -> Response {
    let result = i.split_shard(shard, p.at.unwrap_or(0)).await;
    text_result(result.map(|child| format!("shard {shard}: split; the upper part of its range is now shard {child}")))
}

/// Parameters of a drain.
#[derive(Debug, serde::Deserialize)]
struct DrainParams {
    to: u64,
    to_addr: String,
}

async fn drain(State(i): State<Arc<Ingester>>, Path(node): Path<u64>, Query(p): Query<DrainParams>) -> Response {
    let result = i.drain_node(node, p.to, &p.to_addr).await.map(|moved| {
        let list: Vec<String> = moved.iter().map(u64::to_string).collect();
        format!("node {node}: moved the replicas of shards [{}] to node {}", list.join(", "), p.to)
    });
    text_result(result)
}

/// Parameters of a rebalance: an optional node to include (a node that just joined).
#[derive(Debug, serde::Deserialize)]
struct RebalanceParams {
    node: Option<u64>,
    addr: Option<String>,
}

async fn rebalance(State(i): State<Arc<Ingester>>, Query(p): Query<RebalanceParams>) -> Response {
    let joining: Vec<(u64, String)> = match (p.node, p.addr) {
        (Some(n), Some(a)) => vec![(n, a)],
        (None, None) => Vec::new(),
        _ => return text_result(Err(IngestError::Layout("give both node and addr, or neither".into()))),
    };
    let result = i.rebalance(&joining).await.map(|moves| {
        let list: Vec<String> = moves.iter().map(|(s, f, t)| format!("shard {s}: {f} -> {t}")).collect();
        format!("{} moves\n{}", moves.len(), list.join("\n"))
    });
    text_result(result)
}

/// A plain-text answer: 200 with the message, or the error with its status.
fn text_result(result: Result<String, IngestError>) -> Response {
    let (status, message) = match result {
        Ok(m) => (StatusCode::OK, m),
        Err(e @ (IngestError::NotLeader(_) | IngestError::Redirect(..) | IngestError::Unavailable(_))) => (StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
        Err(e @ IngestError::Layout(_)) => (StatusCode::BAD_REQUEST, e.to_string()),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    };
    (status, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], message + "\n").into_response()
}

/// `GET /cluster/status`, `GET /ring`, `POST /cluster/shards/{shard}/move`,
/// `POST /cluster/shards/{shard}/split`, `POST /cluster/nodes/{node}/drain` and
/// `POST /cluster/rebalance`.
pub fn router(ingester: Arc<Ingester>) -> Router {
    Router::new()
        .route("/cluster/status", get(status_json))
        .route("/ring", get(ring))
        .route("/cluster/shards/{shard}/move", post(move_replica))
        .route("/cluster/shards/{shard}/split", post(split))
        .route("/cluster/nodes/{node}/drain", post(drain))
        .route("/cluster/rebalance", post(rebalance))
        .with_state(ingester)
}
