//! Durations as logq reads and writes them, in one place: Go/Prometheus duration strings
//! (`1h30m`, `250ms`, `1.5s`, `7d`, `2w`, `1y`), Loki's duration parameters (those, or float
//! seconds), and the serde form configuration files use (a duration string).
//!
//! Invariants: units are `ns`, `us`/`µs`, `ms`, `s`, `m`, `h`, `d` (24 h), `w` (7 d) and `y`
//! (365 d); components add up (`1h30m`); a value that overflows `i64` nanoseconds is an error,
//! never a wrap. [`format_duration`] writes what [`parse_duration_ns`] reads back exactly.

use std::time::Duration;

/// A duration string that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a valid duration string: {0:?}")]
pub struct DurationError(pub String);

/// A duration Go's `time.ParseDuration` refuses, with Go's own message (LogQL shows it as
/// `__error_details__`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct GoDurationError(pub String);

const UNITS: &[(&str, i128)] = &[
    ("ns", 1),
    ("us", 1_000),
    ("µs", 1_000),
    ("ms", 1_000_000),
    ("s", 1_000_000_000),
    ("m", 60_000_000_000),
    ("h", 3_600_000_000_000),
    ("d", 86_400_000_000_000),
    ("w", 7 * 86_400_000_000_000),
    ("y", 365 * 86_400_000_000_000),
];

/// Parses a Go/Prometheus duration (`1h30m`, `1.5s`, `-5m`, `2d`) into nanoseconds; `None` when
/// it is not one (an empty string, a bare number, an unknown unit, an overflow).
pub fn parse_duration_ns(s: &str) -> Option<i64> {
    let mut rest = s.trim();
    let negative = rest.starts_with('-');
    if negative {
        rest = &rest[1..];
    }
    if rest.is_empty() {
        return None;
    }
    let mut total: i128 = 0;
    while !rest.is_empty() {
        let n = rest.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
        if n == 0 {
            return None;
        }
        let number = &rest[..n];
        rest = &rest[n..];
        let u = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let mult = UNITS.iter().find(|(name, _)| *name == &rest[..u])?.1;
        rest = &rest[u..];
        total += component_ns(number, mult)?;
        if total > i128::from(i64::MAX) {
            return None;
        }
    }
    let total = total as i64;
    Some(if negative { -total } else { total })
}

/// `number` (digits, at most one `.`) times `mult` ns, exact for whole numbers.
fn component_ns(number: &str, mult: i128) -> Option<i128> {
    let (whole, frac) = number.split_once('.').unwrap_or((number, ""));
    if frac.contains('.') || (whole.is_empty() && frac.is_empty()) {
        return None;
    }
    let whole: i128 = if whole.is_empty() { 0 } else { whole.parse().ok()? };
    let mut ns = whole.checked_mul(mult)?;
    if !frac.is_empty() {
        // Nine digits of fraction are exact to the nanosecond for every unit from seconds down.
        let digits = &frac[..frac.len().min(18)];
        let scale = 10i128.pow(digits.len() as u32);
        ns = ns.checked_add(digits.parse::<i128>().ok()?.checked_mul(mult)? / scale)?;
    }
    Some(ns)
}

/// Parses a duration as Loki's HTTP parameters take it (`step`, `since`, ...): float seconds
/// (`15`, `0.5`) or a duration string (`1h30m`); negative values are refused.
pub fn parse_duration(v: &str) -> Result<i64, DurationError> {
    let v = v.trim();
    if let Ok(f) = v.parse::<f64>() {
        if f.is_finite() && f >= 0.0 && f * 1e9 <= i64::MAX as f64 {
            return Ok((f * 1e9) as i64);
        }
        return Err(DurationError(v.to_string()));
    }
    match parse_duration_ns(v) {
        Some(ns) if ns >= 0 && !v.starts_with('-') => Ok(ns),
        _ => Err(DurationError(v.to_string())),
    }
}

/// Parses a non-negative duration setting (a flag or a config value) into a [`Duration`].
pub fn parse_std_duration(v: &str) -> Result<Duration, DurationError> {
    parse_duration(v).map(|ns| Duration::from_nanos(ns as u64))
}

