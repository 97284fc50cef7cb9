//! Building an index: from the tenant's flushed chunks and blocks listed by the current
//! manifest (never the head) into a tantivy index in a temporary directory, renamed into place.
//!
//! Invariants:
//! - object by object, and within a block by batches of streams of at most [`BATCH_BYTES`]
//!   line bytes, so memory is bounded by the writer's budget plus one batch, whatever the range;
//! - all the work (decoding, tokenizing, writing) runs on a blocking thread and the writer's
//!   one indexing thread, never on the async runtime's workers;
//! - the summary lists exactly the objects whose entries are in the index: an object that
//!   vanished while the build ran (compacted, deleted) is left out, so a caller that trusts
//!   only objects the summary lists and the current manifest still lists scans its replacement;
//! - the directory appears complete or not at all (temporary directory, meta written last,
//!   fsync, rename).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Instant;

use logq_storage::codec::encode_entries;
use logq_storage::{
    matches_all, read_block_streams_ranged, read_chunk_footer, read_chunk_streams, BlockIndex, BlockRef,
    ChunkRef, Entry, IndexedStream, LabelSet, ManifestStore, RowFilter, StorageErrorKind,
};
use tantivy::{Index, IndexWriter, TantivyDocument};
use tokio::runtime::Handle;

use crate::error::HistoryError;
use crate::meta::{sum_files, write_meta, HistoryMeta, IndexSummary, FORMAT_VERSION};
use crate::schema::{register, schema, settings, Fields};
use crate::spec::{BuildProgress, IndexSpec};
use crate::term_grams::TermGrams;

/// Most line bytes of a block read and indexed at once.
const BATCH_BYTES: u64 = 32 << 20;

/// The index writer's memory budget (one indexing thread).
const WRITER_BUDGET: usize = 96 << 20;

/// Builds the index of `spec` in `dir` (replacing what is there) from the objects the current
/// manifest of `spec.tenant` lists in its range. `progress` is updated as objects are read;
/// setting `cancel` stops the build at the next object or batch (`HistoryError::Cancelled`, no
/// directory left behind).
pub async fn build(
    store: &ManifestStore,
    spec: &IndexSpec,
    dir: &Path,
    progress: Arc<BuildProgress>,
    cancel: Arc<AtomicBool>,
) -> Result<IndexSummary, HistoryError> {
    if spec.start_ns >= spec.end_ns {
        return Err(HistoryError::Invalid(format!(
            "start {} is not before end {}",
            spec.start_ns, spec.end_ns
        )));
    }
    let manifest = store.load(&spec.tenant).await?;
    let mut plan: Vec<Object> = manifest
        .chunks_in(spec.start_ns, spec.end_ns)
        .cloned()
        .map(Object::Chunk)
        .chain(
            manifest
                .blocks_in(spec.start_ns, spec.end_ns)
                .cloned()
                .map(Object::Block),
        )
        .collect();
    plan.sort_by_key(|o| (o.min_ts(), o.key().to_string()));
    progress
        .planned_bytes
        .store(plan.iter().map(Object::size).sum(), Relaxed);
    progress.objects_planned.store(plan.len() as u64, Relaxed);

    let job = Job {
        store: store.clone(),
        spec: spec.clone(),
        dir: dir.to_path_buf(),
        tmp: temp_dir_for(dir)?,
        manifest_version: manifest.version,
        plan,
        progress,
        cancel,
        handle: Handle::current(),
    };
    let tmp = job.tmp.clone();
    let result = tokio::task::spawn_blocking(move || job.run())
        .await
        .map_err(|e| HistoryError::Invalid(format!("build task failed: {e}")))
        .and_then(|r| r);
    if result.is_err() {
        let _ = std::fs::remove_dir_all(&tmp);
    }
    result
}

/// `<dir>.building` beside `dir`.
fn temp_dir_for(dir: &Path) -> Result<PathBuf, HistoryError> {
    let name = dir
        .file_name()
        .ok_or_else(|| HistoryError::Invalid(format!("index directory {} has no name", dir.display())))?;
    let mut tmp = name.to_os_string();
    tmp.push(".building");
    Ok(dir.with_file_name(tmp))
}

/// A stored object to index.
enum Object {
    Chunk(ChunkRef),
    Block(BlockRef),
}

impl Object {
    fn key(&self) -> &str {
        match self {
            Object::Chunk(c) => &c.key,
            Object::Block(b) => &b.key,
        }
    }
    fn size(&self) -> u64 {
        match self {
            Object::Chunk(c) => c.size,
            Object::Block(b) => b.size,
        }
    }
    fn min_ts(&self) -> i64 {
        match self {
            Object::Chunk(c) => c.min_ts,
            Object::Block(b) => b.min_ts,
        }
    }
}

