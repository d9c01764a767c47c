//! Skald's storage layer: the data model every other crate shares, and the on-disk formats.
//!
//! * [`labels`] and [`matcher`]: a stream is a tenant plus a sorted label set; its
//!   [`StreamId`](labels::StreamId) is a stable 64-bit fingerprint of those labels. Matchers are
//!   the `=`, `!=`, `=~`, `!~` of a LogQL stream selector.
//! * [`entry`]: one log entry (timestamp in nanoseconds, line, structured metadata).
//! * [`schema`] and [`chunk`]: the Arrow schema of stored entries, and the Parquet files
//!   ("chunks") that flushed heads are written to: sorted by stream then time, zstd, with
//!   row-group statistics and a page index.
//! * [`skip`]: per-row-group Bloom filters of line 5-grams that let scans skip row groups
//!   which cannot contain a line-filter literal.
//! * [`deletes`]: Loki-style delete requests, kept in the metadata group's state.
//! * [`index`]: the per-tenant index of chunk files: which streams and time ranges each file
//!   holds, so that readers never list the bucket.
//! * [`view`]: the read contract between the write path and the read path. The ingester
//!   implements [`IngestView`](view::IngestView); the querier consumes it. It hands out one
//!   consistent snapshot of (index files, unflushed heads), so a query sees every entry exactly
//!   once even while a flush moves entries from heads into files.
//! * [`manifest`]: the compaction contract: the compactor reads each shard's index and
//!   swaps merged files in through the ingest side ([`Manifests`](manifest::Manifests)).
//! * [`object`]: building the `object_store` backend (local filesystem or S3) from config.
//! * [`limits`], [`tenant`], [`time`]: Loki-compatible limits, tenant ids and duration syntax.
//! * [`metrics`]: the process-wide Prometheus registry behind `/metrics`.
//!
//! Data flows: distributor -> Raft log -> heads (raft-ingest) -> [`chunk::write_chunk`] ->
//! object store + [`index::TenantIndex`]; querier -> [`view::IngestView::snapshot`] ->
//! DataFusion over chunk files and head batches.

#![warn(missing_docs)]

pub mod chunk;
pub mod deletes;
pub mod entry;
pub mod error;
pub mod index;
pub mod labels;
pub mod limits;
pub mod manifest;
pub mod matcher;
pub mod metrics;
pub mod object;
pub mod schema;
pub mod shard;
pub mod skip;
pub mod tenant;
pub mod time;
pub mod view;

pub use error::StoreError;
