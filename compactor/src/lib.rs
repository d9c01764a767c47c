//! Skald's compactor: turns the many small chunk files that flushes leave into few large
//! ones, and swaps them into the shards' indexes atomically.
//!
//! * [`retention`] decides, from `limits_config.retention_period` and `retention_stream`,
//!   which files to drop or trim.
//! * [`plan`] groups each shard's files by tenant and day and picks the groups worth
//!   merging.
//! * [`merge`] streams a group's files through a DataFusion sort-preserving merge (each file
//!   is already sorted by stream id and timestamp) into new files of about the target size.
//! * [`cycle`] runs one compaction cycle: deletes the objects whose grace period ended, then
//!   merges each planned group and swaps it in through [`store::manifest::Manifests`] (the
//!   ingest side proposes it to the shard's Raft group; a swap whose inputs changed is
//!   refused and its output deleted). It also runs the cycles on a schedule.
//! * [`http`] serves `POST /compactor/run` and `GET /compactor/status` ([`status`]: the
//!   last cycle and the backlog); [`config`] is the `compactor:` section; [`metrics`]
//!   counts runs, files and bytes.
//!
//! Design: `docs/design/2026-11-26-compactor.md`.

#![warn(missing_docs)]

pub mod config;
pub mod cycle;
pub mod dedup;
pub mod error;
pub mod http;
pub mod merge;
pub mod metrics;
pub mod plan;
pub mod retention;
pub mod status;

pub use config::CompactorConfig;
pub use cycle::{Compactor, Rules, Summary};
pub use error::CompactorError;
