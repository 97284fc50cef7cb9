//! Distributed mode end to end: real `logq serve --kafka` processes (distributor, ingesters,
//! querier) and a real Kafka-protocol broker on loopback.
//!
//! The broker: `LOGQ_TEST_KAFKA=host:port` names an external one (Apache Kafka, Redpanda,
//! tansu); otherwise each test starts librdkafka's mock cluster in a child process
//! (`logq kafka-mock`), which the `logq` processes reach over TCP like any broker. Every test
//! uses its own topic and consumer group, so the suite can share one external broker.

mod util;

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use util::*;

/// A broker for one test, and the names it should use.
struct Broker {
    bootstrap: String,
    child: Option<Child>,
    environment: String,
    /// librdkafka's mock cluster: it does not implement static group membership (a restarted
    /// static member waits about two session timeouts), so ingesters join it dynamically.
    mock: bool,
}

impl Broker {
    /// The broker named by `LOGQ_TEST_KAFKA`, else a mock cluster for this test.
    fn start(test: &str, partitions: u32) -> Broker {
        match std::env::var("LOGQ_TEST_KAFKA") {
            Ok(external) => Broker {
                bootstrap: external,
                child: None,
                environment: Self::environment(test),
                mock: false,
            },
            Err(_) => Self::start_mock(test, partitions),
        }
    }

    fn environment(test: &str) -> String {
        format!("{test}-{}-{}", std::process::id(), now_ns() % 1_000_000)
    }

    /// A mock cluster (librdkafka's) in a child process, whatever `LOGQ_TEST_KAFKA` says.
    fn start_mock(test: &str, partitions: u32) -> Broker {
        let environment = Self::environment(test);
        let topic = format!("h-{environment}");
        let mut child = Command::new(logq_bin())
            .args(["kafka-mock", "--topic", &format!("{topic}:{partitions}")])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start logq kafka-mock");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .expect("read the mock cluster's address");
        let bootstrap = line
            .trim()
            .strip_prefix("bootstrap=")
            .unwrap_or_else(|| panic!("unexpected kafka-mock output {line:?}"))
            .to_string();
        Broker {
            bootstrap,
            child: Some(child),
            environment,
            mock: true,
        }
    }

    /// A tansu broker (a real Kafka-protocol broker: `cargo install tansu --features dynostore`,
    /// memory engine) in a child process; `None` when `tansu` is not installed, unless
    /// `LOGQ_REQUIRE_TANSU` is set (CI installs it), which makes that a failure.
    fn start_tansu(test: &str) -> Option<Broker> {
        let bin = std::env::var_os("LOGQ_TANSU")
            .map(std::path::PathBuf::from)
            .or_else(|| {
                let home = std::path::PathBuf::from(std::env::var_os("HOME")?).join(".cargo/bin/tansu");
                let on_path = Command::new("tansu").arg("--help").output().is_ok();
                Some(if on_path { "tansu".into() } else { home })
            })?;
        if Command::new(&bin).arg("--help").output().is_err() {
            assert!(
                std::env::var_os("LOGQ_REQUIRE_TANSU").is_none(),
                "tansu is not installed (scripts/test.sh installs it)"
            );
            eprintln!("skipping: tansu is not installed (cargo install tansu --features dynostore)");
            return None;
        }
        let port = free_loopback_port();
        let url = format!("tcp://127.0.0.1:{port}");
        let child = Command::new(&bin)
            .args(["broker", "--storage-engine", "memory://tansu/"])
            .args([
                "--kafka-listener-url",
                &url,
                "--kafka-advertised-listener-url",
                &url,
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start tansu");
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "tansu did not start listening");
            std::thread::sleep(Duration::from_millis(50));
        }
        Some(Broker {
            bootstrap: format!("127.0.0.1:{port}"),
            child: Some(child),
            environment: Self::environment(test),
            mock: false,
        })
    }

    fn topic(&self) -> String {
        format!("h-{}", self.environment)
    }

