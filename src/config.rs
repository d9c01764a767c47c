//! The `skald` configuration: one YAML file with Loki's keys, overridable by flags.
//!
//! Every struct here rejects unknown keys, so a typo is an error that names the key instead
//! of a setting silently ignored; only Loki's well-known keys that mean nothing to Skald are
//! accepted and ignored, each with a warning ([`loki_ignored`]). Flags take the form
//! `--<yaml.path>=<value>` (dashes and underscores are interchangeable, one or two leading
//! dashes), and the value is read as YAML.

mod loki_ignored;

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};
use serde_yaml_ng::{Mapping, Value};
use std::path::PathBuf;

use raft_ingest::IngesterConfig;
use store::limits::Limits;
use store::object::StorageConfig;

/// The whole configuration.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Require `X-Scope-OrgID` on every request (Loki key). When false, everything belongs to
    /// tenant `fake`. Without a config file (the embedded default) it is false; a config file
    /// that does not set it gets Loki's default, true, so a Loki config behaves as in Loki.
    pub auth_enabled: bool,
    /// Listeners.
    pub server: ServerConfig,
    /// Data directory and storage backend.
    pub common: CommonConfig,
    /// Ingest and query limits.
    pub limits_config: Limits,
    /// Head and flush settings.
    pub ingester: IngesterConfig,
    /// Query engine settings.
    pub querier: query::QuerierConfig,
    /// Compaction schedule and file sizes.
    pub compactor: compactor::CompactorConfig,
    /// This node's identity and the cluster it belongs to.
    pub cluster: raft_ingest::config::ClusterConfig,
    /// Per-tenant overrides read from a file while running.
    pub runtime_config: RuntimeConfig,
    /// The roles this process runs (Loki key; default `all`).
    pub target: crate::roles::Target,
    /// Loki keys the configuration set that Skald ignores, for the warnings at start.
    #[serde(skip)]
    pub ignored_keys: Vec<loki_ignored::IgnoredKey>,
}

impl Config {
    /// Logs one warning per ignored Loki key of the configuration.
    pub fn warn_ignored_keys(&self) {
        for key in &self.ignored_keys {
            tracing::warn!(key = %key.path, "ignoring Loki configuration key {}: {}", key.path, key.reason);
        }
    }
}

/// `runtime_config:` (Loki keys): a YAML file of per-tenant `overrides`, read at start and
/// every `period`. Only `retention_period` and `retention_stream` may be set per tenant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RuntimeConfig {
    /// The overrides file (empty: none).
    pub file: String,
    /// How often it is read again (default 10s).
    pub period: store::time::ConfigDuration,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        RuntimeConfig { file: String::new(), period: store::time::ConfigDuration::secs(10) }
    }
}

/// `server:` listener settings (Loki keys).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// HTTP listen address (default all interfaces).
    pub http_listen_address: String,
    /// HTTP listen port (default 3100; 0 picks a free port).
    pub http_listen_port: u16,
    /// gRPC listen address (default all interfaces).
    pub grpc_listen_address: String,
    /// gRPC listen port (default 9095; 0 picks a free port).
    pub grpc_listen_port: u16,
    /// Log level: debug, info, warn or error (default info).
    pub log_level: String,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            http_listen_address: "0.0.0.0".into(),
            http_listen_port: 3100,
            grpc_listen_address: "0.0.0.0".into(),
            grpc_listen_port: 9095,
            log_level: "info".into(),
        }
    }
}

/// `common:` settings (Loki keys).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CommonConfig {
    /// Directory for all local data: the Raft log, and chunks unless storage says otherwise
    /// (default `./data`).
    pub path_prefix: PathBuf,
    /// Object storage for chunk files.
    pub storage: StorageConfig,
}

impl Default for CommonConfig {
    fn default() -> Self {
        CommonConfig { path_prefix: PathBuf::from("./data"), storage: StorageConfig::default() }
    }
}

/// What the command line asked for.
#[derive(Debug, Clone, PartialEq)]
pub enum Invocation {
    /// Run the server with this configuration.
    Run(Box<Config>),
    /// Print usage.
    Help,
    /// Print the version.
    Version,
    /// Print the effective configuration as YAML and exit.
    PrintConfig(Box<Config>),
}

