//! End-to-end tests: the real `skald` binary, spawned on random 127.0.0.1 ports with a
//! private data directory per test, driven over HTTP and gRPC like a Loki client would.
//!
//! One integration-test binary (modules below) keeps CI link time low.

mod harness;

mod cluster;
mod compactor;
mod config;
mod conformance;
mod crash;
mod deletes;
mod golden;
mod ingest_edges;
mod metric_api;
mod push;
mod query;
mod s3;
mod shards;
mod shutdown;
mod validation;
