//! Recursive-descent LogQL parser over the lexer's tokens. Errors name the unexpected token and
//! what was expected, at its line and column, in Loki's wording.

use logq_storage::{LabelMatcher, MatchOp};

use super::ast::{
    json_path, CmpOp, CmpValue, Expr, LabelComparison, LabelFilterExpr, LabelFormat, LabelSelect, LineFilter,
    LineFilterOp, LogExpr, ParserKind, ParserStage, Stage,
};
use super::error::ParseError;
use super::ip::IpMatcher;
use super::lexer::{tokenize, Tok, Token};
use super::number::go_parse_float;
use super::pattern::Pattern;
use super::sample::{
    BinOp, BinaryExpr, GroupSide, Grouping, LabelReplace, RangeAggregation, RangeOp, SampleExpr, Unwrap,
    UnwrapConv, VecOp, VectorAggregation, VectorMatching,
};
use super::template::Template;
use super::units::{bytes_unit, parse_duration_ns};

/// Loki's message for selectors that would select every stream.
pub const EMPTY_SELECTOR: &str =
    "queries require at least one regexp or equality matcher that does not have an \
empty-compatible value. For instance, app=~\".*\" does not meet this requirement, but app=~\".+\" will";

struct Parser<'a> {
    input: &'a str,
    tokens: Vec<Token>,
    i: usize,
}

/// Stages Loki has that logq does not implement yet: named in the error.
const UNSUPPORTED_STAGES: [&str; 9] = [
    "line_format",
    "label_format",
    "drop",
    "keep",
    "decolorize",
    "regexp",
    "pattern",
    "unpack",
    "distinct",
];

impl<'a> Parser<'a> {
    fn peek(&self) -> &Token {
        // tokenize always ends with Eof, and `advance` never moves past it.
        &self.tokens[self.i.min(self.tokens.len() - 1)]
    }

    fn peek_at(&self, n: usize) -> &Token {
        &self.tokens[(self.i + n).min(self.tokens.len() - 1)]
    }

    fn advance(&mut self) -> Token {
        let t = self.peek().clone();
        if t.tok != Tok::Eof {
            self.i += 1;
        }
        t
    }

    fn is_ident(&self, name: &str) -> bool {
        matches!(&self.peek().tok, Tok::Ident(n) if n == name)
    }

    fn err_here(&self, message: impl Into<String>) -> ParseError {
        ParseError::at(self.input, self.peek().pos, message)
    }

    fn unexpected(&self, expecting: &str) -> ParseError {
        let t = self.peek();
        ParseError::at(
            self.input,
            t.pos,
            format!(
                "syntax error: unexpected {}, expecting {expecting}",
                t.tok.describe()
            ),
        )
    }

    fn expect_op(&mut self, op: &'static str) -> Result<(), ParseError> {
        if self.peek().tok == Tok::Op(op) {
            self.advance();
            Ok(())
        } else {
            Err(self.unexpected(op))
        }
    }

    fn string(&mut self) -> Result<(String, usize), ParseError> {
        match self.peek().tok.clone() {
            Tok::Str(s) => {
                let pos = self.advance().pos;
                Ok((s, pos))
            }
            _ => Err(self.unexpected("STRING")),
        }
    }

    fn ident(&mut self) -> Result<String, ParseError> {
        match self.peek().tok.clone() {
            Tok::Ident(n) => {
                self.advance();
                Ok(n)
            }
            _ => Err(self.unexpected("IDENTIFIER")),
        }
    }

    fn number(&mut self) -> Result<f64, ParseError> {
        let negative = self.peek().tok == Tok::Op("-");
        if negative {
            self.advance();
        }
        match self.peek().tok.clone() {
            Tok::Number(n) => {
                let v = go_parse_float(&n)
                    .map_err(|e| ParseError::whole(format!("unable to parse literal as a float: {e}")))?;
                self.advance();
                Ok(if negative { -v } else { v })
            }
            _ => Err(self.unexpected("NUMBER")),
        }
    }

    fn duration(&mut self) -> Result<(i64, String), ParseError> {
        match self.peek().tok.clone() {
            Tok::Duration(d) => {
                let ns =
                    parse_duration_ns(&d).ok_or_else(|| self.err_here(format!("invalid duration {d:?}")))?;
                self.advance();
                Ok((ns, d))
            }
            _ => Err(self.unexpected("DURATION")),
        }
    }

    fn selector(&mut self) -> Result<Vec<LabelMatcher>, ParseError> {
        self.expect_op("{")?;
        let mut matchers = Vec::new();
        if self.peek().tok == Tok::Op("}") {
            self.advance();
            return Ok(matchers);
        }
        loop {
            let name = self.ident()?;
            let op = match self.peek().tok {
                Tok::Op("=") => MatchOp::Equal,
                Tok::Op("!=") => MatchOp::NotEqual,
                Tok::Op("=~") => MatchOp::Regex,
                Tok::Op("!~") => MatchOp::NotRegex,
                _ => return Err(self.unexpected("= or != or =~ or !~")),
            };
            self.advance();
            let (value, pos) = self.string()?;
            let m = LabelMatcher::new(name, op, value).map_err(|e| {
                ParseError::at(self.input, pos, format!("error parsing regexp: {}", e.reason))
            })?;
            matchers.push(m);
            match self.peek().tok {
                Tok::Op(",") => {
                    self.advance();
                }
                Tok::Op("}") => {
                    self.advance();
                    return Ok(matchers);
                }
                _ => return Err(self.unexpected(", or }")),
            }
        }
    }

