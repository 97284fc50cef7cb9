//! Encoding pushes into Loki's protobuf wire format (`logproto.PushRequest`) straight into
//! reusable buffers: no intermediate prost messages, no per-entry allocation (the agent and the
//! Kafka distributor encode every line they send, so this is on their hot path).
//!
//! The bytes are exactly what prost produces for the same [`crate::push_proto`] messages
//! (proto3: zero scalars and empty byte strings are omitted, the timestamp message is always
//! present), so [`crate::push::decode_protobuf`] reads them unchanged. Each entry carries its
//! message id as the structured-metadata pair [`MESSAGE_ID_METADATA`] (decimal `u64`), after its
//! own metadata.
//!
//! [`split_records`] cuts a push into Kafka records: one group per value of a partition label,
//! each record at most about `max_bytes` of estimated encoded size.

use std::collections::BTreeMap;

use crate::entry::{Entry, PushBatch};
use crate::labels::LabelSet;
use crate::push::MESSAGE_ID_METADATA;

/// One stream's share of a push: its labels and a run of its entries.
pub type StreamPart<'a> = (&'a LabelSet, &'a [Entry]);

/// Protobuf tag bytes (field number << 3 | wire type); every field used here is below 16.
const LEN: u8 = 2;
const VARINT: u8 = 0;
const fn tag(field: u8, wire: u8) -> u8 {
    (field << 3) | wire
}

fn varint_len(mut v: u64) -> usize {
    let mut n = 1;
    while v >= 0x80 {
        v >>= 7;
        n += 1;
    }
    n
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Size of a length-delimited field (tag, length, payload); proto3 omits empty ones.
fn bytes_field_len(len: usize) -> usize {
    if len == 0 {
        0
    } else {
        1 + varint_len(len as u64) + len
    }
}

fn put_bytes_field(out: &mut Vec<u8>, field: u8, bytes: &[u8]) {
    if !bytes.is_empty() {
        out.push(tag(field, LEN));
        put_varint(out, bytes.len() as u64);
        out.extend_from_slice(bytes);
    }
}

/// Decimal digits of `v`, written at the end of `buf`; returns where they start.
fn decimal(mut v: u64, buf: &mut [u8; 20]) -> usize {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            return i;
        }
    }
}

fn split_ts(ts: i64) -> (i64, i32) {
    (ts.div_euclid(1_000_000_000), ts.rem_euclid(1_000_000_000) as i32)
}

fn timestamp_len(ts: i64) -> usize {
    let (s, n) = split_ts(ts);
    let mut len = 0;
    if s != 0 {
        len += 1 + varint_len(s as u64);
    }
    if n != 0 {
        len += 1 + varint_len(n as u64);
    }
    len
}

fn pair_len(name: usize, value: usize) -> usize {
    bytes_field_len(name) + bytes_field_len(value)
}

fn entry_len(e: &Entry, id_digits: usize) -> usize {
    let ts = timestamp_len(e.ts);
    let mut len = 1 + varint_len(ts as u64) + ts + bytes_field_len(e.line.len());
    for (k, v) in &e.metadata {
        let p = pair_len(k.len(), v.len());
        len += 1 + varint_len(p as u64) + p;
    }
    let p = pair_len(MESSAGE_ID_METADATA.len(), id_digits);
    len + 1 + varint_len(p as u64) + p
}

/// Reusable buffers for encoding pushes; see the module docs for the format.
pub struct PushEncoder {
    raw: Vec<u8>,
    compressed: Vec<u8>,
    snappy: snap::raw::Encoder,
    entry_lens: Vec<usize>,
    labels: String,
}

impl Default for PushEncoder {
    fn default() -> Self {
        PushEncoder::new()
    }
}

impl std::fmt::Debug for PushEncoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PushEncoder")
            .field("raw_capacity", &self.raw.capacity())
            .field("compressed_capacity", &self.compressed.capacity())
            .finish()
    }
}

impl PushEncoder {
    /// An encoder with empty buffers (they grow to the largest push encoded).
    pub fn new() -> PushEncoder {
        PushEncoder {
            raw: Vec::new(),
            compressed: Vec::new(),
            snappy: snap::raw::Encoder::new(),
            entry_lens: Vec::new(),
            labels: String::new(),
        }
    }

