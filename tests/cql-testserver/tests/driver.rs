//! The CQL test server driven by the real `scylla` driver.

use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};

use scylla::client::session::Session;
use scylla::client::session_builder::SessionBuilder;
use scylla::errors::{DbError, RequestAttemptError};
use scylla::statement::batch::{Batch, BatchType};
use scylla::statement::unprepared::Statement;
use scylla::value::{CqlDecimal, CqlTimestamp};
use vessel_cql_testserver::TestServer;

static KEYSPACE_SEQ: AtomicUsize = AtomicUsize::new(0);

/// A server, a session connected to it with default settings, and a fresh keyspace.
async fn setup() -> (TestServer, Session, String) {
    // `RUST_LOG=warn` shows what the driver and the server log.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
    let server = TestServer::start().await.expect("server starts");
    let session = SessionBuilder::new()
        .known_node_addr(server.addr())
        .build()
        .await
        .expect("driver connects");
    let ks = format!("ks_{}", KEYSPACE_SEQ.fetch_add(1, Ordering::Relaxed));
    session
        .query_unpaged(
            format!(
                "CREATE KEYSPACE {ks} WITH replication = {{'class': 'NetworkTopologyStrategy', 'datacenter1': 1}}"
            ),
            (),
        )
        .await
        .expect("keyspace created");
    (server, session, ks)
}

#[tokio::test]
async fn driver_connects_and_reads_the_system_tables() {
    let (_server, session, ks) = setup().await;
    let rows = session
        .query_unpaged("SELECT keyspace_name FROM system_schema.keyspaces", ())
        .await
        .unwrap()
        .into_rows_result()
        .unwrap();
    let names: Vec<String> = rows
        .rows::<(String,)>()
        .unwrap()
        .map(|r| r.unwrap().0)
        .collect();
    assert!(names.contains(&ks), "{names:?}");
    assert!(names.contains(&"system".to_string()));
}

fn db_error(e: &scylla::errors::ExecutionError) -> Option<(DbError, String)> {
    match e {
        scylla::errors::ExecutionError::LastAttemptError(RequestAttemptError::DbError(db, msg)) => {
            Some((db.clone(), msg.clone()))
        }
        _ => None,
    }
}

async fn rows<R>(
    session: &Session,
    query: &str,
    values: impl scylla::serialize::row::SerializeRow,
) -> Vec<R>
where
    R: for<'f, 'm> scylla::deserialize::row::DeserializeRow<'f, 'm>,
{
    session
        .query_unpaged(query.to_string(), values)
        .await
        .unwrap_or_else(|e| panic!("{query}: {e}"))
        .into_rows_result()
        .unwrap()
        .rows::<R>()
        .unwrap()
        .map(|r| r.unwrap())
        .collect()
}

async fn exec(session: &Session, query: &str) {
    session
        .query_unpaged(query.to_string(), ())
        .await
        .unwrap_or_else(|e| panic!("{query}: {e}"));
}

type AllTypes = (
    i64,
    Option<i32>,
    Option<f64>,
    Option<CqlDecimal>,
    Option<String>,
    Option<bool>,
    Option<CqlTimestamp>,
    Option<Vec<u8>>,
    Option<i8>,
);