    /// `ip("range")`, after the `ip` identifier was seen.
    fn ip_call(&mut self) -> Result<(String, usize), ParseError> {
        self.advance();
        self.expect_op("(")?;
        let s = self.string()?;
        self.expect_op(")")?;
        Ok(s)
    }

    fn line_filter(&mut self, op: LineFilterOp) -> Result<Stage, ParseError> {
        if self.is_ident("ip") && self.peek_at(1).tok == Tok::Op("(") {
            let mut alternatives = Vec::new();
            let (first, pos) = self.ip_call()?;
            alternatives.push(first);
            while self.is_ident("or") && self.peek_at(1).tok == Tok::Ident("ip".into()) {
                self.advance();
                alternatives.push(self.ip_call()?.0);
            }
            return LineFilter::ip(op, alternatives)
                .map(Stage::LineFilter)
                .map_err(|e| ParseError::at(self.input, pos, e));
        }
        let mut alternatives = Vec::new();
        let (first, pos) = self.string()?;
        alternatives.push(first);
        while self.is_ident("or") && matches!(self.peek_at(1).tok, Tok::Str(_)) {
            self.advance();
            alternatives.push(self.string()?.0);
        }
        LineFilter::new(op, alternatives)
            .map(Stage::LineFilter)
            .map_err(|e| ParseError::at(self.input, pos, e))
    }

    /// A selector and its pipeline; stops (without error) at the first token that cannot
    /// continue a pipeline. Returns the `| unwrap` if the pipeline ends with one.
    fn log_expr(&mut self) -> Result<(LogExpr, Option<Unwrap>), ParseError> {
        let matchers = self.selector()?;
        let mut pipeline = Vec::new();
        let mut unwrap = None;
        loop {
            let op = match self.peek().tok {
                Tok::Op("|=") => LineFilterOp::Contains,
                Tok::Op("!=") => LineFilterOp::NotContains,
                Tok::Op("|~") => LineFilterOp::Regex,
                Tok::Op("!~") => LineFilterOp::NotRegex,
                Tok::Op("|>") => LineFilterOp::Pattern,
                Tok::Op("!>") => LineFilterOp::NotPattern,
                Tok::Op("|") if unwrap.is_none() => {
                    self.advance();
                    if self.is_ident("unwrap") {
                        self.advance();
                        unwrap = Some(self.unwrap()?);
                    } else {
                        pipeline.push(self.stage()?);
                    }
                    continue;
                }
                // After `unwrap`, only label filters may follow (Loki's `unwrapExpr | labelFilter`).
                Tok::Op("|") => {
                    self.advance();
                    let filter = self.label_filter_or()?;
                    if let Some(u) = unwrap.as_mut() {
                        u.post_filters.push(filter);
                    }
                    continue;
                }
                _ => break,
            };
            if unwrap.is_some() {
                return Err(self.err_here("syntax error: unwrap must be the last stage of the pipeline"));
            }
            self.advance();
            pipeline.push(self.line_filter(op)?);
        }
        Ok((LogExpr { matchers, pipeline }, unwrap))
    }

    fn unwrap(&mut self) -> Result<Unwrap, ParseError> {
        let name = self.ident()?;
        let conv = match name.as_str() {
            "duration" | "duration_seconds" if self.peek().tok == Tok::Op("(") => UnwrapConv::Duration,
            "bytes" if self.peek().tok == Tok::Op("(") => UnwrapConv::Bytes,
            _ => {
                return Ok(Unwrap {
                    label: name,
                    conv: UnwrapConv::Number,
                    post_filters: Vec::new(),
                })
            }
        };
        self.expect_op("(")?;
        let label = self.ident()?;
        self.expect_op(")")?;
        Ok(Unwrap {
            label,
            conv,
            post_filters: Vec::new(),
        })
    }

