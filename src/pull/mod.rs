//! `logq pull`: every line of a log query in a time range, written into one file per stream
//! (or per `--layout` name) under `--output-dir`, from the streaming export endpoint.
//!
//! The range is cut into splits (`--parallel-duration`, 1h by default) fetched by up to
//! `--parallel-max-workers` workers, each into its own part files under `.logq-pull/parts/<k>/`;
//! a split's parts are appended to the output files strictly in split order once its answer
//! was complete (trailer seen), so every file is in time order and equals a single pull. The
//! state file (`state`) commits each append; a rerun of the same command resumes: files are cut
//! back to their committed lengths, finished splits are appended, the rest fetched again.
//! `--follow` then keeps appending from the tail WebSocket (`follow`).

mod export_stream;
mod follow;
mod naming;
mod progress;
mod sink;
mod state;

use std::collections::{HashMap, VecDeque};
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Mutex};
use std::time::Duration;

use anyhow::{anyhow, bail, Context};
use clap::Args;
use serde::{Deserialize, Serialize};

use crate::client::{now_ns, parse_duration_flag, parse_time_flag, status_error, ConnArgs};
use naming::Naming;
use progress::{Counters, Progress};
use sink::{encode, Compress, Entry, Format, PartWriter};
use state::{Identity, State};

/// Default split length: one hour (logcli's default `--parallel-duration`).
const DEFAULT_SPLIT_NS: i64 = 3_600_000_000_000;

/// Attempts per split before the pull gives up (network errors, cut answers, 5xx).
const ATTEMPTS: u32 = 4;

/// `logq pull` flags.
#[derive(Debug, Args)]
pub struct PullArgs {
    /// The log query (a stream selector with an optional pipeline).
    query: String,
    #[command(flatten)]
    conn: ConnArgs,
    /// Pull this far back from now (e.g. 3h).
    #[arg(long, conflicts_with = "from")]
    since: Option<String>,
    /// Start of the range (RFC 3339 or Unix seconds/ns, inclusive).
    #[arg(long)]
    from: Option<String>,
    /// End of the range (RFC 3339 or Unix seconds/ns, exclusive; default now).
    #[arg(long)]
    to: Option<String>,
    /// Directory the files are written into (created if missing).
    #[arg(long)]
    output_dir: PathBuf,
    /// File names from labels, e.g. '{service}/{host}.log' (default: all labels of the stream,
    /// sorted, name=value joined by ',').
    #[arg(long)]
    layout: Option<String>,
    /// Line format.
    #[arg(long, value_enum, default_value_t = Format::Raw)]
    format: Format,
    /// Compression of the files.
    #[arg(long, value_enum, default_value_t = Compress::None)]
    compress: Compress,
    /// Length of the splits the range is fetched in (default 1h).
    #[arg(long)]
    parallel_duration: Option<String>,
    /// Splits fetched at once.
    #[arg(long, default_value_t = 1)]
    parallel_max_workers: usize,
    /// After the range, keep appending new lines as they arrive (until stopped).
    #[arg(long, conflicts_with = "to")]
    follow: bool,
    /// No progress bar or summary.
    #[arg(short = 'q', long)]
    quiet: bool,
}

/// The part files of one finished split: (output file, part file number).
#[derive(Debug, Serialize, Deserialize)]
struct Done {
    files: Vec<(String, usize)>,
}

fn parts_dir(out: &Path, k: usize) -> PathBuf {
    state::work_dir(out).join("parts").join(k.to_string())
}

fn done_path(out: &Path, k: usize) -> PathBuf {
    parts_dir(out, k).join("done.json")
}

/// What the workers share.
struct Job<'a> {
    conn: &'a ConnArgs,
    query: &'a str,
    out: &'a Path,
    naming: &'a Naming,
    format: Format,
    compress: Compress,
    counters: &'a Counters,
}

/// A failed split: worth retrying or not (the server refused the request).
enum FetchError {
    Retry(anyhow::Error),
    Fatal(anyhow::Error),
}

