//! Evaluation of metric queries at a series of steps, with Loki's semantics: a range `[r]` at
//! step `t` (with `offset o`) covers `(t - o - r, t - o]`; a step with no samples has no point;
//! vector aggregations group by `by`/`without`; binary operators match series by labels
//! (`on`/`ignoring`), comparisons filter unless `bool`.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use logq_storage::{Entry, LabelSet, MatchOp, ScanStats, TenantId};

use crate::engine::{row_filter, Querier, Visitor};
use crate::error::QueryError;
use crate::logql::{
    BinOp, BinaryExpr, Grouping, LabelReplace, RangeAggregation, RangeOp, SampleExpr, UnwrapConv, VecOp,
    VectorAggregation,
};
use crate::pipeline::{process, ERROR_DETAILS_LABEL, ERROR_LABEL};

/// Most series a metric query may return (Loki's default).
pub const MAX_SERIES: usize = 500;

/// A series of a range query's result.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// Its labels.
    pub labels: LabelSet,
    /// (timestamp ns, value) at the steps that have a value.
    pub points: Vec<(i64, f64)>,
}

/// A metric query's result.
#[derive(Debug, Clone, PartialEq)]
pub enum MetricResult {
    /// A plain number (instant queries of scalar expressions).
    Scalar(f64),
    /// Series with their points.
    Matrix(Vec<Series>),
}

/// Series with one optional value per evaluation step.
type SeriesVec = Vec<(LabelSet, Vec<Option<f64>>)>;

/// A value during evaluation: a scalar, or series with one optional value per step.
enum Value {
    Scalar(f64),
    Vector(SeriesVec),
}

/// Evaluates `expr` for `tenant` at `steps` (ascending timestamps, ns).
/// Rows examined are counted in `stats`.
pub async fn evaluate(
    q: &Querier,
    tenant: &TenantId,
    expr: &SampleExpr,
    steps: &[i64],
    stats: &Arc<ScanStats>,
) -> Result<MetricResult, QueryError> {
    let ctx = Ctx {
        q,
        tenant,
        steps,
        stats,
    };
    let value = eval(&ctx, expr).await?;
    Ok(match value {
        Value::Scalar(v) => MetricResult::Scalar(v),
        Value::Vector(series) => {
            let mut out: Vec<Series> = series
                .into_iter()
                .map(|(labels, vals)| Series {
                    labels,
                    points: steps
                        .iter()
                        .zip(vals)
                        .filter_map(|(t, v)| v.map(|v| (*t, v)))
                        .collect(),
                })
                .filter(|s| !s.points.is_empty())
                .collect();
            out.sort_by(|a, b| a.labels.cmp(&b.labels));
            // sort() and sort_desc() order an instant vector by value.
            if let SampleExpr::Vector(v) = expr {
                let last = |s: &Series| s.points.last().map_or(f64::NAN, |p| p.1);
                match v.op {
                    VecOp::Sort => out.sort_by(|a, b| last(a).total_cmp(&last(b))),
                    VecOp::SortDesc => out.sort_by(|a, b| last(b).total_cmp(&last(a))),
                    _ => {}
                }
            }
            MetricResult::Matrix(out)
        }
    })
}

/// What every step of an evaluation needs.
struct Ctx<'a> {
    q: &'a Querier,
    tenant: &'a TenantId,
    steps: &'a [i64],
    stats: &'a Arc<ScanStats>,
}

fn eval<'a>(
    ctx: &'a Ctx<'a>,
    expr: &'a SampleExpr,
) -> futures::future::BoxFuture<'a, Result<Value, QueryError>> {
    let steps = ctx.steps;
    Box::pin(async move {
        match expr {
            SampleExpr::Literal(v) => Ok(Value::Scalar(*v)),
            SampleExpr::VectorLiteral(v) => Ok(Value::Vector(vec![(
                LabelSet::default(),
                vec![Some(*v); steps.len()],
            )])),
            SampleExpr::Range(r) => eval_range(ctx, r).await,
            SampleExpr::Vector(v) => {
                let inner = eval(ctx, &v.inner).await?;
                Ok(aggregate(v, inner, steps.len()))
            }
            SampleExpr::LabelReplace(l) => Ok(match eval(ctx, &l.inner).await? {
                Value::Scalar(s) => Value::Scalar(s),
                Value::Vector(series) => Value::Vector(label_replace(l, series)),
            }),
            SampleExpr::Binary(b) => {
                let lhs = eval(ctx, &b.lhs).await?;
                let rhs = eval(ctx, &b.rhs).await?;
                binary(b, lhs, rhs, steps.len())
            }
        }
    })
}

