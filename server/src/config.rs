//! [`ServerConfig`]: everything `logq serve` runs with, as one serde structure. It is the
//! `[server]` table of a logq config file; `logq serve`'s flags and `LOGQ_*` environment
//! variables overlay it (see `flags.rs`).
//!
//! Invariants: every default is written once, in the `Default` impls below (serde fills missing
//! keys from them); unknown keys are errors (`deny_unknown_fields` everywhere); durations are
//! strings (`"10s"`, `"1h30m"`, `"7d"`); sizes named `_mb` are MiB; [`ServerConfig::validate`]
//! is the one check run before a server starts, by `logq serve` and by `logq config check`.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use logq_api::{Overrides, TenantLimits, TenantOverrides};
use logq_storage::duration::{format_duration, parse_std_duration, serde_duration};
use logq_storage::LineCodec;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::ServerError;

/// The configuration of one `logq serve` process.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Address the HTTP API listens on (port 0: any free port).
    pub listen: SocketAddr,
    /// Directory for the write-ahead log and (by default) the object store.
    pub data_dir: PathBuf,
    /// Object store URL (`s3://`, `gs://`, `az://`, a path); absent: `<data_dir>/store`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub store: Option<String>,
    /// Which roles this process runs: `all`, or with Kafka one of `distributor`, `ingester`,
    /// `querier`, `compactor`.
    pub target: Target,
    /// Feed the server generated demo logs from a few services and hosts.
    pub demo: bool,
    /// Demo lines per second.
    pub demo_rate: u32,
    /// Limits of every tenant (Loki's `limits_config`).
    pub limits: TenantLimits,
    /// Per-tenant limits: `[server.overrides.<tenant>]` tables naming the fields they change.
    pub overrides: BTreeMap<String, TenantOverrides>,
    /// The ingester: when in-memory chunks are flushed.
    pub ingester: IngesterSection,
    /// The compactor: when hours and days are compacted, and stream retention.
    pub compactor: CompactorSection,
    /// The querier.
    pub querier: QuerierSection,
    /// Kafka (distributed mode); without `brokers` pushes go to the local write-ahead log.
    pub kafka: KafkaSection,
    /// The HTTP API: ingest-time label discovery.
    pub api: ApiSection,
    /// The history indexes: time to live, disk budget, longest range, concurrent builds.
    pub history: crate::history::HistorySection,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 3100)),
            data_dir: PathBuf::from("./logq-data"),
            store: None,
            target: Target::All,
            demo: false,
            demo_rate: 50,
            limits: TenantLimits::default(),
            overrides: BTreeMap::new(),
            ingester: IngesterSection::default(),
            compactor: CompactorSection::default(),
            querier: QuerierSection::default(),
            kafka: KafkaSection::default(),
            api: ApiSection::default(),
            history: crate::history::HistorySection::default(),
        }
    }
}

/// The roles of one `logq serve` process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
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
    /// Whether this process consumes pushes into its own head.
    pub fn ingests(self) -> bool {
        matches!(self, Target::All | Target::Ingester)
    }

    /// Whether this process runs the compactor.
    pub fn compacts(self) -> bool {
        matches!(self, Target::All | Target::Compactor)
    }
}

/// `[server.ingester]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IngesterSection {
    /// How often the ingester looks for chunks to flush.
    #[serde(with = "serde_duration")]
    pub flush_check_interval: Duration,
    /// Out-of-order grace: a 5-minute window is flushed this long after it ends.
    #[serde(with = "serde_duration")]
    pub window_grace: Duration,
    /// A chunk that received no entries for this long is flushed even if its window is open.
    #[serde(with = "serde_duration")]
    pub chunk_idle_period: Duration,
    /// A chunk holding this many bytes of lines is flushed even if its window is open.
    pub max_chunk_bytes: usize,
    /// Above this many MiB of in-memory chunks (lines plus per-entry overhead) the ingester
    /// flushes at once, the largest chunks first (0 turns it off).
    pub flush_memory_mb: usize,
    /// With Kafka: consumption pauses while the ingester holds more MiB of lines than this.
    pub max_memory_mb: usize,
}

