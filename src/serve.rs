//! `logq serve`: wires the WAL, ingester, compactor, querier and HTTP API into one process and
//! shuts them down in order (stop HTTP, flush the ingester, commit the WAL).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use logq_api::{router, ApiMetrics, AppState};
use logq_compactor::{Compactor, CompactorConfig};
use logq_ingester::{
    open_wal, Distributor, Ingester, IngesterConfig, KafkaDistributor, KafkaSettings, KafkaSource, Limits,
    WalDistributor, WalSource,
};
use logq_querier::{Querier, QueryLimits, RemoteHeads};
use logq_storage::{ManifestStore, Store};
use tokio::sync::watch;

/// `logq serve` flags.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// A TOML file whose keys are these flags (`data_dir = "/var/lib/logq"`); flags on the
    /// command line override it.
    #[arg(long, env = "LOGQ_CONFIG")]
    config: Option<PathBuf>,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:3100", env = "LOGQ_LISTEN")]
    listen: SocketAddr,
    /// Directory for the write-ahead log and (by default) the object store.
    #[arg(long, default_value = "./logq-data", env = "LOGQ_DATA_DIR")]
    data_dir: PathBuf,
    /// Object store URL (default: `<data-dir>/store` on the local filesystem).
    #[arg(long, env = "LOGQ_STORE")]
    store: Option<String>,
    /// Feed the server generated demo logs from a few services and hosts.
    #[arg(long)]
    demo: bool,
    /// Demo lines per second.
    #[arg(long, default_value_t = 50)]
    demo_rate: u32,
    /// How often the ingester looks for chunks to flush.
    #[arg(long, default_value = "10s", value_parser = duration)]
    flush_check_interval: Duration,
    /// Out-of-order grace: a 5-minute window is flushed this long after it ends.
    #[arg(long, default_value = "1m", value_parser = duration)]
    window_grace: Duration,
    /// How often the compactor runs.
    #[arg(long, default_value = "1m", value_parser = duration)]
    compact_interval: Duration,
    /// An hour is compacted into a block this long after it ends.
    #[arg(long, default_value = "15m", value_parser = duration)]
    compact_hour_grace: Duration,
    /// A day's hour blocks are merged into one smaller day block this long after the day ends
    /// (`off`: keep hour blocks).
    #[arg(long, default_value = "1d", value_parser = day_grace)]
    compact_day_grace: DayGrace,
    /// Compression of day blocks' line column: `zstd` (level 19), or `brotli` (quality 11: about
    /// 4% smaller, 4x the compaction CPU, slower reads of day blocks; `brotli:Q` for another).
    #[arg(long, default_value = "zstd")]
    compact_day_codec: logq_storage::LineCodec,
    /// Replaced chunks are deleted this long after compaction.
    #[arg(long, default_value = "5m", value_parser = duration)]
    delete_grace: Duration,
    /// Oldest accepted entry, relative to now.
    #[arg(long, default_value = "7d", value_parser = duration)]
    reject_older_than: Duration,
    /// Longest accepted line in bytes.
    #[arg(long, default_value_t = 256 * 1024)]
    max_line_bytes: usize,
    /// Queries running longer are cancelled with 504.
    #[arg(long, default_value = "5m", value_parser = duration)]
    query_timeout: Duration,
    /// Per-tenant ingestion rate in MB of line bytes per second (0 = unlimited); 429 above it.
    #[arg(long, default_value_t = 0.0)]
    ingestion_rate_mb: f64,
    /// Per-tenant ingestion burst in MB (default: one second at the rate, at least 1 MB).
    #[arg(long)]
    ingestion_burst_mb: Option<f64>,
    /// Loki 3's `discover_service_name`: stream labels looked up, in order, for a
    /// `service_name` label added to streams without one (`unknown_service` when none is
    /// present). Comma-separated; `loki` stands for Loki 3's default list (service, app,
    /// application, app_name, name, app_kubernetes_io_name, container, container_name,
    /// k8s_container_name, component, workload, job, k8s_job_name). Off by default: Loki
    /// enables it, but it changes every stream's and metric series' labels.
    #[arg(long, default_value = "")]
    discover_service_name: String,
    /// Loki 3's `discover_log_levels`: entries get `detected_level` structured metadata (from
    /// a level label or field, else words in the line, else `unknown`). Off by default.
    #[arg(long)]
    discover_log_levels: bool,
    /// A chunk that received no entries for this long is flushed even if its window is open.
    #[arg(long, default_value = "30m", value_parser = duration)]
    chunk_idle_period: Duration,
    /// A chunk holding this many bytes of lines is flushed even if its window is open.
    #[arg(long, default_value_t = 16 * 1024 * 1024)]
    max_chunk_bytes: usize,
    /// Above this many MiB of in-memory chunks (lines plus per-entry overhead) the ingester
    /// flushes at once, the largest chunks first, instead of waiting for the next flush check
    /// (bounds memory under load; 0 turns it off).
    #[arg(long, default_value_t = 24)]
    ingester_flush_memory_mb: usize,
    /// Which roles this process runs: `all` (default), or with `--kafka` one of `distributor`
    /// (push API to Kafka, queries over storage), `ingester` (consumes Kafka into chunks),
    /// `querier` (queries over storage) or `compactor`.
    #[arg(long, value_enum, default_value_t = Target::All)]
    target: Target,
    #[command(flatten)]
    kafka: KafkaArgs,
    #[command(flatten)]
    retention: crate::retention_args::RetentionArgs,
    #[command(flatten)]
    history: crate::history_args::HistoryArgs,
}

