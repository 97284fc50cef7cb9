//! The per-tenant registry of history indexes: one record per (range, selector), persisted as
//! `<root>/<tenant>/registry.json` (written to a temporary file, fsynced and renamed, so a
//! crash leaves the old or the new registry, never a torn one). Index data lives beside it in
//! `<root>/<tenant>/<id>/`.

use std::path::{Path, PathBuf};

use logq_storage::TenantId;
use serde::{Deserialize, Serialize};

/// Lifecycle of an index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IndexState {
    /// Waiting for a build slot.
    Queued,
    /// Being built.
    Building,
    /// Built and usable by queries.
    Ready,
    /// The build failed (see the record's error).
    Failed,
    /// Dropped after its time to live, or evicted under the disk budget.
    Expired,
}

impl IndexState {
    /// The state as the API writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            IndexState::Queued => "queued",
            IndexState::Building => "building",
            IndexState::Ready => "ready",
            IndexState::Failed => "failed",
            IndexState::Expired => "expired",
        }
    }

    /// Whether a build is pending or running.
    pub fn in_progress(self) -> bool {
        matches!(self, IndexState::Queued | IndexState::Building)
    }
}

/// What the registry remembers of one index.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IndexRecord {
    /// Stable id: a hash of tenant, range and canonical selector.
    pub id: String,
    /// Inclusive start, ns.
    pub start: i64,
    /// Exclusive end, ns.
    pub end: i64,
    /// The canonical stream selector (`{}` = every stream).
    pub query: String,
    /// The selector's matchers as (name, operator, value).
    pub matchers: Vec<(String, String, String)>,
    /// The index's directory name under the tenant's directory (one per build).
    pub dir: String,
    /// Lifecycle state.
    pub state: IndexState,
    /// Entries indexed.
    pub lines: u64,
    /// Line bytes indexed.
    pub bytes_raw: u64,
    /// Size of the index on local disk.
    pub bytes_on_disk: u64,
    /// When it was first asked for (Unix ns).
    pub created_at: i64,
    /// When a load or a query last used it (Unix ns).
    pub last_used_at: i64,
    /// Why it failed or was dropped.
    pub error: Option<String>,
}

/// The directory of one tenant's indexes.
pub fn tenant_dir(root: &Path, tenant: &TenantId) -> PathBuf {
    root.join(tenant.as_str())
}

fn registry_path(root: &Path, tenant: &TenantId) -> PathBuf {
    tenant_dir(root, tenant).join("registry.json")
}

/// Reads a tenant's registry (empty when there is none yet).
pub fn read(root: &Path, tenant: &TenantId) -> std::io::Result<Vec<IndexRecord>> {
    match std::fs::read(registry_path(root, tenant)) {
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("history registry of tenant {tenant}: {e}"),
            )
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(e),
    }
}

/// Writes a tenant's registry atomically.
pub fn write(root: &Path, tenant: &TenantId, records: &[IndexRecord]) -> std::io::Result<()> {
    use std::io::Write;
    let dir = tenant_dir(root, tenant);
    std::fs::create_dir_all(&dir)?;
    let tmp = dir.join("registry.json.tmp");
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(&serde_json::to_vec_pretty(records).map_err(std::io::Error::other)?)?;
    f.sync_all()?;
    std::fs::rename(&tmp, registry_path(root, tenant))?;
    if let Ok(d) = std::fs::File::open(&dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// Tenants with a registry under `root`.
pub fn tenants(root: &Path) -> std::io::Result<Vec<TenantId>> {
    let mut out = Vec::new();
    let entries = match std::fs::read_dir(root) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let entry = entry?;
        if !entry.path().join("registry.json").exists() {
            continue;
        }
        if let Some(t) = entry.file_name().to_str().and_then(|n| TenantId::new(n).ok()) {
            out.push(t);
        }
    }
    out.sort();
    Ok(out)
}

/// Total size of the files under `dir` (0 when it does not exist).
pub fn dir_size(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .filter_map(Result::ok)
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => dir_size(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(id: &str) -> IndexRecord {
        IndexRecord {
            id: id.into(),
            start: 1,
            end: 2,
            query: "{}".into(),
            matchers: vec![("app".into(), "=".into(), "x".into())],
            dir: format!("{id}-1"),
            state: IndexState::Ready,
            lines: 3,
            bytes_raw: 4,
            bytes_on_disk: 5,
            created_at: 6,
            last_used_at: 7,
            error: None,
        }
    }

    #[test]
    fn registry_round_trips_and_lists_tenants() {
        let dir = tempfile::tempdir().unwrap();
        let a = TenantId::new("a").unwrap();
        assert!(read(dir.path(), &a).unwrap().is_empty());
        write(dir.path(), &a, &[record("x"), record("y")]).unwrap();
        assert_eq!(read(dir.path(), &a).unwrap(), vec![record("x"), record("y")]);
        assert_eq!(tenants(dir.path()).unwrap(), vec![a.clone()]);
        std::fs::write(registry_path(dir.path(), &a), b"{not json").unwrap();
        assert!(read(dir.path(), &a).is_err());
    }

    #[test]
    fn state_names_are_the_api_names() {
        assert_eq!(
            serde_json::to_string(&IndexState::Building).unwrap(),
            "\"building\""
        );
        assert_eq!(IndexState::Expired.as_str(), "expired");
        assert!(IndexState::Queued.in_progress() && !IndexState::Ready.in_progress());
    }
}
