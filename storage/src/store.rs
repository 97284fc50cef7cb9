//! The object store every other component writes to and reads from, chosen by URL.
//!
//! | URL | store |
//! |---|---|
//! | `/abs/path`, `file:///abs/path` | local filesystem (writes are fsynced: a put that returned is durable) |
//! | `memory://` | in-process, for tests |
//! | `s3://bucket/prefix?endpoint=..&region=..` | Amazon S3 or an S3-compatible server (path-style requests) |
//! | `gs://bucket/prefix` | Google Cloud Storage |
//! | `az://container/prefix` | Azure Blob Storage |
//!
//! Cloud stores take their settings from the environment (`AWS_ENDPOINT_URL`, `AWS_REGION`,
//! `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_ALLOW_HTTP`; `GOOGLE_*`; `AZURE_*`, as
//! `object_store` reads them), overridden by the URL's query parameters (any key `object_store`
//! accepts for that store, e.g. `endpoint`, `region`, `access_key_id`, `allow_http`).
//! Keys are `/`-separated and relative to the store's root (the URL's prefix).
//!
//! Invariant the manifest relies on: [`Store::put_if_absent`] is atomic on every backend (the
//! filesystem's create-new, S3's `If-None-Match: *`, GCS's `ifGenerationMatch=0`, Azure's
//! `If-None-Match: *`). A store that cannot honour it fails the put instead of overwriting.

use std::ops::Range;
use std::path::Path as FsPath;
use std::str::FromStr;
use std::sync::Arc;

use bytes::Bytes;
use futures::TryStreamExt;
use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::azure::{AzureConfigKey, MicrosoftAzureBuilder};
use object_store::gcp::{GoogleCloudStorageBuilder, GoogleConfigKey};
use object_store::local::LocalFileSystem;
use object_store::memory::InMemory;
use object_store::path::Path;
use object_store::prefix::PrefixStore;
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

/// Query parameters whose values never appear in [`Store::url`] (or in logs).
const SECRET_KEYS: &[&str] = &[
    "secret_access_key",
    "aws_secret_access_key",
    "session_token",
    "aws_session_token",
    "token",
    "access_key",
    "account_key",
    "azure_storage_account_key",
    "sas_token",
    "client_secret",
    "service_account_key",
];

impl Store {
    /// Opens a store from a URL (see the module docs) or a local directory path, creating the
    /// directory if needed. Errors name the URL (with secrets redacted).
    pub fn open(url: &str) -> Result<Self> {
        if url == "memory://" || url == "memory:///" {
            return Ok(Self::in_memory());
        }
        let Some((scheme, rest)) = url.split_once("://") else {
            return Self::local(FsPath::new(url));
        };
        match scheme {
            "file" => Self::local(FsPath::new(rest)),
            "s3" | "s3a" | "gs" | "az" | "azure" => Self::cloud(url, scheme, rest),
            _ => Err(config_error(
                url,
                "unsupported scheme (supported: file://, memory://, s3://, gs://, az://)",
            )),
        }
    }

