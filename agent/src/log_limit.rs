//! Rate-limited warnings for events that can come by the thousand (refused lines, lines
//! skipped or re-stamped for their age): at most one log line per interval per kind, carrying
//! how many events it stands for, so the log stays readable and nothing goes unmentioned.

use std::time::{Duration, Instant};

/// Gates one kind of warning: [`LogLimit::hit`] says when to log, and how many events the log
/// line covers (this one and those suppressed since the last line).
#[derive(Debug)]
pub struct LogLimit {
    interval: Duration,
    last: Option<Instant>,
    pending: u64,
}

impl LogLimit {
    /// At most one log line per `interval`.
    pub fn new(interval: Duration) -> LogLimit {
        LogLimit {
            interval,
            last: None,
            pending: 0,
        }
    }

    /// Records `n` events; `Some(count)` when a line should be logged now, `count` being every
    /// event since the last logged line (these `n` included).
    pub fn hit(&mut self, n: u64) -> Option<u64> {
        self.pending += n;
        if self.last.is_some_and(|t| t.elapsed() < self.interval) {
            return None;
        }
        self.last = Some(Instant::now());
        Some(std::mem::take(&mut self.pending))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logs_the_first_event_then_counts_until_the_interval_passed() {
        let mut l = LogLimit::new(Duration::from_millis(50));
        assert_eq!(l.hit(3), Some(3));
        assert_eq!(l.hit(1), None);
        assert_eq!(l.hit(2), None);
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(l.hit(1), Some(4));
    }
}
