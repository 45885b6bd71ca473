//! The shared storage conformance suite and SQLite-specific checks, against `SqliteStorage`.

use rusqlite::Connection;
use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};
use vessel_core::{FieldType, RowSet, Schema, Value, time};
use vessel_store::{
    IndexDef, IndexRef, Keyspace, Storage, StoreError, TableDef, TokenRange, WriteMode, conformance,
};
use vessel_store_sqlite::SqliteStorage;

/// A storage in a fresh temporary directory (kept alive by the returned guard).
fn storage() -> (tempfile::TempDir, Arc<dyn Storage>) {
    let dir = tempfile::tempdir().expect("temp dir");
    let s = SqliteStorage::open(dir.path()).expect("open storage");
    (dir, Arc::new(s))
}

macro_rules! conformance_tests {
    ($($check:ident),* $(,)?) => {
        mod conformance_suite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $check() {
                    let (_dir, storage) = super::storage();
                    vessel_store::conformance::$check(storage, "sq").await;
                }
            )*
        }
    };
}

conformance_tests!(
    run_counter,
    run_properties,
    run_events,
    node_events,
    batch_events,
    claim_marker,
    batch_starts,
    heartbeats,
    create_table,
    all_types,
    exact_numbers,
    paging,
    split_ranges,
    unique_duplicates,
    distinct_first,
    lookup,
    delete_batch,
    bulk_write,
    interrupted_writes,
    concurrent_writers,
    write_edge_cases,
    missing_tables,
    keyspace_lifecycle,
);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn run_all_in_one_storage() {
    let (_dir, storage) = storage();
    conformance::run_all(storage, "all").await;
}

// ---- fixtures ------------------------------------------------------------------------------

fn items(name: &str, run_id: i32) -> TableDef {
    TableDef {
        name: name.into(),
        run_id,
        schema: Arc::new(Schema::new(vec![
            ("id".into(), FieldType::Int),
            ("name".into(), FieldType::String),
            ("price".into(), FieldType::Decimal2),
        ])),
        indexes: vec![
            IndexDef {
                name: format!("idx_{name}_id"),
                unique: true,
            },
            IndexDef {
                name: format!("idx_{name}_grp"),
                unique: false,
            },
        ],
    }
}

fn item_rows(def: &TableDef, ids: impl IntoIterator<Item = i64>) -> (RowSet, Vec<Vec<String>>) {
    let mut rows = RowSet::new(def.schema.clone());
    let mut keys = vec![Vec::new(), Vec::new()];
    for id in ids {
        rows.push_row(vec![
            Value::Int(id),
            Value::Str(format!("item number {id}")),
            Value::Decimal(vessel_core::decimal::from_cents(id * 7)),
        ]);
        keys[0].push(format!("{id:020}"));
        keys[1].push(format!("g{}", id % 100));
    }
    (rows, keys)
}

fn index(def: &TableDef, i: usize) -> IndexRef {
    IndexRef {
        name: def.indexes[i].name.clone(),
        run_id: def.run_id,
        unique: def.indexes[i].unique,
    }
}

fn raw(dir: &Path, ks: &str) -> Connection {
    let c = Connection::open(dir.join(format!("{ks}.sqlite"))).expect("raw connection");
    c.busy_timeout(Duration::from_secs(30))
        .expect("busy timeout");
    c
}

fn plan(conn: &Connection, sql: &str) -> String {
    let mut stmt = conn
        .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
        .expect("explain");
    let details: Vec<String> = stmt
        .query_map([], |r| r.get::<_, String>(3))
        .expect("plan rows")
        .collect::<Result<_, _>>()
        .expect("plan");
    details.join(" | ")
}

