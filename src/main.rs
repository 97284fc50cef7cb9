//! The `logq` binary: one program for the server (`serve`), the agent (`agent`), the
//! command-line client (`query`, `labels`, `series`, `tail`, `pull`, ...), configuration checks
//! (`config check`) and the tools (`gen`, `bench`, `compact`). It parses flags and environment
//! and calls the libraries; it holds no server logic of its own.

mod agent;
mod agent_kafka;
mod client;
mod compact;
mod config_cmd;
mod config_file;
mod history_cli;
mod kafka_mock;
mod loadtest;
mod pull;
mod serve;

use loadtest::{bench, gen};

use clap::{CommandFactory, Parser, Subcommand};

/// mimalloc instead of the system allocator: glibc's per-thread arenas kept freed chunk memory
/// (an ingester at 100k lines/s peaked at 344 MiB with glibc, 209 MiB with one arena).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `mi_option_purge_delay` in mimalloc.h (between `mi_option_deprecated_eager_commit_delay`,
/// 14, and `mi_option_use_numa_nodes`, 16, which libmimalloc-sys names).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = libmimalloc_sys::mi_option_use_numa_nodes - 1;

/// Returns freed memory to the OS at once rather than after mimalloc's delay: an ingester's
/// chunks are freed in bulk after each flush, and the delay let its peak RSS reach 230 MiB at
/// 100k lines/s instead of 182 MiB, for a few percent of CPU.
fn release_freed_memory_promptly() {
    // SAFETY: sets a process-wide allocator option; mimalloc reads options atomically.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, 0) };
}

/// logq: a Loki-compatible log storage engine and query server.
#[derive(Debug, Parser)]
#[command(name = "logq", version, about, args_override_self = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the server: push API, ingester, compactor, querier and UI in one process.
    Serve(Box<serve::ServeArgs>),
    /// Run a LogQL query against a server and print the lines (logcli-style).
    Query(client::QueryArgs),
    /// Evaluate a metric query at one instant and print the vector (logcli's instant-query).
    InstantQuery(client::InstantQueryArgs),
    /// List label names, or the values of one label.
    Labels(client::LabelsArgs),
    /// List the streams (label sets) matching a selector.
    Series(client::SeriesArgs),
    /// Print the streams, chunks, entries and bytes a selector covers (the index statistics).
    Stats(client::StatsArgs),
    /// Print bytes per series (or label) over a range.
    Volume(client::VolumeArgs),
    /// Print bytes per series (or label) per step over a range.
    #[command(name = "volume_range")]
    VolumeRange(client::VolumeArgs),
    /// Pull every line of a time range into one file per stream (resumable, parallel, --follow).
    Pull(Box<pull::PullArgs>),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Follow a query live (the tail WebSocket) and print entries as they arrive.
    Tail(client::TailArgs),
    /// Load time ranges into temporary history indexes; list and drop them.
    History(history_cli::HistoryArgs),
    /// Generate realistic log lines to stdout, files or a push endpoint.
    Gen(gen::GenArgs),
    /// Run the end-to-end benchmark (ingest, compaction, queries, baselines).
    Bench(bench::BenchArgs),
    /// Compact flushed chunks into Parquet blocks once and exit.
    Compact(compact::CompactArgs),
    /// Follow log files and push every line exactly once to a Loki-compatible endpoint.
    Agent(Box<agent::AgentArgs>),
    /// Check a config file and print the effective configuration.
    Config(config_cmd::ConfigArgs),
    /// Run an in-memory mock Kafka cluster (librdkafka's) on loopback, for tests and trials.
    #[command(hide = true)]
    KafkaMock(kafka_mock::KafkaMockArgs),
}

fn main() {
    release_freed_memory_promptly();
    let args =
        match config_file::expand::<Cli>(std::env::args_os().collect(), std::env::var_os("LOGQ_CONFIG")) {
            Ok(a) => a,
            Err(e) => {
                eprintln!("logq: error: {e:#}");
                std::process::exit(2);
            }
        };
    let cli = Cli::parse_from(args);
    let result = match cli.command {
        Command::Serve(args) => serve::run(*args),
        Command::Query(args) => client::query(args),
        Command::InstantQuery(args) => client::instant_query(args),
        Command::Labels(args) => client::labels(args),
        Command::Series(args) => client::series(args),
        Command::Stats(args) => client::stats(args),
        Command::Volume(args) => client::volume(args),
        Command::VolumeRange(args) => client::volume_range(args),
        Command::Pull(args) => pull::run(*args),
        Command::Completions { shell } => {
            clap_complete::generate(shell, &mut Cli::command(), "logq", &mut std::io::stdout());
            Ok(())
        }
        Command::Tail(args) => client::tail(args),
        Command::Gen(args) => gen::run(args),
        Command::History(args) => history_cli::run(args),
        Command::Bench(args) => bench::run(args),
        Command::Compact(args) => compact::run(args),
        Command::Agent(args) => agent::run(*args),
        Command::KafkaMock(args) => kafka_mock::run(args),
        Command::Config(args) => config_cmd::run::<Cli>(args, |cli| match cli.command {
            Command::Serve(s) => Some(*s),
            _ => None,
        }),
    };
    if let Err(e) = result {
        eprintln!("logq: error: {e:#}");
        std::process::exit(1);
    }
}
