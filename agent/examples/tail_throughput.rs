//! Measures the agent's file-to-output throughput and memory: writes `FILES` files of
//! realistic generated lines, runs the agent from the beginning into an output that only counts
//! (and encodes each batch as the HTTP output would: protobuf + snappy), and prints lines/s,
//! MB/s and the peak RSS. `cargo run --release -p logq-agent --example tail_throughput [MB]`.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use logq_agent::{AgentConfig, GeneratorConfig, LogGenerator, Output, OutputError, TailerConfig};
use logq_storage::PushBatch;

const FILES: usize = 100;

struct Counting<'a> {
    lines: u64,
    bytes: u64,
    want: u64,
    stop: &'a AtomicBool,
}

impl Output for Counting<'_> {
    fn send(&mut self, batch: &PushBatch) -> Result<(), OutputError> {
        let body = logq_storage::push::encode_protobuf(batch);
        self.bytes += body.len() as u64;
        self.lines += batch.entry_count() as u64;
        if self.lines >= self.want {
            self.stop.store(true, Ordering::Relaxed);
        }
        Ok(())
    }
}

fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

fn main() {
    let mb: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(200);
    let dir = tempfile::tempdir().expect("temp dir");
    let logs = dir.path().join("logs");
    std::fs::create_dir_all(&logs).expect("logs dir");
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
    drop(files);
    let tailer = TailerConfig {
        paths: vec![logs.join("*.log").to_string_lossy().into_owned()],
        from_beginning: true,
        ..TailerConfig::default()
    };
    let mut cfg = AgentConfig::new(tailer, dir.path().join("cp"), "bench".into());
    cfg.batch_wait = Duration::from_millis(200);
    let stop = AtomicBool::new(false);
    let mut out = Counting {
        lines: 0,
        bytes: 0,
        want: total_lines,
        stop: &stop,
    };
    let t = Instant::now();
    let stats = logq_agent::run(cfg, &mut out, &stop).expect("agent run");
    let secs = t.elapsed().as_secs_f64();
    println!(
        "{} files, {total_lines} lines, {:.1} MB in {secs:.2}s: {:.0} lines/s, {:.1} MB/s (one thread); \
         {} batches, {:.1} MB compressed; peak RSS {} KiB",
        FILES,
        total_bytes as f64 / 1e6,
        total_lines as f64 / secs,
        total_bytes as f64 / 1e6 / secs,
        stats.batches_sent,
        out.bytes as f64 / 1e6,
        peak_rss_kib()
    );
}
