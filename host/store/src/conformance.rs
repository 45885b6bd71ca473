//! The storage conformance suite, written once and run against every backend.
//!
//! A backend's integration tests call [`run_all`] with a fresh storage, or call each check on its
//! own so that every check shows up as a separate test. Every check works in its own keyspace,
//! `<ks_prefix>_<check>`: it drops that keyspace first (a failed earlier run may have left it
//! behind), and drops it again when it passes, so backends that share a server do not collide.
//! Checks panic with a message that names the check and what differed, as test helpers do.
//!
//! The checks need a multi-threaded tokio runtime (they spawn concurrent tasks):
//!
//! ```no_run
//! # async fn demo(storage: std::sync::Arc<dyn vessel_store::Storage>) {
//! // inside #[tokio::test(flavor = "multi_thread")]
//! vessel_store::conformance::run_all(storage, "conf").await;
//! # }
//! ```

use crate::{
    BatchEvent, BatchIdx, IndexDef, IndexRef, Keyspace, NodeEvent, NodeStatus, PageCursor, Result,
    RunId, RunProperties, RunStatus, Storage, StoreError, TableDef, TableRef, TokenRange,
    WriteMode, WriteStats,
};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;
use vessel_core::chrono::{FixedOffset, TimeZone};
use vessel_core::{DateTime, Decimal, FieldType, RowSet, Schema, Value, time};

/// Runs every check, one after the other, each in its own keyspace `<ks_prefix>_<check>`.
///
/// # Panics
/// When a check fails; the message names the check and the difference.
pub async fn run_all(storage: Arc<dyn Storage>, ks_prefix: &str) {
    run_counter(storage.clone(), ks_prefix).await;
    run_properties(storage.clone(), ks_prefix).await;
    run_events(storage.clone(), ks_prefix).await;
    node_events(storage.clone(), ks_prefix).await;
    batch_events(storage.clone(), ks_prefix).await;
    claim_marker(storage.clone(), ks_prefix).await;
    batch_starts(storage.clone(), ks_prefix).await;
    heartbeats(storage.clone(), ks_prefix).await;
    create_table(storage.clone(), ks_prefix).await;
    all_types(storage.clone(), ks_prefix).await;
    exact_numbers(storage.clone(), ks_prefix).await;
    paging(storage.clone(), ks_prefix).await;
    split_ranges(storage.clone(), ks_prefix).await;
    unique_duplicates(storage.clone(), ks_prefix).await;
    distinct_first(storage.clone(), ks_prefix).await;
    lookup(storage.clone(), ks_prefix).await;
    delete_batch(storage.clone(), ks_prefix).await;
    bulk_write(storage.clone(), ks_prefix).await;
    interrupted_writes(storage.clone(), ks_prefix).await;
    concurrent_writers(storage.clone(), ks_prefix).await;
    write_edge_cases(storage.clone(), ks_prefix).await;
    missing_tables(storage.clone(), ks_prefix).await;
    keyspace_lifecycle(storage, ks_prefix).await;
}

// ---- workflow state ------------------------------------------------------------------------

/// Run ids start at 1, are sequential, and stay distinct when many tasks allocate at once.
///
/// # Panics
/// When the check fails.
pub async fn run_counter(storage: Arc<dyn Storage>, ks_prefix: &str) {
    let (name, ks) = fresh(&storage, ks_prefix, "counter").await;
    for expected in 1..=3 {
        assert_eq!(ok(ks.next_run_id().await, "next_run_id"), expected);
    }
    let tasks = 8;
    let per_task = 10;
    let mut handles = Vec::new();
    for _ in 0..tasks {
        let ks = ks.clone();
        handles.push(tokio::spawn(async move {
            let mut ids = Vec::new();
            for _ in 0..per_task {
                ids.push(ks.next_run_id().await);
            }
            ids
        }));
    }
    let mut all = BTreeSet::new();
    for h in handles {
        for id in h.await.expect("allocating task panicked") {
            let id = ok(id, "concurrent next_run_id");
            assert!(all.insert(id), "run id {id} was handed out twice");
        }
    }
    let expected: BTreeSet<RunId> = (4..4 + tasks * per_task).collect();
    assert_eq!(
        all,
        expected,
        "concurrent run ids are not 4..={}",
        3 + tasks * per_task
    );
    // The counter lives in the keyspace, not in the handle.
    let again = ok(storage.open_keyspace(&name, false).await, "reopen keyspace");
    assert_eq!(
        ok(again.next_run_id().await, "next_run_id after reopen"),
        4 + tasks * per_task
    );
    finish(&storage, &name).await;
}

/// Run properties round-trip, come back ordered by run id, and cannot be written twice.
///
/// # Panics
/// When the check fails.
pub async fn run_properties(storage: Arc<dyn Storage>, ks_prefix: &str) {
    let (name, ks) = fresh(&storage, ks_prefix, "props").await;
    assert!(ok(ks.run_properties().await, "run_properties").is_empty());
    let p2 = RunProperties {
        run_id: 2,
        start_nodes: vec!["join_orders".into()],
        affected_nodes: vec!["join_orders".into(), "report".into()],
        script_url: "/data/script.yaml".into(),
        script_params_url: String::new(),
        run_description: "second run — überprüft".into(),
    };
    let p1 = RunProperties {
        run_id: 1,
        start_nodes: vec!["read_orders".into(), "read_items".into()],
        affected_nodes: vec!["read_orders".into(), "read_items".into(), "join".into()],
        script_url: "https://example.com/s.json".into(),
        script_params_url: "https://example.com/p.json".into(),
        run_description: String::new(),
    };
    let p3 = RunProperties {
        run_id: 3,
        start_nodes: Vec::new(),
        affected_nodes: Vec::new(),
        script_url: String::new(),
        script_params_url: String::new(),
        run_description: "no nodes".into(),
    };
    for p in [&p2, &p1, &p3] {
        ok(ks.write_run_properties(p).await, "write_run_properties");
    }
    let read = ok(ks.run_properties().await, "run_properties");
    assert_eq!(read, vec![p1.clone(), p2.clone(), p3.clone()]);

    let mut other = p1.clone();
    other.run_description = "overwrite attempt".into();
    let err = expect_err(
        ks.write_run_properties(&other).await,
        "second write of run 1",
    );
    assert!(
        matches!(err, StoreError::Conflict(_)),
        "second write of run 1 must be a Conflict, got {err:?}"
    );
    let read = ok(ks.run_properties().await, "run_properties after conflict");
    assert_eq!(
        read[0], p1,
        "a conflicting write must not change the stored properties"
    );
    finish(&storage, &name).await;
}

