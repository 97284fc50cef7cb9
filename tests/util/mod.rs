//! Test harness: starts a logq server in a scratch directory on a free loopback port, in this
//! process through the server library (`Server::start`) or as the real `logq serve` binary when
//! a test needs a process to crash (`Server::start_process`, for SIGKILL); talks to it over
//! HTTP.
#![allow(dead_code)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use clap::Parser;
use logq_api::proto::{EntryAdapter, PushRequest, StreamAdapter, Timestamp};
use logq_server::{ServeFlags, ServerConfig, ServerError};
use prost::Message;
use serde_json::Value;

/// Path of the binary under test.
pub fn logq_bin() -> &'static str {
    env!("CARGO_BIN_EXE_logq")
}

/// A server started in this process: its runtime, the stop signal and the serving task.
struct InProcess {
    runtime: tokio::runtime::Runtime,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<Result<(), ServerError>>,
}

enum Running {
    Process(Child),
    InProcess(InProcess),
}

/// A running logq server.
pub struct Server {
    running: Option<Running>,
    pub addr: String,
    pub data_dir: PathBuf,
    extra: Vec<String>,
    in_process: bool,
}

/// Flags that make flushing and compaction happen within a test's time.
pub const FAST_FLAGS: &[&str] = &[
    "--flush-check-interval",
    "200ms",
    "--window-grace",
    "0s",
    "--compact-interval",
    "500ms",
    "--compact-hour-grace",
    "0s",
    "--delete-grace",
    "0s",
];

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[derive(Parser)]
struct Flags {
    #[command(flatten)]
    flags: ServeFlags,
}

/// The configuration `logq serve --listen 127.0.0.1:PORT --data-dir DIR EXTRA...` would run.
pub fn config_from_flags(data_dir: &Path, port: u16, extra: &[String]) -> ServerConfig {
    let flags = Flags::try_parse_from(std::iter::once("serve".to_string()).chain(extra.iter().cloned()))
        .unwrap_or_else(|e| panic!("invalid test flags {extra:?}: {e}"))
        .flags;
    let mut config = ServerConfig {
        listen: ([127, 0, 0, 1], port).into(),
        data_dir: data_dir.to_path_buf(),
        ..ServerConfig::default()
    };
    flags.overlay(&mut config);
    config
}

impl Server {
    /// Starts a server in this process on `data_dir` with `extra` flags (as `logq serve`'s)
    /// and waits until it is ready.
    pub fn start(data_dir: &Path, extra: &[&str]) -> Server {
        Server::new(data_dir, extra, true, 0)
    }

    /// Starts the `logq serve` binary on `data_dir` with `extra` flags and waits until it is
    /// ready: for tests that SIGKILL the server.
    pub fn start_process(data_dir: &Path, extra: &[&str]) -> Server {
        Server::new(data_dir, extra, false, 0)
    }

    /// Starts a server in this process with `config` as it is and waits until it is ready.
    pub fn start_with_config(config: ServerConfig) -> Server {
        let mut s = Server {
            running: None,
            addr: String::new(),
            data_dir: config.data_dir.clone(),
            extra: Vec::new(),
            in_process: true,
        };
        s.run_in_process(config);
        s.wait_ready();
        s
    }

    fn new(data_dir: &Path, extra: &[&str], in_process: bool, port: u16) -> Server {
        let mut s = Server {
            running: None,
            addr: String::new(),
            data_dir: data_dir.to_path_buf(),
            extra: extra.iter().map(|s| s.to_string()).collect(),
            in_process,
        };
        s.spawn(port);
        s
    }

    fn spawn(&mut self, port: u16) {
        if self.in_process {
            self.spawn_in_process(port);
        } else {
            self.spawn_process(if port == 0 { free_port() } else { port });
        }
        self.wait_ready();
    }

    fn spawn_in_process(&mut self, port: u16) {
        self.run_in_process(config_from_flags(&self.data_dir, port, &self.extra));
    }

