//! Object keys: the one place that knows where each kind of object lives.
//!
//! ```text
//! <tenant>/chunks/<window-start-ns>/<source>-<seq>.chunk   flushed 5-minute chunks
//! <tenant>/blocks/<yyyy-mm-dd>/<block-id>.parquet          compacted blocks
//! <tenant>/blocks/<yyyy-mm-dd>/<block-id>.index            label index of a block
//! <tenant>/manifest/<version, 20 digits>.json              manifest versions
//! ```

use crate::tenant::TenantId;

/// Length of a chunk window: 5 minutes in nanoseconds.
pub const WINDOW_NS: i64 = 5 * 60 * 1_000_000_000;

/// Start of the 5-minute window holding `ts`.
pub fn window_start(ts: i64) -> i64 {
    ts.div_euclid(WINDOW_NS) * WINDOW_NS
}

/// Key of a flushed chunk.
pub fn chunk_key(tenant: &TenantId, window_start: i64, source: &str, seq: u64) -> String {
    format!("{tenant}/chunks/{window_start}/{source}-{seq:016}.chunk")
}

/// Keys of a block's data and label index, filed under its day (UTC) of `min_ts`.
pub fn block_keys(tenant: &TenantId, min_ts: i64, block_id: &str) -> (String, String) {
    let day = day_of(min_ts);
    (
        format!("{tenant}/blocks/{day}/{block_id}.parquet"),
        format!("{tenant}/blocks/{day}/{block_id}.index"),
    )
}

/// Prefix of a tenant's manifest versions.
pub fn manifest_prefix(tenant: &TenantId) -> String {
    format!("{tenant}/manifest")
}

/// Key of manifest version `version`.
pub fn manifest_key(tenant: &TenantId, version: u64) -> String {
    format!("{tenant}/manifest/{version:020}.json")
}

/// `yyyy-mm-dd` (UTC) of a nanosecond timestamp, by civil-from-days arithmetic.
pub fn day_of(ts: i64) -> String {
    let days = ts.div_euclid(86_400 * 1_000_000_000);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_and_windows() {
        assert_eq!(day_of(0), "1970-01-01");
        assert_eq!(day_of(1_700_000_000_000_000_000), "2023-11-14");
        assert_eq!(day_of(951_782_400_000_000_000), "2000-02-29");
        assert_eq!(window_start(WINDOW_NS + 5), WINDOW_NS);
        assert_eq!(window_start(-1), -WINDOW_NS);
    }
}