/// Run events round-trip, carry a backend timestamp, come back in time order and filter by run.
///
/// # Panics
/// When the check fails.
pub async fn run_events(storage: Arc<dyn Storage>, ks_prefix: &str) {
    let (name, ks) = fresh(&storage, ks_prefix, "runev").await;
    assert!(ok(ks.run_events(None).await, "run_events").is_empty());
    let before = time::now();
    let appended = [
        (1, RunStatus::Start, "started by test"),
        (2, RunStatus::Start, ""),
        (1, RunStatus::Complete, r#"{"read_orders":"success"}"#),
        (2, RunStatus::Stop, "stopped: ünïcode ✓"),
    ];
    for (run, status, comment) in appended {
        ok(
            ks.append_run_event(run, status, comment).await,
            "append_run_event",
        );
        // Backends stamp events with millisecond clocks; keep appends in distinct milliseconds
        // so that time order must equal append order.
        tokio::time::sleep(Duration::from_millis(3)).await;
    }
    let after = time::now();
    let all = ok(ks.run_events(None).await, "run_events(None)");
    let got: Vec<_> = all
        .iter()
        .map(|e| (e.run_id, e.status, e.comment.as_str()))
        .collect();
    assert_eq!(
        got,
        appended.to_vec(),
        "run events not returned in append order"
    );
    check_times(all.iter().map(|e| e.ts), before, after, "run events");

    let run1 = ok(ks.run_events(Some(&[1])).await, "run_events([1])");
    assert_eq!(
        run1.iter().map(|e| e.status).collect::<Vec<_>>(),
        vec![RunStatus::Start, RunStatus::Complete]
    );
    assert!(run1.iter().all(|e| e.run_id == 1));
    let both = ok(ks.run_events(Some(&[2, 1])).await, "run_events([2, 1])");
    assert_eq!(both.len(), 4, "filtering by every run returns every event");
    assert!(both.windows(2).all(|w| w[0].ts <= w[1].ts));
    assert!(ok(ks.run_events(Some(&[])).await, "run_events([])").is_empty());
    assert!(ok(ks.run_events(Some(&[9])).await, "run_events([9])").is_empty());
    finish(&storage, &name).await;
}

/// Node events round-trip (every field but the backend-set `ts`), in time order, filtered by
/// run; concurrent appends are all kept.
///
/// # Panics
/// When the check fails.
pub async fn node_events(storage: Arc<dyn Storage>, ks_prefix: &str) {
    let (name, ks) = fresh(&storage, ks_prefix, "nodeev").await;
    let ev = |run_id, node: &str, by, status, comment: &str| NodeEvent {
        ts: time::zero(),
        run_id,
        node: node.into(),
        written_by_batch_idx: by,
        status,
        comment: comment.into(),
    };
    let appended = vec![
        ev(1, "read_orders", 0, NodeStatus::Start, ""),
        ev(1, "read_orders", 1, NodeStatus::Start, ""),
        ev(2, "read_orders", 0, NodeStatus::Start, "other run"),
        ev(
            1,
            "read_orders",
            1,
            NodeStatus::Success,
            "marked completed by batch 1 / 2",
        ),
        ev(1, "join", 0, NodeStatus::Fail, "lookup failed: 'x'"),
        ev(1, "join", 1, NodeStatus::StopReceived, "run stop received"),
    ];
    let before = time::now();
    for e in &appended {
        ok(ks.append_node_event(e).await, "append_node_event");
        tokio::time::sleep(Duration::from_millis(3)).await;
    }
    let after = time::now();
    let all = ok(ks.node_events(None).await, "node_events(None)");
    check_times(all.iter().map(|e| e.ts), before, after, "node events");
    assert_eq!(
        strip_node_ts(&all),
        appended,
        "node events differ or are out of order"
    );
    let run1 = ok(ks.node_events(Some(&[1])).await, "node_events([1])");
    let expected: Vec<_> = appended.iter().filter(|e| e.run_id == 1).cloned().collect();
    assert_eq!(strip_node_ts(&run1), expected);
    assert!(ok(ks.node_events(Some(&[3])).await, "node_events([3])").is_empty());

    // Every batch of a node writes its own `start`: many workers append at once.
    let mut handles = Vec::new();
    for b in 0..20 {
        let ks = ks.clone();
        let e = ev(5, "wide", b, NodeStatus::Start, "");
        handles.push(tokio::spawn(async move { ks.append_node_event(&e).await }));
    }
    for h in handles {
        ok(
            h.await.expect("append task panicked"),
            "concurrent append_node_event",
        );
    }
    let run5 = ok(ks.node_events(Some(&[5])).await, "node_events([5])");
    let batches: BTreeSet<BatchIdx> = run5.iter().map(|e| e.written_by_batch_idx).collect();
    assert_eq!(
        batches,
        (0..20).collect(),
        "concurrent node events were lost"
    );
    assert!(run5.windows(2).all(|w| w[0].ts <= w[1].ts));
    finish(&storage, &name).await;
}

/// Batch events round-trip (extreme tokens included), in time order, filtered by run and node.
///
/// # Panics
/// When the check fails.
pub async fn batch_events(storage: Arc<dyn Storage>, ks_prefix: &str) {
    let (name, ks) = fresh(&storage, ks_prefix, "batchev").await;
    let ev = |run_id, node: &str, batch_idx, total, status, first, last| BatchEvent {
        ts: time::zero(),
        run_id,
        node: node.into(),
        batch_idx,
        batches_total: total,
        status,
        first_token: first,
        last_token: last,
        instance: "host-a/4242/2026-01-02T03:04:05Z".into(),
        thread: i64::from(batch_idx) * 1_000_000_007,
        comment: format!("batch {batch_idx}: {} ✓", status.name()),
    };
    let appended = vec![
        ev(1, "a", 0, 2, NodeStatus::Start, i64::MIN, -1),
        ev(1, "a", 1, 2, NodeStatus::Start, 0, i64::MAX),
        ev(1, "b", 0, 1, NodeStatus::Start, 0, 0),
        ev(1, "a", 0, 2, NodeStatus::Success, i64::MIN, -1),
        ev(2, "a", 0, 1, NodeStatus::Start, i64::MIN, i64::MAX),
        ev(1, "a", 1, 2, NodeStatus::Fail, 0, i64::MAX),
    ];
    let before = time::now();
    for e in &appended {
        ok(ks.append_batch_event(e).await, "append_batch_event");
        tokio::time::sleep(Duration::from_millis(3)).await;
    }
    let after = time::now();
    let run1_a = ok(ks.batch_events(1, Some("a")).await, "batch_events(1, a)");
    check_times(run1_a.iter().map(|e| e.ts), before, after, "batch events");
    let expect = |f: &dyn Fn(&BatchEvent) -> bool| -> Vec<BatchEvent> {
        appended.iter().filter(|e| f(e)).cloned().collect()
    };
    assert_eq!(
        strip_batch_ts(&run1_a),
        expect(&|e| e.run_id == 1 && e.node == "a"),
        "batch events of run 1 node a"
    );
    let run1 = ok(ks.batch_events(1, None).await, "batch_events(1, None)");
    assert_eq!(strip_batch_ts(&run1), expect(&|e| e.run_id == 1));
    let run2 = ok(ks.batch_events(2, None).await, "batch_events(2, None)");
    assert_eq!(strip_batch_ts(&run2), expect(&|e| e.run_id == 2));
    assert!(ok(ks.batch_events(1, Some("zz")).await, "batch_events(1, zz)").is_empty());
    assert!(ok(ks.batch_events(3, None).await, "batch_events(3, None)").is_empty());
    finish(&storage, &name).await;
}

/// The first claim of a marker wins, also when many tasks claim it at once, and a claim
/// survives reopening the keyspace.
///
/// # Panics
/// When the check fails.
pub async fn claim_marker(storage: Arc<dyn Storage>, ks_prefix: &str) {
    let (name, ks) = fresh(&storage, ks_prefix, "marker").await;
    assert!(!ok(
        ks.marker_claimed("publish/1/a").await,
        "unclaimed marker"
    ));
    assert!(ok(ks.claim_marker("publish/1/a").await, "first claim"));
    assert!(ok(ks.marker_claimed("publish/1/a").await, "claimed marker"));
    assert!(!ok(ks.claim_marker("publish/1/a").await, "second claim"));
    assert!(ok(ks.claim_marker("publish/1/b").await, "other marker"));
    let mut handles = Vec::new();
    for _ in 0..16 {
        let ks = ks.clone();
        handles.push(tokio::spawn(
            async move { ks.claim_marker("complete/1").await },
        ));
    }
    let mut winners = 0;
    for h in handles {
        if ok(h.await.expect("claim task panicked"), "concurrent claim") {
            winners += 1;
        }
    }
    assert_eq!(winners, 1, "exactly one concurrent claimer must win");
    let again = ok(storage.open_keyspace(&name, false).await, "reopen keyspace");
    assert!(!ok(
        again.claim_marker("publish/1/a").await,
        "claim after reopen"
    ));
    finish(&storage, &name).await;
}

/// Exactly one of many workers that start the same attempt of a batch at once records it; the
/// next attempt is open only once the previous one is recorded, and other batches, nodes and
/// runs are counted apart.
///
/// # Panics
/// When the check fails.
pub async fn batch_starts(storage: Arc<dyn Storage>, ks_prefix: &str) {
    let (name, ks) = fresh(&storage, ks_prefix, "batchstart").await;
    let start = |run_id, node: &str, batch_idx, instance: &str| BatchEvent {
        ts: time::zero(),
        run_id,
        node: node.into(),
        batch_idx,
        batches_total: 4,
        status: NodeStatus::Start,
        first_token: 0,
        last_token: 0,
        instance: instance.into(),
        thread: 0,
        comment: String::new(),
    };
    let mut handles = Vec::new();
    for w in 0..16 {
        let ks = ks.clone();
        let e = start(1, "a", 2, &format!("w{w}"));
        handles.push(tokio::spawn(
            async move { ks.append_batch_start(&e, 0).await },
        ));
    }
    let mut winners = 0;
    for h in handles {
        if ok(h.await.expect("start task panicked"), "concurrent start") {
            winners += 1;
        }
    }
    assert_eq!(
        winners, 1,
        "exactly one concurrent start of attempt 0 must win"
    );
    let ev = ok(ks.batch_events(1, Some("a")).await, "batch_events");
    assert_eq!(ev.len(), 1, "one start recorded: {ev:?}");
    assert!(!ok(
        ks.append_batch_start(&start(1, "a", 2, "late"), 0).await,
        "attempt 0 again"
    ));
    assert!(!ok(
        ks.append_batch_start(&start(1, "a", 2, "early"), 2).await,
        "attempt 2 before attempt 1"
    ));
    // Other events of the batch do not count as starts.
    let mut done = start(1, "a", 2, "x");
    done.status = NodeStatus::Fail;
    ok(ks.append_batch_event(&done).await, "append fail");
    assert!(ok(
        ks.append_batch_start(&start(1, "a", 2, "redo"), 1).await,
        "attempt 1"
    ));
    for (run, node, batch) in [(1, "a", 3), (1, "b", 2), (2, "a", 2)] {
        assert!(
            ok(
                ks.append_batch_start(&start(run, node, batch, "other"), 0)
                    .await,
                "first attempt elsewhere"
            ),
            "run {run} node {node} batch {batch} counts its own starts"
        );
    }
    finish(&storage, &name).await;
}

/// A lease renewal is visible to every reader, moves forward, is kept per instance, and is gone
/// once the instance leaves.
///
/// # Panics
/// When the check fails.
pub async fn heartbeats(storage: Arc<dyn Storage>, ks_prefix: &str) {
    let (name, ks) = fresh(&storage, ks_prefix, "heartbeat").await;
    assert_eq!(ok(ks.last_heartbeat("w1").await, "unknown lease"), None);
    ok(ks.heartbeat("w1", true).await, "first renewal");
    ok(ks.heartbeat("w2", true).await, "other instance");
    let first = ok(ks.last_heartbeat("w1").await, "read lease").expect("w1 renewed its lease");
    tokio::time::sleep(Duration::from_millis(5)).await;
    ok(ks.heartbeat("w1", true).await, "second renewal");
    let again = ok(storage.open_keyspace(&name, false).await, "reopen keyspace");
    let second = ok(again.last_heartbeat("w1").await, "read lease").expect("still there");
    assert!(
        second > first,
        "a renewal must move the lease forward: {first} then {second}"
    );
    ok(ks.heartbeat("w1", false).await, "leave");
    assert_eq!(
        ok(again.last_heartbeat("w1").await, "lease after leaving"),
        None
    );
    assert!(ok(again.last_heartbeat("w2").await, "other lease").is_some());
    ok(ks.heartbeat("w1", false).await, "leaving twice is harmless");
    finish(&storage, &name).await;
}

// ---- data tables ---------------------------------------------------------------------------

/// `create_table` is idempotent (also concurrently), keeps existing rows, and `list_tables`
/// shows exactly the data and index tables with run suffixes, sorted.
///
/// # Panics
/// When the check fails.
pub async fn create_table(storage: Arc<dyn Storage>, ks_prefix: &str) {
    let (name, ks) = fresh(&storage, ks_prefix, "create").await;
    assert!(ok(ks.list_tables().await, "list_tables").is_empty());
    let t1 = Items::new("orders", 1);
    let t2 = Items::new("orders", 2);
    ok(ks.create_table(&t1.def).await, "create_table");
    ok(ks.create_table(&t1.def).await, "create_table again");
    let mut handles = Vec::new();
    for _ in 0..4 {
        let ks = ks.clone();
        let def = t2.def.clone();
        handles.push(tokio::spawn(async move { ks.create_table(&def).await }));
    }
    for h in handles {
        ok(
            h.await.expect("create task panicked"),
            "concurrent create_table",
        );
    }
    let tables = ok(ks.list_tables().await, "list_tables");
    let expected = vec![
        "idx_orders_grp_00001",
        "idx_orders_grp_00002",
        "idx_orders_id_00001",
        "idx_orders_id_00002",
        "orders_00001",
        "orders_00002",
    ];
    assert_eq!(tables, expected, "list_tables");

    ok(t1.write(&*ks, 0, 0..10, WriteMode::Normal).await, "write");
    ok(ks.create_table(&t1.def).await, "create_table over rows");
    assert_eq!(
        count(&*ks, &t1.def).await,
        10,
        "create_table must keep existing rows"
    );
    assert_eq!(count(&*ks, &t2.def).await, 0, "runs have separate tables");
    finish(&storage, &name).await;
}

/// Every type round-trips exactly: extreme ints, floats, decimal cents, unicode strings, bools
/// and datetimes from year 1 to 9999 with milliseconds; fields are returned in the requested
/// order and types.
///
/// # Panics
/// When the check fails.
pub async fn all_types(storage: Arc<dyn Storage>, ks_prefix: &str) {
    let (name, ks) = fresh(&storage, ks_prefix, "types").await;
    let schema = schema_of(&[
        ("id", FieldType::Int),
        ("i", FieldType::Int),
        ("f", FieldType::Float),
        ("d", FieldType::Decimal2),
        ("s", FieldType::String),
        ("b", FieldType::Bool),
        ("t", FieldType::DateTime),
    ]);
    let def = table_def("typed", 1, &schema, &[]);
    ok(ks.create_table(&def).await, "create_table");

    let ints = [0, 1, -1, 42, i64::MIN, i64::MAX, -9_007_199_254_740_993];
    let floats = [
        0.0,
        -1.5,
        0.1 + 0.2,
        f64::MAX,
        f64::MIN_POSITIVE,
        -1e-300,
        1e21,
        f64::NEG_INFINITY,
    ];
    let decimals = [
        Decimal::new(0, 2),
        Decimal::new(-1, 2),
        Decimal::new(1, 2),
        Decimal::new(1_234_567_890, 2),
        Decimal::new(-9_999_999_999_999, 2),
        Decimal::new(15, 1),
        Decimal::new(3403, 2),
    ];
    let strings = [
        String::new(),
        "plain".to_string(),
        "héllo wörld".to_string(),
        "日本語のテキスト".to_string(),
        "emoji 🚀🦀".to_string(),
        r#"quote ' " ; -- DROP TABLE typed_00001"#.to_string(),
        "line\nbreak\ttab\0nul".to_string(),
        "x".repeat(10_000),
    ];
    let ist = FixedOffset::east_opt(5 * 3600 + 1800).expect("valid offset");
    let datetimes = [
        time::zero(),
        time::from_millis(0),
        time::from_millis(1_709_214_356_789),
        time::from_millis(-1),
        time::from_millis(253_402_300_799_999),
        ist.with_ymd_and_hms(2023, 10, 20, 8, 30, 0)
            .single()
            .expect("valid datetime"),
    ];
    let n = 64usize;
    let mut rows = RowSet::new(schema.clone());
    let mut expected = BTreeMap::new();
    for r in 0..n {
        let row = vec![
            Value::Int(r as i64),
            Value::Int(ints[r % ints.len()]),
            Value::Float(floats[r % floats.len()]),
            Value::Decimal(decimals[r % decimals.len()]),
            Value::Str(strings[r % strings.len()].clone()),
            Value::Bool(r % 3 == 0),
            Value::DateTime(datetimes[r % datetimes.len()]),
        ];
        expected.insert(r as i64, row.clone());
        rows.push_row(row);
    }
    let stats = ok(
        ks.write_rows(&def, 0, &rows, &[], WriteMode::Normal).await,
        "write_rows",
    );
    assert_eq!(stats.rows_written, n as u64);

    let got = scan(&*ks, &def.table_ref(), &schema, TokenRange::ALL, 1000).await;
    assert_eq!(got.len(), n, "row count");
    for row in got {
        let id = int_of(&row[0]);
        let want = &expected[&id];
        assert_eq!(&row, want, "row {id} changed in storage");
    }

    // A subset of the columns, in another order: the types follow the requested schema.
    let subset = schema_of(&[
        ("t", FieldType::DateTime),
        ("s", FieldType::String),
        ("id", FieldType::Int),
        ("d", FieldType::Decimal2),
    ]);
    let page = ok(
        ks.read_page(&def.table_ref(), &subset, TokenRange::ALL, None, 1000)
            .await,
        "read_page subset",
    );
    assert_eq!(page.rows.schema().fields(), subset.fields(), "page schema");
    assert_eq!(page.rows.len(), n);
    for r in 0..page.rows.len() {
        let id = int_of(&page.rows.get(r, 2));
        let want = &expected[&id];
        assert_eq!(page.rows.get(r, 0), want[6]);
        assert_eq!(page.rows.get(r, 1), want[4]);
        assert_eq!(page.rows.get(r, 3), want[3]);
    }
    finish(&storage, &name).await;
}

/// Floats come back bit for bit (NaN with its sign and payload, ±Inf, -0.0, subnormals, the
/// extremes), decimal2 keeps its whole range, and a decimal2 beyond that range is refused with
/// an error naming the field instead of being stored clamped.
///
/// # Panics
/// When the check fails.
pub async fn exact_numbers(storage: Arc<dyn Storage>, ks_prefix: &str) {
    let (name, ks) = fresh(&storage, ks_prefix, "numbers").await;
    let schema = schema_of(&[
        ("id", FieldType::Int),
        ("f", FieldType::Float),
        ("d", FieldType::Decimal2),
    ]);
    let def = table_def("exact", 1, &schema, &[]);
    ok(ks.create_table(&def).await, "create_table");
    let floats = [
        f64::NAN,
        -f64::NAN,
        f64::from_bits(0x7ff8_0000_dead_beef),
        f64::from_bits(0x7ff0_0000_0000_0001),
        f64::INFINITY,
        f64::NEG_INFINITY,
        0.0,
        -0.0,
        f64::from_bits(1),
        -f64::from_bits(1),
        f64::from_bits(0x000f_ffff_ffff_ffff),
        f64::MIN_POSITIVE,
        f64::MAX,
        f64::MIN,
        f64::EPSILON,
        1.0,
        -1.0,
        2.0,
        0.1 + 0.2,
        9_007_199_254_740_993.0,
    ];
    let decimals = [
        vessel_core::decimal::MAX,
        vessel_core::decimal::MIN,
        Decimal::new(i64::MAX - 1, 2),
        Decimal::new(1, 2),
        Decimal::new(-1, 2),
        Decimal::new(0, 2),
    ];
    let mut rows = RowSet::new(schema.clone());
    for (i, f) in floats.iter().enumerate() {
        rows.push_row(vec![
            Value::Int(i as i64),
            Value::Float(*f),
            Value::Decimal(decimals[i % decimals.len()]),
        ]);
    }
    ok(
        ks.write_rows(&def, 0, &rows, &[], WriteMode::Normal).await,
        "write_rows",
    );
    let got = scan(&*ks, &def.table_ref(), &schema, TokenRange::ALL, 1000).await;
    assert_eq!(got.len(), floats.len(), "row count");
    for row in got {
        let i = usize::try_from(int_of(&row[0])).expect("id is an index");
        let Value::Float(f) = row[1] else {
            panic!("row {i}: float field read back as {:?}", row[1]);
        };
        assert_eq!(
            f.to_bits(),
            floats[i].to_bits(),
            "row {i}: float {:e} (bits {:#018x}) came back as {f:e} (bits {:#018x})",
            floats[i],
            floats[i].to_bits(),
            f.to_bits()
        );
        assert_eq!(
            row[2],
            Value::Decimal(decimals[i % decimals.len()]),
            "row {i}: decimal2 changed in storage"
        );
    }

    for bad in [
        vessel_core::decimal::MAX + Decimal::new(1, 2),
        vessel_core::decimal::MIN - Decimal::new(1, 2),
        Decimal::MAX,
    ] {
        let mut rows = RowSet::new(schema.clone());
        rows.push_row(vec![
            Value::Int(100),
            Value::Float(0.0),
            Value::Decimal(Decimal::ZERO),
        ]);
        rows.push_row(vec![
            Value::Int(101),
            Value::Float(0.0),
            Value::Decimal(bad),
        ]);
        let e = expect_err(
            ks.write_rows(&def, 1, &rows, &[], WriteMode::Normal).await,
            "write of a decimal2 beyond the range",
        );
        let msg = e.to_string();
        assert!(
            msg.contains("'d'") && msg.contains(&bad.to_string()),
            "the error for decimal2 {bad} must name field 'd' and the value: {msg}"
        );
        assert_eq!(
            count(&*ks, &def).await,
            floats.len() as u64,
            "a refused write of decimal2 {bad} left rows behind"
        );
    }
    finish(&storage, &name).await;
}

/// Paging with small pages and cursors returns every row exactly once, whatever the page size.
///
/// # Panics
/// When the check fails.
pub async fn paging(storage: Arc<dyn Storage>, ks_prefix: &str) {
    let (name, ks) = fresh(&storage, ks_prefix, "paging").await;
    let t = Items::new("pg", 1);
    ok(ks.create_table(&t.def).await, "create_table");
    for b in 0..4 {
        ok(
            t.write(
                &*ks,
                b,
                i64::from(b) * 250..(i64::from(b) + 1) * 250,
                WriteMode::Normal,
            )
            .await,
            "write",
        );
    }
    let all: BTreeSet<i64> = (0..1000).collect();
    for limit in [1, 7, 250, 999, 1000, 5000] {
        let rows = scan(
            &*ks,
            &t.def.table_ref(),
            &t.id_only(),
            TokenRange::ALL,
            limit,
        )
        .await;
        assert_eq!(
            ids_exactly_once(&rows, &format!("scan with page size {limit}")),
            all,
            "scan with page size {limit} did not return every row"
        );
    }
    // An empty table ends the scan at once.
    let empty = Items::new("pg_empty", 1);
    ok(ks.create_table(&empty.def).await, "create_table");
    let page = ok(
        ks.read_page(
            &empty.def.table_ref(),
            &empty.id_only(),
            TokenRange::ALL,
            None,
            10,
        )
        .await,
        "read_page on an empty table",
    );
    assert!(page.rows.is_empty() && page.next.is_none());
    finish(&storage, &name).await;
}

/// The batches of `TokenRange::split(10)` (and other splits) partition the rows.
///
/// # Panics
/// When the check fails.
pub async fn split_ranges(storage: Arc<dyn Storage>, ks_prefix: &str) {
    let (name, ks) = fresh(&storage, ks_prefix, "split").await;
    let t = Items::new("sp", 1);
    ok(ks.create_table(&t.def).await, "create_table");
    ok(t.write(&*ks, 0, 0..600, WriteMode::Normal).await, "write");
    ok(
        t.write(&*ks, 1, 600..1000, WriteMode::Normal).await,
        "write",
    );
    let all: BTreeSet<i64> = (0..1000).collect();
    for n in [1, 3, 10] {
        let mut rows = Vec::new();
        let mut non_empty = 0;
        for range in TokenRange::split(n) {
            let part = scan(&*ks, &t.def.table_ref(), &t.id_only(), range, 13).await;
            if !part.is_empty() {
                non_empty += 1;
            }
            rows.extend(part);
        }
        assert_eq!(
            ids_exactly_once(&rows, &format!("split({n})")),
            all,
            "split({n}) ranges do not cover every row"
        );
        if n == 10 {
            assert!(
                non_empty >= 5,
                "1000 rows fell in only {non_empty} of 10 token ranges: tokens are not spread"
            );
        }
    }
    finish(&storage, &name).await;
}

/// The bulk path: `write_data` returns one distinct token per row, in row order; index entries
/// written later (in any order) make the rows findable; a duplicate unique key fails its
/// `write_index_entries` call and keeps nothing of it; `delete_batch` removes rows written both
/// ways with their entries.
///
/// # Panics
/// When the check fails.
pub async fn bulk_write(storage: Arc<dyn Storage>, ks_prefix: &str) {
    let (name, ks) = fresh(&storage, ks_prefix, "bulk").await;
    let t = Items::new("b", 1);
    ok(ks.create_table(&t.def).await, "create_table");

    // Batch 0: 300 rows, entries handed over in reverse order.
    let ids: Vec<i64> = (0..300).collect();
    let (rows, keys) = t.rows(ids.iter().copied());
    let tokens = ok(ks.write_data(&t.def, 0, rows.clone()).await, "write_data");
    assert_eq!(
        tokens.len(),
        300,
        "write_data must return one token per row"
    );
    assert_eq!(
        tokens.iter().collect::<BTreeSet<_>>().len(),
        300,
        "tokens must be distinct"
    );
    assert_eq!(count(&*ks, &t.def).await, 300);
    // Before the entries exist, the rows are stored but not findable.
    assert!(ok(t.lookup_ids(&*ks, &[5]).await, "lookup").is_empty());
    for (i, index_keys) in keys.iter().enumerate() {
        let entries: Vec<(String, i64)> = index_keys
            .iter()
            .cloned()
            .zip(tokens.iter().copied())
            .rev()
            .collect();
        let n = ok(
            ks.write_index_entries(&t.def, i, 0, entries).await,
            "write_index_entries",
        );
        assert_eq!(n, 300, "entries written to index {i}");
    }
    // Each token reads back the row it was returned for.
    let all = scan(
        &*ks,
        &t.def.table_ref(),
        &t.id_only(),
        TokenRange::split(1)[0],
        64,
    )
    .await;
    assert_eq!(ids_exactly_once(&all, "bulk scan").len(), 300);
    assert_eq!(
        ok(t.lookup_ids(&*ks, &[0, 150, 299, 300]).await, "lookup"),
        vec![(0, 0), (1, 150), (2, 299)]
    );
    let grp = ok(
        t.lookup_groups(&*ks, &[Items::grp_key(7)]).await,
        "lookup grp",
    );
    assert_eq!(grp.len(), 30, "group g7 has 30 rows");

    // Batch 1: a unique key that exists (7) among new ones: nothing of that call stays.
    let (rows, keys) = t.rows([1000, 7, 1001]);
    let tokens = ok(ks.write_data(&t.def, 1, rows).await, "write_data batch 1");
    let entries: Vec<(String, i64)> = keys[0].iter().cloned().zip(tokens.clone()).collect();
    let err = expect_err(
        ks.write_index_entries(&t.def, 0, 1, entries).await,
        "write_index_entries with an existing unique key",
    );
    assert!(
        matches!(&err, StoreError::DuplicateKey { key, .. } if *key == Items::id_key(7)),
        "expected DuplicateKey for key 7, got {err:?}"
    );
    assert!(
        ok(t.lookup_ids(&*ks, &[1000, 1001]).await, "lookup").is_empty(),
        "a failed write_index_entries left entries behind"
    );
    let err = expect_err(
        ks.write_index_entries(&t.def, 2, 1, Vec::new()).await,
        "write_index_entries to an index that does not exist",
    );
    assert!(!matches!(err, StoreError::DuplicateKey { .. }), "{err:?}");

    // Cleaning batch 1 removes its rows; batch 0 keeps all of its rows and entries.
    assert_eq!(ok(ks.delete_batch(&t.def, 1).await, "delete_batch"), 3);
    assert_eq!(count(&*ks, &t.def).await, 300);
    // Cleaning batch 0 removes rows and entries.
    assert_eq!(ok(ks.delete_batch(&t.def, 0).await, "delete_batch"), 300);
    assert_eq!(count(&*ks, &t.def).await, 0);
    assert!(ok(t.lookup_ids(&*ks, &[5]).await, "lookup").is_empty());
    let ok_entries = ok(
        ks.write_index_entries(&t.def, 0, 0, vec![(Items::id_key(5), 1)])
            .await,
        "a key of a cleaned batch can be written again",
    );
    assert_eq!(ok_entries, 1);
    finish(&storage, &name).await;
}

/// A write abandoned midway (its future dropped, as when a worker dies) may leave any part of
/// its rows and index entries behind; `delete_batch` removes all of it, so that its unique keys
/// are free for any batch, and other batches keep everything.
///
/// # Panics
/// When the check fails.
pub async fn interrupted_writes(storage: Arc<dyn Storage>, ks_prefix: &str) {
    let (name, ks) = fresh(&storage, ks_prefix, "interrupted").await;
    let t = Items::new("iw", 1);
    ok(ks.create_table(&t.def).await, "create_table");
    ok(
        t.write(&*ks, 0, 0..100, WriteMode::Normal).await,
        "write of the batch that stays",
    );
    // Abandon writes of batch 1 after ever longer times, each cleaned before the next.
    for (round, wait_us) in [50u64, 500, 2_000, 10_000].into_iter().enumerate() {
        let ids = 1000..3000;
        let (rows, keys) = t.rows(ids.clone());
        let kept = tokio::time::timeout(
            Duration::from_micros(wait_us),
            ks.write_rows(&t.def, 1, &rows, &keys, WriteMode::Normal),
        )
        .await;
        if kept.is_err() {
            // A backend may finish an abandoned call on a thread of its own: give it time.
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        let removed = ok(ks.delete_batch(&t.def, 1).await, "delete_batch");
        assert!(removed <= 2000, "round {round}: removed {removed} rows");
        assert_eq!(
            count(&*ks, &t.def).await,
            100,
            "round {round}: the abandoned batch left rows, or the other batch lost some"
        );
        assert!(
            ok(t.lookup_ids(&*ks, &[1000, 1999, 2999]).await, "lookup").is_empty(),
            "round {round}: the abandoned batch left index entries"
        );
        let found = ok(t.lookup_ids(&*ks, &[0, 99]).await, "lookup");
        assert_eq!(
            found,
            vec![(0, 0), (1, 99)],
            "round {round}: batch 0 lost entries"
        );
    }
    // After the last cleanup its unique keys are free: another batch writes them whole.
    let stats = ok(
        t.write(&*ks, 2, 1000..3000, WriteMode::Normal).await,
        "write of the abandoned batch's keys by another batch",
    );
    assert_eq!(stats.rows_written, 2000);
    assert_eq!(count(&*ks, &t.def).await, 2100);
    assert_eq!(
        ok(t.lookup_ids(&*ks, &[1000, 2999]).await, "lookup"),
        vec![(0, 1000), (1, 2999)]
    );
    finish(&storage, &name).await;
}

/// A unique key that exists already, or twice in one call, fails the call with
/// `DuplicateKey` and writes nothing of it: no data rows and no index entries.
///
/// # Panics
/// When the check fails.
pub async fn unique_duplicates(storage: Arc<dyn Storage>, ks_prefix: &str) {
    let (name, ks) = fresh(&storage, ks_prefix, "unique").await;
    let t = Items::new("u", 1);
    ok(ks.create_table(&t.def).await, "create_table");
    let stats = ok(
        t.write(&*ks, 0, [1, 2, 3], WriteMode::Normal).await,
        "write",
    );
    assert_eq!(
        stats,
        WriteStats {
            rows_written: 3,
            rows_skipped: 0,
            index_entries: 6
        }
    );

    // Row 40 is new, row 2 exists: nothing of this call may stay.
    let err = expect_err(
        t.write(&*ks, 1, [40, 2], WriteMode::Normal).await,
        "write with an existing unique key",
    );
    match &err {
        StoreError::DuplicateKey { index, key } => {
            assert_eq!(
                index, "idx_u_id_00001",
                "DuplicateKey must name the run's index"
            );
            assert_eq!(key, &Items::id_key(2));
        }
        other => panic!("expected DuplicateKey, got {other:?}"),
    }
    assert_eq!(
        count(&*ks, &t.def).await,
        3,
        "a failed write left rows behind"
    );
    let found = ok(t.lookup_ids(&*ks, &[40]).await, "lookup");
    assert!(found.is_empty(), "a failed write left a unique index entry");
    let found = ok(
        t.lookup_groups(&*ks, &[Items::grp_key(40)]).await,
        "lookup grp",
    );
    assert!(
        found.iter().all(|(_, id)| *id != 40),
        "a failed write left a non-unique index entry"
    );

    // The same key twice in one call.
    let err = expect_err(
        t.write(&*ks, 1, [50, 51, 50], WriteMode::Normal).await,
        "write with a repeated key",
    );
    assert!(
        matches!(&err, StoreError::DuplicateKey { key, .. } if *key == Items::id_key(50)),
        "expected DuplicateKey for key 50, got {err:?}"
    );
    assert_eq!(
        count(&*ks, &t.def).await,
        3,
        "a failed write left rows behind"
    );

    // The batch can then be written correctly.
    ok(
        t.write(&*ks, 1, [40, 50, 51], WriteMode::Normal).await,
        "write",
    );
    assert_eq!(count(&*ks, &t.def).await, 6);
    let found = ok(t.lookup_ids(&*ks, &[2, 40, 50]).await, "lookup");
    assert_eq!(found, vec![(0, 2), (1, 40), (2, 50)]);
    finish(&storage, &name).await;
}

/// In `DistinctFirst` mode rows whose first-index key exists (in storage or earlier in the same
/// call) are skipped and counted; the first row of a key wins, and skipped rows leave no index
/// entries.
///
/// # Panics
/// When the check fails.
pub async fn distinct_first(storage: Arc<dyn Storage>, ks_prefix: &str) {
    let (name, ks) = fresh(&storage, ks_prefix, "distinct").await;
    let schema = schema_of(&[("k", FieldType::String), ("v", FieldType::Int)]);
    let def = table_def(
        "dst",
        1,
        &schema,
        &[("idx_dst_k", true), ("idx_dst_v", false)],
    );
    ok(ks.create_table(&def).await, "create_table");
    let write = |batch: BatchIdx, rows: Vec<(&'static str, i64)>| {
        let ks = ks.clone();
        let def = def.clone();
        async move {
            let mut rs = RowSet::new(def.schema.clone());
            let mut keys = vec![Vec::new(), Vec::new()];
            for (k, v) in rows {
                rs.push_row(vec![Value::Str(k.into()), Value::Int(v)]);
                keys[0].push(k.to_string());
                keys[1].push(format!("v{v}"));
            }
            ks.write_rows(&def, batch, &rs, &keys, WriteMode::DistinctFirst)
                .await
        }
    };
    // Key "a" repeats often so that a backend keeping a random one of them fails reliably.
    let first_call = vec![
        ("a", 1),
        ("b", 2),
        ("a", 3),
        ("a", 6),
        ("a", 7),
        ("b", 8),
        ("a", 9),
        ("a", 10),
        ("a", 11),
    ];
    let stats = ok(write(0, first_call).await, "distinct write");
    assert_eq!(
        stats,
        WriteStats {
            rows_written: 2,
            rows_skipped: 7,
            index_entries: 4
        }
    );
    let stats = ok(write(1, vec![("b", 4), ("c", 5)]).await, "distinct write");
    assert_eq!(
        stats,
        WriteStats {
            rows_written: 1,
            rows_skipped: 1,
            index_entries: 2
        }
    );
    assert_eq!(count(&*ks, &def).await, 3);

    let fields = schema_of(&[("v", FieldType::Int)]);
    let idx_k = index_ref(&def, 0);
    let keys: Vec<String> = ["a", "b", "c"].iter().map(|s| s.to_string()).collect();
    let res = ok(
        ks.lookup(&idx_k, &def.table_ref(), &keys, &fields).await,
        "lookup",
    );
    let mut got: Vec<(usize, i64)> = (0..res.rows.len())
        .map(|r| (res.key_pos[r], int_of(&res.rows.get(r, 0))))
        .collect();
    got.sort();
    assert_eq!(
        got,
        vec![(0, 1), (1, 2), (2, 5)],
        "the first row of a key wins"
    );

    let idx_v = index_ref(&def, 1);
    let keys: Vec<String> = (1..=11).map(|v| format!("v{v}")).collect();
    let res = ok(
        ks.lookup(&idx_v, &def.table_ref(), &keys, &fields).await,
        "lookup",
    );
    let mut got: Vec<i64> = (0..res.rows.len())
        .map(|r| int_of(&res.rows.get(r, 0)))
        .collect();
    got.sort();
    assert_eq!(
        got,
        vec![1, 2, 5],
        "skipped rows must leave no index entries"
    );
    finish(&storage, &name).await;
}

/// Lookups by unique and non-unique keys: positions map back to the requested keys, missing
/// keys return nothing, many keys work, and rows of a deleted batch are not found.
///
/// # Panics
/// When the check fails.
pub async fn lookup(storage: Arc<dyn Storage>, ks_prefix: &str) {
    let (name, ks) = fresh(&storage, ks_prefix, "lookup").await;
    let t = Items::new("r", 1);
    ok(ks.create_table(&t.def).await, "create_table");
    for b in 0..3 {
        ok(
            t.write(
                &*ks,
                b,
                i64::from(b) * 400..(i64::from(b) + 1) * 400,
                WriteMode::Normal,
            )
            .await,
            "write",
        );
    }

    // Unique: every key, reversed, with missing keys mixed in.
    let mut keys: Vec<String> = (0..1200).rev().map(Items::id_key).collect();
    keys.insert(0, "missing-first".into());
    keys.insert(600, "missing-middle".into());
    keys.push(Items::id_key(5000));
    let fields = schema_of(&[("grp", FieldType::String), ("id", FieldType::Int)]);
    let res = ok(
        ks.lookup(&t.unique(), &t.def.table_ref(), &keys, &fields)
            .await,
        "lookup unique",
    );
    assert_eq!(res.rows.schema().fields(), fields.fields(), "lookup schema");
    assert_eq!(res.key_pos.len(), res.rows.len());
    assert_eq!(res.rows.len(), 1200, "every existing key is found once");
    let mut seen = BTreeSet::new();
    for r in 0..res.rows.len() {
        let id = int_of(&res.rows.get(r, 1));
        assert_eq!(
            keys[res.key_pos[r]],
            Items::id_key(id),
            "key_pos of row {id}"
        );
        assert_eq!(res.rows.get(r, 0), Value::Str(Items::grp_key(id)));
        assert!(seen.insert(id), "row {id} returned twice");
    }

    // Non-unique: each group holds 120 rows.
    let groups = vec![Items::grp_key(3), "no-such-group".into(), Items::grp_key(7)];
    let found = ok(t.lookup_groups(&*ks, &groups).await, "lookup non-unique");
    assert_eq!(found.len(), 240);
    for (pos, id) in &found {
        assert_eq!(groups[*pos], Items::grp_key(*id), "key_pos of row {id}");
    }
    assert_eq!(found.iter().filter(|(p, _)| *p == 0).count(), 120);

    let none = ok(
        ks.lookup(&t.unique(), &t.def.table_ref(), &[], &fields)
            .await,
        "lookup without keys",
    );
    assert!(none.rows.is_empty() && none.key_pos.is_empty());

    // After a batch is deleted its rows are no longer found, by either index.
    ok(ks.delete_batch(&t.def, 1).await, "delete_batch");
    let found = ok(t.lookup_ids(&*ks, &[0, 399, 400, 799, 800]).await, "lookup");
    assert_eq!(found, vec![(0, 0), (1, 399), (4, 800)]);
    let found = ok(
        t.lookup_groups(&*ks, &[Items::grp_key(3)]).await,
        "lookup grp",
    );
    assert_eq!(found.len(), 80);
    assert!(found.iter().all(|(_, id)| !(400..800).contains(id)));
    finish(&storage, &name).await;
}

/// `delete_batch` removes exactly the rows and index entries of one batch, returns how many
/// rows it removed, and lets the batch be written again with the same unique keys.
///
/// # Panics
/// When the check fails.
pub async fn delete_batch(storage: Arc<dyn Storage>, ks_prefix: &str) {
    let (name, ks) = fresh(&storage, ks_prefix, "delete").await;
    let t = Items::new("del", 1);
    let other = Items::new("del_other", 1);
    ok(ks.create_table(&t.def).await, "create_table");
    ok(ks.create_table(&other.def).await, "create_table");
    for b in 0..3 {
        ok(
            t.write(
                &*ks,
                b,
                i64::from(b) * 50..(i64::from(b) + 1) * 50,
                WriteMode::Normal,
            )
            .await,
            "write",
        );
    }
    ok(
        other.write(&*ks, 1, 0..30, WriteMode::Normal).await,
        "write",
    );

    assert_eq!(ok(ks.delete_batch(&t.def, 1).await, "delete_batch"), 50);
    assert_eq!(count(&*ks, &t.def).await, 100);
    assert_eq!(count(&*ks, &other.def).await, 30, "another table lost rows");
    let rows = scan(&*ks, &t.def.table_ref(), &t.id_only(), TokenRange::ALL, 64).await;
    let expected: BTreeSet<i64> = (0..50).chain(100..150).collect();
    assert_eq!(ids_exactly_once(&rows, "after delete_batch"), expected);
    assert_eq!(
        ok(ks.delete_batch(&t.def, 1).await, "delete_batch again"),
        0
    );
    assert_eq!(
        ok(
            ks.delete_batch(&t.def, 7).await,
            "delete_batch of an unknown batch"
        ),
        0
    );

    // The unique keys of the batch are gone: redoing the batch succeeds.
    let stats = ok(
        t.write(&*ks, 1, 50..100, WriteMode::Normal).await,
        "rewrite of a deleted batch",
    );
    assert_eq!(stats.rows_written, 50);
    assert_eq!(count(&*ks, &t.def).await, 150);
    let found = ok(
        t.lookup_groups(&*ks, &[Items::grp_key(1)]).await,
        "lookup grp",
    );
    assert_eq!(
        found.len(),
        15,
        "non-unique entries of the deleted batch remained"
    );
    finish(&storage, &name).await;
}

/// Several tasks writing batches of one table at once lose nothing.
///
/// # Panics
/// When the check fails.
pub async fn concurrent_writers(storage: Arc<dyn Storage>, ks_prefix: &str) {
    let (name, ks) = fresh(&storage, ks_prefix, "concw").await;
    let t = Arc::new(Items::new("cw", 1));
    ok(ks.create_table(&t.def).await, "create_table");
    let mut handles = Vec::new();
    for b in 0..8 {
        let ks = ks.clone();
        let t = t.clone();
        handles.push(tokio::spawn(async move {
            for call in 0..5i64 {
                let first = (i64::from(b) * 5 + call) * 200;
                t.write(&*ks, b, first..first + 200, WriteMode::Normal)
                    .await?;
            }
            Ok::<_, StoreError>(())
        }));
    }
    for h in handles {
        ok(
            h.await.expect("writer task panicked"),
            "concurrent write_rows",
        );
    }
    assert_eq!(count(&*ks, &t.def).await, 8000);
    let rows = scan(
        &*ks,
        &t.def.table_ref(),
        &t.id_only(),
        TokenRange::ALL,
        3000,
    )
    .await;
    assert_eq!(
        ids_exactly_once(&rows, "concurrent writes"),
        (0..8000).collect()
    );
    finish(&storage, &name).await;
}

/// Empty writes succeed and do nothing; key lists that do not match the rows are rejected.
///
/// # Panics
/// When the check fails.
pub async fn write_edge_cases(storage: Arc<dyn Storage>, ks_prefix: &str) {
    let (name, ks) = fresh(&storage, ks_prefix, "edges").await;
    let t = Items::new("edge", 1);
    ok(ks.create_table(&t.def).await, "create_table");
    let empty = RowSet::new(t.def.schema.clone());
    let stats = ok(
        ks.write_rows(&t.def, 0, &empty, &[vec![], vec![]], WriteMode::Normal)
            .await,
        "empty write",
    );
    assert_eq!(stats, WriteStats::default());

    let (rows, keys) = t.rows([1, 2]);
    let short = vec![keys[0].clone()];
    expect_err(
        ks.write_rows(&t.def, 0, &rows, &short, WriteMode::Normal)
            .await,
        "write with keys for one of two indexes",
    );
    let ragged = vec![keys[0].clone(), vec![keys[1][0].clone()]];
    expect_err(
        ks.write_rows(&t.def, 0, &rows, &ragged, WriteMode::Normal)
            .await,
        "write with fewer keys than rows",
    );
    assert_eq!(count(&*ks, &t.def).await, 0, "rejected writes left rows");
    // A zero-width range returns nothing and a range of one token works.
    ok(t.write(&*ks, 0, 0..100, WriteMode::Normal).await, "write");
    let one = TokenRange {
        first: 17,
        last: 17,
    };
    let rows = scan(&*ks, &t.def.table_ref(), &t.id_only(), one, 10).await;
    assert!(rows.len() <= 1);
    finish(&storage, &name).await;
}

/// Operations on tables that do not exist fail with `NoSuchTable` naming the table; asking for
/// a field the table lacks fails naming the field.
///
/// # Panics
/// When the check fails.
pub async fn missing_tables(storage: Arc<dyn Storage>, ks_prefix: &str) {
    let (name, ks) = fresh(&storage, ks_prefix, "missing").await;
    let t = Items::new("nothere", 1);
    let want = "nothere_00001";
    let is_missing =
        |e: &StoreError, name: &str| matches!(e, StoreError::NoSuchTable(n) if n == name);

    let e = expect_err(
        ks.read_page(&t.def.table_ref(), &t.id_only(), TokenRange::ALL, None, 10)
            .await,
        "read_page",
    );
    assert!(is_missing(&e, want), "read_page: {e:?}");
    let e = expect_err(ks.count_rows(&t.def.table_ref()).await, "count_rows");
    assert!(is_missing(&e, want), "count_rows: {e:?}");
    let e = expect_err(t.write(&*ks, 0, [1], WriteMode::Normal).await, "write_rows");
    assert!(is_missing(&e, want), "write_rows: {e:?}");
    let e = expect_err(t.lookup_ids(&*ks, &[1]).await, "lookup");
    assert!(
        is_missing(&e, "idx_nothere_id_00001") || is_missing(&e, want),
        "lookup: {e:?}"
    );

    // The table exists in run 1 only.
    ok(ks.create_table(&t.def).await, "create_table");
    let run2 = TableRef {
        name: "nothere".into(),
        run_id: 2,
    };
    let e = expect_err(ks.count_rows(&run2).await, "count_rows of run 2");
    assert!(is_missing(&e, "nothere_00002"), "count_rows: {e:?}");

    let bad = schema_of(&[("id", FieldType::Int), ("no_such_field", FieldType::Int)]);
    let e = expect_err(
        ks.read_page(&t.def.table_ref(), &bad, TokenRange::ALL, None, 10)
            .await,
        "read_page of a missing field",
    );
    assert!(
        matches!(&e, StoreError::Backend(m) if m.contains("no_such_field")),
        "reading a missing field must be a Backend error naming it, got {e:?}"
    );
    finish(&storage, &name).await;
}

/// Keyspaces are created on demand, listed sorted, validated, dropped with everything in them
/// (dropping a missing one is fine), and start afresh when created again.
///
/// # Panics
/// When the check fails.
pub async fn keyspace_lifecycle(storage: Arc<dyn Storage>, ks_prefix: &str) {
    let name = keyspace_name(ks_prefix, "life");
    let other = keyspace_name(ks_prefix, "life2");
    for n in [&name, &other] {
        ok(storage.drop_keyspace(n).await, "drop_keyspace");
    }
    let e = expect_err(storage.open_keyspace(&name, false).await, "open missing");
    assert!(
        matches!(&e, StoreError::NoSuchKeyspace(n) if *n == name),
        "opening a missing keyspace: {e:?}"
    );
    assert!(!ok(storage.list_keyspaces().await, "list").contains(&name));

    let ks = ok(storage.open_keyspace(&name, true).await, "create keyspace");
    assert_eq!(ks.name(), name);
    ok(storage.open_keyspace(&other, true).await, "create keyspace");
    let listed = ok(storage.list_keyspaces().await, "list_keyspaces");
    assert!(
        listed.contains(&name) && listed.contains(&other),
        "{listed:?}"
    );
    assert!(
        listed.windows(2).all(|w| w[0] < w[1]),
        "not sorted: {listed:?}"
    );
    ok(
        storage.open_keyspace(&name, true).await,
        "create an existing keyspace",
    );

    let ks = ok(storage.open_keyspace(&name, false).await, "open existing");
    assert_eq!(ok(ks.next_run_id().await, "next_run_id"), 1);
    assert!(ok(ks.claim_marker("m").await, "claim"));
    let t = Items::new("life", 1);
    ok(ks.create_table(&t.def).await, "create_table");
    ok(t.write(&*ks, 0, 0..10, WriteMode::Normal).await, "write");

    ok(storage.drop_keyspace(&name).await, "drop_keyspace");
    ok(
        storage.drop_keyspace(&name).await,
        "drop a dropped keyspace",
    );
    let listed = ok(storage.list_keyspaces().await, "list_keyspaces");
    assert!(
        !listed.contains(&name) && listed.contains(&other),
        "{listed:?}"
    );
    let e = expect_err(storage.open_keyspace(&name, false).await, "open dropped");
    assert!(matches!(e, StoreError::NoSuchKeyspace(_)), "{e:?}");

    let ks = ok(
        storage.open_keyspace(&name, true).await,
        "recreate keyspace",
    );
    assert_eq!(
        ok(ks.next_run_id().await, "next_run_id"),
        1,
        "counter restarts"
    );
    assert!(ok(ks.list_tables().await, "list_tables").is_empty());
    assert!(ok(ks.claim_marker("m").await, "markers start afresh"));
    assert!(ok(ks.run_properties().await, "run_properties").is_empty());

    for bad in ["", "bad-name", "system_x", "SYSTEM", &"k".repeat(49)] {
        let e = expect_err(storage.open_keyspace(bad, true).await, "invalid name");
        assert!(
            matches!(e, StoreError::InvalidName { .. }),
            "name {bad:?}: {e:?}"
        );
    }
    ok(storage.drop_keyspace(&name).await, "drop_keyspace");
    ok(storage.drop_keyspace(&other).await, "drop_keyspace");
}

// ---- fixtures and helpers ------------------------------------------------------------------

/// Keyspace name used by `check` for `ks_prefix`: `<ks_prefix>_<check>`.
///
/// # Panics
/// When the name would be longer than keyspace names may be (48 characters).
pub fn keyspace_name(ks_prefix: &str, check: &str) -> String {
    let name = format!("{ks_prefix}_{check}");
    assert!(
        name.len() <= 48,
        "keyspace prefix '{ks_prefix}' is too long for check '{check}'"
    );
    name
}

/// Drops and recreates the check's keyspace.
async fn fresh(
    storage: &Arc<dyn Storage>,
    ks_prefix: &str,
    check: &str,
) -> (String, Arc<dyn Keyspace>) {
    let name = keyspace_name(ks_prefix, check);
    ok(
        storage.drop_keyspace(&name).await,
        "drop_keyspace before the check",
    );
    let ks = ok(storage.open_keyspace(&name, true).await, "open_keyspace");
    (name, ks)
}

/// Drops the keyspace of a check that passed.
async fn finish(storage: &Arc<dyn Storage>, name: &str) {
    ok(
        storage.drop_keyspace(name).await,
        "drop_keyspace after the check",
    );
}

#[track_caller]
fn ok<T>(r: Result<T>, what: &str) -> T {
    match r {
        Ok(v) => v,
        Err(e) => panic!("{what} failed: {e} ({e:?})"),
    }
}

#[track_caller]
fn expect_err<T>(r: Result<T>, what: &str) -> StoreError {
    match r {
        Ok(_) => panic!("{what} should have failed but succeeded"),
        Err(e) => e,
    }
}

fn schema_of(fields: &[(&str, FieldType)]) -> Arc<Schema> {
    Arc::new(Schema::new(
        fields.iter().map(|(n, t)| (n.to_string(), *t)).collect(),
    ))
}

fn table_def(
    name: &str,
    run_id: RunId,
    schema: &Arc<Schema>,
    indexes: &[(&str, bool)],
) -> TableDef {
    TableDef {
        name: name.into(),
        run_id,
        schema: schema.clone(),
        indexes: indexes
            .iter()
            .map(|(n, unique)| IndexDef {
                name: n.to_string(),
                unique: *unique,
            })
            .collect(),
    }
}

fn index_ref(def: &TableDef, i: usize) -> IndexRef {
    IndexRef {
        name: def.indexes[i].name.clone(),
        run_id: def.run_id,
        unique: def.indexes[i].unique,
    }
}

fn int_of(v: &Value) -> i64 {
    match v {
        Value::Int(i) => *i,
        other => panic!("expected an int, got {other:?}"),
    }
}

async fn count(ks: &dyn Keyspace, def: &TableDef) -> u64 {
    ok(ks.count_rows(&def.table_ref()).await, "count_rows")
}

/// Reads a whole token range page by page, checking the paging contract on the way.
async fn scan(
    ks: &dyn Keyspace,
    table: &TableRef,
    fields: &Arc<Schema>,
    range: TokenRange,
    limit: usize,
) -> Vec<Vec<Value>> {
    let mut out = Vec::new();
    let mut cursor: Option<PageCursor> = None;
    for _ in 0..1_000_000 {
        let page = ok(
            ks.read_page(table, fields, range, cursor.clone(), limit)
                .await,
            "read_page",
        );
        assert!(
            page.rows.len() <= limit,
            "page of {} rows exceeds the limit {limit}",
            page.rows.len()
        );
        assert_eq!(page.rows.schema().fields(), fields.fields(), "page schema");
        if page.rows.is_empty() {
            assert!(page.next.is_none(), "an empty page must end the scan");
            return out;
        }
        out.extend((0..page.rows.len()).map(|r| page.rows.row(r)));
        match page.next {
            None => return out,
            Some(next) => {
                assert!(
                    cursor.as_ref() != Some(&next),
                    "read_page of {} returned the cursor it was given: the scan would not end",
                    table.full_name()
                );
                cursor = Some(next);
            }
        }
    }
    panic!("scan of {} did not end", table.full_name());
}

/// The ids (first column) of `rows`, checking that none repeats.
fn ids_exactly_once(rows: &[Vec<Value>], what: &str) -> BTreeSet<i64> {
    let mut ids = BTreeSet::new();
    for r in rows {
        let id = int_of(&r[0]);
        assert!(ids.insert(id), "{what}: row {id} returned more than once");
    }
    ids
}

/// Checks that backend timestamps are close to the append time and never go backwards.
fn check_times(ts: impl Iterator<Item = DateTime>, before: DateTime, after: DateTime, what: &str) {
    // Backends stamp events with their own clock (a server's for Cassandra): allow some skew.
    let slack = vessel_core::chrono::Duration::seconds(60);
    let mut last: Option<DateTime> = None;
    for t in ts {
        assert!(
            t >= before - slack && t <= after + slack,
            "{what}: timestamp {t} is not near the append time [{before}, {after}]"
        );
        if let Some(l) = last {
            assert!(l <= t, "{what}: timestamps go backwards ({l} then {t})");
        }
        last = Some(t);
    }
}

fn strip_node_ts(events: &[NodeEvent]) -> Vec<NodeEvent> {
    events
        .iter()
        .map(|e| NodeEvent {
            ts: time::zero(),
            ..e.clone()
        })
        .collect()
}

fn strip_batch_ts(events: &[BatchEvent]) -> Vec<BatchEvent> {
    events
        .iter()
        .map(|e| BatchEvent {
            ts: time::zero(),
            ..e.clone()
        })
        .collect()
}

/// Test table `<name>(id int, name string, grp string)` with a unique index on `id` and a
/// non-unique one on `grp` (ten groups).
struct Items {
    def: TableDef,
}

impl Items {
    fn new(name: &str, run_id: RunId) -> Items {
        let schema = schema_of(&[
            ("id", FieldType::Int),
            ("name", FieldType::String),
            ("grp", FieldType::String),
        ]);
        let def = table_def(
            name,
            run_id,
            &schema,
            &[
                (&format!("idx_{name}_id"), true),
                (&format!("idx_{name}_grp"), false),
            ],
        );
        Items { def }
    }

    fn id_key(id: i64) -> String {
        format!("{id:020}")
    }

    fn grp_key(id: i64) -> String {
        format!("g{}", id.rem_euclid(10))
    }

    fn id_only(&self) -> Arc<Schema> {
        schema_of(&[("id", FieldType::Int)])
    }

    fn unique(&self) -> IndexRef {
        index_ref(&self.def, 0)
    }

    fn rows(&self, ids: impl IntoIterator<Item = i64>) -> (RowSet, Vec<Vec<String>>) {
        let mut rows = RowSet::new(self.def.schema.clone());
        let mut keys = vec![Vec::new(), Vec::new()];
        for id in ids {
            rows.push_row(vec![
                Value::Int(id),
                Value::Str(format!("item #{id}")),
                Value::Str(Self::grp_key(id)),
            ]);
            keys[0].push(Self::id_key(id));
            keys[1].push(Self::grp_key(id));
        }
        (rows, keys)
    }

    async fn write(
        &self,
        ks: &dyn Keyspace,
        batch: BatchIdx,
        ids: impl IntoIterator<Item = i64>,
        mode: WriteMode,
    ) -> Result<WriteStats> {
        let (rows, keys) = self.rows(ids);
        ks.write_rows(&self.def, batch, &rows, &keys, mode).await
    }

    /// `(key position, id)` of the rows found by id, sorted.
    async fn lookup_ids(&self, ks: &dyn Keyspace, ids: &[i64]) -> Result<Vec<(usize, i64)>> {
        let keys: Vec<String> = ids.iter().map(|i| Self::id_key(*i)).collect();
        self.lookup_sorted(ks, &self.unique(), &keys).await
    }

    /// `(key position, id)` of the rows found by group key, sorted.
    async fn lookup_groups(&self, ks: &dyn Keyspace, keys: &[String]) -> Result<Vec<(usize, i64)>> {
        self.lookup_sorted(ks, &index_ref(&self.def, 1), keys).await
    }

    async fn lookup_sorted(
        &self,
        ks: &dyn Keyspace,
        index: &IndexRef,
        keys: &[String],
    ) -> Result<Vec<(usize, i64)>> {
        let res = ks
            .lookup(index, &self.def.table_ref(), keys, &self.id_only())
            .await?;
        assert_eq!(
            res.key_pos.len(),
            res.rows.len(),
            "one key position per row"
        );
        let mut out: Vec<(usize, i64)> = (0..res.rows.len())
            .map(|r| (res.key_pos[r], int_of(&res.rows.get(r, 0))))
            .collect();
        out.sort();
        let mut distinct = BTreeSet::new();
        for p in &out {
            assert!(distinct.insert(*p), "lookup returned {p:?} twice");
        }
        Ok(out)
    }
}
