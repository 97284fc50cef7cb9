//! The HTTP routes: Loki's push and query API, readiness, metrics and the UI page.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use logq_ingester::{Distributor, Ingester, Limits};
use logq_querier::logql::{parse, parse_log_selector, Expr, SampleExpr};
use logq_querier::{evaluate, LogQuery, MetricResult, Querier, Series};
use logq_storage::{LabelMatcher, ScanStats, TenantId};
use serde_json::{json, Value};
use tower_http::catch_panic::CatchPanicLayer;

use crate::content_encoding::decode_content_encoding;
use crate::error::ApiError;
use crate::metrics::{render, ApiMetrics};
use crate::params::{parse_duration, parse_time, Params};
use crate::response::{
    matrix_body, parse_direction, scalar_body, stats, streams_body, success_data, vector_body,
};
use crate::tenant::Tenant;
use logq_storage::push::{decode_json, decode_protobuf, DecodeStats};

/// Largest push body accepted on the wire (HTTP 413 above).
pub const MAX_PUSH_BODY_BYTES: usize = 64 * 1024 * 1024;

const UI_PAGE: &str = include_str!("../../ui/index.html");

/// What the handlers share.
pub struct AppState {
    /// Where accepted pushes go.
    pub distributor: Arc<dyn Distributor>,
    /// Answers queries.
    pub querier: Arc<Querier>,
    /// For metrics.
    pub ingester: Arc<Ingester>,
    /// Push limits.
    pub limits: Limits,
    /// API counters.
    pub metrics: ApiMetrics,
    /// Queries running longer are cancelled with 504.
    pub query_timeout: std::time::Duration,
    /// Where delete requests are recorded.
    pub manifests: logq_storage::ManifestStore,
    /// Per-tenant ingestion rate limit.
    pub rate_limiter: crate::rate_limit::RateLimiter,
    /// Loki 3's ingest-time `service_name` and `detected_level` discovery (off by default).
    pub ingest_defaults: crate::IngestDefaults,
}

/// Runs a query future under the query timeout: 504 when it expires, as Loki. A query that
/// finished but took longer than the limit is reported the same way, so the limit means the
/// same whether or not the work happened to complete inside one poll.
async fn with_timeout<T>(
    s: &AppState,
    fut: impl std::future::Future<Output = Result<T, ApiError>>,
) -> Result<T, ApiError> {
    let started = Instant::now();
    let timed_out = || ApiError {
        status: StatusCode::GATEWAY_TIMEOUT,
        message: format!("query timed out after {:?} (--query-timeout)", s.query_timeout),
    };
    match tokio::time::timeout(s.query_timeout, fut).await {
        Ok(_) if started.elapsed() > s.query_timeout => Err(timed_out()),
        Ok(r) => r,
        Err(_) => Err(timed_out()),
    }
}

pub(crate) type Shared = State<Arc<AppState>>;

/// Builds the router.
pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/", get(ui))
        .route("/ready", get(ready))
        .route("/metrics", get(metrics))
        .route(
            "/loki/api/v1/push",
            post(push).layer(DefaultBodyLimit::max(MAX_PUSH_BODY_BYTES)),
        )
        .route("/loki/api/v1/query_range", get(query_range).post(query_range))
        .route("/loki/api/v1/query", get(query).post(query))
        .route("/loki/api/v1/labels", get(labels).post(labels))
        .route(
            "/loki/api/v1/label/{name}/values",
            get(label_values).post(label_values),
        )
        .route("/loki/api/v1/series", get(series).post(series))
        .route("/loki/api/v1/tail", get(crate::tail::tail))
        .route(
            "/loki/api/v1/delete",
            post(crate::deletes::create)
                .put(crate::deletes::create)
                .get(crate::deletes::list)
                .delete(crate::deletes::cancel),
        )
        .route(
            "/loki/api/v1/detected_labels",
            get(detected_labels).post(detected_labels),
        )
        .route(
            "/loki/api/v1/detected_fields",
            get(detected_fields).post(detected_fields),
        )
        .route(
            "/loki/api/v1/detected_field/{name}/values",
            get(detected_field_values).post(detected_field_values),
        )
        .route("/loki/api/v1/index/stats", get(index_stats).post(index_stats))
        .route("/loki/api/v1/index/volume", get(index_volume).post(index_volume))
        .route("/loki/api/v1/status/buildinfo", get(buildinfo))
        .route("/internal/v1/head", get(crate::internal::head))
        .route(
            "/logq/api/v1/history",
            post(crate::history::load).get(crate::history::list),
        )
        .route(
            "/logq/api/v1/history/{id}",
            get(crate::history::get).delete(crate::history::remove),
        )
        .fallback(|| async {
            ApiError {
                status: StatusCode::NOT_FOUND,
                message: "404 page not found".into(),
            }
        })
        .layer(CatchPanicLayer::custom(|_| {
            ApiError {
                status: StatusCode::INTERNAL_SERVER_ERROR,
                message: "internal error".into(),
            }
            .into_response()
        }))
        .with_state(state)
}

