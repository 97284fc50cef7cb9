//! Timestamp recognition at the start (or early in) a log line, by byte scanning: no regex and no
//! allocation per line.
//!
//! [`parse_timestamp`] tries every candidate position in the first [`SCAN_LIMIT`] bytes that starts
//! a word (the byte before it is not alphanumeric) and returns the leftmost timestamp it recognises.
//! Formats: RFC 3339 / ISO 8601 and their relatives (`T`, space or `-` between date and time, `-`,
//! `/`, `.` or `:` between date fields, `.`/`,`/`:` before the fraction, `Z`, `±hh:mm`, `±hhmm`,
//! `UTC`/`GMT`), compact `yyyyMMdd-HH:mm:ss`, `yyMMdd HHmmss` (HDFS) and `yyMMdd H:mm:ss` (MySQL),
//! `yy/MM/dd HH:mm:ss` (Spark), syslog `Mon dd HH:mm:ss` (with an optional year), ctime and Apache
//! `Sun Dec 04 04:47:44 2005`, access logs `dd/Mon/yyyy:HH:mm:ss +zzzz`, `dd-Mon-yyyy`,
//! `Mon-dd-yy`, `dd-MM-yyyy` and `MM/dd/yyyy`, `MM-dd HH:mm:ss` (Android), `[MM.dd HH:mm:ss]`
//! (Proxifier), epoch seconds / millis / micros / nanos (ten to nineteen digits, optional
//! fraction) and TAI64N labels (`@4000...`).
//!
//! A parse keeps the wall-clock time as written ([`ParsedTime::naive`]) and the zone when the line
//! had one; formats without a year get one inferred from "now" (the current year, or the previous
//! one when the result would be more than a day in the future).

use chrono::{Datelike, Duration, Local, NaiveDate, NaiveDateTime, NaiveTime, TimeZone};

/// How many bytes from the start of a line are searched for a timestamp.
pub const SCAN_LIMIT: usize = 96;

/// A timestamp recognised in a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParsedTime {
    /// The wall-clock time as written in the line (UTC for epoch formats).
    pub naive: NaiveDateTime,
    /// The zone offset in seconds east of UTC, when the line gave one (epoch formats: 0).
    pub offset_secs: Option<i32>,
    /// The format had no year; it was inferred from "now".
    pub year_inferred: bool,
    /// The format is an absolute instant (epoch seconds, TAI64N), not a wall-clock time.
    pub absolute: bool,
    /// Byte offset in the line where the timestamp starts.
    pub start: usize,
}

impl ParsedTime {
    /// Unix nanoseconds: with the line's zone, else in the local zone of this machine.
    pub fn unix_nanos(&self) -> Option<i64> {
        let utc = match self.offset_secs {
            Some(off) => self.naive - Duration::seconds(i64::from(off)),
            None => Local
                .from_local_datetime(&self.naive)
                .earliest()
                .map(|t| t.naive_utc())?,
        };
        utc.and_utc().timestamp_nanos_opt()
    }
}

/// Finds the leftmost timestamp in the first [`SCAN_LIMIT`] bytes of `line`; `now` (local wall
/// clock) is used to infer the year of formats that lack one.
pub fn parse_timestamp(line: &[u8], now: NaiveDateTime) -> Option<ParsedTime> {
    let limit = line.len().min(SCAN_LIMIT);
    for i in 0..limit {
        let c = line[i];
        if !(c.is_ascii_digit() || c.is_ascii_uppercase() || c == b'@') {
            continue;
        }
        if i > 0 && line[i - 1].is_ascii_alphanumeric() {
            continue;
        }
        let mut cur = Cursor { b: line, i };
        if let Some(mut p) = try_at(&mut cur, now) {
            p.start = i;
            return Some(p);
        }
    }
    None
}

struct Cursor<'a> {
    b: &'a [u8],
    i: usize,
}

