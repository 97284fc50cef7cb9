//! Standard input as a source: one entry per line (labels `host`, `service` = `stdin` unless
//! configured, `env`), the line's own timestamp or the arrival time, optionally JSON lines.
//! When stdin is the only input, its end stops the agent once everything read was delivered
//! (`cat app.log | logq agent --stdin --push-url ...`).

use std::io::BufRead;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::SyncSender;
use std::sync::Arc;

use chrono::Local;
use logq_storage::{derive_message_id, Entry, LabelSet};

use crate::json_lines::map_json_line;
use crate::syslog::SourceEntry;
use crate::timestamp::parse_timestamp;

/// How stdin lines become entries.
#[derive(Debug, Clone)]
pub struct StdinConfig {
    /// `host` label.
    pub host: String,
    /// `service` label.
    pub service: String,
    /// `env` label.
    pub environment: Option<String>,
    /// Parse lines as JSON objects.
    pub json: bool,
    /// JSON fields that become labels.
    pub json_labels: Vec<String>,
    /// Longer lines are cut.
    pub max_line_bytes: usize,
    /// Set `stop` at the end of input.
    pub stop_at_eof: bool,
}

/// Turns one stdin line into an entry.
pub fn stdin_entry(text: String, cfg: &StdinConfig, arrival_ns: i64) -> SourceEntry {
    let now = Local::now().naive_local();
    let mut pairs = vec![
        ("host".to_string(), cfg.host.clone()),
        ("service".to_string(), cfg.service.clone()),
    ];
    if let Some(env) = &cfg.environment {
        pairs.push(("env".into(), env.clone()));
    }
    let (ts, line, metadata) = match cfg
        .json
        .then(|| map_json_line(&text, &cfg.json_labels, now))
        .flatten()
    {
        Some(m) => {
            for (k, v) in m.labels {
                if !pairs.iter().any(|(n, _)| *n == k) {
                    pairs.push((k, v));
                }
            }
            (m.ts, m.line, m.metadata)
        }
        None => {
            let ts = parse_timestamp(text.as_bytes(), now).and_then(|p| p.unix_nanos());
            (ts, text, Vec::new())
        }
    };
    let labels = LabelSet::from_pairs(pairs);
    let ts = ts.unwrap_or(arrival_ns);
    let id = derive_message_id(labels.fingerprint(), ts, &line);
    SourceEntry {
        labels,
        entry: Entry {
            ts,
            id,
            line,
            metadata,
        },
    }
}

/// Reads stdin on a thread, sending entries to `tx` (waiting when it is full).
pub fn start(cfg: StdinConfig, tx: SyncSender<SourceEntry>, stop: Arc<AtomicBool>) {
    std::thread::spawn(move || {
        let stdin = std::io::stdin();
        let mut r = stdin.lock();
        let mut buf = Vec::new();
        let mut seq: i64 = 0;
        loop {
            buf.clear();
            match r.read_until(b'\n', &mut buf) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "reading stdin failed");
                    break;
                }
            }
            if buf.last() == Some(&b'\n') {
                buf.pop();
            }
            if buf.last() == Some(&b'\r') {
                buf.pop();
            }
            buf.truncate(cfg.max_line_bytes);
            let text = String::from_utf8_lossy(&buf).into_owned();
            // Arrival times one nanosecond apart keep lines of one read distinct and ordered.
            seq += 1;
            let arrival = chrono::Utc::now().timestamp_nanos_opt().unwrap_or(0) + seq % 1000;
            if tx.send(stdin_entry(text, &cfg, arrival)).is_err() {
                return;
            }
        }
        if cfg.stop_at_eof {
            tracing::info!("end of stdin; stopping once delivered");
            stop.store(true, Ordering::Relaxed);
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_and_json_lines() {
        let mut cfg = StdinConfig {
            host: "h".into(),
            service: "stdin".into(),
            environment: Some("dev".into()),
            json: false,
            json_labels: vec!["app".into()],
            max_line_bytes: 100,
            stop_at_eof: false,
        };
        let e = stdin_entry("2024-01-02T03:04:05Z plain".into(), &cfg, 5);
        assert_eq!(e.entry.ts, 1_704_164_645_000_000_000);
        assert_eq!(e.labels.get("service"), Some("stdin"));
        assert_eq!(e.labels.get("env"), Some("dev"));
        let e = stdin_entry("no time".into(), &cfg, 5);
        assert_eq!(e.entry.ts, 5);
        cfg.json = true;
        let e = stdin_entry(r#"{"msg": "hi", "app": "api", "user": "u1"}"#.into(), &cfg, 5);
        assert_eq!(e.entry.line, "hi");
        assert_eq!(e.labels.get("app"), Some("api"));
        assert_eq!(e.entry.metadata, vec![("user".to_string(), "u1".to_string())]);
    }
}
