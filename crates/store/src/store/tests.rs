//! Behaviour of the store over the SQLite backend.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use futures::StreamExt;

use crate::{
    CompactionPolicy, Error, Event, EventKind, KeyValue, ListOptions, SqliteOptions, Store, StoreOptions, WatchStream,
};

fn options() -> StoreOptions {
    StoreOptions {
        compaction: None,
        sqlite: SqliteOptions { fsync: false, ..SqliteOptions::default() },
        ..StoreOptions::default()
    }
}

async fn open(dir: &Path) -> Store {
    open_with(dir, options()).await
}

async fn open_with(dir: &Path, options: StoreOptions) -> Store {
    Store::open_sqlite(dir.join("store.db"), options).await.expect("open store")
}

fn keys(items: &[KeyValue]) -> Vec<&str> {
    items.iter().map(|kv| kv.key.as_str()).collect()
}

async fn next_event(stream: &mut WatchStream) -> Event {
    match tokio::time::timeout(Duration::from_secs(10), stream.next()).await {
        Ok(Some(Ok(event))) => event,
        other => panic!("expected an event, got {other:?}"),
    }
}

async fn collect_events(stream: &mut WatchStream, count: usize) -> Vec<Event> {
    let mut events = Vec::with_capacity(count);
    for _ in 0..count {
        events.push(next_event(stream).await);
    }
    events
}

fn summary(events: &[Event]) -> Vec<(EventKind, String, i64)> {
    events.iter().map(|event| (event.kind, event.kv.key.clone(), event.revision())).collect()
}

#[tokio::test]
async fn create_assigns_increasing_revisions_and_rejects_duplicates() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path()).await;
    assert_eq!(store.current_revision(), 0);
    assert_eq!(store.create("/registry/pods/default/a", "one").await.expect("create a"), 1);
    assert_eq!(store.create("/registry/pods/default/b", "two").await.expect("create b"), 2);
    match store.create("/registry/pods/default/a", "again").await {
        Err(Error::AlreadyExists { key }) => assert_eq!(key, "/registry/pods/default/a"),
        other => panic!("expected AlreadyExists, got {other:?}"),
    }
    // The rejected create used no revision.
    assert_eq!(store.current_revision(), 2);
    let a = store.get("/registry/pods/default/a").await.expect("get").expect("present");
    assert_eq!(
        a,
        KeyValue { key: "/registry/pods/default/a".into(), value: "one".into(), create_revision: 1, mod_revision: 1 }
    );
    assert_eq!(store.get("/registry/pods/default/zz").await.expect("get"), None);
    assert!(matches!(store.create("", "x").await, Err(Error::InvalidKey { .. })));
}

#[tokio::test]
async fn update_is_a_compare_and_swap() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path()).await;
    let created = store.create("/k", "v1").await.expect("create");
    let updated = store.update("/k", "v2", created).await.expect("update");
    assert_eq!(updated, created + 1);
    match store.update("/k", "stale", created).await {
        Err(Error::Conflict { key, expected, current: Some(current) }) => {
            assert_eq!((key.as_str(), expected), ("/k", created));
            assert_eq!((current.value.as_ref(), current.mod_revision), (&b"v2"[..], updated));
        }
        other => panic!("expected Conflict, got {other:?}"),
    }
    assert!(matches!(store.update("/missing", "v", 1).await, Err(Error::NotFound { .. })));
    let kv = store.get("/k").await.expect("get").expect("present");
    assert_eq!((kv.value.as_ref(), kv.create_revision, kv.mod_revision), (&b"v2"[..], created, updated));
}

