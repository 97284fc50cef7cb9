//! The agent's main loop: tail files into batches, send each batch to an [`Output`] until it is
//! acknowledged, then move the checkpoint.
//!
//! One thread, in this order, forever: scan for files, read up to the batch's remaining room,
//! turn lines into entries (labels `host`, `service`, `filename`, `env`; the line's own
//! timestamp, else the batch's read time; message id from file generation + offset), and when
//! the batch is full or old enough: record it in flight in the journal, send it (retrying with
//! capped exponential backoff while the output is down; nothing is read meanwhile, so the files
//! are the buffer and memory stays bounded by one batch), acknowledge it in the journal.
//!
//! Stopping (the `stop` flag, set on SIGTERM): the batch read so far is delivered (retrying for
//! at most `shutdown_grace`), the journal saved, and [`run`] returns. Lines read but not
//! delivered stay in the journal's in-flight record and are re-read on the next start with the
//! same timestamps and ids.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Receiver;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Local;
use logq_storage::{Entry, LabelSet, PushBatch, StreamEntries, TenantId};

use crate::checkpoint::{message_id, Journal, Segment};
use crate::error::AgentError;
use crate::http_output::Output;
use crate::json_lines::map_json_line;
use crate::metrics::AgentMetrics;
use crate::syslog::SourceEntry;
use crate::tailer::{FileLine, Tailer, TailerConfig, TailerStats};
use crate::timestamp::parse_timestamp;
use crate::watcher::FsEvents;
use logq_storage::now_ns;

/// Everything [`run`] needs.
#[derive(Debug, Clone)]
pub struct AgentConfig {
    /// What to follow and how.
    pub tailer: TailerConfig,
    /// Where the checkpoint journal lives.
    pub checkpoint_dir: PathBuf,
    /// Tenant of the pushed batches.
    pub tenant: TenantId,
    /// The `host` label.
    pub host: String,
    /// The `env` label, when set.
    pub environment: Option<String>,
    /// Lines whose own timestamp is older than this are skipped (counted).
    pub max_age: Option<Duration>,
    /// A batch is sent at this many lines...
    pub batch_lines: usize,
    /// ... or this many bytes of line text ...
    pub batch_bytes: usize,
    /// ... or when its first line is this old.
    pub batch_wait: Duration,
    /// How often files are looked for and checked when there is nothing to read.
    pub poll_interval: Duration,
    /// First retry delay; doubles up to `backoff_max`.
    pub backoff_min: Duration,
    /// Longest retry delay.
    pub backoff_max: Duration,
    /// On stop, how long delivery of the last batch is retried before giving up (it is re-read
    /// on the next start).
    pub shutdown_grace: Duration,
    /// Lines of files are JSON objects, mapped by [`crate::map_json_line`].
    pub json: bool,
    /// JSON fields that become stream labels.
    pub json_labels: Vec<String>,
    /// Where the counters are published (for `/metrics`).
    pub metrics: Arc<AgentMetrics>,
}

impl AgentConfig {
    /// Defaults for everything but the paths and the host.
    pub fn new(tailer: TailerConfig, checkpoint_dir: PathBuf, host: String) -> AgentConfig {
        AgentConfig {
            tailer,
            checkpoint_dir,
            tenant: TenantId::default_tenant(),
            host,
            environment: None,
            max_age: Some(Duration::from_secs(24 * 3600)),
            batch_lines: 10_000,
            batch_bytes: 4 << 20,
            batch_wait: Duration::from_secs(1),
            poll_interval: Duration::from_millis(250),
            backoff_min: Duration::from_millis(100),
            backoff_max: Duration::from_secs(10),
            shutdown_grace: Duration::from_secs(5),
            json: false,
            json_labels: Vec::new(),
            metrics: Arc::new(AgentMetrics::default()),
        }
    }
}

