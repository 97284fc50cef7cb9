//! The querier's test scenario (`tests/conformance/scenario.json`) in memory, in chunks or in
//! blocks of an in-memory object store, and a querier over it. No server, no disk.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use futures::future::BoxFuture;
use logq_querier::{Querier, QueryLimits};
use logq_storage::layout::{block_keys, chunk_key, window_start};
use logq_storage::push::decode_json;
use logq_storage::Store;
use logq_storage::{
    encode_chunk, matches_all, write_block, BlockRef, ChunkRef, Entry, HeadReadError, HeadReader,
    HeadStreamStat, HeadStreams, LabelMatcher, LabelSet, ManifestStore, TenantId,
};
use serde_json::Value;

pub const S: i64 = 1_000_000_000;
/// The scenario's time zero: an hour boundary (2023-11-14 22:00 UTC).
pub const BASE: i64 = 1_699_999_200 * S;
/// The conformance data files.
pub fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/conformance")
}

/// The scenario's streams, decoded as the push API decodes them.
pub fn scenario() -> Vec<(LabelSet, Vec<Entry>)> {
    let text = std::fs::read_to_string(data_dir().join("scenario.json")).expect("scenario.json");
    let mut body: Value = serde_json::from_str(&text).expect("scenario.json is JSON");
    for stream in body["streams"].as_array_mut().expect("streams") {
        for value in stream["values"].as_array_mut().expect("values") {
            let secs: i64 = value[0].as_str().and_then(|s| s.parse().ok()).expect("seconds");
            value[0] = Value::String((BASE + secs * S).to_string());
        }
    }
    let batch = decode_json(TenantId::default_tenant(), body.to_string().as_bytes()).expect("a push body");
    batch.streams.into_iter().map(|s| (s.labels, s.entries)).collect()
}

/// A head holding the scenario (the ingester's contract, without the ingester).
pub struct MemoryHead(pub Vec<(LabelSet, Vec<Entry>)>);

impl HeadReader for MemoryHead {
    fn select<'a>(
        &'a self,
        _tenant: &'a TenantId,
        matchers: &'a [LabelMatcher],
        start: i64,
        end: i64,
    ) -> BoxFuture<'a, Result<HeadStreams, HeadReadError>> {
        let out = self
            .0
            .iter()
            .filter(|(labels, _)| matches_all(matchers, labels))
            .map(|(labels, entries)| {
                let kept = entries
                    .iter()
                    .filter(|e| e.ts >= start && e.ts < end)
                    .cloned()
                    .collect();
                (labels.clone(), kept)
            })
            .collect();
        Box::pin(async move { Ok(out) })
    }

    fn stream_stats<'a>(
        &'a self,
        _tenant: &'a TenantId,
        _matchers: &'a [LabelMatcher],
        _start: i64,
        _end: i64,
    ) -> BoxFuture<'a, Result<Vec<HeadStreamStat>, HeadReadError>> {
        Box::pin(async move { Ok(Vec::new()) })
    }
}

/// Where the scenario's data is.
#[derive(Clone, Copy, Debug)]
pub enum Place {
    Memory,
    Chunks,
    Blocks,
}

/// A querier over the scenario, with the data in `place`.
pub async fn querier(place: Place) -> Querier {
    querier_with(place).await.0
}

/// [`querier`], and the store it reads.
pub async fn querier_with(place: Place) -> (Querier, ManifestStore) {
    let tenant = TenantId::default_tenant();
    let streams = scenario();
    let manifests = ManifestStore::new(Store::in_memory());
    let store = manifests.store().clone();
    let head = match place {
        Place::Memory => streams.clone(),
        Place::Chunks | Place::Blocks => Vec::new(),
    };
    let (min_ts, max_ts) = streams
        .iter()
        .flat_map(|(_, e)| e.iter().map(|e| e.ts))
        .fold((i64::MAX, i64::MIN), |(lo, hi), ts| (lo.min(ts), hi.max(ts)));
    let entries = streams.iter().map(|(_, e)| e.len() as u64).sum();
    match place {
        Place::Memory => {}
        Place::Chunks => {
            // One chunk per 5-minute window, as the ingester flushes them.
            let mut windows: Vec<i64> = streams
                .iter()
                .flat_map(|(_, e)| e.iter().map(|e| window_start(e.ts)))
                .collect();
            windows.sort();
            windows.dedup();
            for (seq, window) in windows.into_iter().enumerate() {
                let in_window: Vec<(LabelSet, Vec<Entry>)> = streams
                    .iter()
                    .map(|(l, e)| {
                        (
                            l.clone(),
                            e.iter()
                                .filter(|e| window_start(e.ts) == window)
                                .cloned()
                                .collect(),
                        )
                    })
                    .filter(|(_, e): &(LabelSet, Vec<Entry>)| !e.is_empty())
                    .collect();
                let (bytes, footer) = encode_chunk(window, &in_window).expect("encode chunk");
                let key = chunk_key(&tenant, window, "test", seq as u64);
                let chunk = ChunkRef {
                    key: key.clone(),
                    size: bytes.len() as u64,
                    window_start: window,
                    min_ts: footer.streams.iter().map(|s| s.min_ts).min().unwrap_or(min_ts),
                    max_ts: footer.streams.iter().map(|s| s.max_ts).max().unwrap_or(max_ts),
                    entries: footer.streams.iter().map(|s| s.entries).sum(),
                };
                store.put(&key, bytes.into()).await.expect("put chunk");
                manifests
                    .update(&tenant, |m| m.chunks.push(chunk.clone()))
                    .await
                    .expect("manifest");
            }
        }
        Place::Blocks => {
            let (bytes, index) = write_block(streams.clone()).expect("write block");
            let (key, index_key) = block_keys(&tenant, min_ts, "test");
            store.put(&key, bytes.clone().into()).await.expect("put block");
            store
                .put(&index_key, index.encode().expect("index").into())
                .await
                .expect("put index");
            let block = BlockRef {
                key,
                index_key,
                size: bytes.len() as u64,
                min_ts,
                max_ts,
                entries,
            };
            manifests
                .update(&tenant, |m| m.blocks.push(block.clone()))
                .await
                .expect("manifest");
        }
    }
    let q = Querier::new(
        Arc::new(MemoryHead(head)),
        manifests.clone(),
        QueryLimits::default(),
    );
    (q, manifests)
}