impl Default for IngesterSection {
    fn default() -> Self {
        IngesterSection {
            flush_check_interval: Duration::from_secs(10),
            window_grace: Duration::from_secs(60),
            chunk_idle_period: Duration::from_secs(30 * 60),
            max_chunk_bytes: 16 * 1024 * 1024,
            flush_memory_mb: 24,
            max_memory_mb: 512,
        }
    }
}

/// `[server.compactor]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CompactorSection {
    /// How often the compactor runs.
    #[serde(with = "serde_duration")]
    pub interval: Duration,
    /// An hour is compacted into a block this long after it ends.
    #[serde(with = "serde_duration")]
    pub hour_grace: Duration,
    /// A day's hour blocks are merged into one smaller day block this long after the day ends;
    /// `"off"` keeps hour blocks.
    pub day_grace: DayGrace,
    /// Compression of day blocks' line column: `zstd`, `brotli` or `brotli:<quality 0-11>`.
    #[serde(serialize_with = "codec_ser", deserialize_with = "codec_de")]
    pub day_codec: LineCodec,
    /// Replaced chunks are deleted this long after compaction.
    #[serde(with = "serde_duration")]
    pub delete_grace: Duration,
    /// Shorter retention for the streams a selector matches, for every tenant:
    /// `[[server.compactor.retention_stream]]` with `selector` and `period`.
    pub retention_stream: Vec<StreamRetentionConfig>,
}

impl Default for CompactorSection {
    fn default() -> Self {
        CompactorSection {
            interval: Duration::from_secs(60),
            hour_grace: Duration::from_secs(15 * 60),
            day_grace: DayGrace(Some(Duration::from_secs(24 * 3600))),
            day_codec: LineCodec::Zstd,
            delete_grace: Duration::from_secs(5 * 60),
            retention_stream: Vec::new(),
        }
    }
}

/// A retention period for the streams a selector matches.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StreamRetentionConfig {
    /// A LogQL stream selector, e.g. `{level="debug"}`.
    pub selector: String,
    /// How long those streams are kept.
    #[serde(with = "serde_duration")]
    pub period: Duration,
}

/// `[server.querier]`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QuerierSection {
    /// Other processes' ingesters whose unflushed entries queries include (base URLs), for a
    /// `querier` or `distributor` target.
    pub ingesters: Vec<String>,
}

/// `[server.kafka]`: with `brokers`, pushes go to Kafka and ingesters consume it as a group.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KafkaSection {
    /// Bootstrap brokers (`host:port,...`); absent: no Kafka (one process runs everything).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub brokers: Option<String>,
    /// Topics are named `<topic_prefix><environment>`.
    pub topic_prefix: String,
    /// The environment whose topic this process produces to and consumes.
    pub environment: String,
    /// Partitions of the topic when logq creates it.
    pub partitions: i32,
    /// Replication factor of the topic when logq creates it.
    pub replication_factor: i32,
    /// The ingesters' consumer group.
    pub group: String,
    /// The stream label whose value picks the partition (`key_label` is accepted too).
    #[serde(alias = "key_label")]
    pub partition_label: String,
    /// Extra librdkafka properties (TLS, SASL, tuning), e.g. `"security.protocol" = "SSL"`.
    pub properties: BTreeMap<String, String>,
    /// This ingester's `group.instance.id` (static group membership: a restarted ingester gets
    /// its partitions back at once). Absent: a stable id kept in `<data-dir>/kafka-instance-id`;
    /// `off`: dynamic membership. Give each ingester its own.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instance_id: Option<String>,
}

impl Default for KafkaSection {
    fn default() -> Self {
        KafkaSection {
            brokers: None,
            topic_prefix: "h-".into(),
            environment: "default".into(),
            partitions: 8,
            replication_factor: 1,
            group: "logq-ingester".into(),
            partition_label: "host".into(),
            properties: BTreeMap::new(),
            instance_id: None,
        }
    }
}

impl KafkaSection {
    /// The topic name, `<topic_prefix><environment>`.
    pub fn topic(&self) -> String {
        format!("{}{}", self.topic_prefix, self.environment)
    }

    /// The ingester crate's settings, when Kafka is configured.
    pub fn settings(&self) -> Option<logq_ingester::KafkaSettings> {
        let brokers = self.brokers.as_ref()?;
        let mut s = logq_ingester::KafkaSettings::new(brokers.clone(), &self.topic_prefix, &self.environment);
        s.partitions = self.partitions;
        s.replication_factor = self.replication_factor;
        s.group = self.group.clone();
        s.partition_label = self.partition_label.clone();
        s.properties = self
            .properties
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        Some(s)
    }
}

