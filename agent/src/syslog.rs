//! Syslog input: RFC 5424 and RFC 3164 messages over UDP (one datagram, one message) and TCP
//! (RFC 6587 octet counting `LEN SP MSG`, or one message per line), parsed into entries.
//!
//! Labels: `host` (the message's HOSTNAME, else the agent's), `service` (APP-NAME / TAG),
//! `severity` and `facility` (names, as in RFC 5424 section 6.2.1), `env` when configured.
//! PROCID, MSGID and structured data go to structured metadata (`procid`, `msgid`,
//! `sd_<id>_<param>`). The timestamp is the message's, else the arrival time.
//!
//! Delivery is at-least-once up to the agent's queue: UDP messages that arrive while the queue
//! is full are dropped and counted (UDP has no backpressure); TCP senders wait.

use std::io::{BufRead, BufReader, Read};
use std::net::{TcpListener, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError};
use std::sync::Arc;
use std::time::Duration;

use chrono::{Local, NaiveDateTime};
use logq_storage::{derive_message_id, Entry, LabelSet};

use crate::error::AgentError;
use crate::timestamp::parse_timestamp;
use logq_storage::now_ns;

/// An entry from a source without files (syslog), with its stream labels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceEntry {
    /// Stream labels.
    pub labels: LabelSet,
    /// The entry (its id derived from stream, timestamp and line).
    pub entry: Entry,
}

/// A parsed syslog message.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SyslogMessage {
    /// Facility name (`user`, `daemon`, `local0`, ...).
    pub facility: &'static str,
    /// Severity name (`emerg` ... `debug`).
    pub severity: &'static str,
    /// Unix ns from the header, when it had a timestamp.
    pub ts: Option<i64>,
    /// HOSTNAME, when present.
    pub hostname: Option<String>,
    /// APP-NAME (5424) or TAG (3164).
    pub app_name: Option<String>,
    /// PROCID (5424) or the `[pid]` of a 3164 tag.
    pub procid: Option<String>,
    /// MSGID (5424).
    pub msgid: Option<String>,
    /// Structured data parameters as (`sd_<id>_<name>`, value).
    pub structured: Vec<(String, String)>,
    /// The free-form message.
    pub message: String,
}

const FACILITIES: [&str; 24] = [
    "kern",
    "user",
    "mail",
    "daemon",
    "auth",
    "syslog",
    "lpr",
    "news",
    "uucp",
    "cron",
    "authpriv",
    "ftp",
    "ntp",
    "security",
    "console",
    "solaris-cron",
    "local0",
    "local1",
    "local2",
    "local3",
    "local4",
    "local5",
    "local6",
    "local7",
];
const SEVERITIES: [&str; 8] = [
    "emerg", "alert", "crit", "err", "warning", "notice", "info", "debug",
];

fn nil(s: &str) -> Option<String> {
    (s != "-" && !s.is_empty()).then(|| s.to_string())
}

/// Parses one syslog message (RFC 5424, else RFC 3164; without a `<PRI>` the whole text is the
/// message with facility `user` and severity `notice`, as RFC 3164 section 4.3.3 says).
pub fn parse_syslog(raw: &str, now: NaiveDateTime) -> SyslogMessage {
    let raw = raw.trim_end_matches(['\r', '\n', '\0']);
    let mut m = SyslogMessage {
        facility: "user",
        severity: "notice",
        ..SyslogMessage::default()
    };
    let Some(rest) = raw.strip_prefix('<').and_then(|r| {
        let end = r.find('>')?;
        let pri: usize = r[..end].parse().ok().filter(|p| *p < 192)?;
        m.facility = FACILITIES[pri / 8];
        m.severity = SEVERITIES[pri % 8];
        Some(&r[end + 1..])
    }) else {
        m.message = raw.to_string();
        return m;
    };
    if let Some(body) = rest.strip_prefix("1 ") {
        parse_5424(body, &mut m);
    } else {
        parse_3164(rest, now, &mut m);
    }
    m
}

fn parse_5424(body: &str, m: &mut SyslogMessage) {
    let mut parts = body.splitn(6, ' ');
    let ts = parts.next().unwrap_or("-");
    m.ts = (ts != "-")
        .then(|| chrono::DateTime::parse_from_rfc3339(ts).ok())
        .flatten()
        .and_then(|t| t.timestamp_nanos_opt());
    m.hostname = parts.next().and_then(nil);
    m.app_name = parts.next().and_then(nil);
    m.procid = parts.next().and_then(nil);
    m.msgid = parts.next().and_then(nil);
    let rest = parts.next().unwrap_or("");
    let msg = parse_structured_data(rest, &mut m.structured);
    let msg = msg.strip_prefix('\u{feff}').unwrap_or(msg);
    m.message = msg.to_string();
}