/// Prometheus' `label_replace`: where `src` matches the (anchored) regex, `dst` becomes the
/// expanded replacement (an empty result removes `dst`). Series that end up with equal labels
/// are merged step by step.
fn label_replace(l: &LabelReplace, series: SeriesVec) -> SeriesVec {
    let mut out: SeriesVec = Vec::with_capacity(series.len());
    for (labels, vals) in series {
        let value = labels.get(&l.src).unwrap_or("").to_string();
        let labels = match l.regex.captures(&value) {
            Some(caps) => {
                let mut new = String::new();
                caps.expand(&l.replacement, &mut new);
                let mut pairs: Vec<(String, String)> = labels
                    .pairs()
                    .iter()
                    .filter(|(k, _)| *k != l.dst)
                    .cloned()
                    .collect();
                if !new.is_empty() {
                    pairs.push((l.dst.clone(), new));
                }
                LabelSet::from_pairs(pairs)
            }
            None => labels,
        };
        match out.iter_mut().find(|(existing, _)| *existing == labels) {
            Some((_, existing)) => {
                for (e, v) in existing.iter_mut().zip(vals) {
                    if e.is_none() {
                        *e = v;
                    }
                }
            }
            None => out.push((labels, vals)),
        }
    }
    out
}

/// Turns a label value into a sample value per the unwrap conversion.
fn convert(conv: UnwrapConv, v: &str) -> Option<f64> {
    match conv {
        UnwrapConv::Number => v.trim().parse().ok(),
        UnwrapConv::Duration => crate::logql::parse_duration_ns(v).map(|ns| ns as f64 / 1e9),
        UnwrapConv::Bytes => crate::logql::parse_bytes(v),
    }
}

fn grouped(labels: &LabelSet, grouping: &Option<Grouping>) -> LabelSet {
    match grouping {
        None => labels.clone(),
        Some(g) if g.without => LabelSet::from_pairs(
            labels
                .pairs()
                .iter()
                .filter(|(k, _)| !g.labels.contains(k))
                .cloned(),
        ),
        Some(g) => LabelSet::from_pairs(
            labels
                .pairs()
                .iter()
                .filter(|(k, _)| g.labels.contains(k))
                .cloned(),
        ),
    }
}

/// Turns entries into (series, timestamp, value) samples as sources are read, dropping
/// duplicates (the same entry from memory and storage, or from overlapping objects).
struct SampleCollector<'a> {
    r: &'a RangeAggregation,
    from: i64,
    to: i64,
    counts_only: bool,
    seen: HashSet<(u64, i64, u64)>,
    samples: HashMap<LabelSet, Vec<(i64, f64)>>,
}

impl Visitor for SampleCollector<'_> {
    fn add(&mut self, labels: &LabelSet, entries: Vec<Entry>) {
        let r = self.r;
        let fp = labels.fingerprint();
        if self.counts_only {
            // Every entry of the batch lands in the stream's own series.
            let (from, to, seen) = (self.from, self.to, &mut self.seen);
            let points = entries
                .iter()
                .filter(|e| e.ts >= from && e.ts < to && seen.insert((fp, e.ts, e.id)))
                .map(|e| (e.ts, 1.0));
            let slot = self.samples.entry(labels.clone()).or_default();
            slot.extend(points);
            if slot.is_empty() {
                self.samples.remove(labels);
            }
            return;
        }
        for e in entries {
            if e.ts < self.from || e.ts >= self.to || !self.seen.insert((fp, e.ts, e.id)) {
                continue;
            }
            let Some(processed) = process(&r.log, labels, e.ts, &e.line) else {
                continue;
            };
            let mut line_labels = processed.labels;
            let value = match &r.unwrap {
                None if matches!(r.op, RangeOp::BytesOverTime | RangeOp::BytesRate) => {
                    processed.line.as_ref().map_or(e.line.len(), String::len) as f64
                }
                None => 1.0,
                Some(u) => {
                    let raw = line_labels.get(&u.label).map(str::to_string);
                    match raw.as_deref().and_then(|v| convert(u.conv, v)) {
                        Some(v) => v,
                        None => {
                            line_labels.set_error(
                                "SampleExtractionErr",
                                format!(
                                    "cannot unwrap {:?} from label {}",
                                    raw.unwrap_or_default(),
                                    u.label
                                ),
                            );
                            0.0
                        }
                    }
                }
            };
            let mut series = line_labels.into_labels();
            if let Some(u) = &r.unwrap {
                series = LabelSet::from_pairs(series.pairs().iter().filter(|(k, _)| *k != u.label).cloned());
            }
            let series = grouped(&series, &r.grouping);
            self.samples.entry(series).or_default().push((e.ts, value));
        }
    }
}

