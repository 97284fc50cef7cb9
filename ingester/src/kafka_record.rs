//! Kafka record values into push batches.
//!
//! What a record may hold, tried in this order:
//! - a Loki `PushRequest` protobuf, marked with the header `content-type:
//!   application/x-protobuf`: uncompressed when also marked `content-encoding: identity` (what
//!   logq's distributor and agent produce: the Kafka producer compresses the record batch with
//!   zstd), else snappy-compressed (what they produced before; also recognised without any
//!   header);
//! - a Loki JSON push (`{"streams":[...]}`);
//! - one JSON object per record, the shapes third-party shippers produce: `{"timestamp":..,
//!   "message"|"line"|"log"|"msg":.., "labels":{..}}`, Vector (`message`, `timestamp`, `host`),
//!   Fluent Bit (`log`, `@timestamp`/`date`), rsyslog omkafka JSON templates (`msg`/`message`,
//!   `hostname`, `programname`, `severity`, `facility`);
//! - plain text (kcat, rsyslog omkafka's default template): one entry per non-empty line.
//!
//! Third-party records get their labels from the topic (`h-<env>` gives `environment=<env>`,
//! any other topic `topic=<name>`), the record key (as the partition label, `host` by default)
//! and the headers whose names are valid label names. Their message ids are derived from
//! (topic, partition, offset, line number), so a replay after a crash yields the same ids and the
//! head drops the duplicates. The tenant comes from the `X-Scope-OrgID` (or `tenant`) header.

use std::collections::BTreeMap;

use logq_storage::json_line::{split_json_line, value_text, LINE_FIELDS};
use logq_storage::push::{decode_json, decode_protobuf, decode_protobuf_raw, DecodeStats, PushDecodeError};
use logq_storage::{
    is_valid_label_name, Entry, LabelSet, PushBatch, StreamEntries, TenantId, DEFAULT_TENANT,
};
use serde_json::Value;
use xxhash_rust::xxh3::Xxh3;

/// Header naming a record's tenant (Loki's HTTP header name; `tenant` is accepted too).
pub const TENANT_HEADER: &str = "X-Scope-OrgID";
/// Header naming a record's format; logq's own records say [`PROTOBUF_CONTENT_TYPE`].
pub const CONTENT_TYPE_HEADER: &str = "content-type";
/// The content type of a Loki protobuf push.
pub const PROTOBUF_CONTENT_TYPE: &str = "application/x-protobuf";
/// Header saying how a protobuf record value is compressed; absent means snappy.
pub const CONTENT_ENCODING_HEADER: &str = "content-encoding";
/// [`CONTENT_ENCODING_HEADER`] value of an uncompressed value (the producer compresses batches).
pub const IDENTITY_ENCODING: &str = "identity";

/// Where a record came from and what travelled beside its value.
#[derive(Debug, Clone, Copy)]
pub struct RecordMeta<'a> {
    /// Topic name.
    pub topic: &'a str,
    /// Partition.
    pub partition: i32,
    /// Offset within the partition.
    pub offset: i64,
    /// Record key.
    pub key: Option<&'a [u8]>,
    /// Record timestamp (ms since the epoch), when the broker has one.
    pub timestamp_ms: Option<i64>,
    /// Record headers, in order.
    pub headers: &'a [(&'a str, &'a [u8])],
}

/// How third-party records are labelled.
#[derive(Debug, Clone)]
pub struct RecordDecoder {
    /// Topic prefix whose remainder is the environment (`h-`).
    pub topic_prefix: String,
    /// The label the record key fills (`host`).
    pub key_label: String,
}

impl Default for RecordDecoder {
    fn default() -> Self {
        RecordDecoder {
            topic_prefix: "h-".into(),
            key_label: "host".into(),
        }
    }
}

/// Object fields that become stream labels (name in the object, label name).
const LABEL_FIELDS: [(&str, &str); 14] = [
    ("host", "host"),
    ("hostname", "host"),
    ("service", "service"),
    ("service_name", "service"),
    ("app", "app"),
    ("job", "job"),
    ("level", "level"),
    ("severity", "level"),
    ("facility", "facility"),
    ("programname", "program"),
    ("environment", "environment"),
    ("env", "environment"),
    ("namespace", "namespace"),
    ("container_name", "container"),
];

