//! Helpers shared by the compactor's integration tests: writing chunks as the ingester does,
//! and reading back everything a manifest lists with the storage functions the querier uses.

#![allow(dead_code)]

use std::collections::BTreeMap;

use bytes::Bytes;
use logq_storage::layout::{chunk_key, window_start};
use logq_storage::{
    encode_chunk, read_block_streams_filtered, read_chunk_footer, read_chunk_streams, BlockIndex, ChunkRef,
    Entry, LabelSet, ManifestStore, RowFilter, Store, TenantId,
};

pub const HOUR_NS: i64 = 3600 * 1_000_000_000;
pub const DAY_NS: i64 = 24 * HOUR_NS;

/// Start (UTC) of the day three days ago: closed for hour and day compaction alike.
pub fn old_day() -> i64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as i64;
    (now.div_euclid(DAY_NS) - 3) * DAY_NS
}

/// One flushed chunk: a source name and its streams (entries of one 5-minute window).
pub struct ChunkInput {
    pub source: String,
    pub seq: u64,
    pub streams: Vec<(LabelSet, Vec<Entry>)>,
}

/// Writes chunks as the ingester does (object, then a manifest update naming it).
pub async fn put_chunks(ms: &ManifestStore, tenant: &TenantId, chunks: &[ChunkInput]) {
    for c in chunks {
        let mut streams: Vec<(LabelSet, Vec<Entry>)> = c
            .streams
            .iter()
            .filter(|(_, e)| !e.is_empty())
            .map(|(l, e)| {
                let mut e = e.clone();
                e.sort_by_key(|x| x.ts);
                (l.clone(), e)
            })
            .collect();
        streams.sort_by_key(|(l, _)| l.fingerprint());
        if streams.is_empty() {
            continue;
        }
        let ws = window_start(streams[0].1[0].ts);
        let (bytes, footer) = encode_chunk(ws, &streams).unwrap();
        let key = chunk_key(tenant, ws, &c.source, c.seq);
        let size = bytes.len() as u64;
        ms.store().put(&key, Bytes::from(bytes)).await.unwrap();
        let r = ChunkRef {
            key,
            size,
            window_start: ws,
            min_ts: footer.streams.iter().map(|s| s.min_ts).min().unwrap(),
            max_ts: footer.streams.iter().map(|s| s.max_ts).max().unwrap(),
            entries: footer.streams.iter().map(|s| s.entries).sum(),
        };
        ms.update(tenant, |m| m.chunks.push(r.clone())).await.unwrap();
    }
}

/// (stream, ts, id): what identifies an entry.
pub type EntryKey = (String, i64, u64);

/// Every entry stored in an object the current manifest lists, once per object holding it,
/// read as the querier reads (chunk footers and streams; block indexes and rows).
pub async fn read_all(store: &Store, tenant: &TenantId) -> Vec<(LabelSet, Entry)> {
    let m = ManifestStore::new(store.clone()).load(tenant).await.unwrap();
    let mut out = Vec::new();
    for c in &m.chunks {
        let footer = read_chunk_footer(store, &c.key, c.size).await.unwrap();
        for (meta, entries) in read_chunk_streams(store, &c.key, &footer, |_| true)
            .await
            .unwrap()
        {
            out.extend(entries.into_iter().map(|e| (meta.labels.clone(), e)));
        }
    }
    for b in &m.blocks {
        let index = BlockIndex::decode(&b.index_key, &store.get(&b.index_key).await.unwrap()).unwrap();
        let refs: Vec<_> = index.streams.iter().collect();
        let data = store.get(&b.key).await.unwrap();
        let read = read_block_streams_filtered(&b.key, data, &refs, &RowFilter::all()).unwrap();
        for (s, entries) in index.streams.iter().zip(read) {
            out.extend(entries.into_iter().map(|e| (s.labels.clone(), e)));
        }
    }
    out
}

/// Entries keyed by identity (the first copy of each), and how many extra copies there were.
pub fn dedup(entries: impl IntoIterator<Item = (LabelSet, Entry)>) -> (BTreeMap<EntryKey, Entry>, usize) {
    let mut map = BTreeMap::new();
    let mut extra = 0;
    for (l, e) in entries {
        let k = (l.to_string(), e.ts, e.id);
        match map.entry(k) {
            std::collections::btree_map::Entry::Occupied(_) => extra += 1,
            std::collections::btree_map::Entry::Vacant(v) => {
                v.insert(e);
            }
        }
    }
    (map, extra)
}

/// Deterministic test entries: `n` lines of `stream` from `from`, 1 ms apart, ids from `id0`.
pub fn entries(stream: &str, from: i64, n: i64, id0: u64) -> Vec<Entry> {
    (0..n)
        .map(|i| {
            let id = id0 + i as u64;
            Entry {
                ts: from + i * 1_000_000,
                id,
                line: format!(
                    "{stream} line {id}{}",
                    if id.is_multiple_of(7) { " needle" } else { "" }
                ),
                metadata: if id.is_multiple_of(4) {
                    vec![("trace_id".into(), format!("t{id}"))]
                } else {
                    vec![]
                },
            }
        })
        .collect()
}

/// Object keys the store holds.
pub async fn keys(store: &Store, prefix: &str) -> Vec<String> {
    store
        .list(prefix)
        .await
        .unwrap()
        .into_iter()
        .map(|o| o.path)
        .collect()
}
