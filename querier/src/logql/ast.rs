//! The LogQL syntax tree of log queries: a stream selector and a pipeline of line filters,
//! parsers (`json`, `logfmt`) and label filters. Metric expressions are in `sample.rs`.
//!
//! Syntax is data: every node is comparable and prints back (`Display`) to text the parser
//! reads to an equal tree. Nothing here is compiled or holds state: the parser validates
//! regexes and patterns, and [`crate::Pipeline`] compiles a fresh set of stages for each
//! execution (`stages/`).

use std::fmt;

use logq_storage::LabelMatcher;

use super::ip::IpMatcher;
use super::pattern::Pattern;
use super::sample::SampleExpr;
use super::template::Template;

/// A parsed query.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// A log query: selector and pipeline.
    Log(LogExpr),
    /// A metric query.
    Sample(SampleExpr),
}

/// A stream selector and its pipeline.
#[derive(Debug, Clone, PartialEq)]
pub struct LogExpr {
    /// Stream matchers (`{app="x", env!="dev"}`).
    pub matchers: Vec<LabelMatcher>,
    /// Pipeline stages, applied in order.
    pub pipeline: Vec<Stage>,
}

/// One pipeline stage (its execution is in `stages/`, one file per stage).
#[derive(Debug, Clone, PartialEq)]
pub enum Stage {
    /// `|= "a"`, `!= "a"`, `|~ "re"`, `!~ "re"`, each with `or` alternatives.
    LineFilter(LineFilter),
    /// `| json` or `| logfmt` (with parameters and flags): extract labels from the line.
    Parser(ParserStage),
    /// `| status >= 500 and level = "error"`.
    LabelFilter(LabelFilterExpr),
    /// `| regexp "(?P<name>...)"`: named captures become labels (the regex as written; the
    /// parser checked that it compiles and names a group).
    Regexp(String),
    /// `| pattern "<ip> - <_> <status>"`.
    Pattern(Pattern),
    /// `| unpack`: JSON fields become labels, `_entry` becomes the line.
    Unpack,
    /// `| line_format "{{.a}}"`: rewrites the line.
    LineFormat(Template),
    /// `| label_format a=b, c="{{.d}}"`.
    LabelFormat(Vec<LabelFormat>),
    /// `| drop a, b="x"`.
    Drop(Vec<LabelSelect>),
    /// `| keep a, b="x"`.
    Keep(Vec<LabelSelect>),
    /// `| decolorize`: removes ANSI colour codes.
    Decolorize,
    /// `| distinct a, b`: drops a line when any of the labels has a value an earlier line had
    /// (earlier in the same execution).
    Distinct(Vec<String>),
}

/// A label named by `drop` or `keep`, optionally only when its value matches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabelSelect {
    /// The label.
    pub name: String,
    /// Only when its value matches (`level="debug"`, `level=~"debug|trace"`).
    pub matcher: Option<LabelMatcher>,
}

impl LabelSelect {
    /// Whether the label, with `value`, is selected (Loki: a matcher needs the label present).
    pub fn selects(&self, value: Option<&str>) -> bool {
        match (&self.matcher, value) {
            (None, _) => true,
            (Some(m), Some(v)) => m.matches_value(v),
            (Some(_), None) => false,
        }
    }
}

/// One assignment of `label_format`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LabelFormat {
    /// `to=from`: rename.
    Rename {
        /// New name.
        to: String,
        /// Old name.
        from: String,
    },
    /// `to="{{...}}"`: set from a template.
    Template {
        /// The label set.
        to: String,
        /// Its template.
        template: Template,
    },
}

/// A `json` or `logfmt` stage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParserStage {
    /// Which parser.
    pub kind: ParserKind,
    /// `label="expression"` parameters: extract only these (JSON path or logfmt key).
    pub params: Vec<(String, String)>,
    /// `logfmt --strict`: stop at the first malformed pair and set `__error__`.
    pub strict: bool,
    /// `logfmt --keep-empty`: keep keys without a value.
    pub keep_empty: bool,
}