impl RecordDecoder {
    /// Decodes one record value. `now_ns` stands in for a record without any timestamp.
    pub fn decode(
        &self,
        value: &[u8],
        meta: &RecordMeta<'_>,
        now_ns: i64,
    ) -> Result<PushBatch, PushDecodeError> {
        let tenant = self.tenant(meta)?;
        let declared_protobuf = header(meta, CONTENT_TYPE_HEADER)
            .is_some_and(|v| v.eq_ignore_ascii_case(PROTOBUF_CONTENT_TYPE.as_bytes()));
        let mut stats = DecodeStats::default();
        if declared_protobuf {
            let identity = header(meta, CONTENT_ENCODING_HEADER)
                .is_some_and(|v| v.eq_ignore_ascii_case(IDENTITY_ENCODING.as_bytes()));
            return if identity {
                decode_protobuf_raw(tenant, value, &mut stats)
            } else {
                decode_protobuf(tenant, value, &mut stats)
            };
        }
        let trimmed = value.trim_ascii_start();
        if trimmed.first() == Some(&b'{') {
            if let Ok(Value::Object(obj)) = serde_json::from_slice::<Value>(value) {
                if obj.contains_key("streams") {
                    return decode_json(tenant, value);
                }
                return self.decode_object(tenant, obj, meta, now_ns);
            }
        } else if let Ok(batch) = decode_protobuf(tenant.clone(), value, &mut stats) {
            if batch.entry_count() > 0 {
                return Ok(batch);
            }
        }
        self.decode_text(tenant, value, meta, now_ns)
    }

    fn tenant(&self, meta: &RecordMeta<'_>) -> Result<TenantId, PushDecodeError> {
        match header(meta, TENANT_HEADER).or_else(|| header(meta, "tenant")) {
            None => Ok(TenantId::new(DEFAULT_TENANT).map_err(|e| e.to_string())?),
            Some(v) => {
                let text = std::str::from_utf8(v).map_err(|_| "tenant header is not UTF-8".to_string())?;
                Ok(TenantId::new(text).map_err(|e| e.to_string())?)
            }
        }
    }

    /// Labels every third-party record of this topic, key and headers gets.
    fn base_labels(&self, meta: &RecordMeta<'_>) -> BTreeMap<String, String> {
        let mut labels = BTreeMap::new();
        match meta.topic.strip_prefix(&self.topic_prefix) {
            Some(env) if !env.is_empty() => labels.insert("environment".into(), env.to_string()),
            _ => labels.insert("topic".into(), meta.topic.to_string()),
        };
        if let Some(key) = meta.key.and_then(|k| std::str::from_utf8(k).ok()) {
            if !key.is_empty() {
                labels.insert(self.key_label.clone(), key.to_string());
            }
        }
        for (name, value) in meta.headers {
            let skip = name.eq_ignore_ascii_case(TENANT_HEADER)
                || name.eq_ignore_ascii_case("tenant")
                || name.eq_ignore_ascii_case(CONTENT_TYPE_HEADER)
                || name.eq_ignore_ascii_case(CONTENT_ENCODING_HEADER);
            if skip || !is_valid_label_name(name) {
                continue;
            }
            if let Ok(v) = std::str::from_utf8(value) {
                labels.insert((*name).to_string(), v.to_string());
            }
        }
        labels
    }

    fn record_ts(meta: &RecordMeta<'_>, now_ns: i64) -> i64 {
        meta.timestamp_ms
            .filter(|ms| *ms > 0)
            .and_then(|ms| ms.checked_mul(1_000_000))
            .unwrap_or(now_ns)
    }

    fn decode_text(
        &self,
        tenant: TenantId,
        value: &[u8],
        meta: &RecordMeta<'_>,
        now_ns: i64,
    ) -> Result<PushBatch, PushDecodeError> {
        let text = String::from_utf8_lossy(value);
        let ts = Self::record_ts(meta, now_ns);
        let entries: Vec<Entry> = text
            .split('\n')
            .map(|l| l.strip_suffix('\r').unwrap_or(l))
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
            .map(|(i, l)| Entry {
                ts,
                id: record_line_id(meta, i),
                line: l.to_string(),
                metadata: vec![],
            })
            .collect();
        if entries.is_empty() {
            return Err(PushDecodeError("empty record".into()));
        }
        let labels = LabelSet::validated(self.base_labels(meta)).map_err(|e| e.to_string())?;
        Ok(PushBatch {
            tenant,
            streams: vec![StreamEntries { labels, entries }],
        })
    }

