//! Loki configuration keys Skald accepts and ignores.
//!
//! A stock Loki config file names rings, caches, schemas, the ruler and other parts Skald
//! does not have. Those well-known keys are removed from the YAML before the strict
//! deserialisation (which still refuses every other unknown key, naming it), and each one
//! removed is reported so the server can log a warning for it. A path removes the whole
//! subtree under it.

use serde_yaml_ng::Value;

/// The ignored key paths (dotted, from the top of the file) and why Skald has no use for them.
const IGNORED: &[(&str, &str)] = &[
    ("server.grpc_server_max_concurrent_streams", "Skald's gRPC server sets its own stream limits"),
    ("server.grpc_server_max_recv_msg_size", "Skald's gRPC server sets its own message limits"),
    ("server.grpc_server_max_send_msg_size", "Skald's gRPC server sets its own message limits"),
    ("server.http_server_read_timeout", "not configurable in Skald; queries end at limits_config.query_timeout"),
    ("server.http_server_write_timeout", "not configurable in Skald; queries end at limits_config.query_timeout"),
    ("server.http_server_idle_timeout", "not configurable in Skald"),
    ("server.log_format", "Skald logs in its own text format"),
    ("common.instance_addr", "nodes find each other through cluster.seeds and cluster.advertise_addr"),
    ("common.instance_interface_names", "nodes find each other through cluster.seeds and cluster.advertise_addr"),
    ("common.ring", "Skald has no hash ring: shards and replicas are placed by cluster.seeds"),
    ("common.storage.filesystem.rules_directory", "Skald has no ruler"),
    ("common.compactor_address", "every node runs the compactor or reaches it through cluster.seeds"),
    ("common.compactor_grpc_address", "every node runs the compactor or reaches it through cluster.seeds"),
    ("limits_config.metric_aggregation_enabled", "Skald has no pattern ingester"),
    ("limits_config.split_queries_by_interval", "Skald does not split queries by time"),
    ("limits_config.max_query_parallelism", "Skald does not split queries by time"),
    ("limits_config.tsdb_max_query_parallelism", "Skald does not split queries by time"),
    ("limits_config.max_cache_freshness_per_query", "Skald has no results cache"),
    ("ingester.lifecycler", "Skald has no hash ring: shards and replicas are placed by cluster.seeds"),
    ("ingester.wal", "the Raft log is Skald's write-ahead log, always on"),
    ("ingester.chunk_encoding", "chunk files are Parquet with zstd"),
    ("ingester.chunk_block_size", "chunk files are Parquet, with their own row groups"),
    ("ingester.chunk_retain_period", "flushed entries are read from the chunk files at once"),
    ("ingester.max_transfer_retries", "Skald ingesters hand nothing over on shutdown: the Raft log keeps it"),
    ("querier.max_concurrent", "not configurable in Skald; running queries share querier.max_query_memory"),
    ("querier.query_ingesters_within", "a query always reads both the heads and the chunk files"),
    ("querier.tail_max_duration", "not configurable in Skald"),
    ("querier.extra_query_delay", "Skald sends no hedged requests"),
    ("querier.engine", "Skald's query engine is DataFusion, configured under querier"),
    ("querier.multi_tenant_queries_enabled", "Skald does not federate tenants"),
    ("querier.per_request_limits_enabled", "Skald applies limits_config only"),
    ("compactor.compactor_ring", "Skald has no hash ring: the compactor is chosen by a lease"),
    ("compactor.retention_delete_worker_count", "not configurable in Skald: the compaction cycle deletes replaced files"),
    ("query_range", "Skald has no query frontend or results cache"),
    ("schema_config", "Skald has one storage layout: Parquet chunk files and a Raft-replicated index"),
    // storage_config's object store backends (aws, gcs, azure, filesystem, ...) stay
    // refused: ignoring them would put the chunks somewhere other than the user asked.
    ("storage_config.tsdb_shipper", "Skald's index lives in its Raft groups, not in shipped files"),
    ("storage_config.boltdb_shipper", "Skald's index lives in its Raft groups, not in shipped files"),
    ("storage_config.index_queries_cache_config", "Skald has no index cache"),
    ("storage_config.hedging", "Skald sends no hedged requests"),
    ("storage_config.max_parallel_get_chunk", "not configurable in Skald"),
    ("chunk_store_config", "Skald has no chunk cache"),
    ("pattern_ingester", "Skald has no pattern ingester"),
    ("ruler", "Skald has no ruler"),
    ("frontend", "Skald has no query frontend"),
    ("frontend_worker", "Skald has no query frontend"),
    ("query_scheduler", "Skald has no query scheduler"),
    ("analytics", "Skald sends no usage reports"),
    ("memberlist", "Skald has no gossip ring: nodes are listed in cluster.seeds"),
    ("distributor", "Skald's distributor has no ring to configure"),
    ("ingester_client", "Skald's nodes talk over their own Raft gRPC transport"),
    ("table_manager", "Skald has no index tables to manage"),
    ("tracing", "Skald exports no traces"),
];

