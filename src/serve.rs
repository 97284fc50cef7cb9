//! `logq serve`: reads the `[server]` table of the config file, overlays the flags and the
//! environment, and runs the server library ([`logq_server::run`]) until SIGINT or SIGTERM.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use logq_server::{ServeFlags, ServerConfig};

/// `logq serve` flags.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// A logq config file (TOML): its `[server]` table, or (older form) flat keys named after
    /// these flags. Flags and environment variables override it. Also `LOGQ_CONFIG`.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Print the effective configuration (the file, the environment and the flags, with every
    /// default filled in) as TOML and exit.
    #[arg(long)]
    print_config: bool,
    #[command(flatten)]
    flags: ServeFlags,
}

impl ServeArgs {
    /// The configuration these arguments describe (checked).
    pub fn config(self) -> anyhow::Result<ServerConfig> {
        let mut config = match &self.config {
            Some(p) => crate::config_file::load_server(p)?,
            None => ServerConfig::default(),
        };
        self.flags.overlay(&mut config);
        config.validate()?;
        Ok(config)
    }
}

/// Runs the server until SIGINT or SIGTERM (or prints its configuration).
pub fn run(args: ServeArgs) -> anyhow::Result<()> {
    let print = args.print_config;
    let config = args.config()?;
    if print {
        print!("{}", config.to_toml());
        return Ok(());
    }
    init_tracing();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("logq")
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async {
        let demo = config.demo;
        let server = logq_server::start(config).await?;
        if demo {
            let addr = server.addr();
            let exe = std::env::current_exe().map_or_else(|_| "logq".into(), |p| p.display().to_string());
            println!("logq demo: UI at http://{addr}/");
            println!(
                "logq demo: try  {exe} query --addr http://{addr} '{{service=\"nginx\"}} |= \"GET\"' --since 5m"
            );
        }
        server.serve(shutdown_signal()).await?;
        Ok(())
    })
}

/// Logs to stderr, filtered by `LOGQ_LOG` (default `info`).
pub fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("LOGQ_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(std::io::stderr)
        .try_init();
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
