//! `logq serve`'s flags and `LOGQ_*` environment variables, as an overlay on a
//! [`ServerConfig`]: each flag given replaces one configuration value, flags not given leave the
//! file's (or the default) value alone. Precedence: defaults < config file < environment < flags.
//!
//! Every flag keeps the name and meaning it had before the configuration file existed; the
//! doc of each names the configuration key it sets.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use logq_storage::duration::parse_std_duration;
use logq_storage::{LineCodec, TenantId};

use crate::config::{DayGrace, ServerConfig, StreamRetentionConfig, Target};

/// The flags of `logq serve` that set configuration values.
#[derive(Debug, Clone, Default, Args)]
pub struct ServeFlags {
    /// Address to listen on [default: 127.0.0.1:3100] (`listen`).
    #[arg(long, env = "LOGQ_LISTEN")]
    pub listen: Option<SocketAddr>,
    /// Directory for the write-ahead log and (by default) the object store
    /// [default: ./logq-data] (`data_dir`).
    #[arg(long, env = "LOGQ_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Object store URL (default: `<data-dir>/store` on the local filesystem) (`store`).
    #[arg(long, env = "LOGQ_STORE")]
    pub store: Option<String>,
    /// Feed the server generated demo logs from a few services and hosts (`demo`).
    #[arg(long)]
    pub demo: bool,
    /// Demo lines per second [default: 50] (`demo_rate`).
    #[arg(long)]
    pub demo_rate: Option<u32>,
    /// How often the ingester looks for chunks to flush [default: 10s]
    /// (`ingester.flush_check_interval`).
    #[arg(long, value_parser = parse_std_duration)]
    pub flush_check_interval: Option<Duration>,
    /// Out-of-order grace: a 5-minute window is flushed this long after it ends [default: 1m]
    /// (`ingester.window_grace`).
    #[arg(long, value_parser = parse_std_duration)]
    pub window_grace: Option<Duration>,
    /// A chunk that received no entries for this long is flushed even if its window is open
    /// [default: 30m] (`ingester.chunk_idle_period`).
    #[arg(long, value_parser = parse_std_duration)]
    pub chunk_idle_period: Option<Duration>,
    /// A chunk holding this many bytes of lines is flushed even if its window is open
    /// [default: 16777216] (`ingester.max_chunk_bytes`).
    #[arg(long)]
    pub max_chunk_bytes: Option<usize>,
    /// Above this many MiB of in-memory chunks (lines plus per-entry overhead) the ingester
    /// flushes at once, the largest chunks first (0 turns it off) [default: 24]
    /// (`ingester.flush_memory_mb`).
    #[arg(long)]
    pub ingester_flush_memory_mb: Option<usize>,
    /// Kafka consumption pauses while the ingester holds more MiB of lines than this in memory
    /// [default: 512] (`ingester.max_memory_mb`).
    #[arg(long)]
    pub ingester_max_memory_mb: Option<usize>,
    /// How often the compactor runs [default: 1m] (`compactor.interval`).
    #[arg(long, value_parser = parse_std_duration)]
    pub compact_interval: Option<Duration>,
    /// An hour is compacted into a block this long after it ends [default: 15m]
    /// (`compactor.hour_grace`).
    #[arg(long, value_parser = parse_std_duration)]
    pub compact_hour_grace: Option<Duration>,
    /// A day's hour blocks are merged into one smaller day block this long after the day ends
    /// (`off`: keep hour blocks) [default: 1d] (`compactor.day_grace`).
    #[arg(long)]
    pub compact_day_grace: Option<DayGrace>,
    /// Compression of day blocks' line column: `zstd` (level 19), or `brotli` (quality 11: about
    /// 4% smaller, 4x the compaction CPU, slower reads of day blocks; `brotli:Q` for another)
    /// [default: zstd] (`compactor.day_codec`).
    #[arg(long)]
    pub compact_day_codec: Option<LineCodec>,
    /// Replaced chunks are deleted this long after compaction [default: 5m]
    /// (`compactor.delete_grace`).
    #[arg(long, value_parser = parse_std_duration)]
    pub delete_grace: Option<Duration>,
    /// Oldest accepted entry, relative to now [default: 7d] (`limits.reject_old_samples_max_age`).
    #[arg(long, value_parser = parse_std_duration)]
    pub reject_older_than: Option<Duration>,
    /// Longest accepted line in bytes [default: 262144] (`limits.max_line_size`).
    #[arg(long)]
    pub max_line_bytes: Option<usize>,
    /// Queries running longer are cancelled with 504 [default: 5m] (`limits.query_timeout`).
    #[arg(long, value_parser = parse_std_duration)]
    pub query_timeout: Option<Duration>,
    /// Per-tenant ingestion rate in MiB of line bytes per second (0 = unlimited); 429 above it
    /// (`limits.ingestion_rate_mb`).
    #[arg(long)]
    pub ingestion_rate_mb: Option<f64>,
    /// Per-tenant ingestion burst in MiB (default: one second at the rate, at least 1 MiB)
    /// (`limits.ingestion_burst_size_mb`).
    #[arg(long)]
    pub ingestion_burst_mb: Option<f64>,
    /// Loki 3's `discover_service_name`: stream labels looked up, in order, for a
    /// `service_name` label added to streams without one (`unknown_service` when none is
    /// present). Comma-separated; `loki` stands for Loki 3's default list (service, app,
    /// application, app_name, name, app_kubernetes_io_name, container, container_name,
    /// k8s_container_name, component, workload, job, k8s_job_name). Off by default: Loki
    /// enables it, but it changes every stream's and metric series' labels
    /// (`api.discover_service_name`).
    #[arg(long)]
    pub discover_service_name: Option<String>,
    /// Loki 3's `discover_log_levels`: entries get `detected_level` structured metadata (from
    /// a level label or field, else words in the line, else `unknown`). Off by default
    /// (`api.discover_log_levels`).
    #[arg(long)]
    pub discover_log_levels: bool,
    /// Which roles this process runs: `all` (default), or with `--kafka` one of `distributor`
    /// (push API to Kafka, queries over storage), `ingester` (consumes Kafka into chunks),
    /// `querier` (queries over storage) or `compactor` (`target`).
    #[arg(long, value_enum)]
    pub target: Option<Target>,
    /// Kafka bootstrap brokers (`host:port,...`): distributed mode (`kafka.brokers`).
    #[arg(long, env = "LOGQ_KAFKA")]
    pub kafka: Option<String>,
    /// Topics are named `<prefix><environment>` [default: h-] (`kafka.topic_prefix`).
    #[arg(long)]
    pub kafka_topic_prefix: Option<String>,
    /// The environment whose topic this process produces to and consumes [default: default]
    /// (`kafka.environment`).
    #[arg(long, env = "LOGQ_ENVIRONMENT")]
    pub environment: Option<String>,
    /// Partitions of the topic when logq creates it [default: 8] (`kafka.partitions`).
    #[arg(long)]
    pub kafka_partitions: Option<i32>,
    /// Replication factor of the topic when logq creates it [default: 1]
    /// (`kafka.replication_factor`).
    #[arg(long)]
    pub kafka_replication_factor: Option<i32>,
    /// The ingesters' consumer group [default: logq-ingester] (`kafka.group`).
    #[arg(long)]
    pub kafka_group: Option<String>,
    /// The stream label whose value picks the partition [default: host]
    /// (`kafka.partition_label`; `--kafka-key-label` is the same flag).
    #[arg(long, alias = "kafka-key-label")]
    pub kafka_partition_label: Option<String>,
    /// Extra librdkafka properties (TLS, SASL, tuning), e.g. `-X security.protocol=SASL_SSL`
    /// (`kafka.properties`).
    #[arg(short = 'X', long = "kafka-property", value_parser = key_value)]
    pub kafka_properties: Vec<(String, String)>,
    /// This ingester's `group.instance.id` (static group membership: a restarted ingester gets
    /// its partitions back at once). Default: a stable id kept in `<data-dir>/kafka-instance-id`;
    /// `off`: dynamic membership. Give each ingester its own (`kafka.instance_id`).
    #[arg(long)]
    pub kafka_instance_id: Option<String>,
    /// Other processes' ingesters whose unflushed entries queries include (base URLs,
    /// comma-separated), for `--target querier` or `distributor` (`querier.ingesters`).
    #[arg(long, value_delimiter = ',')]
    pub ingesters: Vec<String>,
    /// A history index unused this long expires (`history.ttl`; default 6h).
    #[arg(long, value_parser = parse_std_duration)]
    pub history_ttl: Option<Duration>,
    /// Most disk all history indexes may use: bytes (`500MB`, `2GiB`) or a share of the data
    /// directory's filesystem (`10%`, the default); least recently used are evicted
    /// (`history.disk_budget`).
    #[arg(long, value_parser = clap::value_parser!(crate::history::DiskBudget))]
    pub history_disk_budget: Option<crate::history::DiskBudget>,
    /// Longest time range one history index may cover (`history.max_range`; default 7d).
    #[arg(long, value_parser = parse_std_duration)]
    pub history_max_range: Option<Duration>,
    /// History index builds running at once, each about one core (`history.build_concurrency`;
    /// default 1).
    #[arg(long)]
    pub history_build_concurrency: Option<usize>,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub retention: RetentionFlags,
}

