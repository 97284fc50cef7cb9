//! Endpoints Grafana's Logs Drilldown app and operators read besides queries:
//! `drilldown-limits` (Loki 3.6's per-tenant UI configuration), `format_query` (the query
//! editor's "Format query": the query re-printed in canonical form, or the parse error), and
//! `/config` (the effective configuration, YAML as Loki prints it).
//!
//! Every value reported is the server's real setting, never a placeholder, so the app gates
//! its tabs (patterns, volume, levels) on what this server does.

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use crate::error::ApiError;
use crate::params::Params;
use crate::state::Shared;
use crate::tenant::Tenant;

/// Loki's `log_level_fields` default (where `detected_level` is looked for): the fields
/// ingest-time level detection reads.
use crate::ingest_defaults::LEVEL_FIELDS as LOG_LEVEL_FIELDS;

/// A duration in Prometheus' short form (`5m`, `7d`, `1h30m`).
fn prom_duration(d: std::time::Duration) -> String {
    let mut secs = d.as_secs();
    if secs == 0 {
        return format!("{}ms", d.as_millis());
    }
    let mut out = String::new();
    for (unit, n) in [
        ("w", 7 * 86_400),
        ("d", 86_400),
        ("h", 3_600),
        ("m", 60),
        ("s", 1),
    ] {
        if secs >= n {
            out.push_str(&format!("{}{unit}", secs / n));
            secs %= n;
        }
    }
    out
}

fn ns_duration(ns: i64) -> String {
    prom_duration(std::time::Duration::from_nanos(ns.max(0) as u64))
}

/// `GET /loki/api/v1/drilldown-limits`.
pub(crate) async fn drilldown_limits(State(s): Shared, Tenant(tenant): Tenant) -> Json<Value> {
    let d = &s.ingest_defaults;
    let t = s.overrides.get(&tenant);
    Json(json!({
        "limits": {
            "discover_log_levels": d.discover_log_levels,
            "discover_service_name": d.service_name_labels,
            "log_level_fields": LOG_LEVEL_FIELDS,
            "max_entries_limit_per_query": t.max_entries_limit_per_query,
            "max_line_size_truncate": false,
            "max_query_bytes_read": "0B",
            "max_query_length": prom_duration(t.max_query_length),
            "max_query_lookback": "0s",
            "max_query_range": "0s",
            "max_query_series": t.max_query_series,
            "metric_aggregation_enabled": false,
            "pattern_persistence_enabled": false,
            "query_timeout": prom_duration(t.query_timeout),
            "retention_period": "0s",
            "volume_enabled": true,
            "volume_max_series": 1000,
        },
        "pattern_ingester_enabled": true,
        "version": env!("CARGO_PKG_VERSION"),
    }))
}

/// `GET|POST /loki/api/v1/format_query?query=`: `{"status":"success","data":"<query>"}`.
pub(crate) async fn format_query(p: Params) -> Result<Json<Value>, ApiError> {
    let expr = logq_querier::logql::parse(p.required("query")?).map_err(logq_querier::QueryError::from)?;
    Ok(Json(json!({"status": "success", "data": expr.to_string()})))
}

/// `GET /config`: the effective configuration as YAML.
pub(crate) async fn config(State(s): Shared) -> Response {
    let t = s.overrides.defaults();
    let l = t.push_limits();
    let d = &s.ingest_defaults;
    let list = |v: &[String]| {
        if v.is_empty() {
            " []".to_string()
        } else {
            v.iter().map(|x| format!("\n    - {x}")).collect()
        }
    };
    let yaml = format!(
        "limits_config:\n  \
         max_line_size: {}\n  \
         max_label_names_per_series: {}\n  \
         reject_old_samples: true\n  \
         reject_old_samples_max_age: {}\n  \
         creation_grace_period: {}\n  \
         max_entries_limit_per_query: {}\n  \
         max_query_length: {}\n  \
         query_timeout: {}\n  \
         discover_log_levels: {}\n  \
         discover_service_name:{}\n",
        l.max_line_bytes,
        l.max_labels_per_stream,
        ns_duration(l.reject_older_than_ns),
        ns_duration(l.creation_grace_ns),
        t.max_entries_limit_per_query,
        prom_duration(t.max_query_length),
        prom_duration(t.query_timeout),
        d.discover_log_levels,
        list(&d.service_name_labels),
    );
    ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], yaml).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_print_as_prometheus_does() {
        assert_eq!(prom_duration(std::time::Duration::from_secs(300)), "5m");
        assert_eq!(prom_duration(std::time::Duration::from_secs(5400)), "1h30m");
        assert_eq!(ns_duration(7 * 86_400 * 1_000_000_000), "1w");
        assert_eq!(ns_duration(721 * 3600 * 1_000_000_000), "4w2d1h");
        assert_eq!(prom_duration(std::time::Duration::from_millis(250)), "250ms");
    }
}
