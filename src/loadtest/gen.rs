//! `logq gen`: writes realistic generated log lines to stdout, to one file per service and host,
//! to a Loki push endpoint, or to Kafka, at a given rate or as fast as possible.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context};
use clap::Args;
use logq_api::proto::{EntryAdapter, PushRequest, StreamAdapter, Timestamp};
use logq_ingester::{Distributor, KafkaDistributor, KafkaSettings};
use logq_loadgen::{GeneratedLine, GeneratorConfig, LogGenerator};
use logq_storage::now_ns;
use logq_storage::{derive_message_id, Entry, LabelSet, PushBatch, StreamEntries, TenantId};
use prost::Message;

/// What to generate (shared by `logq gen` and `logq bench`).
#[derive(Debug, Clone, Args)]
pub struct CorpusArgs {
    /// Number of lines (ignored when --bytes is given).
    #[arg(long, default_value_t = 100_000)]
    pub lines: u64,
    /// Stop after this many bytes of line text (e.g. 1GB, 64MiB).
    #[arg(long, value_parser = parse_size)]
    pub bytes: Option<u64>,
    /// Number of streams (service x host pairs).
    #[arg(long, default_value_t = 16)]
    pub streams: usize,
    /// Seed: the same seed generates the same lines.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// One line in this many carries the needle token (0 = none).
    #[arg(long, default_value_t = 100_000)]
    pub needle_every: u64,
    /// Timestamp of the first line (RFC 3339; default: now - duration).
    #[arg(long)]
    pub start: Option<String>,
    /// Timestamps are spread evenly over this span.
    #[arg(long, default_value = "1h")]
    pub duration: String,
    /// The env label.
    #[arg(long, default_value = "bench")]
    pub env: String,
}

/// `logq gen` flags.
#[derive(Debug, Args)]
pub struct GenArgs {
    #[command(flatten)]
    corpus: CorpusArgs,
    /// Lines per second (0 = as fast as possible). With a rate, timestamps are the wall clock.
    #[arg(long, default_value_t = 0)]
    rate: u64,
    /// Write one file per service and host into this directory (appending).
    #[arg(long, conflicts_with = "push")]
    dir: Option<PathBuf>,
    /// Push to this Loki-compatible URL (e.g. http://localhost:3100/loki/api/v1/push).
    #[arg(long)]
    push: Option<String>,
    /// Produce to Kafka at these brokers (records as logq's distributor writes them).
    #[arg(long, conflicts_with_all = ["push", "dir"])]
    kafka: Option<String>,
    /// Topic for --kafka (default `h-<env>`).
    #[arg(long, requires = "kafka")]
    kafka_topic: Option<String>,
    /// Tenant for --push and --kafka (X-Scope-OrgID).
    #[arg(long)]
    org_id: Option<String>,
    /// Entries per push request.
    #[arg(long, default_value_t = 5000)]
    batch: usize,
}

/// Parses `123`, `10KB`, `64MiB`, `1GB` (decimal and binary units).
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: f64 = num.parse().map_err(|_| format!("invalid size {s:?}"))?;
    let mult: f64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "k" | "kb" => 1e3,
        "kib" => 1024.0,
        "m" | "mb" => 1e6,
        "mib" => 1024.0 * 1024.0,
        "g" | "gb" => 1e9,
        "gib" => 1024.0 * 1024.0 * 1024.0,
        _ => return Err(format!("invalid size {s:?}: unknown unit {unit:?}")),
    };
    Ok((n * mult) as u64)
}

/// A finite, reproducible sequence of (timestamp, line) with evenly spread timestamps.
pub struct Corpus {
    gen: LogGenerator,
    start: i64,
    step: i64,
    span: i64,
    index: u64,
    lines: u64,
    bytes_left: Option<u64>,
}

