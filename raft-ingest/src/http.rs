//! The write path's HTTP routes: Loki's push endpoint and the ingester flush endpoint.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use crate::distributor::{Distributor, PushError, PushHeaders};

/// Largest compressed push body, as Loki's `distributor.max-recv-msg-size` (100 MiB).
pub const MAX_BODY_BYTES: usize = 100 * 1024 * 1024;

fn plain(status: StatusCode, message: String) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8"), (header::X_CONTENT_TYPE_OPTIONS, "nosniff")],
        message + "\n",
    )
        .into_response()
}

impl IntoResponse for PushError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        plain(status, self.message)
    }
}

fn header_str(h: &HeaderMap, name: header::HeaderName) -> Option<&str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

async fn push(State(d): State<Arc<Distributor>>, headers: HeaderMap, body: Result<Bytes, BytesRejection>) -> Response {
    let body = match body {
        Ok(b) => b,
        Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            return plain(StatusCode::PAYLOAD_TOO_LARGE, format!("request body too large: limit {MAX_BODY_BYTES} bytes"));
        }
        Err(e) => return plain(e.status(), format!("reading push body: {}", e.body_text())),
    };
    let h = PushHeaders {
        org_id: headers.get("x-scope-orgid").and_then(|v| v.to_str().ok()),
        content_type: header_str(&headers, header::CONTENT_TYPE),
        content_encoding: header_str(&headers, header::CONTENT_ENCODING),
    };
    match d.push_body(h, body).await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => e.into_response(),
    }
}

async fn flush(State(d): State<Arc<Distributor>>) -> Response {
    match d.ingester().flush().await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => plain(StatusCode::INTERNAL_SERVER_ERROR, format!("flush failed: {e}")),
    }
}

/// `POST /loki/api/v1/push` and `GET|POST /flush` (returns once heads are in chunk files).
pub fn router(distributor: Arc<Distributor>) -> Router {
    Router::new()
        .route("/loki/api/v1/push", post(push))
        .route("/flush", get(flush).post(flush))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(distributor)
}