impl Cursor<'_> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn eat(&mut self, c: u8) -> bool {
        if self.peek() == Some(c) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    fn eat_any(&mut self, set: &[u8]) -> Option<u8> {
        let c = self.peek()?;
        if set.contains(&c) {
            self.i += 1;
            Some(c)
        } else {
            None
        }
    }

    /// Between `min` and `max` digits (greedy); `None` when fewer than `min`.
    fn digits(&mut self, min: usize, max: usize) -> Option<u32> {
        let start = self.i;
        let mut v: u32 = 0;
        while self.i - start < max {
            match self.peek() {
                Some(c) if c.is_ascii_digit() => {
                    v = v * 10 + u32::from(c - b'0');
                    self.i += 1;
                }
                _ => break,
            }
        }
        if self.i - start < min {
            self.i = start;
            return None;
        }
        Some(v)
    }

    /// Exactly `n` digits, not followed by another digit.
    fn exact(&mut self, n: usize) -> Option<u32> {
        let start = self.i;
        let v = self.digits(n, n)?;
        if self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.i = start;
            return None;
        }
        Some(v)
    }

    fn spaces(&mut self, min: usize, max: usize) -> bool {
        let start = self.i;
        while self.i - start < max && self.peek() == Some(b' ') {
            self.i += 1;
        }
        self.i - start >= min
    }

    /// A three-letter English month name (case-insensitive on the tail), as 1..=12.
    fn month_name(&mut self) -> Option<u32> {
        let w = self.b.get(self.i..self.i + 3)?;
        const MONTHS: [&[u8; 3]; 12] = [
            b"jan", b"feb", b"mar", b"apr", b"may", b"jun", b"jul", b"aug", b"sep", b"oct", b"nov", b"dec",
        ];
        let lower = [
            w[0].to_ascii_lowercase(),
            w[1].to_ascii_lowercase(),
            w[2].to_ascii_lowercase(),
        ];
        let m = MONTHS.iter().position(|m| **m == lower)?;
        self.i += 3;
        Some(m as u32 + 1)
    }

    fn day_name(&mut self) -> bool {
        let Some(w) = self.b.get(self.i..self.i + 3) else {
            return false;
        };
        const DAYS: [&[u8; 3]; 7] = [b"mon", b"tue", b"wed", b"thu", b"fri", b"sat", b"sun"];
        let lower = [
            w[0].to_ascii_lowercase(),
            w[1].to_ascii_lowercase(),
            w[2].to_ascii_lowercase(),
        ];
        if DAYS.iter().any(|d| **d == lower) {
            self.i += 3;
            true
        } else {
            false
        }
    }

    /// `H[H]:MM:SS[(.|,|:)frac]`, or with `.` between the fields when `dot_ok`.
    fn time(&mut self, dot_ok: bool) -> Option<NaiveTime> {
        let start = self.i;
        let r = (|| {
            let h = self.digits(1, 2)?;
            let sep = self.eat_any(if dot_ok { b":." } else { b":" })?;
            let m = self.exact(2)?;
            if !self.eat(sep) {
                return None;
            }
            let s = self.exact(2)?;
            let nanos = self.fraction(sep);
            NaiveTime::from_hms_nano_opt(h, m, s.min(59), nanos)
        })();
        if r.is_none() {
            self.i = start;
        }
        r
    }

    /// An optional fraction of a second after `.`, `,` or `:` (`:` means milliseconds, as
    /// HealthApp writes them unpadded).
    fn fraction(&mut self, time_sep: u8) -> u32 {
        let save = self.i;
        let Some(sep) = self.eat_any(b".,:") else {
            return 0;
        };
        if sep == time_sep && sep == b'.' {
            // `15.42.50.675872` is fine; the field separator is also the fraction separator.
        }
        let start = self.i;
        let mut nanos: u64 = 0;
        let mut n = 0;
        while let Some(c) = self.peek().filter(|c| c.is_ascii_digit()) {
            if n < 9 {
                nanos = nanos * 10 + u64::from(c - b'0');
            }
            n += 1;
            self.i += 1;
        }
        if n == 0 {
            self.i = save;
            return 0;
        }
        if sep == b':' {
            // Milliseconds, possibly unpadded.
            if n > 3 {
                self.i = start;
                self.i = save;
                return 0;
            }
            return (nanos as u32) * 1_000_000;
        }
        let n = n.min(9);
        (nanos * 10u64.pow(9 - n as u32)) as u32
    }

    /// An optional zone after the time: `Z`, `±hh:mm`, `±hhmm`, `±hh`, ` UTC`, ` GMT`.
    fn zone(&mut self) -> Option<i32> {
        let save = self.i;
        if self.eat(b'Z') {
            if self.peek().is_some_and(|c| c.is_ascii_alphanumeric()) {
                self.i = save;
                return None;
            }
            return Some(0);
        }
        self.spaces(0, 1);
        if let Some(w) = self.b.get(self.i..self.i + 3) {
            if (w == b"UTC" || w == b"GMT")
                && !self.b.get(self.i + 3).is_some_and(|c| c.is_ascii_alphanumeric())
            {
                self.i += 3;
                return Some(0);
            }
        }
        if let Some(sign) = self.eat_any(b"+-") {
            if let Some(h) = self.exact(2).or_else(|| self.digits(2, 2)) {
                let colon = self.eat(b':');
                let m = self.exact(2);
                let ok = match m {
                    Some(_) => true,
                    None => !colon,
                };
                if ok && h <= 14 && m.unwrap_or(0) < 60 {
                    let secs = (h * 3600 + m.unwrap_or(0) * 60) as i32;
                    if !self.peek().is_some_and(|c| c.is_ascii_digit()) {
                        return Some(if sign == b'-' { -secs } else { secs });
                    }
                }
            }
        }
        self.i = save;
        None
    }
}

