//! Loki's push wire format, the one format of accepted log data in transit: HTTP push bodies
//! (JSON, snappy-compressed protobuf) and Kafka record values (the same protobuf). Decoding turns
//! them into a [`PushBatch`] and assigns message ids; encoding is what the agent and the Kafka
//! distributor send. Every malformed input is an error that names the problem; nothing here
//! panics on outside bytes.
//!
//! Message ids travel as the structured-metadata pair [`MESSAGE_ID_METADATA`] (decimal `u64`):
//! the decoder takes it out of the metadata and uses it as the entry's id, so an agent's
//! re-sent line (same file offset) is recognised as a duplicate. Entries without it get
//! [`derive_message_id`].

use std::collections::BTreeMap;

use prost::Message;
use serde::Deserialize;

use crate::entry::{derive_message_id, Entry, PushBatch, StreamEntries};
use crate::labels::{LabelSet, LabelsError};
use crate::push_encode::PushEncoder;
use crate::push_proto::PushRequest;
use crate::tenant::TenantId;

/// Largest decompressed push body.
pub const MAX_DECOMPRESSED_BYTES: usize = 256 * 1024 * 1024;

/// What invalid UTF-8 in a push turned into.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct DecodeStats {
    /// Lines or values in which invalid UTF-8 was replaced.
    pub invalid_utf8: u64,
}

/// A push body that cannot be decoded; the message says what is wrong, as Loki words it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct PushDecodeError(pub String);

impl From<String> for PushDecodeError {
    fn from(message: String) -> Self {
        PushDecodeError(message)
    }
}

/// Decompresses a snappy block (the framing of Loki protobuf pushes), refusing bodies that would
/// decompress beyond [`MAX_DECOMPRESSED_BYTES`].
pub fn snappy_block(body: &[u8]) -> Result<Vec<u8>, PushDecodeError> {
    let len = snap::raw::decompress_len(body).map_err(|e| format!("invalid snappy body: {e}"))?;
    if len > MAX_DECOMPRESSED_BYTES {
        return Err(format!("decompressed body exceeds {MAX_DECOMPRESSED_BYTES} bytes").into());
    }
    snap::raw::Decoder::new()
        .decompress_vec(body)
        .map_err(|e| format!("invalid snappy body: {e}").into())
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

fn parse_ts(s: &str) -> Result<i64, PushDecodeError> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("invalid timestamp {s:?}: must be a string of digits (Unix nanoseconds)").into());
    }
    s.parse::<i64>()
        .map_err(|_| format!("invalid timestamp {s:?}: out of range").into())
}

/// The structured-metadata name that carries an entry's message id (decimal `u64`) in a push.
pub const MESSAGE_ID_METADATA: &str = "__logq_msg_id__";

fn new_entry(fp: u64, ts: i64, line: String, mut metadata: Vec<(String, String)>) -> Entry {
    let carried = metadata
        .iter()
        .position(|(k, _)| k == MESSAGE_ID_METADATA)
        .map(|i| metadata.remove(i).1)
        .and_then(|v| v.parse::<u64>().ok());
    Entry {
        ts,
        id: carried.unwrap_or_else(|| derive_message_id(fp, ts, &line)),
        line,
        metadata,
    }
}

/// Encodes a batch as a Loki protobuf push (snappy-compressed), carrying each entry's message
/// id as [`MESSAGE_ID_METADATA`]. The tenant is not part of the body (it travels beside it: the
/// `X-Scope-OrgID` header or a Kafka record header).
pub fn encode_protobuf(batch: &PushBatch) -> Vec<u8> {
    PushEncoder::new().encode_batch(batch).to_vec()
}

/// A stream of a push whose labels cannot name a stream: refused with all its entries, while
/// the request's other streams are still stored (Loki's partial acceptance).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidStream {
    /// Position of the stream in the request.
    pub index: usize,
    /// The labels as sent (Loki's text form).
    pub labels: String,
    /// The timestamps of its entries, in request order.
    pub timestamps: Vec<i64>,
    /// Why the labels were refused.
    pub error: LabelsError,
}

