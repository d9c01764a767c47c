//! Skald's wire formats.
//!
//! * [`logproto`]: Loki's push protocol (`PushRequest`, `StreamAdapter`, `EntryAdapter`,
//!   `LabelPairAdapter` and the `Pusher` gRPC service), field-for-field wire compatible with
//!   Loki, so every Loki client pushes to Skald unchanged. Over HTTP the same message arrives
//!   snappy block-compressed; over gRPC it arrives as `/logproto.Pusher/Push`.
//!
//! * [`raft`]: the internal Raft transport between ingester nodes (`RaftTransport`): one
//!   connection per node pair carries every group's messages, tagged with the group id.
//! * [`ingest`]: push forwarding (`ShardIngest`): a shard's part of a push sent to the node
//!   that leads the shard.

/// Loki's `logproto` package: push messages and the `Pusher` service.
#[allow(missing_docs, clippy::all)]
pub mod logproto {
    tonic::include_proto!("logproto");
}

/// Skald's internal Raft transport: `RaftTransport` and its messages.
#[allow(missing_docs, clippy::all)]
pub mod raft {
    tonic::include_proto!("skald.raft");
}

/// Skald's internal push forwarding: `ShardIngest` and its messages.
#[allow(missing_docs, clippy::all)]
pub mod ingest {
    tonic::include_proto!("skald.ingest");
}
