//! Distributed runs on the Cassandra backend: two `vessel daemon` processes on the real
//! RabbitMQ and a Cassandra store (the CQL test server, or the real node
//! `VESSEL_TEST_CASSANDRA` names), runs started with `vessel start-run` and followed with
//! `vessel wait`, outputs compared with Capillaries' baselines.

use crate::cluster::{
    Broker, CqlStore, Daemon, StoreUrl, batches, in_progress, open_store, start_run, successes,
    wait,
};
use crate::support::{assert_same_file, reference_run, s, vessel};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use vessel_store::NodeStatus;

/// Rows of the crash workload here: enough for 40 batches of 500 rows.
const CRASH_ROWS: usize = 20_000;

fn crash_setup(dir: &Path) -> PathBuf {
    crate::workload::setup_rows(dir, CRASH_ROWS)
}

/// Two daemons with two worker slots each on `store`.
fn two_daemons(broker: &Broker, store: &CqlStore, logs: &Path, extra: &[&str]) -> Vec<Daemon> {
    let mut args = vec!["--workers", "2"];
    args.extend_from_slice(extra);
    vec![
        Daemon::start(broker, store, logs, &args),
        Daemon::start(broker, store, logs, &args),
    ]
}

/// `vessel wait` must end with exit 0; the daemons' logs explain a failure.
fn wait_ok(store: &CqlStore, ks: &str, run: i32, daemons: &[Daemon]) -> String {
    let (code, out, err) = wait(store, ks, run, true);
    let logs: Vec<String> = daemons.iter().map(Daemon::log_text).collect();
    assert_eq!(code, Some(0), "{out}\n{err}\n{}", logs.join("\n----\n"));
    out
}