    fn run_in_process(&mut self, config: ServerConfig) {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("a runtime for the server");
        let server = runtime
            .block_on(logq_server::start(config))
            .unwrap_or_else(|e| panic!("logq server did not start: {e}"));
        self.addr = format!("http://{}", server.addr());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = runtime.spawn(server.serve(async {
            let _ = stopped.await;
        }));
        self.running = Some(Running::InProcess(InProcess {
            runtime,
            stop: Some(stop),
            task,
        }));
    }

    fn spawn_process(&mut self, port: u16) {
        self.addr = format!("http://127.0.0.1:{port}");
        let child = Command::new(logq_bin())
            .arg("serve")
            .arg("--listen")
            .arg(format!("127.0.0.1:{port}"))
            .arg("--data-dir")
            .arg(&self.data_dir)
            .args(&self.extra)
            .env("LOGQ_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start logq serve");
        self.running = Some(Running::Process(child));
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(r) = ureq::get(format!("{}/ready", self.addr)).call() {
                if r.status() == 200 {
                    return;
                }
            }
            match self.running.as_mut() {
                Some(Running::Process(c)) => {
                    if let Some(status) = c.try_wait().unwrap() {
                        panic!("logq serve exited early: {status}");
                    }
                }
                Some(Running::InProcess(p)) => {
                    assert!(!p.task.is_finished(), "the logq server stopped early");
                }
                None => unreachable!("waiting for a server that is not running"),
            }
            assert!(Instant::now() < deadline, "logq serve did not become ready");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// SIGKILL: no chance to flush or clean up (a process server only).
    pub fn kill9(&mut self) {
        match self.running.take() {
            Some(Running::Process(mut c)) => {
                c.kill().unwrap();
                c.wait().unwrap();
            }
            Some(Running::InProcess(p)) => {
                // Dropping a server without its shutdown is no crash test: say so.
                p.runtime.shutdown_background();
                panic!("kill9 needs a process: start this server with Server::start_process");
            }
            None => {}
        }
    }

    /// SIGTERM (or, in process, the shutdown signal) and wait for a clean exit.
    pub fn terminate(&mut self) {
        match self.running.take() {
            Some(Running::Process(c)) => {
                Command::new("kill")
                    .arg("-TERM")
                    .arg(c.id().to_string())
                    .status()
                    .unwrap();
                let status = c.wait_with_output().unwrap().status;
                assert!(status.success(), "logq serve exited with {status} after SIGTERM");
            }
            Some(Running::InProcess(mut p)) => {
                let _ = p.stop.take().map(|s| s.send(()));
                let result = p.runtime.block_on(p.task).expect("the server task");
                if let Err(e) = result {
                    panic!("logq server stopped with an error: {e}");
                }
                p.runtime.shutdown_timeout(Duration::from_secs(5));
            }
            None => {}
        }
    }

    /// Starts again on the same data directory (new port).
    pub fn restart(&mut self) {
        assert!(self.running.is_none(), "stop the server first");
        self.spawn(0);
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.addr, path)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        match self.running.take() {
            Some(Running::Process(mut c)) => {
                let _ = c.kill();
                let _ = c.wait();
            }
            // Abandoned, as a killed process would be: no flush.
            Some(Running::InProcess(p)) => p.runtime.shutdown_background(),
            None => {}
        }
    }
}