/// The roles of one `logq serve` process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Target {
    /// Everything in one process.
    All,
    /// The push API (producing to Kafka) and queries over storage.
    Distributor,
    /// A member of the ingesters' consumer group (plus queries over its memory and storage).
    Ingester,
    /// Queries over storage.
    Querier,
    /// The compactor (run exactly one per store).
    Compactor,
}

impl Target {
    fn ingests(self) -> bool {
        matches!(self, Target::All | Target::Ingester)
    }

    fn compacts(self) -> bool {
        matches!(self, Target::All | Target::Compactor)
    }
}

/// Kafka flags: with `--kafka`, pushes go to Kafka and ingesters consume it as a group.
#[derive(Debug, Args)]
pub struct KafkaArgs {
    /// Kafka bootstrap brokers (`host:port,...`): distributed mode.
    #[arg(long, env = "LOGQ_KAFKA")]
    kafka: Option<String>,
    /// Topics are named `<prefix><environment>`.
    #[arg(long, default_value = "h-")]
    kafka_topic_prefix: String,
    /// The environment whose topic this process produces to and consumes.
    #[arg(long, default_value = "default", env = "LOGQ_ENVIRONMENT")]
    environment: String,
    /// Partitions of the topic when logq creates it.
    #[arg(long, default_value_t = 8)]
    kafka_partitions: i32,
    /// Replication factor of the topic when logq creates it.
    #[arg(long, default_value_t = 1)]
    kafka_replication_factor: i32,
    /// The ingesters' consumer group.
    #[arg(long, default_value = "logq-ingester")]
    kafka_group: String,
    /// The stream label whose value picks the partition.
    #[arg(long, default_value = "host")]
    kafka_partition_label: String,
    /// Extra librdkafka properties (TLS, SASL, tuning), e.g. `-X security.protocol=SASL_SSL`.
    #[arg(short = 'X', long = "kafka-property", value_parser = key_value)]
    kafka_properties: Vec<(String, String)>,
    /// Other processes' ingesters whose unflushed entries queries include (base URLs,
    /// comma-separated), for `--target querier` or `distributor`.
    #[arg(long, value_delimiter = ',')]
    ingesters: Vec<String>,
    /// Kafka consumption pauses while the ingester holds more line bytes than this in memory.
    #[arg(long, default_value_t = 512)]
    ingester_max_memory_mb: usize,
}

impl KafkaArgs {
    fn settings(&self) -> Option<KafkaSettings> {
        let brokers = self.kafka.as_ref()?;
        let mut s = KafkaSettings::new(brokers.clone(), &self.kafka_topic_prefix, &self.environment);
        s.partitions = self.kafka_partitions;
        s.replication_factor = self.kafka_replication_factor;
        s.group = self.kafka_group.clone();
        s.partition_label = self.kafka_partition_label.clone();
        s.properties = self.kafka_properties.clone();
        Some(s)
    }

