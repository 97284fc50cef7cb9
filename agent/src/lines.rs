//! Turning a file's bytes into lines, and optionally lines into multi-line events.
//!
//! [`LineSplitter`] splits on `\n`, strips one trailing `\r`, replaces invalid UTF-8 (flagging
//! the line), and caps a line at a maximum size: the rest of an over-long line is skipped up to
//! its newline and the line is flagged truncated, so memory stays bounded whatever the input. A
//! last line without its newline waits in the splitter until the newline arrives or the caller
//! decides it waited long enough ([`LineSplitter::flush_partial`]).
//!
//! Every line knows its byte range in the file (`start..end`, `end` just after the newline): the
//! checkpoint and the message id are built on these offsets.

use regex::Regex;

/// One line and where it lies in the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawLine {
    /// Offset of the first byte.
    pub start: u64,
    /// Offset just after the line's last byte (after its newline, when it had one).
    pub end: u64,
    /// The text, without the newline and a trailing `\r`.
    pub text: String,
    /// The line was longer than the maximum and was cut.
    pub truncated: bool,
    /// Invalid UTF-8 was replaced by U+FFFD.
    pub invalid_utf8: bool,
}

/// Splits a byte stream into [`RawLine`]s.
#[derive(Debug)]
pub struct LineSplitter {
    buf: Vec<u8>,
    /// File offset of the first byte of the current (unfinished) line.
    line_start: u64,
    /// File offset just after the last byte fed.
    pos: u64,
    /// The current line passed the maximum; bytes are skipped up to the newline.
    skipping: bool,
    max_line_bytes: usize,
}

impl LineSplitter {
    /// A splitter whose first byte is at file offset `start`.
    pub fn new(start: u64, max_line_bytes: usize) -> Self {
        LineSplitter {
            buf: Vec::new(),
            line_start: start,
            pos: start,
            skipping: false,
            max_line_bytes: max_line_bytes.max(1),
        }
    }

    /// File offset just after the last byte fed.
    pub fn position(&self) -> u64 {
        self.pos
    }

    /// Whether an unfinished line is waiting for its newline.
    pub fn has_partial(&self) -> bool {
        self.pos > self.line_start
    }

    /// Feeds bytes that follow the previous ones; complete lines are appended to `out`.
    pub fn push(&mut self, mut data: &[u8], out: &mut Vec<RawLine>) {
        while !data.is_empty() {
            match memchr(b'\n', data) {
                Some(nl) => {
                    self.take(&data[..nl]);
                    self.pos += nl as u64 + 1;
                    out.push(self.finish());
                    data = &data[nl + 1..];
                }
                None => {
                    self.take(data);
                    self.pos += data.len() as u64;
                    data = &[];
                }
            }
        }
    }

    /// Emits the unfinished line, if any, as a line of its own.
    pub fn flush_partial(&mut self, out: &mut Vec<RawLine>) {
        if self.has_partial() {
            out.push(self.finish());
        }
    }

    fn take(&mut self, part: &[u8]) {
        if self.skipping {
            return;
        }
        let room = self.max_line_bytes - self.buf.len();
        if part.len() > room {
            self.buf.extend_from_slice(&part[..room]);
            self.skipping = true;
        } else {
            self.buf.extend_from_slice(part);
        }
    }

    fn finish(&mut self) -> RawLine {
        let mut bytes = std::mem::take(&mut self.buf);
        let truncated = std::mem::replace(&mut self.skipping, false);
        if !truncated && bytes.last() == Some(&b'\r') {
            bytes.pop();
        }
        let (text, invalid_utf8) = to_text(bytes, truncated);
        let line = RawLine {
            start: self.line_start,
            end: self.pos,
            text,
            truncated,
            invalid_utf8,
        };
        self.line_start = self.pos;
        line
    }
}

/// UTF-8 text of a line; a truncated line that was cut inside a character loses that partial
/// character instead of gaining a replacement character.
fn to_text(mut bytes: Vec<u8>, truncated: bool) -> (String, bool) {
    match String::from_utf8(bytes) {
        Ok(s) => (s, false),
        Err(e) => {
            let err = e.utf8_error();
            bytes = e.into_bytes();
            if truncated && err.error_len().is_none() {
                bytes.truncate(err.valid_up_to());
                if let Ok(s) = String::from_utf8(bytes.clone()) {
                    return (s, false);
                }
            }
            (String::from_utf8_lossy(&bytes).into_owned(), true)
        }
    }
}

/// Position of the first `needle` in `haystack`, eight bytes at a time (the agent's innermost
/// loop: every byte read passes here). A word's bytes equal to the needle become zero after
/// the xor; `(w - 0x01..) & !w & 0x80..` sets the high bit of the first zero byte (borrows only
/// disturb the bytes above it).
fn memchr(needle: u8, haystack: &[u8]) -> Option<usize> {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    let pattern = LO * u64::from(needle);
    let mut words = haystack.chunks_exact(8);
    let mut at = 0;
    for w in &mut words {
        let mut b = [0u8; 8];
        b.copy_from_slice(w);
        let x = u64::from_le_bytes(b) ^ pattern;
        let found = x.wrapping_sub(LO) & !x & HI;
        if found != 0 {
            return Some(at + (found.trailing_zeros() / 8) as usize);
        }
        at += 8;
    }
    words
        .remainder()
        .iter()
        .position(|&b| b == needle)
        .map(|p| at + p)
}