    /// One stage after `|`.
    fn stage(&mut self) -> Result<Stage, ParseError> {
        let t = self.peek().clone();
        match &t.tok {
            Tok::Ident(n) if n == "json" || n == "logfmt" => {
                self.advance();
                let kind = if n == "json" {
                    ParserKind::Json
                } else {
                    ParserKind::Logfmt
                };
                let mut stage = ParserStage {
                    kind,
                    params: Vec::new(),
                    strict: false,
                    keep_empty: false,
                };
                // logfmt flags: `--strict`, `--keep-empty`.
                while kind == ParserKind::Logfmt
                    && self.peek().tok == Tok::Op("-")
                    && self.peek_at(1).tok == Tok::Op("-")
                {
                    self.advance();
                    self.advance();
                    let flag_pos = self.peek().pos;
                    let flag = self.ident()?;
                    // `keep-empty` lexes as `keep`, `-`, `empty`.
                    match flag.as_str() {
                        "strict" => stage.strict = true,
                        "keep"
                            if self.peek().tok == Tok::Op("-")
                                && self.peek_at(1).tok == Tok::Ident("empty".into()) =>
                        {
                            self.advance();
                            self.advance();
                            stage.keep_empty = true;
                        }
                        other => {
                            return Err(ParseError::at(
                                self.input,
                                flag_pos,
                                format!("syntax error: unknown logfmt flag --{other}"),
                            ));
                        }
                    }
                }
                // Parameters: `label="expression"` or a bare `label`, comma separated.
                while let Tok::Ident(label) = self.peek().tok.clone() {
                    if label == "or" || label == "and" {
                        break;
                    }
                    self.advance();
                    let expr = if self.peek().tok == Tok::Op("=") {
                        self.advance();
                        self.string()?.0
                    } else {
                        label.clone()
                    };
                    stage.params.push((label, expr));
                    if self.peek().tok == Tok::Op(",") && matches!(self.peek_at(1).tok, Tok::Ident(_)) {
                        self.advance();
                    } else {
                        break;
                    }
                }
                if kind == ParserKind::Json {
                    for (_, expr) in &stage.params {
                        json_path(expr).map_err(|e| self.err_here(e))?;
                    }
                }
                Ok(Stage::Parser(stage))
            }
            Tok::Ident(n) if n == "unpack" => {
                self.advance();
                Ok(Stage::Unpack)
            }
            Tok::Ident(n) if n == "distinct" => {
                self.advance();
                let mut labels = vec![self.ident()?];
                while self.peek().tok == Tok::Op(",") && matches!(self.peek_at(1).tok, Tok::Ident(_)) {
                    self.advance();
                    labels.push(self.ident()?);
                }
                Ok(Stage::Distinct(labels))
            }
            Tok::Ident(n) if n == "decolorize" => {
                self.advance();
                Ok(Stage::Decolorize)
            }
            Tok::Ident(n) if n == "regexp" => {
                self.advance();
                let (text, pos) = self.string()?;
                let re = regex::Regex::new(&text).map_err(|e| {
                    ParseError::at(
                        self.input,
                        pos,
                        format!("error parsing regexp: {}", logq_storage::regex_error_line(&e)),
                    )
                })?;
                if re.capture_names().flatten().next().is_none() {
                    return Err(ParseError::at(
                        self.input,
                        pos,
                        "at least one named capture must be supplied",
                    ));
                }
                Ok(Stage::Regexp(text))
            }
            Tok::Ident(n) if n == "pattern" => {
                self.advance();
                let (text, pos) = self.string()?;
                Pattern::parse(&text)
                    .map(Stage::Pattern)
                    .map_err(|e| ParseError::at(self.input, pos, e))
            }
            Tok::Ident(n) if n == "line_format" => {
                self.advance();
                let (text, pos) = self.string()?;
                Template::parse(&text)
                    .map(Stage::LineFormat)
                    .map_err(|e| ParseError::at(self.input, pos, e))
            }
            Tok::Ident(n) if n == "label_format" => {
                self.advance();
                let mut items = Vec::new();
                loop {
                    let to = self.ident()?;
                    self.expect_op("=")?;
                    let item = match self.peek().tok.clone() {
                        Tok::Str(text) => {
                            let pos = self.advance().pos;
                            let template =
                                Template::parse(&text).map_err(|e| ParseError::at(self.input, pos, e))?;
                            LabelFormat::Template { to, template }
                        }
                        _ => LabelFormat::Rename {
                            to,
                            from: self.ident()?,
                        },
                    };
                    items.push(item);
                    if self.peek().tok == Tok::Op(",") && matches!(self.peek_at(1).tok, Tok::Ident(_)) {
                        self.advance();
                    } else {
                        break;
                    }
                }
                Ok(Stage::LabelFormat(items))
            }
            Tok::Ident(n) if n == "drop" || n == "keep" => {
                let drop = n == "drop";
                self.advance();
                let mut items = Vec::new();
                loop {
                    let name = self.ident()?;
                    // A bare name, or a matcher (`=`, `!=`, `=~`, `!~`) on the label's value.
                    let op = match self.peek().tok {
                        Tok::Op("=") => Some(MatchOp::Equal),
                        Tok::Op("!=") => Some(MatchOp::NotEqual),
                        Tok::Op("=~") => Some(MatchOp::Regex),
                        Tok::Op("!~") => Some(MatchOp::NotRegex),
                        _ => None,
                    };
                    let matcher = match op {
                        Some(op) => {
                            self.advance();
                            let (value, pos) = self.string()?;
                            Some(LabelMatcher::new(name.clone(), op, value).map_err(|e| {
                                ParseError::at(self.input, pos, format!("error parsing regexp: {}", e.reason))
                            })?)
                        }
                        None => None,
                    };
                    items.push(LabelSelect { name, matcher });
                    if self.peek().tok == Tok::Op(",") && matches!(self.peek_at(1).tok, Tok::Ident(_)) {
                        self.advance();
                    } else {
                        break;
                    }
                }
                Ok(if drop {
                    Stage::Drop(items)
                } else {
                    Stage::Keep(items)
                })
            }
            Tok::Ident(n) if UNSUPPORTED_STAGES.contains(&n.as_str()) => Err(ParseError::at(
                self.input,
                t.pos,
                format!("syntax error: the {n} stage is not supported yet"),
            )),
            Tok::Ident(_) | Tok::Op("(") => Ok(Stage::LabelFilter(self.label_filter_or()?)),
            _ => Err(self.unexpected("a parser, a label filter or unwrap")),
        }
    }