    fn decode_object(
        &self,
        tenant: TenantId,
        obj: serde_json::Map<String, Value>,
        meta: &RecordMeta<'_>,
        now_ns: i64,
    ) -> Result<PushBatch, PushDecodeError> {
        let split = split_json_line(obj, rfc3339_ns);
        let line = split.line.ok_or_else(|| {
            PushDecodeError(format!(
                "JSON record has no line field (one of {})",
                LINE_FIELDS.join(", ")
            ))
        })?;
        // A time we cannot read (e.g. syslog's "May  1 10:00:00") keeps the record: the
        // record's own time stands in and the text stays as metadata.
        let ts = split.ts.unwrap_or_else(|| Self::record_ts(meta, now_ns));
        let mut obj = split.fields;
        let mut labels = self.base_labels(meta);
        if let Some(Value::Object(explicit)) = obj.remove("labels") {
            for (k, v) in explicit {
                labels.insert(k, value_text(&v));
            }
        }
        for (field, label) in LABEL_FIELDS {
            if let Some(Value::String(v)) = obj.get(field) {
                labels.entry(label.to_string()).or_insert_with(|| v.clone());
                obj.remove(field);
            }
        }
        if let Some(v) = obj.shift_remove("@timestamp") {
            obj.insert("timestamp".to_string(), v);
        }
        let mut metadata: Vec<(String, String)> = obj
            .into_iter()
            .filter(|(k, _)| is_valid_label_name(k))
            .filter_map(|(k, v)| match v {
                Value::String(s) => Some((k, s)),
                Value::Number(n) => Some((k, n.to_string())),
                Value::Bool(b) => Some((k, b.to_string())),
                _ => None,
            })
            .collect();
        metadata.sort();
        let labels = LabelSet::validated(labels).map_err(|e| e.to_string())?;
        Ok(PushBatch {
            tenant,
            streams: vec![StreamEntries {
                labels,
                entries: vec![Entry {
                    ts,
                    id: record_line_id(meta, 0),
                    line,
                    metadata,
                }],
            }],
        })
    }
}

fn header<'a>(meta: &RecordMeta<'a>, name: &str) -> Option<&'a [u8]> {
    meta.headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| *v)
}

/// A stable message id for line `index` of a third-party record: the same after any replay.
fn record_line_id(meta: &RecordMeta<'_>, index: usize) -> u64 {
    let mut h = Xxh3::new();
    h.update(meta.topic.as_bytes());
    h.update(&meta.partition.to_le_bytes());
    h.update(&meta.offset.to_le_bytes());
    h.update(&(index as u64).to_le_bytes());
    h.digest()
}

/// An RFC 3339 timestamp in Unix ns.
fn rfc3339_ns(s: &str) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(s)
        .ok()
        .and_then(|t| t.timestamp_nanos_opt())
}

#[cfg(test)]
mod tests {
    use super::*;
    use logq_storage::push::encode_protobuf;

    fn meta<'a>(headers: &'a [(&'a str, &'a [u8])], key: Option<&'a [u8]>) -> RecordMeta<'a> {
        RecordMeta {
            topic: "h-prod",
            partition: 3,
            offset: 77,
            key,
            timestamp_ms: Some(1_700_000_000_000),
            headers,
        }
    }

    #[test]
    fn plain_text_takes_labels_from_topic_key_and_headers() {
        let headers: [(&str, &[u8]); 2] = [("service", b"billing"), ("X-Scope-OrgID", b"team-a")];
        let b = RecordDecoder::default()
            .decode(b"first\r\n\nsecond\n", &meta(&headers, Some(b"web-1")), 0)
            .unwrap();
        assert_eq!(b.tenant.as_str(), "team-a");
        assert_eq!(
            b.streams[0].labels.to_string(),
            r#"{environment="prod", host="web-1", service="billing"}"#
        );
        let lines: Vec<_> = b.streams[0].entries.iter().map(|e| e.line.as_str()).collect();
        assert_eq!(lines, ["first", "second"]);
        assert_eq!(b.streams[0].entries[0].ts, 1_700_000_000_000_000_000);
        assert_ne!(b.streams[0].entries[0].id, b.streams[0].entries[1].id);
        // A replay of the same record yields the same ids.
        let again = RecordDecoder::default()
            .decode(b"first\r\n\nsecond\n", &meta(&headers, Some(b"web-1")), 0)
            .unwrap();
        assert_eq!(again, b);
    }

