//! The syntax tree of metric queries: range aggregations over log queries, vector
//! aggregations, binary operators, literals and `vector()`.

use std::fmt;

use super::ast::LogExpr;

/// A metric expression.
#[derive(Debug, Clone, PartialEq)]
pub enum SampleExpr {
    /// `count_over_time({...}[5m])` and friends.
    Range(Box<RangeAggregation>),
    /// `sum by (app) (...)` and friends.
    Vector(Box<VectorAggregation>),
    /// `a + b`, `a > bool 3`, `a and b`.
    Binary(Box<BinaryExpr>),
    /// A number.
    Literal(f64),
    /// `vector(n)`: one series without labels.
    VectorLiteral(f64),
    /// `label_replace(v, "dst", "replacement", "src", "regex")`.
    LabelReplace(Box<LabelReplace>),
}

/// `label_replace` arguments.
#[derive(Debug, Clone, PartialEq)]
pub struct LabelReplace {
    /// The series to relabel.
    pub inner: SampleExpr,
    /// Label to set.
    pub dst: String,
    /// Replacement, with `$1` / `${name}` references to the regex's groups.
    pub replacement: String,
    /// Label to match.
    pub src: String,
    /// The regex as written (anchored when it runs; the parser checked it compiles).
    pub regex_text: String,
}

/// Range aggregation functions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeOp {
    /// Entries per range.
    CountOverTime,
    /// Entries per second (or, with unwrap, the per-second sum).
    Rate,
    /// Line bytes per range.
    BytesOverTime,
    /// Line bytes per second.
    BytesRate,
    /// 1 where a range has no entries.
    AbsentOverTime,
    /// Sum of unwrapped values.
    SumOverTime,
    /// Mean of unwrapped values.
    AvgOverTime,
    /// Minimum of unwrapped values.
    MinOverTime,
    /// Maximum of unwrapped values.
    MaxOverTime,
    /// Population standard deviation of unwrapped values.
    StddevOverTime,
    /// Population variance of unwrapped values.
    StdvarOverTime,
    /// φ-quantile of unwrapped values.
    QuantileOverTime,
    /// First unwrapped value in the range.
    FirstOverTime,
    /// Last unwrapped value in the range.
    LastOverTime,
    /// Per-second increase of a counter (resets handled).
    RateCounter,
}

impl RangeOp {
    /// The function name.
    pub fn name(self) -> &'static str {
        match self {
            RangeOp::CountOverTime => "count_over_time",
            RangeOp::Rate => "rate",
            RangeOp::BytesOverTime => "bytes_over_time",
            RangeOp::BytesRate => "bytes_rate",
            RangeOp::AbsentOverTime => "absent_over_time",
            RangeOp::SumOverTime => "sum_over_time",
            RangeOp::AvgOverTime => "avg_over_time",
            RangeOp::MinOverTime => "min_over_time",
            RangeOp::MaxOverTime => "max_over_time",
            RangeOp::StddevOverTime => "stddev_over_time",
            RangeOp::StdvarOverTime => "stdvar_over_time",
            RangeOp::QuantileOverTime => "quantile_over_time",
            RangeOp::FirstOverTime => "first_over_time",
            RangeOp::LastOverTime => "last_over_time",
            RangeOp::RateCounter => "rate_counter",
        }
    }

    /// Looks a function up by name.
    pub fn from_name(name: &str) -> Option<Self> {
        use RangeOp::*;
        [
            CountOverTime,
            Rate,
            BytesOverTime,
            BytesRate,
            AbsentOverTime,
            SumOverTime,
            AvgOverTime,
            MinOverTime,
            MaxOverTime,
            StddevOverTime,
            StdvarOverTime,
            QuantileOverTime,
            FirstOverTime,
            LastOverTime,
            RateCounter,
        ]
        .into_iter()
        .find(|op| op.name() == name)
    }

    /// Whether the function needs `| unwrap`.
    pub fn needs_unwrap(self) -> bool {
        use RangeOp::*;
        matches!(
            self,
            SumOverTime
                | AvgOverTime
                | MinOverTime
                | MaxOverTime
                | StddevOverTime
                | StdvarOverTime
                | QuantileOverTime
                | FirstOverTime
                | LastOverTime
                | RateCounter
        )
    }

    /// Whether the function may not take `| unwrap`.
    pub fn forbids_unwrap(self) -> bool {
        matches!(
            self,
            RangeOp::CountOverTime | RangeOp::BytesOverTime | RangeOp::BytesRate
        )
    }

    /// Whether `by`/`without` may follow the function (Loki's `RangeAggregationExpr.validate`).
    pub fn allows_grouping(self) -> bool {
        use RangeOp::*;
        matches!(
            self,
            AvgOverTime
                | StddevOverTime
                | StdvarOverTime
                | QuantileOverTime
                | MaxOverTime
                | MinOverTime
                | FirstOverTime
                | LastOverTime
        )
    }
}