#[tokio::test]
async fn every_supported_type_round_trips_exactly() {
    let (_server, session, ks) = setup().await;
    exec(
        &session,
        &format!(
            "CREATE TABLE {ks}.t (id bigint, i int, d double, m decimal, s text, b boolean, ts timestamp, bl blob, ti tinyint, PRIMARY KEY ((id)))"
        ),
    )
    .await;
    let insert = session
        .prepare(format!(
            "INSERT INTO {ks}.t (id, i, d, m, s, b, ts, bl, ti) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
        ))
        .await
        .unwrap();
    let full: AllTypes = (
        -9_000_000_000_000,
        Some(-123_456),
        Some(0.1 + 0.2),
        Some(CqlDecimal::from_signed_be_bytes_slice_and_exponent(
            &[0xFB, 0x1E, 0x05],
            7,
        )),
        Some("zażółć \u{1F600} '\"".to_string()),
        Some(true),
        Some(CqlTimestamp(1_717_171_717_171)),
        Some(vec![0, 1, 0xFF, 0x80]),
        Some(-7),
    );
    let nulls: AllTypes = (42, None, None, None, None, None, None, None, None);
    session
        .execute_unpaged(&insert, full.clone())
        .await
        .unwrap();
    session
        .execute_unpaged(&insert, nulls.clone())
        .await
        .unwrap();
    let select = format!("SELECT id, i, d, m, s, b, ts, bl, ti FROM {ks}.t WHERE id = ?");
    let got: Vec<AllTypes> = rows(&session, &select, (full.0,)).await;
    assert_eq!(got, vec![full]);
    let got: Vec<AllTypes> = rows(&session, &select, (42i64,)).await;
    assert_eq!(got, vec![nulls]);

    // Literals in the statement text reach the same values.
    exec(
        &session,
        &format!(
            "INSERT INTO {ks}.t (id, i, d, m, s, b, ts, bl, ti) VALUES (7, 3, -1.5e2, 12.50, 'it''s', false, 86400000, 0xCAFE, 127)"
        ),
    )
    .await;
    let got: Vec<AllTypes> = rows(&session, &select, (7i64,)).await;
    let (_, i, d, m, s, b, ts, bl, ti) = got[0].clone();
    assert_eq!(
        (i, d, s, b, ts, bl, ti),
        (
            Some(3),
            Some(-150.0),
            Some("it's".to_string()),
            Some(false),
            Some(CqlTimestamp(86_400_000)),
            Some(vec![0xCA, 0xFE]),
            Some(127)
        )
    );
    let m = m.unwrap();
    assert_eq!(
        m.as_signed_be_bytes_slice_and_exponent(),
        (&[0x04, 0xE2][..], 2)
    );
}

#[tokio::test]
async fn prepared_statements_carry_the_partition_key_for_token_aware_routing() {
    let (_server, session, ks) = setup().await;
    exec(
        &session,
        &format!("CREATE TABLE {ks}.idx (key text, rowid bigint, PRIMARY KEY ((key), rowid))"),
    )
    .await;
    let insert = session
        .prepare(format!("INSERT INTO {ks}.idx (key, rowid) VALUES (?, ?)"))
        .await
        .unwrap();
    assert!(insert.is_token_aware());
    for key in ["test", "xd", "primary_key", "kremówki"] {
        let token = insert.calculate_token(&(key, 1i64)).unwrap().unwrap();
        assert_eq!(token.value(), vessel_cql_testserver::token(key.as_bytes()));
        session.execute_unpaged(&insert, (key, 1i64)).await.unwrap();
        let got: Vec<(i64,)> = rows(
            &session,
            &format!("SELECT token(key) FROM {ks}.idx WHERE key = ?"),
            (key,),
        )
        .await;
        assert_eq!(got, vec![(token.value(),)]);
    }
    // A composite partition key: the driver and the server agree on its serialization.
    exec(
        &session,
        &format!("CREATE TABLE {ks}.comp (a int, b text, c int, PRIMARY KEY ((a, b), c))"),
    )
    .await;
    let insert = session
        .prepare(format!("INSERT INTO {ks}.comp (c, b, a) VALUES (?, ?, ?)"))
        .await
        .unwrap();
    let token = insert.calculate_token(&(1i32, "x", 5i32)).unwrap().unwrap();
    session
        .execute_unpaged(&insert, (1i32, "x", 5i32))
        .await
        .unwrap();
    let got: Vec<(i64,)> = rows(
        &session,
        &format!("SELECT token(a, b) FROM {ks}.comp WHERE a = 5 AND b = 'x'"),
        (),
    )
    .await;
    assert_eq!(got, vec![(token.value(),)]);
}