impl Corpus {
    /// The corpus `args` describes; `lines_hint` estimates the line count when sized by bytes.
    pub fn new(args: &CorpusArgs) -> anyhow::Result<Self> {
        let duration =
            logq_api::parse_duration(&args.duration).map_err(|e| anyhow!("invalid --duration: {e}"))?;
        let start = match &args.start {
            Some(s) => logq_api::parse_time(s).map_err(|e| anyhow!("invalid --start: {e}"))?,
            None => now_ns() - duration,
        };
        if args.streams == 0 {
            bail!("--streams must be at least 1");
        }
        let gen = LogGenerator::with_config(GeneratorConfig {
            seed: args.seed,
            streams: args.streams,
            needle_every: args.needle_every,
            env: args.env.clone(),
        });
        // Spread timestamps over the duration: for a size in bytes, estimate the line count
        // from a sample of the same generator (with a margin, so the last line stays inside).
        let expected = match args.bytes {
            None => args.lines,
            Some(b) => {
                let mut sample = gen.clone();
                let n = 20_000u64;
                let total: u64 = (0..n)
                    .map(|i| sample.next_line(i as i64).line.len() as u64 + 1)
                    .sum();
                (b as f64 / (total as f64 / n as f64) * 1.05) as u64
            }
        };
        Ok(Corpus {
            gen,
            start,
            step: (duration / expected.max(1) as i64).max(1),
            span: duration.max(1),
            index: 0,
            lines: if args.bytes.is_some() {
                u64::MAX
            } else {
                args.lines
            },
            bytes_left: args.bytes,
        })
    }
}

impl Iterator for Corpus {
    type Item = (i64, GeneratedLine);

    fn next(&mut self) -> Option<Self::Item> {
        if self.index >= self.lines || self.bytes_left == Some(0) {
            return None;
        }
        let ts = self.start + (self.index as i64).saturating_mul(self.step).min(self.span - 1);
        self.index += 1;
        let g = self.gen.next_line(ts);
        if let Some(left) = &mut self.bytes_left {
            *left = left.saturating_sub(g.line.len() as u64 + 1);
        }
        Some((ts, g))
    }
}

/// Encodes entries as a snappy-compressed Loki push protobuf.
pub fn push_body(entries: &[(i64, GeneratedLine)]) -> Vec<u8> {
    let mut by_stream: HashMap<String, Vec<EntryAdapter>> = HashMap::new();
    for (ts, g) in entries {
        by_stream
            .entry(g.labels.to_string())
            .or_default()
            .push(EntryAdapter {
                timestamp: Some(Timestamp {
                    seconds: ts.div_euclid(1_000_000_000),
                    nanos: ts.rem_euclid(1_000_000_000) as i32,
                }),
                line: g.line.clone().into_bytes(),
                structured_metadata: Vec::new(),
                parsed: Vec::new(),
            });
    }
    let req = PushRequest {
        streams: by_stream
            .into_iter()
            .map(|(labels, entries)| StreamAdapter {
                labels: labels.into_bytes(),
                entries,
                hash: 0,
            })
            .collect(),
        format: String::new(),
    };
    snap::raw::Encoder::new()
        .compress_vec(&req.encode_to_vec())
        .unwrap_or_default()
}

/// POSTs one push body; an error names the server's answer.
pub fn post_push(url: &str, org_id: Option<&str>, body: Vec<u8>) -> anyhow::Result<()> {
    let mut req = ureq::post(url).header("Content-Type", "application/x-protobuf");
    if let Some(org) = org_id {
        req = req.header("X-Scope-OrgID", org);
    }
    let mut resp = req
        .config()
        .http_status_as_error(false)
        .build()
        .send(&body[..])
        .with_context(|| format!("pushing to {url}"))?;
    if !resp.status().is_success() {
        let text = resp.body_mut().read_to_string().unwrap_or_default();
        bail!("push to {url} answered {}: {}", resp.status(), text.trim());
    }
    Ok(())
}

/// A producer of generated batches to Kafka (through the distributor's code path).
struct KafkaSink {
    runtime: tokio::runtime::Runtime,
    distributor: KafkaDistributor,
    tenant: TenantId,
}

