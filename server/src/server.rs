//! Starting and stopping a server: [`start`] wires the roles a [`ServerConfig`] asks for (the
//! write-ahead log or Kafka, ingester, compactor, querier, HTTP API, demo feeder) and binds the
//! listener; [`RunningServer::serve`] answers requests until the shutdown future completes, then
//! stops in order.
//!
//! Shutdown order (what makes a clean stop lose nothing): stop accepting HTTP and finish
//! in-flight requests; signal every task; wait for the demo feeder, then the compactor, then the
//! ingester, whose source loop flushes every in-memory chunk and commits the WAL (or the Kafka
//! offsets) before it returns.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use logq_api::{router, ApiMetrics, AppState, IngestDefaults, RateLimiter};
use logq_compactor::Compactor;
use logq_ingester::{
    open_wal, Distributor, Ingester, IngesterConfig, KafkaDistributor, KafkaSource, WalDistributor, WalSource,
};
use logq_querier::{Querier, QueryLimits, RemoteHeads};
use logq_storage::{ManifestStore, Store};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::config::ServerConfig;
use crate::error::ServerError;

const MIB: usize = 1024 * 1024;

/// A started server: listening, its tasks running, not yet answering requests.
pub struct RunningServer {
    addr: SocketAddr,
    listener: tokio::net::TcpListener,
    state: Arc<AppState>,
    shutdown: watch::Sender<bool>,
    ingest_task: Option<JoinHandle<()>>,
    compact_task: Option<JoinHandle<()>>,
    demo_task: Option<JoinHandle<()>>,
}

/// Runs a server with `config` until `shutdown` completes, then stops it in order.
pub async fn run(
    config: ServerConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    start(config).await?.serve(shutdown).await
}

