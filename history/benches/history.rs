//! Criterion benchmarks of the history index: building from generated lines (in-memory store,
//! one hour block) and searching the built index for a rare needle, a trace id, a rare regex
//! literal and a common word with a limit.

use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use logq_history::{build, BuildProgress, Direction, HistoryIndex, IndexSpec, Needle, SearchRequest};
use logq_loadgen::{GeneratorConfig, LogGenerator};
use logq_storage::{write_block, BlockRef, Entry, LabelSet, ManifestStore, Store, TenantId};

const LINES: usize = 40_000;

struct Corpus {
    rt: tokio::runtime::Runtime,
    store: ManifestStore,
    spec: IndexSpec,
    raw_bytes: u64,
    trace_id: String,
}

fn corpus() -> Corpus {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let store = ManifestStore::new(Store::in_memory());
    let tenant = TenantId::new("bench").unwrap();
    let mut g = LogGenerator::with_config(GeneratorConfig {
        seed: 3,
        streams: 16,
        needle_every: 10_000,
        env: "bench".into(),
    });
    let mut streams: Vec<(LabelSet, Vec<Entry>)> = (0..g.stream_count())
        .map(|i| (g.stream_labels(i).clone(), Vec::new()))
        .collect();
    let mut raw_bytes = 0;
    let mut trace_id = String::new();
    for i in 0..LINES {
        let l = g.next_line(1_000_000 + i as i64 * 1_000);
        if trace_id.is_empty() && i > LINES / 2 {
            if let Some(t) = l.line.split("trace_id=").nth(1) {
                trace_id = t.chars().take(16).collect();
            }
        }
        raw_bytes += l.line.len() as u64;
        streams[l.stream].1.push(Entry {
            ts: 1_000_000 + i as i64 * 1_000,
            id: i as u64,
            line: l.line,
            metadata: Vec::new(),
        });
    }
    let streams: Vec<_> = streams.into_iter().filter(|s| !s.1.is_empty()).collect();
    let (data, index) = write_block(streams).unwrap();
    rt.block_on(async {
        let size = data.len() as u64;
        store
            .store()
            .put("bench/b.parquet", Bytes::from(data))
            .await
            .unwrap();
        store
            .store()
            .put("bench/b.index", Bytes::from(index.encode().unwrap()))
            .await
            .unwrap();
        let r = BlockRef {
            key: "bench/b.parquet".into(),
            index_key: "bench/b.index".into(),
            size,
            min_ts: 0,
            max_ts: i64::MAX / 2,
            entries: LINES as u64,
        };
        store.update(&tenant, |m| m.blocks.push(r.clone())).await.unwrap();
    });
    Corpus {
        rt,
        store,
        spec: IndexSpec {
            tenant,
            start_ns: 0,
            end_ns: i64::MAX,
            selector: Vec::new(),
        },
        raw_bytes,
        trace_id,
    }
}

fn benches(c: &mut Criterion) {
    let corpus = corpus();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("idx");
    let run_build = || {
        corpus.rt.block_on(async {
            build(
                &corpus.store,
                &corpus.spec,
                &dir,
                Arc::new(BuildProgress::default()),
                Arc::new(AtomicBool::new(false)),
            )
            .await
            .unwrap()
        })
    };
    let mut group = c.benchmark_group("history_build");
    group.sample_size(10);
    group.throughput(Throughput::Bytes(corpus.raw_bytes));
    group.bench_function("build_40k_lines", |b| b.iter(run_build));
    group.finish();

    run_build();
    let index = HistoryIndex::open(&dir).unwrap();
    let objects = index.summary().objects.clone();
    let mut group = c.benchmark_group("history_search");
    for (name, needle, limit) in [
        ("needle", Needle::literal("needle-7f3a9c"), 5000),
        ("trace_id", Needle::literal(corpus.trace_id.clone()), 5000),
        (
            "rare_regex_literal",
            Needle::literal("Rows_examined: 19999"),
            5000,
        ),
        ("get_limit_100", Needle::literal("GET"), 100),
    ] {
        let req = SearchRequest {
            matchers: Vec::new(),
            start_ns: i64::MIN,
            end_ns: i64::MAX,
            objects: objects.clone(),
            needle,
            direction: Direction::Backward,
            limit,
            cursor: None,
        };
        group.bench_function(name, |b| b.iter(|| index.search(&req).unwrap()));
    }
    group.finish();
}

criterion_group!(history, benches);
criterion_main!(history);
