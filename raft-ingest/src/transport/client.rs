//! The sending side of the Raft transport: openraft's network factory and peer client.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use openraft::alias::{EntryOf, SnapshotOf, VoteOf};
use openraft::errors::{NetworkError, RPCError, ReplicationClosed, StreamingError, Unreachable};
use openraft::network::RPCOption;
use openraft::raft::{AppendEntriesRequest, AppendEntriesResponse, SnapshotResponse, VoteRequest, VoteResponse};
use openraft::{BasicNode, OptionalSend, RaftNetworkFactory, RaftNetworkV2};
use proto::raft::raft_transport_client::RaftTransportClient;
use proto::raft::{RaftMessage, RaftReply, SnapshotChunk};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tonic::transport::{Channel, Endpoint};

use super::codec::{decode, encode, reply_payload};
use super::{MAX_MESSAGE, SNAPSHOT_CHUNK};
use crate::command::TypeConfig;

/// How long a connection attempt to a peer may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// One lazily connected channel per peer address, shared by every group on the node, and
/// the node's address book: how this node reaches each node id (its `cluster.seeds`), which
/// wins over the address a group's membership or another node names.
#[derive(Debug, Clone, Default)]
pub struct Channels {
    by_addr: Arc<Mutex<HashMap<String, Channel>>>,
    book: Arc<BTreeMap<u64, String>>,
}

impl Channels {
    /// A pool that reaches the nodes in `book` at the addresses it gives.
    pub fn with_book(book: BTreeMap<u64, String>) -> Channels {
        Channels { by_addr: Arc::default(), book: Arc::new(book) }
    }

    /// The address to reach node `id` at: the book's, else `named` (id 0: unknown node).
    pub fn addr_of<'a>(&'a self, id: u64, named: &'a str) -> &'a str {
        self.book.get(&id).map(String::as_str).unwrap_or(named)
    }

    /// The channel to node `id`, which others name `named`.
    pub fn to_node(&self, id: u64, named: &str) -> Result<Channel, String> {
        self.get(self.addr_of(id, named))
    }

    /// The channel to `addr` (`host:port`), created on first use.
    pub fn get(&self, addr: &str) -> Result<Channel, String> {
        let mut map = self.by_addr.lock().map_err(|_| "channel pool poisoned".to_string())?;
        if let Some(ch) = map.get(addr) {
            return Ok(ch.clone());
        }
        let endpoint = Endpoint::from_shared(format!("http://{addr}"))
            .map_err(|e| format!("bad peer address {addr:?}: {e}"))?
            .connect_timeout(CONNECT_TIMEOUT)
            .tcp_nodelay(true)
            .http2_keep_alive_interval(Duration::from_secs(10))
            // A peer that silently stopped answering (a black-holed link) is dropped after
            // 5 s without a keepalive answer, and the next request reconnects.
            .keep_alive_timeout(Duration::from_secs(5))
            .keep_alive_while_idle(true);
        let ch = endpoint.connect_lazy();
        map.insert(addr.to_string(), ch.clone());
        Ok(ch)
    }
}

/// openraft's network factory for one group: clients to the group's peers.
#[derive(Debug, Clone)]
pub struct GrpcNetwork {
    group: u64,
    channels: Channels,
}

impl GrpcNetwork {
    /// The factory of `group`, using the node's shared `channels`.
    pub fn new(group: u64, channels: Channels) -> GrpcNetwork {
        GrpcNetwork { group, channels }
    }
}

impl RaftNetworkFactory<TypeConfig> for GrpcNetwork {
    type Network = GrpcPeer;

    async fn new_client(&mut self, target: u64, node: &BasicNode) -> Self::Network {
        GrpcPeer { group: self.group, target, channel: self.channels.to_node(target, &node.addr) }
    }
}

/// A client to one peer of one group.
#[derive(Debug, Clone)]
pub struct GrpcPeer {
    group: u64,
    target: u64,
    channel: Result<Channel, String>,
}

