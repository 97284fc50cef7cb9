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
use logq_ingester::{open_wal, Ingester, IngesterConfig, Limits, WalDistributor};
use logq_querier::{Querier, QueryLimits};
use logq_storage::{ManifestStore, Store};
use tokio::sync::watch;

/// `logq serve` flags.
#[derive(Debug, Args)]
pub struct ServeArgs {
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
    #[command(flatten)]
    retention: crate::retention_args::RetentionArgs,
}

/// Parses a duration flag (`10s`, `1h30m`, `7d`).
pub fn duration(s: &str) -> Result<Duration, String> {
    let ns = logq_api::parse_duration(s)?;
    Ok(Duration::from_nanos(ns as u64))
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

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("LOGQ_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(std::io::stderr)
        .try_init();
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    std::fs::create_dir_all(&args.data_dir)
        .with_context(|| format!("creating data directory {}", args.data_dir.display()))?;
    let store_url = args
        .store
        .clone()
        .unwrap_or_else(|| args.data_dir.join("store").to_string_lossy().into_owned());
    let store = Store::open(&store_url).with_context(|| format!("opening object store {store_url}"))?;
    store.startup_check().await?;
    let manifests = ManifestStore::new(store);

    let (wal_writer, wal_reader, wal_committer) =
        open_wal(&args.data_dir.join("wal"), 4096).context("opening the write-ahead log")?;
    let ingester = Ingester::new(
        manifests.clone(),
        IngesterConfig {
            flush_check_interval: args.flush_check_interval,
            window_grace: args.window_grace,
            ..Default::default()
        },
    );
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let ingest_task = tokio::spawn(
        ingester
            .clone()
            .run_wal(wal_reader, wal_committer, shutdown_rx.clone()),
    );
    let compactor = Compactor::new(
        manifests.clone(),
        CompactorConfig {
            interval: args.compact_interval,
            hour_grace: args.compact_hour_grace,
            delete_grace: args.delete_grace,
            retention: args.retention.policy(),
            ..Default::default()
        },
    );
    let compact_task = tokio::spawn(compactor.run(shutdown_rx.clone()));

    let distributor = Arc::new(WalDistributor::new(wal_writer, ingester.applied()));
    let state = Arc::new(AppState {
        distributor: distributor.clone(),
        querier: Arc::new(Querier::new(
            ingester.clone(),
            manifests.clone(),
            QueryLimits::default(),
        )),
        manifests,
        ingester: ingester.clone(),
        limits: Limits {
            max_line_bytes: args.max_line_bytes,
            reject_older_than_ns: args.reject_older_than.as_nanos() as i64,
            ..Default::default()
        },
        metrics: ApiMetrics::default(),
        query_timeout: args.query_timeout,
        rate_limiter: logq_api::RateLimiter::new((args.ingestion_rate_mb > 0.0).then(|| {
            let rate = args.ingestion_rate_mb * 1e6;
            (rate, args.ingestion_burst_mb.map_or(rate.max(1e6), |b| b * 1e6))
        })),
    });
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("listening on {}", args.listen))?;
    let addr = listener.local_addr()?;
    tracing::info!(%addr, data_dir = %args.data_dir.display(), store = %store_url, "logq is ready");
    let demo_task = if args.demo {
        let start = crate::demo::backfill(&distributor, args.demo_rate).await;
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
    let _ = compact_task.await;
    ingest_task.await.context("ingester task failed")?;
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
