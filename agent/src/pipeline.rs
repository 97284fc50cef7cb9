//! The agent's main loop: tail files into batches, send each batch to an [`Output`] until it is
//! acknowledged, then move the checkpoint.
//!
//! One thread, in this order, forever: scan for files, read up to the batch's remaining room,
//! turn lines into entries (labels `host`, `service`, `filename`, `env`; the line's own
//! timestamp, else the batch's read time; message id from file generation + offset), and when
//! the batch is full or old enough: record it in flight in the journal, send it (retrying 429,
//! 5xx and network errors with capped exponential backoff for as long as it takes; nothing is
//! read meanwhile, so the files are the buffer and memory stays bounded by one batch), record
//! the entries the server refused for good in the dead-letter file ([`crate::dead_letter`]),
//! then acknowledge the batch in the journal. No line is dropped without a count and a log line.
//!
//! **Timestamps.** A line's own timestamp (parsed from its text, or a JSON field) is used when
//! it lies within `max_age` of the read time (and at most [`FUTURE_SLACK`] ahead of it). A line
//! dated outside that window is sent with the read time instead, like Promtail and Vector do for
//! every line unless told to parse, and counted (`restamped`); with `skip_old_lines` a line dated
//! before the window is skipped instead, counted (`too_old`) and logged. So following a file of
//! old-dated lines stores every line by default, its text (with the old date) unchanged.
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
use crate::dead_letter::{DeadLetter, DeadLetterRecord};
use crate::error::AgentError;
use crate::http_output::{Delivery, Output};
use crate::json_lines::map_json_line;
use crate::log_limit::LogLimit;
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
    /// Lines whose own timestamp is older than this get the read time instead (counted), or are
    /// skipped with `skip_old_lines`; `None`: every parsed timestamp is kept.
    pub max_age: Option<Duration>,
    /// Skip (count and log) lines dated before `max_age` instead of re-stamping them.
    pub skip_old_lines: bool,
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
            skip_old_lines: false,
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
    /// Entries the output refused for good (for example too old for the server); recorded in
    /// the dead-letter file.
    pub lines_rejected: u64,
    /// Lines skipped because their timestamp is older than `max_age` (`skip_old_lines`).
    pub lines_too_old: u64,
    /// Lines sent with the read time because their own timestamp was outside the window.
    pub lines_restamped: u64,
}

/// How far ahead of the read time a line's own timestamp may be and still be used (servers
/// refuse entries more than about 10 minutes in the future: Loki's `creation_grace_period`).
pub const FUTURE_SLACK: Duration = Duration::from_secs(5 * 60);

/// Interval of the rate-limited warnings about refused, skipped and re-stamped lines.
const LOG_INTERVAL: Duration = Duration::from_secs(10);

