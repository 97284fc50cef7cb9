//! Internal endpoints between logq processes (not part of Loki's API): an ingester's unflushed
//! entries and per-stream counts, read by queriers of a distributed deployment
//! (`logq serve --target querier --ingesters URL,...`). See `logq_querier`'s remote heads for the
//! protocol.

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use logq_querier::matchers_from_json;
use logq_storage::{codec, PushBatch, StreamEntries};

use crate::error::ApiError;
use crate::params::Params;
use crate::state::Shared;
use crate::tenant::Tenant;

fn ns(p: &Params, key: &str) -> Result<i64, ApiError> {
    p.required(key)?
        .parse()
        .map_err(|_| ApiError::bad_request(format!("invalid {key}: expected Unix nanoseconds")))
}

/// `GET /internal/v1/head`: the head's entries (a codec batch) or stream counts (`stats=1`, JSON).
pub async fn head(State(s): Shared, Tenant(tenant): Tenant, p: Params) -> Result<Response, ApiError> {
    let matchers = matchers_from_json(p.required("matchers")?).map_err(ApiError::bad_request)?;
    let (start, end) = (ns(&p, "start")?, ns(&p, "end")?);
    if start > end {
        return Err(ApiError::bad_request("invalid range: start is after end"));
    }
    if p.get("stats") == Some("1") {
        let rows: Vec<(String, u64, u64)> = s
            .ingester
            .stream_stats(&tenant, &matchers, start, end)
            .into_iter()
            .map(|(labels, n, b)| (labels.to_string(), n, b))
            .collect();
        return Ok(axum::Json(rows).into_response());
    }
    let streams = s
        .ingester
        .select(&tenant, &matchers, start, end)
        .into_iter()
        .map(|(labels, entries)| StreamEntries { labels, entries })
        .collect();
    let body = codec::encode_batch(&PushBatch { tenant, streams });
    Ok(([(header::CONTENT_TYPE, "application/octet-stream")], body).into_response())
}
