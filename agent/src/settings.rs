//! [`AgentSettings`]: everything `logq agent` runs with, as one serde structure (the `[agent]`
//! table of a logq config file, or a whole file of these keys). `logq agent`'s flags overlay it;
//! [`AgentSettings::build`] checks it once and turns it into the runtime configurations.
//!
//! Invariants: defaults come from the runtime types' own defaults ([`AgentConfig::new`],
//! [`TailerConfig::default`]) so they are written once; unknown keys are errors; durations are
//! strings (`"250ms"`, `"24h"`); the Kafka keys are spelled as `logq serve`'s flags
//! (`kafka_partition_label`, with `kafka_key_label` accepted).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use logq_storage::duration::serde_duration;
use logq_storage::TenantId;
use serde::{Deserialize, Serialize};

use crate::error::AgentError;
use crate::pipeline::{hostname, AgentConfig};
use crate::stdin::StdinConfig;
use crate::syslog::SyslogConfig;
use crate::tailer::TailerConfig;

/// The configuration of one `logq agent`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AgentSettings {
    /// File globs (`*`, `?`) or directories to follow.
    pub paths: Vec<String>,
    /// Loki-compatible push URL (`http://host:3100` or the full `/loki/api/v1/push` URL).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub push_url: Option<String>,
    /// Produce to Kafka at these brokers instead of pushing over HTTP.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kafka: Option<String>,
    /// Kafka topics are named `<kafka_topic_prefix><environment>`.
    pub kafka_topic_prefix: String,
    /// The stream label whose value keys Kafka records (the partition).
    #[serde(alias = "kafka_key_label")]
    pub kafka_partition_label: String,
    /// Extra librdkafka properties (TLS, SASL), `"security.protocol" = "SSL"`.
    pub kafka_properties: BTreeMap<String, String>,
    /// Tenant sent as `X-Scope-OrgID` (absent: the server's default tenant).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub org_id: Option<String>,
    /// The `env` label of every stream, and the environment of the Kafka topic (`default`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
    /// The `host` label (absent: this machine's hostname).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// Where the checkpoint journal lives.
    pub checkpoint_dir: PathBuf,
    /// On the first start, read existing files from their beginning (else from their end).
    pub from_beginning: bool,
    /// Lines whose own timestamp is older than this are sent with the time they were read
    /// (`0s`: always keep a line's own timestamp).
    #[serde(with = "serde_duration")]
    pub max_age: Duration,
    /// Skip (count and log) lines dated before `max_age` instead of re-stamping them.
    pub skip_old_lines: bool,
    /// Send a batch at this many lines.
    pub batch_lines: usize,
    /// Send a batch at this many bytes of line text.
    pub batch_bytes: usize,
    /// Send a batch when its first line is this old.
    #[serde(with = "serde_duration")]
    pub batch_wait: Duration,
    /// How often files are looked for.
    #[serde(with = "serde_duration")]
    pub poll_interval: Duration,
    /// How long a rotated or deleted file is kept open after its last data.
    #[serde(with = "serde_duration")]
    pub rotate_wait: Duration,
    /// How long an unfinished last line waits for its newline.
    #[serde(with = "serde_duration")]
    pub partial_flush: Duration,
    /// Lines not matching this regex continue the previous event (stack traces).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub multiline_start: Option<String>,
    /// Longer lines are cut.
    pub max_line_bytes: usize,
    /// Receive syslog (RFC 5424 / 3164) over UDP on this address (`0.0.0.0:514`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub syslog_udp: Option<String>,
    /// Receive syslog over TCP (octet counting or newline framing) on this address.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub syslog_tcp: Option<String>,
    /// Also read lines from standard input (the agent exits at its end when it is the only
    /// input).
    pub stdin: bool,
    /// The `service` label of stdin lines.
    pub stdin_service: String,
    /// Lines are JSON objects: timestamp, message, labels and metadata come from their fields.
    pub json: bool,
    /// JSON fields that become stream labels.
    pub json_labels: Vec<String>,
    /// Serve Prometheus metrics at `http://ADDR/metrics`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metrics_listen: Option<String>,
    /// `service` label by path glob (first match in key order wins; default: the file stem).
    pub services: BTreeMap<String, String>,
}