    /// `logq serve` flags joining this broker's topic and group as `target`.
    fn flags(&self, target: &str, store: &std::path::Path) -> Vec<String> {
        let mut f: Vec<String> = FAST_FLAGS.iter().map(|s| s.to_string()).collect();
        f.extend(
            [
                "--kafka",
                &self.bootstrap,
                "--environment",
                &self.environment,
                "--kafka-group",
                &format!("g-{}", self.environment),
                "--kafka-partitions",
                "4",
                "--target",
                target,
                "--store",
                &store.to_string_lossy(),
                // Small chunks: flushes happen all the time, so kills land mid-flush.
                "--max-chunk-bytes",
                "20000",
                // A killed ingester leaves the group quickly.
                "-X",
                "session.timeout.ms=6000",
                "-X",
                "heartbeat.interval.ms=500",
            ]
            .map(String::from),
        );
        if self.mock {
            f.extend(["--kafka-instance-id", "off"].map(String::from));
        }
        f
    }

    fn producer(&self) -> ThreadedProducer<DefaultProducerContext> {
        ClientConfig::new()
            .set("bootstrap.servers", &self.bootstrap)
            .create()
            .expect("create a test producer")
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            drop(c.stdin.take());
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn start(dir: &std::path::Path, name: &str, flags: &[String]) -> Server {
    let refs: Vec<&str> = flags.iter().map(String::as_str).collect();
    Server::start_process(&dir.join(name), &refs)
}

/// Reads until `want` entries are visible (ingestion is asynchronous in Kafka mode), then
/// asserts the exact entries.
fn assert_eventually_exact(
    server: &Server,
    query: &str,
    streams: &[TestStream],
    start: i64,
    end: i64,
    secs: u64,
) {
    let want = expected(streams, "forward");
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let got = read_all(server, None, query, start, end, "forward");
        if got.len() >= want.len() || Instant::now() > deadline {
            assert_same(&got, &want, query);
            return;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

fn metric(server: &Server, name: &str) -> f64 {
    let r = get(&server.url("/metrics"), &[], &[]);
    r.body
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("metric {name} not in /metrics"))
}

/// Lines `from..to` of `hosts` streams, at distinct timestamps starting at `t0`.
fn numbered_streams(hosts: usize, from: usize, to: usize, t0: i64) -> Vec<TestStream> {
    (0..hosts)
        .map(|h| {
            let host = format!("web-{h}");
            stream(
                &[("service", "api"), ("host", &host)],
                (from..to)
                    .map(|i| {
                        (
                            t0 + (i * hosts + h) as i64 * 1_000,
                            format!("host {h} line {i} status=200"),
                        )
                    })
                    .collect(),
            )
        })
        .collect()
}

#[test]
fn kafka_mode_push_100k_lines_reads_back_exactly() {
    let broker = Broker::start("push100k", 4);
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let server = start(dir.path(), "all", &broker.flags("all", &store));
    let t0 = now_ns() - 120 * 1_000_000_000;
    let streams = numbered_streams(8, 0, 12_500, t0);
    push_streams(&server, None, &streams, true, 1_000);
    assert_eventually_exact(&server, r#"{service="api"}"#, &streams, t0, now_ns(), 120);
    assert!(metric(&server, "logq_distributor_kafka_records_total") >= 100.0);
    assert_eq!(metric(&server, "logq_ingester_decode_errors_total"), 0.0);
}

/// Pushes `batches` batches of `per_batch` lines per host to `server` from a thread, pausing
/// between batches; returns the streams pushed (when joined).
fn push_in_background(
    url: String,
    hosts: usize,
    batches: usize,
    per_batch: usize,
    t0: i64,
    done: Arc<AtomicBool>,
    progress: Arc<AtomicUsize>,
) -> std::thread::JoinHandle<Vec<TestStream>> {
    std::thread::spawn(move || {
        let mut all = numbered_streams(hosts, 0, 0, t0);
        for b in 0..batches {
            let part = numbered_streams(hosts, b * per_batch, (b + 1) * per_batch, t0);
            let body = protobuf_body(&part);
            // The distributor stays up; a push that fails (Kafka busy) is retried like a client.
            let mut attempts = 0;
            loop {
                let r = post(&url, &[("Content-Type", "application/x-protobuf")], &body);
                if r.status == 204 {
                    break;
                }
                attempts += 1;
                assert!(attempts < 50, "push kept failing: {} {}", r.status, r.body);
                std::thread::sleep(Duration::from_millis(200));
            }
            for (a, p) in all.iter_mut().zip(part) {
                a.entries.extend(p.entries);
            }
            progress.store(b + 1, Ordering::SeqCst);
            std::thread::sleep(Duration::from_millis(60));
        }
        done.store(true, Ordering::SeqCst);
        all
    })
}

/// A small deterministic random source (the seed is printed so a failure can be replayed).
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % n
    }
}

#[test]
fn sigkill_the_ingester_ten_times_loses_and_duplicates_nothing() {
    let broker = Broker::start("crash", 4);
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let distributor = start(dir.path(), "distributor", &broker.flags("distributor", &store));
    let mut ingester = start(dir.path(), "ingester", &broker.flags("ingester", &store));
    // In a closed window, so every record is flushed within one check interval of arriving:
    // the kills land before, during and after flushes.
    let t0 = now_ns() - 30 * 60 * 1_000_000_000;
    let done = Arc::new(AtomicBool::new(false));
    let progress = Arc::new(AtomicUsize::new(0));
    let pusher = push_in_background(
        distributor.url("/loki/api/v1/push"),
        4,
        150,
        50,
        t0,
        done.clone(),
        progress.clone(),
    );
    let seed = now_ns() as u64;
    eprintln!("kill schedule seed {seed}");
    let mut rng = Lcg(seed);
    let mut kills = 0;
    while kills < 10 {
        std::thread::sleep(Duration::from_millis(300 + rng.below(1200)));
        ingester.kill9();
        kills += 1;
        ingester.restart();
    }
    let streams = pusher.join().unwrap();
    assert!(done.load(Ordering::SeqCst));
    assert_eq!(
        streams.iter().map(|s| s.entries.len()).sum::<usize>(),
        4 * 150 * 50
    );
    // Everything is visible through the surviving ingester (memory + storage)...
    assert_eventually_exact(&ingester, r#"{service="api"}"#, &streams, t0, now_ns(), 120);
    // ...and after a clean stop, from storage alone through a querier.
    ingester.terminate();
    let querier = start(dir.path(), "querier", &broker.flags("querier", &store));
    assert_eventually_exact(&querier, r#"{service="api"}"#, &streams, t0, now_ns(), 10);
}

#[test]
fn rebalance_two_ingesters_one_killed_mid_stream() {
    let broker = Broker::start("rebalance", 4);
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let distributor = start(dir.path(), "distributor", &broker.flags("distributor", &store));
    let mut first = start(dir.path(), "ingester-1", &broker.flags("ingester", &store));
    let t0 = now_ns() - 30 * 60 * 1_000_000_000;
    let done = Arc::new(AtomicBool::new(false));
    let progress = Arc::new(AtomicUsize::new(0));
    let pusher = push_in_background(
        distributor.url("/loki/api/v1/push"),
        6,
        120,
        40,
        t0,
        done.clone(),
        progress.clone(),
    );
    // A second ingester joins mid-stream and takes over part of the partitions (the first
    // flushes and commits before giving them up)...
    wait_for(60, "the first pushes", || progress.load(Ordering::SeqCst) >= 20);
    let mut second = start(dir.path(), "ingester-2", &broker.flags("ingester", &store));
    wait_for(60, "both ingesters to consume", || {
        metric(&second, "logq_ingester_records_consumed_total") > 0.0
    });
    // ...then the first one dies without a chance to flush: the second replays its partitions
    // from their committed offsets.
    wait_for(60, "half of the pushes", || progress.load(Ordering::SeqCst) >= 60);
    first.kill9();
    let streams = pusher.join().unwrap();
    // The survivor takes over the dead one's partitions and replays from its committed offsets.
    second.terminate();
    let querier = start(dir.path(), "querier", &broker.flags("querier", &store));
    let want = expected(&streams, "forward");
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut got = read_all(&querier, None, r#"{service="api"}"#, t0, now_ns(), "forward");
    while got.len() < want.len() && Instant::now() < deadline {
        // The second ingester stopped cleanly, so storage is complete; give the listing a moment.
        std::thread::sleep(Duration::from_millis(200));
        got = read_all(&querier, None, r#"{service="api"}"#, t0, now_ns(), "forward");
    }
    if got.len() < want.len() {
        // Not all partitions were handed over before the stop: start an ingester to finish.
        second.restart();
        assert_eventually_exact(&second, r#"{service="api"}"#, &streams, t0, now_ns(), 120);
        second.terminate();
        got = read_all(&querier, None, r#"{service="api"}"#, t0, now_ns(), "forward");
    }
    assert_same(&got, &want, "after rebalance");
}

fn produce(broker: &Broker, key: Option<&str>, headers: &[(&str, &[u8])], value: &[u8]) {
    let producer = broker.producer();
    let topic = broker.topic();
    let mut h = OwnedHeaders::new();
    for (k, v) in headers {
        h = h.insert(Header {
            key: k,
            value: Some(*v),
        });
    }
    let mut record: BaseRecord<'_, str, [u8]> = BaseRecord::to(&topic).payload(value).headers(h);
    if let Some(k) = key {
        record = record.key(k);
    }
    producer.send(record).map_err(|(e, _)| e).expect("produce");
    producer.flush(Duration::from_secs(10)).expect("flush producer");
}

#[test]
fn bad_records_are_counted_and_do_not_stop_consumption() {
    let broker = Broker::start("badrecords", 1);
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let mut flags = broker.flags("all", &store);
    flags.extend(["--max-line-bytes", "1000"].map(String::from));
    let server = start(dir.path(), "all", &flags);
    let pb: &[(&str, &[u8])] = &[("content-type", b"application/x-protobuf")];
    produce(&broker, None, pb, &[0xde, 0xad, 0xbe, 0xef, 0x00, 0x01]);
    let good = protobuf_body(&[stream(&[("app", "x")], vec![(now_ns(), "truncated".into())])]);
    produce(&broker, None, pb, &good[..good.len() - 3]);
    produce(&broker, Some("web-1"), &[], "y".repeat(5000).as_bytes());
    produce(&broker, None, &[("X-Scope-OrgID", b"../../etc")], b"bad tenant");
    produce(&broker, Some("web-1"), &[], b"after the bad ones");
    wait_for(60, "the good record", || {
        let r = get(
            &server.url("/loki/api/v1/query_range"),
            &[("query", r#"{environment=~".+"}"#), ("limit", "10")],
            &[],
        );
        r.body.contains("after the bad ones")
    });
    assert_eq!(metric(&server, "logq_ingester_decode_errors_total"), 4.0);
    assert_eq!(metric(&server, "logq_ingester_records_consumed_total"), 5.0);
}

#[test]
fn kcat_plain_text_and_json_records_get_their_labels() {
    if Command::new("kcat").arg("-V").output().is_err() {
        eprintln!("skipping: kcat is not installed (apt-get install kcat)");
        return;
    }
    // Debian's kcat carries librdkafka 2.0.2, which cannot parse some brokers' ApiVersions
    // answer (tansu's among them): this witness always talks to the mock cluster.
    let broker = Broker::start_mock("kcat", 2);
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let server = start(dir.path(), "all", &broker.flags("all", &store));
    let kcat = |args: &[&str], input: &str| {
        let mut c = Command::new("kcat")
            .args(["-P", "-b", &broker.bootstrap, "-t", &broker.topic()])
            .args(args)
            .stdin(Stdio::piped())
            .spawn()
            .expect("run kcat");
        c.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
        assert!(c.wait().unwrap().success(), "kcat failed");
    };
    kcat(
        &["-k", "db-1", "-H", "service=postgres"],
        "checkpoint starting\ncheckpoint complete\n",
    );
    let json_ts = (now_ns() / 1_000_000_000 - 60) * 1_000_000_000 + 500_000_000;
    let stamp =
        chrono::DateTime::from_timestamp_nanos(json_ts).to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    kcat(
        &[],
        &format!(
            "{{\"message\":\"GET /health 200\",\"timestamp\":\"{stamp}\",\"host\":\"web-7\",\"level\":\"info\",\"path\":\"/health\"}}\n"
        ),
    );
    let hour_ago = (now_ns() - 3_600_000_000_000).to_string();
    // (The object's other fields, here `path`, travel as structured metadata.)
    let env = broker.environment.clone();
    wait_for(60, "kcat's records", || {
        let r = get(
            &server.url("/loki/api/v1/series"),
            &[
                ("match[]", &format!("{{environment=\"{env}\"}}")),
                ("start", &hour_ago),
            ],
            &[],
        );
        r.json()["data"].as_array().is_some_and(|a| a.len() == 2)
    });
    let text = read_all(
        &server,
        None,
        &format!(r#"{{environment="{env}",host="db-1",service="postgres"}}"#),
        now_ns() - 3_600_000_000_000,
        now_ns() + 1_000_000_000,
        "forward",
    );
    let lines: Vec<&str> = text.iter().map(|g| g.2.as_str()).collect();
    assert_eq!(lines, ["checkpoint starting", "checkpoint complete"]);
    let json = read_all(
        &server,
        None,
        &format!(r#"{{environment="{env}",host="web-7",level="info"}}"#),
        now_ns() - 3_600_000_000_000,
        now_ns() + 1_000_000_000,
        "forward",
    );
    assert_eq!(json.len(), 1);
    assert_eq!(json[0].0, json_ts);
    assert_eq!(json[0].2, "GET /health 200");
}

#[test]
fn bench_measures_kafka_ingest_on_a_tiny_corpus() {
    let broker = Broker::start("bench", 1);
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().join("bench");
    let out = Command::new(logq_bin())
        .args([
            "bench",
            "--size",
            "300KB",
            "--streams",
            "4",
            "--no-baselines",
            "--kafka",
            &broker.bootstrap,
            "--dir",
        ])
        .arg(&work)
        .env("LOGQ_LOG", "warn")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let results: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(work.join("results.json")).unwrap()).unwrap();
    let kafka_rows: Vec<&serde_json::Value> = results["rows"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["phase"] == "kafka")
        .collect();
    let value = |m: &str| -> f64 {
        kafka_rows
            .iter()
            .find(|r| r["measure"] == m)
            .unwrap_or_else(|| panic!("no kafka row {m}"))["value"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap()
    };
    assert!(value("lines/s") > 0.0);
    assert!(value("ingester peak RSS MiB") > 0.0);
}

#[test]
fn store_outage_pauses_consumption_commits_nothing_unstored_and_recovers() {
    let broker = Broker::start("outage", 2);
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let mut flags = broker.flags("all", &store);
    flags.extend(
        [
            "--ingester-max-memory-mb",
            "1",
            "-X",
            "queued.max.messages.kbytes=2048",
            "-X",
            "fetch.max.bytes=2000000",
        ]
        .map(String::from),
    );
    let mut server = start(dir.path(), "all", &flags);
    // Lines in a closed window: each is due for flushing as soon as it arrives.
    let t0 = now_ns() - 30 * 60 * 1_000_000_000;
    let before = numbered_streams(4, 0, 500, t0);
    push_streams(&server, None, &before, true, 500);
    assert_eventually_exact(&server, r#"{service="api"}"#, &before, t0, now_ns(), 60);

    // The object store goes away: its directory is replaced by a plain file.
    let away = dir.path().join("store-away");
    std::fs::rename(&store, &away).unwrap();
    std::fs::write(&store, b"not a directory").unwrap();
    let during = numbered_streams(4, 500, 40_500, t0);
    push_streams(&server, None, &during, true, 1_000);
    wait_for(60, "flushes to fail", || {
        metric(&server, "logq_ingester_flush_failures_total") > 0.0
    });
    std::thread::sleep(Duration::from_secs(2));
    let held = metric(&server, "logq_ingester_memory_bytes");
    eprintln!("held in memory during the outage: {held} bytes");
    // About 4.4 MB of lines were pushed: consumption stopped near the 1 MiB limit.
    assert!(
        held < 3.0 * 1024.0 * 1024.0,
        "memory not bounded while the store is down: {held} bytes"
    );
    // Dying now loses nothing: no offset was committed past what is stored.
    server.kill9();
    std::fs::remove_file(&store).unwrap();
    std::fs::rename(&away, &store).unwrap();
    server.restart();
    let mut all = before.clone();
    for (a, d) in all.iter_mut().zip(during) {
        a.entries.extend(d.entries);
    }
    assert_eventually_exact(&server, r#"{service="api"}"#, &all, t0, now_ns(), 120);
}

#[test]
fn a_querier_reads_unflushed_lines_from_remote_ingesters() {
    let broker = Broker::start("remoteheads", 2);
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let distributor = start(dir.path(), "distributor", &broker.flags("distributor", &store));
    // Chunks stay in memory: open windows, no size cap, no idle flush within the test.
    let mut ingester_flags = broker.flags("ingester", &store);
    ingester_flags.extend(["--max-chunk-bytes", "100000000", "--window-grace", "1h"].map(String::from));
    let mut ingester = start(dir.path(), "ingester", &ingester_flags);
    let mut querier_flags = broker.flags("querier", &store);
    querier_flags.extend(["--ingesters".to_string(), ingester.addr.clone()]);
    let querier = start(dir.path(), "querier", &querier_flags);
    let storage_only = start(dir.path(), "storage-only", &broker.flags("querier", &store));

    let t0 = now_ns() - 60 * 1_000_000_000;
    let streams = numbered_streams(3, 0, 200, t0);
    push_streams(&distributor, None, &streams, true, 100);
    assert_eventually_exact(&querier, r#"{service="api"}"#, &streams, t0, now_ns(), 60);
    assert!(
        read_all(&storage_only, None, r#"{service="api"}"#, t0, now_ns(), "forward").is_empty(),
        "the lines were meant to be still unflushed"
    );
    let series = get(
        &querier.url("/loki/api/v1/series"),
        &[("match[]", r#"{service="api"}"#), ("start", &t0.to_string())],
        &[],
    );
    assert_eq!(
        series.json()["data"].as_array().unwrap().len(),
        3,
        "{}",
        series.body
    );
    // An ingester that cannot be asked fails the query instead of answering partially.
    ingester.kill9();
    let r = get(
        &querier.url("/loki/api/v1/query_range"),
        &[("query", r#"{service="api"}"#), ("start", &t0.to_string())],
        &[],
    );
    assert_eq!(r.status, 503, "{}", r.body);
    assert!(r.body.contains("ingester http://"), "{}", r.body);
}

#[test]
fn agent_to_kafka_exactly_once_across_agent_sigkills() {
    let broker = Broker::start("agentkafka", 2);
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let server = start(dir.path(), "all", &broker.flags("all", &store));
    let logs = dir.path().join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    let file = logs.join("billing.log");
    let args: Vec<String> = [
        "agent",
        "--path",
        &logs.join("*.log").to_string_lossy(),
        "--kafka",
        &broker.bootstrap,
        "--environment",
        &broker.environment,
        "--checkpoint-dir",
        &dir.path().join("cp").to_string_lossy(),
        "--host",
        "agent-host",
        "--from-beginning",
        "--batch-wait",
        "100ms",
        "--poll-interval",
        "50ms",
    ]
    .map(String::from)
    .to_vec();
    let spawn = || {
        Command::new(logq_bin())
            .args(&args)
            .env("LOGQ_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start logq agent")
    };
    let t0 = now_ns();
    let mut want = Vec::new();
    let mut agent = spawn();
    let mut rng = Lcg(t0 as u64);
    for round in 0..4 {
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&file)
            .unwrap();
        for i in 0..2_000 {
            let line = format!("round {round} line {i} amount={}", rng.below(1000));
            writeln!(f, "{line}").unwrap();
            want.push(line);
            if i % 500 == 0 {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        drop(f);
        std::thread::sleep(Duration::from_millis(100 + rng.below(400)));
        // SIGKILL mid-stream: what was sent but not checkpointed is sent again with the same
        // (timestamp, message id), and the ingester keeps one copy.
        agent.kill().unwrap();
        agent.wait().unwrap();
        agent = spawn();
    }
    let query = format!(
        r#"{{service="billing",host="agent-host",env="{}"}}"#,
        broker.environment
    );
    let deadline = Instant::now() + Duration::from_secs(90);
    let mut got: Vec<String>;
    loop {
        got = read_all(
            &server,
            None,
            &query,
            t0 - 60_000_000_000,
            now_ns() + 60_000_000_000,
            "forward",
        )
        .into_iter()
        .map(|g| g.2)
        .collect();
        if got.len() >= want.len() || Instant::now() > deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(300));
    }
    let _ = agent.kill();
    let _ = agent.wait();
    got.sort();
    want.sort();
    assert_eq!(got.len(), want.len(), "lines stored vs written");
    assert_eq!(got, want);
}

/// Time until `server` owns `want` partitions, polled every 100 ms (panics after `secs`).
fn time_to_own(server: &Server, want: f64, secs: u64) -> Duration {
    let t = Instant::now();
    wait_for(secs, "the ingester to own its partitions", || {
        metric(server, "logq_ingester_kafka_partitions_assigned") >= want
    });
    t.elapsed()
}

/// Static group membership against a real broker (tansu): an ingester SIGKILLed and restarted
/// owns its partitions again within seconds, not after its old session expired, and the lines
/// pushed meanwhile are all visible. With dynamic membership the rejoin waits out the session
/// timeout (15 s here) and, with tansu, sometimes never gets an assignment at all.
#[test]
fn a_killed_ingester_resumes_within_seconds_through_tansu() {
    let Some(broker) = Broker::start_tansu("static") else {
        return;
    };
    restart_resumes_within_seconds(&broker);
}

/// The same against the broker `LOGQ_TEST_KAFKA` names (librdkafka's mock cluster does not
/// implement static membership: there a restart takes about two session timeouts).
#[test]
fn a_killed_ingester_resumes_within_seconds_through_an_external_broker() {
    if std::env::var_os("LOGQ_TEST_KAFKA").is_none() {
        eprintln!("skipping: LOGQ_TEST_KAFKA names no broker");
        return;
    }
    let broker = Broker::start("staticext", 4);
    restart_resumes_within_seconds(&broker);
}

fn restart_resumes_within_seconds(broker: &Broker) {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let distributor = start(dir.path(), "distributor", &broker.flags("distributor", &store));
    let mut flags = broker.flags("ingester", &store);
    flags.extend(["-X", "session.timeout.ms=15000", "--window-grace", "1h"].map(String::from));
    let mut ingester = start(dir.path(), "ingester", &flags);
    time_to_own(&ingester, 4.0, 60);
    if !broker.mock {
        let id = std::fs::read_to_string(dir.path().join("ingester/kafka-instance-id")).unwrap();
        assert!(id.starts_with("logq-"), "{id}");
    }
    let t0 = now_ns() - 60 * 1_000_000_000;
    let first = numbered_streams(4, 0, 500, t0);
    push_streams(&distributor, None, &first, true, 500);
    assert_eventually_exact(&ingester, r#"{service="api"}"#, &first, t0, now_ns(), 60);
    for round in 0..3 {
        ingester.kill9();
        ingester.restart();
        let took = time_to_own(&ingester, 4.0, 60);
        eprintln!("restart {round}: partitions owned again after {took:?}");
        assert!(
            took < Duration::from_secs(8),
            "restart {round}: partitions came back after {took:?} (session timeout 15 s)"
        );
    }
    let more = numbered_streams(4, 500, 1000, t0);
    push_streams(&distributor, None, &more, true, 500);
    let mut all = first.clone();
    for (a, m) in all.iter_mut().zip(more) {
        a.entries.extend(m.entries);
    }
    assert_eventually_exact(&ingester, r#"{service="api"}"#, &all, t0, now_ns(), 30);
}

/// More ingesters than partitions: the one left without any says so after three session
/// timeouts (gauge and `/ready` detail) while staying ready.
#[test]
fn an_ingester_owning_no_partition_says_so() {
    let broker = Broker::start("unassigned", 1);
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let mut flags = broker.flags("ingester", &store);
    for f in flags.iter_mut() {
        if f == "4" {
            *f = "1".into(); // --kafka-partitions 1
        }
    }
    flags.extend(["-X", "session.timeout.ms=6000"].map(String::from));
    let a = start(dir.path(), "a", &flags);
    time_to_own(&a, 1.0, 60);
    let b = start(dir.path(), "b", &flags);
    // Whichever is left without the partition after the rebalance reports it.
    let reports = |s: &Server| {
        get(&s.url("/ready"), &[], &[])
            .body
            .contains("owns no Kafka partition")
    };
    wait_for(60, "the idle ingester to report", || reports(&a) || reports(&b));
    let (idle, busy) = if reports(&a) { (&a, &b) } else { (&b, &a) };
    let ready = get(&idle.url("/ready"), &[], &[]);
    assert_eq!(ready.status, 200, "{}", ready.body);
    assert!(metric(idle, "logq_ingester_kafka_unassigned_seconds") >= 18.0);
    assert_eq!(metric(busy, "logq_ingester_kafka_unassigned_seconds"), 0.0);
    assert!(!get(&busy.url("/ready"), &[], &[]).body.contains("warning"));
}
