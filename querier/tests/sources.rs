//! The data-source contract: a source added with `Querier::with_source` answers for the stored
//! objects it claims (the chunk and block sources then never read them) and may return
//! candidates, which still go through the row filter and the whole pipeline: answers are
//! identical to a plain scan.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use common::{querier_with, scenario, Place, BASE, S};
use futures::future::BoxFuture;
use logq_querier::logql::parse_log_selector;
use logq_querier::{
    DataSource, Direction, LogQuery, QueryError, SourceKind, SourcePart, SourceRequest, SourceStreams,
    StoredObject, StreamResult,
};
use logq_storage::{matches_all, Entry, LabelSet, ScanStats, TenantId};

/// An "index" that answers for every chunk with every entry of the matching streams
/// (candidates: it ignores the line filters), as a history index would.
struct EveryEntry {
    streams: Vec<(LabelSet, Vec<Entry>)>,
    claimed: AtomicUsize,
    reads: AtomicUsize,
}

impl DataSource for EveryEntry {
    fn name(&self) -> &'static str {
        "every-entry"
    }

    fn kind(&self) -> SourceKind {
        SourceKind::Stored
    }

    fn plan(&self, _req: &SourceRequest<'_>, unclaimed: &mut Vec<StoredObject>) -> Vec<SourcePart> {
        let mine: Vec<StoredObject> = unclaimed
            .iter()
            .filter(|o| matches!(o, StoredObject::Chunk(_)))
            .cloned()
            .collect();
        unclaimed.retain(|o| !matches!(o, StoredObject::Chunk(_)));
        if mine.is_empty() {
            return Vec::new();
        }
        self.claimed.fetch_add(mine.len(), Ordering::Relaxed);
        let min_ts = mine.iter().map(|o| o.time_range().0).min().unwrap_or(0);
        let max_ts = mine.iter().map(|o| o.time_range().1).max().unwrap_or(0);
        vec![SourcePart {
            min_ts,
            max_ts,
            objects: mine,
        }]
    }

    fn read<'a>(
        &'a self,
        req: &'a SourceRequest<'a>,
        _part: &'a SourcePart,
    ) -> BoxFuture<'a, Result<SourceStreams, QueryError>> {
        self.reads.fetch_add(1, Ordering::Relaxed);
        let out = self
            .streams
            .iter()
            .filter(|(labels, _)| matches_all(req.matchers, labels))
            .cloned()
            .collect();
        Box::pin(async move { Ok(out) })
    }
}

async fn logs(q: &logq_querier::Querier, query: &str, direction: Direction) -> Vec<StreamResult> {
    q.select_logs(&LogQuery {
        tenant: TenantId::default_tenant(),
        expr: parse_log_selector(query).unwrap(),
        start: BASE,
        end: BASE + 120 * S,
        limit: 3,
        direction,
        stats: Arc::new(ScanStats::default()),
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_claiming_source_replaces_the_scan_of_its_objects() {
    let queries = [
        r#"{app="shop"}"#,
        r#"{app="shop"} |= "level=info""#,
        r#"{app="shop", env="prod"} |~ "status=[45]" | logfmt | latency > 100ms"#,
        r#"{app=~"shop|db"} != "json" | json | __error__="""#,
        r#"{app="shop", env="prod"} | logfmt | distinct level"#,
    ];
    let (plain, _) = querier_with(Place::Chunks).await;
    let mut want = Vec::new();
    for query in queries {
        for direction in [Direction::Forward, Direction::Backward] {
            want.push(logs(&plain, query, direction).await);
        }
    }
    let (q, manifests) = querier_with(Place::Chunks).await;
    // The chunks are gone from the store (still listed): only the claiming source can answer.
    let tenant = TenantId::default_tenant();
    for chunk in manifests.load(&tenant).await.unwrap().chunks {
        manifests.store().delete(&chunk.key).await.unwrap();
    }
    let index = Arc::new(EveryEntry {
        streams: scenario(),
        claimed: AtomicUsize::new(0),
        reads: AtomicUsize::new(0),
    });
    let q = q.with_source(index.clone());
    let mut got = Vec::new();
    for query in queries {
        for direction in [Direction::Forward, Direction::Backward] {
            got.push(logs(&q, query, direction).await);
        }
    }
    assert_eq!(got, want);
    assert!(want.iter().all(|streams| !streams.is_empty()));
    assert!(index.claimed.load(Ordering::Relaxed) >= queries.len() * 2);
    assert!(index.reads.load(Ordering::Relaxed) >= queries.len() * 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_claiming_source_the_missing_chunks_are_an_error() {
    let (q, manifests) = querier_with(Place::Chunks).await;
    let tenant = TenantId::default_tenant();
    for chunk in manifests.load(&tenant).await.unwrap().chunks {
        manifests.store().delete(&chunk.key).await.unwrap();
    }
    let err = q
        .select_logs(&LogQuery {
            tenant,
            expr: parse_log_selector(r#"{app="shop"}"#).unwrap(),
            start: BASE,
            end: BASE + 120 * S,
            limit: 3,
            direction: Direction::Backward,
            stats: Arc::new(ScanStats::default()),
        })
        .await
        .unwrap_err();
    assert!(matches!(err, QueryError::Storage(_)), "{err:?}");
}

/// `distinct` state belongs to one execution: the same query run twice answers the same.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn distinct_state_is_per_execution() {
    let (q, _) = querier_with(Place::Memory).await;
    let query = LogQuery {
        tenant: TenantId::default_tenant(),
        expr: parse_log_selector(r#"{app="shop", env="prod"} | logfmt | distinct level"#).unwrap(),
        start: BASE,
        end: BASE + 120 * S,
        limit: 100,
        direction: Direction::Forward,
        stats: Arc::new(ScanStats::default()),
    };
    let first = q.select_logs(&query).await.unwrap();
    let again = q.select_logs(&query.clone()).await.unwrap();
    let lines = |r: &[StreamResult]| r.iter().map(|s| s.entries.len()).sum::<usize>();
    assert_eq!(lines(&first), 3, "one line per level: {first:?}");
    assert_eq!(again, first);
}