fn date(y: u32, m: u32, d: u32) -> Option<NaiveDate> {
    NaiveDate::from_ymd_opt(y as i32, m, d)
}

fn full(date: NaiveDate, time: NaiveTime, cur: &mut Cursor) -> ParsedTime {
    let offset_secs = cur.zone();
    ParsedTime {
        naive: date.and_time(time),
        offset_secs,
        year_inferred: false,
        absolute: false,
        start: 0,
    }
}

/// The year for a month/day without one: this year, or the previous one when that would put the
/// time more than a day after `now`.
fn infer_year(m: u32, d: u32, time: NaiveTime, now: NaiveDateTime) -> Option<ParsedTime> {
    let y = now.year();
    let mut dt = NaiveDate::from_ymd_opt(y, m, d).map(|dt| dt.and_time(time));
    if dt.is_none_or(|t| t > now + Duration::days(1)) {
        dt = NaiveDate::from_ymd_opt(y - 1, m, d).map(|dt| dt.and_time(time));
    }
    Some(ParsedTime {
        naive: dt?,
        offset_secs: None,
        year_inferred: true,
        absolute: false,
        start: 0,
    })
}

fn two_digit_year(yy: u32) -> u32 {
    if yy < 70 {
        2000 + yy
    } else {
        1900 + yy
    }
}

fn try_at(cur: &mut Cursor, now: NaiveDateTime) -> Option<ParsedTime> {
    let start = cur.i;
    let c = cur.peek()?;
    if c == b'@' {
        return tai64n(cur);
    }
    if c.is_ascii_uppercase() {
        for f in [syslog, ctime, month_dash] {
            cur.i = start;
            if let Some(p) = f(cur, now) {
                return Some(p);
            }
        }
        return None;
    }
    let parsers: [fn(&mut Cursor, NaiveDateTime) -> Option<ParsedTime>; 8] = [
        iso,
        compact_iso,
        yymmdd,
        day_month_name,
        numeric_dmy,
        yy_mm_dd,
        month_day_no_year,
        epoch,
    ];
    for f in parsers {
        cur.i = start;
        if let Some(p) = f(cur, now) {
            return Some(p);
        }
    }
    None
}

