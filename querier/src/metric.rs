//! Evaluation of metric queries at a series of steps, with Loki's semantics: a range `[r]` at
//! step `t` (with `offset o`) covers `(t - o - r, t - o]`; a step with no samples has no point;
//! vector aggregations group by `by`/`without`; binary operators match series by labels
//! (`on`/`ignoring`), comparisons filter unless `bool`.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use logq_storage::{Entry, LabelSet, MatchOp, ScanStats, TenantId};

use crate::engine::Querier;
use crate::error::QueryError;
use crate::line_labels::{LineLabels, ERROR_LABEL};
use crate::logql::{
    BinOp, BinaryExpr, Grouping, LabelReplace, RangeAggregation, RangeOp, SampleExpr, UnwrapConv, VecOp,
    VectorAggregation,
};
use crate::pipeline::Pipeline;
use crate::plan::LogPlan;
use crate::scan::{ScanRequest, Visitor};
use crate::stages::LabelFilter;

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

/// Evaluates `expr` for `tenant` at `steps` (ascending timestamps, ns); `instant` for an instant
/// query (one step). Rows examined are counted in `stats`.
///
/// Series are ordered by labels, as Loki orders matrices and instant vectors; an instant query
/// whose expression uses `sort` or `sort_desc` anywhere (Loki's `Sortable`) keeps the order
/// evaluation gives instead: by value where the sort is, then as each operation passes it on.
/// More than `max_series` result series is an error, as in Loki (`max_query_series`).
pub async fn evaluate(
    q: &Querier,
    tenant: &TenantId,
    expr: &SampleExpr,
    steps: &[i64],
    instant: bool,
    max_series: usize,
    stats: &Arc<ScanStats>,
) -> Result<MetricResult, QueryError> {
    let tenants = std::slice::from_ref(tenant);
    evaluate_tenants(q, tenants, expr, steps, instant, max_series, stats).await
}

/// The label Loki's multi-tenant querier adds to every series of a query over several tenants.
pub const TENANT_LABEL: &str = "__tenant_id__";

/// [`evaluate`] over several tenants at once, as Loki's multi-tenant querier answers
/// `X-Scope-OrgID: a|b`: every range aggregation reads each tenant and labels its series with
/// [`TENANT_LABEL`] (when there is more than one tenant), and what is above it (`sum`, binary
/// operations, ...) aggregates across tenants like any other label.
pub async fn evaluate_tenants(
    q: &Querier,
    tenants: &[TenantId],
    expr: &SampleExpr,
    steps: &[i64],
    instant: bool,
    max_series: usize,
    stats: &Arc<ScanStats>,
) -> Result<MetricResult, QueryError> {
    if !instant && uses_approx_topk(expr) {
        // engine.go errCountMinSketchInstantOnly.
        return Err(QueryError::BadRequest(
            "approx_topk error: count min sketches are only supported on instant queries".into(),
        ));
    }
    let ctx = Ctx {
        q,
        tenants,
        steps,
        stats,
    };
    let value = eval(&ctx, expr).await?;
    let keep_order = instant && sortable(expr);
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
            if out.len() > max_series {
                return Err(QueryError::BadRequest(format!(
                    "maximum of series ({max_series}) reached for a single query"
                )));
            }
            if keep_order {
                return Ok(MetricResult::Matrix(out));
            }
            // Series with equal labels (a binary operation that drops labels) are one series.
            out.sort_by(|a, b| a.labels.cmp(&b.labels));
            out.dedup_by(|b, a| {
                if a.labels != b.labels {
                    return false;
                }
                let extra: Vec<(i64, f64)> = b
                    .points
                    .iter()
                    .filter(|p| !a.points.iter().any(|q| q.0 == p.0))
                    .cloned()
                    .collect();
                a.points.extend(extra);
                a.points.sort_by_key(|p| p.0);
                true
            });
            MetricResult::Matrix(out)
        }
    })
}

/// Loki's `Sortable`: whether `sort` or `sort_desc` appears anywhere in the expression.
fn sortable(expr: &SampleExpr) -> bool {
    match expr {
        SampleExpr::Vector(v) => matches!(v.op, VecOp::Sort | VecOp::SortDesc) || sortable(&v.inner),
        SampleExpr::LabelReplace(l) => sortable(&l.inner),
        SampleExpr::Binary(b) => sortable(&b.lhs) || sortable(&b.rhs),
        SampleExpr::Range(_) | SampleExpr::Literal(_) | SampleExpr::VectorLiteral(_) => false,
    }
}

/// Whether `approx_topk` appears anywhere in `expr`.
fn uses_approx_topk(expr: &SampleExpr) -> bool {
    match expr {
        SampleExpr::Vector(v) => v.op == VecOp::ApproxTopk || uses_approx_topk(&v.inner),
        SampleExpr::LabelReplace(l) => uses_approx_topk(&l.inner),
        SampleExpr::Binary(b) => uses_approx_topk(&b.lhs) || uses_approx_topk(&b.rhs),
        SampleExpr::Range(_) | SampleExpr::Literal(_) | SampleExpr::VectorLiteral(_) => false,
    }
}

