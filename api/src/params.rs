//! Request parameters as Loki reads them: from the query string and, for POST, a form body;
//! times in seconds, nanoseconds, float seconds or RFC 3339; `since` and `step` durations.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{header, Method};

use logq_querier::logql::{parse_log_selector, LogExpr};

use crate::error::ApiError;

/// Request parameters (repeated keys kept in order).
#[derive(Debug, Default, Clone)]
pub struct Params(pub Vec<(String, String)>);

impl<S: Send + Sync> FromRequest<S> for Params {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let mut pairs: Vec<(String, String)> = req
            .uri()
            .query()
            .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
            .unwrap_or_default();
        let is_form = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
        if req.method() == Method::POST && is_form {
            let body = Bytes::from_request(req, state)
                .await
                .map_err(|e| ApiError::bad_request(format!("reading form body: {e}")))?;
            pairs.extend(form_urlencoded::parse(&body).into_owned());
        }
        Ok(Params(pairs))
    }
}

impl Params {
    /// The first value of `key` (empty values count as absent, as in Loki).
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, v)| k == key && !v.is_empty())
            .map(|(_, v)| v.as_str())
    }

    /// Every value of `key`.
    pub fn all<'a>(&'a self, key: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.0
            .iter()
            .filter(move |(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// A required parameter.
    pub fn required(&self, key: &str) -> Result<&str, ApiError> {
        self.get(key)
            .ok_or_else(|| ApiError::bad_request(format!("missing required parameter {key:?}")))
    }

    /// `limit` (default `default`, must be > 0).
    pub fn limit(&self, default: usize) -> Result<usize, ApiError> {
        match self.get("limit") {
            None => Ok(default),
            Some(v) => match v.parse::<usize>() {
                Ok(0) | Err(_) => Err(ApiError::bad_request(format!(
                    "invalid limit {v:?}: must be a positive integer"
                ))),
                Ok(n) => Ok(n),
            },
        }
    }

    /// The time parameter `key` in Unix ns, if given; a bad value is a 400 naming `key`.
    pub fn time(&self, key: &str) -> Result<Option<i64>, ApiError> {
        self.get(key)
            .map(|v| parse_time(v).map_err(|e| ApiError::bad_request(format!("invalid {key}: {e}"))))
            .transpose()
    }

    /// The required time parameter `key` in Unix ns.
    pub fn required_time(&self, key: &str) -> Result<i64, ApiError> {
        parse_time(self.required(key)?).map_err(|e| ApiError::bad_request(format!("invalid {key}: {e}")))
    }

    /// The required stream selector `query` (with any line filters), parsed.
    pub fn log_selector(&self) -> Result<LogExpr, ApiError> {
        Ok(parse_log_selector(self.required("query")?).map_err(logq_querier::QueryError::from)?)
    }

    /// The `(start, end)` range in ns: `end` defaults to now, `start` to `end - since` with
    /// `since` defaulting to one hour.
    pub fn range(&self, now: i64) -> Result<(i64, i64), ApiError> {
        let end = self.time("end")?.unwrap_or(now);
        let start = match self.time("start")? {
            Some(t) => t,
            None => {
                let since = match self.get("since") {
                    Some(v) => {
                        parse_duration(v).map_err(|e| ApiError::bad_request(format!("invalid since: {e}")))?
                    }
                    None => 3_600_000_000_000,
                };
                end.saturating_sub(since)
            }
        };
        if end < start {
            return Err(ApiError::bad_request(
                "invalid query, through < from: end timestamp must not be before start time",
            ));
        }
        Ok((start, end))
    }
}

/// A time parameter that is not one of Loki's time formats.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct TimeError(String);

/// Parses a Loki time parameter into Unix ns.
pub fn parse_time(v: &str) -> Result<i64, TimeError> {
    let v = v.trim();
    if v.contains('.') && v.bytes().all(|b| b.is_ascii_digit() || b == b'.' || b == b'-') {
        let f: f64 = v
            .parse()
            .map_err(|_| TimeError(format!("cannot parse {v:?} as a timestamp")))?;
        // Loki's `parseTimestamp`: whole seconds, and the fraction rounded to milliseconds
        // (`math.Modf`, `math.Round(ns*1000)/1000`, then truncated to ns as Go converts).
        let secs = f.trunc();
        let frac = ((f - secs) * 1000.0).round() / 1000.0;
        return Ok((secs as i64)
            .saturating_mul(1_000_000_000)
            .saturating_add((frac * 1e9) as i64));
    }
    if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) {
        let n: i64 = v
            .parse()
            .map_err(|_| TimeError(format!("timestamp {v:?} out of range")))?;
        return Ok(if v.len() <= 10 {
            n.saturating_mul(1_000_000_000)
        } else {
            n
        });
    }
    chrono::DateTime::parse_from_rfc3339(v)
        .map_err(|_| TimeError(format!("cannot parse {v:?} as a timestamp")))?
        .timestamp_nanos_opt()
        .ok_or_else(|| TimeError(format!("timestamp {v:?} out of range")))
}

/// Loki's duration parameters: float seconds or a duration string (the one parser lives in
/// storage).
pub use logq_storage::duration::parse_duration;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_formats() {
        assert_eq!(parse_time("1700000000").unwrap(), 1_700_000_000_000_000_000);
        assert_eq!(
            parse_time("1700000000000000001").unwrap(),
            1_700_000_000_000_000_001
        );
        assert_eq!(parse_time("1700000000.5").unwrap(), 1_700_000_000_500_000_000);
        // Float seconds carry milliseconds, as Loki reads them (not the float's noise).
        assert_eq!(parse_time("1700000000.123").unwrap(), 1_700_000_000_123_000_000);
        assert_eq!(parse_time("1700000000.1234").unwrap(), 1_700_000_000_123_000_000);
        assert_eq!(
            parse_time("2023-11-14T22:13:20Z").unwrap(),
            1_700_000_000_000_000_000
        );
        assert_eq!(
            parse_time("2023-11-14T22:13:20.000000007Z").unwrap(),
            1_700_000_000_000_000_007
        );
        assert!(parse_time("yesterday").is_err());
        assert!(parse_time("").is_err());
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("1h30m").unwrap(), 5_400_000_000_000);
        assert_eq!(parse_duration("15000ms").unwrap(), 15_000_000_000);
        assert_eq!(parse_duration("2.5").unwrap(), 2_500_000_000);
        assert!(parse_duration("5x").is_err());
        assert!(parse_duration("m").is_err());
    }

    #[test]
    fn range_defaults_and_validation() {
        let p = Params(vec![("since".into(), "5m".into())]);
        assert_eq!(
            p.range(1_000_000_000_000).unwrap(),
            (700_000_000_000, 1_000_000_000_000)
        );
        let p = Params(vec![("start".into(), "20".into()), ("end".into(), "10".into())]);
        assert!(p.range(0).unwrap_err().message.contains("through < from"));
        let p = Params(vec![("limit".into(), "0".into())]);
        assert!(p.limit(100).is_err());
    }
}