/// A key that was in the configuration and is ignored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IgnoredKey {
    /// Its dotted path, e.g. `common.ring`.
    pub path: String,
    /// Why Skald has no use for it.
    pub reason: &'static str,
}

/// Removes every ignored Loki key present in `root` (with everything under it) and answers
/// them in the order of the table.
pub fn strip(root: &mut Value) -> Vec<IgnoredKey> {
    IGNORED
        .iter()
        .filter(|(path, _)| remove_path(root, path))
        .map(|(path, reason)| IgnoredKey { path: (*path).to_string(), reason })
        .collect()
}

/// Removes the key at the dotted `path`; true if it was there. Only mappings are descended.
/// A mapping left empty by the removal goes too (`storage_config: {tsdb_shipper: ...}`
/// leaves no `storage_config: {}` behind; an empty Skald section means its defaults anyway).
fn remove_path(root: &mut Value, path: &str) -> bool {
    let Value::Mapping(map) = root else { return false };
    let (head, rest) = match path.split_once('.') {
        Some((head, rest)) => (head, Some(rest)),
        None => (path, None),
    };
    let Some(rest) = rest else { return map.remove(head).is_some() };
    let Some(child) = map.get_mut(head) else { return false };
    let removed = remove_path(child, rest);
    if removed && matches!(child, Value::Mapping(m) if m.is_empty()) {
        map.remove(head);
    }
    removed
}

#[cfg(test)]
mod tests {
    use super::*;

    fn yaml(text: &str) -> Value {
        serde_yaml_ng::from_str(text).expect("test YAML")
    }

    #[test]
    fn removes_listed_keys_and_subtrees_and_keeps_the_rest() {
        let mut v = yaml(
            "server:\n  http_listen_port: 3100\n  grpc_server_max_concurrent_streams: 1000\n\
             common:\n  ring:\n    kvstore:\n      store: inmemory\n  storage:\n    filesystem:\n      chunks_directory: /c\n      rules_directory: /r\n\
             query_range:\n  results_cache: {}\nno_such_key: 1\n",
        );
        let paths: Vec<String> = strip(&mut v).into_iter().map(|k| k.path).collect();
        assert_eq!(paths, ["server.grpc_server_max_concurrent_streams", "common.ring", "common.storage.filesystem.rules_directory", "query_range"]);
        let want = yaml("server:\n  http_listen_port: 3100\ncommon:\n  storage:\n    filesystem:\n      chunks_directory: /c\nno_such_key: 1\n");
        assert_eq!(v, want, "unknown keys stay for the strict deserialisation to refuse");
    }

    #[test]
    fn non_mappings_and_missing_parents_are_left_alone() {
        // A Loki section left empty by the removal goes with it.
        let mut v = yaml("storage_config:\n  tsdb_shipper:\n    active_index_directory: /i\n");
        assert_eq!(strip(&mut v).len(), 1);
        assert_eq!(v, yaml("{}"));
        let mut v = yaml("storage_config:\n  tsdb_shipper: {}\n  aws:\n    s3: s3://x\n");
        strip(&mut v);
        assert_eq!(v, yaml("storage_config:\n  aws:\n    s3: s3://x\n"), "an object store backend stays, to be refused");
        let mut v = yaml("common: null\ningester: [1, 2]\n");
        assert!(strip(&mut v).is_empty());
        assert_eq!(v, yaml("common: null\ningester: [1, 2]\n"));
        let mut scalar = Value::Null;
        assert!(strip(&mut scalar).is_empty());
    }

    #[test]
    fn every_path_is_listed_once() {
        let mut seen = std::collections::HashSet::new();
        for (path, reason) in IGNORED {
            assert!(seen.insert(*path), "{path} listed twice");
            assert!(!reason.is_empty() && !path.is_empty());
        }
    }
}
