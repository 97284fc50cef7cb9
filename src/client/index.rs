//! `logq series`, `logq stats`, `logq volume` and `logq volume_range`: the index endpoints, with
//! logcli's flags and output.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;

use anyhow::anyhow;
use clap::Args;
use serde_json::Value;

use super::{
    colored, get_json, labels_text, metric_output, parse_duration_flag, ColorMode, ConnArgs, Output,
    RangeArgs,
};

/// `logq series` flags.
#[derive(Debug, Args)]
pub struct SeriesArgs {
    /// Stream selector (e.g. '{service="api"}'; '{}' for every stream).
    #[arg(default_value = "{}")]
    matcher: String,
    #[command(flatten)]
    conn: ConnArgs,
    #[command(flatten)]
    range: RangeArgs,
    /// Print each label's number of distinct values and of streams holding it instead.
    #[arg(long)]
    analyze_labels: bool,
    /// Output format.
    #[arg(short = 'o', long, value_enum, default_value_t = Output::Default)]
    output: Output,
    /// Colour labels.
    #[arg(long, value_enum, default_value_t = ColorMode::Auto)]
    color: ColorMode,
}

/// `logq stats` flags.
#[derive(Debug, Args)]
pub struct StatsArgs {
    /// Stream selector.
    query: String,
    #[command(flatten)]
    conn: ConnArgs,
    #[command(flatten)]
    range: RangeArgs,
    /// Output format (jsonl/raw: the server's JSON).
    #[arg(short = 'o', long, value_enum, default_value_t = Output::Default)]
    output: Output,
}

/// `logq volume` and `logq volume_range` flags.
#[derive(Debug, Args)]
pub struct VolumeArgs {
    /// Stream selector.
    query: String,
    #[command(flatten)]
    conn: ConnArgs,
    #[command(flatten)]
    range: RangeArgs,
    /// Most series to return.
    #[arg(long, default_value_t = 100)]
    limit: usize,
    /// Group by these labels (comma-separated; default: the labels the selector names).
    #[arg(long, value_delimiter = ',')]
    target_labels: Vec<String>,
    /// `series` (volume per label set) or `labels` (volume per label name).
    #[arg(long, default_value = "series", value_parser = ["series", "labels"])]
    aggregate_by: String,
    /// Step of volume_range (a duration, e.g. 1h; default: the server's).
    #[arg(long)]
    step: Option<String>,
    /// Output format.
    #[arg(short = 'o', long, value_enum, default_value_t = Output::Default)]
    output: Output,
    /// Colour labels (raw output).
    #[arg(long, value_enum, default_value_t = ColorMode::Auto)]
    color: ColorMode,
}

/// Runs `logq series`.
pub fn series(args: SeriesArgs) -> anyhow::Result<()> {
    let (start, end) = args.range.resolve()?;
    let resp = get_json(
        &args.conn,
        "/loki/api/v1/series",
        &[
            ("match[]", args.matcher.clone()),
            ("start", start.to_string()),
            ("end", end.to_string()),
        ],
    )?;
    let series: Vec<serde_json::Map<String, Value>> = resp["data"]
        .as_array()
        .ok_or_else(|| anyhow!("unexpected response: no data list"))?
        .iter()
        .map(|s| s.as_object().cloned().unwrap_or_default())
        .collect();
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    if args.analyze_labels {
        write!(out, "{}", analyze(&series))?;
    } else {
        let color = args.color.enabled();
        for s in &series {
            let mut sorted: Vec<(&String, &Value)> = s.iter().collect();
            sorted.sort_by(|a, b| a.0.cmp(b.0));
            let map: serde_json::Map<String, Value> =
                sorted.into_iter().map(|(k, v)| (k.clone(), v.clone())).collect();
            match args.output {
                Output::Jsonl => writeln!(out, "{}", Value::Object(map))?,
                _ => writeln!(out, "{}", colored(&labels_text(&map), color))?,
            }
        }
    }
    out.flush()?;
    Ok(())
}