    fn label_filter_or(&mut self) -> Result<LabelFilterExpr, ParseError> {
        let mut lhs = self.label_filter_and()?;
        while self.is_ident("or") {
            self.advance();
            let rhs = self.label_filter_and()?;
            lhs = LabelFilterExpr::Or(Box::new(lhs), Box::new(rhs));
        }
        Ok(lhs)
    }

    fn label_filter_and(&mut self) -> Result<LabelFilterExpr, ParseError> {
        let mut lhs = self.label_filter_primary()?;
        while self.is_ident("and")
            || (self.peek().tok == Tok::Op(",") && matches!(self.peek_at(1).tok, Tok::Ident(_)))
        {
            self.advance();
            let rhs = self.label_filter_primary()?;
            lhs = LabelFilterExpr::And(Box::new(lhs), Box::new(rhs));
        }
        Ok(lhs)
    }

    fn label_filter_primary(&mut self) -> Result<LabelFilterExpr, ParseError> {
        if self.peek().tok == Tok::Op("(") {
            self.advance();
            let e = self.label_filter_or()?;
            self.expect_op(")")?;
            return Ok(e);
        }
        let name = self.ident()?;
        let op = match self.peek().tok {
            Tok::Op("=") | Tok::Op("==") => CmpOp::Eq,
            Tok::Op("!=") => CmpOp::Ne,
            Tok::Op("=~") => CmpOp::Re,
            Tok::Op("!~") => CmpOp::NotRe,
            Tok::Op(">") => CmpOp::Gt,
            Tok::Op(">=") => CmpOp::Ge,
            Tok::Op("<") => CmpOp::Lt,
            Tok::Op("<=") => CmpOp::Le,
            _ => return Err(self.unexpected("a comparison operator")),
        };
        self.advance();
        let pos = self.peek().pos;
        let (value, text) = match self.peek().tok.clone() {
            Tok::Ident(f) if f == "ip" && self.peek_at(1).tok == Tok::Op("(") => {
                if !matches!(op, CmpOp::Eq | CmpOp::Ne) {
                    return Err(ParseError::at(
                        self.input,
                        pos,
                        "syntax error: ip() can only be compared with = and !=",
                    ));
                }
                let (text, at) = self.ip_call()?;
                let ip = IpMatcher::parse(&text).map_err(|e| ParseError::at(self.input, at, e))?;
                (CmpValue::Ip(ip), text)
            }
            Tok::Str(s) => {
                self.advance();
                if !matches!(op, CmpOp::Eq | CmpOp::Ne | CmpOp::Re | CmpOp::NotRe) {
                    return Err(ParseError::at(
                        self.input,
                        pos,
                        format!("syntax error: {} cannot compare strings", op.as_str()),
                    ));
                }
                if matches!(op, CmpOp::Re | CmpOp::NotRe) {
                    regex::Regex::new(&format!("^(?s:{s})$")).map_err(|e| {
                        ParseError::at(
                            self.input,
                            pos,
                            format!("error parsing regexp: {}", logq_storage::regex_error_line(&e)),
                        )
                    })?;
                }
                (CmpValue::Str(s.clone()), s)
            }
            Tok::Duration(d) => {
                let (ns, text) = self.duration()?;
                let _ = d;
                (CmpValue::Duration(ns as f64 / 1e9), text)
            }
            Tok::Number(_) | Tok::Op("-") => {
                let v = self.number()?;
                let end = self.tokens[self.i - 1].pos + self.tokens[self.i - 1].tok.describe().len();
                let _ = end;
                // `10KB`: a number directly followed by a byte unit.
                match self.peek().tok.clone() {
                    Tok::Ident(u) if bytes_unit(&u).is_some() => {
                        self.advance();
                        (
                            CmpValue::Bytes(v * bytes_unit(&u).unwrap_or(1.0)),
                            format!("{v}{u}"),
                        )
                    }
                    _ => (CmpValue::Number(v), v.to_string()),
                }
            }
            _ => return Err(self.unexpected("STRING, NUMBER, DURATION or BYTES")),
        };
        if matches!(op, CmpOp::Re | CmpOp::NotRe) && !matches!(value, CmpValue::Str(..)) {
            return Err(ParseError::at(
                self.input,
                pos,
                "syntax error: =~ and !~ need a string",
            ));
        }
        Ok(LabelFilterExpr::Cmp(LabelComparison {
            name,
            op,
            value,
            text,
        }))
    }

    fn grouping(&mut self) -> Result<Option<Grouping>, ParseError> {
        let without = match &self.peek().tok {
            Tok::Ident(n) if n == "by" => false,
            Tok::Ident(n) if n == "without" => true,
            _ => return Ok(None),
        };
        self.advance();
        Ok(Some(Grouping {
            without,
            labels: self.label_list()?,
        }))
    }

