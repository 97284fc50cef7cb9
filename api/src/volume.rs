//! `index/volume` and `index/volume_range`: line bytes per series or per label name, from the
//! indexes alone, as Loki's `seriesvolume` answers them.
//!
//! Rules (Loki 3): `aggregateBy=series` (default) names a result by the `targetLabels`, or by the
//! selector's label names when there are none; `aggregateBy=labels` names it by one label name
//! (`{"<name>": ""}`), every label of the stream counting (or only the `targetLabels`). Streams
//! lacking a target label are skipped. Each bucket keeps its `limit` (100) largest volumes, ties
//! by name. An instant volume is stamped at `end`; a `volume_range` bucket at its end minus 1 ms,
//! the last one at `end`. As Loki's frontend, the answer is a vector unless some series has more
//! than one sample.

use std::collections::BTreeMap;

use axum::Json;
use serde_json::{json, Map, Value};

use crate::error::ApiError;
use crate::params::{parse_duration, Params};
use crate::state::{now_ns, Shared};
use crate::tenant::Tenant;
use axum::extract::State;
use logq_storage::LabelMatcher;

/// How results are named.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AggregateBy {
    Series,
    Labels,
}

struct VolumeRequest {
    matchers: Vec<LabelMatcher>,
    start: i64,
    end: i64,
    limit: usize,
    targets: Vec<String>,
    by: AggregateBy,
}

fn parse_request(p: &Params) -> Result<VolumeRequest, ApiError> {
    let (start, end) = p.range(now_ns())?;
    let matchers = p.log_selector()?.matchers;
    let by = match p.get("aggregateBy") {
        None | Some("series") => AggregateBy::Series,
        Some("labels") => AggregateBy::Labels,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "invalid aggregation option {other:?}: use series or labels"
            )))
        }
    };
    let targets = p
        .get("targetLabels")
        .map(|t| {
            t.split(',')
                .map(|l| l.trim().to_string())
                .filter(|l| !l.is_empty())
                .collect()
        })
        .unwrap_or_default();
    Ok(VolumeRequest {
        matchers,
        start,
        end,
        limit: p.limit(100)?,
        targets,
        by,
    })
}

/// The names (series label sets, or label names) one stream's bytes count towards.
fn names_of(req: &VolumeRequest, labels: &[(String, String)]) -> Vec<BTreeMap<String, String>> {
    let get = |k: &str| labels.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    if req.targets.iter().any(|t| get(t).is_none()) {
        return Vec::new();
    }
    match req.by {
        AggregateBy::Labels => {
            let names: Vec<&String> = if req.targets.is_empty() {
                labels.iter().map(|(k, _)| k).collect()
            } else {
                req.targets.iter().collect()
            };
            names
                .into_iter()
                .map(|n| BTreeMap::from([(n.clone(), String::new())]))
                .collect()
        }
        AggregateBy::Series => {
            let keys: Vec<&String> = if req.targets.is_empty() {
                req.matchers.iter().map(|m| &m.name).collect()
            } else {
                req.targets.iter().collect()
            };
            let metric = keys
                .into_iter()
                .filter_map(|k| get(k).map(|v| (k.clone(), v)))
                .collect();
            vec![metric]
        }
    }
}

/// Volumes of `[from, to)`, largest first (ties by name), at most `limit`.
async fn bucket(
    s: &crate::state::AppState,
    tenant: &logq_storage::TenantId,
    req: &VolumeRequest,
    from: i64,
    to: i64,
) -> Result<Vec<(BTreeMap<String, String>, u64)>, ApiError> {
    let mut volumes: BTreeMap<BTreeMap<String, String>, u64> = BTreeMap::new();
    for st in s.querier.stream_stats(tenant, &req.matchers, from, to).await? {
        for name in names_of(req, st.labels.pairs()) {
            *volumes.entry(name).or_default() += st.bytes;
        }
    }
    let mut rows: Vec<(BTreeMap<String, String>, u64)> = volumes.into_iter().collect();
    rows.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    rows.truncate(req.limit);
    Ok(rows)
}

/// A volume series name (the grouping labels).
type SeriesName = BTreeMap<String, String>;

