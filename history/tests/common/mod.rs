//! Fixtures for the history tests: a tenant's data written as real chunks and blocks into an
//! in-memory store, and a brute-force reference search over it.
#![allow(dead_code)]

use bytes::Bytes;
use logq_history::{Direction, HistoryEntry, SearchRequest};
use logq_storage::{
    encode_chunk, matches_all, write_block, BlockRef, ChunkRef, Entry, LabelSet, ManifestStore, Store,
    TenantId,
};

/// One stored entry and where it is.
#[derive(Debug, Clone)]
pub struct Stored {
    pub labels: LabelSet,
    pub entry: Entry,
    pub object: String,
}

/// A tenant's stored data.
pub struct Fixture {
    pub store: ManifestStore,
    pub tenant: TenantId,
    pub stored: Vec<Stored>,
    seq: usize,
}

impl Fixture {
    pub fn new() -> Self {
        Fixture {
            store: ManifestStore::new(Store::in_memory()),
            tenant: TenantId::new("t1").unwrap(),
            stored: Vec::new(),
            seq: 0,
        }
    }

    /// Writes `streams` as one chunk object listed by the manifest; returns its key.
    pub async fn chunk(&mut self, streams: Vec<(LabelSet, Vec<Entry>)>) -> String {
        self.seq += 1;
        let key = format!("{}/chunks/0/test-{}.chunk", self.tenant, self.seq);
        let sorted: Vec<(LabelSet, Vec<Entry>)> = streams
            .into_iter()
            .map(|(l, mut e)| {
                e.sort_by_key(|e| e.ts);
                (l, e)
            })
            .collect();
        let (bytes, _) = encode_chunk(0, &sorted).unwrap();
        let size = bytes.len() as u64;
        self.store.store().put(&key, Bytes::from(bytes)).await.unwrap();
        let (min_ts, max_ts, n) = self.record(&key, &sorted);
        let r = ChunkRef {
            key: key.clone(),
            size,
            window_start: 0,
            min_ts,
            max_ts,
            entries: n,
        };
        self.store
            .update(&self.tenant, |m| m.chunks.push(r.clone()))
            .await
            .unwrap();
        key
    }

    /// Writes `streams` as one block (data + label index) listed by the manifest.
    pub async fn block(&mut self, streams: Vec<(LabelSet, Vec<Entry>)>) -> String {
        self.seq += 1;
        let key = format!("{}/blocks/2026-01-01/b{}.parquet", self.tenant, self.seq);
        let index_key = key.replace(".parquet", ".index");
        let sorted: Vec<(LabelSet, Vec<Entry>)> = streams
            .into_iter()
            .map(|(l, mut e)| {
                e.sort_by_key(|e| e.ts);
                (l, e)
            })
            .collect();
        let (bytes, index) = write_block(sorted.clone()).unwrap();
        let size = bytes.len() as u64;
        self.store.store().put(&key, Bytes::from(bytes)).await.unwrap();
        self.store
            .store()
            .put(&index_key, Bytes::from(index.encode().unwrap()))
            .await
            .unwrap();
        let (min_ts, max_ts, n) = self.record(&key, &sorted);
        let r = BlockRef {
            key: key.clone(),
            index_key,
            size,
            min_ts,
            max_ts,
            entries: n,
        };
        self.store
            .update(&self.tenant, |m| m.blocks.push(r.clone()))
            .await
            .unwrap();
        key
    }

    fn record(&mut self, key: &str, streams: &[(LabelSet, Vec<Entry>)]) -> (i64, i64, u64) {
        let mut min = i64::MAX;
        let mut max = i64::MIN;
        let mut n = 0;
        for (labels, entries) in streams {
            for e in entries {
                min = min.min(e.ts);
                max = max.max(e.ts);
                n += 1;
                self.stored.push(Stored {
                    labels: labels.clone(),
                    entry: e.clone(),
                    object: key.to_string(),
                });
            }
        }
        (min, max, n)
    }

    /// Every object key in the manifest.
    pub async fn objects(&self) -> Vec<String> {
        let m = self.store.load(&self.tenant).await.unwrap();
        m.chunks
            .iter()
            .map(|c| c.key.clone())
            .chain(m.blocks.iter().map(|b| b.key.clone()))
            .collect()
    }

    /// What a search must return, as a multiset in (ts, line, id) order; `covered` is the
    /// index's own range.
    pub fn expected(&self, req: &SearchRequest, covered: (i64, i64)) -> Vec<(LabelSet, Entry)> {
        let mut out: Vec<(LabelSet, Entry)> = self
            .stored
            .iter()
            .filter(|s| {
                let ts = s.entry.ts;
                ts >= req.start_ns.max(covered.0)
                    && ts < req.end_ns.min(covered.1)
                    && req.objects.contains(&s.object)
                    && matches_all(&req.matchers, &s.labels)
                    && req.needle.matches(&s.entry.line)
            })
            .map(|s| (s.labels.clone(), s.entry.clone()))
            .collect();
        sort_key(&mut out);
        out
    }
}

pub fn sort_key(v: &mut [(LabelSet, Entry)]) {
    v.sort_by(|a, b| (a.1.ts, &a.1.line, a.1.id, &a.0).cmp(&(b.1.ts, &b.1.line, b.1.id, &b.0)));
}

/// The entries of a page as comparable pairs, after checking their order.
pub fn pairs(entries: &[HistoryEntry], direction: Direction) -> Vec<(LabelSet, Entry)> {
    for w in entries.windows(2) {
        let ok = match direction {
            Direction::Forward => w[0].cursor < w[1].cursor,
            Direction::Backward => w[0].cursor > w[1].cursor,
        };
        assert!(ok, "out of order: {:?} then {:?}", w[0].cursor, w[1].cursor);
        assert_eq!(w[0].cursor.ts, w[0].entry.ts);
    }
    let mut out: Vec<(LabelSet, Entry)> = entries
        .iter()
        .map(|e| (e.labels.clone(), e.entry.clone()))
        .collect();
    sort_key(&mut out);
    out
}

pub fn labels(text: &str) -> LabelSet {
    LabelSet::parse(text).unwrap()
}

pub fn entry(ts: i64, line: &str) -> Entry {
    Entry {
        ts,
        id: ts as u64 ^ 0x5555,
        line: line.to_string(),
        metadata: Vec::new(),
    }
}
