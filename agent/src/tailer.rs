//! Following files: discovery, rotation, truncation, and reading lines with their offsets.
//!
//! The [`Tailer`] owns the checkpoint [`Journal`] and one [`Tracked`] state per open file
//! generation. Its rules:
//! - A file is followed through its open descriptor, so a rename (rotation) or an unlink does not
//!   stop the reading: a file whose path no longer leads to it is *detached*, read to its end,
//!   and dropped once it has been quiet for `rotate_wait` and everything read from it was
//!   acknowledged. The new file at the old path is a new file, read from its first byte.
//! - Truncation (size below the read position, copytruncate) and a rewrite in place (the
//!   fingerprint of the first bytes changed) start a new generation at offset 0 with a new
//!   `file_id`, so its lines get message ids of their own.
//! - On the agent's very first start (no journal yet) files that already exist are read from
//!   their end, unless `from_beginning`; every file seen later (created, or appeared while the
//!   agent was down) is read from its start, and files the journal knows resume at their
//!   acknowledged offset.
//! - Reading never outruns the pipeline: [`Tailer::read`] reads at most the byte budget it is
//!   given, and the pipeline only asks for more after the previous batch was acknowledged.

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use regex::Regex;

use crate::checkpoint::{fingerprint, new_file_id, FileCheckpoint, Journal, Segment, FINGERPRINT_BYTES};
use crate::error::AgentError;
use crate::lines::{LineSplitter, Multiline, RawLine};
use crate::watcher;

/// How a [`Tailer`] behaves.
#[derive(Debug, Clone)]
pub struct TailerConfig {
    /// Globs (`*`, `?`) or directories to follow.
    pub paths: Vec<String>,
    /// On the first start, read existing files from their beginning instead of their end.
    pub from_beginning: bool,
    /// Longer lines are cut (and counted).
    pub max_line_bytes: usize,
    /// When set, lines not matching this pattern continue the previous event.
    pub multiline_start: Option<Regex>,
    /// An unfinished last line (or multi-line event) is emitted after this long without data.
    pub partial_flush: Duration,
    /// A rotated or deleted file is dropped after this long without new data at its end.
    pub rotate_wait: Duration,
    /// `service` label by path glob, first match wins; default: the file stem.
    pub services: Vec<(String, String)>,
}

impl Default for TailerConfig {
    fn default() -> Self {
        TailerConfig {
            paths: Vec::new(),
            from_beginning: false,
            max_line_bytes: 256 * 1024,
            multiline_start: None,
            partial_flush: Duration::from_secs(5),
            rotate_wait: Duration::from_secs(5),
            services: Vec::new(),
        }
    }
}

/// A line read from a followed file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileLine {
    /// The file generation it came from.
    pub file_id: u64,
    /// The line and its byte range.
    pub line: RawLine,
}

/// What the tailer counted since it started.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct TailerStats {
    /// Bytes read from files.
    pub bytes_read: u64,
    /// Lines emitted.
    pub lines: u64,
    /// Lines cut at the maximum size.
    pub truncated_lines: u64,
    /// Lines in which invalid UTF-8 was replaced.
    pub invalid_utf8_lines: u64,
    /// Truncations and rewrites detected.
    pub truncations: u64,
    /// Files picked up.
    pub files_opened: u64,
    /// Files dropped after rotation or deletion.
    pub files_closed: u64,
}

/// One open file generation.
#[derive(Debug)]
struct Tracked {
    file: File,
    splitter: LineSplitter,
    multiline: Option<Multiline>,
    last_size: u64,
    last_data: Instant,
    detached_since: Option<Instant>,
    /// Segments of a batch that was in flight when the agent last stopped.
    replay: Vec<Segment>,
    /// End of the last line handed to the pipeline.
    consumed: u64,
}

/// Follows the configured files.
#[derive(Debug)]
pub struct Tailer {
    cfg: TailerConfig,
    journal: Journal,
    files: BTreeMap<u64, Tracked>,
    first_scan_done: bool,
    read_buf: Vec<u8>,
    stats: TailerStats,
    dirty: bool,
    /// The file generation [`Tailer::read`] starts with.
    next_read: u64,
}

