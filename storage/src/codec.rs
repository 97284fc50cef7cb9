//! Compact binary encoding of entries and push batches, shared by the chunk format and the
//! write-ahead log. Varints (LEB128), zigzag-delta timestamps, length-prefixed strings.
//!
//! Decoding never panics: truncated or corrupt input is a [`CodecError`].

use crate::entry::{Entry, PushBatch, StreamEntries};
use crate::labels::LabelSet;
use crate::tenant::TenantId;

/// Bytes that do not decode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("corrupt encoded data: {0}")]
pub struct CodecError(pub &'static str);

/// Appends an unsigned LEB128 varint.
pub fn put_uvarint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    put_uvarint(out, s.len() as u64);
    out.extend_from_slice(s.as_bytes());
}

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

/// A cursor over encoded bytes.
pub struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    /// Reads from `buf`.
    pub fn new(buf: &'a [u8]) -> Self {
        Reader { buf }
    }

    /// Whether all bytes were consumed.
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// Reads an unsigned varint.
    pub fn uvarint(&mut self) -> Result<u64, CodecError> {
        let mut v = 0u64;
        for (i, &b) in self.buf.iter().enumerate().take(10) {
            v |= u64::from(b & 0x7f) << (7 * i);
            if b < 0x80 {
                self.buf = &self.buf[i + 1..];
                return Ok(v);
            }
        }
        Err(CodecError("bad varint"))
    }

    fn bytes(&mut self, n: usize) -> Result<&'a [u8], CodecError> {
        if n > self.buf.len() {
            return Err(CodecError("truncated"));
        }
        let (a, b) = self.buf.split_at(n);
        self.buf = b;
        Ok(a)
    }

    fn u64_le(&mut self) -> Result<u64, CodecError> {
        let b = self.bytes(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }

    fn string(&mut self) -> Result<String, CodecError> {
        let n = self.uvarint()?;
        let n = usize::try_from(n).map_err(|_| CodecError("length overflow"))?;
        let b = self.bytes(n)?;
        String::from_utf8(b.to_vec()).map_err(|_| CodecError("invalid utf-8"))
    }

    fn count(&mut self) -> Result<usize, CodecError> {
        let n = self.uvarint()?;
        // Every counted item takes at least one byte: a larger count is corrupt, and checking it
        // keeps a corrupt count from allocating gigabytes.
        if n > self.buf.len() as u64 {
            return Err(CodecError("count larger than data"));
        }
        Ok(n as usize)
    }
}

/// Encodes entries (timestamps delta-encoded against the previous entry).
pub fn encode_entries(out: &mut Vec<u8>, entries: &[Entry]) {
    put_uvarint(out, entries.len() as u64);
    let mut prev = 0i64;
    for e in entries {
        put_uvarint(out, zigzag(e.ts.wrapping_sub(prev)));
        prev = e.ts;
        out.extend_from_slice(&e.id.to_le_bytes());
        put_str(out, &e.line);
        put_uvarint(out, e.metadata.len() as u64);
        for (k, v) in &e.metadata {
            put_str(out, k);
            put_str(out, v);
        }
    }
}

/// Decodes what [`encode_entries`] wrote.
pub fn decode_entries(r: &mut Reader<'_>) -> Result<Vec<Entry>, CodecError> {
    let n = r.count()?;
    let mut out = Vec::with_capacity(n);
    let mut prev = 0i64;
    for _ in 0..n {
        let ts = prev.wrapping_add(unzigzag(r.uvarint()?));
        prev = ts;
        let id = r.u64_le()?;
        let line = r.string()?;
        let m = r.count()?;
        let mut metadata = Vec::with_capacity(m);
        for _ in 0..m {
            metadata.push((r.string()?, r.string()?));
        }
        out.push(Entry {
            ts,
            id,
            line,
            metadata,
        });
    }
    Ok(out)
}

/// Encodes a push batch (tenant, then each stream's labels and entries).
pub fn encode_batch(batch: &PushBatch) -> Vec<u8> {
    let mut out = Vec::with_capacity(64 + batch.line_bytes() + batch.entry_count() * 16);
    put_str(&mut out, batch.tenant.as_str());
    put_uvarint(&mut out, batch.streams.len() as u64);
    for s in &batch.streams {
        put_uvarint(&mut out, s.labels.len() as u64);
        for (k, v) in s.labels.pairs() {
            put_str(&mut out, k);
            put_str(&mut out, v);
        }
        encode_entries(&mut out, &s.entries);
    }
    out
}

/// Decodes what [`encode_batch`] wrote.
pub fn decode_batch(buf: &[u8]) -> Result<PushBatch, CodecError> {
    let mut r = Reader::new(buf);
    let tenant = TenantId::new(r.string()?).map_err(|_| CodecError("invalid tenant"))?;
    let n = r.count()?;
    let mut streams = Vec::with_capacity(n);
    for _ in 0..n {
        let l = r.count()?;
        let mut pairs = Vec::with_capacity(l);
        for _ in 0..l {
            pairs.push((r.string()?, r.string()?));
        }
        let labels = LabelSet::validated(pairs).map_err(|_| CodecError("invalid labels"))?;
        let entries = decode_entries(&mut r)?;
        streams.push(StreamEntries { labels, entries });
    }
    if !r.is_empty() {
        return Err(CodecError("trailing bytes"));
    }
    Ok(PushBatch { tenant, streams })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch() -> PushBatch {
        PushBatch {
            tenant: TenantId::new("t1").unwrap(),
            streams: vec![StreamEntries {
                labels: LabelSet::parse(r#"{app="x", host="h"}"#).unwrap(),
                entries: vec![
                    Entry {
                        ts: 1_700_000_000_000_000_000,
                        id: 7,
                        line: "hello é".into(),
                        metadata: vec![("trace_id".into(), "abc".into())],
                    },
                    Entry {
                        ts: 1_699_999_999_000_000_000,
                        id: 8,
                        line: String::new(),
                        metadata: vec![],
                    },
                ],
            }],
        }
    }

    #[test]
    fn batch_round_trips() {
        let b = batch();
        assert_eq!(decode_batch(&encode_batch(&b)).unwrap(), b);
    }

    #[test]
    fn every_truncation_is_an_error_not_a_panic() {
        let enc = encode_batch(&batch());
        for n in 0..enc.len() {
            assert!(decode_batch(&enc[..n]).is_err(), "prefix {n} decoded");
        }
        let mut flipped = enc.clone();
        for i in 0..flipped.len() {
            flipped[i] ^= 0xff;
            let _ = decode_batch(&flipped);
            flipped[i] ^= 0xff;
        }
    }
}