// ---- SQLite specifics ----------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_file_per_keyspace() {
    let dir = tempfile::tempdir().unwrap();
    let storage = SqliteStorage::open(dir.path().join("nested/data")).unwrap();
    // Nothing is created until a keyspace is.
    assert!(!dir.path().join("nested").exists());
    assert!(storage.list_keyspaces().await.unwrap().is_empty());
    assert!(storage.open_keyspace("files_a", false).await.is_err());
    assert!(!dir.path().join("nested").exists());
    let ks = storage.open_keyspace("files_a", true).await.unwrap();
    ks.next_run_id().await.unwrap();
    storage.open_keyspace("files_b", true).await.unwrap();
    let data = storage.data_dir().to_path_buf();
    assert!(data.join("files_a.sqlite").is_file());
    // Files that are not keyspaces are not listed.
    std::fs::write(data.join("notes.txt"), "x").unwrap();
    std::fs::write(data.join("bad-name.sqlite"), "").unwrap();
    assert_eq!(
        storage.list_keyspaces().await.unwrap(),
        vec!["files_a".to_string(), "files_b".to_string()]
    );
    drop(ks);
    storage.drop_keyspace("files_a").await.unwrap();
    for suffix in ["", "-wal", "-shm"] {
        assert!(
            !data.join(format!("files_a.sqlite{suffix}")).exists(),
            "files_a.sqlite{suffix} left behind"
        );
    }
    assert_eq!(
        storage.list_keyspaces().await.unwrap(),
        vec!["files_b".to_string()]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn handles_of_a_dropped_keyspace_fail() {
    let (_dir, storage) = storage();
    let ks = storage.open_keyspace("gone", true).await.unwrap();
    storage.drop_keyspace("gone").await.unwrap();
    let e = ks.next_run_id().await.unwrap_err();
    assert!(matches!(e, StoreError::NoSuchKeyspace(_)), "{e:?}");
    assert!(storage.list_keyspaces().await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn wal_mode_and_column_types() {
    let dir = tempfile::tempdir().unwrap();
    let storage = SqliteStorage::open(dir.path()).unwrap();
    let ks = storage.open_keyspace("layout", true).await.unwrap();
    let schema = Arc::new(Schema::new(
        FieldType::ALL
            .iter()
            .map(|t| (format!("f_{t}"), *t))
            .collect(),
    ));
    let def = TableDef {
        name: "typed".into(),
        run_id: 3,
        schema,
        indexes: vec![],
    };
    ks.create_table(&def).await.unwrap();
    let c = raw(dir.path(), "layout");
    let mode: String = c
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    let mut cols: Vec<(String, String)> = c
        .prepare("SELECT name, type FROM pragma_table_info('typed_00003')")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    cols.sort();
    assert_eq!(
        cols,
        [
            ("batch_idx", "INTEGER"),
            ("f_bool", "INTEGER_BOOL"),
            ("f_datetime", "INTEGER_MS"),
            ("f_decimal2", "INTEGER_CENTS"),
            ("f_float", "INTEGER_F64_BITS"),
            ("f_int", "INTEGER"),
            ("f_string", "TEXT"),
            ("rowid", "INTEGER"),
        ]
        .map(|(a, b)| (a.to_string(), b.to_string()))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn scans_lookups_and_cleanup_use_indexes() {
    let dir = tempfile::tempdir().unwrap();
    let storage = SqliteStorage::open(dir.path()).unwrap();
    let ks = storage.open_keyspace("plans", true).await.unwrap();
    let def = items("t", 1);
    ks.create_table(&def).await.unwrap();
    let c = raw(dir.path(), "plans");
    let scan = plan(
        &c,
        "SELECT rowid, t.\"id\" FROM \"t_00001\" AS t WHERE rowid BETWEEN 1 AND 2 ORDER BY rowid LIMIT 10",
    );
    assert!(
        scan.contains("INTEGER PRIMARY KEY (rowid>? AND rowid<?)"),
        "{scan}"
    );
    assert!(
        !scan.contains("TEMP B-TREE"),
        "page reads must not sort: {scan}"
    );
    let clean = plan(&c, "DELETE FROM \"t_00001\" WHERE batch_idx = 3");
    assert!(clean.contains("t_00001__batch_idx"), "{clean}");
    let clean_idx = plan(&c, "DELETE FROM \"idx_t_grp_00001\" WHERE batch_idx = 3");
    assert!(
        clean_idx.contains("idx_t_grp_00001__batch_idx"),
        "{clean_idx}"
    );
    let join = plan(
        &c,
        "SELECT i.key, i.rowid, t.\"id\" FROM \"idx_t_grp_00001\" AS i CROSS JOIN \"t_00001\" AS t \
         WHERE i.key IN ('a','b') AND t.rowid = i.rowid",
    );
    assert!(
        join.contains("SEARCH i USING PRIMARY KEY (key=?)"),
        "{join}"
    );
    assert!(
        join.contains("SEARCH t USING INTEGER PRIMARY KEY (rowid=?)"),
        "{join}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn lookup_ignores_orphan_index_entries() {
    let dir = tempfile::tempdir().unwrap();
    let storage = SqliteStorage::open(dir.path()).unwrap();
    let ks = storage.open_keyspace("orphans", true).await.unwrap();
    let def = items("o", 1);
    ks.create_table(&def).await.unwrap();
    let (rows, keys) = item_rows(&def, 0..10);
    ks.write_rows(&def, 0, &rows, &keys, WriteMode::Normal)
        .await
        .unwrap();
    // Remove data rows behind the index's back, as a crashed cleanup could.
    let c = raw(dir.path(), "orphans");
    c.execute("DELETE FROM o_00001 WHERE id < 5", []).unwrap();
    let fields = Arc::new(Schema::new(vec![("id".into(), FieldType::Int)]));
    let keys: Vec<String> = (0..10).map(|i| format!("{i:020}")).collect();
    let res = ks
        .lookup(&index(&def, 0), &def.table_ref(), &keys, &fields)
        .await
        .unwrap();
    assert_eq!(res.key_pos, vec![5, 6, 7, 8, 9]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn reading_a_missing_or_retyped_field_names_it() {
    let (_dir, storage) = storage();
    let ks = storage.open_keyspace("fields", true).await.unwrap();
    let def = items("f", 1);
    ks.create_table(&def).await.unwrap();
    let missing = Arc::new(Schema::new(vec![("nope".into(), FieldType::Int)]));
    let e = ks
        .read_page(&def.table_ref(), &missing, TokenRange::ALL, None, 10)
        .await
        .unwrap_err();
    let msg = e.to_string();
    assert!(msg.contains("'nope'") && msg.contains("f_00001"), "{msg}");
    let retyped = Arc::new(Schema::new(vec![("price".into(), FieldType::Float)]));
    let e = ks
        .read_page(&def.table_ref(), &retyped, TokenRange::ALL, None, 10)
        .await
        .unwrap_err();
    assert!(
        matches!(&e, StoreError::Backend(m) if m.contains("decimal2")),
        "{e:?}"
    );
    // A reserved column name is refused at creation.
    let mut bad = items("bad", 1);
    bad.schema = Arc::new(Schema::new(vec![("batch_idx".into(), FieldType::Int)]));
    let e = ks.create_table(&bad).await.unwrap_err();
    assert!(matches!(e, StoreError::InvalidName { .. }), "{e:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn nan_floats_round_trip() {
    let (_dir, storage) = storage();
    let ks = storage.open_keyspace("nan", true).await.unwrap();
    let schema = Arc::new(Schema::new(vec![("x".into(), FieldType::Float)]));
    let def = TableDef {
        name: "n".into(),
        run_id: 1,
        schema: schema.clone(),
        indexes: vec![],
    };
    ks.create_table(&def).await.unwrap();
    let mut rows = RowSet::new(schema.clone());
    rows.push_row(vec![Value::Float(f64::NAN)]);
    ks.write_rows(&def, 0, &rows, &[], WriteMode::Normal)
        .await
        .unwrap();
    let page = ks
        .read_page(&def.table_ref(), &schema, TokenRange::ALL, None, 10)
        .await
        .unwrap();
    assert!(matches!(page.rows.get(0, 0), Value::Float(f) if f.is_nan()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn event_times_never_go_backwards() {
    let dir = tempfile::tempdir().unwrap();
    let storage = SqliteStorage::open(dir.path()).unwrap();
    let ks = storage.open_keyspace("clock", true).await.unwrap();
    // An event stamped in the future, as if the clock then stepped back.
    let future = time::to_millis(&time::now()) + 3_600_000;
    raw(dir.path(), "clock")
        .execute(
            "INSERT INTO wf_run_history (ts, run_id, status, comment) VALUES (?1, 1, 1, 'early')",
            [future],
        )
        .unwrap();
    ks.append_run_event(1, vessel_store::RunStatus::Complete, "later")
        .await
        .unwrap();
    // Many appends within one millisecond keep their order too.
    for i in 0..50 {
        ks.append_run_event(2, vessel_store::RunStatus::Start, &i.to_string())
            .await
            .unwrap();
    }
    let events = ks.run_events(None).await.unwrap();
    assert_eq!(events[0].comment, "early");
    assert_eq!(events[1].comment, "later");
    assert_eq!(time::to_millis(&events[1].ts), future);
    let comments: Vec<String> = events[2..].iter().map(|e| e.comment.clone()).collect();
    assert_eq!(comments, (0..50).map(|i| i.to_string()).collect::<Vec<_>>());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_held_write_lock_times_out_as_unavailable() {
    let dir = tempfile::tempdir().unwrap();
    let storage = SqliteStorage::open(dir.path())
        .unwrap()
        .with_busy_timeout(Duration::from_millis(200));
    let ks = storage.open_keyspace("busy", true).await.unwrap();
    // Another process holds the write lock.
    let other = raw(dir.path(), "busy");
    other.execute_batch("BEGIN IMMEDIATE").unwrap();
    let started = Instant::now();
    let e = ks.next_run_id().await.unwrap_err();
    assert!(matches!(e, StoreError::Unavailable(_)), "{e:?}");
    assert!(e.is_transient());
    assert!(started.elapsed() >= Duration::from_millis(150));
    // Readers are not blocked by a writer (WAL).
    assert!(ks.run_properties().await.unwrap().is_empty());
    other.execute_batch("COMMIT").unwrap();
    assert_eq!(ks.next_run_id().await.unwrap(), 1);
}

/// Two `SqliteStorage` instances on one directory behave like two processes: each has its own
/// pools and write mutex, so they meet only at SQLite's file locks.
#[tokio::test(flavor = "multi_thread", worker_threads = 8)]
async fn two_storages_share_a_keyspace() {
    let dir = tempfile::tempdir().unwrap();
    let a: Arc<dyn Storage> = Arc::new(SqliteStorage::open(dir.path()).unwrap());
    let b: Arc<dyn Storage> = Arc::new(SqliteStorage::open(dir.path()).unwrap());
    let ka = a.open_keyspace("shared", true).await.unwrap();
    let kb = b.open_keyspace("shared", true).await.unwrap();
    let def = items("s", 1);
    let (ca, cb) = (ka.create_table(&def), kb.create_table(&def));
    let (ra, rb) = tokio::join!(ca, cb);
    ra.unwrap();
    rb.unwrap();

    let mut tasks = Vec::new();
    for (w, ks) in [ka.clone(), kb.clone(), ka.clone(), kb.clone()]
        .into_iter()
        .enumerate()
    {
        let def = def.clone();
        tasks.push(tokio::spawn(async move {
            let mut ids = Vec::new();
            for call in 0..25i64 {
                ids.push(ks.next_run_id().await.unwrap());
                let first = (w as i64 * 25 + call) * 100;
                let (rows, keys) = item_rows(&def, first..first + 100);
                ks.write_rows(&def, w as i32, &rows, &keys, WriteMode::Normal)
                    .await
                    .unwrap();
                ks.claim_marker(&format!("m{call}")).await.unwrap();
            }
            ids
        }));
    }
    let mut ids = BTreeSet::new();
    for t in tasks {
        for id in t.await.unwrap() {
            assert!(ids.insert(id), "run id {id} allocated twice");
        }
    }
    assert_eq!(ids, (1..=100).collect());
    assert_eq!(kb.count_rows(&def.table_ref()).await.unwrap(), 10_000);
    assert_eq!(ka.count_rows(&def.table_ref()).await.unwrap(), 10_000);
    for call in 0..25 {
        assert!(!kb.claim_marker(&format!("m{call}")).await.unwrap());
    }
    // A drop by one is seen by the other.
    a.drop_keyspace("shared").await.unwrap();
    let e = b.open_keyspace("shared", false).await.err().unwrap();
    assert!(matches!(e, StoreError::NoSuchKeyspace(_)), "{e:?}");
}

const CHILD_DIR: &str = "VESSEL_SQLITE_TEST_CHILD_DIR";
const CHILD_ID: &str = "VESSEL_SQLITE_TEST_CHILD_ID";

/// Body of the child processes of [`second_process_shares_the_keyspace`], which runs it with
/// `--ignored --exact`; ignored on its own, so it never shows as passed without having run.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "child process of second_process_shares_the_keyspace"]
async fn child_process_body() {
    let (Ok(dir), Ok(id)) = (std::env::var(CHILD_DIR), std::env::var(CHILD_ID)) else {
        panic!("run by second_process_shares_the_keyspace, which sets {CHILD_DIR} and {CHILD_ID}");
    };
    let id: i64 = id.parse().unwrap();
    let storage = SqliteStorage::open(&dir).unwrap();
    let ks = storage.open_keyspace("procs", false).await.unwrap();
    let def = items("p", 1);
    let mut ids = Vec::new();
    for call in 0..20 {
        ids.push(ks.next_run_id().await.unwrap().to_string());
        let first = (id * 20 + call) * 50;
        let (rows, keys) = item_rows(&def, first..first + 50);
        ks.write_rows(&def, id as i32, &rows, &keys, WriteMode::Normal)
            .await
            .unwrap();
    }
    let won = ks.claim_marker("winner").await.unwrap();
    std::fs::write(
        Path::new(&dir).join(format!("child{id}.out")),
        format!("{}\n{won}", ids.join(",")),
    )
    .unwrap();
}

/// Real processes: this test binary runs itself three times (the `child_process_body` test)
/// against one keyspace, while the parent allocates run ids too.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn second_process_shares_the_keyspace() {
    let dir = tempfile::tempdir().unwrap();
    let storage = SqliteStorage::open(dir.path()).unwrap();
    let ks = storage.open_keyspace("procs", true).await.unwrap();
    let def = items("p", 1);
    ks.create_table(&def).await.unwrap();
    let exe = std::env::current_exe().unwrap();
    let children: Vec<_> = (0..3)
        .map(|i| {
            std::process::Command::new(&exe)
                .args([
                    "--ignored",
                    "--exact",
                    "child_process_body",
                    "--test-threads=1",
                ])
                .env(CHILD_DIR, dir.path())
                .env(CHILD_ID, i.to_string())
                .stdout(std::process::Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    let mut all = BTreeSet::new();
    for _ in 0..20 {
        all.insert(ks.next_run_id().await.unwrap());
    }
    for mut c in children {
        assert!(c.wait().unwrap().success(), "child process failed");
    }
    let mut winners = 0;
    for i in 0..3 {
        let out = std::fs::read_to_string(dir.path().join(format!("child{i}.out"))).unwrap();
        let (ids, won) = out.split_once('\n').unwrap();
        for id in ids.split(',') {
            assert!(
                all.insert(id.parse().unwrap()),
                "run id {id} allocated twice"
            );
        }
        winners += usize::from(won == "true");
    }
    assert_eq!(all, (1..=80).collect(), "run ids across processes");
    assert_eq!(winners, 1, "exactly one process claims the marker");
    assert_eq!(ks.count_rows(&def.table_ref()).await.unwrap(), 3000);
}

// ---- throughput ----------------------------------------------------------------------------

/// Writes and reads 200k rows with one unique and one non-unique index and prints rows/s,
/// next to a plain rusqlite insert of the same rows into an unindexed table as the reference.
/// `cargo test --release -p vessel-store-sqlite -- --ignored --nocapture`
#[tokio::test(flavor = "multi_thread", worker_threads = 8)]
#[ignore = "throughput measurement; run in release mode"]
async fn throughput_200k_rows() {
    const N: i64 = 200_000;
    const PER_CALL: i64 = 10_000;
    let dir = tempfile::tempdir().unwrap();
    let storage = SqliteStorage::open(dir.path()).unwrap();
    let ks = storage.open_keyspace("perf", true).await.unwrap();
    let def = items("perf", 1);
    ks.create_table(&def).await.unwrap();
    let batches: Vec<_> = (0..N / PER_CALL)
        .map(|b| item_rows(&def, b * PER_CALL..(b + 1) * PER_CALL))
        .collect();

    // Reference: the same values with a bare prepared INSERT, one transaction, no indexes.
    let reference = {
        let mut c = Connection::open(dir.path().join("reference.sqlite")).unwrap();
        c.execute_batch(
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;
             CREATE TABLE r (rowid INTEGER PRIMARY KEY, batch_idx INTEGER, id INTEGER, name TEXT, price INTEGER)",
        )
        .unwrap();
        let started = Instant::now();
        let tx = c.transaction().unwrap();
        {
            let mut s = tx
                .prepare("INSERT INTO r VALUES (?1, ?2, ?3, ?4, ?5)")
                .unwrap();
            for (rows, _) in &batches {
                for r in 0..rows.len() {
                    let (Value::Int(id), Value::Str(name)) = (rows.get(r, 0), rows.get(r, 1))
                    else {
                        unreachable!()
                    };
                    s.execute(rusqlite::params![rand_rowid(id), 0, id, name, id * 7])
                        .unwrap();
                }
            }
        }
        tx.commit().unwrap();
        N as f64 / started.elapsed().as_secs_f64()
    };

    let started = Instant::now();
    for (b, (rows, keys)) in batches.iter().enumerate() {
        ks.write_rows(&def, b as i32, rows, keys, WriteMode::Normal)
            .await
            .unwrap();
    }
    let write = N as f64 / started.elapsed().as_secs_f64();

    let started = Instant::now();
    let mut tasks = Vec::new();
    for range in TokenRange::split(8) {
        let ks: Arc<dyn Keyspace> = ks.clone();
        let (t, fields) = (def.table_ref(), def.schema.clone());
        tasks.push(tokio::spawn(async move {
            let mut n = 0;
            let mut cursor = None;
            loop {
                let page = ks
                    .read_page(&t, &fields, range, cursor, 10_000)
                    .await
                    .unwrap();
                n += page.rows.len();
                match page.next {
                    Some(c) => cursor = Some(c),
                    None => break n,
                }
            }
        }));
    }
    let mut read_rows = 0;
    for t in tasks {
        read_rows += t.await.unwrap();
    }
    assert_eq!(read_rows as i64, N);
    let read = N as f64 / started.elapsed().as_secs_f64();

    let started = Instant::now();
    let fields = Arc::new(Schema::new(vec![("name".into(), FieldType::String)]));
    let mut found = 0;
    for chunk in (0..N).collect::<Vec<_>>().chunks(1000) {
        let keys: Vec<String> = chunk.iter().map(|i| format!("{i:020}")).collect();
        found += ks
            .lookup(&index(&def, 0), &def.table_ref(), &keys, &fields)
            .await
            .unwrap()
            .rows
            .len();
    }
    assert_eq!(found as i64, N);
    let lookups = N as f64 / started.elapsed().as_secs_f64();

    println!("reference (bare rusqlite insert, no indexes): {reference:>10.0} rows/s");
    println!(
        "write_rows, 1 unique + 1 non-unique index:    {write:>10.0} rows/s ({:.2}x reference)",
        write / reference
    );
    println!("read_page, 8 token ranges in parallel:        {read:>10.0} rows/s");
    println!("lookup by unique key, 1000 keys per call:     {lookups:>10.0} keys/s");
}

/// A well-spread rowid for the reference insert (a multiplicative hash: no collisions).
fn rand_rowid(id: i64) -> i64 {
    id.wrapping_mul(0x9E37_79B9_7F4A_7C15_u64 as i64)
}
