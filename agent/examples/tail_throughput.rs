//! Measures the agent's throughput from files to Kafka-shaped records, and its memory while
//! tailing 100 files.
//!
//! Writes `FILES` files of realistic generated lines (one physical line per entry), then runs
//! the agent from the beginning (read, split, timestamp parse, labels, message ids, batching,
//! checkpoint journal) into an output that does what the Kafka output does to a batch short of
//! the network: split it into records by the `host` key and at 512 KiB, encode each record value
//! (Loki protobuf carrying message ids, uncompressed) and, as librdkafka does with
//! `compression.type=zstd` and `compression.level=1`, compress the values with zstd. Reports
//! lines/s and MB/s of file bytes per CPU-second of the whole process (user + system time from
//! `/proc/self/stat`, all threads; generating the files is not counted), the wall time, and the
//! peak RSS (`VmHWM`).
//!
//! `cargo run --release -p logq-agent --example tail_throughput [MB] [DIR] [--snappy-values]
//! [--no-zstd]`: `MB` of lines (default 200); `DIR` keeps the generated files (reused when it
//! already holds them, which makes profiling runs start at once); `--snappy-values` compresses
//! each value with snappy as the Kafka output did before; `--no-zstd` leaves out the producer's
//! compression; `ZSTD_LEVEL=n` sets its level.

use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use logq_agent::{AgentConfig, Delivery, Output, OutputError, TailerConfig};
use logq_loadgen::{GeneratorConfig, LogGenerator};
use logq_storage::{split_records, PushBatch, PushEncoder};

const FILES: usize = 100;
/// The distributor's record size cap (`logq_ingester::MAX_RECORD_LINE_BYTES`).
const RECORD_BYTES: usize = 512 * 1024;
/// The producer's zstd level (`compression.level` in `logq_ingester::KafkaDistributor`).
const ZSTD_LEVEL: i32 = 1;

struct KafkaShaped<'a> {
    lines: u64,
    records: u64,
    value_bytes: u64,
    wire_bytes: u64,
    want: u64,
    raw_values: bool,
    encoder: PushEncoder,
    zstd: Option<zstd::bulk::Compressor<'static>>,
    zstd_out: Vec<u8>,
    stop: &'a AtomicBool,
}

impl Output for KafkaShaped<'_> {
    fn send(&mut self, batch: &PushBatch) -> Result<Delivery, OutputError> {
        for r in split_records(batch, "host", RECORD_BYTES) {
            let value = if self.raw_values {
                self.encoder.encode_raw(&r.parts)
            } else {
                self.encoder.encode(&r.parts)
            };
            self.records += 1;
            self.value_bytes += value.len() as u64;
            self.wire_bytes += match &mut self.zstd {
                Some(z) => {
                    self.zstd_out.clear();
                    self.zstd_out
                        .reserve(zstd::zstd_safe::compress_bound(value.len()));
                    z.compress_to_buffer(value, &mut self.zstd_out).expect("zstd") as u64
                }
                None => value.len() as u64,
            };
        }
        self.lines += batch.entry_count() as u64;
        if self.lines >= self.want {
            self.stop.store(true, Ordering::Relaxed);
        }
        Ok(Delivery::default())
    }
}

fn status_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix(field))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

/// User + system CPU seconds of the whole process (all threads); `/proc` counts in USER_HZ
/// (100 per second on Linux).
fn process_cpu_secs() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").expect("/proc/self/stat");
    // Fields after the command name (which may hold spaces) start at its closing parenthesis.
    let rest = &stat[stat.rfind(')').expect("stat format") + 2..];
    let f: Vec<&str> = rest.split(' ').collect();
    let ticks: u64 = f[11].parse::<u64>().unwrap_or(0) + f[12].parse::<u64>().unwrap_or(0);
    ticks as f64 / 100.0
}

