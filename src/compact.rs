//! `logq compact --once`: one compaction pass over a store, for operators (run it while no
//! other compactor runs against the same store).

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use logq_compactor::{Compactor, CompactorConfig};
use logq_storage::{ManifestStore, Store};

/// `logq compact` flags.
#[derive(Debug, Args)]
pub struct CompactArgs {
    /// Run one pass and exit (the only mode for now; `logq serve` compacts continuously).
    #[arg(long, required = true)]
    once: bool,
    /// Data directory of the server (the store defaults to `<data-dir>/store`).
    #[arg(long, default_value = "./logq-data", env = "LOGQ_DATA_DIR")]
    data_dir: PathBuf,
    /// Object store URL (overrides the data directory's store).
    #[arg(long, env = "LOGQ_STORE")]
    store: Option<String>,
    /// Compact hours that ended at least this long ago.
    #[arg(long, default_value = "15m", value_parser = crate::serve::duration)]
    hour_grace: Duration,
    /// Merge a day's hour blocks into one day block once the day ended this long ago (`off`:
    /// keep hour blocks).
    #[arg(long, default_value = "1d", value_parser = crate::serve::day_grace)]
    day_grace: crate::serve::DayGrace,
    /// Delete replaced chunks this long after compaction (0s: in this pass).
    #[arg(long, default_value = "5m", value_parser = crate::serve::duration)]
    delete_grace: Duration,
    #[command(flatten)]
    retention: crate::retention_args::RetentionArgs,
}

/// Runs `logq compact --once`.
pub fn run(args: CompactArgs) -> anyhow::Result<()> {
    let url = args
        .store
        .clone()
        .unwrap_or_else(|| args.data_dir.join("store").to_string_lossy().into_owned());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async {
        let store = Store::open(&url).with_context(|| format!("opening object store {url}"))?;
        store.startup_check().await?;
        let compactor = Compactor::new(
            ManifestStore::new(store),
            CompactorConfig {
                interval: Duration::from_secs(60),
                hour_grace: args.hour_grace,
                day_grace: args.day_grace.0,
                delete_grace: args.delete_grace,
                retention: args.retention.policy(),
                ..Default::default()
            },
        );
        let report = compactor.run_once().await.context("compacting")?;
        println!(
            "compacted {} chunks into {} blocks ({} entries); merged {} hour blocks into {} day blocks; expired {} objects; rewrote {} blocks for delete requests; deleted {} objects",
            report.chunks_compacted,
            report.blocks_written,
            report.entries,
            report.blocks_merged,
            report.day_blocks_written,
            report.objects_expired,
            report.blocks_rewritten,
            report.objects_deleted
        );
        Ok(())
    })
}