/// Everything the blocking build needs.
struct Job {
    store: ManifestStore,
    spec: IndexSpec,
    dir: PathBuf,
    tmp: PathBuf,
    manifest_version: u64,
    plan: Vec<Object>,
    progress: Arc<BuildProgress>,
    cancel: Arc<AtomicBool>,
    handle: Handle,
}

/// Adds entries to the writer, assigning stream ordinals and sequence numbers.
struct Indexer {
    writer: IndexWriter,
    fields: Fields,
    streams: Vec<LabelSet>,
    stream_ords: HashMap<LabelSet, u64>,
    seq: u64,
    lines: u64,
    bytes_raw: u64,
    buf: Vec<u8>,
}

impl Indexer {
    fn add(
        &mut self,
        labels: &LabelSet,
        object: u64,
        entries: &[Entry],
        spec: &IndexSpec,
    ) -> Result<(), HistoryError> {
        let stream = match self.stream_ords.get(labels) {
            Some(&s) => s,
            None => {
                let s = self.streams.len() as u64;
                self.streams.push(labels.clone());
                self.stream_ords.insert(labels.clone(), s);
                s
            }
        };
        for e in entries {
            if e.ts < spec.start_ns || e.ts >= spec.end_ns {
                continue;
            }
            self.buf.clear();
            encode_entries(&mut self.buf, std::slice::from_ref(e));
            let mut doc = TantivyDocument::default();
            doc.add_text(self.fields.words, &e.line);
            doc.add_i64(self.fields.ts, e.ts);
            doc.add_u64(self.fields.seq, self.seq);
            doc.add_u64(self.fields.stream, stream);
            doc.add_u64(self.fields.object, object);
            doc.add_bytes(self.fields.entry, &self.buf);
            self.writer.add_document(doc)?;
            self.seq += 1;
            self.lines += 1;
            self.bytes_raw += e.line.len() as u64;
        }
        Ok(())
    }
}

impl Job {
    fn cancelled(&self) -> Result<(), HistoryError> {
        if self.cancel.load(Relaxed) {
            Err(HistoryError::Cancelled)
        } else {
            Ok(())
        }
    }

    /// Stores each segment's dictionary trigram filter beside it (see [`crate::term_grams`]).
    fn write_grams(&self, index: &Index, words: tantivy::schema::Field) -> Result<(), HistoryError> {
        let reader = index.reader()?;
        for segment in reader.searcher().segment_readers() {
            let grams = TermGrams::build(segment.inverted_index(words)?.terms())?;
            let path = TermGrams::path(&self.tmp, segment.segment_id());
            std::fs::write(&path, grams.to_bytes())
                .map_err(|e| HistoryError::io(format!("writing {}", path.display()), e))?;
        }
        Ok(())
    }

    fn run(self) -> Result<IndexSummary, HistoryError> {
        let started = Instant::now();
        let io = |what: &str, p: &Path| {
            let s = format!("{what} {}", p.display());
            move |e| HistoryError::io(s, e)
        };
        if self.tmp.exists() {
            std::fs::remove_dir_all(&self.tmp).map_err(io("removing", &self.tmp))?;
        }
        std::fs::create_dir_all(&self.tmp).map_err(io("creating", &self.tmp))?;
        let (schema, fields) = schema();
        let words = fields.words;
        let index = Index::builder()
            .schema(schema)
            .settings(settings())
            .create_in_dir(&self.tmp)?;
        register(&index);
        let writer: IndexWriter = index.writer_with_num_threads(1, WRITER_BUDGET)?;
        writer.set_merge_policy(Box::new(tantivy::indexer::NoMergePolicy));
        let mut ix = Indexer {
            writer,
            fields,
            streams: Vec::new(),
            stream_ords: HashMap::new(),
            seq: 0,
            lines: 0,
            bytes_raw: 0,
            buf: Vec::new(),
        };
        let mut objects = Vec::new();
        for obj in &self.plan {
            self.cancelled()?;
            let ord = objects.len() as u64;
            let read = match obj {
                Object::Chunk(c) => self.index_chunk(&mut ix, c, ord),
                Object::Block(b) => self.index_block(&mut ix, b, ord),
            };
            match read {
                Ok(()) => objects.push(obj.key().to_string()),
                Err(HistoryError::Storage(e)) if e.kind == StorageErrorKind::NotFound => {
                    // Replaced since the manifest was read: its entries live on in objects this
                    // index does not list, which callers scan.
                    tracing::debug!(key = obj.key(), "object vanished during history build, skipped");
                }
                Err(e) => return Err(e),
            }
            self.progress.done_bytes.fetch_add(obj.size(), Relaxed);
            self.progress.objects_done.fetch_add(1, Relaxed);
        }
        self.cancelled()?;
        let Indexer {
            mut writer,
            streams,
            lines,
            bytes_raw,
            ..
        } = ix;
        writer.commit()?;
        let segments = index.searchable_segment_ids()?;
        if segments.len() > 1 {
            writer.merge(&segments).wait()?;
        }
        writer.wait_merging_threads()?;
        self.cancelled()?;
        self.write_grams(&index, words)?;

        let files = sum_files(&self.tmp)?;
        for f in &files {
            let p = self.tmp.join(&f.name);
            std::fs::File::open(&p)
                .and_then(|f| f.sync_all())
                .map_err(io("syncing", &p))?;
        }
        let summary = IndexSummary {
            tenant: self.spec.tenant.as_str().to_string(),
            start_ns: self.spec.start_ns,
            end_ns: self.spec.end_ns,
            selector: self.spec.selector_text(),
            manifest_version: self.manifest_version,
            objects,
            streams: streams.len() as u64,
            lines,
            bytes_raw,
            bytes_on_disk: files.iter().map(|f| f.len).sum(),
            build_ms: started.elapsed().as_millis() as u64,
        };
        let meta = HistoryMeta {
            format: FORMAT_VERSION,
            summary: summary.clone(),
            streams,
            files,
        };
        write_meta(&self.tmp, &meta)?;
        sync_dir(&self.tmp)?;
        if self.dir.exists() {
            std::fs::remove_dir_all(&self.dir).map_err(io("removing", &self.dir))?;
        }
        std::fs::rename(&self.tmp, &self.dir).map_err(io("renaming into", &self.dir))?;
        if let Some(parent) = self.dir.parent() {
            sync_dir(parent)?;
        }
        self.progress.finished.store(true, Relaxed);
        tracing::info!(
            tenant = %self.spec.tenant,
            lines = summary.lines,
            bytes_raw = summary.bytes_raw,
            bytes_on_disk = summary.bytes_on_disk,
            build_ms = summary.build_ms,
            "history index built"
        );
        Ok(summary)
    }

