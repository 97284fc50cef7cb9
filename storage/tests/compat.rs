//! Format compatibility: committed files written by each format version (a flushed chunk in
//! `v1/`; a Parquet block and its label index in `v1/` and `v2/`) must keep opening and decoding
//! to the same entries in every later version of logq. Regenerate only the current version's
//! files, and only when adding that version, next to the old:
//! `LOGQ_WRITE_FIXTURES=1 cargo test -p logq-storage --test compat -- --ignored`.

use std::path::PathBuf;

use bytes::Bytes;
use logq_storage::{
    decode_chunk_block, derive_message_id, read_block_streams, read_chunk_footer, write_block, BlockIndex,
    Entry, LabelSet, Store, BLOCK_FORMAT_VERSION,
};

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/v1")
}

fn dir_v2() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/v2")
}

/// The content of the version-2 block: as version 1, with every other id the derived one
/// (version 2 stores those as null).
fn input_v2() -> Vec<(LabelSet, Vec<Entry>)> {
    input()
        .into_iter()
        .map(|(labels, entries)| {
            let fp = labels.fingerprint();
            let entries = entries
                .into_iter()
                .enumerate()
                .map(|(i, mut e)| {
                    if i % 2 == 0 {
                        e.id = derive_message_id(fp, e.ts, &e.line);
                    }
                    e
                })
                .collect();
            (labels, entries)
        })
        .collect()
}

/// The content every version-1 fixture holds.
fn input() -> Vec<(LabelSet, Vec<Entry>)> {
    let streams = [
        r#"{app="web", env="prod"}"#,
        r#"{app="db", env="prod", host="db-1"}"#,
    ];
    streams
        .iter()
        .enumerate()
        .map(|(s, labels)| {
            let entries = (0..50)
                .map(|i| Entry {
                    ts: 1_700_000_000_000_000_000 + i * 1_000_000_000 + s as i64,
                    id: (s as u64) << 32 | i as u64,
                    line: format!("stream {s} line {i} with \"quotes\", unicode é and\ttabs"),
                    metadata: if i % 5 == 0 {
                        vec![("trace_id".into(), format!("t{i}"))]
                    } else {
                        vec![]
                    },
                })
                .collect();
            (LabelSet::parse(labels).unwrap(), entries)
        })
        .collect()
}

#[test]
#[ignore]
fn write_fixtures() {
    if std::env::var("LOGQ_WRITE_FIXTURES").is_err() {
        return;
    }
    // The chunk format is still version 1 (its fixture is kept); blocks are version 2.
    assert_eq!(
        BLOCK_FORMAT_VERSION, 2,
        "write the new version's fixtures into a new directory"
    );
    std::fs::create_dir_all(dir_v2()).unwrap();
    let (block, index) = write_block(input_v2()).unwrap();
    std::fs::write(dir_v2().join("block.parquet"), block).unwrap();
    std::fs::write(dir_v2().join("block.index"), index.encode().unwrap()).unwrap();
}

#[test]
fn version_2_block_and_index_still_read() {
    let index = BlockIndex::decode(
        "block.index",
        &std::fs::read(dir_v2().join("block.index")).expect("fixture v2/block.index"),
    )
    .unwrap();
    assert_eq!(index.version, 2);
    let data = Bytes::from(std::fs::read(dir_v2().join("block.parquet")).expect("fixture v2/block.parquet"));
    let streams: Vec<_> = index.streams.iter().collect();
    let got = read_block_streams("block.parquet", data, &streams).unwrap();
    let want = input_v2();
    for (s, entries) in streams.iter().zip(got) {
        let expected = &want
            .iter()
            .find(|(l, _)| *l == s.labels)
            .expect("stream in fixture input")
            .1;
        assert_eq!(&entries, expected, "stream {}", s.labels);
    }
}

#[tokio::test]
async fn version_1_chunk_still_reads() {
    let bytes = std::fs::read(dir().join("chunk.chunk")).expect("fixture chunk.chunk");
    let size = bytes.len() as u64;
    let store = Store::in_memory();
    store.put("c", Bytes::from(bytes.clone())).await.unwrap();
    let footer = read_chunk_footer(&store, "c", size).await.unwrap();
    assert_eq!(footer.version, 1);
    let mut got: Vec<(LabelSet, Vec<Entry>)> = footer
        .streams
        .iter()
        .map(|m| {
            let block = &bytes[m.offset as usize..(m.offset + m.len) as usize];
            (m.labels.clone(), decode_chunk_block("c", m, block).unwrap())
        })
        .collect();
    got.sort_by(|a, b| a.0.cmp(&b.0));
    let mut want = input();
    want.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(got, want);
}

#[test]
fn version_1_block_and_index_still_read() {
    let index = BlockIndex::decode(
        "block.index",
        &std::fs::read(dir().join("block.index")).expect("fixture block.index"),
    )
    .unwrap();
    assert_eq!(index.version, 1);
    let data = Bytes::from(std::fs::read(dir().join("block.parquet")).expect("fixture block.parquet"));
    let streams: Vec<_> = index.streams.iter().collect();
    let got = read_block_streams("block.parquet", data, &streams).unwrap();
    let want = input();
    for (s, entries) in streams.iter().zip(got) {
        let expected = &want
            .iter()
            .find(|(l, _)| *l == s.labels)
            .expect("stream in fixture input")
            .1;
        assert_eq!(&entries, expected, "stream {}", s.labels);
    }
}
