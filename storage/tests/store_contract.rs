//! The object-store contract: the same functions run against every backend logq supports (the
//! local filesystem, in-memory, and a real S3-compatible server when `LOGQ_TEST_S3_ENDPOINT` is
//! set; `scripts/s3-server.sh` starts one, `scripts/test.sh` always does). Each function states
//! one property the manifest, the ingester, the compactor or the querier relies on.

use std::collections::BTreeSet;
use std::sync::Arc;

use bytes::Bytes;
use logq_storage::testsuite::{s3_test_store, FaultPlan, FaultyStore};
use logq_storage::{
    encode_chunk, read_block_streams, read_block_streams_ranged, read_chunk_footer, read_chunk_streams,
    write_block, BlockIndex, ChunkRef, Entry, IndexedStream, LabelSet, ManifestStore, RowFilter,
    StorageErrorKind, Store, TenantId,
};

/// A backend under test; holds what must outlive the store (a temporary directory).
struct Backend {
    store: Store,
    _dir: Option<tempfile::TempDir>,
}

fn local() -> Option<Backend> {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&format!("file://{}", dir.path().display())).unwrap();
    Some(Backend {
        store,
        _dir: Some(dir),
    })
}

fn memory() -> Option<Backend> {
    Some(Backend {
        store: Store::open("memory://").unwrap(),
        _dir: None,
    })
}

fn s3(test: &str) -> Option<Backend> {
    s3_test_store(test).map(|store| Backend { store, _dir: None })
}

/// Runs each listed contract function on each backend, as `<backend>::<function>` tests.
macro_rules! contract_suite {
    ($($name:ident),* $(,)?) => {
        mod local_fs {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let b = super::local().unwrap();
                super::$name(b.store.clone()).await;
            })*
        }
        mod in_memory {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let b = super::memory().unwrap();
                super::$name(b.store.clone()).await;
            })*
        }
        mod s3 {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let Some(b) = super::s3(stringify!($name)) else { return };
                super::$name(b.store.clone()).await;
            })*
        }
    };
}

contract_suite!(
    put_get_and_overwrite,
    ranged_get,
    list_is_recursive_sorted_and_segment_wise,
    delete_is_idempotent_and_missing_is_not_found,
    create_only_put_never_overwrites,
    concurrent_create_only_puts_have_one_winner,
    create_only_check_passes,
    manifest_updates_race_and_all_land,
    chunk_round_trip_with_ranged_reads,
    block_round_trip_with_ranged_reads,
);

async fn put_get_and_overwrite(store: Store) {
    store.put("t/x/a", Bytes::from_static(b"first")).await.unwrap();
    assert_eq!(&store.get("t/x/a").await.unwrap()[..], b"first");
    store
        .put("t/x/a", Bytes::from_static(b"second, longer"))
        .await
        .unwrap();
    assert_eq!(&store.get("t/x/a").await.unwrap()[..], b"second, longer");
    // Empty and binary objects survive unchanged.
    store.put("t/x/empty", Bytes::new()).await.unwrap();
    assert!(store.get("t/x/empty").await.unwrap().is_empty());
    let binary: Vec<u8> = (0..=255u8).cycle().take(100_000).collect();
    store.put("t/x/bin", Bytes::from(binary.clone())).await.unwrap();
    assert_eq!(store.get("t/x/bin").await.unwrap(), binary);
}

async fn ranged_get(store: Store) {
    let data: Vec<u8> = (0..10_000u32).flat_map(|i| i.to_le_bytes()).collect();
    store.put("t/r", Bytes::from(data.clone())).await.unwrap();
    for range in [0..1, 0..4, 3..17, 39_000..40_000, 12_345..23_456] {
        let got = store
            .get_range("t/r", range.start as u64..range.end as u64)
            .await
            .unwrap();
        assert_eq!(got, data[range.clone()], "range {range:?}");
    }
    let err = store.get_range("t/missing", 0..4).await.unwrap_err();
    assert_eq!(err.kind, StorageErrorKind::NotFound, "{err}");
    assert!(err.to_string().contains("t/missing"), "{err}");
}