/// `[server.api]`: Loki 3's ingest-time label discovery (both off by default: Loki enables
/// them, but they change every stream's and metric series' labels).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ApiSection {
    /// Loki 3's `discover_service_name`: stream labels looked up, in order, for a
    /// `service_name` label added to streams without one; `loki` stands for Loki 3's list.
    pub discover_service_name: Vec<String>,
    /// Loki 3's `discover_log_levels`: entries get `detected_level` structured metadata.
    pub discover_log_levels: bool,
}

impl ApiSection {
    /// The discovery labels with `loki` expanded to Loki 3's default list.
    pub fn service_name_labels(&self) -> Vec<String> {
        self.discover_service_name
            .iter()
            .map(|l| l.trim())
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
}

/// When day blocks are made: a grace after the day ends, or never (`off`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DayGrace(pub Option<Duration>);

impl std::str::FromStr for DayGrace {
    type Err = String;

    /// A duration, or `off` / `never`.
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim() {
            "off" | "never" => Ok(DayGrace(None)),
            other => parse_std_duration(other)
                .map(|d| DayGrace(Some(d)))
                .map_err(|e| e.to_string()),
        }
    }
}

impl Serialize for DayGrace {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            None => s.serialize_str("off"),
            Some(d) => s.serialize_str(&format_duration(d)),
        }
    }
}

impl<'de> Deserialize<'de> for DayGrace {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?.parse().map_err(serde::de::Error::custom)
    }
}

fn codec_ser<S: Serializer>(c: &LineCodec, s: S) -> Result<S::Ok, S::Error> {
    match c {
        LineCodec::Zstd => s.serialize_str("zstd"),
        LineCodec::Brotli(q) => s.serialize_str(&format!("brotli:{q}")),
    }
}

fn codec_de<'de, D: Deserializer<'de>>(d: D) -> Result<LineCodec, D::Error> {
    String::deserialize(d)?.parse().map_err(serde::de::Error::custom)
}

impl ServerConfig {
    /// Checks what serde cannot: value ranges, the Kafka topic name, roles that need Kafka,
    /// every tenant's limits and the stream retention selectors.
    pub fn validate(&self) -> Result<(), ServerError> {
        let bad = |key: &str, reason: String| Err(ServerError::Config(format!("{key}: {reason}")));
        self.history.validate()?;
        if self.kafka.brokers.is_none() && self.target != Target::All {
            return bad(
                "target",
                format!(
                    "{:?} needs kafka.brokers (--kafka): without Kafka, one process runs everything",
                    self.target
                )
                .to_lowercase(),
            );
        }
        if self.kafka.partitions < 1 {
            return bad(
                "kafka.partitions",
                format!("must be at least 1, got {}", self.kafka.partitions),
            );
        }
        if self.kafka.replication_factor < 1 {
            return bad(
                "kafka.replication_factor",
                format!("must be at least 1, got {}", self.kafka.replication_factor),
            );
        }
        let topic = self.kafka.topic();
        let valid = !topic.is_empty()
            && topic.len() <= 249
            && topic
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
        if !valid {
            return bad(
                "kafka.topic_prefix",
                format!("invalid Kafka topic name {topic:?} (from kafka.topic_prefix and kafka.environment): use letters, digits, '.', '_' and '-'"),
            );
        }
        if self.ingester.flush_check_interval.is_zero() {
            return bad("ingester.flush_check_interval", "must be positive".into());
        }
        if self.ingester.max_chunk_bytes == 0 {
            return bad("ingester.max_chunk_bytes", "must be positive".into());
        }
        if self.compactor.interval.is_zero() {
            return bad("compactor.interval", "must be positive".into());
        }
        if self.demo_rate == 0 && self.demo {
            return bad("demo_rate", "must be positive".into());
        }
        self.overrides()?;
        for r in &self.compactor.retention_stream {
            crate::retention::stream_retention(r)?;
        }
        Ok(())
    }

    /// Every tenant's limits, resolved.
    pub fn overrides(&self) -> Result<Overrides, ServerError> {
        Overrides::new(self.limits.clone(), &self.overrides).map_err(|e| ServerError::Config(e.to_string()))
    }