/// How an unwrapped label becomes a number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnwrapConv {
    /// A plain number.
    Number,
    /// `duration(label)`: a Go duration, in seconds.
    Duration,
    /// `bytes(label)`: a byte size, in bytes.
    Bytes,
}

/// `| unwrap label`, `| unwrap duration(label)`, `| unwrap bytes(label)`, with the label
/// filters that may follow it (`| unwrap latency | __error__=""`).
#[derive(Debug, Clone, PartialEq)]
pub struct Unwrap {
    /// The label holding the value.
    pub label: String,
    /// The conversion.
    pub conv: UnwrapConv,
    /// Label filters applied after the conversion (they see its `__error__`).
    pub post_filters: Vec<super::ast::LabelFilterExpr>,
}

/// `by (a, b)` or `without (a, b)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grouping {
    /// `without` rather than `by`.
    pub without: bool,
    /// The labels.
    pub labels: Vec<String>,
}

/// A range aggregation.
#[derive(Debug, Clone, PartialEq)]
pub struct RangeAggregation {
    /// The function.
    pub op: RangeOp,
    /// The log query it aggregates.
    pub log: LogExpr,
    /// The range, in ns.
    pub range_ns: i64,
    /// `offset`, in ns.
    pub offset_ns: i64,
    /// The unwrapped label, if any.
    pub unwrap: Option<Unwrap>,
    /// The quantile for `quantile_over_time`.
    pub param: Option<f64>,
    /// `by`/`without` on unwrapped range aggregations.
    pub grouping: Option<Grouping>,
    /// The range as written (`5m`).
    pub range_text: String,
    /// The offset as written.
    pub offset_text: Option<String>,
}

/// Vector aggregation operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VecOp {
    /// Sum.
    Sum,
    /// Mean.
    Avg,
    /// Minimum.
    Min,
    /// Maximum.
    Max,
    /// Number of series.
    Count,
    /// Population standard deviation.
    Stddev,
    /// Population variance.
    Stdvar,
    /// The k largest.
    Topk,
    /// The k smallest.
    Bottomk,
    /// Ascending by value.
    Sort,
    /// Descending by value.
    SortDesc,
}

impl VecOp {
    /// The operator name.
    pub fn name(self) -> &'static str {
        match self {
            VecOp::Sum => "sum",
            VecOp::Avg => "avg",
            VecOp::Min => "min",
            VecOp::Max => "max",
            VecOp::Count => "count",
            VecOp::Stddev => "stddev",
            VecOp::Stdvar => "stdvar",
            VecOp::Topk => "topk",
            VecOp::Bottomk => "bottomk",
            VecOp::Sort => "sort",
            VecOp::SortDesc => "sort_desc",
        }
    }

    /// Looks an operator up by name.
    pub fn from_name(name: &str) -> Option<Self> {
        use VecOp::*;
        [
            Sum, Avg, Min, Max, Count, Stddev, Stdvar, Topk, Bottomk, Sort, SortDesc,
        ]
        .into_iter()
        .find(|op| op.name() == name)
    }
}

/// A vector aggregation.
#[derive(Debug, Clone, PartialEq)]
pub struct VectorAggregation {
    /// The operator.
    pub op: VecOp,
    /// `by`/`without`.
    pub grouping: Option<Grouping>,
    /// `k` for topk/bottomk.
    pub param: Option<f64>,
    /// What it aggregates.
    pub inner: SampleExpr,
}

/// Binary operators, by precedence groups.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinOp {
    /// `or`
    Or,
    /// `and`
    And,
    /// `unless`
    Unless,
    /// `==`
    Eq,
    /// `!=`
    Ne,
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `+`
    Add,
    /// `-`
    Sub,
    /// `*`
    Mul,
    /// `/`
    Div,
    /// `%`
    Mod,
    /// `^`
    Pow,
}

