//! Per-tenant manifests: which chunks and blocks exist, for which time range.
//!
//! A manifest is a sequence of immutable versions `<tenant>/manifest/<version>.json`; the
//! highest version is current. A writer reads the current version `v`, applies its change and
//! writes `v + 1` with a create-only put; losing that race means re-reading and re-applying. A
//! reader therefore never sees a half-applied change, and a crash between writing objects and
//! writing the manifest leaves only unreferenced objects, never missing ones. The newest
//! [`KEEP_VERSIONS`] versions are kept so a reader that listed a moment ago can still read.

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::error::{Result, StorageError, StorageErrorKind};
use crate::layout::{manifest_key, manifest_prefix};
use crate::store::Store;
use crate::tenant::TenantId;

/// How many old manifest versions to keep.
pub const KEEP_VERSIONS: u64 = 8;

/// A flushed chunk.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChunkRef {
    /// Object key.
    pub key: String,
    /// Object size in bytes.
    pub size: u64,
    /// Start of its 5-minute window.
    pub window_start: i64,
    /// Earliest timestamp inside.
    pub min_ts: i64,
    /// Latest timestamp inside.
    pub max_ts: i64,
    /// Number of entries.
    pub entries: u64,
}

/// A compacted block and its label index.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockRef {
    /// Key of the Parquet data.
    pub key: String,
    /// Key of the label index.
    pub index_key: String,
    /// Size of the Parquet data.
    pub size: u64,
    /// Earliest timestamp inside.
    pub min_ts: i64,
    /// Latest timestamp inside.
    pub max_ts: i64,
    /// Number of entries.
    pub entries: u64,
}

/// An object no longer referenced, to delete once no reader can still be using it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingDelete {
    /// Object key.
    pub key: String,
    /// Unix time (ns) after which it may be deleted.
    pub after: i64,
}

/// One manifest version.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// Version number (0 = nothing written yet).
    pub version: u64,
    /// Flushed chunks not yet compacted.
    pub chunks: Vec<ChunkRef>,
    /// Compacted blocks.
    pub blocks: Vec<BlockRef>,
    /// Unreferenced objects awaiting deletion.
    pub pending_deletes: Vec<PendingDelete>,
    /// Delete requests (absent in manifests written before they existed).
    #[serde(default)]
    pub delete_requests: Vec<crate::delete_request::DeleteRequest>,
}

impl Manifest {
    /// Chunks with entries in `[start, end)`.
    pub fn chunks_in(&self, start: i64, end: i64) -> impl Iterator<Item = &ChunkRef> {
        self.chunks
            .iter()
            .filter(move |c| c.max_ts >= start && c.min_ts < end)
    }

    /// Blocks with entries in `[start, end)`.
    pub fn blocks_in(&self, start: i64, end: i64) -> impl Iterator<Item = &BlockRef> {
        self.blocks
            .iter()
            .filter(move |b| b.max_ts >= start && b.min_ts < end)
    }
}

/// Reads and atomically updates tenants' manifests in a store.
#[derive(Debug, Clone)]
pub struct ManifestStore {
    store: Store,
}

impl ManifestStore {
    /// Manifests kept in `store`.
    pub fn new(store: Store) -> Self {
        ManifestStore { store }
    }

    /// The underlying object store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Tenants that have a manifest.
    pub async fn tenants(&self) -> Result<Vec<TenantId>> {
        let mut out = Vec::new();
        for dir in self.store.list_dirs("").await? {
            if let Ok(t) = TenantId::new(dir) {
                if !self.store.list(&manifest_prefix(&t)).await?.is_empty() {
                    out.push(t);
                }
            }
        }
        Ok(out)
    }

    async fn latest_version(&self, tenant: &TenantId) -> Result<u64> {
        let listed = self.store.list(&manifest_prefix(tenant)).await?;
        Ok(listed
            .iter()
            .filter_map(|o| {
                o.path
                    .rsplit('/')
                    .next()?
                    .strip_suffix(".json")?
                    .parse::<u64>()
                    .ok()
            })
            .max()
            .unwrap_or(0))
    }

    /// The current manifest (an empty one if the tenant has none).
    pub async fn load(&self, tenant: &TenantId) -> Result<Manifest> {
        // A version can be pruned between listing and reading: list again then.
        for _ in 0..5 {
            let v = self.latest_version(tenant).await?;
            if v == 0 {
                return Ok(Manifest::default());
            }
            let key = manifest_key(tenant, v);
            match self.store.get(&key).await {
                Ok(bytes) => {
                    return serde_json::from_slice(&bytes)
                        .map_err(|e| StorageError::corrupt(format!("parsing manifest {key}"), e));
                }
                Err(e) if e.kind == StorageErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            }
        }
        Err(StorageError::new(
            StorageErrorKind::Io,
            format!("loading manifest of {tenant}"),
            "kept changing while read",
        ))
    }

    /// Applies `change` to the current manifest and writes the result as the next version,
    /// retrying on concurrent writers. Returns the manifest written.
    pub async fn update(&self, tenant: &TenantId, mut change: impl FnMut(&mut Manifest)) -> Result<Manifest> {
        loop {
            let mut m = self.load(tenant).await?;
            change(&mut m);
            m.version += 1;
            let key = manifest_key(tenant, m.version);
            let bytes = serde_json::to_vec(&m).map_err(|e| StorageError::corrupt("encoding manifest", e))?;
            if self.store.put_if_absent(&key, Bytes::from(bytes)).await? {
                if m.version > KEEP_VERSIONS {
                    self.store
                        .delete(&manifest_key(tenant, m.version - KEEP_VERSIONS))
                        .await?;
                }
                return Ok(m);
            }
            tracing::debug!(tenant = %tenant, version = m.version, "manifest write raced, retrying");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunk(key: &str) -> ChunkRef {
        ChunkRef {
            key: key.into(),
            size: 1,
            window_start: 0,
            min_ts: 0,
            max_ts: 10,
            entries: 1,
        }
    }

    #[tokio::test]
    async fn concurrent_updates_all_land() {
        let ms = ManifestStore::new(Store::in_memory());
        let t = TenantId::new("t").unwrap();
        let mut tasks = Vec::new();
        for i in 0..20 {
            let ms = ms.clone();
            let t = t.clone();
            tasks.push(tokio::spawn(async move {
                ms.update(&t, |m| m.chunks.push(chunk(&format!("c{i}"))))
                    .await
                    .unwrap();
            }));
        }
        for task in tasks {
            task.await.unwrap();
        }
        let m = ms.load(&t).await.unwrap();
        assert_eq!(m.chunks.len(), 20);
        assert_eq!(m.version, 20);
        assert_eq!(ms.tenants().await.unwrap(), vec![t.clone()]);
        // Old versions are pruned.
        assert_eq!(
            ms.store().list(&manifest_prefix(&t)).await.unwrap().len() as u64,
            KEEP_VERSIONS
        );
        assert_eq!(m.chunks_in(11, 20).count(), 0);
        assert_eq!(m.chunks_in(10, 20).count(), 20);
    }
}
