//! Several ingester heads (a distributed querier's `--ingesters`): one that cannot be read is
//! left out with a warning instead of failing the query, and entries held by two heads (two
//! ingesters around a rebalance) come back once.

mod common;

use std::sync::Arc;

use common::{MemoryHead, BASE, S};
use futures::future::BoxFuture;
use logq_querier::logql::{parse, parse_log_selector, Expr};
use logq_querier::{
    collect_warnings, evaluate, DataSource, Direction, HeadSource, LogQuery, MetricResult, Querier,
    QueryLimits, SourceRequest,
};
use logq_storage::{
    Entry, HeadReadError, HeadReader, HeadStreamStat, HeadStreams, LabelMatcher, LabelSet, ManifestStore,
    RowFilter, ScanStats, Store, TenantId,
};

/// A head whose ingester is down.
struct DeadHead;

const REFUSED: &str = "ingester http://127.0.0.1:9: Connection refused";

impl HeadReader for DeadHead {
    fn select<'a>(
        &'a self,
        _: &'a TenantId,
        _: &'a [LabelMatcher],
        _: i64,
        _: i64,
    ) -> BoxFuture<'a, Result<HeadStreams, HeadReadError>> {
        Box::pin(async { Err(HeadReadError(REFUSED.into())) })
    }

    fn stream_stats<'a>(
        &'a self,
        _: &'a TenantId,
        _: &'a [LabelMatcher],
        _: i64,
        _: i64,
    ) -> BoxFuture<'a, Result<Vec<HeadStreamStat>, HeadReadError>> {
        Box::pin(async { Err(HeadReadError(REFUSED.into())) })
    }
}

fn entry(ts: i64, id: u64) -> Entry {
    Entry {
        ts,
        id,
        line: format!("line {id}"),
        metadata: Vec::new(),
    }
}

fn labels() -> LabelSet {
    LabelSet::parse(r#"{service="api"}"#).unwrap()
}

/// Entries `from..to` (one a second) of `{service="api"}`.
fn head(from: i64, to: i64) -> MemoryHead {
    MemoryHead(vec![(
        labels(),
        (from..to).map(|i| entry(BASE + i * S, i as u64)).collect(),
    )])
}

fn querier(heads: Vec<Arc<dyn HeadReader>>) -> Querier {
    let mut heads = heads.into_iter();
    let first = heads.next().expect("a head");
    heads.fold(
        Querier::new(
            first,
            ManifestStore::new(Store::in_memory()),
            QueryLimits::default(),
        ),
        |q, h| q.with_head(h),
    )
}

fn log_query(limit: usize) -> LogQuery {
    LogQuery {
        tenant: TenantId::default_tenant(),
        expr: parse_log_selector(r#"{service="api"}"#).unwrap(),
        start: BASE,
        end: BASE + 3600 * S,
        limit,
        direction: Direction::Forward,
        stats: Arc::new(ScanStats::default()),
    }
}

fn ids(streams: &[logq_querier::StreamResult]) -> Vec<u64> {
    streams
        .iter()
        .flat_map(|s| s.entries.iter().map(|e| e.id))
        .collect()
}

#[tokio::test]
async fn a_dead_head_is_left_out_with_a_warning() {
    let q = querier(vec![Arc::new(DeadHead), Arc::new(head(0, 10))]);
    let (answer, warnings) = collect_warnings(q.select_logs(&log_query(100))).await;
    assert_eq!(ids(&answer.unwrap()), (0..10).collect::<Vec<_>>());
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(warnings[0].contains(REFUSED), "{warnings:?}");

    let tenant = TenantId::default_tenant();
    let (series, warnings) = collect_warnings(q.series(&tenant, &[], BASE, BASE + 3600 * S)).await;
    // (`MemoryHead` answers no stream stats: only the dead head's warning matters here.)
    series.unwrap();
    assert!(warnings[0].contains(REFUSED), "{warnings:?}");

    let Expr::Sample(expr) = parse(r#"count_over_time({service="api"}[1h])"#).unwrap() else {
        panic!("a metric query")
    };
    let scanned = Arc::new(ScanStats::default());
    let steps = [BASE + 1800 * S];
    let (result, warnings) =
        collect_warnings(evaluate(&q, &tenant, &expr, &steps, true, 500, &scanned)).await;
    let MetricResult::Matrix(series) = result.unwrap() else {
        panic!("a vector")
    };
    assert_eq!(series[0].points[0].1, 10.0);
    assert!(warnings[0].contains(REFUSED), "{warnings:?}");

    // A caller that cannot tell its client gets the failure, never a silently partial answer.
    let err = q.select_logs(&log_query(100)).await.unwrap_err();
    assert!(err.to_string().contains(REFUSED), "{err}");
}

#[tokio::test]
async fn entries_held_by_two_heads_come_back_once() {
    // Entries 5..10 are in both heads, as around a rebalance.
    let heads: Vec<Arc<dyn HeadReader>> = vec![Arc::new(head(0, 10)), Arc::new(head(5, 15))];
    let source = HeadSource::new(heads.clone());
    let filter = RowFilter {
        start: BASE,
        end: BASE + 3600 * S,
        ..RowFilter::all()
    };
    let req = SourceRequest {
        tenant: &TenantId::default_tenant(),
        matchers: &[],
        filter: &filter,
        line_filters: &[],
        direction: Direction::Forward,
    };
    let mut all = Vec::new();
    for part in source.plan(&req, &mut Vec::new()) {
        all.extend(source.read(&req, &part).await.unwrap());
    }
    let got: Vec<u64> = all.iter().flat_map(|(_, es)| es.iter().map(|e| e.id)).collect();
    assert_eq!(got, (0..15).collect::<Vec<_>>());

    let q = querier(heads);
    let (answer, warnings) = collect_warnings(q.select_logs(&log_query(100))).await;
    assert_eq!(ids(&answer.unwrap()), (0..15).collect::<Vec<_>>());
    assert!(warnings.is_empty(), "{warnings:?}");
}