/// What [`run`] did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct AgentStats {
    /// The tailer's counters.
    pub tailer: TailerStats,
    /// Entries acknowledged by the output.
    pub lines_sent: u64,
    /// Batches acknowledged.
    pub batches_sent: u64,
    /// Send attempts that failed and were retried.
    pub retries: u64,
    /// Entries the output refused for good (for example too old for the server); skipped.
    pub lines_rejected: u64,
    /// Lines skipped because their timestamp is older than `max_age`.
    pub lines_too_old: u64,
}

/// The hostname of this machine (`/proc/sys/kernel/hostname`, `$HOSTNAME`, else `localhost`).
pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "localhost".into())
}

#[derive(Default)]
struct Batch {
    read_time_ns: i64,
    started: Option<Instant>,
    /// Entries by file generation (labels are looked up once per file when sending).
    entries: BTreeMap<u64, Vec<Entry>>,
    /// Entries from sources without files (syslog), by stream.
    other: BTreeMap<LabelSet, Vec<Entry>>,
    segments: BTreeMap<u64, Vec<Segment>>,
    last_ts: HashMap<u64, i64>,
    lines: usize,
    bytes: usize,
}

impl Batch {
    fn is_empty(&self) -> bool {
        self.segments.is_empty() && self.other.is_empty()
    }

    /// Adds a line's range to the file's segments and returns the timestamp of the line if it
    /// has none of its own: the segment's read time plus the line's byte distance from the
    /// segment start (in ns), so lines get distinct, ordered times that a re-read reproduces
    /// exactly from the in-flight record (`replay`).
    fn place(&mut self, file_id: u64, start: u64, end: u64, replay: Option<Segment>) -> i64 {
        let segs = self.segments.entry(file_id).or_default();
        let (read_time, base) = match replay {
            Some(r) => (r.read_time_ns, r.start),
            None => (self.read_time_ns, start),
        };
        match segs.last_mut() {
            Some(s)
                if s.end == start
                    && s.read_time_ns == read_time
                    && replay.is_none_or(|r| r.start == s.start) =>
            {
                s.end = end;
                s.read_time_ns + (start - s.start) as i64
            }
            _ => {
                segs.push(Segment {
                    start: base,
                    end,
                    read_time_ns: read_time,
                });
                read_time + (start - base) as i64
            }
        }
    }
}

/// Runs the agent until `stop` is set.
pub fn run(cfg: AgentConfig, output: &mut dyn Output, stop: &AtomicBool) -> Result<AgentStats, AgentError> {
    run_with_sources(cfg, output, stop, None)
}