async fn list_is_recursive_sorted_and_segment_wise(store: Store) {
    for key in ["t/b/2", "t/a/1", "t/a/sub/3", "t/ab/4", "u/5"] {
        store.put(key, Bytes::from_static(b"x")).await.unwrap();
    }
    let keys = |v: Vec<logq_storage::ObjectInfo>| v.into_iter().map(|o| o.path).collect::<Vec<_>>();
    assert_eq!(
        keys(store.list("t").await.unwrap()),
        ["t/a/1", "t/a/sub/3", "t/ab/4", "t/b/2"]
    );
    // A prefix is a path segment: "t/a" does not list "t/ab".
    assert_eq!(keys(store.list("t/a").await.unwrap()), ["t/a/1", "t/a/sub/3"]);
    assert_eq!(store.list("t/a").await.unwrap()[0].size, 1);
    assert_eq!(store.list_dirs("t").await.unwrap(), ["a", "ab", "b"]);
    assert_eq!(store.list_dirs("").await.unwrap(), ["t", "u"]);
    assert!(store.list("nothing").await.unwrap().is_empty());
    assert!(store.list_dirs("nothing").await.unwrap().is_empty());
}

async fn delete_is_idempotent_and_missing_is_not_found(store: Store) {
    store.put("t/d", Bytes::from_static(b"x")).await.unwrap();
    store.delete("t/d").await.unwrap();
    store.delete("t/d").await.unwrap();
    store.delete("t/never-existed").await.unwrap();
    let err = store.get("t/d").await.unwrap_err();
    assert_eq!(err.kind, StorageErrorKind::NotFound);
    assert!(err.to_string().contains("t/d"), "{err}");
    assert!(store.list("t").await.unwrap().is_empty());
}

async fn create_only_put_never_overwrites(store: Store) {
    assert!(store
        .put_if_absent("t/m/1", Bytes::from_static(b"one"))
        .await
        .unwrap());
    assert!(!store
        .put_if_absent("t/m/1", Bytes::from_static(b"two"))
        .await
        .unwrap());
    assert_eq!(&store.get("t/m/1").await.unwrap()[..], b"one");
    // After a delete the key is free again.
    store.delete("t/m/1").await.unwrap();
    assert!(store
        .put_if_absent("t/m/1", Bytes::from_static(b"three"))
        .await
        .unwrap());
    assert_eq!(&store.get("t/m/1").await.unwrap()[..], b"three");
}

async fn concurrent_create_only_puts_have_one_winner(store: Store) {
    for round in 0..3 {
        let key = format!("t/race/{round}");
        let tasks: Vec<_> = (0..8)
            .map(|i| {
                let (store, key) = (store.clone(), key.clone());
                tokio::spawn(async move {
                    let won = store
                        .put_if_absent(&key, Bytes::from(format!("writer {i}")))
                        .await
                        .unwrap();
                    (i, won)
                })
            })
            .collect();
        let mut winners = Vec::new();
        for t in tasks {
            let (i, won) = t.await.unwrap();
            if won {
                winners.push(i);
            }
        }
        assert_eq!(winners.len(), 1, "round {round}: winners {winners:?}");
        let content = store.get(&key).await.unwrap();
        assert_eq!(content, format!("writer {}", winners[0]).into_bytes());
    }
}

async fn create_only_check_passes(store: Store) {
    store.check_create_only().await.unwrap();
    // The probe leaves nothing behind.
    assert!(store.list("").await.unwrap().is_empty());
    assert!(store.list_dirs("").await.unwrap().is_empty());
}

/// A store that ignores create-only puts (as some S3-compatible servers ignore
/// `If-None-Match`): the startup check must refuse it.
#[derive(Debug)]
struct IgnoresCreateOnly(object_store::memory::InMemory);

impl std::fmt::Display for IgnoresCreateOnly {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "IgnoresCreateOnly")
    }
}

#[async_trait::async_trait]
impl object_store::ObjectStore for IgnoresCreateOnly {
    async fn put_opts(
        &self,
        location: &object_store::path::Path,
        payload: object_store::PutPayload,
        _opts: object_store::PutOptions,
    ) -> object_store::Result<object_store::PutResult> {
        self.0
            .put_opts(location, payload, object_store::PutOptions::default())
            .await
    }

