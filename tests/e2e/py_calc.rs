//! Capillaries `py_calc` test against both baselines: the Python calculations run in the
//! built-in py_calc plugin (a componentize-py component), the Go-expression twin natively.
//!
//! The py_calc component is built with the `vessel` binary and embedded in it; the first run
//! compiles it to native code (7-20 s), cached in `target/<profile>/e2e-cache`, so later runs
//! take seconds.

use crate::support::{s, write_params};
use std::path::{Path, PathBuf};
use std::process::Command;

pub(crate) fn script_dir() -> PathBuf {
    vessel_tests::project_root().join("tests/conformance/py_calc")
}

/// Compiled components survive across test runs here.
pub(crate) fn cache_dir() -> PathBuf {
    vessel_tests::vessel_bin()
        .parent()
        .expect("the vessel binary has a folder")
        .join("e2e-cache")
}

/// Lines without a trailing CR or trailing blanks, as `diff -b` compares them.
fn lines_b(text: &str) -> Vec<String> {
    text.lines().map(|l| l.trim_end().to_string()).collect()
}

/// The driver's merge (spec §3.4): header of the `_00000` file, then the data lines of both
/// per-batch files in byte order; compared with the baseline as `diff -b` would.
pub(crate) fn compare(out: &Path, which: &str) {
    let read = |batch: &str| {
        let p = out.join(format!("taxed_order_items_{which}_{batch}.csv"));
        std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
    };
    let (first, second) = (read("00000"), read("00001"));
    let header = first.lines().next().expect("a header line").to_string();
    let mut data: Vec<&str> = first
        .lines()
        .skip(1)
        .chain(second.lines().skip(1))
        .collect();
    data.sort_unstable();
    let mut merged = vec![header];
    merged.extend(data.iter().map(|l| l.to_string()));
    let merged = lines_b(&merged.join("\n"));
    let base = vessel_tests::capillaries_data().join(format!(
        "out/py_calc/taxed_order_items_{which}_baseline.csv"
    ));
    let want = lines_b(&std::fs::read_to_string(&base).unwrap());
    assert_eq!(
        merged.len(),
        want.len(),
        "line count of merged taxed_order_items_{which}"
    );
    for (i, (a, b)) in merged.iter().zip(&want).enumerate() {
        assert_eq!(
            a,
            b,
            "merged taxed_order_items_{which} differs at line {}",
            i + 1
        );
    }
}

#[test]
fn py_calc_matches_both_baselines() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    std::fs::create_dir_all(&out).unwrap();
    let params = write_params(
        dir.path(),
        "params.yaml",
        &format!(
            "dir_in: {}\ndir_out: {}\ndir_py: {}\n",
            s(&vessel_tests::capillaries_data().join("in/py_calc")),
            s(&out),
            s(&script_dir().join("py"))
        ),
    );
    let run = Command::new(vessel_tests::vessel_bin())
        .args([
            "run",
            s(&script_dir().join("script.yaml")),
            "--params",
            s(&params),
            "--keyspace",
            "py_calc",
            "--data-dir",
            s(&dir.path().join("data")),
            "--start-nodes",
            "read_order_items",
            "--json",
        ])
        .env("VESSEL_LOG", "warn")
        .env("VESSEL_CACHE_DIR", cache_dir())
        .output()
        .expect("vessel runs");
    assert!(
        run.status.success(),
        "vessel run failed with {:?}\nstdout:\n{}\nstderr:\n{}",
        run.status,
        String::from_utf8_lossy(&run.stdout),
        String::from_utf8_lossy(&run.stderr)
    );
    let summary: serde_json::Value = serde_json::from_slice(&run.stdout).expect("JSON summary");
    let nodes = summary["nodes"].as_array().expect("nodes");
    assert_eq!(nodes.len(), 5, "{summary}");
    let py = nodes
        .iter()
        .find(|n| n["node"] == "taxed_order_items_py")
        .expect("taxed_order_items_py ran");
    assert_eq!(py["rows_in"], 1100, "{py}");
    assert_eq!(py["rows_out"], 1100, "{py}");
    // Python first, then Go, as upstream's driver.
    compare(&out, "py");
    compare(&out, "go");
}
