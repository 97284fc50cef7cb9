//! `logq compact --once`: one compaction pass over a store, for operators (run it while no
//! other compactor runs against the same store).

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use logq_compactor::{Compactor, CompactorConfig};
use logq_server::{DayGrace, RetentionFlags, ServerConfig};
use logq_storage::duration::parse_std_duration;
use logq_storage::{ManifestStore, Store};

/// `logq compact` flags.
#[derive(Debug, Args)]
pub struct CompactArgs {
    /// Run one pass and exit (the only mode for now; `logq serve` compacts continuously).
    #[arg(long, required = true)]
    once: bool,
    /// Data directory of the server (the store defaults to `<data-dir>/store`)
    /// [default: ./logq-data].
    #[arg(long, env = "LOGQ_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// Object store URL (overrides the data directory's store).
    #[arg(long, env = "LOGQ_STORE")]
    store: Option<String>,
    /// Compact hours that ended at least this long ago [default: 15m].
    #[arg(long, value_parser = parse_std_duration)]
    hour_grace: Option<Duration>,
    /// Merge a day's hour blocks into one day block once the day ended this long ago (`off`:
    /// keep hour blocks) [default: 1d].
    #[arg(long)]
    day_grace: Option<DayGrace>,
    /// Compression of day blocks' line column: `zstd` (level 19), or `brotli` (quality 11: about
    /// 4% smaller, 4x the compaction CPU, slower reads of day blocks; `brotli:Q` for another)
    /// [default: zstd].
    #[arg(long)]
    day_codec: Option<logq_storage::LineCodec>,
    /// Delete replaced chunks this long after compaction (0s: in this pass) [default: 5m].
    #[arg(long, value_parser = parse_std_duration)]
    delete_grace: Option<Duration>,
    #[command(flatten)]
    retention: RetentionFlags,
}

/// The server configuration the flags describe (defaults where they are silent).
fn server_config(args: &CompactArgs) -> ServerConfig {
    let mut c = ServerConfig::default();
    if let Some(d) = &args.data_dir {
        c.data_dir = d.clone();
    }
    c.store = args.store.clone();
    let k = &mut c.compactor;
    k.hour_grace = args.hour_grace.unwrap_or(k.hour_grace);
    k.day_grace = args.day_grace.unwrap_or(k.day_grace);
    k.day_codec = args.day_codec.unwrap_or(k.day_codec);
    k.delete_grace = args.delete_grace.unwrap_or(k.delete_grace);
    args.retention.clone().overlay(&mut c);
    c
}

/// The compactor settings the flags ask for.
fn config(args: &CompactArgs) -> anyhow::Result<CompactorConfig> {
    Ok(server_config(args).compactor_config()?)
}

/// Runs `logq compact --once`.
pub fn run(args: CompactArgs) -> anyhow::Result<()> {
    let server = server_config(&args);
    let url = server
        .store
        .clone()
        .unwrap_or_else(|| server.data_dir.join("store").to_string_lossy().into_owned());
    let config = config(&args)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async {
        let store = Store::open(&url).with_context(|| format!("opening object store {url}"))?;
        store.startup_check().await?;
        let compactor = Compactor::new(ManifestStore::new(store), config);
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
    use logq_storage::{BlockOptions, LineCodec};

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: CompactArgs,
    }

    fn config_of(flags: &[&str]) -> CompactorConfig {
        let cli = Cli::try_parse_from(["compact", "--once"].iter().chain(flags)).unwrap();
        config(&cli.args).unwrap()
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
