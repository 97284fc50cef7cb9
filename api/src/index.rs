//! Index-only answers: `index/stats` (streams, chunks, bytes, entries of a selector) and
//! `index/volume` (bytes per series), computed from stream statistics without reading lines.

use axum::extract::State;
use axum::Json;
use logq_storage::LabelMatcher;
use serde_json::{json, Value};

use crate::error::ApiError;
use crate::params::Params;
use crate::state::{now_ns, Shared};
use crate::tenant::Tenant;

/// The matchers of a required stream selector parameter `query`.
fn required_matchers(p: &Params) -> Result<Vec<LabelMatcher>, ApiError> {
    Ok(p.log_selector()?.matchers)
}

/// `index/stats`: streams, chunks, bytes and entries of a selector, from the indexes alone.
pub(crate) async fn index_stats(
    State(s): Shared,
    Tenant(tenant): Tenant,
    p: Params,
) -> Result<Json<Value>, ApiError> {
    let (start, end) = p.range(now_ns())?;
    let matchers = required_matchers(&p)?;
    let stats = s.querier.stream_stats(&tenant, &matchers, start, end).await?;
    Ok(Json(json!({
        "streams": stats.len(),
        "chunks": stats.iter().map(|s| s.chunks).sum::<u64>(),
        "bytes": stats.iter().map(|s| s.bytes).sum::<u64>(),
        "entries": stats.iter().map(|s| s.entries).sum::<u64>(),
    })))
}
