//! Builds the compactor's retention policy from `limits_config`, parsing each
//! `retention_stream` selector with the LogQL parser.

use anyhow::{Context, Result};
use compactor::retention::{Retention, RetentionPolicy, StreamRule};
use store::limits::Limits;

/// The retention of every tenant under `limits`.
pub fn policy(limits: &Limits) -> Result<RetentionPolicy> {
    let mut streams = Vec::with_capacity(limits.retention_stream.len());
    for (i, rule) in limits.retention_stream.iter().enumerate() {
        let matchers = query::logql::parser::parse_selector(&rule.selector)
            .map_err(|e| anyhow::anyhow!("{e}"))
            .with_context(|| format!("limits_config.retention_stream[{i}].selector {:?}", rule.selector))?;
        streams.push(StreamRule { matchers, priority: rule.priority, period: rule.period.0 });
    }
    Ok(RetentionPolicy { default: Retention { period: limits.retention_period.0, streams }, tenants: Default::default() })
}
