//! The command-line client: `logq query` and `logq labels`, logcli-style, over the HTTP API.
//! Queries are paged like logcli: each page asks for at most `--batch` entries and the next
//! page starts at the last timestamp seen, dropping entries already printed at that timestamp.

use std::collections::HashSet;
use std::io::Write;

use anyhow::{anyhow, bail, Context};
use chrono::{DateTime, SecondsFormat, Utc};
use clap::{Args, ValueEnum};
use serde_json::{json, Value};

/// Where and as whom to connect.
#[derive(Debug, Args)]
pub struct ConnArgs {
    /// Server address.
    #[arg(long, env = "LOGQ_ADDR", default_value = "http://localhost:3100")]
    pub(crate) addr: String,
    /// Tenant (sent as X-Scope-OrgID).
    #[arg(long, env = "LOGQ_ORG_ID")]
    pub(crate) org_id: Option<String>,
}

/// Output formats, as logcli's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    /// `<timestamp> <labels> <line>`
    Default,
    /// The line only.
    Raw,
    /// One JSON object per line.
    Jsonl,
}

/// `logq query` flags.
#[derive(Debug, Args)]
pub struct QueryArgs {
    /// The LogQL query.
    query: String,
    #[command(flatten)]
    conn: ConnArgs,
    /// Look back this far from now (ignored with --from).
    #[arg(long, default_value = "1h")]
    since: String,
    /// Start of the range (RFC 3339, inclusive).
    #[arg(long)]
    from: Option<String>,
    /// End of the range (RFC 3339, exclusive).
    #[arg(long)]
    to: Option<String>,
    /// Most lines to print (0 = no limit).
    #[arg(long, default_value_t = 30)]
    limit: usize,
    /// Lines fetched per request.
    #[arg(long, default_value_t = 1000)]
    batch: usize,
    /// Oldest first (default: newest first).
    #[arg(long)]
    forward: bool,
    /// Output format.
    #[arg(short = 'o', long, value_enum, default_value_t = Output::Default)]
    output: Output,
}

/// `logq tail` flags.
#[derive(Debug, Args)]
pub struct TailArgs {
    /// The LogQL query (a selector with an optional pipeline).
    query: String,
    #[command(flatten)]
    conn: ConnArgs,
    /// Start this far back (logcli's --since for tail).
    #[arg(long, default_value = "0s")]
    since: String,
    /// Stay this many seconds behind now (0-5), so late entries are not missed.
    #[arg(long, default_value_t = 0)]
    delay_for: u32,
    /// Output format.
    #[arg(short = 'o', long, value_enum, default_value_t = Output::Default)]
    output: Output,
}

/// `logq labels` flags.
#[derive(Debug, Args)]
pub struct LabelsArgs {
    /// Print this label's values instead of label names.
    name: Option<String>,
    #[command(flatten)]
    conn: ConnArgs,
    /// Look back this far from now.
    #[arg(long, default_value = "1h")]
    since: String,
}

fn now_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i64)
}

fn get_json(conn: &ConnArgs, path: &str, params: &[(&str, String)]) -> anyhow::Result<Value> {
    let url = format!("{}{}", conn.addr.trim_end_matches('/'), path);
    let mut req = ureq::get(&url);
    for (k, v) in params {
        req = req.query(*k, v);
    }
    if let Some(org) = &conn.org_id {
        req = req.header("X-Scope-OrgID", org);
    }
    let mut resp = req
        .config()
        .http_status_as_error(false)
        .build()
        .call()
        .with_context(|| format!("requesting {url}"))?;
    let status = resp.status();
    let body = resp
        .body_mut()
        .with_config()
        .limit(1 << 30)
        .read_to_string()
        .with_context(|| format!("reading response from {url}"))?;
    if !status.is_success() {
        bail!("server answered {status}: {}", body.trim());
    }
    serde_json::from_str(&body).with_context(|| format!("parsing response from {url}"))
}

