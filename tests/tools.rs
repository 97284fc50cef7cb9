//! End-to-end tests of the tooling commands: `logq gen` (stdout, files, push) and `logq bench`
//! on a tiny corpus (the suite only checks that the benchmark runs; it never judges speed).

mod util;

use std::process::Command;

use util::*;

fn logq(args: &[&str]) -> std::process::Output {
    Command::new(logq_bin()).args(args).output().expect("run logq")
}

#[test]
fn gen_writes_reproducible_lines_to_stdout_files_and_push() {
    let a = logq(&[
        "gen",
        "--lines",
        "500",
        "--seed",
        "9",
        "--start",
        "2024-05-01T00:00:00Z",
    ]);
    let b = logq(&[
        "gen",
        "--lines",
        "500",
        "--seed",
        "9",
        "--start",
        "2024-05-01T00:00:00Z",
    ]);
    assert!(a.status.success(), "{}", String::from_utf8_lossy(&a.stderr));
    assert_eq!(a.stdout, b.stdout, "same seed, same lines");
    let c = logq(&["gen", "--lines", "500", "--seed", "10"]);
    assert_ne!(a.stdout, c.stdout);

    let dir = tempfile::tempdir().unwrap();
    let files_dir = dir.path().join("files");
    let out = logq(&[
        "gen",
        "--lines",
        "400",
        "--streams",
        "16",
        "--dir",
        files_dir.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let files = files_with_suffix(&files_dir, ".log");
    assert_eq!(files.len(), 16, "one file per service and host");
    assert!(files
        .iter()
        .any(|f| f.to_string_lossy().contains("nginx-web-1.log")));

    let server = Server::start(&dir.path().join("server"), &[]);
    let push_url = server.url("/loki/api/v1/push");
    let out = logq(&[
        "gen",
        "--lines",
        "1234",
        "--duration",
        "10m",
        "--batch",
        "100",
        "--push",
        &push_url,
        "--org-id",
        "gen",
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let got = read_all(
        &server,
        Some("gen"),
        r#"{env="bench"}"#,
        now_ns() - 3_600_000_000_000,
        now_ns(),
        "forward",
    );
    assert_eq!(got.len(), 1234);

    let bad = logq(&["gen", "--bytes", "12 parsecs"]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("invalid size"));
}

#[test]
fn bench_runs_on_a_tiny_corpus() {
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().join("bench");
    let out = logq(&[
        "bench",
        "--size",
        "400KB",
        "--streams",
        "8",
        "--no-baselines",
        "--dir",
        work.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let results: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(work.join("results.json")).unwrap()).unwrap();
    let rows = results["rows"].as_array().unwrap();
    let value = |measure: &str| -> String {
        rows.iter()
            .find(|r| r["measure"] == measure)
            .unwrap_or_else(|| panic!("no row {measure}"))["value"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(value("lines"), results["lines"].to_string());
    assert!(value("lines/s").parse::<f64>().unwrap() > 0.0);
    assert!(value("stored MB").parse::<f64>().unwrap() > 0.0);
    assert!(value("blocks").parse::<u64>().unwrap() >= 1);
    let needle = rows
        .iter()
        .find(|r| r["measure"] == "needle literal (cold) s")
        .unwrap();
    let expected = results["lines"].as_u64().unwrap() / 100_000;
    assert!(
        needle["note"]
            .as_str()
            .unwrap()
            .starts_with(&format!("{expected} returned")),
        "{needle}"
    );
    assert!(std::fs::read_to_string(work.join("results.md"))
        .unwrap()
        .contains("| ingest | lines/s |"));
}

#[test]
fn compact_once_turns_chunks_into_blocks_and_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    // Flush quickly, never compact inside the server.
    let mut server = Server::start(
        dir.path(),
        &[
            "--flush-check-interval",
            "200ms",
            "--window-grace",
            "0s",
            "--compact-interval",
            "1000h",
        ],
    );
    // 2.5 hours of data ending half an hour before the current hour: every hour is closed.
    let hour = 3_600_000_000_000;
    let base = (now_ns() / hour) * hour - 3 * hour;
    let streams: Vec<TestStream> = (0..5)
        .map(|s| TestStream {
            labels: vec![("app".into(), "compact".into()), ("n".into(), s.to_string())],
            entries: (0..360)
                .map(|i| (base + (i * 5 + s) * 5_000_000_000, format!("line {i} of {s}")))
                .collect(),
        })
        .collect();
    push_streams(&server, None, &streams, true, 200);
    let store = dir.path().join("store");
    wait_for(30, "chunks", || !files_with_suffix(&store, ".chunk").is_empty());
    server.terminate();
    assert!(files_with_suffix(&store, ".parquet").is_empty());

    let data_dir = dir.path().to_str().unwrap();
    let out = logq(&[
        "compact",
        "--once",
        "--data-dir",
        data_dir,
        "--hour-grace",
        "0s",
        "--delete-grace",
        "0s",
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("1800 entries"), "{text}");
    assert!(
        files_with_suffix(&store, ".chunk").is_empty(),
        "replaced chunks deleted"
    );
    assert!(!files_with_suffix(&store, ".parquet").is_empty());

    server.restart();
    let got = read_all(&server, None, r#"{app="compact"}"#, base, now_ns(), "forward");
    assert_same(&got, &expected(&streams, "forward"), "after compact --once");
    // One stream of five is read with ranged GETs of its pages only: same answer.
    for (n, s) in streams.iter().enumerate() {
        let q = format!(r#"{{app="compact",n="{n}"}}"#);
        let got = read_all(&server, None, &q, base, now_ns(), "backward");
        assert_same(&got, &expected(std::slice::from_ref(s), "backward"), &q);
    }
    let bad = logq(&["compact", "--data-dir", data_dir]);
    assert!(!bad.status.success(), "--once is required");
    let bad = logq(&[
        "compact",
        "--once",
        "--data-dir",
        data_dir,
        "--retention-tenant",
        "nonsense",
    ]);
    assert!(String::from_utf8_lossy(&bad.stderr).contains("TENANT=DURATION"));

    // A tenant retention of two hours drops the hour blocks that lie entirely before the cutoff
    // and keeps everything newer.
    server.terminate();
    let blocks_before = files_with_suffix(&store, ".parquet").len();
    let out = logq(&[
        "compact",
        "--once",
        "--data-dir",
        data_dir,
        "--retention-tenant",
        "fake=2h",
        "--delete-grace",
        "0s",
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let cutoff = now_ns() - 2 * hour;
    assert!(
        files_with_suffix(&store, ".parquet").len() < blocks_before,
        "expired blocks deleted"
    );
    server.restart();
    let got = read_all(&server, None, r#"{app="compact"}"#, base, now_ns(), "forward");
    let newer: Vec<Got> = expected(&streams, "forward")
        .into_iter()
        .filter(|g| g.0 >= cutoff)
        .collect();
    assert!(!newer.is_empty());
    assert!(got.len() < 1800, "old data expired");
    assert_eq!(
        &got[got.len() - newer.len()..],
        &newer[..],
        "data newer than the cutoff is kept"
    );
    assert!(
        got.iter().all(|g| g.0 >= cutoff - hour),
        "nothing older than the cutoff's hour"
    );
}

#[test]
fn compact_day_grace_says_when_hour_blocks_become_a_day_block() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start(
        dir.path(),
        &[
            "--flush-check-interval",
            "200ms",
            "--window-grace",
            "0s",
            "--compact-interval",
            "1000h",
        ],
    );
    // Two hours of the day before yesterday: that day ended between one and two days ago.
    let (hour, day) = (3_600_000_000_000, 86_400_000_000_000);
    let base = (now_ns() / day) * day - 2 * day + 5 * hour;
    let streams: Vec<TestStream> = (0..3)
        .map(|s| TestStream {
            labels: vec![("app".into(), "days".into()), ("n".into(), s.to_string())],
            entries: (0..360)
                .map(|i| (base + i * 20_000_000_000 + s, format!("line {i} of {s}")))
                .collect(),
        })
        .collect();
    push_streams(&server, None, &streams, true, 200);
    let store = dir.path().join("store");
    wait_for(30, "chunks", || !files_with_suffix(&store, ".chunk").is_empty());
    server.terminate();
    let data_dir = dir.path().to_str().unwrap();
    let compact = |day_grace: &str| {
        let out = logq(&[
            "compact",
            "--once",
            "--data-dir",
            data_dir,
            "--hour-grace",
            "0s",
            "--delete-grace",
            "0s",
            "--day-grace",
            day_grace,
            "--day-codec",
            "brotli:5",
        ]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let day_blocks = || {
        files_with_suffix(&store, ".parquet")
            .iter()
            .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with("day-"))
            .count()
    };
    // `off` keeps the two hour blocks; a grace longer than the day's age too.
    compact("off");
    assert_eq!(
        (files_with_suffix(&store, ".parquet").len(), day_blocks()),
        (2, 0)
    );
    compact("2d");
    assert_eq!(
        (files_with_suffix(&store, ".parquet").len(), day_blocks()),
        (2, 0)
    );
    // A grace the day has outlived merges them (here into a day block with Brotli lines).
    let text = compact("1d");
    assert!(text.contains("merged 2 hour blocks into 1 day blocks"), "{text}");
    assert_eq!(
        (files_with_suffix(&store, ".parquet").len(), day_blocks()),
        (1, 1)
    );
    let bad = logq(&["compact", "--once", "--data-dir", data_dir, "--day-grace", "soon"]);
    assert!(!bad.status.success());

    server.restart();
    let got = read_all(&server, None, r#"{app="days"}"#, base, now_ns(), "forward");
    assert_same(&got, &expected(&streams, "forward"), "after the day block");
}

#[test]
fn stream_retention_drops_only_the_selected_streams_old_entries() {
    let dir = tempfile::tempdir().unwrap();
    let hour = 3_600_000_000_000;
    let mut server = Server::start(
        dir.path(),
        &[
            "--flush-check-interval",
            "200ms",
            "--window-grace",
            "0s",
            "--compact-interval",
            "1000h",
        ],
    );
    // Three closed hours of data, a line every 20 s, in two streams.
    let base = (now_ns() / hour) * hour - 4 * hour;
    let lines = |tag: &str| -> Vec<(i64, String)> {
        (0..540)
            .map(|i| (base + i * 20_000_000_000, format!("{tag} {i}")))
            .collect()
    };
    let debug = TestStream {
        labels: vec![("app".into(), "x".into()), ("level".into(), "debug".into())],
        entries: lines("debug"),
    };
    let info = TestStream {
        labels: vec![("app".into(), "x".into()), ("level".into(), "info".into())],
        entries: lines("info"),
    };
    push_streams(&server, None, &[debug.clone(), info.clone()], true, 200);
    let store = dir.path().join("store");
    wait_for(30, "chunks", || !files_with_suffix(&store, ".chunk").is_empty());
    server.terminate();
    let data_dir = dir.path().to_str().unwrap();
    let out = logq(&[
        "compact",
        "--once",
        "--data-dir",
        data_dir,
        "--hour-grace",
        "0s",
        "--delete-grace",
        "0s",
        "--retention-stream",
        r#"{level="debug"}=2h"#,
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let cutoff = now_ns() - 2 * hour;
    server.restart();
    let got = read_all(&server, None, r#"{app="x"}"#, base, now_ns(), "forward");
    let mut want: Vec<Got> = expected(&[debug, info], "forward")
        .into_iter()
        .filter(|g| !(g.1.contains("debug") && g.0 <= cutoff))
        .collect();
    // Entries at the same instant as the cutoff may fall either side of it: compare by content.
    want.retain(|g| (g.0 - cutoff).abs() > 1_000_000_000);
    let got: Vec<Got> = got
        .into_iter()
        .filter(|g| (g.0 - cutoff).abs() > 1_000_000_000)
        .collect();
    assert_same(&got, &want, "after stream retention");
    assert!(
        got.iter().any(|g| g.1.contains("debug")),
        "recent debug lines stay"
    );

    let bad = logq(&[
        "compact",
        "--once",
        "--data-dir",
        data_dir,
        "--retention-stream",
        "level=debug=1d",
    ]);
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("SELECTOR=DURATION"),
        "{}",
        String::from_utf8_lossy(&bad.stderr)
    );
}
