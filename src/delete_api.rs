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
use store::time::{format_go_duration, parse_go_duration};


/// Longest `max_interval` a request may give: Loki's `compactor.delete_max_interval` default.
const MAX_INTERVAL: Duration = Duration::from_secs(24 * 3600);

/// What Loki answers for a `max_interval` it cannot parse or that is under a second.
const INVALID_MAX_INTERVAL: &str = "invalid max_interval: valid time units are 's', 'm', 'h'";

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

/// A time as Loki's `model.Time` writes it in JSON: Unix seconds with millisecond precision,
/// without a fraction when there is none.
fn model_time(ms: i64) -> serde_json::Value {
    if ms.rem_euclid(1_000) == 0 { json!(ms / 1_000) } else { json!(ms as f64 / 1e3) }
}

/// Checks `max_interval` as Loki does for a request with line filters (only those are split
/// by it): a Go duration of at least a second, at most [`MAX_INTERVAL`], and no longer than
/// the request's `[start, end]` (in ms).
fn check_max_interval(value: &str, start_ms: i64, end_ms: i64) -> Result<(), String> {
    if value.is_empty() {
        return Ok(());
    }
    let interval = parse_go_duration(value).ok().filter(|d| *d >= Duration::from_secs(1)).ok_or_else(|| INVALID_MAX_INTERVAL.to_string())?;
    if interval > MAX_INTERVAL {
        return Err(format!("max_interval can't be greater than {}", format_go_duration(MAX_INTERVAL)));
    }
    let span = Duration::from_millis(u64::try_from(end_ms.saturating_sub(start_ms)).unwrap_or(0));
    if interval > span {
        return Err(format!("max_interval can't be greater than the interval to be deleted ({})", format_go_duration(span)));
    }
    Ok(())
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
    let has_line_filters = match query::deletes::parse_delete_query(query) {
        Ok(q) => !q.filters.is_empty(),
        Err(e) => return text(StatusCode::BAD_REQUEST, e.to_string()),
    };
    let Some(start) = p.get("start").filter(|s| !s.is_empty()) else { return text(StatusCode::BAD_REQUEST, "start time not set") };
    // Loki keeps request times in milliseconds.
    let start_ms = match parse_time(start) {
        Ok(t) => t.div_euclid(1_000_000),
        Err(e) => return text(StatusCode::BAD_REQUEST, e),
    };
    let now_ms = chrono::Utc::now().timestamp_millis();
    let end_ms = match p.get("end").filter(|s| !s.is_empty()) {
        Some(e) => match parse_time(e) {
            Ok(t) => t.div_euclid(1_000_000),
            Err(e) => return text(StatusCode::BAD_REQUEST, e.replace("start", "end")),
        },
        None => now_ms,
    };
    if end_ms > now_ms {
        return text(StatusCode::BAD_REQUEST, "deletes in the future are not allowed");
    }
    if start_ms >= end_ms {
        return text(StatusCode::BAD_REQUEST, "start time can't be greater than or equal to end time");
    }
    if has_line_filters && let Err(e) = check_max_interval(p.get("max_interval").map_or("", String::as_str), start_ms, end_ms) {
        return text(StatusCode::BAD_REQUEST, e);
    }
    let request = DeleteRequest {
        request_id: request_id(),
        query: query.clone(),
        start_ns: start_ms.saturating_mul(1_000_000),
        end_ns: end_ms.saturating_mul(1_000_000),
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
                "start_time": model_time(r.start_ns.div_euclid(1_000_000)),
                "end_time": model_time(r.end_ns.div_euclid(1_000_000)),
                "query": r.query,
                "status": if r.processed { "processed" } else { "received" },
                "created_at": model_time(r.created_at_ms),
            })
        })
        .collect();
    axum::Json(out).into_response()
}

async fn cancel(api: &DeleteApi, tenant: &str, p: &HashMap<String, String>) -> Response {
    // Without `request_id` Loki looks up the empty id, which no request has: 404.
    let id = p.get("request_id").map_or("", String::as_str);
    let force = p.get("force").is_some_and(|f| f == "true");
    let requests = match api.ingester.current_delete_requests_of(tenant).await {
        Ok(r) => r,
        Err(e) => return text(StatusCode::SERVICE_UNAVAILABLE, format!("reading the delete requests: {e}")),
    };
    let Some(request) = requests.into_iter().find(|r| r.request_id == id) else {
        return text(StatusCode::NOT_FOUND, "could not find delete request with given id");
    };
    let deadline = request.created_at_ms.saturating_add(i64::try_from(api.cancel_period.as_millis()).unwrap_or(i64::MAX));
    if !force && request.processed {
        return text(StatusCode::BAD_REQUEST, "deletion of request which is in process or already processed is not allowed");
    }
    if !force && chrono::Utc::now().timestamp_millis() > deadline {
        let period = format_go_duration(api.cancel_period);
        return text(
            StatusCode::BAD_REQUEST,
            format!("Cancellation of partially completed delete request or delete request past the deadline of {period} since its creation is not allowed. To force, use the ?force query parameter"),
        );
    }
    match api.ingester.change_deletes(DeleteChange::Cancel { tenant: tenant.to_string(), request_id: id.to_string() }).await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => text(StatusCode::INTERNAL_SERVER_ERROR, format!("cancelling the delete request: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_interval_is_checked_as_loki_does() {
        let hour_ms = 3_600_000;
        assert_eq!(check_max_interval("", 0, 1), Ok(()), "absent: nothing to check");
        assert_eq!(check_max_interval("1h", 0, hour_ms), Ok(()));
        assert_eq!(check_max_interval("30m", 0, hour_ms), Ok(()));
        for bad in ["not-a-duration", "1ms", "999ms", "0", "-1h", "1d", "5"] {
            assert_eq!(check_max_interval(bad, 0, hour_ms), Err(INVALID_MAX_INTERVAL.to_string()), "{bad}");
        }
        assert_eq!(check_max_interval("25h", 0, 48 * hour_ms), Err("max_interval can't be greater than 24h0m0s".into()));
        assert_eq!(check_max_interval("30s", 0, 1_000), Err("max_interval can't be greater than the interval to be deleted (1s)".into()));
        assert_eq!(check_max_interval("2h", 0, hour_ms + 500), Err("max_interval can't be greater than the interval to be deleted (1h0m0.5s)".into()));
    }

    #[test]
    fn times_are_written_as_model_time() {
        assert_eq!(model_time(1_764_115_200_000).to_string(), "1764115200");
        assert_eq!(model_time(1_764_115_200_123).to_string(), "1764115200.123");
        assert_eq!(model_time(1_764_115_200_100).to_string(), "1764115200.1");
        assert_eq!(model_time(0).to_string(), "0");
    }
}
