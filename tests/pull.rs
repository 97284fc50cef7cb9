//! `logq pull` and the export endpoint end to end: the real binary against a real server.

mod util;

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use util::*;

const HOUR: i64 = 3_600_000_000_000;

/// `streams` streams of `per_stream` lines each, spread evenly over `span` ns from `base`, with
/// unique timestamps; some lines carry quotes, backslashes and non-ASCII text.
fn corpus(streams: usize, per_stream: usize, base: i64, span: i64) -> Vec<TestStream> {
    let step = span / per_stream as i64;
    (0..streams)
        .map(|s| {
            let entries = (0..per_stream)
                .map(|i| {
                    let ts = base + i as i64 * step + s as i64;
                    let line = if i % 997 == 0 {
                        format!("s{s} line {i} \"quoted\" back\\slash ünïcode")
                    } else {
                        format!(
                            "s{s} line {i} level=info msg=\"request done\" bytes={}",
                            i * 7 % 1000
                        )
                    };
                    (ts, line)
                })
                .collect();
            let service = format!("svc{}", s % 4);
            let host = format!("h{s}");
            stream(
                &[("job", "pull"), ("service", &service), ("host", &host)],
                entries,
            )
        })
        .collect()
}

/// The default file name of a stream: its labels sorted, `name=value` joined by `,`.
fn default_name(s: &TestStream, ext: &str) -> String {
    let mut l = s.labels.clone();
    l.sort();
    let joined: Vec<String> = l.iter().map(|(k, v)| format!("{k}={v}")).collect();
    format!("{}{ext}", joined.join(","))
}

fn pull_cmd(server_addr: &str, args: &[&str]) -> Command {
    let mut c = Command::new(logq_bin());
    c.arg("pull").args(args).env("LOGQ_ADDR", server_addr);
    c
}

fn run_ok(mut c: Command) -> String {
    let out = c.output().expect("run logq");
    assert!(
        out.status.success(),
        "logq failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Output files under `dir` (relative paths), without the pull's own directory.
fn output_files(dir: &Path) -> Vec<String> {
    let mut out: Vec<String> = files_with_suffix(dir, "")
        .into_iter()
        .map(|p| p.strip_prefix(dir).unwrap().to_string_lossy().into_owned())
        .filter(|p| !p.starts_with(".logq-pull"))
        .collect();
    out.sort();
    out
}

fn raw_text(s: &TestStream) -> String {
    s.entries.iter().map(|(_, l)| format!("{l}\n")).collect()
}

fn assert_raw_files(dir: &Path, streams: &[TestStream], ext: &str, decode: impl Fn(&Path) -> String) {
    let mut want: Vec<String> = streams.iter().map(|s| default_name(s, ext)).collect();
    want.sort();
    assert_eq!(
        output_files(dir),
        want,
        "one file per stream, named from its labels"
    );
    for s in streams {
        let got = decode(&dir.join(default_name(s, ext)));
        let want = raw_text(s);
        if got != want {
            let first = got
                .lines()
                .zip(want.lines())
                .position(|(a, b)| a != b)
                .unwrap_or(got.lines().count().min(want.lines().count()));
            panic!(
                "{}: {} lines, want {}; first difference at line {first}",
                default_name(s, ext),
                got.lines().count(),
                want.lines().count()
            );
        }
    }
}

fn range_args(from: i64, to: i64) -> [String; 4] {
    ["--from".into(), from.to_string(), "--to".into(), to.to_string()]
}

#[test]
fn a_million_lines_pulled_by_four_workers_in_half_hour_splits_are_exact() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), &[]);
    let base = now_ns() - 4 * HOUR;
    let streams = corpus(16, 62_500, base, 3 * HOUR);
    push_streams(&server, None, &streams, true, 10_000);
    let (from, to) = (base, base + 3 * HOUR);
    let range = range_args(from, to);
    let parallel = ["--parallel-duration", "30m", "--parallel-max-workers", "4"];
    let query = r#"{job="pull"}"#;

    let raw = dir.path().join("raw");
    let mut c = pull_cmd(&server.addr, &[query, "--output-dir", raw.to_str().unwrap()]);
    c.args(&range).args(parallel);
    let stderr = run_ok(c);
    assert!(stderr.is_empty(), "quiet when stderr is not a terminal: {stderr}");
    assert_raw_files(&raw, &streams, ".log", |p| std::fs::read_to_string(p).unwrap());

    let zst = dir.path().join("zst");
    let mut c = pull_cmd(
        &server.addr,
        &[query, "--output-dir", zst.to_str().unwrap(), "--compress", "zstd"],
    );
    c.args(&range).args(parallel);
    run_ok(c);
    assert_raw_files(&zst, &streams, ".log.zst", |p| {
        let mut s = String::new();
        zstd::Decoder::new(std::fs::File::open(p).unwrap())
            .unwrap()
            .read_to_string(&mut s)
            .unwrap();
        s
    });

    // jsonl over the first hour, into a layout.
    let jsonl = dir.path().join("jsonl");
    let mut c = pull_cmd(
        &server.addr,
        &[
            query,
            "--output-dir",
            jsonl.to_str().unwrap(),
            "--format",
            "jsonl",
            "--layout",
            "{service}/{host}.jsonl",
        ],
    );
    c.args(range_args(from, from + HOUR)).args(parallel);
    run_ok(c);
    assert_eq!(output_files(&jsonl).len(), 16);
    for s in &streams {
        let labels: BTreeMap<&str, &str> = s.labels.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let path = jsonl.join(format!("{}/{}.jsonl", labels["service"], labels["host"]));
        let text = std::fs::read_to_string(&path).unwrap();
        let want: Vec<&(i64, String)> = s.entries.iter().filter(|(ts, _)| *ts < from + HOUR).collect();
        let rows: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(rows.len(), want.len(), "{}", path.display());
        for (row, (ts, line)) in rows.iter().zip(&want) {
            assert_eq!(row["line"].as_str().unwrap(), line);
            assert_eq!(row["labels"]["host"], labels["host"]);
            let t = chrono::DateTime::parse_from_rfc3339(row["timestamp"].as_str().unwrap()).unwrap();
            assert_eq!(t.timestamp_nanos_opt().unwrap(), *ts);
            assert!(row["metadata"].is_object());
        }
    }
}

