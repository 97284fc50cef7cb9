//! `POST /loki/api/v1/push`: decode (content encoding, JSON or protobuf), validate against the
//! push limits, apply ingest-time label discovery, rate-limit per tenant, then hand the batch to
//! the distributor. A 204 means the batch is durable (and queryable).

use std::sync::atomic::Ordering;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use logq_storage::push::{decode_json, decode_protobuf, DecodeStats};

use crate::content_encoding::decode_content_encoding;
use crate::error::ApiError;
use crate::state::{now_ns, Shared};
use crate::tenant::Tenant;

/// Largest push body accepted on the wire (HTTP 413 above).
pub const MAX_PUSH_BODY_BYTES: usize = 64 * 1024 * 1024;

/// The push handler.
pub(crate) async fn push(
    State(s): Shared,
    Tenant(tenant): Tenant,
    headers: HeaderMap,
    body: Bytes,
) -> Result<StatusCode, ApiError> {
    let header_str = |name: header::HeaderName| headers.get(name).and_then(|v| v.to_str().ok());
    let rejected = |e: String| {
        s.metrics.push_rejected.fetch_add(1, Ordering::Relaxed);
        ApiError::bad_request(e)
    };
    let body = decode_content_encoding(header_str(header::CONTENT_ENCODING), &body).map_err(rejected)?;
    let is_json =
        header_str(header::CONTENT_TYPE).is_some_and(|c| c.trim_start().starts_with("application/json"));
    let mut stats = DecodeStats::default();
    let mut batch = if is_json {
        decode_json(tenant, &body)
    } else {
        decode_protobuf(tenant, &body, &mut stats)
    }
    .map_err(rejected)?;
    s.limits
        .check(&batch, now_ns())
        .map_err(|e| rejected(e.to_string()))?;
    // After validation, as Loki: a discovered `service_name` is not counted against the limits.
    s.ingest_defaults.apply(&mut batch);
    s.rate_limiter
        .admit(&batch.tenant, batch.line_bytes())
        .map_err(|message| {
            s.metrics.push_rejected.fetch_add(1, Ordering::Relaxed);
            ApiError {
                status: StatusCode::TOO_MANY_REQUESTS,
                message,
            }
        })?;
    s.metrics
        .invalid_utf8_lines
        .fetch_add(stats.invalid_utf8, Ordering::Relaxed);
    if batch.entry_count() > 0 {
        s.distributor.push(batch).await?;
    }
    s.metrics.push_requests.fetch_add(1, Ordering::Relaxed);
    Ok(StatusCode::NO_CONTENT)
}
