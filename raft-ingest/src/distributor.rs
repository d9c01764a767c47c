//! The distributor: authenticates, decodes and validates pushes, then hands them to the
//! shard's Raft group, answering with Loki's status codes and messages.

use std::sync::Arc;
use std::time::Instant;

use store::limits::Limits;
use store::tenant::{TenantError, resolve_tenant};

use crate::decode::{DecodeError, decode_push};
use crate::error::IngestError;
use crate::ingester::Ingester;
use crate::metrics;
use crate::validate::validate;

/// A push failure: HTTP status and the plain-text message Loki would send.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{status}: {message}")]
pub struct PushError {
    /// HTTP status code.
    pub status: u16,
    /// Plain-text body.
    pub message: String,
}

impl PushError {
    fn new(status: u16, message: impl Into<String>) -> PushError {
        PushError { status, message: message.into() }
    }
}

impl From<TenantError> for PushError {
    fn from(e: TenantError) -> Self {
        match e {
            TenantError::Missing => PushError::new(401, e.to_string()),
            _ => PushError::new(400, e.to_string()),
        }
    }
}

impl From<DecodeError> for PushError {
    fn from(e: DecodeError) -> Self {
        match e {
            DecodeError::BadRequest(m) => PushError::new(400, m),
            DecodeError::TooLarge(m) => PushError::new(413, m),
        }
    }
}

impl From<IngestError> for PushError {
    fn from(e: IngestError) -> Self {
        match e {
            IngestError::ShuttingDown | IngestError::NotLeader(_) | IngestError::Redirect(..) | IngestError::Unavailable(_) => PushError::new(503, e.to_string()),
            _ => PushError::new(500, e.to_string()),
        }
    }
}

/// Accepts pushes for the node's ingest shard.
pub struct Distributor {
    ingester: Arc<Ingester>,
    limits: Limits,
    auth_enabled: bool,
}

/// The body headers of a push request.
#[derive(Debug, Clone, Copy, Default)]
pub struct PushHeaders<'a> {
    /// `X-Scope-OrgID`.
    pub org_id: Option<&'a str>,
    /// `Content-Type`.
    pub content_type: Option<&'a str>,
    /// `Content-Encoding`.
    pub content_encoding: Option<&'a str>,
}

impl Distributor {
    /// A distributor writing to `ingester`.
    pub fn new(ingester: Arc<Ingester>, limits: Limits, auth_enabled: bool) -> Distributor {
        metrics::register();
        Distributor { ingester, limits, auth_enabled }
    }

    /// The ingester behind this distributor.
    pub fn ingester(&self) -> &Arc<Ingester> {
        &self.ingester
    }

    /// Resolves the tenant of a request.
    pub fn tenant(&self, org_id: Option<&str>) -> Result<String, PushError> {
        Ok(resolve_tenant(org_id, self.auth_enabled)?)
    }

    /// Handles one push body end to end; `Ok` means 204.
    pub async fn push_body(&self, headers: PushHeaders<'_>, body: bytes::Bytes) -> Result<(), PushError> {
        let started = Instant::now();
        metrics::PUSH_REQUESTS.inc();
        let result = self.push_body_inner(headers, body).await;
        if result.is_err() {
            metrics::PUSH_ERRORS.inc();
        }
        metrics::PUSH_SECONDS.observe(started.elapsed().as_secs_f64());
        result
    }

    async fn push_body_inner(&self, headers: PushHeaders<'_>, body: bytes::Bytes) -> Result<(), PushError> {
        let tenant = self.tenant(headers.org_id)?;
        let content_type = headers.content_type.map(str::to_string);
        let content_encoding = headers.content_encoding.map(str::to_string);
        let limits = self.limits.clone();
        let validated = tokio::task::spawn_blocking(move || {
            let streams = decode_push(content_type.as_deref(), content_encoding.as_deref(), &body)?;
            if streams.is_empty() {
                return Err(PushError::new(422, "error at least one valid stream is required for ingestion"));
            }
            Ok(validate(&tenant, streams, &limits, now_ns()))
        })
        .await
        .map_err(|e| PushError::new(500, format!("push decoding task failed: {e}")))??;
        let mut errors = validated.errors;
        metrics::ENTRIES_REJECTED.add(validated.rejected);
        if !validated.push.streams.is_empty() {
            let outcome = self.ingester.push(validated.push).await?;
            metrics::ENTRIES_ACCEPTED.add(outcome.accepted);
            metrics::BYTES_ACCEPTED.add(outcome.bytes);
            metrics::ENTRIES_DUPLICATE.add(outcome.duplicates);
            metrics::ENTRIES_REJECTED.add(outcome.rejected.len() as u64);
            errors.extend(outcome.rejected);
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(PushError::new(400, group_errors(&errors)))
        }
    }
}

/// Joins rejection messages as Loki's grouped errors do: each distinct message once, in the
/// order first seen, separated by `; `, as `N errors like: <msg>` unless it is the only
/// message and occurs once.
pub fn group_errors(errors: &[String]) -> String {
    if let [one] = errors {
        return one.clone();
    }
    let mut groups: Vec<(&str, usize)> = Vec::new();
    for e in errors {
        match groups.iter_mut().find(|(m, _)| *m == e.as_str()) {
            Some(g) => g.1 += 1,
            None => groups.push((e.as_str(), 1)),
        }
    }
    let counted = groups.len() > 1;
    groups
        .into_iter()
        .map(|(m, n)| if counted || n > 1 { format!("{n} errors like: {m}") } else { m.to_string() })
        .collect::<Vec<_>>()
        .join("; ")
}

/// Wall-clock time in nanoseconds since the epoch.
pub fn now_ns() -> i64 {
    chrono::Utc::now().timestamp_nanos_opt().unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::group_errors;

    #[test]
    fn errors_are_grouped_like_loki() {
        assert_eq!(group_errors(&["a".into()]), "a");
        assert_eq!(group_errors(&["a".into(), "a".into()]), "2 errors like: a");
        assert_eq!(group_errors(&["a".into(), "b".into(), "a".into()]), "2 errors like: a; 1 errors like: b");
    }
}
