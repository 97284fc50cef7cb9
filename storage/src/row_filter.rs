//! What a reader keeps of the rows it decodes ([`RowFilter`]: a time range, a line predicate,
//! a literal every kept line contains) and what a query examined ([`ScanStats`]).
//!
//! Invariant: [`RowFilter::required`] never changes which rows are kept. It is a literal that
//! every line the predicate keeps contains, so a reader may search a whole decoded batch of
//! lines for it at once (one `memmem` pass over the batch's bytes) and run the predicate only on
//! the lines that hold it; the predicate still decides.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;

use memchr::memmem::Finder;

/// A predicate over line text.
pub type LinePredicate = Arc<dyn Fn(&str) -> bool + Send + Sync>;

/// Counts of what a query examined (rows in its time range, and their line bytes).
#[derive(Debug, Default)]
pub struct ScanStats {
    /// Lines examined.
    pub lines: AtomicU64,
    /// Line bytes examined.
    pub bytes: AtomicU64,
    /// Ids of the history indexes that answered part of the query.
    pub history_indexes: std::sync::Mutex<std::collections::BTreeSet<String>>,
    /// Whether the query could use a history index (it has a positive line filter).
    pub history_eligible: std::sync::atomic::AtomicBool,
    /// Sources read by scanning: stored objects (or parts of them) and non-empty heads.
    pub scanned_sources: AtomicU64,
}

impl ScanStats {
    /// (lines, bytes) so far.
    pub fn snapshot(&self) -> (u64, u64) {
        (self.lines.load(Relaxed), self.bytes.load(Relaxed))
    }

    /// How many distinct history indexes answered part of the query.
    pub fn history_indexes_used(&self) -> usize {
        self.history_indexes.lock().map_or(0, |s| s.len())
    }

    /// Records that history index `id` answered part of the query.
    pub fn used_history_index(&self, id: &str) {
        if let Ok(mut s) = self.history_indexes.lock() {
            s.insert(id.to_string());
        }
    }

    /// Which path answered: `history` (indexes only), `mixed` (indexes and scanning) or `scan`.
    pub fn path(&self) -> &'static str {
        match (
            self.history_indexes_used() > 0,
            self.scanned_sources.load(Relaxed) > 0,
        ) {
            (false, _) => "scan",
            (true, false) => "history",
            (true, true) => "mixed",
        }
    }

    /// Counts `lines` more lines of `bytes` bytes.
    pub fn add(&self, lines: u64, bytes: u64) {
        self.lines.fetch_add(lines, Relaxed);
        self.bytes.fetch_add(bytes, Relaxed);
    }
}

/// Which rows a reader keeps: a time range and an optional line predicate, applied while
/// decoding so rejected lines are never copied.
#[derive(Clone)]
pub struct RowFilter {
    /// Inclusive start, ns.
    pub start: i64,
    /// Exclusive end, ns.
    pub end: i64,
    /// Lines must pass this, when set.
    pub line: Option<LinePredicate>,
    /// A literal that every line `line` keeps contains (see the module doc), when one is known.
    pub required: Option<Arc<Finder<'static>>>,
    /// Where to count the rows examined, when set.
    pub stats: Option<Arc<ScanStats>>,
    /// Whether kept rows need their text (counting queries only need timestamps and ids).
    pub keep_lines: bool,
}

impl RowFilter {
    /// Keeps every row.
    pub fn all() -> Self {
        RowFilter {
            start: i64::MIN,
            end: i64::MAX,
            line: None,
            required: None,
            stats: None,
            keep_lines: true,
        }
    }

    /// The same filter with `literal` as its required literal (an empty one is no help).
    pub fn with_required(mut self, literal: &str) -> Self {
        self.required = (!literal.is_empty()).then(|| Arc::new(Finder::new(literal.as_bytes()).into_owned()));
        self
    }

    /// Whether a row at `ts` is in the time range.
    pub fn in_range(&self, ts: i64) -> bool {
        ts >= self.start && ts < self.end
    }

    /// Whether a row at `ts` with `line` is kept (counting it as examined when in range).
    pub fn keeps(&self, ts: i64, line: &str) -> bool {
        if !self.in_range(ts) {
            return false;
        }
        if let Some(s) = &self.stats {
            s.add(1, line.len() as u64);
        }
        self.passes(line)
    }

    /// Whether `line` passes the line predicate (time and stats aside).
    pub fn passes(&self, line: &str) -> bool {
        if let Some(f) = &self.required {
            if f.find(line.as_bytes()).is_none() {
                return false;
            }
        }
        self.line.as_ref().is_none_or(|f| f(line))
    }

    /// The rows of a batch of lines (`data[offsets[i]..offsets[i + 1]]` is line `i`) that hold
    /// the required literal, ascending; `None` when there is no required literal.
    pub fn candidates(&self, data: &[u8], offsets: &[usize]) -> Option<Vec<usize>> {
        let finder = self.required.as_ref()?;
        let mut rows = Vec::new();
        let (Some(&first), Some(&last)) = (offsets.first(), offsets.last()) else {
            return Some(rows);
        };
        let len = finder.needle().len();
        let mut at = first;
        let mut row = 0;
        while at < last {
            let Some(pos) = finder.find(&data[at..last]) else {
                break;
            };
            let found = at + pos;
            while offsets[row + 1] <= found {
                row += 1;
            }
            // A match across a line end belongs to no line; any later match starting in the
            // same line would cross too, so the search goes on at the next line either way.
            if found + len <= offsets[row + 1] {
                rows.push(row);
            }
            at = offsets[row + 1];
            row += 1;
        }
        Some(rows)
    }
}

impl std::fmt::Debug for RowFilter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RowFilter")
            .field("start", &self.start)
            .field("end", &self.end)
            .field("line", &self.line.is_some())
            .field(
                "required",
                &self
                    .required
                    .as_ref()
                    .map(|f| String::from_utf8_lossy(f.needle()).into_owned()),
            )
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(lines: &[&str]) -> (Vec<u8>, Vec<usize>) {
        let mut data = Vec::new();
        let mut offsets = vec![0];
        for l in lines {
            data.extend_from_slice(l.as_bytes());
            offsets.push(data.len());
        }
        (data, offsets)
    }

    #[test]
    fn candidates_are_the_lines_holding_the_literal() {
        let f = RowFilter::all().with_required("aa");
        let lines = ["xa", "aay", "a", "a", "baab", "", "aa", "q"];
        let (data, offsets) = batch(&lines);
        let want: Vec<usize> = (0..lines.len()).filter(|&i| lines[i].contains("aa")).collect();
        assert_eq!(f.candidates(&data, &offsets), Some(want));
        // Offsets need not start at zero (a slice of a larger buffer).
        let shifted: Vec<usize> = offsets.iter().map(|o| o + 3).collect();
        let mut padded = b"aaa".to_vec();
        padded.extend_from_slice(&data);
        assert_eq!(f.candidates(&padded, &shifted), Some(vec![1, 4, 6]));
        assert_eq!(RowFilter::all().candidates(&data, &offsets), None);
        assert_eq!(f.candidates(&[], &[0]), Some(vec![]));
    }

    #[test]
    fn the_required_literal_only_narrows() {
        let f = RowFilter {
            line: Some(Arc::new(|l: &str| l.ends_with('!'))),
            ..RowFilter::all().with_required("needle")
        };
        assert!(f.passes("a needle!"));
        assert!(!f.passes("a needle"));
        assert!(!f.passes("a haystack!"));
    }
}
