//! `logq compact --once`: one compaction pass over a store, for operators (run it while no
//! other compactor runs against the same store).

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use logq_compactor::{Compactor, CompactorConfig};
use logq_storage::{BlockOptions, ManifestStore, Store};

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
    /// Compression of day blocks' line column: `zstd` (level 19), or `brotli` (quality 11: about
    /// 4% smaller, 4x the compaction CPU, slower reads of day blocks; `brotli:Q` for another).
    #[arg(long, default_value = "zstd")]
    day_codec: logq_storage::LineCodec,
    /// Delete replaced chunks this long after compaction (0s: in this pass).
    #[arg(long, default_value = "5m", value_parser = crate::serve::duration)]
    delete_grace: Duration,
    #[command(flatten)]
    retention: crate::retention_args::RetentionArgs,
}

/// The compactor settings the flags ask for.
fn config(args: &CompactArgs) -> CompactorConfig {
    CompactorConfig {
        interval: Duration::from_secs(60),
        hour_grace: args.hour_grace,
        day_grace: args.day_grace.0,
        delete_grace: args.delete_grace,
        retention: args.retention.policy(),
        day_blocks: BlockOptions {
            line_codec: args.day_codec,
            ..BlockOptions::day()
        },
        ..Default::default()
    }
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
        let compactor = Compactor::new(ManifestStore::new(store), config(&args));
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

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;
    use logq_storage::LineCodec;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: CompactArgs,
    }

    fn config_of(flags: &[&str]) -> CompactorConfig {
        let cli = Cli::try_parse_from(["compact", "--once"].iter().chain(flags)).unwrap();
        config(&cli.args)
    }

    #[test]
    fn flags_set_the_day_blocks_grace_and_codec() {
        let c = config_of(&[]);
        assert_eq!(c.day_grace, Some(Duration::from_secs(86_400)));
        assert_eq!(c.day_blocks, BlockOptions::day());
        let c = config_of(&["--day-grace", "off", "--day-codec", "brotli"]);
        assert_eq!(c.day_grace, None);
        assert_eq!(c.day_blocks.line_codec, LineCodec::Brotli(11));
        assert_eq!(c.day_blocks.zstd_level, BlockOptions::day().zstd_level);
        assert_eq!(c.hour_blocks, BlockOptions::hour());
        assert!(Cli::try_parse_from(["compact", "--once", "--day-codec", "lz4"]).is_err());
    }
}
