//! `logq serve`'s history flags (`--history-ttl`, `--history-disk-budget`,
//! `--history-max-range`, `--history-build-concurrency`) and opening the history manager
//! under `<data-dir>/history`.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use logq_history::{HistoryManager, ManagerConfig};
use logq_storage::ManifestStore;

/// History index flags of `logq serve`.
#[derive(Debug, Args)]
pub struct HistoryArgs {
    /// A history index unused this long expires (its files are deleted).
    #[arg(long, default_value = "6h", value_parser = crate::serve::duration)]
    history_ttl: Duration,
    /// Most disk all history indexes may use: bytes (`500MB`, `2GiB`) or a share of the data
    /// directory's filesystem (`10%`). Least recently used indexes are evicted to stay within it.
    #[arg(long, default_value = "10%", value_parser = disk_budget)]
    history_disk_budget: DiskBudget,
    /// Longest time range one history index may cover.
    #[arg(long, default_value = "7d", value_parser = crate::serve::duration)]
    history_max_range: Duration,
    /// History index builds running at once (each keeps about one core busy).
    #[arg(long, default_value_t = 1)]
    history_build_concurrency: usize,
}

/// `--history-disk-budget`: bytes, or a percentage of the filesystem.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum DiskBudget {
    /// Bytes.
    Bytes(u64),
    /// Percent of the data directory's filesystem size.
    Percent(f64),
}

/// Parses `--history-disk-budget`.
pub fn disk_budget(s: &str) -> Result<DiskBudget, String> {
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

/// Size in bytes of the filesystem holding `path`.
fn filesystem_size(path: &Path) -> anyhow::Result<u64> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).context("data directory path")?;
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: `c` is a valid NUL-terminated path and `st` a writable statvfs.
    let rc = unsafe { libc::statvfs(c.as_ptr(), &mut st) };
    if rc != 0 {
        return Err(std::io::Error::last_os_error()).with_context(|| format!("statvfs {}", path.display()));
    }
    Ok((st.f_blocks as u64).saturating_mul(st.f_frsize as u64))
}

impl HistoryArgs {
    /// Opens the history manager under `<data_dir>/history` (reopening ready indexes).
    pub async fn open(
        &self,
        data_dir: &Path,
        manifests: ManifestStore,
    ) -> anyhow::Result<Arc<HistoryManager>> {
        let budget = match self.history_disk_budget {
            DiskBudget::Bytes(b) => b,
            DiskBudget::Percent(p) => (filesystem_size(data_dir)? as f64 * p / 100.0) as u64,
        };
        if self.history_build_concurrency == 0 {
            anyhow::bail!("--history-build-concurrency must be at least 1");
        }
        if self.history_ttl.is_zero() || self.history_max_range.is_zero() {
            anyhow::bail!("--history-ttl and --history-max-range must be positive");
        }
        let root = data_dir.join("history");
        let config = ManagerConfig {
            ttl: self.history_ttl,
            disk_budget: budget,
            max_range_ns: self.history_max_range.as_nanos().min(i64::MAX as u128) as i64,
            build_concurrency: self.history_build_concurrency,
            ..ManagerConfig::new(root.clone())
        };
        tracing::info!(dir = %root.display(), budget, ttl = ?self.history_ttl, "history indexes");
        HistoryManager::open(config, manifests)
            .await
            .with_context(|| format!("opening history indexes in {}", root.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disk_budgets_are_bytes_or_percentages() {
        assert_eq!(disk_budget("10%"), Ok(DiskBudget::Percent(10.0)));
        assert_eq!(disk_budget("500MB"), Ok(DiskBudget::Bytes(500_000_000)));
        assert_eq!(disk_budget("1KiB"), Ok(DiskBudget::Bytes(1024)));
        assert_eq!(disk_budget("4096"), Ok(DiskBudget::Bytes(4096)));
        assert!(disk_budget("0%").is_err());
        assert!(disk_budget("101%").is_err());
        assert!(disk_budget("lots").is_err());
        assert!(filesystem_size(Path::new("/")).unwrap() > 0);
    }
}
