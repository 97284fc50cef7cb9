//! Blocks read with a required literal: the line trigram filter skips granules that cannot hold
//! it, and the rows kept are exactly those a full scan keeps.

use std::sync::Arc;

use bytes::Bytes;
use logq_storage::{
    read_block_streams_filtered, write_block, Entry, IndexedStream, LabelSet, RowFilter, ScanStats,
};

const NEEDLE: &str = "needle-7f3a9c";

fn corpus() -> Vec<(LabelSet, Vec<Entry>)> {
    (0..3)
        .map(|s| {
            let labels = LabelSet::parse(&format!("{{app=\"a{s}\"}}")).unwrap();
            let entries = (0..20_000i64)
                .map(|i| Entry {
                    ts: i * 1000,
                    id: (s * 100_000 + i) as u64,
                    line: if s == 1 && (i % 9_000 == 4 || i == 13_001) {
                        format!("GET /x {i} {NEEDLE} status={}", i % 5)
                    } else {
                        format!("GET /x {i} plain status={} needle-7f3a9", i % 5)
                    },
                    metadata: vec![],
                })
                .collect();
            (labels, entries)
        })
        .collect()
}

#[test]
fn required_literal_skips_granules_and_keeps_exactly_the_matching_rows() {
    let input = corpus();
    let (bytes, index) = write_block(input.clone()).unwrap();
    let all: Vec<&IndexedStream> = index.streams.iter().collect();
    let total: u64 = index.streams.iter().map(|s| s.rows).sum();
    for (start, end) in [(i64::MIN, i64::MAX), (3_000_000, 14_000_000)] {
        let stats = Arc::new(ScanStats::default());
        let filter = RowFilter {
            start,
            end,
            // Stricter than the literal, as a regex filter is.
            line: Some(Arc::new(|l: &str| l.contains(NEEDLE) && !l.contains("status=1"))),
            stats: Some(stats.clone()),
            ..RowFilter::all()
        }
        .with_required(NEEDLE);
        let got = read_block_streams_filtered("k", Bytes::from(bytes.clone()), &all, &filter).unwrap();
        for (s, entries) in all.iter().zip(&got) {
            let want: Vec<Entry> = input
                .iter()
                .find(|(l, _)| *l == s.labels)
                .unwrap()
                .1
                .iter()
                .filter(|e| e.ts >= start && e.ts < end && filter.line.as_ref().unwrap()(&e.line))
                .cloned()
                .collect();
            assert_eq!(*entries, want, "{}", s.labels);
        }
        assert!(got.iter().map(Vec::len).sum::<usize>() > 0);
        // Only the granules that may hold the needle were examined.
        let (lines, _) = stats.snapshot();
        assert!(lines > 0 && lines * 2 < total, "{lines} of {total} rows examined");
    }
}

#[test]
fn literals_shorter_than_a_trigram_or_absent_read_correctly() {
    let input = corpus();
    let (bytes, index) = write_block(input.clone()).unwrap();
    let all: Vec<&IndexedStream> = index.streams.iter().collect();
    for literal in ["s=", "no such text", NEEDLE] {
        let lit = literal.to_string();
        let filter = RowFilter {
            line: Some(Arc::new(move |l: &str| l.contains(&lit))),
            ..RowFilter::all()
        }
        .with_required(literal);
        let got = read_block_streams_filtered("k", Bytes::from(bytes.clone()), &all, &filter).unwrap();
        let n: usize = got.iter().map(Vec::len).sum();
        let want = input
            .iter()
            .flat_map(|(_, e)| e)
            .filter(|e| e.line.contains(literal))
            .count();
        assert_eq!(n, want, "{literal}");
    }
}