#[tokio::test]
async fn concurrent_updates_with_the_same_expectation_let_exactly_one_win() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path()).await;
    let created = store.create("/k", "v").await.expect("create");
    let attempts: Vec<_> = (0..20)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move { store.update("/k", format!("v{i}"), created).await })
        })
        .collect();
    let mut wins = 0;
    for attempt in attempts {
        match attempt.await.expect("task") {
            Ok(_) => wins += 1,
            Err(Error::Conflict { .. }) => {}
            Err(other) => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(wins, 1);
    assert_eq!(store.current_revision(), created + 1);
}

#[tokio::test]
async fn delete_checks_the_revision_and_returns_the_deleted_value() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path()).await;
    let created = store.create("/k", "v").await.expect("create");
    assert!(matches!(store.delete("/k", Some(created + 10)).await, Err(Error::Conflict { .. })));
    let (revision, deleted) = store.delete("/k", Some(created)).await.expect("delete");
    assert_eq!(revision, created + 1);
    assert_eq!((deleted.value.as_ref(), deleted.mod_revision), (&b"v"[..], created));
    assert_eq!(store.get("/k").await.expect("get"), None);
    assert!(matches!(store.delete("/k", None).await, Err(Error::NotFound { .. })));
    // A new incarnation of the key gets a new create revision.
    let again = store.create("/k", "w").await.expect("re-create");
    assert_eq!(again, revision + 1);
    let kv = store.get("/k").await.expect("get").expect("present");
    assert_eq!(kv.create_revision, again);
    let (_, deleted) = store.delete("/k", None).await.expect("unconditional delete");
    assert_eq!(deleted.value.as_ref(), b"w");
}

#[tokio::test]
async fn concurrent_creates_get_distinct_contiguous_revisions() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path()).await;
    let tasks: Vec<_> = (0..8)
        .map(|task| {
            let store = store.clone();
            tokio::spawn(async move {
                let mut revisions = Vec::new();
                for i in 0..25 {
                    revisions.push(store.create(&format!("/k/{task}/{i}"), "v").await.expect("create"));
                }
                revisions
            })
        })
        .collect();
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await.expect("task"));
    }
    all.sort_unstable();
    assert_eq!(all, (1..=200).collect::<Vec<i64>>());
    assert_eq!(store.count("/k/").await.expect("count"), 200);
}

#[tokio::test]
async fn list_latest_selects_the_prefix_and_paginates() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path()).await;
    for name in ["c", "a", "e", "b", "d"] {
        store.create(&format!("/registry/pods/default/{name}"), name).await.expect("create");
    }
    store.create("/registry/podsx/default/a", "other").await.expect("create");
    store.create("/registry/pod/default/a", "other").await.expect("create");

    let all = store.list("/registry/pods/", ListOptions::default()).await.expect("list");
    assert_eq!(keys(&all.items), ["a", "b", "c", "d", "e"].map(|n| format!("/registry/pods/default/{n}")));
    assert_eq!((all.revision, all.more), (7, false));
    assert_eq!(store.count("/registry/pods/").await.expect("count"), 5);
    assert_eq!(store.count("/registry/").await.expect("count"), 7);

    let first =
        store.list("/registry/pods/", ListOptions { limit: Some(2), ..Default::default() }).await.expect("page 1");
    assert_eq!(keys(&first.items), ["/registry/pods/default/a", "/registry/pods/default/b"]);
    assert!(first.more);
    let second = store
        .list(
            "/registry/pods/",
            ListOptions {
                limit: Some(2),
                start_after: Some("/registry/pods/default/b".into()),
                revision: Some(first.revision),
            },
        )
        .await
        .expect("page 2");
    assert_eq!(keys(&second.items), ["/registry/pods/default/c", "/registry/pods/default/d"]);
    assert!(second.more);
    let third = store
        .list(
            "/registry/pods/",
            ListOptions {
                limit: Some(2),
                start_after: Some("/registry/pods/default/d".into()),
                revision: Some(first.revision),
            },
        )
        .await
        .expect("page 3");
    assert_eq!(keys(&third.items), ["/registry/pods/default/e"]);
    assert!(!third.more);
    // limit 0 means no limit, as in Kubernetes.
    let unlimited = store.list("/registry/pods/", ListOptions { limit: Some(0), ..Default::default() }).await;
    assert_eq!(unlimited.expect("list").items.len(), 5);
}