/// `yyyy-MM-dd[T -]HH:mm:ss[.frac][zone]` with `-`, `/`, `.` or `:` between the date fields.
fn iso(cur: &mut Cursor, _now: NaiveDateTime) -> Option<ParsedTime> {
    let y = cur.exact(4)?;
    let sep = cur.eat_any(b"-/.:")?;
    let m = cur.digits(1, 2)?;
    if !cur.eat(sep) {
        return None;
    }
    let d = cur.exact(2).or_else(|| cur.digits(1, 2))?;
    let dt = date(y, m, d)?;
    // `T`, one or two spaces, or `-` (BGL: `2005-06-03-15.42.50.675872`).
    let dash = if cur.eat(b'T') {
        false
    } else if cur.eat(b'-') {
        true
    } else if cur.spaces(1, 2) {
        false
    } else {
        return None;
    };
    let time = cur.time(dash)?;
    Some(full(dt, time, cur))
}

/// `yyyyMMdd-HH:mm:ss[:SSS]` (HealthApp) and `yyyyMMddTHHmmss[zone]` (basic ISO 8601).
fn compact_iso(cur: &mut Cursor, _now: NaiveDateTime) -> Option<ParsedTime> {
    let y = cur.digits(4, 4)?;
    let m = cur.digits(2, 2)?;
    let d = cur.exact(2)?;
    let dt = date(y, m, d)?;
    let sep = cur.eat_any(b"-T ")?;
    if sep == b'T' {
        let h = cur.digits(2, 2)?;
        let mi = cur.digits(2, 2)?;
        let s = cur.exact(2)?;
        let nanos = cur.fraction(b':');
        let t = NaiveTime::from_hms_nano_opt(h, mi, s.min(59), nanos)?;
        return Some(full(dt, t, cur));
    }
    // HealthApp does not pad its fields: `20171224-0:9:6:137`.
    let h = cur.digits(1, 2)?;
    cur.eat(b':').then_some(())?;
    let mi = cur.digits(1, 2)?;
    cur.eat(b':').then_some(())?;
    let s = cur.digits(1, 2)?;
    let nanos = cur.fraction(b':');
    let t = NaiveTime::from_hms_nano_opt(h, mi, s.min(59), nanos)?;
    Some(full(dt, t, cur))
}

/// `yyMMdd HHmmss` (HDFS) and `yyMMdd H:mm:ss` (MySQL error log).
fn yymmdd(cur: &mut Cursor, _now: NaiveDateTime) -> Option<ParsedTime> {
    let yy = cur.digits(2, 2)?;
    let m = cur.digits(2, 2)?;
    let d = cur.exact(2)?;
    let dt = date(two_digit_year(yy), m, d)?;
    if !cur.spaces(1, 2) {
        return None;
    }
    let save = cur.i;
    let t = if let Some(v) = cur.exact(6) {
        NaiveTime::from_hms_opt(v / 10000, v / 100 % 100, (v % 100).min(59))?
    } else {
        cur.i = save;
        cur.time(false)?
    };
    Some(full(dt, t, cur))
}

/// `dd/Mon/yyyy:HH:mm:ss +zzzz` (access logs), `dd/Mon/yyyy HH:mm:ss`, `dd-Mon-yyyy HH:mm:ss.SSS`.
fn day_month_name(cur: &mut Cursor, _now: NaiveDateTime) -> Option<ParsedTime> {
    let d = cur.digits(1, 2)?;
    let sep = cur.eat_any(b"/- ")?;
    let m = cur.month_name()?;
    if !cur.eat(sep) {
        return None;
    }
    let y = cur.exact(4)?;
    let dt = date(y, m, d)?;
    if !(cur.eat(b':') || cur.spaces(1, 1)) {
        return None;
    }
    let t = cur.time(false)?;
    Some(full(dt, t, cur))
}

/// `dd-MM-yyyy HH:mm:ss` and `dd.MM.yyyy` (day first) or `MM/dd/yyyy` (month first, as in the
/// US), swapped when the first field cannot be what the convention says.
fn numeric_dmy(cur: &mut Cursor, _now: NaiveDateTime) -> Option<ParsedTime> {
    let a = cur.digits(1, 2)?;
    let sep = cur.eat_any(b"-/.")?;
    let b = cur.digits(1, 2)?;
    if !cur.eat(sep) {
        return None;
    }
    let y = cur.exact(4)?;
    let (mut m, mut d) = if sep == b'/' { (a, b) } else { (b, a) };
    if m > 12 {
        std::mem::swap(&mut m, &mut d);
    }
    let dt = date(y, m, d)?;
    // One or two spaces, `:`, or ` - ` (Half-Life: `L 01/01/2014 - 01:25:17:`).
    let save = cur.i;
    if !(cur.spaces(1, 1) && cur.eat(b'-') && cur.spaces(1, 1)) {
        cur.i = save;
        if !cur.spaces(1, 2) && !cur.eat(b':') {
            return None;
        }
    }
    let t = cur.time(false)?;
    Some(full(dt, t, cur))
}

