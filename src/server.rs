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
use serde::Serialize;
use tokio::sync::Semaphore;

use crate::app::App;
use crate::exposition;
use crate::metrics::BUILD;
use crate::model::Pair;
use crate::snapshot::Snapshot;
use crate::sources::fetch::redact_url;
use crate::timeparse::rfc3339;

pub const CONTENT_TYPE_TEXT_0_0_4: &str = "text/plain; version=0.0.4; charset=utf-8";

#[derive(Clone)]
pub struct ServerState {
    pub app: Arc<App>,
    pub telemetry_path: String,
    /// `None`: no cap on concurrent scrapes.
    pub scrape_slots: Option<Arc<Semaphore>>,
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
    exposition::response(
        &app.snapshot(),
        app.clock.now(),
        app.reload_status(),
        &request,
    )
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
        Ok(()) => (StatusCode::OK, "configuration reloaded\n").into_response(),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("failed to reload config: {e}\n"),
        )
            .into_response(),
    }
}

// ---------------------------------------------------------------------------------------------
// Status API
// ---------------------------------------------------------------------------------------------

#[derive(Serialize)]
pub struct StatusDoc {
    pub version: &'static str,
    pub revision: &'static str,
    pub now: String,
    pub sources: Vec<SourceDoc>,
    pub tiers: Vec<TierDoc>,
    pub bulletins: Vec<BulletinDoc>,
}

#[derive(Serialize)]
pub struct SourceDoc {
    pub name: String,
    pub role: &'static str,
    pub kind: &'static str,
    pub url: String,
    pub up: bool,
    pub last_success: Option<String>,
    pub last_poll: Option<String>,
    pub last_error: Option<String>,
    pub last_error_reason: Option<String>,
    pub last_error_time: Option<String>,
    pub records: u64,
}

#[derive(Serialize)]
pub struct TierDoc {
    pub name: String,
    pub description: String,
    pub goal_seconds: i64,
    pub bulletin_sources: Vec<String>,
}

#[derive(Serialize)]
pub struct BulletinDoc {
    pub source: String,
    pub id: String,
    pub title: String,
    pub published: String,
    pub age_seconds: i64,
    pub tiers: Vec<PairDoc>,
}

#[derive(Serialize)]
pub struct PairDoc {
    pub tier: String,
    pub status: &'static str,
    pub delay_seconds: i64,
    pub goal_seconds: i64,
    pub deadline: String,
    pub release: Option<String>,
    pub release_published: Option<String>,
}

/// The status document: sources, tiers, and the bulletins in the series window with per-tier
/// status.
pub fn status_doc(snapshot: &Snapshot, now: i64) -> StatusDoc {
    let config = &snapshot.config;
    let model = &snapshot.model;
    let pairs = model.evaluate(now, config.metrics.at_risk_ratio);
    let window_start = now - config.metrics.series_window.as_secs() as i64;
    let sources = config
        .sources
        .iter()
        .zip(&snapshot.sources)
        .map(|(c, s)| SourceDoc {
            name: c.name.clone(),
            role: c.role.as_str(),
            kind: c.kind_name(),
            url: redact_url(&c.url),
            up: s.up == Some(true),
            last_success: s.last_success.map(rfc3339),
            last_poll: s.last_poll.map(rfc3339),
            last_error: s.last_error.clone(),
            last_error_reason: s.last_error_reason.map(|r| r.as_str().to_string()),
            last_error_time: s.last_error_time.map(rfc3339),
            records: s.records,
        })
        .collect();
    let tiers = config
        .tiers
        .iter()
        .map(|t| TierDoc {
            name: t.name.clone(),
            description: t.description.clone(),
            goal_seconds: t.goal.as_secs() as i64,
            bulletin_sources: t.bulletin_sources.clone(),
        })
        .collect();
    let mut bulletins: Vec<BulletinDoc> = Vec::new();
    let mut recent: Vec<usize> = (0..model.bulletins.len())
        .filter(|&i| {
            let p = model.bulletins[i].published;
            p <= now && p >= window_start
        })
        .collect();
    recent.sort_by_key(|&i| std::cmp::Reverse(model.bulletins[i].published));
    for i in recent {
        let b = &model.bulletins[i];
        let tiers = pairs
            .iter()
            .filter(|p| p.bulletin == i)
            .map(|p| pair_doc(snapshot, p))
            .collect();
        bulletins.push(BulletinDoc {
            source: b.source.clone(),
            id: b.id.clone(),
            title: b.title.clone(),
            published: rfc3339(b.published),
            age_seconds: now - b.published,
            tiers,
        });
    }
    StatusDoc {
        version: BUILD.version,
        revision: BUILD.revision,
        now: rfc3339(now),
        sources,
        tiers,
        bulletins,
    }
}