fn parse_rfc3339(flag: &str, v: &str) -> anyhow::Result<i64> {
    DateTime::parse_from_rfc3339(v)
        .map_err(|e| anyhow!("invalid --{flag} {v:?}: {e} (expected RFC 3339, e.g. 2024-05-01T10:00:00Z)"))?
        .timestamp_nanos_opt()
        .ok_or_else(|| anyhow!("--{flag} {v:?} is out of range"))
}

fn since_ns(v: &str) -> anyhow::Result<i64> {
    logq_api::parse_duration(v).map_err(|e| anyhow!("invalid --since: {e}"))
}

/// One entry of a streams response.
struct Line {
    ts: i64,
    labels: serde_json::Map<String, Value>,
    line: String,
}

fn entries_of(resp: &Value) -> anyhow::Result<Vec<Line>> {
    let result = resp["data"]["result"]
        .as_array()
        .ok_or_else(|| anyhow!("unexpected response: no data.result"))?;
    let mut out = Vec::new();
    for s in result {
        let labels = s["stream"].as_object().cloned().unwrap_or_default();
        for v in s["values"].as_array().into_iter().flatten() {
            let ts = v[0]
                .as_str()
                .and_then(|t| t.parse().ok())
                .ok_or_else(|| anyhow!("bad timestamp in response"))?;
            let line = v[1].as_str().unwrap_or_default().to_string();
            out.push(Line {
                ts,
                labels: labels.clone(),
                line,
            });
        }
    }
    Ok(out)
}

fn labels_text(labels: &serde_json::Map<String, Value>) -> String {
    let inner: Vec<String> = labels
        .iter()
        .map(|(k, v)| {
            format!(
                "{k}={}",
                Value::String(v.as_str().unwrap_or_default().to_string())
            )
        })
        .collect();
    format!("{{{}}}", inner.join(", "))
}

fn print_line(out: &mut impl Write, format: Output, l: &Line) -> std::io::Result<()> {
    let when = DateTime::<Utc>::from_timestamp_nanos(l.ts).to_rfc3339_opts(SecondsFormat::AutoSi, true);
    match format {
        Output::Raw => writeln!(out, "{}", l.line),
        Output::Default => writeln!(out, "{when} {} {}", labels_text(&l.labels), l.line),
        Output::Jsonl => {
            let v = serde_json::json!({"labels": l.labels, "line": l.line, "timestamp": when});
            writeln!(out, "{v}")
        }
    }
}

/// Runs `logq query`.
pub fn query(args: QueryArgs) -> anyhow::Result<()> {
    if args.batch == 0 {
        bail!("--batch must be at least 1");
    }
    let mut end = match &args.to {
        Some(t) => parse_rfc3339("to", t)?,
        None => now_ns(),
    };
    let mut start = match &args.from {
        Some(f) => parse_rfc3339("from", f)?,
        None => end - since_ns(&args.since)?,
    };
    if end < start {
        bail!("--to is before --from");
    }
    let direction = if args.forward { "forward" } else { "backward" };
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let mut printed = 0usize;
    // Entries printed at the page boundary's timestamp, to skip when the next page repeats them.
    let mut boundary: (i64, HashSet<(String, String)>) = (i64::MIN, HashSet::new());
    loop {
        let want = if args.limit == 0 {
            args.batch
        } else {
            (args.limit - printed).min(args.batch)
        };
        if want == 0 {
            break;
        }
        let resp = get_json(
            &args.conn,
            "/loki/api/v1/query_range",
            &[
                ("query", args.query.clone()),
                ("start", start.to_string()),
                ("end", end.to_string()),
                ("limit", want.to_string()),
                ("direction", direction.to_string()),
            ],
        )?;
        let mut lines = entries_of(&resp)?;
        let page_len = lines.len();
        if args.forward {
            lines.sort_by_key(|l| l.ts);
        } else {
            lines.sort_by_key(|l| std::cmp::Reverse(l.ts));
        }
        let mut new = 0;
        for l in &lines {
            let key = (labels_text(&l.labels), l.line.clone());
            if l.ts == boundary.0 && boundary.1.contains(&key) {
                continue;
            }
            if l.ts != boundary.0 {
                boundary = (l.ts, HashSet::new());
            }
            boundary.1.insert(key);
            print_line(&mut out, args.output, l)?;
            printed += 1;
            new += 1;
            if args.limit != 0 && printed >= args.limit {
                break;
            }
        }
        if page_len < want || new == 0 {
            break;
        }
        // The next page starts at the boundary timestamp (inclusive), skipping what was printed.
        if args.forward {
            start = boundary.0;
        } else {
            end = boundary.0 + 1;
        }
    }
    out.flush()?;
    Ok(())
}