/// Go's `time.ParseDuration`, which Loki uses for LogQL duration label filters and
/// `unwrap duration(...)`: units `ns us µs μs ms s m h` only, a lone `0` allowed, and Go's
/// error messages (they become `__error_details__`).
pub fn go_duration_ns(orig: &str) -> Result<i64, GoDurationError> {
    let invalid = || GoDurationError(format!("time: invalid duration {orig:?}"));
    let mut s = orig;
    let mut neg = false;
    if let Some(c) = s.chars().next() {
        if c == '-' || c == '+' {
            neg = c == '-';
            s = &s[1..];
        }
    }
    if s == "0" {
        return Ok(0);
    }
    if s.is_empty() {
        return Err(invalid());
    }
    let mut total: i64 = 0;
    while !s.is_empty() {
        if !s.starts_with(|c: char| c == '.' || c.is_ascii_digit()) {
            return Err(invalid());
        }
        let int_len = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
        let int_part = &s[..int_len];
        s = &s[int_len..];
        let mut frac_part = "";
        if let Some(rest) = s.strip_prefix('.') {
            let n = rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len());
            frac_part = &rest[..n];
            s = &rest[n..];
        }
        if int_part.is_empty() && frac_part.is_empty() {
            return Err(invalid());
        }
        let unit_len = s
            .find(|c: char| c == '.' || c.is_ascii_digit())
            .unwrap_or(s.len());
        if unit_len == 0 {
            return Err(GoDurationError(format!(
                "time: missing unit in duration {orig:?}"
            )));
        }
        let unit = &s[..unit_len];
        s = &s[unit_len..];
        let mult: i64 = match unit {
            "ns" => 1,
            "us" | "µs" | "μs" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            _ => {
                return Err(GoDurationError(format!(
                    "time: unknown unit {unit:?} in duration {orig:?}"
                )))
            }
        };
        let v: i64 = if int_part.is_empty() {
            0
        } else {
            int_part.parse().map_err(|_| invalid())?
        };
        let mut d = v.checked_mul(mult).ok_or_else(invalid)?;
        if !frac_part.is_empty() {
            // Go: f * (unit / scale), in floating point, truncated.
            let digits = &frac_part[..frac_part.len().min(18)];
            let f: f64 = digits.parse::<u64>().map_err(|_| invalid())? as f64;
            let scale = 10f64.powi(digits.len() as i32);
            d = d
                .checked_add((f * (mult as f64 / scale)) as i64)
                .ok_or_else(invalid)?;
        }
        total = total.checked_add(d).ok_or_else(invalid)?;
    }
    Ok(if neg { -total } else { total })
}

/// Writes a duration the way people write them (`1h30m`, `250ms`, `7d`, `0s`), largest units
/// first; [`parse_duration_ns`] reads it back to the same value.
pub fn format_duration(d: Duration) -> String {
    let mut ns = d.as_nanos();
    if ns == 0 {
        return "0s".into();
    }
    let mut out = String::new();
    for (name, mult) in [
        ("d", 86_400_000_000_000u128),
        ("h", 3_600_000_000_000),
        ("m", 60_000_000_000),
        ("s", 1_000_000_000),
        ("ms", 1_000_000),
        ("us", 1_000),
        ("ns", 1),
    ] {
        if ns >= mult {
            out.push_str(&format!("{}{name}", ns / mult));
            ns %= mult;
        }
    }
    out
}

/// Serde for a [`Duration`] field written as a duration string (`#[serde(with =
/// "logq_storage::duration::serde_duration")]`).
pub mod serde_duration {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    /// Writes `d` as a duration string.
    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::format_duration(*d))
    }

    /// Reads a duration string.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let text = String::deserialize(d)?;
        super::parse_std_duration(&text).map_err(serde::de::Error::custom)
    }
}

/// Serde for an `Option<Duration>` field written as a duration string; absent means `None`
/// (pair with `#[serde(default)]`; `None` is skipped when written).
pub mod serde_opt_duration {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    /// Writes `Some(d)` as a duration string (`None` is skipped by `skip_serializing_if`).
    pub fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_str(&super::format_duration(*d)),
            None => s.serialize_none(),
        }
    }

    /// Reads a duration string.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        let text = String::deserialize(d)?;
        super::parse_std_duration(&text)
            .map(Some)
            .map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations() {
        assert_eq!(parse_duration_ns("1h30m"), Some(5_400_000_000_000));
        assert_eq!(parse_duration_ns("1.5s"), Some(1_500_000_000));
        assert_eq!(parse_duration_ns("250ms"), Some(250_000_000));
        assert_eq!(parse_duration_ns("-5m"), Some(-300_000_000_000));
        assert_eq!(parse_duration_ns("2d"), Some(172_800_000_000_000));
        assert_eq!(parse_duration_ns("1w"), Some(604_800_000_000_000));
        assert_eq!(parse_duration_ns("1y"), Some(31_536_000_000_000_000));
        assert_eq!(parse_duration_ns("3µs"), Some(3_000));
        assert_eq!(parse_duration_ns(".5s"), Some(500_000_000));
        for bad in ["", "5", "5x", "h", "1..5s", "-", "300y", "1.2.3s"] {
            assert_eq!(parse_duration_ns(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn loki_parameters_take_seconds_or_durations_never_negative() {
        assert_eq!(parse_duration("15"), Ok(15_000_000_000));
        assert_eq!(parse_duration("0.5"), Ok(500_000_000));
        assert_eq!(parse_duration("1m"), Ok(60_000_000_000));
        assert!(parse_duration("-1m").is_err());
        assert!(parse_duration("-3").is_err());
        assert_eq!(
            parse_duration("soon").unwrap_err().to_string(),
            "not a valid duration string: \"soon\""
        );
    }

    #[test]
    fn formatting_round_trips() {
        for text in ["0s", "1h30m", "250ms", "7d", "1d2h3m4s5ms6us7ns", "90s"] {
            let d = parse_std_duration(text).unwrap();
            assert_eq!(parse_std_duration(&format_duration(d)).unwrap(), d, "{text}");
        }
        assert_eq!(format_duration(Duration::from_secs(5400)), "1h30m");
        assert_eq!(format_duration(Duration::from_secs(7 * 86400)), "7d");
        assert_eq!(format_duration(Duration::from_secs(90)), "1m30s");
    }
}