/// `--retention`, `--retention-tenant` and `--retention-stream` (also used by `logq compact`).
#[derive(Debug, Clone, Default, Args)]
pub struct RetentionFlags {
    /// Delete data older than this (e.g. 30d); unset keeps data forever
    /// (`limits.retention_period`).
    #[arg(long, value_parser = parse_std_duration, env = "LOGQ_RETENTION")]
    pub retention: Option<Duration>,
    /// Per-tenant retention, `TENANT=DURATION` (repeatable)
    /// (`overrides.<tenant>.retention_period`).
    #[arg(long = "retention-tenant", value_parser = tenant_retention)]
    pub tenants: Vec<(String, Duration)>,
    /// Per-stream retention, `SELECTOR=DURATION`, e.g. `{level="debug"}=1d` (repeatable)
    /// (`compactor.retention_stream`).
    #[arg(long = "retention-stream", value_parser = stream_retention)]
    pub streams: Vec<StreamRetentionConfig>,
}

fn set<T>(slot: &mut T, value: Option<T>) {
    if let Some(v) = value {
        *slot = v;
    }
}

impl ServeFlags {
    /// Writes every flag given into `c`.
    pub fn overlay(self, c: &mut ServerConfig) {
        set(&mut c.listen, self.listen);
        set(&mut c.data_dir, self.data_dir);
        if self.store.is_some() {
            c.store = self.store;
        }
        c.demo |= self.demo;
        set(&mut c.demo_rate, self.demo_rate);
        set(&mut c.target, self.target);
        let i = &mut c.ingester;
        set(&mut i.flush_check_interval, self.flush_check_interval);
        set(&mut i.window_grace, self.window_grace);
        set(&mut i.chunk_idle_period, self.chunk_idle_period);
        set(&mut i.max_chunk_bytes, self.max_chunk_bytes);
        set(&mut i.flush_memory_mb, self.ingester_flush_memory_mb);
        set(&mut i.max_memory_mb, self.ingester_max_memory_mb);
        let k = &mut c.compactor;
        set(&mut k.interval, self.compact_interval);
        set(&mut k.hour_grace, self.compact_hour_grace);
        set(&mut k.day_grace, self.compact_day_grace);
        set(&mut k.day_codec, self.compact_day_codec);
        set(&mut k.delete_grace, self.delete_grace);
        let l = &mut c.limits;
        set(&mut l.reject_old_samples_max_age, self.reject_older_than);
        set(&mut l.max_line_size, self.max_line_bytes);
        set(&mut l.query_timeout, self.query_timeout);
        set(&mut l.ingestion_rate_mb, self.ingestion_rate_mb);
        if self.ingestion_burst_mb.is_some() {
            l.ingestion_burst_size_mb = self.ingestion_burst_mb;
        }
        if let Some(list) = self.discover_service_name {
            c.api.discover_service_name = list
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(String::from)
                .collect();
        }
        c.api.discover_log_levels |= self.discover_log_levels;
        let q = &mut c.kafka;
        if self.kafka.is_some() {
            q.brokers = self.kafka;
        }
        set(&mut q.topic_prefix, self.kafka_topic_prefix);
        set(&mut q.environment, self.environment);
        set(&mut q.partitions, self.kafka_partitions);
        set(&mut q.replication_factor, self.kafka_replication_factor);
        set(&mut q.group, self.kafka_group);
        set(&mut q.partition_label, self.kafka_partition_label);
        q.properties.extend(self.kafka_properties);
        if self.kafka_instance_id.is_some() {
            q.instance_id = self.kafka_instance_id;
        }
        if !self.ingesters.is_empty() {
            c.querier.ingesters = self.ingesters;
        }
        let h = &mut c.history;
        set(&mut h.ttl, self.history_ttl);
        set(&mut h.disk_budget, self.history_disk_budget);
        set(&mut h.max_range, self.history_max_range);
        set(&mut h.build_concurrency, self.history_build_concurrency);
        self.retention.overlay(c);
    }
}

