//! The CQL test server driven by the real `scylla` driver.

use std::sync::atomic::{AtomicUsize, Ordering};

use scylla::client::session::Session;
use scylla::client::session_builder::SessionBuilder;
use vessel_cql_testserver::TestServer;

static KEYSPACE_SEQ: AtomicUsize = AtomicUsize::new(0);

/// A server, a session connected to it with default settings, and a fresh keyspace.
async fn setup() -> (TestServer, Session, String) {
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
