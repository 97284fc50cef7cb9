//! The history API: `POST /logq/api/v1/history` loads a time range (and optionally a stream
//! selector) into a temporary index, `GET` lists the tenant's indexes, `GET /{id}` describes
//! one, `DELETE /{id}` drops it. Also what query responses say about the path that answered
//! (`X-Logq-Path`, `stats.summary.historyIndexesUsed`) and the query counters behind the hit
//! ratio in `/metrics`.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, SecondsFormat, Utc};
use logq_history::{Description, HistoryManager, LoadError};
use logq_querier::logql::parse_log_selector;
use logq_storage::ScanStats;
use serde_json::{json, Value};

use crate::error::ApiError;
use crate::params::Params;
use crate::state::{AppState, Shared};
use crate::tenant::Tenant;

/// The response header naming the path that answered a query.
pub const PATH_HEADER: &str = "x-logq-path";

fn rfc3339(ns: i64) -> String {
    DateTime::<Utc>::from_timestamp_nanos(ns).to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

/// An index as JSON: `{"id", "state", "progress", "start", "end", "query", "lines",
/// "bytes_raw", "bytes_on_disk", "created_at", "last_used_at", "expires_at", "error"}`, times
/// in RFC 3339.
pub fn description_json(d: &Description) -> Value {
    let r = &d.record;
    json!({
        "id": r.id,
        "state": r.state.as_str(),
        "progress": d.progress,
        "start": rfc3339(r.start),
        "end": rfc3339(r.end),
        "query": r.query,
        "lines": r.lines,
        "bytes_raw": r.bytes_raw,
        "bytes_on_disk": r.bytes_on_disk,
        "created_at": rfc3339(r.created_at),
        "last_used_at": rfc3339(r.last_used_at),
        "expires_at": d.expires_at.map(rfc3339),
        "error": r.error,
    })
}

fn manager(s: &AppState) -> Result<Arc<HistoryManager>, ApiError> {
    s.history.clone().ok_or_else(|| ApiError {
        status: StatusCode::SERVICE_UNAVAILABLE,
        message: "history indexes are not enabled on this server".into(),
    })
}

fn not_found(id: &str) -> ApiError {
    ApiError {
        status: StatusCode::NOT_FOUND,
        message: format!("history index {id:?} not found"),
    }
}

/// `POST /logq/api/v1/history`: `start`, `end` (required) and an optional `query` selector.
pub async fn load(State(s): Shared, Tenant(tenant): Tenant, p: Params) -> Result<Response, ApiError> {
    let history = manager(&s)?;
    let start = p.required_time("start")?;
    let end = p.required_time("end")?;
    let matchers = match p.get("query").map(str::trim) {
        None | Some("{}") => Vec::new(),
        Some(q) => {
            let expr =
                parse_log_selector(q).map_err(|e| ApiError::bad_request(format!("invalid query: {e}")))?;
            if !expr.pipeline.is_empty() {
                return Err(ApiError::bad_request(
                    "invalid query: a history index takes a stream selector only (no pipeline stages)",
                ));
            }
            expr.matchers
        }
    };
    match history.load(&tenant, start, end, matchers).await {
        Ok(d) => Ok((StatusCode::ACCEPTED, Json(description_json(&d))).into_response()),
        Err(LoadError::Invalid(m)) => Err(ApiError::bad_request(m)),
        Err(LoadError::OverLimit(m)) => Err(ApiError {
            status: StatusCode::TOO_MANY_REQUESTS,
            message: m,
        }),
        Err(LoadError::Storage(e)) => Err(e.into()),
    }
}

/// `GET /logq/api/v1/history`: the tenant's indexes, oldest first.
pub async fn list(State(s): Shared, Tenant(tenant): Tenant) -> Result<Json<Value>, ApiError> {
    let history = manager(&s)?;
    Ok(Json(Value::Array(
        history.list(&tenant).iter().map(description_json).collect(),
    )))
}

/// `GET /logq/api/v1/history/{id}`.
pub async fn get(
    State(s): Shared,
    Tenant(tenant): Tenant,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let history = manager(&s)?;
    let d = history.get(&tenant, &id).ok_or_else(|| not_found(&id))?;
    Ok(Json(description_json(&d)))
}

/// `DELETE /logq/api/v1/history/{id}`: 204, or 404 for an unknown id.
pub async fn remove(
    State(s): Shared,
    Tenant(tenant): Tenant,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let history = manager(&s)?;
    if history.remove(&tenant, &id) {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(not_found(&id))
    }
}

/// Adds `X-Logq-Path` to a query response and counts the query for the hit ratio.
pub fn answered(s: &AppState, stats: &ScanStats, body: Json<Value>) -> Response {
    if let Some(h) = s.history.as_ref() {
        if stats.history_eligible.load(Relaxed) {
            h.metrics.queries_eligible.fetch_add(1, Relaxed);
            if stats.history_indexes_used() > 0 {
                h.metrics.queries_served.fetch_add(1, Relaxed);
            }
        }
    }
    let mut resp = body.into_response();
    resp.headers_mut()
        .insert(PATH_HEADER, HeaderValue::from_static(stats.path()));
    resp
}
