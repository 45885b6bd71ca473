//! A node that stops answering (here: a proxy in front of the CQL test server that holds every
//! byte while frozen) makes calls fail as unavailable within the time limit, including the
//! preparation of statements, which the driver itself does not bound; once the node answers
//! again, the same storage works.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use vessel_core::{FieldType, RowSet, Schema, Value};
use vessel_store::{Storage, StoreError, TableDef, WriteMode};
use vessel_store_cassandra::{CassandraConfig, CassandraStorage};

/// Copies bytes from `r` to `w`, holding them while `frozen` is set.
async fn pump(
    mut r: tokio::net::tcp::OwnedReadHalf,
    mut w: tokio::net::tcp::OwnedWriteHalf,
    frozen: Arc<AtomicBool>,
) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match r.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        while frozen.load(Ordering::SeqCst) {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        if w.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}

async fn freezing_proxy(backend: SocketAddr, frozen: Arc<AtomicBool>) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let Ok(server) = tokio::net::TcpStream::connect(backend).await else {
                continue;
            };
            let (cr, cw) = client.into_split();
            let (sr, sw) = server.into_split();
            tokio::spawn(pump(cr, sw, frozen.clone()));
            tokio::spawn(pump(sr, cw, frozen.clone()));
        }
    });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_that_stops_answering_fails_calls_in_time_and_is_used_again_after() {
    let server = vessel_cql_testserver::TestServer::start().await.unwrap();
    let frozen = Arc::new(AtomicBool::new(false));
    let proxy = freezing_proxy(server.addr(), frozen.clone()).await;
    let mut cfg = CassandraConfig::new(vec![proxy.to_string()]);
    cfg.request_timeout = Duration::from_millis(400);
    let storage = CassandraStorage::connect(cfg).await.unwrap();
    let ks = storage.open_keyspace("frozen", true).await.unwrap();
    let def = TableDef {
        name: "t".into(),
        run_id: 1,
        schema: Arc::new(Schema::new(vec![("v".into(), FieldType::Int)])),
        indexes: Vec::new(),
    };
    ks.create_table(&def).await.unwrap();
    let mut rows = RowSet::new(def.schema.clone());
    rows.push_row(vec![Value::Int(7)]);

    frozen.store(true, Ordering::SeqCst);
    // Statements this process has not prepared yet: the preparation itself meets the freeze.
    let started = Instant::now();
    let e = ks
        .write_rows(&def, 0, &rows, &[], WriteMode::Normal)
        .await
        .expect_err("a write to a frozen node fails");
    assert!(matches!(e, StoreError::Unavailable(_)), "{e:?}");
    let e = ks
        .count_rows(&def.table_ref())
        .await
        .expect_err("a read of a frozen node fails");
    assert!(matches!(e, StoreError::Unavailable(_)), "{e:?}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "calls to a frozen node took {:?}",
        started.elapsed()
    );

    frozen.store(false, Ordering::SeqCst);
    // The storage works again (the driver may need a moment to trust its connections).
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match ks.write_rows(&def, 0, &rows, &[], WriteMode::Normal).await {
            Ok(_) => break,
            Err(e) if Instant::now() < deadline => {
                assert!(matches!(e, StoreError::Unavailable(_)), "{e:?}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("the storage did not recover: {e:?}"),
        }
    }
    assert!(ks.count_rows(&def.table_ref()).await.unwrap() >= 1);
}
