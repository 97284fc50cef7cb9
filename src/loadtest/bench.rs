//! `logq bench`: the end-to-end benchmark. On one machine it generates a corpus (also written
//! as a plain text file), starts a real `logq serve` as a child process, pushes the corpus
//! through the HTTP API, waits for compaction, runs a fixed query set cold and warm, runs the
//! baselines (`wc -l`, `rg`, `zstd -dc | rg`, `zstd -3` and `zstd -19` sizes) on the same raw
//! file, and prints a table, also written as Markdown and JSON.
//!
//! CPU time and peak RSS of the server are read from `/proc/<pid>` (outside the process).

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context};
use clap::Args;
use serde_json::{json, Value};

use super::gen::{parse_size, post_push, push_body, Corpus, CorpusArgs};
use logq_storage::now_ns;

/// `logq bench` flags.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Raw bytes of generated lines.
    #[arg(long, default_value = "1GB", value_parser = parse_size)]
    size: u64,
    /// Streams in the corpus.
    #[arg(long, default_value_t = 64)]
    streams: usize,
    /// Corpus seed.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Working directory (corpus, server data, results); emptied first.
    #[arg(long, default_value = "./logq-bench")]
    dir: PathBuf,
    /// Skip the external baselines (rg, zstd, wc).
    #[arg(long)]
    no_baselines: bool,
    /// Entries per push request.
    #[arg(long, default_value_t = 10_000)]
    batch: usize,
    /// Concurrent push clients.
    #[arg(long, default_value_t = 2)]
    clients: usize,
    /// Also measure ingestion from Kafka at these brokers: the corpus is produced to a topic
    /// first, then a `--target ingester` process consumes it into durable chunks.
    #[arg(long)]
    kafka: Option<String>,
    /// Reuse the corpus and compacted data of an earlier run in `--dir`: only the queries and
    /// the `rg` baselines run again (for iterating on the query path).
    #[arg(long)]
    reuse: bool,
    /// Run only the queries whose name contains this text.
    #[arg(long)]
    only: Option<String>,
}

/// What a reused run needs to know about the corpus (`corpus.json` in `--dir`).
#[derive(serde::Serialize, serde::Deserialize)]
struct CorpusMeta {
    lines: u64,
    raw_bytes: u64,
    first_ts: i64,
    last_ts: i64,
}

/// One row of the results table.
struct Row {
    phase: &'static str,
    what: String,
    value: String,
    note: String,
}

pub(crate) struct Server {
    child: Child,
    pub(crate) addr: String,
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

impl Server {
    /// Starts `logq serve` on `data_dir`; with `compact` false the compactor stays idle.
    fn start(data_dir: &Path, compact: bool) -> anyhow::Result<Server> {
        Self::start_with(data_dir, compact, &[])
    }

    /// Like [`Server::start`], with extra flags.
    pub(crate) fn start_with(data_dir: &Path, compact: bool, extra: &[String]) -> anyhow::Result<Server> {
        let port = free_port()?;
        let exe = std::env::current_exe().context("finding the logq binary")?;
        let child = Command::new(exe)
            .args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--data-dir"])
            .arg(data_dir)
            .args([
                "--flush-check-interval",
                "1s",
                "--window-grace",
                "0s",
                "--compact-interval",
                if compact { "1s" } else { "1000h" },
                "--compact-hour-grace",
                "0s",
                "--delete-grace",
                "0s",
            ])
            .args(extra)
            .env("LOGQ_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .context("starting logq serve")?;
        let mut s = Server {
            child,
            addr: format!("http://127.0.0.1:{port}"),
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        while ureq::get(format!("{}/ready", s.addr)).call().is_err() {
            if let Some(status) = s.child.try_wait()? {
                bail!("logq serve exited early: {status}");
            }
            if Instant::now() > deadline {
                bail!("logq serve did not become ready");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(s)
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// CPU seconds (user + system) the server has used.
    pub(crate) fn cpu_seconds(&self) -> f64 {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid())).unwrap_or_default();
        // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
        let after = stat.rsplit(')').next().unwrap_or("");
        let f: Vec<&str> = after.split_whitespace().collect();
        let ticks: f64 = f.get(11).and_then(|v| v.parse().ok()).unwrap_or(0.0)
            + f.get(12).and_then(|v| v.parse().ok()).unwrap_or(0.0);
        ticks / clock_ticks()
    }

    /// Peak resident memory (VmHWM) in MiB.
    pub(crate) fn peak_rss_mib(&self) -> f64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
            .map_or(0.0, |kb| kb / 1024.0)
    }

    pub(crate) fn stop(mut self) -> anyhow::Result<()> {
        Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status()?;
        self.child.wait()?;
        Ok(())
    }
}

fn clock_ticks() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

fn dir_size(dir: &Path) -> u64 {
    let mut total = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            match e.metadata() {
                Ok(m) if m.is_dir() => stack.push(e.path()),
                Ok(m) => total += m.len(),
                Err(_) => {}
            }
        }
    }
    total
}

fn count_files(dir: &Path, suffix: &str) -> usize {
    let mut n = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.to_string_lossy().ends_with(suffix) {
                n += 1;
            }
        }
    }
    n
}

