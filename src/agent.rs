//! `logq agent`: follow log files and push every line, exactly once, to a Loki-compatible
//! endpoint. Settings come from an optional TOML file (`--config`), overridden by flags; SIGTERM
//! or SIGINT delivers what was read, saves the checkpoint and exits 0.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::Args;
use logq_agent::{
    AgentConfig, AgentMetrics, HttpOutput, Output, StdinConfig, SyslogConfig, SyslogStats, TailerConfig,
};
use logq_ingester::KafkaSettings;
use logq_storage::TenantId;
use serde::Deserialize;

use crate::serve::duration;

/// Flags of `logq agent`; each overrides the same setting of the config file.
#[derive(Debug, Args)]
pub struct AgentArgs {
    /// A file glob (`*`, `?`) or a directory to follow; repeatable.
    #[arg(long = "path")]
    paths: Vec<String>,
    /// Loki-compatible push URL (`http://host:3100` or the full `/loki/api/v1/push` URL).
    #[arg(long)]
    push_url: Option<String>,
    /// Produce to Kafka at these brokers instead of pushing over HTTP (topic
    /// `<kafka-topic-prefix><environment>`).
    #[arg(long)]
    kafka: Option<String>,
    /// Kafka topics are named `<prefix><environment>` [default: h-].
    #[arg(long)]
    kafka_topic_prefix: Option<String>,
    /// The stream label whose value keys Kafka records (the partition) [default: host].
    #[arg(long)]
    kafka_key_label: Option<String>,
    /// Extra librdkafka properties (TLS, SASL), e.g. `-X security.protocol=SSL`; repeatable.
    #[arg(short = 'X', long = "kafka-property")]
    kafka_properties: Vec<String>,
    /// Tenant sent as `X-Scope-OrgID`.
    #[arg(long)]
    org_id: Option<String>,
    /// The `env` label of every stream.
    #[arg(long)]
    environment: Option<String>,
    /// The `host` label (default: this machine's hostname).
    #[arg(long)]
    host: Option<String>,
    /// Where the checkpoint journal lives [default: ./logq-agent-data].
    #[arg(long)]
    checkpoint_dir: Option<PathBuf>,
    /// On the first start, read existing files from their beginning (default: from their end).
    #[arg(long)]
    from_beginning: bool,
    /// Lines whose own timestamp is older than this are sent with the time they were read
    /// (`0s`: always keep a line's own timestamp) [default: 24h].
    #[arg(long, value_parser = duration)]
    max_age: Option<Duration>,
    /// Skip (count and log) lines dated before `--max-age` instead of sending them with the
    /// time they were read.
    #[arg(long)]
    skip_old_lines: bool,
    /// Send a batch at this many lines [default: 10000].
    #[arg(long)]
    batch_lines: Option<usize>,
    /// Send a batch when its first line is this old [default: 1s].
    #[arg(long, value_parser = duration)]
    batch_wait: Option<Duration>,
    /// How often files are looked for [default: 250ms].
    #[arg(long, value_parser = duration)]
    poll_interval: Option<Duration>,
    /// How long a rotated or deleted file is kept open after its last data [default: 5s].
    #[arg(long, value_parser = duration)]
    rotate_wait: Option<Duration>,
    /// Lines not matching this regex continue the previous event (stack traces).
    #[arg(long)]
    multiline_start: Option<String>,
    /// Longer lines are cut [default: 262144].
    #[arg(long)]
    max_line_bytes: Option<usize>,
    /// Receive syslog (RFC 5424 / 3164) over UDP on this address (`0.0.0.0:514`).
    #[arg(long)]
    syslog_udp: Option<String>,
    /// Receive syslog over TCP (octet counting or newline framing) on this address.
    #[arg(long)]
    syslog_tcp: Option<String>,
    /// Also read lines from standard input (the agent exits at its end when it is the only
    /// input).
    #[arg(long)]
    stdin: bool,
    /// The `service` label of stdin lines [default: stdin].
    #[arg(long)]
    stdin_service: Option<String>,
    /// Lines are JSON objects: timestamp, message, labels and metadata come from their fields.
    #[arg(long)]
    json: bool,
    /// A JSON field that becomes a stream label; repeatable.
    #[arg(long = "json-label")]
    json_labels: Vec<String>,
    /// Serve Prometheus metrics at `http://ADDR/metrics`.
    #[arg(long)]
    metrics_listen: Option<String>,
    /// TOML config file (same names as the flags, with `_`; `[services]` maps path globs to
    /// service names).
    #[arg(long)]
    config: Option<PathBuf>,
}