/// Reads `-` or `[id k="v" ...][...]`, returns the text after it (and its separating space).
fn parse_structured_data<'a>(s: &'a str, out: &mut Vec<(String, String)>) -> &'a str {
    if let Some(r) = s.strip_prefix('-') {
        return r.strip_prefix(' ').unwrap_or(r);
    }
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() && b[i] == b'[' {
        i += 1;
        let id_start = i;
        while i < b.len() && b[i] != b' ' && b[i] != b']' {
            i += 1;
        }
        let id = sanitize(&s[id_start..i]);
        loop {
            while i < b.len() && b[i] == b' ' {
                i += 1;
            }
            if i >= b.len() || b[i] == b']' {
                i += 1;
                break;
            }
            let name_start = i;
            while i < b.len() && b[i] != b'=' {
                i += 1;
            }
            let name = sanitize(&s[name_start..i]);
            i += 2; // `="`
            let mut value = String::new();
            while i < b.len() && b[i] != b'"' {
                if b[i] == b'\\' && i + 1 < b.len() {
                    i += 1;
                }
                let ch_len = s[i..].chars().next().map_or(1, char::len_utf8);
                value.push_str(&s[i..i + ch_len]);
                i += ch_len;
            }
            i += 1;
            out.push((format!("sd_{id}_{name}"), value));
        }
    }
    let rest = s.get(i.min(s.len())..).unwrap_or("");
    rest.strip_prefix(' ').unwrap_or(rest)
}

fn sanitize(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect()
}

fn parse_3164(rest: &str, now: NaiveDateTime, m: &mut SyslogMessage) {
    let mut body = rest;
    if let Some(p) = parse_timestamp(rest.as_bytes(), now).filter(|p| p.start == 0) {
        m.ts = p.unix_nanos();
        // `Mmm dd hh:mm:ss` is 15 bytes; ISO timestamps run to the next space.
        let end = if rest.as_bytes().first().is_some_and(|c| c.is_ascii_alphabetic()) {
            15.min(rest.len())
        } else {
            rest.find(' ').unwrap_or(rest.len())
        };
        body = rest[end..].trim_start();
        // HOSTNAME, unless the next word is already the tag.
        if let Some((host, after)) = body.split_once(' ') {
            if !host.ends_with(':') && !host.contains('[') {
                m.hostname = Some(host.to_string());
                body = after;
            }
        }
    }
    // TAG[PID]: MSG
    let tag_end = body.find([':', '[', ' ']).unwrap_or(0);
    if tag_end > 0 && tag_end <= 48 {
        let tag = &body[..tag_end];
        let mut after = &body[tag_end..];
        if let Some(r) = after.strip_prefix('[') {
            if let Some(close) = r.find(']') {
                m.procid = Some(r[..close].to_string());
                after = &r[close + 1..];
            }
        }
        if let Some(msg) = after.strip_prefix(':') {
            m.app_name = Some(tag.to_string());
            body = msg.strip_prefix(' ').unwrap_or(msg);
        }
    }
    m.message = body.to_string();
}

/// Where to listen and how to label.
#[derive(Debug, Clone)]
pub struct SyslogConfig {
    /// UDP address to listen on.
    pub udp: Option<String>,
    /// TCP address to listen on.
    pub tcp: Option<String>,
    /// Host label when a message has no HOSTNAME.
    pub host: String,
    /// `env` label.
    pub environment: Option<String>,
    /// Longest message kept (longer ones are cut).
    pub max_message_bytes: usize,
}

/// Counters of the syslog input.
#[derive(Debug, Default)]
pub struct SyslogStats {
    /// Messages received.
    pub received: AtomicU64,
    /// UDP messages dropped because the agent's queue was full.
    pub dropped: AtomicU64,
}

