//! `logq history load|ls|rm`: loads a time range into a history index on a server (waiting
//! with a progress bar on a terminal, or `--no-wait`), lists and drops indexes, over the HTTP
//! API (`/logq/api/v1/history`), with the same `--addr` / `--org-id` flags as `logq query`.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context};
use clap::{Args, Subcommand};
use serde_json::Value;

use crate::client::{now_ns, ConnArgs};

const PATH: &str = "/logq/api/v1/history";

/// `logq history` subcommands.
#[derive(Debug, Subcommand)]
pub enum HistoryCommand {
    /// Load a time range (and optionally a stream selector) into an index; waits until it is
    /// ready unless --no-wait.
    Load(LoadArgs),
    /// List the tenant's indexes.
    Ls(ConnOnly),
    /// Drop an index.
    Rm(RmArgs),
}

/// `logq history` flags.
#[derive(Debug, Args)]
pub struct HistoryArgs {
    #[command(subcommand)]
    command: HistoryCommand,
}

/// `logq history load` flags.
#[derive(Debug, Args)]
pub struct LoadArgs {
    /// Streams to index (default: every stream of the tenant).
    selector: Option<String>,
    /// Start of the range (RFC 3339, Unix seconds or ns; or a duration back from now: `2h`).
    #[arg(long)]
    from: String,
    /// End of the range (same formats; default now).
    #[arg(long, default_value = "now")]
    to: String,
    /// Return at once instead of waiting for the build.
    #[arg(long)]
    no_wait: bool,
    /// Give up waiting after this long.
    #[arg(long, default_value = "1h")]
    timeout: String,
    #[command(flatten)]
    conn: ConnArgs,
}

/// Flags of commands that only connect.
#[derive(Debug, Args)]
pub struct ConnOnly {
    #[command(flatten)]
    conn: ConnArgs,
}

/// `logq history rm` flags.
#[derive(Debug, Args)]
pub struct RmArgs {
    /// The index id (see `logq history ls`).
    id: String,
    #[command(flatten)]
    conn: ConnArgs,
}

/// A time flag: `now`, a Loki timestamp, or a duration back from now.
fn time_flag(flag: &str, v: &str) -> anyhow::Result<i64> {
    if v.trim() == "now" {
        return Ok(now_ns());
    }
    if let Ok(ns) = logq_api::parse_time(v) {
        return Ok(ns);
    }
    match logq_api::parse_duration(v) {
        Ok(d) => Ok(now_ns() - d),
        Err(_) => bail!("invalid --{flag} {v:?}: expected RFC 3339 (2024-05-01T10:00:00Z), Unix seconds or ns, `now`, or a duration back from now (2h)"),
    }
}

fn request(
    conn: &ConnArgs,
    method: &str,
    path: &str,
    form: &[(&str, String)],
) -> anyhow::Result<(u16, String)> {
    let url = format!("{}{}", conn.addr.trim_end_matches('/'), path);
    let agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .new_agent();
    let with_org = |mut r: ureq::RequestBuilder<ureq::typestate::WithoutBody>| {
        if let Some(org) = &conn.org_id {
            r = r.header("X-Scope-OrgID", org);
        }
        r
    };
    let with_org_body = |mut r: ureq::RequestBuilder<ureq::typestate::WithBody>| {
        if let Some(org) = &conn.org_id {
            r = r.header("X-Scope-OrgID", org);
        }
        r
    };
    let result = match method {
        "POST" => {
            let body: String = form_urlencoded::Serializer::new(String::new())
                .extend_pairs(form.iter().map(|(k, v)| (*k, v.as_str())))
                .finish();
            with_org_body(agent.post(&url))
                .header("Content-Type", "application/x-www-form-urlencoded")
                .send(body.as_bytes())
        }
        "DELETE" => with_org(agent.delete(&url)).call(),
        _ => with_org(agent.get(&url)).call(),
    };
    let mut resp = result.with_context(|| format!("requesting {url}"))?;
    let status = resp.status().as_u16();
    let body = resp
        .body_mut()
        .read_to_string()
        .with_context(|| format!("reading response from {url}"))?;
    Ok((status, body))
}

fn json_ok(status: u16, body: &str) -> anyhow::Result<Value> {
    if !(200..300).contains(&status) {
        bail!("server answered {status}: {}", body.trim());
    }
    serde_json::from_str(body).map_err(|e| anyhow!("unexpected response ({e}): {body}"))
}

fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "kB", "MB", "GB", "TB"];
    let mut v = n as f64;
    let mut unit = 0;
    while v >= 1000.0 && unit + 1 < UNITS.len() {
        v /= 1000.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n}B")
    } else {
        format!("{v:.1}{}", UNITS[unit])
    }
}

