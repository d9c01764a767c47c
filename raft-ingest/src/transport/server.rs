//! The receiving side of the Raft transport: routes each message to its group's `Raft`.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use futures::StreamExt;
use openraft::Raft;
use openraft::alias::{SnapshotMetaOf, VoteOf};
use openraft::raft::{AppendEntriesRequest, VoteRequest};
use openraft::storage::Snapshot;
use proto::raft::raft_transport_server::{RaftTransport, RaftTransportServer};
use proto::raft::{RaftMessage, RaftReply, SnapshotChunk};
use tonic::{Request, Response, Status, Streaming};

use super::MAX_MESSAGE;
use super::codec::{decode, err_reply, ok_reply};
use crate::command::TypeConfig;
use crate::state_machine::StateMachine;

/// A shard group's Raft handle.
pub type GroupRaft = Raft<TypeConfig, StateMachine>;

/// The groups this node serves, by group id.
#[derive(Clone, Default)]
pub struct Groups {
    inner: Arc<RwLock<HashMap<u64, GroupRaft>>>,
}

impl std::fmt::Debug for Groups {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ids: Vec<u64> = self.inner.read().map(|g| g.keys().copied().collect()).unwrap_or_default();
        f.debug_struct("Groups").field("ids", &ids).finish()
    }
}

impl Groups {
    /// Registers (or replaces) `group`'s Raft handle.
    pub fn insert(&self, group: u64, raft: GroupRaft) {
        if let Ok(mut g) = self.inner.write() {
            g.insert(group, raft);
        }
    }

    /// Stops routing messages to `group`.
    pub fn remove(&self, group: u64) -> Option<GroupRaft> {
        self.inner.write().ok().and_then(|mut g| g.remove(&group))
    }

    /// `group`'s Raft handle, if this node serves it.
    pub fn get(&self, group: u64) -> Option<GroupRaft> {
        self.inner.read().ok().and_then(|g| g.get(&group).cloned())
    }
}

/// The `RaftTransport` gRPC service.
#[derive(Debug, Clone)]
pub struct RaftServer {
    groups: Groups,
}

impl RaftServer {
    /// A service delivering to `groups`.
    pub fn new(groups: Groups) -> RaftServer {
        RaftServer { groups }
    }

    /// The tonic service with Skald's message size limits.
    pub fn into_service(self) -> RaftTransportServer<RaftServer> {
        RaftTransportServer::new(self).max_decoding_message_size(MAX_MESSAGE).max_encoding_message_size(MAX_MESSAGE)
    }

    fn group(&self, id: u64) -> Result<GroupRaft, RaftReply> {
        self.groups.get(id).ok_or_else(|| err_reply(format!("group {id} is not served by this node")))
    }

    /// Decodes `msg` for its group and answers what `f` makes of it.
    async fn call<Req, Resp, E, Fut>(&self, msg: RaftMessage, f: impl FnOnce(GroupRaft, Req) -> Fut) -> Response<RaftReply>
    where
        Req: serde::de::DeserializeOwned,
        Resp: serde::Serialize,
        E: std::fmt::Display,
        Fut: Future<Output = Result<Resp, E>>,
    {
        let reply = match (self.group(msg.group), decode::<Req>(&msg.payload)) {
            (Err(reply), _) => reply,
            (Ok(_), Err(e)) => err_reply(e),
            (Ok(raft), Ok(rpc)) => match f(raft, rpc).await {
                Ok(resp) => ok_reply(&resp),
                Err(e) => err_reply(e),
            },
        };
        Response::new(reply)
    }
}

#[tonic::async_trait]
impl RaftTransport for RaftServer {
    async fn append_entries(&self, request: Request<RaftMessage>) -> Result<Response<RaftReply>, Status> {
        Ok(self.call(request.into_inner(), |raft, rpc: AppendEntriesRequest<TypeConfig>| async move { raft.append_entries(rpc).await }).await)
    }

    async fn vote(&self, request: Request<RaftMessage>) -> Result<Response<RaftReply>, Status> {
        Ok(self.call(request.into_inner(), |raft, rpc: VoteRequest<TypeConfig>| async move { raft.vote(rpc).await }).await)
    }

    async fn pre_vote(&self, request: Request<RaftMessage>) -> Result<Response<RaftReply>, Status> {
        Ok(self.call(request.into_inner(), |raft, rpc: VoteRequest<TypeConfig>| async move { raft.pre_vote(rpc).await }).await)
    }

    async fn install_snapshot(&self, request: Request<Streaming<SnapshotChunk>>) -> Result<Response<RaftReply>, Status> {
        let mut stream = request.into_inner();
        let mut group = None;
        let mut meta: Option<(VoteOf<TypeConfig>, SnapshotMetaOf<TypeConfig>)> = None;
        let mut data = Vec::new();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk?;
            if group.is_none() {
                group = Some(chunk.group);
                match decode(&chunk.meta) {
                    Ok(m) => meta = Some(m),
                    Err(e) => return Ok(Response::new(err_reply(e))),
                }
            }
            data.extend_from_slice(&chunk.data);
        }
        let (Some(group), Some((vote, meta))) = (group, meta) else {
            return Ok(Response::new(err_reply("empty snapshot stream")));
        };
        let raft = match self.group(group) {
            Ok(r) => r,
            Err(reply) => return Ok(Response::new(reply)),
        };
        let reply = match raft.install_full_snapshot(vote, Snapshot { meta, snapshot: data }).await {
            Ok(resp) => {
                crate::metrics::SNAPSHOTS_RECEIVED.inc();
                ok_reply(&resp)
            }
            Err(e) => err_reply(e),
        };
        Ok(Response::new(reply))
    }
}