async fn eval_range(ctx: &Ctx<'_>, r: &RangeAggregation) -> Result<Value, QueryError> {
    let (q, tenant, steps, stats) = (ctx.q, ctx.tenant, ctx.steps, ctx.stats);
    let (Some(&first), Some(&last)) = (steps.first(), steps.last()) else {
        return Ok(Value::Vector(Vec::new()));
    };
    // Samples in (first - offset - range, last - offset], i.e. [from, to).
    let from = first - r.offset_ns - r.range_ns + 1;
    let to = last - r.offset_ns + 1;
    // Counting through line filters alone needs neither the text nor the pipeline: the filters
    // already ran while decoding.
    let counts_only = r.log.is_filter_only()
        && r.unwrap.is_none()
        && matches!(
            r.op,
            RangeOp::CountOverTime | RangeOp::Rate | RangeOp::AbsentOverTime
        );
    let mut filter = row_filter(&r.log, from, to, stats);
    filter.keep_lines = !counts_only;
    // Samples are taken as each source is read, so lines never accumulate.
    let mut collector = SampleCollector {
        r,
        from,
        to,
        counts_only,
        seen: HashSet::new(),
        samples: HashMap::new(),
    };
    q.scan(
        tenant,
        &r.log.matchers,
        &filter,
        crate::engine::Direction::Forward,
        &mut collector,
    )
    .await?;
    let samples = collector.samples;
    if let Some(bad) = samples.keys().find(|l| l.get(ERROR_LABEL).is_some()) {
        let kind = bad.get(ERROR_LABEL).unwrap_or_default();
        let shown = LabelSet::from_pairs(
            bad.pairs()
                .iter()
                .filter(|(k, _)| k != ERROR_DETAILS_LABEL)
                .cloned(),
        );
        return Err(QueryError::BadRequest(format!(
            "pipeline error: '{kind}' for series: '{shown}'. Use a label filter to intentionally skip this error. (e.g | __error__!=\"{kind}\")"
        )));
    }
    if samples.len() > MAX_SERIES {
        return Err(QueryError::BadRequest(format!(
            "maximum of series ({MAX_SERIES}) reached for a single query"
        )));
    }
    let range_s = r.range_ns as f64 / 1e9;
    if r.op == RangeOp::AbsentOverTime {
        return Ok(absent(r, &samples, steps));
    }
    let mut out = Vec::with_capacity(samples.len());
    for (labels, mut points) in samples {
        points.sort_by_key(|p| p.0);
        let mut vals = Vec::with_capacity(steps.len());
        let (mut lo, mut hi) = (0usize, 0usize);
        for &t in steps {
            let end = t - r.offset_ns; // inclusive
            let start = end - r.range_ns; // exclusive
            while hi < points.len() && points[hi].0 <= end {
                hi += 1;
            }
            while lo < hi && points[lo].0 <= start {
                lo += 1;
            }
            let window: Vec<f64> = points[lo..hi].iter().map(|p| p.1).collect();
            vals.push(if window.is_empty() {
                None
            } else if r.op == RangeOp::RateCounter {
                extrapolated_rate(&points[lo..hi], start, end)
            } else {
                range_value(r, &window, range_s)
            });
        }
        out.push((labels, vals));
    }
    Ok(Value::Vector(out))
}