/// Runs the agent until `stop` is set, also sending the entries that arrive on `sources`
/// (syslog listeners); those have no checkpoint (at-least-once from the queue on).
pub fn run_with_sources(
    cfg: AgentConfig,
    output: &mut dyn Output,
    stop: &AtomicBool,
    sources: Option<Receiver<SourceEntry>>,
) -> Result<AgentStats, AgentError> {
    if cfg.tailer.paths.is_empty() && sources.is_none() {
        return Err(AgentError::Config("no paths to follow and no other input".into()));
    }
    let journal = Journal::open(&cfg.checkpoint_dir)?;
    let mut tailer = Tailer::new(cfg.tailer.clone(), journal);
    let mut stats = AgentStats::default();
    let mut batch = Batch::default();
    let mut last_scan: Option<Instant> = None;
    let mut labels_cache: HashMap<u64, LabelSet> = HashMap::new();
    let mut lines: Vec<FileLine> = Vec::new();
    let mut events = FsEvents::new();
    let mut stopping_since: Option<Instant> = None;
    loop {
        let stopping = stop.load(Ordering::Relaxed);
        if !stopping {
            stopping_since = None;
        }
        if last_scan.is_none_or(|t| t.elapsed() >= cfg.poll_interval) {
            events.watch(&cfg.tailer.paths);
            tailer.scan(now_ns())?;
            tailer.save_if_dirty()?;
            publish(&cfg.metrics, &stats, &tailer);
            last_scan = Some(Instant::now());
        }
        let room = cfg.batch_bytes.saturating_sub(batch.bytes).max(4096);
        let read = if stopping {
            0
        } else {
            tailer.read(room, now_ns(), &mut lines)?
        };
        let mut received = 0;
        if let Some(rx) = &sources {
            let mut got = Vec::new();
            crate::syslog::drain(rx, cfg.batch_lines.saturating_sub(batch.lines).max(1), &mut got);
            received = got.len();
            for se in got {
                if batch.started.is_none() {
                    batch.started = Some(Instant::now());
                    batch.read_time_ns = now_ns();
                }
                batch.lines += 1;
                batch.bytes += se.entry.line.len();
                batch.other.entry(se.labels).or_default().push(se.entry);
            }
        }
        let now_local = Local::now().naive_local();
        let oldest = cfg.max_age.map(|a| now_ns() - a.as_nanos() as i64);
        for fl in lines.drain(..) {
            if batch.started.is_none() {
                batch.started = Some(Instant::now());
                batch.read_time_ns = now_ns();
            }
            let mapped = cfg
                .json
                .then(|| map_json_line(&fl.line.text, &cfg.json_labels, now_local))
                .flatten();
            let parsed = match &mapped {
                Some(m) => m.ts,
                None => parse_timestamp(fl.line.text.as_bytes(), now_local).and_then(|p| p.unix_nanos()),
            };
            let replay = tailer.replay_segment(fl.file_id, fl.line.start);
            let fallback = batch.place(fl.file_id, fl.line.start, fl.line.end, replay);
            let ts = parsed.unwrap_or(fallback);
            if parsed.is_some_and(|t| oldest.is_some_and(|o| t < o)) {
                stats.lines_too_old += 1;
                continue;
            }
            labels_cache
                .entry(fl.file_id)
                .or_insert_with(|| stream_labels(&cfg, &tailer, fl.file_id));
            batch.last_ts.insert(fl.file_id, ts);
            batch.lines += 1;
            batch.bytes += fl.line.text.len();
            let id = message_id(fl.file_id, fl.line.start);
            match mapped {
                Some(m) if !m.labels.is_empty() => {
                    let mut pairs: Vec<(String, String)> = labels_cache
                        .get(&fl.file_id)
                        .map(|l| l.pairs().to_vec())
                        .unwrap_or_default();
                    for (k, v) in m.labels {
                        if !pairs.iter().any(|(n, _)| *n == k) {
                            pairs.push((k, v));
                        }
                    }
                    batch
                        .other
                        .entry(LabelSet::from_pairs(pairs))
                        .or_default()
                        .push(Entry {
                            ts,
                            id,
                            line: m.line,
                            metadata: m.metadata,
                        });
                }
                Some(m) => batch.entries.entry(fl.file_id).or_default().push(Entry {
                    ts,
                    id,
                    line: m.line,
                    metadata: m.metadata,
                }),
                None => batch.entries.entry(fl.file_id).or_default().push(Entry {
                    ts,
                    id,
                    line: fl.line.text,
                    metadata: Vec::new(),
                }),
            }
        }
        let full = batch.lines >= cfg.batch_lines || batch.bytes >= cfg.batch_bytes;
        let due = batch.started.is_some_and(|s| s.elapsed() >= cfg.batch_wait);
        if !batch.is_empty() && (full || due || stopping) {
            let b = std::mem::take(&mut batch);
            if !deliver(&cfg, b, &labels_cache, &mut tailer, output, stop, &mut stats)? {
                break; // Stopped while the output was down: re-read on the next start.
            }
            labels_cache.retain(|id, _| tailer.checkpoint(*id).is_some());
            publish(&cfg.metrics, &stats, &tailer);
        }
        let stop_since = *stopping_since.get_or_insert_with(Instant::now);
        if stopping && (received == 0 || stop_since.elapsed() >= cfg.shutdown_grace) {
            tailer.save_if_dirty()?;
            break;
        }
        if read == 0 && received == 0 {
            let mut nap = cfg.poll_interval;
            if let Some(s) = batch.started {
                nap = nap.min(cfg.batch_wait.saturating_sub(s.elapsed()));
            }
            if events.wait(nap.max(Duration::from_millis(5))) {
                // Something changed: look for new files soon, not a full poll interval later.
                let soon = cfg.poll_interval / 5;
                if last_scan.is_some_and(|t| t.elapsed() >= soon) {
                    last_scan = None;
                }
            }
        }
    }
    stats.tailer = tailer.stats();
    tracing::info!(
        lines_sent = stats.lines_sent,
        batches = stats.batches_sent,
        retries = stats.retries,
        rejected = stats.lines_rejected,
        too_old = stats.lines_too_old,
        "agent stopped"
    );
    Ok(stats)
}

