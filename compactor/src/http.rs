//! `POST /compactor/run`: runs one compaction cycle now, waits for it and answers its
//! summary as JSON, so operators and tests need not wait for the schedule.
//! `GET /compactor/status`: the schedule, the last cycle and the backlog as JSON.

use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use crate::Compactor;

/// The compactor's HTTP routes.
pub fn router(compactor: Arc<Compactor>) -> Router {
    Router::new().route("/compactor/run", post(run)).route("/compactor/status", get(status)).with_state(compactor)
}

async fn status(State(compactor): State<Arc<Compactor>>) -> Response {
    Json(compactor.status().await).into_response()
}

async fn run(State(compactor): State<Arc<Compactor>>) -> Response {
    match compactor.run_once().await {
        Ok(summary) => Json(summary).into_response(),
        Err(e @ crate::CompactorError::NotHolder(_)) => (StatusCode::CONFLICT, format!("{e}\n")).into_response(),
        Err(e @ crate::CompactorError::Stopping) => (StatusCode::SERVICE_UNAVAILABLE, format!("{e}\n")).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, format!("compaction failed: {e}\n")).into_response(),
    }
}
