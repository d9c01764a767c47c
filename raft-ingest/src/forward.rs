//! Push forwarding between nodes (`proto::ingest::ShardIngest`): the receiving service, and
//! the client a node uses to hand a shard's part of a push to the shard's leader.

use std::sync::Weak;

use proto::ingest::shard_ingest_client::ShardIngestClient;
use proto::ingest::shard_ingest_server::{ShardIngest, ShardIngestServer};
use proto::ingest::shard_push_reply::Result as Reply;
use proto::ingest::{ShardPush, ShardPushReply};
use tonic::{Request, Response, Status};

use crate::command::{PushOutcome, TenantPush};
use crate::error::IngestError;
use crate::ingester::Ingester;
use crate::transport::codec::{decode, encode};
use crate::transport::{Channels, MAX_MESSAGE};

/// Takes forwarded pushes for the shards this node leads.
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

fn reply(result: Reply) -> Response<ShardPushReply> {
    Response::new(ShardPushReply { result: Some(result) })
}

#[tonic::async_trait]
impl ShardIngest for ForwardServer {
    async fn push(&self, request: Request<ShardPush>) -> Result<Response<ShardPushReply>, Status> {
        let msg = request.into_inner();
        let Some(ingester) = self.ingester.upgrade() else {
            return Ok(reply(Reply::Error("ingester is shutting down".into())));
        };
        let push: TenantPush = match decode(&msg.push) {
            Ok(p) => p,
            Err(e) => return Ok(reply(Reply::Error(e.to_string()))),
        };
        Ok(match ingester.push_local(msg.shard, push).await {
            Ok(outcome) => match encode(&outcome) {
                Ok(bytes) => reply(Reply::Outcome(bytes)),
                Err(e) => reply(Reply::Error(e.to_string())),
            },
            Err(IngestError::NotLeader(m)) => reply(Reply::NotLeader(m)),
            Err(e) => reply(Reply::Error(e.to_string())),
        })
    }
}

/// Sends `push` for `shard` to the node at `addr`; `NotLeader` when that node does not lead.
pub async fn forward(channels: &Channels, addr: &str, shard: u64, push: &TenantPush) -> Result<PushOutcome, IngestError> {
    let channel = channels.get(addr).map_err(IngestError::Unavailable)?;
    let payload = encode(push).map_err(|e| IngestError::Raft(e.to_string()))?;
    let mut client = ShardIngestClient::new(channel).max_decoding_message_size(MAX_MESSAGE).max_encoding_message_size(MAX_MESSAGE);
    let mut req = Request::new(ShardPush { shard, push: payload });
    req.set_timeout(std::time::Duration::from_secs(10));
    let resp = client.push(req).await.map_err(|s| IngestError::NotLeader(format!("node at {addr}: {}", s.message())))?;
    match resp.into_inner().result {
        Some(Reply::Outcome(bytes)) => decode(&bytes).map_err(|e| IngestError::Raft(e.to_string())),
        Some(Reply::NotLeader(m)) => Err(IngestError::NotLeader(m)),
        Some(Reply::Error(m)) => Err(IngestError::Raft(format!("node at {addr}: {m}"))),
        None => Err(IngestError::Raft(format!("node at {addr}: empty reply"))),
    }
}