/// Loki's answer from `(stamp ns, rows)` buckets.
fn body(buckets: Vec<(i64, Vec<(SeriesName, u64)>)>) -> Value {
    let mut series: BTreeMap<BTreeMap<String, String>, Vec<(i64, u64)>> = BTreeMap::new();
    for (at, rows) in buckets {
        for (name, bytes) in rows {
            series.entry(name).or_default().push((at, bytes));
        }
    }
    let matrix = series.values().any(|s| s.len() > 1);
    let mut ordered: Vec<(SeriesName, Vec<(i64, u64)>)> = series.into_iter().collect();
    ordered.sort_by(|a, b| b.1[0].1.cmp(&a.1[0].1).then_with(|| a.0.cmp(&b.0)));
    let point = |(at, bytes): &(i64, u64)| json!([crate::response::seconds(*at), bytes.to_string()]);
    let result: Vec<Value> = ordered
        .iter()
        .map(|(name, samples)| {
            let metric: Map<String, Value> = name
                .iter()
                .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                .collect();
            if matrix {
                json!({"metric": metric, "values": samples.iter().map(point).collect::<Vec<_>>()})
            } else {
                json!({"metric": metric, "value": point(&samples[0])})
            }
        })
        .collect();
    json!({"status": "success", "data": {
        "resultType": if matrix { "matrix" } else { "vector" },
        "result": result,
    }})
}

/// `GET /loki/api/v1/index/volume`.
pub(crate) async fn index_volume(
    State(s): Shared,
    Tenant(tenant): Tenant,
    p: Params,
) -> Result<Json<Value>, ApiError> {
    let req = parse_request(&p)?;
    let rows = bucket(&s, &tenant, &req, req.start, req.end).await?;
    Ok(Json(body(vec![(req.end, rows)])))
}

/// Most buckets a `volume_range` may ask for (Loki's points limit).
const MAX_BUCKETS: i64 = 11_000;

/// `GET /loki/api/v1/index/volume_range`: the volume of each `step` interval from `start`.
pub(crate) async fn index_volume_range(
    State(s): Shared,
    Tenant(tenant): Tenant,
    p: Params,
) -> Result<Json<Value>, ApiError> {
    let req = parse_request(&p)?;
    let step = match p.get("step") {
        Some(v) => parse_duration(v).map_err(|e| ApiError::bad_request(format!("invalid step: {e}")))?,
        None => ((req.end - req.start) / 250 / 1_000_000_000).max(1) * 1_000_000_000,
    };
    if step <= 0 {
        return Err(ApiError::bad_request(
            "zero or negative query resolution step widths are not accepted. Try a positive integer",
        ));
    }
    if (req.end - req.start) / step > MAX_BUCKETS {
        return Err(ApiError::bad_request(
            "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)",
        ));
    }
    let mut buckets = Vec::new();
    let mut from = req.start;
    loop {
        let to = from.saturating_add(step).min(req.end);
        let stamp = if to >= req.end { req.end } else { to - 1_000_000 };
        let rows = bucket(&s, &tenant, &req, from, to.max(from + 1)).await?;
        buckets.push((stamp, rows));
        if to >= req.end {
            break;
        }
        from = to;
    }
    Ok(Json(body(buckets)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(by: AggregateBy, targets: &[&str]) -> VolumeRequest {
        VolumeRequest {
            matchers: logq_querier::logql::parse_log_selector(r#"{app=~".+"}"#)
                .unwrap()
                .matchers,
            start: 0,
            end: 10,
            limit: 100,
            targets: targets.iter().map(|t| t.to_string()).collect(),
            by,
        }
    }

    fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
        p.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn names_follow_aggregate_by() {
        let l = pairs(&[("app", "a"), ("env", "prod")]);
        let series = names_of(&req(AggregateBy::Series, &[]), &l);
        assert_eq!(
            series,
            vec![BTreeMap::from([("app".to_string(), "a".to_string())])]
        );
        let by_labels = names_of(&req(AggregateBy::Labels, &[]), &l);
        assert_eq!(by_labels.len(), 2);
        assert_eq!(by_labels[1], BTreeMap::from([("env".to_string(), String::new())]));
        assert!(names_of(&req(AggregateBy::Series, &["pod"]), &l).is_empty());
    }

    #[test]
    fn one_sample_per_series_is_a_vector_else_a_matrix() {
        let name = BTreeMap::from([("app".to_string(), "a".to_string())]);
        let v = body(vec![(1_000_000_000, vec![(name.clone(), 5)])]);
        assert_eq!(v["data"]["resultType"], "vector");
        assert_eq!(v["data"]["result"][0]["value"][1], "5");
        let m = body(vec![
            (1_000_000_000, vec![(name.clone(), 5)]),
            (2_000_000_000, vec![(name, 7)]),
        ]);
        assert_eq!(m["data"]["resultType"], "matrix");
        assert_eq!(m["data"]["result"][0]["values"][1][1], "7");
    }
}
