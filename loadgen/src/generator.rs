//! A deterministic generator of realistic log lines for demos, tests and benchmarks.
//!
//! Services: `nginx` and `apache` (combined access log), `api` (logfmt), `worker` (JSON),
//! `sshd` (syslog), `java` (log4j style, errors with multi-line stack traces), `mysql` (slow
//! query log) and `postgres`. Streams are (service, host) pairs labelled `env`, `host`,
//! `service`. Status codes, latencies, paths and levels follow skewed distributions, and one
//! line in [`GeneratorConfig::needle_every`] carries the token [`NEEDLE`] (a rare term to search
//! for; exactly `lines / needle_every` of them, rounded down).
//!
//! Same config, same lines: a test or a benchmark can regenerate exactly what it pushed.

use chrono::{DateTime, Utc};
use logq_storage::LabelSet;

/// The rare token planted at a known rate.
pub const NEEDLE: &str = "needle-7f3a9c";

/// Every service the generator writes logs for.
pub const SERVICES: [&str; 8] = [
    "nginx", "apache", "api", "worker", "sshd", "java", "mysql", "postgres",
];

/// One generated entry and the stream it belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GeneratedLine {
    /// Stream labels (`env`, `host`, `service`).
    pub labels: LabelSet,
    /// Index of the stream (service-major) in `0..streams`.
    pub stream: usize,
    /// The entry text (Java errors span several physical lines).
    pub line: String,
}

/// What to generate.
#[derive(Debug, Clone)]
pub struct GeneratorConfig {
    /// Seed: the same seed gives the same lines.
    pub seed: u64,
    /// Number of streams; services are spread over `ceil(streams / services)` hosts.
    pub streams: usize,
    /// One line in this many carries [`NEEDLE`] (0 = never).
    pub needle_every: u64,
    /// The `env` label.
    pub env: String,
}

impl Default for GeneratorConfig {
    fn default() -> Self {
        GeneratorConfig {
            seed: 1,
            streams: 16,
            needle_every: 100_000,
            env: "demo".into(),
        }
    }
}

/// A seeded generator.
#[derive(Debug, Clone)]
pub struct LogGenerator {
    state: u64,
    config: GeneratorConfig,
    streams: Vec<(String, String, LabelSet)>,
    count: u64,
}

const PATHS: [&str; 10] = [
    "/",
    "/api/v1/orders",
    "/api/v1/users/{id}",
    "/login",
    "/static/app.{id}.js",
    "/healthz",
    "/api/v1/search?q=boots",
    "/cart",
    "/api/v1/orders/{id}/items",
    "/favicon.ico",
];
const USERS: [&str; 6] = ["alice", "bob", "carol", "deploy", "root", "svc-backup"];
const AGENTS: [&str; 4] = [
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148",
    "curl/8.5.0",
    "Grafana/11.2.0",
];
const JAVA_CLASSES: [&str; 4] = [
    "com.shop.orders.OrderService",
    "com.shop.payments.PaymentClient",
    "com.shop.inventory.StockCache",
    "org.hibernate.engine.jdbc.spi.SqlExceptionHelper",
];

