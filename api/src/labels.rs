//! Label and series discovery: `labels`, `label/<name>/values` and `series`.

use axum::extract::{Path, State};
use axum::Json;
use logq_querier::logql::parse_log_selector;
use logq_storage::LabelMatcher;
use serde_json::{json, Value};

use crate::error::ApiError;
use crate::params::Params;
use crate::response::success_data;
use crate::state::{now_ns, Shared};
use crate::tenant::Tenant;

/// Matchers of an optional `query` parameter (none = every stream).
pub(crate) fn optional_matchers(selector: Option<&str>) -> Result<Vec<LabelMatcher>, ApiError> {
    match selector.map(str::trim) {
        None | Some("{}") => Ok(Vec::new()),
        Some(q) => Ok(parse_log_selector(q)
            .map_err(logq_querier::QueryError::from)?
            .matchers),
    }
}

pub(crate) async fn labels(
    State(s): Shared,
    Tenant(tenant): Tenant,
    p: Params,
) -> Result<Json<Value>, ApiError> {
    let (start, end) = p.range(now_ns())?;
    let matchers = optional_matchers(p.get("query"))?;
    let names = s.querier.label_names(&tenant, &matchers, start, end).await?;
    Ok(Json(success_data(json!(names))))
}

pub(crate) async fn label_values(
    State(s): Shared,
    Tenant(tenant): Tenant,
    Path(name): Path<String>,
    p: Params,
) -> Result<Json<Value>, ApiError> {
    let (start, end) = p.range(now_ns())?;
    let matchers = optional_matchers(p.get("query"))?;
    let values = s
        .querier
        .label_values(&tenant, &name, &matchers, start, end)
        .await?;
    Ok(Json(success_data(json!(values))))
}

pub(crate) async fn series(
    State(s): Shared,
    Tenant(tenant): Tenant,
    p: Params,
) -> Result<Json<Value>, ApiError> {
    let (start, end) = p.range(now_ns())?;
    let selectors: Vec<&str> = p
        .all("match[]")
        .chain(p.all("match"))
        .filter(|v| !v.is_empty())
        .collect();
    let mut out = Vec::new();
    if selectors.is_empty() {
        out = s.querier.series(&tenant, &[], start, end).await?;
    }
    for sel in selectors {
        let matchers = optional_matchers(Some(sel))?;
        out.extend(s.querier.series(&tenant, &matchers, start, end).await?);
    }
    out.sort();
    out.dedup();
    let data: Vec<Value> = out
        .iter()
        .map(|l| {
            Value::Object(
                l.pairs()
                    .iter()
                    .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                    .collect(),
            )
        })
        .collect();
    Ok(Json(success_data(Value::Array(data))))
}