/// Waits until `dir`'s pull state has appended at least `n` splits (or the pull ended).
fn wait_appended(dir: &Path, child: &mut Child, n: u64) -> bool {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if child.try_wait().unwrap().is_some() {
            return false;
        }
        let appended = std::fs::read_to_string(dir.join(".logq-pull/state.json"))
            .ok()
            .and_then(|t| serde_json::from_str::<Value>(&t).ok())
            .and_then(|v| v["appended"].as_u64())
            .unwrap_or(0);
        if appended >= n {
            return true;
        }
        assert!(Instant::now() < deadline, "the pull made no progress");
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn a_pull_killed_twice_resumes_without_duplicates_or_gaps() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), &[]);
    let base = now_ns() - 4 * HOUR;
    let streams = corpus(8, 20_000, base, 3 * HOUR);
    push_streams(&server, None, &streams, true, 10_000);
    let out = dir.path().join("out");
    let args = |c: &mut Command| {
        c.args(range_args(base, base + 3 * HOUR)).args([
            "--parallel-duration",
            "2m",
            "--parallel-max-workers",
            "2",
            "--compress",
            "gzip",
        ]);
    };
    let query = r#"{job="pull"}"#;
    let mut killed = 0;
    for target in [10, 40] {
        let mut c = pull_cmd(&server.addr, &[query, "--output-dir", out.to_str().unwrap()]);
        args(&mut c);
        let mut child = c.stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
        if wait_appended(&out, &mut child, target) {
            child.kill().unwrap();
            killed += 1;
        }
        child.wait().unwrap();
    }
    assert_eq!(killed, 2, "both runs were killed mid-way (90 splits)");
    let mut c = pull_cmd(&server.addr, &[query, "--output-dir", out.to_str().unwrap()]);
    args(&mut c);
    run_ok(c);
    assert_raw_files(&out, &streams, ".log.gz", |p| {
        let mut s = String::new();
        flate2::read::MultiGzDecoder::new(std::fs::File::open(p).unwrap())
            .read_to_string(&mut s)
            .unwrap();
        s
    });
    // The same command again finds the pull complete and changes nothing.
    let before: Vec<Vec<u8>> = output_files(&out)
        .iter()
        .map(|f| std::fs::read(out.join(f)).unwrap())
        .collect();
    let mut c = pull_cmd(&server.addr, &[query, "--output-dir", out.to_str().unwrap()]);
    args(&mut c);
    run_ok(c);
    let after: Vec<Vec<u8>> = output_files(&out)
        .iter()
        .map(|f| std::fs::read(out.join(f)).unwrap())
        .collect();
    assert!(before == after, "a finished pull run again rewrote its files");
    // Another query into the same directory is refused, naming the difference.
    let out2 = Command::new(logq_bin())
        .args([
            "pull",
            r#"{job="other"}"#,
            "--output-dir",
            out.to_str().unwrap(),
            "--since",
            "1h",
        ])
        .env("LOGQ_ADDR", &server.addr)
        .output()
        .unwrap();
    assert!(!out2.status.success());
    assert!(String::from_utf8_lossy(&out2.stderr).contains("holds another pull"));
}