    fn label_list(&mut self) -> Result<Vec<String>, ParseError> {
        self.expect_op("(")?;
        let mut labels = Vec::new();
        if self.peek().tok == Tok::Op(")") {
            self.advance();
            return Ok(labels);
        }
        loop {
            labels.push(self.ident()?);
            match self.peek().tok {
                Tok::Op(",") => {
                    self.advance();
                }
                Tok::Op(")") => {
                    self.advance();
                    return Ok(labels);
                }
                _ => return Err(self.unexpected(", or )")),
            }
        }
    }

    fn binary_op(&self) -> Option<BinOp> {
        Some(match &self.peek().tok {
            Tok::Op("+") => BinOp::Add,
            Tok::Op("-") => BinOp::Sub,
            Tok::Op("*") => BinOp::Mul,
            Tok::Op("/") => BinOp::Div,
            Tok::Op("%") => BinOp::Mod,
            Tok::Op("^") => BinOp::Pow,
            Tok::Op("==") => BinOp::Eq,
            Tok::Op("!=") => BinOp::Ne,
            Tok::Op(">") => BinOp::Gt,
            Tok::Op(">=") => BinOp::Ge,
            Tok::Op("<") => BinOp::Lt,
            Tok::Op("<=") => BinOp::Le,
            Tok::Ident(n) if n == "and" => BinOp::And,
            Tok::Ident(n) if n == "or" => BinOp::Or,
            Tok::Ident(n) if n == "unless" => BinOp::Unless,
            _ => return None,
        })
    }

    fn sample_expr(&mut self, min_prec: u8) -> Result<SampleExpr, ParseError> {
        let mut lhs = self.unary()?;
        while let Some(op) = self.binary_op() {
            if op.precedence() < min_prec {
                break;
            }
            self.advance();
            let mut return_bool = false;
            if self.is_ident("bool") {
                if !op.is_comparison() {
                    return Err(
                        self.err_here("syntax error: bool modifier can only be used on comparison operators")
                    );
                }
                self.advance();
                return_bool = true;
            }
            let mut matching = None;
            if self.is_ident("on") || self.is_ident("ignoring") {
                let on = self.is_ident("on");
                self.advance();
                let labels = self.label_list()?;
                let mut group = None;
                if self.is_ident("group_left") || self.is_ident("group_right") {
                    let left = self.is_ident("group_left");
                    self.advance();
                    let include = if self.peek().tok == Tok::Op("(") {
                        self.label_list()?
                    } else {
                        Vec::new()
                    };
                    if op.is_set() {
                        return Err(self.err_here(format!(
                            "syntax error: no grouping allowed for \"{}\" operation",
                            op.as_str()
                        )));
                    }
                    group = Some(GroupSide { left, include });
                }
                matching = Some(VectorMatching { on, labels, group });
            } else if self.is_ident("group_left") || self.is_ident("group_right") {
                return Err(
                    self.err_here("syntax error: group_left and group_right need on(...) or ignoring(...)")
                );
            }
            let next = if op == BinOp::Pow {
                op.precedence()
            } else {
                op.precedence() + 1
            };
            let rhs = self.sample_expr(next)?;
            lhs = SampleExpr::Binary(Box::new(BinaryExpr {
                op,
                return_bool,
                matching,
                lhs,
                rhs,
            }));
        }
        Ok(lhs)
    }

    fn unary(&mut self) -> Result<SampleExpr, ParseError> {
        match self.peek().tok {
            Tok::Op("-") => {
                self.advance();
                Ok(match self.unary()? {
                    SampleExpr::Literal(v) => SampleExpr::Literal(-v),
                    e => SampleExpr::Binary(Box::new(BinaryExpr {
                        op: BinOp::Mul,
                        return_bool: false,
                        matching: None,
                        lhs: SampleExpr::Literal(-1.0),
                        rhs: e,
                    })),
                })
            }
            Tok::Op("+") => {
                self.advance();
                self.unary()
            }
            _ => self.primary(),
        }
    }

    fn primary(&mut self) -> Result<SampleExpr, ParseError> {
        let t = self.peek().clone();
        match &t.tok {
            Tok::Number(_) => Ok(SampleExpr::Literal(self.number()?)),
            Tok::Op("(") => {
                self.advance();
                let e = self.sample_expr(0)?;
                self.expect_op(")")?;
                Ok(e)
            }
            Tok::Ident(n) if n == "label_replace" => {
                self.advance();
                self.expect_op("(")?;
                let inner = self.sample_expr(0)?;
                let mut args = Vec::new();
                for _ in 0..4 {
                    self.expect_op(",")?;
                    args.push(self.string()?);
                }
                self.expect_op(")")?;
                let (regex_text, pos) = args[3].clone();
                regex::Regex::new(&format!("^(?s:{regex_text})$")).map_err(|e| {
                    ParseError::at(
                        self.input,
                        pos,
                        format!("error parsing regexp: {}", logq_storage::regex_error_line(&e)),
                    )
                })?;
                if !args[0].0.is_empty() && !logq_storage::is_valid_label_name(&args[0].0) {
                    return Err(ParseError::at(
                        self.input,
                        args[0].1,
                        format!("invalid destination label name in label_replace(): {}", args[0].0),
                    ));
                }
                Ok(SampleExpr::LabelReplace(Box::new(LabelReplace {
                    inner,
                    dst: args[0].0.clone(),
                    replacement: args[1].0.clone(),
                    src: args[2].0.clone(),
                    regex_text,
                })))
            }
            Tok::Ident(n) if n == "vector" => {
                self.advance();
                self.expect_op("(")?;
                let v = self.number()?;
                self.expect_op(")")?;
                Ok(SampleExpr::VectorLiteral(v))
            }
            Tok::Ident(n) => {
                if let Some(op) = RangeOp::from_name(n) {
                    self.advance();
                    self.range_aggregation(op, t.pos)
                } else if let Some(op) = VecOp::from_name(n) {
                    self.advance();
                    self.vector_aggregation(op)
                } else {
                    Err(ParseError::at(
                        self.input,
                        t.pos,
                        format!("syntax error: unexpected IDENTIFIER {n:?}"),
                    ))
                }
            }
            _ => Err(self.unexpected("a metric expression")),
        }
    }