    async fn put_multipart_opts(
        &self,
        location: &object_store::path::Path,
        opts: object_store::PutMultipartOptions,
    ) -> object_store::Result<Box<dyn object_store::MultipartUpload>> {
        self.0.put_multipart_opts(location, opts).await
    }

    async fn get_opts(
        &self,
        location: &object_store::path::Path,
        options: object_store::GetOptions,
    ) -> object_store::Result<object_store::GetResult> {
        self.0.get_opts(location, options).await
    }

    fn delete_stream(
        &self,
        locations: futures::stream::BoxStream<'static, object_store::Result<object_store::path::Path>>,
    ) -> futures::stream::BoxStream<'static, object_store::Result<object_store::path::Path>> {
        self.0.delete_stream(locations)
    }

    fn list(
        &self,
        prefix: Option<&object_store::path::Path>,
    ) -> futures::stream::BoxStream<'static, object_store::Result<object_store::ObjectMeta>> {
        self.0.list(prefix)
    }

    async fn list_with_delimiter(
        &self,
        prefix: Option<&object_store::path::Path>,
    ) -> object_store::Result<object_store::ListResult> {
        self.0.list_with_delimiter(prefix).await
    }

    async fn copy_opts(
        &self,
        from: &object_store::path::Path,
        to: &object_store::path::Path,
        options: object_store::CopyOptions,
    ) -> object_store::Result<()> {
        self.0.copy_opts(from, to, options).await
    }
}

#[tokio::test]
async fn a_store_ignoring_create_only_puts_is_refused() {
    let store = Store::from_object_store(
        Arc::new(IgnoresCreateOnly(object_store::memory::InMemory::new())),
        "s3://careless",
    );
    let err = store.check_create_only().await.unwrap_err();
    assert_eq!(err.kind, StorageErrorKind::Config);
    assert!(err.to_string().contains("s3://careless"), "{err}");
}

fn chunk_ref(key: &str) -> ChunkRef {
    ChunkRef {
        key: key.into(),
        size: 1,
        window_start: 0,
        min_ts: 0,
        max_ts: 1,
        entries: 1,
    }
}

async fn manifest_updates_race_and_all_land(store: Store) {
    let ms = ManifestStore::new(store);
    let tenant = TenantId::new("racer").unwrap();
    let tasks: Vec<_> = (0..12)
        .map(|i| {
            let (ms, tenant) = (ms.clone(), tenant.clone());
            tokio::spawn(async move {
                ms.update(&tenant, |m| m.chunks.push(chunk_ref(&format!("c{i}"))))
                    .await
                    .unwrap()
                    .version
            })
        })
        .collect();
    let mut versions = BTreeSet::new();
    for t in tasks {
        versions.insert(t.await.unwrap());
    }
    // Every writer got its own version: 1..=12, none lost or shared.
    assert_eq!(versions, (1..=12).collect());
    let m = ms.load(&tenant).await.unwrap();
    assert_eq!(m.version, 12);
    let keys: BTreeSet<String> = m.chunks.iter().map(|c| c.key.clone()).collect();
    assert_eq!(keys, (0..12).map(|i| format!("c{i}")).collect());
    assert_eq!(ms.tenants().await.unwrap(), [tenant]);
}

fn stream(app: &str, n: i64, line_len: usize) -> (LabelSet, Vec<Entry>) {
    let labels = LabelSet::parse(&format!("{{app=\"{app}\", env=\"test\"}}")).unwrap();
    let entries = (0..n)
        .map(|i| Entry {
            ts: 1_700_000_000_000_000_000 + i * 1_000_000,
            id: i as u64 * 7919,
            line: format!("{app} line {i} {}", "x".repeat(line_len)),
            metadata: if i % 3 == 0 {
                vec![("trace".into(), format!("t{i}"))]
            } else {
                vec![]
            },
        })
        .collect();
    (labels, entries)
}

