//! The plan of one execution of a log pipeline over a time range: what to read (streams, rows:
//! the time range with the leading line filters pushed down into the row filter) and the
//! stages to run over what is read. Compiled from syntax for every execution, then rewritten
//! by passes over the plan, never inside evaluation:
//! - pushdown ([`LogPlan::compile`]): leading line filters decide alone, so readers run them
//!   while decoding and search each batch for the longest literal one of them requires;
//! - parser hints ([`LogPlan::skip_unneeded_parsers`]): parsers whose labels nobody reads are
//!   left out, as Loki's sample extractors do;
//! - the count shortcut ([`LogPlan::count_only`]): counting lines through line filters alone
//!   needs neither line text nor the pipeline.

use std::sync::Arc;

use logq_storage::{LabelMatcher, LinePredicate, RowFilter, ScanStats};

use crate::error::QueryError;
use crate::logql::{self, LogExpr};
use crate::pipeline::Pipeline;

/// A log pipeline compiled for one execution over `[start, end)`.
pub(crate) struct LogPlan {
    /// Streams to read.
    pub matchers: Vec<LabelMatcher>,
    /// Rows to read: the time range and the pushed-down line filters.
    pub filter: RowFilter,
    /// The pushed-down line filters as written (for sources with their own line index).
    pub line_filters: Vec<logql::LineFilter>,
    /// The stages to run over each row read.
    pub pipeline: Pipeline,
    /// The answer depends on the order of lines (`distinct`): rows go through the pipeline
    /// in time order once every source is read.
    pub ordered: bool,
}

impl LogPlan {
    /// Compiles `expr` for rows in `[start, end)`, counting what is read in `stats`.
    pub(crate) fn compile(
        expr: &LogExpr,
        start: i64,
        end: i64,
        stats: &Arc<ScanStats>,
    ) -> Result<Self, QueryError> {
        let pipeline = Pipeline::compile(expr)?;
        let leading = pipeline.leading_line_filters();
        let line_filters: Vec<logql::LineFilter> = expr
            .pipeline
            .iter()
            .map_while(|s| match s {
                logql::Stage::LineFilter(f) => Some(f.clone()),
                _ => None,
            })
            .collect();
        // The longest literal some leading filter requires: readers search batches for it first.
        let required = line_filters
            .iter()
            .filter_map(logql::LineFilter::required_literal)
            .max_by_key(String::len);
        let filter = RowFilter {
            start,
            end,
            keep_lines: true,
            stats: Some(stats.clone()),
            line: (!leading.is_empty())
                .then(|| Arc::new(move |l: &str| leading.iter().all(|f| f.matches(l))) as LinePredicate),
            ..RowFilter::all()
        };
        let filter = match required {
            Some(literal) => filter.with_required(&literal),
            None => filter,
        };
        Ok(LogPlan {
            matchers: expr.matchers.clone(),
            filter,
            line_filters,
            ordered: expr.has_distinct(),
            pipeline,
        })
    }

    /// The parser-hints pass (see [`Pipeline::skip_unneeded_parsers`]).
    pub(crate) fn skip_unneeded_parsers(&mut self) {
        self.pipeline.skip_unneeded_parsers();
    }

    /// The count shortcut: when only line filters run, every row read counts, so rows need no
    /// text (the filters already ran while decoding). Returns whether it applies.
    pub(crate) fn count_only(&mut self) -> bool {
        let applies = self.pipeline.is_filter_only();
        if applies {
            self.filter.keep_lines = false;
        }
        applies
    }
}
