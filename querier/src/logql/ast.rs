//! The LogQL syntax tree. Today: log queries (a stream selector and line filters); metric
//! queries, parsers and label filters extend these enums.

use std::fmt;

use logq_storage::LabelMatcher;
use regex::Regex;

/// A parsed query.
#[derive(Debug, Clone)]
pub enum Expr {
    /// A log query: selector and pipeline.
    Log(LogExpr),
}

/// A stream selector and its pipeline.
#[derive(Debug, Clone)]
pub struct LogExpr {
    /// Stream matchers (`{app="x", env!="dev"}`).
    pub matchers: Vec<LabelMatcher>,
    /// Pipeline stages, applied in order.
    pub pipeline: Vec<Stage>,
}

/// One pipeline stage.
#[derive(Debug, Clone)]
pub enum Stage {
    /// `|= "a"`, `!= "a"`, `|~ "re"`, `!~ "re"`, each with `or` alternatives.
    LineFilter(LineFilter),
}

/// How a line filter tests a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineFilterOp {
    /// `|=`: contains.
    Contains,
    /// `!=`: does not contain.
    NotContains,
    /// `|~`: matches the (unanchored) regex.
    Regex,
    /// `!~`: does not match the regex.
    NotRegex,
}

impl LineFilterOp {
    /// The operator as written.
    pub fn as_str(self) -> &'static str {
        match self {
            LineFilterOp::Contains => "|=",
            LineFilterOp::NotContains => "!=",
            LineFilterOp::Regex => "|~",
            LineFilterOp::NotRegex => "!~",
        }
    }

    fn is_negative(self) -> bool {
        matches!(self, LineFilterOp::NotContains | LineFilterOp::NotRegex)
    }
}

/// A line filter with its alternatives (`|= "a" or "b"`).
#[derive(Debug, Clone)]
pub struct LineFilter {
    /// The operator.
    pub op: LineFilterOp,
    /// The literals or patterns, as written.
    pub alternatives: Vec<String>,
    /// Compiled patterns, one per alternative, for regex filters.
    regexes: Vec<Regex>,
}

impl LineFilter {
    /// Builds a filter; regex filters compile their patterns (the error is the regex engine's).
    pub fn new(op: LineFilterOp, alternatives: Vec<String>) -> Result<Self, regex::Error> {
        let regexes = match op {
            LineFilterOp::Regex | LineFilterOp::NotRegex => alternatives
                .iter()
                .map(|a| Regex::new(a))
                .collect::<Result<_, _>>()?,
            _ => Vec::new(),
        };
        Ok(LineFilter {
            op,
            alternatives,
            regexes,
        })
    }

    /// Whether `line` passes: positive filters need any alternative to match, negative ones none.
    pub fn matches(&self, line: &str) -> bool {
        let any = if self.regexes.is_empty() {
            self.alternatives.iter().any(|a| line.contains(a.as_str()))
        } else {
            self.regexes.iter().any(|r| r.is_match(line))
        };
        any != self.op.is_negative()
    }
}

impl LogExpr {
    /// Whether `line` passes every line filter.
    pub fn matches_line(&self, line: &str) -> bool {
        self.pipeline.iter().all(|s| match s {
            Stage::LineFilter(f) => f.matches(line),
        })
    }
}

/// Writes a string literal that the lexer reads back to the same value.
fn quote(f: &mut fmt::Formatter<'_>, s: &str) -> fmt::Result {
    f.write_str("\"")?;
    for c in s.chars() {
        match c {
            '"' => f.write_str("\\\"")?,
            '\\' => f.write_str("\\\\")?,
            '\n' => f.write_str("\\n")?,
            '\r' => f.write_str("\\r")?,
            '\t' => f.write_str("\\t")?,
            c if c.is_control() => write!(f, "\\u{:04x}", c as u32)?,
            c => write!(f, "{c}")?,
        }
    }
    f.write_str("\"")
}

impl fmt::Display for LogExpr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("{")?;
        for (i, m) in self.matchers.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{}{}", m.name, m.op.as_str())?;
            quote(f, &m.value)?;
        }
        f.write_str("}")?;
        for stage in &self.pipeline {
            match stage {
                Stage::LineFilter(lf) => {
                    write!(f, " {} ", lf.op.as_str())?;
                    for (i, a) in lf.alternatives.iter().enumerate() {
                        if i > 0 {
                            f.write_str(" or ")?;
                        }
                        quote(f, a)?;
                    }
                }
            }
        }
        Ok(())
    }
}

impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expr::Log(l) => l.fmt(f),
        }
    }
}
