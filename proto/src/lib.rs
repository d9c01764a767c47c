//! Skald's wire formats.
//!
//! * [`logproto`]: Loki's push protocol (`PushRequest`, `StreamAdapter`, `EntryAdapter`,
//!   `LabelPairAdapter` and the `Pusher` gRPC service), field-for-field wire compatible with
//!   Loki, so every Loki client pushes to Skald unchanged. Over HTTP the same message arrives
//!   snappy block-compressed; over gRPC it arrives as `/logproto.Pusher/Push`.
//!
//! The internal gRPC services between Skald roles are added here as they are introduced.

/// Loki's `logproto` package: push messages and the `Pusher` service.
#[allow(missing_docs, clippy::all)]
pub mod logproto {
    tonic::include_proto!("logproto");
}
