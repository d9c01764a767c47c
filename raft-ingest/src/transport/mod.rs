//! The Raft transport between ingester nodes over gRPC (`proto::raft::RaftTransport`).
//!
//! * [`GrpcNetwork`] is openraft's network factory for one group on one node. Every group's
//!   factory on a node shares one [`Channels`] pool, so a node pair talks over one HTTP/2
//!   connection whatever the number of groups.
//! * [`RaftServer`] is the receiving side: it looks the group up in its [`Groups`] registry
//!   and hands the request to that group's `Raft`.
//!
//! Requests and responses are openraft's own structures, postcard-encoded ([`codec`]);
//! snapshots stream in chunks of at most [`SNAPSHOT_CHUNK`] bytes.

pub mod client;
pub mod codec;
pub mod server;

#[cfg(test)]
mod tests;

pub use client::{Channels, GrpcNetwork};
pub use server::{Groups, RaftServer};

/// Largest snapshot chunk sent in one message.
pub const SNAPSHOT_CHUNK: usize = 4 * 1024 * 1024;
/// Largest message either side accepts.
pub const MAX_MESSAGE: usize = 64 * 1024 * 1024;