/// A line parser.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParserKind {
    /// `| json`: every scalar field, nested keys joined with `_`.
    Json,
    /// `| logfmt`: `key=value` pairs.
    Logfmt,
}

/// A label filter: comparisons combined with `and` (or `,`) and `or`.
#[derive(Debug, Clone, PartialEq)]
pub enum LabelFilterExpr {
    /// Both must hold.
    And(Box<LabelFilterExpr>, Box<LabelFilterExpr>),
    /// Either must hold.
    Or(Box<LabelFilterExpr>, Box<LabelFilterExpr>),
    /// One comparison.
    Cmp(LabelComparison),
}

/// How a label filter compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    /// `=` or `==`
    Eq,
    /// `!=`
    Ne,
    /// `=~` (strings only)
    Re,
    /// `!~` (strings only)
    NotRe,
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `<`
    Lt,
    /// `<=`
    Le,
}

impl CmpOp {
    /// The operator as written.
    pub fn as_str(self) -> &'static str {
        match self {
            CmpOp::Eq => "=",
            CmpOp::Ne => "!=",
            CmpOp::Re => "=~",
            CmpOp::NotRe => "!~",
            CmpOp::Gt => ">",
            CmpOp::Ge => ">=",
            CmpOp::Lt => "<",
            CmpOp::Le => "<=",
        }
    }
}

/// The right-hand side of a label comparison.
#[derive(Debug, Clone, PartialEq)]
pub enum CmpValue {
    /// A string (for `=~`/`!~` a regex, anchored when it runs; the parser checked it compiles).
    Str(String),
    /// A number.
    Number(f64),
    /// A duration, in seconds (`1.5s`, `250ms`).
    Duration(f64),
    /// A byte size, in bytes (`10KB`, `1MiB`).
    Bytes(f64),
    /// `ip("...")` (with `=` and `!=`).
    Ip(IpMatcher),
}

/// `name op value`.
#[derive(Debug, Clone, PartialEq)]
pub struct LabelComparison {
    /// The label.
    pub name: String,
    /// The comparison.
    pub op: CmpOp,
    /// What to compare with.
    pub value: CmpValue,
    /// The value as written (for display).
    pub text: String,
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
    /// `|>`: fits the pattern (`<_>` placeholders).
    Pattern,
    /// `!>`: does not fit the pattern.
    NotPattern,
}

impl LineFilterOp {
    /// The operator as written.
    pub fn as_str(self) -> &'static str {
        match self {
            LineFilterOp::Contains => "|=",
            LineFilterOp::NotContains => "!=",
            LineFilterOp::Regex => "|~",
            LineFilterOp::NotRegex => "!~",
            LineFilterOp::Pattern => "|>",
            LineFilterOp::NotPattern => "!>",
        }
    }

    /// Whether the filter keeps lines that do NOT match (`!=`, `!~`, `!>`).
    pub fn is_negative(self) -> bool {
        matches!(
            self,
            LineFilterOp::NotContains | LineFilterOp::NotRegex | LineFilterOp::NotPattern
        )
    }
}

/// A line filter with its alternatives (`|= "a" or "b"`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineFilter {
    /// The operator.
    pub op: LineFilterOp,
    /// The literals, regexes, patterns or address ranges, as written.
    pub alternatives: Vec<String>,
    /// Per alternative: `ip("...")` (an address range) rather than a string. Loki's grammar
    /// mixes them with `or` under `|=` and `!=` (`|= ip("10.0.0.0/8") or "x"`).
    ip: Vec<bool>,
}

impl LineFilter {
    /// Builds a filter; regex and pattern alternatives must compile (the error says what is
    /// wrong with which).
    pub fn new(op: LineFilterOp, alternatives: Vec<String>) -> Result<Self, String> {
        match op {
            LineFilterOp::Regex | LineFilterOp::NotRegex => {
                for a in &alternatives {
                    regex::Regex::new(a).map_err(|e| {
                        format!("error parsing regexp: {}", logq_storage::regex_error_line(&e))
                    })?;
                }
            }
            LineFilterOp::Pattern | LineFilterOp::NotPattern => {
                for a in &alternatives {
                    Pattern::parse_filter(a)?;
                }
            }
            LineFilterOp::Contains | LineFilterOp::NotContains => {}
        }
        Ok(LineFilter {
            op,
            ip: vec![false; alternatives.len()],
            alternatives,
        })
    }

