//! logq's HTTP API: Loki's push and query endpoints over the ingester and the querier, so
//! Grafana's Loki datasource, logcli-style tools and Loki push clients work unchanged.
#![warn(missing_docs)]

mod content_encoding;
mod deletes;
mod detected;
mod drain;
mod drilldown;
mod error;
mod export;
mod history;
mod index;
mod ingest_defaults;
mod internal;
mod labels;
mod limits;
mod metrics;
mod multi_tenant;
mod params;
mod patterns;
mod push;
mod query;
mod rate_limit;
mod response;
mod routes;
mod state;
mod status;
mod tail;
mod tenant;
mod ui;
mod volume;

pub use error::ApiError;

pub use ingest_defaults::{IngestDefaults, LOKI_SERVICE_NAME_LABELS};
pub use limits::{LimitsError, Overrides, TenantLimits, TenantOverrides};
pub use logq_storage::push::{decode_json, decode_protobuf, DecodeStats};
/// Loki's push protobuf messages (re-exported from storage, where the wire format lives).
pub use logq_storage::push_proto as proto;
pub use metrics::ApiMetrics;
pub use params::{parse_duration, parse_time};

pub use rate_limit::RateLimiter;
pub use routes::router;
pub use state::AppState;
