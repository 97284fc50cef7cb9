//! `POST /loki/api/v1/push` with Loki's partial acceptance: every valid entry of a request is
//! stored, the invalid ones (bad labels, too old, too new, too long, too many labels) are
//! refused and named in a 400, and counted per Loki reason in `logq_discarded_samples_total`.
//!
//! Invariants: an entry is either stored or listed as rejected, never both nor neither; the 400
//! is sent only after the accepted entries are durable. The text body is Loki's (its grouped
//! errors); with `Accept: application/json` the body is
//! `{"message","accepted","rejected":[{"stream","entry","labels","ts","reason","error"}]}`,
//! `stream`/`entry` being indexes in the request, so a client can dead-letter exactly the
//! refused lines. A body that cannot be decoded at all is refused whole (`accepted: 0`,
//! `rejected: []`).

use std::sync::atomic::Ordering;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use logq_ingester::{label_rejection, reason, Rejection};
use logq_storage::push::{decode_json_partial, decode_protobuf_partial, DecodeStats};
use serde_json::json;

use crate::content_encoding::decode_content_encoding;
use crate::error::ApiError;
use crate::state::{now_ns, Shared};
use crate::tenant::Tenant;

/// Largest push body accepted on the wire (HTTP 413 above).
pub const MAX_PUSH_BODY_BYTES: usize = 64 * 1024 * 1024;

/// Whether the client asked for the JSON form of push errors.
fn wants_json(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.split(',').any(|t| t.trim().starts_with("application/json")))
}

/// Loki's `GroupedErrors` text: identical messages grouped (`N errors like: ...`), joined by
/// `; `, in the order first seen.
pub(crate) fn grouped_errors<'a>(errors: impl IntoIterator<Item = &'a str>) -> String {
    let mut groups: Vec<(&str, usize)> = Vec::new();
    for e in errors {
        match groups.iter_mut().find(|(m, _)| *m == e) {
            Some(g) => g.1 += 1,
            None => groups.push((e, 1)),
        }
    }
    let unique = groups.len();
    groups
        .iter()
        .map(|(m, n)| {
            if unique > 1 || *n > 1 {
                format!("{n} errors like: {m}")
            } else {
                (*m).to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// The 400 naming the rejected entries, in the form the client asked for.
fn rejection_response(json: bool, message: String, accepted: usize, rejected: &[Rejection]) -> Response {
    if !json {
        return ApiError::bad_request(message).into_response();
    }
    let rows: Vec<serde_json::Value> = rejected
        .iter()
        .map(|r| {
            json!({
                "stream": r.stream,
                "entry": r.entry,
                "labels": r.labels,
                "ts": r.ts.to_string(),
                "reason": r.reason,
                "error": r.error,
            })
        })
        .collect();
    (
        StatusCode::BAD_REQUEST,
        Json(json!({"message": message, "accepted": accepted, "rejected": rows})),
    )
        .into_response()
}

/// The push handler.
pub(crate) async fn push(
    State(s): Shared,
    Tenant(tenant): Tenant,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let json = wants_json(&headers);
    let header_str = |name: header::HeaderName| headers.get(name).and_then(|v| v.to_str().ok());
    let refuse_whole = |message: String| {
        s.metrics.push_rejected.fetch_add(1, Ordering::Relaxed);
        rejection_response(json, message, 0, &[])
    };
    let body = match decode_content_encoding(header_str(header::CONTENT_ENCODING), &body) {
        Ok(b) => b,
        Err(e) => return refuse_whole(e.to_string()),
    };
    let is_json_body =
        header_str(header::CONTENT_TYPE).is_some_and(|c| c.trim_start().starts_with("application/json"));
    let mut stats = DecodeStats::default();
    let decoded = if is_json_body {
        decode_json_partial(tenant.clone(), &body)
    } else {
        decode_protobuf_partial(tenant.clone(), &body, &mut stats)
    };
    let decoded = match decoded {
        Ok(d) => d,
        Err(e) => return refuse_whole(e.to_string()),
    };
    let mut batch = decoded.batch;
    let mut rejected: Vec<Rejection> = Vec::new();
    for bad in &decoded.invalid {
        let (reason, error) = label_rejection(&bad.labels, &bad.error);
        rejected.extend(bad.timestamps.iter().enumerate().map(|(entry, ts)| Rejection {
            stream: bad.index,
            entry,
            labels: bad.labels.clone(),
            ts: *ts,
            reason,
            error: error.clone(),
        }));
    }
    let limits = s.overrides.get(&batch.tenant);
    rejected.extend(
        limits
            .push_limits()
            .retain_valid(&mut batch, &decoded.positions, now_ns()),
    );
    rejected.sort_by_key(|r| (r.stream, r.entry));
    // After validation, as Loki: a discovered `service_name` is not counted against the limits.
    s.ingest_defaults.apply(&mut batch);
    let accepted = batch.entry_count();
    if let Err(message) = s
        .rate_limiter
        .admit(&batch.tenant, batch.line_bytes(), limits.ingestion_rate())
    {
        s.metrics.push_rejected.fetch_add(1, Ordering::Relaxed);
        s.metrics.discard(reason::RATE_LIMITED, &tenant, accepted as u64);
        return ApiError {
            status: StatusCode::TOO_MANY_REQUESTS,
            message,
        }
        .into_response();
    }
    s.metrics
        .invalid_utf8_lines
        .fetch_add(stats.invalid_utf8, Ordering::Relaxed);
    if accepted > 0 {
        if let Err(e) = s.distributor.push(batch).await {
            return ApiError::from(e).into_response();
        }
    }
    for r in &rejected {
        s.metrics.discard(r.reason, &tenant, 1);
    }
    if rejected.is_empty() {
        s.metrics.push_requests.fetch_add(1, Ordering::Relaxed);
        return StatusCode::NO_CONTENT.into_response();
    }
    s.metrics.push_rejected.fetch_add(1, Ordering::Relaxed);
    let message = grouped_errors(rejected.iter().map(|r| r.error.as_str()));
    rejection_response(json, message, accepted, &rejected)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grouped_errors_read_as_lokis() {
        assert_eq!(grouped_errors(["a"]), "a");
        assert_eq!(grouped_errors(["a", "a"]), "2 errors like: a");
        assert_eq!(
            grouped_errors(["a", "b", "a"]),
            "2 errors like: a; 1 errors like: b"
        );
    }

    #[test]
    fn accept_json_is_recognised_among_others() {
        let mut h = HeaderMap::new();
        assert!(!wants_json(&h));
        h.insert(
            header::ACCEPT,
            "text/plain, application/json;q=0.9".parse().unwrap(),
        );
        assert!(wants_json(&h));
    }
}
