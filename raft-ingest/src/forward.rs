//! Shard access between nodes (`proto::ingest::ShardIngest`): a node sends a shard's part
//! of a push, or a read, to the node that leads the shard. The receiving service serves
//! only shards this node leads and answers `not_leader` otherwise, so requests never bounce
//! between nodes; the sender retries elsewhere.

use std::sync::{Arc, Weak};
use std::time::Duration;

use proto::ingest::shard_ingest_client::ShardIngestClient;
use proto::ingest::shard_ingest_server::{ShardIngest, ShardIngestServer};
use proto::ingest::shard_reply::Result as Reply;
use proto::ingest::{ShardAdmin, ShardPush, ShardRead, ShardReply};
use store::view::ReadSnapshot;
use tonic::transport::Channel;
use tonic::{Request, Response, Status};

use crate::command::{PushOutcome, TenantPush};
use crate::error::IngestError;
use crate::ingester::Ingester;
use crate::shard_map::ShardMap;
use crate::transport::codec::{decode, encode};
use crate::transport::{Channels, MAX_MESSAGE};
use crate::wire::{WireRead, WireSnapshot};

/// Deadline of one forwarded request.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Serves pushes and reads for the shards this node leads.
#[derive(Debug, Clone)]
pub struct ForwardServer {
    ingester: Weak<Ingester>,
}

impl ForwardServer {
    /// The tonic service over `ingester` (held weakly so shutdown is not delayed by it).
    pub fn service(ingester: Weak<Ingester>) -> ShardIngestServer<ForwardServer> {
        ShardIngestServer::new(ForwardServer { ingester }).max_decoding_message_size(MAX_MESSAGE).max_encoding_message_size(MAX_MESSAGE)
    }
}

fn reply(result: Reply) -> Response<ShardReply> {
    Response::new(ShardReply { result: Some(result), leader_addr: String::new(), leader_id: 0 })
}

/// The reply for a local result on `shard`; a refusal names the leader when this node
/// knows it (from its replica's membership).
fn answer<T: serde::Serialize>(ingester: &Ingester, shard: u64, result: Result<T, IngestError>) -> Response<ShardReply> {
    match result {
        Ok(v) => match encode(&v) {
            Ok(bytes) => reply(Reply::Payload(bytes)),
            Err(e) => reply(Reply::Error(e.to_string())),
        },
        Err(IngestError::NotLeader(m)) => {
            let (leader_id, leader_addr) =
                ingester.replica(shard).and_then(|r| r.leader()).filter(|(id, _)| *id != ingester.placement.node_id).unwrap_or_default();
            Response::new(ShardReply { result: Some(Reply::NotLeader(m)), leader_addr, leader_id })
        }
        Err(IngestError::Layout(m)) => reply(Reply::Invalid(m)),
        Err(e) => reply(Reply::Error(e.to_string())),
    }
}

impl ForwardServer {
    /// Runs `f` on the live ingester and answers its result for `shard`.
    async fn serve<T, Fut>(&self, shard: u64, f: impl FnOnce(Arc<Ingester>) -> Fut) -> Response<ShardReply>
    where
        T: serde::Serialize,
        Fut: Future<Output = Result<T, IngestError>>,
    {
        match self.ingester.upgrade() {
            Some(ingester) => {
                let result = f(Arc::clone(&ingester)).await;
                answer(&ingester, shard, result)
            }
            None => reply(Reply::Error(IngestError::ShuttingDown.to_string())),
        }
    }
}

fn codec(e: impl std::fmt::Display) -> IngestError {
    IngestError::Raft(e.to_string())
}

#[tonic::async_trait]
impl ShardIngest for ForwardServer {
    async fn push(&self, request: Request<ShardPush>) -> Result<Response<ShardReply>, Status> {
        let msg = request.into_inner();
        Ok(self
            .serve(msg.shard, |i| async move {
                let push: TenantPush = decode(&msg.push).map_err(codec)?;
                i.push_local(msg.shard, push).await
            })
            .await)
    }

    async fn read(&self, request: Request<ShardRead>) -> Result<Response<ShardReply>, Status> {
        let msg = request.into_inner();
        Ok(self
            .serve(msg.shard, |i| async move {
                let wire: WireRead = decode(&msg.request).map_err(codec)?;
                let req = wire.request().map_err(IngestError::Raft)?;
                let (snapshot, children) = i.read_local(msg.shard, &wire.tenant, &req).await?;
                WireSnapshot::new(snapshot, children).map_err(IngestError::Raft)
            })
            .await)
    }

    async fn admin(&self, request: Request<ShardAdmin>) -> Result<Response<ShardReply>, Status> {
        let msg = request.into_inner();
        Ok(self.serve(msg.shard, |i| async move { admin(&i, msg).await }).await)
    }
}

/// Voters of a shard with their gRPC addresses.
pub type Voters = Vec<(u64, String)>;

/// What an administrative operation answers.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum AdminOut {
    /// The change was made.
    Done,
    /// A shard's voters (`voters`).
    Voters(Voters),
    /// The node's copy of the shard map (`map`).
    Map(ShardMap),
    /// A shard id: the new shard of a `split`, or the id a `meta` reservation gave.
    Shard(u64),
    /// A shard's indexed files (`indexed`).
    Indexed(Vec<store::manifest::IndexedFiles>),
    /// What applying a proposed command answered (`propose`).
    Applied(crate::command::ApplyResult),
    /// The node holding a lease after a `meta` lease change.
    Lease(u64),
    /// Every delete request (`deletes`).
    Deletes(store::deletes::DeleteRequests),
}