impl Job<'_> {
    /// Fetches split `k` (`[a, b)`) into its part files, retrying transient failures.
    fn fetch(&self, k: usize, a: i64, b: i64) -> anyhow::Result<()> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.fetch_once(k, a, b) {
                Ok(()) => return Ok(()),
                Err(FetchError::Fatal(e)) => return Err(e),
                Err(FetchError::Retry(e)) if attempt >= ATTEMPTS => {
                    return Err(e.context(format!("giving up on the split starting {} after {ATTEMPTS} attempts (rerun the same command to resume)", crate::client::rfc3339(a))));
                }
                Err(FetchError::Retry(e)) => {
                    tracing::debug!(error = %e, attempt, "split failed; retrying");
                    std::thread::sleep(Duration::from_millis(500 << attempt));
                }
            }
        }
    }

    fn fetch_once(&self, k: usize, a: i64, b: i64) -> Result<(), FetchError> {
        let retry = |e: anyhow::Error| FetchError::Retry(e);
        let dir = parts_dir(self.out, k);
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("creating {}", dir.display()))
            .map_err(FetchError::Fatal)?;
        let mut resp = self
            .conn
            .get(
                "/logq/api/v1/export",
                &[
                    ("query", self.query.to_string()),
                    ("start", a.to_string()),
                    ("end", b.to_string()),
                ],
            )
            .map_err(retry)?;
        let status = resp.status();
        if status.is_client_error() {
            return Err(FetchError::Fatal(status_error(&mut resp)));
        }
        if !status.is_success() {
            return Err(FetchError::Retry(status_error(&mut resp)));
        }
        let reader = BufReader::with_capacity(1 << 20, resp.into_body().into_reader());
        let mut writers: Vec<(String, PartWriter)> = Vec::new();
        let mut by_labels: HashMap<String, usize> = HashMap::new();
        let mut by_file: HashMap<String, usize> = HashMap::new();
        let mut buf = Vec::with_capacity(4096);
        let mut covered_to = a;
        let (mut lines, mut bytes) = (0u64, 0u64);
        let result = export_stream::read_answer(reader, |labels_json, ts, line, metadata_json| {
            let idx = match by_labels.get(labels_json) {
                Some(i) => *i,
                None => {
                    let labels: serde_json::Map<String, serde_json::Value> =
                        serde_json::from_str(labels_json).context("stream labels in the export answer")?;
                    let pairs: Vec<(String, String)> = labels
                        .into_iter()
                        .map(|(k, v)| (k, v.as_str().unwrap_or_default().to_string()))
                        .collect();
                    let rel = self.naming.file_for(&pairs);
                    let i = match by_file.get(&rel) {
                        Some(i) => *i,
                        None => {
                            let path = dir.join(writers.len().to_string());
                            let w = PartWriter::create(&path, self.compress)
                                .with_context(|| format!("creating {}", path.display()))?;
                            writers.push((rel.clone(), w));
                            by_file.insert(rel, writers.len() - 1);
                            writers.len() - 1
                        }
                    };
                    by_labels.insert(labels_json.to_string(), i);
                    i
                }
            };
            buf.clear();
            encode(
                self.format,
                &Entry {
                    ts,
                    labels_json,
                    metadata_json,
                    line,
                },
                &mut buf,
            );
            writers[idx].1.write_all(&buf).context("writing a part file")?;
            lines += 1;
            bytes += line.len() as u64;
            self.counters.lines.fetch_add(1, Ordering::Relaxed);
            self.counters
                .bytes
                .fetch_add(line.len() as u64, Ordering::Relaxed);
            if ts > covered_to {
                self.counters
                    .covered_ns
                    .fetch_add((ts - covered_to) as u64, Ordering::Relaxed);
                covered_to = ts;
            }
            Ok(())
        });
        if let Err(e) = result {
            // This attempt's lines and range are counted again by the next.
            self.counters.lines.fetch_sub(lines, Ordering::Relaxed);
            self.counters.bytes.fetch_sub(bytes, Ordering::Relaxed);
            self.counters
                .covered_ns
                .fetch_sub((covered_to - a) as u64, Ordering::Relaxed);
            return Err(FetchError::Retry(e));
        }
        self.counters
            .covered_ns
            .fetch_add((b - covered_to) as u64, Ordering::Relaxed);
        let mut files = Vec::new();
        for (n, (rel, w)) in writers.into_iter().enumerate() {
            w.finish()
                .context("finishing a part file")
                .map_err(FetchError::Fatal)?;
            files.push((rel, n));
        }
        let tmp = dir.join("done.json.tmp");
        std::fs::write(
            &tmp,
            serde_json::to_vec(&Done { files }).map_err(|e| FetchError::Fatal(e.into()))?,
        )
        .and_then(|()| std::fs::rename(&tmp, done_path(self.out, k)))
        .with_context(|| format!("writing {}", tmp.display()))
        .map_err(FetchError::Fatal)
    }
}