/// An HTTP answer: status and body text.
pub struct Reply {
    pub status: u16,
    pub body: String,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

fn reply(result: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> Reply {
    let mut resp = result.expect("request");
    let status = resp.status().as_u16();
    let body = resp
        .body_mut()
        .with_config()
        .limit(1 << 30)
        .read_to_string()
        .unwrap_or_default();
    Reply { status, body }
}

/// POSTs a body with headers.
pub fn post(url: &str, headers: &[(&str, &str)], body: &[u8]) -> Reply {
    let mut req = ureq::post(url);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    reply(req.config().http_status_as_error(false).build().send(body))
}

/// GETs with query parameters and headers.
pub fn get(url: &str, params: &[(&str, &str)], headers: &[(&str, &str)]) -> Reply {
    let mut req = ureq::get(url);
    for (k, v) in params {
        req = req.query(*k, *v);
    }
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    reply(req.config().http_status_as_error(false).build().call())
}

/// A stream with `labels` and (ts, line) entries.
pub fn stream(labels: &[(&str, &str)], entries: Vec<(i64, String)>) -> TestStream {
    TestStream {
        labels: labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        entries,
    }
}

/// A stream to push: labels and (ts, line) entries.
#[derive(Clone, Debug)]
pub struct TestStream {
    pub labels: Vec<(String, String)>,
    pub entries: Vec<(i64, String)>,
}

impl TestStream {
    pub fn labels_text(&self) -> String {
        let mut l = self.labels.clone();
        l.sort();
        let inner: Vec<String> = l
            .iter()
            .map(|(k, v)| format!("{k}={}", serde_json::to_string(v).unwrap()))
            .collect();
        format!("{{{}}}", inner.join(", "))
    }
}

/// A Loki JSON push body.
pub fn json_body(streams: &[TestStream]) -> Vec<u8> {
    let streams: Vec<Value> = streams
        .iter()
        .map(|s| {
            let labels: serde_json::Map<String, Value> = s
                .labels
                .iter()
                .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                .collect();
            let values: Vec<Value> = s
                .entries
                .iter()
                .map(|(ts, l)| serde_json::json!([ts.to_string(), l]))
                .collect();
            serde_json::json!({"stream": labels, "values": values})
        })
        .collect();
    serde_json::to_vec(&serde_json::json!({ "streams": streams })).unwrap()
}

/// A snappy-compressed protobuf push body.
pub fn protobuf_body(streams: &[TestStream]) -> Vec<u8> {
    let req = PushRequest {
        streams: streams
            .iter()
            .map(|s| StreamAdapter {
                labels: s.labels_text().into_bytes(),
                entries: s
                    .entries
                    .iter()
                    .map(|(ts, l)| EntryAdapter {
                        timestamp: Some(Timestamp {
                            seconds: ts.div_euclid(1_000_000_000),
                            nanos: ts.rem_euclid(1_000_000_000) as i32,
                        }),
                        line: l.clone().into_bytes(),
                        structured_metadata: vec![],
                        parsed: vec![],
                    })
                    .collect(),
                hash: 0,
            })
            .collect(),
        format: String::new(),
    };
    snap::raw::Encoder::new()
        .compress_vec(&req.encode_to_vec())
        .unwrap()
}

/// Pushes streams in requests of at most `batch` entries per stream, JSON or protobuf.
pub fn push_streams(
    server: &Server,
    tenant: Option<&str>,
    streams: &[TestStream],
    protobuf: bool,
    batch: usize,
) {
    let longest = streams.iter().map(|s| s.entries.len()).max().unwrap_or(0);
    let mut from = 0;
    while from < longest {
        let part: Vec<TestStream> = streams
            .iter()
            .map(|s| TestStream {
                labels: s.labels.clone(),
                entries: s.entries[from.min(s.entries.len())..(from + batch).min(s.entries.len())].to_vec(),
            })
            .filter(|s| !s.entries.is_empty())
            .collect();
        let (ctype, body) = if protobuf {
            ("application/x-protobuf", protobuf_body(&part))
        } else {
            ("application/json", json_body(&part))
        };
        let mut headers = vec![("Content-Type", ctype)];
        if let Some(t) = tenant {
            headers.push(("X-Scope-OrgID", t));
        }
        let r = post(&server.url("/loki/api/v1/push"), &headers, &body);
        assert_eq!(r.status, 204, "push failed: {}", r.body);
        from += batch;
    }
}

/// One returned entry: (ts, labels text, line).
pub type Got = (i64, String, String);

/// Reads every entry of `query` in `[start, end)` by paging `query_range` (limit 5000) in
/// `direction`, the way logcli does; entries come back in that direction's order.
pub fn read_all(
    server: &Server,
    tenant: Option<&str>,
    query: &str,
    start: i64,
    end: i64,
    direction: &str,
) -> Vec<Got> {
    let mut out: Vec<Got> = Vec::new();
    let (mut s, mut e) = (start, end);
    loop {
        let (ss, es) = (s.to_string(), e.to_string());
        let mut headers = Vec::new();
        if let Some(t) = tenant {
            headers.push(("X-Scope-OrgID", t));
        }
        let r = get(
            &server.url("/loki/api/v1/query_range"),
            &[
                ("query", query),
                ("start", &ss),
                ("end", &es),
                ("limit", "5000"),
                ("direction", direction),
            ],
            &headers,
        );
        assert_eq!(r.status, 200, "query_range failed: {}", r.body);
        let v = r.json();
        assert_eq!(v["status"], "success");
        assert_eq!(v["data"]["resultType"], "streams");
        let mut page: Vec<Got> = Vec::new();
        for st in v["data"]["result"].as_array().unwrap() {
            let mut labels: Vec<(String, String)> = st["stream"]
                .as_object()
                .unwrap()
                .iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
                .collect();
            labels.sort();
            let text = TestStream {
                labels,
                entries: vec![],
            }
            .labels_text();
            let values = st["values"].as_array().unwrap();
            // Within a stream, values come in the requested direction.
            let ts: Vec<i64> = values
                .iter()
                .map(|x| x[0].as_str().unwrap().parse().unwrap())
                .collect();
            let ordered = if direction == "forward" {
                ts.windows(2).all(|w| w[0] <= w[1])
            } else {
                ts.windows(2).all(|w| w[0] >= w[1])
            };
            assert!(ordered, "values of {text} not in {direction} order");
            for x in values {
                assert_eq!(x.as_array().unwrap().len(), 2, "a value has exactly two elements");
                page.push((
                    x[0].as_str().unwrap().parse().unwrap(),
                    text.clone(),
                    x[1].as_str().unwrap().to_string(),
                ));
            }
        }
        if direction == "forward" {
            page.sort_by_key(|g| g.0);
        } else {
            page.sort_by_key(|g| std::cmp::Reverse(g.0));
        }
        let n = page.len();
        if let Some(last) = page.last() {
            if direction == "forward" {
                s = last.0 + 1;
            } else {
                e = last.0;
            }
        }
        out.extend(page);
        if n < 5000 {
            return out;
        }
    }
}

/// Every entry of `streams`, sorted in `direction` (timestamps must be unique).
pub fn expected(streams: &[TestStream], direction: &str) -> Vec<Got> {
    let mut all: Vec<Got> = streams
        .iter()
        .flat_map(|s| {
            let text = s.labels_text();
            s.entries
                .iter()
                .map(move |(ts, l)| (*ts, text.clone(), l.clone()))
        })
        .collect();
    all.sort_by_key(|g| g.0);
    if direction == "backward" {
        all.reverse();
    }
    all
}

/// Asserts two entry lists are equal, reporting the first difference (not 30,000 lines).
pub fn assert_same(got: &[Got], want: &[Got], what: &str) {
    if let Some(i) = (0..got.len().min(want.len())).find(|&i| got[i] != want[i]) {
        panic!(
            "{what}: first difference at entry {i}: got {:?}, want {:?}",
            got[i], want[i]
        );
    }
    assert_eq!(
        got.len(),
        want.len(),
        "{what}: got {} entries, want {}",
        got.len(),
        want.len()
    );
}

/// Now in Unix ns.
pub fn now_ns() -> i64 {
    logq_storage::now_ns()
}

/// Waits until `cond` holds, up to `secs` seconds.
pub fn wait_for(secs: u64, what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Files under `dir` whose names end with `suffix`.
pub fn files_with_suffix(dir: &Path, suffix: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else { continue };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.to_string_lossy().ends_with(suffix) {
                out.push(p);
            }
        }
    }
    out
}

/// A free loopback port (free when asked; bind it soon).
pub fn free_loopback_port() -> u16 {
    free_port()
}

impl Server {
    /// Starts a server on `data_dir` listening on loopback `port`, and waits until it is ready
    /// (for clients that were given the address before the server existed).
    pub fn start_on_port(data_dir: &Path, port: u16, extra: &[&str]) -> Server {
        Server::new(data_dir, extra, true, port)
    }
}