const READ_CHUNK: usize = 256 * 1024;

impl Tailer {
    /// A tailer over `journal` (already opened).
    pub fn new(cfg: TailerConfig, journal: Journal) -> Tailer {
        Tailer {
            cfg,
            journal,
            files: BTreeMap::new(),
            first_scan_done: false,
            read_buf: vec![0; READ_CHUNK],
            stats: TailerStats::default(),
            dirty: false,
            next_read: 0,
        }
    }

    /// Counters since the start.
    pub fn stats(&self) -> TailerStats {
        self.stats
    }

    /// Bytes of followed files not yet acknowledged (size seen minus acknowledged offset).
    pub fn lag_bytes(&self) -> u64 {
        self.files
            .iter()
            .map(|(id, t)| {
                let acked = self.journal.get(*id).map_or(0, |c| c.offset);
                t.last_size.saturating_sub(acked)
            })
            .sum()
    }

    /// Bytes not yet acknowledged per followed file, by path (a rotated file still being read
    /// and its successor at the same path are summed).
    pub fn lag_by_path(&self) -> BTreeMap<String, u64> {
        let mut out = BTreeMap::new();
        for (id, t) in &self.files {
            let Some(cp) = self.journal.get(*id) else { continue };
            *out.entry(cp.path.display().to_string()).or_default() += t.last_size.saturating_sub(cp.offset);
        }
        out
    }

    /// Number of files being followed.
    pub fn file_count(&self) -> usize {
        self.files.len()
    }

    /// The journal entry of a file generation (labels, offsets).
    pub fn checkpoint(&self, file_id: u64) -> Option<&FileCheckpoint> {
        self.journal.get(file_id)
    }

    /// The in-flight segment, recorded when the agent last stopped, that holds the line starting
    /// at `offset`: its lines get their timestamps from it again.
    pub fn replay_segment(&self, file_id: u64, offset: u64) -> Option<Segment> {
        let t = self.files.get(&file_id)?;
        t.replay
            .iter()
            .find(|s| s.start <= offset && offset < s.end)
            .copied()
    }

    /// Saves the journal if anything changed since the last save.
    pub fn save_if_dirty(&mut self) -> Result<(), AgentError> {
        if self.dirty {
            self.journal.save()?;
            self.dirty = false;
        }
        Ok(())
    }

    /// Records the segments of a batch about to be sent, and saves the journal.
    pub fn set_in_flight(&mut self, segments: &BTreeMap<u64, Vec<Segment>>) -> Result<(), AgentError> {
        for (id, segs) in segments {
            if let Some(cp) = self.journal.get_mut(*id) {
                cp.in_flight = segs.clone();
            }
        }
        self.journal.save()?;
        self.dirty = false;
        Ok(())
    }

    /// The batch with these segments was acknowledged: offsets move, in-flight records and
    /// replay ranges they covered are cleared, finished files are dropped; saves the journal.
    pub fn ack(
        &mut self,
        segments: &BTreeMap<u64, Vec<Segment>>,
        last_ts: &HashMap<u64, i64>,
    ) -> Result<(), AgentError> {
        for (id, segs) in segments {
            let Some(end) = segs.iter().map(|s| s.end).max() else {
                continue;
            };
            if let Some(cp) = self.journal.get_mut(*id) {
                cp.offset = cp.offset.max(end);
                cp.in_flight.clear();
                if let Some(ts) = last_ts.get(id) {
                    cp.last_ts = Some(*ts);
                }
            }
            if let Some(t) = self.files.get_mut(id) {
                t.replay.retain(|s| s.end > end);
            }
        }
        self.drop_finished();
        self.journal.save()?;
        self.dirty = false;
        Ok(())
    }

    fn drop_finished(&mut self) {
        let wait = self.cfg.rotate_wait;
        let done: Vec<u64> = self
            .files
            .iter()
            .filter(|(id, t)| {
                t.detached_since.is_some_and(|d| d.elapsed() >= wait)
                    && t.last_data.elapsed() >= wait
                    && !t.splitter.has_partial()
                    && !t.multiline.as_ref().is_some_and(|m| m.has_pending())
                    && t.splitter.position() >= t.last_size
                    && self.journal.get(**id).is_some_and(|cp| cp.offset >= t.consumed)
            })
            .map(|(id, _)| *id)
            .collect();
        for id in done {
            self.files.remove(&id);
            if let Some(cp) = self.journal.remove(id) {
                tracing::info!(path = %cp.path.display(), "finished rotated or deleted file");
            }
            self.stats.files_closed += 1;
            self.dirty = true;
        }
    }

