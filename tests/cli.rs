//! The logcli-style commands end to end: metric results in every output format, `series`,
//! `stats`, `volume`, `volume_range`, `--stats`, `--org-id`, colours, completions and errors.

mod util;

use std::process::{Command, Output};

use serde_json::Value;
use util::*;

fn logq(server: &Server, args: &[&str]) -> Output {
    Command::new(logq_bin())
        .args(args)
        .env("LOGQ_ADDR", &server.addr)
        .env_remove("LOGQ_ORG_ID")
        .output()
        .expect("run logq")
}

fn ok(server: &Server, args: &[&str]) -> String {
    let out = logq(server, args);
    assert!(
        out.status.success(),
        "logq {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn fails(server: &Server, args: &[&str]) -> String {
    let out = logq(server, args);
    assert!(!out.status.success(), "logq {args:?} should fail");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// 60 lines of `service="api"` on hosts a and b (30 each) over the last minutes, and 5 of
/// `service="db"` for tenant `other`.
fn setup() -> (tempfile::TempDir, Server) {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    let base = now_ns() - 240_000_000_000;
    let mk = |host: &str, off: i64| -> TestStream {
        stream(
            &[("service", "api"), ("host", host)],
            (0..30)
                .map(|i| (base + i * 4_000_000_000 + off, format!("{host} request {i}")))
                .collect(),
        )
    };
    push_streams(&server, None, &[mk("a", 0), mk("b", 1)], false, 100);
    push_streams(
        &server,
        Some("other"),
        &[stream(
            &[("service", "db")],
            (0..5).map(|i| (base + i, format!("db {i}"))).collect(),
        )],
        false,
        100,
    );
    (dir, server)
}

#[test]
fn metric_queries_print_matrices_vectors_and_scalars_in_every_format() {
    let (_dir, server) = setup();
    let q = r#"sum by (host) (count_over_time({service="api"}[10m]))"#;
    let default = ok(&server, &["query", q, "--since", "10m", "--step", "1m"]);
    let matrix: Value = serde_json::from_str(&default).expect("default output is logcli's JSON");
    let series = matrix.as_array().unwrap();
    assert_eq!(series.len(), 2);
    assert!(series
        .iter()
        .all(|s| s["metric"]["host"].is_string() && s["values"].is_array()));
    let last = |s: &Value| {
        s["values"].as_array().unwrap().last().unwrap()[1]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(last(&series[0]), "30");

    let jsonl = ok(&server, &["query", q, "--since", "10m", "-o", "jsonl"]);
    let rows: Vec<Value> = jsonl.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(rows.len(), 2, "one object per series");

    let raw = ok(
        &server,
        &["query", q, "--since", "10m", "--step", "1m", "-o", "raw"],
    );
    let first = raw.lines().next().unwrap();
    assert!(first.starts_with(r#"{host="a"} "#), "{raw}");
    assert!(raw.lines().all(|l| l.split(' ').count() == 3), "{raw}");

    let instant = ok(
        &server,
        &[
            "instant-query",
            r#"sum(count_over_time({service="api"}[10m]))"#,
            "-o",
            "raw",
        ],
    );
    assert!(instant.trim_end().ends_with(" 60"), "{instant}");
    let scalar = ok(&server, &["instant-query", "vector(3) * 2", "-o", "jsonl"]);
    let v: Value = serde_json::from_str(scalar.trim()).unwrap();
    assert!(v.is_object(), "{scalar}");

    // --stats goes to stderr, the result to stdout.
    let out = logq(
        &server,
        &[
            "query",
            r#"{service="api"}"#,
            "--since",
            "10m",
            "--stats",
            "-o",
            "raw",
        ],
    );
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 30);
    let stats = String::from_utf8_lossy(&out.stderr);
    assert!(stats.contains("Summary."), "{stats}");
}

#[test]
fn series_stats_volume_and_tenants() {
    let (_dir, server) = setup();
    let series = ok(&server, &["series", r#"{service="api"}"#, "--since", "1h"]);
    assert_eq!(
        series.lines().collect::<Vec<_>>(),
        vec![r#"{host="a", service="api"}"#, r#"{host="b", service="api"}"#]
    );
    let analyzed = ok(&server, &["series", "{}", "--since", "1h", "--analyze-labels"]);
    assert!(analyzed.contains("Total Streams:  2"), "{analyzed}");
    assert!(analyzed
        .lines()
        .any(|l| l.split_whitespace().collect::<Vec<_>>() == ["host", "2", "2"]));

    let other = ok(
        &server,
        &[
            "series", "{}", "--since", "1h", "--org-id", "other", "-o", "jsonl",
        ],
    );
    assert_eq!(other.trim(), r#"{"service":"db"}"#, "--org-id picks the tenant");
    let lines = ok(
        &server,
        &[
            "query",
            "{service=\"db\"}",
            "--since",
            "1h",
            "--org-id",
            "other",
            "-o",
            "raw",
        ],
    );
    assert_eq!(lines.lines().count(), 5);

    let stats = ok(&server, &["stats", r#"{service="api"}"#, "--since", "1h"]);
    assert!(
        stats.contains("streams: 2") && stats.contains("entries: 60"),
        "{stats}"
    );
    let stats_json: Value =
        serde_json::from_str(&ok(&server, &["stats", r#"{service="api"}"#, "-o", "jsonl"])).unwrap();
    assert_eq!(stats_json["entries"], 60);

    let volume = ok(
        &server,
        &[
            "volume",
            r#"{service="api"}"#,
            "--since",
            "1h",
            "--target-labels",
            "host",
            "-o",
            "jsonl",
        ],
    );
    let rows: Vec<Value> = volume.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(rows.len(), 2, "{volume}");
    assert!(rows
        .iter()
        .all(|r| r["metric"]["host"].is_string() && r["value"][1].is_string()));

    let range = ok(
        &server,
        &[
            "volume_range",
            r#"{service="api"}"#,
            "--since",
            "1h",
            "--step",
            "10m",
            "--target-labels",
            "host",
            "-o",
            "jsonl",
        ],
    );
    let rows: Vec<Value> = range.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(rows.len(), 2, "{range}");
    // The CLI prints what the server answers: a matrix ("values") per Loki's shape.
    assert!(
        rows.iter()
            .all(|r| r["metric"]["host"].is_string() && (r["values"].is_array() || r["value"].is_array())),
        "{range}"
    );
}

#[test]
fn colours_completions_and_errors() {
    let (_dir, server) = setup();
    let coloured = ok(
        &server,
        &[
            "query",
            r#"{service="api"}"#,
            "--since",
            "1h",
            "--limit",
            "1",
            "--color",
            "always",
        ],
    );
    assert!(coloured.contains("\x1b["), "{coloured:?}");
    let plain = ok(
        &server,
        &["query", r#"{service="api"}"#, "--since", "1h", "--limit", "1"],
    );
    assert!(
        !plain.contains("\x1b["),
        "no colours when stdout is not a terminal"
    );

    for shell in ["bash", "zsh", "fish"] {
        let script = ok(&server, &["completions", shell]);
        assert!(
            script.contains("pull") && script.contains("volume_range"),
            "{shell}"
        );
    }

    let e = fails(&server, &["query", "{a=\"b\"}", "--addr", "http://127.0.0.1:1"]);
    assert!(e.contains("cannot reach the server at http://127.0.0.1:1"), "{e}");
    let e = fails(&server, &["series", "{a=\"b\"}", "--from", "last tuesday"]);
    assert!(e.contains("invalid --from") && e.contains("last tuesday"), "{e}");
    let e = fails(&server, &["stats", "{a="]);
    assert!(e.contains("server answered 400"), "{e}");
    let e = fails(
        &server,
        &[
            "pull",
            "{a=\"b\"}",
            "--since",
            "1h",
            "--output-dir",
            "/dev/null/x",
        ],
    );
    assert!(e.contains("--output-dir"), "{e}");
    let e = fails(&server, &["pull", "{a=\"b\"}", "--output-dir", "/tmp/x"]);
    assert!(e.contains("--since"), "{e}");
    let e = fails(
        &server,
        &[
            "pull",
            "count_over_time({a=\"b\"}[1m])",
            "--since",
            "1h",
            "--output-dir",
            _dir.path().join("o").to_str().unwrap(),
        ],
    );
    assert!(e.contains("log queries only"), "{e}");
}