/// Where lines that will not be stored are accounted for: the dead-letter file and the
/// rate-limited warnings.
struct Losses {
    dead_letter: DeadLetter,
    rejected: LogLimit,
    too_old: LogLimit,
    restamped: LogLimit,
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
    /// The byte offset of each of `entries`, for the dead-letter file.
    offsets: BTreeMap<u64, Vec<u64>>,
    /// Entries with labels of their own (JSON labels, syslog), by stream.
    other: BTreeMap<LabelSet, Vec<Entry>>,
    /// Where each of `other` was read: (file generation, offset), `None` for syslog and stdin.
    other_origin: BTreeMap<LabelSet, Vec<Option<(u64, u64)>>>,
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
    let mut losses = Losses {
        dead_letter: DeadLetter::new(&cfg.checkpoint_dir),
        rejected: LogLimit::new(LOG_INTERVAL),
        too_old: LogLimit::new(LOG_INTERVAL),
        restamped: LogLimit::new(LOG_INTERVAL),
    };
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
                batch
                    .other_origin
                    .entry(se.labels.clone())
                    .or_default()
                    .push(None);
                batch.other.entry(se.labels).or_default().push(se.entry);
            }
        }
        let now_local = Local::now().naive_local();
        let max_age = cfg.max_age.map(|a| a.as_nanos() as i64);
        let slack = FUTURE_SLACK.as_nanos() as i64;
        let (mut too_old, mut restamped) = (0u64, 0u64);
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
            // The window is relative to the read time recorded for the line, so a re-read after
            // a crash decides the same way and sends the same timestamp.
            let read_time = replay.map_or(batch.read_time_ns, |r| r.read_time_ns);
            let before_window = parsed.is_some_and(|t| max_age.is_some_and(|a| t < read_time - a));
            if before_window && cfg.skip_old_lines {
                too_old += 1;
                continue;
            }
            let ts = match parsed {
                Some(t) if !before_window && t <= read_time + slack => t,
                Some(_) => {
                    restamped += 1;
                    fallback
                }
                None => fallback,
            };
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
                    let labels = LabelSet::from_pairs(pairs);
                    batch
                        .other_origin
                        .entry(labels.clone())
                        .or_default()
                        .push(Some((fl.file_id, fl.line.start)));
                    batch.other.entry(labels).or_default().push(Entry {
                        ts,
                        id,
                        line: m.line,
                        metadata: m.metadata,
                    });
                }
                mapped => {
                    let (line, metadata) = match mapped {
                        Some(m) => (m.line, m.metadata),
                        None => (fl.line.text, Vec::new()),
                    };
                    batch.offsets.entry(fl.file_id).or_default().push(fl.line.start);
                    batch.entries.entry(fl.file_id).or_default().push(Entry {
                        ts,
                        id,
                        line,
                        metadata,
                    });
                }
            }
        }
        if too_old > 0 {
            stats.lines_too_old += too_old;
            if let Some(n) = losses.too_old.hit(too_old) {
                tracing::warn!(
                    lines = n,
                    max_age_s = cfg.max_age.map(|a| a.as_secs()),
                    total = stats.lines_too_old,
                    "skipped lines dated before --max-age (--skip-old-lines)"
                );
            }
        }
        if restamped > 0 {
            stats.lines_restamped += restamped;
            if let Some(n) = losses.restamped.hit(restamped) {
                tracing::info!(
                    lines = n,
                    max_age_s = cfg.max_age.map(|a| a.as_secs()),
                    total = stats.lines_restamped,
                    "lines dated outside the accepted window are sent with the time they were read"
                );
            }
        }
        let full = batch.lines >= cfg.batch_lines || batch.bytes >= cfg.batch_bytes;
        let due = batch.started.is_some_and(|s| s.elapsed() >= cfg.batch_wait);
        if !batch.is_empty() && (full || due || stopping) {
            let b = std::mem::take(&mut batch);
            if !deliver(
                &cfg,
                b,
                &labels_cache,
                &mut tailer,
                output,
                stop,
                &mut stats,
                &mut losses,
            )? {
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
        restamped = stats.lines_restamped,
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
    set(&m.lines_restamped, stats.lines_restamped);
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

/// Sends one batch until the output answered for every entry, records the refused ones in the
/// dead-letter file, then moves the checkpoint; `Ok(false)` when stopped before that.
#[allow(clippy::too_many_arguments)]
fn deliver(
    cfg: &AgentConfig,
    batch: Batch,
    labels: &HashMap<u64, LabelSet>,
    tailer: &mut Tailer,
    output: &mut dyn Output,
    stop: &AtomicBool,
    stats: &mut AgentStats,
    losses: &mut Losses,
) -> Result<bool, AgentError> {
    tailer.set_in_flight(&batch.segments)?;
    let n = batch.lines as u64;
    if n > 0 {
        // Generations of one file (before and after a truncation) share their labels.
        type Origins = Vec<Option<(u64, u64)>>;
        let mut streams: BTreeMap<LabelSet, (Vec<Entry>, Origins)> = BTreeMap::new();
        let mut offsets = batch.offsets;
        for (id, entries) in batch.entries {
            let l = labels
                .get(&id)
                .cloned()
                .unwrap_or_else(|| LabelSet::from_pairs([("host".to_string(), cfg.host.clone())]));
            let offs = offsets.remove(&id).unwrap_or_default();
            let s = streams.entry(l).or_default();
            s.1.extend((0..entries.len()).map(|i| offs.get(i).map(|o| (id, *o))));
            s.0.extend(entries);
        }
        let mut other_origin = batch.other_origin;
        for (l, entries) in batch.other {
            let origin = other_origin.remove(&l).unwrap_or_default();
            let s = streams.entry(l).or_default();
            s.1.extend((0..entries.len()).map(|i| origin.get(i).copied().flatten()));
            s.0.extend(entries);
        }
        let mut origins: Vec<Origins> = Vec::with_capacity(streams.len());
        let push = PushBatch {
            tenant: cfg.tenant.clone(),
            streams: streams
                .into_iter()
                .map(|(labels, (entries, o))| {
                    origins.push(o);
                    StreamEntries { labels, entries }
                })
                .collect(),
        };
        let mut delay = cfg.backoff_min;
        let mut stop_seen: Option<Instant> = None;
        let delivery = loop {
            match output.send(&push) {
                Ok(d) => break d,
                Err(e) if e.retryable => {
                    stats.retries += 1;
                    publish(&cfg.metrics, stats, tailer);
                    tracing::warn!(error = %e, retry_in_ms = delay.as_millis() as u64, "output unavailable; retrying");
                    if !wait_before_retry(cfg, stop, &mut stop_seen, delay) {
                        tracing::warn!(
                            lines = n,
                            "stopping with an undelivered batch; it is re-read on the next start"
                        );
                        return Ok(false);
                    }
                    delay = (delay * 2).min(cfg.backoff_max);
                }
                Err(e) => break Delivery::all_rejected(&push, &e.message),
            }
        };
        let refused = delivery.rejected.len() as u64;
        if refused > 0 {
            let records = dead_letter_records(&push, &origins, &delivery, tailer);
            // The checkpoint moves only once the refused lines are on disk: retry (a full disk)
            // like an unavailable output.
            let mut delay = cfg.backoff_min;
            while let Err(e) = losses.dead_letter.record(&records) {
                tracing::error!(error = %e, "cannot record refused lines in the dead-letter file; retrying");
                if !wait_before_retry(cfg, stop, &mut stop_seen, delay) {
                    return Ok(false);
                }
                delay = (delay * 2).min(cfg.backoff_max);
            }
            stats.lines_rejected += refused;
            if let Some(count) = losses.rejected.hit(refused) {
                let first = &records[0];
                tracing::warn!(
                    lines = count,
                    total = stats.lines_rejected,
                    reason = %first.reason,
                    labels = %first.labels,
                    dead_letter = %losses.dead_letter.path().display(),
                    "the server refused lines; recorded in the dead-letter file"
                );
            }
        }
        stats.lines_sent += n - refused.min(n);
        stats.batches_sent += 1;
    }
    tailer.ack(&batch.segments, &batch.last_ts)?;
    Ok(true)
}

/// Sleeps `delay` before a retry; `false` once stopping has lasted `shutdown_grace`.
fn wait_before_retry(
    cfg: &AgentConfig,
    stop: &AtomicBool,
    stop_seen: &mut Option<Instant>,
    delay: Duration,
) -> bool {
    if stop.load(Ordering::Relaxed) {
        let since = *stop_seen.get_or_insert_with(Instant::now);
        if since.elapsed() >= cfg.shutdown_grace {
            return false;
        }
        std::thread::sleep(delay.min(cfg.shutdown_grace));
    } else {
        sleep_unless_stopped(delay, stop);
    }
    true
}

/// The dead-letter records of the entries `delivery` refused.
fn dead_letter_records(
    push: &PushBatch,
    origins: &[Vec<Option<(u64, u64)>>],
    delivery: &Delivery,
    tailer: &Tailer,
) -> Vec<DeadLetterRecord> {
    delivery
        .rejected
        .iter()
        .filter_map(|r| {
            let stream = push.streams.get(r.stream)?;
            let entry = stream.entries.get(r.entry)?;
            let origin = origins
                .get(r.stream)
                .and_then(|o| o.get(r.entry))
                .copied()
                .flatten();
            Some(DeadLetterRecord {
                file: origin
                    .and_then(|(id, _)| tailer.checkpoint(id))
                    .map(|cp| cp.path.to_string_lossy().into_owned()),
                offset: origin.map(|(_, o)| o),
                labels: stream.labels.clone(),
                ts: entry.ts,
                line: entry.line.clone(),
                reason: r.reason.clone(),
                error: r.error.clone(),
            })
        })
        .collect()
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
        fn send(&mut self, batch: &PushBatch) -> Result<Delivery, OutputError> {
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
            Ok(Delivery::default())
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
        let mut c = cfg(dir.path());
        c.skip_old_lines = true;
        let stats = run(c.clone(), &mut out, &stop).unwrap();
        assert_eq!(stats.lines_too_old, 1);
        assert_eq!(stats.lines_sent, 1);
        assert_eq!(out.got[0].streams[0].entries[0].line, "fresh without timestamp");
        assert_eq!(c.metrics.lines_too_old.load(Ordering::Relaxed), 1);
    }

    /// By default a line dated before `max_age` (or too far ahead) is sent, with the read time.
    #[test]
    fn old_and_future_dated_lines_get_the_read_time() {
        let dir = tempfile::tempdir().unwrap();
        let future = (chrono::Utc::now() + chrono::Duration::hours(3)).format("%Y-%m-%dT%H:%M:%SZ");
        let recent = (chrono::Utc::now() - chrono::Duration::minutes(5)).format("%Y-%m-%dT%H:%M:%SZ");
        std::fs::write(
            dir.path().join("a.log"),
            format!("2001-01-01T00:00:00Z ancient\n{future} future\n{recent} recent\n"),
        )
        .unwrap();
        let stop = std::sync::Arc::new(AtomicBool::new(false));
        let mut out = Recorder {
            fail_first: 0,
            got: Vec::new(),
            stop_after_lines: 3,
            stop: stop.clone(),
        };
        let before = now_ns();
        let c = cfg(dir.path());
        let stats = run(c.clone(), &mut out, &stop).unwrap();
        assert_eq!(
            (stats.lines_sent, stats.lines_too_old, stats.lines_restamped),
            (3, 0, 2)
        );
        assert_eq!(c.metrics.lines_restamped.load(Ordering::Relaxed), 2);
        let entries: Vec<&Entry> = out.got.iter().flat_map(|b| b.streams[0].entries.iter()).collect();
        assert_eq!(entries[0].line, "2001-01-01T00:00:00Z ancient");
        assert!(
            entries[0].ts >= before && entries[1].ts >= before,
            "read time expected"
        );
        assert!(
            entries[1].ts < before + 60_000_000_000,
            "the future date is not used"
        );
        assert!(entries[2].ts < before, "a recent line keeps its own timestamp");
    }

    /// An output that refuses chosen entries of every batch (as a partial-acceptance 400 does)
    /// or, with `refuse_all`, answers a non-retryable error.
    struct Refuser {
        refuse_lines_containing: &'static str,
        refuse_all: bool,
        stored: Vec<String>,
        answered: usize,
        stop_after: usize,
        stop: std::sync::Arc<AtomicBool>,
    }

    impl Output for Refuser {
        fn send(&mut self, batch: &PushBatch) -> Result<Delivery, OutputError> {
            self.answered += batch.entry_count();
            if self.answered >= self.stop_after {
                self.stop.store(true, Ordering::Relaxed);
            }
            if self.refuse_all {
                return Err(OutputError {
                    retryable: false,
                    message: "push answered 413: too big".into(),
                });
            }
            let mut d = Delivery::default();
            for (si, st) in batch.streams.iter().enumerate() {
                for (ei, e) in st.entries.iter().enumerate() {
                    if e.line.contains(self.refuse_lines_containing) {
                        d.rejected.push(crate::http_output::RejectedEntry {
                            stream: si,
                            entry: ei,
                            reason: "line_too_long".into(),
                            error: Some(format!("line {} too long", e.line)),
                        });
                    } else {
                        self.stored.push(e.line.clone());
                    }
                }
            }
            Ok(d)
        }
    }

    fn dead_letters(dir: &std::path::Path) -> Vec<serde_json::Value> {
        std::fs::read_to_string(dir.join("cp").join(crate::dead_letter::DEAD_LETTER_FILE))
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    #[test]
    fn refused_entries_go_to_the_dead_letter_file_and_the_rest_is_kept() {
        let dir = tempfile::tempdir().unwrap();
        let text: String = (0..10)
            .map(|i| {
                if i % 4 == 1 {
                    format!("bad {i}\n")
                } else {
                    format!("good {i}\n")
                }
            })
            .collect();
        std::fs::write(dir.path().join("a.log"), &text).unwrap();
        let stop = std::sync::Arc::new(AtomicBool::new(false));
        let mut out = Refuser {
            refuse_lines_containing: "bad",
            refuse_all: false,
            stored: Vec::new(),
            answered: 0,
            stop_after: 10,
            stop: stop.clone(),
        };
        let c = cfg(dir.path());
        let stats = run(c.clone(), &mut out, &stop).unwrap();
        assert_eq!(out.stored.len(), 7);
        assert_eq!((stats.lines_sent, stats.lines_rejected), (7, 3));
        assert_eq!(c.metrics.lines_rejected.load(Ordering::Relaxed), 3);
        let dl = dead_letters(dir.path());
        assert_eq!(dl.len(), 3, "{dl:?}");
        assert_eq!(dl[0]["line"], "bad 1");
        assert_eq!(dl[0]["offset"], 7);
        assert_eq!(dl[0]["reason"], "line_too_long");
        assert_eq!(dl[0]["error"], "line bad 1 too long");
        assert!(dl[0]["file"].as_str().unwrap().ends_with("a.log"));
        assert!(
            dl[0]["labels"].as_str().unwrap().contains("service=\"a\""),
            "{}",
            dl[0]
        );
        // The checkpoint moved past every line: a restart sends nothing again.
        let journal = Journal::open(&dir.path().join("cp")).unwrap();
        assert_eq!(journal.files().next().unwrap().offset, text.len() as u64);
    }

    #[test]
    fn a_batch_refused_whole_is_dead_lettered_whole_with_the_answer() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.log"), "one\ntwo\n").unwrap();
        let stop = std::sync::Arc::new(AtomicBool::new(false));
        let mut out = Refuser {
            refuse_lines_containing: "",
            refuse_all: true,
            stored: Vec::new(),
            answered: 0,
            stop_after: 2,
            stop: stop.clone(),
        };
        let stats = run(cfg(dir.path()), &mut out, &stop).unwrap();
        assert_eq!((stats.lines_sent, stats.lines_rejected), (0, 2));
        let dl = dead_letters(dir.path());
        assert_eq!(dl.len(), 2);
        assert_eq!(dl[1]["line"], "two");
        assert_eq!(dl[1]["offset"], 4);
        assert_eq!(dl[1]["reason"], "push answered 413: too big");
    }

    /// Crash before the ack, then restart: the re-sent lines have the same (ts, id), including
    /// lines without a timestamp (they get the read time recorded in flight).
    #[test]
    fn resend_after_crash_reproduces_ts_and_ids() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.log"), "one\ntwo\nthree\n").unwrap();
        struct Crash;
        impl Output for Crash {
            fn send(&mut self, _: &PushBatch) -> Result<Delivery, OutputError> {
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
