//! Property: whatever the lines (unicode, punctuation, case, long words) and whatever the
//! needles (substrings of lines cutting words anywhere, random strings, regex-style literal
//! sets, `or` groups), a search returns exactly the lines a brute-force scan finds: the index
//! never misses a matching line and never returns a non-matching one.

mod common;

use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use common::{entry, labels, pairs, Fixture};
use logq_history::{build, BuildProgress, Direction, HistoryIndex, IndexSpec, Needle, SearchRequest};
use proptest::prelude::*;

/// Pieces lines are made of: words in several cases and scripts, digits, hex, punctuation of
/// every kind logs use, whitespace, and now and then a very long word.
fn piece() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::sample::select(vec![
            "error", "Error", "ERROR", "err", "conn", "connection", "reset", "GET", "get", "POST",
            "user_id", "Grüße", "ÉCHEC", "日本語", "données", "ß", "naïve", "trace", "id",
        ])
        .prop_map(str::to_string),
        2 => "[0-9a-f]{1,16}",
        2 => "[a-zA-Z0-9_]{1,6}",
        3 => prop::sample::select(vec![
            " ", " ", "  ", ": ", "=", "\"", "/", ".", ",", "-", "[", "]", "{", "}", "\t", "\\",
            "|", "@", "#", ":", "'", "(", ")", "<", ">", "+", "*", "?", "—", "…",
        ])
        .prop_map(str::to_string),
        1 => "[a-z]{250,270}",
    ]
}

fn line() -> impl Strategy<Value = String> {
    prop::collection::vec(piece(), 0..14).prop_map(|p| p.concat())
}

/// A substring of `s` from char positions picked by `a` and `b` (any cut, word or not).
fn cut(s: &str, a: usize, b: usize) -> String {
    let chars: Vec<char> = s.chars().collect();
    if chars.is_empty() {
        return String::new();
    }
    let i = a % chars.len();
    let j = i + 1 + b % (chars.len() - i).min(12);
    chars[i..j.min(chars.len())].iter().collect()
}

/// Needle shapes: one substring; two substrings of one line (`|~ "a.*b"`); an `or` of a
/// substring and a random string; a random string; case-flipped substring.
fn needles(lines: &[String], picks: &[(usize, usize, usize, usize, String)]) -> Vec<Needle> {
    let mut out = Vec::new();
    for (l, a, b, c, random) in picks {
        let line = &lines[l % lines.len()];
        let one = cut(line, *a, *b);
        let two = cut(line, *c, *a);
        out.push(Needle::literal(one.clone()));
        out.push(Needle {
            all_of: vec![vec![one.clone()], vec![two.clone()]],
        });
        out.push(Needle {
            all_of: vec![vec![random.clone(), two.clone()]],
        });
        out.push(Needle::literal(random.clone()));
        let flipped: String = one
            .chars()
            .map(|c| {
                if c.is_uppercase() {
                    c.to_ascii_lowercase()
                } else {
                    c.to_ascii_uppercase()
                }
            })
            .collect();
        out.push(Needle::literal(flipped));
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn the_index_never_misses_a_matching_line(
        lines in prop::collection::vec(line(), 1..60),
        picks in prop::collection::vec(
            (any::<usize>(), any::<usize>(), any::<usize>(), any::<usize>(), "[a-zA-Z0-9 :=_é]{1,4}"),
            1..8,
        ),
        split in any::<usize>(),
    ) {
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(async {
            let mut f = Fixture::new();
            let entries: Vec<_> = lines.iter().enumerate().map(|(i, l)| entry(i as i64 * 10, l)).collect();
            // Part in a block, part in a chunk.
            let at = split % (entries.len() + 1);
            if at > 0 {
                f.block(vec![(labels(r#"{app="a"}"#), entries[..at].to_vec())]).await;
            }
            if at < entries.len() {
                f.chunk(vec![(labels(r#"{app="b"}"#), entries[at..].to_vec())]).await;
            }
            let tmp = tempfile::tempdir().unwrap();
            let dir = tmp.path().join("idx");
            let spec = IndexSpec { tenant: f.tenant.clone(), start_ns: 0, end_ns: i64::MAX, selector: Vec::new() };
            build(&f.store, &spec, &dir, Arc::new(BuildProgress::default()), Arc::new(AtomicBool::new(false)))
                .await
                .unwrap();
            let index = HistoryIndex::open(&dir).unwrap();
            let objects = f.objects().await;
            for needle in needles(&lines, &picks) {
                let req = SearchRequest {
                    matchers: Vec::new(),
                    start_ns: 0,
                    end_ns: i64::MAX,
                    objects: objects.clone(),
                    needle: needle.clone(),
                    direction: Direction::Forward,
                    limit: usize::MAX,
                    cursor: None,
                };
                let got = index.search(&req).unwrap();
                prop_assert_eq!(
                    pairs(&got.entries, req.direction),
                    f.expected(&req, (0, i64::MAX)),
                    "needle {:?}", needle
                );
            }
            Ok(())
        })?;
    }
}