impl Default for AgentSettings {
    fn default() -> Self {
        let tailer = TailerConfig::default();
        let run = AgentConfig::new(
            TailerConfig::default(),
            PathBuf::from("logq-agent-data"),
            String::new(),
        );
        AgentSettings {
            paths: Vec::new(),
            push_url: None,
            kafka: None,
            kafka_topic_prefix: "h-".into(),
            kafka_partition_label: "host".into(),
            kafka_properties: BTreeMap::new(),
            org_id: None,
            environment: None,
            host: None,
            checkpoint_dir: run.checkpoint_dir,
            from_beginning: tailer.from_beginning,
            max_age: run.max_age.unwrap_or(Duration::ZERO),
            skip_old_lines: run.skip_old_lines,
            batch_lines: run.batch_lines,
            batch_bytes: run.batch_bytes,
            batch_wait: run.batch_wait,
            poll_interval: run.poll_interval,
            rotate_wait: tailer.rotate_wait,
            partial_flush: tailer.partial_flush,
            multiline_start: None,
            max_line_bytes: tailer.max_line_bytes,
            syslog_udp: None,
            syslog_tcp: None,
            stdin: false,
            stdin_service: "stdin".into(),
            json: false,
            json_labels: Vec::new(),
            metrics_listen: None,
            services: BTreeMap::new(),
        }
    }
}

/// Where the agent delivers batches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AgentOutputConfig {
    /// Loki's push API at this full URL (`.../loki/api/v1/push`).
    Http {
        /// The push URL.
        url: String,
    },
    /// Kafka, as `logq serve --kafka` distributors produce.
    Kafka {
        /// Bootstrap brokers.
        brokers: String,
        /// Topic prefix.
        topic_prefix: String,
        /// Environment (the topic is `<topic_prefix><environment>`).
        environment: String,
        /// The label keying records.
        partition_label: String,
        /// Extra librdkafka properties.
        properties: Vec<(String, String)>,
    },
}

/// Everything a checked [`AgentSettings`] runs with.
#[derive(Debug)]
pub struct AgentPlan {
    /// The file pipeline's configuration.
    pub config: AgentConfig,
    /// Where batches go.
    pub output: AgentOutputConfig,
    /// The tenant header, when set.
    pub org_id: Option<String>,
    /// The syslog input, when enabled.
    pub syslog: Option<SyslogConfig>,
    /// The stdin input, when enabled.
    pub stdin: Option<StdinConfig>,
    /// The metrics address, when set.
    pub metrics_listen: Option<String>,
}

impl AgentPlan {
    /// The output as one string for logs (`http://...` or `kafka://brokers/topic`).
    pub fn output_url(&self) -> String {
        match &self.output {
            AgentOutputConfig::Http { url } => url.clone(),
            AgentOutputConfig::Kafka {
                brokers,
                topic_prefix,
                environment,
                ..
            } => format!("kafka://{brokers}/{topic_prefix}{environment}"),
        }
    }
}

impl AgentSettings {
    /// Checks the settings and builds the runtime configurations; errors name the flag (and
    /// config key) and the value at fault.
    pub fn build(&self) -> Result<AgentPlan, AgentError> {
        let bad = |m: String| Err(AgentError::Config(m));
        if self.paths.is_empty() && self.syslog_udp.is_none() && self.syslog_tcp.is_none() && !self.stdin {
            return bad("nothing to follow: give --path GLOB, --syslog-udp ADDR, --syslog-tcp ADDR or --stdin (or the same in the config file)".into());
        }
        let output = match (&self.push_url, &self.kafka) {
            (Some(_), Some(_)) => return bad("give either --push-url or --kafka, not both".into()),
            (None, None) => return bad(
                "no output: give --push-url URL or --kafka BROKERS (or push_url / kafka in the config file)"
                    .into(),
            ),
            (Some(url), None) => AgentOutputConfig::Http { url: push_url(url)? },
            (None, Some(brokers)) => AgentOutputConfig::Kafka {
                brokers: brokers.clone(),
                topic_prefix: self.kafka_topic_prefix.clone(),
                environment: self.environment.clone().unwrap_or_else(|| "default".into()),
                partition_label: self.kafka_partition_label.clone(),
                properties: self
                    .kafka_properties
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
            },
        };
        let tenant = match &self.org_id {
            Some(o) => TenantId::new(o.clone())
                .map_err(|e| AgentError::Config(format!("invalid --org-id {o:?}: {e}")))?,
            None => TenantId::default_tenant(),
        };
        let multiline_start = self
            .multiline_start
            .as_deref()
            .map(|p| {
                regex::Regex::new(p)
                    .map_err(|e| AgentError::Config(format!("invalid --multiline-start {p:?}: {e}")))
            })
            .transpose()?;
        for (name, value) in [
            ("--max-line-bytes", self.max_line_bytes),
            ("--batch-lines", self.batch_lines),
            ("batch_bytes", self.batch_bytes),
        ] {
            if value == 0 {
                return bad(format!("invalid {name} 0: must be positive"));
            }
        }
        if self.poll_interval.is_zero() {
            return bad("invalid --poll-interval 0s: must be positive".into());
        }
        let tailer = TailerConfig {
            paths: self.paths.clone(),
            from_beginning: self.from_beginning,
            max_line_bytes: self.max_line_bytes,
            multiline_start,
            partial_flush: self.partial_flush,
            rotate_wait: self.rotate_wait,
            services: self
                .services
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        };
        let host = self.host.clone().unwrap_or_else(hostname);
        let mut config = AgentConfig::new(tailer, self.checkpoint_dir.clone(), host);
        config.tenant = tenant;
        config.environment = self.environment.clone();
        config.max_age = (!self.max_age.is_zero()).then_some(self.max_age);
        config.skip_old_lines = self.skip_old_lines;
        config.batch_lines = self.batch_lines;
        config.batch_bytes = self.batch_bytes;
        config.batch_wait = self.batch_wait;
        config.poll_interval = self.poll_interval;
        config.json = self.json;
        config.json_labels = self.json_labels.clone();
        let stdin = self.stdin.then(|| StdinConfig {
            host: config.host.clone(),
            service: self.stdin_service.clone(),
            environment: config.environment.clone(),
            json: config.json,
            json_labels: config.json_labels.clone(),
            max_line_bytes: config.tailer.max_line_bytes,
            stop_at_eof: config.tailer.paths.is_empty()
                && self.syslog_udp.is_none()
                && self.syslog_tcp.is_none(),
        });
        let syslog = (self.syslog_udp.is_some() || self.syslog_tcp.is_some()).then(|| SyslogConfig {
            udp: self.syslog_udp.clone(),
            tcp: self.syslog_tcp.clone(),
            host: config.host.clone(),
            environment: config.environment.clone(),
            max_message_bytes: config.tailer.max_line_bytes,
        });
        Ok(AgentPlan {
            config,
            output,
            org_id: self.org_id.clone(),
            syslog,
            stdin,
            metrics_listen: self.metrics_listen.clone(),
        })
    }
}

