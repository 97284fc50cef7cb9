//! `logq agent`: follow log files and push every line, exactly once, to a Loki-compatible
//! endpoint. Settings are [`AgentSettings`] from an optional config file (`--config`: its
//! `[agent]` table, or a whole file of agent keys), overlaid by these flags; SIGTERM or SIGINT
//! delivers what was read, saves the checkpoint and exits 0.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use logq_agent::{
    AgentMetrics, AgentOutputConfig, AgentPlan, AgentSettings, HttpOutput, Output, SyslogStats,
};
use logq_ingester::KafkaSettings;
use logq_storage::duration::parse_std_duration;
use logq_storage::TenantId;

/// Flags of `logq agent`; each overrides the same key of the config file (named in brackets
/// where it differs from the flag).
#[derive(Debug, Args)]
pub struct AgentArgs {
    /// A file glob (`*`, `?`) or a directory to follow; repeatable (`paths`).
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
    /// The stream label whose value keys Kafka records (the partition) [default: host]
    /// (`--kafka-key-label` is the same flag).
    #[arg(long, alias = "kafka-key-label")]
    kafka_partition_label: Option<String>,
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
    #[arg(long, value_parser = parse_std_duration)]
    max_age: Option<Duration>,
    /// Skip (count and log) lines dated before `--max-age` instead of sending them with the
    /// time they were read.
    #[arg(long)]
    skip_old_lines: bool,
    /// Send a batch at this many lines [default: 10000].
    #[arg(long)]
    batch_lines: Option<usize>,
    /// Send a batch when its first line is this old [default: 1s].
    #[arg(long, value_parser = parse_std_duration)]
    batch_wait: Option<Duration>,
    /// How often files are looked for [default: 250ms].
    #[arg(long, value_parser = parse_std_duration)]
    poll_interval: Option<Duration>,
    /// How long a rotated or deleted file is kept open after its last data [default: 5s].
    #[arg(long, value_parser = parse_std_duration)]
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
    /// A JSON field that becomes a stream label; repeatable (`json_labels`).
    #[arg(long = "json-label")]
    json_labels: Vec<String>,
    /// Serve Prometheus metrics at `http://ADDR/metrics`.
    #[arg(long)]
    metrics_listen: Option<String>,
    /// A logq config file: its `[agent]` table, or a file of agent keys (same names as the
    /// flags, with `_`; `[services]` maps path globs to service names).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Print the effective configuration (TOML) and exit.
    #[arg(long)]
    print_config: bool,
}

fn set<T>(slot: &mut T, value: Option<T>) {
    if let Some(v) = value {
        *slot = v;
    }
}

fn set_opt<T>(slot: &mut Option<T>, value: Option<T>) {
    if value.is_some() {
        *slot = value;
    }
}

impl AgentArgs {
    /// Writes every flag given into `s`.
    fn overlay(self, s: &mut AgentSettings) -> anyhow::Result<()> {
        if !self.paths.is_empty() {
            s.paths = self.paths;
        }
        set_opt(&mut s.push_url, self.push_url);
        set_opt(&mut s.kafka, self.kafka);
        set(&mut s.kafka_topic_prefix, self.kafka_topic_prefix);
        set(&mut s.kafka_partition_label, self.kafka_partition_label);
        for kv in &self.kafka_properties {
            let (k, v) = kv
                .split_once('=')
                .ok_or_else(|| anyhow::anyhow!("invalid -X {kv:?}: expected KEY=VALUE"))?;
            s.kafka_properties.insert(k.trim().to_string(), v.to_string());
        }
        set_opt(&mut s.org_id, self.org_id);
        set_opt(&mut s.environment, self.environment);
        set_opt(&mut s.host, self.host);
        set(&mut s.checkpoint_dir, self.checkpoint_dir);
        s.from_beginning |= self.from_beginning;
        set(&mut s.max_age, self.max_age);
        s.skip_old_lines |= self.skip_old_lines;
        set(&mut s.batch_lines, self.batch_lines);
        set(&mut s.batch_wait, self.batch_wait);
        set(&mut s.poll_interval, self.poll_interval);
        set(&mut s.rotate_wait, self.rotate_wait);
        set_opt(&mut s.multiline_start, self.multiline_start);
        set(&mut s.max_line_bytes, self.max_line_bytes);
        set_opt(&mut s.syslog_udp, self.syslog_udp);
        set_opt(&mut s.syslog_tcp, self.syslog_tcp);
        s.stdin |= self.stdin;
        set(&mut s.stdin_service, self.stdin_service);
        s.json |= self.json;
        if !self.json_labels.is_empty() {
            s.json_labels = self.json_labels;
        }
        set_opt(&mut s.metrics_listen, self.metrics_listen);
        Ok(())
    }
}

/// The settings of the config file (if any) with the flags over them.
fn settings(mut args: AgentArgs) -> anyhow::Result<(AgentSettings, bool)> {
    let mut s = match args.config.take() {
        Some(p) => crate::config_file::load_agent(&p)?,
        None => AgentSettings::default(),
    };
    let print = args.print_config;
    args.overlay(&mut s)?;
    Ok((s, print))
}

/// Builds everything the agent runs with from the config file and the flags.
#[cfg(test)]
fn build(args: AgentArgs) -> anyhow::Result<AgentPlan> {
    Ok(settings(args)?.0.build()?)
}

/// Runs the agent until SIGTERM or SIGINT.
pub fn run(args: AgentArgs) -> anyhow::Result<()> {
    let (settings, print) = settings(args)?;
    let plan = settings.build()?;
    if print {
        print!("{}", crate::config_file::agent_toml(&settings));
        return Ok(());
    }
    crate::serve::init_tracing();
    let url = plan.output_url();
    let AgentPlan {
        config: cfg,
        output,
        org_id,
        syslog,
        stdin,
        metrics_listen,
    } = plan;
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
    let mut output: Box<dyn Output> = match output {
        AgentOutputConfig::Kafka {
            brokers,
            topic_prefix,
            environment,
            partition_label,
            properties,
        } => {
            let mut settings = KafkaSettings::new(brokers, &topic_prefix, &environment);
            settings.partition_label = partition_label;
            settings.properties = properties;
            let tenant = org_id
                .as_deref()
                .map(TenantId::new)
                .transpose()
                .map_err(|e| anyhow::anyhow!("invalid --org-id: {e}"))?;
            Box::new(
                crate::agent_kafka::KafkaOutput::connect(&settings, tenant)
                    .with_context(|| format!("connecting to Kafka at {}", settings.brokers))?,
            )
        }
        AgentOutputConfig::Http { url } => Box::new(HttpOutput::new(url, org_id, Duration::from_secs(30))),
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
    use logq_agent::AgentConfig;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        args: AgentArgs,
    }

    fn parse(flags: &[&str]) -> anyhow::Result<(AgentConfig, String, Option<String>)> {
        let mut v = vec!["agent"];
        v.extend_from_slice(flags);
        let b = build(Cli::try_parse_from(v)?.args)?;
        let url = b.output_url();
        Ok((b.config, url, b.org_id))
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
