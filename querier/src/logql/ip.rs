//! `ip("...")` matchers for line and label filters: a single address, a CIDR range
//! (`10.0.0.0/8`, `2001:db8::/32`) or an inclusive range (`192.168.0.1-192.168.0.20`).

use std::net::IpAddr;

/// An address range of one family.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IpMatcher {
    /// The expression as written.
    pub text: String,
    v6: bool,
    start: u128,
    end: u128,
}

fn to_u128(ip: IpAddr) -> (bool, u128) {
    match ip {
        IpAddr::V4(a) => (false, u128::from(u32::from(a))),
        IpAddr::V6(a) => (true, u128::from(a)),
    }
}

impl IpMatcher {
    /// Parses `addr`, `addr/prefix` or `first-last`, without surrounding spaces (Loki's
    /// `getMatcher`: netip.ParseAddr, ParsePrefix, netipx.ParseIPRange), failing with Loki's
    /// `ip: invalid pattern` (log/ip.go ErrIPFilterInvalidPattern).
    pub fn parse(text: &str) -> Result<Self, String> {
        let bad = || "ip: invalid pattern".to_string();
        let t = text;
        let (v6, start, end) = if let Some((addr, bits)) = t.split_once('/') {
            let ip: IpAddr = addr.parse().map_err(|_| bad())?;
            let bits: u32 = bits.parse().map_err(|_| bad())?;
            let (v6, n) = to_u128(ip);
            let width = if v6 { 128 } else { 32 };
            if bits > width {
                return Err(bad());
            }
            let host_bits = width - bits;
            let mask: u128 = if host_bits == 128 {
                u128::MAX
            } else {
                (1u128 << host_bits) - 1
            };
            (v6, n & !mask, n | mask)
        } else if let Some((a, b)) = t.split_once('-') {
            let (v6a, a) = to_u128(a.parse().map_err(|_| bad())?);
            let (v6b, b) = to_u128(b.parse().map_err(|_| bad())?);
            if v6a != v6b || a > b {
                return Err(bad());
            }
            (v6a, a, b)
        } else {
            let (v6, n) = to_u128(t.parse().map_err(|_| bad())?);
            (v6, n, n)
        };
        Ok(IpMatcher {
            text: text.to_string(),
            v6,
            start,
            end,
        })
    }

    /// Whether `ip` is in the range.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let (v6, n) = to_u128(ip);
        v6 == self.v6 && n >= self.start && n <= self.end
    }

    /// Whether a value (a label) is an address in the range.
    pub fn matches_value(&self, v: &str) -> bool {
        v.trim().parse::<IpAddr>().is_ok_and(|ip| self.contains(ip))
    }

    /// Whether any address in `line` is in the range.
    pub fn matches_line(&self, line: &str) -> bool {
        line.split(|c: char| !(c.is_ascii_hexdigit() || c == '.' || c == ':'))
            .filter(|tok| tok.len() >= 2 && (tok.contains('.') || tok.contains(':')))
            .any(|tok| {
                tok.parse::<IpAddr>().is_ok_and(|ip| self.contains(ip))
                    || tok
                        .trim_end_matches(['.', ':'])
                        .parse::<IpAddr>()
                        .is_ok_and(|ip| self.contains(ip))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_and_lines() {
        let cidr = IpMatcher::parse("192.168.0.0/16").unwrap();
        assert!(cidr.matches_line("from 192.168.4.5: ok"));
        assert!(!cidr.matches_line("from 10.0.0.1 via 1.2.3"));
        let range = IpMatcher::parse("10.0.0.5-10.0.0.9").unwrap();
        assert!(range.matches_value("10.0.0.9"));
        assert!(!range.matches_value("10.0.0.10"));
        let v6 = IpMatcher::parse("2001:db8::/32").unwrap();
        assert!(v6.matches_line("client=[2001:db8::1] said hi"));
        assert!(!v6.matches_value("10.0.0.1"));
        assert!(IpMatcher::parse("300.1.1.1").is_err());
        assert!(IpMatcher::parse("10.0.0.9-10.0.0.1").is_err());
        assert!(IpMatcher::parse("10.0.0.0/33").is_err());
    }

    #[test]
    fn invalid_patterns_fail_with_lokis_wording() {
        for bad in ["bad", "192.168.0.1 - 192.189.10.12", " 10.0.0.1", "10.0.0.0/x"] {
            assert_eq!(
                IpMatcher::parse(bad).unwrap_err(),
                "ip: invalid pattern",
                "{bad:?}"
            );
        }
    }
}
