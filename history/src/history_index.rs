//! [`HistoryIndex`]: an opened, verified index and its search.
//!
//! A search narrows each segment to candidate documents with the term dictionary
//! ([`crate::candidates`]), filters them on fast fields (stream, object, time range, cursor),
//! keeps the best `limit` in the requested order, and only then reads their stored entries and
//! checks the needle on the real line: the page holds exactly the matching entries, in order.
//! When checks reject candidates the next candidates are taken, so a page is short only at the
//! end of the results.

use std::cmp::Ordering;
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use logq_storage::codec::{decode_entries, Reader};
use logq_storage::{matches_all, Entry, LabelSet};
use tantivy::schema::Value;
use tantivy::{DocAddress, Index, IndexReader, ReloadPolicy, Searcher, TantivyDocument};

use crate::bits::Bits;
use crate::candidates::segment_candidates;
use crate::error::HistoryError;
use crate::meta::{read_verified, HistoryMeta, IndexSummary};
use crate::schema::{fields_of, register, Fields};
use crate::spec::{CompiledNeedle, Cursor, Direction, HistoryEntry, SearchPage, SearchRequest};

/// Fewest candidates taken per round (rejections by the needle check need spare ones).
const MIN_ROUND: usize = 64;

/// An opened history index (read-only; cheap to share behind an `Arc`, searches run in
/// parallel).
pub struct HistoryIndex {
    dir: PathBuf,
    meta: HistoryMeta,
    reader: IndexReader,
    fields: Fields,
    objects: HashMap<String, u64>,
}

impl std::fmt::Debug for HistoryIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HistoryIndex")
            .field("dir", &self.dir)
            .field("summary", &self.meta.summary)
            .finish()
    }
}

/// A candidate: its position, segment, doc and stream ordinal.
type Candidate = (Cursor, u32, u32, u32);

impl HistoryIndex {
    /// Opens the index in `dir`, verifying the meta and every file's length and checksum (see
    /// [`crate::meta`]) and that the index holds as many entries as its summary says. A
    /// partial or damaged index is a [`HistoryError::Corrupt`], never a wrong answer.
    pub fn open(dir: &Path) -> Result<HistoryIndex, HistoryError> {
        let shown = dir.display().to_string();
        let meta = read_verified(dir)?;
        let index = Index::open_in_dir(dir).map_err(|e| HistoryError::corrupt(&shown, e))?;
        register(&index);
        let fields = fields_of(&index, &shown)?;
        let reader: IndexReader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()
            .map_err(|e| HistoryError::corrupt(&shown, e))?;
        let docs = reader.searcher().num_docs();
        if docs != meta.summary.lines {
            return Err(HistoryError::corrupt(
                &shown,
                format!("holds {docs} entries, summary says {}", meta.summary.lines),
            ));
        }
        let objects = meta
            .summary
            .objects
            .iter()
            .enumerate()
            .map(|(i, k)| (k.clone(), i as u64))
            .collect();
        Ok(HistoryIndex {
            dir: dir.to_path_buf(),
            meta,
            reader,
            fields,
            objects,
        })
    }

    /// What the index holds.
    pub fn summary(&self) -> &IndexSummary {
        &self.meta.summary
    }

    /// The labels of every stream indexed.
    pub fn streams(&self) -> &[LabelSet] {
        &self.meta.streams
    }

    /// The directory it lives in.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The entries of streams matching `req.matchers`, with `req.start_ns <= ts < req.end_ns`,
    /// built from objects in `req.objects`, whose line satisfies `req.needle`, in
    /// `req.direction` order after `req.cursor`, at most `req.limit` of them. Never misses a
    /// matching entry; never returns one that does not match.
    pub fn search(&self, req: &SearchRequest) -> Result<SearchPage, HistoryError> {
        let mut page = SearchPage::default();
        if req.limit == 0 || req.start_ns >= req.end_ns {
            return Ok(page);
        }
        let streams: Vec<bool> = self
            .meta
            .streams
            .iter()
            .map(|l| matches_all(&req.matchers, l))
            .collect();
        let wanted: HashSet<&str> = req.objects.iter().map(String::as_str).collect();
        let mut objects = vec![false; self.meta.summary.objects.len()];
        for (key, &ord) in &self.objects {
            if wanted.contains(key.as_str()) {
                objects[ord as usize] = true;
            }
        }
        if !streams.contains(&true) || !objects.contains(&true) {
            return Ok(page);
        }
        let searcher = self.reader.searcher();
        let mut candidates = Vec::with_capacity(searcher.segment_readers().len());
        for segment in searcher.segment_readers() {
            candidates.push(segment_candidates(segment, &self.fields, &req.needle)?);
        }
        let needle = CompiledNeedle::new(&req.needle);
        let filter = Filter {
            streams: &streams,
            objects: &objects,
            start: req.start_ns,
            end: req.end_ns,
            direction: req.direction,
        };
        let mut after = req.cursor;
        loop {
            let want = (req.limit - page.entries.len()).max(MIN_ROUND);
            let (round, more) = self.top(&searcher, &candidates, &filter, after, want)?;
            for &(cursor, seg, doc, stream) in &round {
                let (labels, entry) = self.load(&searcher, seg, doc, stream)?;
                page.examined_lines += 1;
                page.examined_bytes += entry.line.len() as u64;
                after = Some(cursor);
                if !needle.matches(entry.line.as_bytes()) {
                    continue;
                }
                page.entries.push(HistoryEntry {
                    labels,
                    entry,
                    cursor,
                });
                if page.entries.len() == req.limit {
                    page.next = Some(cursor);
                    return Ok(page);
                }
            }
            if !more {
                return Ok(page);
            }
        }
    }