/// One line describing an index.
fn summary(d: &Value) -> String {
    let s = |k: &str| d[k].as_str().unwrap_or("").to_string();
    let mut line = format!(
        "{}  {:<8}  {} .. {}  {}  lines={} raw={} disk={}",
        s("id"),
        s("state"),
        s("start"),
        s("end"),
        s("query"),
        d["lines"].as_u64().unwrap_or(0),
        human_bytes(d["bytes_raw"].as_u64().unwrap_or(0)),
        human_bytes(d["bytes_on_disk"].as_u64().unwrap_or(0)),
    );
    if let Some(e) = d["expires_at"].as_str() {
        line.push_str(&format!("  expires={e}"));
    }
    if let Some(e) = d["error"].as_str() {
        line.push_str(&format!("  error={e}"));
    }
    line
}

/// Runs `logq history`.
pub fn run(args: HistoryArgs) -> anyhow::Result<()> {
    match args.command {
        HistoryCommand::Load(a) => load(a),
        HistoryCommand::Ls(a) => {
            let (status, body) = request(&a.conn, "GET", PATH, &[])?;
            let list = json_ok(status, &body)?;
            let items = list.as_array().cloned().unwrap_or_default();
            if items.is_empty() {
                println!("no history indexes");
            }
            for d in items {
                println!("{}", summary(&d));
            }
            Ok(())
        }
        HistoryCommand::Rm(a) => {
            let (status, body) = request(&a.conn, "DELETE", &format!("{PATH}/{}", a.id), &[])?;
            if !(200..300).contains(&status) {
                bail!("server answered {status}: {}", body.trim());
            }
            println!("deleted {}", a.id);
            Ok(())
        }
    }
}

fn load(a: LoadArgs) -> anyhow::Result<()> {
    let start = time_flag("from", &a.from)?;
    let end = time_flag("to", &a.to)?;
    if start >= end {
        bail!("--from must be before --to");
    }
    let timeout = logq_api::parse_duration(&a.timeout).map_err(|e| anyhow!("invalid --timeout: {e}"))?;
    let mut form = vec![("start", start.to_string()), ("end", end.to_string())];
    if let Some(sel) = &a.selector {
        form.push(("query", sel.clone()));
    }
    let (status, body) = request(&a.conn, "POST", PATH, &form)?;
    let mut d = json_ok(status, &body)?;
    let id = d["id"].as_str().unwrap_or_default().to_string();
    if a.no_wait {
        println!("{}", summary(&d));
        return Ok(());
    }
    let tty = std::io::stderr().is_terminal();
    let deadline = Instant::now() + Duration::from_nanos(timeout.max(0) as u64);
    let mut last_state = String::new();
    loop {
        let state = d["state"].as_str().unwrap_or("").to_string();
        let progress = d["progress"].as_f64().unwrap_or(0.0);
        if tty {
            let width = 30;
            let filled = ((progress * width as f64).round() as usize).min(width);
            eprint!(
                "\r[{}{}] {:>5.1}% {:<9}",
                "#".repeat(filled),
                ".".repeat(width - filled),
                progress * 100.0,
                state
            );
            let _ = std::io::stderr().flush();
        } else if state != last_state {
            eprintln!("{id}: {state}");
        }
        last_state = state.clone();
        match state.as_str() {
            "ready" => {
                if tty {
                    eprintln!();
                }
                println!("{}", summary(&d));
                return Ok(());
            }
            "failed" | "expired" => {
                if tty {
                    eprintln!();
                }
                bail!(
                    "history index {id} {state}: {}",
                    d["error"].as_str().unwrap_or("no reason given")
                );
            }
            _ => {}
        }
        if Instant::now() > deadline {
            bail!(
                "history index {id} is still {state} after --timeout {}",
                a.timeout
            );
        }
        std::thread::sleep(Duration::from_millis(200));
        let (status, body) = request(&a.conn, "GET", &format!("{PATH}/{id}"), &[])?;
        d = json_ok(status, &body)?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_flags_take_loki_times_now_and_durations() {
        assert_eq!(
            time_flag("from", "2024-05-01T10:00:00Z").unwrap(),
            1_714_557_600_000_000_000
        );
        assert_eq!(
            time_flag("from", "1714557600").unwrap(),
            1_714_557_600_000_000_000
        );
        let back = time_flag("from", "2h").unwrap();
        assert!((now_ns() - back - 7_200_000_000_000).abs() < 60_000_000_000);
        assert!(time_flag("from", "yesterday").is_err());
    }
}
