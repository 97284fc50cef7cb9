//! LogQL errors in Loki's wording: `parse error at line 1, col 6: literal not terminated`.

use std::fmt;

/// A query that does not parse or validate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// 1-based line of the problem; 0 when the error is about the whole query.
    pub line: usize,
    /// 1-based column (in characters) of the problem; 0 when about the whole query.
    pub col: usize,
    /// What is wrong.
    pub message: String,
}

impl ParseError {
    /// An error at byte offset `pos` of `input`.
    pub fn at(input: &str, pos: usize, message: impl Into<String>) -> Self {
        let pos = pos.min(input.len());
        let before = input.get(..pos).unwrap_or(input);
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let col = before[line_start..].chars().count() + 1;
        ParseError {
            line,
            col,
            message: message.into(),
        }
    }

    /// An error about the query as a whole (no position), such as Loki's validation errors.
    pub fn whole(message: impl Into<String>) -> Self {
        ParseError {
            line: 0,
            col: 0,
            message: message.into(),
        }
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            // Loki's `ParseError` without a position.
            write!(f, "parse error : {}", self.message)
        } else {
            write!(
                f,
                "parse error at line {}, col {}: {}",
                self.line, self.col, self.message
            )
        }
    }
}

impl std::error::Error for ParseError {}