/// Runs an administrative operation here: `open`/`close` a replica, `map` (this node's
/// copy); on the shard's leader `move`, `voters`, `split`, `indexed` (its chunk files) and
/// `propose` (a compaction's command); on the metadata leader `meta` and `deletes` (every
/// delete request).
pub(crate) async fn admin(ingester: &Ingester, msg: ShardAdmin) -> Result<AdminOut, IngestError> {
    match msg.op.as_str() {
        "open" => ingester.open_replica(msg.shard).await.map(|()| AdminOut::Done),
        "close" => ingester.close_replica(msg.shard).await.map(|()| AdminOut::Done),
        "move" => ingester.move_replica(msg.shard, msg.from, msg.to, &msg.to_addr).await.map(|()| AdminOut::Done),
        "voters" => ingester.voters_local(msg.shard).map(AdminOut::Voters),
        "split" => ingester.split_local(msg.shard, msg.at).await.map(AdminOut::Shard),
        "map" => Ok(AdminOut::Map(ingester.local_map())),
        "meta" => ingester.meta_local(decode(&msg.change).map_err(codec)?).await,
        "deletes" => ingester.deletes_local().await.map(AdminOut::Deletes),
        "indexed" => ingester.indexed_local(msg.shard).map(AdminOut::Indexed),
        "propose" => ingester.propose_local(msg.shard, decode(&msg.change).map_err(codec)?).await.map(AdminOut::Applied),
        other => Err(IngestError::Layout(format!("unknown replica operation {other:?}"))),
    }
}

/// A node to send to: its id (0 when not known) and the address it was named by; the
/// node's address book decides where the request goes.
pub type Peer<'a> = (u64, &'a str);

fn client(channels: &Channels, to: Peer<'_>) -> Result<ShardIngestClient<Channel>, IngestError> {
    let channel = channels.to_node(to.0, to.1).map_err(IngestError::Unavailable)?;
    Ok(ShardIngestClient::new(channel).max_decoding_message_size(MAX_MESSAGE).max_encoding_message_size(MAX_MESSAGE))
}

/// The payload of a reply; `NotLeader` (retry elsewhere) for a refusal or a transport failure.
fn payload(to: Peer<'_>, resp: Result<Response<ShardReply>, Status>) -> Result<Vec<u8>, IngestError> {
    let addr = to.1;
    let resp = resp.map_err(|s| IngestError::NotLeader(format!("node at {addr}: {}", s.message())))?.into_inner();
    match resp.result {
        Some(Reply::Payload(bytes)) => Ok(bytes),
        Some(Reply::NotLeader(_)) if !resp.leader_addr.is_empty() && (resp.leader_addr != addr || resp.leader_id != to.0) => {
            Err(IngestError::Redirect(resp.leader_id, resp.leader_addr))
        }
        Some(Reply::NotLeader(m)) => Err(IngestError::NotLeader(m)),
        Some(Reply::Error(m)) => Err(IngestError::Raft(format!("node at {addr}: {m}"))),
        Some(Reply::Invalid(m)) => Err(IngestError::Layout(m)),
        None => Err(IngestError::Raft(format!("node at {addr}: empty reply"))),
    }
}

/// Sends `push` for `shard` to node `to`.
pub async fn forward_push(channels: &Channels, to: Peer<'_>, shard: u64, push: &TenantPush) -> Result<PushOutcome, IngestError> {
    let payload_bytes = encode(push).map_err(|e| IngestError::Raft(e.to_string()))?;
    let mut req = Request::new(ShardPush { shard, push: payload_bytes });
    req.set_timeout(REQUEST_TIMEOUT);
    let resp = client(channels, to)?.push(req).await;
    decode(&payload(to, resp)?).map_err(|e| IngestError::Raft(e.to_string()))
}

/// Reads `shard` from node `to` (which answers only if it leads the shard), with the shards
/// split off it.
pub async fn forward_read(channels: &Channels, to: Peer<'_>, shard: u64, read: &WireRead) -> Result<(ReadSnapshot, Vec<u64>), IngestError> {
    let request = encode(read).map_err(|e| IngestError::Raft(e.to_string()))?;
    let mut req = Request::new(ShardRead { shard, request });
    req.set_timeout(REQUEST_TIMEOUT);
    let resp = client(channels, to)?.read(req).await;
    let wire: WireSnapshot = decode(&payload(to, resp)?).map_err(|e| IngestError::Raft(e.to_string()))?;
    wire.snapshot().map_err(IngestError::Raft)
}

/// Asks node `to` to run an administrative operation (see `admin`).
pub async fn forward_admin(channels: &Channels, to: Peer<'_>, change: ShardAdmin) -> Result<AdminOut, IngestError> {
    // Moving a replica waits for the learner to catch up; a map request must not stall the
    // refresh behind a paused node.
    let timeout = match change.op.as_str() {
        "move" | "split" => Duration::from_secs(300),
        "map" => Duration::from_secs(2),
        _ => REQUEST_TIMEOUT,
    };
    let mut req = Request::new(change);
    req.set_timeout(timeout);
    let resp = client(channels, to)?.admin(req).await;
    decode(&payload(to, resp)?).map_err(|e| IngestError::Raft(e.to_string()))
}