impl LogGenerator {
    /// A generator for `config`.
    pub fn with_config(config: GeneratorConfig) -> Self {
        let n = config.streams.max(1);
        let hosts = n.div_ceil(SERVICES.len());
        let mut streams = Vec::with_capacity(n);
        'outer: for h in 0..hosts {
            for service in SERVICES {
                if streams.len() == n {
                    break 'outer;
                }
                let host = host_name(h);
                let labels = LabelSet::from_pairs([
                    ("env".to_string(), config.env.clone()),
                    ("host".to_string(), host.clone()),
                    ("service".to_string(), service.to_string()),
                ]);
                streams.push((service.to_string(), host, labels));
            }
        }
        LogGenerator {
            state: config.seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1,
            config,
            streams,
            count: 0,
        }
    }

    /// A generator with the default config and `seed`.
    pub fn new(seed: u64) -> Self {
        Self::with_config(GeneratorConfig {
            seed,
            ..Default::default()
        })
    }

    /// Number of streams.
    pub fn stream_count(&self) -> usize {
        self.streams.len()
    }

    /// The labels of stream `i`.
    pub fn stream_labels(&self, i: usize) -> &LabelSet {
        &self.streams[i].2
    }

    /// The services this generator writes logs for.
    pub fn services() -> &'static [&'static str] {
        &SERVICES
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
        self.next_u64() % n.max(1)
    }

    /// A latency in ms with a long tail (mostly tens of ms, sometimes seconds).
    fn latency_ms(&mut self) -> u64 {
        let r = self.below(1000);
        match r {
            0..=899 => 2 + self.below(80),
            900..=989 => 80 + self.below(900),
            _ => 1000 + self.below(9000),
        }
    }

    fn path(&mut self) -> String {
        let p = self.pick(&PATHS);
        let id = self.below(100_000);
        p.replace("{id}", &id.to_string())
    }

    /// Generates the next entry, stamped `ts` (Unix ns), for a stream picked with a skew (the
    /// first streams are busier, as real fleets are).
    pub fn next_line(&mut self, ts: i64) -> GeneratedLine {
        let n = self.streams.len() as u64;
        // Half the time uniform, half the time from the first quarter.
        let stream = if self.below(2) == 0 {
            self.below(n)
        } else {
            self.below(n.div_ceil(4))
        } as usize;
        self.line_for_stream(stream, ts)
    }

    /// Generates the next entry of stream `stream` stamped `ts`.
    pub fn line_for_stream(&mut self, stream: usize, ts: i64) -> GeneratedLine {
        let stream = stream % self.streams.len();
        let (service, host, labels) = self.streams[stream].clone();
        let mut line = self.text(&service, &host, ts);
        self.count += 1;
        if self.config.needle_every > 0 && self.count.is_multiple_of(self.config.needle_every) {
            line.push_str(" marker=");
            line.push_str(NEEDLE);
        }
        GeneratedLine { labels, stream, line }
    }

    /// Generates an entry stamped `ts` for a given service and host (outside the stream table).
    pub fn line_for(&mut self, service: &str, host: &str, ts: i64) -> GeneratedLine {
        let line = self.text(service, host, ts);
        let labels = LabelSet::from_pairs([
            ("env".to_string(), self.config.env.clone()),
            ("host".to_string(), host.to_string()),
            ("service".to_string(), service.to_string()),
        ]);
        GeneratedLine {
            labels,
            stream: 0,
            line,
        }
    }

    fn text(&mut self, service: &str, host: &str, ts: i64) -> String {
        let when: DateTime<Utc> = DateTime::from_timestamp_nanos(ts);
        let roll = self.below(1000);
        let level = match roll {
            0..=14 => "error",
            15..=79 => "warn",
            80..=149 => "debug",
            _ => "info",
        };
        let ip = format!("10.{}.{}.{}", self.below(4), self.below(256), 1 + self.below(254));
        match service {
            "nginx" | "apache" => {
                let status = match self.below(1000) {
                    0..=9 => 500 + self.below(4),
                    10..=59 => 404,
                    60..=79 => 301 + self.below(3),
                    80..=99 => 401 + self.below(3),
                    _ => 200,
                };
                let method = if self.below(10) < 8 { "GET" } else { "POST" };
                let time = if service == "nginx" {
                    when.format("%d/%b/%Y:%H:%M:%S %z").to_string()
                } else {
                    when.format("%d/%b/%Y:%H:%M:%S +0000").to_string()
                };
                let path = self.path();
                let bytes = 200 + self.below(50_000);
                let agent = self.pick(&AGENTS);
                let mut line = format!("{ip} - - [{time}] \"{method} {path} HTTP/1.1\" {status} {bytes} \"-\" \"{agent}\"");
                if service == "nginx" {
                    line.push_str(&format!(" rt={:.3}", self.latency_ms() as f64 / 1000.0));
                }
                line
            }
            "api" => {
                let path = self.path();
                let status = if level == "error" { 500 } else if level == "warn" { 429 } else { 200 };
                format!(
                    "ts={} level={level} caller=handler.go:{} method=GET path={path} status={status} duration={}ms user={} trace_id={:016x}",
                    when.format("%Y-%m-%dT%H:%M:%S%.3fZ"),
                    40 + self.below(300),
                    self.latency_ms(),
                    self.pick(&USERS),
                    self.next_u64()
                )
            }
            "worker" => format!(
                r#"{{"time":"{}","level":"{level}","job":"invoice-{}","queue":"{}","msg":"{}","attempt":{},"duration_ms":{}}}"#,
                when.format("%Y-%m-%dT%H:%M:%S%.6fZ"),
                self.below(1_000_000),
                self.pick(&["billing", "email", "reports"]),
                if level == "error" { "job failed: connection reset by peer" } else { "job completed" },
                1 + self.below(3),
                self.latency_ms()
            ),
            "sshd" => {
                let pid = 1000 + self.below(60_000);
                let user = self.pick(&USERS);
                let port = 1024 + self.below(60_000);
                let msg = match level {
                    "info" | "debug" => format!("Accepted publickey for {user} from {ip} port {port} ssh2: ED25519 SHA256:{:x}", self.next_u64()),
                    "warn" => format!("Failed password for invalid user {user} from {ip} port {port} ssh2"),
                    _ => format!("error: kex_exchange_identification: Connection closed by remote host {ip} port {port}"),
                };
                format!("{} {host} sshd[{pid}]: {msg}", when.format("%b %e %H:%M:%S"))
            }
            "java" => {
                let class = self.pick(&JAVA_CLASSES);
                let thread = format!("http-nio-8080-exec-{}", 1 + self.below(200));
                let head = format!(
                    "{} {:<5} [{thread}] {class} - ",
                    when.format("%Y-%m-%d %H:%M:%S,%3f"),
                    level.to_uppercase()
                );
                if level == "error" {
                    format!(
                        "{head}Failed to process order {}\njava.lang.IllegalStateException: stock level negative for sku {}\n\tat {class}.reserve({}.java:{})\n\tat com.shop.orders.OrderController.create(OrderController.java:{})\n\tat org.springframework.web.servlet.FrameworkServlet.service(FrameworkServlet.java:897)\n\t... 42 more",
                        self.below(10_000_000),
                        self.below(100_000),
                        class.rsplit('.').next().unwrap_or("Main"),
                        20 + self.below(400),
                        20 + self.below(200)
                    )
                } else {
                    format!("{head}Processed order {} in {} ms", self.below(10_000_000), self.latency_ms())
                }
            }
            "mysql" => format!(
                "# Time: {}\n# User@Host: app[app] @ {ip} []  Id: {}\n# Query_time: {}.{:06}  Lock_time: 0.{:06} Rows_sent: {}  Rows_examined: {}\nSELECT * FROM orders WHERE customer_id = {} ORDER BY created_at DESC;",
                when.format("%Y-%m-%dT%H:%M:%S%.6fZ"),
                self.below(100_000),
                self.below(12),
                self.below(1_000_000),
                self.below(1000),
                self.below(500),
                self.below(2_000_000),
                self.below(1_000_000)
            ),
            _ => {
                let pid = 100 + self.below(30_000);
                let (sev, msg) = match level {
                    "error" => ("ERROR", "duplicate key value violates unique constraint \"orders_pkey\"".to_string()),
                    "warn" => ("WARNING", "there is no transaction in progress".to_string()),
                    _ => (
                        "LOG",
                        format!(
                            "duration: {}.{:03} ms  statement: SELECT * FROM orders WHERE id = {}",
                            self.latency_ms(),
                            self.below(1000),
                            self.below(1_000_000)
                        ),
                    ),
                };
                format!("{} UTC [{pid}] {sev}:  {msg}", when.format("%Y-%m-%d %H:%M:%S%.3f"))
            }
        }
    }
}