async fn fill(session: &Session, ks: &str, n: i64) {
    exec(
        session,
        &format!(
            "CREATE TABLE {ks}.data (rowid bigint, batch_idx bigint, v text, PRIMARY KEY ((rowid)))"
        ),
    )
    .await;
    let insert = session
        .prepare(format!(
            "INSERT INTO {ks}.data (rowid, batch_idx, v) VALUES (?, ?, ?)"
        ))
        .await
        .unwrap();
    for i in 0..n {
        session
            .execute_unpaged(&insert, (i, i % 10, format!("v{i}")))
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn paging_returns_every_row_once_in_token_order() {
    let (_server, session, ks) = setup().await;
    fill(&session, &ks, 10_000).await;
    let mut select = session
        .prepare(format!("SELECT rowid, token(rowid) FROM {ks}.data"))
        .await
        .unwrap();
    select.set_page_size(137);
    let mut pager = session
        .execute_iter(select, ())
        .await
        .unwrap()
        .rows_stream::<(i64, i64)>()
        .unwrap();
    let mut seen = Vec::new();
    while let Some(row) = futures::StreamExt::next(&mut pager).await {
        seen.push(row.unwrap());
    }
    assert_eq!(seen.len(), 10_000);
    assert!(
        seen.windows(2).all(|w| w[0].1 <= w[1].1),
        "rows come in token order"
    );
    for (rowid, token) in &seen {
        assert_eq!(*token, vessel_cql_testserver::token(&rowid.to_be_bytes()));
    }
    let mut ids: Vec<i64> = seen.iter().map(|r| r.0).collect();
    ids.sort();
    assert_eq!(ids, (0..10_000).collect::<Vec<_>>());

    // Unprepared statements page too, and COUNT(*) agrees.
    let mut q = Statement::new(format!("SELECT v FROM {ks}.data"));
    q.set_page_size(1000);
    let mut pager = session
        .query_iter(q, ())
        .await
        .unwrap()
        .rows_stream::<(String,)>()
        .unwrap();
    let mut n = 0;
    while let Some(row) = futures::StreamExt::next(&mut pager).await {
        row.unwrap();
        n += 1;
    }
    assert_eq!(n, 10_000);
    let count: Vec<(i64,)> = rows(&session, &format!("SELECT COUNT(*) FROM {ks}.data"), ()).await;
    assert_eq!(count, vec![(10_000,)]);
}

#[tokio::test]
async fn token_ranges_cover_every_row_exactly_once() {
    let (_server, session, ks) = setup().await;
    fill(&session, &ks, 2_000).await;
    let select = session
        .prepare(format!(
            "SELECT rowid, token(rowid) FROM {ks}.data WHERE token(rowid) >= ? AND token(rowid) <= ? LIMIT 100"
        ))
        .await
        .unwrap();
    // Four batches over the whole ring, each read as Capillaries does: pages of LIMIT rows,
    // the next page starting at the last token seen.
    let bounds = [i64::MIN, i64::MIN / 2, 0, i64::MAX / 2, i64::MAX];
    let mut all = Vec::new();
    for w in bounds.windows(2) {
        let (first, last) = (w[0], if w[1] == i64::MAX { w[1] } else { w[1] - 1 });
        let mut start = first;
        let mut seen_at_start: Vec<i64> = Vec::new();
        loop {
            let page: Vec<(i64, i64)> = session
                .execute_unpaged(&select, (start, last))
                .await
                .unwrap()
                .into_rows_result()
                .unwrap()
                .rows::<(i64, i64)>()
                .unwrap()
                .map(|r| r.unwrap())
                .collect();
            assert!(page.len() <= 100);
            let fresh: Vec<_> = page
                .iter()
                .filter(|(id, t)| !(*t == start && seen_at_start.contains(id)))
                .cloned()
                .collect();
            if fresh.is_empty() {
                break;
            }
            for (id, t) in &fresh {
                assert!(*t >= first && *t <= last);
                all.push(*id);
            }
            let last_token = fresh.last().unwrap().1;
            seen_at_start = page
                .iter()
                .filter(|r| r.1 == last_token)
                .map(|r| r.0)
                .collect();
            start = last_token;
        }
    }
    all.sort();
    assert_eq!(all, (0..2_000).collect::<Vec<_>>());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn insert_if_not_exists_racing_has_exactly_one_winner() {
    let (server, session, ks) = setup().await;
    exec(
        &session,
        &format!("CREATE TABLE {ks}.uniq (key text, rowid bigint, PRIMARY KEY ((key)))"),
    )
    .await;
    // Several sessions, so the racing requests arrive on different connections and are
    // served by different server tasks at the same time.
    let mut sessions = vec![std::sync::Arc::new(session)];
    for _ in 0..3 {
        let s = SessionBuilder::new()
            .known_node_addr(server.addr())
            .build()
            .await
            .unwrap();
        sessions.push(std::sync::Arc::new(s));
    }
    let statement = format!("INSERT INTO {ks}.uniq (key, rowid) VALUES (?, ?) IF NOT EXISTS");
    let mut prepared = Vec::new();
    for s in &sessions {
        prepared.push(s.prepare(statement.clone()).await.unwrap());
    }
    let session = sessions[0].clone();
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(32));
    let mut tasks = Vec::new();
    for i in 0..32i64 {
        let k = i as usize % sessions.len();
        let (session, insert) = (sessions[k].clone(), prepared[k].clone());
        let barrier = barrier.clone();
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            let res = session.execute_unpaged(&insert, ("k", i)).await.unwrap();
            let rows = res.into_rows_result().unwrap();
            let names: Vec<String> = rows
                .column_specs()
                .iter()
                .map(|c| c.name().to_string())
                .collect();
            if names.len() == 1 {
                let (applied,): (bool,) = rows.single_row().unwrap();
                (i, applied, None)
            } else {
                assert_eq!(names, ["[applied]", "key", "rowid"]);
                let (applied, key, rowid): (bool, String, i64) = rows.single_row().unwrap();
                assert_eq!(key, "k");
                (i, applied, Some(rowid))
            }
        }));
    }
    let mut results = Vec::new();
    for t in tasks {
        results.push(t.await.unwrap());
    }
    let winners: Vec<_> = results.iter().filter(|r| r.1).collect();
    assert_eq!(winners.len(), 1, "{results:?}");
    let winner = winners[0].0;
    for r in results.iter().filter(|r| !r.1) {
        assert_eq!(r.2, Some(winner), "losers see the winning row");
    }
    let stored: Vec<(i64,)> = rows(
        &session,
        &format!("SELECT rowid FROM {ks}.uniq WHERE key = 'k'"),
        (),
    )
    .await;
    assert_eq!(stored, vec![(winner,)]);
}

