//! The router: which path and method go to which handler. Handlers live in their own modules
//! (one per endpoint family) and share state through `state.rs`; adding an endpoint is one new
//! module plus one `.route(..)` line here.

use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::Router;
use tower_http::catch_panic::CatchPanicLayer;

use crate::error::ApiError;
use crate::push::MAX_PUSH_BODY_BYTES;
use crate::state::AppState;
use crate::{detected, index, labels, push, query, status};

/// Builds the router: the endpoints, behind the multi-tenant fan-out of reads.
pub fn router(state: Arc<AppState>) -> Router {
    let inner = endpoints(state);
    inner.clone().layer(axum::middleware::from_fn_with_state(
        inner,
        crate::multi_tenant::fan_out,
    ))
}

/// Every endpoint, for one tenant per request.
fn endpoints(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/", get(status::ui))
        .route("/ui/{*file}", get(crate::ui::asset))
        .route("/ready", get(status::ready))
        .route("/metrics", get(status::metrics))
        .route(
            "/loki/api/v1/push",
            post(push::push).layer(DefaultBodyLimit::max(MAX_PUSH_BODY_BYTES)),
        )
        .route(
            "/loki/api/v1/query_range",
            get(query::query_range).post(query::query_range),
        )
        .route("/loki/api/v1/query", get(query::query).post(query::query))
        .route("/loki/api/v1/labels", get(labels::labels).post(labels::labels))
        .route(
            "/loki/api/v1/label/{name}/values",
            get(labels::label_values).post(labels::label_values),
        )
        .route("/loki/api/v1/series", get(labels::series).post(labels::series))
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
            get(detected::detected_labels).post(detected::detected_labels),
        )
        .route(
            "/loki/api/v1/detected_fields",
            get(detected::detected_fields).post(detected::detected_fields),
        )
        .route(
            "/loki/api/v1/detected_field/{name}/values",
            get(detected::detected_field_values).post(detected::detected_field_values),
        )
        .route(
            "/loki/api/v1/index/stats",
            get(index::index_stats).post(index::index_stats),
        )
        .route(
            "/loki/api/v1/index/volume",
            get(crate::volume::index_volume).post(crate::volume::index_volume),
        )
        .route(
            "/loki/api/v1/index/volume_range",
            get(crate::volume::index_volume_range).post(crate::volume::index_volume_range),
        )
        .route("/loki/api/v1/status/buildinfo", get(status::buildinfo))
        .route(
            "/loki/api/v1/drilldown-limits",
            get(crate::drilldown::drilldown_limits),
        )
        .route(
            "/loki/api/v1/format_query",
            get(crate::drilldown::format_query).post(crate::drilldown::format_query),
        )
        .route("/config", get(crate::drilldown::config))
        .route(
            "/loki/api/v1/patterns",
            get(crate::patterns::patterns).post(crate::patterns::patterns),
        )
        .route("/logq/api/v1/export", get(crate::export::export))
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
        .layer(axum::middleware::from_fn(crate::ui::tail_tenant_from_query))
        .layer(CatchPanicLayer::custom(|_| {
            ApiError {
                status: StatusCode::INTERNAL_SERVER_ERROR,
                message: "internal error".into(),
            }
            .into_response()
        }))
        .with_state(state)
}