/// `yy/MM/dd HH:mm:ss` (Spark).
fn yy_mm_dd(cur: &mut Cursor, _now: NaiveDateTime) -> Option<ParsedTime> {
    let yy = cur.exact(2)?;
    if !cur.eat(b'/') {
        return None;
    }
    let m = cur.exact(2)?;
    if !cur.eat(b'/') {
        return None;
    }
    let d = cur.exact(2)?;
    let dt = date(two_digit_year(yy), m, d)?;
    if !cur.spaces(1, 1) {
        return None;
    }
    let t = cur.time(false)?;
    Some(full(dt, t, cur))
}

/// `MM-dd HH:mm:ss.SSS` (Android logcat) and `MM.dd HH:mm:ss` (Proxifier): no year.
fn month_day_no_year(cur: &mut Cursor, now: NaiveDateTime) -> Option<ParsedTime> {
    let m = cur.exact(2)?;
    cur.eat_any(b"-.")?;
    let d = cur.exact(2)?;
    if !cur.spaces(1, 1) {
        return None;
    }
    let t = cur.time(false)?;
    if !(1..=12).contains(&m) {
        return None;
    }
    infer_year(m, d, t, now)
}

/// Epoch seconds (10 digits, optional fraction), millis (13), micros (16) or nanos (19), between
/// 2000 and a year after `now` (larger ten-digit numbers are ids, not times).
fn epoch(cur: &mut Cursor, now: NaiveDateTime) -> Option<ParsedTime> {
    let start = cur.i;
    while cur.peek().is_some_and(|c| c.is_ascii_digit()) {
        cur.i += 1;
    }
    let digits = &cur.b[start..cur.i];
    let n = digits.len();
    if ![10, 13, 16, 19].contains(&n) {
        return None;
    }
    let v: i64 = std::str::from_utf8(digits).ok()?.parse().ok()?;
    let mut nanos = match n {
        10 => v.checked_mul(1_000_000_000)?,
        13 => v.checked_mul(1_000_000)?,
        16 => v.checked_mul(1_000)?,
        _ => v,
    };
    if n == 10 {
        nanos += i64::from(cur.fraction(b'.').min(999_999_999));
        if cur.b.get(cur.i) == Some(&b':') {
            // `audit(1395.123:456)`: the serial after the colon is not a fraction.
        }
    }
    if cur.peek().is_some_and(|c| c.is_ascii_alphanumeric()) {
        return None;
    }
    const Y2000: i64 = 946_684_800 * 1_000_000_000;
    let latest = (now + Duration::days(366))
        .and_utc()
        .timestamp_nanos_opt()
        .unwrap_or(i64::MAX);
    if !(Y2000..latest).contains(&nanos) {
        return None;
    }
    let naive = chrono::DateTime::from_timestamp_nanos(nanos).naive_utc();
    Some(ParsedTime {
        naive,
        offset_secs: Some(0),
        year_inferred: false,
        absolute: true,
        start: 0,
    })
}