#[tokio::test]
async fn conditional_update_applies_only_when_the_condition_holds() {
    let (_server, session, ks) = setup().await;
    exec(
        &session,
        &format!("CREATE TABLE {ks}.wf_run_counter (ks text, last_run int, PRIMARY KEY ((ks)))"),
    )
    .await;
    let init: Vec<(bool,)> = rows(
        &session,
        &format!("INSERT INTO {ks}.wf_run_counter (ks, last_run) VALUES ('{ks}', 0) IF NOT EXISTS"),
        (),
    )
    .await;
    assert_eq!(init, vec![(true,)]);
    let update = session
        .prepare(format!(
            "UPDATE {ks}.wf_run_counter SET last_run = ? WHERE ks = ? IF last_run = ?"
        ))
        .await
        .unwrap();
    let ok: (bool,) = session
        .execute_unpaged(&update, (1i32, &ks, 0i32))
        .await
        .unwrap()
        .into_rows_result()
        .unwrap()
        .single_row()
        .unwrap();
    assert_eq!(ok, (true,));
    // A stale writer loses and is told the current value.
    let stale: (bool, Option<i32>) = session
        .execute_unpaged(&update, (1i32, &ks, 0i32))
        .await
        .unwrap()
        .into_rows_result()
        .unwrap()
        .single_row()
        .unwrap();
    assert_eq!(stale, (false, Some(1)));
    // A missing row never applies.
    let missing: Vec<(bool,)> = rows(
        &session,
        &format!("UPDATE {ks}.wf_run_counter SET last_run = 5 WHERE ks = 'nope' IF last_run = 0"),
        (),
    )
    .await;
    assert_eq!(missing, vec![(false,)]);
    let exists: Vec<(bool,)> = rows(
        &session,
        &format!("UPDATE {ks}.wf_run_counter SET last_run = 9 WHERE ks = '{ks}' IF EXISTS"),
        (),
    )
    .await;
    assert_eq!(exists, vec![(true,)]);
    // A plain UPDATE is an upsert.
    exec(
        &session,
        &format!("UPDATE {ks}.wf_run_counter SET last_run = 3 WHERE ks = 'new'"),
    )
    .await;
    let all: Vec<(String, i32)> = rows(
        &session,
        &format!("SELECT ks, last_run FROM {ks}.wf_run_counter"),
        (),
    )
    .await;
    let mut all = all;
    all.sort();
    let mut want = vec![(ks.clone(), 9), ("new".to_string(), 3)];
    want.sort();
    assert_eq!(all, want);
}