    fn range_aggregation(&mut self, op: RangeOp, pos: usize) -> Result<SampleExpr, ParseError> {
        self.expect_op("(")?;
        let param = if op == RangeOp::QuantileOverTime {
            let q = self.number()?;
            self.expect_op(",")?;
            Some(q)
        } else {
            None
        };
        let parenthesized = self.peek().tok == Tok::Op("(");
        if parenthesized {
            self.advance();
        }
        let (log, unwrap) = self.log_expr()?;
        if parenthesized {
            self.expect_op(")")?;
        }
        self.expect_op("[")?;
        let (range_ns, range_text) = self.duration()?;
        self.expect_op("]")?;
        let mut offset_ns = 0;
        let mut offset_text = None;
        if self.is_ident("offset") {
            self.advance();
            let (ns, text) = self.duration()?;
            offset_ns = ns;
            offset_text = Some(text);
        }
        self.expect_op(")")?;
        let grouping = self.grouping()?;
        let _ = pos;
        // Loki's `RangeAggregationExpr.validate`: errors without a position, in this order.
        if grouping.is_some() && !op.allows_grouping() {
            return Err(ParseError::whole(format!(
                "grouping not allowed for {} aggregation",
                op.name()
            )));
        }
        if op.forbids_unwrap() && unwrap.is_some() {
            return Err(ParseError::whole(format!(
                "invalid aggregation {} with unwrap",
                op.name()
            )));
        }
        if op.needs_unwrap() && unwrap.is_none() {
            return Err(ParseError::whole(format!(
                "invalid aggregation {} without unwrap",
                op.name()
            )));
        }
        if range_ns <= 0 {
            return Err(ParseError::at(self.input, pos, "range must be positive"));
        }
        Ok(SampleExpr::Range(Box::new(RangeAggregation {
            op,
            log,
            range_ns,
            offset_ns,
            unwrap,
            param,
            grouping,
            range_text,
            offset_text,
        })))
    }

    fn vector_aggregation(&mut self, op: VecOp) -> Result<SampleExpr, ParseError> {
        let mut grouping = self.grouping()?;
        self.expect_op("(")?;
        let param = if matches!(op, VecOp::Topk | VecOp::Bottomk) {
            let pos = self.peek().pos;
            let k = self.number()?;
            if k < 1.0 || k.fract() != 0.0 {
                return Err(ParseError::at(
                    self.input,
                    pos,
                    format!(
                        "invalid parameter for {}: {k} is not a positive integer",
                        op.name()
                    ),
                ));
            }
            self.expect_op(",")?;
            Some(k)
        } else {
            None
        };
        let inner = self.sample_expr(0)?;
        self.expect_op(")")?;
        if grouping.is_none() {
            grouping = self.grouping()?;
        }
        Ok(SampleExpr::Vector(Box::new(VectorAggregation {
            op,
            grouping,
            param,
            inner,
        })))
    }
}

fn check_selectors(expr: &SampleExpr) -> Result<(), ParseError> {
    match expr {
        SampleExpr::Range(r) => check_log(&r.log),
        SampleExpr::Vector(v) => check_selectors(&v.inner),
        SampleExpr::Binary(b) => check_selectors(&b.lhs).and(check_selectors(&b.rhs)),
        SampleExpr::LabelReplace(l) => check_selectors(&l.inner),
        SampleExpr::Literal(_) | SampleExpr::VectorLiteral(_) => Ok(()),
    }
}

fn check_log(log: &LogExpr) -> Result<(), ParseError> {
    if log.matchers.iter().all(LabelMatcher::matches_empty) {
        Err(ParseError::whole(EMPTY_SELECTOR))
    } else {
        Ok(())
    }
}

/// Parses a LogQL query (log or metric).
pub fn parse(input: &str) -> Result<Expr, ParseError> {
    let tokens = tokenize(input)?;
    let mut p = Parser { input, tokens, i: 0 };
    if p.peek().tok == Tok::Eof {
        return Err(p.unexpected("{"));
    }
    let expr = if p.peek().tok == Tok::Op("{") {
        let (log, unwrap) = p.log_expr()?;
        if unwrap.is_some() {
            return Err(ParseError::whole(
                "unwrap is only allowed inside a range aggregation",
            ));
        }
        if p.peek().tok != Tok::Eof {
            return Err(p.unexpected("|= or != or |~ or !~ or |"));
        }
        check_log(&log)?;
        Expr::Log(log)
    } else {
        let e = p.sample_expr(0)?;
        if p.peek().tok != Tok::Eof {
            return Err(p.unexpected("$end"));
        }
        check_selectors(&e)?;
        Expr::Sample(e)
    };
    Ok(expr)
}