    /// The first `want` candidates after `after` in order, and whether more remain.
    fn top(
        &self,
        searcher: &Searcher,
        candidates: &[Bits],
        filter: &Filter<'_>,
        after: Option<Cursor>,
        want: usize,
    ) -> Result<(Vec<Candidate>, bool), HistoryError> {
        let order = |a: &Candidate, b: &Candidate| filter.order(&a.0, &b.0);
        let mut buf: Vec<Candidate> = Vec::new();
        let mut more = false;
        for (seg_ord, (segment, bits)) in searcher.segment_readers().iter().zip(candidates).enumerate() {
            let ff = segment.fast_fields();
            let ts = ff.i64("ts")?;
            let seq = ff.u64("seq")?;
            let stream = ff.u64("stream")?;
            let object = ff.u64("object")?;
            for doc in bits.iter() {
                let Some(t) = ts.first(doc) else { continue };
                if t < filter.start || t >= filter.end {
                    continue;
                }
                let (Some(s), Some(o), Some(q)) = (stream.first(doc), object.first(doc), seq.first(doc))
                else {
                    continue;
                };
                if !filter.streams.get(s as usize).copied().unwrap_or(false)
                    || !filter.objects.get(o as usize).copied().unwrap_or(false)
                {
                    continue;
                }
                let c = Cursor { ts: t, seq: q };
                if after.is_some_and(|a| filter.order(&c, &a) != Ordering::Greater) {
                    continue;
                }
                buf.push((c, seg_ord as u32, doc, s as u32));
                if buf.len() >= want.saturating_mul(2).max(1024) {
                    buf.select_nth_unstable_by(want - 1, order);
                    buf.truncate(want);
                    more = true;
                }
            }
        }
        buf.sort_unstable_by(order);
        if buf.len() > want {
            buf.truncate(want);
            more = true;
        }
        Ok((buf, more))
    }

    /// The stream labels and stored entry of one document.
    fn load(
        &self,
        searcher: &Searcher,
        seg: u32,
        doc: u32,
        stream: u32,
    ) -> Result<(LabelSet, Entry), HistoryError> {
        let shown = || self.dir.display().to_string();
        let stored: TantivyDocument = searcher.doc(DocAddress::new(seg, doc))?;
        let Some(bytes) = stored.get_first(self.fields.entry).and_then(|v| v.as_bytes()) else {
            return Err(HistoryError::corrupt(
                shown(),
                format!("document {seg}/{doc} has no entry"),
            ));
        };
        let mut entries =
            decode_entries(&mut Reader::new(bytes)).map_err(|e| HistoryError::corrupt(shown(), e))?;
        let entry = match (entries.pop(), entries.is_empty()) {
            (Some(e), true) => e,
            _ => {
                return Err(HistoryError::corrupt(
                    shown(),
                    format!("document {seg}/{doc} is not one entry"),
                ))
            }
        };
        let labels = self
            .meta
            .streams
            .get(stream as usize)
            .cloned()
            .ok_or_else(|| HistoryError::corrupt(shown(), format!("stream {stream} out of range")))?;
        Ok((labels, entry))
    }
}

/// The per-search filters applied on fast fields.
struct Filter<'a> {
    streams: &'a [bool],
    objects: &'a [bool],
    start: i64,
    end: i64,
    direction: Direction,
}

impl Filter<'_> {
    /// `a` before `b` in the requested direction.
    fn order(&self, a: &Cursor, b: &Cursor) -> Ordering {
        match self.direction {
            Direction::Forward => a.cmp(b),
            Direction::Backward => b.cmp(a),
        }
    }
}
