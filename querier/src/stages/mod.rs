//! Pipeline stages, one file each: the execution of one `logql::Stage` (Loki's `Stage` with
//! `Process` and `RequiredLabelNames`; VictoriaLogs' pipe processors).
//!
//! A stage object is built from the syntax by [`build`], the one place stages are registered,
//! for ONE execution of a query ([`crate::Pipeline::compile`]): it may keep state across the
//! lines of that execution (`distinct` remembers values), and nothing outlives it. Adding a
//! stage: its syntax in `logql` (a `Stage` variant, the parser, `Display`), a file here with a
//! type implementing [`LineStage`], and one line in [`build`].
//!
//! Invariants: a stage sees lines in the order the caller runs them (time order for
//! order-dependent pipelines); it reads and writes labels only through [`LineLabels`] (so
//! Loki's layering of stream labels, structured metadata and parsed labels holds); a failure on
//! one line is a `__error__` label on that line, never an error of the query.

mod decolorize;
mod distinct;
mod drop;
mod json;
mod keep;
mod label_filter;
mod label_format;
mod line_filter;
mod line_format;
mod logfmt;
mod pattern;
mod regexp;
mod unpack;

pub(crate) use label_filter::LabelFilter;
pub(crate) use line_filter::LineFilter;

use crate::error::QueryError;
use crate::line_labels::LineLabels;
use crate::logql::{self, ParserKind};

/// What a stage did with a line.
pub(crate) enum Step {
    /// The line goes on unchanged.
    Keep,
    /// The line goes on with this text.
    Rewrite(String),
    /// The line is dropped.
    Drop,
}

/// How a stage takes part in Loki's parser hints (which stages run when no label is needed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LabelUse {
    /// Neither needs nor is skipped for labels (line filters, `regexp`, `pattern`, `drop`,
    /// `keep`, `decolorize`).
    Neutral,
    /// Reads labels (label filters, `line_format`, `label_format`, `distinct`): the parsers
    /// before it must run.
    Reads,
    /// Only extracts labels from the line (`json`, `logfmt`, `unpack`): Loki's parsers return
    /// at once when no label is needed, so the stage can be left out then.
    Extracts,
}

/// One pipeline stage, built for one execution.
pub(crate) trait LineStage: Send {
    /// Runs over one line (at `ts`, as rewritten by the stages before) with its labels.
    fn process(&mut self, ts: i64, line: &str, labels: &mut LineLabels<'_>) -> Step;

    /// How the stage uses labels (Loki's `RequiredLabelNames`, as the parser hints see it).
    fn label_use(&self) -> LabelUse {
        LabelUse::Neutral
    }

    /// The line filter this stage is, if it is one (pushed down into the row filter when it
    /// leads the pipeline).
    fn as_line_filter(&self) -> Option<&LineFilter> {
        None
    }
}

/// The registry: the stage object that executes `stage`.
pub(crate) fn build(stage: &logql::Stage) -> Result<Box<dyn LineStage>, QueryError> {
    use logql::Stage as S;
    Ok(match stage {
        S::LineFilter(f) => Box::new(LineFilter::new(f)?),
        S::Parser(p) if p.kind == ParserKind::Json => Box::new(json::Json::new(p)),
        S::Parser(p) => Box::new(logfmt::Logfmt::new(p)),
        S::LabelFilter(f) => Box::new(LabelFilter::new(f)?),
        S::Regexp(re) => Box::new(regexp::Regexp::new(re)?),
        S::Pattern(p) => Box::new(pattern::PatternParser::new(p)),
        S::Unpack => Box::new(unpack::Unpack),
        S::LineFormat(t) => Box::new(line_format::LineFormat::new(t)),
        S::LabelFormat(items) => Box::new(label_format::LabelFormat::new(items)),
        S::Drop(items) => Box::new(drop::Drop::new(items)),
        S::Keep(items) => Box::new(keep::Keep::new(items)),
        S::Decolorize => Box::new(decolorize::Decolorize),
        S::Distinct(labels) => Box::new(distinct::Distinct::new(labels)),
    })
}

/// A regex of the query that does not compile (the parser rejects these; a tree built by hand
/// may hold one).
pub(crate) fn bad_regex(e: &regex::Error) -> QueryError {
    QueryError::BadRequest(format!(
        "error parsing regexp: {}",
        logq_storage::regex_error_line(e)
    ))
}
