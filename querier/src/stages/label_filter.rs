//! `| status >= 500 and level = "error"`: label filters, compiled (string regexes anchored
//! once per execution). Loki's semantics: a numeric, duration or bytes filter on a missing
//! label drops the line and on an unparsable one keeps it with `__error__=LabelFilterErr`; with
//! an error already set only string comparisons filter. Also used after `unwrap`.

use regex::Regex;

use super::{bad_regex, LabelUse, LineStage, Step};
use crate::error::QueryError;
use crate::line_labels::{LineLabels, ERROR_LABEL};
use crate::logql::{
    go_duration_ns, go_parse_float, humanize_bytes, CmpOp, CmpValue, LabelComparison, LabelFilterExpr,
};

/// A compiled label filter.
pub(crate) enum LabelFilter {
    And(Box<LabelFilter>, Box<LabelFilter>),
    Or(Box<LabelFilter>, Box<LabelFilter>),
    Cmp(LabelComparison, Option<Regex>),
}

impl LabelFilter {
    /// Compiles `f`.
    pub(crate) fn new(f: &LabelFilterExpr) -> Result<Self, QueryError> {
        Ok(match f {
            LabelFilterExpr::And(a, b) => LabelFilter::And(Box::new(Self::new(a)?), Box::new(Self::new(b)?)),
            LabelFilterExpr::Or(a, b) => LabelFilter::Or(Box::new(Self::new(a)?), Box::new(Self::new(b)?)),
            LabelFilterExpr::Cmp(c) => {
                let regex = match (&c.value, c.op) {
                    (CmpValue::Str(s), CmpOp::Re | CmpOp::NotRe) => {
                        Some(Regex::new(&format!("^(?s:{s})$")).map_err(|e| bad_regex(&e))?)
                    }
                    _ => None,
                };
                LabelFilter::Cmp(c.clone(), regex)
            }
        })
    }

    /// Whether a line with `labels` passes (it may set `__error__`).
    pub(crate) fn keeps(&self, labels: &mut LineLabels<'_>) -> bool {
        match self {
            LabelFilter::And(a, b) => a.keeps(labels) && b.keeps(labels),
            LabelFilter::Or(a, b) => a.keeps(labels) || b.keeps(labels),
            LabelFilter::Cmp(c, regex) => eval_cmp(c, regex.as_ref(), labels),
        }
    }
}

impl LineStage for LabelFilter {
    fn process(&mut self, _ts: i64, _line: &str, labels: &mut LineLabels<'_>) -> Step {
        if self.keeps(labels) {
            Step::Keep
        } else {
            Step::Drop
        }
    }

    fn label_use(&self) -> LabelUse {
        LabelUse::Reads
    }
}

fn compare(op: CmpOp, a: f64, b: f64) -> bool {
    match op {
        CmpOp::Eq => a == b,
        CmpOp::Ne => a != b,
        CmpOp::Gt => a > b,
        CmpOp::Ge => a >= b,
        CmpOp::Lt => a < b,
        CmpOp::Le => a <= b,
        CmpOp::Re | CmpOp::NotRe => false,
    }
}

fn eval_cmp(c: &LabelComparison, regex: Option<&Regex>, labels: &mut LineLabels<'_>) -> bool {
    let value = labels.get(&c.name).map(str::to_string);
    match &c.value {
        CmpValue::Str(s) => {
            let v = value.unwrap_or_default();
            match c.op {
                CmpOp::Eq => v == *s,
                CmpOp::Ne => v != *s,
                CmpOp::Re => regex.is_some_and(|r| r.is_match(&v)),
                CmpOp::NotRe => !regex.is_some_and(|r| r.is_match(&v)),
                _ => false,
            }
        }
        // Loki: with an error already set, only string matchers filter (the line passes).
        _ if labels.get(ERROR_LABEL).is_some() => true,
        CmpValue::Ip(ip) => {
            let hit = value.as_deref().is_some_and(|v| ip.matches_value(v));
            if c.op == CmpOp::Eq {
                hit
            } else {
                !hit
            }
        }
        numeric => {
            let Some(v) = value else { return false };
            // Loki converts with Go's ParseFloat, time.ParseDuration and humanize.ParseBytes;
            // their errors become `__error_details__`.
            let (parsed, want) = match numeric {
                CmpValue::Number(n) => (go_parse_float(&v), *n),
                CmpValue::Duration(secs) => (
                    go_duration_ns(&v).map(|ns| ns as f64 / 1e9).map_err(|e| e.0),
                    *secs,
                ),
                CmpValue::Bytes(b) => (humanize_bytes(&v).map(|b| b as f64), b.trunc()),
                CmpValue::Str(_) | CmpValue::Ip(_) => (Err(String::new()), 0.0),
            };
            match parsed {
                Ok(x) => compare(c.op, x, want),
                Err(details) => {
                    labels.set_error("LabelFilterErr", details);
                    true
                }
            }
        }
    }
}
