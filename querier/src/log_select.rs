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

use crate::engine::{Direction, LogQuery, Querier, StreamResult};
use crate::error::QueryError;
use crate::pipeline::Pipeline;
use crate::plan::LogPlan;
use crate::scan::Visitor;

/// Label pairs (parsed labels of an entry).
type Pairs = Vec<(String, String)>;

/// Collects entries of a log query and knows when more reading cannot change the answer.
struct Collector<'a> {
    q: &'a LogQuery,
    /// This execution's stages.
    pipeline: Pipeline,
    /// Whether the pipeline has only line filters.
    filter_only: bool,
    seen: HashSet<(u64, i64, u64)>,
    out: HashMap<LabelSet, Vec<(Entry, Pairs)>>,
    /// Group by stream labels only, with structured metadata and parsed labels per entry.
    categorize: bool,
    /// The pipeline depends on the order of lines (`distinct`): entries wait in `pending` and
    /// go through it in the query's direction once every source is read.
    ordered: bool,
    pending: Vec<(LabelSet, Entry)>,
    /// Timestamps of the best `limit` entries: a min-heap of the newest (backward) or a
    /// max-heap of the oldest (forward), so the top is the one a better entry would replace.
    newest: BinaryHeap<Reverse<i64>>,
    oldest: BinaryHeap<i64>,
}

impl<'a> Collector<'a> {
    fn new(q: &'a LogQuery, pipeline: Pipeline, ordered: bool, categorize: bool) -> Self {
        Collector {
            q,
            filter_only: pipeline.is_filter_only(),
            pipeline,
            categorize,
            ordered,
            pending: Vec::new(),
            seen: HashSet::new(),
            out: HashMap::new(),
            newest: BinaryHeap::new(),
            oldest: BinaryHeap::new(),
        }
    }

    fn add(&mut self, stream: &LabelSet, entries: Vec<Entry>) {
        let fp = stream.fingerprint();
        for e in entries {
            if e.ts < self.q.start || e.ts >= self.q.end || !self.seen.insert((fp, e.ts, e.id)) {
                continue;
            }
            if self.ordered {
                self.pending.push((stream.clone(), e));
            } else {
                self.accept(stream, e);
            }
        }
    }

    /// Runs the pipeline over one new entry and keeps it if it passes.
    fn accept(&mut self, stream: &LabelSet, mut e: Entry) {
        let (labels, parsed) = if self.filter_only && e.metadata.is_empty() {
            if !self.pipeline.matches_line(&e.line) {
                return;
            }
            (stream.clone(), Vec::new())
        } else {
            let Some(p) = self.pipeline.process(stream, &e.metadata, e.ts, &e.line) else {
                return;
            };
            if let Some(line) = p.line {
                e.line = line;
            }
            if self.categorize {
                // Loki's `categorize-labels` encoding: streams by their stream labels,
                // structured metadata and parsed labels with each entry.
                let (stream_labels, metadata, parsed) = p.labels.categorized();
                e.metadata = metadata;
                (stream_labels, parsed)
            } else {
                (p.labels.into_labels(), Vec::new())
            }
        };
        self.track(e.ts);
        self.out.entry(labels).or_default().push((e, parsed));
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
        if self.ordered {
            return true;
        }
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

    fn finish(mut self) -> Vec<StreamResult> {
        let mut pending = std::mem::take(&mut self.pending);
        match self.q.direction {
            Direction::Forward => pending.sort_by(|a, b| (a.1.ts, &a.0).cmp(&(b.1.ts, &b.0))),
            Direction::Backward => pending.sort_by(|a, b| (b.1.ts, &b.0).cmp(&(a.1.ts, &a.0))),
        }
        for (stream, e) in pending {
            self.accept(&stream, e);
        }
        let mut all: Vec<(i64, LabelSet, Entry, Pairs)> = Vec::new();
        for (labels, entries) in self.out {
            all.extend(entries.into_iter().map(|(e, p)| (e.ts, labels.clone(), e, p)));
        }
        match self.q.direction {
            Direction::Forward => all.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1))),
            Direction::Backward => all.sort_by(|a, b| (b.0, &b.1).cmp(&(a.0, &a.1))),
        }
        all.truncate(self.q.limit);
        let mut grouped: HashMap<LabelSet, (Vec<Entry>, Vec<Pairs>)> = HashMap::new();
        for (_, labels, e, p) in all {
            let slot = grouped.entry(labels).or_default();
            slot.0.push(e);
            slot.1.push(p);
        }
        let categorize = self.categorize;
        let mut out: Vec<StreamResult> = grouped
            .into_iter()
            .map(|(labels, (entries, parsed))| StreamResult {
                labels,
                entries,
                parsed: if categorize { parsed } else { Vec::new() },
            })
            .collect();
        // Loki sorts result streams by their label string (`{a="1"}` after `{a="1", b="2"}`).
        out.sort_by_cached_key(|s| s.labels.to_string());
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

/// Runs a log query (limits already checked); with `categorize`, streams are grouped by their
/// stream labels and each entry carries its structured metadata and parsed labels.
pub(crate) async fn select(
    querier: &Querier,
    q: &LogQuery,
    categorize: bool,
) -> Result<Vec<StreamResult>, QueryError> {
    // A fresh plan per execution: stage state (`distinct`) never spans two queries.
    let plan = LogPlan::compile(&q.expr, q.start, q.end, &q.stats)?;
    let LogPlan {
        matchers,
        filter,
        line_filters,
        pipeline,
        ordered,
    } = plan;
    let mut collector = Collector::new(q, pipeline, ordered, categorize);
    let scan = crate::scan::ScanRequest {
        tenant: &q.tenant,
        matchers: &matchers,
        filter: &filter,
        line_filters: &line_filters,
        order: q.direction,
    };
    querier.scan(&scan, &mut collector).await?;
    Ok(collector.finish())
}
