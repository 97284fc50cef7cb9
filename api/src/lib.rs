//! logq's HTTP API: Loki's push and query endpoints over the ingester and the querier, so
//! Grafana's Loki datasource, logcli-style tools and Loki push clients work unchanged.
#![warn(missing_docs)]

mod deletes;
mod error;
mod metrics;
mod params;
pub mod proto;
mod push;
mod rate_limit;
mod response;
mod routes;
mod tail;
mod tenant;

pub use error::ApiError;
pub use metrics::ApiMetrics;
pub use params::{parse_duration, parse_time};
pub use push::{decode_content_encoding, decode_json, decode_protobuf, DecodeStats};
pub use rate_limit::RateLimiter;
pub use routes::{router, AppState, MAX_PUSH_BODY_BYTES};