/// Turns a message into an entry with its labels and metadata.
pub fn to_entry(m: SyslogMessage, cfg: &SyslogConfig, arrival_ns: i64) -> SourceEntry {
    let mut pairs = vec![
        (
            "host".to_string(),
            m.hostname.clone().unwrap_or_else(|| cfg.host.clone()),
        ),
        (
            "service".to_string(),
            m.app_name.clone().unwrap_or_else(|| "syslog".into()),
        ),
        ("severity".to_string(), m.severity.to_string()),
        ("facility".to_string(), m.facility.to_string()),
    ];
    if let Some(env) = &cfg.environment {
        pairs.push(("env".into(), env.clone()));
    }
    let labels = LabelSet::from_pairs(pairs);
    let mut metadata = Vec::new();
    if let Some(p) = m.procid {
        metadata.push(("procid".to_string(), p));
    }
    if let Some(id) = m.msgid {
        metadata.push(("msgid".to_string(), id));
    }
    metadata.extend(m.structured);
    let ts = m.ts.unwrap_or(arrival_ns);
    let id = derive_message_id(labels.fingerprint(), ts, &m.message);
    SourceEntry {
        labels,
        entry: Entry {
            ts,
            id,
            line: m.message,
            metadata,
        },
    }
}

/// Starts the configured listeners; entries go to `tx` (bounded). Listener threads end when
/// `stop` is set. Binding errors are returned at once, naming the address.
pub fn start(
    cfg: SyslogConfig,
    tx: SyncSender<SourceEntry>,
    stop: Arc<AtomicBool>,
    stats: Arc<SyslogStats>,
) -> Result<(), AgentError> {
    let cfg = Arc::new(cfg);
    if let Some(addr) = &cfg.udp {
        let sock = UdpSocket::bind(addr)
            .map_err(|e| AgentError::Config(format!("cannot listen on UDP {addr}: {e}")))?;
        let _ = sock.set_read_timeout(Some(Duration::from_millis(200)));
        tracing::info!(addr = %addr, "syslog over UDP");
        let (cfg, tx, stop, stats) = (cfg.clone(), tx.clone(), stop.clone(), stats.clone());
        std::thread::spawn(move || {
            let mut buf = vec![0u8; 65_536];
            while !stop.load(Ordering::Relaxed) {
                let Ok((n, _)) = sock.recv_from(&mut buf) else {
                    continue;
                };
                let text = String::from_utf8_lossy(&buf[..n.min(cfg.max_message_bytes)]);
                let m = parse_syslog(&text, Local::now().naive_local());
                stats.received.fetch_add(1, Ordering::Relaxed);
                match tx.try_send(to_entry(m, &cfg, now_ns())) {
                    Ok(()) => {}
                    Err(TrySendError::Full(_)) => {
                        stats.dropped.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(TrySendError::Disconnected(_)) => return,
                }
            }
        });
    }
    if let Some(addr) = &cfg.tcp {
        let listener = TcpListener::bind(addr)
            .map_err(|e| AgentError::Config(format!("cannot listen on TCP {addr}: {e}")))?;
        let _ = listener.set_nonblocking(true);
        tracing::info!(addr = %addr, "syslog over TCP");
        let cfg = cfg.clone();
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((conn, peer)) => {
                        let _ = conn.set_nonblocking(false);
                        let _ = conn.set_read_timeout(Some(Duration::from_secs(300)));
                        let (cfg, tx, stats) = (cfg.clone(), tx.clone(), stats.clone());
                        std::thread::spawn(move || {
                            if let Err(e) = read_tcp(conn, &cfg, &tx, &stats) {
                                tracing::debug!(peer = %peer, error = %e, "syslog connection closed");
                            }
                        });
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(50)),
                }
            }
        });
    }
    Ok(())
}

/// Reads one TCP connection: octet-counted frames (`LEN SP MSG`) or newline-delimited ones,
/// decided per frame by its first byte.
fn read_tcp(
    conn: std::net::TcpStream,
    cfg: &SyslogConfig,
    tx: &SyncSender<SourceEntry>,
    stats: &SyslogStats,
) -> std::io::Result<()> {
    let mut r = BufReader::new(conn);
    loop {
        let first = match r.fill_buf()? {
            [] => return Ok(()),
            b => b[0],
        };
        let frame: Vec<u8> = if first.is_ascii_digit() {
            let mut len_text = Vec::new();
            r.read_until(b' ', &mut len_text)?;
            let len: usize = std::str::from_utf8(&len_text)
                .ok()
                .and_then(|s| s.trim().parse().ok())
                .filter(|n| *n <= 1 << 20)
                .ok_or_else(|| std::io::Error::other("invalid octet count"))?;
            let mut buf = vec![0u8; len];
            r.read_exact(&mut buf)?;
            buf
        } else {
            let mut buf = Vec::new();
            r.read_until(b'\n', &mut buf)?;
            buf
        };
        let text = String::from_utf8_lossy(&frame[..frame.len().min(cfg.max_message_bytes)]);
        if text.trim().is_empty() {
            continue;
        }
        let m = parse_syslog(&text, Local::now().naive_local());
        stats.received.fetch_add(1, Ordering::Relaxed);
        if tx.send(to_entry(m, cfg, now_ns())).is_err() {
            return Ok(());
        }
    }
}