/// Parses a query that must be a log query (a selector with an optional pipeline).
pub fn parse_log_selector(input: &str) -> Result<LogExpr, ParseError> {
    match parse(input)? {
        Expr::Log(l) => Ok(l),
        Expr::Sample(_) => Err(ParseError::whole(format!(
            "{input}: a log query (a stream selector) is required here"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines<'a>(q: &str, input: &[&'a str]) -> Vec<&'a str> {
        let e = parse_log_selector(q).unwrap();
        let p = crate::pipeline::Pipeline::compile(&e).unwrap();
        input.iter().copied().filter(|l| p.matches_line(l)).collect()
    }

    #[test]
    fn selectors_with_every_operator() {
        let e = parse_log_selector("{app=\"a\", env!=\"dev\", host=~\"web-.+\", dc!~`eu.*`}").unwrap();
        let ops: Vec<MatchOp> = e.matchers.iter().map(|m| m.op).collect();
        assert_eq!(
            ops,
            [
                MatchOp::Equal,
                MatchOp::NotEqual,
                MatchOp::Regex,
                MatchOp::NotRegex
            ]
        );
        assert_eq!(e.matchers[3].value, "eu.*");
    }

    #[test]
    fn line_filters_and_alternatives() {
        let input = ["GET /a 200", "POST /b 500", "get /c 404"];
        assert_eq!(lines(r#"{a="b"} |= "GET""#, &input), ["GET /a 200"]);
        assert_eq!(
            lines(r#"{a="b"} |= "GET" or "POST""#, &input),
            ["GET /a 200", "POST /b 500"]
        );
        assert_eq!(lines(r#"{a="b"} != "GET" or "POST""#, &input), ["get /c 404"]);
        assert_eq!(
            lines(r#"{a="b"} |~ "(?i)^get""#, &input),
            ["GET /a 200", "get /c 404"]
        );
        assert_eq!(lines(r#"{a="b"} !~ "[45]0[04]" |= "/""#, &input), ["GET /a 200"]);
        assert_eq!(
            lines("{a=\"b\"}\n  # only errors\n  |~ `5\\d\\d`", &input),
            ["POST /b 500"]
        );
    }

    #[test]
    fn errors_in_lokis_words() {
        let err = |q: &str| parse(q).unwrap_err().to_string();
        assert_eq!(
            err("{app=\"x}"),
            "parse error at line 1, col 6: literal not terminated"
        );
        assert_eq!(
            err("{app=\"x\"} |= "),
            "parse error at line 1, col 14: syntax error: unexpected $end, expecting STRING"
        );
        assert_eq!(
            err(""),
            "parse error at line 1, col 1: syntax error: unexpected $end, expecting {"
        );
        assert!(parse("{app=\"x\"}\n| logfmt | distinct a, b").is_ok());
        assert_eq!(
            err("{app=\"x\"} | distinct"),
            "parse error at line 1, col 21: syntax error: unexpected $end, expecting IDENTIFIER"
        );
        assert!(
            err("{app=\"x\"} | line_format \"{{ nosuch .a }}\"").contains("function \"nosuch\" not defined")
        );
        assert!(err("{app=\"x\"} | regexp \"(a)\"").contains("named capture"));
        assert!(err("{app=~\"(\"}").starts_with("parse error at line 1, col 7: error parsing regexp"));
        assert!(
            err("{app=\"x\"} |~ \"[\"").starts_with("parse error at line 1, col 14: error parsing regexp")
        );
        assert!(err("{app=\"x\" env=\"y\"}").contains("expecting , or }"));
        assert!(err("{app=\"x\"} |= \"a\" \"b\"")
            .contains("unexpected STRING \"b\", expecting |= or != or |~ or !~"));
        assert_eq!(err("{}"), format!("parse error : {EMPTY_SELECTOR}"));
        assert_eq!(err("{app=~\".*\"}"), format!("parse error : {EMPTY_SELECTOR}"));
        // Loki validates range aggregations after parsing: no position.
        assert_eq!(
            err("count_over_time({app=\"x\"}[1m]) by (a)"),
            "parse error : grouping not allowed for count_over_time aggregation"
        );
        assert_eq!(
            err("sum_over_time({app=\"x\"} | unwrap v [1m]) by (a)"),
            "parse error : grouping not allowed for sum_over_time aggregation"
        );
        assert_eq!(
            err("bytes_over_time({app=\"x\"} | unwrap v [1m])"),
            "parse error : invalid aggregation bytes_over_time with unwrap"
        );
        assert!(parse("absent_over_time({app=\"x\"} | unwrap v [1m])").is_ok());
        assert!(parse("max_over_time({app=\"x\"} | unwrap v | __error__=\"\" [1m]) by (a)").is_ok());
        assert!(parse("{app=~\".+\"}").is_ok());
    }

    #[test]
    fn metric_queries_parse_with_precedence() {
        let e = parse("sum by (app) (rate({a=\"b\"} |= \"x\" [5m])) * 2 + 1").unwrap();
        assert_eq!(
            e.to_string(),
            "((sum by (app) (rate({a=\"b\"} |= \"x\" [5m])) * 2) + 1)"
        );
        let e = parse("2 ^ 3 ^ 2").unwrap();
        assert_eq!(e.to_string(), "(2 ^ (3 ^ 2))");
        let e = parse("vector(1)+vector(1)").unwrap();
        assert_eq!(e.to_string(), "(vector(1) + vector(1))");
        let e = parse("topk(3, sum(count_over_time({a=\"b\"}[1h])) by (host)) > bool on (host) 5").unwrap();
        assert!(e.to_string().contains("> bool on (host) 5"), "{e}");
        let e = parse("sum by (host, app) (rate({a=\"b\"}[5m])) / on (host) group_left (dc) sum by (host, dc) (rate({a=\"c\"}[5m]))").unwrap();
        assert!(
            e.to_string()
                .contains("/ on (host) group_left (dc) sum by (host, dc)"),
            "{e}"
        );
        let e = parse("quantile_over_time(0.99, {a=\"b\"} | logfmt | unwrap duration(latency) [5m] offset 1h) by (host)").unwrap();
        assert_eq!(
            e.to_string(),
            "quantile_over_time(0.99, {a=\"b\"} | logfmt | unwrap duration(latency) [5m] offset 1h) by (host)"
        );
    }

    #[test]
    fn parsers_and_label_filters() {
        let e = parse_log_selector(
            "{a=\"b\"} | json | status >= 500 and method=\"GET\", dur > 1.5s or size < 10KB |= \"x\"",
        )
        .unwrap();
        assert_eq!(e.pipeline.len(), 3);
        assert!(!e.is_filter_only());
        assert!(
            e.to_string().contains(
                "| json | (((status >= 500 and method = \"GET\") and dur > 1.5s) or size < 10KB) |= \"x\""
            ),
            "{e}"
        );
        let e = parse_log_selector("{a=\"b\"} | logfmt | (level=\"error\" or level=~\"warn.*\")").unwrap();
        assert_eq!(e.pipeline.len(), 2);
    }

    #[test]
    fn display_round_trips() {
        for q in [
            r#"{app="a\"b", env!="x"}"#,
            "{app=~\"web|db\"} |= \"x\" or \"y\" != \"z\\n\" |~ \"(?i)err\" !~ `\\d+`",
            "sum without (host) (bytes_rate({a=\"b\"} | json | level=\"error\" [1m])) / 2",
            "{a=\"b\"} |= ip(\"10.0.0.0/8\") or ip(\"::1\") | logfmt | addr != ip(\"10.1.0.0-10.1.0.9\")",
            "{a=\"b\"} | json x=\"a.b[0]\", y=\"c\" | logfmt --strict --keep-empty k=\"key\"",
            "{a=\"b\"} | regexp \"(?P<m>\\\\w+)\" | pattern \"<x> <_>\" | unpack | decolorize | line_format \"{{.m}}\" | label_format y=x, z=\"{{.m}}!\" | drop a, b=\"c\" | keep m",
            "{a=\"b\"} | logfmt | distinct level, pod | level=~\"err.*\" or status >= 500",
            "label_replace(sum by (pod) (count_over_time({a=\"b\"} |> \"<_> x\" [5m] offset 1m)), \"p\", \"$1\", \"pod\", \"(.*)-\\\\d+\")",
        ] {
            let tree = parse(q).unwrap();
            let once = tree.to_string();
            // Syntax is data: the printed query parses back to an equal tree.
            assert_eq!(parse(&once).unwrap(), tree, "{q} printed as {once}");
            let twice = parse(&once).unwrap().to_string();
            assert_eq!(once, twice, "{q}");
        }
        // Equal text, equal trees; different text, different trees.
        assert_eq!(
            parse("{a=\"b\"} |= \"x\"").unwrap(),
            parse("{a=\"b\"}|=\"x\"").unwrap()
        );
        assert_ne!(
            parse("{a=\"b\"} |= \"x\"").unwrap(),
            parse("{a=\"b\"} |= \"y\"").unwrap()
        );
    }

    #[test]
    fn never_panics_on_garbage() {
        let seeds = [
            "{app=\"x\"} |= \"a\" or \"b\"",
            "{a=~`x`} !~ \"\\u00e9\"",
            "{é=\"\\x\"}",
        ];
        let alphabet: Vec<char> = "{}[]()\"`\\|=!~<>,.#\n 0123456789aé_-+*/%^orby".chars().collect();
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for round in 0..5000 {
            let mut s: Vec<char> = seeds[round % seeds.len()].chars().collect();
            for _ in 0..(next() % 6) {
                let at = (next() as usize) % (s.len() + 1);
                match next() % 3 {
                    0 if at < s.len() => {
                        s.remove(at);
                    }
                    _ => s.insert(at, alphabet[(next() as usize) % alphabet.len()]),
                }
            }
            let q: String = s.into_iter().collect();
            let _ = parse(&q);
        }
    }
}
