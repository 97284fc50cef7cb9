//! The command-line client, logcli-style, over the HTTP API: `logq query`, `instant-query`,
//! `labels`, `series`, `tail`, and the index commands (`stats`, `volume`, `volume_range`).
//! Log queries are paged like logcli: each page asks for at most `--batch` entries and the next
//! page starts at the last timestamp seen, dropping entries already printed at that timestamp.
//! Metric results (matrix, vector, scalar) print in every output format (`metric_output`).
//!
//! Every request goes through [`get_json`], so an unreachable server, a bad time flag and a 4xx
//! body all end as one clear error naming the problem (the binary exits 1).

mod index;
mod metric_output;

use std::collections::HashSet;
use std::io::{IsTerminal, Write};

use anyhow::{anyhow, bail, Context};
use chrono::{DateTime, SecondsFormat, Utc};
use clap::{Args, ValueEnum};
pub use logq_storage::now_ns;
use serde_json::{json, Value};

pub use index::{series, stats, volume, volume_range, SeriesArgs, StatsArgs, VolumeArgs};

/// Where and as whom to connect.
#[derive(Debug, Clone, Args)]
pub struct ConnArgs {
    /// Server address.
    #[arg(long, env = "LOGQ_ADDR", default_value = "http://localhost:3100")]
    pub addr: String,
    /// Tenant (sent as X-Scope-OrgID).
    #[arg(long, env = "LOGQ_ORG_ID")]
    pub org_id: Option<String>,
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

/// When to colour labels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorMode {
    /// On a terminal, unless `NO_COLOR` is set.
    Auto,
    /// Always.
    Always,
    /// Never.
    Never,
}

impl ColorMode {
    /// Whether to colour what goes to stdout.
    pub fn enabled(self) -> bool {
        match self {
            ColorMode::Always => true,
            ColorMode::Never => false,
            ColorMode::Auto => std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none(),
        }
    }
}

/// A time range from `--since`, or `--from`/`--to`.
#[derive(Debug, Clone, Args)]
pub struct RangeArgs {
    /// Look back this far from now (ignored with --from).
    #[arg(long, default_value = "1h")]
    pub since: String,
    /// Start of the range (RFC 3339 or Unix seconds/ns, inclusive).
    #[arg(long)]
    pub from: Option<String>,
    /// End of the range (RFC 3339 or Unix seconds/ns, exclusive; default now).
    #[arg(long)]
    pub to: Option<String>,
}

impl RangeArgs {
    /// `(start, end)` in Unix ns.
    pub fn resolve(&self) -> anyhow::Result<(i64, i64)> {
        let end = match &self.to {
            Some(t) => parse_time_flag("to", t)?,
            None => now_ns(),
        };
        let start = match &self.from {
            Some(f) => parse_time_flag("from", f)?,
            None => end - since_ns(&self.since)?,
        };
        if end < start {
            bail!("--to is before --from");
        }
        Ok((start, end))
    }
}

/// `logq query` flags.
#[derive(Debug, Args)]
pub struct QueryArgs {
    /// The LogQL query (a log query, or a metric query printed as a matrix).
    query: String,
    #[command(flatten)]
    conn: ConnArgs,
    #[command(flatten)]
    range: RangeArgs,
    /// Most lines to print (0 = no limit).
    #[arg(long, default_value_t = 30)]
    limit: usize,
    /// Lines fetched per request.
    #[arg(long, default_value_t = 1000)]
    batch: usize,
    /// Oldest first (default: newest first).
    #[arg(long)]
    forward: bool,
    /// Step of a metric query (a duration, e.g. 1m; default: the server's).
    #[arg(long)]
    step: Option<String>,
    /// Print the query statistics to stderr.
    #[arg(long)]
    stats: bool,
    /// Output format.
    #[arg(short = 'o', long, value_enum, default_value_t = Output::Default)]
    output: Output,
    /// Colour labels.
    #[arg(long, value_enum, default_value_t = ColorMode::Auto)]
    color: ColorMode,
}

/// `logq instant-query` flags.
#[derive(Debug, Args)]
pub struct InstantQueryArgs {
    /// The LogQL metric query.
    query: String,
    #[command(flatten)]
    conn: ConnArgs,
    /// Evaluation time (RFC 3339 or Unix seconds/ns; default now).
    #[arg(long)]
    now: Option<String>,
    /// Print the query statistics to stderr.
    #[arg(long)]
    stats: bool,
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
    /// Colour labels.
    #[arg(long, value_enum, default_value_t = ColorMode::Auto)]
    color: ColorMode,
}

