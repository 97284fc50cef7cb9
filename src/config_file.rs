//! The logq config file: one TOML file for both commands, a `[server]` table for `logq serve`
//! (a [`ServerConfig`]) and an `[agent]` table for `logq agent` (an [`AgentSettings`]); each
//! command reads its own table and ignores the other. Unknown tables and keys are errors naming
//! the key, the file and the line.
//!
//! Older files keep working: a `serve --config` file of flat keys named after `logq serve`'s
//! flags (`data_dir = "/var/lib/logq"`) is turned into those flags, placed before the command
//! line's own so that command-line flags win; an `agent --config` file of flat agent keys is
//! read as the `[agent]` table. `logq config check` prints either kind in the current form.

use std::ffi::OsString;
use std::path::Path;

use anyhow::{bail, Context};
use clap::CommandFactory;
use logq_agent::AgentSettings;
use logq_server::ServerConfig;
use serde::{Deserialize, Serialize};

/// A config file in the current form.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    /// `logq serve`'s configuration.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server: Option<ServerConfig>,
    /// `logq agent`'s configuration.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agent: Option<AgentSettings>,
}

/// What a file holds.
pub enum FileKind {
    /// `[server]` and/or `[agent]` tables.
    Tables(Box<ConfigFile>),
    /// Flat keys (the older per-command format), as parsed TOML.
    Flat(toml::Table),
}

/// Reads and classifies a config file; syntax and unknown-key errors name the file and line.
pub fn read(path: &Path) -> anyhow::Result<FileKind> {
    let display = path.display();
    let text = std::fs::read_to_string(path).with_context(|| format!("reading config file {display}"))?;
    let table: toml::Table =
        toml::from_str(&text).map_err(|e| anyhow::anyhow!("config file {display}: {e}"))?;
    let tables = table
        .iter()
        .all(|(k, v)| (k == "server" || k == "agent") && v.is_table());
    if !tables {
        return Ok(FileKind::Flat(table));
    }
    let file: ConfigFile =
        toml::from_str(&text).map_err(|e| anyhow::anyhow!("config file {display}: {e}"))?;
    Ok(FileKind::Tables(Box::new(file)))
}

/// The `[server]` table of a current-form file (the defaults when it has none).
pub fn load_server(path: &Path) -> anyhow::Result<ServerConfig> {
    match read(path)? {
        FileKind::Tables(f) => Ok(f.server.unwrap_or_default()),
        FileKind::Flat(_) => bail!(
            "config file {}: flat keys are `logq serve` flags; they are read through LOGQ_CONFIG or --config before the other flags",
            path.display()
        ),
    }
}

/// The agent settings of a file: its `[agent]` table, or a whole file of agent keys.
pub fn load_agent(path: &Path) -> anyhow::Result<AgentSettings> {
    match read(path)? {
        FileKind::Tables(f) => Ok(f.agent.unwrap_or_default()),
        FileKind::Flat(table) => table
            .try_into()
            .map_err(|e| anyhow::anyhow!("invalid config file {}: {e}", path.display())),
    }
}

/// `settings` as a config file's `[agent]` table.
pub fn agent_toml(settings: &AgentSettings) -> String {
    to_toml(&ConfigFile {
        server: None,
        agent: Some(settings.clone()),
    })
}

/// A config file as TOML.
pub fn to_toml(file: &ConfigFile) -> String {
    toml::to_string(file).unwrap_or_else(|e| format!("# cannot print the configuration: {e}\n"))
}

/// Expands an older flat config file of a `serve` command line (`--config FILE` or
/// `LOGQ_CONFIG`) into flags placed before the command line's own; a current-form file is passed
/// on as `--config FILE` for `serve` to read. Other command lines pass through unchanged.
pub fn expand<C: CommandFactory>(
    mut args: Vec<OsString>,
    env_config: Option<OsString>,
) -> anyhow::Result<Vec<OsString>> {
    let Some(serve_at) = args.iter().position(|a| a == "serve") else {
        return Ok(args);
    };
    let mut path = env_config;
    let mut i = serve_at + 1;
    while i < args.len() {
        let a = args[i].to_string_lossy().into_owned();
        if a == "--config" {
            let Some(p) = args.get(i + 1).cloned() else {
                bail!("--config needs a file path");
            };
            path = Some(p);
            args.drain(i..i + 2);
            continue;
        }
        if let Some(p) = a.strip_prefix("--config=") {
            path = Some(p.into());
            args.remove(i);
            continue;
        }
        i += 1;
    }
    let Some(path) = path else { return Ok(args) };
    let flags = match read(Path::new(&path))? {
        FileKind::Tables(_) => vec!["--config".into(), path],
        FileKind::Flat(table) => {
            flat_serve_flags::<C>(table).with_context(|| format!("config file {}", path.to_string_lossy()))?
        }
    };
    args.splice(serve_at + 1..serve_at + 1, flags);
    Ok(args)
}