#[test]
fn follow_keeps_files_exact_across_a_server_restart() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let port = free_loopback_port();
    let mut server = Server::start_on_port(&data, port, &[]);
    let labels = [[("job", "live"), ("host", "a")], [("job", "live"), ("host", "b")]];
    let mut pushed: Vec<TestStream> = labels.iter().map(|l| stream(l, Vec::new())).collect();
    let mut n = 0;
    let mut push = |server: &Server, pushed: &mut Vec<TestStream>, count: usize| {
        let now = now_ns();
        let batch: Vec<TestStream> = labels
            .iter()
            .enumerate()
            .map(|(s, l)| {
                let entries: Vec<(i64, String)> = (0..count)
                    .map(|i| (now + (i * 2 + s) as i64, format!("live {s} {}", n + i)))
                    .collect();
                stream(l, entries)
            })
            .collect();
        n += count;
        push_streams(server, None, &batch, false, 1000);
        for (p, b) in pushed.iter_mut().zip(batch) {
            p.entries.extend(b.entries);
        }
    };
    push(&server, &mut pushed, 100);
    let out = dir.path().join("out");
    let mut pull = pull_cmd(
        &server.addr,
        &[
            r#"{job="live"}"#,
            "--since",
            "10m",
            "--follow",
            "--output-dir",
            out.to_str().unwrap(),
        ],
    )
    .stdout(Stdio::null())
    .stderr(Stdio::null())
    .spawn()
    .unwrap();
    for _ in 0..4 {
        std::thread::sleep(Duration::from_millis(400));
        push(&server, &mut pushed, 50);
    }
    server.terminate();
    std::thread::sleep(Duration::from_millis(700));
    server = Server::start_on_port(&data, port, &[]);
    for _ in 0..4 {
        push(&server, &mut pushed, 50);
        std::thread::sleep(Duration::from_millis(400));
    }
    let files: Vec<(PathBuf, String)> = pushed
        .iter()
        .map(|s| (out.join(default_name(s, ".log")), raw_text(s)))
        .collect();
    let deadline = Instant::now() + Duration::from_secs(30);
    while files
        .iter()
        .any(|(p, want)| std::fs::read_to_string(p).ok().as_ref() != Some(want))
    {
        if Instant::now() > deadline {
            for (p, want) in &files {
                let got = std::fs::read_to_string(p).unwrap_or_default();
                eprintln!(
                    "{}: {} lines, want {}",
                    p.display(),
                    got.lines().count(),
                    want.lines().count()
                );
            }
            pull.kill().unwrap();
            panic!("the followed files did not end up exact");
        }
        assert!(pull.try_wait().unwrap().is_none(), "the pull --follow exited");
        std::thread::sleep(Duration::from_millis(100));
    }
    pull.kill().unwrap();
    pull.wait().unwrap();
    assert_eq!(output_files(&out).len(), 2);
}

fn export(server: &Server, tenant: Option<&str>, params: &[(&str, &str)]) -> Reply {
    let headers: Vec<(&str, &str)> = tenant.map(|t| ("X-Scope-OrgID", t)).into_iter().collect();
    get(&server.url("/logq/api/v1/export"), params, &headers)
}

