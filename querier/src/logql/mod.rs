//! LogQL: the lexer, the syntax tree and the parser. Today the parser accepts log queries
//! (stream selectors and line filters); the lexer already knows the whole language.
//!
//! Errors follow Loki's wording and positions (`parse error at line 1, col 6: literal not
//! terminated`); selectors that would match every stream are rejected as in Loki.

mod ast;
mod error;
mod lexer;
mod parser;

pub use ast::{Expr, LineFilter, LineFilterOp, LogExpr, Stage};
pub use error::ParseError;
pub use lexer::{tokenize, Tok, Token};
pub use parser::{parse, parse_log_selector, EMPTY_SELECTOR};