    /// Encodes `parts` as one `PushRequest`, uncompressed. The bytes stay valid until the next
    /// call.
    pub fn encode_raw(&mut self, parts: &[StreamPart<'_>]) -> &[u8] {
        use std::fmt::Write;
        self.raw.clear();
        let mut digits = [0u8; 20];
        for (labels, entries) in parts {
            self.labels.clear();
            let _ = write!(self.labels, "{labels}");
            self.entry_lens.clear();
            let mut stream_len = bytes_field_len(self.labels.len());
            for e in entries.iter() {
                let id_digits = 20 - decimal(e.id, &mut digits);
                let len = entry_len(e, id_digits);
                self.entry_lens.push(len);
                stream_len += 1 + varint_len(len as u64) + len;
            }
            self.raw.reserve(stream_len + 8);
            self.raw.push(tag(1, LEN));
            put_varint(&mut self.raw, stream_len as u64);
            put_bytes_field(&mut self.raw, 1, self.labels.as_bytes());
            for (e, len) in entries.iter().zip(&self.entry_lens) {
                let out = &mut self.raw;
                out.push(tag(2, LEN));
                put_varint(out, *len as u64);
                let (s, n) = split_ts(e.ts);
                out.push(tag(1, LEN));
                put_varint(out, timestamp_len(e.ts) as u64);
                if s != 0 {
                    out.push(tag(1, VARINT));
                    put_varint(out, s as u64);
                }
                if n != 0 {
                    out.push(tag(2, VARINT));
                    put_varint(out, n as u64);
                }
                put_bytes_field(out, 2, e.line.as_bytes());
                for (k, v) in &e.metadata {
                    put_pair(out, k.as_bytes(), v.as_bytes());
                }
                let from = decimal(e.id, &mut digits);
                put_pair(out, MESSAGE_ID_METADATA.as_bytes(), &digits[from..]);
            }
        }
        &self.raw
    }

    /// Encodes `parts` as one snappy-compressed `PushRequest` (the body of a Loki protobuf
    /// push and the value of logq's Kafka records). The bytes stay valid until the next call.
    pub fn encode(&mut self, parts: &[StreamPart<'_>]) -> &[u8] {
        self.encode_raw(parts);
        let max = snap::raw::max_compress_len(self.raw.len());
        if self.compressed.len() < max {
            self.compressed.resize(max, 0);
        }
        // Cannot fail: the input is below snappy's limit (4 GiB) and the output is large enough.
        let n = self.snappy.compress(&self.raw, &mut self.compressed).unwrap_or(0);
        &self.compressed[..n]
    }

    /// Encodes a whole batch, snappy-compressed.
    pub fn encode_batch(&mut self, batch: &PushBatch) -> &[u8] {
        let parts: Vec<StreamPart<'_>> = batch
            .streams
            .iter()
            .map(|s| (&s.labels, s.entries.as_slice()))
            .collect();
        self.encode(&parts)
    }

    /// Drops buffers grown beyond `bytes`, so one unusually large push does not pin memory.
    pub fn shrink_to(&mut self, bytes: usize) {
        if self.raw.capacity() > bytes {
            self.raw = Vec::new();
        }
        if self.compressed.capacity() > bytes {
            self.compressed = Vec::new();
        }
    }
}

fn put_pair(out: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    out.push(tag(3, LEN));
    put_varint(out, pair_len(name.len(), value.len()) as u64);
    put_bytes_field(out, 1, name);
    put_bytes_field(out, 2, value);
}

/// Estimated encoded bytes of an entry beyond its line and metadata: timestamp, message id
/// pair, framing. Not the memory an entry takes in the ingester's head (`footprint` there).
const ENCODED_ENTRY_OVERHEAD: usize = 64;

/// Estimated encoded size of an entry (cheap: no encoding).
pub fn entry_cost(e: &Entry) -> usize {
    e.line.len()
        + e.metadata
            .iter()
            .map(|(k, v)| k.len() + v.len() + 8)
            .sum::<usize>()
        + ENCODED_ENTRY_OVERHEAD
}

/// One Kafka record of a push: its key and the runs of entries it holds.
#[derive(Debug, Clone)]
pub struct RecordParts<'a> {
    /// The value of the partition label (empty when the streams lack it).
    pub key: &'a str,
    /// The stream runs, in push order within the key.
    pub parts: Vec<StreamPart<'a>>,
}

/// Splits a push into records: grouped by the value of `key_label` (in key order), each record
/// at most `max_bytes` of [`entry_cost`] (one larger entry still makes a record of its own).
/// Every entry is in exactly one record, and no record holds an empty run.
pub fn split_records<'a>(batch: &'a PushBatch, key_label: &str, max_bytes: usize) -> Vec<RecordParts<'a>> {
    let mut by_key: BTreeMap<&'a str, Vec<&'a crate::entry::StreamEntries>> = BTreeMap::new();
    for s in &batch.streams {
        by_key
            .entry(s.labels.get(key_label).unwrap_or_default())
            .or_default()
            .push(s);
    }
    let mut out = Vec::new();
    for (key, streams) in by_key {
        let mut current: Vec<StreamPart<'a>> = Vec::new();
        let mut bytes = 0;
        for s in streams {
            let mut from = 0;
            for (i, e) in s.entries.iter().enumerate() {
                let cost = entry_cost(e);
                if bytes + cost > max_bytes && bytes > 0 {
                    if i > from {
                        current.push((&s.labels, &s.entries[from..i]));
                        from = i;
                    }
                    out.push(RecordParts {
                        key,
                        parts: std::mem::take(&mut current),
                    });
                    bytes = 0;
                }
                bytes += cost;
            }
            if s.entries.len() > from {
                current.push((&s.labels, &s.entries[from..]));
            }
        }
        if !current.is_empty() {
            out.push(RecordParts { key, parts: current });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entry::StreamEntries;
    use crate::push_proto::{EntryAdapter, LabelPairAdapter, PushRequest, StreamAdapter, Timestamp};
    use crate::tenant::TenantId;
    use prost::Message;

    /// What prost produces for the same batch: the reference encoding.
    fn prost_encoding(batch: &PushBatch) -> Vec<u8> {
        PushRequest {
            streams: batch
                .streams
                .iter()
                .map(|s| StreamAdapter {
                    labels: s.labels.to_string().into_bytes(),
                    entries: s
                        .entries
                        .iter()
                        .map(|e| EntryAdapter {
                            timestamp: Some(Timestamp {
                                seconds: e.ts.div_euclid(1_000_000_000),
                                nanos: e.ts.rem_euclid(1_000_000_000) as i32,
                            }),
                            line: e.line.as_bytes().to_vec(),
                            structured_metadata: e
                                .metadata
                                .iter()
                                .map(|(k, v)| (k.as_str(), v.clone()))
                                .chain([(MESSAGE_ID_METADATA, e.id.to_string())])
                                .map(|(k, v)| LabelPairAdapter {
                                    name: k.as_bytes().to_vec(),
                                    value: v.into_bytes(),
                                })
                                .collect(),
                            parsed: vec![],
                        })
                        .collect(),
                    hash: 0,
                })
                .collect(),
            format: String::new(),
        }
        .encode_to_vec()
    }

    fn entry(ts: i64, id: u64, line: &str, metadata: &[(&str, &str)]) -> Entry {
        Entry {
            ts,
            id,
            line: line.into(),
            metadata: metadata
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    #[test]
    fn same_bytes_as_prost_including_edge_values() {
        let long = "x".repeat(300);
        let batch = PushBatch {
            tenant: TenantId::new("t").unwrap(),
            streams: vec![
                StreamEntries {
                    labels: LabelSet::parse(r#"{host="a", service="q\"uote"}"#).unwrap(),
                    entries: vec![
                        entry(1_700_000_000_123_456_789, 42, "hello", &[]),
                        entry(0, 0, "", &[]),
                        entry(-1, u64::MAX, &long, &[("trace_id", "abc"), ("empty", "")]),
                        entry(5_000_000_000, 7, "whole second", &[("", "v")]),
                        entry(i64::MIN / 2, 1, "old", &[]),
                    ],
                },
                StreamEntries {
                    labels: LabelSet::from_pairs(Vec::new()),
                    entries: vec![],
                },
            ],
        };
        let mut enc = PushEncoder::new();
        assert_eq!(
            enc.encode_raw(&[]),
            prost_encoding(&PushBatch {
                tenant: batch.tenant.clone(),
                streams: vec![]
            })
        );
        let parts: Vec<StreamPart<'_>> = batch
            .streams
            .iter()
            .map(|s| (&s.labels, s.entries.as_slice()))
            .collect();
        assert_eq!(enc.encode_raw(&parts), prost_encoding(&batch));
        // Reused buffers: a second, smaller push is encoded alone.
        assert_eq!(
            enc.encode_raw(&parts[1..]),
            prost_encoding(&PushBatch {
                tenant: batch.tenant.clone(),
                streams: batch.streams[1..].to_vec()
            })
        );
        // The decoder refuses a stream without labels: decode the first one only.
        let first = PushBatch {
            tenant: batch.tenant.clone(),
            streams: batch.streams[..1].to_vec(),
        };
        let body = enc.encode_batch(&first).to_vec();
        let mut stats = crate::push::DecodeStats::default();
        let back = crate::push::decode_protobuf(batch.tenant.clone(), &body, &mut stats).unwrap();
        assert_eq!(back.streams[0].entries, batch.streams[0].entries[..].to_vec());
        assert_eq!(body, crate::push::encode_protobuf(&first));
    }

    #[test]
    fn records_split_by_key_and_size_hold_every_entry_once() {
        let stream = |labels: &str, sizes: &[usize]| StreamEntries {
            labels: LabelSet::parse(labels).unwrap(),
            entries: sizes
                .iter()
                .enumerate()
                .map(|(i, n)| entry(i as i64, i as u64, &"x".repeat(*n), &[]))
                .collect(),
        };
        let max = 1000;
        let batch = PushBatch {
            tenant: TenantId::new("t").unwrap(),
            streams: vec![
                stream(r#"{host="a",s="1"}"#, &[400, 400, 400, 2000, 10]),
                stream(r#"{host="b"}"#, &[10, 20]),
                stream(r#"{host="a",s="2"}"#, &[5]),
                stream(r#"{app="nohost"}"#, &[7]),
            ],
        };
        let records = split_records(&batch, "host", max);
        let keys: Vec<&str> = records.iter().map(|r| r.key).collect();
        assert_eq!(keys, ["", "a", "a", "a", "a", "b"]);
        let mut seen = 0;
        for r in &records {
            let cost: usize = r.parts.iter().flat_map(|(_, e)| e.iter()).map(entry_cost).sum();
            let n: usize = r.parts.iter().map(|(_, e)| e.len()).sum();
            assert!(cost <= max || n == 1, "{cost}");
            assert!(r.parts.iter().all(|(_, e)| !e.is_empty()));
            seen += n;
        }
        assert_eq!(seen, batch.entry_count());
    }
}
