//! `logq config check FILE`: reads a config file as `logq serve` and `logq agent` would, checks
//! every value, and prints the effective configuration (every default filled in) as TOML in the
//! current form, so an older flat file comes out converted.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, CommandFactory, Parser, Subcommand};

use crate::config_file::{self, ConfigFile, FileKind};

/// `logq config` subcommands.
#[derive(Debug, Args)]
pub struct ConfigArgs {
    #[command(subcommand)]
    command: ConfigCommand,
}

#[derive(Debug, Subcommand)]
enum ConfigCommand {
    /// Validate a config file and print the effective configuration (TOML).
    Check {
        /// The file.
        file: PathBuf,
    },
}

/// Runs `logq config ...`.
pub fn run<C: CommandFactory + Parser>(
    args: ConfigArgs,
    serve_args: impl Fn(C) -> Option<crate::serve::ServeArgs>,
) -> anyhow::Result<()> {
    let ConfigCommand::Check { file } = args.command;
    print!("{}", check::<C>(&file, serve_args)?);
    Ok(())
}

/// The effective configuration of `file`, or what is wrong with it.
fn check<C: CommandFactory + Parser>(
    file: &std::path::Path,
    serve_args: impl Fn(C) -> Option<crate::serve::ServeArgs>,
) -> anyhow::Result<String> {
    let display = file.display();
    let checked = match config_file::read(file)? {
        FileKind::Tables(f) => {
            if let Some(s) = &f.server {
                s.validate()
                    .with_context(|| format!("config file {display}: [server]"))?;
            }
            if let Some(a) = &f.agent {
                a.build()
                    .with_context(|| format!("config file {display}: [agent]"))?;
            }
            *f
        }
        FileKind::Flat(table) => {
            // An older flat file: `logq serve` flags, or else agent keys.
            let as_agent: Result<logq_agent::AgentSettings, _> = table.clone().try_into();
            match config_file::flat_serve_flags::<C>(table) {
                Ok(flags) => {
                    let mut argv = vec!["logq".into(), "serve".into()];
                    argv.extend(flags);
                    let cli = C::try_parse_from(argv).with_context(|| format!("config file {display}"))?;
                    let serve = serve_args(cli).context("the serve command is missing")?;
                    ConfigFile {
                        server: Some(serve.config().with_context(|| format!("config file {display}"))?),
                        agent: None,
                    }
                }
                Err(serve_err) => match as_agent {
                    Ok(agent) => {
                        agent.build().with_context(|| format!("config file {display}"))?;
                        ConfigFile {
                            server: None,
                            agent: Some(agent),
                        }
                    }
                    Err(_) => return Err(serve_err.context(format!("config file {display}"))),
                },
            }
        }
    };
    let mut out = config_file::to_toml(&ConfigFile {
        server: checked.server,
        agent: checked.agent,
    });
    if out.is_empty() {
        out = "# the file is empty: every setting has its default\n".into();
    }
    Ok(out)
}
