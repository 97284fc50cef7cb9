//! Log queries with limit pushdown: sources are read in the order that reaches the requested
//! end of the range first (memory, then stored objects by their newest entry for `backward`,
//! by their oldest for `forward`), and reading stops once `limit` entries are held that no
//! remaining object can displace. Memory is bounded by the objects actually read, not by the
//! range.
//!
//! Entries are de-duplicated by (stream, timestamp, message id) as they are collected, so the
//! count that decides when to stop is a count of distinct entries.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet};

use logq_storage::{Entry, LabelSet};

use crate::engine::{row_filter, Direction, LogQuery, Querier, StreamResult, Visitor};
use crate::error::QueryError;
use crate::pipeline::process;

/// Collects entries of a log query and knows when more reading cannot change the answer.
struct Collector<'a> {
    q: &'a LogQuery,
    seen: HashSet<(u64, i64, u64)>,
    out: HashMap<LabelSet, Vec<Entry>>,
    /// Timestamps of the best `limit` entries: a min-heap of the newest (backward) or a
    /// max-heap of the oldest (forward), so the top is the one a better entry would replace.
    newest: BinaryHeap<Reverse<i64>>,
    oldest: BinaryHeap<i64>,
}

impl<'a> Collector<'a> {
    fn new(q: &'a LogQuery) -> Self {
        Collector {
            q,
            seen: HashSet::new(),
            out: HashMap::new(),
            newest: BinaryHeap::new(),
            oldest: BinaryHeap::new(),
        }
    }

    fn add(&mut self, stream: &LabelSet, entries: Vec<Entry>) {
        let fp = stream.fingerprint();
        let filter_only = self.q.expr.is_filter_only();
        for mut e in entries {
            if e.ts < self.q.start || e.ts >= self.q.end || !self.seen.insert((fp, e.ts, e.id)) {
                continue;
            }
            let labels = if filter_only {
                if !self.q.expr.matches_line(&e.line) {
                    continue;
                }
                stream.clone()
            } else {
                let Some(p) = process(&self.q.expr, stream, e.ts, &e.line) else {
                    continue;
                };
                if let Some(line) = p.line {
                    e.line = line;
                }
                p.labels.into_labels()
            };
            self.track(e.ts);
            self.out.entry(labels).or_default().push(e);
        }
    }

    fn track(&mut self, ts: i64) {
        let limit = self.q.limit.max(1);
        match self.q.direction {
            Direction::Backward => {
                self.newest.push(Reverse(ts));
                if self.newest.len() > limit {
                    self.newest.pop();
                }
            }
            Direction::Forward => {
                self.oldest.push(ts);
                if self.oldest.len() > limit {
                    self.oldest.pop();
                }
            }
        }
    }

    /// Whether an object spanning `[min_ts, max_ts]` can still contribute.
    fn needs(&self, min_ts: i64, max_ts: i64) -> bool {
        let limit = self.q.limit.max(1);
        match self.q.direction {
            Direction::Backward => {
                self.newest.len() < limit || self.newest.peek().is_some_and(|Reverse(k)| max_ts >= *k)
            }
            Direction::Forward => {
                self.oldest.len() < limit || self.oldest.peek().is_some_and(|k| min_ts <= *k)
            }
        }
    }

    fn finish(self) -> Vec<StreamResult> {
        let mut all: Vec<(i64, LabelSet, Entry)> = Vec::new();
        for (labels, entries) in self.out {
            all.extend(entries.into_iter().map(|e| (e.ts, labels.clone(), e)));
        }
        match self.q.direction {
            Direction::Forward => all.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1))),
            Direction::Backward => all.sort_by(|a, b| (b.0, &b.1).cmp(&(a.0, &a.1))),
        }
        all.truncate(self.q.limit);
        let mut grouped: HashMap<LabelSet, Vec<Entry>> = HashMap::new();
        for (_, labels, e) in all {
            grouped.entry(labels).or_default().push(e);
        }
        let mut out: Vec<StreamResult> = grouped
            .into_iter()
            .map(|(labels, entries)| StreamResult { labels, entries })
            .collect();
        out.sort_by(|a, b| a.labels.cmp(&b.labels));
        out
    }
}

impl Visitor for Collector<'_> {
    fn add(&mut self, stream: &LabelSet, entries: Vec<Entry>) {
        Collector::add(self, stream, entries);
    }

    fn needs(&self, min_ts: i64, max_ts: i64) -> bool {
        Collector::needs(self, min_ts, max_ts)
    }
}

/// Runs a log query (limits already checked).
pub(crate) async fn select(querier: &Querier, q: &LogQuery) -> Result<Vec<StreamResult>, QueryError> {
    let filter = row_filter(&q.expr, q.start, q.end, &q.stats);
    let mut collector = Collector::new(q);
    querier
        .scan(&q.tenant, &q.expr.matchers, &filter, q.direction, &mut collector)
        .await?;
    Ok(collector.finish())
}
