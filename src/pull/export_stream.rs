//! Reading `GET /logq/api/v1/export`: its newline-delimited JSON entries, then the trailer
//! that tells a complete answer from a cut one. An answer without a trailer, or whose trailer
//! counts other than the entries read, is an error: the caller fetches that range again.

use std::io::BufRead;

use anyhow::{anyhow, bail, Context};
use serde::Deserialize;
use serde_json::Value;

/// One line of an export answer.
pub enum Item<'a> {
    /// An entry.
    Entry {
        /// The stream labels' JSON object text (as sent; identical for one stream).
        labels_json: &'a str,
        /// Unix ns.
        ts: i64,
        /// The line.
        line: String,
        /// Structured metadata as a JSON object's text.
        metadata_json: String,
    },
    /// The final line.
    Trailer(Trailer),
}

/// The counts of a complete answer.
#[derive(Debug, Clone, Copy, Deserialize)]
pub struct Trailer {
    /// Entries sent.
    pub entries: u64,
    /// Line bytes sent.
    pub bytes: u64,
}

#[derive(Deserialize)]
struct Rest {
    ts: String,
    line: String,
    #[serde(default)]
    metadata: Option<Value>,
}

const ENTRY_PREFIX: &str = "{\"stream\":";
const TS_KEY: &str = "},\"ts\":\"";

/// Parses one line (without its newline).
pub fn parse_line(text: &str) -> anyhow::Result<Item<'_>> {
    if let Some(after) = text.strip_prefix(ENTRY_PREFIX) {
        // The labels object ends where `,"ts":"` follows it: that text (with unescaped quotes)
        // cannot occur inside a JSON string, so the first match is the object's end.
        let end = after
            .find(TS_KEY)
            .ok_or_else(|| anyhow!("malformed export line: {}", preview(text)))?;
        let labels_json = &after[..=end];
        let rest = &after[end + TS_KEY.len()..];
        let (ts, line, metadata_json) = match fast_rest(rest) {
            Some(parts) => parts,
            None => slow_rest(rest).with_context(|| format!("malformed export line: {}", preview(text)))?,
        };
        return Ok(Item::Entry {
            labels_json,
            ts,
            line,
            metadata_json,
        });
    }
    let v: Value =
        serde_json::from_str(text).with_context(|| format!("malformed export line: {}", preview(text)))?;
    if let Some(t) = v.get("trailer") {
        return Ok(Item::Trailer(
            serde_json::from_value(t.clone()).context("malformed export trailer")?,
        ));
    }
    if let Some(e) = v.get("error") {
        bail!("the server failed mid-answer: {}", e.as_str().unwrap_or_default());
    }
    bail!("unexpected export line: {}", preview(text))
}

/// `<ns>","line":"...","metadata":{...}}` without building a JSON value: the timestamp digits,
/// the line (unescaped), and the metadata object's text as sent.
fn fast_rest(rest: &str) -> Option<(i64, String, String)> {
    let quote = rest.find('"')?;
    let ts = rest[..quote].parse().ok()?;
    let after = rest[quote..].strip_prefix("\",\"line\":")?;
    let mut de = serde_json::Deserializer::from_str(after).into_iter::<String>();
    let line = de.next()?.ok()?;
    let tail = after[de.byte_offset()..].strip_prefix(",\"metadata\":")?;
    let meta = tail.strip_suffix('}')?;
    // A `"parsed"` member after the metadata (that text cannot occur inside a JSON string):
    // take the general path.
    if !meta.starts_with('{') || meta.contains("},\"parsed\":") {
        return None;
    }
    Some((ts, line, meta.to_string()))
}

/// The general path of [`fast_rest`].
fn slow_rest(rest: &str) -> anyhow::Result<(i64, String, String)> {
    let r: Rest = serde_json::from_str(&format!("{{\"ts\":\"{rest}"))?;
    let ts = r.ts.parse().map_err(|_| anyhow!("bad timestamp {:?}", r.ts))?;
    let metadata_json = match r.metadata {
        Some(m @ Value::Object(_)) => m.to_string(),
        _ => "{}".to_string(),
    };
    Ok((ts, r.line, metadata_json))
}

fn preview(text: &str) -> String {
    text.chars().take(120).collect()
}

/// Reads an answer from `reader`, calling `on_entry` for each entry; returns the trailer, or
/// an error if the answer was cut or its counts disagree with what was read.
pub fn read_answer(
    mut reader: impl BufRead,
    mut on_entry: impl FnMut(&str, i64, &str, &str) -> anyhow::Result<()>,
) -> anyhow::Result<Trailer> {
    let mut buf = Vec::new();
    let (mut entries, mut bytes) = (0u64, 0u64);
    loop {
        buf.clear();
        let n = reader
            .read_until(b'\n', &mut buf)
            .context("reading the export answer (connection lost?)")?;
        if n == 0 || buf.last() != Some(&b'\n') {
            bail!("the export answer was cut before its trailer (connection lost or server stopped)");
        }
        buf.pop();
        let text = std::str::from_utf8(&buf).context("export line is not UTF-8")?;
        match parse_line(text)? {
            Item::Entry {
                labels_json,
                ts,
                line,
                metadata_json,
            } => {
                entries += 1;
                bytes += line.len() as u64;
                on_entry(labels_json, ts, &line, &metadata_json)?;
            }
            Item::Trailer(t) => {
                if t.entries != entries || t.bytes != bytes {
                    bail!(
                        "the export trailer counts {} entries ({} bytes) but {entries} ({bytes} bytes) arrived",
                        t.entries,
                        t.bytes
                    );
                }
                return Ok(t);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ANSWER: &str = concat!(
        r#"{"stream":{"a":"x},\"ts\":\"1"},"ts":"5","line":"hello","metadata":{"k":"v"}}"#,
        "\n",
        r#"{"stream":{"a":"y"},"ts":"6","line":"w\"orld","metadata":{}}"#,
        "\n",
        r#"{"trailer":{"entries":2,"streams":2,"bytes":11,"start":"0","end":"9"}}"#,
        "\n"
    );

    #[test]
    fn reads_entries_and_checks_the_trailer() {
        let mut got = Vec::new();
        let t = read_answer(ANSWER.as_bytes(), |l, ts, line, m| {
            got.push((l.to_string(), ts, line.to_string(), m.to_string()));
            Ok(())
        })
        .unwrap();
        assert_eq!(t.entries, 2);
        assert_eq!(
            got[0].0, r#"{"a":"x},\"ts\":\"1"}"#,
            "a label value that looks like the key"
        );
        assert_eq!(
            (got[0].1, got[0].2.as_str(), got[0].3.as_str()),
            (5, "hello", r#"{"k":"v"}"#)
        );
        assert_eq!(got[1].2, "w\"orld");
    }

    #[test]
    fn a_cut_or_failed_answer_is_an_error() {
        let cut = &ANSWER[..ANSWER.rfind("{\"trailer").unwrap()];
        let e = read_answer(cut.as_bytes(), |_, _, _, _| Ok(())).unwrap_err();
        assert!(e.to_string().contains("cut"), "{e}");
        let failed = format!("{}{}\n", cut, r#"{"error":"storage exploded"}"#);
        let e = read_answer(failed.as_bytes(), |_, _, _, _| Ok(())).unwrap_err();
        assert!(e.to_string().contains("storage exploded"), "{e}");
        let wrong = ANSWER.replace("\"entries\":2", "\"entries\":3");
        assert!(read_answer(wrong.as_bytes(), |_, _, _, _| Ok(())).is_err());
    }
}