#[tokio::test]
async fn in_limit_clustering_order_and_deletes() {
    let (_server, session, ks) = setup().await;
    exec(
        &session,
        &format!("CREATE TABLE {ks}.nidx (key text, rowid bigint, PRIMARY KEY ((key), rowid))"),
    )
    .await;
    let insert = session
        .prepare(format!("INSERT INTO {ks}.nidx (key, rowid) VALUES (?, ?)"))
        .await
        .unwrap();
    for key in ["a", "b", "c"] {
        for rowid in [5i64, -3, 100, 0] {
            session
                .execute_unpaged(&insert, (key, rowid))
                .await
                .unwrap();
        }
    }
    // Clustering order inside a partition is ascending by value, negatives first.
    let got: Vec<(i64,)> = rows(
        &session,
        &format!("SELECT rowid FROM {ks}.nidx WHERE key = 'a'"),
        (),
    )
    .await;
    assert_eq!(got, vec![(-3,), (0,), (5,), (100,)]);
    let got: Vec<(i64,)> = rows(
        &session,
        &format!("SELECT rowid FROM {ks}.nidx WHERE key = 'a' AND rowid > 0 AND rowid <= 100"),
        (),
    )
    .await;
    assert_eq!(got, vec![(5,), (100,)]);
    // IN with a bound list and with a literal list.
    let got: Vec<(String, i64)> = rows(
        &session,
        &format!("SELECT key, rowid FROM {ks}.nidx WHERE key IN ?"),
        (vec!["a", "c", "zzz"],),
    )
    .await;
    assert_eq!(got.len(), 8);
    assert!(got.iter().all(|(k, _)| k == "a" || k == "c"));
    let got: Vec<(String,)> = rows(
        &session,
        &format!("SELECT key FROM {ks}.nidx WHERE key IN ('b', 'b')"),
        (),
    )
    .await;
    assert_eq!(
        got.len(),
        4,
        "a repeated IN value selects its partition once"
    );
    // LIMIT, literal and bound.
    let got: Vec<(String,)> =
        rows(&session, &format!("SELECT key FROM {ks}.nidx LIMIT 5"), ()).await;
    assert_eq!(got.len(), 5);
    let got: Vec<(String,)> = rows(
        &session,
        &format!("SELECT key FROM {ks}.nidx LIMIT ?"),
        (2i32,),
    )
    .await;
    assert_eq!(got.len(), 2);
    // Deletes: one row, a partition, partitions by IN.
    exec(
        &session,
        &format!("DELETE FROM {ks}.nidx WHERE key = 'a' AND rowid = 0"),
    )
    .await;
    let got: Vec<(i64,)> = rows(
        &session,
        &format!("SELECT rowid FROM {ks}.nidx WHERE key = 'a'"),
        (),
    )
    .await;
    assert_eq!(got, vec![(-3,), (5,), (100,)]);
    exec(&session, &format!("DELETE FROM {ks}.nidx WHERE key = 'b'")).await;
    session
        .query_unpaged(
            format!("DELETE FROM {ks}.nidx WHERE key IN ?"),
            (vec!["a"],),
        )
        .await
        .unwrap();
    let got: Vec<(String,)> = rows(&session, &format!("SELECT key FROM {ks}.nidx"), ()).await;
    assert_eq!(got, vec![("c".to_string(),); 4]);
    // An unlogged batch of deletes.
    let mut batch = Batch::new(BatchType::Unlogged);
    batch.append_statement(format!("DELETE FROM {ks}.nidx WHERE key = ? AND rowid = ?").as_str());
    batch.append_statement(
        format!("DELETE FROM {ks}.nidx WHERE key = 'c' AND rowid = 100").as_str(),
    );
    session.batch(&batch, (("c", -3i64), ())).await.unwrap();
    let got: Vec<(i64,)> = rows(
        &session,
        &format!("SELECT rowid FROM {ks}.nidx WHERE key = 'c'"),
        (),
    )
    .await;
    assert_eq!(got, vec![(0,), (5,)]);
}

