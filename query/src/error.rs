//! The query crate's error type and its one mapping to HTTP status and body.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::logql::ParseError;

/// Loki's message for log queries sent to the instant endpoint.
pub const LOG_INSTANT_NOT_SUPPORTED: &str =
    "log queries are not supported as an instant query type, please change your query to a range query type";

/// A failure raised inside a DataFusion operator that the user caused (a pipeline error,
/// too many series): answered 400 with this exact message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct UserError(pub String);

/// A failure raised inside a DataFusion operator that Loki answers through its generic
/// error path (vector-matching errors such as many-to-many matches): 500 with this exact
/// message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ExecError(pub String);

/// Loki's message when a query runs longer than `query_timeout`.
pub const TIMEOUT_MSG: &str =
    "request timed out, decrease the duration of the request or add more label matchers (prefer exact match over regex match) to reduce the amount of data processed";

/// Everything that can go wrong while answering a query or metadata request.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    /// A request parameter is missing or invalid (400); the message is Loki's.
    #[error("{0}")]
    BadRequest(String),
    /// The LogQL query does not parse or validate (400).
    #[error(transparent)]
    Parse(#[from] ParseError),
    /// Auth is on and `X-Scope-OrgID` is missing (401).
    #[error("no org id")]
    NoOrgId,
    /// The tenant header is malformed or names several tenants (400).
    #[error("{0}")]
    Tenant(String),
    /// `limit` is above the tenant's `max_entries_limit_per_query` (400).
    #[error("max entries limit per query exceeded, limit > max_entries_limit_per_query ({limit} > {max})")]
    MaxEntries {
        /// Requested limit.
        limit: u32,
        /// Configured maximum.
        max: u32,
    },
    /// The range is longer than `max_query_length` (400).
    #[error("the query time range exceeds the limit (query length: {length}, limit: {limit})")]
    QueryTooLong {
        /// Requested range, Go duration format.
        length: String,
        /// Configured limit, Go duration format.
        limit: String,
    },
    /// A log query sent to the instant endpoint (400).
    #[error("{LOG_INSTANT_NOT_SUPPORTED}")]
    LogInstantQuery,
    /// The ingest view or object store failed (500; 503 when a shard cannot be reached now).
    #[error("store: {0}")]
    Store(#[from] store::StoreError),
    /// DataFusion failed to plan or execute (500).
    #[error("query execution: {0}")]
    DataFusion(datafusion::error::DataFusionError),
    /// A query task panicked or was cancelled unexpectedly (500).
    #[error("internal: {0}")]
    Internal(String),
    /// An operator failed with a message Loki answers as is, with 500 ([`ExecError`]).
    #[error("{0}")]
    Execution(String),
    /// The query ran longer than `query_timeout` (504).
    #[error("{TIMEOUT_MSG}")]
    Timeout,
    /// Arrow failed while reading results (500).
    #[error("arrow: {0}")]
    Arrow(#[from] arrow::error::ArrowError),
    /// The response could not be encoded (500).
    #[error("encoding the response: {0}")]
    Encode(#[from] serde_json::Error),
}

impl From<store::tenant::TenantError> for QueryError {
    fn from(e: store::tenant::TenantError) -> Self {
        match e {
            store::tenant::TenantError::Missing => QueryError::NoOrgId,
            other => QueryError::Tenant(other.to_string()),
        }
    }
}

impl From<datafusion::error::DataFusionError> for QueryError {
    /// A [`UserError`] raised by an operator becomes a 400 with its message, an
    /// [`ExecError`] a 500 with its message; anything else is an internal failure.
    fn from(e: datafusion::error::DataFusionError) -> Self {
        fn raised(e: &datafusion::error::DataFusionError) -> Option<QueryError> {
            match e {
                datafusion::error::DataFusionError::External(inner) => inner
                    .downcast_ref::<UserError>()
                    .map(|u| QueryError::BadRequest(u.0.clone()))
                    .or_else(|| inner.downcast_ref::<ExecError>().map(|x| QueryError::Execution(x.0.clone()))),
                datafusion::error::DataFusionError::Context(_, inner) => raised(inner),
                datafusion::error::DataFusionError::Shared(inner) => raised(inner),
                _ => None,
            }
        }
        if let Some(err) = raised(&e).or_else(|| raised(e.find_root())) {
            return err;
        }
        if let datafusion::error::DataFusionError::ResourcesExhausted(msg) = e.find_root() {
            return QueryError::BadRequest(format!(
                "the query needs more memory than querier.max_query_memory allows; narrow the selector or the time range ({msg})"
            ));
        }
        QueryError::DataFusion(e)
    }
}

impl QueryError {
    /// The HTTP status Loki answers this error with.
    pub fn status(&self) -> StatusCode {
        match self {
            QueryError::BadRequest(_)
            | QueryError::Parse(_)
            | QueryError::Tenant(_)
            | QueryError::MaxEntries { .. }
            | QueryError::QueryTooLong { .. }
            | QueryError::LogInstantQuery => StatusCode::BAD_REQUEST,
            QueryError::NoOrgId => StatusCode::UNAUTHORIZED,
            QueryError::Timeout => StatusCode::GATEWAY_TIMEOUT,
            QueryError::Store(store::StoreError::Unavailable(_)) => StatusCode::SERVICE_UNAVAILABLE,
            QueryError::Store(_)
            | QueryError::Internal(_)
            | QueryError::Execution(_)
            | QueryError::DataFusion(_)
            | QueryError::Arrow(_)
            | QueryError::Encode(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl IntoResponse for QueryError {
    /// Plain-text body with Loki's headers (`text/plain; charset=utf-8`, `nosniff`).
    fn into_response(self) -> Response {
        let status = self.status();
        if status.is_server_error() && status != StatusCode::GATEWAY_TIMEOUT {
            tracing::warn!(error = %self, "query failed");
        }
        let mut resp = (status, self.to_string()).into_response();
        let h = resp.headers_mut();
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
        h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
        resp
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses() {
        assert_eq!(QueryError::NoOrgId.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(QueryError::Timeout.status(), StatusCode::GATEWAY_TIMEOUT);
        assert_eq!(QueryError::Parse(ParseError::plain("x")).status(), StatusCode::BAD_REQUEST);
        assert_eq!(
            QueryError::MaxEntries { limit: 6000, max: 5000 }.to_string(),
            "max entries limit per query exceeded, limit > max_entries_limit_per_query (6000 > 5000)"
        );
    }

    #[test]
    fn operator_errors_keep_their_message_and_status() {
        use datafusion::error::DataFusionError;
        let user = QueryError::from(DataFusionError::External(Box::new(UserError("pipeline error".into()))));
        assert_eq!((user.status(), user.to_string()), (StatusCode::BAD_REQUEST, "pipeline error".to_string()));
        let exec = DataFusionError::Context("x".into(), Box::new(DataFusionError::External(Box::new(ExecError("multiple matches".into())))));
        let exec = QueryError::from(exec);
        assert_eq!((exec.status(), exec.to_string()), (StatusCode::INTERNAL_SERVER_ERROR, "multiple matches".to_string()));
    }
}
