//! `GET /loki/api/v1/patterns`: the log patterns of a query's lines over `[start, end)`, mined
//! with Drain (see `drain`) on demand, in Loki's shape:
//! `{"status":"success","data":[{"pattern","level","samples":[[seconds,count],...]}]}`.
//!
//! Samples count the lines of each pattern per `step` (default `max(range / 250, 1s)`), each
//! bucket stamped with its start (a multiple of `step`). Bounded: at most [`MAX_LINES`] of the
//! newest lines are read (in pages), within [`TIME_BUDGET`], and Drain keeps at most its
//! cluster limit; patterns are sorted by how many lines they matched.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::Json;
use logq_querier::{Direction, LogQuery};
use logq_storage::ScanStats;
use serde_json::{json, Value};

use crate::drain::{Drain, DrainConfig};
use crate::error::ApiError;
use crate::ingest_defaults::{level_of, DETECTED_LEVEL};
use crate::params::{parse_duration, Params};
use crate::state::{now_ns, Shared};
use crate::tenant::Tenant;

/// Lines read at most per request.
pub const MAX_LINES: usize = 100_000;
/// Time spent reading and mining at most; what was read by then is answered.
pub const TIME_BUDGET: Duration = Duration::from_secs(5);
/// Lines per page read.
const PAGE: usize = 5000;

/// Per pattern (cluster id): its level and line counts per bucket start (seconds).
type Samples = HashMap<(String, usize), BTreeMap<i64, u64>>;

/// The handler.
pub(crate) async fn patterns(
    State(s): Shared,
    Tenant(tenant): Tenant,
    p: Params,
) -> Result<Json<Value>, ApiError> {
    let (start, end) = p.range(now_ns())?;
    let expr = p.log_selector()?;
    let step = match p.get("step") {
        Some(v) => parse_duration(v).map_err(|e| ApiError::bad_request(format!("invalid step: {e}")))?,
        None => ((end - start) / 250 / 1_000_000_000).max(1) * 1_000_000_000,
    };
    if step <= 0 {
        return Err(ApiError::bad_request(
            "zero or negative query resolution step widths are not accepted. Try a positive integer",
        ));
    }
    let started = Instant::now();
    let mut drain = Drain::new(DrainConfig::default());
    let mut samples: Samples = HashMap::new();
    let mut read = 0usize;
    let mut until = end;
    while read < MAX_LINES && started.elapsed() < TIME_BUDGET && until > start {
        let q = LogQuery {
            tenant: tenant.clone(),
            expr: expr.clone(),
            start,
            end: until,
            limit: PAGE,
            direction: Direction::Backward,
            stats: Arc::new(ScanStats::default()),
        };
        let streams = s.querier.select_logs_encoded(&q, true).await?;
        let mut page: Vec<(i64, String, String)> = Vec::new();
        for st in &streams {
            for e in &st.entries {
                let level = e
                    .metadata
                    .iter()
                    .find(|(k, _)| k == DETECTED_LEVEL)
                    .map(|(_, v)| v.clone())
                    .unwrap_or_else(|| level_of(&st.labels, &e.metadata, &e.line));
                page.push((e.ts, level, e.line.clone()));
            }
        }
        let n = page.len();
        let oldest = page.iter().map(|e| e.0).min();
        for (ts, level, line) in page {
            let Some((id, new)) = drain.train(&line) else {
                continue;
            };
            if new {
                samples.retain(|(_, c), _| *c != id);
            }
            let bucket = ts.div_euclid(step) * step / 1_000_000_000;
            *samples.entry((level, id)).or_default().entry(bucket).or_default() += 1;
        }
        read += n;
        match oldest {
            // A full page: continue before its oldest entry.
            Some(t) if n >= PAGE => until = t,
            _ => break,
        }
    }
    let mut rows: Vec<(u64, Value)> = samples
        .into_iter()
        .filter_map(|((level, id), buckets)| {
            let c = drain.cluster(id)?;
            let total: u64 = buckets.values().sum();
            let samples: Vec<Value> = buckets.into_iter().map(|(t, n)| json!([t, n])).collect();
            Some((
                total,
                json!({"pattern": c.pattern(), "level": level, "samples": samples}),
            ))
        })
        .collect();
    rows.sort_by(|a, b| {
        b.0.cmp(&a.0)
            .then_with(|| a.1["pattern"].as_str().cmp(&b.1["pattern"].as_str()))
    });
    Ok(Json(json!({
        "status": "success",
        "data": rows.into_iter().map(|r| r.1).collect::<Vec<_>>(),
    })))
}