/// `/ready`: 503 while the ingester replays its write-ahead log (answers would miss lines).
async fn ready(State(s): Shared) -> Response {
    if s.ingester.is_ready() {
        "ready\n".into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "replaying the write-ahead log\n").into_response()
    }
}

async fn ui() -> Html<&'static str> {
    Html(UI_PAGE)
}

async fn metrics(State(s): Shared) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        render(&s.metrics, &s.ingester, s.distributor.as_ref())
            + &s.querier.history().map(|h| h.render_metrics()).unwrap_or_default(),
    )
        .into_response()
}

async fn buildinfo() -> Json<Value> {
    Json(json!({
        "version": env!("CARGO_PKG_VERSION"),
        "revision": "",
        "branch": "",
        "buildUser": "",
        "buildDate": "",
        "goVersion": "",
    }))
}

pub(crate) fn now_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i64)
}

async fn push(
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
    let start = start - start.rem_euclid(step);
    let end = match end.rem_euclid(step) {
        0 => end,
        m => end + (step - m),
    };
    let mut out = Vec::new();
    let mut t = start;
    while t <= end {
        out.push(t);
        t += step;
    }
    Ok(out)
}

async fn run_metric_query(
    s: &AppState,
    tenant: &TenantId,
    expr: &SampleExpr,
    steps: &[i64],
    instant: bool,
) -> Result<Response, ApiError> {
    let started = Instant::now();
    let scanned = Arc::new(ScanStats::default());
    let result = with_timeout(s, async {
        Ok(evaluate(&s.querier, tenant, expr, steps, instant, &scanned).await?)
    })
    .await?;
    s.metrics.queries.fetch_add(1, Ordering::Relaxed);
    let returned = match &result {
        MetricResult::Scalar(_) => 1,
        MetricResult::Matrix(series) => series.iter().map(|s| s.points.len()).sum(),
    };
    let st = stats(&scanned, returned, started.elapsed().as_secs_f64());
    let time = steps.last().copied().unwrap_or(0);
    let body = Json(match result {
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
    });
    Ok(crate::history::answered(s, &scanned, body))
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
    let streams = with_timeout(s, async {
        Ok(s.querier.select_logs_encoded(&q, categorize).await?)
    })
    .await?;
    s.metrics.queries.fetch_add(1, Ordering::Relaxed);
    let returned = streams.iter().map(|s| s.entries.len()).sum();
    let st = stats(&q.stats, returned, started.elapsed().as_secs_f64());
    Ok(crate::history::answered(
        s,
        &q.stats,
        Json(streams_body(&streams, categorize, st)),
    ))
}