/// A decoded push: the valid streams, where each sat in the request, and the refused ones.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodedPush {
    /// The streams whose labels are valid.
    pub batch: PushBatch,
    /// `positions[i]` is the request index of `batch.streams[i]`.
    pub positions: Vec<usize>,
    /// Streams refused for their labels.
    pub invalid: Vec<InvalidStream>,
}

impl DecodedPush {
    /// The whole push, or the first refused stream's error (callers without partial acceptance).
    pub fn all_or_error(self) -> Result<PushBatch, PushDecodeError> {
        match self.invalid.into_iter().next() {
            Some(bad) => Err(bad.error.to_string().into()),
            None => Ok(self.batch),
        }
    }
}

fn json_labels_text(labels: &BTreeMap<String, String>) -> String {
    let pairs: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
    format!("{{{}}}", pairs.join(", "))
}

/// Decodes a Loki JSON push body; any stream with invalid labels fails the whole body.
pub fn decode_json(tenant: TenantId, body: &[u8]) -> Result<PushBatch, PushDecodeError> {
    decode_json_partial(tenant, body)?.all_or_error()
}

/// Decodes a Loki JSON push body, setting aside streams whose labels are invalid. Errors only
/// for a body that cannot be read at all (syntax, a bad timestamp).
pub fn decode_json_partial(tenant: TenantId, body: &[u8]) -> Result<DecodedPush, PushDecodeError> {
    let push: JsonPush =
        serde_json::from_slice(body).map_err(|e| format!("error parsing push request JSON: {e}"))?;
    let mut out = DecodedPush {
        batch: PushBatch {
            tenant,
            streams: Vec::with_capacity(push.streams.len()),
        },
        positions: Vec::with_capacity(push.streams.len()),
        invalid: Vec::new(),
    };
    for (index, s) in push.streams.into_iter().enumerate() {
        let text = json_labels_text(&s.stream);
        let labels = LabelSet::validated(s.stream);
        let fp = labels.as_ref().map_or(0, LabelSet::fingerprint);
        let mut entries = Vec::with_capacity(s.values.len());
        for JsonEntry(ts, line, meta) in s.values {
            let ts = parse_ts(&ts)?;
            let metadata = meta.map(|m| m.into_iter().collect()).unwrap_or_default();
            entries.push(new_entry(fp, ts, line, metadata));
        }
        out.push_stream(index, text, labels, entries);
    }
    Ok(out)
}

impl DecodedPush {
    fn push_stream(
        &mut self,
        index: usize,
        text: String,
        labels: Result<LabelSet, LabelsError>,
        entries: Vec<Entry>,
    ) {
        match labels {
            Ok(labels) => {
                self.batch.streams.push(StreamEntries { labels, entries });
                self.positions.push(index);
            }
            Err(error) => self.invalid.push(InvalidStream {
                index,
                labels: text,
                timestamps: entries.iter().map(|e| e.ts).collect(),
                error,
            }),
        }
    }
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
pub fn decode_protobuf(
    tenant: TenantId,
    body: &[u8],
    stats: &mut DecodeStats,
) -> Result<PushBatch, PushDecodeError> {
    decode_protobuf_partial(tenant, body, stats)?.all_or_error()
}

/// [`decode_protobuf`] setting aside streams whose labels are invalid, as
/// [`decode_json_partial`].
pub fn decode_protobuf_partial(
    tenant: TenantId,
    body: &[u8],
    stats: &mut DecodeStats,
) -> Result<DecodedPush, PushDecodeError> {
    let raw = snappy_block(body)?;
    decode_protobuf_raw_partial(tenant, &raw, stats)
}

/// Decodes an uncompressed protobuf push (a Kafka record value marked
/// `content-encoding: identity`, compressed by the Kafka producer instead).
pub fn decode_protobuf_raw(
    tenant: TenantId,
    raw: &[u8],
    stats: &mut DecodeStats,
) -> Result<PushBatch, PushDecodeError> {
    decode_protobuf_raw_partial(tenant, raw, stats)?.all_or_error()
}

fn decode_protobuf_raw_partial(
    tenant: TenantId,
    raw: &[u8],
    stats: &mut DecodeStats,
) -> Result<DecodedPush, PushDecodeError> {
    if raw.len() > MAX_DECOMPRESSED_BYTES {
        return Err(format!("push body exceeds {MAX_DECOMPRESSED_BYTES} bytes").into());
    }
    let req = PushRequest::decode(raw).map_err(|e| format!("error parsing push request protobuf: {e}"))?;
    let mut out = DecodedPush {
        batch: PushBatch {
            tenant,
            streams: Vec::with_capacity(req.streams.len()),
        },
        positions: Vec::with_capacity(req.streams.len()),
        invalid: Vec::new(),
    };
    for (index, s) in req.streams.into_iter().enumerate() {
        let text = lossy(s.labels, stats);
        let labels = LabelSet::parse(&text);
        let fp = labels.as_ref().map_or(0, LabelSet::fingerprint);
        let mut entries = Vec::with_capacity(s.entries.len());
        for e in s.entries {
            let ts = e
                .timestamp
                .map(|t| {
                    t.seconds
                        .checked_mul(1_000_000_000)
                        .and_then(|s| s.checked_add(i64::from(t.nanos)))
                })
                .ok_or_else(|| format!("entry without timestamp in stream {text}"))?
                .ok_or_else(|| format!("timestamp out of range in stream {text}"))?;
            let metadata = e
                .structured_metadata
                .into_iter()
                .map(|p| (lossy(p.name, stats), lossy(p.value, stats)))
                .collect();
            entries.push(new_entry(fp, ts, lossy(e.line, stats), metadata));
        }
        out.push_stream(index, text, labels, entries);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::push_proto::{EntryAdapter, StreamAdapter, Timestamp};

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
            assert!(err.0.contains(want), "{err} should contain {want}");
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
            .0
            .contains("protobuf"));
    }

