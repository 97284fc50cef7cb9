//! `logq kafka-mock` (hidden): runs librdkafka's in-process mock Kafka cluster as a plain
//! process on loopback, for tests and trying distributed mode on one machine without a broker.
//! It prints `bootstrap=<host:port,...>` on stdout and runs until SIGTERM/SIGINT or until its
//! stdin closes (so a test harness that dies takes it along). The cluster keeps everything in
//! memory: a restart loses all topics.

use std::io::Read;

use anyhow::Context;
use clap::Args;
use rdkafka::mocking::MockCluster;

/// `logq kafka-mock` flags.
#[derive(Debug, Args)]
pub struct KafkaMockArgs {
    /// Number of brokers in the mock cluster.
    #[arg(long, default_value_t = 1)]
    brokers: i32,
    /// Pre-create this topic (`NAME:PARTITIONS`), repeatable.
    #[arg(long, value_parser = topic_spec)]
    topic: Vec<(String, i32)>,
    /// Keep running when stdin closes (stop with a signal only).
    #[arg(long)]
    ignore_stdin: bool,
}

fn topic_spec(s: &str) -> Result<(String, i32), String> {
    let (name, parts) = s
        .split_once(':')
        .ok_or_else(|| format!("expected NAME:PARTITIONS, got {s:?}"))?;
    let parts: i32 = parts
        .parse()
        .map_err(|_| format!("invalid partition count in {s:?}"))?;
    if name.is_empty() || parts < 1 {
        return Err(format!("invalid topic spec {s:?}"));
    }
    Ok((name.to_string(), parts))
}

/// Runs the mock cluster until told to stop.
pub fn run(args: KafkaMockArgs) -> anyhow::Result<()> {
    if args.brokers < 1 {
        anyhow::bail!("--brokers must be at least 1, got {}", args.brokers);
    }
    let cluster = MockCluster::new(args.brokers).context("starting the mock Kafka cluster")?;
    for (name, parts) in &args.topic {
        cluster
            .create_topic(name, *parts, 1)
            .with_context(|| format!("creating topic {name}"))?;
    }
    println!("bootstrap={}", cluster.bootstrap_servers());
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    if !args.ignore_stdin {
        let tx = tx.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 64];
            while matches!(std::io::stdin().read(&mut buf), Ok(n) if n > 0) {}
            let _ = tx.send(());
        });
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the signal handler")?;
    std::thread::spawn(move || {
        runtime.block_on(async {
            let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = async { match term.as_mut() { Some(t) => { t.recv().await; } None => std::future::pending().await } } => {}
            }
        });
        let _ = tx.send(());
    });
    let _ = rx.recv();
    drop(cluster);
    Ok(())
}