/// Most bytes one append request carries; a longer run of entries is sent in parts.
const APPEND_BUDGET: usize = 24 * 1024 * 1024;
/// The least time an append that carries entries gets: the follower fsyncs before it answers.
const APPEND_FLOOR: Duration = Duration::from_secs(1);
/// The least time a snapshot transfer gets; it gets more the larger the snapshot.
const SNAPSHOT_FLOOR: Duration = Duration::from_secs(10);
/// The transfer rate (bytes per second) an append's deadline allows for on top of the floor.
const APPEND_RATE: f64 = 16.0 * 1024.0 * 1024.0;

/// The deadline of an append: openraft's time-to-live for a heartbeat; for entries, at least
/// [`APPEND_FLOOR`] plus the time to move `bytes` at [`APPEND_RATE`], so a large entry is
/// not cut off by a deadline sized for heartbeats.
fn append_timeout(option: &RPCOption, has_entries: bool, bytes: usize) -> Duration {
    if !has_entries {
        return option.soft_ttl();
    }
    option.soft_ttl().max(APPEND_FLOOR) + Duration::from_secs_f64(bytes as f64 / APPEND_RATE)
}

/// How many of `entries` (at least one) fit in `budget` bytes encoded.
fn entries_within(entries: &[EntryOf<TypeConfig>], budget: usize) -> Result<usize, RPCError<TypeConfig>> {
    let mut used = 0;
    for (i, e) in entries.iter().enumerate() {
        used += encode_rpc(e)?.len();
        if used > budget {
            return Ok(i.max(1));
        }
    }
    Ok(entries.len())
}

fn encode_rpc<T: Serialize>(rpc: &T) -> Result<Vec<u8>, RPCError<TypeConfig>> {
    encode(rpc).map_err(|e| RPCError::Network(NetworkError::new(&e)))
}

/// A transport failure: `Unreachable` when the connection failed (openraft backs off),
/// otherwise a network error.
fn status_error(target: u64, status: &tonic::Status) -> RPCError<TypeConfig> {
    let msg = format!("node {target}: {}", status.message());
    match status.code() {
        tonic::Code::Unavailable | tonic::Code::Cancelled => RPCError::Unreachable(Unreachable::from_string(msg)),
        _ => RPCError::Network(NetworkError::from_string(msg)),
    }
}

impl GrpcPeer {
    fn client(&self) -> Result<RaftTransportClient<Channel>, RPCError<TypeConfig>> {
        let ch = self.channel.clone().map_err(|e| RPCError::Unreachable(Unreachable::from_string(e)))?;
        Ok(RaftTransportClient::new(ch).max_decoding_message_size(MAX_MESSAGE).max_encoding_message_size(MAX_MESSAGE))
    }

    fn message<T: Serialize>(&self, rpc: &T, option: &RPCOption) -> Result<tonic::Request<RaftMessage>, RPCError<TypeConfig>> {
        Ok(self.request(encode_rpc(rpc)?, option.soft_ttl()))
    }

    fn request(&self, payload: Vec<u8>, timeout: Duration) -> tonic::Request<RaftMessage> {
        let mut req = tonic::Request::new(RaftMessage { group: self.group, payload });
        req.set_timeout(timeout);
        req
    }

    fn answer<R: DeserializeOwned>(&self, reply: Result<tonic::Response<RaftReply>, tonic::Status>) -> Result<R, RPCError<TypeConfig>> {
        let reply = reply.map_err(|s| status_error(self.target, &s))?.into_inner();
        let payload = reply_payload(reply).map_err(|e| RPCError::Network(NetworkError::from_string(format!("node {}: {e}", self.target))))?;
        decode(&payload).map_err(|e| RPCError::Network(NetworkError::new(&e)))
    }
}

impl RaftNetworkV2<TypeConfig> for GrpcPeer {
    type SnapshotData = Vec<u8>;