/// `logq labels` flags.
#[derive(Debug, Args)]
pub struct LabelsArgs {
    /// Print this label's values instead of label names.
    name: Option<String>,
    #[command(flatten)]
    conn: ConnArgs,
    #[command(flatten)]
    range: RangeArgs,
    /// Output format (jsonl: one JSON string per line).
    #[arg(short = 'o', long, value_enum, default_value_t = Output::Default)]
    output: Output,
}

impl ConnArgs {
    /// `addr` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.addr.trim_end_matches('/'), path)
    }

    /// A GET of `path` with `params` and the tenant header, answered whatever its status
    /// (callers check it); an unreachable server is an error naming the address.
    pub fn get(
        &self,
        path: &str,
        params: &[(&str, String)],
    ) -> anyhow::Result<ureq::http::Response<ureq::Body>> {
        let url = self.url(path);
        let mut req = ureq::get(&url);
        for (k, v) in params {
            req = req.query(*k, v);
        }
        if let Some(org) = &self.org_id {
            req = req.header("X-Scope-OrgID", org);
        }
        req.config()
            .http_status_as_error(false)
            .build()
            .call()
            .map_err(|e| unreachable_error(&self.addr, e))
    }
}

/// The error for a request that got no answer.
pub fn unreachable_error(addr: &str, e: ureq::Error) -> anyhow::Error {
    match e {
        ureq::Error::Io(_)
        | ureq::Error::ConnectionFailed
        | ureq::Error::HostNotFound
        | ureq::Error::Timeout(_) => {
            anyhow!("cannot reach the server at {addr}: {e} (is `logq serve` running there? set --addr or LOGQ_ADDR)")
        }
        other => anyhow!("request to {addr} failed: {other}"),
    }
}

/// The body of a non-2xx answer as an error: `server answered <status>: <body>`.
pub fn status_error(resp: &mut ureq::http::Response<ureq::Body>) -> anyhow::Error {
    let status = resp.status();
    let body = resp.body_mut().read_to_string().unwrap_or_default();
    anyhow!("server answered {status}: {}", body.trim())
}

/// GETs `path` and parses the JSON answer; a non-2xx status is an error with the server's reason.
pub fn get_json(conn: &ConnArgs, path: &str, params: &[(&str, String)]) -> anyhow::Result<Value> {
    let url = conn.url(path);
    let mut resp = conn.get(path, params)?;
    if !resp.status().is_success() {
        return Err(status_error(&mut resp));
    }
    let body = resp
        .body_mut()
        .with_config()
        .limit(1 << 30)
        .read_to_string()
        .with_context(|| format!("reading response from {url}"))?;
    serde_json::from_str(&body).with_context(|| format!("parsing response from {url}"))
}

/// A time flag: RFC 3339, Unix seconds or Unix ns.
pub fn parse_time_flag(flag: &str, v: &str) -> anyhow::Result<i64> {
    logq_api::parse_time(v).map_err(|_| {
        anyhow!("invalid --{flag} {v:?}: expected RFC 3339 (e.g. 2024-05-01T10:00:00Z) or Unix seconds")
    })
}

/// A duration flag (`1h30m`, `250ms`, `2d`).
pub fn parse_duration_flag(flag: &str, v: &str) -> anyhow::Result<i64> {
    logq_api::parse_duration(v).map_err(|e| anyhow!("invalid --{flag}: {e}"))
}

fn since_ns(v: &str) -> anyhow::Result<i64> {
    parse_duration_flag("since", v)
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
                .ok_or_else(|| anyhow!("bad timestamp in response: {}", v[0]))?;
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

/// Labels as Loki prints them: `{a="1", b="2"}`.
pub fn labels_text(labels: &serde_json::Map<String, Value>) -> String {
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

/// ANSI colours for label sets, picked by a hash of the labels (as logcli).
const PALETTE: [&str; 6] = [
    "\x1b[31m", "\x1b[32m", "\x1b[33m", "\x1b[34m", "\x1b[35m", "\x1b[36m",
];

/// `text` coloured by a hash of itself when `color` is on.
pub fn colored(text: &str, color: bool) -> String {
    if !color {
        return text.to_string();
    }
    let h = text.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    });
    format!("{}{text}\x1b[0m", PALETTE[(h % PALETTE.len() as u64) as usize])
}