fn publish(m: &AgentMetrics, stats: &AgentStats, tailer: &Tailer) {
    let t = tailer.stats();
    let set = |a: &std::sync::atomic::AtomicU64, v: u64| a.store(v, Ordering::Relaxed);
    set(&m.files_watched, tailer.file_count() as u64);
    set(&m.lag_bytes, tailer.lag_bytes());
    *m.file_lag.lock().unwrap_or_else(|p| p.into_inner()) = tailer.lag_by_path();
    set(&m.bytes_read, t.bytes_read);
    set(&m.lines_read, t.lines);
    set(&m.lines_truncated, t.truncated_lines);
    set(&m.lines_invalid_utf8, t.invalid_utf8_lines);
    set(&m.file_truncations, t.truncations);
    set(&m.lines_sent, stats.lines_sent);
    set(&m.batches_sent, stats.batches_sent);
    set(&m.send_retries, stats.retries);
    set(&m.lines_rejected, stats.lines_rejected);
    set(&m.lines_too_old, stats.lines_too_old);
}

fn stream_labels(cfg: &AgentConfig, tailer: &Tailer, file_id: u64) -> LabelSet {
    let mut pairs = vec![("host".to_string(), cfg.host.clone())];
    if let Some(cp) = tailer.checkpoint(file_id) {
        pairs.push(("service".into(), cp.service.clone()));
        pairs.push(("filename".into(), cp.filename.clone()));
    }
    if let Some(env) = &cfg.environment {
        pairs.push(("env".into(), env.clone()));
    }
    LabelSet::from_pairs(pairs)
}

fn sleep_unless_stopped(d: Duration, stop: &AtomicBool) {
    let until = Instant::now() + d;
    while !stop.load(Ordering::Relaxed) {
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return;
        }
        std::thread::sleep(left.min(Duration::from_millis(50)));
    }
}

