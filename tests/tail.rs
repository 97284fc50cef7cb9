//! Live tail through the real server: a WebSocket client sees lines pushed after it connected,
//! in Loki's frame shape, exactly once; bad requests are refused before the upgrade.

mod util;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use tungstenite::Message;
use util::*;

fn push_lines(server: &Server, lines: &[(i64, String)]) {
    let stream = TestStream {
        labels: vec![("app".into(), "live".into())],
        entries: lines.to_vec(),
    };
    push_streams(server, None, &[stream], false, 100);
}

#[test]
fn tail_streams_new_lines_once() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    let now = now_ns();
    push_lines(&server, &[(now - 1_000_000_000, "before".into())]);
    let url = format!(
        "{}/loki/api/v1/tail?query=%7Bapp%3D%22live%22%7D&start={}&limit=2",
        server.addr.replace("http://", "ws://"),
        now - 5_000_000_000
    );
    let (mut socket, _) = tungstenite::connect(url.as_str()).expect("websocket connect");
    if let tungstenite::stream::MaybeTlsStream::Plain(s) = socket.get_ref() {
        s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    }
    // Lines pushed while tailing, more than one batch (limit 2) at a time.
    let pushed: Vec<(i64, String)> = (0..5).map(|i| (now_ns(), format!("live line {i}"))).collect();
    push_lines(&server, &pushed);
    let mut got: Vec<String> = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(15);
    while got.len() < 6 && Instant::now() < deadline {
        match socket.read() {
            Ok(Message::Text(text)) => {
                let frame: serde_json::Value = serde_json::from_str(text.as_str()).unwrap();
                assert!(frame["dropped_entries"].is_array(), "{frame}");
                for s in frame["streams"].as_array().unwrap() {
                    assert_eq!(s["stream"]["app"], "live");
                    for v in s["values"].as_array().unwrap() {
                        assert!(v[0].as_str().unwrap().parse::<i64>().is_ok());
                        got.push(v[1].as_str().unwrap().to_string());
                    }
                }
            }
            Ok(_) => {}
            Err(tungstenite::Error::Io(e))
                if e.kind() == std::io::ErrorKind::WouldBlock || e.kind() == std::io::ErrorKind::TimedOut => {
            }
            Err(e) => panic!("websocket error: {e}"),
        }
    }
    let unique: BTreeSet<&String> = got.iter().collect();
    assert_eq!(unique.len(), got.len(), "no line twice: {got:?}");
    let mut want = vec!["before".to_string()];
    want.extend(pushed.iter().map(|p| p.1.clone()));
    let mut sorted = got.clone();
    sorted.sort();
    want.sort();
    assert_eq!(sorted, want);
    let _ = socket.close(None);

    let bad = format!(
        "{}/loki/api/v1/tail?query=%7Bapp%3D&start=0",
        server.addr.replace("http://", "ws://")
    );
    match tungstenite::connect(bad.as_str()) {
        Err(tungstenite::Error::Http(resp)) => assert_eq!(resp.status().as_u16(), 400),
        other => panic!("bad query accepted: {:?}", other.map(|_| ())),
    }
    let bad = format!(
        "{}/loki/api/v1/tail?query=%7Bapp%3D%22x%22%7D&delay_for=9",
        server.addr.replace("http://", "ws://")
    );
    assert!(
        matches!(tungstenite::connect(bad.as_str()), Err(tungstenite::Error::Http(r)) if r.status().as_u16() == 400)
    );
}

#[test]
fn cli_tail_prints_lines_as_they_arrive() {
    use std::io::BufRead;
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    let mut child = std::process::Command::new(logq_bin())
        .args([
            "tail",
            r#"{app="live"} |= "tail""#,
            "--addr",
            &server.addr,
            "-o",
            "raw",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    // Give the client a moment to connect, then push.
    std::thread::sleep(Duration::from_millis(500));
    push_lines(
        &server,
        &[
            (now_ns(), "tail me 1".into()),
            (now_ns() + 1, "skip me".into()),
            (now_ns() + 2, "tail me 2".into()),
        ],
    );
    let mut got = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(15);
    while got.len() < 2 && Instant::now() < deadline {
        if let Ok(line) = rx.recv_timeout(Duration::from_millis(200)) {
            got.push(line);
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(got, ["tail me 1", "tail me 2"]);

    let out = std::process::Command::new(logq_bin())
        .args(["tail", "{app=", "--addr", &server.addr])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("400"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Reads lines from tail frames until `want` lines arrived or `timeout` passed.
fn read_tail_lines(
    socket: &mut tungstenite::WebSocket<tungstenite::stream::MaybeTlsStream<std::net::TcpStream>>,
    want: usize,
    timeout: Duration,
) -> Vec<String> {
    let mut got = Vec::new();
    let deadline = Instant::now() + timeout;
    while got.len() < want && Instant::now() < deadline {
        match socket.read() {
            Ok(Message::Text(text)) => {
                let frame: serde_json::Value = serde_json::from_str(text.as_str()).unwrap();
                for s in frame["streams"].as_array().unwrap() {
                    for v in s["values"].as_array().unwrap() {
                        got.push(v[1].as_str().unwrap().to_string());
                    }
                }
            }
            Ok(_) => {}
            Err(tungstenite::Error::Io(e))
                if e.kind() == std::io::ErrorKind::WouldBlock || e.kind() == std::io::ErrorKind::TimedOut => {
            }
            Err(e) => panic!("websocket error: {e}"),
        }
    }
    got
}

/// `distinct` state belongs to one execution of the query: every poll of a tail is a new one,
/// so a value seen by an earlier poll does not hide a later line (it used to: the parsed query
/// shared what `distinct` had seen across every clone of it, so across the whole session).
#[test]
fn tail_polls_do_not_share_distinct_state() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    let start = now_ns() - 1_000_000_000;
    let query = r#"{app="live"} | logfmt | distinct level"#;
    let url = format!(
        "{}/loki/api/v1/tail?query={}&start={start}",
        server.addr.replace("http://", "ws://"),
        form_urlencoded::byte_serialize(query.as_bytes()).collect::<String>()
    );
    let (mut socket, _) = tungstenite::connect(url.as_str()).expect("websocket connect");
    if let tungstenite::stream::MaybeTlsStream::Plain(s) = socket.get_ref() {
        s.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
    }
    let t = now_ns();
    push_lines(
        &server,
        &[
            (t, "level=info first".into()),
            (t + 1, "level=debug second".into()),
        ],
    );
    let mut got = read_tail_lines(&mut socket, 2, Duration::from_secs(15));
    got.sort();
    assert_eq!(got, ["level=debug second", "level=info first"]);
    // A later poll: `info` again, new to this execution of the query.
    push_lines(&server, &[(now_ns(), "level=info third".into())]);
    let got = read_tail_lines(&mut socket, 1, Duration::from_secs(10));
    assert_eq!(got, ["level=info third"]);
    let _ = socket.close(None);
}