impl RetentionFlags {
    /// Writes the retention flags given into `c`.
    pub fn overlay(self, c: &mut ServerConfig) {
        if self.retention.is_some() {
            c.limits.retention_period = self.retention;
        }
        for (tenant, period) in self.tenants {
            c.overrides.entry(tenant).or_default().retention_period = Some(period);
        }
        if !self.streams.is_empty() {
            c.compactor.retention_stream = self.streams;
        }
    }
}

fn key_value(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_string(), v.to_string())),
        _ => Err(format!("expected KEY=VALUE, got {s:?}")),
    }
}

fn tenant_retention(s: &str) -> Result<(String, Duration), String> {
    let (tenant, period) = s
        .split_once('=')
        .ok_or_else(|| format!("invalid retention override {s:?}: expected TENANT=DURATION"))?;
    TenantId::new(tenant).map_err(|e| e.to_string())?;
    let period = parse_std_duration(period).map_err(|e| e.to_string())?;
    Ok((tenant.to_string(), period))
}

fn stream_retention(s: &str) -> Result<StreamRetentionConfig, String> {
    let (selector, period) = s
        .rsplit_once('=')
        .filter(|(sel, _)| sel.trim_end().ends_with('}'))
        .ok_or_else(|| {
            format!("invalid stream retention {s:?}: expected SELECTOR=DURATION, e.g. {{level=\"debug\"}}=1d")
        })?;
    let rule = StreamRetentionConfig {
        selector: selector.to_string(),
        period: parse_std_duration(period).map_err(|e| e.to_string())?,
    };
    crate::retention::stream_retention(&rule).map_err(|e| e.to_string())?;
    Ok(rule)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        flags: ServeFlags,
    }

    fn overlay(base: ServerConfig, flags: &[&str]) -> ServerConfig {
        let mut c = base;
        let mut argv = vec!["serve"];
        argv.extend_from_slice(flags);
        Cli::try_parse_from(argv).unwrap().flags.overlay(&mut c);
        c
    }

    #[test]
    fn flags_replace_only_what_they_name() {
        let mut file = ServerConfig::default();
        file.limits.max_entries_limit_per_query = 100;
        file.ingester.window_grace = Duration::from_secs(5);
        let c = overlay(
            file.clone(),
            &[
                "--window-grace",
                "0s",
                "--retention-tenant",
                "a=1d",
                "--kafka-key-label",
                "app",
                "--compact-day-grace",
                "off",
                "--discover-service-name",
                "loki,svc",
            ],
        );
        assert_eq!(c.ingester.window_grace, Duration::ZERO);
        assert_eq!(c.limits.max_entries_limit_per_query, 100);
        assert_eq!(
            c.overrides["a"].retention_period,
            Some(Duration::from_secs(86400))
        );
        assert_eq!(c.kafka.partition_label, "app");
        assert_eq!(c.compactor.day_grace, DayGrace(None));
        assert_eq!(c.api.discover_service_name, ["loki", "svc"]);
        assert_eq!(overlay(file.clone(), &[]), file);
    }

    #[test]
    fn bad_flag_values_name_the_value() {
        let err = |flags: &[&str]| {
            let mut argv = vec!["serve"];
            argv.extend_from_slice(flags);
            Cli::try_parse_from(argv).err().unwrap().to_string()
        };
        assert!(err(&["--window-grace", "soon"]).contains("soon"));
        assert!(err(&["--retention-stream", "{a=\"b\"}|=\"x\"=1d"]).contains("SELECTOR=DURATION"));
        assert!(err(&["--retention-stream", "{a=}=1d"]).contains("{a=}"));
        assert!(err(&["--retention-tenant", "a/b=1d"]).contains("a/b"));
        assert!(err(&["--retention-tenant", "t"]).contains("TENANT=DURATION"));
        assert!(err(&["--retention-tenant", "../x=5s"]).contains("../x"));
        assert_eq!(
            tenant_retention("t=5s").unwrap(),
            ("t".to_string(), Duration::from_secs(5))
        );
        assert!(err(&["--compact-day-codec", "lz4"]).contains("lz4"));
    }
}