    fn cloud(url: &str, scheme: &str, rest: &str) -> Result<Self> {
        let (location, query) = rest.split_once('?').unwrap_or((rest, ""));
        let (bucket, prefix) = location.split_once('/').unwrap_or((location, ""));
        if bucket.is_empty() {
            return Err(config_error(url, "missing bucket name"));
        }
        let params: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes()).into_owned().collect();
        let base = format!("{scheme}://{bucket}");
        let built: Result<Arc<dyn ObjectStore>, String> = match scheme {
            "s3" | "s3a" => {
                let mut b = AmazonS3Builder::from_env().with_url(&base);
                // `object_store` reads `AWS_DEFAULT_REGION`; the AWS CLI's `AWS_REGION` too.
                if let Ok(region) = std::env::var("AWS_REGION") {
                    b = b.with_region(region);
                }
                for (k, v) in &params {
                    let key = AmazonS3ConfigKey::from_str(k).map_err(|_| unknown_key(url, k))?;
                    b = b.with_config(key, v);
                }
                b.build()
                    .map(|s| Arc::new(s) as Arc<dyn ObjectStore>)
                    .map_err(|e| e.to_string())
            }
            "gs" => {
                let mut b = GoogleCloudStorageBuilder::from_env().with_url(&base);
                for (k, v) in &params {
                    let key = GoogleConfigKey::from_str(k).map_err(|_| unknown_key(url, k))?;
                    b = b.with_config(key, v);
                }
                b.build()
                    .map(|s| Arc::new(s) as Arc<dyn ObjectStore>)
                    .map_err(|e| e.to_string())
            }
            _ => {
                let mut b = MicrosoftAzureBuilder::from_env().with_url(&base);
                for (k, v) in &params {
                    let key = AzureConfigKey::from_str(k).map_err(|_| unknown_key(url, k))?;
                    b = b.with_config(key, v);
                }
                b.build()
                    .map(|s| Arc::new(s) as Arc<dyn ObjectStore>)
                    .map_err(|e| e.to_string())
            }
        };
        let inner = built.map_err(|e| config_error(url, e))?;
        let prefix = prefix.trim_matches('/');
        let inner: Arc<dyn ObjectStore> = if prefix.is_empty() {
            inner
        } else {
            let p = Path::parse(prefix).map_err(|e| config_error(url, e))?;
            Arc::new(PrefixStore::new(inner, p))
        };
        tracing::info!(url = %redact(url), "opened object store");
        Ok(Store {
            inner,
            url: redact(url),
        })
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

    /// A store over any `object_store` implementation (a wrapper such as a fault injector, or a
    /// backend configured by hand); `url` only names it in logs and errors.
    pub fn from_object_store(inner: Arc<dyn ObjectStore>, url: impl Into<String>) -> Self {
        Store {
            inner,
            url: url.into(),
        }
    }

    /// The underlying `object_store` implementation.
    pub fn object_store(&self) -> Arc<dyn ObjectStore> {
        self.inner.clone()
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
            Err(object_store::Error::AlreadyExists { .. } | object_store::Error::Precondition { .. }) => {
                Ok(false)
            }
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

fn config_error(url: &str, message: impl ToString) -> StorageError {
    StorageError::new(
        StorageErrorKind::Config,
        format!("opening object store {:?}", redact(url)),
        message,
    )
}

fn unknown_key(url: &str, key: &str) -> StorageError {
    config_error(url, format!("unknown option {key:?} in the URL's query"))
}

/// `url` with the values of secret query parameters replaced by `***`.
fn redact(url: &str) -> String {
    let Some((base, query)) = url.split_once('?') else {
        return url.to_string();
    };
    let pairs: Vec<String> = query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((k, _)) if SECRET_KEYS.contains(&k.to_ascii_lowercase().as_str()) => format!("{k}=***"),
            _ => pair.to_string(),
        })
        .collect();
    format!("{base}?{}", pairs.join("&"))
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
        assert!(err.to_string().contains("ftp://x"), "{err}");
    }

    #[test]
    fn bad_cloud_urls_are_config_errors_naming_the_url() {
        let err = Store::open("s3://").unwrap_err();
        assert_eq!(err.kind, StorageErrorKind::Config);
        assert!(err.to_string().contains("missing bucket"), "{err}");
        let err = Store::open("s3://b/p?colour=red&secret_access_key=hunter2").unwrap_err();
        assert_eq!(err.kind, StorageErrorKind::Config);
        let msg = err.to_string();
        assert!(
            msg.contains("s3://b/p?colour=red") && msg.contains("colour"),
            "{msg}"
        );
        assert!(!msg.contains("hunter2"), "secret leaked: {msg}");
    }

    #[test]
    fn cloud_urls_open_without_network() {
        // Building a client does not connect; the URL's query overrides the environment.
        let s = Store::open(
            "s3://bucket/some/prefix?endpoint=http://127.0.0.1:1&region=eu-west-1&allow_http=true\
             &access_key_id=a&secret_access_key=s3cret",
        )
        .unwrap();
        assert!(s.url().starts_with("s3://bucket/some/prefix?endpoint="));
        assert!(!s.url().contains("s3cret"));
        assert!(Store::open("gs://bucket/p").unwrap().url().starts_with("gs://"));
        let az = Store::open("az://container/p?account_name=acct&access_key=a2V5").unwrap();
        assert!(az.url().contains("access_key=***"));
    }
}
