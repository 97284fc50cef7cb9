//! A damaged index is refused, never trusted: every file of a built index flipped, truncated
//! or removed in turn makes `open` fail (or, if it opened, a search fail or answer exactly as
//! the intact index does).

mod common;

use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use common::{entry, labels, Fixture};
use logq_history::{
    build, BuildProgress, Direction, HistoryIndex, IndexSpec, Needle, SearchRequest, META_FILE,
};

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for item in std::fs::read_dir(from).unwrap() {
        let item = item.unwrap();
        std::fs::copy(item.path(), to.join(item.file_name())).unwrap();
    }
}

fn answers(
    index: &HistoryIndex,
    objects: &[String],
) -> Result<Vec<Vec<(i64, String)>>, logq_history::HistoryError> {
    let mut out = Vec::new();
    for needle in [
        Needle::default(),
        Needle::literal("error"),
        Needle::literal("d 17"),
    ] {
        let req = SearchRequest {
            matchers: Vec::new(),
            start_ns: i64::MIN,
            end_ns: i64::MAX,
            objects: objects.to_vec(),
            needle,
            direction: Direction::Backward,
            limit: usize::MAX,
            cursor: None,
        };
        let page = index.search(&req)?;
        out.push(
            page.entries
                .into_iter()
                .map(|e| (e.entry.ts, e.entry.line))
                .collect(),
        );
    }
    Ok(out)
}

#[tokio::test]
async fn flipped_truncated_or_missing_files_are_detected() {
    let mut f = Fixture::new();
    let lines: Vec<_> = (0..2_000)
        .map(|i| {
            entry(
                i,
                &format!(
                    "request {i} level={} took {}ms",
                    if i % 13 == 0 { "error" } else { "info" },
                    i % 97
                ),
            )
        })
        .collect();
    f.block(vec![(labels(r#"{app="a"}"#), lines[..1_000].to_vec())])
        .await;
    f.chunk(vec![(labels(r#"{app="b"}"#), lines[1_000..].to_vec())])
        .await;
    let tmp = tempfile::tempdir().unwrap();
    let good = tmp.path().join("good");
    let spec = IndexSpec {
        tenant: f.tenant.clone(),
        start_ns: 0,
        end_ns: 10_000,
        selector: Vec::new(),
    };
    build(
        &f.store,
        &spec,
        &good,
        Arc::new(BuildProgress::default()),
        Arc::new(AtomicBool::new(false)),
    )
    .await
    .unwrap();
    let objects = f.objects().await;
    let reference = answers(&HistoryIndex::open(&good).unwrap(), &objects).unwrap();
    assert_eq!(reference[0].len(), 2_000);

    let files: Vec<String> = std::fs::read_dir(&good)
        .unwrap()
        .map(|i| i.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(files.iter().any(|f| f == META_FILE));
    assert!(files.len() > 3, "{files:?}");
    let mut case = 0;
    let mut check = |damage: &dyn Fn(&Path), what: String| {
        case += 1;
        let dir = tmp.path().join(format!("case{case}"));
        copy_dir(&good, &dir);
        damage(&dir);
        match HistoryIndex::open(&dir) {
            Err(e) => assert!(
                e.is_corruption() || matches!(e, logq_history::HistoryError::Io { .. }),
                "{what}: {e}"
            ),
            Ok(index) => match answers(&index, &objects) {
                Err(_) => {}
                Ok(got) => assert_eq!(got, reference, "{what}: opened and answered differently"),
            },
        }
        std::fs::remove_dir_all(&dir).unwrap();
    };
    for name in &files {
        let len = std::fs::metadata(good.join(name)).unwrap().len() as usize;
        for pos in [0, len / 2, len.saturating_sub(1)] {
            if len == 0 {
                continue;
            }
            check(
                &|d: &Path| {
                    let p = d.join(name);
                    let mut bytes = std::fs::read(&p).unwrap();
                    bytes[pos] ^= 0x20;
                    std::fs::write(&p, bytes).unwrap();
                },
                format!("{name} flipped at {pos}"),
            );
        }
        check(
            &|d: &Path| {
                let p = d.join(name);
                let bytes = std::fs::read(&p).unwrap();
                std::fs::write(&p, &bytes[..bytes.len() / 2]).unwrap();
            },
            format!("{name} truncated"),
        );
        check(
            &|d: &Path| std::fs::remove_file(d.join(name)).unwrap(),
            format!("{name} removed"),
        );
    }
    // The intact copy still opens (the checks above did not damage the original).
    assert_eq!(
        answers(&HistoryIndex::open(&good).unwrap(), &objects).unwrap(),
        reference
    );
}