/// The config file. Every field is optional; flags override it.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    /// Globs or directories to follow.
    #[serde(default)]
    paths: Vec<String>,
    /// Push URL.
    push_url: Option<String>,
    /// Kafka brokers (instead of a push URL).
    kafka: Option<String>,
    /// Kafka topic prefix.
    kafka_topic_prefix: Option<String>,
    /// Label keying Kafka records.
    kafka_key_label: Option<String>,
    /// Extra librdkafka properties, `key = "value"`.
    #[serde(default)]
    kafka_properties: BTreeMap<String, String>,
    /// Tenant.
    org_id: Option<String>,
    /// `env` label.
    environment: Option<String>,
    /// `host` label.
    host: Option<String>,
    /// Checkpoint directory.
    checkpoint_dir: Option<PathBuf>,
    /// Read existing files from the beginning on the first start.
    from_beginning: Option<bool>,
    /// Oldest line by its own timestamp (`24h`).
    max_age: Option<String>,
    /// Skip lines dated before `max_age` instead of re-stamping them.
    skip_old_lines: Option<bool>,
    /// Lines per batch.
    batch_lines: Option<usize>,
    /// Bytes of line text per batch.
    batch_bytes: Option<usize>,
    /// Oldest line of a batch before it is sent (`1s`).
    batch_wait: Option<String>,
    /// File polling interval.
    poll_interval: Option<String>,
    /// How long rotated files stay open after their last data.
    rotate_wait: Option<String>,
    /// How long an unfinished last line waits for its newline.
    partial_flush: Option<String>,
    /// Multi-line start pattern.
    multiline_start: Option<String>,
    /// Longest line.
    max_line_bytes: Option<usize>,
    /// Syslog UDP address.
    syslog_udp: Option<String>,
    /// Syslog TCP address.
    syslog_tcp: Option<String>,
    /// Read standard input.
    stdin: Option<bool>,
    /// `service` label of stdin lines.
    stdin_service: Option<String>,
    /// Lines are JSON objects.
    json: Option<bool>,
    /// JSON fields that become labels.
    #[serde(default)]
    json_labels: Vec<String>,
    /// Metrics address.
    metrics_listen: Option<String>,
    /// Path glob -> service label.
    #[serde(default)]
    services: BTreeMap<String, String>,
}

fn config_duration(name: &str, v: &Option<String>) -> anyhow::Result<Option<Duration>> {
    v.as_deref()
        .map(|s| duration(s).map_err(|e| anyhow::anyhow!("invalid {name} {s:?}: {e}")))
        .transpose()
}

/// Everything `logq agent` runs with.
struct Built {
    cfg: AgentConfig,
    url: String,
    kafka: Option<KafkaSettings>,
    org_id: Option<String>,
    syslog: Option<SyslogConfig>,
    stdin: Option<StdinConfig>,
    metrics_listen: Option<String>,
}

