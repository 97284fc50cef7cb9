//! [`TermGrams`]: a trigram filter over one segment's term dictionary, so that a needle word
//! that may sit inside a longer word (a trace id, `GET`) visits only the dictionary terms that
//! can contain it instead of the whole dictionary.
//!
//! The dictionary's terms, in ordinal order, are cut into blocks of [`BLOCK_TERMS`]; each
//! block gets a [`BLOCK_BITS`]-bit set holding one hashed bit per trigram of each of its
//! terms. Invariant (never a false negative): if a term contains a string `s` of 3 bytes or
//! more, every trigram of `s` is a trigram of the term, so the block's set has all of their
//! bits, and [`TermGrams::blocks_for`] yields the block. Strings shorter than 3 bytes have no
//! trigram and yield every block.
//!
//! Built once per segment when the index is built and stored beside the segment as
//! `<segment uuid>.grams` (8 bytes per term: the term count, then each block's set, all
//! little-endian `u64`s), covered by the meta's checksums like every other file; an index
//! without the file (built by an older version) builds the filter on its first such needle.

use std::io;
use std::path::{Path, PathBuf};

use tantivy::index::SegmentId;

use tantivy::termdict::{TermDictionary, TermOrdinal};

/// Terms per block.
pub const BLOCK_TERMS: u64 = 32;
/// Bits in each block's trigram set.
const BLOCK_BITS: u32 = 1024;
const WORDS: usize = (BLOCK_BITS / 64) as usize;

/// The per-block trigram sets of one segment's dictionary.
#[derive(Debug, Default)]
pub struct TermGrams {
    blocks: Vec<[u64; WORDS]>,
    num_terms: u64,
}

/// The bit of one trigram in a block set.
#[inline]
fn bit(g: &[u8]) -> u32 {
    let v = u32::from(g[0]) | (u32::from(g[1]) << 8) | (u32::from(g[2]) << 16);
    v.wrapping_mul(0x9E37_79B1) >> (32 - BLOCK_BITS.trailing_zeros())
}

impl TermGrams {
    /// Reads every term of `terms` once and builds the block sets.
    pub fn build(terms: &TermDictionary) -> io::Result<TermGrams> {
        let num_terms = terms.num_terms() as u64;
        let mut blocks = vec![[0u64; WORDS]; num_terms.div_ceil(BLOCK_TERMS) as usize];
        let mut stream = terms.stream()?;
        while stream.advance() {
            let block = &mut blocks[(stream.term_ord() / BLOCK_TERMS) as usize];
            for g in stream.key().windows(3) {
                let b = bit(g);
                block[(b / 64) as usize] |= 1 << (b % 64);
            }
        }
        Ok(TermGrams { blocks, num_terms })
    }

    /// The file holding the filter of segment `id` in index directory `dir`.
    pub fn path(dir: &Path, id: SegmentId) -> PathBuf {
        dir.join(format!("{}.grams", id.uuid_string()))
    }

    /// The stored form (see the module doc).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(8 + self.blocks.len() * WORDS * 8);
        out.extend_from_slice(&self.num_terms.to_le_bytes());
        for set in &self.blocks {
            for w in set {
                out.extend_from_slice(&w.to_le_bytes());
            }
        }
        out
    }

    /// Parses the stored form of the filter of a dictionary of `num_terms` terms; `None` when
    /// the bytes do not describe exactly that.
    pub fn from_bytes(bytes: &[u8], num_terms: u64) -> Option<TermGrams> {
        let (head, rest) = bytes.split_at_checked(8)?;
        if u64::from_le_bytes(head.try_into().ok()?) != num_terms {
            return None;
        }
        let blocks = num_terms.div_ceil(BLOCK_TERMS) as usize;
        if rest.len() != blocks.checked_mul(WORDS * 8)? {
            return None;
        }
        let blocks = rest
            .chunks_exact(WORDS * 8)
            .map(|b| {
                let mut set = [0u64; WORDS];
                for (w, c) in set.iter_mut().zip(b.chunks_exact(8)) {
                    *w = u64::from_le_bytes(c.try_into().unwrap_or_default());
                }
                set
            })
            .collect();
        Some(TermGrams { blocks, num_terms })
    }

    /// The ordinal ranges of the blocks that may hold a term containing `needle`, ascending.
    pub fn blocks_for<'a>(
        &'a self,
        needle: &[u8],
    ) -> impl Iterator<Item = std::ops::Range<TermOrdinal>> + 'a {
        let bits: Vec<u32> = needle.windows(3).map(bit).collect();
        let num_terms = self.num_terms;
        self.blocks
            .iter()
            .enumerate()
            .filter(move |(_, set)| bits.iter().all(|b| set[(b / 64) as usize] & (1 << (b % 64)) != 0))
            .map(move |(i, _)| {
                let start = i as u64 * BLOCK_TERMS;
                start..(start + BLOCK_TERMS).min(num_terms)
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grams_of(terms: &[&str]) -> TermGrams {
        let mut blocks = vec![[0u64; WORDS]; (terms.len() as u64).div_ceil(BLOCK_TERMS) as usize];
        for (ord, t) in terms.iter().enumerate() {
            for g in t.as_bytes().windows(3) {
                let b = bit(g);
                blocks[ord / BLOCK_TERMS as usize][(b / 64) as usize] |= 1 << (b % 64);
            }
        }
        TermGrams {
            blocks,
            num_terms: terms.len() as u64,
        }
    }

    #[test]
    fn every_block_holding_the_needle_is_yielded_and_most_others_are_not() {
        let terms: Vec<String> = (0..1000).map(|i| format!("w{i:04}x")).collect();
        let mut refs: Vec<&str> = terms.iter().map(String::as_str).collect();
        refs[517] = "aaGETbb";
        let g = grams_of(&refs);
        let hit: Vec<_> = g.blocks_for(b"GET").collect();
        assert!(hit.iter().any(|r| r.contains(&517)));
        assert!(hit.len() < 10, "{} blocks", hit.len());
        // Short needles have no trigram: every block.
        assert_eq!(g.blocks_for(b"GE").count(), g.blocks.len());
        // The last block is cut at the number of terms.
        assert_eq!(g.blocks_for(b"").last(), Some(992..1000));
        // The stored form round-trips, and is refused for another term count or a cut file.
        let bytes = g.to_bytes();
        let back = TermGrams::from_bytes(&bytes, 1000).unwrap();
        assert_eq!(back.blocks, g.blocks);
        assert!(TermGrams::from_bytes(&bytes, 999).is_none());
        assert!(TermGrams::from_bytes(&bytes[..bytes.len() - 1], 1000).is_none());
        assert!(TermGrams::from_bytes(&[], 0).is_none());
    }
}
