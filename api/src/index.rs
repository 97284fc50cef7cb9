//! Index-only answers: `index/stats` (streams, chunks, bytes, entries of a selector) and
//! `index/volume` (bytes per series), computed from stream statistics without reading lines.

use axum::extract::State;
use axum::Json;
use logq_querier::logql::parse_log_selector;
use logq_storage::LabelMatcher;
use serde_json::{json, Value};

use crate::error::ApiError;
use crate::params::Params;
use crate::state::{now_ns, Shared};
use crate::tenant::Tenant;

/// The matchers of a required stream selector parameter `query`.
fn required_matchers(p: &Params) -> Result<Vec<LabelMatcher>, ApiError> {
    Ok(parse_log_selector(p.required("query")?)
        .map_err(logq_querier::QueryError::from)?
        .matchers)
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

/// `index/volume`: bytes per series (grouped by `targetLabels`, or by the labels the selector
/// names), largest first, at most `limit` (100).
pub(crate) async fn index_volume(
    State(s): Shared,
    Tenant(tenant): Tenant,
    p: Params,
) -> Result<Json<Value>, ApiError> {
    let (start, end) = p.range(now_ns())?;
    let matchers = required_matchers(&p)?;
    let limit = p.limit(100)?;
    if p.get("aggregateBy").is_some_and(|a| a != "series") {
        return Err(ApiError::bad_request(
            "aggregateBy=labels is not supported yet; use aggregateBy=series",
        ));
    }
    let group: Vec<String> = match p.get("targetLabels") {
        Some(t) => t
            .split(',')
            .map(|l| l.trim().to_string())
            .filter(|l| !l.is_empty())
            .collect(),
        None => matchers.iter().map(|m| m.name.clone()).collect(),
    };
    let mut volumes: std::collections::BTreeMap<Vec<(String, String)>, u64> = Default::default();
    for st in s.querier.stream_stats(&tenant, &matchers, start, end).await? {
        let key: Vec<(String, String)> = st
            .labels
            .pairs()
            .iter()
            .filter(|(k, _)| group.contains(k))
            .cloned()
            .collect();
        *volumes.entry(key).or_default() += st.bytes;
    }
    let mut rows: Vec<(Vec<(String, String)>, u64)> = volumes.into_iter().collect();
    rows.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    rows.truncate(limit);
    let result: Vec<Value> = rows
        .into_iter()
        .map(|(labels, bytes)| {
            let metric: serde_json::Map<String, Value> =
                labels.into_iter().map(|(k, v)| (k, Value::String(v))).collect();
            json!({"metric": metric, "value": [crate::response::seconds(end), bytes.to_string()]})
        })
        .collect();
    Ok(Json(
        json!({"status": "success", "data": {"resultType": "vector", "result": result}}),
    ))
}