#[tokio::test]
async fn schema_statements_follow_cassandra() {
    let (_server, session, ks) = setup().await;
    let create = format!("CREATE TABLE IF NOT EXISTS {ks}.t (k int, v text, PRIMARY KEY ((k)))");
    exec(&session, &create).await;
    exec(&session, &create).await;
    let err = session
        .query_unpaged(format!("CREATE TABLE {ks}.t (k int PRIMARY KEY)"), ())
        .await
        .unwrap_err();
    assert!(
        matches!(db_error(&err), Some((DbError::AlreadyExists { .. }, _))),
        "{err}"
    );
    session.use_keyspace(&ks, false).await.unwrap();
    exec(&session, "INSERT INTO t (k, v) VALUES (1, 'one')").await;
    let got: Vec<(String,)> = rows(&session, "SELECT v FROM t WHERE k = 1", ()).await;
    assert_eq!(got, vec![("one".to_string(),)]);
    let tables: Vec<(String,)> = rows(
        &session,
        "SELECT table_name FROM system_schema.tables WHERE keyspace_name = ?",
        (&ks,),
    )
    .await;
    assert_eq!(tables, vec![("t".to_string(),)]);
    exec(&session, &format!("DROP TABLE {ks}.t")).await;
    exec(&session, &format!("DROP TABLE IF EXISTS {ks}.t")).await;
    let err = session
        .query_unpaged("SELECT v FROM t", ())
        .await
        .unwrap_err();
    assert!(
        matches!(db_error(&err), Some((DbError::Invalid, _))),
        "{err}"
    );
    exec(&session, &format!("DROP KEYSPACE IF EXISTS {ks}")).await;
    exec(&session, &format!("DROP KEYSPACE IF EXISTS {ks}")).await;
    let names: Vec<(String,)> = rows(
        &session,
        "SELECT keyspace_name FROM system_schema.keyspaces",
        (),
    )
    .await;
    assert!(!names.contains(&(ks.clone(),)));
}

