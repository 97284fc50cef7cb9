//! `|= "a"`, `!= "a"`, `|~ "re"`, `!~ "re"`, `|> "<_> pattern"`, `!> ...`, `|= ip("...")`, each
//! with `or` alternatives: keeps or drops the line by its text. Leading line filters are also
//! pushed down into the row filter (see `plan`), so readers skip lines before decoding them.

use regex::Regex;

use super::{bad_regex, LineStage, Step};
use crate::error::QueryError;
use crate::line_labels::LineLabels;
use crate::logql::{self, IpMatcher, LineFilterOp, Pattern};

/// A compiled line filter.
#[derive(Debug, Clone)]
pub(crate) struct LineFilter {
    negative: bool,
    test: Test,
}

#[derive(Debug, Clone)]
enum Test {
    Contains(Vec<String>),
    Regex(Vec<Regex>),
    Pattern(Vec<Pattern>),
    Ip(Vec<IpMatcher>),
}

impl LineFilter {
    /// Compiles `f`.
    pub(crate) fn new(f: &logql::LineFilter) -> Result<Self, QueryError> {
        let test = match f.op {
            _ if f.is_ip() => Test::Ip(
                f.alternatives
                    .iter()
                    .map(|a| IpMatcher::parse(a).map_err(QueryError::BadRequest))
                    .collect::<Result<_, _>>()?,
            ),
            LineFilterOp::Regex | LineFilterOp::NotRegex => Test::Regex(
                f.alternatives
                    .iter()
                    .map(|a| Regex::new(a).map_err(|e| bad_regex(&e)))
                    .collect::<Result<_, _>>()?,
            ),
            LineFilterOp::Pattern | LineFilterOp::NotPattern => Test::Pattern(
                f.alternatives
                    .iter()
                    .map(|a| Pattern::parse_filter(a).map_err(QueryError::BadRequest))
                    .collect::<Result<_, _>>()?,
            ),
            LineFilterOp::Contains | LineFilterOp::NotContains => Test::Contains(f.alternatives.clone()),
        };
        Ok(LineFilter {
            negative: f.op.is_negative(),
            test,
        })
    }

    /// Whether `line` passes: positive filters need any alternative to match, negative ones none.
    pub(crate) fn matches(&self, line: &str) -> bool {
        let any = match &self.test {
            Test::Contains(literals) => literals.iter().any(|a| line.contains(a.as_str())),
            Test::Regex(regexes) => regexes.iter().any(|r| r.is_match(line)),
            Test::Pattern(patterns) => patterns.iter().any(|p| p.matches(line)),
            Test::Ip(ips) => ips.iter().any(|ip| ip.matches_line(line)),
        };
        any != self.negative
    }
}

impl LineStage for LineFilter {
    fn process(&mut self, _ts: i64, line: &str, _labels: &mut LineLabels<'_>) -> Step {
        if self.matches(line) {
            Step::Keep
        } else {
            Step::Drop
        }
    }

    fn as_line_filter(&self) -> Option<&LineFilter> {
        Some(self)
    }
}