impl KafkaSink {
    fn connect(args: &GenArgs, brokers: &str) -> anyhow::Result<Self> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .context("starting the async runtime")?;
        let mut settings = KafkaSettings::new(brokers, "h-", &args.corpus.env);
        if let Some(t) = &args.kafka_topic {
            settings.topic = t.clone();
        }
        let distributor = runtime
            .block_on(KafkaDistributor::connect(&settings))
            .with_context(|| format!("connecting to Kafka at {brokers}"))?;
        let tenant = match &args.org_id {
            Some(t) => TenantId::new(t.as_str()).map_err(|e| anyhow!("invalid --org-id: {e}"))?,
            None => TenantId::default_tenant(),
        };
        Ok(KafkaSink {
            runtime,
            distributor,
            tenant,
        })
    }

    fn send(&self, entries: &[(i64, GeneratedLine)]) -> anyhow::Result<()> {
        let mut by_stream: HashMap<&LabelSet, Vec<Entry>> = HashMap::new();
        for (ts, g) in entries {
            by_stream.entry(&g.labels).or_default().push(Entry {
                ts: *ts,
                id: derive_message_id(g.labels.fingerprint(), *ts, &g.line),
                line: g.line.clone(),
                metadata: Vec::new(),
            });
        }
        let batch = PushBatch {
            tenant: self.tenant.clone(),
            streams: by_stream
                .into_iter()
                .map(|(labels, entries)| StreamEntries {
                    labels: labels.clone(),
                    entries,
                })
                .collect(),
        };
        self.runtime
            .block_on(self.distributor.push(batch))
            .context("producing to Kafka")
    }
}

/// Runs `logq gen`.
pub fn run(args: GenArgs) -> anyhow::Result<()> {
    if args.batch == 0 {
        bail!("--batch must be at least 1");
    }
    let corpus = Corpus::new(&args.corpus)?;
    let kafka = match &args.kafka {
        Some(brokers) => Some(KafkaSink::connect(&args, brokers)?),
        None => None,
    };
    let started = Instant::now();
    let mut files: HashMap<usize, BufWriter<File>> = HashMap::new();
    if let Some(dir) = &args.dir {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let mut pending: Vec<(i64, GeneratedLine)> = Vec::new();
    for (written, (mut ts, g)) in corpus.enumerate() {
        if args.rate > 0 {
            // Pace to the rate; timestamps follow the wall clock.
            let due = Duration::from_secs_f64(written as f64 / args.rate as f64);
            if let Some(wait) = due.checked_sub(started.elapsed()) {
                if !pending.is_empty() {
                    flush_push(&args, kafka.as_ref(), &mut pending)?;
                }
                out.flush()?;
                std::thread::sleep(wait);
            }
            ts = now_ns();
        }
        if let Some(dir) = &args.dir {
            let f = match files.entry(g.stream) {
                std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
                std::collections::hash_map::Entry::Vacant(v) => {
                    let name = format!(
                        "{}-{}.log",
                        g.labels.get("service").unwrap_or("service"),
                        g.labels.get("host").unwrap_or("host")
                    );
                    let path = dir.join(name);
                    let file = std::fs::OpenOptions::new()
                        .create(true)
                        .append(true)
                        .open(&path)
                        .with_context(|| format!("opening {}", path.display()))?;
                    v.insert(BufWriter::new(file))
                }
            };
            writeln!(f, "{}", g.line)?;
        } else if args.push.is_some() || kafka.is_some() {
            pending.push((ts, g));
            if pending.len() >= args.batch {
                flush_push(&args, kafka.as_ref(), &mut pending)?;
            }
        } else {
            writeln!(out, "{}", g.line)?;
        }
    }
    if !pending.is_empty() {
        flush_push(&args, kafka.as_ref(), &mut pending)?;
    }
    for f in files.values_mut() {
        f.flush()?;
    }
    out.flush()?;
    Ok(())
}

fn flush_push(
    args: &GenArgs,
    kafka: Option<&KafkaSink>,
    pending: &mut Vec<(i64, GeneratedLine)>,
) -> anyhow::Result<()> {
    if let Some(url) = &args.push {
        post_push(url, args.org_id.as_deref(), push_body(pending))?;
    }
    if let Some(sink) = kafka {
        sink.send(pending)?;
    }
    pending.clear();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("1GB").unwrap(), 1_000_000_000);
        assert_eq!(parse_size("64MiB").unwrap(), 64 * 1024 * 1024);
        assert_eq!(parse_size("512").unwrap(), 512);
        assert!(parse_size("5 parsecs").is_err());
    }
}
