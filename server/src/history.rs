//! `[server.history]`: the history indexes (`--history-ttl`, `--history-disk-budget`,
//! `--history-max-range`, `--history-build-concurrency`), and opening their manager under
//! `<data_dir>/history` as the history API's state and a data source of the querier.
//!
//! Invariants: the disk budget is bytes or a share of the data directory's filesystem,
//! resolved to bytes when the server starts; every value is checked by
//! [`HistorySection::validate`] before the manager opens.

use std::fmt;
use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use logq_history::{HistoryManager, ManagerConfig};
use logq_storage::duration::serde_duration;
use logq_storage::ManifestStore;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::ServerError;

/// `[server.history]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HistorySection {
    /// A history index unused this long expires (its files are deleted).
    #[serde(with = "serde_duration")]
    pub ttl: Duration,
    /// Most disk all history indexes may use: bytes (`"500MB"`, `"2GiB"`) or a share of the
    /// data directory's filesystem (`"10%"`); least recently used indexes are evicted first.
    #[serde(serialize_with = "budget_ser", deserialize_with = "budget_de")]
    pub disk_budget: DiskBudget,
    /// Longest time range one history index may cover.
    #[serde(with = "serde_duration")]
    pub max_range: Duration,
    /// History index builds running at once (each keeps about one core busy).
    pub build_concurrency: usize,
}

impl Default for HistorySection {
    fn default() -> Self {
        HistorySection {
            ttl: Duration::from_secs(6 * 3600),
            disk_budget: DiskBudget::Percent(10.0),
            max_range: Duration::from_secs(7 * 24 * 3600),
            build_concurrency: 1,
        }
    }
}

/// `history.disk_budget`: bytes, or a percentage of the filesystem.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum DiskBudget {
    /// Bytes.
    Bytes(u64),
    /// Percent of the data directory's filesystem size.
    Percent(f64),
}

impl FromStr for DiskBudget {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let s = s.trim();
        if let Some(p) = s.strip_suffix('%') {
            return match p.trim().parse::<f64>() {
                Ok(v) if v > 0.0 && v <= 100.0 => Ok(DiskBudget::Percent(v)),
                _ => Err(format!(
                    "invalid disk budget {s:?}: a percentage must be in (0, 100]"
                )),
            };
        }
        match logq_querier::logql::parse_bytes(s) {
            Some(b) if b >= 1.0 => Ok(DiskBudget::Bytes(b as u64)),
            _ => Err(format!(
                "invalid disk budget {s:?}: expected bytes (500MB, 2GiB) or a percentage (10%)"
            )),
        }
    }
}

impl fmt::Display for DiskBudget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DiskBudget::Bytes(b) => write!(f, "{b}"),
            DiskBudget::Percent(p) => write!(f, "{p}%"),
        }
    }
}

fn budget_ser<S: Serializer>(b: &DiskBudget, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&b.to_string())
}

fn budget_de<'de, D: Deserializer<'de>>(d: D) -> Result<DiskBudget, D::Error> {
    String::deserialize(d)?.parse().map_err(serde::de::Error::custom)
}

/// Size in bytes of the filesystem holding `path`.
fn filesystem_size(path: &Path) -> std::io::Result<u64> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes())
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
    // SAFETY: statvfs is plain old data; all-zero is a valid value.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: `c` is a valid NUL-terminated path and `st` a writable statvfs.
    let rc = unsafe { libc::statvfs(c.as_ptr(), &mut st) };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok((st.f_blocks as u64).saturating_mul(st.f_frsize as u64))
}

impl HistorySection {
    /// Checks value ranges (`history.<key>: <reason>`).
    pub fn validate(&self) -> Result<(), ServerError> {
        let bad = |key: &str, reason: &str| Err(ServerError::Config(format!("history.{key}: {reason}")));
        if self.build_concurrency == 0 {
            return bad(
                "build_concurrency",
                "must be at least 1 (--history-build-concurrency)",
            );
        }
        if self.ttl.is_zero() {
            return bad("ttl", "must be positive (--history-ttl)");
        }
        if self.max_range.is_zero() {
            return bad("max_range", "must be positive (--history-max-range)");
        }
        Ok(())
    }

    /// Opens the history manager under `<data_dir>/history` (reopening ready indexes).
    pub async fn open(
        &self,
        data_dir: &Path,
        manifests: ManifestStore,
    ) -> Result<Arc<HistoryManager>, ServerError> {
        self.validate()?;
        let root = data_dir.join("history");
        std::fs::create_dir_all(&root).map_err(ServerError::io(format!("creating {}", root.display())))?;
        let budget = match self.disk_budget {
            DiskBudget::Bytes(b) => b,
            DiskBudget::Percent(p) => {
                let size = filesystem_size(&root).map_err(ServerError::io(format!(
                    "measuring the filesystem of {}",
                    root.display()
                )))?;
                (size as f64 * p / 100.0) as u64
            }
        };
        let config = ManagerConfig {
            ttl: self.ttl,
            disk_budget: budget,
            max_range_ns: self.max_range.as_nanos().min(i64::MAX as u128) as i64,
            build_concurrency: self.build_concurrency,
            ..ManagerConfig::new(root.clone())
        };
        tracing::info!(dir = %root.display(), budget, ttl = ?self.ttl, "history indexes");
        HistoryManager::open(config, manifests)
            .await
            .map_err(ServerError::io(format!(
                "opening history indexes in {}",
                root.display()
            )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disk_budgets_are_bytes_or_percentages() {
        assert_eq!("10%".parse(), Ok(DiskBudget::Percent(10.0)));
        assert_eq!("500MB".parse(), Ok(DiskBudget::Bytes(500_000_000)));
        assert_eq!("1KiB".parse(), Ok(DiskBudget::Bytes(1024)));
        assert_eq!("4096".parse(), Ok(DiskBudget::Bytes(4096)));
        assert!("0%".parse::<DiskBudget>().is_err());
        assert!("101%".parse::<DiskBudget>().is_err());
        assert!("lots".parse::<DiskBudget>().is_err());
        assert!(filesystem_size(Path::new("/")).unwrap() > 0);
    }

    #[test]
    fn bad_history_settings_are_named() {
        let mut h = HistorySection::default();
        assert!(h.validate().is_ok());
        h.build_concurrency = 0;
        assert!(h
            .validate()
            .unwrap_err()
            .to_string()
            .contains("history.build_concurrency"));
    }

    #[test]
    fn the_section_round_trips_through_toml() {
        let h = HistorySection {
            disk_budget: DiskBudget::Bytes(1234),
            ..HistorySection::default()
        };
        let text = toml::to_string(&h).unwrap();
        assert_eq!(toml::from_str::<HistorySection>(&text).unwrap(), h);
    }
}