    #[test]
    fn protobuf_roundtrip_carries_message_ids() {
        let labels = LabelSet::parse(r#"{app="x",host="h"}"#).unwrap();
        let batch = PushBatch {
            tenant: t(),
            streams: vec![StreamEntries {
                labels,
                entries: vec![
                    Entry {
                        ts: -1_500_000_000,
                        id: 42,
                        line: "before 1970".into(),
                        metadata: vec![],
                    },
                    Entry {
                        ts: 1_700_000_000_123_456_789,
                        id: u64::MAX,
                        line: "é".into(),
                        metadata: vec![("trace_id".into(), "abc".into())],
                    },
                ],
            }],
        };
        let body = encode_protobuf(&batch);
        let mut stats = DecodeStats::default();
        assert_eq!(decode_protobuf(t(), &body, &mut stats).unwrap(), batch);
    }

    #[test]
    fn partial_decoding_sets_invalid_streams_aside_with_their_positions() {
        let body = br#"{"streams":[{"stream":{"1a":"b"},"values":[["1","x"],["2","y"]]},{"stream":{"app":"ok"},"values":[["3","z"]]},{"stream":{},"values":[["4","w"]]}]}"#;
        let d = decode_json_partial(t(), body).unwrap();
        assert_eq!(d.positions, vec![1]);
        assert_eq!(d.batch.streams[0].entries[0].line, "z");
        assert_eq!(d.invalid.len(), 2);
        assert_eq!(d.invalid[0].index, 0);
        assert_eq!(d.invalid[0].labels, r#"{1a="b"}"#);
        assert_eq!(d.invalid[0].timestamps, vec![1, 2]);
        assert_eq!(d.invalid[0].error, LabelsError::InvalidName("1a".into()));
        assert_eq!(d.invalid[1].index, 2);
        assert_eq!(d.invalid[1].error, LabelsError::Empty);
        assert!(decode_json(t(), body).is_err());
    }

    #[test]
    fn a_bad_carried_message_id_falls_back_to_the_derived_one() {
        let body = br#"{"streams":[{"stream":{"app":"x"},"values":[["5","a",{"__logq_msg_id__":"nope"}]]}]}"#;
        let b = decode_json(t(), body).unwrap();
        let e = &b.streams[0].entries[0];
        assert!(e.metadata.is_empty());
        assert_eq!(e.id, derive_message_id(b.streams[0].labels.fingerprint(), 5, "a"));
    }
}
