//! The flushed chunk format: what the ingester writes per tenant and 5-minute window.
//!
//! ```text
//! "LOGQCHK1"                                   magic, format version 1
//! stream block*                                zstd(encode_entries(entries of one stream))
//! footer                                       JSON ChunkFooter
//! footer_len: u32 LE, footer_crc32: u32 LE, "LOGQCHK1"
//! ```
//! Invariants: within a block entries are sorted by timestamp; every block's crc32 (of its
//! compressed bytes) is in the footer; a reader needs only the trailer, the footer and the blocks
//! of the streams it wants (ranged reads).

use serde::{Deserialize, Serialize};

use crate::codec::{decode_entries, encode_entries, Reader};
use crate::entry::Entry;
use crate::error::{Result, StorageError};
use crate::labels::LabelSet;
use crate::store::Store;

const MAGIC: &[u8; 8] = b"LOGQCHK1";
const TRAILER_LEN: u64 = 16;

/// Where one stream's block lies in a chunk, and what it holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChunkStream {
    /// The stream's labels.
    pub labels: LabelSet,
    /// `labels.fingerprint()`.
    pub fingerprint: u64,
    /// Byte offset of the compressed block.
    pub offset: u64,
    /// Length of the compressed block.
    pub len: u64,
    /// crc32 of the compressed block.
    pub crc32: u32,
    /// Earliest timestamp.
    pub min_ts: i64,
    /// Latest timestamp.
    pub max_ts: i64,
    /// Number of entries.
    pub entries: u64,
    /// Bytes of line text.
    pub bytes: u64,
}

/// A chunk's footer: the streams it holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChunkFooter {
    /// Format version (1).
    pub version: u32,
    /// Start of the 5-minute window.
    pub window_start: i64,
    /// The streams, in fingerprint order.
    pub streams: Vec<ChunkStream>,
}

/// Encodes a chunk. Each stream's entries must already be sorted by timestamp.
pub fn encode_chunk(window_start: i64, streams: &[(LabelSet, Vec<Entry>)]) -> Result<(Vec<u8>, ChunkFooter)> {
    let mut out = MAGIC.to_vec();
    let mut metas = Vec::with_capacity(streams.len());
    let mut raw = Vec::new();
    for (labels, entries) in streams {
        if entries.is_empty() {
            continue;
        }
        raw.clear();
        encode_entries(&mut raw, entries);
        let block = zstd::bulk::compress(&raw, 3)
            .map_err(|e| StorageError::new(crate::StorageErrorKind::Io, "compressing chunk block", e))?;
        metas.push(ChunkStream {
            labels: labels.clone(),
            fingerprint: labels.fingerprint(),
            offset: out.len() as u64,
            len: block.len() as u64,
            crc32: crc32fast::hash(&block),
            min_ts: entries.iter().map(|e| e.ts).min().unwrap_or(0),
            max_ts: entries.iter().map(|e| e.ts).max().unwrap_or(0),
            entries: entries.len() as u64,
            bytes: entries.iter().map(|e| e.line.len() as u64).sum(),
        });
        out.extend_from_slice(&block);
    }
    metas.sort_by_key(|m| m.fingerprint);
    let footer = ChunkFooter {
        version: 1,
        window_start,
        streams: metas,
    };
    let fbytes =
        serde_json::to_vec(&footer).map_err(|e| StorageError::corrupt("encoding chunk footer", e))?;
    out.extend_from_slice(&fbytes);
    out.extend_from_slice(&(fbytes.len() as u32).to_le_bytes());
    out.extend_from_slice(&crc32fast::hash(&fbytes).to_le_bytes());
    out.extend_from_slice(MAGIC);
    Ok((out, footer))
}

/// Reads a chunk's footer with two ranged reads (trailer, then footer).
pub async fn read_chunk_footer(store: &Store, key: &str, size: u64) -> Result<ChunkFooter> {
    if size < TRAILER_LEN + MAGIC.len() as u64 {
        return Err(StorageError::corrupt(format!("reading chunk {key}"), "too small"));
    }
    let trailer = store.get_range(key, size - TRAILER_LEN..size).await?;
    let (flen, fcrc) = parse_trailer(key, &trailer)?;
    if flen + TRAILER_LEN + MAGIC.len() as u64 > size {
        return Err(StorageError::corrupt(
            format!("reading chunk {key}"),
            "footer length out of range",
        ));
    }
    let start = size - TRAILER_LEN - flen;
    let fbytes = store.get_range(key, start..size - TRAILER_LEN).await?;
    decode_footer(key, &fbytes, fcrc)
}