pub(crate) fn mb(bytes: u64) -> f64 {
    bytes as f64 / 1e6
}

/// A benchmark query: name, LogQL, limit (0 = none), and for line-filter queries the `rg`
/// pattern of the baseline and whether it is a regex.
type BenchQuery = (&'static str, &'static str, usize, Option<(&'static str, bool)>);

/// The fixed query set.
fn query_set() -> Vec<BenchQuery> {
    vec![
        (
            "needle literal",
            r#"{env="bench"} |= "needle-7f3a9c""#,
            5000,
            Some(("needle-7f3a9c", false)),
        ),
        (
            "rare regex",
            r#"{env="bench"} |~ "Rows_examined: 19999\\d\\d""#,
            5000,
            Some((r"Rows_examined: 19999\d\d", true)),
        ),
        (
            "common literal, limit 100",
            r#"{env="bench"} |= "GET""#,
            100,
            Some(("GET", false)),
        ),
        (
            "json + numeric filter",
            r#"{service="worker"} | json | duration_ms > 5000"#,
            1000,
            None,
        ),
        (
            "logfmt + label filter",
            r#"{service="api"} | logfmt | status="500""#,
            1000,
            None,
        ),
        (
            "count_over_time by service",
            r#"sum by (service) (count_over_time({env="bench"}[1h]))"#,
            0,
            None,
        ),
        (
            "topk",
            r#"topk(3, sum by (host) (rate({env="bench"} |= "error" [5m])))"#,
            0,
            None,
        ),
        (
            "quantile_over_time unwrap",
            r#"quantile_over_time(0.99, {service="api"} | logfmt | unwrap duration(duration) [1h]) by (host)"#,
            0,
            None,
        ),
    ]
}

/// Runs one query over the whole range; returns (seconds, entries or series returned) or the
/// server's error.
pub(crate) fn run_query(
    addr: &str,
    query: &str,
    limit: usize,
    start: i64,
    end: i64,
) -> Result<(f64, usize), String> {
    let started = Instant::now();
    let mut req = ureq::get(format!("{addr}/loki/api/v1/query_range"))
        .query("query", query)
        .query("start", start.to_string())
        .query("end", end.to_string())
        .query("direction", "forward");
    if limit > 0 {
        req = req.query("limit", limit.to_string());
    }
    let mut resp = req
        .config()
        .http_status_as_error(false)
        .build()
        .call()
        .map_err(|e| e.to_string())?;
    let status = resp.status();
    let body = resp
        .body_mut()
        .with_config()
        .limit(1 << 32)
        .read_to_string()
        .map_err(|e| e.to_string())?;
    let secs = started.elapsed().as_secs_f64();
    if !status.is_success() {
        return Err(format!("{}: {}", status.as_u16(), body.trim()));
    }
    let v: Value = serde_json::from_str(&body).map_err(|e| e.to_string())?;
    let n = v["data"]["result"].as_array().map_or(0, |r| {
        r.iter().map(|s| s["values"].as_array().map_or(0, Vec::len)).sum()
    });
    Ok((secs, n))
}

fn have(tool: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {tool} >/dev/null 2>&1")])
        .status()
        .is_ok_and(|s| s.success())
}

/// Times a shell pipeline; returns (seconds, trimmed stdout).
fn time_shell(cmd: &str) -> anyhow::Result<(f64, String)> {
    let started = Instant::now();
    let out = Command::new("sh")
        .args(["-c", cmd])
        .output()
        .with_context(|| format!("running {cmd}"))?;
    let secs = started.elapsed().as_secs_f64();
    Ok((secs, String::from_utf8_lossy(&out.stdout).trim().to_string()))
}

/// Runs `logq bench`.
pub fn run(args: BenchArgs) -> anyhow::Result<()> {
    if args.clients == 0 || args.batch == 0 {
        bail!("--clients and --batch must be at least 1");
    }
    let raw_path = args.dir.join("raw.log");
    let data_dir = args.dir.join("data");
    let mut rows: Vec<Row> = Vec::new();
    let mut row = |phase: &'static str, what: &str, value: String, note: &str| {
        eprintln!("  {phase:<10} {what:<40} {value:>14}  {note}");
        rows.push(Row {
            phase,
            what: what.to_string(),
            value,
            note: note.to_string(),
        });
    };
    let meta_path = args.dir.join("corpus.json");
    let meta = if args.reuse {
        let text = std::fs::read_to_string(&meta_path)
            .with_context(|| format!("reading {} (run once without --reuse)", meta_path.display()))?;
        serde_json::from_str(&text).with_context(|| format!("parsing {}", meta_path.display()))?
    } else {
        let meta = prepare(&args, &raw_path, &data_dir, &mut row)?;
        std::fs::write(&meta_path, serde_json::to_string(&meta)?)?;
        meta
    };
    let CorpusMeta {
        lines,
        raw_bytes,
        first_ts,
        last_ts,
    } = meta;
    let selected = |name: &str| args.only.as_deref().is_none_or(|o| name.contains(o));

    // 4. Queries, cold (fresh server) then warm.
    let server = Server::start(&data_dir, false)?;
    let (qstart, qend) = (first_ts, last_ts + 1);
    for (name, q, limit, _) in query_set().into_iter().filter(|q| selected(q.0)) {
        for pass in ["cold", "warm"] {
            match run_query(&server.addr, q, limit, qstart, qend) {
                Ok((secs, n)) => row(
                    "query",
                    &format!("{name} ({pass}) s"),
                    format!("{secs:.3}"),
                    &format!("{n} returned, {:.2} GB/s of raw", raw_bytes as f64 / 1e9 / secs),
                ),
                Err(e) => {
                    row(
                        "query",
                        &format!("{name} s"),
                        "unsupported".into(),
                        &e.chars().take(90).collect::<String>(),
                    );
                    break;
                }
            }
        }
    }
    row(
        "query",
        "server peak RSS MiB",
        format!("{:.0}", server.peak_rss_mib()),
        "query phase only",
    );
    server.stop()?;

    // 4b. History: the whole range loaded into an index, the history queries by index and scan.
    if selected("history") {
        let mut history_row = |what: &str, value: String, note: &str| row("history", what, value, note);
        super::bench_history::run(&data_dir, &raw_path, raw_bytes, (qstart, qend), &mut history_row)?;
    }

    // 5. Baselines on the same raw file.
    if !args.no_baselines {
        let raw_q = raw_path.display().to_string();
        if have("wc") {
            let (s, out) = time_shell(&format!("wc -l < '{raw_q}'"))?;
            row("baseline", "wc -l s", format!("{s:.3}"), &format!("{out} lines"));
        }
        let zst = args.dir.join("raw.log.zst").display().to_string();
        if have("zstd") && !args.reuse {
            let (s, _) = time_shell(&format!("zstd -q -3 -T0 -f '{raw_q}' -o '{zst}'"))?;
            let size = std::fs::metadata(&zst).map(|m| m.len()).unwrap_or(0);
            row(
                "baseline",
                "zstd -3 MB",
                format!("{:.1}", mb(size)),
                &format!("{:.3} of raw, {s:.1} s", size as f64 / raw_bytes as f64),
            );
            let sample = 64 * 1024 * 1024;
            let (s, out) = time_shell(&format!(
                "head -c {sample} '{raw_q}' | zstd -q -19 -T0 -c | wc -c"
            ))?;
            let sample_raw = raw_bytes.min(sample);
            let ratio = out.parse::<f64>().unwrap_or(f64::NAN) / sample_raw as f64;
            row(
                "baseline",
                "zstd -19 ratio",
                format!("{ratio:.3}"),
                &format!("on the first {:.0} MB, {s:.1} s", mb(sample_raw)),
            );
        } else if !have("zstd") {
            row("baseline", "zstd", "not installed".into(), "apt-get install zstd");
        }
        if have("rg") {
            for (name, _, limit, pat) in query_set().into_iter().filter(|q| selected(q.0)) {
                let Some((pat, regex)) = pat else { continue };
                let fixed = if regex { "" } else { "-F " };
                let take = if limit <= 100 {
                    format!(" -m {limit}")
                } else {
                    String::new()
                };
                let (s, out) = time_shell(&format!("rg -c {fixed}{take} -e '{pat}' '{raw_q}'"))?;
                row(
                    "baseline",
                    &format!("rg: {name} s"),
                    format!("{s:.3}"),
                    &format!("{out} matching lines"),
                );
                if have("zstd") && limit > 100 && Path::new(&zst).exists() {
                    let (s, out) = time_shell(&format!("zstd -dc '{zst}' | rg -c {fixed}-e '{pat}'"))?;
                    row(
                        "baseline",
                        &format!("zstd -dc | rg: {name} s"),
                        format!("{s:.3}"),
                        &format!("{out} matching lines"),
                    );
                }
            }
        } else {
            row(
                "baseline",
                "rg",
                "not installed".into(),
                "apt-get install ripgrep",
            );
        }
    }

    write_results(&args, &rows, lines, raw_bytes)
}

/// Generates the corpus, ingests it through a child server, flushes and compacts it (steps
/// 1-3 of a run): what the queries need to know about it.
fn prepare(
    args: &BenchArgs,
    raw_path: &Path,
    data_dir: &Path,
    row: &mut dyn FnMut(&'static str, &str, String, &str),
) -> anyhow::Result<CorpusMeta> {
    let _ = std::fs::remove_dir_all(&args.dir);
    std::fs::create_dir_all(&args.dir).with_context(|| format!("creating {}", args.dir.display()))?;
    // 1. Corpus: 24 hours of lines ending two hours ago, as a text file and as push bodies.
    eprintln!("logq bench: generating {} MB of lines", mb(args.size));
    let corpus_args = CorpusArgs {
        lines: 0,
        bytes: Some(args.size),
        streams: args.streams,
        seed: args.seed,
        needle_every: 100_000,
        start: None,
        duration: "24h".into(),
        env: "bench".into(),
    };
    let mut corpus = Corpus::new(&CorpusArgs {
        start: Some((now_ns() - 26 * 3_600_000_000_000).to_string()),
        ..corpus_args
    })?;
    let started = Instant::now();
    let mut raw = BufWriter::with_capacity(1 << 20, File::create(raw_path)?);
    let mut bodies: Vec<Vec<u8>> = Vec::new();
    let mut batch = Vec::with_capacity(args.batch);
    let (mut lines, mut raw_bytes, mut first_ts, mut last_ts) = (0u64, 0u64, i64::MAX, i64::MIN);
    for (ts, g) in corpus.by_ref() {
        raw.write_all(g.line.as_bytes())?;
        raw.write_all(b"\n")?;
        lines += 1;
        raw_bytes += g.line.len() as u64 + 1;
        first_ts = first_ts.min(ts);
        last_ts = last_ts.max(ts);
        batch.push((ts, g));
        if batch.len() == args.batch {
            bodies.push(push_body(&batch));
            batch.clear();
        }
    }
    if !batch.is_empty() {
        bodies.push(push_body(&batch));
    }
    raw.flush()?;
    drop(raw);
    row(
        "corpus",
        "lines",
        lines.to_string(),
        &format!("{} streams, 24 h of timestamps", args.streams),
    );
    row("corpus", "raw MB", format!("{:.1}", mb(raw_bytes)), "");
    row(
        "corpus",
        "generate + encode s",
        format!("{:.2}", started.elapsed().as_secs_f64()),
        "not part of ingest",
    );

    // 2. Ingest through the push API (compactor idle, so compaction is measured on its own).
    let server = Server::start(data_dir, false)?;
    let cpu0 = server.cpu_seconds();
    let started = Instant::now();
    let bodies = Arc::new(bodies);
    let next = Arc::new(AtomicUsize::new(0));
    let url = format!("{}/loki/api/v1/push", server.addr);
    let workers: Vec<_> = (0..args.clients)
        .map(|_| {
            let (bodies, next, url) = (bodies.clone(), next.clone(), url.clone());
            std::thread::spawn(move || -> anyhow::Result<()> {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(body) = bodies.get(i) else { return Ok(()) };
                    post_push(&url, None, body.clone())?;
                }
            })
        })
        .collect();
    for w in workers {
        w.join().map_err(|_| anyhow!("push thread panicked"))??;
    }
    let ingest_s = started.elapsed().as_secs_f64();
    let ingest_cpu = server.cpu_seconds() - cpu0;
    row(
        "ingest",
        "lines/s",
        format!("{:.0}", lines as f64 / ingest_s),
        &format!("{} clients, {} lines per push", args.clients, args.batch),
    );
    row(
        "ingest",
        "MB/s",
        format!("{:.1}", mb(raw_bytes) / ingest_s),
        "raw line bytes",
    );
    row(
        "ingest",
        "server CPU s per GB",
        format!("{:.1}", ingest_cpu / (raw_bytes as f64 / 1e9)),
        "",
    );
    row(
        "ingest",
        "server peak RSS MiB",
        format!("{:.0}", server.peak_rss_mib()),
        "",
    );

    if let Some(brokers) = &args.kafka {
        for (what, value, note) in kafka_ingest(&args.dir, brokers, &bodies, lines, raw_bytes)? {
            row("kafka", what, value, &note);
        }
    }

    // 3. Flush: SIGTERM flushes every chunk. Then compaction alone, on a fresh server.
    let started = Instant::now();
    server.stop()?;
    row(
        "storage",
        "flush on shutdown s",
        format!("{:.1}", started.elapsed().as_secs_f64()),
        "",
    );
    let chunk_bytes = dir_size(&data_dir.join("store"));
    row(
        "storage",
        "chunks MB",
        format!("{:.1}", mb(chunk_bytes)),
        &format!("{:.3} of raw", chunk_bytes as f64 / raw_bytes as f64),
    );
    let server = Server::start(data_dir, true)?;
    let cpu0 = server.cpu_seconds();
    let started = Instant::now();
    let deadline = Instant::now() + Duration::from_secs(1800);
    while count_files(&data_dir.join("store"), ".chunk") > 0 {
        if Instant::now() > deadline {
            bail!("compaction did not finish within 30 minutes");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let compact_s = started.elapsed().as_secs_f64();
    let compact_cpu = server.cpu_seconds() - cpu0;
    let stored = dir_size(&data_dir.join("store"));
    row(
        "storage",
        "compaction s",
        format!("{compact_s:.1}"),
        &format!("{:.1} MB/s of raw lines", mb(raw_bytes) / compact_s),
    );
    row(
        "storage",
        "compaction MB/s per CPU s",
        format!("{:.1}", mb(raw_bytes) / compact_cpu.max(0.001)),
        &format!("{compact_cpu:.1} CPU s"),
    );
    row(
        "storage",
        "blocks",
        count_files(&data_dir.join("store"), ".parquet").to_string(),
        "hour blocks",
    );
    row(
        "storage",
        "stored MB",
        format!("{:.1}", mb(stored)),
        &format!("{:.3} of raw", stored as f64 / raw_bytes as f64),
    );
    row(
        "storage",
        "compaction peak RSS MiB",
        format!("{:.0}", server.peak_rss_mib()),
        "fresh server, compaction only",
    );
    server.stop()?;
    Ok(CorpusMeta {
        lines,
        raw_bytes,
        first_ts,
        last_ts,
    })
}

/// Produces the push bodies to a fresh topic, then measures one ingester consuming them into
/// durable chunks (consumed, flushed and committed on SIGTERM): rows of (what, value, note).
fn kafka_ingest(
    dir: &Path,
    brokers: &str,
    bodies: &[Vec<u8>],
    lines: u64,
    raw_bytes: u64,
) -> anyhow::Result<Vec<(&'static str, String, String)>> {
    let environment = format!("bench{}", now_ns() / 1_000_000);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let mut settings = logq_ingester::KafkaSettings::new(brokers, "h-", &environment);
    settings.partitions = 8;
    let distributor = runtime.block_on(logq_ingester::KafkaDistributor::connect(&settings))?;
    // The ingester runs while the corpus is produced (a broker may keep only a short log, as
    // librdkafka's mock cluster does: 5 MB a partition), so this measures the pipeline end to
    // end; the ingester's own cost is its CPU time.
    let data_dir = dir.join("data-kafka");
    let extra: Vec<String> = [
        "--kafka",
        brokers,
        "--environment",
        &environment,
        "--target",
        "ingester",
        "--kafka-group",
        &format!("bench-{environment}"),
    ]
    .map(String::from)
    .to_vec();
    let server = Server::start_with(&data_dir, false, &extra)?;
    let metric = |name: &str| -> u64 {
        ureq::get(format!("{}/metrics", server.addr))
            .call()
            .ok()
            .and_then(|mut r| r.body_mut().read_to_string().ok())
            .unwrap_or_default()
            .lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
            .unwrap_or(0)
    };
    // Produce only once the ingester owns partitions (it then reads from the start).
    let deadline = Instant::now() + Duration::from_secs(60);
    while metric("logq_ingester_kafka_partitions_assigned") == 0 {
        if Instant::now() > deadline {
            bail!("the ingester was assigned no partition within 60 s");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let cpu0 = server.cpu_seconds();
    let started = Instant::now();
    runtime.block_on(async {
        let tenant = logq_storage::TenantId::default_tenant();
        for body in bodies {
            let mut stats = logq_storage::push::DecodeStats::default();
            let batch = logq_storage::push::decode_protobuf(tenant.clone(), body, &mut stats)
                .map_err(|e| anyhow!("re-decoding a push body: {e}"))?;
            logq_ingester::Distributor::push(&distributor, batch).await?;
        }
        anyhow::Ok(())
    })?;
    let produced_s = started.elapsed().as_secs_f64();
    eprintln!(
        "logq bench: produced {} records to {} in {produced_s:.1} s",
        distributor.metrics.records_produced.load(Ordering::Relaxed),
        settings.topic
    );
    let deadline = Instant::now() + Duration::from_secs(1800);
    loop {
        let entries = metric("logq_ingester_entries_total");
        if entries >= lines {
            break;
        }
        if Instant::now() > deadline {
            bail!("the ingester consumed {entries} of {lines} lines in 30 minutes");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let consumed_s = started.elapsed().as_secs_f64();
    let rss = server.peak_rss_mib();
    let cpu_before_stop = server.cpu_seconds();
    server.stop()?;
    let durable_s = started.elapsed().as_secs_f64();
    // The flush on shutdown is not in cpu_seconds (the process is gone): count it as its wall time.
    let cpu = cpu_before_stop - cpu0 + (durable_s - consumed_s);
    let chunks = count_files(&data_dir.join("store"), ".chunk");
    Ok(vec![
        (
            "lines/s",
            format!("{:.0}", lines as f64 / durable_s),
            format!("produced {produced_s:.1} s, consumed {consumed_s:.1} s, durable {durable_s:.1} s"),
        ),
        (
            "MB/s",
            format!("{:.1}", mb(raw_bytes) / durable_s),
            "raw line bytes, push bodies -> Kafka -> durable chunks".into(),
        ),
        (
            "ingester MB/s per CPU s",
            format!("{:.1}", mb(raw_bytes) / cpu.max(0.001)),
            format!("{cpu:.1} ingester CPU s"),
        ),
        (
            "ingester peak RSS MiB",
            format!("{rss:.0}"),
            format!("{chunks} chunk objects"),
        ),
    ])
}

fn write_results(args: &BenchArgs, rows: &[Row], lines: u64, raw_bytes: u64) -> anyhow::Result<()> {
    let mut md = String::new();
    md.push_str(&format!(
        "logq bench --size {} --streams {} --seed {} ({} lines, {:.1} MB raw; {} cores)\n\n",
        args.size,
        args.streams,
        args.seed,
        lines,
        mb(raw_bytes),
        std::thread::available_parallelism().map_or(0, |n| n.get())
    ));
    md.push_str("| phase | measure | value | note |\n|---|---|---|---|\n");
    for r in rows {
        let cell = |t: &str| t.replace('|', "\\|");
        md.push_str(&format!(
            "| {} | {} | {} | {} |\n",
            r.phase,
            cell(&r.what),
            cell(&r.value),
            cell(&r.note)
        ));
    }
    let json_rows: Vec<Value> = rows
        .iter()
        .map(|r| json!({"phase": r.phase, "measure": r.what, "value": r.value, "note": r.note}))
        .collect();
    let json = json!({"size": args.size, "streams": args.streams, "seed": args.seed, "lines": lines, "raw_bytes": raw_bytes, "rows": json_rows});
    std::fs::write(args.dir.join("results.md"), &md)?;
    std::fs::write(
        args.dir.join("results.json"),
        serde_json::to_string_pretty(&json)?,
    )?;
    println!("{md}");
    eprintln!(
        "logq bench: results in {}/results.md and results.json",
        args.dir.display()
    );
    Ok(())
}
