//! Operational endpoints: `/ready`, `/metrics`, Loki's `status/buildinfo` and the UI page at `/`.

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use crate::metrics::render;
use crate::state::Shared;

const UI_PAGE: &str = include_str!("../../ui/index.html");

/// `/ready`: 503 while the ingester replays its write-ahead log (answers would miss lines).
pub(crate) async fn ready(State(s): Shared) -> Response {
    if s.ingester.is_ready() {
        // A ready ingester with something to report (it owns no Kafka partition) says so in a
        // second line.
        match s.ingester.ready_detail() {
            Some(detail) => format!("ready\nwarning: {detail}\n").into_response(),
            None => "ready\n".into_response(),
        }
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "replaying the write-ahead log\n").into_response()
    }
}

pub(crate) async fn ui() -> Html<&'static str> {
    Html(UI_PAGE)
}

pub(crate) async fn metrics(State(s): Shared) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        render(&s.metrics, &s.ingester, s.distributor.as_ref())
            + &s.history.as_ref().map(|h| h.render_metrics()).unwrap_or_default(),
    )
        .into_response()
}

pub(crate) async fn buildinfo() -> Json<Value> {
    Json(json!({
        "version": env!("CARGO_PKG_VERSION"),
        "revision": "",
        "branch": "",
        "buildUser": "",
        "buildDate": "",
        "goVersion": "",
    }))
}