    fn check(&self, target: Target) -> anyhow::Result<()> {
        if self.kafka.is_none() && target != Target::All {
            anyhow::bail!("--target {target:?} needs --kafka (without Kafka, one process runs everything)");
        }
        if self.kafka_partitions < 1 {
            anyhow::bail!(
                "--kafka-partitions must be at least 1, got {}",
                self.kafka_partitions
            );
        }
        let topic = format!("{}{}", self.kafka_topic_prefix, self.environment);
        let valid = !topic.is_empty()
            && topic.len() <= 249
            && topic
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
        if !valid {
            anyhow::bail!("invalid Kafka topic name {topic:?} (from --kafka-topic-prefix and --environment): use letters, digits, '.', '_' and '-'");
        }
        Ok(())
    }
}

fn key_value(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_string(), v.to_string())),
        _ => Err(format!("expected KEY=VALUE, got {s:?}")),
    }
}

/// Parses a duration flag (`10s`, `1h30m`, `7d`).
pub fn duration(s: &str) -> Result<Duration, String> {
    let ns = logq_api::parse_duration(s)?;
    Ok(Duration::from_nanos(ns as u64))
}

/// When day blocks are made: a grace after the day ends, or never (`off`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DayGrace(pub Option<Duration>);

/// Parses `--compact-day-grace` / `--day-grace`: a duration, or `off`.
pub fn day_grace(s: &str) -> Result<DayGrace, String> {
    match s.trim() {
        "off" | "never" => Ok(DayGrace(None)),
        other => duration(other).map(|d| DayGrace(Some(d))),
    }
}

/// Runs the server until SIGINT or SIGTERM.
pub fn run(args: ServeArgs) -> anyhow::Result<()> {
    init_tracing();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("logq")
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(serve(args))
}

/// Logs to stderr, filtered by `LOGQ_LOG` (default `info`).
pub fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("LOGQ_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(std::io::stderr)
        .try_init();
}

