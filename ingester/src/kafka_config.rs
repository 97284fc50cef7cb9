//! Kafka settings shared by the distributor (producer) and the ingester (consumer group), the
//! librdkafka client configurations built from them, and topic creation.

use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::config::ClientConfig;
use rdkafka::types::RDKafkaErrorCode;

use crate::error::{IngestError, Result};
use crate::kafka_log::LogContext;

/// Where and how logq talks to Kafka.
#[derive(Debug, Clone)]
pub struct KafkaSettings {
    /// Bootstrap brokers, `host:port[,host:port...]`.
    pub brokers: String,
    /// The topic pushes are produced to and the ingester consumes (`h-<environment>`).
    pub topic: String,
    /// The prefix of topic names (`h-`): what follows it is the environment.
    pub topic_prefix: String,
    /// Partitions of the topic when logq creates it.
    pub partitions: i32,
    /// Replication factor of the topic when logq creates it.
    pub replication_factor: i32,
    /// The ingesters' consumer group.
    pub group: String,
    /// This ingester's `group.instance.id` (static group membership, KIP-345): a restarted
    /// ingester with the same id gets its partitions back at once instead of after the dead
    /// member's session timeout. `None`: dynamic membership.
    pub instance_id: Option<String>,
    /// The stream label whose value keys (partitions) each record; `host` by default.
    pub partition_label: String,
    /// Extra librdkafka properties (TLS, SASL, tuning), applied last.
    pub properties: Vec<(String, String)>,
}

impl KafkaSettings {
    /// Settings for `brokers` and topic `<prefix><environment>` with logq's defaults.
    pub fn new(brokers: impl Into<String>, topic_prefix: &str, environment: &str) -> Self {
        KafkaSettings {
            brokers: brokers.into(),
            topic: format!("{topic_prefix}{environment}"),
            topic_prefix: topic_prefix.to_string(),
            partitions: 8,
            replication_factor: 1,
            group: "logq-ingester".into(),
            instance_id: None,
            partition_label: "host".into(),
            properties: Vec::new(),
        }
    }

    /// The session timeout the consumer runs with (`-X session.timeout.ms`, else logq's 10 s).
    pub fn session_timeout(&self) -> Duration {
        self.properties
            .iter()
            .rev()
            .find(|(k, _)| k == "session.timeout.ms")
            .and_then(|(_, v)| v.trim().parse::<u64>().ok())
            .map_or(DEFAULT_SESSION_TIMEOUT, Duration::from_millis)
    }

    /// A client configuration with the brokers and the extra properties.
    pub(crate) fn client_config(&self, overrides: &[(&str, &str)]) -> ClientConfig {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", &self.brokers);
        c.set("client.id", "logq");
        for (k, v) in overrides {
            c.set(*k, *v);
        }
        for (k, v) in &self.properties {
            c.set(k, v);
        }
        c
    }

    /// Creates the topic when it does not exist yet.
    pub async fn ensure_topic(&self) -> Result<()> {
        let admin: AdminClient<LogContext> = self
            .client_config(&[("allow.auto.create.topics", "false")])
            .create_with_context(LogContext)
            .map_err(|e| kafka_err(format!("connecting to {}", self.brokers), e))?;
        let admin = std::sync::Arc::new(admin);
        let probe = admin.clone();
        let topic_name = self.topic.clone();
        let partitions = tokio::task::spawn_blocking(move || {
            probe
                .inner()
                .fetch_metadata(Some(&topic_name), Duration::from_secs(20))
                .map(|m| {
                    m.topics()
                        .iter()
                        .find(|t| t.name() == topic_name && t.error().is_none())
                        .map(|t| t.partitions().len())
                })
        })
        .await
        .map_err(|e| IngestError::Kafka(format!("reading metadata of {:?}: {e}", self.topic)))?
        .map_err(|e| {
            kafka_err(
                format!("reading metadata of topic {:?} from {}", self.topic, self.brokers),
                e,
            )
        })?;
        if let Some(n) = partitions.filter(|n| *n > 0) {
            tracing::debug!(topic = %self.topic, partitions = n, "Kafka topic exists");
            return Ok(());
        }
        let topic = NewTopic::new(
            &self.topic,
            self.partitions,
            TopicReplication::Fixed(self.replication_factor),
        );
        let opts = AdminOptions::new()
            .operation_timeout(Some(Duration::from_secs(10)))
            .request_timeout(Some(Duration::from_secs(10)));
        let outcome =
            match tokio::time::timeout(Duration::from_secs(15), admin.create_topics([&topic], &opts)).await {
                Err(_) => Err("timed out after 15s".to_string()),
                Ok(Err(e)) => Err(e.to_string()),
                Ok(Ok(results)) => results.into_iter().try_for_each(|r| match r {
                    Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => Ok(()),
                    Err((_, code)) => Err(code.to_string()),
                }),
            };
        match outcome {
            Ok(()) => tracing::info!(topic = %self.topic, partitions = self.partitions, "Kafka topic ready"),
            // Some brokers (librdkafka's mock cluster, locked-down clusters) refuse CreateTopics
            // but create a topic when a producer first asks for its metadata: ask now.
            Err(why) => {
                tracing::warn!(
                    topic = %self.topic,
                    error = %why,
                    "creating the Kafka topic failed; asking the broker to create it on first use"
                );
                let producer: rdkafka::producer::BaseProducer<LogContext> = self
                    .client_config(&[])
                    .create_with_context(LogContext)
                    .map_err(|e| kafka_err(format!("connecting to {}", self.brokers), e))?;
                let topic = self.topic.clone();
                let found = tokio::task::spawn_blocking(move || {
                    use rdkafka::producer::Producer;
                    producer
                        .client()
                        .fetch_metadata(Some(&topic), Duration::from_secs(10))
                        .map(|m| {
                            m.topics()
                                .iter()
                                .any(|t| t.error().is_none() && !t.partitions().is_empty())
                        })
                })
                .await
                .map_err(|e| IngestError::Kafka(format!("reading metadata of {:?}: {e}", self.topic)))?;
                match found {
                    Ok(true) => tracing::info!(topic = %self.topic, "Kafka topic created on first use"),
                    Ok(false) | Err(_) => {
                        tracing::warn!(topic = %self.topic, "the Kafka topic does not exist yet")
                    }
                }
            }
        }
        Ok(())
    }
}

