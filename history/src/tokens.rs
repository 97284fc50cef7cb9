//! How lines become index terms, and what a needle literal requires of them.
//!
//! A line's terms are its *words*: maximal runs of word bytes (ASCII letters and digits, `_`,
//! and every byte of a non-ASCII character), case kept. Splitting only at ASCII bytes keeps
//! terms valid UTF-8 and makes the split of any substring agree with the split of the line
//! around it. A word longer than [`MAX_WORD`] bytes is not indexed; the line gets the
//! [`LONG_MARKER`] term instead, and every needle query includes marked lines, so no line is
//! ever missed because of a long word.
//!
//! Invariant (never a false negative): if a literal `s` occurs in line `l`, every requirement
//! [`LiteralPlan::of`] derives from `s` holds for `l`'s terms:
//! - a word of `s` bounded on both sides by non-word bytes of `s` is one of `l`'s words;
//! - the last word of `s` when `s` ends inside it is a prefix of one of `l`'s words;
//! - the first word of `s` when `s` starts inside it is a suffix of one of `l`'s words;
//! - a word that is all of `s` is a substring of one of `l`'s words.

use tantivy::tokenizer::{Token, TokenStream, Tokenizer};

/// Longest word indexed, in bytes.
pub const MAX_WORD: usize = 255;

/// The term given to lines holding a word longer than [`MAX_WORD`] (no word contains `\x01`).
pub const LONG_MARKER: &str = "\u{1}";

/// Name the tokenizer is registered under in the index.
pub const TOKENIZER_NAME: &str = "logq_words";

/// Whether `b` is part of a word.
#[inline]
pub fn is_word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b >= 0x80
}

/// The byte ranges of the words of `text`.
pub fn words(text: &str) -> impl Iterator<Item = (usize, usize)> + '_ {
    let bytes = text.as_bytes();
    let mut i = 0;
    std::iter::from_fn(move || {
        while i < bytes.len() && !is_word_byte(bytes[i]) {
            i += 1;
        }
        if i >= bytes.len() {
            return None;
        }
        let start = i;
        while i < bytes.len() && is_word_byte(bytes[i]) {
            i += 1;
        }
        Some((start, i))
    })
}

/// The tantivy tokenizer producing a line's words (and [`LONG_MARKER`] once for long ones).
#[derive(Clone, Default)]
pub struct WordTokenizer {
    token: Token,
}

/// The token stream of one line.
pub struct WordStream<'a> {
    text: &'a str,
    pos: usize,
    marked: bool,
    token: &'a mut Token,
}

impl Tokenizer for WordTokenizer {
    type TokenStream<'a> = WordStream<'a>;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> WordStream<'a> {
        self.token.reset();
        self.token.position = usize::MAX;
        WordStream {
            text,
            pos: 0,
            marked: false,
            token: &mut self.token,
        }
    }
}

impl TokenStream for WordStream<'_> {
    fn advance(&mut self) -> bool {
        let bytes = self.text.as_bytes();
        loop {
            while self.pos < bytes.len() && !is_word_byte(bytes[self.pos]) {
                self.pos += 1;
            }
            if self.pos >= bytes.len() {
                return false;
            }
            let start = self.pos;
            while self.pos < bytes.len() && is_word_byte(bytes[self.pos]) {
                self.pos += 1;
            }
            let word = &self.text[start..self.pos];
            let text = if word.len() <= MAX_WORD {
                word
            } else if !self.marked {
                self.marked = true;
                LONG_MARKER
            } else {
                continue;
            };
            self.token.text.clear();
            self.token.text.push_str(text);
            self.token.offset_from = start;
            self.token.offset_to = self.pos;
            self.token.position = self.token.position.wrapping_add(1);
            return true;
        }
    }

    fn token(&self) -> &Token {
        self.token
    }

    fn token_mut(&mut self) -> &mut Token {
        self.token
    }
}

