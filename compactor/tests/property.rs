//! Property tests: for random streams with out-of-order timestamps and duplicate message ids
//! (replays), compacting the chunks and reading back gives exactly the sorted, de-duplicated
//! input, whatever the grouping: chunks -> hour blocks; chunks -> hour blocks -> day block;
//! chunks arriving in two batches (two hour blocks for the same hour, merged by the day).

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::*;
use logq_compactor::{Compactor, CompactorConfig};
use logq_storage::layout::window_start;
use logq_storage::{Entry, LabelSet, ManifestStore, Store, TenantId};
use proptest::prelude::*;

/// A generated entry: stream index, offset from the day's start (ms), message id.
type Gen = (usize, i64, u64);

fn labels(i: usize) -> LabelSet {
    LabelSet::parse(&format!("{{app=\"app{i}\", env=\"prod\"}}")).unwrap()
}

/// The line and metadata are a function of the entry's identity, as for real replays.
fn entry(day: i64, (s, ms, id): Gen) -> Entry {
    let ts = day + ms * 1_000_000;
    Entry {
        ts,
        id,
        line: format!("stream {s} id {id} at {ms}{}", "!".repeat((id % 5) as usize)),
        metadata: if id % 3 == 0 {
            vec![("k".into(), format!("v{id}"))]
        } else {
            vec![]
        },
    }
}

/// Splits entries into chunks as ingesters would: per 5-minute window, spread over `sources`
/// flushes (by `pick`), each holding its streams' entries in arrival order.
fn to_chunks(day: i64, gens: &[(Gen, usize)], sources: usize) -> Vec<ChunkInput> {
    let mut by_chunk: BTreeMap<(i64, usize), BTreeMap<usize, Vec<Entry>>> = BTreeMap::new();
    for &(g, pick) in gens {
        let e = entry(day, g);
        by_chunk
            .entry((window_start(e.ts), pick % sources))
            .or_default()
            .entry(g.0)
            .or_default()
            .push(e);
    }
    by_chunk
        .into_iter()
        .enumerate()
        .map(|(seq, ((_, src), streams))| ChunkInput {
            source: format!("src{src}"),
            seq: seq as u64,
            streams: streams.into_iter().map(|(s, es)| (labels(s), es)).collect(),
        })
        .collect()
}

fn config(day_blocks: bool) -> CompactorConfig {
    CompactorConfig {
        delete_grace: Duration::ZERO,
        hour_grace: Duration::ZERO,
        day_grace: day_blocks.then_some(Duration::ZERO),
        ..Default::default()
    }
}

/// Compacts `batches` of chunks one batch per pass, then reads everything back.
async fn compact_and_read(
    batches: Vec<Vec<ChunkInput>>,
    day_blocks: bool,
) -> (Vec<(LabelSet, Entry)>, usize) {
    let store = Store::in_memory();
    let ms = ManifestStore::new(store.clone());
    let tenant = TenantId::new("p").unwrap();
    for batch in batches {
        put_chunks(&ms, &tenant, &batch).await;
        Compactor::new(ms.clone(), config(day_blocks))
            .run_once()
            .await
            .unwrap();
    }
    let m = ms.load(&tenant).await.unwrap();
    assert!(m.chunks.is_empty());
    (read_all(&store, &tenant).await, m.blocks.len())
}

/// Per stream, the entries in stored order.
fn by_stream(read: &[(LabelSet, Entry)]) -> BTreeMap<String, Vec<Entry>> {
    let mut out: BTreeMap<String, Vec<Entry>> = BTreeMap::new();
    for (l, e) in read {
        out.entry(l.to_string()).or_default().push(e.clone());
    }
    out
}

/// The model: per stream, the input's distinct (ts, id) entries, ordered by (ts, id).
fn model(day: i64, gens: &[(Gen, usize)]) -> BTreeMap<String, Vec<Entry>> {
    let mut out: BTreeMap<String, BTreeMap<(i64, u64), Entry>> = BTreeMap::new();
    for &(g, _) in gens {
        let e = entry(day, g);
        out.entry(labels(g.0).to_string())
            .or_default()
            .insert((e.ts, e.id), e);
    }
    out.into_iter()
        .map(|(k, v)| (k, v.into_values().collect()))
        .collect()
}

/// Checks the stored streams against the model: every entry exactly once, timestamps in order
/// (entries with equal timestamps may come in any order, so compare them sorted by id).
fn check(
    stored: BTreeMap<String, Vec<Entry>>,
    want: &BTreeMap<String, Vec<Entry>>,
) -> Result<(), TestCaseError> {
    prop_assert_eq!(stored.keys().collect::<Vec<_>>(), want.keys().collect::<Vec<_>>());
    for (stream, mut entries) in stored {
        prop_assert!(
            entries.windows(2).all(|w| w[0].ts <= w[1].ts),
            "{} is not sorted by time",
            stream
        );
        entries.sort_by_key(|e| (e.ts, e.id));
        prop_assert_eq!(&entries, &want[&stream]);
    }
    Ok(())
}

fn gens() -> impl Strategy<Value = Vec<(Gen, usize)>> {
    // Up to 4 streams over 3 hours (ms offsets; windows are 5 minutes), ids from a small range
    // so that duplicates (same ts and id) and same-ts entries with different ids both occur.
    let hours_ms = 3 * 3600 * 1000;
    let one = (0usize..4, 0i64..hours_ms, 0u64..40).prop_map(|(s, ms, id)| (s, ms - ms % 997, id));
    let with_dups = prop::collection::vec((one, 0usize..3), 1..300);
    with_dups.prop_flat_map(|v| {
        let n = v.len();
        // Replays: copies of random earlier entries, from another source.
        (Just(v), prop::collection::vec((0..n, 0usize..3), 0..60)).prop_map(|(mut v, copies)| {
            for (i, pick) in copies {
                let (g, _) = v[i];
                v.push((g, pick));
            }
            v
        })
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    #[test]
    fn compaction_in_any_grouping_gives_the_sorted_deduplicated_input(gens in gens(), split in 0usize..100) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let day = old_day();
        let want = model(day, &gens);
        let hours: std::collections::BTreeSet<i64> =
            gens.iter().map(|&(g, _)| entry(day, g).ts.div_euclid(HOUR_NS)).collect();

        // chunks -> hour blocks.
        let (read, blocks) = rt.block_on(compact_and_read(vec![to_chunks(day, &gens, 3)], false));
        prop_assert_eq!(blocks, hours.len());
        check(by_stream(&read), &want)?;

        // chunks -> hour blocks -> one day block.
        let (read, blocks) = rt.block_on(compact_and_read(vec![to_chunks(day, &gens, 3)], true));
        prop_assert_eq!(blocks, 1);
        check(by_stream(&read), &want)?;

        // Two batches of chunks (late chunks for hours already compacted), then the day.
        let cut = gens.len() * split / 100;
        let (first, second) = gens.split_at(cut);
        let mut batch2 = to_chunks(day, second, 2);
        for c in &mut batch2 {
            c.source = format!("late-{}", c.source);
        }
        let (read, _) = rt.block_on(compact_and_read(vec![to_chunks(day, first, 3), batch2], true));
        check(by_stream(&read), &want)?;
    }
}
