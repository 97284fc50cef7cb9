//! Format compatibility: committed files written by format version 1 (a flushed chunk, a
//! Parquet block and its label index) must keep opening and decoding to the same entries in
//! every later version of logq. Regenerate them only when adding a new version, next to the old:
//! `LOGQ_WRITE_FIXTURES=1 cargo test -p logq-storage --test compat -- --ignored`.

use std::path::PathBuf;

use bytes::Bytes;
use logq_storage::{
    decode_chunk_block, encode_chunk, read_block_streams, read_chunk_footer, write_block, BlockIndex, Entry,
    LabelSet, Store,
};

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/v1")
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
    std::fs::create_dir_all(dir()).unwrap();
    let (chunk, _) = encode_chunk(1_700_000_000_000_000_000, &input()).unwrap();
    std::fs::write(dir().join("chunk.chunk"), chunk).unwrap();
    let (block, index) = write_block(input()).unwrap();
    std::fs::write(dir().join("block.parquet"), block).unwrap();
    std::fs::write(dir().join("block.index"), index.encode().unwrap()).unwrap();
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
