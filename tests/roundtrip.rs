//! End-to-end: push 30,000+ lines as 16 streams (half JSON, half protobuf) to a real `logq
//! serve`, read every line back exactly in both directions, let flushing and compaction move
//! them into chunks and Parquet blocks, SIGKILL the server, restart it, and read them all again.

mod util;

use std::path::Path;

use logq_loadgen::LogGenerator;
use util::*;

const HOUR: i64 = 3_600_000_000_000;

/// Timestamps for `n` lines spread over two hours ending one minute from now (the push API
/// accepts 10 minutes ahead): closed windows get flushed and closed hours compacted while the
/// test runs, while the newest lines sit in a window that cannot close during the test, so a
/// restart must replay them from the write-ahead log whatever the time of day.
fn spread(n: i64) -> (i64, i64) {
    let step = 2 * HOUR / n;
    (now_ns() - 2 * HOUR + 60_000_000_000, step)
}

/// 16 streams x 2,000 generated lines.
fn generated_streams() -> Vec<TestStream> {
    let mut gen = LogGenerator::new(42);
    let (base, step) = spread(32_000);
    let services = LogGenerator::services();
    (0..16)
        .map(|s| {
            let service = services[s % services.len()];
            let host = format!("host-{}", s / 4);
            let entries = (0..2000)
                .map(|i| {
                    let ts = base + (i * 16 + s as i64) * step;
                    (ts, gen.line_for(service, &host, ts).line)
                })
                .collect();
            TestStream {
                labels: vec![
                    ("test".into(), "generated".into()),
                    ("service".into(), service.into()),
                    ("host".into(), host),
                    ("stream".into(), format!("s{s:02}")),
                ],
                entries,
            }
        })
        .collect()
}

/// One stream per loghub file, lines split on `\n` with a trailing `\r` removed.
fn loghub_streams(dir: &Path) -> Vec<TestStream> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .collect();
    files.sort();
    let n = files.len() as i64;
    let (base, step) = spread(2000 * n);
    files
        .iter()
        .enumerate()
        .map(|(fi, path)| {
            let text = String::from_utf8_lossy(&std::fs::read(path).unwrap()).into_owned();
            let entries = text
                .split('\n')
                .map(|l| l.strip_suffix('\r').unwrap_or(l))
                .filter(|l| !l.is_empty())
                .enumerate()
                .map(|(i, l)| (base + (i as i64 * n + fi as i64) * step, l.to_string()))
                .collect();
            let stem = path.file_stem().unwrap().to_string_lossy().into_owned();
            TestStream {
                labels: vec![("test".into(), "loghub".into()), ("source".into(), stem)],
                entries,
            }
        })
        .collect()
}

fn push_half_json_half_protobuf(server: &Server, streams: &[TestStream]) {
    let (json, proto): (Vec<_>, Vec<_>) = streams.iter().cloned().enumerate().partition(|(i, _)| i % 2 == 0);
    let json: Vec<TestStream> = json.into_iter().map(|(_, s)| s).collect();
    let proto: Vec<TestStream> = proto.into_iter().map(|(_, s)| s).collect();
    push_streams(server, None, &json, false, 500);
    push_streams(server, None, &proto, true, 500);
}

fn check_all(server: &Server, query: &str, streams: &[TestStream], what: &str) {
    let start = streams
        .iter()
        .flat_map(|s| s.entries.first())
        .map(|e| e.0)
        .min()
        .unwrap();
    let end = streams
        .iter()
        .flat_map(|s| s.entries.last())
        .map(|e| e.0)
        .max()
        .unwrap()
        + 1;
    for direction in ["forward", "backward"] {
        let got = read_all(server, None, query, start, end, direction);
        assert_same(
            &got,
            &expected(streams, direction),
            &format!("{what}, {direction}"),
        );
    }
}

fn roundtrip(streams: Vec<TestStream>, query: &str) {
    let total: usize = streams.iter().map(|s| s.entries.len()).sum();
    assert!(total >= 30_000, "only {total} lines");
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start_process(dir.path(), FAST_FLAGS);
    push_half_json_half_protobuf(&server, &streams);
    // Read-your-writes: everything is queryable as soon as the pushes returned.
    check_all(&server, query, &streams, "right after push");

    // Closed windows reach chunks, closed hours reach Parquet blocks.
    let store = dir.path().join("store");
    wait_for(30, "a compacted block", || {
        !files_with_suffix(&store, ".parquet").is_empty()
    });
    check_all(&server, query, &streams, "after compaction");

    server.kill9();
    server.restart();
    // The unflushed tail came back from the write-ahead log.
    let metrics = get(&server.url("/metrics"), &[], &[]).body;
    let replayed: u64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("logq_ingester_entries_total "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    assert!(replayed > 0, "nothing was replayed from the WAL after SIGKILL");
    check_all(&server, query, &streams, "after SIGKILL and restart");

    server.terminate();
    server.restart();
    check_all(&server, query, &streams, "after SIGTERM and restart");
}

#[test]
fn generated_lines_survive_sigkill_exactly() {
    roundtrip(generated_streams(), r#"{test="generated"}"#);
}

#[test]
fn loghub_lines_survive_sigkill_exactly() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/loghub");
    if !dir.is_dir() {
        eprintln!("skipping: {} not found", dir.display());
        return;
    }
    let streams = loghub_streams(&dir);
    assert_eq!(streams.len(), 16);
    roundtrip(streams, r#"{test="loghub"}"#);
}
