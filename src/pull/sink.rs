//! How pulled entries become bytes in files: the line format (`raw`: the line; `jsonl`:
//! timestamp, labels, metadata, line) and the compression (`zstd`, `gzip`). A compressed file
//! is a sequence of complete frames (zstd frames, gzip members), each written whole by one
//! [`PartWriter`], so files concatenated or truncated at a frame boundary stay valid and
//! decompress to the concatenated lines.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use clap::ValueEnum;

/// Line format of the output files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// The line only.
    Raw,
    /// One JSON object per entry: timestamp, labels, metadata, line.
    Jsonl,
}

impl Format {
    /// Its name in the state file.
    pub fn name(self) -> &'static str {
        match self {
            Format::Raw => "raw",
            Format::Jsonl => "jsonl",
        }
    }

    /// Extension of default file names.
    pub fn extension(self) -> &'static str {
        match self {
            Format::Raw => ".log",
            Format::Jsonl => ".jsonl",
        }
    }
}

/// Compression of the output files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Compress {
    /// Plain text.
    None,
    /// Zstandard (`.zst`).
    Zstd,
    /// gzip (`.gz`).
    Gzip,
}

impl Compress {
    /// Its name in the state file.
    pub fn name(self) -> &'static str {
        match self {
            Compress::None => "none",
            Compress::Zstd => "zstd",
            Compress::Gzip => "gzip",
        }
    }

    /// Suffix added to file names.
    pub fn suffix(self) -> &'static str {
        match self {
            Compress::None => "",
            Compress::Zstd => ".zst",
            Compress::Gzip => ".gz",
        }
    }
}

/// One pulled entry.
pub struct Entry<'a> {
    /// Unix ns.
    pub ts: i64,
    /// Stream labels as a JSON object's text.
    pub labels_json: &'a str,
    /// Structured metadata as a JSON object's text.
    pub metadata_json: &'a str,
    /// The line.
    pub line: &'a str,
}

/// Appends `e` in `format` (with its newline) to `buf`.
pub fn encode(format: Format, e: &Entry<'_>, buf: &mut Vec<u8>) {
    match format {
        Format::Raw => buf.extend_from_slice(e.line.as_bytes()),
        Format::Jsonl => {
            buf.extend_from_slice(b"{\"timestamp\":\"");
            buf.extend_from_slice(crate::client::rfc3339(e.ts).as_bytes());
            buf.extend_from_slice(b"\",\"labels\":");
            buf.extend_from_slice(e.labels_json.as_bytes());
            buf.extend_from_slice(b",\"metadata\":");
            buf.extend_from_slice(e.metadata_json.as_bytes());
            buf.extend_from_slice(b",\"line\":");
            // Writing a string into a Vec cannot fail.
            let _ = serde_json::to_writer(&mut *buf, e.line);
            buf.push(b'}');
        }
    }
    buf.push(b'\n');
}

/// A file being written, compressed as one frame.
pub enum PartWriter {
    /// Plain.
    Plain(BufWriter<File>),
    /// One zstd frame.
    Zstd(zstd::Encoder<'static, BufWriter<File>>),
    /// One gzip member.
    Gzip(flate2::write::GzEncoder<BufWriter<File>>),
}

impl PartWriter {
    /// Creates (or truncates) `path` for writing in `compress`.
    pub fn create(path: &Path, compress: Compress) -> std::io::Result<PartWriter> {
        Self::wrap(File::create(path)?, compress)
    }

    /// Appends to `path` (created if missing) as a new frame in `compress`.
    pub fn append(path: &Path, compress: Compress) -> std::io::Result<PartWriter> {
        let f = std::fs::OpenOptions::new().create(true).append(true).open(path)?;
        Self::wrap(f, compress)
    }

    fn wrap(f: File, compress: Compress) -> std::io::Result<PartWriter> {
        let w = BufWriter::with_capacity(256 * 1024, f);
        Ok(match compress {
            Compress::None => PartWriter::Plain(w),
            Compress::Zstd => PartWriter::Zstd(zstd::Encoder::new(w, 3)?),
            Compress::Gzip => {
                PartWriter::Gzip(flate2::write::GzEncoder::new(w, flate2::Compression::default()))
            }
        })
    }

    /// Writes `bytes`.
    pub fn write_all(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        match self {
            PartWriter::Plain(w) => w.write_all(bytes),
            PartWriter::Zstd(w) => w.write_all(bytes),
            PartWriter::Gzip(w) => w.write_all(bytes),
        }
    }

    /// Ends the frame and flushes to the file.
    pub fn finish(self) -> std::io::Result<()> {
        let mut w = match self {
            PartWriter::Plain(w) => w,
            PartWriter::Zstd(w) => w.finish()?,
            PartWriter::Gzip(w) => w.finish()?,
        };
        w.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;
    use std::io::Read;

    #[test]
    fn jsonl_holds_timestamp_labels_metadata_and_line() {
        let mut buf = Vec::new();
        let e = Entry {
            ts: 1_700_000_000_000_000_001,
            labels_json: r#"{"app":"x"}"#,
            metadata_json: r#"{"trace":"t"}"#,
            line: "say \"hi\"",
        };
        encode(Format::Jsonl, &e, &mut buf);
        let v: Value = serde_json::from_slice(&buf).unwrap();
        assert_eq!(v["timestamp"], "2023-11-14T22:13:20.000000001Z");
        assert_eq!(v["labels"]["app"], "x");
        assert_eq!(v["metadata"]["trace"], "t");
        assert_eq!(v["line"], "say \"hi\"");
        buf.clear();
        encode(Format::Raw, &e, &mut buf);
        assert_eq!(buf, b"say \"hi\"\n");
    }

    #[test]
    fn appended_frames_decompress_to_the_concatenation() {
        let dir = tempfile::tempdir().unwrap();
        for compress in [Compress::Zstd, Compress::Gzip] {
            let path = dir.path().join(format!("f{}", compress.suffix()));
            let mut w = PartWriter::create(&path, compress).unwrap();
            w.write_all(b"one\n").unwrap();
            w.finish().unwrap();
            let mut w = PartWriter::append(&path, compress).unwrap();
            w.write_all(b"two\n").unwrap();
            w.finish().unwrap();
            let data = std::fs::read(&path).unwrap();
            let mut text = String::new();
            match compress {
                Compress::Zstd => {
                    zstd::Decoder::new(&data[..])
                        .unwrap()
                        .read_to_string(&mut text)
                        .unwrap();
                }
                _ => {
                    flate2::read::MultiGzDecoder::new(&data[..])
                        .read_to_string(&mut text)
                        .unwrap();
                }
            }
            assert_eq!(text, "one\ntwo\n", "{compress:?}");
        }
    }
}