fn host_name(i: usize) -> String {
    let kinds = ["web", "app", "db", "batch"];
    format!("{}-{}", kinds[i % kinds.len()], i / kinds.len() + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_and_varied() {
        let mut a = LogGenerator::new(7);
        let mut b = LogGenerator::new(7);
        let lines: Vec<GeneratedLine> = (0..2000)
            .map(|i| a.next_line(1_700_000_000_000_000_000 + i))
            .collect();
        let again: Vec<GeneratedLine> = (0..2000)
            .map(|i| b.next_line(1_700_000_000_000_000_000 + i))
            .collect();
        assert_eq!(lines, again);
        let services: std::collections::BTreeSet<&str> =
            lines.iter().filter_map(|l| l.labels.get("service")).collect();
        assert_eq!(services.len(), SERVICES.len());
        assert_eq!(a.stream_count(), 16);
        let nginx = lines
            .iter()
            .find(|l| l.labels.get("service") == Some("nginx"))
            .unwrap();
        assert!(
            nginx.line.contains("[14/Nov/2023:22:13:20 +0000] \""),
            "{}",
            nginx.line
        );
        assert!(
            lines.iter().any(|l| l.line.contains("\n\tat com.shop")),
            "java stack traces"
        );
        assert!(lines.iter().any(|l| l.line.contains(" 500 ")), "server errors");
    }

    #[test]
    fn needles_appear_at_the_configured_rate() {
        let mut g = LogGenerator::with_config(GeneratorConfig {
            needle_every: 1000,
            streams: 40,
            ..Default::default()
        });
        let n = (0..10_000)
            .filter(|i| g.next_line(*i).line.contains(NEEDLE))
            .count();
        assert_eq!(n, 10);
        assert_eq!(g.stream_count(), 40);
        let hosts: std::collections::BTreeSet<String> = (0..40)
            .filter_map(|i| g.stream_labels(i).get("host").map(str::to_string))
            .collect();
        assert_eq!(hosts.len(), 5);
    }
}