#[tokio::test]
async fn statements_outside_the_subset_are_errors() {
    let (_server, session, ks) = setup().await;
    exec(
        &session,
        &format!("CREATE TABLE {ks}.t (k int, c int, v text, PRIMARY KEY ((k), c))"),
    )
    .await;
    for (q, syntax) in [
        (format!("TRUNCATE {ks}.t"), true),
        (format!("SELECT max(v) FROM {ks}.t"), true),
        (
            format!("INSERT INTO {ks}.t (k, c, v) VALUES (1, 1, 'x') USING TTL 5"),
            true,
        ),
        (format!("SELECT * FROM {ks}.t ORDER BY c DESC"), true),
        (format!("CREATE INDEX ON {ks}.t (v)"), true),
        (format!("SELECT * FROM {ks}.t WHERE v = 'x'"), false),
        (format!("SELECT * FROM {ks}.t WHERE c = 1"), false),
        (format!("SELECT * FROM {ks}.t WHERE k > 1"), false),
        (format!("SELECT nope FROM {ks}.t"), false),
        (format!("INSERT INTO {ks}.t (k, v) VALUES (1, 'x')"), false),
        (format!("UPDATE {ks}.t SET v = 'x' WHERE k = 1"), false),
        (
            format!("INSERT INTO {ks}.t (k, c, v) VALUES ('one', 1, 'x')"),
            false,
        ),
        ("SELECT * FROM missing_ks.t".to_string(), false),
    ] {
        let err = session.query_unpaged(q.clone(), ()).await.unwrap_err();
        let (db, msg) = db_error(&err).unwrap_or_else(|| panic!("{q}: not a server error: {err}"));
        if syntax {
            assert_eq!(db, DbError::SyntaxError, "{q}: {msg}");
        } else {
            assert_eq!(db, DbError::Invalid, "{q}: {msg}");
        }
    }
    // Filtering is allowed when asked for.
    let got: Vec<(i32,)> = rows(
        &session,
        &format!("SELECT k FROM {ks}.t WHERE v = 'x' ALLOW FILTERING"),
        (),
    )
    .await;
    assert!(got.is_empty());
}

