//! HTTP: `/metrics`, `/`, `/-/healthy`, `/-/ready`, `/-/reload`, `/api/v1/status`.
//!
//! Handlers read the current snapshot and never touch a source, so a slow or failing source
//! cannot slow a scrape.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use tokio::sync::Semaphore;

use crate::app::{App, ReloadOutcome};
use crate::exposition;
use crate::metrics::Reloads;
use crate::web::WebConfig;

#[derive(Clone)]
pub struct ServerState {
    pub app: Arc<App>,
    pub telemetry_path: String,
    /// `None`: no cap on concurrent scrapes.
    pub scrape_slots: Option<Arc<Semaphore>>,
    /// `--web.config.file`, for its reload metrics.
    pub web_config: Option<Arc<WebConfig>>,
    /// The last `/metrics` rendered, for the scrapes of the same second.
    exposition: Arc<exposition::Cache>,
}

impl ServerState {
    pub fn new(
        app: Arc<App>,
        telemetry_path: String,
        scrape_slots: Option<Arc<Semaphore>>,
        web_config: Option<Arc<WebConfig>>,
    ) -> ServerState {
        ServerState {
            app,
            telemetry_path,
            scrape_slots,
            web_config,
            exposition: Arc::default(),
        }
    }
}

pub fn router(state: ServerState) -> Router {
    Router::new()
        .route(&state.telemetry_path.clone(), get(metrics_handler))
        .route("/", get(landing))
        .route("/-/healthy", get(|| async { "Healthy\n" }))
        .route("/-/ready", get(ready))
        .route("/-/reload", post(reload))
        .route("/api/v1/status", get(status))
        .with_state(state)
}

async fn metrics_handler(State(state): State<ServerState>, request: HeaderMap) -> Response {
    let _permit = match &state.scrape_slots {
        Some(slots) => match slots.clone().try_acquire_owned() {
            Ok(p) => Some(p),
            Err(_) => {
                return (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "too many concurrent scrapes (--web.max-requests)\n",
                )
                    .into_response()
            }
        },
        None => None,
    };
    let app = &state.app;
    let reloads = Reloads {
        config: app.reload_status(),
        web_config: state.web_config.as_ref().map(|w| w.reload_status()),
    };
    exposition::response(
        &state.exposition,
        &app.snapshot(),
        app.clock.now(),
        reloads,
        &request,
    )
}

async fn landing(State(state): State<ServerState>) -> Html<String> {
    Html(crate::landing::render(
        &state.app.snapshot(),
        state.app.clock.now(),
        &state.telemetry_path,
    ))
}

async fn ready(State(state): State<ServerState>) -> Response {
    let waiting = state.app.not_ready();
    if waiting.is_empty() {
        (StatusCode::OK, "Ready\n").into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "Not ready: waiting for the first poll of {}\n",
                waiting.join(", ")
            ),
        )
            .into_response()
    }
}

async fn reload(State(state): State<ServerState>) -> Response {
    match state.app.reload().await {
        Ok(ReloadOutcome::Applied) => (StatusCode::OK, "configuration reloaded\n").into_response(),
        Ok(ReloadOutcome::Unchanged) => {
            (StatusCode::OK, "configuration unchanged\n").into_response()
        }
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("failed to reload config: {e}\n"),
        )
            .into_response(),
    }
}

async fn status(State(state): State<ServerState>) -> Response {
    let doc = crate::status::status_doc(&state.app.snapshot(), state.app.clock.now());
    match serde_json::to_vec_pretty(&doc) {
        Ok(body) => ([(header::CONTENT_TYPE, "application/json")], body).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}