    #[test]
    fn json_objects_of_common_shippers() {
        let d = RecordDecoder::default();
        let m = meta(&[], None);
        let vector = br#"{"message":"GET / 200","timestamp":"2024-05-01T10:00:00.5Z","host":"web-2","source_type":"file"}"#;
        let b = d.decode(vector, &m, 0).unwrap();
        assert_eq!(
            b.streams[0].labels.to_string(),
            r#"{environment="prod", host="web-2"}"#
        );
        let e = &b.streams[0].entries[0];
        assert_eq!(e.line, "GET / 200");
        assert_eq!(e.ts, 1_714_557_600_500_000_000);
        assert_eq!(e.metadata, vec![("source_type".to_string(), "file".to_string())]);

        let fluent = br#"{"log":"boot ok","@timestamp":1714557600.25,"labels":{"app":"api"}}"#;
        let e = &d.decode(fluent, &m, 0).unwrap().streams[0];
        assert_eq!(e.labels.to_string(), r#"{app="api", environment="prod"}"#);
        assert_eq!(e.entries[0].ts, 1_714_557_600_250_000_000);

        let rsyslog = br#"{"msg":"session opened","hostname":"db-1","programname":"sshd","severity":"info"}"#;
        let e = &d.decode(rsyslog, &m, 42).unwrap().streams[0];
        assert_eq!(
            e.labels.to_string(),
            r#"{environment="prod", host="db-1", level="info", program="sshd"}"#
        );
        assert_eq!(e.entries[0].ts, 1_700_000_000_000_000_000);

        let ms = br#"{"line":"x","ts":1714557600123}"#;
        assert_eq!(
            d.decode(ms, &m, 0).unwrap().streams[0].entries[0].ts,
            1_714_557_600_123_000_000
        );
    }

    #[test]
    fn logq_protobuf_records_keep_their_streams_and_ids() {
        let batch = PushBatch {
            tenant: TenantId::new("t1").unwrap(),
            streams: vec![StreamEntries {
                labels: LabelSet::parse(r#"{host="a",service="s"}"#).unwrap(),
                entries: vec![Entry {
                    ts: 5,
                    id: 99,
                    line: "hi".into(),
                    metadata: vec![],
                }],
            }],
        };
        let value = encode_protobuf(&batch);
        let headers: [(&str, &[u8]); 2] = [
            ("X-Scope-OrgID", b"t1"),
            ("content-type", b"application/x-protobuf"),
        ];
        assert_eq!(
            RecordDecoder::default()
                .decode(&value, &meta(&headers, None), 0)
                .unwrap(),
            batch
        );
        // Recognised without the header too.
        let headers: [(&str, &[u8]); 1] = [("X-Scope-OrgID", b"t1")];
        assert_eq!(
            RecordDecoder::default()
                .decode(&value, &meta(&headers, None), 0)
                .unwrap(),
            batch
        );
        // Uncompressed (the producer compresses), as the distributor and the agent produce.
        let mut encoder = logq_storage::PushEncoder::new();
        let raw = encoder
            .encode_raw(&[(&batch.streams[0].labels, batch.streams[0].entries.as_slice())])
            .to_vec();
        let headers: [(&str, &[u8]); 3] = [
            ("X-Scope-OrgID", b"t1"),
            ("content-type", b"application/x-protobuf"),
            ("content-encoding", b"identity"),
        ];
        assert_eq!(
            RecordDecoder::default()
                .decode(&raw, &meta(&headers, None), 0)
                .unwrap(),
            batch
        );
    }

    #[test]
    fn bad_records_are_errors_not_panics() {
        let d = RecordDecoder::default();
        let pb: [(&str, &[u8]); 1] = [("content-type", b"application/x-protobuf")];
        assert!(d.decode(&[0xff; 64], &meta(&pb, None), 0).is_err());
        let value = encode_protobuf(&PushBatch {
            tenant: TenantId::new("t1").unwrap(),
            streams: vec![StreamEntries {
                labels: LabelSet::parse(r#"{a="b"}"#).unwrap(),
                entries: vec![Entry {
                    ts: 5,
                    id: 9,
                    line: "hello world".into(),
                    metadata: vec![],
                }],
            }],
        });
        assert!(d.decode(&value[..value.len() / 2], &meta(&pb, None), 0).is_err());
        assert!(d
            .decode(b"   \n", &meta(&[], None), 0)
            .unwrap_err()
            .0
            .contains("empty"));
        assert!(d
            .decode(br#"{"nothing":1}"#, &meta(&[], None), 0)
            .unwrap_err()
            .0
            .contains("no line field"));
        let bad_tenant: [(&str, &[u8]); 1] = [("X-Scope-OrgID", b"../x")];
        assert!(d.decode(b"x", &meta(&bad_tenant, None), 0).is_err());
        // Garbage without a content type is kept as text, never dropped silently.
        let b = d.decode(&[0xc3, 0x28, b'a'], &meta(&[], None), 0).unwrap();
        assert_eq!(b.streams[0].entries[0].line, "\u{fffd}(a");
    }
}
