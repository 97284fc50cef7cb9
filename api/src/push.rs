//! Decoding push bodies (Loki JSON, snappy-compressed protobuf; Content-Encoding gzip, deflate,
//! snappy) into a [`PushBatch`], assigning message ids. Every malformed input is an error that
//! names the problem; nothing here panics on outside bytes.

use std::collections::BTreeMap;
use std::io::Read;

use logq_storage::{derive_message_id, Entry, LabelSet, PushBatch, StreamEntries, TenantId};
use prost::Message;
use serde::Deserialize;

use crate::proto::PushRequest;

/// Largest decompressed push body.
pub const MAX_DECOMPRESSED_BYTES: usize = 256 * 1024 * 1024;

/// What invalid UTF-8 in a push turned into.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct DecodeStats {
    /// Lines or values in which invalid UTF-8 was replaced.
    pub invalid_utf8: u64,
}

/// Removes a `Content-Encoding`.
pub fn decode_content_encoding(encoding: Option<&str>, body: &[u8]) -> Result<Vec<u8>, String> {
    let enc = encoding.map(|e| e.trim().to_ascii_lowercase());
    match enc.as_deref() {
        None | Some("") | Some("identity") => Ok(body.to_vec()),
        Some("gzip") => read_limited(flate2::read::GzDecoder::new(body), "gzip"),
        Some("deflate") => read_limited(flate2::read::ZlibDecoder::new(body), "deflate"),
        Some("snappy") => snappy_block(body),
        Some(other) => Err(format!("unsupported Content-Encoding {other:?}")),
    }
}

fn read_limited(r: impl Read, what: &str) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    r.take(MAX_DECOMPRESSED_BYTES as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| format!("invalid {what} body: {e}"))?;
    if out.len() > MAX_DECOMPRESSED_BYTES {
        return Err(format!(
            "decompressed body exceeds {MAX_DECOMPRESSED_BYTES} bytes"
        ));
    }
    Ok(out)
}

fn snappy_block(body: &[u8]) -> Result<Vec<u8>, String> {
    let len = snap::raw::decompress_len(body).map_err(|e| format!("invalid snappy body: {e}"))?;
    if len > MAX_DECOMPRESSED_BYTES {
        return Err(format!(
            "decompressed body exceeds {MAX_DECOMPRESSED_BYTES} bytes"
        ));
    }
    snap::raw::Decoder::new()
        .decompress_vec(body)
        .map_err(|e| format!("invalid snappy body: {e}"))
}

#[derive(Deserialize)]
struct JsonPush {
    streams: Vec<JsonStream>,
}

#[derive(Deserialize)]
struct JsonStream {
    stream: BTreeMap<String, String>,
    values: Vec<JsonEntry>,
}

#[derive(Deserialize)]
struct JsonEntry(String, String, #[serde(default)] Option<BTreeMap<String, String>>);

fn parse_ts(s: &str) -> Result<i64, String> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "invalid timestamp {s:?}: must be a string of digits (Unix nanoseconds)"
        ));
    }
    s.parse::<i64>()
        .map_err(|_| format!("invalid timestamp {s:?}: out of range"))
}

fn new_entry(fp: u64, ts: i64, line: String, metadata: Vec<(String, String)>) -> Entry {
    Entry {
        ts,
        id: derive_message_id(fp, ts, &line),
        line,
        metadata,
    }
}

/// Decodes a Loki JSON push body.
pub fn decode_json(tenant: TenantId, body: &[u8]) -> Result<PushBatch, String> {
    let push: JsonPush =
        serde_json::from_slice(body).map_err(|e| format!("error parsing push request JSON: {e}"))?;
    let mut streams = Vec::with_capacity(push.streams.len());
    for s in push.streams {
        let labels = LabelSet::validated(s.stream).map_err(|e| e.to_string())?;
        let fp = labels.fingerprint();
        let mut entries = Vec::with_capacity(s.values.len());
        for JsonEntry(ts, line, meta) in s.values {
            let ts = parse_ts(&ts)?;
            let metadata = meta.map(|m| m.into_iter().collect()).unwrap_or_default();
            entries.push(new_entry(fp, ts, line, metadata));
        }
        streams.push(StreamEntries { labels, entries });
    }
    Ok(PushBatch { tenant, streams })
}

fn lossy(bytes: Vec<u8>, stats: &mut DecodeStats) -> String {
    match String::from_utf8(bytes) {
        Ok(s) => s,
        Err(e) => {
            stats.invalid_utf8 += 1;
            String::from_utf8_lossy(e.as_bytes()).into_owned()
        }
    }
}