/// What the terms of a line must satisfy for the line to possibly contain one literal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LiteralPlan {
    /// No requirement can be derived (no word in the literal, or only over-long ones): every
    /// line is a candidate.
    Any,
    /// The line has every one of these words.
    Words(Vec<String>),
    /// The line has a word starting with this.
    Prefix(String),
    /// The line has a word ending with this.
    Suffix(String),
    /// The line has a word containing this.
    Infix(String),
    /// The literal holds a word longer than [`MAX_WORD`]: only lines with the
    /// [`LONG_MARKER`] can contain it.
    LongOnly,
}

impl LiteralPlan {
    /// The cheapest sound requirement for lines containing `literal` (see the module doc):
    /// whole words when there are any (exact dictionary lookups), else the last word as a
    /// prefix (a dictionary range), else the first word as a suffix, else the one word as a
    /// substring of a word (both need a dictionary scan).
    pub fn of(literal: &str) -> LiteralPlan {
        let len = literal.len();
        let mut whole = Vec::new();
        let mut prefix = None;
        let mut suffix = None;
        let mut infix = None;
        for (s, e) in words(literal) {
            let w = &literal[s..e];
            match (s == 0, e == len) {
                (false, false) if w.len() > MAX_WORD => return LiteralPlan::LongOnly,
                (false, false) => {
                    if !whole.iter().any(|x: &String| x == w) {
                        whole.push(w.to_string());
                    }
                }
                (false, true) => prefix = Some(w),
                (true, false) => suffix = Some(w),
                (true, true) => infix = Some(w),
            }
        }
        if !whole.is_empty() {
            return LiteralPlan::Words(whole);
        }
        // A prefix, suffix or infix longer than MAX_WORD can only be part of a long word,
        // whose lines carry the marker that every query includes.
        let fits = |w: &str| w.len() <= MAX_WORD;
        match (prefix, suffix, infix) {
            (Some(p), _, _) if fits(p) => LiteralPlan::Prefix(p.to_string()),
            (_, Some(s), _) if fits(s) => LiteralPlan::Suffix(s.to_string()),
            (_, _, Some(i)) if fits(i) => LiteralPlan::Infix(i.to_string()),
            (None, None, None) => LiteralPlan::Any,
            _ => LiteralPlan::LongOnly,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(text: &str) -> Vec<String> {
        let mut t = WordTokenizer::default();
        let mut s = t.token_stream(text);
        let mut out = Vec::new();
        while s.advance() {
            out.push(s.token().text.clone());
        }
        out
    }

    #[test]
    fn words_split_at_ascii_punctuation_and_keep_case() {
        assert_eq!(
            tokens("ERROR: conn_reset to 10.0.0.1 — Grüße!"),
            ["ERROR", "conn_reset", "to", "10", "0", "0", "1", "—", "Grüße"]
        );
        assert!(tokens("  -- ::").is_empty());
    }

    #[test]
    fn long_words_become_one_marker() {
        let long = "a".repeat(MAX_WORD + 1);
        assert_eq!(tokens(&format!("x {long} {long} y")), ["x", LONG_MARKER, "y"]);
        assert_eq!(tokens(&"b".repeat(MAX_WORD)), ["b".repeat(MAX_WORD)]);
    }

    #[test]
    fn plans_pick_the_cheapest_sound_requirement() {
        use LiteralPlan::*;
        assert_eq!(LiteralPlan::of("ror: conn"), Prefix("conn".into()));
        assert_eq!(LiteralPlan::of("ror: "), Suffix("ror".into()));
        assert_eq!(LiteralPlan::of("GET"), Infix("GET".into()));
        assert_eq!(LiteralPlan::of("a b c d"), Words(vec!["b".into(), "c".into()]));
        assert_eq!(LiteralPlan::of(" b "), Words(vec!["b".into()]));
        assert_eq!(LiteralPlan::of(" - "), Any);
        assert_eq!(LiteralPlan::of(""), Any);
        assert_eq!(LiteralPlan::of(&"z".repeat(MAX_WORD + 1)), LongOnly);
        assert_eq!(
            LiteralPlan::of(&format!("a {} b", "z".repeat(MAX_WORD + 1))),
            LongOnly
        );
    }
}
