//! The LogQL query endpoints: `query_range` (log and metric queries) and `query` (instant metric
//! queries; log queries are refused as Loki 3 refuses them), with Loki's step rules and the query
//! timeout.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use axum::Extension;
use axum::Json;
use logq_querier::logql::{parse, Expr, SampleExpr};
use logq_querier::{collect_warnings, evaluate_tenants, LogQuery, MetricResult, Series};
use logq_storage::{ScanStats, TenantId};

use crate::error::ApiError;
use crate::limits::TenantLimits;
use crate::multi_tenant::QueryTenants;
use crate::params::{parse_duration, Params};
use crate::response::{
    matrix_body, parse_direction, scalar_body, stats, streams_body, vector_body, with_warnings,
};
use crate::state::{now_ns, with_timeout, AppState, Shared};
use crate::tenant::Tenant;

fn parse_query(p: &Params) -> Result<Expr, ApiError> {
    Ok(parse(p.required("query")?).map_err(logq_querier::QueryError::from)?)
}

/// Most points per series a range query may ask for (Loki's limit).
const MAX_POINTS: i64 = 11_000;

/// The evaluation steps of a metric range query, as Loki answers it: `step` (float seconds or
/// a duration, in whole milliseconds), by default `max(floor(range / 250 s), 1) s`; at most
/// 11,000 points; then, as Loki's query frontend does before splitting a metric query, `start`
/// aligned down and `end` aligned up to a multiple of `step` (from the Unix epoch).
fn steps(p: &Params, start: i64, end: i64) -> Result<Vec<i64>, ApiError> {
    let step = match p.get("step") {
        Some(v) => {
            let ns = parse_duration(v).map_err(|e| ApiError::bad_request(format!("invalid step: {e}")))?;
            if ns <= 0 {
                return Err(ApiError::bad_request(
                    "zero or negative query resolution step widths are not accepted. Try a positive integer",
                ));
            }
            ns
        }
        None => ((end - start) / 250 / 1_000_000_000).max(1) * 1_000_000_000,
    };
    if (end - start) / step > MAX_POINTS {
        return Err(ApiError::bad_request(
            "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)",
        ));
    }
    // The frontend carries the step in milliseconds.
    let step = if step >= 1_000_000 {
        step / 1_000_000 * 1_000_000
    } else {
        step
    };
    Ok(step_times(start, end, step))
}

/// `start, start + step, ...` up to and including `end`.
fn step_times(start: i64, end: i64, step: i64) -> Vec<i64> {
    let mut out = Vec::new();
    let mut t = start;
    while t <= end {
        out.push(t);
        match t.checked_add(step) {
            Some(next) => t = next,
            None => break,
        }
    }
    out
}

/// The tenants a metric query reads: the request's tenant, or those a multi-tenant request
/// chose (see `multi_tenant`).
fn query_tenants(tenant: TenantId, multi: Option<Extension<QueryTenants>>) -> Vec<TenantId> {
    match multi {
        Some(Extension(QueryTenants(tenants))) => tenants,
        None => vec![tenant],
    }
}

/// Runs a metric query over `tenants` (the first one's timeout; the smallest series limit, as
/// Loki takes the smallest limit of a multi-tenant query).
async fn run_metric_query(
    s: &AppState,
    tenant: &TenantId,
    tenants: &[TenantId],
    expr: &SampleExpr,
    steps: &[i64],
    instant: bool,
) -> Result<Response, ApiError> {
    let started = Instant::now();
    let scanned = Arc::new(ScanStats::default());
    let max_series = tenants
        .iter()
        .map(|t| s.overrides.get(t).max_query_series)
        .min()
        .unwrap_or(s.overrides.get(tenant).max_query_series);
    let (result, warnings) = collect_warnings(with_timeout(s, tenant, async {
        Ok(evaluate_tenants(&s.querier, tenants, expr, steps, instant, max_series, &scanned).await?)
    }))
    .await;
    let result = result?;
    s.metrics.queries.fetch_add(1, Ordering::Relaxed);
    let returned = match &result {
        MetricResult::Scalar(_) => 1,
        MetricResult::Matrix(series) => series.iter().map(|s| s.points.len()).sum(),
    };
    let st = stats(&scanned, returned, started.elapsed().as_secs_f64());
    let time = steps.last().copied().unwrap_or(0);
    let body = match result {
        MetricResult::Scalar(v) if instant => scalar_body(v, time, st),
        MetricResult::Scalar(v) => matrix_body(
            &[Series {
                labels: Default::default(),
                points: steps.iter().map(|t| (*t, v)).collect(),
            }],
            st,
        ),
        MetricResult::Matrix(series) if instant => vector_body(&series, time, st),
        MetricResult::Matrix(series) => matrix_body(&series, st),
    };
    Ok(crate::history::answered(
        s,
        &scanned,
        Json(with_warnings(body, warnings)),
    ))
}