    /// The compactor's configuration (block encodings, graces and the retention policy).
    pub fn compactor_config(&self) -> Result<logq_compactor::CompactorConfig, ServerError> {
        let c = &self.compactor;
        Ok(logq_compactor::CompactorConfig {
            interval: c.interval,
            hour_grace: c.hour_grace,
            day_grace: c.day_grace.0,
            day_blocks: logq_storage::BlockOptions {
                line_codec: c.day_codec,
                ..logq_storage::BlockOptions::day()
            },
            delete_grace: c.delete_grace,
            retention: crate::retention::policy(self)?,
            ..Default::default()
        })
    }

    /// The configuration as a TOML `[server]` table (what `logq config check` and `logq serve
    /// --print-config` print).
    pub fn to_toml(&self) -> String {
        #[derive(Serialize)]
        struct File<'a> {
            server: &'a ServerConfig,
        }
        toml::to_string(&File { server: self }).unwrap_or_else(|e| format!("# cannot print: {e}\n"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct File {
        server: ServerConfig,
    }

    fn parse(text: &str) -> Result<ServerConfig, String> {
        toml::from_str::<File>(text)
            .map(|f| f.server)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn missing_keys_take_the_defaults_and_printing_round_trips() {
        let c =
            parse("[server]\nlisten = \"0.0.0.0:3200\"\n[server.ingester]\nwindow_grace = \"0s\"\n").unwrap();
        assert_eq!(c.listen.port(), 3200);
        assert_eq!(c.ingester.window_grace, Duration::ZERO);
        assert_eq!(c.ingester.flush_check_interval, Duration::from_secs(10));
        assert_eq!(c.limits, TenantLimits::default());
        let printed = c.to_toml();
        assert_eq!(parse(&printed).unwrap(), c, "{printed}");
        let full = ServerConfig {
            store: Some("s3://b".into()),
            overrides: [(
                "t".to_string(),
                TenantOverrides {
                    query_timeout: Some(Duration::from_secs(3)),
                    ..Default::default()
                },
            )]
            .into(),
            compactor: CompactorSection {
                day_grace: DayGrace(None),
                day_codec: LineCodec::Brotli(9),
                retention_stream: vec![StreamRetentionConfig {
                    selector: "{level=\"debug\"}".into(),
                    period: Duration::from_secs(86400),
                }],
                ..Default::default()
            },
            kafka: KafkaSection {
                brokers: Some("k:9092".into()),
                properties: [("security.protocol".to_string(), "SSL".to_string())].into(),
                ..Default::default()
            },
            ..Default::default()
        };
        let printed = full.to_toml();
        assert_eq!(parse(&printed).unwrap(), full, "{printed}");
    }

    #[test]
    fn unknown_keys_are_errors_naming_key_and_line() {
        let e = parse("[server]\ndata_dir = \"/d\"\nlisten_port = 3\n").unwrap_err();
        assert!(e.contains("listen_port") && e.contains("line 3"), "{e}");
        let e = parse("[server.limits]\nmax_query_serie = 3\n").unwrap_err();
        assert!(e.contains("max_query_serie"), "{e}");
        let e = parse("[server.overrides.t]\nquery_timeout = \"soon\"\n").unwrap_err();
        assert!(e.contains("soon"), "{e}");
        let c = parse("[server.kafka]\nkey_label = \"app\"\n").unwrap();
        assert_eq!(c.kafka.partition_label, "app");
    }

    #[test]
    fn validation_names_the_key() {
        let mut c = ServerConfig {
            target: Target::Querier,
            ..Default::default()
        };
        assert!(c.validate().unwrap_err().to_string().contains("target"));
        c.target = Target::All;
        c.kafka.topic_prefix = "a b".into();
        assert!(c
            .validate()
            .unwrap_err()
            .to_string()
            .contains("kafka.topic_prefix"));
        c.kafka.topic_prefix = "h-".into();
        c.compactor.retention_stream.push(StreamRetentionConfig {
            selector: "{a=".into(),
            period: Duration::from_secs(1),
        });
        assert!(c.validate().unwrap_err().to_string().contains("{a="));
        c.compactor.retention_stream.clear();
        assert!(c.validate().is_ok());
    }
}
