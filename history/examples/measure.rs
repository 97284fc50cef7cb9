//! Measures the history index on a generated corpus (BENCHMARKS.md, History section).
//!
//! ```text
//! cargo run --release -p logq-history --example measure -- gen DIR MB    # corpus as hour blocks
//! cargo run --release -p logq-history --example measure -- build DIR     # index DIR/index
//! cargo run --release -p logq-history --example measure -- search DIR    # best-of-5 searches
//! ```
//! `gen` writes the `logq gen` generator's lines (env `bench`, 16 streams, one needle line in
//! 100,000) as Parquet hour blocks into a file store at `DIR/store`, the raw lines to
//! `DIR/raw.log` (for `rg`) and one api trace id to `DIR/trace_id`. `build` prints wall and
//! CPU seconds, MB/s per CPU second, index size / raw and the peak RSS of the process.

use std::io::Write;
use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use logq_history::{build, BuildProgress, Direction, HistoryIndex, IndexSpec, Needle, SearchRequest};
use logq_loadgen::{GeneratorConfig, LogGenerator};
use logq_storage::{write_block, BlockRef, Entry, LabelSet, ManifestStore, Store, TenantId};

const HOUR: i64 = 3_600_000_000_000;
const START: i64 = 1_767_225_600_000_000_000; // 2026-01-01T00:00:00Z

fn proc_field(file: &str, key: &str) -> String {
    std::fs::read_to_string(file)
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with(key))
        .map(|l| l[key.len()..].trim().to_string())
        .unwrap_or_default()
}

/// User + system CPU seconds of this process.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit_once(')').map(|x| x.1).unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks: f64 = f.get(11).and_then(|x| x.parse().ok()).unwrap_or(0.0)
        + f.get(12).and_then(|x| x.parse().ok()).unwrap_or(0.0);
    ticks / 100.0
}

fn tenant() -> TenantId {
    TenantId::new("bench").unwrap()
}

async fn gen(dir: &Path, mb: u64) {
    std::fs::create_dir_all(dir.join("store")).unwrap();
    let store = ManifestStore::new(Store::local(&dir.join("store")).unwrap());
    let mut raw = std::io::BufWriter::new(std::fs::File::create(dir.join("raw.log")).unwrap());
    let mut g = LogGenerator::with_config(GeneratorConfig {
        seed: 7,
        streams: 16,
        needle_every: 100_000,
        env: "bench".into(),
    });
    let target = mb * 1_000_000;
    let hours = 12u64;
    let per_hour = target / hours;
    let mut total = 0u64;
    let mut lines = 0u64;
    let mut trace = None;
    for h in 0..hours as i64 {
        let mut streams: Vec<(LabelSet, Vec<Entry>)> = (0..g.stream_count())
            .map(|i| (g.stream_labels(i).clone(), Vec::new()))
            .collect();
        let mut bytes = 0;
        let mut i = 0i64;
        // ~150 bytes a line: spread the hour's lines evenly.
        let step = (HOUR as u64 / (per_hour / 150).max(1)) as i64;
        while bytes < per_hour {
            let ts = START + h * HOUR + i * step;
            let l = g.next_line(ts);
            if trace.is_none() && lines > 1000 {
                if let Some(t) = l.line.split("trace_id=").nth(1) {
                    trace = Some(t.chars().take(16).collect::<String>());
                }
            }
            bytes += l.line.len() as u64;
            writeln!(raw, "{}", l.line).unwrap();
            streams[l.stream].1.push(Entry {
                ts,
                id: lines,
                line: l.line,
                metadata: Vec::new(),
            });
            i += 1;
            lines += 1;
        }
        total += bytes;
        let key = format!("bench/blocks/2026-01-01/h{h:02}.parquet");
        let index_key = key.replace(".parquet", ".index");
        let n: u64 = streams.iter().map(|s| s.1.len() as u64).sum();
        let streams: Vec<_> = streams.into_iter().filter(|s| !s.1.is_empty()).collect();
        let min_ts = streams.iter().map(|s| s.1[0].ts).min().unwrap();
        let max_ts = streams.iter().map(|s| s.1.last().unwrap().ts).max().unwrap();
        let (data, index) = write_block(streams).unwrap();
        let size = data.len() as u64;
        store.store().put(&key, Bytes::from(data)).await.unwrap();
        store
            .store()
            .put(&index_key, Bytes::from(index.encode().unwrap()))
            .await
            .unwrap();
        let r = BlockRef {
            key,
            index_key,
            size,
            min_ts,
            max_ts,
            entries: n,
        };
        store
            .update(&tenant(), |m| m.blocks.push(r.clone()))
            .await
            .unwrap();
        eprintln!("hour {h}: {n} lines, {bytes} bytes, block {size} bytes");
    }
    std::fs::write(dir.join("trace_id"), trace.unwrap_or_default()).unwrap();
    println!("generated {lines} lines, {:.1} MB raw", total as f64 / 1e6);
}