/// RFC 3339 with nanoseconds, as logcli prints timestamps.
pub fn rfc3339(ts: i64) -> String {
    DateTime::<Utc>::from_timestamp_nanos(ts).to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

fn print_line(out: &mut impl Write, format: Output, l: &Line, color: bool) -> std::io::Result<()> {
    match format {
        Output::Raw => writeln!(out, "{}", l.line),
        Output::Default => writeln!(
            out,
            "{} {} {}",
            rfc3339(l.ts),
            colored(&labels_text(&l.labels), color),
            l.line
        ),
        Output::Jsonl => {
            let v = serde_json::json!({"labels": l.labels, "line": l.line, "timestamp": rfc3339(l.ts)});
            writeln!(out, "{v}")
        }
    }
}

/// Prints a response's `data.stats` to stderr as logcli does: `Section.Name <tab> value`.
fn print_stats(resp: &Value) {
    fn walk(prefix: &str, v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(m) => {
                for (k, v) in m {
                    let name = if prefix.is_empty() {
                        capitalized(k)
                    } else {
                        format!("{prefix}.{}", capitalized(k))
                    };
                    walk(&name, v, out);
                }
            }
            other => out.push(format!("{prefix}\t{other}")),
        }
    }
    fn capitalized(s: &str) -> String {
        let mut c = s.chars();
        c.next()
            .map(|f| f.to_uppercase().chain(c).collect())
            .unwrap_or_default()
    }
    let mut lines = Vec::new();
    walk("", &resp["data"]["stats"], &mut lines);
    if lines.is_empty() {
        eprintln!("(the server sent no statistics)");
    }
    for l in lines {
        eprintln!("{l}");
    }
}

/// Runs `logq query`.
pub fn query(args: QueryArgs) -> anyhow::Result<()> {
    if args.batch == 0 {
        bail!("--batch must be at least 1");
    }
    let (mut start, mut end) = args.range.resolve()?;
    if let Some(step) = &args.step {
        parse_duration_flag("step", step)?;
    }
    let color = args.color.enabled();
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
        let mut params = vec![
            ("query", args.query.clone()),
            ("start", start.to_string()),
            ("end", end.to_string()),
            ("limit", want.to_string()),
            ("direction", direction.to_string()),
        ];
        if let Some(step) = &args.step {
            params.push(("step", step.clone()));
        }
        let resp = get_json(&args.conn, "/loki/api/v1/query_range", &params)?;
        if args.stats {
            print_stats(&resp);
        }
        let result_type = resp["data"]["resultType"].as_str().unwrap_or("streams");
        if result_type != "streams" {
            metric_output::print(&mut out, &resp["data"], args.output, color)?;
            out.flush()?;
            return Ok(());
        }
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
            print_line(&mut out, args.output, l, color)?;
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

/// Runs `logq instant-query`: a metric query evaluated at one time.
pub fn instant_query(args: InstantQueryArgs) -> anyhow::Result<()> {
    let time = match &args.now {
        Some(t) => parse_time_flag("now", t)?,
        None => now_ns(),
    };
    let resp = get_json(
        &args.conn,
        "/loki/api/v1/query",
        &[("query", args.query.clone()), ("time", time.to_string())],
    )?;
    if args.stats {
        print_stats(&resp);
    }
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    metric_output::print(&mut out, &resp["data"], args.output, false)?;
    out.flush()?;
    Ok(())
}

/// Runs `logq labels`.
pub fn labels(args: LabelsArgs) -> anyhow::Result<()> {
    let (start, end) = args.range.resolve()?;
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
        match args.output {
            Output::Jsonl => println!("{v}"),
            _ => println!("{}", v.as_str().unwrap_or_default()),
        }
    }
    Ok(())
}