/// The consumer's session timeout unless `-X session.timeout.ms` says otherwise.
pub const DEFAULT_SESSION_TIMEOUT: Duration = Duration::from_secs(10);

/// Name of the file, in the data directory, holding the ingester's stable instance id.
pub const INSTANCE_ID_FILE: &str = "kafka-instance-id";

/// The stable `group.instance.id` of the ingester whose data directory is `data_dir`: read from
/// `<data_dir>/kafka-instance-id`, created on the first start as `logq-<host>-<random>` (unique
/// per data directory, the same across restarts).
pub fn stable_instance_id(data_dir: &std::path::Path, host: &str) -> Result<String> {
    let path = data_dir.join(INSTANCE_ID_FILE);
    match std::fs::read_to_string(&path) {
        Ok(s) if !s.trim().is_empty() => return Ok(s.trim().to_string()),
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(IngestError::Kafka(format!("reading {}: {e}", path.display()))),
    }
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let random =
        xxhash_rust::xxh3::xxh3_64(format!("{nanos}-{}-{}", std::process::id(), path.display()).as_bytes());
    let host: String = host
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .take(64)
        .collect();
    let id = format!("logq-{host}-{:08x}", random as u32);
    let tmp = data_dir.join(format!("{INSTANCE_ID_FILE}.tmp"));
    std::fs::write(&tmp, format!("{id}\n"))
        .and_then(|_| std::fs::rename(&tmp, &path))
        .map_err(|e| IngestError::Kafka(format!("writing {}: {e}", path.display())))?;
    Ok(id)
}

/// A Kafka error with what was being done.
pub(crate) fn kafka_err(ctx: impl std::fmt::Display, e: rdkafka::error::KafkaError) -> IngestError {
    IngestError::Kafka(format!("{ctx}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rdkafka::producer::BaseProducer;

    fn producer_with(properties: &[(&str, &str)]) -> std::result::Result<BaseProducer, String> {
        let mut settings = KafkaSettings::new("127.0.0.1:9", "h-", "test");
        settings.properties = properties
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        settings.client_config(&[]).create().map_err(|e| e.to_string())
    }

    #[test]
    fn tls_and_sasl_properties_are_supported() {
        // librdkafka rejects these at configuration time when built without OpenSSL.
        for (protocol, mechanism) in [
            ("SSL", None),
            ("SASL_PLAINTEXT", Some("PLAIN")),
            ("SASL_SSL", Some("SCRAM-SHA-512")),
        ] {
            let mut props = vec![("security.protocol", protocol)];
            if let Some(m) = mechanism {
                props.extend([
                    ("sasl.mechanism", m),
                    ("sasl.username", "u"),
                    ("sasl.password", "p"),
                ]);
            }
            if let Err(e) = producer_with(&props) {
                panic!("{protocol} {mechanism:?}: {e}");
            }
        }
    }

    #[test]
    fn the_instance_id_is_stable_per_data_directory() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        let id = stable_instance_id(a.path(), "web 1").unwrap();
        assert!(id.starts_with("logq-web_1-"), "{id}");
        assert_eq!(
            stable_instance_id(a.path(), "other").unwrap(),
            id,
            "a restart keeps its id"
        );
        assert_ne!(stable_instance_id(b.path(), "web 1").unwrap(), id);
    }

    #[test]
    fn the_session_timeout_follows_the_properties() {
        let mut s = KafkaSettings::new("127.0.0.1:9", "h-", "test");
        assert_eq!(s.session_timeout(), DEFAULT_SESSION_TIMEOUT);
        s.properties.push(("session.timeout.ms".into(), "6000".into()));
        assert_eq!(s.session_timeout(), Duration::from_secs(6));
    }

    #[test]
    fn a_bad_property_is_an_error_naming_it() {
        let Err(e) = producer_with(&[("security.protocol", "carrier-pigeon")]) else {
            panic!("an unknown security.protocol was accepted");
        };
        assert!(e.contains("security.protocol"), "{e}");
    }
}