/// What every step of an evaluation needs.
struct Ctx<'a> {
    q: &'a Querier,
    /// The tenants read: one, or several for a multi-tenant query.
    tenants: &'a [TenantId],
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
            // absent_over_time's extractor never needs labels (Loki sets noLabels for it).
            SampleExpr::Range(r) => eval_range(ctx, r, false, r.op == RangeOp::AbsentOverTime).await,
            SampleExpr::Vector(v) => {
                let inner = match &v.inner {
                    SampleExpr::Range(r) => {
                        eval_range(ctx, r, preserves_errors(v), pushes_no_labels(v)).await?
                    }
                    inner => eval(ctx, inner).await?,
                };
                if pushes_no_labels(v) {
                    // Loki's extractor then gives every sample empty labels, so even
                    // `sum without ()` answers one series without labels.
                    let mut by_nothing = v.as_ref().clone();
                    by_nothing.grouping = Some(Grouping {
                        without: false,
                        labels: Vec::new(),
                    });
                    return Ok(aggregate(&by_nothing, inner, steps.len()));
                }
                Ok(aggregate(v, inner, steps.len()))
            }
            SampleExpr::LabelReplace(l) => Ok(match eval(ctx, &l.inner).await? {
                Value::Scalar(s) => Value::Scalar(s),
                Value::Vector(series) => Value::Vector(label_replace(l, series)?),
            }),
            SampleExpr::Binary(b) => {
                let lhs = eval(ctx, &b.lhs).await?;
                let rhs = eval(ctx, &b.rhs).await?;
                binary(b, lhs, rhs, steps.len())
            }
        }
    })
}

/// Loki's parser hints preserve errors (`__preserve_error__`) when the grouping pushed into
/// the sample extractor asks for `__error__`: `sum by (__error__) (count_over_time(...))`
/// counts lines per error instead of failing.
fn preserves_errors(v: &VectorAggregation) -> bool {
    sums_an_injectable_range(v)
        && v.grouping
            .as_ref()
            .is_some_and(|g| !g.without && g.labels.iter().any(|l| l == ERROR_LABEL))
}

/// Whether `v` is a `sum` over an ungrouped `count_over_time`, `rate`, `bytes_over_time`,
/// `bytes_rate` or `sum_over_time`: the shape into which Loki injects the vector grouping.
fn sums_an_injectable_range(v: &VectorAggregation) -> bool {
    let SampleExpr::Range(r) = &v.inner else {
        return false;
    };
    v.op == VecOp::Sum
        && matches!(
            r.op,
            RangeOp::BytesOverTime
                | RangeOp::BytesRate
                | RangeOp::CountOverTime
                | RangeOp::Rate
                | RangeOp::SumOverTime
        )
        && r.grouping.is_none()
}

/// Whether a `sum` pushes "no labels" into its range aggregation's sample extractor (Loki's
/// `canInjectVectorGrouping` with an empty grouping, `by ()` or `without ()` alike).
fn pushes_no_labels(v: &VectorAggregation) -> bool {
    sums_an_injectable_range(v) && v.grouping.as_ref().is_none_or(|g| g.labels.is_empty())
}