/// Usage text for `--help`.
pub const USAGE: &str = "\
usage: skald [--config.file=PATH] [--<key.path>=VALUE ...] [--print-config] [--help] [--version]
       skald query [--explain] [--addr=URL] [--org-id=TENANT] [--since=DURATION] '<logql>'
       skald cluster status [--addr=URL]
       skald cluster move --shard=S --from=NODE --to=NODE --to-addr=HOST:PORT [--addr=URL]

Runs every Skald role in one process. Without arguments: data under ./data, HTTP on :3100,
gRPC on :9095. Any configuration key can be set by flag, e.g.
  --server.http_listen_port=3200 --common.path_prefix=/var/lib/skald --auth_enabled=true
";

fn normalize_key(key: &str) -> String {
    key.trim_start_matches('-').replace('-', "_")
}

fn set_path(root: &mut Value, path: &str, value: Value) -> Result<()> {
    let mut node = root;
    let parts: Vec<&str> = path.split('.').collect();
    for (i, part) in parts.iter().enumerate() {
        if part.is_empty() {
            bail!("invalid flag key {path:?}");
        }
        if !node.is_mapping() {
            *node = Value::Mapping(Mapping::new());
        }
        let Value::Mapping(map) = node else { bail!("invalid flag key {path:?}") };
        let key = Value::String((*part).to_string());
        if i + 1 == parts.len() {
            map.insert(key, value);
            return Ok(());
        }
        node = map.entry(key).or_insert(Value::Mapping(Mapping::new()));
    }
    Ok(())
}

/// Parses the command line (without the program name) into an [`Invocation`].
pub fn parse_args<I: IntoIterator<Item = String>>(args: I) -> Result<Invocation> {
    let mut file = None;
    let mut overrides = Vec::new();
    let mut print_config = false;
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let key_value = arg.trim_start_matches('-');
        if key_value.len() == arg.len() {
            bail!("unexpected argument {arg:?}\n{USAGE}");
        }
        let (key, value) = match key_value.split_once('=') {
            Some((k, v)) => (normalize_key(k), Some(v.to_string())),
            None => (normalize_key(key_value), None),
        };
        match key.as_str() {
            "help" | "h" => return Ok(Invocation::Help),
            "version" => return Ok(Invocation::Version),
            "print_config" | "print_config_stderr" => print_config = true,
            "config.file" => {
                let v = match value {
                    Some(v) => v,
                    None => args.next().context("--config.file needs a path")?,
                };
                file = Some(PathBuf::from(v));
            }
            "config.expand_env" => {}
            _ => {
                let v = match value {
                    Some(v) => v,
                    None => args.next().with_context(|| format!("flag --{key} needs a value"))?,
                };
                overrides.push((key, v));
            }
        }
    }
    let config = load(file.as_deref(), &overrides)?;
    Ok(if print_config { Invocation::PrintConfig(Box::new(config)) } else { Invocation::Run(Box::new(config)) })
}

/// Builds the configuration from an optional YAML file and `key.path=value` overrides.
pub fn load(file: Option<&std::path::Path>, overrides: &[(String, String)]) -> Result<Config> {
    let mut root = match file {
        Some(path) => {
            let text = std::fs::read_to_string(path).with_context(|| format!("reading config file {}", path.display()))?;
            let v: Value = serde_yaml_ng::from_str(&text).with_context(|| format!("parsing config file {}", path.display()))?;
            let mut v = if v.is_null() { Value::Mapping(Mapping::new()) } else { v };
            // Loki's default for a config file that does not say.
            if let Value::Mapping(map) = &mut v {
                map.entry(Value::String("auth_enabled".into())).or_insert(Value::Bool(true));
            }
            v
        }
        None => Value::Mapping(Mapping::new()),
    };
    for (key, raw) in overrides {
        let value: Value = serde_yaml_ng::from_str(raw).unwrap_or_else(|_| Value::String(raw.clone()));
        set_path(&mut root, key, value)?;
    }
    let shadowed_replication_factor = map_common_replication_factor(&mut root);
    let mut ignored_keys = loki_ignored::strip(&mut root);
    ignored_keys.extend(shadowed_replication_factor);
    let mut config: Config = serde_path_to_error::deserialize(root).map_err(|e| {
        let path = e.path().to_string();
        anyhow::anyhow!("invalid configuration at {path}: {}", e.into_inner())
    })?;
    config.ignored_keys = ignored_keys;
    config.limits_config.validate().map_err(anyhow::Error::msg)?;
    config.ingester.validate().map_err(anyhow::Error::msg)?;
    config.compactor.validate().map_err(anyhow::Error::msg)?;
    config.target.roles().map_err(anyhow::Error::msg)?;
    check_cluster_storage(&config)?;
    Ok(config)
}

