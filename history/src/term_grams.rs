//! [`TermGrams`]: a trigram filter over one segment's term dictionary, so that a needle word
//! that may sit inside a longer word (a trace id, `GET`) visits only the dictionary terms that
//! can contain it instead of the whole dictionary.
//!
//! The dictionary's terms, in ordinal order, are cut into blocks of [`BLOCK_TERMS`]; each
//! block gets a [`BLOCK_BITS`]-bit set holding one hashed bit per trigram of each of its
//! terms. Invariant (never a false negative): if a term contains a string `s` of 3 bytes or
//! more, every trigram of `s` is a trigram of the term, so the block's set has all of their
//! bits, and [`TermGrams::blocks_for`] yields the block. Strings shorter than 3 bytes have no
//! trigram and yield every block. Built once per segment from the dictionary (8 bytes per
//! term) when the first such needle arrives.

use std::io;

use tantivy::termdict::{TermDictionary, TermOrdinal};

/// Terms per block.
pub const BLOCK_TERMS: u64 = 16;
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
    }
}