/// Asks the server for an empty range first, so a bad query, a bad tenant or an unreachable
/// server is reported before anything is written.
fn preflight(conn: &ConnArgs, query: &str, at: i64) -> anyhow::Result<()> {
    let mut resp = conn.get(
        "/logq/api/v1/export",
        &[
            ("query", query.to_string()),
            ("start", at.to_string()),
            ("end", at.to_string()),
        ],
    )?;
    if !resp.status().is_success() {
        return Err(status_error(&mut resp));
    }
    Ok(())
}

/// Appends finished split `k` to the output files and commits it.
fn append_split(out: &Path, st: &mut State, k: usize) -> anyhow::Result<()> {
    let text = std::fs::read(done_path(out, k))?;
    let done: Done = serde_json::from_slice(&text).context("reading a finished split's index")?;
    state::register_files(out, st, done.files.iter().map(|(rel, _)| rel))?;
    let dir = parts_dir(out, k);
    for (rel, n) in &done.files {
        let path = out.join(rel);
        let mut dst = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .with_context(|| format!("opening {}", path.display()))?;
        let mut src = std::fs::File::open(dir.join(n.to_string()))?;
        std::io::copy(&mut src, &mut dst).with_context(|| format!("appending to {}", path.display()))?;
        st.files.insert(rel.clone(), dst.metadata()?.len());
    }
    st.appended = k + 1;
    state::save(out, st)?;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

/// The differences between a saved pull and this command, for the refusal message.
fn identity_diff(saved: &Identity, now: &Identity) -> Vec<String> {
    let mut out = Vec::new();
    let mut cmp = |what: &str, a: String, b: String| {
        if a != b {
            out.push(format!("{what} {a} (now {b})"));
        }
    };
    cmp("query", format!("{:?}", saved.query), format!("{:?}", now.query));
    cmp(
        "--org-id",
        format!("{:?}", saved.org_id),
        format!("{:?}", now.org_id),
    );
    cmp("--format", saved.format.clone(), now.format.clone());
    cmp("--compress", saved.compress.clone(), now.compress.clone());
    cmp(
        "--layout",
        format!("{:?}", saved.layout),
        format!("{:?}", now.layout),
    );
    out
}

/// Runs `logq pull`.
pub fn run(args: PullArgs) -> anyhow::Result<()> {
    let naming = Naming::new(
        args.layout.as_deref(),
        args.format.extension(),
        args.compress.suffix(),
    )?;
    if args.parallel_max_workers == 0 {
        bail!("--parallel-max-workers must be at least 1");
    }
    let split_ns = match &args.parallel_duration {
        Some(d) => match parse_duration_flag("parallel-duration", d)? {
            0 => bail!("--parallel-duration must be longer than 0"),
            n => n,
        },
        None => DEFAULT_SPLIT_NS,
    };
    if args.since.is_none() && args.from.is_none() {
        bail!("give the range to pull: --since DURATION, or --from TIME [--to TIME]");
    }
    let identity = Identity {
        query: args.query.clone(),
        org_id: args.conn.org_id.clone(),
        format: args.format.name().into(),
        compress: args.compress.name().into(),
        layout: args.layout.clone(),
    };
    let out = args.output_dir.as_path();
    std::fs::create_dir_all(out).with_context(|| format!("creating --output-dir {}", out.display()))?;
    let mut st = match state::load(out)? {
        Some(saved) => {
            let diff = identity_diff(&saved.identity, &identity);
            if !diff.is_empty() {
                bail!(
                    "{} holds another pull ({}); use another --output-dir, or remove {} to start over",
                    out.display(),
                    diff.join(", "),
                    state::work_dir(out).display()
                );
            }
            if let Some(f) = &args.from {
                let from = parse_time_flag("from", f)?;
                let to = args.to.as_deref().map(|t| parse_time_flag("to", t)).transpose()?;
                if from != saved.from || to.is_some_and(|t| t != saved.to) {
                    bail!(
                        "{} holds a pull of another range ({} to {}); use another --output-dir, or remove {} to start over",
                        out.display(),
                        crate::client::rfc3339(saved.from),
                        crate::client::rfc3339(saved.to),
                        state::work_dir(out).display()
                    );
                }
            }
            if args.parallel_duration.is_some()
                && split_ns != saved.split_ns
                && saved.appended < saved.splits().len()
            {
                tracing::info!("resuming with the interrupted pull's --parallel-duration");
            }
            saved
        }
        None => {
            let to = match &args.to {
                Some(t) => parse_time_flag("to", t)?,
                None => now_ns(),
            };
            let from = match (&args.from, &args.since) {
                (Some(f), _) => parse_time_flag("from", f)?,
                (None, Some(s)) => to - parse_duration_flag("since", s)?,
                (None, None) => unreachable!("checked above"),
            };
            if to < from {
                bail!("--to is before --from");
            }
            preflight(&args.conn, &args.query, from)?;
            State::new(identity, from, to, split_ns)
        }
    };
    state::save(out, &st)?;
    state::truncate_to_committed(out, &st)?;
    let splits = st.splits();
    for k in 0..st.appended {
        let _ = std::fs::remove_dir_all(parts_dir(out, k));
    }
    let todo: VecDeque<usize> = (st.appended..splits.len())
        .filter(|k| !done_path(out, *k).exists())
        .collect();
    let already: u64 = (0..splits.len())
        .filter(|k| !todo.contains(k))
        .map(|k| (splits[k].1 - splits[k].0) as u64)
        .sum();
    let progress = Progress::start((st.to - st.from) as u64, already, !args.quiet);
    let job = Job {
        conn: &args.conn,
        query: &args.query,
        out,
        naming: &naming,
        format: args.format,
        compress: args.compress,
        counters: &progress.counters,
    };
    let queue = Mutex::new(todo);
    let stop = AtomicBool::new(false);
    let workers = args.parallel_max_workers.min(splits.len().max(1));
    let result: anyhow::Result<()> = std::thread::scope(|scope| {
        let (tx, rx) = mpsc::channel::<anyhow::Result<()>>();
        for _ in 0..workers {
            let (tx, queue, stop, job, splits) = (tx.clone(), &queue, &stop, &job, &splits);
            scope.spawn(move || loop {
                if stop.load(Ordering::Relaxed) {
                    return;
                }
                let Some(k) = queue.lock().map_or(None, |mut q| q.pop_front()) else {
                    return;
                };
                let r = job.fetch(k, splits[k].0, splits[k].1);
                let failed = r.is_err();
                if tx.send(r).is_err() || failed {
                    return;
                }
            });
        }
        drop(tx);
        loop {
            while st.appended < splits.len() && done_path(out, st.appended).exists() {
                let k = st.appended;
                if let Err(e) = append_split(out, &mut st, k) {
                    stop.store(true, Ordering::Relaxed);
                    return Err(e);
                }
            }
            if st.appended == splits.len() {
                return Ok(());
            }
            match rx.recv() {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    stop.store(true, Ordering::Relaxed);
                    return Err(e);
                }
                Err(_) => return Err(anyhow!("the pull stopped with splits left (a worker failed)")),
            }
        }
    });
    progress.finish(&format!("pulled into {}", out.display()));
    result?;
    let _ = std::fs::remove_dir(state::work_dir(out).join("parts"));
    if args.follow {
        follow::Follow {
            conn: &args.conn,
            query: &args.query,
            out,
            naming: &naming,
            format: args.format,
            compress: args.compress,
            quiet: args.quiet,
        }
        .run(&mut st)?;
    }
    Ok(())
}
