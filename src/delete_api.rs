//! Loki's delete API, `/loki/api/v1/delete`: `POST`/`PUT` files a request (a log selector
//! with optional line filters over `[start, end]`), `GET` lists them, `DELETE` cancels one.
//! Requests live in the metadata Raft group; queries filter their lines out at once, and the
//! compactor removes them from chunk files after `compactor.delete_request_cancel_period`.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use raft_ingest::Ingester;
use serde_json::json;
use store::deletes::{DeleteChange, DeleteRequest};
use store::limits::DeletionMode;

/// What the delete API needs.
pub struct DeleteApi {
    /// Where requests are kept.
    pub ingester: Arc<Ingester>,
    /// Whether `X-Scope-OrgID` is required.
    pub auth_enabled: bool,
    /// `compactor.retention_enabled`: Loki refuses deletes without it.
    pub retention_enabled: bool,
    /// `limits_config.deletion_mode`.
    pub mode: DeletionMode,
    /// `compactor.delete_request_cancel_period`.
    pub cancel_period: Duration,
}

/// The delete API's routes.
pub fn router(api: Arc<DeleteApi>) -> Router {
    Router::new().route("/loki/api/v1/delete", any(handle)).with_state(api)
}

fn text(status: StatusCode, msg: impl Into<String>) -> Response {
    (status, format!("{}\n", msg.into())).into_response()
}

/// Query-string and form parameters (the form wins).
fn params(query: Option<String>, headers: &HeaderMap, body: &Bytes) -> HashMap<String, String> {
    let mut out: HashMap<String, String> = url::form_urlencoded::parse(query.unwrap_or_default().as_bytes()).into_owned().collect();
    let form = headers.get("content-type").and_then(|v| v.to_str().ok()).is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if form {
        out.extend(url::form_urlencoded::parse(body).into_owned());
    }
    out
}

/// Unix seconds (exactly ten digits) or RFC 3339, as Loki's delete API takes them; in ns.
fn parse_time(value: &str) -> Result<i64, String> {
    let err = || "invalid start time: require unix seconds or RFC3339 format".to_string();
    if value.len() == 10 && value.bytes().all(|b| b.is_ascii_digit()) {
        return value.parse::<i64>().map(|s| s * 1_000_000_000).map_err(|_| err());
    }
    // Times past what nanoseconds can hold (after 2262) saturate, so they read as the future.
    let t = chrono::DateTime::parse_from_rfc3339(value).map_err(|_| err())?;
    Ok(t.timestamp_nanos_opt().unwrap_or(if t.timestamp() > 0 { i64::MAX } else { i64::MIN }))
}

/// A new request id: eight hex digits.
fn request_id() -> String {
    use std::hash::{BuildHasher, Hasher};
    static N: AtomicU64 = AtomicU64::new(0);
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(N.fetch_add(1, Ordering::Relaxed));
    h.write_i64(chrono::Utc::now().timestamp_nanos_opt().unwrap_or(0));
    format!("{:08x}", h.finish() as u32)
}

async fn handle(State(api): State<Arc<DeleteApi>>, method: Method, headers: HeaderMap, RawQuery(query): RawQuery, body: Bytes) -> Response {
    let header = headers.get("X-Scope-OrgID").and_then(|v| v.to_str().ok());
    let tenant = match store::tenant::resolve_tenant(header, api.auth_enabled) {
        Ok(t) => t,
        Err(e @ store::tenant::TenantError::Missing) => return text(StatusCode::UNAUTHORIZED, e.to_string()),
        Err(e) => return text(StatusCode::BAD_REQUEST, e.to_string()),
    };
    if api.mode == DeletionMode::Disabled {
        return text(StatusCode::FORBIDDEN, "deletion is not available for this tenant");
    }
    if !api.retention_enabled {
        return text(StatusCode::BAD_REQUEST, "Retention is not enabled");
    }
    let p = params(query, &headers, &body);
    match method {
        Method::POST | Method::PUT => add(&api, &tenant, &p).await,
        Method::GET => list(&api, &tenant, &p).await,
        Method::DELETE => cancel(&api, &tenant, &p).await,
        _ => text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed"),
    }
}

