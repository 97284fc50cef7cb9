//! Loki's log deletion API: `POST /loki/api/v1/delete?query=...&start=...&end=...` records a
//! request in the tenant's manifest (queries hide matching entries at once; the compactor
//! removes them from storage), `GET` lists requests, `DELETE ?request_id=` cancels one the
//! compactor has not processed yet.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use logq_querier::logql::{parse_log_selector, LineFilterOp, Stage};
use logq_storage::{DeleteRequest, LineTest};
use serde_json::{json, Value};

use crate::error::ApiError;
use crate::params::Params;
use crate::state::{now_ns, Shared};
use crate::tenant::Tenant;

/// Records a delete request.
pub async fn create(State(s): Shared, Tenant(tenant): Tenant, p: Params) -> Result<StatusCode, ApiError> {
    let query = p.required("query")?.to_string();
    let expr = parse_log_selector(&query).map_err(logq_querier::QueryError::from)?;
    let mut line_tests = Vec::new();
    for stage in &expr.pipeline {
        let Stage::LineFilter(f) = stage else {
            return Err(ApiError::bad_request(
                "delete queries may only have a stream selector and line filters",
            ));
        };
        if f.alternatives.len() != 1 || f.is_ip() {
            return Err(ApiError::bad_request(
                "delete queries support single |=, !=, |~ and !~ line filters",
            ));
        }
        let test = match f.op {
            LineFilterOp::Contains => LineTest::Contains,
            LineFilterOp::NotContains => LineTest::NotContains,
            LineFilterOp::Regex => LineTest::Regex,
            LineFilterOp::NotRegex => LineTest::NotRegex,
            _ => {
                return Err(ApiError::bad_request(
                    "delete queries support |=, !=, |~ and !~ line filters",
                ))
            }
        };
        line_tests.push((test, f.alternatives[0].clone()));
    }
    let now = now_ns();
    let start = p.required_time("start")?;
    let end = p.time("end")?.unwrap_or(now);
    if end < start {
        return Err(ApiError::bad_request(
            "invalid delete request: end is before start",
        ));
    }
    let request = DeleteRequest {
        id: format!("{:016x}", request_id(&query, now)),
        query,
        matchers: expr
            .matchers
            .iter()
            .map(|m| (m.name.clone(), m.op.as_str().to_string(), m.value.clone()))
            .collect(),
        line_tests,
        start,
        end,
        created: now,
        processed: false,
    };
    s.manifests
        .update(&tenant, |m| m.delete_requests.push(request.clone()))
        .await?;
    tracing::info!(tenant = %tenant, id = %request.id, query = %request.query, "delete request recorded");
    Ok(StatusCode::NO_CONTENT)
}

/// A request id from the query and the time it arrived (FNV-1a; unique enough per tenant).
fn request_id(query: &str, now: i64) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in query.bytes().chain(now.to_le_bytes()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// Lists the tenant's delete requests.
pub async fn list(State(s): Shared, Tenant(tenant): Tenant) -> Result<Json<Value>, ApiError> {
    let m = s.manifests.load(&tenant).await?;
    let secs = |ns: i64| ns as f64 / 1e9;
    let out: Vec<Value> = m
        .delete_requests
        .iter()
        .map(|d| {
            json!({
                "request_id": d.id,
                "query": d.query,
                "start_time": secs(d.start),
                "end_time": secs(d.end),
                "created_at": secs(d.created),
                "status": if d.processed { "processed" } else { "received" },
            })
        })
        .collect();
    Ok(Json(Value::Array(out)))
}

/// Cancels a request the compactor has not processed.
pub async fn cancel(State(s): Shared, Tenant(tenant): Tenant, p: Params) -> Result<StatusCode, ApiError> {
    let id = p.required("request_id")?.to_string();
    let m = s.manifests.load(&tenant).await?;
    match m.delete_requests.iter().find(|d| d.id == id) {
        None => Err(ApiError {
            status: StatusCode::NOT_FOUND,
            message: format!("no delete request with id {id:?}"),
        }),
        Some(d) if d.processed => Err(ApiError::bad_request(
            "deletion of request which is in process or already processed is not allowed",
        )),
        Some(_) => {
            s.manifests
                .update(&tenant, |m| {
                    m.delete_requests.retain(|d| d.id != id || d.processed)
                })
                .await?;
            Ok(StatusCode::NO_CONTENT)
        }
    }
}
