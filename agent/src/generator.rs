//! A deterministic generator of realistic log lines: nginx access logs, logfmt API logs, JSON
//! worker logs, sshd syslog lines and PostgreSQL logs, spread over a few hosts.
//!
//! Same seed, same lines: tests can regenerate exactly what they pushed.

use chrono::{DateTime, Utc};
use logq_storage::LabelSet;

/// One generated line and the stream it belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GeneratedLine {
    /// Stream labels (`env`, `host`, `service`, `level`).
    pub labels: LabelSet,
    /// The line text.
    pub line: String,
}

/// A seeded generator.
#[derive(Debug, Clone)]
pub struct LogGenerator {
    state: u64,
}

const SERVICES: [&str; 5] = ["nginx", "api", "worker", "sshd", "postgres"];
const HOSTS: [&str; 4] = ["web-1", "web-2", "db-1", "batch-1"];
const PATHS: [&str; 8] = [
    "/",
    "/api/v1/orders",
    "/api/v1/users/42",
    "/login",
    "/static/app.js",
    "/healthz",
    "/api/v1/search?q=boots",
    "/cart",
];
const USERS: [&str; 5] = ["alice", "bob", "carol", "deploy", "root"];
const AGENTS: [&str; 3] = [
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/126.0 Safari/537.36",
    "curl/8.5.0",
    "Grafana/11.2.0",
];

impl LogGenerator {
    /// A generator seeded with `seed`.
    pub fn new(seed: u64) -> Self {
        LogGenerator {
            state: seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1,
        }
    }

    fn next_u64(&mut self) -> u64 {
        // xorshift64*
        let mut x = self.state;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.state = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[(self.next_u64() % items.len() as u64) as usize]
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    /// The services this generator writes logs for.
    pub fn services() -> &'static [&'static str] {
        &SERVICES
    }

    /// Generates a line stamped `ts` (Unix ns) for a random service and host.
    pub fn next_line(&mut self, ts: i64) -> GeneratedLine {
        let service = self.pick(&SERVICES);
        let host = self.pick(&HOSTS);
        self.line_for(service, host, ts)
    }

    /// Generates a line stamped `ts` for a given service and host.
    pub fn line_for(&mut self, service: &str, host: &str, ts: i64) -> GeneratedLine {
        let when: DateTime<Utc> = DateTime::from_timestamp_nanos(ts);
        let roll = self.below(100);
        let level = if roll < 3 {
            "error"
        } else if roll < 12 {
            "warn"
        } else {
            "info"
        };
        let ip = format!("10.{}.{}.{}", self.below(4), self.below(256), 1 + self.below(254));
        let line = match service {
            "nginx" => {
                let status = match level {
                    "error" => 500 + self.below(4) as u16,
                    "warn" => 404,
                    _ => 200,
                };
                format!(
                    "{ip} - - [{}] \"GET {} HTTP/1.1\" {status} {} \"-\" \"{}\"",
                    when.format("%d/%b/%Y:%H:%M:%S %z"),
                    self.pick(&PATHS),
                    200 + self.below(50_000),
                    self.pick(&AGENTS)
                )
            }
            "api" => format!(
                "ts={} level={level} method=GET path={} status={} duration={}ms user={} trace_id={:016x}",
                when.format("%Y-%m-%dT%H:%M:%S%.3fZ"),
                self.pick(&PATHS),
                if level == "error" { 500 } else { 200 },
                1 + self.below(900),
                self.pick(&USERS),
                self.next_u64()
            ),
            "worker" => format!(
                r#"{{"time":"{}","level":"{level}","job":"invoice-{}","msg":"{}","attempt":{}}}"#,
                when.format("%Y-%m-%dT%H:%M:%S%.6fZ"),
                self.below(100_000),
                if level == "error" {
                    "job failed: connection reset by peer"
                } else {
                    "job completed"
                },
                1 + self.below(3)
            ),
            "sshd" => {
                let pid = 1000 + self.below(60_000);
                let user = self.pick(&USERS);
                let port = 1024 + self.below(60_000);
                let msg = if level == "info" {
                    format!("Accepted publickey for {user} from {ip} port {port} ssh2")
                } else {
                    format!("Failed password for invalid user {user} from {ip} port {port} ssh2")
                };
                format!("{} {host} sshd[{pid}]: {msg}", when.format("%b %e %H:%M:%S"))
            }
            _ => {
                let pid = 100 + self.below(30_000);
                let (sev, msg) = match level {
                    "error" => (
                        "ERROR",
                        "duplicate key value violates unique constraint \"orders_pkey\"".to_string(),
                    ),
                    "warn" => ("WARNING", "there is no transaction in progress".to_string()),
                    _ => (
                        "LOG",
                        format!(
                            "duration: {}.{:03} ms  statement: SELECT * FROM orders WHERE id = {}",
                            self.below(300),
                            self.below(1000),
                            self.below(1_000_000)
                        ),
                    ),
                };
                format!(
                    "{} UTC [{pid}] {sev}:  {msg}",
                    when.format("%Y-%m-%d %H:%M:%S%.3f")
                )
            }
        };
        let labels = LabelSet::from_pairs([
            ("env".to_string(), "demo".to_string()),
            ("host".to_string(), host.to_string()),
            ("service".to_string(), service.to_string()),
            ("level".to_string(), level.to_string()),
        ]);
        GeneratedLine { labels, line }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_and_varied() {
        let mut a = LogGenerator::new(7);
        let mut b = LogGenerator::new(7);
        let lines: Vec<GeneratedLine> = (0..500)
            .map(|i| a.next_line(1_700_000_000_000_000_000 + i))
            .collect();
        let again: Vec<GeneratedLine> = (0..500)
            .map(|i| b.next_line(1_700_000_000_000_000_000 + i))
            .collect();
        assert_eq!(lines, again);
        let services: std::collections::BTreeSet<&str> =
            lines.iter().filter_map(|l| l.labels.get("service")).collect();
        assert_eq!(services.len(), SERVICES.len());
        assert!(lines.iter().any(|l| l.labels.get("level") == Some("error")));
        let nginx = lines
            .iter()
            .find(|l| l.labels.get("service") == Some("nginx"))
            .unwrap();
        assert!(
            nginx.line.contains("[14/Nov/2023:22:13:20 +0000] \"GET "),
            "{}",
            nginx.line
        );
    }
}