#[test]
fn export_answers_everything_with_a_trailer_and_refuses_bad_requests() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    let base = now_ns() - HOUR;
    let streams = corpus(3, 7_000, base, HOUR / 2);
    push_streams(&server, Some("t1"), &streams, false, 5_000);
    let now = now_ns().to_string();

    // A range far beyond the query limits (from the epoch), more entries than any query limit.
    let r = export(
        &server,
        Some("t1"),
        &[("query", r#"{job="pull"}"#), ("start", "0"), ("end", &now)],
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let limited = get(
        &server.url("/loki/api/v1/query_range"),
        &[("query", r#"{job="pull"}"#), ("start", "0"), ("end", &now)],
        &[("X-Scope-OrgID", "t1")],
    );
    assert_eq!(limited.status, 400, "query_range refuses this range");
    let lines: Vec<Value> = r.body.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let (trailer, entries) = lines.split_last().unwrap();
    assert_eq!(trailer["trailer"]["entries"], 21_000);
    assert_eq!(trailer["trailer"]["streams"], 3);
    assert_eq!(entries.len(), 21_000);
    let mut by_stream: BTreeMap<String, Vec<(i64, String)>> = BTreeMap::new();
    let mut last_ts = i64::MIN;
    let mut bytes = 0;
    for e in entries {
        let ts: i64 = e["ts"].as_str().unwrap().parse().unwrap();
        assert!(ts >= last_ts, "entries come oldest first");
        last_ts = ts;
        assert!(e["metadata"].is_object());
        let line = e["line"].as_str().unwrap().to_string();
        bytes += line.len();
        by_stream
            .entry(e["stream"]["host"].as_str().unwrap().to_string())
            .or_default()
            .push((ts, line));
    }
    assert_eq!(trailer["trailer"]["bytes"], bytes);
    for s in &streams {
        let host = &s.labels.iter().find(|(k, _)| k == "host").unwrap().1;
        assert!(by_stream[host] == s.entries, "stream {host} exact and in order");
    }

    // A tenant with no data: an empty answer with its trailer.
    let r = export(
        &server,
        Some("nobody"),
        &[("query", r#"{job="pull"}"#), ("since", "24h")],
    );
    assert_eq!(r.status, 200);
    let only: Vec<Value> = r.body.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(only.len(), 1, "{}", r.body);
    assert_eq!(only[0]["trailer"]["entries"], 0);

    // Bad requests: 400 with the reason.
    let r = export(&server, None, &[("query", r#"{job="pull""#)]);
    assert_eq!(r.status, 400);
    assert!(r.body.contains("parse error"), "{}", r.body);
    let r = export(
        &server,
        None,
        &[("query", r#"count_over_time({job="pull"}[1m])"#)],
    );
    assert_eq!(r.status, 400);
    assert!(r.body.contains("log queries only"), "{}", r.body);
    let r = export(
        &server,
        None,
        &[("query", r#"{job="pull"}"#), ("start", "20"), ("end", "10")],
    );
    assert_eq!(r.status, 400);
    let r = export(&server, None, &[]);
    assert_eq!(r.status, 400);
    assert!(r.body.contains("query"), "{}", r.body);

    // Structured metadata comes with its entry; a filter applies.
    let meta = br#"{"streams":[{"stream":{"job":"meta"},"values":[["TS","with meta",{"trace_id":"abc"}],["TS2","other line"]]}]}"#;
    let ts = (now_ns() - 60_000_000_000).to_string();
    let ts2 = (now_ns() - 59_000_000_000).to_string();
    let meta = String::from_utf8_lossy(meta)
        .replace("TS2", &ts2)
        .replace("TS", &ts);
    let p = post(
        &server.url("/loki/api/v1/push"),
        &[("Content-Type", "application/json")],
        meta.as_bytes(),
    );
    assert_eq!(p.status, 204, "{}", p.body);
    let r = export(
        &server,
        None,
        &[("query", r#"{job="meta"} |= "meta""#), ("since", "1h")],
    );
    let rows: Vec<Value> = r.body.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(rows.len(), 2, "{}", r.body);
    assert_eq!(rows[0]["metadata"]["trace_id"], "abc");
    assert_eq!(rows[0]["stream"], serde_json::json!({"job": "meta"}));
}