    /// Discovers new files and notices renamed, deleted, truncated and rewritten ones.
    pub fn scan(&mut self, now_ns: i64) -> Result<(), AgentError> {
        let mut found: HashMap<(u64, u64), PathBuf> = HashMap::new();
        for p in watcher::expand(&self.cfg.paths) {
            if let Ok(m) = std::fs::metadata(&p) {
                if m.is_file() {
                    found.entry((m.dev(), m.ino())).or_insert(p);
                }
            }
        }
        let ids: Vec<u64> = self.files.keys().copied().collect();
        for id in ids {
            let Some(cp) = self.journal.get(id) else { continue };
            let key = (cp.dev, cp.ino);
            let Some(t) = self.files.get_mut(&id) else {
                continue;
            };
            match found.remove(&key) {
                Some(path) => {
                    t.detached_since = None;
                    if path != cp.path {
                        tracing::info!(from = %cp.path.display(), to = %path.display(), "file renamed");
                        if let Some(cp) = self.journal.get_mut(id) {
                            cp.path = path;
                        }
                        self.dirty = true;
                    }
                }
                None => {
                    if t.detached_since.is_none() {
                        tracing::info!(path = %cp.path.display(), "file rotated away or deleted; reading it to its end");
                        t.detached_since = Some(Instant::now());
                    }
                }
            }
        }
        let mut new: Vec<((u64, u64), PathBuf)> = found.into_iter().collect();
        new.sort_by(|a, b| a.1.cmp(&b.1));
        for (key, path) in new {
            if let Err(e) = self.register(key, &path, now_ns) {
                tracing::warn!(path = %path.display(), error = %e, "cannot follow file");
            }
        }
        if !self.first_scan_done {
            // Files rotated out of the globs before they were finished: found again by inode in
            // the directory they were last seen in, read to their end, then dropped.
            let unfinished: Vec<FileCheckpoint> = self
                .journal
                .files()
                .filter(|c| !self.files.contains_key(&c.file_id))
                .cloned()
                .collect();
            for cp in unfinished {
                let Some(dir) = cp.path.parent() else { continue };
                let Ok(rd) = std::fs::read_dir(dir) else { continue };
                let same = |p: &Path| {
                    std::fs::metadata(p).is_ok_and(|m| m.is_file() && (m.dev(), m.ino()) == (cp.dev, cp.ino))
                        && File::open(p)
                            .and_then(|f| fingerprint(&f, cp.fingerprint_len))
                            .is_ok_and(|(fp, len)| fp == cp.fingerprint && len == cp.fingerprint_len)
                };
                let found = rd.flatten().map(|e| e.path()).find(|p| same(p));
                if let Some(path) = found {
                    tracing::info!(path = %path.display(), offset = cp.offset, "finishing a file rotated while the agent was down");
                    if let Err(e) = self.register((cp.dev, cp.ino), &path, now_ns) {
                        tracing::warn!(path = %path.display(), error = %e, "cannot finish rotated file");
                    }
                    if let Some(t) = self.files.get_mut(&cp.file_id) {
                        t.detached_since = Some(Instant::now());
                    }
                }
            }
            // Journal entries of files that are gone (deleted while the agent was down).
            let stale: Vec<u64> = self
                .journal
                .files()
                .map(|c| c.file_id)
                .filter(|id| !self.files.contains_key(id))
                .collect();
            for id in stale {
                if let Some(cp) = self.journal.remove(id) {
                    tracing::warn!(path = %cp.path.display(), offset = cp.offset, "checkpointed file is gone");
                }
                self.dirty = true;
            }
            self.first_scan_done = true;
            // The journal must exist from now on: it tells a restart that files seen then are
            // not "already there at the first start" (which are read from their end).
            self.dirty = true;
        }
        Ok(())
    }

