//! Durations and byte sizes as LogQL writes them: `1h30m`, `250ms`, `1.5s`; `10KB`, `1MiB`.

/// Parses a Go/Prometheus duration (`1h30m`, `1.5s`, `2d`) into nanoseconds (the one parser
/// lives in storage).
pub use logq_storage::duration::parse_duration_ns;

/// Go's `time.ParseDuration` (the one parser lives in storage).
pub use logq_storage::duration::go_duration_ns;

/// Parses a byte size (`10KB`, `1.5MiB`, `42B`, `42`) into bytes (KB = 1000, KiB = 1024).
pub fn parse_bytes(s: &str) -> Option<f64> {
    let t = s.trim();
    let n = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    if n == 0 {
        return None;
    }
    let value: f64 = t[..n].parse().ok()?;
    let mult = bytes_unit(t[n..].trim())?;
    Some(value * mult)
}

/// The multiplier of a byte unit (`B`, `kB`, `KiB`, `MB`, ...; case-insensitive).
pub fn bytes_unit(unit: &str) -> Option<f64> {
    Some(match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "kb" | "k" => 1e3,
        "kib" | "ki" => 1024.0,
        "mb" | "m" => 1e6,
        "mib" | "mi" => 1024.0 * 1024.0,
        "gb" | "g" => 1e9,
        "gib" | "gi" => 1024.0 * 1024.0 * 1024.0,
        "tb" | "t" => 1e12,
        "tib" | "ti" => 1024f64.powi(4),
        "pb" | "p" => 1e15,
        "pib" | "pi" => 1024f64.powi(5),
        _ => return None,
    })
}

/// `humanize.ParseBytes`, which Loki uses for bytes label filters and `unwrap bytes(...)`:
/// digits (with `.` and `,`) then an optional unit (`kB` = 1000, `KiB` = 1024, ...,
/// case-insensitive), truncated to whole bytes; errors in its words.
pub fn humanize_bytes(s: &str) -> Result<u64, String> {
    let last_digit: usize = s
        .chars()
        .take_while(|c| c.is_numeric() || *c == '.' || *c == ',')
        .map(char::len_utf8)
        .sum();
    let num = s[..last_digit].replace(',', "");
    let f: f64 = num
        .parse()
        .map_err(|_| format!("strconv.ParseFloat: parsing {num:?}: invalid syntax"))?;
    let extra = s[last_digit..].trim().to_lowercase();
    let mult: f64 = match extra.as_str() {
        "" | "b" => 1.0,
        "kb" | "k" => 1e3,
        "kib" | "ki" => 1024.0,
        "mb" | "m" => 1e6,
        "mib" | "mi" => 1024f64.powi(2),
        "gb" | "g" => 1e9,
        "gib" | "gi" => 1024f64.powi(3),
        "tb" | "t" => 1e12,
        "tib" | "ti" => 1024f64.powi(4),
        "pb" | "p" => 1e15,
        "pib" | "pi" => 1024f64.powi(5),
        "eb" | "e" => 1e18,
        "eib" | "ei" => 1024f64.powi(6),
        _ => return Err(format!("unhandled size name: {extra}")),
    };
    let v = f * mult;
    if v >= u64::MAX as f64 {
        return Err(format!("too large: {s}"));
    }
    Ok(v as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use logq_storage::duration::GoDurationError;

    #[test]
    fn go_durations_and_humanize_bytes() {
        assert_eq!(go_duration_ns("1.5s"), Ok(1_500_000_000));
        assert_eq!(go_duration_ns("1h2m"), Ok(3_720_000_000_000));
        assert_eq!(go_duration_ns("0"), Ok(0));
        assert_eq!(go_duration_ns("-250ms"), Ok(-250_000_000));
        assert_eq!(
            go_duration_ns("oops"),
            Err(GoDurationError("time: invalid duration \"oops\"".into()))
        );
        assert_eq!(
            go_duration_ns("5"),
            Err(GoDurationError("time: missing unit in duration \"5\"".into()))
        );
        assert_eq!(
            go_duration_ns("1d"),
            Err(GoDurationError(
                "time: unknown unit \"d\" in duration \"1d\"".into()
            ))
        );
        assert_eq!(humanize_bytes("1.5KB"), Ok(1500));
        assert_eq!(humanize_bytes("1KiB"), Ok(1024));
        assert_eq!(humanize_bytes("1,000 b"), Ok(1000));
        assert_eq!(humanize_bytes("1.2345kB"), Ok(1234));
        assert_eq!(
            humanize_bytes("oops"),
            Err("strconv.ParseFloat: parsing \"\": invalid syntax".into())
        );
        assert_eq!(
            humanize_bytes("5 parsecs"),
            Err("unhandled size name: parsecs".into())
        );
    }

    #[test]
    fn durations_and_bytes() {
        assert_eq!(parse_duration_ns("1h30m"), Some(5_400_000_000_000));
        assert_eq!(parse_duration_ns("1.5s"), Some(1_500_000_000));
        assert_eq!(parse_duration_ns("250ms"), Some(250_000_000));
        assert_eq!(parse_duration_ns("-2m"), Some(-120_000_000_000));
        assert_eq!(parse_duration_ns("5x"), None);
        assert_eq!(parse_duration_ns(""), None);
        assert_eq!(parse_bytes("10KB"), Some(10_000.0));
        assert_eq!(parse_bytes("1MiB"), Some(1_048_576.0));
        assert_eq!(parse_bytes("42"), Some(42.0));
        assert_eq!(parse_bytes("3 parsecs"), None);
    }
}