/// Joins continuation lines (those that do not match a start pattern) onto the event they
/// continue: Java stack traces, Python tracebacks. The event spans the byte range of all its
/// lines; an event waits until the next start line or a flush.
#[derive(Debug)]
pub struct Multiline {
    start: Regex,
    max_bytes: usize,
    pending: Option<RawLine>,
}

impl Multiline {
    /// Events start at lines matching `start`; an event's text is capped at `max_bytes`.
    pub fn new(start: Regex, max_bytes: usize) -> Self {
        Multiline {
            start,
            max_bytes,
            pending: None,
        }
    }

    /// Adds a line; finished events are appended to `out`.
    pub fn push(&mut self, line: RawLine, out: &mut Vec<RawLine>) {
        match &mut self.pending {
            Some(ev) if !self.start.is_match(&line.text) => {
                if ev.text.len() + 1 + line.text.len() <= self.max_bytes {
                    ev.text.push('\n');
                    ev.text.push_str(&line.text);
                } else {
                    ev.truncated = true;
                }
                ev.end = line.end;
                ev.truncated |= line.truncated;
                ev.invalid_utf8 |= line.invalid_utf8;
            }
            _ => {
                if let Some(ev) = self.pending.replace(line) {
                    out.push(ev);
                }
            }
        }
    }

    /// Whether an event is waiting for more lines.
    pub fn has_pending(&self) -> bool {
        self.pending.is_some()
    }

    /// Emits the waiting event.
    pub fn flush(&mut self, out: &mut Vec<RawLine>) {
        if let Some(ev) = self.pending.take() {
            out.push(ev);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memchr_finds_the_first_needle_at_every_position() {
        for len in 0..40 {
            for at in 0..=len {
                for filler in [b'a', 0x00, 0x0b, 0x09, 0xff, 0x8a] {
                    let mut h = vec![filler; len];
                    if at < len {
                        h[at] = b'\n';
                        // A second needle after the first must not be reported.
                        if at + 3 < len {
                            h[at + 3] = b'\n';
                        }
                    }
                    let want = h.iter().position(|&b| b == b'\n');
                    assert_eq!(memchr(b'\n', &h), want, "len {len} at {at} filler {filler:#x}");
                }
            }
        }
    }

    fn split(chunks: &[&[u8]], max: usize) -> (Vec<RawLine>, LineSplitter) {
        let mut s = LineSplitter::new(100, max);
        let mut out = Vec::new();
        for c in chunks {
            s.push(c, &mut out);
        }
        (out, s)
    }

    #[test]
    fn splits_strips_cr_and_tracks_offsets() {
        let (out, s) = split(&[b"ab\r\ncd", b"e\n\nf"], 1000);
        let texts: Vec<&str> = out.iter().map(|l| l.text.as_str()).collect();
        assert_eq!(texts, ["ab", "cde", ""]);
        assert_eq!((out[0].start, out[0].end), (100, 104));
        assert_eq!((out[1].start, out[1].end), (104, 108));
        assert_eq!((out[2].start, out[2].end), (108, 109));
        assert!(s.has_partial());
        assert_eq!(s.position(), 110);
    }

    #[test]
    fn partial_line_waits_then_flushes() {
        let (out, mut s) = split(&[b"hello wor"], 1000);
        assert!(out.is_empty());
        let mut out = Vec::new();
        s.flush_partial(&mut out);
        assert_eq!(out[0].text, "hello wor");
        assert_eq!((out[0].start, out[0].end), (100, 109));
        assert!(!s.has_partial());
        s.push(b"ld\n", &mut out);
        assert_eq!(out[1].text, "ld");
        assert_eq!((out[1].start, out[1].end), (109, 112));
    }

    #[test]
    fn long_lines_are_truncated_and_skipped_to_newline() {
        let (out, _) = split(&[b"0123456789", b"abcdef\nok\n"], 4);
        assert_eq!(out[0].text, "0123");
        assert!(out[0].truncated);
        assert_eq!(out[0].end, 117);
        assert_eq!(out[1].text, "ok");
        assert!(!out[1].truncated);
        // A cut inside a multi-byte character drops the partial character.
        let (out, _) = split(&["aé\n".as_bytes()], 2);
        assert_eq!(out[0].text, "a");
        assert!(!out[0].invalid_utf8);
    }

    #[test]
    fn invalid_utf8_is_replaced_and_flagged() {
        let (out, _) = split(&[b"a\xffb\n"], 100);
        assert_eq!(out[0].text, "a\u{fffd}b");
        assert!(out[0].invalid_utf8);
    }

    #[test]
    fn multiline_joins_continuations() {
        let start = Regex::new(r"^\d{4}-").unwrap();
        let mut m = Multiline::new(start, 1000);
        let (lines, _) = split(
            &[b"2024-01-01 boom\n  at a.b(C.java:1)\n  at d\n2024-01-01 next\n"],
            1000,
        );
        let mut out = Vec::new();
        for l in lines {
            m.push(l, &mut out);
        }
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].text, "2024-01-01 boom\n  at a.b(C.java:1)\n  at d");
        assert_eq!((out[0].start, out[0].end), (100, 142));
        assert!(m.has_pending());
        m.flush(&mut out);
        assert_eq!(out[1].text, "2024-01-01 next");
    }
}