async fn add(api: &DeleteApi, tenant: &str, p: &HashMap<String, String>) -> Response {
    let Some(query) = p.get("query").filter(|q| !q.is_empty()) else { return text(StatusCode::BAD_REQUEST, "query not set") };
    if let Err(e) = query::deletes::parse_delete_query(query) {
        return text(StatusCode::BAD_REQUEST, e.to_string());
    }
    let Some(start) = p.get("start").filter(|s| !s.is_empty()) else { return text(StatusCode::BAD_REQUEST, "start time not set") };
    let start = match parse_time(start) {
        Ok(t) => t,
        Err(e) => return text(StatusCode::BAD_REQUEST, e),
    };
    let now_ns = chrono::Utc::now().timestamp_nanos_opt().unwrap_or(i64::MAX);
    let end = match p.get("end").filter(|s| !s.is_empty()) {
        Some(e) => match parse_time(e) {
            Ok(t) => t,
            Err(e) => return text(StatusCode::BAD_REQUEST, e.replace("start", "end")),
        },
        None => now_ns,
    };
    if end > now_ns {
        return text(StatusCode::BAD_REQUEST, "deletes in the future are not allowed");
    }
    if start > end {
        return text(StatusCode::BAD_REQUEST, "start time can't be greater than end time");
    }
    if let Some(interval) = p.get("max_interval").filter(|s| !s.is_empty())
        && store::time::parse_duration(interval).is_err()
    {
        return text(StatusCode::BAD_REQUEST, format!("invalid max_interval: {interval}"));
    }
    let request = DeleteRequest {
        request_id: request_id(),
        query: query.clone(),
        start_ns: start,
        end_ns: end,
        created_at_ms: chrono::Utc::now().timestamp_millis(),
        processed: false,
    };
    let id = request.request_id.clone();
    match api.ingester.change_deletes(DeleteChange::Add { tenant: tenant.to_string(), request }).await {
        Ok(()) => (StatusCode::NO_CONTENT, [("X-Delete-Request-ID", id)]).into_response(),
        Err(e) => text(StatusCode::INTERNAL_SERVER_ERROR, format!("storing the delete request: {e}")),
    }
}

async fn list(api: &DeleteApi, tenant: &str, p: &HashMap<String, String>) -> Response {
    let bound = |k: &str| p.get(k).filter(|s| !s.is_empty()).map(|v| parse_time(v));
    let (start, end) = match (bound("start").transpose(), bound("end").transpose()) {
        (Ok(s), Ok(e)) => (s.unwrap_or(i64::MIN), e.unwrap_or(i64::MAX)),
        (Err(e), _) | (_, Err(e)) => return text(StatusCode::BAD_REQUEST, e),
    };
    let secs = |ns: i64| ns as f64 / 1e9;
    let requests = match api.ingester.current_delete_requests_of(tenant).await {
        Ok(r) => r,
        Err(e) => return text(StatusCode::SERVICE_UNAVAILABLE, format!("reading the delete requests: {e}")),
    };
    let out: Vec<serde_json::Value> = requests
        .into_iter()
        .filter(|r| r.start_ns <= end && r.end_ns >= start)
        .map(|r| {
            json!({
                "request_id": r.request_id,
                "start_time": secs(r.start_ns),
                "end_time": secs(r.end_ns),
                "query": r.query,
                "status": if r.processed { "processed" } else { "received" },
                "created_at": r.created_at_ms as f64 / 1e3,
            })
        })
        .collect();
    axum::Json(out).into_response()
}

async fn cancel(api: &DeleteApi, tenant: &str, p: &HashMap<String, String>) -> Response {
    let Some(id) = p.get("request_id").filter(|s| !s.is_empty()) else { return text(StatusCode::BAD_REQUEST, "request_id not set") };
    let force = p.get("force").is_some_and(|f| f == "true");
    let requests = match api.ingester.current_delete_requests_of(tenant).await {
        Ok(r) => r,
        Err(e) => return text(StatusCode::SERVICE_UNAVAILABLE, format!("reading the delete requests: {e}")),
    };
    let Some(request) = requests.into_iter().find(|r| &r.request_id == id) else {
        return text(StatusCode::NOT_FOUND, "could not find delete request with given id");
    };
    let deadline = request.created_at_ms.saturating_add(i64::try_from(api.cancel_period.as_millis()).unwrap_or(i64::MAX));
    if !force && (request.processed || chrono::Utc::now().timestamp_millis() > deadline) {
        return text(StatusCode::BAD_REQUEST, "deletion of request which is in process or already processed is not allowed");
    }
    match api.ingester.change_deletes(DeleteChange::Cancel { tenant: tenant.to_string(), request_id: id.clone() }).await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => text(StatusCode::INTERNAL_SERVER_ERROR, format!("cancelling the delete request: {e}")),
    }
}