/// Prometheus' `label_replace`: where `src` matches the (anchored) regex, `dst` becomes the
/// expanded replacement (an empty result removes `dst`). Series that end up with equal labels
/// are merged step by step.
fn label_replace(l: &LabelReplace, series: SeriesVec) -> Result<SeriesVec, QueryError> {
    let regex =
        regex::Regex::new(&format!("^(?s:{})$", l.regex_text)).map_err(|e| crate::stages::bad_regex(&e))?;
    let mut out: SeriesVec = Vec::with_capacity(series.len());
    for (labels, vals) in series {
        let value = labels.get(&l.src).unwrap_or("").to_string();
        let labels = match regex.captures(&value) {
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
    Ok(out)
}

/// Turns a label value into a sample value per the unwrap conversion, as Loki's `convertFloat`,
/// `convertDuration` and `convertBytes` do (the error becomes `__error_details__`).
fn convert(conv: UnwrapConv, v: &str) -> Result<f64, String> {
    match conv {
        UnwrapConv::Number => crate::logql::go_parse_float(v),
        UnwrapConv::Duration => crate::logql::go_duration_ns(v)
            .map(duration_seconds)
            .map_err(|e| e.0),
        UnwrapConv::Bytes => crate::logql::humanize_bytes(v).map(|b| b as f64),
    }
}

/// `labels` grouped by `by`/`without`, keeping empty values as Loki's sample extractor and
/// its `by` grouping of vector aggregations do (a label set to "" is a group of its own).
fn grouped(labels: &LabelSet, grouping: &Option<Grouping>) -> LabelSet {
    match grouping {
        None => labels.clone(),
        Some(g) if g.without => LabelSet::from_pairs_keeping_empty(
            labels
                .pairs()
                .iter()
                .filter(|(k, _)| !g.labels.contains(k))
                .cloned(),
        ),
        Some(g) => LabelSet::from_pairs_keeping_empty(
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
    /// This execution's stages.
    pipeline: Pipeline,
    /// The label filters after `unwrap`, compiled.
    post_filters: Vec<LabelFilter>,
    from: i64,
    to: i64,
    counts_only: bool,
    seen: HashSet<(u64, i64, u64)>,
    samples: HashMap<LabelSet, Vec<(i64, f64)>>,
    /// The pipeline depends on the order of lines (`distinct`): entries wait in `pending`.
    ordered: bool,
    pending: Vec<(LabelSet, Entry)>,
    /// `counts_only`: (ts, id, series) of each stream's entries in range, by stream fingerprint,
    /// as delivered; `finish` drops duplicates (a sort per stream: cheaper than a set of every
    /// entry) and turns the rest into samples.
    counted: HashMap<u64, Vec<(i64, u64, u32)>>,
    /// `counts_only`: the series of counted entries, by index.
    series: SeriesIndex,
}

/// Series labels by index: counted entries carry an index, not a copy of their labels.
#[derive(Default)]
struct SeriesIndex {
    labels: Vec<LabelSet>,
    index: HashMap<LabelSet, u32>,
}

impl SeriesIndex {
    fn index_of(&mut self, labels: &LabelSet) -> u32 {
        if let Some(&i) = self.index.get(labels) {
            return i;
        }
        let i = self.labels.len() as u32;
        self.labels.push(labels.clone());
        self.index.insert(labels.clone(), i);
        i
    }
}

impl Visitor for SampleCollector<'_> {
    fn add(&mut self, labels: &LabelSet, entries: Vec<Entry>) {
        let fp = labels.fingerprint();
        if self.counts_only {
            // Line filters already ran while decoding: every entry counts, in its stream's series
            // (with its structured metadata as labels, as Loki's sample extractors add them).
            let rows = self.counted.entry(fp).or_default();
            let mut plain = None;
            for e in entries {
                if e.ts < self.from || e.ts >= self.to {
                    continue;
                }
                let series = if e.metadata.is_empty() {
                    *plain.get_or_insert_with(|| self.series.index_of(labels))
                } else {
                    self.series
                        .index_of(&LineLabels::with_metadata(labels, &e.metadata).into_labels())
                };
                rows.push((e.ts, e.id, series));
            }
            return;
        }
        for e in entries {
            if e.ts < self.from || e.ts >= self.to || !self.seen.insert((fp, e.ts, e.id)) {
                continue;
            }
            if self.ordered {
                self.pending.push((labels.clone(), e));
            } else {
                self.sample(labels, &e);
            }
        }
    }
}

impl SampleCollector<'_> {
    /// Runs the pipeline over one new entry and records its sample, if it yields one.
    fn sample(&mut self, labels: &LabelSet, e: &Entry) {
        let r = self.r;
        let Some(processed) = self.pipeline.process(labels, &e.metadata, e.ts, &e.line) else {
            return;
        };
        let mut line_labels = processed.labels;
        let value = match &r.unwrap {
            None if matches!(r.op, RangeOp::BytesOverTime | RangeOp::BytesRate) => {
                processed.line.as_ref().map_or(e.line.len(), String::len) as f64
            }
            None => 1.0,
            Some(u) => {
                // Loki's label sample extractor: a missing or empty label is no sample; a
                // value that does not convert is 0 with `SampleExtractionErr`.
                let raw = match line_labels.get(&u.label) {
                    Some(v) if !v.is_empty() => v.to_string(),
                    _ => return,
                };
                let value = match convert(u.conv, &raw) {
                    Ok(v) => v,
                    Err(details) => {
                        line_labels.set_error("SampleExtractionErr", details);
                        0.0
                    }
                };
                if !self.post_filters.iter().all(|f| f.keeps(&mut line_labels)) {
                    return;
                }
                value
            }
        };
        let series = line_labels.into_labels();
        let series = if series.get(ERROR_LABEL).is_some() {
            // Loki keeps every label of a series with an error, so the error names it.
            series
        } else {
            series_labels(r, &series)
        };
        self.samples.entry(series).or_default().push((e.ts, value));
    }

    /// Samples the entries held back for an order-dependent pipeline, oldest first (Loki's
    /// sample iterators run forward, ties in stream order).
    fn finish(&mut self) {
        let mut per_series: Vec<Vec<(i64, f64)>> = vec![Vec::new(); self.series.labels.len()];
        for (_, mut rows) in self.counted.drain() {
            // Stable: of equal (ts, id), the first delivered stays (as a set of seen entries
            // would keep it).
            rows.sort_by_key(|&(ts, id, _)| (ts, id));
            rows.dedup_by_key(|&mut (ts, id, _)| (ts, id));
            for (ts, _, series) in rows {
                per_series[series as usize].push((ts, 1.0));
            }
        }
        for (labels, points) in std::mem::take(&mut self.series.labels)
            .into_iter()
            .zip(per_series)
        {
            if !points.is_empty() {
                self.samples.entry(labels).or_default().extend(points);
            }
        }
        let mut pending = std::mem::take(&mut self.pending);
        pending.sort_by(|a, b| (a.1.ts, &a.0).cmp(&(b.1.ts, &b.0)));
        for (labels, e) in pending {
            self.sample(&labels, &e);
        }
    }
}

/// The series of a sample with `labels`: Loki drops the unwrapped label unless `by` keeps it,
/// then applies the range aggregation's grouping.
fn series_labels(r: &RangeAggregation, labels: &LabelSet) -> LabelSet {
    let Some(u) = &r.unwrap else {
        return grouped(labels, &r.grouping);
    };
    match &r.grouping {
        Some(g) if !g.without => grouped(labels, &r.grouping),
        Some(g) => {
            let mut g = g.clone();
            g.labels.push(u.label.clone());
            grouped(labels, &Some(g))
        }
        None => LabelSet::from_pairs(labels.pairs().iter().filter(|(k, _)| *k != u.label).cloned()),
    }
}

/// Evaluates a range aggregation at every step. `no_labels`: the enclosing aggregation pushes
/// "no labels" into the sample extractor (Loki's parser hints; see `LogPlan`).
async fn eval_range(
    ctx: &Ctx<'_>,
    r: &RangeAggregation,
    preserve_errors: bool,
    no_labels: bool,
) -> Result<Value, QueryError> {
    let tenant = match ctx.tenants {
        [one] => one,
        _ => return eval_range_tenants(ctx, r, preserve_errors, no_labels).await,
    };
    let (q, steps, stats) = (ctx.q, ctx.steps, ctx.stats);
    let (Some(&first), Some(&last)) = (steps.first(), steps.last()) else {
        return Ok(Value::Vector(Vec::new()));
    };
    // Samples in (first - offset - range, last - offset], i.e. [from, to).
    let from = first - r.offset_ns - r.range_ns + 1;
    let to = last - r.offset_ns + 1;
    // The plan of this execution, rewritten by the parser hints and the count shortcut.
    let mut plan = LogPlan::compile(&r.log, from, to, stats)?;
    if no_labels && r.unwrap.is_none() {
        plan.skip_unneeded_parsers();
    }
    let counts_only = r.unwrap.is_none()
        && matches!(
            r.op,
            RangeOp::CountOverTime | RangeOp::Rate | RangeOp::AbsentOverTime
        )
        && plan.count_only();
    let post_filters = match &r.unwrap {
        Some(u) => u
            .post_filters
            .iter()
            .map(LabelFilter::new)
            .collect::<Result<_, _>>()?,
        None => Vec::new(),
    };
    let LogPlan {
        matchers,
        filter,
        line_filters,
        pipeline,
        ordered,
    } = plan;
    // Samples are taken as each source is read, so lines never accumulate.
    let mut collector = SampleCollector {
        r,
        pipeline,
        post_filters,
        from,
        to,
        counts_only,
        seen: HashSet::new(),
        samples: HashMap::new(),
        ordered,
        pending: Vec::new(),
        counted: HashMap::new(),
        series: SeriesIndex::default(),
    };
    let scan = ScanRequest {
        tenant,
        matchers: &matchers,
        filter: &filter,
        line_filters: &line_filters,
        order: crate::engine::Direction::Forward,
    };
    q.scan(&scan, &mut collector).await?;
    collector.finish();
    let samples = collector.samples;
    // Errors are not allowed in metrics unless filtered out: Loki fails the query at the first
    // step where a series with `__error__` has samples.
    let mut first_error: Option<(usize, &LabelSet)> = None;
    for (labels, points) in &samples {
        if labels.get(ERROR_LABEL).is_none() {
            continue;
        }
        if let Some(step) = steps.iter().position(|&t| {
            let end = t - r.offset_ns;
            points.iter().any(|(ts, _)| *ts > end - r.range_ns && *ts <= end)
        }) {
            if first_error.is_none_or(|(s, l)| step < s || (step == s && labels < l)) {
                first_error = Some((step, labels));
            }
        }
    }
    if let Some((_, bad)) = first_error.filter(|_| !preserve_errors) {
        return Err(pipeline_error(bad));
    }
    if r.op == RangeOp::AbsentOverTime {
        return Ok(absent(r, &samples, steps));
    }
    let mut out = Vec::with_capacity(samples.len());
    for (labels, mut points) in samples {
        if labels.get(ERROR_LABEL).is_some() && !preserve_errors {
            continue;
        }
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
            let window = &points[lo..hi];
            vals.push((!window.is_empty()).then(|| range_value(r, window, end)));
        }
        out.push((labels, vals));
    }
    // A fixed order (not the hash map's, which differs from run to run): vector aggregations
    // add series up in this order, and floating-point sums depend on it.
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(Value::Vector(out))
}

/// A range aggregation over several tenants: each tenant's series, labelled with its tenant.
/// `absent_over_time` has a value at a step only where every tenant has none.
fn eval_range_tenants<'a>(
    ctx: &'a Ctx<'a>,
    r: &'a RangeAggregation,
    preserve_errors: bool,
    no_labels: bool,
) -> futures::future::BoxFuture<'a, Result<Value, QueryError>> {
    Box::pin(async move {
        let mut out: SeriesVec = Vec::new();
        let mut absent_steps: Option<Vec<Option<f64>>> = None;
        for tenant in ctx.tenants {
            let one = Ctx {
                tenants: std::slice::from_ref(tenant),
                ..*ctx
            };
            let Value::Vector(series) = eval_range(&one, r, preserve_errors, no_labels).await? else {
                continue;
            };
            if r.op == RangeOp::AbsentOverTime {
                let mut here: Vec<Option<f64>> = vec![None; ctx.steps.len()];
                for (_, vals) in &series {
                    for (h, v) in here.iter_mut().zip(vals) {
                        *h = h.or(*v);
                    }
                }
                absent_steps = Some(match absent_steps {
                    None => here,
                    Some(all) => all.into_iter().zip(here).map(|(a, b)| a.and(b)).collect(),
                });
                if out.is_empty() {
                    out = series;
                }
                continue;
            }
            for (labels, vals) in series {
                let labels = LabelSet::from_pairs_keeping_empty(
                    labels
                        .pairs()
                        .iter()
                        .cloned()
                        .chain([(TENANT_LABEL.to_string(), tenant.as_str().to_string())]),
                );
                out.push((labels, vals));
            }
        }
        if let Some(steps) = absent_steps {
            return Ok(Value::Vector(match out.into_iter().next() {
                Some((labels, _)) if steps.iter().any(Option::is_some) => vec![(labels, steps)],
                _ => Vec::new(),
            }));
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(Value::Vector(out))
    })
}