/// TAI64N: `@` and 24 hex digits (seconds + 2^62, then nanoseconds); TAI-UTC leap seconds are
/// ignored, as daemontools' `tai64nlocal` does for display.
fn tai64n(cur: &mut Cursor) -> Option<ParsedTime> {
    let hex = cur.b.get(cur.i + 1..cur.i + 25)?;
    let s = std::str::from_utf8(hex).ok()?;
    let secs = u64::from_str_radix(&s[..16], 16).ok()?.checked_sub(1 << 62)?;
    let nanos = u32::from_str_radix(&s[16..], 16).ok()?;
    if cur.b.get(cur.i + 25).is_some_and(|c| c.is_ascii_hexdigit()) || nanos >= 1_000_000_000 {
        return None;
    }
    let naive = chrono::DateTime::from_timestamp(i64::try_from(secs).ok()?, nanos)?.naive_utc();
    Some(ParsedTime {
        naive,
        offset_secs: Some(0),
        year_inferred: false,
        absolute: true,
        start: 0,
    })
}

/// Syslog `Mon dd HH:mm:ss` (day space-padded or not), optionally `Mon dd yyyy HH:mm:ss` or
/// `Mon dd HH:mm:ss yyyy`.
fn syslog(cur: &mut Cursor, now: NaiveDateTime) -> Option<ParsedTime> {
    let m = cur.month_name()?;
    if !cur.spaces(1, 2) {
        return None;
    }
    let d = cur.digits(1, 2)?;
    if !cur.spaces(1, 1) {
        return None;
    }
    let save = cur.i;
    if let Some(y) = cur.exact(4) {
        if cur.spaces(1, 1) {
            if let Some(t) = cur.time(false) {
                return Some(full(date(y, m, d)?, t, cur));
            }
        }
    }
    cur.i = save;
    let t = cur.time(false)?;
    let save = cur.i;
    if cur.spaces(1, 1) {
        if let Some(y) = cur.exact(4) {
            if (1970..2100).contains(&y) {
                return Some(full(date(y, m, d)?, t, cur));
            }
        }
    }
    cur.i = save;
    infer_year(m, d, t, now)
}

/// ctime / Apache error log `Sun Dec 04 04:47:44[.frac] 2005`, and RFC 2822
/// `Sun, 04 Dec 2005 04:47:44 +0000`.
fn ctime(cur: &mut Cursor, now: NaiveDateTime) -> Option<ParsedTime> {
    if !cur.day_name() {
        return None;
    }
    if cur.eat(b',') {
        cur.spaces(1, 1);
        let d = cur.digits(1, 2)?;
        cur.spaces(1, 1);
        let m = cur.month_name()?;
        cur.spaces(1, 1);
        let y = cur.exact(4)?;
        cur.spaces(1, 1);
        let t = cur.time(false)?;
        return Some(full(date(y, m, d)?, t, cur));
    }
    if !cur.spaces(1, 1) {
        return None;
    }
    syslog(cur, now)
}

