//! LogQL: the lexer, the syntax trees (log and metric) and the parser. Supported today: stream
//! selectors, line filters, the `json` and `logfmt` parsers, label filters, range aggregations
//! (with `unwrap`), vector aggregations, binary operators and `vector()`; other stages are
//! rejected by name.
//!
//! Errors follow Loki's wording and positions (`parse error at line 1, col 6: literal not
//! terminated`); selectors that would match every stream are rejected as in Loki.

mod ast;
mod error;
mod lexer;
mod parser;
mod sample;
mod units;

pub use ast::{
    CmpOp, CmpValue, Expr, LabelComparison, LabelFilterExpr, LineFilter, LineFilterOp, LogExpr, ParserKind,
    Stage,
};
pub use error::ParseError;
pub use lexer::{tokenize, Tok, Token};
pub use parser::{parse, parse_log_selector, EMPTY_SELECTOR};
pub use sample::{
    BinOp, BinaryExpr, Grouping, RangeAggregation, RangeOp, SampleExpr, Unwrap, UnwrapConv, VecOp,
    VectorAggregation, VectorMatching,
};
pub use units::{bytes_unit, parse_bytes, parse_duration_ns};