async fn chunk_round_trip_with_ranged_reads(store: Store) {
    let input = vec![stream("a", 500, 20), stream("b", 3, 5), stream("c", 200, 50)];
    let (bytes, footer) = encode_chunk(0, &input).unwrap();
    let size = bytes.len() as u64;
    store
        .put("t/chunks/0/src-1.chunk", Bytes::from(bytes))
        .await
        .unwrap();
    let read_footer = read_chunk_footer(&store, "t/chunks/0/src-1.chunk", size)
        .await
        .unwrap();
    assert_eq!(read_footer, footer);
    let got = read_chunk_streams(&store, "t/chunks/0/src-1.chunk", &read_footer, |m| {
        m.labels.get("app") != Some("b")
    })
    .await
    .unwrap();
    assert_eq!(got.len(), 2);
    for (meta, entries) in got {
        let want = &input.iter().find(|(l, _)| *l == meta.labels).unwrap().1;
        assert_eq!(&entries, want);
    }
    // A wrong size is an error naming the object, not a panic.
    let err = read_chunk_footer(&store, "t/chunks/0/src-1.chunk", size - 3)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("t/chunks/0/src-1.chunk"), "{err}");
}

async fn block_round_trip_with_ranged_reads(store: Store) {
    let input = vec![
        stream("big", 60_000, 100),
        stream("small", 50, 10),
        stream("mid", 5_000, 40),
    ];
    let (bytes, index) = write_block(input.clone()).unwrap();
    let size = bytes.len() as u64;
    store.put("t/blocks/b.parquet", Bytes::from(bytes)).await.unwrap();
    store
        .put("t/blocks/b.index", Bytes::from(index.encode().unwrap()))
        .await
        .unwrap();
    let index =
        BlockIndex::decode("t/blocks/b.index", &store.get("t/blocks/b.index").await.unwrap()).unwrap();
    let all: Vec<&IndexedStream> = index.streams.iter().collect();
    // Whole-object read and ranged read agree with the input.
    let whole = read_block_streams(
        "t/blocks/b.parquet",
        store.get("t/blocks/b.parquet").await.unwrap(),
        &all,
    )
    .unwrap();
    let ranged = read_block_streams_ranged(&store, "t/blocks/b.parquet", size, &all, &RowFilter::all())
        .await
        .unwrap();
    assert_eq!(whole, ranged);
    for (s, entries) in all.iter().zip(&ranged) {
        assert_eq!(entries, &input.iter().find(|(l, _)| *l == s.labels).unwrap().1);
    }
    // Reading one small stream fetches only a small part of the block.
    let counting = FaultyStore::new(
        store.object_store(),
        FaultPlan {
            gets: true,
            ..FaultPlan::count_writes()
        },
    );
    let small: Vec<&IndexedStream> = index
        .streams
        .iter()
        .filter(|s| s.labels.get("app") == Some("small"))
        .collect();
    let filter = RowFilter {
        start: 1_700_000_000_000_000_000 + 10 * 1_000_000,
        end: 1_700_000_000_000_000_000 + 20 * 1_000_000,
        line: Some(Arc::new(|l: &str| !l.contains("line 15 "))),
        ..RowFilter::all()
    };
    let got = read_block_streams_ranged(&counting.store(), "t/blocks/b.parquet", size, &small, &filter)
        .await
        .unwrap();
    let want: Vec<Entry> = input[1]
        .1
        .iter()
        .filter(|e| filter.keeps(e.ts, &e.line))
        .cloned()
        .collect();
    assert_eq!(got, [want]);
    assert!(
        counting.bytes_read() * 4 < size,
        "read {} of {size} bytes for one small stream",
        counting.bytes_read()
    );
    // A block that is not there, or is truncated, is an error naming it.
    let err = read_block_streams_ranged(&store, "t/blocks/none.parquet", size, &all, &RowFilter::all())
        .await
        .unwrap_err();
    assert_eq!(err.kind, StorageErrorKind::NotFound, "{err}");
    assert!(err.to_string().contains("t/blocks/none.parquet"), "{err}");
    let truncated = store.get_range("t/blocks/b.parquet", 0..size / 2).await.unwrap();
    store.put("t/blocks/cut.parquet", truncated).await.unwrap();
    let err = read_block_streams_ranged(&store, "t/blocks/cut.parquet", size / 2, &all, &RowFilter::all())
        .await
        .unwrap_err();
    assert_eq!(err.kind, StorageErrorKind::Corrupt, "{err}");
    assert!(err.to_string().contains("t/blocks/cut.parquet"), "{err}");
}