/// Validates `config`, opens the store and the write-ahead log (or connects to Kafka), starts
/// the ingester, compactor and demo tasks its target asks for, and binds the listener.
pub async fn start(config: ServerConfig) -> Result<RunningServer, ServerError> {
    config.validate()?;
    let overrides = config.overrides()?;
    std::fs::create_dir_all(&config.data_dir).map_err(ServerError::io(format!(
        "creating data directory {}",
        config.data_dir.display()
    )))?;
    let store_url = config
        .store
        .clone()
        .unwrap_or_else(|| config.data_dir.join("store").to_string_lossy().into_owned());
    let store =
        Store::open(&store_url).map_err(ServerError::storage(format!("opening object store {store_url}")))?;
    store
        .startup_check()
        .await
        .map_err(ServerError::storage(format!("checking object store {store_url}")))?;
    let manifests = ManifestStore::new(store);

    let mut kafka = config.kafka.settings();
    if let Some(settings) = kafka.as_mut().filter(|_| config.target.ingests()) {
        settings.instance_id = match config.kafka.instance_id.as_deref().map(str::trim) {
            Some("off") => None,
            Some("") => {
                return Err(ServerError::Config(
                    "kafka.instance_id: empty (give an id, or `off`)".into(),
                ))
            }
            Some(id) => Some(id.to_string()),
            None => {
                let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
                    .map(|h| h.trim().to_string())
                    .unwrap_or_else(|_| "localhost".into());
                Some(
                    logq_ingester::stable_instance_id(&config.data_dir, &host)
                        .map_err(ServerError::ingest("choosing the Kafka group instance id"))?,
                )
            }
        };
    }
    let ing = &config.ingester;
    let ingester = Ingester::new(
        manifests.clone(),
        IngesterConfig {
            flush_check_interval: ing.flush_check_interval,
            window_grace: ing.window_grace,
            max_chunk_bytes: ing.max_chunk_bytes,
            chunk_idle: ing.chunk_idle_period,
            flush_memory_bytes: (ing.flush_memory_mb > 0).then(|| ing.flush_memory_mb * MIB),
            max_memory_bytes: kafka.as_ref().map(|_| ing.max_memory_mb * MIB),
            source_name: match kafka {
                None => "wal".into(),
                // Unique per process: two ingesters never write the same chunk key.
                Some(_) => format!(
                    "kafka-{}-{}",
                    std::process::id(),
                    logq_storage::now_ns() / 1_000_000
                ),
            },
        },
    );
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let push_limits = overrides.defaults().push_limits();
    let (distributor, ingest_task): (Arc<dyn Distributor>, _) = match &kafka {
        None => {
            let (wal_writer, wal_reader, wal_committer) = open_wal(&config.data_dir.join("wal"), 4096)
                .map_err(ServerError::ingest("opening the write-ahead log"))?;
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
                .map_err(ServerError::ingest(format!(
                    "connecting to Kafka at {}",
                    settings.brokers
                )))?;
            let task = if config.target.ingests() {
                let source =
                    KafkaSource::connect(settings, ingester.clone(), &push_limits, ing.max_memory_mb * MIB)
                        .await
                        .map_err(ServerError::ingest(format!(
                            "joining consumer group {:?}",
                            settings.group
                        )))?;
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
    let compact_task = if config.target.compacts() {
        let compactor = Compactor::new(manifests.clone(), config.compactor_config()?);
        Some(tokio::spawn(compactor.run(shutdown_rx.clone())))
    } else {
        None
    };

    // The querier's own bounds are the largest any tenant has; the api applies each tenant's.
    let query_limits = QueryLimits {
        max_entries: overrides.max_of(|l| l.max_entries_limit_per_query),
        max_range_ns: overrides.max_of(|l| l.max_query_length).as_nanos() as i64,
    };
    let history = config.history.open(&config.data_dir, manifests.clone()).await?;
    let state = Arc::new(AppState {
        distributor,
        querier: Arc::new(
            Querier::new(ingester.clone(), manifests.clone(), query_limits)
                .with_remote_heads(RemoteHeads::new(config.querier.ingesters.clone()))
                .with_source(Arc::new(logq_history::HistorySource::new(history.clone()))),
        ),
        history: Some(history),
        manifests,
        ingester: ingester.clone(),
        metrics: ApiMetrics::default(),
        overrides,
        rate_limiter: RateLimiter::default(),
        // `demo` is for exploring in Grafana: Loki's defaults (both discoveries on) unless set,
        // so Logs Drilldown lists services and log volume is split by level.
        ingest_defaults: IngestDefaults {
            service_name_labels: match config.api.service_name_labels() {
                labels if labels.is_empty() && config.demo => logq_api::LOKI_SERVICE_NAME_LABELS
                    .iter()
                    .map(|s| s.to_string())
                    .collect(),
                labels => labels,
            },
            discover_log_levels: config.api.discover_log_levels || config.demo,
        },
    });
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(ServerError::io(format!("listening on {}", config.listen)))?;
    let addr = listener
        .local_addr()
        .map_err(ServerError::io("reading the listening address"))?;
    tracing::info!(%addr, data_dir = %config.data_dir.display(), store = %store_url, target = ?config.target, "logq is ready");
    let demo_task = if config.demo {
        let distributor = state.distributor.clone();
        let defaults = state.ingest_defaults.clone();
        let start = crate::demo::backfill(distributor.as_ref(), config.demo_rate, &defaults).await;
        Some(tokio::spawn(crate::demo::feed(
            distributor,
            start,
            config.demo_rate,
            defaults,
            shutdown_rx.clone(),
        )))
    } else {
        None
    };
    Ok(RunningServer {
        addr,
        listener,
        state,
        shutdown: shutdown_tx,
        ingest_task,
        compact_task,
        demo_task,
    })
}

impl RunningServer {
    /// The address the API listens on (the bound port when the configuration asked for 0).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Answers requests until `shutdown` completes, then stops in order (see the module doc).
    pub async fn serve(self, shutdown: impl Future<Output = ()> + Send + 'static) -> Result<(), ServerError> {
        let served = axum::serve(self.listener, router(self.state))
            .with_graceful_shutdown(shutdown)
            .await
            .map_err(ServerError::io("serving HTTP"));
        tracing::info!("shutting down: flushing in-memory chunks");
        let _ = self.shutdown.send(true);
        // The demo feeder and the compactor hold nothing that a failed stop would lose.
        if let Some(t) = self.demo_task {
            let _ = t.await;
        }
        if let Some(t) = self.compact_task {
            let _ = t.await;
        }
        if let Some(t) = self.ingest_task {
            t.await.map_err(|_| ServerError::Task("ingester"))?;
        }
        served?;
        tracing::info!("shutdown complete");
        Ok(())
    }
}
