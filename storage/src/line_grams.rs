//! The line trigram filter of a block (optional; block format 2 readers that predate it ignore
//! it): for each granule of consecutive rows, a bitmap with one bit set per distinct hashed
//! trigram (three consecutive bytes) of its lines. A query whose kept lines all contain a
//! literal (see [`crate::RowFilter::required`]) skips every granule whose bitmap lacks a bit of
//! one of the literal's trigrams: their pages are neither fetched nor decompressed.
//!
//! Invariant: exact. A line containing the literal contains each of its trigrams, so a granule
//! holding such a line has all their bits set and is read; skipping only drops rows the line
//! predicate would have rejected. Literals shorter than three bytes skip nothing.
//!
//! Storage: the zstd-compressed bitmaps (granule after granule, `bits / 64` little-endian u64
//! words each) are written after the last row group, where Parquet readers never look; the
//! footer's key-value metadata entry [`KEY`] locates them: `"1 <offset> <len> <granule_rows>
//! <bits> <granules>"` (the leading 1 is this filter's own version).

use std::ops::Range;

use crate::error::{Result, StorageError};

/// Key-value metadata key locating the filter in a block's footer.
pub const KEY: &str = "logq.line_grams";
/// Rows per granule: about one data page of an hour block (the unit a skip saves).
pub const GRANULE_ROWS: usize = 4096;
/// Bits per granule bitmap (a power of two). Sized so that a granule of typical log lines
/// sets well under half of them (see BENCHMARKS.md).
pub const GRANULE_BITS: usize = 1 << 15;
/// zstd level of the bitmaps.
const ZSTD_LEVEL: i32 = 3;

/// The bit of trigram `(a, b, c)` in a bitmap of `2^shift` bits.
fn gram_bit(a: u8, b: u8, c: u8, shift: u32) -> usize {
    let x = (u32::from(a) << 16) | (u32::from(b) << 8) | u32::from(c);
    (x.wrapping_mul(0x9E37_79B1) >> (32 - shift)) as usize
}

/// Builds a block's filter as its rows are written.
pub struct LineGramsBuilder {
    shift: u32,
    words: Vec<u64>,
    current: Vec<u64>,
    rows: usize,
}

impl Default for LineGramsBuilder {
    fn default() -> Self {
        LineGramsBuilder {
            shift: GRANULE_BITS.trailing_zeros(),
            words: Vec::new(),
            current: vec![0; GRANULE_BITS / 64],
            rows: 0,
        }
    }
}

impl LineGramsBuilder {
    /// Adds the next row's line.
    pub fn push(&mut self, line: &[u8]) {
        for w in line.windows(3) {
            let bit = gram_bit(w[0], w[1], w[2], self.shift);
            self.current[bit / 64] |= 1 << (bit % 64);
        }
        self.rows += 1;
        if self.rows.is_multiple_of(GRANULE_ROWS) {
            self.words.extend_from_slice(&self.current);
            self.current.fill(0);
        }
    }

    /// The encoded bitmaps and the metadata value for a filter stored at `offset`.
    pub fn finish(mut self, offset: usize) -> Result<(Vec<u8>, String)> {
        if !self.rows.is_multiple_of(GRANULE_ROWS) {
            self.words.extend_from_slice(&self.current);
        }
        let granules = self.words.len() / (GRANULE_BITS / 64);
        let raw: Vec<u8> = self.words.iter().flat_map(|w| w.to_le_bytes()).collect();
        let bytes = zstd::bulk::compress(&raw, ZSTD_LEVEL)
            .map_err(|e| StorageError::corrupt("compressing line trigram filter", e))?;
        let value = format!(
            "1 {offset} {} {GRANULE_ROWS} {GRANULE_BITS} {granules}",
            bytes.len()
        );
        Ok((bytes, value))
    }
}

/// Where a block's filter is and how it is laid out (parsed from its metadata value).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LineGramsLocation {
    /// Byte range of the compressed bitmaps in the block.
    pub offset: u64,
    /// Its length.
    pub len: u64,
    granule_rows: usize,
    bits: usize,
    granules: usize,
}

impl LineGramsLocation {
    /// Parses a metadata value; `None` for a version or layout this code does not know (the
    /// block is then read without skipping).
    pub fn parse(value: &str) -> Option<Self> {
        let f: Vec<u64> = value.split(' ').map(|x| x.parse().ok()).collect::<Option<_>>()?;
        let [1, offset, len, granule_rows, bits, granules] = f[..] else {
            return None;
        };
        let bits = usize::try_from(bits).ok()?;
        if granule_rows == 0 || !bits.is_power_of_two() || !(64..=1 << 24).contains(&bits) {
            return None;
        }
        Some(LineGramsLocation {
            offset,
            len,
            granule_rows: usize::try_from(granule_rows).ok()?,
            bits,
            granules: usize::try_from(granules).ok()?,
        })
    }