#[tokio::test]
async fn the_driver_reconnects_after_dropped_connections() {
    let (server, session, ks) = setup().await;
    exec(
        &session,
        &format!("CREATE TABLE {ks}.t (k int, v text, PRIMARY KEY ((k)))"),
    )
    .await;
    let insert = session
        .prepare(format!("INSERT INTO {ks}.t (k, v) VALUES (?, ?)"))
        .await
        .unwrap();
    session
        .execute_unpaged(&insert, (1i32, "before"))
        .await
        .unwrap();
    let accepted_before = server.connections_accepted();
    server.drop_connections();
    // The driver notices the closed connections and opens new ones; requests in between may
    // fail, then succeed again.
    let mut ok = false;
    for attempt in 0..100i32 {
        if session
            .execute_unpaged(&insert, (2 + attempt, "after"))
            .await
            .is_ok()
        {
            ok = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(ok, "the driver never reconnected");
    assert!(
        server.connections_accepted() > accepted_before,
        "the driver opened new connections"
    );
    let got: Vec<(String,)> =
        rows(&session, &format!("SELECT v FROM {ks}.t WHERE k = 1"), ()).await;
    assert_eq!(
        got,
        vec![("before".to_string(),)],
        "data survives dropped connections"
    );
}

#[tokio::test]
async fn workflow_tables_take_server_side_timestamps_and_table_options() {
    let (_server, session, ks) = setup().await;
    exec(
        &session,
        &format!(
            "CREATE TABLE IF NOT EXISTS {ks}.wf_run_history (ts timestamp, run_id int, status tinyint, comment text, PRIMARY KEY ((run_id), status)) WITH comment = 'run history'"
        ),
    )
    .await;
    let before = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let applied: Vec<(bool,)> = rows(
        &session,
        &format!(
            "INSERT INTO {ks}.wf_run_history (ts, run_id, status, comment) VALUES (toTimestamp(now()), ?, ?, ?) IF NOT EXISTS"
        ),
        (1i32, 2i8, "started"),
    )
    .await;
    assert_eq!(applied, vec![(true,)]);
    let after = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let got: Vec<(CqlTimestamp, i8, String)> = rows(
        &session,
        &format!("SELECT ts, status, comment FROM {ks}.wf_run_history WHERE run_id IN (1, 2)"),
        (),
    )
    .await;
    assert_eq!(got.len(), 1);
    assert!(got[0].0.0 >= before && got[0].0.0 <= after, "{got:?}");
    assert_eq!((got[0].1, got[0].2.as_str()), (2, "started"));
}

#[tokio::test]
async fn other_sessions_read_new_tables_from_system_schema() {
    let (server, session, ks) = setup().await;
    let other = SessionBuilder::new()
        .known_node_addr(server.addr())
        .build()
        .await
        .unwrap();
    exec(
        &session,
        &format!("CREATE TABLE {ks}.later (k bigint, c text, PRIMARY KEY ((k), c))"),
    )
    .await;
    // The driver batches SCHEMA_CHANGE events into its periodic refresh; ask for one now.
    other.refresh_metadata().await.unwrap();
    let state = other.get_cluster_state();
    let table = &state
        .get_keyspace(&ks)
        .expect("keyspace in metadata")
        .tables["later"];
    assert_eq!(table.partition_key, vec!["k".to_string()]);
    assert_eq!(table.clustering_key, vec!["c".to_string()]);
    let token = state.compute_token(&ks, "later", &(5i64,)).unwrap();
    assert_eq!(
        token.value(),
        vessel_cql_testserver::token(&5i64.to_be_bytes())
    );
}

#[tokio::test]
async fn the_driver_prepares_again_when_the_server_forgot() {
    let (server, session, ks) = setup().await;
    exec(
        &session,
        &format!("CREATE TABLE {ks}.t (k int, v text, PRIMARY KEY ((k)))"),
    )
    .await;
    let insert = session
        .prepare(format!("INSERT INTO {ks}.t (k, v) VALUES (?, ?)"))
        .await
        .unwrap();
    session.execute_unpaged(&insert, (1i32, "a")).await.unwrap();
    server.forget_prepared_statements();
    // The server answers "unprepared"; the driver prepares again and retries by itself.
    session.execute_unpaged(&insert, (2i32, "b")).await.unwrap();
    let count: Vec<(i64,)> = rows(&session, &format!("SELECT COUNT(*) FROM {ks}.t"), ()).await;
    assert_eq!(count, vec![(2,)]);
}

#[tokio::test]
async fn the_other_types_round_trip_too() {
    let (_server, session, ks) = setup().await;
    exec(
        &session,
        &format!(
            "CREATE TABLE {ks}.more (id uuid, si smallint, f float, a ascii, ip inet, PRIMARY KEY ((id), si))"
        ),
    )
    .await;
    type More = (uuid::Uuid, i16, Option<f32>, Option<String>, Option<IpAddr>);
    let rows_in: Vec<More> = vec![
        (
            uuid::Uuid::from_u128(0x0123_4567_89ab_cdef_0123_4567_89ab_cdef),
            -300,
            Some(1.25),
            Some("plain".into()),
            Some(IpAddr::from([10, 0, 0, 1])),
        ),
        (
            uuid::Uuid::from_u128(0x0123_4567_89ab_cdef_0123_4567_89ab_cdef),
            7,
            Some(f32::MIN_POSITIVE),
            None,
            Some(IpAddr::from([0u16, 0, 0, 0, 0, 0, 0, 1])),
        ),
    ];
    let insert = session
        .prepare(format!(
            "INSERT INTO {ks}.more (id, si, f, a, ip) VALUES (?, ?, ?, ?, ?)"
        ))
        .await
        .unwrap();
    for r in &rows_in {
        session.execute_unpaged(&insert, r.clone()).await.unwrap();
    }
    let got: Vec<More> = rows(
        &session,
        &format!("SELECT id, si, f, a, ip FROM {ks}.more WHERE id = ?"),
        (rows_in[0].0,),
    )
    .await;
    assert_eq!(got, rows_in, "clustered by smallint, -300 first");
    let non_ascii = session
        .query_unpaged(
            format!("INSERT INTO {ks}.more (id, si, a) VALUES (?, 1, ?)"),
            (rows_in[0].0, "é"),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(db_error(&non_ascii), Some((DbError::Invalid, _))),
        "{non_ascii}"
    );
}
