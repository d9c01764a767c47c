//! Skald's write path: from a push request to durable, queryable entries.
//!
//! ```text
//!  HTTP/gRPC push ─► distributor ─► ingester (proposer) ─► openraft ─► Raft log (fsync)
//!   (decode,          (auth,          (group commit:            │
//!    validate)         limits)         one proposal, one fsync) ▼
//!                                                      state machine ─► stream heads
//!                                                              ▲             │ flusher
//!                                        Flushed{upto, files} ─┘             ▼
//!                                                              Parquet chunks on object_store
//! ```
//!
//! * [`decode`] and [`validate`] turn Loki push bodies (JSON, gzip, protobuf+snappy) into
//!   validated [`command::TenantPush`]es with Loki's error messages; [`distributor`] maps
//!   failures to Loki's status codes; [`http`] and [`grpc`] expose it.
//! * [`ingester`] routes each stream to its [`shard`] by a hash of tenant and labels
//!   (`ingester.shards` ranges on a node). Each shard is one openraft group whose proposer
//!   batches concurrent pushes into one [`command::Command::Push`]; a push is answered only
//!   after that entry is fsynced in the Raft log and applied. [`transport`] carries Raft
//!   messages between nodes over gRPC. The log is [`node_log`] (append-only segment files
//!   shared by every group of the node, one fsync per batch; each group's view is a
//!   [`group_log`]; the default), [`segment_log`] (one per group) or [`log_store`] (sled).
//! * [`shard_map`] is the cluster's shard map, the state of the metadata group kept by
//!   [`meta`]; [`split`] cuts a shard's range in two, [`membership`] moves replicas.
//! * [`state_machine`] applies entries to [`heads`]; identical (stream, timestamp, line)
//!   entries are dropped, and entries older than the out-of-order window are rejected.
//! * The flusher (in [`ingester`]) writes heads to Parquet via `store::chunk`, proposes
//!   `Flushed`, which drops the flushed rows and indexes the files in the same apply, then
//!   snapshots so the log can be purged. [`manifests`] lets the compactor swap merged files
//!   into a shard's index (`Compacted`) and forget deleted ones (`Forgotten`), and holds
//!   the compactor lease; [`deletes`] keeps delete requests in the metadata group. Queries
//!   read heads and index through `store::view::IngestView`, under the state machine's
//!   lock, so they see every entry once.
//! * A node that hosts no replica (a stateless distributor, querier or compactor,
//!   [`ingester::Ingester::start_without_replicas`]) has the same routing with no groups:
//!   it sends every operation to the groups' leaders.

#![warn(missing_docs)]

pub mod command;
pub mod config;
pub mod decode;
pub mod deletes;
pub mod disk_full;
pub mod distributor;
pub mod error;
pub mod forward;
pub mod framing;
pub mod grpc;
pub mod group_log;
pub mod heads;
pub mod hosted;
pub mod http;
pub mod ingester;
pub mod layout;
pub mod log_store;
pub mod manifests;
pub mod membership;
pub mod meta;
pub mod metrics;
pub mod node_log;
pub mod pieces;
pub mod placement;
pub mod transport;
pub mod segment_log;
pub mod shard;
pub mod shard_map;
pub mod split;
pub mod state_machine;
pub mod status;
pub mod validate;
pub mod wire;

#[cfg(test)]
mod testutil;

pub use config::IngesterConfig;
pub use distributor::Distributor;
pub use error::IngestError;
pub use ingester::Ingester;
