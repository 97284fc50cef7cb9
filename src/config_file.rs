//! `logq serve --config FILE` (or `LOGQ_CONFIG`): a TOML file whose keys are `logq serve`'s
//! flags (`data_dir = "/var/lib/logq"`, `kafka = "k1:9092"`, `retention_tenant = ["a=7d"]`),
//! turned into flags placed before the command line's own, so flags given on the command line
//! override the file. Unknown keys and values of the wrong shape are errors naming the key.

use std::ffi::OsString;

use anyhow::{bail, Context};
use clap::CommandFactory;

/// Expands the config file of a `serve` command line into flags; other command lines pass
/// through unchanged. `env_config` is the `LOGQ_CONFIG` value, if set.
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
    let display = path.to_string_lossy().into_owned();
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading config file {display}"))?;
    let flags = flags_from_toml::<C>(&text).with_context(|| format!("config file {display}"))?;
    args.splice(serve_at + 1..serve_at + 1, flags);
    Ok(args)
}

fn flags_from_toml<C: CommandFactory>(text: &str) -> anyhow::Result<Vec<OsString>> {
    let table: toml::Table = toml::from_str(text).map_err(|e| anyhow::anyhow!("{e}"))?;
    let cmd = C::command();
    let serve = cmd
        .find_subcommand("serve")
        .context("the serve command is missing")?;
    let known: Vec<String> = serve
        .get_arguments()
        .filter_map(|a| a.get_long().map(str::to_string))
        .filter(|l| l != "config" && l != "help")
        .collect();
    let mut out = Vec::new();
    for (key, value) in table {
        let long = key.replace('_', "-");
        if !known.contains(&long) {
            bail!("unknown key {key:?} (keys are the long flags of `logq serve`, e.g. listen, data_dir, kafka, environment)");
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