/// Builds the agent configuration from the config file and the flags.
fn build(args: AgentArgs) -> anyhow::Result<Built> {
    let file: FileConfig = match &args.config {
        Some(p) => {
            let text =
                std::fs::read_to_string(p).with_context(|| format!("reading config file {}", p.display()))?;
            toml::from_str(&text).with_context(|| format!("invalid config file {}", p.display()))?
        }
        None => FileConfig::default(),
    };
    let paths = if args.paths.is_empty() {
        file.paths.clone()
    } else {
        args.paths
    };
    let syslog_udp = args.syslog_udp.or(file.syslog_udp.clone());
    let syslog_tcp = args.syslog_tcp.or(file.syslog_tcp.clone());
    let stdin = args.stdin || file.stdin.unwrap_or(false);
    if paths.is_empty() && syslog_udp.is_none() && syslog_tcp.is_none() && !stdin {
        bail!("nothing to follow: give --path GLOB, --syslog-udp ADDR, --syslog-tcp ADDR or --stdin (or the same in the config file)");
    }
    let kafka_brokers = args.kafka.or(file.kafka.clone());
    let push_url = args.push_url.or(file.push_url.clone());
    let (mut url, kafka) = match (push_url, kafka_brokers) {
        (Some(_), Some(_)) => bail!("give either --push-url or --kafka, not both"),
        (None, None) => bail!(
            "no output: give --push-url URL or --kafka BROKERS (or push_url / kafka in the config file)"
        ),
        (Some(url), None) => (url, None),
        (None, Some(brokers)) => {
            let prefix = args
                .kafka_topic_prefix
                .or(file.kafka_topic_prefix.clone())
                .unwrap_or_else(|| "h-".into());
            let env = args
                .environment
                .clone()
                .or(file.environment.clone())
                .unwrap_or_else(|| "default".into());
            let mut settings = KafkaSettings::new(brokers, &prefix, &env);
            if let Some(label) = args.kafka_key_label.or(file.kafka_key_label.clone()) {
                settings.partition_label = label;
            }
            settings.properties = file.kafka_properties.clone().into_iter().collect();
            for kv in &args.kafka_properties {
                let (k, v) = kv
                    .split_once('=')
                    .ok_or_else(|| anyhow::anyhow!("invalid -X {kv:?}: expected KEY=VALUE"))?;
                settings.properties.push((k.trim().to_string(), v.to_string()));
            }
            (
                format!("kafka://{}/{}", settings.brokers, settings.topic),
                Some(settings),
            )
        }
    };
    if kafka.is_none() && !(url.starts_with("http://") || url.starts_with("https://")) {
        bail!("invalid --push-url {url:?}: must start with http:// or https://");
    }
    let after_scheme = url.split_once("://").map(|(_, r)| r).unwrap_or("");
    if kafka.is_none() && !after_scheme.trim_end_matches('/').contains('/') {
        url = format!("{}/loki/api/v1/push", url.trim_end_matches('/'));
    }
    let org_id = args.org_id.or(file.org_id.clone());
    let tenant = match &org_id {
        Some(o) => TenantId::new(o.clone()).map_err(|e| anyhow::anyhow!("invalid --org-id {o:?}: {e}"))?,
        None => TenantId::default_tenant(),
    };
    let multiline = args
        .multiline_start
        .or(file.multiline_start.clone())
        .map(|p| regex::Regex::new(&p).map_err(|e| anyhow::anyhow!("invalid --multiline-start {p:?}: {e}")))
        .transpose()?;
    let mut tailer = TailerConfig {
        paths,
        from_beginning: args.from_beginning || file.from_beginning.unwrap_or(false),
        multiline_start: multiline,
        services: file.services.clone().into_iter().collect(),
        ..TailerConfig::default()
    };
    if let Some(v) = args.max_line_bytes.or(file.max_line_bytes) {
        if v == 0 {
            bail!("invalid --max-line-bytes 0: must be positive");
        }
        tailer.max_line_bytes = v;
    }
    if let Some(d) = args
        .rotate_wait
        .or(config_duration("rotate_wait", &file.rotate_wait)?)
    {
        tailer.rotate_wait = d;
    }
    if let Some(d) = config_duration("partial_flush", &file.partial_flush)? {
        tailer.partial_flush = d;
    }
    let host = args
        .host
        .or(file.host.clone())
        .unwrap_or_else(logq_agent::hostname);
    let dir = args
        .checkpoint_dir
        .or(file.checkpoint_dir.clone())
        .unwrap_or_else(|| PathBuf::from("logq-agent-data"));
    let mut cfg = AgentConfig::new(tailer, dir, host);
    cfg.tenant = tenant;
    cfg.environment = args.environment.or(file.environment.clone());
    if let Some(d) = args.max_age.or(config_duration("max_age", &file.max_age)?) {
        cfg.max_age = (!d.is_zero()).then_some(d);
    }
    cfg.skip_old_lines = args.skip_old_lines || file.skip_old_lines.unwrap_or(false);
    if let Some(n) = args.batch_lines.or(file.batch_lines) {
        if n == 0 {
            bail!("invalid --batch-lines 0: must be positive");
        }
        cfg.batch_lines = n;
    }
    if let Some(n) = file.batch_bytes {
        cfg.batch_bytes = n.max(1);
    }
    if let Some(d) = args
        .batch_wait
        .or(config_duration("batch_wait", &file.batch_wait)?)
    {
        cfg.batch_wait = d;
    }
    if let Some(d) = args
        .poll_interval
        .or(config_duration("poll_interval", &file.poll_interval)?)
    {
        if d.is_zero() {
            bail!("invalid --poll-interval 0s: must be positive");
        }
        cfg.poll_interval = d;
    }
    cfg.json = args.json || file.json.unwrap_or(false);
    cfg.json_labels = if args.json_labels.is_empty() {
        file.json_labels.clone()
    } else {
        args.json_labels
    };
    let stdin = stdin.then(|| StdinConfig {
        host: cfg.host.clone(),
        service: args
            .stdin_service
            .or(file.stdin_service.clone())
            .unwrap_or_else(|| "stdin".into()),
        environment: cfg.environment.clone(),
        json: cfg.json,
        json_labels: cfg.json_labels.clone(),
        max_line_bytes: cfg.tailer.max_line_bytes,
        stop_at_eof: cfg.tailer.paths.is_empty() && syslog_udp.is_none() && syslog_tcp.is_none(),
    });
    let syslog = (syslog_udp.is_some() || syslog_tcp.is_some()).then(|| SyslogConfig {
        udp: syslog_udp,
        tcp: syslog_tcp,
        host: cfg.host.clone(),
        environment: cfg.environment.clone(),
        max_message_bytes: cfg.tailer.max_line_bytes,
    });
    Ok(Built {
        cfg,
        url,
        kafka,
        org_id,
        syslog,
        stdin,
        metrics_listen: args.metrics_listen.or(file.metrics_listen.clone()),
    })
}