/// The tenant's `max_query_length`, with Loki's message.
fn check_length(limits: &TenantLimits, start: i64, end: i64) -> Result<(), ApiError> {
    let max = limits.max_query_length.as_nanos() as i64;
    if end - start > max {
        return Err(ApiError::bad_request(format!(
            "the query time range exceeds the limit (query length: {}h, limit: {}h)",
            (end - start) / 3_600_000_000_000,
            max / 3_600_000_000_000
        )));
    }
    Ok(())
}

/// The tenant's `max_entries_limit_per_query`, with Loki's message.
pub(crate) fn check_entries(limits: &TenantLimits, limit: usize) -> Result<(), ApiError> {
    if limit > limits.max_entries_limit_per_query {
        return Err(ApiError::bad_request(format!(
            "max entries limit per query exceeded, limit > max_entries_limit ({limit} > {})",
            limits.max_entries_limit_per_query
        )));
    }
    Ok(())
}

fn categorize(headers: &HeaderMap) -> bool {
    headers
        .get_all("x-loki-response-encoding-flags")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.split(',').any(|f| f.trim() == "categorize-labels"))
}

async fn run_log_query(s: &AppState, q: LogQuery, headers: &HeaderMap) -> Result<Response, ApiError> {
    let started = Instant::now();
    let categorize = categorize(headers);
    let (streams, warnings) = collect_warnings(with_timeout(s, &q.tenant, async {
        Ok(s.querier.select_logs_encoded(&q, categorize).await?)
    }))
    .await;
    let streams = streams?;
    s.metrics.queries.fetch_add(1, Ordering::Relaxed);
    let returned = streams.iter().map(|s| s.entries.len()).sum();
    let st = stats(&q.stats, returned, started.elapsed().as_secs_f64());
    Ok(crate::history::answered(
        s,
        &q.stats,
        Json(with_warnings(streams_body(&streams, categorize, st), warnings)),
    ))
}

pub(crate) async fn query_range(
    State(s): Shared,
    Tenant(tenant): Tenant,
    multi: Option<Extension<QueryTenants>>,
    headers: HeaderMap,
    p: Params,
) -> Result<Response, ApiError> {
    let (start, end) = p.range(now_ns())?;
    let limits = s.overrides.get(&tenant);
    check_length(limits, start, end)?;
    let expr = match parse_query(&p)? {
        Expr::Log(l) => l,
        Expr::Sample(e) => {
            let tenants = query_tenants(tenant.clone(), multi);
            return run_metric_query(&s, &tenant, &tenants, &e, &steps(&p, start, end)?, false).await;
        }
    };
    let limit = p.limit(100)?;
    check_entries(limits, limit)?;
    let q = LogQuery {
        tenant,
        expr,
        start,
        end,
        limit,
        direction: parse_direction(p.get("direction")).map_err(ApiError::bad_request)?,
        stats: Arc::new(ScanStats::default()),
    };
    run_log_query(&s, q, &headers).await
}

/// Instant query: a metric expression evaluated at `time`. Log queries are refused as Loki 3
/// refuses them (`ErrUnsupportedSyntaxForInstantQuery`).
pub(crate) async fn query(
    State(s): Shared,
    Tenant(tenant): Tenant,
    multi: Option<Extension<QueryTenants>>,
    p: Params,
) -> Result<Response, ApiError> {
    let time = p.time("time")?.unwrap_or_else(now_ns);
    match parse_query(&p)? {
        Expr::Sample(e) => {
            let tenants = query_tenants(tenant.clone(), multi);
            run_metric_query(&s, &tenant, &tenants, &e, &[time], true).await
        }
        Expr::Log(_) => Err(ApiError::bad_request(
            "log queries are not supported as an instant query type, please change your query to a range query type",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_start_at_start_exactly() {
        const S: i64 = 1_000_000_000;
        // Loki evaluates `from 60s to 180s step 120s` at 60s and 180s, not at 0s/120s/240s.
        assert_eq!(step_times(60 * S, 180 * S, 120 * S), vec![60 * S, 180 * S]);
        assert_eq!(step_times(61 * S, 180 * S, 60 * S), vec![61 * S, 121 * S]);
        assert_eq!(step_times(5, 5, 10), vec![5]);
        assert_eq!(step_times(i64::MAX - 1, i64::MAX, 10), vec![i64::MAX - 1]);
    }
}
