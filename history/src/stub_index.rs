//! A stand-in for the tantivy index (being built on branch hidx) with the same interface, so the
//! service around it can be built and tested first: entries are stored as JSON lines and
//! searched by a full pass. Replaced by the real index when it lands.

use std::collections::HashSet;
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use logq_storage::{
    matches_all, read_block_streams, read_chunk_footer, read_chunk_streams, BlockIndex, Entry, LabelMatcher,
    LabelSet, ManifestStore, TenantId,
};
use serde::{Deserialize, Serialize};

/// What can go wrong building, opening or searching an index.
#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    /// Reading the stored objects failed.
    #[error("storage: {0}")]
    Storage(#[from] logq_storage::StorageError),
    /// Local disk I/O failed.
    #[error("index i/o: {0}")]
    Io(#[from] std::io::Error),
    /// The index on disk is damaged or incomplete.
    #[error("corrupt index: {0}")]
    Corrupt(String),
    /// The build was cancelled.
    #[error("build cancelled")]
    Cancelled,
}

/// What an index covers.
#[derive(Debug, Clone)]
pub struct IndexSpec {
    /// Whose data.
    pub tenant: TenantId,
    /// Inclusive start, ns.
    pub start_ns: i64,
    /// Exclusive end, ns.
    pub end_ns: i64,
    /// Streams indexed (empty = all).
    pub selector: Vec<LabelMatcher>,
}

/// Progress counters of a build.
#[derive(Debug, Default)]
pub struct BuildProgress {
    /// Objects done.
    pub done: AtomicU64,
    /// Objects planned.
    pub total: AtomicU64,
}

impl BuildProgress {
    /// Fraction done, 0..=1.
    pub fn fraction(&self) -> f64 {
        let total = self.total.load(Ordering::Relaxed);
        if total == 0 {
            return 0.0;
        }
        (self.done.load(Ordering::Relaxed) as f64 / total as f64).min(1.0)
    }
}

/// What a finished index holds.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct IndexSummary {
    /// Entries indexed.
    pub lines: u64,
    /// Line bytes indexed.
    pub bytes_raw: u64,
    /// Size of the index directory.
    pub bytes_on_disk: u64,
    /// Keys of the objects it was built from.
    pub objects: Vec<String>,
    /// Manifest version read.
    pub manifest_version: u64,
}

/// A required line literal: a conjunction of disjunctions.
#[derive(Debug, Clone, Default)]
pub struct Needle {
    /// `[[a], [b, c]]` = a and (b or c).
    pub all_of: Vec<Vec<String>>,
}

/// Which order results come in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SearchDirection {
    /// Oldest first.
    Forward,
    /// Newest first.
    Backward,
}

/// A search.
#[derive(Debug, Clone)]
pub struct SearchRequest {
    /// Streams.
    pub matchers: Vec<LabelMatcher>,
    /// Inclusive start.
    pub start_ns: i64,
    /// Exclusive end.
    pub end_ns: i64,
    /// Only entries from these objects.
    pub objects: Arc<HashSet<String>>,
    /// What lines must hold.
    pub needle: Needle,
    /// Order.
    pub direction: SearchDirection,
    /// Most entries per page.
    pub limit: usize,
    /// Where the previous page ended.
    pub cursor: Option<u64>,
}

/// One page of candidates.
#[derive(Debug, Default)]
pub struct SearchPage {
    /// Candidate entries with their stream.
    pub entries: Vec<(LabelSet, Entry)>,
    /// Cursor of the next page, when there is one.
    pub next: Option<u64>,
}

#[derive(Serialize, Deserialize)]
struct Row {
    object: String,
    labels: String,
    ts: i64,
    id: u64,
    line: String,
    metadata: Vec<(String, String)>,
}