/// Loki's `common.replication_factor` is Skald's `cluster.replication_factor`: it is moved
/// there unless that is set too, in which case the specific key wins, as in Loki, and the
/// common one is answered as ignored.
fn map_common_replication_factor(root: &mut Value) -> Option<loki_ignored::IgnoredKey> {
    let Value::Mapping(top) = root else { return None };
    let rf = match top.get_mut("common") {
        Some(Value::Mapping(common)) => common.remove("replication_factor")?,
        _ => return None,
    };
    let cluster = top.entry(Value::String("cluster".into())).or_insert(Value::Null);
    if cluster.is_null() {
        *cluster = Value::Mapping(Mapping::new());
    }
    match cluster {
        Value::Mapping(c) if c.contains_key("replication_factor") => Some(loki_ignored::IgnoredKey {
            path: "common.replication_factor".into(),
            reason: "cluster.replication_factor is set and wins",
        }),
        Value::Mapping(c) => {
            c.insert(Value::String("replication_factor".into()), rf);
            None
        }
        // Not a mapping: the strict deserialisation reports `cluster` itself.
        _ => None,
    }
}

/// A cluster reads every chunk file from whichever node leads its shard now, so the files
/// must be where every node can read them: S3, or a filesystem directory named explicitly
/// (shared by the nodes). The per-node default under `common.path_prefix` is refused.
fn check_cluster_storage(config: &Config) -> Result<()> {
    let storage = &config.common.storage;
    let explicit_dir = storage.filesystem.as_ref().is_some_and(|f| f.chunks_directory.is_some());
    if !config.cluster.seeds.is_empty() && storage.s3.is_none() && !explicit_dir {
        anyhow::bail!(
            "a cluster needs chunk storage every node reads: set common.storage.s3, or common.storage.filesystem.chunks_directory to a directory all nodes share"
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn defaults_match_loki_ports() {
        let Invocation::Run(c) = parse_args(Vec::new()).unwrap() else { panic!() };
        assert_eq!(c.server.http_listen_port, 3100);
        assert_eq!(c.server.grpc_listen_port, 9095);
        assert_eq!(c.common.path_prefix, PathBuf::from("./data"));
    }

    #[test]
    fn flags_override_and_unknown_keys_fail() {
        let Invocation::Run(c) = parse_args(args(&["--server.http-listen-port=0", "-auth_enabled=true", "--limits_config.max_line_size=1KB"])).unwrap() else {
            panic!()
        };
        assert_eq!(c.server.http_listen_port, 0);
        assert!(c.auth_enabled);
        assert_eq!(c.limits_config.max_line_size.0, 1000);
        let err = format!("{:#}", parse_args(args(&["--server.no_such_key=1"])).unwrap_err());
        assert!(err.contains("no_such_key"), "{err}");
    }

    #[test]
    fn a_cluster_needs_shared_chunk_storage() {
        let seeds = "--cluster.seeds=[1@127.0.0.1:9095,2@127.0.0.1:9096]";
        let err = format!("{:#}", parse_args(args(&[seeds])).unwrap_err());
        assert!(err.contains("chunks_directory to a directory all nodes share"), "{err}");
        assert!(parse_args(args(&[seeds, "--common.storage.filesystem.chunks_directory=/shared/chunks"])).is_ok());
        assert!(parse_args(args(&["--common.storage.filesystem.chunks_directory=/x"])).is_ok(), "standalone needs nothing");
    }

    #[test]
    fn a_config_file_defaults_auth_to_loki_default() {
        let dir = std::env::temp_dir().join(format!("skald-config-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("c.yaml");
        std::fs::write(&file, "server:\n  http_listen_port: 3200\n").unwrap();
        assert!(load(Some(&file), &[]).unwrap().auth_enabled);
        assert!(!load(Some(&file), &[("auth_enabled".into(), "false".into())]).unwrap().auth_enabled);
        std::fs::write(&file, "auth_enabled: false\n").unwrap();
        assert!(!load(Some(&file), &[]).unwrap().auth_enabled);
        assert!(!load(None, &[]).unwrap().auth_enabled);
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// Loads `yaml` from a file of its own.
    fn load_yaml(name: &str, yaml: &str, overrides: &[(&str, &str)]) -> Result<Config> {
        let dir = std::env::temp_dir().join(format!("skald-config-test-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("c.yaml");
        std::fs::write(&file, yaml).unwrap();
        let overrides: Vec<(String, String)> = overrides.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let out = load(Some(&file), &overrides);
        let _ = std::fs::remove_dir_all(&dir);
        out
    }

    #[test]
    fn loki_keys_without_meaning_are_ignored_and_listed() {
        let yaml = "\
server:
  log_level: debug
  grpc_server_max_concurrent_streams: 1000
common:
  instance_addr: 127.0.0.1
  ring:
    kvstore:
      store: inmemory
ingester:
  wal:
    enabled: true
  chunk_idle_period: 1h
querier:
  max_concurrent: 4
  skip_filters: false
analytics:
  reporting_enabled: false
";
        let c = load_yaml("ignored", yaml, &[("query_range.align_queries_with_step", "true")]).unwrap();
        let paths: Vec<&str> = c.ignored_keys.iter().map(|k| k.path.as_str()).collect();
        assert_eq!(
            paths,
            ["server.grpc_server_max_concurrent_streams", "common.instance_addr", "common.ring", "ingester.wal", "querier.max_concurrent", "query_range", "analytics"]
        );
        assert_eq!(c.server.log_level, "debug");
        assert_eq!(c.ingester.chunk_idle_period.0, std::time::Duration::from_secs(3600), "Skald keys beside ignored ones still apply");
        assert!(!c.querier.skip_filters);
        // Still refused: unknown keys inside a section that has ignored ones.
        let err = format!("{:#}", load_yaml("still_unknown", "common:\n  ring: {}\n  no_such_common_key: 1\n", &[]).unwrap_err());
        assert!(err.contains("no_such_common_key"), "{err}");
        let err = format!("{:#}", load_yaml("still_unknown2", "ingester:\n  wal_typo: {}\n", &[]).unwrap_err());
        assert!(err.contains("wal_typo"), "{err}");
    }

    #[test]
    fn no_ignored_loki_key_is_a_skald_key() {
        let mut config = Config::default();
        config.common.storage.filesystem = Some(store::object::FilesystemStorage::default());
        let mut v = serde_yaml_ng::to_value(&config).unwrap();
        assert_eq!(loki_ignored::strip(&mut v), Vec::new(), "Skald's own keys must never be stripped");
    }

    #[test]
    fn common_replication_factor_is_the_cluster_one_unless_that_is_set() {
        let c = load_yaml("rf", "common:\n  replication_factor: 1\n", &[]).unwrap();
        assert_eq!(c.cluster.replication_factor, 1);
        assert!(c.ignored_keys.is_empty());
        let c = load_yaml("rf_flag", "common:\n  replication_factor: 1\n", &[("cluster.replication_factor", "2")]).unwrap();
        assert_eq!(c.cluster.replication_factor, 2, "the specific key wins");
        assert_eq!(c.ignored_keys.iter().map(|k| k.path.as_str()).collect::<Vec<_>>(), ["common.replication_factor"]);
        let err = format!("{:#}", load_yaml("rf_bad", "common:\n  replication_factor: lots\n", &[]).unwrap_err());
        assert!(err.contains("replication_factor"), "{err}");
    }
}
