//! Merging entries of the same streams from several inputs: sort by timestamp (stable, so
//! equal timestamps keep input order) and drop duplicates by (timestamp, message id).

use std::collections::{HashMap, HashSet};

use crate::entry::Entry;
use crate::labels::LabelSet;

/// Merges per-stream entry lists (a stream may appear many times) into one sorted,
/// de-duplicated list per stream, ordered by fingerprint.
pub fn merge_streams(
    inputs: impl IntoIterator<Item = (LabelSet, Vec<Entry>)>,
) -> Vec<(LabelSet, Vec<Entry>)> {
    let mut by_fp: HashMap<u64, (LabelSet, Vec<Entry>)> = HashMap::new();
    for (labels, entries) in inputs {
        by_fp
            .entry(labels.fingerprint())
            .or_insert_with(|| (labels, Vec::new()))
            .1
            .extend(entries);
    }
    let mut out: Vec<(u64, LabelSet, Vec<Entry>)> = by_fp
        .into_iter()
        .map(|(fp, (labels, mut entries))| {
            entries.sort_by_key(|e| e.ts);
            let mut seen = HashSet::with_capacity(entries.len());
            entries.retain(|e| seen.insert((e.ts, e.id)));
            (fp, labels, entries)
        })
        .collect();
    out.sort_by_key(|(fp, _, _)| *fp);
    out.into_iter().map(|(_, l, e)| (l, e)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(ts: i64, id: u64) -> Entry {
        Entry {
            ts,
            id,
            line: format!("{ts}/{id}"),
            metadata: vec![],
        }
    }

    #[test]
    fn merges_sorts_and_dedups() {
        let a = LabelSet::parse("{a=\"1\"}").unwrap();
        let b = LabelSet::parse("{a=\"2\"}").unwrap();
        let out = merge_streams(vec![
            (a.clone(), vec![e(3, 1), e(1, 1)]),
            (b.clone(), vec![e(5, 5)]),
            (a.clone(), vec![e(3, 1), e(2, 9), e(3, 2)]),
        ]);
        assert_eq!(out.len(), 2);
        let got_a = &out.iter().find(|(l, _)| *l == a).unwrap().1;
        let keys: Vec<(i64, u64)> = got_a.iter().map(|x| (x.ts, x.id)).collect();
        assert_eq!(keys, [(1, 1), (2, 9), (3, 1), (3, 2)]);
    }
}