/// Loki's `pipeline error` for a series carrying `__error__`.
fn pipeline_error(bad: &LabelSet) -> QueryError {
    let kind = bad.get(ERROR_LABEL).unwrap_or_default();
    QueryError::BadRequest(format!(
        "pipeline error: '{kind}' for series: '{bad}'.\nUse a label filter to intentionally skip this error. (e.g | __error__!=\"{kind}\").\nTo skip all potential errors you can match empty errors.(e.g __error__=\"\")\nThe label filter can also be specified after unwrap. (e.g | unwrap latency | __error__=\"\" )\n"
    ))
}

/// Loki's `absentLabels`: the selector's equality matchers, minus any label that another
/// matcher also names.
fn absent_labels(r: &RangeAggregation) -> LabelSet {
    let mut set: Vec<(String, String)> = Vec::new();
    let mut drop: Vec<&str> = Vec::new();
    for m in &r.log.matchers {
        if m.op == MatchOp::Equal && !set.iter().any(|(k, _)| *k == m.name) {
            set.push((m.name.clone(), m.value.clone()));
        } else {
            drop.push(&m.name);
        }
    }
    LabelSet::from_pairs(set.into_iter().filter(|(k, _)| !drop.contains(&k.as_str())))
}

fn absent(r: &RangeAggregation, samples: &HashMap<LabelSet, Vec<(i64, f64)>>, steps: &[i64]) -> Value {
    let labels = absent_labels(r);
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

/// Go's `time.Duration.Seconds()`.
fn duration_seconds(ns: i64) -> f64 {
    (ns / 1_000_000_000) as f64 + (ns % 1_000_000_000) as f64 / 1e9
}

/// The value of a range aggregation over one window's samples (ascending time; the window
/// ends at `end`, inclusive), computed as Loki's range vector aggregators do (same operations
/// in the same order, so the same floats).
fn range_value(r: &RangeAggregation, w: &[(i64, f64)], end: i64) -> f64 {
    let range_s = duration_seconds(r.range_ns);
    let sum = || w.iter().fold(0.0, |acc, p| acc + p.1);
    match r.op {
        RangeOp::CountOverTime => w.len() as f64,
        RangeOp::Rate if r.unwrap.is_none() => w.len() as f64 / range_s,
        RangeOp::Rate | RangeOp::BytesRate => sum() / range_s,
        RangeOp::BytesOverTime | RangeOp::SumOverTime => sum(),
        RangeOp::AvgOverTime => {
            let (mut mean, mut count) = (0.0f64, 0.0f64);
            for &(_, v) in w {
                count += 1.0;
                if mean.is_infinite() {
                    if v.is_infinite() && (mean > 0.0) == (v > 0.0) {
                        continue;
                    }
                    if !v.is_infinite() && !v.is_nan() {
                        continue;
                    }
                }
                mean += v / count - mean / count;
            }
            mean
        }
        RangeOp::MinOverTime => w
            .iter()
            .fold(w[0].1, |m, p| if p.1 < m || m.is_nan() { p.1 } else { m }),
        RangeOp::MaxOverTime => w
            .iter()
            .fold(w[0].1, |m, p| if p.1 > m || m.is_nan() { p.1 } else { m }),
        RangeOp::StdvarOverTime | RangeOp::StddevOverTime => {
            let (mut aux, mut count, mut mean) = (0.0f64, 0.0f64, 0.0f64);
            for &(_, v) in w {
                count += 1.0;
                let delta = v - mean;
                mean += delta / count;
                aux += delta * (v - mean);
            }
            if r.op == RangeOp::StdvarOverTime {
                aux / count
            } else {
                (aux / count).sqrt()
            }
        }
        RangeOp::QuantileOverTime => {
            let values: Vec<f64> = w.iter().map(|p| p.1).collect();
            quantile(r.param.unwrap_or(0.5), &values)
        }
        RangeOp::FirstOverTime => w[0].1,
        RangeOp::LastOverTime => w[w.len() - 1].1,
        RangeOp::RateCounter => counter_rate(w, r.range_ns, end),
        RangeOp::AbsentOverTime => 1.0,
    }
}

/// Loki's `rate_counter` (`extrapolatedRate(samples, rangeEnd, range, isCounter, isRate)`
/// since grafana/loki#23684, which fixed its nanosecond/millisecond mix-up): Prometheus'
/// `rate` over the window `(end - range, end]` — counter resets add the value before them;
/// the increase is extrapolated to a window edge closer than 1.1 average sample gaps, else by
/// half a gap, and never below the counter's zero point — divided by the range in seconds.
/// Fewer than two samples give 0 (a point, not a gap).
fn counter_rate(samples: &[(i64, f64)], range_ns: i64, end: i64) -> f64 {
    if samples.len() < 2 {
        return 0.0;
    }
    let (first_t, first_v) = samples[0];
    let (last_t, last_v) = samples[samples.len() - 1];
    let mut result = last_v - first_v;
    let mut last_value = 0.0;
    for &(_, v) in samples {
        if v < last_value {
            result += last_value;
        }
        last_value = v;
    }
    let seconds = |ns: i64| ns as f64 / 1e9;
    let mut to_start = seconds(first_t - (end - range_ns));
    let mut to_end = seconds(end - last_t);
    let sampled = seconds(last_t - first_t);
    let average_gap = sampled / (samples.len() - 1) as f64;
    let threshold = average_gap * 1.1;
    if to_start >= threshold {
        to_start = average_gap / 2.0;
    }
    if result > 0.0 && first_v >= 0.0 {
        // A counter is never negative: extrapolate no further back than its zero point.
        let to_zero = sampled * (first_v / result);
        if to_zero < to_start {
            to_start = to_zero;
        }
    }
    if to_end >= threshold {
        to_end = average_gap / 2.0;
    }
    result *= (sampled + to_start + to_end) / sampled;
    result / duration_seconds(range_ns)
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
        VecOp::Sort | VecOp::SortDesc => return Value::Vector(sort_by_value(v.op, series, steps)),
        VecOp::Topk | VecOp::Bottomk | VecOp::ApproxTopk => return Value::Vector(top_k(v, series, steps)),
        _ => {}
    }
    let mut groups: BTreeMap<LabelSet, Vec<Vec<f64>>> = BTreeMap::new();
    for (labels, vals) in &series {
        let key = match &v.grouping {
            None => LabelSet::default(),
            // `without` goes through Prometheus' labels builder, which drops empty values.
            Some(g) if g.without => grouped(labels, &Some(g.clone())).without_empty(),
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
                .map(|xs| (!xs.is_empty()).then(|| vector_value(v.op, &xs)))
                .collect();
            (labels, vals)
        })
        .collect();
    Value::Vector(out)
}