/// Decodes a snappy-compressed protobuf push body (after any Content-Encoding was removed).
pub fn decode_protobuf(tenant: TenantId, body: &[u8], stats: &mut DecodeStats) -> Result<PushBatch, String> {
    let raw = snappy_block(body)?;
    let req = PushRequest::decode(raw.as_slice())
        .map_err(|e| format!("error parsing push request protobuf: {e}"))?;
    let mut streams = Vec::with_capacity(req.streams.len());
    for s in req.streams {
        let text = lossy(s.labels, stats);
        let labels = LabelSet::parse(&text).map_err(|e| e.to_string())?;
        let fp = labels.fingerprint();
        let mut entries = Vec::with_capacity(s.entries.len());
        for e in s.entries {
            let ts = e
                .timestamp
                .map(|t| {
                    t.seconds
                        .checked_mul(1_000_000_000)
                        .and_then(|s| s.checked_add(i64::from(t.nanos)))
                })
                .ok_or_else(|| format!("entry without timestamp in stream {labels}"))?
                .ok_or_else(|| format!("timestamp out of range in stream {labels}"))?;
            let metadata = e
                .structured_metadata
                .into_iter()
                .map(|p| (lossy(p.name, stats), lossy(p.value, stats)))
                .collect();
            entries.push(new_entry(fp, ts, lossy(e.line, stats), metadata));
        }
        streams.push(StreamEntries { labels, entries });
    }
    Ok(PushBatch { tenant, streams })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::{EntryAdapter, StreamAdapter, Timestamp};

    fn t() -> TenantId {
        TenantId::new("t").unwrap()
    }

    #[test]
    fn json_push_decodes_with_metadata() {
        let body = br#"{"streams":[{"stream":{"app":"x"},"values":[["1570818238000000000","a"],["1570818238000000001","b",{"trace_id":"abc"}]]}]}"#;
        let b = decode_json(t(), body).unwrap();
        assert_eq!(b.streams[0].entries.len(), 2);
        assert_eq!(
            b.streams[0].entries[1].metadata,
            vec![("trace_id".to_string(), "abc".to_string())]
        );
        assert_ne!(b.streams[0].entries[0].id, b.streams[0].entries[1].id);
    }

    #[test]
    fn json_errors_name_the_problem() {
        let cases: [(&[u8], &str); 5] = [
            (b"{", "error parsing push request JSON"),
            (
                br#"{"streams":[{"stream":{"a":"b"},"values":[[1,"x"]]}]}"#,
                "expected a string",
            ),
            (
                br#"{"streams":[{"stream":{"a":"b"},"values":[["12a","x"]]}]}"#,
                "invalid timestamp \"12a\"",
            ),
            (
                br#"{"streams":[{"stream":{},"values":[["1","x"]]}]}"#,
                "no labels",
            ),
            (
                br#"{"streams":[{"stream":{"1a":"b"},"values":[]}]}"#,
                "invalid label name",
            ),
        ];
        for (body, want) in cases {
            let err = decode_json(t(), body).unwrap_err();
            assert!(err.contains(want), "{err} should contain {want}");
        }
    }

    #[test]
    fn protobuf_push_decodes_and_replaces_invalid_utf8() {
        let req = PushRequest {
            streams: vec![StreamAdapter {
                labels: br#"{app="x"}"#.to_vec(),
                entries: vec![EntryAdapter {
                    timestamp: Some(Timestamp { seconds: 2, nanos: 5 }),
                    line: vec![b'o', b'k', 0xff],
                    structured_metadata: vec![],
                    parsed: vec![],
                }],
                hash: 0,
            }],
            format: String::new(),
        };
        let body = snap::raw::Encoder::new()
            .compress_vec(&req.encode_to_vec())
            .unwrap();
        let mut stats = DecodeStats::default();
        let b = decode_protobuf(t(), &body, &mut stats).unwrap();
        assert_eq!(b.streams[0].entries[0].ts, 2_000_000_005);
        assert_eq!(b.streams[0].entries[0].line, "ok\u{fffd}");
        assert_eq!(stats.invalid_utf8, 1);
        assert!(decode_protobuf(t(), b"not snappy at all", &mut stats).is_err());
        let garbage = snap::raw::Encoder::new().compress_vec(&[0xff; 20]).unwrap();
        assert!(decode_protobuf(t(), &garbage, &mut stats)
            .unwrap_err()
            .contains("protobuf"));
    }

    #[test]
    fn content_encodings() {
        use std::io::Write;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(b"hello").unwrap();
        assert_eq!(
            decode_content_encoding(Some("gzip"), &gz.finish().unwrap()).unwrap(),
            b"hello"
        );
        assert!(decode_content_encoding(Some("br"), b"x")
            .unwrap_err()
            .contains("unsupported Content-Encoding"));
        assert!(decode_content_encoding(Some("gzip"), b"nope").is_err());
    }
}