fn now_ms() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis())
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    args.kafka.check(args.target)?;
    std::fs::create_dir_all(&args.data_dir)
        .with_context(|| format!("creating data directory {}", args.data_dir.display()))?;
    let store_url = args
        .store
        .clone()
        .unwrap_or_else(|| args.data_dir.join("store").to_string_lossy().into_owned());
    let store = Store::open(&store_url).with_context(|| format!("opening object store {store_url}"))?;
    store.startup_check().await?;
    let manifests = ManifestStore::new(store);

    let limits = Limits {
        max_line_bytes: args.max_line_bytes,
        reject_older_than_ns: args.reject_older_than.as_nanos() as i64,
        ..Default::default()
    };
    let kafka = args.kafka.settings();
    let ingester = Ingester::new(
        manifests.clone(),
        IngesterConfig {
            flush_check_interval: args.flush_check_interval,
            window_grace: args.window_grace,
            max_chunk_bytes: args.max_chunk_bytes,
            chunk_idle: args.chunk_idle_period,
            flush_memory_bytes: (args.ingester_flush_memory_mb > 0)
                .then(|| args.ingester_flush_memory_mb * 1024 * 1024),
            max_memory_bytes: kafka
                .as_ref()
                .map(|_| args.kafka.ingester_max_memory_mb * 1024 * 1024),
            source_name: match kafka {
                None => "wal".into(),
                // Unique per process: two ingesters never write the same chunk key.
                Some(_) => format!("kafka-{}-{}", std::process::id(), now_ms()),
            },
        },
    );
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let (distributor, ingest_task): (Arc<dyn Distributor>, _) = match &kafka {
        None => {
            let (wal_writer, wal_reader, wal_committer) =
                open_wal(&args.data_dir.join("wal"), 4096).context("opening the write-ahead log")?;
            let task = tokio::spawn(
                ingester
                    .clone()
                    .run_source(WalSource::new(wal_reader, wal_committer), shutdown_rx.clone()),
            );
            (
                Arc::new(WalDistributor::new(wal_writer, ingester.applied())),
                Some(task),
            )
        }
        Some(settings) => {
            let d = KafkaDistributor::connect(settings)
                .await
                .with_context(|| format!("connecting to Kafka at {}", settings.brokers))?;
            let task = if args.target.ingests() {
                let source = KafkaSource::connect(
                    settings,
                    ingester.clone(),
                    &limits,
                    args.kafka.ingester_max_memory_mb * 1024 * 1024,
                )
                .await
                .with_context(|| format!("joining consumer group {:?}", settings.group))?;
                Some(tokio::spawn(
                    ingester.clone().run_source(source, shutdown_rx.clone()),
                ))
            } else {
                None
            };
            (Arc::new(d), task)
        }
    };
    if ingest_task.is_none() {
        // No source to replay in this process: its (empty) head is complete as it is.
        ingester.set_ready(true);
    }
    let compact_task = args.target.compacts().then(|| {
        let compactor = Compactor::new(
            manifests.clone(),
            CompactorConfig {
                interval: args.compact_interval,
                hour_grace: args.compact_hour_grace,
                day_grace: args.compact_day_grace.0,
                day_blocks: logq_storage::BlockOptions {
                    line_codec: args.compact_day_codec,
                    ..logq_storage::BlockOptions::day()
                },
                delete_grace: args.delete_grace,
                retention: args.retention.policy(),
                ..Default::default()
            },
        );
        tokio::spawn(compactor.run(shutdown_rx.clone()))
    });

    let state = Arc::new(AppState {
        distributor,
        querier: Arc::new(
            Querier::new(ingester.clone(), manifests.clone(), QueryLimits::default())
                .with_remote_heads(RemoteHeads::new(args.kafka.ingesters.clone()))
                .with_history(args.history.open(&args.data_dir, manifests.clone()).await?),
        ),
        manifests,
        ingester: ingester.clone(),
        limits,
        metrics: ApiMetrics::default(),
        query_timeout: args.query_timeout,
        rate_limiter: logq_api::RateLimiter::new((args.ingestion_rate_mb > 0.0).then(|| {
            let rate = args.ingestion_rate_mb * 1e6;
            (rate, args.ingestion_burst_mb.map_or(rate.max(1e6), |b| b * 1e6))
        })),
        ingest_defaults: logq_api::IngestDefaults {
            service_name_labels: service_name_labels(&args.discover_service_name),
            discover_log_levels: args.discover_log_levels,
        },
    });
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("listening on {}", args.listen))?;
    let addr = listener.local_addr()?;
    tracing::info!(%addr, data_dir = %args.data_dir.display(), store = %store_url, config = ?args.config, "logq is ready");
    let demo_task = if args.demo {
        let distributor = state.distributor.clone();
        let start = crate::demo::backfill(distributor.as_ref(), args.demo_rate).await;
        let exe = std::env::current_exe().map_or_else(|_| "logq".into(), |p| p.display().to_string());
        println!("logq demo: UI at http://{addr}/");
        println!(
            "logq demo: try  {exe} query --addr http://{addr} '{{service=\"nginx\"}} |= \"GET\"' --since 5m"
        );
        Some(tokio::spawn(crate::demo::feed(
            distributor,
            start,
            args.demo_rate,
            shutdown_rx.clone(),
        )))
    } else {
        None
    };

    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown_signal())
        .await
        .context("serving HTTP")?;
    tracing::info!("shutting down: flushing in-memory chunks");
    let _ = shutdown_tx.send(true);
    if let Some(t) = demo_task {
        let _ = t.await;
    }
    if let Some(t) = compact_task {
        let _ = t.await;
    }
    if let Some(t) = ingest_task {
        t.await.context("ingester task failed")?;
    }
    tracing::info!("shutdown complete");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(s) => s,
            Err(_) => {
                let _ = ctrl_c.await;
                return;
            }
        };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

/// The `--discover-service-name` list (`loki`: Loki 3's default list).
fn service_name_labels(flag: &str) -> Vec<String> {
    flag.split(',')
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .flat_map(|l| match l {
            "loki" => logq_api::LOKI_SERVICE_NAME_LABELS
                .iter()
                .map(|s| s.to_string())
                .collect(),
            other => vec![other.to_string()],
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn day_grace_is_a_duration_or_off() {
        assert_eq!(day_grace("off"), Ok(DayGrace(None)));
        assert_eq!(day_grace("never"), Ok(DayGrace(None)));
        assert_eq!(
            day_grace("36h"),
            Ok(DayGrace(Some(Duration::from_secs(36 * 3600))))
        );
        assert_eq!(day_grace("0s"), Ok(DayGrace(Some(Duration::ZERO))));
        assert!(day_grace("soon").is_err());
    }
}