    fn service_for(&self, path: &Path) -> String {
        let text = path.to_string_lossy();
        for (glob, service) in &self.cfg.services {
            if watcher::wildmatch(glob, &text) {
                return service.clone();
            }
        }
        path.file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "unknown".into())
    }

    fn register(&mut self, key: (u64, u64), path: &Path, now_ns: i64) -> Result<(), AgentError> {
        let file = File::open(path).map_err(|e| AgentError::io("opening", path, e))?;
        let meta = file
            .metadata()
            .map_err(|e| AgentError::io("reading metadata of", path, e))?;
        if (meta.dev(), meta.ino()) != key {
            return Ok(()); // Replaced between the scan and the open: the next scan sees it.
        }
        let size = meta.len();
        let io = |e| AgentError::io("reading", path, e);
        // A generation the journal knows (restart), not followed yet.
        let known: Option<FileCheckpoint> = self
            .journal
            .files()
            .find(|c| (c.dev, c.ino) == key && !self.files.contains_key(&c.file_id))
            .cloned();
        if let Some(cp) = known {
            let (fp, _) = fingerprint(&file, cp.fingerprint_len).map_err(io)?;
            if size >= cp.fingerprint_len && fp == cp.fingerprint && size >= cp.offset {
                tracing::info!(path = %path.display(), offset = cp.offset, "resuming file");
                self.track(file, cp.file_id, cp.offset, size, cp.in_flight.clone());
                if cp.path != path {
                    if let Some(c) = self.journal.get_mut(cp.file_id) {
                        c.path = path.to_path_buf();
                    }
                    self.dirty = true;
                }
                return Ok(());
            }
            tracing::warn!(path = %path.display(), "file changed while the agent was down (truncated or inode reused); reading it from the start");
            self.journal.remove(cp.file_id);
        }
        let start = if !self.first_scan_done && !self.journal.existed() && !self.cfg.from_beginning {
            last_line_boundary(&file, size).map_err(io)?
        } else {
            0
        };
        let (fp, fp_len) = fingerprint(&file, size).map_err(io)?;
        let file_id = new_file_id(key.0, key.1, fp, now_ns);
        let service = self.service_for(path);
        self.journal.upsert(FileCheckpoint {
            file_id,
            path: path.to_path_buf(),
            dev: key.0,
            ino: key.1,
            fingerprint: fp,
            fingerprint_len: fp_len,
            offset: start,
            last_ts: None,
            service,
            filename: path.to_string_lossy().into_owned(),
            in_flight: Vec::new(),
        });
        self.dirty = true;
        tracing::info!(path = %path.display(), offset = start, "following new file");
        self.track(file, file_id, start, size, Vec::new());
        Ok(())
    }

    fn track(&mut self, file: File, file_id: u64, offset: u64, size: u64, replay: Vec<Segment>) {
        let multiline = self
            .cfg
            .multiline_start
            .clone()
            .map(|re| Multiline::new(re, self.cfg.max_line_bytes));
        self.files.insert(
            file_id,
            Tracked {
                file,
                splitter: LineSplitter::new(offset, self.cfg.max_line_bytes),
                multiline,
                last_size: size,
                last_data: Instant::now(),
                detached_since: None,
                replay,
                consumed: offset,
            },
        );
        self.stats.files_opened += 1;
    }

    /// Reads new data, up to about `budget` bytes over all files, appending complete lines to
    /// `out`; returns the number of bytes read. Also emits unfinished lines that waited longer
    /// than `partial_flush`.
    pub fn read(&mut self, budget: usize, now_ns: i64, out: &mut Vec<FileLine>) -> Result<usize, AgentError> {
        let mut total = 0;
        // Round-robin: start after the file served last, so busy files cannot starve the rest.
        let mut ids: Vec<u64> = self.files.range(self.next_read..).map(|(id, _)| *id).collect();
        ids.extend(self.files.range(..self.next_read).map(|(id, _)| *id));
        for id in ids {
            if total >= budget {
                self.next_read = id;
                return Ok(total);
            }
            total += self.read_file(id, budget - total, now_ns, out)?;
        }
        Ok(total)
    }

    fn read_file(
        &mut self,
        id: u64,
        budget: usize,
        now_ns: i64,
        out: &mut Vec<FileLine>,
    ) -> Result<usize, AgentError> {
        let Some(cp) = self.journal.get(id) else {
            return Ok(0);
        };
        let path = cp.path.clone();
        let (fp_stored, fp_len_stored) = (cp.fingerprint, cp.fingerprint_len);
        let Some(t) = self.files.get_mut(&id) else {
            return Ok(0);
        };
        let size = match t.file.metadata() {
            Ok(m) => m.len(),
            Err(e) => return Err(AgentError::io("reading metadata of", &path, e)),
        };
        let pos = t.splitter.position();
        let mut rewritten = size < pos;
        if !rewritten && size != t.last_size {
            let (fp, _) =
                fingerprint(&t.file, fp_len_stored).map_err(|e| AgentError::io("reading", &path, e))?;
            rewritten = fp != fp_stored;
        }
        if rewritten {
            self.new_generation(id, now_ns)?;
            return Ok(0);
        }
        t.last_size = size;
        let mut lines: Vec<RawLine> = Vec::new();
        let mut read = 0usize;
        if size > pos {
            let want = budget.min(READ_CHUNK).min((size - pos) as usize);
            let n = t
                .file
                .read_at(&mut self.read_buf[..want], pos)
                .map_err(|e| AgentError::io("reading", &path, e))?;
            if n > 0 {
                t.splitter.push(&self.read_buf[..n], &mut lines);
                t.last_data = Instant::now();
                read = n;
            }
        }
        if read == 0 && t.last_data.elapsed() >= self.cfg.partial_flush {
            t.splitter.flush_partial(&mut lines);
        }
        let mut events = Vec::with_capacity(lines.len());
        match &mut t.multiline {
            Some(m) => {
                for l in lines {
                    m.push(l, &mut events);
                }
                if read == 0 && t.last_data.elapsed() >= self.cfg.partial_flush {
                    m.flush(&mut events);
                }
            }
            None => events = lines,
        }
        for l in events {
            self.stats.lines += 1;
            self.stats.truncated_lines += u64::from(l.truncated);
            self.stats.invalid_utf8_lines += u64::from(l.invalid_utf8);
            if l.truncated {
                tracing::warn!(path = %path.display(), offset = l.start, max = self.cfg.max_line_bytes, "line truncated");
            }
            t.consumed = l.end;
            out.push(FileLine { file_id: id, line: l });
        }
        self.stats.bytes_read += read as u64;
        // The fingerprint grows with the file up to its full length.
        if fp_len_stored < FINGERPRINT_BYTES && size > fp_len_stored {
            let (fp, len) = fingerprint(&t.file, size).map_err(|e| AgentError::io("reading", &path, e))?;
            if let Some(cp) = self.journal.get_mut(id) {
                cp.fingerprint = fp;
                cp.fingerprint_len = len;
            }
            self.dirty = true;
        }
        Ok(read)
    }

    /// Truncated or rewritten in place: the same inode starts over as a new generation.
    fn new_generation(&mut self, id: u64, now_ns: i64) -> Result<(), AgentError> {
        let Some(t) = self.files.remove(&id) else {
            return Ok(());
        };
        let Some(mut cp) = self.journal.remove(id) else {
            return Ok(());
        };
        let size = t.file.metadata().map(|m| m.len()).unwrap_or(0);
        let (fp, fp_len) = fingerprint(&t.file, size).map_err(|e| AgentError::io("reading", &cp.path, e))?;
        tracing::warn!(path = %cp.path.display(), old_offset = t.splitter.position(), size, "file truncated or rewritten; reading it from the start");
        cp.file_id = new_file_id(cp.dev, cp.ino, fp, now_ns);
        cp.fingerprint = fp;
        cp.fingerprint_len = fp_len;
        cp.offset = 0;
        cp.last_ts = None;
        cp.in_flight.clear();
        let new_id = cp.file_id;
        self.journal.upsert(cp);
        self.stats.truncations += 1;
        self.dirty = true;
        let detached = t.detached_since;
        self.track(t.file, new_id, 0, size, Vec::new());
        self.stats.files_opened -= 1;
        if let Some(n) = self.files.get_mut(&new_id) {
            n.detached_since = detached;
        }
        Ok(())
    }
}

