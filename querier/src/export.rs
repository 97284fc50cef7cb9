//! The streaming export's entry point: one time window of a log query with every matching
//! entry (no entry limit) and no range limit. The caller (the export endpoint) walks a long range
//! window by window, so its memory is bounded by one window's entries and the stored objects
//! read for it, whatever the range.

use crate::engine::{LogQuery, Querier, StreamResult};
use crate::error::QueryError;

impl Querier {
    /// Every entry of `q` in `[q.start, q.end)`, oldest first within each stream, grouped by
    /// stream labels with each entry's structured metadata and parsed labels (Loki's
    /// categorized encoding). `q.limit` and `q.direction` are ignored, as are the query range
    /// and entry limits: the window is the caller's bound.
    pub async fn export_window(&self, q: &LogQuery) -> Result<Vec<StreamResult>, QueryError> {
        if q.end < q.start {
            return Err(QueryError::BadRequest(
                "invalid query, through < from: end timestamp must not be before start time".into(),
            ));
        }
        let q = LogQuery {
            limit: usize::MAX,
            direction: crate::engine::Direction::Forward,
            ..q.clone()
        };
        crate::log_select::select(self, &q, true).await
    }

    /// The timestamp of the oldest entry of `q` in `[q.start, q.end)` (after its pipeline), if
    /// any: lets a long export skip empty stretches in one query. Range limits are not applied.
    pub async fn first_entry_ts(&self, q: &LogQuery) -> Result<Option<i64>, QueryError> {
        let q = LogQuery {
            limit: 1,
            direction: crate::engine::Direction::Forward,
            ..q.clone()
        };
        let found = crate::log_select::select(self, &q, false).await?;
        Ok(found.iter().flat_map(|s| s.entries.iter()).map(|e| e.ts).min())
    }
}
