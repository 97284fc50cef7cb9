//! A block rewritten for a delete request keeps its kind: an hour block is re-encoded as the
//! compactor encodes hour blocks, a day block as it encodes day blocks (with the compactor's
//! configured options, not the defaults), and nothing but the deleted entries changes.

mod common;

use std::time::Duration;

use bytes::Bytes;
use common::*;
use logq_compactor::{Compactor, CompactorConfig};
use logq_storage::{BlockOptions, DeleteRequest, LabelSet, LineTest, ManifestStore, Store, TenantId};
use parquet::file::reader::{FileReader, SerializedFileReader};

/// Row groups of these sizes tell the kinds' encodings apart in the written files.
const HOUR_ROW_GROUP: usize = 70;
const DAY_ROW_GROUP: usize = 110;

fn tenant() -> TenantId {
    TenantId::new("t").unwrap()
}

fn config(day_blocks: bool) -> CompactorConfig {
    CompactorConfig {
        delete_grace: Duration::ZERO,
        hour_grace: Duration::ZERO,
        day_grace: day_blocks.then_some(Duration::ZERO),
        hour_blocks: BlockOptions {
            row_group_rows: HOUR_ROW_GROUP,
            ..BlockOptions::hour()
        },
        day_blocks: BlockOptions {
            row_group_rows: DAY_ROW_GROUP,
            ..BlockOptions::day()
        },
        ..Default::default()
    }
}

fn labels(app: &str) -> LabelSet {
    LabelSet::parse(&format!("{{app=\"{app}\"}}")).unwrap()
}

/// Two hours of an old day, two streams.
fn chunks(day: i64) -> Vec<ChunkInput> {
    [1, 5]
        .into_iter()
        .enumerate()
        .map(|(i, h)| ChunkInput {
            source: "wal".into(),
            seq: i as u64,
            streams: vec![
                (
                    labels("web"),
                    entries("web", day + h * HOUR_NS, 300, 1000 * h as u64),
                ),
                (
                    labels("db"),
                    entries("db", day + h * HOUR_NS + 3, 200, 50_000 + h as u64),
                ),
            ],
        })
        .collect()
}

fn delete_request(day: i64) -> DeleteRequest {
    DeleteRequest {
        id: "d1".into(),
        query: "{app=\"web\"} |= \"needle\"".into(),
        matchers: vec![("app".into(), "=".into(), "web".into())],
        line_tests: vec![(LineTest::Contains, "needle".into())],
        start: day,
        end: day + DAY_NS,
        created: day,
        processed: false,
    }
}

/// Rows of each row group of every block the manifest lists, by block key.
async fn row_groups(store: &Store) -> Vec<(String, Vec<usize>)> {
    let m = ManifestStore::new(store.clone()).load(&tenant()).await.unwrap();
    let mut out = Vec::new();
    for b in &m.blocks {
        let data: Bytes = store.get(&b.key).await.unwrap();
        let reader = SerializedFileReader::new(data).unwrap();
        let rows = reader
            .metadata()
            .row_groups()
            .iter()
            .map(|rg| rg.num_rows() as usize)
            .collect();
        out.push((b.key.clone(), rows));
    }
    out
}

/// Whether row groups are those of a writer cutting them at `size` rows.
fn cut_at(rows: &[usize], size: usize) -> bool {
    let (last, full) = rows.split_last().unwrap();
    full.iter().all(|&r| r == size) && *last <= size && rows.len() > 1
}

async fn run(day_blocks: bool) {
    let day = old_day();
    let store = Store::in_memory();
    let ms = ManifestStore::new(store.clone());
    put_chunks(&ms, &tenant(), &chunks(day)).await;
    let compactor = Compactor::new(ms.clone(), config(day_blocks));
    compactor.run_once().await.unwrap();
    let before = row_groups(&store).await;
    let (kind, size) = if day_blocks {
        ("day", DAY_ROW_GROUP)
    } else {
        ("hour", HOUR_ROW_GROUP)
    };
    assert_eq!(before.len(), if day_blocks { 1 } else { 2 });
    for (key, rows) in &before {
        assert!(cut_at(rows, size), "{kind} block {key} as written: {rows:?}");
    }
    let want: Vec<_> = dedup(read_all(&store, &tenant()).await)
        .0
        .into_iter()
        .filter(|((l, _, _), e)| !(l.contains("web") && e.line.contains("needle")))
        .collect();

    let req = delete_request(day);
    ms.update(&tenant(), |m| m.delete_requests.push(req.clone()))
        .await
        .unwrap();
    let report = compactor.run_once().await.unwrap();
    assert_eq!(report.blocks_rewritten, before.len(), "{kind}");
    let after = row_groups(&store).await;
    assert_eq!(after.len(), before.len());
    for (key, rows) in &after {
        assert!(key.contains("-d.parquet"), "{key} is a rewrite");
        assert_eq!(key.contains("/day-"), day_blocks, "{key} keeps its kind");
        assert!(cut_at(rows, size), "rewritten {kind} block {key}: {rows:?}");
    }
    let (got, extra) = dedup(read_all(&store, &tenant()).await);
    assert_eq!(extra, 0);
    assert_eq!(got.into_iter().collect::<Vec<_>>(), want, "{kind}");
}

#[tokio::test]
async fn rewritten_hour_blocks_keep_the_hour_encoding() {
    run(false).await;
}

#[tokio::test]
async fn rewritten_day_blocks_keep_the_day_encoding() {
    run(true).await;
}
