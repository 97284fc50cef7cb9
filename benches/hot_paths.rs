//! Criterion micro-benchmarks of the hot paths: push decoding, head appends, chunk and block
//! encoding and decoding, line filters, the json and logfmt parsers and the LogQL parser. Run with `cargo bench --bench
//! hot_paths`; the end-to-end benchmark is `logq bench`.

use std::hint::black_box;

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use logq_api::proto::{EntryAdapter, PushRequest, StreamAdapter, Timestamp};
use logq_ingester::{Head, Position};
use logq_loadgen::LogGenerator;
use logq_querier::logql::{parse, parse_log_selector};
use logq_storage::{
    decode_chunk_block, encode_chunk, read_block_streams, write_block, Entry, LabelSet, PushBatch,
    StreamEntries, TenantId,
};
use prost::Message;

const BASE: i64 = 1_700_000_000_000_000_000;

/// `n` generated entries over 16 streams, grouped by stream.
fn streams(n: usize) -> Vec<(LabelSet, Vec<Entry>)> {
    let mut gen = LogGenerator::new(1);
    let mut by: std::collections::BTreeMap<LabelSet, Vec<Entry>> = Default::default();
    for i in 0..n {
        let ts = BASE + i as i64 * 1_000_000;
        let g = gen.next_line(ts);
        by.entry(g.labels).or_default().push(Entry {
            ts,
            id: i as u64,
            line: g.line,
            metadata: vec![],
        });
    }
    by.into_iter().collect()
}

fn bytes_of(s: &[(LabelSet, Vec<Entry>)]) -> u64 {
    s.iter().flat_map(|(_, e)| e).map(|e| e.line.len() as u64).sum()
}

fn push_decoding(c: &mut Criterion) {
    let input = streams(10_000);
    let json = serde_json::json!({"streams": input.iter().map(|(l, e)| serde_json::json!({
        "stream": l.pairs().iter().cloned().collect::<std::collections::BTreeMap<_, _>>(),
        "values": e.iter().map(|e| serde_json::json!([e.ts.to_string(), e.line])).collect::<Vec<_>>(),
    })).collect::<Vec<_>>()})
    .to_string();
    let proto = PushRequest {
        streams: input
            .iter()
            .map(|(l, e)| StreamAdapter {
                labels: l.to_string().into_bytes(),
                entries: e
                    .iter()
                    .map(|e| EntryAdapter {
                        timestamp: Some(Timestamp {
                            seconds: e.ts / 1_000_000_000,
                            nanos: (e.ts % 1_000_000_000) as i32,
                        }),
                        line: e.line.clone().into_bytes(),
                        structured_metadata: vec![],
                        parsed: vec![],
                    })
                    .collect(),
                hash: 0,
            })
            .collect(),
        format: String::new(),
    };
    let snappy = snap::raw::Encoder::new()
        .compress_vec(&proto.encode_to_vec())
        .unwrap();
    let mut g = c.benchmark_group("push_decode_10k");
    g.throughput(Throughput::Bytes(bytes_of(&input)));
    g.bench_function("json", |b| {
        b.iter(|| logq_api::decode_json(TenantId::default_tenant(), black_box(json.as_bytes())).unwrap())
    });
    g.bench_function("protobuf_snappy", |b| {
        b.iter(|| {
            let mut stats = logq_api::DecodeStats::default();
            logq_api::decode_protobuf(TenantId::default_tenant(), black_box(&snappy), &mut stats).unwrap()
        })
    });
    g.finish();
}

fn head_append(c: &mut Criterion) {
    let input = streams(10_000);
    let batch = PushBatch {
        tenant: TenantId::default_tenant(),
        streams: input
            .iter()
            .map(|(l, e)| StreamEntries {
                labels: l.clone(),
                entries: e.clone(),
            })
            .collect(),
    };
    let mut g = c.benchmark_group("head");
    g.throughput(Throughput::Bytes(bytes_of(&input)));
    g.bench_function("append_10k", |b| {
        b.iter_batched(
            Head::default,
            |mut head| {
                head.append(
                    black_box(&batch),
                    Position {
                        partition: 0,
                        offset: 0,
                    },
                )
            },
            BatchSize::SmallInput,
        )
    });
    g.finish();
}