/// Builds an index of `spec` in `dir`.
pub async fn build(
    store: &ManifestStore,
    spec: &IndexSpec,
    dir: &Path,
    progress: Arc<BuildProgress>,
    cancel: Arc<AtomicBool>,
) -> Result<IndexSummary, HistoryError> {
    let manifest = store.load(&spec.tenant).await?;
    let (start, end) = (spec.start_ns, spec.end_ns);
    let chunks: Vec<_> = manifest.chunks_in(start, end).cloned().collect();
    let blocks: Vec<_> = manifest.blocks_in(start, end).cloned().collect();
    progress
        .total
        .store((chunks.len() + blocks.len()) as u64, Ordering::Relaxed);
    let tmp: PathBuf = dir.with_extension("tmp");
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp)?;
    let mut out = std::io::BufWriter::new(std::fs::File::create(tmp.join("entries.jsonl"))?);
    let mut summary = IndexSummary {
        manifest_version: manifest.version,
        ..Default::default()
    };
    let mut write = |object: &str, labels: &LabelSet, entries: Vec<Entry>, summary: &mut IndexSummary| {
        for e in entries.into_iter().filter(|e| e.ts >= start && e.ts < end) {
            summary.lines += 1;
            summary.bytes_raw += e.line.len() as u64;
            let row = Row {
                object: object.to_string(),
                labels: labels.to_string(),
                ts: e.ts,
                id: e.id,
                line: e.line,
                metadata: e.metadata,
            };
            serde_json::to_writer(&mut out, &row).map_err(|e| HistoryError::Corrupt(e.to_string()))?;
            out.write_all(b"\n")?;
        }
        Ok::<_, HistoryError>(())
    };
    let raw = store.store();
    for c in &chunks {
        if cancel.load(Ordering::Relaxed) {
            return Err(HistoryError::Cancelled);
        }
        let footer = read_chunk_footer(raw, &c.key, c.size).await?;
        let want = |s: &logq_storage::ChunkStream| {
            s.max_ts >= start && s.min_ts < end && matches_all(&spec.selector, &s.labels)
        };
        for (meta, entries) in read_chunk_streams(raw, &c.key, &footer, want).await? {
            write(&c.key, &meta.labels, entries, &mut summary)?;
        }
        summary.objects.push(c.key.clone());
        progress.done.fetch_add(1, Ordering::Relaxed);
    }
    for b in &blocks {
        if cancel.load(Ordering::Relaxed) {
            return Err(HistoryError::Cancelled);
        }
        let index = BlockIndex::decode(&b.index_key, &raw.get(&b.index_key).await?)?;
        let selected: Vec<_> = index.select(&spec.selector, start, end).collect();
        let data = raw.get(&b.key).await?;
        let read = read_block_streams(&b.key, data, &selected)?;
        for (s, entries) in selected.iter().zip(read) {
            write(&b.key, &s.labels, entries, &mut summary)?;
        }
        summary.objects.push(b.key.clone());
        progress.done.fetch_add(1, Ordering::Relaxed);
    }
    out.flush()?;
    drop(out);
    summary.bytes_on_disk = std::fs::metadata(tmp.join("entries.jsonl"))?.len();
    std::fs::write(
        tmp.join("summary.json"),
        serde_json::to_vec(&summary).map_err(|e| HistoryError::Corrupt(e.to_string()))?,
    )?;
    let _ = std::fs::remove_dir_all(dir);
    std::fs::rename(&tmp, dir)?;
    Ok(summary)
}

/// An opened index.
#[derive(Debug)]
pub struct HistoryIndex {
    dir: PathBuf,
    summary: IndexSummary,
}

impl HistoryIndex {
    /// Opens and verifies an index.
    pub fn open(dir: &Path) -> Result<HistoryIndex, HistoryError> {
        let bytes = std::fs::read(dir.join("summary.json"))?;
        let summary: IndexSummary =
            serde_json::from_slice(&bytes).map_err(|e| HistoryError::Corrupt(e.to_string()))?;
        let len = std::fs::metadata(dir.join("entries.jsonl"))?.len();
        if len != summary.bytes_on_disk {
            return Err(HistoryError::Corrupt("entries file has the wrong size".into()));
        }
        let index = HistoryIndex {
            dir: dir.to_path_buf(),
            summary,
        };
        // Every row must parse.
        index.rows()?;
        Ok(index)
    }

    /// What it holds.
    pub fn summary(&self) -> &IndexSummary {
        &self.summary
    }

    fn rows(&self) -> Result<Vec<Row>, HistoryError> {
        let f = std::io::BufReader::new(std::fs::File::open(self.dir.join("entries.jsonl"))?);
        let mut rows = Vec::new();
        for line in f.lines() {
            rows.push(serde_json::from_str(&line?).map_err(|e| HistoryError::Corrupt(e.to_string()))?);
        }
        Ok(rows)
    }

    /// Candidate entries.
    pub fn search(&self, req: &SearchRequest) -> Result<SearchPage, HistoryError> {
        let mut hits: Vec<(LabelSet, Entry)> = Vec::new();
        for r in self.rows()? {
            if r.ts < req.start_ns || r.ts >= req.end_ns || !req.objects.contains(&r.object) {
                continue;
            }
            if !req
                .needle
                .all_of
                .iter()
                .all(|any| any.iter().any(|lit| r.line.contains(lit.as_str())))
            {
                continue;
            }
            let labels = LabelSet::parse(&r.labels).map_err(|e| HistoryError::Corrupt(e.to_string()))?;
            if !matches_all(&req.matchers, &labels) {
                continue;
            }
            hits.push((
                labels,
                Entry {
                    ts: r.ts,
                    id: r.id,
                    line: r.line,
                    metadata: r.metadata,
                },
            ));
        }
        match req.direction {
            SearchDirection::Forward => hits.sort_by_key(|h| h.1.ts),
            SearchDirection::Backward => hits.sort_by_key(|h| std::cmp::Reverse(h.1.ts)),
        }
        let skip = req.cursor.unwrap_or(0) as usize;
        let page: Vec<_> = hits.into_iter().skip(skip).collect();
        let more = page.len() > req.limit;
        let entries: Vec<_> = page.into_iter().take(req.limit).collect();
        let next = more.then_some((skip + entries.len()) as u64);
        Ok(SearchPage { entries, next })
    }
}