/// Writes `mb` MB of generated lines over [`FILES`] files in `logs` (unless already there);
/// returns (bytes, lines).
fn generate(logs: &Path, mb: usize) -> (usize, u64) {
    let marker = logs.join(format!(".generated-{mb}"));
    if let Ok(s) = std::fs::read_to_string(&marker) {
        if let Some((b, l)) = s.trim().split_once(' ') {
            if let (Ok(b), Ok(l)) = (b.parse(), l.parse()) {
                return (b, l);
            }
        }
    }
    std::fs::create_dir_all(logs).expect("logs dir");
    let mut gen = LogGenerator::with_config(GeneratorConfig::default());
    let mut files: Vec<_> = (0..FILES)
        .map(|i| {
            std::io::BufWriter::new(std::fs::File::create(logs.join(format!("f{i}.log"))).expect("create"))
        })
        .collect();
    let (mut total_bytes, mut total_lines) = (0usize, 0u64);
    while total_bytes < mb << 20 {
        let now = chrono::Utc::now().timestamp_nanos_opt().unwrap_or(0);
        let l = gen.next_line(now);
        // One physical line per entry (the generator's Java traces span several).
        let text = format!("{}\n", l.line.replace('\n', " "));
        total_bytes += text.len();
        total_lines += 1;
        files[total_lines as usize % FILES]
            .write_all(text.as_bytes())
            .expect("write");
    }
    for f in files {
        f.into_inner().expect("flush");
    }
    std::fs::write(&marker, format!("{total_bytes} {total_lines}")).expect("marker");
    (total_bytes, total_lines)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let zstd = !args.iter().any(|a| a == "--no-zstd");
    let raw_values = !args.iter().any(|a| a == "--snappy-values");
    let level: i32 = std::env::var("ZSTD_LEVEL")
        .ok()
        .and_then(|l| l.parse().ok())
        .unwrap_or(ZSTD_LEVEL);
    let mut pos = args.iter().filter(|a| !a.starts_with("--"));
    let mb: usize = pos.next().and_then(|a| a.parse().ok()).unwrap_or(200);
    let scratch = tempfile::tempdir().expect("temp dir");
    let logs = match pos.next() {
        Some(d) => Path::new(d).to_path_buf(),
        None => scratch.path().join("logs"),
    };
    let (total_bytes, total_lines) = generate(&logs, mb);
    let tailer = TailerConfig {
        paths: vec![logs.join("*.log").to_string_lossy().into_owned()],
        from_beginning: true,
        ..TailerConfig::default()
    };
    let mut cfg = AgentConfig::new(tailer, scratch.path().join("cp"), "bench".into());
    cfg.batch_wait = Duration::from_millis(200);
    // The files were written up to a few minutes ago: none is too old.
    cfg.max_age = None;
    let stop = AtomicBool::new(false);
    let mut out = KafkaShaped {
        lines: 0,
        records: 0,
        value_bytes: 0,
        wire_bytes: 0,
        want: total_lines,
        raw_values,
        encoder: PushEncoder::new(),
        zstd: zstd.then(|| zstd::bulk::Compressor::new(level).expect("zstd")),
        zstd_out: Vec::new(),
        stop: &stop,
    };
    let rss_before = status_kib("VmRSS:");
    let cpu0 = process_cpu_secs();
    let t = Instant::now();
    let stats = logq_agent::run(cfg, &mut out, &stop).expect("agent run");
    let wall = t.elapsed().as_secs_f64();
    let cpu = process_cpu_secs() - cpu0;
    assert_eq!(out.lines, total_lines, "every line delivered once");
    let mb_total = total_bytes as f64 / 1e6;
    println!(
        "{FILES} files, {total_lines} lines, {mb_total:.1} MB -> {} records ({} batches), values {:.1} MB \
         ({}{}), {:.1} MB on the wire",
        out.records,
        stats.batches_sent,
        out.value_bytes as f64 / 1e6,
        if raw_values { "protobuf" } else { "snappy" },
        if zstd {
            format!(" + producer zstd level {level}")
        } else {
            String::new()
        },
        out.wire_bytes as f64 / 1e6,
    );
    println!(
        "CPU {cpu:.2}s (wall {wall:.2}s): {:.0} lines/s and {:.1} MB/s per core; peak RSS {} KiB \
         (VmHWM; {} KiB before the run)",
        total_lines as f64 / cpu,
        mb_total / cpu,
        status_kib("VmHWM:"),
        rss_before,
    );
}
