//! Warnings of one query: what its answer lacks, told to the client in Loki's `warnings` field
//! (`{"status":"success","data":...,"warnings":[...]}`) instead of failing the whole query.
//!
//! The API runs a query inside [`collect_warnings`]; while it runs, the querier records what it
//! could not read (an ingester head that did not answer) with [`warn_or_fail`] and goes on with
//! what it could read. Invariants:
//! - a missing part is never silent: without a collector in scope (a caller that cannot tell
//!   its client) the read fails as before;
//! - each distinct warning is reported once per query, in the order first seen;
//! - operators see unreachable heads in the log, at most once per [`LOG_EVERY`] (with how many
//!   were not logged meanwhile), however many queries hit them.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use logq_storage::HeadReadError;

use crate::error::QueryError;

/// Shortest time between two log lines about unreadable heads.
pub const LOG_EVERY: Duration = Duration::from_secs(10);

tokio::task_local! {
    static WARNINGS: Arc<Mutex<Vec<String>>>;
}

/// Runs `query`, collecting the warnings recorded while it runs (de-duplicated, in order).
pub async fn collect_warnings<F: Future>(query: F) -> (F::Output, Vec<String>) {
    let warnings = Arc::new(Mutex::new(Vec::new()));
    let out = WARNINGS.scope(warnings.clone(), query).await;
    let list = std::mem::take(&mut *warnings.lock().unwrap_or_else(|e| e.into_inner()));
    (out, list)
}

/// Records `warning` for the running query; false when no query collects warnings.
fn record(warning: String) -> bool {
    WARNINGS
        .try_with(|w| {
            let mut list = w.lock().unwrap_or_else(|e| e.into_inner());
            if !list.contains(&warning) {
                list.push(warning);
            }
        })
        .is_ok()
}

/// Log lines about unreadable heads not written since the last one, and when that was.
static LOGGED: Mutex<Option<(Instant, u64)>> = Mutex::new(None);

fn log_rate_limited(error: &HeadReadError) {
    let mut logged = LOGGED.lock().unwrap_or_else(|e| e.into_inner());
    match &mut *logged {
        Some((at, suppressed)) if at.elapsed() < LOG_EVERY => *suppressed += 1,
        _ => {
            let suppressed = logged.map_or(0, |(_, n)| n);
            tracing::warn!(
                error = %error,
                not_logged_since_last = suppressed,
                "an ingester head could not be read; answering without its unflushed entries"
            );
            *logged = Some((Instant::now(), 0));
        }
    }
}

/// A head could not be read: with a collector in scope, records a warning (and logs,
/// rate-limited) so the query goes on without that head; otherwise the query fails with `error`.
pub(crate) fn warn_or_fail(error: HeadReadError) -> Result<(), QueryError> {
    let warning = format!("{error} (results may lack its unflushed entries)");
    if record(warning) {
        log_rate_limited(&error);
        Ok(())
    } else {
        Err(error.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn warnings_are_collected_once_each_and_fail_without_a_collector() {
        let err = || HeadReadError("ingester http://x: Connection refused".into());
        let (out, warnings) = collect_warnings(async {
            warn_or_fail(err())?;
            warn_or_fail(err())?;
            warn_or_fail(HeadReadError("ingester http://y: timed out".into()))
        })
        .await;
        assert!(out.is_ok());
        assert_eq!(warnings.len(), 2, "{warnings:?}");
        assert!(
            warnings[0].contains("http://x: Connection refused"),
            "{warnings:?}"
        );
        assert!(warn_or_fail(err()).is_err());
    }
}