/// Sends one batch until acknowledged; `Ok(false)` when stopped before that.
fn deliver(
    cfg: &AgentConfig,
    batch: Batch,
    labels: &HashMap<u64, LabelSet>,
    tailer: &mut Tailer,
    output: &mut dyn Output,
    stop: &AtomicBool,
    stats: &mut AgentStats,
) -> Result<bool, AgentError> {
    tailer.set_in_flight(&batch.segments)?;
    let n = batch.lines as u64;
    if n > 0 {
        // Generations of one file (before and after a truncation) share their labels.
        let mut streams: BTreeMap<LabelSet, Vec<Entry>> = BTreeMap::new();
        for (id, entries) in batch.entries {
            let l = labels
                .get(&id)
                .cloned()
                .unwrap_or_else(|| LabelSet::from_pairs([("host".to_string(), cfg.host.clone())]));
            streams.entry(l).or_default().extend(entries);
        }
        for (l, entries) in batch.other {
            streams.entry(l).or_default().extend(entries);
        }
        let push = PushBatch {
            tenant: cfg.tenant.clone(),
            streams: streams
                .into_iter()
                .map(|(labels, entries)| StreamEntries { labels, entries })
                .collect(),
        };
        let mut delay = cfg.backoff_min;
        let mut stop_seen: Option<Instant> = None;
        loop {
            match output.send(&push) {
                Ok(()) => {
                    stats.lines_sent += n;
                    stats.batches_sent += 1;
                    break;
                }
                Err(e) if e.retryable => {
                    stats.retries += 1;
                    publish(&cfg.metrics, stats, tailer);
                    tracing::warn!(error = %e, retry_in_ms = delay.as_millis() as u64, "output unavailable; retrying");
                    if stop.load(Ordering::Relaxed) {
                        let since = *stop_seen.get_or_insert_with(Instant::now);
                        if since.elapsed() >= cfg.shutdown_grace {
                            tracing::warn!(
                                lines = n,
                                "stopping with an undelivered batch; it is re-read on the next start"
                            );
                            return Ok(false);
                        }
                        std::thread::sleep(delay.min(cfg.shutdown_grace));
                    } else {
                        sleep_unless_stopped(delay, stop);
                    }
                    delay = (delay * 2).min(cfg.backoff_max);
                }
                Err(e) => {
                    stats.lines_rejected += n;
                    tracing::error!(error = %e, lines = n, "output refused the batch; skipping it");
                    break;
                }
            }
        }
    }
    tailer.ack(&batch.segments, &batch.last_ts)?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::OutputError;
    use std::io::Write;

    /// An output that fails `fail_first` times, then records what it gets.
    struct Recorder {
        fail_first: usize,
        got: Vec<PushBatch>,
        stop_after_lines: usize,
        stop: std::sync::Arc<AtomicBool>,
    }

    impl Output for Recorder {
        fn send(&mut self, batch: &PushBatch) -> Result<(), OutputError> {
            if self.fail_first > 0 {
                self.fail_first -= 1;
                return Err(OutputError {
                    retryable: true,
                    message: "down".into(),
                });
            }
            self.got.push(batch.clone());
            let n: usize = self.got.iter().map(|b| b.entry_count()).sum();
            if n >= self.stop_after_lines {
                self.stop.store(true, Ordering::Relaxed);
            }
            Ok(())
        }
    }

    fn cfg(dir: &std::path::Path) -> AgentConfig {
        let tailer = TailerConfig {
            paths: vec![dir.join("*.log").to_string_lossy().into_owned()],
            from_beginning: true,
            ..TailerConfig::default()
        };
        let mut c = AgentConfig::new(tailer, dir.join("cp"), "h1".into());
        c.batch_lines = 3;
        c.batch_wait = Duration::from_millis(20);
        c.poll_interval = Duration::from_millis(10);
        c.backoff_min = Duration::from_millis(1);
        c.environment = Some("test".into());
        c
    }

    #[test]
    fn delivers_with_labels_ids_and_retries() {
        let dir = tempfile::tempdir().unwrap();
        let mut f = std::fs::File::create(dir.path().join("app.log")).unwrap();
        for i in 0..7 {
            writeln!(f, "2026-01-01T00:00:0{i}Z line {i}").unwrap();
        }
        writeln!(f, "no timestamp").unwrap();
        let stop = std::sync::Arc::new(AtomicBool::new(false));
        let mut out = Recorder {
            fail_first: 2,
            got: Vec::new(),
            stop_after_lines: 8,
            stop: stop.clone(),
        };
        let mut c = cfg(dir.path());
        c.max_age = None;
        let stats = run(c.clone(), &mut out, &stop).unwrap();
        assert_eq!(stats.lines_sent, 8);
        assert_eq!(stats.retries, 2);
        let entries: Vec<&Entry> = out
            .got
            .iter()
            .flat_map(|b| b.streams.iter())
            .flat_map(|s| s.entries.iter())
            .collect();
        assert_eq!(entries.len(), 8);
        assert_eq!(entries[3].ts, 1_767_225_603_000_000_000);
        assert_eq!(entries[3].line, "2026-01-01T00:00:03Z line 3");
        let labels = &out.got[0].streams[0].labels;
        assert_eq!(labels.get("host"), Some("h1"));
        assert_eq!(labels.get("service"), Some("app"));
        assert_eq!(labels.get("env"), Some("test"));
        assert!(labels.get("filename").is_some_and(|f| f.ends_with("app.log")));
        let mut ids: Vec<u64> = entries.iter().map(|e| e.id).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), 8);

        // A restart sends nothing more: everything was acknowledged.
        let stop2 = std::sync::Arc::new(AtomicBool::new(false));
        let s2 = stop2.clone();
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(300));
            s2.store(true, Ordering::Relaxed);
        });
        let mut out2 = Recorder {
            fail_first: 0,
            got: Vec::new(),
            stop_after_lines: usize::MAX,
            stop: stop2.clone(),
        };
        run(c, &mut out2, &stop2).unwrap();
        t.join().unwrap();
        assert!(out2.got.is_empty());
    }

    #[test]
    fn too_old_lines_are_skipped_but_checkpointed() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("a.log"),
            "2001-01-01T00:00:00Z ancient\nfresh without timestamp\n",
        )
        .unwrap();
        let stop = std::sync::Arc::new(AtomicBool::new(false));
        let mut out = Recorder {
            fail_first: 0,
            got: Vec::new(),
            stop_after_lines: 1,
            stop: stop.clone(),
        };
        let stats = run(cfg(dir.path()), &mut out, &stop).unwrap();
        assert_eq!(stats.lines_too_old, 1);
        assert_eq!(stats.lines_sent, 1);
        assert_eq!(out.got[0].streams[0].entries[0].line, "fresh without timestamp");
    }

    /// Crash before the ack, then restart: the re-sent lines have the same (ts, id), including
    /// lines without a timestamp (they get the read time recorded in flight).
    #[test]
    fn resend_after_crash_reproduces_ts_and_ids() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.log"), "one\ntwo\nthree\n").unwrap();
        struct Crash;
        impl Output for Crash {
            fn send(&mut self, _: &PushBatch) -> Result<(), OutputError> {
                Err(OutputError {
                    retryable: true,
                    message: "down".into(),
                })
            }
        }
        let stop = std::sync::Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(200));
            s.store(true, Ordering::Relaxed);
        });
        let mut c = cfg(dir.path());
        c.shutdown_grace = Duration::from_millis(50);
        c.batch_lines = 100;
        run(c.clone(), &mut Crash, &stop).unwrap();
        t.join().unwrap();
        let journal = Journal::open(&dir.path().join("cp")).unwrap();
        let cp = journal.files().next().unwrap().clone();
        assert_eq!(cp.offset, 0);
        assert_eq!(cp.in_flight.len(), 1);
        let read_time = cp.in_flight[0].read_time_ns;

        let stop = std::sync::Arc::new(AtomicBool::new(false));
        let mut out = Recorder {
            fail_first: 0,
            got: Vec::new(),
            stop_after_lines: 3,
            stop: stop.clone(),
        };
        std::fs::OpenOptions::new()
            .append(true)
            .open(dir.path().join("a.log"))
            .unwrap()
            .write_all(b"four\n")
            .unwrap();
        run(c, &mut out, &stop).unwrap();
        let entries: Vec<&Entry> = out.got.iter().flat_map(|b| b.streams[0].entries.iter()).collect();
        assert!(entries.len() >= 3);
        for (e, off) in entries.iter().zip([0u64, 4, 8]) {
            assert_eq!(e.ts, read_time + off as i64);
            assert_eq!(e.id, message_id(cp.file_id, off));
        }
    }
}