/// Takes up to `max` queued entries without waiting.
pub fn drain(rx: &Receiver<SourceEntry>, max: usize, out: &mut Vec<SourceEntry>) {
    for _ in 0..max {
        match rx.try_recv() {
            Ok(e) => out.push(e),
            Err(_) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> NaiveDateTime {
        chrono::NaiveDate::from_ymd_opt(2026, 11, 25)
            .unwrap()
            .and_hms_opt(16, 0, 0)
            .unwrap()
    }

    #[test]
    fn rfc5424_with_structured_data() {
        let m = parse_syslog(
            "<13>1 2026-11-25T15:30:51.714448+00:00 vm myapp 42 ID7 [timeQuality tzKnown=\"1\"][foo@1 a=\"b\\\"c\"] hello world",
            now(),
        );
        assert_eq!((m.facility, m.severity), ("user", "notice"));
        assert_eq!(m.ts, Some(1_795_620_651_714_448_000));
        assert_eq!(m.hostname.as_deref(), Some("vm"));
        assert_eq!(m.app_name.as_deref(), Some("myapp"));
        assert_eq!(m.procid.as_deref(), Some("42"));
        assert_eq!(m.msgid.as_deref(), Some("ID7"));
        assert_eq!(
            m.structured,
            vec![
                ("sd_timeQuality_tzKnown".to_string(), "1".to_string()),
                ("sd_foo_1_a".to_string(), "b\"c".to_string())
            ]
        );
        assert_eq!(m.message, "hello world");
        let m = parse_syslog("<165>1 - - - - - -", now());
        assert_eq!((m.facility, m.severity), ("local4", "notice"));
        assert_eq!(m.ts, None);
        assert_eq!(m.message, "");
    }

    #[test]
    fn rfc3164() {
        let m = parse_syslog("<34>Oct 11 22:14:15 mymachine su[123]: 'su root' failed", now());
        assert_eq!((m.facility, m.severity), ("auth", "crit"));
        assert_eq!(m.hostname.as_deref(), Some("mymachine"));
        assert_eq!(m.app_name.as_deref(), Some("su"));
        assert_eq!(m.procid.as_deref(), Some("123"));
        assert_eq!(m.message, "'su root' failed");
        assert!(m.ts.is_some());
        // No hostname, as local sockets send it.
        let m = parse_syslog("<13>Nov 25 15:30:51 myapp: hello", now());
        assert_eq!(m.hostname, None);
        assert_eq!(m.app_name.as_deref(), Some("myapp"));
        assert_eq!(m.message, "hello");
        // No PRI at all.
        let m = parse_syslog("just text", now());
        assert_eq!(
            (m.facility, m.severity, m.message.as_str()),
            ("user", "notice", "just text")
        );
    }

    #[test]
    fn tcp_framing_octet_counting_and_newlines() {
        let (tx, rx) = std::sync::mpsc::sync_channel(100);
        let cfg = SyslogConfig {
            udp: None,
            tcp: Some("127.0.0.1:0".into()),
            host: "h".into(),
            environment: None,
            max_message_bytes: 1000,
        };
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let t = std::thread::spawn(move || {
            let (conn, _) = listener.accept().unwrap();
            read_tcp(conn, &cfg, &tx, &SyslogStats::default()).unwrap();
        });
        let mut c = std::net::TcpStream::connect(addr).unwrap();
        use std::io::Write;
        let a = "<13>1 - h app - - - multi\nline";
        writeln!(c, "{} {a}<13>Nov 25 15:30:51 h b: second", a.len()).unwrap();
        drop(c);
        t.join().unwrap();
        let got: Vec<SourceEntry> = rx.try_iter().collect();
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].entry.line, "multi\nline");
        assert_eq!(got[0].labels.get("service"), Some("app"));
        assert_eq!(got[1].entry.line, "second");
        assert_eq!(got[1].labels.get("service"), Some("b"));
    }
}
