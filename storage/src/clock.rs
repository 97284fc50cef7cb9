//! The wall clock, read one way everywhere: Unix nanoseconds as an `i64` (the timestamp type of
//! every entry). A clock before 1970 reads as 0 rather than panicking.

/// The current time in Unix nanoseconds.
pub fn now_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i64)
}

#[cfg(test)]
mod tests {
    #[test]
    fn now_is_after_2020() {
        assert!(super::now_ns() > 1_577_836_800_000_000_000);
    }
}