    /// A `|=` or `!=` filter whose alternatives are strings or (flagged `true`) `ip("...")`
    /// address ranges.
    pub fn with_ips(op: LineFilterOp, alternatives: Vec<(String, bool)>) -> Result<Self, String> {
        if !matches!(op, LineFilterOp::Contains | LineFilterOp::NotContains) {
            return Err(format!(
                "ip() can only be used with |= and !=, not {}",
                op.as_str()
            ));
        }
        for (a, ip) in &alternatives {
            if *ip {
                IpMatcher::parse(a)?;
            }
        }
        let (alternatives, ip) = alternatives.into_iter().unzip();
        Ok(LineFilter { op, alternatives, ip })
    }

    /// A literal every line this filter keeps contains (`|= "x"`, or the literal a `|~` regex
    /// requires), when there is one: readers search for it before running the filter.
    pub fn required_literal(&self) -> Option<String> {
        match self.op {
            LineFilterOp::Contains if !self.is_ip() && self.alternatives.len() == 1 => {
                Some(self.alternatives[0].clone()).filter(|a| !a.is_empty())
            }
            LineFilterOp::Regex if self.alternatives.len() == 1 => {
                super::literal::regex_required_literal(&self.alternatives[0])
            }
            _ => None,
        }
    }

    /// Literals of which every line this filter keeps contains at least one (one per
    /// alternative: `|= "a" or "b"` gives `[a, b]`), when every alternative has one. Negative
    /// filters and `ip()` have none. History indexes narrow candidates with them.
    pub fn any_literal(&self) -> Option<Vec<String>> {
        let lits: Option<Vec<String>> = match self.op {
            LineFilterOp::Contains if !self.is_ip() => Some(self.alternatives.clone()),
            LineFilterOp::Regex => self
                .alternatives
                .iter()
                .map(|a| super::literal::regex_required_literal(a))
                .collect(),
            LineFilterOp::Pattern => self
                .alternatives
                .iter()
                .map(|a| {
                    let p = Pattern::parse_filter(a).ok()?;
                    p.literals().max_by_key(|l| l.len()).map(str::to_string)
                })
                .collect(),
            _ => None,
        };
        lits.filter(|l| !l.is_empty() && l.iter().all(|a| !a.is_empty()))
    }

    /// Whether any alternative is an `ip()` range.
    pub fn is_ip(&self) -> bool {
        self.ip.contains(&true)
    }

    /// Whether alternative `i` is an `ip()` range.
    pub fn is_ip_alternative(&self, i: usize) -> bool {
        self.ip.get(i).copied().unwrap_or(false)
    }
}

impl LogExpr {
    /// Whether the pipeline has only line filters (lines keep their stream's labels and text).
    pub fn is_filter_only(&self) -> bool {
        self.pipeline.iter().all(|s| matches!(s, Stage::LineFilter(_)))
    }

    /// Whether the pipeline has a `distinct` stage (its answer depends on the order of lines).
    pub fn has_distinct(&self) -> bool {
        self.pipeline.iter().any(|s| matches!(s, Stage::Distinct(_)))
    }
}

impl fmt::Display for LabelFilterExpr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LabelFilterExpr::And(a, b) => write!(f, "({a} and {b})"),
            LabelFilterExpr::Or(a, b) => write!(f, "({a} or {b})"),
            LabelFilterExpr::Cmp(c) => {
                write!(f, "{} {} ", c.name, c.op.as_str())?;
                match &c.value {
                    CmpValue::Str(s) => quote(f, s),
                    CmpValue::Ip(ip) => {
                        f.write_str("ip(")?;
                        quote(f, &ip.text)?;
                        f.write_str(")")
                    }
                    _ => f.write_str(&c.text),
                }
            }
        }
    }
}