async fn query_range(
    State(s): Shared,
    Tenant(tenant): Tenant,
    headers: HeaderMap,
    p: Params,
) -> Result<Response, ApiError> {
    let (start, end) = p.range(now_ns())?;
    let expr = match parse_query(&p)? {
        Expr::Log(l) => l,
        Expr::Sample(e) => return run_metric_query(&s, &tenant, &e, &steps(&p, start, end)?, false).await,
    };
    let q = LogQuery {
        tenant,
        expr,
        start,
        end,
        limit: p.limit(100)?,
        direction: parse_direction(p.get("direction")).map_err(ApiError::bad_request)?,
        stats: Arc::new(ScanStats::default()),
    };
    run_log_query(&s, q, &headers).await
}

/// Instant query: a metric expression evaluated at `time`. Log queries are refused as Loki 3
/// refuses them (`ErrUnsupportedSyntaxForInstantQuery`).
async fn query(State(s): Shared, Tenant(tenant): Tenant, p: Params) -> Result<Response, ApiError> {
    let time = match p.get("time") {
        Some(v) => parse_time(v).map_err(|e| ApiError::bad_request(format!("invalid time: {e}")))?,
        None => now_ns(),
    };
    match parse_query(&p)? {
        Expr::Sample(e) => run_metric_query(&s, &tenant, &e, &[time], true).await,
        Expr::Log(_) => Err(ApiError::bad_request(
            "log queries are not supported as an instant query type, please change your query to a range query type",
        )),
    }
}

/// Matchers of an optional `query` parameter (none = every stream).
fn optional_matchers(selector: Option<&str>) -> Result<Vec<LabelMatcher>, ApiError> {
    match selector.map(str::trim) {
        None | Some("{}") => Ok(Vec::new()),
        Some(q) => Ok(parse_log_selector(q)
            .map_err(logq_querier::QueryError::from)?
            .matchers),
    }
}

async fn labels(State(s): Shared, Tenant(tenant): Tenant, p: Params) -> Result<Json<Value>, ApiError> {
    let (start, end) = p.range(now_ns())?;
    let matchers = optional_matchers(p.get("query"))?;
    let names = s.querier.label_names(&tenant, &matchers, start, end).await?;
    Ok(Json(success_data(json!(names))))
}

async fn label_values(
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

async fn series(State(s): Shared, Tenant(tenant): Tenant, p: Params) -> Result<Json<Value>, ApiError> {
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

/// The matchers of a required stream selector parameter `query`.
fn required_matchers(p: &Params) -> Result<Vec<LabelMatcher>, ApiError> {
    Ok(parse_log_selector(p.required("query")?)
        .map_err(logq_querier::QueryError::from)?
        .matchers)
}

/// `index/stats`: streams, chunks, bytes and entries of a selector, from the indexes alone.
async fn index_stats(State(s): Shared, Tenant(tenant): Tenant, p: Params) -> Result<Json<Value>, ApiError> {
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
async fn index_volume(State(s): Shared, Tenant(tenant): Tenant, p: Params) -> Result<Json<Value>, ApiError> {
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
async fn detected_labels(
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
async fn detected_fields(
    State(s): Shared,
    Tenant(tenant): Tenant,
    p: Params,
) -> Result<Json<Value>, ApiError> {
    let (start, end) = p.range(now_ns())?;
    let expr = parse_log_selector(p.required("query")?).map_err(logq_querier::QueryError::from)?;
    let limit = p.limit(1000)?;
    let mut fields =
        logq_querier::detected_fields(&s.querier, &tenant, &expr, start, end, line_limit(&p)?).await?;
    fields.truncate(limit);
    let out: Vec<Value> = fields
        .iter()
        .map(
            |f| json!({"label": f.label, "type": f.kind, "cardinality": f.cardinality, "parsers": f.parsers}),
        )
        .collect();
    Ok(Json(json!({"fields": out, "limit": limit})))
}

/// `detected_field/<name>/values`: the distinct values of one detected field.
async fn detected_field_values(
    State(s): Shared,
    Tenant(tenant): Tenant,
    Path(name): Path<String>,
    p: Params,
) -> Result<Json<Value>, ApiError> {
    let (start, end) = p.range(now_ns())?;
    let expr = parse_log_selector(p.required("query")?).map_err(logq_querier::QueryError::from)?;
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
