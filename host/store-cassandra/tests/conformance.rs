//! The shared storage conformance suite against the Cassandra backend: on the CQL test server
//! always, and on a real Cassandra or ScyllaDB node when `VESSEL_TEST_CASSANDRA=host:port`
//! names one.

use std::io::Write as _;
use std::sync::Arc;
use vessel_store::Storage;
use vessel_store_cassandra::{CassandraConfig, CassandraStorage};

/// The real node to test against, if one is named.
fn real_node() -> Option<String> {
    std::env::var("VESSEL_TEST_CASSANDRA")
        .ok()
        .filter(|v| !v.trim().is_empty())
}

async fn storage_at(hosts: Vec<String>) -> Arc<dyn Storage> {
    let mut cfg = CassandraConfig::new(hosts);
    cfg.consistency = scylla::statement::Consistency::One;
    let s = CassandraStorage::connect(cfg).await.expect("connect");
    Arc::new(s)
}

macro_rules! conformance_tests {
    ($($check:ident),* $(,)?) => {
        mod on_test_server {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $check() {
                    let server = vessel_cql_testserver::TestServer::start().await.expect("server");
                    let storage = super::storage_at(vec![server.addr().to_string()]).await;
                    vessel_store::conformance::$check(storage, "cq").await;
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

/// The whole suite against a real node, when `VESSEL_TEST_CASSANDRA=host:port` names one.
/// Without it, this says so on the terminal (past the test harness's capture), once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn on_real_node() {
    let Some(node) = real_node() else {
        let _ = writeln!(
            std::io::stderr(),
            "note: the Cassandra conformance suite ran on the CQL test server only; the \
             real-node run was skipped because VESSEL_TEST_CASSANDRA is not set (set it to the \
             host:port of a Cassandra or ScyllaDB node to run the suite there too)"
        );
        return;
    };
    let storage = storage_at(vec![node]).await;
    vessel_store::conformance::run_all(storage, "vt").await;
}
