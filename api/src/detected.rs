//! Grafana's Explore Logs endpoints: `detected_labels`, `detected_fields` and
//! `detected_field/<name>/values`.

use axum::extract::{Path, State};
use axum::Json;
use logq_querier::logql::parse_log_selector;
use serde_json::{json, Value};

use crate::error::ApiError;
use crate::params::Params;
use crate::state::{now_ns, Shared};
use crate::tenant::Tenant;

/// Lines sampled for detected fields (`line_limit`, default 1000).
fn line_limit(p: &Params) -> Result<usize, ApiError> {
    match p.get("line_limit") {
        None => Ok(1000),
        Some(v) => v
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=5000).contains(n))
            .ok_or_else(|| ApiError::bad_request(format!("invalid line_limit {v:?}: must be 1 to 5000"))),
    }
}

/// `detected_labels`: stream labels with their number of distinct values.
pub(crate) async fn detected_labels(
    State(s): Shared,
    Tenant(tenant): Tenant,
    p: Params,
) -> Result<Json<Value>, ApiError> {
    let (start, end) = p.range(now_ns())?;
    let expr = match p.get("query").map(str::trim) {
        None | Some("{}") => None,
        Some(q) => Some(parse_log_selector(q).map_err(logq_querier::QueryError::from)?),
    };
    let labels = logq_querier::detected_labels(&s.querier, &tenant, expr.as_ref(), start, end).await?;
    let out: Vec<Value> = labels
        .into_iter()
        .map(|(label, n)| json!({"label": label, "cardinality": n}))
        .collect();
    Ok(Json(json!({ "detectedLabels": out })))
}

/// `detected_fields`: fields the json or logfmt parser finds in the newest lines.
pub(crate) async fn detected_fields(
    State(s): Shared,
    Tenant(tenant): Tenant,
    p: Params,
) -> Result<Json<Value>, ApiError> {
    let (start, end) = p.range(now_ns())?;
    let expr = p.log_selector()?;
    let limit = p.limit(1000)?;
    let mut fields =
        logq_querier::detected_fields(&s.querier, &tenant, &expr, start, end, line_limit(&p)?).await?;
    fields.truncate(limit);
    let out: Vec<Value> = fields
        .iter()
        .map(|f| {
            let mut v =
                json!({"label": f.label, "type": f.kind, "cardinality": f.cardinality, "parsers": f.parsers});
            if let Some(path) = &f.json_path {
                v["jsonPath"] = json!(path);
            }
            v
        })
        .collect();
    Ok(Json(json!({"fields": out, "limit": limit})))
}

/// `detected_field/<name>/values`: the distinct values of one detected field.
pub(crate) async fn detected_field_values(
    State(s): Shared,
    Tenant(tenant): Tenant,
    Path(name): Path<String>,
    p: Params,
) -> Result<Json<Value>, ApiError> {
    let (start, end) = p.range(now_ns())?;
    let expr = p.log_selector()?;
    let limit = p.limit(1000)?;
    let fields =
        logq_querier::detected_fields(&s.querier, &tenant, &expr, start, end, line_limit(&p)?).await?;
    let values: Vec<&String> = fields
        .iter()
        .find(|f| f.label == name)
        .map(|f| f.values.iter().take(limit).collect())
        .unwrap_or_default();
    Ok(Json(json!({"values": values, "limit": limit})))
}
