//! The tantivy schema of a history index: one document per stored entry.
//!
//! - `words`: the line's words ([`crate::tokens`]), indexed with doc ids only (no
//!   frequencies, positions or norms: a search only needs which lines hold a word);
//! - `ts`, `seq`, `stream`, `object`: fast fields (columnar, mmap'd) read while filtering
//!   candidates: timestamp, the entry's unique sequence number (its tie-break in the order),
//!   its stream ordinal (into the meta's stream table) and its object ordinal (into the
//!   summary's object list);
//! - `entry`: the stored entry (storage's entry codec: ts, message id, line, metadata),
//!   zstd-compressed in the doc store.

use tantivy::schema::{Field, IndexRecordOption, Schema, TextFieldIndexing, TextOptions, FAST, STORED};
use tantivy::store::{Compressor, ZstdCompressor};
use tantivy::tokenizer::TextAnalyzer;
use tantivy::{Index, IndexSettings};

use crate::error::HistoryError;
use crate::tokens::{WordTokenizer, TOKENIZER_NAME};

/// Doc store block size: large blocks compress log lines much better; a search reads few.
const DOCSTORE_BLOCK: usize = 64 * 1024;

/// The fields of the schema.
#[derive(Debug, Clone, Copy)]
pub struct Fields {
    /// Line words.
    pub words: Field,
    /// Timestamp.
    pub ts: Field,
    /// Sequence number.
    pub seq: Field,
    /// Stream ordinal.
    pub stream: Field,
    /// Object ordinal.
    pub object: Field,
    /// Encoded entry.
    pub entry: Field,
}

/// The schema and its fields.
pub fn schema() -> (Schema, Fields) {
    let mut b = Schema::builder();
    let words = b.add_text_field(
        "words",
        TextOptions::default().set_indexing_options(
            TextFieldIndexing::default()
                .set_tokenizer(TOKENIZER_NAME)
                .set_index_option(IndexRecordOption::Basic)
                .set_fieldnorms(false),
        ),
    );
    let ts = b.add_i64_field("ts", FAST);
    let seq = b.add_u64_field("seq", FAST);
    let stream = b.add_u64_field("stream", FAST);
    let object = b.add_u64_field("object", FAST);
    let entry = b.add_bytes_field("entry", STORED);
    (
        b.build(),
        Fields {
            words,
            ts,
            seq,
            stream,
            object,
            entry,
        },
    )
}

/// The index settings (doc store codec and block size).
pub fn settings() -> IndexSettings {
    IndexSettings {
        docstore_compression: Compressor::Zstd(ZstdCompressor {
            compression_level: Some(3),
        }),
        docstore_blocksize: DOCSTORE_BLOCK,
        ..IndexSettings::default()
    }
}

/// Registers the word tokenizer on an index (needed before writing or querying words).
pub fn register(index: &Index) {
    index
        .tokenizers()
        .register(TOKENIZER_NAME, TextAnalyzer::from(WordTokenizer::default()));
}

/// The fields of an opened index's schema, checking they are ours.
pub fn fields_of(index: &Index, path: &str) -> Result<Fields, HistoryError> {
    let s = index.schema();
    let get = |name: &str| {
        s.get_field(name)
            .map_err(|_| HistoryError::corrupt(path, format!("schema has no field {name}")))
    };
    Ok(Fields {
        words: get("words")?,
        ts: get("ts")?,
        seq: get("seq")?,
        stream: get("stream")?,
        object: get("object")?,
        entry: get("entry")?,
    })
}