/// logcli's `--analyze-labels` table: per label name, distinct values and streams holding it,
/// most values first.
fn analyze(series: &[serde_json::Map<String, Value>]) -> String {
    let mut labels: BTreeMap<&str, (BTreeSet<&str>, usize)> = BTreeMap::new();
    for s in series {
        for (k, v) in s {
            let slot = labels.entry(k).or_default();
            slot.0.insert(v.as_str().unwrap_or_default());
            slot.1 += 1;
        }
    }
    let mut rows: Vec<(&str, usize, usize)> = labels.into_iter().map(|(k, (v, n))| (k, v.len(), n)).collect();
    rows.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    let mut out = format!(
        "Total Streams:  {}\nUnique Labels:  {}\n\n",
        series.len(),
        rows.len()
    );
    let width = rows.iter().map(|r| r.0.len()).max().unwrap_or(0).max(10);
    out.push_str(&format!(
        "{:<width$}  {:>13}  {:>16}\n",
        "Label Name", "Unique Values", "Found In Streams"
    ));
    for (name, values, streams) in rows {
        out.push_str(&format!("{name:<width$}  {values:>13}  {streams:>16}\n"));
    }
    out
}

/// Bytes as logcli prints them (decimal units).
fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 6] = ["B", "kB", "MB", "GB", "TB", "PB"];
    let mut v = n as f64;
    let mut unit = 0;
    while v >= 1000.0 && unit < UNITS.len() - 1 {
        v /= 1000.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n}B")
    } else {
        format!("{v:.1}{}", UNITS[unit])
    }
}

/// Runs `logq stats`.
pub fn stats(args: StatsArgs) -> anyhow::Result<()> {
    let (start, end) = args.range.resolve()?;
    let resp = get_json(
        &args.conn,
        "/loki/api/v1/index/stats",
        &[
            ("query", args.query.clone()),
            ("start", start.to_string()),
            ("end", end.to_string()),
        ],
    )?;
    let field = |k: &str| {
        resp[k]
            .as_u64()
            .ok_or_else(|| anyhow!("unexpected response: no {k:?}"))
    };
    match args.output {
        Output::Default => println!(
            "{{\n  bytes: {}\n  chunks: {}\n  streams: {}\n  entries: {}\n}}",
            human_bytes(field("bytes")?),
            field("chunks")?,
            field("streams")?,
            field("entries")?
        ),
        _ => println!("{resp}"),
    }
    Ok(())
}

fn volume_params(args: &VolumeArgs, start: i64, end: i64) -> Vec<(&'static str, String)> {
    let mut params = vec![
        ("query", args.query.clone()),
        ("start", start.to_string()),
        ("end", end.to_string()),
        ("limit", args.limit.to_string()),
        ("aggregateBy", args.aggregate_by.clone()),
    ];
    if !args.target_labels.is_empty() {
        params.push(("targetLabels", args.target_labels.join(",")));
    }
    params
}

/// Runs `logq volume`: bytes per series (or label) over the range, as a vector.
pub fn volume(args: VolumeArgs) -> anyhow::Result<()> {
    let (start, end) = args.range.resolve()?;
    let resp = get_json(
        &args.conn,
        "/loki/api/v1/index/volume",
        &volume_params(&args, start, end),
    )?;
    print_result(&args, &resp)
}

/// Runs `logq volume_range`: bytes per series (or label) per step, as a matrix.
pub fn volume_range(args: VolumeArgs) -> anyhow::Result<()> {
    let (start, end) = args.range.resolve()?;
    let mut params = volume_params(&args, start, end);
    if let Some(step) = &args.step {
        parse_duration_flag("step", step)?;
        params.push(("step", step.clone()));
    }
    let resp = get_json(&args.conn, "/loki/api/v1/index/volume_range", &params)?;
    print_result(&args, &resp)
}

fn print_result(args: &VolumeArgs, resp: &Value) -> anyhow::Result<()> {
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    metric_output::print(&mut out, &resp["data"], args.output, args.color.enabled())?;
    out.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn analyze_counts_values_and_streams() {
        let series: Vec<serde_json::Map<String, Value>> = [
            json!({"service": "api", "host": "a"}),
            json!({"service": "api", "host": "b"}),
            json!({"service": "db", "host": "a", "zone": "x"}),
        ]
        .into_iter()
        .map(|v| v.as_object().cloned().unwrap())
        .collect();
        let text = analyze(&series);
        assert!(
            text.starts_with("Total Streams:  3\nUnique Labels:  3\n"),
            "{text}"
        );
        let rows: Vec<Vec<&str>> = text
            .lines()
            .skip(4)
            .map(|l| l.split_whitespace().collect())
            .collect();
        assert_eq!(
            rows,
            vec![
                vec!["host", "2", "3"],
                vec!["service", "2", "3"],
                vec!["zone", "1", "1"]
            ]
        );
    }

    #[test]
    fn bytes_in_decimal_units() {
        assert_eq!(human_bytes(999), "999B");
        assert_eq!(human_bytes(1_500), "1.5kB");
        assert_eq!(human_bytes(2_340_000_000), "2.3GB");
    }
}