#[tokio::test]
async fn list_at_a_historic_revision_shows_the_state_then() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path()).await;
    let a = store.create("/r/a", "a1").await.expect("create a");
    let b = store.create("/r/b", "b1").await.expect("create b");
    let c = store.create("/r/c", "c1").await.expect("create c");
    let snapshot = store.current_revision();
    // Changes after the snapshot: update a, delete b, create d.
    store.update("/r/a", "a2", a).await.expect("update a");
    store.delete("/r/b", Some(b)).await.expect("delete b");
    store.create("/r/d", "d1").await.expect("create d");

    let at = |start_after: Option<&str>, limit| ListOptions {
        revision: Some(snapshot),
        limit,
        start_after: start_after.map(str::to_string),
    };
    let then = store.list("/r/", at(None, None)).await.expect("list at snapshot");
    assert_eq!(then.revision, snapshot);
    let values: Vec<(&str, &[u8], i64)> =
        then.items.iter().map(|kv| (kv.key.as_str(), kv.value.as_ref(), kv.mod_revision)).collect();
    assert_eq!(values, [("/r/a", &b"a1"[..], a), ("/r/b", &b"b1"[..], b), ("/r/c", &b"c1"[..], c)]);

    let page = store.list("/r/", at(None, Some(2))).await.expect("page 1");
    assert_eq!((keys(&page.items), page.more), (vec!["/r/a", "/r/b"], true));
    let page = store.list("/r/", at(Some("/r/b"), Some(2))).await.expect("page 2");
    assert_eq!((keys(&page.items), page.more), (vec!["/r/c"], false));

    let now = store.list("/r/", ListOptions::default()).await.expect("list latest");
    assert_eq!(keys(&now.items), ["/r/a", "/r/c", "/r/d"]);
    // Between the delete and the create of d.
    let middle = store.list("/r/", ListOptions { revision: Some(snapshot + 2), ..Default::default() }).await;
    assert_eq!(keys(&middle.expect("list").items), ["/r/a", "/r/c"]);

    match store.list("/r/", ListOptions { revision: Some(100), ..Default::default() }).await {
        Err(Error::FutureRevision { requested: 100, current }) => assert_eq!(current, store.current_revision()),
        other => panic!("expected FutureRevision, got {other:?}"),
    }
}

#[tokio::test]
async fn watch_from_a_past_revision_replays_from_the_ring_then_follows() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path()).await;
    let a = store.create("/w/a", "1").await.expect("create");
    store.create("/other/x", "1").await.expect("create");
    let a2 = store.update("/w/a", "2", a).await.expect("update");
    store.delete("/w/a", None).await.expect("delete");

    let mut watch = store.watch("/w/", a).await.expect("watch");
    let events = collect_events(&mut watch, 2).await;
    assert_eq!(summary(&events), [(EventKind::Put, "/w/a".into(), a2), (EventKind::Delete, "/w/a".into(), a2 + 1)]);
    // The update carries the value it replaced; the delete carries the last value.
    assert_eq!(events[0].prev.as_ref().map(|p| (p.value.as_ref(), p.mod_revision)), Some((&b"1"[..], a)));
    assert_eq!(events[1].kv.value.as_ref(), b"2");
    assert_eq!(events[1].prev.as_ref().map(|p| p.mod_revision), Some(a2));

    let b = store.create("/w/b", "1").await.expect("create");
    store.create("/other/y", "1").await.expect("create");
    let c = store.create("/w/c", "1").await.expect("create");
    let live = collect_events(&mut watch, 2).await;
    assert_eq!(summary(&live), [(EventKind::Put, "/w/b".into(), b), (EventKind::Put, "/w/c".into(), c)]);
    assert_eq!(live[0].prev, None);
}

#[tokio::test]
async fn watch_live_sees_writes_made_right_after_it_starts() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path()).await;
    let mut watch = store.watch("/w/", store.current_revision()).await.expect("watch");
    let created = store.create("/w/a", "1").await.expect("create");
    let event = next_event(&mut watch).await;
    assert_eq!((event.kind, event.revision(), event.prev), (EventKind::Put, created, None));
}