/// Runs the agent until SIGTERM or SIGINT.
pub fn run(args: AgentArgs) -> anyhow::Result<()> {
    crate::serve::init_tracing();
    let Built {
        cfg,
        url,
        kafka,
        org_id,
        syslog,
        stdin,
        metrics_listen,
    } = build(args)?;
    let syslog_stats = Arc::new(SyslogStats::default());
    if let Some(addr) = metrics_listen {
        serve_metrics(&addr, cfg.metrics.clone(), syslog_stats.clone())?;
    }
    let stop = Arc::new(AtomicBool::new(false));
    spawn_signal_listener(stop.clone())?;
    let sources = if syslog.is_some() || stdin.is_some() {
        // Bounded: a full queue stops TCP senders and stdin, and drops (counted) UDP datagrams.
        let (tx, rx) = std::sync::mpsc::sync_channel(cfg.batch_lines.max(1000));
        if let Some(sc) = syslog {
            logq_agent::start_syslog(sc, tx.clone(), stop.clone(), syslog_stats.clone())?;
        }
        if let Some(sc) = stdin {
            logq_agent::start_stdin(sc, tx, stop.clone());
        }
        Some(rx)
    } else {
        None
    };
    let mut output: Box<dyn Output> = match &kafka {
        Some(settings) => {
            let tenant = org_id
                .as_deref()
                .map(TenantId::new)
                .transpose()
                .map_err(|e| anyhow::anyhow!("invalid --org-id: {e}"))?;
            Box::new(
                crate::agent_kafka::KafkaOutput::connect(settings, tenant)
                    .with_context(|| format!("connecting to Kafka at {}", settings.brokers))?,
            )
        }
        None => Box::new(HttpOutput::new(url.clone(), org_id, Duration::from_secs(30))),
    };
    tracing::info!(paths = ?cfg.tailer.paths, output = %url, checkpoint_dir = %cfg.checkpoint_dir.display(), "agent starting");
    logq_agent::run_with_sources(cfg, &mut *output, &stop, sources).context("agent failed")?;
    Ok(())
}