fn absent(r: &RangeAggregation, samples: &HashMap<LabelSet, Vec<(i64, f64)>>, steps: &[i64]) -> Value {
    let labels = LabelSet::from_pairs(
        r.log
            .matchers
            .iter()
            .filter(|m| m.op == MatchOp::Equal)
            .map(|m| (m.name.clone(), m.value.clone())),
    );
    let vals = steps
        .iter()
        .map(|&t| {
            let end = t - r.offset_ns;
            let start = end - r.range_ns;
            let any = samples
                .values()
                .any(|p| p.iter().any(|(ts, _)| *ts > start && *ts <= end));
            (!any).then_some(1.0)
        })
        .collect();
    Value::Vector(vec![(labels, vals)])
}

fn range_value(r: &RangeAggregation, w: &[f64], range_s: f64) -> Option<f64> {
    let n = w.len() as f64;
    let sum: f64 = w.iter().sum();
    let mean = sum / n;
    let var = w.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n;
    Some(match r.op {
        RangeOp::CountOverTime | RangeOp::BytesOverTime => sum,
        RangeOp::Rate | RangeOp::BytesRate => sum / range_s,
        RangeOp::SumOverTime => sum,
        RangeOp::AvgOverTime => mean,
        RangeOp::MinOverTime => w.iter().copied().fold(f64::INFINITY, f64::min),
        RangeOp::MaxOverTime => w.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        RangeOp::StdvarOverTime => var,
        RangeOp::StddevOverTime => var.sqrt(),
        RangeOp::QuantileOverTime => quantile(r.param.unwrap_or(0.5), w),
        RangeOp::FirstOverTime => w[0],
        RangeOp::LastOverTime => w[w.len() - 1],
        // Computed from timestamps too, by `extrapolated_rate`.
        RangeOp::RateCounter | RangeOp::AbsentOverTime => return None,
    })
}

/// Prometheus' `rate()` of a counter over the window `(start, end]` (ns), which Loki's
/// `rate_counter` uses: the increase (counter resets add the value before the reset),
/// extrapolated towards the window edges, per second. Needs two samples.
fn extrapolated_rate(samples: &[(i64, f64)], start: i64, end: i64) -> Option<f64> {
    if samples.len() < 2 {
        return None;
    }
    let (first_t, first_v) = samples[0];
    let (last_t, last_v) = samples[samples.len() - 1];
    let mut result = last_v - first_v;
    for pair in samples.windows(2) {
        if pair[1].1 < pair[0].1 {
            result += pair[0].1;
        }
    }
    let secs = |ns: i64| ns as f64 / 1e9;
    let mut to_start = secs(first_t - start);
    let to_end = secs(end - last_t);
    let sampled = secs(last_t - first_t);
    if sampled <= 0.0 {
        return None;
    }
    let average_gap = sampled / (samples.len() - 1) as f64;
    if result > 0.0 && first_v >= 0.0 {
        let to_zero = sampled * (first_v / result);
        if to_zero < to_start {
            to_start = to_zero;
        }
    }
    let threshold = average_gap * 1.1;
    let mut interval = sampled;
    interval += if to_start < threshold {
        to_start
    } else {
        average_gap / 2.0
    };
    interval += if to_end < threshold {
        to_end
    } else {
        average_gap / 2.0
    };
    Some(result * (interval / sampled) / secs(end - start))
}

/// Prometheus' quantile: linear interpolation between the closest ranks.
fn quantile(q: f64, values: &[f64]) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    let mut v = values.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    let rank = q * (v.len() - 1) as f64;
    let lower = rank.floor() as usize;
    let upper = (lower + 1).min(v.len() - 1);
    let weight = rank - lower as f64;
    v[lower] * (1.0 - weight) + v[upper] * weight
}

