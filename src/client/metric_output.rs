//! Printing metric results (matrix, vector, scalar) the way logcli does, in each output format:
//! `default` is logcli's indented JSON of the result; `jsonl` is one compact JSON object per
//! series (or the scalar); `raw` is one `<labels> <RFC 3339 time> <value>` line per sample.

use std::io::Write;

use anyhow::{anyhow, bail};
use serde_json::{json, Value};

use super::{colored, labels_text, rfc3339, Output};

/// Prints `data` (a Loki response's `data`: `resultType` and `result`) in `format`.
pub fn print(out: &mut impl Write, data: &Value, format: Output, color: bool) -> anyhow::Result<()> {
    let kind = data["resultType"]
        .as_str()
        .ok_or_else(|| anyhow!("unexpected response: no data.resultType"))?;
    let result = &data["result"];
    match kind {
        "matrix" | "vector" => {
            let series = result
                .as_array()
                .ok_or_else(|| anyhow!("unexpected response: {kind} result is not a list"))?;
            match format {
                Output::Default => writeln!(out, "{}", serde_json::to_string_pretty(result)?)?,
                Output::Jsonl => {
                    for s in series {
                        writeln!(out, "{s}")?;
                    }
                }
                Output::Raw => {
                    for s in series {
                        let labels = colored(
                            &labels_text(&s["metric"].as_object().cloned().unwrap_or_default()),
                            color,
                        );
                        let samples: Vec<&Value> = if kind == "matrix" {
                            s["values"]
                                .as_array()
                                .map(|v| v.iter().collect())
                                .unwrap_or_default()
                        } else {
                            vec![&s["value"]]
                        };
                        for p in samples {
                            writeln!(
                                out,
                                "{labels} {} {}",
                                sample_time(p)?,
                                p[1].as_str().unwrap_or_default()
                            )?;
                        }
                    }
                }
            }
        }
        "scalar" => match format {
            Output::Default => writeln!(out, "{}", serde_json::to_string_pretty(result)?)?,
            Output::Jsonl => writeln!(out, "{}", json!({"time": result[0], "value": result[1]}))?,
            Output::Raw => writeln!(
                out,
                "{} {}",
                sample_time(result)?,
                result[1].as_str().unwrap_or_default()
            )?,
        },
        "streams" => bail!("expected a metric result, got log streams"),
        other => bail!("unexpected result type {other:?}"),
    }
    Ok(())
}

/// A sample's `[<float seconds>, "<value>"]` time as RFC 3339.
fn sample_time(p: &Value) -> anyhow::Result<String> {
    let secs = p[0]
        .as_f64()
        .ok_or_else(|| anyhow!("bad sample time in response: {}", p[0]))?;
    Ok(rfc3339((secs * 1e9).round() as i64))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn printed(data: &Value, format: Output) -> String {
        let mut out = Vec::new();
        print(&mut out, data, format, false).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn matrix_in_every_format() {
        let data = json!({"resultType": "matrix", "result": [
            {"metric": {"service": "api"}, "values": [[1700000000, "3"], [1700000060, "5"]]},
        ]});
        let d = printed(&data, Output::Default);
        let parsed: Value = serde_json::from_str(&d).unwrap();
        assert_eq!(parsed, data["result"]);
        assert!(d.contains("\n  "), "indented as logcli: {d}");
        let j = printed(&data, Output::Jsonl);
        assert_eq!(j.lines().count(), 1);
        assert_eq!(
            serde_json::from_str::<Value>(j.trim()).unwrap()["metric"]["service"],
            "api"
        );
        let r = printed(&data, Output::Raw);
        assert_eq!(
            r,
            "{service=\"api\"} 2023-11-14T22:13:20Z 3\n{service=\"api\"} 2023-11-14T22:14:20Z 5\n"
        );
    }

    #[test]
    fn vector_and_scalar() {
        let data = json!({"resultType": "vector", "result": [
            {"metric": {"a": "1"}, "value": [1700000000.5, "2"]},
            {"metric": {"a": "2"}, "value": [1700000000.5, "7"]},
        ]});
        assert_eq!(printed(&data, Output::Jsonl).lines().count(), 2);
        assert!(printed(&data, Output::Raw).starts_with("{a=\"1\"} 2023-11-14T22:13:20.500Z 2\n"));
        let scalar = json!({"resultType": "scalar", "result": [1700000000, "4"]});
        assert_eq!(printed(&scalar, Output::Raw), "2023-11-14T22:13:20Z 4\n");
        assert_eq!(
            printed(&scalar, Output::Jsonl).trim(),
            r#"{"time":1700000000,"value":"4"}"#
        );
    }

    #[test]
    fn streams_and_garbage_are_errors() {
        let mut out = Vec::new();
        assert!(print(
            &mut out,
            &json!({"resultType": "streams", "result": []}),
            Output::Raw,
            false
        )
        .is_err());
        assert!(print(&mut out, &json!({}), Output::Raw, false).is_err());
    }
}