/// Every daemon took part.
fn both_worked(store_events: &[vessel_store::BatchEvent], daemons: &[Daemon]) {
    for d in daemons {
        assert!(
            store_events.iter().any(|e| e.instance == d.instance),
            "daemon {} processed no batch",
            d.instance
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn lookup_through_two_daemons_on_cassandra_matches_baselines() {
    let store = CqlStore::start();
    let broker = Broker::new("cql-lookup");
    let dir = tempfile::tempdir().unwrap();
    let daemons = two_daemons(&broker, &store, &dir.path().join("logs"), &[]);
    let params = crate::lookup::params(dir.path(), "auto");
    let ks = format!("lookup_cql_{}", std::process::id());
    let run = start_run(
        &broker,
        &store,
        &crate::lookup::script(),
        Some(&params),
        &ks,
        Some("read_orders,read_order_items"),
    );
    let out = wait_ok(&store, &ks, run, &daemons);
    let base = vessel_tests::capillaries_data().join("out/lookup");
    for name in crate::lookup::OUTPUTS {
        assert_same_file(
            &base.join(format!("{name}_baseline.csv")),
            &dir.path().join(format!("out/{name}.csv")),
        );
    }
    let summary: serde_json::Value = serde_json::from_str(&out).unwrap();
    let mut events = Vec::new();
    for node in summary["nodes"].as_array().unwrap() {
        let name = node["node"].as_str().unwrap();
        events.extend(batches(&store, &ks, run, name).await);
    }
    both_worked(&events, &daemons);
}

#[tokio::test(flavor = "multi_thread")]
async fn tag_and_denormalize_through_two_daemons_on_cassandra_matches_baselines() {
    let store = CqlStore::start();
    let broker = Broker::new("cql-tag");
    let dir = tempfile::tempdir().unwrap();
    let daemons = two_daemons(&broker, &store, &dir.path().join("logs"), &[]);
    let params = crate::tag_and_denormalize::params(dir.path(), "auto");
    let ks = format!("tag_cql_{}", std::process::id());
    let run = start_run(
        &broker,
        &store,
        &crate::tag_and_denormalize::script_dir().join("script.yaml"),
        Some(&params),
        &ks,
        Some("read_tags,read_products"),
    );
    let out = wait_ok(&store, &ks, run, &daemons);
    let summary: serde_json::Value = serde_json::from_str(&out).unwrap();
    let tagged = summary["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["node"] == "tag_products")
        .cloned()
        .expect("tag_products ran");
    assert_eq!(tagged["rows_in"], 11362, "{tagged}");
    assert_eq!(tagged["rows_out"], 1493, "{tagged}");
    crate::tag_and_denormalize::compare(&dir.path().join("out"));
}

#[tokio::test(flavor = "multi_thread")]
async fn py_calc_through_two_daemons_on_cassandra_matches_baselines() {
    let store = CqlStore::start();
    let broker = Broker::new("cql-py");
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    std::fs::create_dir_all(&out).unwrap();
    let cache = crate::py_calc::cache_dir();
    let daemons = two_daemons(
        &broker,
        &store,
        &dir.path().join("logs"),
        &["--cache-dir", s(&cache)],
    );
    let params = crate::support::write_params(
        dir.path(),
        "params.yaml",
        &format!(
            "dir_in: {}\ndir_out: {}\ndir_py: {}\n",
            s(&vessel_tests::capillaries_data().join("in/py_calc")),
            s(&out),
            s(&crate::py_calc::script_dir().join("py"))
        ),
    );
    let ks = format!("py_cql_{}", std::process::id());
    let run = start_run(
        &broker,
        &store,
        &crate::py_calc::script_dir().join("script.yaml"),
        Some(&params),
        &ks,
        Some("read_order_items"),
    );
    wait_ok(&store, &ks, run, &daemons);
    crate::py_calc::compare(&out, "py");
    crate::py_calc::compare(&out, "go");
}

/// A daemon killed while it holds a batch, and every connection to the store dropped once
/// during the same node: the run completes, every row is written exactly once, and the output
/// is the one an undisturbed run writes.
#[tokio::test(flavor = "multi_thread")]
async fn a_killed_daemon_and_dropped_connections_lose_nothing_on_cassandra() {
    let reference = reference_run(crash_setup, "crash");
    let store = CqlStore::start();
    let broker = Broker::new("cql-kill");
    let dir = tempfile::tempdir().unwrap();
    let script = crash_setup(dir.path());
    let logs = dir.path().join("logs");
    let mut daemons = vec![
        Daemon::start(&broker, &store, &logs, &["--workers", "1"]),
        Daemon::start(&broker, &store, &logs, &["--workers", "1"]),
    ];
    let ks = format!("crash_cql_{}", std::process::id());
    let run = start_run(&broker, &store, &script, None, &ks, None);

    // Drop every connection once node `enrich` has done a few batches.
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        assert!(
            Instant::now() < deadline,
            "node enrich never got to batch 3"
        );
        if successes(&batches(&store, &ks, run, "enrich").await) >= 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let accepted = store.connections_accepted();
    let dropped = store.drop_connections();

    // Then kill a daemon that holds a batch.
    let victim = loop {
        assert!(
            Instant::now() < deadline,
            "no daemon was seen holding a batch"
        );
        let ev = batches(&store, &ks, run, "enrich").await;
        if let Some((_, instance)) = in_progress(&ev).into_iter().next()
            && let Some(pos) = daemons.iter().position(|d| d.instance == instance)
        {
            break pos;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    let mut dead = daemons.remove(victim);
    dead.kill();

    wait_ok(&store, &ks, run, &daemons);
    assert_same_file(
        &reference.path().join("out/enriched.csv"),
        &dir.path().join("out/enriched.csv"),
    );
    crate::workload::assert_rows_in(&store, &ks, run, CRASH_ROWS).await;
    if dropped {
        assert!(
            store.connections_accepted() > accepted,
            "nobody reconnected after the connections were dropped"
        );
    }
    // Every batch the killed daemon left unfinished was redone by the survivor.
    let ev = batches(&store, &ks, run, "enrich").await;
    for e in ev
        .iter()
        .filter(|e| e.instance == dead.instance && e.status == NodeStatus::Start)
    {
        let finished = |who: &str| {
            ev.iter()
                .any(|o| o.batch_idx == e.batch_idx && o.instance == who && o.status.is_terminal())
        };
        if !finished(&dead.instance) {
            assert!(
                ev.iter().any(|o| o.batch_idx == e.batch_idx
                    && o.instance == daemons[0].instance
                    && o.status == NodeStatus::Success),
                "batch {} of the killed daemon was not redone",
                e.batch_idx
            );
        }
    }
}

/// `vessel table-cql` prints statements the cluster accepts: executed one by one, they create
/// the keyspace with the workflow tables and the tables of the affected nodes, and a run then
/// works in that keyspace.
#[tokio::test(flavor = "multi_thread")]
async fn table_cql_creates_a_schema_that_runs_use() {
    let store = CqlStore::start();
    let ks = format!("precreated_{}", std::process::id());
    let script = crate::lookup::script();
    let dir = tempfile::tempdir().unwrap();
    let params = crate::lookup::params(dir.path(), "auto");
    let out = vessel(&[
        "table-cql",
        s(&script),
        "--params",
        s(&params),
        "--keyspace",
        &ks,
        "--start-nodes",
        "read_orders,read_order_items,",
    ]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let statements: Vec<&str> = text
        .split(";\n")
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    assert!(
        statements[0].starts_with("CREATE KEYSPACE IF NOT EXISTS"),
        "{text}"
    );
    for t in [
        "wf_run_history",
        "wf_batch_writes",
        "orders_00001",
        "idx_orders_order_id_to_check_uniq_00001",
    ] {
        assert!(
            text.contains(&format!("\"{t}\"")) || text.contains(&format!(".{t} ")),
            "no {t}:\n{text}"
        );
    }

    // Executed with the driver, as an operator would with cqlsh.
    let session = scylla::client::session_builder::SessionBuilder::new()
        .known_node(
            store
                .store_url()
                .trim_start_matches("cassandra://")
                .split('/')
                .next()
                .unwrap(),
        )
        .build()
        .await
        .unwrap();
    for st in &statements {
        session
            .query_unpaged(st.to_string(), ())
            .await
            .unwrap_or_else(|e| panic!("{st}: {e}"));
    }
    let storage = open_store(&store.store_url()).await.unwrap();
    assert!(storage.list_keyspaces().await.unwrap().contains(&ks));
    let k = storage.open_keyspace(&ks, false).await.unwrap();
    let tables = k.list_tables().await.unwrap();
    assert!(tables.contains(&"orders_00001".to_string()), "{tables:?}");
    // The first run of the keyspace uses the tables made ahead.
    assert_eq!(k.next_run_id().await.unwrap(), 1);
}

/// A bad store URL or an unreachable cluster is said plainly, naming the URL without its
/// password.
#[test]
fn bad_cassandra_settings_are_named() {
    let out = vessel(&[
        "history",
        "runs",
        "--keyspace",
        "nothing",
        "--store",
        "cassandra://u:hunter2@127.0.0.1:1/?consistancy=one",
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("did you mean 'consistency'"), "{err}");
    assert!(!err.contains("hunter2"), "{err}");

    let out = vessel(&[
        "history",
        "runs",
        "--keyspace",
        "nothing",
        "--store",
        "cassandra://u:hunter2@127.0.0.1:1/?connect_timeout=500ms",
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("cannot connect to Cassandra at cassandra://u:***@127.0.0.1:1/"),
        "{err}"
    );
    assert!(!err.contains("hunter2"), "{err}");
}