/// Runs `logq labels`.
pub fn labels(args: LabelsArgs) -> anyhow::Result<()> {
    let end = now_ns();
    let start = end - since_ns(&args.since)?;
    let path = match &args.name {
        Some(n) => format!("/loki/api/v1/label/{n}/values"),
        None => "/loki/api/v1/labels".into(),
    };
    let resp = get_json(
        &args.conn,
        &path,
        &[("start", start.to_string()), ("end", end.to_string())],
    )?;
    for v in resp["data"].as_array().into_iter().flatten() {
        println!("{}", v.as_str().unwrap_or_default());
    }
    Ok(())
}

/// Runs `logq tail`: follows the query over the server's WebSocket and prints each entry.
pub fn tail(args: TailArgs) -> anyhow::Result<()> {
    let start = now_ns() - since_ns(&args.since)?;
    let base = args.conn.addr.trim_end_matches('/');
    let ws_base = if let Some(rest) = base.strip_prefix("https://") {
        format!("wss://{rest}")
    } else {
        format!("ws://{}", base.strip_prefix("http://").unwrap_or(base))
    };
    let query: String = form_urlencoded::byte_serialize(args.query.as_bytes()).collect();
    let url = format!(
        "{ws_base}/loki/api/v1/tail?query={query}&start={start}&delay_for={}",
        args.delay_for
    );
    let mut request = tungstenite::client::IntoClientRequest::into_client_request(url.as_str())
        .with_context(|| format!("invalid address {base:?}"))?;
    if let Some(org) = &args.conn.org_id {
        request
            .headers_mut()
            .insert("X-Scope-OrgID", org.parse().context("invalid --org-id")?);
    }
    let (mut socket, _) = match tungstenite::connect(request) {
        Ok(s) => s,
        Err(tungstenite::Error::Http(resp)) => {
            let body = resp
                .body()
                .as_ref()
                .map(|b| String::from_utf8_lossy(b).trim().to_string())
                .unwrap_or_default();
            bail!("server answered {}: {body}", resp.status());
        }
        Err(e) => return Err(anyhow!("connecting to {ws_base}: {e}")),
    };
    let stdout = std::io::stdout();
    loop {
        match socket.read() {
            Ok(tungstenite::Message::Text(text)) => {
                let frame: Value = serde_json::from_str(text.as_str()).context("parsing a tail frame")?;
                let mut lines = entries_of(&json!({"data": {"result": frame["streams"].clone()}}))?;
                lines.sort_by_key(|l| l.ts);
                let mut out = stdout.lock();
                for l in &lines {
                    print_line(&mut out, args.output, l)?;
                }
                out.flush()?;
            }
            Ok(tungstenite::Message::Close(frame)) => {
                if let Some(f) = frame.filter(|f| u16::from(f.code) != 1000) {
                    bail!("server closed the tail: {}", f.reason);
                }
                return Ok(());
            }
            Ok(_) => {}
            Err(tungstenite::Error::ConnectionClosed) => return Ok(()),
            Err(e) => return Err(anyhow!("tail connection failed: {e}")),
        }
    }
}
