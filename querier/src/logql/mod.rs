//! LogQL: the lexer, the syntax trees (log and metric) and the parser. Supported today: stream
//! selectors, line filters, the `json`, `logfmt`, `regexp`, `pattern` and `unpack` parsers,
//! label filters, `line_format` and `label_format` (a Go-template subset), `drop`, `keep`,
//! `decolorize`, range aggregations (with `unwrap`), vector aggregations, binary operators and
//! `vector()`; anything else is rejected by name.
//!
//! Errors follow Loki's wording and positions (`parse error at line 1, col 6: literal not
//! terminated`); selectors that would match every stream are rejected as in Loki.

mod ast;
mod error;
mod ip;
mod lexer;
mod literal;
mod number;
mod parser;
mod pattern;
mod sample;
mod template;
mod units;

pub use ast::{
    json_path, CmpOp, CmpValue, Expr, JsonPathStep, LabelComparison, LabelFilterExpr, LabelFormat,
    LabelSelect, LineFilter, LineFilterOp, LogExpr, ParserKind, ParserStage, Stage,
};
pub use error::ParseError;
pub use ip::IpMatcher;
pub use lexer::{tokenize, Tok, Token};
pub use number::go_parse_float;
pub use parser::{parse, parse_log_selector, EMPTY_SELECTOR};
pub use pattern::Pattern;
pub use sample::{
    BinOp, BinaryExpr, GroupSide, Grouping, LabelReplace, RangeAggregation, RangeOp, SampleExpr, Unwrap,
    UnwrapConv, VecOp, VectorAggregation, VectorMatching,
};
pub use template::Template;
pub use units::{bytes_unit, go_duration_ns, humanize_bytes, parse_bytes, parse_duration_ns};