    fn index_chunk(&self, ix: &mut Indexer, c: &ChunkRef, ord: u64) -> Result<(), HistoryError> {
        let store = self.store.store();
        let spec = &self.spec;
        let footer = self.handle.block_on(read_chunk_footer(store, &c.key, c.size))?;
        let streams = self
            .handle
            .block_on(read_chunk_streams(store, &c.key, &footer, |m| {
                m.max_ts >= spec.start_ns && m.min_ts < spec.end_ns && matches_all(&spec.selector, &m.labels)
            }))?;
        for (meta, entries) in streams {
            self.cancelled()?;
            ix.add(&meta.labels, ord, &entries, spec)?;
            self.count(&entries);
        }
        Ok(())
    }

    fn index_block(&self, ix: &mut Indexer, b: &BlockRef, ord: u64) -> Result<(), HistoryError> {
        let store = self.store.store();
        let spec = &self.spec;
        let index_bytes = self.handle.block_on(store.get(&b.index_key))?;
        let block_index = BlockIndex::decode(&b.index_key, &index_bytes)?;
        let selected: Vec<&IndexedStream> = block_index
            .select(&spec.selector, spec.start_ns, spec.end_ns)
            .collect();
        let filter = RowFilter {
            start: spec.start_ns,
            end: spec.end_ns,
            ..RowFilter::all()
        };
        for batch in batches(&selected) {
            self.cancelled()?;
            let read = self
                .handle
                .block_on(read_block_streams_ranged(store, &b.key, b.size, batch, &filter))?;
            for (s, entries) in batch.iter().zip(read) {
                ix.add(&s.labels, ord, &entries, spec)?;
                self.count(&entries);
            }
        }
        Ok(())
    }

    fn count(&self, entries: &[Entry]) {
        let in_range = entries
            .iter()
            .filter(|e| e.ts >= self.spec.start_ns && e.ts < self.spec.end_ns);
        let (n, bytes) = in_range.fold((0, 0), |(n, b), e| (n + 1, b + e.line.len() as u64));
        self.progress.lines.fetch_add(n, Relaxed);
        self.progress.raw_bytes.fetch_add(bytes, Relaxed);
    }
}

/// Consecutive runs of streams holding at most [`BATCH_BYTES`] line bytes (a bigger stream is
/// a batch of its own).
fn batches<'a>(streams: &'a [&'a IndexedStream]) -> Vec<&'a [&'a IndexedStream]> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut bytes = 0;
    for (i, s) in streams.iter().enumerate() {
        if i > start && bytes + s.bytes > BATCH_BYTES {
            out.push(&streams[start..i]);
            start = i;
            bytes = 0;
        }
        bytes += s.bytes;
    }
    if start < streams.len() {
        out.push(&streams[start..]);
    }
    out
}

fn sync_dir(dir: &Path) -> Result<(), HistoryError> {
    std::fs::File::open(dir)
        .and_then(|f| f.sync_all())
        .map_err(|e| HistoryError::io(format!("syncing {}", dir.display()), e))
}
