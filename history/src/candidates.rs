//! Which documents of one segment may satisfy a needle, from the term dictionary and postings
//! alone (see [`crate::tokens`] for why the result is always a superset of the matches).

use memchr::memmem::Finder;
use tantivy::schema::IndexRecordOption;
use tantivy::termdict::TermDictionary;
use tantivy::{DocSet, InvertedIndexReader, SegmentReader, TERMINATED};

use crate::bits::Bits;
use crate::error::HistoryError;
use crate::schema::Fields;
use crate::spec::Needle;
use crate::tokens::{LiteralPlan, LONG_MARKER};

/// The candidate documents of `segment` for `needle` (all of them for an empty needle).
pub fn segment_candidates(
    segment: &SegmentReader,
    fields: &Fields,
    needle: &Needle,
) -> Result<Bits, HistoryError> {
    let max_doc = segment.max_doc();
    let inv = segment.inverted_index(fields.words)?;
    let mut marked: Option<Bits> = None;
    let mut out = Bits::full(max_doc);
    for group in &needle.all_of {
        let mut any = Bits::empty(max_doc);
        for literal in group {
            match LiteralPlan::of(literal) {
                LiteralPlan::Any => {
                    any = Bits::full(max_doc);
                    break;
                }
                plan => any.or_with(&plan_docs(&inv, &plan, max_doc)?),
            }
        }
        let marked = match &marked {
            Some(m) => m,
            None => marked.insert(term_docs(&inv, LONG_MARKER.as_bytes(), max_doc)?),
        };
        any.or_with(marked);
        out.and_with(&any);
        if out.is_empty() {
            break;
        }
    }
    Ok(out)
}

fn plan_docs(inv: &InvertedIndexReader, plan: &LiteralPlan, max_doc: u32) -> Result<Bits, HistoryError> {
    let terms = inv.terms();
    match plan {
        LiteralPlan::Any => Ok(Bits::full(max_doc)),
        LiteralPlan::LongOnly => Ok(Bits::empty(max_doc)),
        LiteralPlan::Words(words) => {
            let mut out: Option<Bits> = None;
            for w in words {
                let docs = term_docs(inv, w.as_bytes(), max_doc)?;
                match &mut out {
                    Some(o) => o.and_with(&docs),
                    None => out = Some(docs),
                }
                if out.as_ref().is_some_and(Bits::is_empty) {
                    break;
                }
            }
            Ok(out.unwrap_or_else(|| Bits::full(max_doc)))
        }
        LiteralPlan::Prefix(p) => {
            let mut out = Bits::empty(max_doc);
            let mut stream = terms.range().ge(p.as_bytes()).into_stream()?;
            while stream.advance() {
                if !stream.key().starts_with(p.as_bytes()) {
                    break;
                }
                add_postings(inv, stream.value(), &mut out)?;
            }
            Ok(out)
        }
        LiteralPlan::Suffix(s) => scan(inv, terms, max_doc, |k| k.ends_with(s.as_bytes())),
        LiteralPlan::Infix(i) => {
            let finder = Finder::new(i.as_bytes());
            scan(inv, terms, max_doc, |k| finder.find(k).is_some())
        }
    }
}

/// Documents of every term `keep` accepts (a full pass over the dictionary).
fn scan(
    inv: &InvertedIndexReader,
    terms: &TermDictionary,
    max_doc: u32,
    keep: impl Fn(&[u8]) -> bool,
) -> Result<Bits, HistoryError> {
    let mut out = Bits::empty(max_doc);
    let mut stream = terms.stream()?;
    while stream.advance() {
        if keep(stream.key()) {
            add_postings(inv, stream.value(), &mut out)?;
        }
    }
    Ok(out)
}

/// Documents holding exactly `term`.
fn term_docs(inv: &InvertedIndexReader, term: &[u8], max_doc: u32) -> Result<Bits, HistoryError> {
    let mut out = Bits::empty(max_doc);
    if let Some(info) = inv.terms().get(term)? {
        add_postings(inv, &info, &mut out)?;
    }
    Ok(out)
}

fn add_postings(
    inv: &InvertedIndexReader,
    info: &tantivy::postings::TermInfo,
    out: &mut Bits,
) -> Result<(), HistoryError> {
    let mut postings = inv.read_postings_from_terminfo(info, IndexRecordOption::Basic)?;
    let mut doc = postings.doc();
    while doc != TERMINATED {
        out.insert(doc);
        doc = postings.advance();
    }
    Ok(())
}
