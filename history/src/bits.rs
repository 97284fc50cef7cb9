//! A fixed-size bitset of a segment's doc ids: the candidate set a needle narrows.

/// Bits `0..len`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bits {
    words: Vec<u64>,
    len: u32,
}

impl Bits {
    /// All clear.
    pub fn empty(len: u32) -> Self {
        Bits {
            words: vec![0; (len as usize).div_ceil(64)],
            len,
        }
    }

    /// All set.
    pub fn full(len: u32) -> Self {
        let mut b = Bits {
            words: vec![u64::MAX; (len as usize).div_ceil(64)],
            len,
        };
        if !len.is_multiple_of(64) {
            if let Some(last) = b.words.last_mut() {
                *last = (1u64 << (len % 64)) - 1;
            }
        }
        b
    }

    /// Sets bit `i` (ignored when out of range).
    #[inline]
    pub fn insert(&mut self, i: u32) {
        if i < self.len {
            self.words[(i / 64) as usize] |= 1 << (i % 64);
        }
    }

    /// Keeps the bits also set in `other`.
    pub fn and_with(&mut self, other: &Bits) {
        for (a, b) in self.words.iter_mut().zip(&other.words) {
            *a &= b;
        }
    }

    /// Adds the bits set in `other`.
    pub fn or_with(&mut self, other: &Bits) {
        for (a, b) in self.words.iter_mut().zip(&other.words) {
            *a |= b;
        }
    }

    /// Whether no bit is set.
    pub fn is_empty(&self) -> bool {
        self.words.iter().all(|w| *w == 0)
    }

    /// The set bits, ascending.
    pub fn iter(&self) -> impl Iterator<Item = u32> + '_ {
        self.words.iter().enumerate().flat_map(|(i, &w)| {
            let mut w = w;
            std::iter::from_fn(move || {
                if w == 0 {
                    return None;
                }
                let bit = w.trailing_zeros();
                w &= w - 1;
                Some(i as u32 * 64 + bit)
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_operations() {
        let mut a = Bits::empty(130);
        for i in [0, 63, 64, 129, 200] {
            a.insert(i);
        }
        assert_eq!(a.iter().collect::<Vec<_>>(), [0, 63, 64, 129]);
        let full = Bits::full(130);
        assert_eq!(full.iter().count(), 130);
        let mut b = Bits::empty(130);
        b.insert(64);
        b.insert(5);
        let mut and = a.clone();
        and.and_with(&b);
        assert_eq!(and.iter().collect::<Vec<_>>(), [64]);
        b.or_with(&a);
        assert_eq!(b.iter().collect::<Vec<_>>(), [0, 5, 63, 64, 129]);
        assert!(Bits::empty(10).is_empty());
        assert_eq!(Bits::full(64).iter().count(), 64);
    }
}
