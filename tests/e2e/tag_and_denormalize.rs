//! Capillaries `tag_and_denormalize` test, one-run and multi-run, against the baselines: the
//! tagging runs in the built-in Wasm plugin.

use crate::support::{s, vessel_ok, write_params};
use std::path::{Path, PathBuf};

pub(crate) fn script_dir() -> PathBuf {
    vessel_tests::project_root().join("tests/conformance/tag_and_denormalize")
}

pub(crate) fn params(dir: &Path, totals: &str) -> PathBuf {
    let out = dir.join("out");
    std::fs::create_dir_all(&out).unwrap();
    write_params(
        dir,
        &format!("params_{totals}.yaml"),
        &format!(
            "totals_start_policy: {totals}\nurl_suffix: \"\"\ndir_cfg: {}\ndir_in: {}\ndir_out: {}\n",
            s(&script_dir()),
            s(&vessel_tests::capillaries_data().join("in/tag_and_denormalize")),
            s(&out)
        ),
    )
}

/// Lines without a trailing CR, as `diff -b` compares them.
fn lines_b(p: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    text.lines()
        .map(|l| l.trim_end_matches('\r').to_string())
        .collect()
}

pub(crate) fn compare(out: &Path) {
    let base = vessel_tests::capillaries_data().join("out/tag_and_denormalize");
    // Totals: written in `top` order; compared line by line ignoring the header's CR.
    assert_eq!(
        lines_b(&out.join("tag_totals.tsv")),
        lines_b(&base.join("tag_totals_baseline.tsv")),
        "tag_totals.tsv differs from the baseline"
    );
    // Review file: unordered. The driver byte-sorts the whole file, header included
    // (LC_ALL=C sort), then compares with `diff -b`: the baseline's header ends with CRLF (it
    // comes from a newer upstream writer than the lookup baselines, whose headers end with LF),
    // so a trailing CR is ignored, as for the totals.
    let review = std::fs::read(out.join("tagged_products_for_operator_review.csv")).unwrap();
    assert!(
        review.ends_with(b"\n"),
        "the review file does not end with a newline"
    );
    let mut lines: Vec<&[u8]> = review[..review.len() - 1].split(|b| *b == b'\n').collect();
    lines.sort_unstable();
    let sorted: Vec<String> = lines
        .iter()
        .map(|l| {
            String::from_utf8_lossy(l)
                .trim_end_matches('\r')
                .to_string()
        })
        .collect();
    let want = lines_b(&base.join("tagged_products_for_operator_review_baseline.csv"));
    assert_eq!(
        sorted.len(),
        want.len(),
        "line count of the sorted review file"
    );
    for (i, (a, b)) in sorted.iter().zip(&want).enumerate() {
        assert_eq!(a, b, "sorted review file differs at line {}", i + 1);
    }
}

fn run(dir: &Path, params: &Path, ks: &str, start: &str) -> serde_json::Value {
    let out = vessel_ok(&[
        "run",
        s(&script_dir().join("script.yaml")),
        "--params",
        s(params),
        "--keyspace",
        ks,
        "--data-dir",
        s(&dir.join("data")),
        "--start-nodes",
        start,
        "--json",
    ]);
    serde_json::from_slice(&out.stdout).expect("JSON summary")
}

#[test]
fn tag_and_denormalize_one_run_matches_baselines() {
    let dir = tempfile::tempdir().unwrap();
    let p = params(dir.path(), "auto");
    let summary = run(dir.path(), &p, "tag_one", "read_tags,read_products");
    assert_eq!(summary["nodes"].as_array().unwrap().len(), 6, "{summary}");
    let tagged = summary["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["node"] == "tag_products")
        .expect("tag_products ran");
    assert_eq!(tagged["rows_in"], 11362, "{tagged}");
    assert_eq!(tagged["rows_out"], 1493, "{tagged}");
    compare(&dir.path().join("out"));
}

#[test]
fn tag_and_denormalize_multi_run_matches_baselines() {
    let dir = tempfile::tempdir().unwrap();
    let p = params(dir.path(), "manual");
    let run1 = run(dir.path(), &p, "tag_multi", "read_tags,read_products");
    assert_eq!(run1["nodes"].as_array().unwrap().len(), 4, "{run1}");
    assert!(!dir.path().join("out/tag_totals.tsv").exists());
    let run2 = run(dir.path(), &p, "tag_multi", "tag_totals");
    assert_eq!(run2["run_id"], 2);
    assert_eq!(run2["nodes"].as_array().unwrap().len(), 2, "{run2}");
    compare(&dir.path().join("out"));
}