#[tokio::test]
async fn watch_catches_up_from_history_after_the_ring_rolled() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open_with(dir.path(), StoreOptions { watch_ring_capacity: 4, ..options() }).await;
    let mut expected = Vec::new();
    let mut revision = 0;
    for i in 0..1200 {
        let key = format!("/h/{}", i % 7);
        revision = match store.get(&key).await.expect("get") {
            None => store.create(&key, format!("{i}")).await.expect("create"),
            Some(kv) => store.update(&key, format!("{i}"), kv.mod_revision).await.expect("update"),
        };
        expected.push((EventKind::Put, key, revision));
    }
    // More than one history page, then the ring, then live events.
    let mut watch = store.watch("/h/", 0).await.expect("watch");
    let replayed = collect_events(&mut watch, expected.len()).await;
    assert_eq!(summary(&replayed), expected);
    assert!(replayed.iter().skip(7).all(|event| event.prev.as_ref().map(|p| p.mod_revision) < Some(event.revision())));
    let live = store.create("/h/new", "x").await.expect("create");
    assert_eq!(next_event(&mut watch).await.revision(), live);
    assert!(live > revision);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_catching_up_while_writes_continue_has_no_gaps_or_duplicates() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open_with(dir.path(), StoreOptions { watch_ring_capacity: 16, ..options() }).await;
    for i in 0..600 {
        store.create(&format!("/g/{i:04}"), "v").await.expect("create");
    }
    let writer = {
        let store = store.clone();
        tokio::spawn(async move {
            for i in 600..1200 {
                store.create(&format!("/g/{i:04}"), "v").await.expect("create");
            }
        })
    };
    let mut watch = store.watch("/g/", 0).await.expect("watch");
    let events = collect_events(&mut watch, 1200).await;
    writer.await.expect("writer");
    let revisions: Vec<i64> = events.iter().map(Event::revision).collect();
    assert_eq!(revisions, (1..=1200).collect::<Vec<i64>>());
}

#[tokio::test]
async fn compaction_drops_old_history_but_keeps_reads_at_and_after_it_exact() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path()).await;
    // A deterministic mix of creates, updates and deletes over a few keys; remember every state.
    let mut model: BTreeMap<String, String> = BTreeMap::new();
    let mut states: Vec<BTreeMap<String, String>> = vec![model.clone()];
    let mut seed: u64 = 7;
    for step in 0..300 {
        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        let key = format!("/c/{}", (seed >> 33) % 10);
        let value = format!("v{step}");
        match store.get(&key).await.expect("get") {
            None => {
                store.create(&key, value.clone()).await.expect("create");
                model.insert(key, value);
            }
            Some(kv) if (seed >> 20).is_multiple_of(3) => {
                store.delete(&key, Some(kv.mod_revision)).await.expect("delete");
                model.remove(&key);
            }
            Some(kv) => {
                store.update(&key, value.clone(), kv.mod_revision).await.expect("update");
                model.insert(key, value);
            }
        }
        states.push(model.clone());
    }
    let current = store.current_revision();
    assert_eq!(current, 300);
    let compact_at = 150;
    assert_eq!(store.compact(compact_at).await.expect("compact"), compact_at);
    assert_eq!(store.compacted_revision(), compact_at);
    // Compacting again below or at the mark does nothing.
    assert_eq!(store.compact(10).await.expect("compact again"), compact_at);

    for revision in compact_at..=current {
        let list = store.list("/c/", ListOptions { revision: Some(revision), ..Default::default() }).await;
        let got: BTreeMap<String, String> = list
            .expect("list")
            .items
            .into_iter()
            .map(|kv| (kv.key, String::from_utf8(kv.value.to_vec()).expect("utf8")))
            .collect();
        assert_eq!(got, states[revision as usize], "state at revision {revision}");
    }
    match store.list("/c/", ListOptions { revision: Some(compact_at - 1), ..Default::default() }).await {
        Err(Error::Compacted { compacted, requested }) => {
            assert_eq!((compacted, requested), (compact_at, compact_at - 1))
        }
        other => panic!("expected Compacted, got {other:?}"),
    }
    assert!(matches!(store.watch("/c/", compact_at - 1).await, Err(Error::Compacted { .. })));
    // A watch from the compacted revision itself replays everything after it, with previous values.
    let mut watch = store.watch("/c/", compact_at).await.expect("watch");
    let events = collect_events(&mut watch, (current - compact_at) as usize).await;
    assert_eq!(events.first().map(Event::revision), Some(compact_at + 1));
    for event in &events {
        let before = &states[(event.revision() - 1) as usize];
        assert_eq!(
            event.prev.as_ref().map(|p| p.value.to_vec()),
            before.get(&event.kv.key).map(|v| v.clone().into_bytes())
        );
    }
    assert!(matches!(store.compact(current + 1).await, Err(Error::FutureRevision { .. })));
}