fn aggregate(v: &VectorAggregation, inner: Value, steps: usize) -> Value {
    let series = match inner {
        Value::Scalar(s) => vec![(LabelSet::default(), vec![Some(s); steps])],
        Value::Vector(s) => s,
    };
    match v.op {
        VecOp::Sort | VecOp::SortDesc => return Value::Vector(series),
        VecOp::Topk | VecOp::Bottomk => return Value::Vector(top_k(v, series, steps)),
        _ => {}
    }
    let mut groups: BTreeMap<LabelSet, Vec<Vec<f64>>> = BTreeMap::new();
    for (labels, vals) in &series {
        let key = match &v.grouping {
            None => LabelSet::default(),
            Some(g) => grouped(labels, &Some(g.clone())),
        };
        let slot = groups.entry(key).or_insert_with(|| vec![Vec::new(); steps]);
        for (i, val) in vals.iter().enumerate() {
            if let Some(x) = val {
                slot[i].push(*x);
            }
        }
    }
    let out = groups
        .into_iter()
        .map(|(labels, per_step)| {
            let vals = per_step
                .into_iter()
                .map(|xs| {
                    if xs.is_empty() {
                        return None;
                    }
                    let n = xs.len() as f64;
                    let sum: f64 = xs.iter().sum();
                    let mean = sum / n;
                    Some(match v.op {
                        VecOp::Sum => sum,
                        VecOp::Avg => mean,
                        VecOp::Count => n,
                        VecOp::Min => xs.iter().copied().fold(f64::INFINITY, f64::min),
                        VecOp::Max => xs.iter().copied().fold(f64::NEG_INFINITY, f64::max),
                        VecOp::Stdvar => xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n,
                        VecOp::Stddev => (xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n).sqrt(),
                        _ => sum,
                    })
                })
                .collect();
            (labels, vals)
        })
        .collect();
    Value::Vector(out)
}

fn top_k(v: &VectorAggregation, series: SeriesVec, steps: usize) -> SeriesVec {
    let k = v.param.unwrap_or(1.0) as usize;
    // Without grouping, all series compete in one group.
    let grouping = v.grouping.clone().unwrap_or(Grouping {
        without: false,
        labels: Vec::new(),
    });
    let mut groups: BTreeMap<LabelSet, Vec<usize>> = BTreeMap::new();
    for (i, (labels, _)) in series.iter().enumerate() {
        groups
            .entry(grouped(labels, &Some(grouping.clone())))
            .or_default()
            .push(i);
    }
    // keep[step][series]
    let mut keep = vec![vec![false; series.len()]; steps];
    for (step, keep_step) in keep.iter_mut().enumerate() {
        for members in groups.values() {
            let mut present: Vec<(f64, usize)> = members
                .iter()
                .filter_map(|&i| series[i].1[step].map(|x| (x, i)))
                .collect();
            present.sort_by(|a, b| {
                if v.op == VecOp::Topk {
                    b.0.total_cmp(&a.0)
                } else {
                    a.0.total_cmp(&b.0)
                }
            });
            for (_, i) in present.into_iter().take(k) {
                keep_step[i] = true;
            }
        }
    }
    series
        .into_iter()
        .enumerate()
        .map(|(i, (labels, vals))| {
            let vals = vals
                .into_iter()
                .enumerate()
                .map(|(step, v)| if keep[step][i] { v } else { None })
                .collect();
            (labels, vals)
        })
        .collect()
}

fn apply(op: BinOp, a: f64, b: f64) -> Option<f64> {
    Some(match op {
        BinOp::Add => a + b,
        BinOp::Sub => a - b,
        BinOp::Mul => a * b,
        BinOp::Div => a / b,
        BinOp::Mod => a % b,
        BinOp::Pow => a.powf(b),
        BinOp::Eq => f64::from(a == b),
        BinOp::Ne => f64::from(a != b),
        BinOp::Gt => f64::from(a > b),
        BinOp::Ge => f64::from(a >= b),
        BinOp::Lt => f64::from(a < b),
        BinOp::Le => f64::from(a <= b),
        BinOp::And | BinOp::Or | BinOp::Unless => return None,
    })
}

/// The value a binary operation yields for `a op b`, honouring comparison filtering.
fn combine(b: &BinaryExpr, a: f64, c: f64, keep: f64) -> Option<f64> {
    let r = apply(b.op, a, c)?;
    if b.op.is_comparison() && !b.return_bool {
        (r == 1.0).then_some(keep)
    } else {
        Some(r)
    }
}