    /// The byte range to read.
    pub fn range(&self) -> Range<u64> {
        self.offset..self.offset + self.len
    }
}

/// A block's decoded filter.
#[derive(Debug)]
pub struct LineGrams {
    loc: LineGramsLocation,
    words: Vec<u64>,
}

impl LineGrams {
    /// Decodes the bytes at `loc.range()`.
    pub fn decode(loc: LineGramsLocation, bytes: &[u8]) -> Result<Self> {
        let want = loc.granules * loc.bits / 8;
        let raw = zstd::bulk::decompress(bytes, want)
            .map_err(|e| StorageError::corrupt("decompressing line trigram filter", e))?;
        if raw.len() != want {
            return Err(StorageError::corrupt(
                "reading line trigram filter",
                format!("{} bytes, expected {want}", raw.len()),
            ));
        }
        let words = raw
            .chunks_exact(8)
            .map(|c| u64::from_le_bytes(c.try_into().unwrap_or_default()))
            .collect();
        Ok(LineGrams { loc, words })
    }

    /// The rows of `ranges` (ascending, disjoint) that may hold a line containing `literal`:
    /// the parts of each range in granules holding every trigram of the literal, each tagged
    /// with the index of the range it came from.
    pub fn narrow(&self, ranges: &[Range<usize>], literal: &[u8]) -> Vec<(usize, Range<usize>)> {
        let all = || ranges.iter().cloned().enumerate().collect();
        if literal.len() < 3 {
            return all();
        }
        let shift = self.loc.bits.trailing_zeros();
        let mut bits: Vec<usize> = literal
            .windows(3)
            .map(|w| gram_bit(w[0], w[1], w[2], shift))
            .collect();
        bits.sort_unstable();
        bits.dedup();
        let per = self.loc.bits / 64;
        let g_rows = self.loc.granule_rows;
        let may_hold = |g: usize| match self.words.get(g * per..(g + 1) * per) {
            Some(words) => bits.iter().all(|&b| words[b / 64] & (1 << (b % 64)) != 0),
            // Rows past the filter's granules (never written so): read them.
            None => true,
        };
        let mut out: Vec<(usize, Range<usize>)> = Vec::new();
        for (i, r) in ranges.iter().enumerate() {
            if r.is_empty() {
                continue;
            }
            for g in r.start / g_rows..=(r.end - 1) / g_rows {
                if !may_hold(g) {
                    continue;
                }
                let part = r.start.max(g * g_rows)..r.end.min((g + 1) * g_rows);
                match out.last_mut() {
                    Some((j, last)) if *j == i && last.end == part.start => last.end = part.end,
                    _ => out.push((i, part)),
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn build(lines: &[String]) -> LineGrams {
        let mut b = LineGramsBuilder::default();
        for l in lines {
            b.push(l.as_bytes());
        }
        let (bytes, value) = b.finish(7).unwrap();
        let loc = LineGramsLocation::parse(&value).unwrap();
        assert_eq!(loc.offset, 7);
        assert_eq!(loc.len, bytes.len() as u64);
        LineGrams::decode(loc, &bytes).unwrap()
    }

    #[test]
    fn granules_without_the_literal_are_skipped_and_none_holding_it() {
        let n = GRANULE_ROWS * 3 + 100;
        let lines: Vec<String> = (0..n)
            .map(|i| {
                if i == GRANULE_ROWS + 5 || i == n - 1 {
                    format!("row {i} has the needle-7f3a9c")
                } else {
                    format!("row {i} plain")
                }
            })
            .collect();
        let f = build(&lines);
        let ranges = vec![0..10, 10..GRANULE_ROWS * 2 + 1, GRANULE_ROWS * 2 + 1..n];
        let got = f.narrow(&ranges, b"needle-7f3a9c");
        assert_eq!(
            got,
            vec![(1, GRANULE_ROWS..GRANULE_ROWS * 2), (2, GRANULE_ROWS * 3..n)]
        );
        // Every row holding the literal is inside a kept part.
        for (i, l) in lines.iter().enumerate() {
            if l.contains("needle-7f3a9c") {
                assert!(got.iter().any(|(_, r)| r.contains(&i)), "row {i}");
            }
        }
        // Short literals skip nothing.
        assert_eq!(f.narrow(&ranges, b"ne").len(), 3);
        // A literal present everywhere keeps everything.
        assert_eq!(
            f.narrow(&ranges, b"row ")
                .iter()
                .map(|(_, r)| r.len())
                .sum::<usize>(),
            n
        );
    }

    #[test]
    fn unknown_layouts_are_not_used() {
        assert!(LineGramsLocation::parse("2 0 10 4096 32768 1").is_none());
        assert!(LineGramsLocation::parse("1 0 10 4096 1000 1").is_none());
        assert!(LineGramsLocation::parse("1 0 10").is_none());
        assert!(LineGramsLocation::parse("1 0 10 4096 32768 1").is_some());
    }
}