/// The WebSocket URL of the tail endpoint for `query` from `start` (ns).
pub fn tail_url(conn: &ConnArgs, query: &str, start: i64, delay_for: u32, limit: usize) -> String {
    let base = conn.addr.trim_end_matches('/');
    let ws_base = if let Some(rest) = base.strip_prefix("https://") {
        format!("wss://{rest}")
    } else {
        format!("ws://{}", base.strip_prefix("http://").unwrap_or(base))
    };
    let query: String = form_urlencoded::byte_serialize(query.as_bytes()).collect();
    format!("{ws_base}/loki/api/v1/tail?query={query}&start={start}&delay_for={delay_for}&limit={limit}")
}

/// A tail WebSocket.
pub type TailSocket = tungstenite::WebSocket<tungstenite::stream::MaybeTlsStream<std::net::TcpStream>>;

/// Opens the tail WebSocket at `url` with the tenant header; a refused upgrade is an error with
/// the server's reason.
pub fn connect_tail(conn: &ConnArgs, url: &str) -> anyhow::Result<TailSocket> {
    let mut request = tungstenite::client::IntoClientRequest::into_client_request(url)
        .with_context(|| format!("invalid address {:?}", conn.addr))?;
    if let Some(org) = &conn.org_id {
        request
            .headers_mut()
            .insert("X-Scope-OrgID", org.parse().context("invalid --org-id")?);
    }
    match tungstenite::connect(request) {
        Ok((s, _)) => Ok(s),
        Err(tungstenite::Error::Http(resp)) => {
            let body = resp
                .body()
                .as_ref()
                .map(|b| String::from_utf8_lossy(b).trim().to_string())
                .unwrap_or_default();
            bail!("server answered {}: {body}", resp.status());
        }
        Err(e) => Err(anyhow!(
            "cannot reach the server at {}: {e} (is `logq serve` running there? set --addr or LOGQ_ADDR)",
            conn.addr
        )),
    }
}

/// One entry of a tail frame: (labels, ts, line).
pub type TailEntry = (serde_json::Map<String, Value>, i64, String);

/// One tail frame's entries, oldest first.
pub fn tail_frame_entries(text: &str) -> anyhow::Result<Vec<TailEntry>> {
    let frame: Value = serde_json::from_str(text).context("parsing a tail frame")?;
    let mut lines = entries_of(&json!({"data": {"result": frame["streams"].clone()}}))?;
    lines.sort_by_key(|l| l.ts);
    Ok(lines.into_iter().map(|l| (l.labels, l.ts, l.line)).collect())
}

/// Runs `logq tail`: follows the query over the server's WebSocket and prints each entry.
pub fn tail(args: TailArgs) -> anyhow::Result<()> {
    let start = now_ns() - since_ns(&args.since)?;
    let url = tail_url(&args.conn, &args.query, start, args.delay_for, 100);
    let mut socket = connect_tail(&args.conn, &url)?;
    let color = args.color.enabled();
    let stdout = std::io::stdout();
    loop {
        match socket.read() {
            Ok(tungstenite::Message::Text(text)) => {
                let mut out = stdout.lock();
                for (labels, ts, line) in tail_frame_entries(text.as_str())? {
                    print_line(&mut out, args.output, &Line { ts, labels, line }, color)?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_flags_accept_rfc3339_and_unix_and_name_the_flag() {
        assert_eq!(
            parse_time_flag("from", "1700000000").unwrap(),
            1_700_000_000_000_000_000
        );
        assert_eq!(
            parse_time_flag("from", "2023-11-14T22:13:20Z").unwrap(),
            1_700_000_000_000_000_000
        );
        let e = parse_time_flag("from", "yesterday").unwrap_err().to_string();
        assert!(e.contains("--from") && e.contains("yesterday"), "{e}");
    }

    #[test]
    fn range_rejects_reversed_bounds() {
        let r = RangeArgs {
            since: "1h".into(),
            from: Some("2024-01-02T00:00:00Z".into()),
            to: Some("2024-01-01T00:00:00Z".into()),
        };
        assert!(r.resolve().unwrap_err().to_string().contains("before"));
    }

    #[test]
    fn colours_wrap_text_only_when_enabled() {
        assert_eq!(colored("{a=\"1\"}", false), "{a=\"1\"}");
        let c = colored("{a=\"1\"}", true);
        assert!(c.starts_with("\x1b[") && c.ends_with("\x1b[0m") && c.contains("{a=\"1\"}"));
        assert_eq!(
            c,
            colored("{a=\"1\"}", true),
            "the same labels get the same colour"
        );
    }
}