fn signature(labels: &LabelSet, b: &BinaryExpr) -> LabelSet {
    match &b.matching {
        None => labels.clone(),
        Some(m) if m.on => LabelSet::from_pairs(
            labels
                .pairs()
                .iter()
                .filter(|(k, _)| m.labels.contains(k))
                .cloned(),
        ),
        Some(m) => LabelSet::from_pairs(
            labels
                .pairs()
                .iter()
                .filter(|(k, _)| !m.labels.contains(k))
                .cloned(),
        ),
    }
}

fn binary(b: &BinaryExpr, lhs: Value, rhs: Value, steps: usize) -> Result<Value, QueryError> {
    match (lhs, rhs) {
        (Value::Scalar(x), Value::Scalar(y)) => {
            if b.op.is_set() {
                return Err(QueryError::BadRequest(format!(
                    "set operator {} not allowed in binary scalar expression",
                    b.op.as_str()
                )));
            }
            if b.op.is_comparison() && !b.return_bool {
                return Err(QueryError::BadRequest(
                    "comparisons between scalars must use BOOL modifier".into(),
                ));
            }
            Ok(Value::Scalar(apply(b.op, x, y).unwrap_or(f64::NAN)))
        }
        (Value::Vector(v), Value::Scalar(s)) | (Value::Scalar(s), Value::Vector(v)) if b.op.is_set() => {
            let _ = (v, s);
            Err(QueryError::BadRequest(format!(
                "set operator {} not allowed between a vector and a scalar",
                b.op.as_str()
            )))
        }
        (Value::Vector(v), Value::Scalar(s)) => Ok(Value::Vector(
            v.into_iter()
                .map(|(l, vals)| {
                    (
                        l,
                        vals.into_iter()
                            .map(|x| x.and_then(|x| combine(b, x, s, x)))
                            .collect(),
                    )
                })
                .collect(),
        )),
        (Value::Scalar(s), Value::Vector(v)) => Ok(Value::Vector(
            v.into_iter()
                .map(|(l, vals)| {
                    (
                        l,
                        vals.into_iter()
                            .map(|x| x.and_then(|x| combine(b, s, x, x)))
                            .collect(),
                    )
                })
                .collect(),
        )),
        (Value::Vector(l), Value::Vector(r)) => Ok(Value::Vector(vector_binary(b, l, r, steps)?)),
    }
}

fn vector_binary(
    b: &BinaryExpr,
    lhs: SeriesVec,
    rhs: SeriesVec,
    steps: usize,
) -> Result<SeriesVec, QueryError> {
    let mut right: HashMap<LabelSet, Vec<Option<f64>>> = HashMap::new();
    for (l, vals) in &rhs {
        let slot = right.entry(signature(l, b)).or_insert_with(|| vec![None; steps]);
        for (i, v) in vals.iter().enumerate() {
            if v.is_some() {
                slot[i] = *v;
            }
        }
    }
    Ok(match b.op {
        BinOp::And | BinOp::Unless => lhs
            .into_iter()
            .map(|(l, vals)| {
                let other = right.get(&signature(&l, b));
                let vals = vals
                    .into_iter()
                    .enumerate()
                    .map(|(i, v)| {
                        let present = other.is_some_and(|o| o[i].is_some());
                        if (b.op == BinOp::And) == present {
                            v
                        } else {
                            None
                        }
                    })
                    .collect();
                (l, vals)
            })
            .collect(),
        BinOp::Or => {
            let mut left_sigs: HashMap<LabelSet, Vec<bool>> = HashMap::new();
            for (l, vals) in &lhs {
                let slot = left_sigs
                    .entry(signature(l, b))
                    .or_insert_with(|| vec![false; steps]);
                for (i, v) in vals.iter().enumerate() {
                    slot[i] |= v.is_some();
                }
            }
            let mut out = lhs;
            for (l, vals) in rhs {
                let taken = left_sigs.get(&signature(&l, b));
                let vals = vals
                    .into_iter()
                    .enumerate()
                    .map(|(i, v)| if taken.is_some_and(|t| t[i]) { None } else { v })
                    .collect();
                out.push((l, vals));
            }
            out
        }
        _ => match b.matching.as_ref().and_then(|m| m.group.as_ref()) {
            Some(group) => return grouped_binary(b, group, lhs, rhs),
            None => lhs
                .into_iter()
                .filter_map(|(l, vals)| {
                    let sig = signature(&l, b);
                    let other = right.get(&sig)?;
                    let labels = if b.matching.is_some() { sig } else { l };
                    let vals = vals
                        .into_iter()
                        .zip(other)
                        .map(|(x, y)| match (x, y) {
                            (Some(x), Some(y)) => combine(b, x, *y, x),
                            _ => None,
                        })
                        .collect();
                    Some((labels, vals))
                })
                .collect(),
        },
    })
}