/// The full push URL: `http(s)://` required; a bare host gets Loki's push path.
fn push_url(url: &str) -> Result<String, AgentError> {
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        return Err(AgentError::Config(format!(
            "invalid --push-url {url:?}: must start with http:// or https://"
        )));
    }
    let after_scheme = url.split_once("://").map(|(_, r)| r).unwrap_or("");
    Ok(if after_scheme.trim_end_matches('/').contains('/') {
        url.to_string()
    } else {
        format!("{}/loki/api/v1/push", url.trim_end_matches('/'))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(f: impl FnOnce(&mut AgentSettings)) -> AgentSettings {
        let mut s = AgentSettings {
            paths: vec!["/x/*.log".into()],
            push_url: Some("http://a:3100".into()),
            ..AgentSettings::default()
        };
        f(&mut s);
        s
    }

    #[test]
    fn defaults_are_the_runtime_defaults() {
        let plan = settings(|_| {}).build().unwrap();
        let run = AgentConfig::new(
            TailerConfig::default(),
            PathBuf::from("logq-agent-data"),
            String::new(),
        );
        assert_eq!(plan.config.batch_lines, run.batch_lines);
        assert_eq!(plan.config.max_age, run.max_age);
        assert_eq!(plan.config.poll_interval, run.poll_interval);
        assert_eq!(
            plan.output,
            AgentOutputConfig::Http {
                url: "http://a:3100/loki/api/v1/push".into()
            }
        );
    }

    #[test]
    fn bad_settings_name_the_flag_and_value() {
        let e = |f: fn(&mut AgentSettings)| settings(f).build().unwrap_err().to_string();
        assert!(e(|s| s.paths.clear()).contains("--path"));
        assert!(e(|s| s.push_url = None).contains("--push-url"));
        assert!(e(|s| s.kafka = Some("k:9092".into())).contains("not both"));
        assert!(e(|s| s.push_url = Some("ftp://a".into())).contains("ftp://a"));
        assert!(e(|s| s.org_id = Some("a/b".into())).contains("a/b"));
        assert!(e(|s| s.multiline_start = Some("(".into())).contains("multiline"));
        assert!(e(|s| s.batch_lines = 0).contains("--batch-lines"));
    }

    #[test]
    fn kafka_output_uses_the_environment_topic() {
        let plan = settings(|s| {
            s.push_url = None;
            s.kafka = Some("k:9092".into());
            s.environment = Some("prod".into());
        })
        .build()
        .unwrap();
        assert_eq!(plan.output_url(), "kafka://k:9092/h-prod");
    }
}