/// Serves `GET /metrics` on `addr` from a thread (a tiny HTTP/1.0 responder: one request per
/// connection).
fn serve_metrics(addr: &str, metrics: Arc<AgentMetrics>, syslog: Arc<SyslogStats>) -> anyhow::Result<()> {
    use std::io::{BufRead, BufReader, Write};
    let listener =
        std::net::TcpListener::bind(addr).with_context(|| format!("cannot listen for metrics on {addr}"))?;
    tracing::info!(addr = %addr, "metrics at /metrics");
    std::thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            let _ = conn.set_read_timeout(Some(Duration::from_secs(5)));
            let mut request = String::new();
            let mut reader = BufReader::new(&conn);
            if reader.read_line(&mut request).is_err() {
                continue;
            }
            // Skip the headers.
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                line.clear();
            }
            let (status, body) = if request.starts_with("GET /metrics") {
                metrics
                    .syslog_received
                    .store(syslog.received.load(Ordering::Relaxed), Ordering::Relaxed);
                metrics
                    .syslog_dropped
                    .store(syslog.dropped.load(Ordering::Relaxed), Ordering::Relaxed);
                ("200 OK", metrics.render())
            } else {
                ("404 Not Found", "not found; try /metrics\n".to_string())
            };
            let mut conn = &conn;
            let _ = write!(
                conn,
                "HTTP/1.0 {status}\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    Ok(())
}

/// Sets `stop` on SIGTERM or SIGINT (a small tokio runtime on its own thread).
fn spawn_signal_listener(stop: Arc<AtomicBool>) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the signal listener")?;
    let mut term = {
        let _guard = rt.enter();
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .context("listening for SIGTERM")?
    };
    std::thread::spawn(move || {
        rt.block_on(async {
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
        });
        tracing::info!("stopping: delivering what was read and saving the checkpoint");
        stop.store(true, Ordering::Relaxed);
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        args: AgentArgs,
    }

    fn parse(flags: &[&str]) -> anyhow::Result<(AgentConfig, String, Option<String>)> {
        let mut v = vec!["agent"];
        v.extend_from_slice(flags);
        let b = build(Cli::try_parse_from(v)?.args)?;
        Ok((b.cfg, b.url, b.org_id))
    }

    #[test]
    fn flags_override_the_config_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("agent.toml");
        std::fs::write(
            &p,
            "paths = [\"/var/log/*.log\"]\npush_url = \"http://a:3100\"\nbatch_lines = 5\nmax_age = \"2h\"\n[services]\n\"/var/log/nginx*\" = \"nginx\"\n",
        )
        .unwrap();
        let (cfg, url, org) = parse(&["--config", p.to_str().unwrap(), "--batch-lines", "7"]).unwrap();
        assert_eq!(url, "http://a:3100/loki/api/v1/push");
        assert_eq!(org, None);
        assert_eq!(cfg.batch_lines, 7);
        assert_eq!(cfg.max_age, Some(Duration::from_secs(7200)));
        assert_eq!(
            cfg.tailer.services,
            vec![("/var/log/nginx*".to_string(), "nginx".to_string())]
        );
        let (cfg, _, _) = parse(&[
            "--config",
            p.to_str().unwrap(),
            "--path",
            "/x/*.log",
            "--max-age",
            "0s",
        ])
        .unwrap();
        assert_eq!(cfg.tailer.paths, vec!["/x/*.log".to_string()]);
        assert_eq!(cfg.max_age, None);
    }

    #[test]
    fn bad_settings_are_clear_errors() {
        let e = |flags: &[&str]| format!("{:#}", parse(flags).unwrap_err());
        assert!(e(&["--push-url", "http://a"]).contains("--path"));
        assert!(e(&["--path", "/x"]).contains("--push-url"));
        assert!(e(&["--path", "/x", "--push-url", "ftp://a"]).contains("ftp://a"));
        assert!(e(&["--path", "/x", "--push-url", "http://a", "--org-id", "a/b"]).contains("a/b"));
        assert!(
            e(&["--path", "/x", "--push-url", "http://a", "--multiline-start", "("]).contains("multiline")
        );
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("agent.toml");
        std::fs::write(&p, "pathz = []\n").unwrap();
        let msg = e(&["--config", p.to_str().unwrap()]);
        assert!(msg.contains("pathz"), "{msg}");
    }
}
