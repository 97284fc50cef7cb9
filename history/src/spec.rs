//! The plain data of the interface: what an index covers ([`IndexSpec`]), what a search asks
//! ([`SearchRequest`], [`Needle`], [`Cursor`]) and answers ([`SearchPage`]), and how far a
//! build got ([`BuildProgress`]).

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use logq_storage::{Entry, LabelMatcher, LabelSet, TenantId};
use memchr::memmem::Finder;

/// What an index covers: a tenant's entries with `start_ns <= ts < end_ns` in the streams
/// matching `selector` (empty = every stream).
#[derive(Debug, Clone)]
pub struct IndexSpec {
    /// Whose data.
    pub tenant: TenantId,
    /// Inclusive start, Unix ns.
    pub start_ns: i64,
    /// Exclusive end, Unix ns.
    pub end_ns: i64,
    /// Stream selector; empty selects every stream.
    pub selector: Vec<LabelMatcher>,
}

impl IndexSpec {
    /// The selector in LogQL form (`{}` when empty), as recorded in the summary.
    pub fn selector_text(&self) -> String {
        let parts: Vec<String> = self.selector.iter().map(|m| m.to_string()).collect();
        format!("{{{}}}", parts.join(", "))
    }
}

/// The positive line-filter requirement of a query: a conjunction of disjunctions of
/// case-sensitive substring literals. `|= "a" |= "b" or "c"` is `[[a], [b, c]]`; `|~ "foo.*bar"`
/// is `[[foo], [bar]]`. An empty `all_of` requires nothing (every entry is returned).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Needle {
    /// Every group must have at least one literal contained in the line.
    pub all_of: Vec<Vec<String>>,
}

impl Needle {
    /// A needle of one literal.
    pub fn literal(s: impl Into<String>) -> Self {
        Needle {
            all_of: vec![vec![s.into()]],
        }
    }

    /// Whether `line` satisfies the needle (the check the index applies to its candidates).
    pub fn matches(&self, line: &str) -> bool {
        CompiledNeedle::new(self).matches(line.as_bytes())
    }
}

/// A needle with its literals' finders built once per search.
pub(crate) struct CompiledNeedle {
    groups: Vec<Vec<Finder<'static>>>,
}

impl CompiledNeedle {
    pub(crate) fn new(needle: &Needle) -> Self {
        CompiledNeedle {
            groups: needle
                .all_of
                .iter()
                .map(|g| g.iter().map(|l| Finder::new(l.as_bytes()).into_owned()).collect())
                .collect(),
        }
    }

    pub(crate) fn matches(&self, line: &[u8]) -> bool {
        self.groups
            .iter()
            .all(|g| g.iter().any(|f| f.find(line).is_some()))
    }
}

/// Which way entries are returned: oldest first or newest first (Loki's `direction`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Direction {
    /// Ascending timestamps.
    #[default]
    Forward,
    /// Descending timestamps.
    Backward,
}

/// A position in the index's total order of entries: by timestamp, ties broken by the order
/// the build added them (`seq`, unique per index). A page's cursor is its last entry's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Cursor {
    /// The entry's timestamp.
    pub ts: i64,
    /// The entry's sequence number in this index.
    pub seq: u64,
}

/// One search.
#[derive(Debug, Clone)]
pub struct SearchRequest {
    /// Only streams matching all of these (empty = all the index holds).
    pub matchers: Vec<LabelMatcher>,
    /// Inclusive start, Unix ns.
    pub start_ns: i64,
    /// Exclusive end, Unix ns.
    pub end_ns: i64,
    /// Keys of the objects the caller still trusts (listed by the current manifest). Entries
    /// built from any other object are never returned; the caller scans what is not covered.
    pub objects: Vec<String>,
    /// The line requirement.
    pub needle: Needle,
    /// Order of the answer.
    pub direction: Direction,
    /// At most this many entries (`usize::MAX` for all).
    pub limit: usize,
    /// Only entries strictly after this position in `direction` (the previous page's `next`).
    pub cursor: Option<Cursor>,
}

/// One entry as stored, with its stream and its place in the index's order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryEntry {
    /// The stream's labels.
    pub labels: LabelSet,
    /// The entry exactly as stored (timestamp, message id, line, structured metadata).
    pub entry: Entry,
    /// Its position (for paging).
    pub cursor: Cursor,
}

/// A page of search results.
#[derive(Debug, Clone, Default)]
pub struct SearchPage {
    /// Matching entries in `direction` order; every entry whose line satisfies the needle in
    /// the requested streams, range and objects is in this page or a later one.
    pub entries: Vec<HistoryEntry>,
    /// Where the next page starts; `None` when there is nothing more.
    pub next: Option<Cursor>,
    /// Candidate lines the index read and checked against the needle.
    pub examined_lines: u64,
    /// Their bytes.
    pub examined_bytes: u64,
}

/// Counters a build updates while it runs. Progress is measured in stored object bytes (the
/// only size known before reading).
#[derive(Debug, Default)]
pub struct BuildProgress {
    /// Stored bytes of the objects to read (set once the plan is made).
    pub planned_bytes: AtomicU64,
    /// Stored bytes of the objects read so far.
    pub done_bytes: AtomicU64,
    /// Line bytes indexed so far.
    pub raw_bytes: AtomicU64,
    /// Lines indexed so far.
    pub lines: AtomicU64,
    /// Objects to read.
    pub objects_planned: AtomicU64,
    /// Objects read so far.
    pub objects_done: AtomicU64,
    /// Set when the index is complete (an empty range has nothing to count toward 1.0).
    pub finished: std::sync::atomic::AtomicBool,
}

impl BuildProgress {
    /// How far the build is, in `0.0..=1.0` (0 before planning; 1 once every object is read).
    pub fn fraction(&self) -> f64 {
        if self.finished.load(Relaxed) {
            return 1.0;
        }
        let planned = self.planned_bytes.load(Relaxed);
        let objects = self.objects_planned.load(Relaxed);
        if planned == 0 {
            return if objects > 0 && self.objects_done.load(Relaxed) >= objects {
                1.0
            } else {
                0.0
            };
        }
        (self.done_bytes.load(Relaxed) as f64 / planned as f64).clamp(0.0, 1.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn needle_is_a_conjunction_of_disjunctions() {
        let n = Needle {
            all_of: vec![vec!["a".into()], vec!["b".into(), "c".into()]],
        };
        assert!(n.matches("xaxc"));
        assert!(n.matches("ab"));
        assert!(!n.matches("bc"));
        assert!(!n.matches("a"));
        assert!(Needle::default().matches("anything"));
        assert!(!Needle::literal("Err").matches("error"));
    }

    #[test]
    fn progress_fraction_is_bounded() {
        let p = BuildProgress::default();
        assert_eq!(p.fraction(), 0.0);
        p.planned_bytes.store(200, Relaxed);
        p.done_bytes.store(50, Relaxed);
        assert_eq!(p.fraction(), 0.25);
        p.done_bytes.store(500, Relaxed);
        assert_eq!(p.fraction(), 1.0);
    }
}