/// Writes a string literal that the lexer reads back to the same value.
pub(crate) fn quote(f: &mut fmt::Formatter<'_>, s: &str) -> fmt::Result {
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
                        if lf.is_ip_alternative(i) {
                            f.write_str("ip(")?;
                            quote(f, a)?;
                            f.write_str(")")?;
                        } else {
                            quote(f, a)?;
                        }
                    }
                }
                Stage::Parser(p) => {
                    f.write_str(if p.kind == ParserKind::Json {
                        " | json"
                    } else {
                        " | logfmt"
                    })?;
                    if p.strict {
                        f.write_str(" --strict")?;
                    }
                    if p.keep_empty {
                        f.write_str(" --keep-empty")?;
                    }
                    for (i, (label, expr)) in p.params.iter().enumerate() {
                        f.write_str(if i == 0 { " " } else { ", " })?;
                        write!(f, "{label}=")?;
                        quote(f, expr)?;
                    }
                }
                Stage::LabelFilter(e) => write!(f, " | {e}")?,
                Stage::Regexp(r) => {
                    f.write_str(" | regexp ")?;
                    quote(f, r)?;
                }
                Stage::Pattern(p) => {
                    f.write_str(" | pattern ")?;
                    quote(f, &p.text)?;
                }
                Stage::Unpack => f.write_str(" | unpack")?,
                Stage::Decolorize => f.write_str(" | decolorize")?,
                Stage::Distinct(labels) => write!(f, " | distinct {}", labels.join(", "))?,
                Stage::LineFormat(t) => {
                    f.write_str(" | line_format ")?;
                    quote(f, &t.text)?;
                }
                Stage::LabelFormat(items) => {
                    f.write_str(" | label_format ")?;
                    for (i, item) in items.iter().enumerate() {
                        if i > 0 {
                            f.write_str(", ")?;
                        }
                        match item {
                            LabelFormat::Rename { to, from } => write!(f, "{to}={from}")?,
                            LabelFormat::Template { to, template } => {
                                write!(f, "{to}=")?;
                                quote(f, &template.text)?;
                            }
                        }
                    }
                }
                Stage::Drop(items) | Stage::Keep(items) => {
                    f.write_str(if matches!(stage, Stage::Drop(_)) {
                        " | drop "
                    } else {
                        " | keep "
                    })?;
                    for (i, item) in items.iter().enumerate() {
                        if i > 0 {
                            f.write_str(", ")?;
                        }
                        f.write_str(&item.name)?;
                        if let Some(m) = &item.matcher {
                            f.write_str(m.op.as_str())?;
                            quote(f, &m.value)?;
                        }
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
            Expr::Sample(s) => s.fmt(f),
        }
    }
}

/// One step of a JSON path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JsonPathStep {
    /// An object key.
    Key(String),
    /// An array index.
    Index(usize),
}

/// Parses a `json` parameter expression: `a.b`, `a[0].b`, `["key with space"]`.
pub fn json_path(expr: &str) -> Result<Vec<JsonPathStep>, String> {
    let bad = |why: &str| format!("invalid json expression {expr:?}: {why}");
    let mut steps = Vec::new();
    let mut rest = expr.trim();
    if rest.is_empty() {
        return Err(bad("empty"));
    }
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix('[') {
            let end = r.find(']').ok_or_else(|| bad("unclosed ["))?;
            let inner = r[..end].trim();
            if let Some(q) = inner.strip_prefix('"').and_then(|q| q.strip_suffix('"')) {
                steps.push(JsonPathStep::Key(q.to_string()));
            } else {
                steps.push(JsonPathStep::Index(
                    inner.parse().map_err(|_| bad("index must be a number"))?,
                ));
            }
            rest = &r[end + 1..];
        } else {
            let r = rest.strip_prefix('.').unwrap_or(rest);
            let end = r.find(['.', '[']).unwrap_or(r.len());
            if end == 0 {
                return Err(bad("empty key"));
            }
            steps.push(JsonPathStep::Key(r[..end].to_string()));
            rest = &r[end..];
        }
    }
    Ok(steps)
}