/// `Mon-dd-yy HH:mm:ss`.
fn month_dash(cur: &mut Cursor, _now: NaiveDateTime) -> Option<ParsedTime> {
    let m = cur.month_name()?;
    if !cur.eat(b'-') {
        return None;
    }
    let d = cur.exact(2)?;
    if !cur.eat(b'-') {
        return None;
    }
    let yy = cur.exact(2)?;
    if !cur.spaces(1, 1) {
        return None;
    }
    let t = cur.time(false)?;
    Some(full(date(two_digit_year(yy), m, d)?, t, cur))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn now() -> NaiveDateTime {
        NaiveDate::from_ymd_opt(2026, 11, 25)
            .unwrap()
            .and_hms_opt(12, 0, 0)
            .unwrap()
    }

    fn p(line: &str) -> Option<String> {
        parse_timestamp(line.as_bytes(), now()).map(|t| {
            let mut s = t.naive.format("%Y-%m-%dT%H:%M:%S%.f").to_string();
            if let Some(o) = t.offset_secs {
                s.push_str(&format!("{o:+}"));
            }
            s
        })
    }

    #[test]
    fn common_formats() {
        let cases: &[(&str, Option<&str>)] = &[
            ("2024-03-01T10:20:30Z hi", Some("2024-03-01T10:20:30+0")),
            (
                "2024-03-01T10:20:30.123456789+02:00 x",
                Some("2024-03-01T10:20:30.123456789+7200"),
            ),
            ("2024-03-01 10:20:30,5 x", Some("2024-03-01T10:20:30.500")),
            ("2015-10-18 18:01:47,978 INFO", Some("2015-10-18T18:01:47.978")),
            ("2005-06-21 14:55:10 UTC machine", Some("2005-06-21T14:55:10+0")),
            (
                "2016-11-20T00:04:00.111+0100 [conn1]",
                Some("2016-11-20T00:04:00.111+3600"),
            ),
            ("Jun 14 15:16:01 combo sshd", Some("2026-06-14T15:16:01")),
            ("Dec 30 15:16:01 combo sshd", Some("2025-12-30T15:16:01")),
            (
                "Nov 26 11:00:00 tomorrow within a day",
                Some("2026-11-26T11:00:00"),
            ),
            ("Jul  1 09:00:55 calvisitor", Some("2026-07-01T09:00:55")),
            ("[Sun Dec 04 04:47:44 2005] [notice]", Some("2005-12-04T04:47:44")),
            ("081109 203615 148 INFO", Some("2008-11-09T20:36:15")),
            ("130324  0:04:00 [Warning]", Some("2013-03-24T00:04:00")),
            (
                "1.2.3.4 - - [05/Mar/2007:14:39:21 +0100] \"GET",
                Some("2007-03-05T14:39:21+3600"),
            ),
            ("1386543323.000 4 91.188.124.227", Some("2013-12-08T22:55:23+0")),
            ("1700000000123 x", Some("2023-11-14T22:13:20.123+0")),
            (
                "11-06-2013 02:09:40 +0300 PROXY",
                Some("2013-06-11T02:09:40+10800"),
            ),
            ("10/06/2013 15:50:41 [LOGIN_ERROR]", Some("2013-10-06T15:50:41")),
            ("Apr-07-13 07:08:36 [SSL-out]", Some("2013-04-07T07:08:36")),
            ("11-Aug-2013 03:36:11.372 error", Some("2013-08-11T03:36:11.372")),
            (
                "@400000004c91b044077a9e94 imap-login",
                Some("2010-09-16T05:51:00.125476500+0"),
            ),
            ("Sun, 04 Dec 2005 04:47:44 +0000 x", Some("2005-12-04T04:47:44+0")),
            ("no timestamp here at all", None),
            ("GET /index.html 200 1234", None),
            ("12345 is not a date", None),
        ];
        for (line, want) in cases {
            assert_eq!(p(line).as_deref(), *want, "line {line:?}");
        }
    }

    /// The expected parse of the first line of every loghub sample.
    #[test]
    fn loghub_first_lines() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data/loghub");
        if !dir.is_dir() {
            eprintln!("skipping: {} is absent", dir.display());
            return;
        }
        let table: &[(&str, &str)] = &[
            ("Android_2k.log", "2026-03-17T16:13:38.811"),
            ("Apache_2k.log", "2005-12-04T04:47:44"),
            ("BGL_2k.log", "2005-06-03T22:42:50+0"),
            ("HDFS_2k.log", "2008-11-09T20:36:15"),
            ("HPC_2k.log", "2004-02-26T14:12:22+0"),
            ("Hadoop_2k.log", "2015-10-18T18:01:47.978"),
            ("HealthApp_2k.log", "2017-12-23T22:15:29.606"),
            ("Linux_2k.log", "2026-06-14T15:16:01"),
            ("Mac_2k.log", "2026-07-01T09:00:55"),
            ("OpenSSH_2k.log", "2025-12-10T06:55:46"),
            ("OpenStack_2k.log", "2017-05-16T00:00:00.008"),
            ("Proxifier_2k.log", "2026-10-30T16:49:06"),
            ("Spark_2k.log", "2017-06-09T20:10:40"),
            ("Thunderbird_2k.log", "2005-11-09T20:01:01+0"),
            ("Windows_2k.log", "2016-09-28T04:30:30"),
            ("Zookeeper_2k.log", "2015-07-29T17:41:44.747"),
        ];
        let mut seen = 0;
        for (file, want) in table {
            let text = std::fs::read(dir.join(file)).unwrap();
            let first = text.split(|&b| b == b'\n').next().unwrap();
            let first = String::from_utf8_lossy(first);
            assert_eq!(p(&first).as_deref(), Some(*want), "{file}: {first:?}");
            seen += 1;
        }
        // Every line of every sample has a timestamp.
        let mut missing = Vec::new();
        for (file, _) in table {
            let text = std::fs::read(dir.join(file)).unwrap();
            for line in text.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
                if parse_timestamp(line, now()).is_none() {
                    missing.push(format!("{file}: {}", String::from_utf8_lossy(line)));
                }
            }
        }
        assert!(missing.is_empty(), "lines without a timestamp: {missing:#?}");
        assert_eq!(seen, 16);
    }

    /// fail2ban's test logs: `# failJSON: {"time": ...}` names the expected wall-clock time of the
    /// next line. Year-less formats compare without the year; absolute formats (epoch) may differ
    /// by whole hours, because fail2ban wrote its key in the test machine's zone.
    #[test]
    fn fail2ban_answer_key() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data/fail2ban-logs");
        if !dir.is_dir() {
            eprintln!("skipping: {} is absent", dir.display());
            return;
        }
        let mut files = Vec::new();
        let mut stack = vec![dir];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).unwrap().flatten() {
                let p = e.path();
                if p.is_dir() {
                    stack.push(p);
                } else {
                    files.push(p);
                }
            }
        }
        files.sort();
        let (mut total, mut hits) = (0, 0);
        let mut misses = Vec::new();
        for f in files {
            let text = std::fs::read(&f).unwrap();
            let text = String::from_utf8_lossy(&text);
            let lines: Vec<&str> = text.lines().collect();
            for (i, l) in lines.iter().enumerate() {
                let Some(rest) = l.strip_prefix("# failJSON:") else {
                    continue;
                };
                let Ok(v) = serde_json::from_str::<serde_json::Value>(rest.trim()) else {
                    continue;
                };
                let Some(want) = v.get("time").and_then(|t| t.as_str()) else {
                    continue;
                };
                let Some(next) = lines.get(i + 1) else {
                    continue;
                };
                let want = want.split('.').next().unwrap();
                let Ok(want) = NaiveDateTime::parse_from_str(want, "%Y-%m-%dT%H:%M:%S") else {
                    continue;
                };
                total += 1;
                let got = parse_timestamp(next.as_bytes(), now());
                let ok = got.is_some_and(|g| {
                    let naive = g.naive.with_nanosecond(0).unwrap();
                    if g.year_inferred {
                        naive.with_year(want.year()) == Some(want)
                    } else if let Some(off) = g.offset_secs {
                        let utc = naive - Duration::seconds(i64::from(off));
                        naive == want || zurich(utc) == want
                    } else {
                        naive == want
                    }
                });
                if ok {
                    hits += 1;
                } else {
                    misses.push(format!(
                        "{}: want {want}, got {:?}: {next}",
                        f.file_name().unwrap().to_string_lossy(),
                        got.map(|g| g.naive)
                    ));
                }
            }
        }
        let rate = hits as f64 / total.max(1) as f64;
        eprintln!(
            "fail2ban answer key: {hits}/{total} = {:.1}%; misses:\n{}",
            rate * 100.0,
            misses.join("\n")
        );
        assert!(total > 800, "answer key too small: {total}");
        assert!(rate >= 0.97, "hit rate {rate:.3} below the floor");
    }

    use chrono::{Timelike, Weekday};

    /// UTC to Europe/Zurich wall time (CET, CEST from the last Sunday of March 01:00 UTC to the
    /// last Sunday of October 01:00 UTC): the zone fail2ban's answer key was written in.
    fn zurich(utc: NaiveDateTime) -> NaiveDateTime {
        let last_sunday = |m: u32| {
            let mut d = NaiveDate::from_ymd_opt(utc.year(), m, 31).unwrap();
            while d.weekday() != Weekday::Sun {
                d = d.pred_opt().unwrap();
            }
            d.and_hms_opt(1, 0, 0).unwrap()
        };
        let summer = utc >= last_sunday(3) && utc < last_sunday(10);
        utc + Duration::hours(if summer { 2 } else { 1 })
    }
}
