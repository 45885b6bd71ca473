//! CSV inputs that used to load silently wrong (a quote never closed, an empty file where a
//! header is expected) fail their batch naming file and line; a `top` writer over its memory
//! budget spills to disk and writes the same file as in memory.

use crate::support::{batch_history, s, vessel, vessel_ok};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

fn script(dir: &Path) -> PathBuf {
    let p = dir.join("load.yaml");
    let text = r#"
nodes:
  load_items:
    type: file_table
    r:
      urls: ["good.csv", "bad.csv"]
      csv: {hdr_line_idx: 0, first_data_line_idx: 1}
      columns:
        col_id: {csv: {col_hdr: id, col_format: "%d"}, col_type: int}
        col_name: {csv: {col_hdr: name}, col_type: string}
        col_amount: {csv: {col_hdr: amount, col_format: "%f"}, col_type: decimal2}
    w:
      name: items
      fields:
        id: {expression: r.col_id, type: int}
        name: {expression: r.col_name, type: string}
        amount: {expression: r.col_amount, type: decimal2}
  dump_items:
    type: table_file
    r: {table: items}
    w:
      url_template: "out/items.csv"
      top: {order: "amount(desc),name,id"}
      columns:
        - {name: id, type: int, expression: r.id, csv: {header: id, format: "%d"}}
        - {name: name, type: string, expression: r.name, csv: {header: name, format: "%s"}}
        - {name: amount, type: decimal2, expression: r.amount, csv: {header: amount, format: "%s"}}
"#;
    std::fs::write(&p, text).unwrap();
    p
}

fn rows(from: usize, to: usize) -> String {
    let mut t = String::from("id,amount,name\n");
    for i in from..to {
        // Few distinct amounts and names: the sort decides most rows by the last key, id.
        writeln!(t, "{i},{}.50,n{}", i % 13, i % 7).unwrap();
    }
    t
}

/// Runs the script in a fresh keyspace; returns (exit code, stdout + stderr).
fn run(dir: &Path, ks: &str, extra: &[&str]) -> (Option<i32>, String) {
    let script = script(dir);
    let data = dir.join("data");
    let mut args = vec!["run", s(&script), "--keyspace", ks, "--data-dir", s(&data)];
    args.extend_from_slice(extra);
    let out = vessel(&args);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code(), text)
}

fn load_status(ks: &str, dir: &Path, batch: i64) -> String {
    batch_history(ks, &dir.join("data"), "load_items")
        .iter()
        .filter(|b| b["batch_idx"] == batch)
        .map(|b| b["status"].as_str().unwrap().to_string())
        .next_back()
        .unwrap()
}

#[test]
fn unclosed_quote_fails_its_batch_naming_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("good.csv"), rows(0, 3)).unwrap();
    // Before the fix, the quote on line 4 took the 2,000 lines after it into the name of one
    // row and the run succeeded with 3 rows from this file.
    let mut bad = rows(3, 5);
    bad.push_str("5,1.00,\"open\n");
    bad.push_str(&rows(6, 2006).replacen("id,amount,name\n", "", 1));
    std::fs::write(dir.path().join("bad.csv"), bad).unwrap();
    let (code, text) = run(dir.path(), "quote", &[]);
    assert_eq!(code, Some(1), "{text}");
    assert!(
        text.contains("bad.csv line 4: a quoted field opens here and is never closed"),
        "{text}"
    );
    assert_eq!(load_status("quote", dir.path(), 0), "Success");
    assert_eq!(load_status("quote", dir.path(), 1), "Fail");
}

#[test]
fn empty_file_where_a_header_is_expected_fails_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("good.csv"), rows(0, 3)).unwrap();
    std::fs::write(dir.path().join("bad.csv"), "").unwrap();
    let (code, text) = run(dir.path(), "empty", &[]);
    assert_eq!(code, Some(1), "{text}");
    assert!(
        text.contains("bad.csv: the file is empty, but the reader expects a header line"),
        "{text}"
    );
    assert_eq!(load_status("empty", dir.path(), 1), "Fail");
}

#[test]
fn top_writer_over_a_tiny_memory_budget_writes_the_same_file() {
    let in_memory = tempfile::tempdir().unwrap();
    let spilled = tempfile::tempdir().unwrap();
    for dir in [&in_memory, &spilled] {
        std::fs::write(dir.path().join("good.csv"), rows(0, 30_000)).unwrap();
        std::fs::write(dir.path().join("bad.csv"), rows(30_000, 60_000)).unwrap();
    }
    let script = |d: &tempfile::TempDir| script(d.path());
    let run_ok = |d: &tempfile::TempDir, extra: &[&str]| {
        let sc = script(d);
        let data = d.path().join("data");
        let mut args = vec!["run", s(&sc), "--keyspace", "top", "--data-dir", s(&data)];
        args.extend_from_slice(extra);
        vessel_ok(&args);
        std::fs::read_to_string(d.path().join("out/items.csv")).unwrap()
    };
    let want = run_ok(&in_memory, &[]);
    // 1 MiB for the process: a few hundred KiB per batch, far below the 60,000 rows.
    let got = run_ok(&spilled, &["--memory-budget", "1"]);
    assert_eq!(want.lines().count(), 60_001);
    assert!(got == want, "the spilled sort wrote another file");
    // The spill files are gone.
    let left: Vec<_> = std::fs::read_dir(spilled.path().join("out"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(left, vec![std::ffi::OsString::from("items.csv")]);
}