async fn build_index(dir: &Path) {
    let store = ManifestStore::new(Store::local(&dir.join("store")).unwrap());
    let spec = IndexSpec {
        tenant: tenant(),
        start_ns: START,
        end_ns: START + 24 * HOUR,
        selector: Vec::new(),
    };
    let cpu0 = cpu_seconds();
    let t0 = Instant::now();
    let s = build(
        &store,
        &spec,
        &dir.join("index"),
        Arc::new(BuildProgress::default()),
        Arc::new(AtomicBool::new(false)),
    )
    .await
    .unwrap();
    let wall = t0.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - cpu0;
    let mb = s.bytes_raw as f64 / 1e6;
    println!(
        "built {} lines, {mb:.1} MB raw in {wall:.2} s wall, {cpu:.2} s CPU: {:.1} MB/s per core, {:.1} MB/s wall; \
         index {:.1} MB = {:.3} x raw; peak RSS {}",
        s.lines,
        mb / cpu,
        mb / wall,
        s.bytes_on_disk as f64 / 1e6,
        s.bytes_on_disk as f64 / s.bytes_raw as f64,
        proc_field("/proc/self/status", "VmHWM:")
    );
}

fn search(dir: &Path) {
    let t0 = Instant::now();
    let index = HistoryIndex::open(&dir.join("index")).unwrap();
    println!(
        "open (verifying checksums): {:.1} ms",
        t0.elapsed().as_secs_f64() * 1e3
    );
    let trace = std::fs::read_to_string(dir.join("trace_id")).unwrap();
    let objects = index.summary().objects.clone();
    let cases: Vec<(&str, Needle, usize)> = vec![
        ("needle literal", Needle::literal("needle-7f3a9c"), 5000),
        ("16-hex trace id", Needle::literal(trace.trim()), 5000),
        (
            "rare regex literal",
            Needle::literal("Rows_examined: 19999"),
            5000,
        ),
        ("GET, limit 100", Needle::literal("GET"), 100),
        (
            "`or` of two words",
            Needle {
                all_of: vec![vec!["kex_exchange".into(), "IllegalStateException".into()]],
            },
            100,
        ),
    ];
    for (name, needle, limit) in cases {
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
        let mut best = f64::MAX;
        let mut hits = 0;
        let mut examined = 0;
        for _ in 0..5 {
            let t = Instant::now();
            let page = index.search(&req).unwrap();
            best = best.min(t.elapsed().as_secs_f64() * 1e3);
            hits = page.entries.len();
            examined = page.examined_lines;
        }
        println!("{name}: {hits} entries ({examined} candidates read), best of 5 {best:.2} ms");
    }
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let dir = Path::new(args.get(2).map(String::as_str).unwrap_or("/tmp/history-measure"));
    match args.get(1).map(String::as_str) {
        Some("gen") => gen(dir, args.get(3).and_then(|m| m.parse().ok()).unwrap_or(300)).await,
        Some("build") => build_index(dir).await,
        Some("search") => search(dir),
        _ => eprintln!("usage: measure gen|build|search DIR [MB]"),
    }
}