/// Many-to-one (`group_left`) and one-to-many (`group_right`) matching: each series of the
/// "many" side meets the single series of the "one" side with its signature, keeps its own
/// labels and copies the `include` labels from the "one" side.
fn grouped_binary(
    b: &BinaryExpr,
    group: &crate::logql::GroupSide,
    lhs: SeriesVec,
    rhs: SeriesVec,
) -> Result<SeriesVec, QueryError> {
    let (many, one) = if group.left { (lhs, rhs) } else { (rhs, lhs) };
    let mut ones: HashMap<LabelSet, (LabelSet, Vec<Option<f64>>)> = HashMap::new();
    for (labels, vals) in one {
        let sig = signature(&labels, b);
        if ones.insert(sig.clone(), (labels, vals)).is_some() {
            return Err(QueryError::BadRequest(format!(
                "many-to-many matching not allowed: matching labels must be unique on one side (duplicate series for {sig})"
            )));
        }
    }
    let mut out = Vec::with_capacity(many.len());
    for (labels, vals) in many {
        let Some((one_labels, one_vals)) = ones.get(&signature(&labels, b)) else {
            continue;
        };
        let mut pairs: Vec<(String, String)> = labels
            .pairs()
            .iter()
            .filter(|(k, _)| !group.include.contains(k))
            .cloned()
            .collect();
        pairs.extend(
            group
                .include
                .iter()
                .filter_map(|k| one_labels.get(k).map(|v| (k.clone(), v.to_string()))),
        );
        let vals = vals
            .into_iter()
            .zip(one_vals)
            .map(|(m, o)| match (m, o) {
                // The operation is always `lhs op rhs`; comparisons keep the left value.
                (Some(m), Some(o)) if group.left => combine(b, m, *o, m),
                (Some(m), Some(o)) => combine(b, *o, m, *o),
                _ => None,
            })
            .collect();
        out.push((LabelSet::from_pairs(pairs), vals));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counter_rate_extrapolates_like_prometheus() {
        let s = 1_000_000_000i64;
        // A counter growing 1 per second, sampled every 10 s across a 60 s window.
        let samples: Vec<(i64, f64)> = (1..=5).map(|i| (i * 10 * s, (i * 10) as f64)).collect();
        let r = extrapolated_rate(&samples, 0, 60 * s).unwrap();
        assert!((r - 1.0).abs() < 1e-9, "{r}");
        // A reset in the middle still counts the increase before it.
        let reset = [(10 * s, 5.0), (20 * s, 10.0), (30 * s, 2.0), (40 * s, 7.0)];
        let r = extrapolated_rate(&reset, 0, 50 * s).unwrap();
        // increase 5 + 10 (reset) - 3 = 12 over 30 s sampled, extrapolated to 50 s (first value
        // 5 at 10 s: zero point at 12.5 s before the first sample, capped to 10 s).
        assert!((r - 12.0 * (50.0 / 30.0) / 50.0).abs() < 1e-9, "{r}");
        assert_eq!(extrapolated_rate(&samples[..1], 0, 60 * s), None);
    }

    #[test]
    fn quantiles_interpolate_like_prometheus() {
        assert_eq!(quantile(0.5, &[1.0, 2.0, 3.0, 4.0]), 2.5);
        assert_eq!(quantile(0.99, &[1.0]), 1.0);
        assert_eq!(quantile(1.0, &[3.0, 1.0, 2.0]), 3.0);
        assert_eq!(quantile(0.0, &[3.0, 1.0, 2.0]), 1.0);
    }
}