fn chunk_and_block(c: &mut Criterion) {
    let input = streams(50_000);
    let mut g = c.benchmark_group("formats_50k");
    g.throughput(Throughput::Bytes(bytes_of(&input)));
    g.bench_function("chunk_encode", |b| {
        b.iter(|| encode_chunk(0, black_box(&input)).unwrap())
    });
    let (chunk, footer) = encode_chunk(0, &input).unwrap();
    g.bench_function("chunk_decode", |b| {
        b.iter(|| {
            for meta in &footer.streams {
                let block = &chunk[meta.offset as usize..(meta.offset + meta.len) as usize];
                black_box(decode_chunk_block("bench", meta, block).unwrap());
            }
        })
    });
    g.bench_function("block_write", |b| {
        b.iter(|| write_block(black_box(input.clone())).unwrap())
    });
    let (block, index) = write_block(input.clone()).unwrap();
    let block = Bytes::from(block);
    let all: Vec<_> = index.streams.iter().collect();
    g.bench_function("block_read_all", |b| {
        b.iter(|| read_block_streams("bench", block.clone(), black_box(&all)).unwrap())
    });
    g.finish();
}

fn line_filters(c: &mut Criterion) {
    let input = streams(20_000);
    let lines: Vec<&str> = input
        .iter()
        .flat_map(|(_, e)| e.iter().map(|e| e.line.as_str()))
        .collect();
    let mut g = c.benchmark_group("line_filter_20k");
    g.throughput(Throughput::Bytes(bytes_of(&input)));
    for (name, q) in [
        ("contains", r#"{a="b"} |= "needle-7f3a9c""#),
        ("regex", r#"{a="b"} |~ "status=5\\d\\d""#),
        ("contains_or", r#"{a="b"} |= "POST" or "DELETE" != "healthz""#),
    ] {
        let pipeline = logq_querier::Pipeline::compile(&parse_log_selector(q).unwrap()).unwrap();
        g.bench_function(name, |b| {
            b.iter(|| {
                lines
                    .iter()
                    .filter(|l| pipeline.matches_line(black_box(l)))
                    .count()
            })
        });
    }
    g.finish();
}

fn parsers(c: &mut Criterion) {
    let mut gen = LogGenerator::new(3);
    let pick = |service: &str, gen: &mut LogGenerator| -> Vec<(LabelSet, String)> {
        (0..5000)
            .map(|i| {
                let g = gen.line_for(service, "web-1", BASE + i);
                (g.labels, g.line)
            })
            .collect()
    };
    let json_lines = pick("worker", &mut gen);
    let logfmt_lines = pick("api", &mut gen);
    let mut g = c.benchmark_group("parsers_5k");
    for (name, q, lines) in [
        ("json", r#"{a="b"} | json"#, &json_lines),
        (
            "json_filter",
            r#"{a="b"} | json | duration_ms > 500"#,
            &json_lines,
        ),
        ("logfmt", r#"{a="b"} | logfmt"#, &logfmt_lines),
        (
            "logfmt_filter",
            r#"{a="b"} | logfmt | status >= 500"#,
            &logfmt_lines,
        ),
    ] {
        let expr = parse_log_selector(q).unwrap();
        let mut pipeline = logq_querier::Pipeline::compile(&expr).unwrap();
        g.throughput(Throughput::Bytes(lines.iter().map(|(_, l)| l.len() as u64).sum()));
        g.bench_function(name, |b| {
            b.iter(|| {
                lines
                    .iter()
                    .filter(|(labels, l)| pipeline.process(labels, &[], 0, black_box(l)).is_some())
                    .count()
            })
        });
    }
    g.finish();
}

fn logql_parse(c: &mut Criterion) {
    let q = r#"{service="api", env=~"prod|staging", host!~"test-.*"} |= "error" != "timeout" |~ "status=5\\d\\d" or "panic""#;
    c.bench_function("logql_parse", |b| b.iter(|| parse(black_box(q)).unwrap()));
}

criterion_group!(
    benches,
    push_decoding,
    head_append,
    chunk_and_block,
    line_filters,
    parsers,
    logql_parse
);
criterion_main!(benches);