/// The flags an older flat `serve` file stands for.
pub fn flat_serve_flags<C: CommandFactory>(table: toml::Table) -> anyhow::Result<Vec<OsString>> {
    let cmd = C::command();
    let serve = cmd
        .find_subcommand("serve")
        .context("the serve command is missing")?;
    let known: Vec<String> = serve
        .get_arguments()
        .filter_map(|a| a.get_long().map(str::to_string))
        .filter(|l| l != "config" && l != "help" && l != "print-config")
        .collect();
    let mut out = Vec::new();
    for (key, value) in table {
        let long = key.replace('_', "-");
        if !known.contains(&long) {
            bail!("unknown key {key:?} (put `logq serve` settings in a [server] table, or use flat keys named after its long flags, e.g. listen, data_dir, kafka, environment)");
        }
        let flag = OsString::from(format!("--{long}"));
        let scalar = |v: &toml::Value| -> anyhow::Result<String> {
            match v {
                toml::Value::String(s) => Ok(s.clone()),
                toml::Value::Integer(n) => Ok(n.to_string()),
                toml::Value::Float(f) => Ok(f.to_string()),
                other => bail!(
                    "key {key:?}: expected a string or a number, got {}",
                    other.type_str()
                ),
            }
        };
        match &value {
            toml::Value::Boolean(true) => out.push(flag),
            toml::Value::Boolean(false) => {}
            toml::Value::Array(items) => {
                for item in items {
                    out.push(flag.clone());
                    out.push(scalar(item)?.into());
                }
            }
            v => {
                out.push(flag);
                out.push(scalar(v)?.into());
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(clap::Parser)]
    struct Cli {
        #[command(subcommand)]
        cmd: Cmd,
    }

    #[derive(clap::Subcommand)]
    enum Cmd {
        Serve {
            #[arg(long)]
            data_dir: Option<String>,
            #[arg(long)]
            demo: bool,
            #[arg(long)]
            retention_tenant: Vec<String>,
            #[arg(long)]
            max_line_bytes: Option<u64>,
        },
    }

    fn os(v: &[&str]) -> Vec<OsString> {
        v.iter().map(OsString::from).collect()
    }

    #[test]
    fn keys_become_flags_before_the_command_line() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("logq.toml");
        std::fs::write(
            &file,
            "data_dir = \"/data\"\ndemo = true\nmax_line_bytes = 1000\nretention-tenant = [\"a=1d\", \"b=2d\"]\n",
        )
        .unwrap();
        let args = os(&[
            "logq",
            "serve",
            "--config",
            file.to_str().unwrap(),
            "--data-dir",
            "/cli",
        ]);
        let got = expand::<Cli>(args, None).unwrap();
        let got: Vec<String> = got.iter().map(|a| a.to_string_lossy().into_owned()).collect();
        assert_eq!(
            got,
            [
                "logq",
                "serve",
                "--data-dir",
                "/data",
                "--demo",
                "--max-line-bytes",
                "1000",
                "--retention-tenant",
                "a=1d",
                "--retention-tenant",
                "b=2d",
                "--data-dir",
                "/cli"
            ]
        );
    }

    #[test]
    fn a_tables_file_is_passed_on_to_serve() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("logq.toml");
        std::fs::write(
            &file,
            "[server]\ndata_dir = \"/data\"\n[agent]\npaths = [\"/x\"]\n",
        )
        .unwrap();
        let got = expand::<Cli>(os(&["logq", "serve", "--demo"]), Some(file.clone().into())).unwrap();
        assert_eq!(
            got,
            os(&["logq", "serve", "--config", file.to_str().unwrap(), "--demo"])
        );
        assert_eq!(load_server(&file).unwrap().data_dir, Path::new("/data"));
        assert_eq!(load_agent(&file).unwrap().paths, ["/x"]);
    }

    #[test]
    fn bad_files_name_the_problem() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("logq.toml");
        let run = |text: &str| {
            std::fs::write(&file, text).unwrap();
            let args = os(&["logq", "serve"]);
            format!(
                "{:#}",
                expand::<Cli>(args, Some(file.clone().into())).unwrap_err()
            )
        };
        assert!(run("listen_port = 3").contains("unknown key \"listen_port\""));
        assert!(run("data_dir = [[1]]").contains("expected a string or a number"));
        assert!(run("data_dir = ").contains("logq.toml"));
        let e = run("[server]\ndata_dir = \"/d\"\n\n[server.limits]\nmax_query_serie = 5\n");
        assert!(
            e.contains("max_query_serie") && e.contains("line 5") && e.contains("logq.toml"),
            "{e}"
        );
        let e = run("[servr]\nlisten = \"x\"\n");
        assert!(e.contains("servr"), "{e}");
        let missing =
            expand::<Cli>(os(&["logq", "serve", "--config", "/nonexistent.toml"]), None).unwrap_err();
        assert!(format!("{missing:#}").contains("/nonexistent.toml"));
        // Other commands pass through untouched.
        assert_eq!(
            expand::<Cli>(os(&["logq", "query", "x"]), Some("nope".into())).unwrap(),
            os(&["logq", "query", "x"])
        );
    }
}