/// `sort` / `sort_desc` of an instant vector: by value (ties in label order), the order the
/// rest of the evaluation keeps (Loki's heaps, then `sort.Sort(sort.Reverse(heap))`). Over a
/// range the order of a matrix is its labels', so there is nothing to do.
fn sort_by_value(op: VecOp, mut series: SeriesVec, steps: usize) -> SeriesVec {
    if steps != 1 {
        return series;
    }
    series.sort_by(|a, b| a.0.cmp(&b.0));
    let value = |s: &(LabelSet, Vec<Option<f64>>)| s.1[0].unwrap_or(f64::NAN);
    // NaN comes last either way (Loki's heaps treat it as the smallest and the largest).
    series.sort_by(|a, b| {
        let (x, y) = (value(a), value(b));
        x.is_nan().cmp(&y.is_nan()).then(if op == VecOp::Sort {
            x.total_cmp(&y)
        } else {
            y.total_cmp(&x)
        })
    });
    series
}

/// A vector aggregation over one group's values, as Loki's `VectorAggEvaluator` computes it
/// (the first value starts the group; running mean and Welford's variance).
fn vector_value(op: VecOp, xs: &[f64]) -> f64 {
    let (mut value, mut mean, mut count) = (xs[0], xs[0], 1usize);
    if matches!(op, VecOp::Stddev | VecOp::Stdvar) {
        value = 0.0;
    }
    for &x in &xs[1..] {
        match op {
            VecOp::Sum => value += x,
            VecOp::Avg => {
                count += 1;
                mean += (x - mean) / count as f64;
            }
            VecOp::Max => {
                if value < x || value.is_nan() {
                    value = x;
                }
            }
            VecOp::Min => {
                if value > x || value.is_nan() {
                    value = x;
                }
            }
            VecOp::Count => count += 1,
            VecOp::Stddev | VecOp::Stdvar => {
                count += 1;
                let delta = x - mean;
                mean += delta / count as f64;
                value += delta * (x - mean);
            }
            VecOp::Topk | VecOp::Bottomk | VecOp::ApproxTopk | VecOp::Sort | VecOp::SortDesc => {}
        }
    }
    match op {
        VecOp::Avg => mean,
        VecOp::Count => count as f64,
        VecOp::Stddev => (value / count as f64).sqrt(),
        VecOp::Stdvar => value / count as f64,
        _ => value,
    }
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
                if matches!(v.op, VecOp::Topk | VecOp::ApproxTopk) {
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
        // Loki guards against division by zero: NaN, not ±Inf.
        BinOp::Div if b == 0.0 => f64::NAN,
        BinOp::Div => a / b,
        BinOp::Mod if b == 0.0 => f64::NAN,
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

/// The matching signature of a series in a binary operation. Loki builds it (and the result's
/// labels) with Prometheus' labels builder, which drops empty-valued labels.
fn signature(labels: &LabelSet, b: &BinaryExpr) -> LabelSet {
    match &b.matching {
        None => labels.without_empty(),
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
            // Loki folds two literals with `MergeBinOp(.., filter=false)` (syntax/ast.go
            // reduceBinOp): a comparison yields 1 or 0 with or without `bool`.
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
    let one_to_one = !b.op.is_set() && b.matching.as_ref().is_none_or(|m| m.group.is_none());
    let mut right: HashMap<LabelSet, Vec<Option<f64>>> = HashMap::new();
    for (l, vals) in &rhs {
        let slot = right.entry(signature(l, b)).or_insert_with(|| vec![None; steps]);
        for (i, v) in vals.iter().enumerate() {
            if v.is_some() {
                if one_to_one && slot[i].is_some() {
                    return Err(QueryError::BadRequest(
                        "found duplicate series on the right hand-side;many-to-many matching not allowed: matching labels must be unique on one side".into(),
                    ));
                }
                slot[i] = *v;
            }
        }
    }
    if one_to_one {
        // Two left series meeting one right series at a step need group_left/group_right.
        let mut matched: HashMap<LabelSet, Vec<bool>> = HashMap::new();
        for (l, vals) in &lhs {
            let sig = signature(l, b);
            let Some(other) = right.get(&sig) else { continue };
            let slot = matched.entry(sig).or_insert_with(|| vec![false; steps]);
            for (i, v) in vals.iter().enumerate() {
                if v.is_some() && other[i].is_some() {
                    if slot[i] {
                        return Err(QueryError::BadRequest(
                            "multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)".into(),
                        ));
                    }
                    slot[i] = true;
                }
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
                    // Loki's `resultMetric`: the left labels (through the builder, so without
                    // empty values), trimmed to the signature by `on`/`ignoring`.
                    let labels = sig;
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
    let mut ones: HashMap<LabelSet, SeriesVec> = HashMap::new();
    for (labels, vals) in one {
        let candidates = ones.entry(signature(&labels, b)).or_default();
        // Loki matches at each step: two "one" series with the signature at one step is an error.
        for (_, other) in candidates.iter() {
            if other.iter().zip(&vals).any(|(x, y)| x.is_some() && y.is_some()) {
                let side = if group.left { "right" } else { "left" };
                return Err(QueryError::BadRequest(format!(
                    "found duplicate series on the {side} hand-side;many-to-many matching not allowed: matching labels must be unique on one side"
                )));
            }
        }
        candidates.push((labels, vals));
    }
    let mut out = Vec::with_capacity(many.len());
    // Result labels met at each step: two matches giving the same labels at a step is Loki's
    // error (its `insertedSigs` check in `vectorBinop`).
    let mut produced: HashMap<LabelSet, Vec<bool>> = HashMap::new();
    for (labels, vals) in many {
        let Some(candidates) = ones.get(&signature(&labels, b)) else {
            continue;
        };
        for (one_labels, one_vals) in candidates {
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
            let both: Vec<bool> = vals
                .iter()
                .zip(one_vals)
                .map(|(m, o)| m.is_some() && o.is_some())
                .collect();
            let vals = vals
                .iter()
                .zip(one_vals)
                .map(|(m, o)| match (m, o) {
                    // The operation is always `lhs op rhs`; comparisons keep the left value.
                    (Some(m), Some(o)) if group.left => combine(b, *m, *o, *m),
                    (Some(m), Some(o)) => combine(b, *o, *m, *o),
                    _ => None,
                })
                .collect();
            let result = LabelSet::from_pairs(pairs);
            let seen = produced
                .entry(result.clone())
                .or_insert_with(|| vec![false; one_vals.len()]);
            for (i, matched) in both.iter().enumerate() {
                if *matched {
                    if seen[i] {
                        return Err(QueryError::BadRequest(
                            "multiple matches for labels: grouping labels must ensure unique matches".into(),
                        ));
                    }
                    seen[i] = true;
                }
            }
            out.push((result, vals));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counter_rate_extrapolates_as_prometheus() {
        let s = 1_000_000_000i64;
        // engine_test.go TestEngine_LogsRateUnwrap: values 47..61 at 46..60 s, window
        // (30 s, 60 s]: the first sample is 16 s from the start (more than 1.1 gaps), so the
        // start extrapolates by half a gap; the last sits at the end. 14 * 14.5 / 14 / 30.
        let samples: Vec<(i64, f64)> = (46..=60).map(|t| (t * s, (t + 1) as f64)).collect();
        assert_eq!(counter_rate(&samples, 30 * s, 60 * s), 0.4833333333333334);
        // A constant counter: 0.
        let flat: Vec<(i64, f64)> = (46..=60).map(|t| (t * s, 1.0)).collect();
        assert_eq!(counter_rate(&flat, 30 * s, 60 * s), 0.0);
        // Close to both edges: extrapolated to the whole window. Samples 10 s apart from 5 s
        // in (0, 60]: 5 s to each edge (< 11 s), increase 10 per sample.
        let close: Vec<(i64, f64)> = (0..6)
            .map(|i| ((5 + 10 * i) * s, (100 + 10 * i) as f64))
            .collect();
        assert_eq!(counter_rate(&close, 60 * s, 60 * s), 50.0 * (60.0 / 50.0) / 60.0);
        // The zero point caps the start: 0 -> 10 -> 20 at 20, 30, 40 s in (0, 60]: the
        // counter was 0 at 20 s, so nothing is added before the first sample.
        let zero = [(20 * s, 0.0), (30 * s, 10.0), (40 * s, 20.0)];
        assert_eq!(counter_rate(&zero, 60 * s, 60 * s), 20.0 * (25.0 / 20.0) / 60.0);
        // A reset adds the value before it.
        let reset = [(10 * s, 5.0), (20 * s, 10.0), (30 * s, 2.0), (40 * s, 7.0)];
        let want = 12.0 * ((30.0 + 10.0 + 5.0) / 30.0) / 60.0;
        assert_eq!(counter_rate(&reset, 60 * s, 60 * s), want);
        // One sample: 0, not a gap.
        assert_eq!(counter_rate(&samples[..1], 30 * s, 60 * s), 0.0);
    }

    #[test]
    fn vector_aggregations_use_lokis_running_formulas() {
        assert_eq!(vector_value(VecOp::Avg, &[1.0, 2.0, 4.0]), 7.0 / 3.0);
        assert_eq!(
            vector_value(VecOp::Stdvar, &[2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0]),
            4.0
        );
        assert_eq!(
            vector_value(VecOp::Stddev, &[2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0]),
            2.0
        );
        assert_eq!(vector_value(VecOp::Count, &[3.0, 3.0]), 2.0);
        assert_eq!(vector_value(VecOp::Max, &[f64::NAN, 1.0]), 1.0);
    }

    #[test]
    fn scalar_comparisons_fold_to_one_or_zero_with_or_without_bool() {
        let scalar = |q: &str| match crate::logql::parse(q).unwrap() {
            crate::logql::Expr::Sample(SampleExpr::Binary(b)) => {
                match binary(&b, Value::Scalar(lit(&b.lhs)), Value::Scalar(lit(&b.rhs)), 1) {
                    Ok(Value::Scalar(v)) => v,
                    Ok(Value::Vector(_)) => panic!("{q}: a vector"),
                    Err(e) => panic!("{q}: {e}"),
                }
            }
            other => panic!("{q}: {other:?}"),
        };
        fn lit(e: &SampleExpr) -> f64 {
            match e {
                SampleExpr::Literal(v) => *v,
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(scalar("1 > 2"), 0.0);
        assert_eq!(scalar("3 >= 2"), 1.0);
        assert_eq!(scalar("2 == bool 2"), 1.0);
        assert_eq!(scalar("2 != 2"), 0.0);
    }

    #[test]
    fn quantiles_interpolate_like_prometheus() {
        assert_eq!(quantile(0.5, &[1.0, 2.0, 3.0, 4.0]), 2.5);
        assert_eq!(quantile(0.99, &[1.0]), 1.0);
        assert_eq!(quantile(1.0, &[3.0, 1.0, 2.0]), 3.0);
        assert_eq!(quantile(0.0, &[3.0, 1.0, 2.0]), 1.0);
    }
}