fn parse_trailer(key: &str, t: &[u8]) -> Result<(u64, u32)> {
    if t.len() != TRAILER_LEN as usize || &t[8..16] != MAGIC {
        return Err(StorageError::corrupt(format!("reading chunk {key}"), "bad magic"));
    }
    let flen = u32::from_le_bytes([t[0], t[1], t[2], t[3]]) as u64;
    let fcrc = u32::from_le_bytes([t[4], t[5], t[6], t[7]]);
    Ok((flen, fcrc))
}

fn decode_footer(key: &str, fbytes: &[u8], crc: u32) -> Result<ChunkFooter> {
    if crc32fast::hash(fbytes) != crc {
        return Err(StorageError::corrupt(
            format!("reading chunk {key}"),
            "footer checksum mismatch",
        ));
    }
    let f: ChunkFooter = serde_json::from_slice(fbytes)
        .map_err(|e| StorageError::corrupt(format!("reading chunk {key} footer"), e))?;
    if f.version != 1 {
        return Err(StorageError::corrupt(
            format!("reading chunk {key}"),
            format!("unsupported version {}", f.version),
        ));
    }
    Ok(f)
}

/// Decodes one stream's block, checking its checksum.
pub fn decode_chunk_block(key: &str, meta: &ChunkStream, block: &[u8]) -> Result<Vec<Entry>> {
    if crc32fast::hash(block) != meta.crc32 {
        return Err(StorageError::corrupt(
            format!("reading chunk {key} stream {}", meta.labels),
            "block checksum mismatch",
        ));
    }
    // The footer tells how many entries there are; bound the decompressed size generously.
    let cap = (meta.bytes as usize)
        .saturating_add(meta.entries as usize * 256)
        .saturating_add(1024);
    let raw = zstd::bulk::decompress(block, cap)
        .map_err(|e| StorageError::corrupt(format!("decompressing chunk {key}"), e))?;
    Ok(decode_entries(&mut Reader::new(&raw))?)
}

/// Reads the blocks of the streams `want` selects, one ranged read per stream.
pub async fn read_chunk_streams(
    store: &Store,
    key: &str,
    footer: &ChunkFooter,
    want: impl Fn(&ChunkStream) -> bool,
) -> Result<Vec<(ChunkStream, Vec<Entry>)>> {
    let mut out = Vec::new();
    for meta in footer.streams.iter().filter(|m| want(m)) {
        let block = store.get_range(key, meta.offset..meta.offset + meta.len).await?;
        let entries = decode_chunk_block(key, meta, &block)?;
        out.push((meta.clone(), entries));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn entries(n: i64, tag: &str) -> Vec<Entry> {
        (0..n)
            .map(|i| Entry {
                ts: 1_000 + i,
                id: i as u64,
                line: format!("{tag} line {i}"),
                metadata: vec![],
            })
            .collect()
    }

    #[tokio::test]
    async fn chunk_round_trips_through_ranged_reads() {
        let a = LabelSet::parse(r#"{app="a"}"#).unwrap();
        let b = LabelSet::parse(r#"{app="b"}"#).unwrap();
        let (bytes, footer) =
            encode_chunk(0, &[(a.clone(), entries(100, "a")), (b.clone(), entries(3, "b"))]).unwrap();
        let store = Store::in_memory();
        let size = bytes.len() as u64;
        store.put("c", Bytes::from(bytes)).await.unwrap();
        let read = read_chunk_footer(&store, "c", size).await.unwrap();
        assert_eq!(read, footer);
        let got = read_chunk_streams(&store, "c", &read, |m| m.labels == b)
            .await
            .unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].1, entries(3, "b"));
        assert_eq!(got[0].0.min_ts, 1_000);
        assert_eq!(got[0].0.max_ts, 1_002);
    }

    #[tokio::test]
    async fn corruption_is_detected() {
        let a = LabelSet::parse(r#"{app="a"}"#).unwrap();
        let (mut bytes, footer) = encode_chunk(0, &[(a, entries(10, "a"))]).unwrap();
        bytes[10] ^= 0x55;
        let meta = &footer.streams[0];
        let block = &bytes[meta.offset as usize..(meta.offset + meta.len) as usize];
        assert_eq!(
            decode_chunk_block("k", meta, block).unwrap_err().kind,
            crate::StorageErrorKind::Corrupt
        );
        let store = Store::in_memory();
        store.put("short", Bytes::from_static(b"LOGQCHK1")).await.unwrap();
        assert!(read_chunk_footer(&store, "short", 8).await.is_err());
    }
}
