//! The compactor's retention policy: `limits_config.retention_period` and
//! `retention_stream`, and per tenant the same two keys from the `runtime_config` overrides
//! file (re-read every `runtime_config.period`). Selectors are parsed with the LogQL parser.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use anyhow::{Context, Result};
use compactor::retention::{Retention, RetentionPolicy, StreamRule};
use serde::Deserialize;
use store::limits::{Limits, RetentionStream};
use store::time::ConfigDuration;
use tokio::sync::watch;

/// The overrides file: per-tenant limits (only retention so far).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct OverridesFile {
    #[serde(default)]
    overrides: HashMap<String, TenantOverrides>,
}

/// The limits a tenant may override.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct TenantOverrides {
    retention_period: Option<ConfigDuration>,
    retention_stream: Option<Vec<RetentionStream>>,
}

fn rules(list: &[RetentionStream], key: &str) -> Result<Vec<StreamRule>> {
    list.iter()
        .enumerate()
        .map(|(i, rule)| {
            let matchers = query::logql::parser::parse_selector(&rule.selector)
                .map_err(|e| anyhow::anyhow!("{e}"))
                .with_context(|| format!("{key}[{i}].selector {:?}", rule.selector))?;
            Ok(StreamRule { matchers, priority: rule.priority, period: rule.period.0 })
        })
        .collect()
}

/// The retention of every tenant: `limits` for all, with the tenants' overrides from
/// `file` (when given) in front.
pub fn policy(limits: &Limits, file: Option<&Path>) -> Result<RetentionPolicy> {
    let global = rules(&limits.retention_stream, "limits_config.retention_stream")?;
    let mut out = RetentionPolicy { default: Retention { period: limits.retention_period.0, streams: global.clone(), fallback: Vec::new() }, tenants: HashMap::new() };
    let Some(file) = file else { return Ok(out) };
    let text = std::fs::read_to_string(file).with_context(|| format!("reading runtime_config.file {}", file.display()))?;
    let parsed: OverridesFile = serde_yaml_ng::from_str(&text)
        .with_context(|| format!("runtime_config.file {}: only retention_period and retention_stream can be set per tenant", file.display()))?;
    let day = Duration::from_secs(24 * 3600);
    for (tenant, o) in parsed.overrides {
        let key = format!("overrides.{tenant}");
        let period = o.retention_period.map_or(limits.retention_period.0, |p| p.0);
        let own = o.retention_stream.unwrap_or_default();
        if (!period.is_zero() && period < day) || own.iter().any(|r| !r.period.0.is_zero() && r.period.0 < day) {
            anyhow::bail!("{key}: retention period must be >= 24h");
        }
        let streams = rules(&own, &format!("{key}.retention_stream"))?;
        out.tenants.insert(tenant, Retention { period, streams, fallback: global.clone() });
    }
    Ok(out)
}

/// Re-reads the overrides `file` every `period` into `target` until `stop`; a file that
/// does not load is logged and the last good policy stays.
pub fn spawn_reload(limits: Limits, file: String, period: Duration, target: Arc<RwLock<RetentionPolicy>>, mut stop: watch::Receiver<bool>) {
    if file.is_empty() || period.is_zero() {
        return;
    }
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = tokio::time::sleep(period) => {}
                _ = stop.changed() => return,
            }
            match policy(&limits, Some(Path::new(&file))) {
                Ok(p) => {
                    if let Ok(mut t) = target.write() {
                        *t = p;
                    }
                }
                Err(e) => tracing::warn!("keeping the last retention overrides: {e:#}"),
            }
        }
    });
}
