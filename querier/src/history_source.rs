//! History indexes as a data source of a scan: which stored objects (and which part of their
//! time range) a ready index answers for a query, and the rest that is still scanned.
//!
//! Invariants (why answers equal a scan's):
//! - An index is used only for queries with a positive line filter (the needle), only when its
//!   selector holds every stream the query can select, and only for objects the current
//!   manifest still lists and the index was built from. Objects compacted, expired or rewritten
//!   since the build are not in its object set, so they are scanned; delete requests are applied
//!   to index entries exactly as to scanned ones (in `engine::scan`).
//! - For an object it answers, the index covers `[max(query start, index start), min(query
//!   end, index end))`; the parts of the object's range outside the index's range are scanned.
//! - The index only narrows: every candidate it returns goes through the query's row filter and
//!   pipeline like a scanned entry, and it never misses a matching entry (its contract).

use std::collections::HashSet;

use logq_history::{Cursor, Direction as SearchDirection, Needle, SearchPage, SearchRequest, UsableIndex};
use logq_storage::LabelMatcher;

use crate::engine::{Direction, StoredObject};
use crate::logql::{LogExpr, Stage};

/// Candidates asked of an index per page.
pub(crate) const PAGE: usize = 4096;

/// The needle of a query: one disjunction of literals per leading positive line filter that
/// has them (filters after a parser or formatting stage are not used: `line_format` may change
/// the line they test). Empty when the query cannot use an index.
pub fn needle_of(expr: &LogExpr) -> Needle {
    let all_of = expr
        .pipeline
        .iter()
        .map_while(|s| match s {
            Stage::LineFilter(f) => Some(f),
            _ => None,
        })
        .filter_map(|f| f.any_literal())
        .collect();
    Needle { all_of }
}

/// The part of a query one index answers.
pub(crate) struct IndexPart {
    /// The index.
    pub index: UsableIndex,
    /// Inclusive start of what it answers, ns.
    pub start: i64,
    /// Exclusive end, ns.
    pub end: i64,
    /// Keys of the objects it answers for.
    pub objects: HashSet<String>,
}

/// A stored object, or the part `[start, end)` of its range, to scan.
pub(crate) struct ScanPiece {
    /// The object.
    pub object: StoredObject,
    /// Inclusive start, ns.
    pub start: i64,
    /// Exclusive end, ns.
    pub end: i64,
}

impl ScanPiece {
    /// (earliest, latest) timestamp this piece can hold.
    pub(crate) fn time_range(&self) -> (i64, i64) {
        let (min, max) = self.object.time_range();
        (min.max(self.start), max.min(self.end.saturating_sub(1)))
    }
}

/// The object store key of a stored object.
pub(crate) fn object_key(object: &StoredObject) -> &str {
    match object {
        StoredObject::Chunk(c) => &c.key,
        StoredObject::Block(b) => &b.key,
    }
}

/// Splits the objects of a query over `[start, end)` between the indexes (each object to the
/// index covering most of its range within the query) and scan pieces (objects no index
/// covers, and the parts of covered objects outside their index's range).
pub(crate) fn plan(
    indexes: Vec<UsableIndex>,
    start: i64,
    end: i64,
    objects: Vec<StoredObject>,
) -> (Vec<IndexPart>, Vec<ScanPiece>) {
    let mut parts: Vec<IndexPart> = indexes
        .into_iter()
        .filter(|i| i.start.max(start) < i.end.min(end))
        .map(|i| IndexPart {
            start: i.start.max(start),
            end: i.end.min(end),
            index: i,
            objects: HashSet::new(),
        })
        .collect();
    let mut pieces = Vec::new();
    for object in objects {
        let (min, max) = object.time_range();
        // Overlap (in ns) of [part.start, part.end) with the object's [min, max].
        let overlap = |p: &IndexPart| (p.end.min(max.saturating_add(1)) - p.start.max(min)).max(0);
        let best = parts
            .iter_mut()
            .filter(|p| p.index.objects.contains(object_key(&object)) && overlap(p) > 0)
            .max_by_key(|p| overlap(p));
        match best {
            None => pieces.push(ScanPiece { object, start, end }),
            Some(p) => {
                p.objects.insert(object_key(&object).to_string());
                if start < p.start && min < p.start {
                    pieces.push(ScanPiece {
                        object: object.clone(),
                        start,
                        end: p.start,
                    });
                }
                if p.end < end && max >= p.end {
                    pieces.push(ScanPiece {
                        object,
                        start: p.end,
                        end,
                    });
                }
            }
        }
    }
    parts.retain(|p| !p.objects.is_empty());
    (parts, pieces)
}

/// One page of an index's candidates for `part`, searched on a blocking thread.
pub(crate) async fn search_page(
    part: &IndexPart,
    matchers: &[LabelMatcher],
    needle: &Needle,
    direction: Direction,
    objects: &[String],
    cursor: Option<Cursor>,
) -> Result<SearchPage, String> {
    let req = SearchRequest {
        matchers: matchers.to_vec(),
        start_ns: part.start,
        end_ns: part.end,
        objects: objects.to_vec(),
        needle: needle.clone(),
        direction: match direction {
            Direction::Forward => SearchDirection::Forward,
            Direction::Backward => SearchDirection::Backward,
        },
        limit: PAGE,
        cursor,
    };
    let index = part.index.index.clone();
    tokio::task::spawn_blocking(move || index.search(&req))
        .await
        .map_err(|e| format!("history index search panicked: {e}"))?
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logql::{parse, Expr};

    fn needle(q: &str) -> Vec<Vec<String>> {
        let Expr::Log(e) = parse(q).unwrap() else { panic!() };
        needle_of(&e).all_of
    }

    #[test]
    fn needles_come_from_leading_positive_filters() {
        assert_eq!(needle(r#"{a="b"} |= "x""#), vec![vec!["x".to_string()]]);
        assert_eq!(
            needle(r#"{a="b"} |= "x" or "y" != "z" |~ "foo.*bar""#),
            vec![vec!["x".to_string(), "y".into()], vec!["foo".into()]]
        );
        assert_eq!(
            needle(r#"{a="b"} |> "<_> GET <_>""#),
            vec![vec![" GET ".to_string()]]
        );
        // No literal every match contains, negative filters, filters after a parser.
        assert!(needle(r#"{a="b"} |~ "(?i)error""#).is_empty());
        assert!(needle(r#"{a="b"} |~ "a|b""#).is_empty());
        assert!(needle(r#"{a="b"} != "x""#).is_empty());
        assert!(needle(r#"{a="b"} |= """#).is_empty());
        assert!(needle(r#"{a="b"} | json |= "x""#).is_empty());
        assert!(needle(r#"{a="b"} |= ip("10.0.0.1")"#).is_empty());
    }
}
