//! librdkafka's own log lines, routed into `tracing` (target `librdkafka`), so an operator sees
//! the client's errors in logq's log and can turn on its debug contexts: `-X debug=cgrp,fetch`
//! with `LOGQ_LOG=debug` (or `LOGQ_LOG=info,librdkafka=debug`).
//!
//! Levels: syslog emergency..error -> `error`, warning -> `warn`, notice and info -> `info`,
//! debug -> `debug`. Rate limit: at most [`LINES_PER_SECOND`] lines a second over all clients of
//! the process; the lines dropped are counted and the count is logged with the next line that
//! passes.
//!
//! [`LogContext`] is the client context of logq's producers and admin clients; the ingester's
//! consumer context forwards its `log` callback to [`forward`] too.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use rdkafka::config::RDKafkaLogLevel;
use rdkafka::producer::ProducerContext;
use rdkafka::ClientContext;

/// Most librdkafka lines logged per second (a `debug=all` client writes thousands).
pub const LINES_PER_SECOND: u64 = 200;

struct Window {
    start: Option<Instant>,
    count: u64,
}

static WINDOW: Mutex<Window> = Mutex::new(Window {
    start: None,
    count: 0,
});
static DROPPED: AtomicU64 = AtomicU64::new(0);

/// Whether one more line may be logged now (fixed one-second windows).
fn admit() -> bool {
    let mut w = WINDOW.lock().unwrap_or_else(|p| p.into_inner());
    let now = Instant::now();
    if w.start.is_none_or(|s| now.duration_since(s).as_secs() >= 1) {
        w.start = Some(now);
        w.count = 0;
    }
    w.count += 1;
    w.count <= LINES_PER_SECOND
}

/// Logs one librdkafka line through `tracing`, level mapped, rate-limited.
pub fn forward(level: RDKafkaLogLevel, facility: &str, message: &str) {
    if !admit() {
        DROPPED.fetch_add(1, Ordering::Relaxed);
        return;
    }
    let dropped = DROPPED.swap(0, Ordering::Relaxed);
    match level {
        RDKafkaLogLevel::Emerg
        | RDKafkaLogLevel::Alert
        | RDKafkaLogLevel::Critical
        | RDKafkaLogLevel::Error => {
            tracing::error!(target: "librdkafka", facility, dropped, "{message}")
        }
        RDKafkaLogLevel::Warning => tracing::warn!(target: "librdkafka", facility, dropped, "{message}"),
        RDKafkaLogLevel::Notice | RDKafkaLogLevel::Info => {
            tracing::info!(target: "librdkafka", facility, dropped, "{message}")
        }
        RDKafkaLogLevel::Debug => tracing::debug!(target: "librdkafka", facility, dropped, "{message}"),
    }
}

/// The lines not logged so far for the rate limit (not yet reported with a later line).
#[cfg(test)]
fn dropped() -> u64 {
    DROPPED.load(Ordering::Relaxed)
}

/// A client context whose librdkafka log lines go to `tracing` (see the module docs).
#[derive(Debug, Clone, Copy, Default)]
pub struct LogContext;

impl ClientContext for LogContext {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, log_message: &str) {
        forward(level, fac, log_message);
    }
}

impl ProducerContext for LogContext {
    type DeliveryOpaque = ();

    fn delivery(&self, _: &rdkafka::message::DeliveryResult<'_>, _: Self::DeliveryOpaque) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A subscriber capturing formatted events (target, level, message) for one test.
    #[derive(Clone, Default)]
    struct Capture(std::sync::Arc<Mutex<Vec<String>>>);

    impl std::io::Write for Capture {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0
                .lock()
                .unwrap()
                .push(String::from_utf8_lossy(buf).into_owned());
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn levels_are_mapped_and_a_flood_is_cut_and_counted() {
        let cap = Capture::default();
        let writer = cap.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::DEBUG)
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            forward(RDKafkaLogLevel::Error, "FAIL", "broker down");
            forward(RDKafkaLogLevel::Debug, "CGRPJOIN", "joining group");
            for i in 0..(LINES_PER_SECOND * 2) {
                forward(RDKafkaLogLevel::Info, "SPAM", &format!("line {i}"));
            }
        });
        let lines = cap.0.lock().unwrap().join("");
        assert!(lines.contains("ERROR librdkafka: broker down"), "{lines}");
        assert!(lines.contains("DEBUG librdkafka: joining group"), "{lines}");
        assert!(
            lines.contains("facility=\"CGRPJOIN\"") || lines.contains("facility=CGRPJOIN"),
            "{lines}"
        );
        let logged = lines.matches("SPAM").count() as u64;
        assert!(logged < LINES_PER_SECOND * 2, "{logged} lines passed the limit");
        assert!(
            dropped() > 0 || lines.contains("dropped="),
            "the cut lines are counted"
        );
    }
}