fn pair_doc(snapshot: &Snapshot, p: &Pair) -> PairDoc {
    let model = &snapshot.model;
    let release = p.release.map(|r| &model.releases[r]);
    PairDoc {
        tier: model.tiers[p.tier].name.clone(),
        status: p.status().as_str(),
        delay_seconds: p.delay,
        goal_seconds: p.goal,
        deadline: rfc3339(p.deadline()),
        release: release.map(|r| r.id.clone()),
        release_published: release.map(|r| rfc3339(r.published)),
    }
}

async fn status(State(state): State<ServerState>) -> Response {
    let doc = status_doc(&state.app.snapshot(), state.app.clock.now());
    match serde_json::to_vec_pretty(&doc) {
        Ok(body) => ([(header::CONTENT_TYPE, "application/json")], body).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

// ---------------------------------------------------------------------------------------------
// Landing page
// ---------------------------------------------------------------------------------------------

fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn hours(seconds: i64) -> String {
    format!("{:.1} h", seconds as f64 / 3600.0)
}

async fn landing(State(state): State<ServerState>) -> Html<String> {
    Html(landing_page(
        &state.app.snapshot(),
        state.app.clock.now(),
        &state.telemetry_path,
    ))
}

pub fn landing_page(snapshot: &Snapshot, now: i64, telemetry_path: &str) -> String {
    let doc = status_doc(snapshot, now);
    let mut html = String::with_capacity(8 * 1024);
    html.push_str(&format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>patchlag-exporter</title>\
         <style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:.3em .6em;text-align:left}}\
         .met{{background:#d4f4d4}}.breached{{background:#f8d0d0}}.pending{{background:#eef}}.at-risk{{background:#fde9c0}}.down{{background:#f8d0d0}}</style>\
         </head><body>\n<h1>patchlag-exporter</h1>\n<p>Version {} (revision {}). Now: {}.</p>\n\
         <p><a href=\"{}\">Metrics</a> · <a href=\"/api/v1/status\">Status API</a> · <a href=\"/-/ready\">Readiness</a></p>\n",
        esc(doc.version),
        esc(doc.revision),
        esc(&doc.now),
        esc(telemetry_path)
    ));
    html.push_str("<h2>Sources</h2>\n<table><tr><th>Source</th><th>Role</th><th>Kind</th><th>Up</th><th>Last success</th><th>Records</th><th>Last error</th></tr>\n");
    for s in &doc.sources {
        html.push_str(&format!(
            "<tr class=\"{}\"><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>\n",
            if s.up { "up" } else { "down" },
            esc(&s.name),
            s.role,
            s.kind,
            if s.up { "up" } else { "down" },
            esc(s.last_success.as_deref().unwrap_or("never")),
            s.records,
            esc(&match (&s.last_error_reason, &s.last_error, &s.last_error_time) {
                (Some(r), Some(e), Some(t)) => format!("{t}: {r}: {e}"),
                _ => String::new(),
            }),
        ));
    }
    html.push_str("</table>\n<h2>Recent bulletins</h2>\n<table><tr><th>Bulletin</th><th>Title</th><th>Published</th><th>Tier</th><th>Status</th><th>Delay</th><th>Goal</th><th>Deadline</th><th>Release</th></tr>\n");
    for b in &doc.bulletins {
        for p in &b.tiers {
            html.push_str(&format!(
                "<tr class=\"{}\"><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>\n",
                p.status.replace(' ', "-"),
                esc(&b.id),
                esc(&b.title),
                esc(&b.published),
                esc(&p.tier),
                p.status,
                hours(p.delay_seconds),
                hours(p.goal_seconds),
                esc(&p.deadline),
                esc(p.release.as_deref().unwrap_or("")),
            ));
        }
    }
    html.push_str("</table>\n</body></html>\n");
    html
}
