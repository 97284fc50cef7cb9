//! The history section of `logq bench`: on a fresh server over the benchmark's data, the whole
//! range loaded into a history index (build time, MB of raw lines per second per core of
//! server CPU, index size as a share of raw, peak server memory up to the end of the build),
//! then five queries answered with the index, then (index dropped) by scan, each best of 5,
//! with the path the server reports.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use serde_json::Value;

use crate::bench::{mb, run_query, Server};

/// The five timed queries: name, LogQL, limit. `{trace}` is replaced by a trace id of the data.
const QUERIES: [(&str, &str, usize); 5] = [
    ("needle literal", r#"{env="bench"} |= "needle-7f3a9c""#, 5000),
    ("16-hex trace id", r#"{env="bench"} |= "{trace}""#, 5000),
    (
        "rare regex",
        r#"{env="bench"} |~ "Rows_examined: 19999\\d\\d""#,
        5000,
    ),
    ("|= \"GET\" limit 100", r#"{env="bench"} |= "GET""#, 100),
    (
        "count_over_time needle [1h]",
        r#"sum(count_over_time({env="bench"} |= "needle-7f3a9c" [1h]))"#,
        0,
    ),
];

/// A trace id from the first 64 MB of the raw file (an `api` line's `trace_id=`).
fn trace_id(raw: &Path) -> anyhow::Result<String> {
    use std::io::Read;
    let mut buf = vec![0; 64 << 20];
    let n = std::fs::File::open(raw)
        .with_context(|| format!("opening {}", raw.display()))?
        .read(&mut buf)?;
    let text = String::from_utf8_lossy(&buf[..n]);
    text.split("trace_id=")
        .nth(1)
        .and_then(|t| t.get(..16))
        .map(str::to_string)
        .context("no trace_id= in the corpus")
}

/// Best of 5 runs: (seconds, entries returned, path header).
fn best_of_5(
    addr: &str,
    q: &str,
    limit: usize,
    start: i64,
    end: i64,
) -> anyhow::Result<(f64, usize, String)> {
    let mut best: Option<(f64, usize, String)> = None;
    for _ in 0..5 {
        let (secs, n) = run_query(addr, q, limit, start, end).map_err(|e| anyhow::anyhow!("{q}: {e}"))?;
        if best.as_ref().is_none_or(|b| secs < b.0) {
            best = Some((secs, n, path_of(addr, q, limit, start, end)));
        }
    }
    Ok(best.expect("five runs"))
}

/// The `X-Logq-Path` of a query.
fn path_of(addr: &str, q: &str, limit: usize, start: i64, end: i64) -> String {
    let mut req = ureq::get(format!("{addr}/loki/api/v1/query_range"))
        .query("query", q)
        .query("start", start.to_string())
        .query("end", end.to_string());
    if limit > 0 {
        req = req.query("limit", limit.to_string());
    }
    req.call()
        .ok()
        .and_then(|r| {
            r.headers()
                .get("x-logq-path")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        })
        .unwrap_or_default()
}

/// Runs the history section, adding rows with `row(what, value, note)`.
pub fn run(
    data_dir: &Path,
    raw: &Path,
    raw_bytes: u64,
    (start, end): (i64, i64),
    row: &mut dyn FnMut(&str, String, &str),
) -> anyhow::Result<()> {
    let trace = trace_id(raw)?;
    let queries: Vec<(&str, String, usize)> = QUERIES
        .iter()
        .map(|(name, q, limit)| (*name, q.replace("{trace}", &trace), *limit))
        .collect();
    let server = Server::start_with(data_dir, false, &["--history-max-range".into(), "30d".into()])?;
    let cpu_before = server.cpu_seconds();
    let started = Instant::now();
    let resp = ureq::post(format!("{}/logq/api/v1/history", server.addr))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .send(format!("start={start}&end={end}"))
        .context("loading the history index")?
        .body_mut()
        .read_to_string()?;
    let id = serde_json::from_str::<Value>(&resp)?["id"]
        .as_str()
        .context("no id in the load answer")?
        .to_string();
    let d = loop {
        let d: Value = serde_json::from_str(
            &ureq::get(format!("{}/logq/api/v1/history/{id}", server.addr))
                .call()?
                .body_mut()
                .read_to_string()?,
        )?;
        match d["state"].as_str() {
            Some("ready") => break d,
            Some("failed") | Some("expired") => bail!("history build {}: {}", d["state"], d["error"]),
            _ => std::thread::sleep(Duration::from_millis(50)),
        }
    };
    let wall = started.elapsed().as_secs_f64();
    let cpu = (server.cpu_seconds() - cpu_before).max(1e-9);
    let indexed = d["bytes_raw"].as_u64().unwrap_or(0);
    let on_disk = d["bytes_on_disk"].as_u64().unwrap_or(0);
    row(
        "history build s",
        format!("{wall:.2}"),
        &format!("{} lines, {:.0} MB of raw lines", d["lines"], mb(indexed)),
    );
    row(
        "history build MB/s per core",
        format!("{:.1}", mb(indexed) / cpu),
        &format!("{cpu:.1} CPU s; {:.1} MB/s wall", mb(indexed) / wall),
    );
    row(
        "history index size / raw",
        format!("{:.3}", on_disk as f64 / raw_bytes.max(1) as f64),
        &format!("{:.1} MB on disk", mb(on_disk)),
    );
    row(
        "history peak RSS MiB",
        format!("{:.0}", server.peak_rss_mib()),
        "server: start and build",
    );
    let mut index_secs = Vec::new();
    for (name, q, limit) in &queries {
        let (secs, n, path) = best_of_5(&server.addr, q, *limit, start, end)?;
        row(
            &format!("index: {name} s"),
            format!("{secs:.4}"),
            &format!("{n} returned, path {path}, best of 5"),
        );
        index_secs.push(secs);
    }
    // The same queries by scan: the index dropped.
    ureq::delete(format!("{}/logq/api/v1/history/{id}", server.addr))
        .call()
        .context("dropping the history index")?;
    for ((name, q, limit), index) in queries.iter().zip(&index_secs) {
        let (secs, n, path) = best_of_5(&server.addr, q, *limit, start, end)?;
        row(
            &format!("scan: {name} s"),
            format!("{secs:.4}"),
            &format!(
                "{n} returned, path {path}, best of 5; index {:.0}x faster",
                secs / index.max(1e-9)
            ),
        );
    }
    server.stop()
}