impl BinOp {
    /// The operator as written.
    pub fn as_str(self) -> &'static str {
        match self {
            BinOp::Or => "or",
            BinOp::And => "and",
            BinOp::Unless => "unless",
            BinOp::Eq => "==",
            BinOp::Ne => "!=",
            BinOp::Gt => ">",
            BinOp::Ge => ">=",
            BinOp::Lt => "<",
            BinOp::Le => "<=",
            BinOp::Add => "+",
            BinOp::Sub => "-",
            BinOp::Mul => "*",
            BinOp::Div => "/",
            BinOp::Mod => "%",
            BinOp::Pow => "^",
        }
    }

    /// Precedence: higher binds tighter (Prometheus' table).
    pub fn precedence(self) -> u8 {
        match self {
            BinOp::Or => 1,
            BinOp::And | BinOp::Unless => 2,
            BinOp::Eq | BinOp::Ne | BinOp::Gt | BinOp::Ge | BinOp::Lt | BinOp::Le => 3,
            BinOp::Add | BinOp::Sub => 4,
            BinOp::Mul | BinOp::Div | BinOp::Mod => 5,
            BinOp::Pow => 6,
        }
    }

    /// Whether the operator compares (and so filters unless `bool`).
    pub fn is_comparison(self) -> bool {
        self.precedence() == 3
    }

    /// Whether the operator is a set operator (`and`, `or`, `unless`).
    pub fn is_set(self) -> bool {
        self.precedence() <= 2
    }
}

/// `on (a)` / `ignoring (a)` label matching of a binary operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VectorMatching {
    /// `on` rather than `ignoring`.
    pub on: bool,
    /// The labels.
    pub labels: Vec<String>,
    /// `group_left(...)` / `group_right(...)`, with the labels copied from the "one" side.
    pub group: Option<GroupSide>,
}

/// Many-to-one (`group_left`) or one-to-many (`group_right`) matching.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupSide {
    /// `group_left` (the left side is the "many" side).
    pub left: bool,
    /// Labels to copy from the "one" side.
    pub include: Vec<String>,
}

/// A binary operation.
#[derive(Debug, Clone, PartialEq)]
pub struct BinaryExpr {
    /// The operator.
    pub op: BinOp,
    /// `bool` modifier on comparisons.
    pub return_bool: bool,
    /// `on`/`ignoring`.
    pub matching: Option<VectorMatching>,
    /// Left operand.
    pub lhs: SampleExpr,
    /// Right operand.
    pub rhs: SampleExpr,
}

fn fmt_grouping(f: &mut fmt::Formatter<'_>, g: &Grouping) -> fmt::Result {
    write!(
        f,
        " {} ({})",
        if g.without { "without" } else { "by" },
        g.labels.join(", ")
    )
}

impl fmt::Display for SampleExpr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SampleExpr::Literal(v) => write!(f, "{v}"),
            SampleExpr::VectorLiteral(v) => write!(f, "vector({v})"),
            SampleExpr::LabelReplace(l) => {
                write!(f, "label_replace({}, ", l.inner)?;
                for (i, a) in [&l.dst, &l.replacement, &l.src, &l.regex_text]
                    .into_iter()
                    .enumerate()
                {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    super::ast::quote(f, a)?;
                }
                f.write_str(")")
            }
            SampleExpr::Range(r) => {
                write!(f, "{}(", r.op.name())?;
                if let Some(p) = r.param {
                    write!(f, "{p}, ")?;
                }
                write!(f, "{}", r.log)?;
                if let Some(u) = &r.unwrap {
                    match u.conv {
                        UnwrapConv::Number => write!(f, " | unwrap {}", u.label)?,
                        UnwrapConv::Duration => write!(f, " | unwrap duration({})", u.label)?,
                        UnwrapConv::Bytes => write!(f, " | unwrap bytes({})", u.label)?,
                    }
                    for filter in &u.post_filters {
                        write!(f, " | {filter}")?;
                    }
                }
                write!(f, " [{}]", r.range_text)?;
                if let Some(o) = &r.offset_text {
                    write!(f, " offset {o}")?;
                }
                f.write_str(")")?;
                if let Some(g) = &r.grouping {
                    fmt_grouping(f, g)?;
                }
                Ok(())
            }
            SampleExpr::Vector(v) => {
                f.write_str(v.op.name())?;
                if let Some(g) = &v.grouping {
                    fmt_grouping(f, g)?;
                }
                f.write_str(" (")?;
                if let Some(p) = v.param {
                    write!(f, "{p}, ")?;
                }
                write!(f, "{})", v.inner)
            }
            SampleExpr::Binary(b) => {
                write!(f, "({} {}", b.lhs, b.op.as_str())?;
                if b.return_bool {
                    f.write_str(" bool")?;
                }
                if let Some(m) = &b.matching {
                    write!(
                        f,
                        " {} ({})",
                        if m.on { "on" } else { "ignoring" },
                        m.labels.join(", ")
                    )?;
                    if let Some(g) = &m.group {
                        let side = if g.left { "group_left" } else { "group_right" };
                        write!(f, " {side} ({})", g.include.join(", "))?;
                    }
                }
                write!(f, " {})", b.rhs)
            }
        }
    }
}
