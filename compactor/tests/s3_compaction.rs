//! A whole compaction pass (hour blocks, day block, deletion of the inputs, a delete request)
//! against the real S3-compatible test server (`LOGQ_TEST_S3_ENDPOINT`; skipped with a message
//! when unset): the compactor relies only on what the store contract guarantees.

mod common;

use std::time::Duration;

use common::*;
use logq_compactor::{Compactor, CompactorConfig};
use logq_storage::testsuite::s3_test_store;
use logq_storage::{DeleteRequest, LabelSet, LineTest, ManifestStore, TenantId};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compaction_and_delete_requests_on_s3() {
    let Some(store) = s3_test_store("compaction_on_s3") else {
        return;
    };
    let ms = ManifestStore::new(store.clone());
    let tenant = TenantId::new("t").unwrap();
    let day = old_day();
    let web = LabelSet::parse("{app=\"web\"}").unwrap();
    let chunks: Vec<ChunkInput> = (0..3)
        .map(|h| ChunkInput {
            source: "wal".into(),
            seq: h as u64,
            streams: vec![(
                web.clone(),
                entries("web", day + h * 4 * HOUR_NS, 300, h as u64 * 250),
            )],
        })
        .collect();
    put_chunks(&ms, &tenant, &chunks).await;
    let want = dedup(
        chunks
            .iter()
            .flat_map(|c| c.streams.clone())
            .flat_map(|(l, es)| es.into_iter().map(move |e| (l.clone(), e))),
    )
    .0;
    let config = CompactorConfig {
        delete_grace: Duration::ZERO,
        hour_grace: Duration::ZERO,
        day_grace: Some(Duration::ZERO),
        ..Default::default()
    };
    let report = Compactor::new(ms.clone(), config.clone())
        .run_once()
        .await
        .unwrap();
    assert_eq!((report.blocks_written, report.day_blocks_written), (3, 1));
    let (got, extra) = dedup(read_all(&store, &tenant).await);
    assert_eq!((got, extra), (want.clone(), 0));
    assert!(keys(&store, "t/chunks").await.is_empty());
    assert_eq!(
        keys(&store, "t/blocks").await.len(),
        2,
        "one day block and its index"
    );

    ms.update(&tenant, |m| {
        m.delete_requests.push(DeleteRequest {
            id: "d".into(),
            query: "{app=\"web\"} |= \"needle\"".into(),
            matchers: vec![("app".into(), "=".into(), "web".into())],
            line_tests: vec![(LineTest::Contains, "needle".into())],
            start: day,
            end: day + DAY_NS,
            created: day,
            processed: false,
        })
    })
    .await
    .unwrap();
    let report = Compactor::new(ms.clone(), config).run_once().await.unwrap();
    assert_eq!(report.blocks_rewritten, 1);
    let (got, extra) = dedup(read_all(&store, &tenant).await);
    let want: std::collections::BTreeMap<_, _> = want
        .into_iter()
        .filter(|(_, e)| !e.line.contains("needle"))
        .collect();
    assert!(!want.is_empty());
    assert_eq!((got, extra), (want, 0));
    assert_eq!(keys(&store, "t/blocks").await.len(), 2, "old day block deleted");
}
