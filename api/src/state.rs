//! What every handler shares: the [`AppState`] built once by the server, the axum extractor
//! alias for it, and the tenant's query timeout every query handler runs under.
//!
//! Handlers live in their own modules beside this one (`push.rs`, `query.rs`, ...) and import
//! from here; `routes.rs` only maps paths to them, so no handler module imports another.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::State;
use axum::http::StatusCode;
use logq_ingester::{Distributor, Ingester};
use logq_querier::Querier;
use logq_storage::TenantId;

use crate::error::ApiError;
use crate::metrics::ApiMetrics;

/// What the handlers share.
pub struct AppState {
    /// Where accepted pushes go.
    pub distributor: Arc<dyn Distributor>,
    /// Answers queries.
    pub querier: Arc<Querier>,
    /// For metrics.
    pub ingester: Arc<Ingester>,
    /// Every tenant's limits (push, rate and query limits).
    pub overrides: crate::limits::Overrides,
    /// API counters.
    pub metrics: ApiMetrics,
    /// Where delete requests are recorded.
    pub manifests: logq_storage::ManifestStore,
    /// Per-tenant ingestion rate limit.
    pub rate_limiter: crate::rate_limit::RateLimiter,
    /// Loki 3's ingest-time `service_name` and `detected_level` discovery (off by default).
    pub ingest_defaults: crate::IngestDefaults,
    /// The history indexes (`None` when not enabled): the history API manages them, and the
    /// querier reads them through a `logq_history::HistorySource` added as a data source.
    pub history: Option<Arc<logq_history::HistoryManager>>,
}

/// Runs a query future under the tenant's query timeout: 504 when it expires, as Loki. A query
/// that finished but took longer than the limit is reported the same way, so the limit means
/// the same whether or not the work happened to complete inside one poll.
pub(crate) async fn with_timeout<T>(
    s: &AppState,
    tenant: &TenantId,
    fut: impl std::future::Future<Output = Result<T, ApiError>>,
) -> Result<T, ApiError> {
    let timeout = s.overrides.get(tenant).query_timeout;
    let started = Instant::now();
    let timed_out = || ApiError {
        status: StatusCode::GATEWAY_TIMEOUT,
        message: format!("query timed out after {timeout:?} (--query-timeout / limits.query_timeout)"),
    };
    match tokio::time::timeout(timeout, fut).await {
        Ok(_) if started.elapsed() > timeout => Err(timed_out()),
        Ok(r) => r,
        Err(_) => Err(timed_out()),
    }
}

/// The state as handlers extract it.
pub(crate) type Shared = State<Arc<AppState>>;

/// The current time in Unix nanoseconds.
pub(crate) use logq_storage::now_ns;
