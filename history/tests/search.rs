//! Building an index from chunks and blocks and searching it: every answer equals the
//! brute-force answer over the stored entries.

mod common;

use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use common::{entry, labels, pairs, Fixture};
use logq_history::{
    build, BuildProgress, Direction, HistoryError, HistoryIndex, IndexSpec, Needle, SearchRequest,
};
use logq_storage::{Entry, LabelMatcher, MatchOp};

async fn fixture() -> Fixture {
    let mut f = Fixture::new();
    let web = labels(r#"{app="web", env="prod"}"#);
    let db = labels(r#"{app="db", env="prod"}"#);
    let mut with_meta = entry(150, "level=error msg=\"conn refused\" trace_id=00ab34cd56ef7890");
    with_meta.metadata = vec![("trace_id".into(), "00ab34cd56ef7890".into())];
    f.block(vec![
        (
            web.clone(),
            vec![
                entry(100, "GET /api/v1/orders 200"),
                entry(110, "POST /login 401 error: connection reset"),
                entry(120, "GET /healthz 200 ÉCHEC Grüße"),
                entry(120, "same ts, other line GET"),
            ],
        ),
        (
            db.clone(),
            vec![with_meta, entry(160, "slow query Rows_examined: 1999987")],
        ),
    ])
    .await;
    f.chunk(vec![
        (
            web.clone(),
            vec![
                entry(200, "GET /cart 500 ERROR: conn timeout"),
                entry(210, "gettext"),
            ],
        ),
        (
            db.clone(),
            vec![
                entry(220, "checkpoint complete"),
                entry(5_000, "outside the range"),
            ],
        ),
    ])
    .await;
    f.chunk(vec![(
        web,
        vec![entry(230, &format!("blob {} tail", "x".repeat(400)))],
    )])
    .await;
    f
}

fn spec(f: &Fixture, start: i64, end: i64, selector: Vec<LabelMatcher>) -> IndexSpec {
    IndexSpec {
        tenant: f.tenant.clone(),
        start_ns: start,
        end_ns: end,
        selector,
    }
}

async fn built(f: &Fixture, spec: &IndexSpec) -> (tempfile::TempDir, HistoryIndex) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("idx");
    let progress = Arc::new(BuildProgress::default());
    let summary = build(
        &f.store,
        spec,
        &dir,
        progress.clone(),
        Arc::new(AtomicBool::new(false)),
    )
    .await
    .unwrap();
    assert_eq!(progress.fraction(), 1.0);
    let index = HistoryIndex::open(&dir).unwrap();
    assert_eq!(index.summary(), &summary);
    (tmp, index)
}

fn request(objects: Vec<String>, needle: Needle) -> SearchRequest {
    SearchRequest {
        matchers: Vec::new(),
        start_ns: i64::MIN,
        end_ns: i64::MAX,
        objects,
        needle,
        direction: Direction::Forward,
        limit: usize::MAX,
        cursor: None,
    }
}

fn any_of(groups: &[&[&str]]) -> Needle {
    Needle {
        all_of: groups
            .iter()
            .map(|g| g.iter().map(|s| s.to_string()).collect())
            .collect(),
    }
}

#[tokio::test]
async fn needles_find_exactly_the_matching_lines() {
    let f = fixture().await;
    let s = spec(&f, 0, 1_000, Vec::new());
    let (_tmp, index) = built(&f, &s).await;
    assert_eq!(index.summary().lines, 10);
    assert_eq!(index.summary().objects.len(), 3);
    assert_eq!(index.summary().streams, 2);
    let objects = f.objects().await;
    let needles = [
        any_of(&[]),
        any_of(&[&["ror: conn"]]),
        any_of(&[&["GET"]]),
        any_of(&[&["ET /"]]),
        any_of(&[&["get"]]),
        any_of(&[&["conn"], &["refused", "timeout"]]),
        any_of(&[&["Rows_examined: 19999"]]),
        any_of(&[&["ab34cd56ef78"]]),
        any_of(&[&["00ab34cd56ef7890"]]),
        any_of(&[&["Grüße"]]),
        any_of(&[&["ÉCHEC Gr"]]),
        any_of(&[&["xxxxx"]]),
        any_of(&[&[" tail"]]),
        any_of(&[&[" 200"]]),
        any_of(&[&["200 "]]),
        any_of(&[&["/"]]),
        any_of(&[&["nothing like this"]]),
        any_of(&[&["GET", "POST"], &["200"]]),
        any_of(&[&[""]]),
    ];
    for needle in needles {
        let req = request(objects.clone(), needle.clone());
        let got = index.search(&req).unwrap();
        assert_eq!(
            pairs(&got.entries, req.direction),
            f.expected(&req, (0, 1_000)),
            "needle {needle:?}"
        );
        assert!(got.next.is_none());
    }
}

#[tokio::test]
async fn selector_range_and_objects_limit_the_answer() {
    let f = fixture().await;
    let app_web = LabelMatcher::new("app", MatchOp::Equal, "web").unwrap();
    let (_tmp, index) = built(&f, &spec(&f, 105, 1_000, vec![app_web.clone()])).await;
    assert_eq!(index.summary().selector, r#"{app="web"}"#);
    assert_eq!(index.summary().lines, 6);
    let objects = f.objects().await;
    let mut req = request(objects.clone(), Needle::default());
    let all = index.search(&req).unwrap();
    assert!(all.entries.iter().all(|e| e.labels.get("app") == Some("web")));
    assert_eq!(pairs(&all.entries, req.direction), {
        let mut r = req.clone();
        r.matchers = vec![app_web];
        f.expected(&r, (105, 1_000))
    });
    // A narrower time range and a stream filter.
    req.start_ns = 115;
    req.end_ns = 201;
    req.matchers = vec![LabelMatcher::new("env", MatchOp::Equal, "prod").unwrap()];
    let got = index.search(&req).unwrap();
    assert_eq!(
        got.entries.iter().map(|e| e.entry.ts).collect::<Vec<_>>(),
        [120, 120, 200]
    );
    // Objects the caller no longer trusts are never answered from.
    req.objects = objects.iter().filter(|k| k.contains("chunks")).cloned().collect();
    let got = index.search(&req).unwrap();
    assert_eq!(got.entries.iter().map(|e| e.entry.ts).collect::<Vec<_>>(), [200]);
    req.objects.clear();
    assert!(index.search(&req).unwrap().entries.is_empty());
    // A matcher no stream satisfies.
    req.objects = objects;
    req.matchers = vec![LabelMatcher::new("app", MatchOp::Equal, "db").unwrap()];
    assert!(index.search(&req).unwrap().entries.is_empty());
}

#[tokio::test]
async fn entries_come_back_exactly_as_stored() {
    let f = fixture().await;
    let (_tmp, index) = built(&f, &spec(&f, 0, 1_000, Vec::new())).await;
    let req = request(f.objects().await, Needle::literal("trace_id=00ab"));
    let got = index.search(&req).unwrap();
    assert_eq!(got.entries.len(), 1);
    let stored: &Entry = &f.stored.iter().find(|s| s.entry.ts == 150).unwrap().entry;
    assert_eq!(&got.entries[0].entry, stored);
    assert_eq!(got.entries[0].entry.metadata.len(), 1);
    assert_eq!(got.entries[0].labels, labels(r#"{app="db", env="prod"}"#));
}

#[tokio::test]
async fn pages_in_both_directions_concatenate_to_the_whole_answer() {
    let mut f = Fixture::new();
    let a = labels(r#"{app="a"}"#);
    let b = labels(r#"{app="b"}"#);
    let lines = |s: i64, tag: &str| -> Vec<Entry> {
        (0..300)
            .map(|i| {
                entry(
                    s + (i / 3),
                    &format!("{tag} request {i} status={}", if i % 7 == 0 { 500 } else { 200 }),
                )
            })
            .collect()
    };
    f.block(vec![(a.clone(), lines(0, "a")), (b.clone(), lines(50, "b"))])
        .await;
    f.chunk(vec![(a, lines(20, "a2")), (b, lines(0, "b2"))]).await;
    let (_tmp, index) = built(&f, &spec(&f, 0, 10_000, Vec::new())).await;
    let objects = f.objects().await;
    for direction in [Direction::Forward, Direction::Backward] {
        for needle in [
            Needle::literal("status=500"),
            Needle::default(),
            Needle::literal("quest 1"),
        ] {
            let mut req = request(objects.clone(), needle);
            req.direction = direction;
            let whole = index.search(&req).unwrap();
            assert!(whole.next.is_none());
            for limit in [1, 7, 100] {
                req.limit = limit;
                req.cursor = None;
                let mut all = Vec::new();
                loop {
                    let page = index.search(&req).unwrap();
                    assert!(page.entries.len() <= limit);
                    all.extend(page.entries);
                    match page.next {
                        Some(c) => req.cursor = Some(c),
                        None => break,
                    }
                }
                assert_eq!(
                    all.iter().map(|e| e.cursor).collect::<Vec<_>>(),
                    whole.entries.iter().map(|e| e.cursor).collect::<Vec<_>>(),
                    "{direction:?} limit {limit}"
                );
            }
            let expect = {
                let mut r = req.clone();
                r.limit = usize::MAX;
                f.expected(&r, (0, 10_000))
            };
            assert_eq!(pairs(&whole.entries, direction), expect);
        }
    }
}

#[tokio::test]
async fn bad_specs_and_cancelled_builds_leave_nothing() {
    let f = fixture().await;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("idx");
    let p = Arc::new(BuildProgress::default());
    let err = build(
        &f.store,
        &spec(&f, 10, 10, Vec::new()),
        &dir,
        p.clone(),
        Arc::new(AtomicBool::new(false)),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, HistoryError::Invalid(_)), "{err}");
    let err = build(
        &f.store,
        &spec(&f, 0, 1_000, Vec::new()),
        &dir,
        p,
        Arc::new(AtomicBool::new(true)),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, HistoryError::Cancelled), "{err}");
    assert_eq!(
        std::fs::read_dir(tmp.path()).unwrap().count(),
        0,
        "no directory left behind"
    );
}

#[tokio::test]
async fn an_empty_range_builds_an_empty_index() {
    let f = fixture().await;
    let (_tmp, index) = built(&f, &spec(&f, 10_000, 20_000, Vec::new())).await;
    assert_eq!(index.summary().lines, 0);
    assert!(index.summary().objects.is_empty());
    let got = index
        .search(&request(f.objects().await, Needle::literal("GET")))
        .unwrap();
    assert!(got.entries.is_empty());
}