#[tokio::test]
async fn watch_from_history_below_the_ring_fails_after_compaction() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open_with(dir.path(), StoreOptions { watch_ring_capacity: 0, ..options() }).await;
    for i in 0..10 {
        store.create(&format!("/k/{i}"), "v").await.expect("create");
    }
    store.compact(5).await.expect("compact");
    match store.watch("/k/", 4).await {
        Err(Error::Compacted { compacted, requested }) => assert_eq!((compacted, requested), (5, 4)),
        other => panic!("expected Compacted, got {other:?}"),
    }
    let mut watch = store.watch("/k/", 5).await.expect("watch at the compacted revision");
    assert_eq!(summary(&collect_events(&mut watch, 5).await).iter().map(|e| e.2).collect::<Vec<_>>(), [6, 7, 8, 9, 10]);
}

#[tokio::test]
async fn automatic_compaction_keeps_the_configured_history() {
    let dir = tempfile::tempdir().expect("tempdir");
    let policy = CompactionPolicy { keep_revisions: 5, interval: Duration::from_millis(20) };
    let store = open_with(dir.path(), StoreOptions { compaction: Some(policy), ..options() }).await;
    for i in 0..20 {
        store.create(&format!("/k/{i}"), "v").await.expect("create");
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while store.compacted_revision() < 15 {
        assert!(tokio::time::Instant::now() < deadline, "no automatic compaction happened");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(store.compacted_revision(), 15);
    assert_eq!(store.count("/k/").await.expect("count"), 20);
}

#[tokio::test]
async fn revisions_are_never_reused_after_reopening() {
    let dir = tempfile::tempdir().expect("tempdir");
    let last = {
        let store = open(dir.path()).await;
        store.create("/a", "1").await.expect("create");
        let b = store.create("/b", "1").await.expect("create");
        let (deleted, _) = store.delete("/b", Some(b)).await.expect("delete");
        // Compaction removes the delete's row, the newest in the log.
        store.compact(deleted).await.expect("compact");
        deleted
    };
    let store = open(dir.path()).await;
    assert_eq!((store.current_revision(), store.compacted_revision()), (last, last));
    assert_eq!(store.create("/c", "1").await.expect("create after reopen"), last + 1);
    assert_eq!(store.get("/a").await.expect("get").map(|kv| kv.mod_revision), Some(1));
    assert_eq!(store.get("/b").await.expect("get"), None);
}

#[tokio::test]
async fn a_slow_watcher_blocks_nobody_and_is_stopped() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open_with(dir.path(), StoreOptions { watch_buffer: 8, ..options() }).await;
    let mut slow = store.watch("/s/", 0).await.expect("slow watch");
    let mut fast = store.watch("/s/", 0).await.expect("fast watch");
    let reader = tokio::spawn(async move { collect_events(&mut fast, 100).await });
    let writes = async {
        for i in 0..100 {
            store.create(&format!("/s/{i}"), "v").await.expect("create");
        }
    };
    tokio::time::timeout(Duration::from_secs(20), writes).await.expect("writes were held up by a slow watcher");
    let fast_events = reader.await.expect("reader");
    assert_eq!(fast_events.iter().map(Event::revision).collect::<Vec<_>>(), (1..=100).collect::<Vec<i64>>());
    // The slow watcher gets what fitted in its buffer, then the error, then the end.
    let mut delivered = 0;
    loop {
        match slow.next().await {
            Some(Ok(_)) => delivered += 1,
            Some(Err(Error::WatcherTooSlow { capacity })) => {
                assert_eq!(capacity, 8);
                break;
            }
            other => panic!("expected events then WatcherTooSlow, got {other:?}"),
        }
    }
    assert!(delivered <= 8, "delivered {delivered}");
    assert!(slow.next().await.is_none());
}
