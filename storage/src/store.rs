//! The object store every other component writes to and reads from, chosen by URL.
//!
//! `file:///abs/path` or a plain path is the local filesystem (writes are fsynced, so a put that
//! returned is durable); `memory://` is an in-process store for tests. Cloud stores come with the
//! storage-engine issue. Paths are `/`-separated keys relative to the store's root.

use std::ops::Range;
use std::path::Path as FsPath;
use std::sync::Arc;

use bytes::Bytes;
use futures::TryStreamExt;
use object_store::local::LocalFileSystem;
use object_store::memory::InMemory;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload};

use crate::error::{Result, StorageError, StorageErrorKind};

/// An object's key and size, as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectInfo {
    /// Key relative to the store root.
    pub path: String,
    /// Size in bytes.
    pub size: u64,
}

/// A handle to the object store (cheap to clone).
#[derive(Debug, Clone)]
pub struct Store {
    inner: Arc<dyn ObjectStore>,
    url: String,
}

impl Store {
    /// Opens a store from a URL (`file://`, `memory://`) or a local directory path, creating the
    /// directory if needed.
    pub fn open(url: &str) -> Result<Self> {
        if url == "memory://" || url == "memory:///" {
            return Ok(Self::in_memory());
        }
        let dir = url.strip_prefix("file://").unwrap_or(url);
        if url.contains("://") && !url.starts_with("file://") {
            return Err(StorageError::new(
                StorageErrorKind::Config,
                format!("opening object store {url:?}"),
                "unsupported scheme (supported: file://, memory://)",
            ));
        }
        Self::local(FsPath::new(dir))
    }

    /// A store on the local filesystem under `dir` (created if missing).
    pub fn local(dir: &FsPath) -> Result<Self> {
        let ctx = || format!("opening local store {}", dir.display());
        std::fs::create_dir_all(dir).map_err(|e| StorageError::new(StorageErrorKind::Io, ctx(), e))?;
        let fs = LocalFileSystem::new_with_prefix(dir)
            .map_err(|e| StorageError::from_object_store(ctx(), e))?
            .with_fsync(true);
        Ok(Store {
            inner: Arc::new(fs),
            url: format!("file://{}", dir.display()),
        })
    }

    /// A fresh in-memory store.
    pub fn in_memory() -> Self {
        Store {
            inner: Arc::new(InMemory::new()),
            url: "memory://".into(),
        }
    }

    /// The URL this store was opened with.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Writes an object, replacing any previous one. Durable when it returns.
    pub async fn put(&self, key: &str, data: Bytes) -> Result<()> {
        self.inner
            .put(&Path::from(key), PutPayload::from_bytes(data))
            .await
            .map_err(|e| StorageError::from_object_store(format!("writing {key}"), e))?;
        Ok(())
    }

    /// Writes an object only if none exists under `key`; `Ok(false)` when one did.
    pub async fn put_if_absent(&self, key: &str, data: Bytes) -> Result<bool> {
        let opts = PutOptions {
            mode: PutMode::Create,
            ..Default::default()
        };
        match self
            .inner
            .put_opts(&Path::from(key), PutPayload::from_bytes(data), opts)
            .await
        {
            Ok(_) => Ok(true),
            Err(object_store::Error::AlreadyExists { .. }) => Ok(false),
            Err(e) => Err(StorageError::from_object_store(format!("writing {key}"), e)),
        }
    }

    /// Reads a whole object.
    pub async fn get(&self, key: &str) -> Result<Bytes> {
        let ctx = || format!("reading {key}");
        let r = self
            .inner
            .get(&Path::from(key))
            .await
            .map_err(|e| StorageError::from_object_store(ctx(), e))?;
        r.bytes()
            .await
            .map_err(|e| StorageError::from_object_store(ctx(), e))
    }

    /// Reads a byte range of an object.
    pub async fn get_range(&self, key: &str, range: Range<u64>) -> Result<Bytes> {
        self.inner
            .get_range(&Path::from(key), range)
            .await
            .map_err(|e| StorageError::from_object_store(format!("reading {key}"), e))
    }

    /// Lists every object under `prefix` (recursively), sorted by key.
    pub async fn list(&self, prefix: &str) -> Result<Vec<ObjectInfo>> {
        let p = Path::from(prefix);
        let mut out: Vec<ObjectInfo> = self
            .inner
            .list(Some(&p))
            .map_ok(|m| ObjectInfo {
                path: m.location.to_string(),
                size: m.size,
            })
            .try_collect()
            .await
            .map_err(|e| StorageError::from_object_store(format!("listing {prefix}"), e))?;
        out.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(out)
    }

    /// Lists the immediate "directories" under `prefix` (empty for the root), sorted.
    pub async fn list_dirs(&self, prefix: &str) -> Result<Vec<String>> {
        let p = (!prefix.is_empty()).then(|| Path::from(prefix));
        let r = self
            .inner
            .list_with_delimiter(p.as_ref())
            .await
            .map_err(|e| StorageError::from_object_store(format!("listing {prefix}"), e))?;
        let mut out: Vec<String> = r
            .common_prefixes
            .into_iter()
            .filter_map(|p| p.filename().map(str::to_string))
            .collect();
        out.sort();
        Ok(out)
    }

    /// Deletes an object; a missing object is not an error.
    pub async fn delete(&self, key: &str) -> Result<()> {
        match self.inner.delete(&Path::from(key)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(StorageError::from_object_store(format!("deleting {key}"), e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The same contract on every backend.
    async fn contract(store: Store) {
        store.put("t/a/1", Bytes::from_static(b"one")).await.unwrap();
        store.put("t/b/2", Bytes::from_static(b"two")).await.unwrap();
        assert_eq!(&store.get("t/a/1").await.unwrap()[..], b"one");
        assert_eq!(&store.get_range("t/b/2", 1..3).await.unwrap()[..], b"wo");
        assert!(!store
            .put_if_absent("t/a/1", Bytes::from_static(b"x"))
            .await
            .unwrap());
        assert!(store
            .put_if_absent("t/a/3", Bytes::from_static(b"x"))
            .await
            .unwrap());
        let keys: Vec<String> = store
            .list("t")
            .await
            .unwrap()
            .into_iter()
            .map(|o| o.path)
            .collect();
        assert_eq!(keys, ["t/a/1", "t/a/3", "t/b/2"]);
        assert_eq!(store.list_dirs("t").await.unwrap(), ["a", "b"]);
        assert_eq!(store.list_dirs("").await.unwrap(), ["t"]);
        store.delete("t/a/1").await.unwrap();
        store.delete("t/a/1").await.unwrap();
        let err = store.get("t/a/1").await.unwrap_err();
        assert_eq!(err.kind, StorageErrorKind::NotFound);
        assert!(store.list("nothing").await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn local_store_contract() {
        let dir = tempfile::tempdir().unwrap();
        contract(Store::open(dir.path().to_str().unwrap()).unwrap()).await;
    }

    #[tokio::test]
    async fn memory_store_contract() {
        contract(Store::open("memory://").unwrap()).await;
    }

    #[test]
    fn unknown_scheme_is_a_config_error() {
        let err = Store::open("ftp://x").unwrap_err();
        assert_eq!(err.kind, StorageErrorKind::Config);
    }
}
