//! Durations and byte sizes as LogQL writes them: `1h30m`, `250ms`, `1.5s`; `10KB`, `1MiB`.

/// Parses a Go/Prometheus duration (`1h30m`, `1.5s`, `2d`) into nanoseconds.
pub fn parse_duration_ns(s: &str) -> Option<i64> {
    let mut rest = s.trim();
    let negative = rest.starts_with('-');
    if negative {
        rest = &rest[1..];
    }
    if rest.is_empty() {
        return None;
    }
    let mut total = 0f64;
    while !rest.is_empty() {
        let n = rest.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
        if n == 0 {
            return None;
        }
        let value: f64 = rest[..n].parse().ok()?;
        rest = &rest[n..];
        let u = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let mult = match &rest[..u] {
            "ns" => 1.0,
            "us" | "µs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            "d" => 86_400e9,
            "w" => 604_800e9,
            "y" => 31_536_000e9,
            _ => return None,
        };
        total += value * mult;
        rest = &rest[u..];
    }
    if !total.is_finite() || total > i64::MAX as f64 {
        return None;
    }
    Some(if negative { -(total as i64) } else { total as i64 })
}

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

#[cfg(test)]
mod tests {
    use super::*;

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
