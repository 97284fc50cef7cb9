//! HTTP `Content-Encoding` of push bodies (gzip, deflate, snappy), removed before the body is
//! decoded as Loki JSON or protobuf; the decompressed size is bounded.

use std::io::Read;

use logq_storage::push::{PushDecodeError, MAX_DECOMPRESSED_BYTES};

/// Removes a `Content-Encoding`.
pub(crate) fn decode_content_encoding(
    encoding: Option<&str>,
    body: &[u8],
) -> Result<Vec<u8>, PushDecodeError> {
    let enc = encoding.map(|e| e.trim().to_ascii_lowercase());
    match enc.as_deref() {
        None | Some("") | Some("identity") => Ok(body.to_vec()),
        Some("gzip") => read_limited(flate2::read::GzDecoder::new(body), "gzip"),
        Some("deflate") => read_limited(flate2::read::ZlibDecoder::new(body), "deflate"),
        Some("snappy") => logq_storage::push::snappy_block(body),
        Some(other) => Err(format!("unsupported Content-Encoding {other:?}").into()),
    }
}

fn read_limited(r: impl Read, what: &str) -> Result<Vec<u8>, PushDecodeError> {
    let mut out = Vec::new();
    r.take(MAX_DECOMPRESSED_BYTES as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| format!("invalid {what} body: {e}"))?;
    if out.len() > MAX_DECOMPRESSED_BYTES {
        return Err(format!("decompressed body exceeds {MAX_DECOMPRESSED_BYTES} bytes").into());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_encodings() {
        use std::io::Write;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(b"hello").unwrap();
        assert_eq!(
            decode_content_encoding(Some("gzip"), &gz.finish().unwrap()).unwrap(),
            b"hello"
        );
        assert!(decode_content_encoding(Some("br"), b"x")
            .unwrap_err()
            .to_string()
            .contains("unsupported Content-Encoding"));
        assert!(decode_content_encoding(Some("gzip"), b"nope").is_err());
    }
}
