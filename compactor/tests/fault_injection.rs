//! Crash safety: a compaction pass (hour blocks, then the day block, then deleting inputs) and
//! a delete-request rewrite are run with a fault injected at every store operation in turn
//! (each put, delete and get; failed before or aborted after it happened; the store "down"
//! afterwards, as if the process died). After every fault:
//! - what the manifest lists is readable and holds every accepted entry (readers never see a
//!   missing object or a missing entry),
//! - one fresh compactor pass without faults completes, and then every entry is stored exactly
//!   once, nothing is left in chunks, and no object is left that the manifest does not list.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::*;
use logq_compactor::{Compactor, CompactorConfig};
use logq_storage::testsuite::{FaultKind, FaultPlan, FaultyStore};
use logq_storage::{DeleteRequest, Entry, LabelSet, LineTest, ManifestStore, Store, TenantId};

fn tenant() -> TenantId {
    TenantId::new("t").unwrap()
}

fn config() -> CompactorConfig {
    CompactorConfig {
        delete_grace: Duration::ZERO,
        hour_grace: Duration::ZERO,
        day_grace: Some(Duration::ZERO),
        ..Default::default()
    }
}

fn labels(app: &str) -> LabelSet {
    LabelSet::parse(&format!("{{app=\"{app}\", env=\"prod\"}}")).unwrap()
}

/// Chunks over two hours of an old day, with a replayed (overlapping) chunk.
fn chunks(day: i64) -> Vec<ChunkInput> {
    let (h1, h5) = (day + HOUR_NS, day + 5 * HOUR_NS);
    vec![
        ChunkInput {
            source: "wal".into(),
            seq: 1,
            streams: vec![
                (labels("web"), entries("web", h1, 200, 0)),
                (labels("db"), entries("db", h1, 50, 10_000)),
            ],
        },
        // A replay after a crash: half of it was already flushed in chunk 1.
        ChunkInput {
            source: "wal".into(),
            seq: 2,
            streams: vec![(labels("web"), entries("web", h1 + 100 * 1_000_000, 200, 100))],
        },
        ChunkInput {
            source: "wal".into(),
            seq: 3,
            streams: vec![
                (labels("web"), entries("web", h5, 100, 1_000)),
                (labels("db"), entries("db", h5 + 7, 80, 20_000)),
            ],
        },
    ]
}

fn expected(day: i64) -> BTreeMap<EntryKey, Entry> {
    dedup(
        chunks(day)
            .into_iter()
            .flat_map(|c| c.streams)
            .flat_map(|(l, es)| es.into_iter().map(move |e| (l.clone(), e))),
    )
    .0
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

/// What must remain after the delete request.
fn expected_after_delete(day: i64) -> BTreeMap<EntryKey, Entry> {
    expected(day)
        .into_iter()
        .filter(|((l, _, _), e)| !(l.contains("app=\"web\"") && e.line.contains("needle")))
        .collect()
}

/// A store with the chunks written, plus (for the delete scenario) compacted and with the
/// delete request recorded.
async fn setup(day: i64, with_delete: bool) -> Store {
    let store = Store::in_memory();
    let ms = ManifestStore::new(store.clone());
    put_chunks(&ms, &tenant(), &chunks(day)).await;
    if with_delete {
        Compactor::new(ms.clone(), config()).run_once().await.unwrap();
        let req = delete_request(day);
        ms.update(&tenant(), |m| m.delete_requests.push(req.clone()))
            .await
            .unwrap();
    }
    store
}

/// The invariants after the clean pass that follows a fault.
async fn check_recovered(store: &Store, want: &BTreeMap<EntryKey, Entry>, what: &str) {
    let (got, extra) = dedup(read_all(store, &tenant()).await);
    assert_eq!(extra, 0, "{what}: entries stored more than once");
    assert_eq!(&got, want, "{what}: stored entries differ");
    let m = ManifestStore::new(store.clone()).load(&tenant()).await.unwrap();
    assert!(m.chunks.is_empty(), "{what}: chunks left in the manifest");
    assert_eq!(m.blocks.len(), 1, "{what}: the day is one block");
    assert!(m.pending_deletes.is_empty(), "{what}: {:?}", m.pending_deletes);
    assert!(
        keys(store, "t/chunks").await.is_empty(),
        "{what}: chunk objects left"
    );
    let mut listed = vec![m.blocks[0].key.clone(), m.blocks[0].index_key.clone()];
    listed.sort();
    assert_eq!(
        keys(store, "t/blocks").await,
        listed,
        "{what}: orphaned block objects"
    );
}

fn all_ops(at: u64, kind: FaultKind) -> FaultPlan {
    FaultPlan {
        puts: true,
        deletes: true,
        gets: true,
        at,
        kind,
        crash: true,
    }
}

/// Runs `pass` (one compactor pass) with a fault at every operation in turn.
async fn every_fault(with_delete: bool) {
    let day = old_day();
    let (want_mid, want_end) = if with_delete {
        // Until the rewrite, the deleted entries are still stored (queries hide them).
        (expected(day), expected_after_delete(day))
    } else {
        (expected(day), expected(day))
    };
    // Count the operations of a clean pass.
    let base = setup(day, with_delete).await;
    let counter = FaultyStore::new(base.object_store(), all_ops(0, FaultKind::Fail));
    let report = Compactor::new(ManifestStore::new(counter.store()), config())
        .run_once()
        .await
        .unwrap();
    if with_delete {
        assert_eq!(report.blocks_rewritten, 1);
    } else {
        assert_eq!((report.blocks_written, report.day_blocks_written), (2, 1));
    }
    check_recovered(&base, &want_end, "clean pass").await;
    let total = counter.count();
    assert!(total > 10, "a pass does more than {total} operations");
    println!("{} operations in a clean pass: {:?}", total, counter.log());

    for kind in [FaultKind::Fail, FaultKind::Abort] {
        for at in 1..=total {
            let what = format!(
                "fault {kind:?} at operation {at} ({})",
                counter.log()[at as usize - 1]
            );
            let base = setup(day, with_delete).await;
            let faulty = FaultyStore::new(base.object_store(), all_ops(at, kind));
            let result = Compactor::new(ManifestStore::new(faulty.store()), config())
                .run_once()
                .await;
            assert!(faulty.faulted(), "{what}: the fault never struck");
            assert!(result.is_err(), "{what}: the pass reported success");
            // Readers of whatever manifest is current see every entry.
            let (mid, _) = dedup(read_all(&base, &tenant()).await);
            if with_delete {
                // Deleted entries may already be gone; nothing else may be.
                for (k, e) in &want_end {
                    assert_eq!(mid.get(k), Some(e), "{what}: entry lost mid-way");
                }
                assert!(
                    mid.keys().all(|k| want_mid.contains_key(k)),
                    "{what}: unknown entry"
                );
            } else {
                assert_eq!(mid, want_mid, "{what}: entries lost or changed mid-way");
            }
            // A fresh pass without faults finishes the job.
            Compactor::new(ManifestStore::new(base.clone()), config())
                .run_once()
                .await
                .unwrap_or_else(|e| panic!("{what}: recovery pass failed: {e}"));
            check_recovered(&base, &want_end, &what).await;
            if with_delete {
                let m = ManifestStore::new(base.clone()).load(&tenant()).await.unwrap();
                assert!(m.delete_requests.iter().all(|d| d.processed), "{what}");
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compaction_survives_a_fault_at_every_operation() {
    every_fault(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_rewrite_survives_a_fault_at_every_operation() {
    every_fault(true).await;
}