    async fn append_entries(
        &mut self,
        mut rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<TypeConfig>, RPCError<TypeConfig>> {
        let mut payload = encode_rpc(&rpc)?;
        // A long run of entries (a follower catching up) goes in parts: send the prefix that
        // fits the budget and tell openraft how far it got; it sends the rest next.
        let mut cut_at = None;
        if payload.len() > APPEND_BUDGET && rpc.entries.len() > 1 {
            let keep = entries_within(&rpc.entries, APPEND_BUDGET)?;
            rpc.entries.truncate(keep);
            cut_at = rpc.entries.last().map(|e| e.log_id);
            payload = encode_rpc(&rpc)?;
        }
        let timeout = append_timeout(&option, !rpc.entries.is_empty(), payload.len());
        let reply = self.client()?.append_entries(self.request(payload, timeout)).await;
        match (self.answer(reply)?, cut_at) {
            (AppendEntriesResponse::Success, Some(last)) => Ok(AppendEntriesResponse::PartialSuccess(Some(last))),
            (resp, _) => Ok(resp),
        }
    }

    async fn vote(&mut self, rpc: VoteRequest<TypeConfig>, option: RPCOption) -> Result<VoteResponse<TypeConfig>, RPCError<TypeConfig>> {
        let req = self.message(&rpc, &option)?;
        let reply = self.client()?.vote(req).await;
        self.answer(reply)
    }

    async fn pre_vote(&mut self, rpc: VoteRequest<TypeConfig>, option: RPCOption) -> Result<VoteResponse<TypeConfig>, RPCError<TypeConfig>> {
        let req = self.message(&rpc, &option)?;
        let reply = self.client()?.pre_vote(req).await;
        self.answer(reply)
    }

    async fn full_snapshot(
        &mut self,
        vote: VoteOf<TypeConfig>,
        snapshot: SnapshotOf<TypeConfig, Vec<u8>>,
        cancel: impl Future<Output = ReplicationClosed> + OptionalSend + 'static,
        _option: RPCOption,
    ) -> Result<SnapshotResponse<TypeConfig>, StreamingError<TypeConfig>> {
        let meta = encode(&(vote, snapshot.meta.clone())).map_err(|e| StreamingError::Network(NetworkError::new(&e)))?;
        let group = self.group;
        let data = snapshot.snapshot;
        let data_len = data.len();
        let mut chunks: Vec<SnapshotChunk> = data
            .chunks(SNAPSHOT_CHUNK)
            .map(|c| SnapshotChunk { group, meta: Vec::new(), data: c.to_vec() })
            .collect();
        if chunks.is_empty() {
            chunks.push(SnapshotChunk { group, meta: Vec::new(), data: Vec::new() });
        }
        chunks[0].meta = meta;
        let mut client = match self.client() {
            Ok(c) => c,
            Err(RPCError::Unreachable(u)) => return Err(StreamingError::Unreachable(u)),
            Err(e) => return Err(StreamingError::Network(NetworkError::from_string(e.to_string()))),
        };
        let mut req = tonic::Request::new(futures::stream::iter(chunks));
        req.set_timeout(SNAPSHOT_FLOOR + Duration::from_secs_f64(data_len as f64 / APPEND_RATE));
        let send = client.install_snapshot(req);
        let reply = tokio::select! {
            closed = cancel => return Err(StreamingError::Closed(closed)),
            reply = send => reply,
        };
        match self.answer(reply) {
            Ok(resp) => {
                crate::metrics::SNAPSHOTS_SENT.inc();
                crate::metrics::SNAPSHOT_BYTES_SENT.add(data_len as u64);
                Ok(resp)
            }
            Err(RPCError::Unreachable(u)) => Err(StreamingError::Unreachable(u)),
            Err(e) => Err(StreamingError::Network(NetworkError::from_string(e.to_string()))),
        }
    }
}