/// The offset just after the last newline in the last 64 KiB of the file (its end when it ends
/// with a newline): where reading "from the end" starts without cutting a line in two.
fn last_line_boundary(file: &File, size: u64) -> std::io::Result<u64> {
    let from = size.saturating_sub(64 * 1024);
    let mut buf = vec![0u8; (size - from) as usize];
    let mut got = 0;
    while got < buf.len() {
        let n = file.read_at(&mut buf[got..], from + got as u64)?;
        if n == 0 {
            break;
        }
        got += n;
    }
    Ok(match buf[..got].iter().rposition(|&b| b == b'\n') {
        Some(i) => from + i as u64 + 1,
        None => size,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    struct Fixture {
        dir: tempfile::TempDir,
        tailer: Tailer,
    }

    fn fixture(from_beginning: bool) -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("logs")).unwrap();
        let cfg = TailerConfig {
            paths: vec![dir.path().join("logs/*.log").to_string_lossy().into_owned()],
            from_beginning,
            rotate_wait: Duration::ZERO,
            partial_flush: Duration::from_secs(3600),
            ..TailerConfig::default()
        };
        let journal = Journal::open(&dir.path().join("cp")).unwrap();
        Fixture {
            tailer: Tailer::new(cfg, journal),
            dir,
        }
    }

    impl Fixture {
        fn path(&self, name: &str) -> PathBuf {
            self.dir.path().join("logs").join(name)
        }
        fn append(&self, name: &str, text: &str) {
            let mut f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(self.path(name))
                .unwrap();
            f.write_all(text.as_bytes()).unwrap();
        }
        /// Scans, reads everything and acknowledges it; returns the texts.
        fn pump(&mut self) -> Vec<String> {
            self.tailer.scan(1).unwrap();
            let mut out = Vec::new();
            while self.tailer.read(1 << 20, 1, &mut out).unwrap() > 0 {}
            let mut segs: BTreeMap<u64, Vec<Segment>> = BTreeMap::new();
            for l in &out {
                segs.entry(l.file_id).or_default().push(Segment {
                    start: l.line.start,
                    end: l.line.end,
                    read_time_ns: 0,
                });
            }
            self.tailer.ack(&segs, &HashMap::new()).unwrap();
            out.into_iter().map(|l| l.line.text).collect()
        }
    }

    #[test]
    fn first_start_reads_from_end_then_new_lines() {
        let mut f = fixture(false);
        f.append("a.log", "old 1\nold 2\npart");
        assert!(f.pump().is_empty());
        f.append("a.log", "ial\nnew\n");
        assert_eq!(f.pump(), ["partial", "new"]);
    }

    #[test]
    fn from_beginning_and_new_files_read_everything() {
        let mut f = fixture(true);
        f.append("a.log", "1\n2\n");
        assert_eq!(f.pump(), ["1", "2"]);
        f.append("b.log", "3\n");
        f.append("c.txt", "ignored\n");
        assert_eq!(f.pump(), ["3"]);
    }

    #[test]
    fn rotation_by_rename_finishes_old_file_then_reads_new() {
        let mut f = fixture(true);
        f.append("a.log", "1\n");
        assert_eq!(f.pump(), ["1"]);
        f.append("a.log", "2\n");
        std::fs::rename(f.path("a.log"), f.path("a.log.1")).unwrap();
        f.append("a.log", "3\n");
        let mut got = f.pump();
        got.sort();
        assert_eq!(got, ["2", "3"]);
        // The rotated file is dropped once finished.
        f.pump();
        assert_eq!(f.tailer.file_count(), 1);
    }

    #[test]
    fn truncation_and_copytruncate_restart_at_zero() {
        let mut f = fixture(true);
        f.append("a.log", "aaaa\nbbbb\n");
        assert_eq!(f.pump(), ["aaaa", "bbbb"]);
        std::fs::write(f.path("a.log"), "c\n").unwrap();
        f.pump(); // Detects the truncation.
        assert_eq!(f.pump(), ["c"]);
        // Rewritten to a longer content before the agent looked: the fingerprint tells.
        std::fs::write(f.path("a.log"), "dddddddddddddddd\n").unwrap();
        f.pump();
        assert_eq!(f.pump(), ["dddddddddddddddd"]);
        assert_eq!(f.tailer.stats().truncations, 2);
    }

    #[test]
    fn busy_files_do_not_starve_the_others() {
        let mut f = fixture(true);
        for name in ["a.log", "b.log", "c.log"] {
            f.append(name, &format!("{name}\n").repeat(1000));
        }
        f.tailer.scan(1).unwrap();
        let mut seen = std::collections::BTreeSet::new();
        for _ in 0..3 {
            let mut out = Vec::new();
            f.tailer.read(100, 1, &mut out).unwrap();
            seen.extend(out.into_iter().map(|l| l.line.text));
        }
        assert_eq!(seen.len(), 3, "{seen:?}");
    }

    #[test]
    fn deleted_while_reading_is_read_to_its_end() {
        let mut f = fixture(true);
        f.append("a.log", "1\n");
        f.tailer.scan(1).unwrap();
        std::fs::remove_file(f.path("a.log")).unwrap();
        assert_eq!(f.pump(), ["1"]);
        f.pump();
        assert_eq!(f.tailer.file_count(), 0);
    }

    #[test]
    fn restart_resumes_at_the_acknowledged_offset_with_replay_times() {
        let mut f = fixture(false);
        f.append("a.log", "x\n");
        f.pump();
        f.append("a.log", "1\n2\n");
        assert_eq!(f.pump(), ["1", "2"]);
        f.append("a.log", "3\n4\n");
        // Read 3 and 4, record them in flight, "crash" before the ack.
        f.tailer.scan(1).unwrap();
        let mut out = Vec::new();
        f.tailer.read(1 << 20, 1, &mut out).unwrap();
        let id = out[0].file_id;
        let segs = BTreeMap::from([(
            id,
            vec![Segment {
                start: out[0].line.start,
                end: out[1].line.end,
                read_time_ns: 77,
            }],
        )]);
        f.tailer.set_in_flight(&segs).unwrap();
        let journal = Journal::open(&f.dir.path().join("cp")).unwrap();
        f.tailer = Tailer::new(f.tailer.cfg.clone(), journal);
        f.tailer.scan(2).unwrap();
        let mut out2 = Vec::new();
        f.tailer.read(1 << 20, 2, &mut out2).unwrap();
        assert_eq!(out2, out);
        let seg = f.tailer.replay_segment(id, out2[1].line.start).unwrap();
        assert_eq!((seg.start, seg.read_time_ns), (out[0].line.start, 77));
        assert_eq!(f.tailer.replay_segment(id, out2[1].line.end), None);
    }

    #[test]
    fn file_rotated_out_of_the_glob_while_down_is_finished() {
        let mut f = fixture(true);
        f.append("a.log", "1\n");
        assert_eq!(f.pump(), ["1"]);
        f.append("a.log", "2\n");
        std::fs::rename(f.path("a.log"), f.path("a.log.1")).unwrap();
        f.append("a.log", "3\n");
        let journal = Journal::open(&f.dir.path().join("cp")).unwrap();
        f.tailer = Tailer::new(f.tailer.cfg.clone(), journal);
        let mut got = f.pump();
        got.sort();
        assert_eq!(got, ["2", "3"]);
        f.pump();
        assert_eq!(f.tailer.file_count(), 1);
    }

    #[test]
    fn inode_reuse_while_down_is_a_new_file() {
        let mut f = fixture(true);
        f.append("a.log", "first content\n");
        assert_eq!(f.pump(), ["first content"]);
        // Same inode, other content (as when an inode is reused), while the agent is down.
        std::fs::write(f.path("a.log"), "other stuff here, longer\n").unwrap();
        let journal = Journal::open(&f.dir.path().join("cp")).unwrap();
        f.tailer = Tailer::new(f.tailer.cfg.clone(), journal);
        assert_eq!(f.pump(), ["other stuff here, longer"]);
    }
}
