//! Capillaries `lookup` quick test, one-run and multi-run, against the baselines.

use crate::support::{assert_same_file, s, vessel_ok, write_params};
use std::path::Path;

pub(crate) const OUTPUTS: [&str; 4] = [
    "order_item_date_inner",
    "order_item_date_left_outer",
    "order_date_value_grouped_inner",
    "order_date_value_grouped_left_outer",
];

pub(crate) fn params(dir: &Path, manual: &str) -> std::path::PathBuf {
    let data = vessel_tests::capillaries_data();
    let out = dir.join("out");
    std::fs::create_dir_all(&out).unwrap();
    write_params(
        dir,
        &format!("params_{manual}.yaml"),
        &format!(
            "start_date: \"2016-01-01 00:00:00\"\n\
             end_date: \"2018-12-31 23:23:59\"\n\
             default_shipping_limit_date: \"1980-02-03T04:05:06.777+00:00\"\n\
             default_order_item_id: \"999\"\n\
             default_order_item_value: \"999.00\"\n\
             lookup_node_batches_total: 10\n\
             manual_if_multi: {manual}\n\
             dir_in: {}\n\
             dir_out: {}\n",
            s(&data.join("in/lookup")),
            s(&out)
        ),
    )
}

pub(crate) fn script() -> std::path::PathBuf {
    vessel_tests::project_root().join("tests/conformance/lookup/script_quick.yaml")
}

fn compare(dir: &Path) {
    let base = vessel_tests::capillaries_data().join("out/lookup");
    for name in OUTPUTS {
        assert_same_file(
            &base.join(format!("{name}_baseline.csv")),
            &dir.join(format!("out/{name}.csv")),
        );
    }
}

/// The one-run form; `cache_mb` sets the in-memory lookup tables (`"0"`: every lookup reads
/// the store).
fn one_run(ks: &str, cache_mb: &str) {
    let dir = tempfile::tempdir().unwrap();
    let p = params(dir.path(), "auto");
    let data = dir.path().join("data");
    let out = vessel_ok(&[
        "run",
        s(&script()),
        "--params",
        s(&p),
        "--keyspace",
        ks,
        "--data-dir",
        s(&data),
        "--start-nodes",
        "read_orders,read_order_items",
        "--workers",
        "4",
        "--lookup-cache-mb",
        cache_mb,
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("complete"), "{stdout}");
    compare(dir.path());
}

#[test]
fn lookup_one_run_matches_baselines() {
    one_run("lookup_quick_one", "1024");
}

#[test]
fn lookup_through_storage_matches_baselines() {
    one_run("lookup_quick_store", "0");
}

#[test]
fn lookup_multi_run_matches_baselines() {
    let dir = tempfile::tempdir().unwrap();
    let p = params(dir.path(), "manual");
    let data = dir.path().join("data");
    let common = |start: &str| {
        vessel_ok(&[
            "run",
            s(&script()),
            "--params",
            s(&p),
            "--keyspace",
            "lookup_quick_multi",
            "--data-dir",
            s(&data),
            "--start-nodes",
            start,
            "--json",
        ])
    };
    let run1 = common("read_orders,read_order_items");
    let summary: serde_json::Value = serde_json::from_slice(&run1.stdout).unwrap();
    let nodes: Vec<&str> = summary["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["node"].as_str().unwrap())
        .collect();
    assert_eq!(nodes.len(), 2, "run 1 only loads: {nodes:?}");
    for name in OUTPUTS {
        assert!(!dir.path().join(format!("out/{name}.csv")).exists());
    }
    let run2 = common(&OUTPUTS.join(","));
    let summary: serde_json::Value = serde_json::from_slice(&run2.stdout).unwrap();
    assert_eq!(summary["run_id"], 2);
    assert_eq!(summary["nodes"].as_array().unwrap().len(), 8);
    compare(dir.path());
}
