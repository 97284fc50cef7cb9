//! The on-disk layout of an index directory and its integrity checks.
//!
//! ```text
//! <dir>/history.json     HistoryMeta as JSON, "\n", xxh3-64 of that JSON in hex, "\n"
//! <dir>/<tantivy files>  one tantivy index (meta.json, segment files)
//! ```
//! Invariants: `history.json` is written last, after every other file is complete and synced,
//! inside a temporary directory renamed into place; it lists every tantivy file with its length
//! and xxh3-64 hash. [`read_verified`] accepts a directory only if the meta's own hash matches
//! and every listed file exists with that length and hash, so a partial, truncated or
//! bit-flipped index is refused at open instead of answering wrongly.

use std::fs::File;
use std::io::{Read, Write};
use std::path::Path;

use logq_storage::LabelSet;
use serde::{Deserialize, Serialize};
use xxhash_rust::xxh3::Xxh3;

use crate::error::HistoryError;

/// Name of the meta file.
pub const META_FILE: &str = "history.json";

/// Version of the directory layout this code writes and reads.
pub const FORMAT_VERSION: u32 = 1;

/// What an index holds: stored in its directory, returned by `build` and `HistoryIndex::summary`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexSummary {
    /// Tenant id.
    pub tenant: String,
    /// Inclusive start of the range, Unix ns.
    pub start_ns: i64,
    /// Exclusive end of the range, Unix ns.
    pub end_ns: i64,
    /// Stream selector in LogQL form (`{}` = every stream).
    pub selector: String,
    /// Version of the tenant's manifest the build read.
    pub manifest_version: u64,
    /// Keys of every object (chunk or block) the index was built from.
    pub objects: Vec<String>,
    /// Streams indexed.
    pub streams: u64,
    /// Entries indexed.
    pub lines: u64,
    /// Bytes of their lines.
    pub bytes_raw: u64,
    /// Bytes of the index directory.
    pub bytes_on_disk: u64,
    /// Wall time of the build, ms.
    pub build_ms: u64,
}

/// One checked file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileSum {
    /// File name inside the index directory.
    pub name: String,
    /// Length in bytes.
    pub len: u64,
    /// xxh3-64 of its bytes.
    pub xxh3: u64,
}

/// The content of `history.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryMeta {
    /// Layout version ([`FORMAT_VERSION`]).
    pub format: u32,
    /// The summary.
    pub summary: IndexSummary,
    /// Stream labels by stream ordinal (the `stream` fast field).
    pub streams: Vec<LabelSet>,
    /// Every file of the tantivy index.
    pub files: Vec<FileSum>,
}

/// Hashes a file in 1 MiB reads (bounded memory whatever its size).
pub fn hash_file(path: &Path) -> Result<(u64, u64), HistoryError> {
    let mut f = File::open(path).map_err(|e| HistoryError::io(format!("opening {}", path.display()), e))?;
    let mut h = Xxh3::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut len = 0u64;
    loop {
        let n = f
            .read(&mut buf)
            .map_err(|e| HistoryError::io(format!("reading {}", path.display()), e))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
        len += n as u64;
    }
    Ok((len, h.digest()))
}

/// Checksums of every regular file in `dir` except the meta file and tantivy's lock files.
pub fn sum_files(dir: &Path) -> Result<Vec<FileSum>, HistoryError> {
    let ctx = || format!("listing {}", dir.display());
    let mut out = Vec::new();
    for item in std::fs::read_dir(dir).map_err(|e| HistoryError::io(ctx(), e))? {
        let item = item.map_err(|e| HistoryError::io(ctx(), e))?;
        let name = item.file_name().to_string_lossy().into_owned();
        if name == META_FILE || name.ends_with(".lock") || !item.path().is_file() {
            continue;
        }
        let (len, xxh3) = hash_file(&item.path())?;
        out.push(FileSum { name, len, xxh3 });
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// Writes `history.json` (with its own hash) and syncs it.
pub fn write_meta(dir: &Path, meta: &HistoryMeta) -> Result<(), HistoryError> {
    let path = dir.join(META_FILE);
    let json = serde_json::to_vec(meta).map_err(|e| HistoryError::corrupt(path.display().to_string(), e))?;
    let mut f =
        File::create(&path).map_err(|e| HistoryError::io(format!("creating {}", path.display()), e))?;
    let hash = xxhash_rust::xxh3::xxh3_64(&json);
    f.write_all(&json)
        .and_then(|_| f.write_all(format!("\n{hash:016x}\n").as_bytes()))
        .and_then(|_| f.sync_all())
        .map_err(|e| HistoryError::io(format!("writing {}", path.display()), e))
}

/// Reads `history.json` and checks it and every file it lists (see the module doc).
pub fn read_verified(dir: &Path) -> Result<HistoryMeta, HistoryError> {
    let path = dir.join(META_FILE);
    let shown = dir.display().to_string();
    let bytes = std::fs::read(&path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => HistoryError::corrupt(&shown, format!("{META_FILE} is missing")),
        _ => HistoryError::io(format!("reading {}", path.display()), e),
    })?;
    let text = std::str::from_utf8(&bytes).map_err(|_| HistoryError::corrupt(&shown, "meta is not UTF-8"))?;
    let (json, hash) = text
        .trim_end_matches('\n')
        .rsplit_once('\n')
        .ok_or_else(|| HistoryError::corrupt(&shown, "meta has no checksum line"))?;
    let want = u64::from_str_radix(hash, 16)
        .map_err(|_| HistoryError::corrupt(&shown, "meta checksum unreadable"))?;
    if xxhash_rust::xxh3::xxh3_64(json.as_bytes()) != want {
        return Err(HistoryError::corrupt(&shown, "meta checksum mismatch"));
    }
    let meta: HistoryMeta = serde_json::from_str(json).map_err(|e| HistoryError::corrupt(&shown, e))?;
    if meta.format != FORMAT_VERSION {
        return Err(HistoryError::corrupt(
            &shown,
            format!("unsupported format version {}", meta.format),
        ));
    }
    if meta.files.is_empty() {
        return Err(HistoryError::corrupt(&shown, "meta lists no index files"));
    }
    for f in &meta.files {
        let p = dir.join(&f.name);
        if !p.is_file() {
            return Err(HistoryError::corrupt(
                &shown,
                format!("file {} is missing", f.name),
            ));
        }
        let (len, xxh3) = hash_file(&p)?;
        if len != f.len {
            return Err(HistoryError::corrupt(
                &shown,
                format!("file {} has {len} bytes, expected {}", f.name, f.len),
            ));
        }
        if xxh3 != f.xxh3 {
            return Err(HistoryError::corrupt(
                &shown,
                format!("file {} checksum mismatch", f.name),
            ));
        }
    }
    Ok(meta)
}
