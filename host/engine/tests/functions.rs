//! Expressions calling plugin functions (`ns.fn(args)`) in a whole run: writer fields of a
//! table node and columns of a file node, nested calls, per-namespace limits, and plugin
//! failures that fail only their own batch.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use vessel_engine::{RunRequest, RunSummary};
use vessel_store::RunStatus;

/// Rows `1..=n`: `id`, `n` (= id) and `s` (`w<id>`).
fn write_input(dir: &Path, n: i64) {
    let mut csv = String::from("id,n,s\n");
    for i in 1..=n {
        csv.push_str(&format!("{i},{i},w{i}\n"));
    }
    std::fs::write(dir.join("in.csv"), csv).unwrap();
}

/// `load` → `calc` (table_table over 2 batches, `fields`) → `dump` (file columns).
fn write_script(dir: &Path, functions: &str, fields: &str, columns: &str) -> PathBuf {
    let component = vessel_wasm_artifacts::FUNCTIONS.replace('\\', "/");
    let functions = functions.replace("COMPONENT", &component);
    let script = format!(
        r#"{{
  "functions": {functions},
  "nodes": {{
    "load": {{"type": "file_table",
      "r": {{"urls": ["in.csv"], "csv": {{"hdr_line_idx": 0, "first_data_line_idx": 1}},
        "columns": {{
          "col_id": {{"csv": {{"col_hdr": "id", "col_format": "%d"}}, "col_type": "int"}},
          "col_n": {{"csv": {{"col_hdr": "n", "col_format": "%d"}}, "col_type": "int"}},
          "col_s": {{"csv": {{"col_hdr": "s"}}, "col_type": "string"}}}}}},
      "w": {{"name": "t", "fields": {{
        "id": {{"expression": "r.col_id", "type": "int"}},
        "n": {{"expression": "r.col_n", "type": "int"}},
        "s": {{"expression": "r.col_s", "type": "string"}}}}}}}},
    "calc": {{"type": "table_table",
      "r": {{"table": "t", "expected_batches_total": 2}},
      "w": {{"name": "calced", "fields": {{{fields}}}}}}},
    "dump": {{"type": "table_file", "r": {{"table": "calced"}},
      "w": {{"url_template": "out.csv", "top": {{"order": "id(asc)"}},
        "columns": [{columns}]}}}}
  }}
}}"#
    );
    let p = dir.join("script.json");
    std::fs::write(&p, script).unwrap();
    p
}

/// Runs every node of the script on two workers; returns the summary.
async fn run(script: &Path, data: &Path) -> Result<RunSummary, String> {
    let (engine, queue, _stop) = common::engine_with_workers(data).await;
    let req = RunRequest::new("ks", script, None, &["load", "calc", "dump"]);
    let run_id = engine.start_run(&req).await.map_err(|e| e.to_string())?;
    for _ in 0..3000 {
        let st = engine.run_status("ks", run_id).await.unwrap();
        if st != RunStatus::Start && queue.counts() == (0, 0) {
            queue.close();
            return Ok(engine.summary("ks", run_id).await.unwrap());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("run {run_id} did not finish");
}

fn node<'s>(s: &'s RunSummary, name: &str) -> &'s vessel_engine::NodeSummary {
    s.nodes.iter().find(|n| n.node == name).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writer_fields_and_file_columns_call_plugin_functions() {
    let dir = tempfile::tempdir().unwrap();
    // More rows than one call takes, so that a batch makes several calls per call site.
    let rows = 10_000;
    write_input(dir.path(), rows);
    let script = write_script(
        dir.path(),
        r#"{"t": {"component": "COMPONENT"}}"#,
        r#""id": {"expression": "r.id", "type": "int"},
           "n2": {"expression": "t.add_one(r.n) * 2", "type": "int"},
           "up": {"expression": "t.upper(r.s + \"!\")", "type": "string"},
           "nested": {"expression": "t.add_one(t.add_one(r.n) + 10)", "type": "int"}"#,
        r#"{"name": "id", "type": "int", "expression": "r.id", "csv": {"header": "id", "format": "%d"}},
           {"name": "n2", "type": "int", "expression": "r.n2", "csv": {"header": "n2", "format": "%d"}},
           {"name": "up", "type": "string", "expression": "t.upper(r.up) + \"?\"", "csv": {"header": "up", "format": "%s"}},
           {"name": "nested", "type": "int", "expression": "r.nested", "csv": {"header": "nested", "format": "%d"}}"#,
    );
    let summary = run(&script, &dir.path().join("data")).await.unwrap();
    assert!(summary.all_ok(), "{summary:?}");
    assert_eq!(node(&summary, "calc").rows_out, rows as u64);
    let out = std::fs::read_to_string(dir.path().join("out.csv")).unwrap();
    let mut want = String::from("id,n2,up,nested\n");
    for i in 1..=rows {
        want.push_str(&format!("{i},{},W{i}!?,{}\n", (i + 1) * 2, i + 12));
    }
    assert_eq!(out, want);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_function_fails_its_batch_only() {
    let dir = tempfile::tempdir().unwrap();
    // Rows get their storage tokens in runs of 64, so 1000 rows land in both batches.
    write_input(dir.path(), 1000);
    // `boom` panics on 13: the batch holding id 13 fails, the other one is written.
    let script = write_script(
        dir.path(),
        r#"{"t": "COMPONENT"}"#,
        r#""id": {"expression": "r.id", "type": "int"},
           "b": {"expression": "t.boom(r.n)", "type": "int"}"#,
        r#"{"name": "id", "type": "int", "expression": "r.id", "csv": {"header": "id", "format": "%d"}}"#,
    );
    let summary = run(&script, &dir.path().join("data")).await.unwrap();
    let calc = node(&summary, "calc");
    assert_eq!(calc.status, "fail", "{summary:?}");
    assert_eq!((calc.batches_total, calc.batches_ok), (2, 1), "{summary:?}");
    let err = calc.error.as_deref().unwrap_or_default();
    for part in ["node 'calc'", "w.fields.b", "boom", "13 is unlucky"] {
        assert!(err.contains(part), "'{part}' missing from: {err}");
    }
    assert!(calc.rows_out > 0 && calc.rows_out < 1000, "{summary:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_function_that_never_returns_times_out_at_its_namespace_deadline() {
    let dir = tempfile::tempdir().unwrap();
    write_input(dir.path(), 4);
    let script = write_script(
        dir.path(),
        r#"{"t": {"component": "COMPONENT", "limits": {"timeout_ms": 300}}}"#,
        r#""id": {"expression": "r.id", "type": "int"},
           "x": {"expression": "t.spin(r.n)", "type": "int"}"#,
        r#"{"name": "id", "type": "int", "expression": "r.id", "csv": {"header": "id", "format": "%d"}}"#,
    );
    let started = Instant::now();
    let summary = run(&script, &dir.path().join("data")).await.unwrap();
    let calc = node(&summary, "calc");
    assert_eq!(calc.status, "fail", "{summary:?}");
    let err = calc.error.as_deref().unwrap_or_default();
    assert!(err.contains("spin") && err.contains("300 ms"), "{err}");
    // Both batches hit the deadline, in parallel; the whole run (with loading and compiling
    // the component) stays far from the 5 s default.
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_functions_are_reported_when_the_run_starts() {
    let dir = tempfile::tempdir().unwrap();
    write_input(dir.path(), 2);
    let script = write_script(
        dir.path(),
        r#"{"t": "COMPONENT"}"#,
        r#""id": {"expression": "t.add_one(r.n, 2)", "type": "int"},
           "y": {"expression": "t.lower(r.s)", "type": "string"}"#,
        r#"{"name": "id", "type": "int", "expression": "r.id", "csv": {"header": "id", "format": "%d"}}"#,
    );
    let err = run(&script, &dir.path().join("data")).await.unwrap_err();
    assert!(
        err.contains("w.fields.id.expression: column 1: t.add_one() takes 1 argument (int), got 2"),
        "{err}"
    );
    assert!(
        err.contains("has no function 'lower'; it offers: add_one(int) int, upper(string) string"),
        "{err}"
    );
    let bad = write_script(
        dir.path(),
        r#"{"t": "missing.wasm"}"#,
        r#""id": {"expression": "r.id", "type": "int"}"#,
        r#"{"name": "id", "type": "int", "expression": "r.id", "csv": {"header": "id", "format": "%d"}}"#,
    );
    let err = run(&bad, &dir.path().join("data")).await.unwrap_err();
    assert!(
        err.contains("functions.t.component: no function plugin 'missing.wasm'"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn left_lookups_call_functions_and_unmatched_rows_take_defaults() {
    let dir = tempfile::tempdir().unwrap();
    write_input(dir.path(), 3000);
    let component = vessel_wasm_artifacts::FUNCTIONS.replace('\\', "/");
    // Left: every row; right: the even ids. Odd rows have no match: `up` reads l.* and takes
    // its default without calling the plugin, `next` does not and is computed.
    let script = format!(
        r#"{{
  "functions": {{"t": "{component}"}},
  "nodes": {{
    "load": {{"type": "file_table",
      "r": {{"urls": ["in.csv"], "csv": {{"hdr_line_idx": 0, "first_data_line_idx": 1}},
        "columns": {{
          "col_id": {{"csv": {{"col_hdr": "id", "col_format": "%d"}}, "col_type": "int"}},
          "col_s": {{"csv": {{"col_hdr": "s"}}, "col_type": "string"}}}}}},
      "w": {{"name": "t", "fields": {{
        "id": {{"expression": "r.col_id", "type": "int"}},
        "s": {{"expression": "r.col_s", "type": "string"}}}}}}}},
    "evens": {{"type": "table_table", "r": {{"table": "t"}},
      "w": {{"name": "evens", "having": "w.id % 2 == 0", "fields": {{
        "id": {{"expression": "r.id", "type": "int"}},
        "s": {{"expression": "r.s", "type": "string"}}}},
        "indexes": {{"idx_evens_id": "unique(id)"}}}}}},
    "join": {{"type": "table_lookup_table",
      "r": {{"table": "t", "expected_batches_total": 2}},
      "l": {{"index_name": "idx_evens_id", "join_on": "r.id", "join_type": "left"}},
      "w": {{"name": "joined", "fields": {{
        "id": {{"expression": "r.id", "type": "int"}},
        "up": {{"expression": "t.upper(l.s)", "type": "string", "default_value": "none"}},
        "next": {{"expression": "t.add_one(r.id)", "type": "int"}}}}}}}},
    "dump": {{"type": "table_file", "r": {{"table": "joined"}},
      "w": {{"url_template": "out.csv", "top": {{"order": "id(asc)"}},
        "columns": [
          {{"name": "id", "type": "int", "expression": "r.id", "csv": {{"header": "id", "format": "%d"}}}},
          {{"name": "up", "type": "string", "expression": "r.up", "csv": {{"header": "up", "format": "%s"}}}},
          {{"name": "next", "type": "int", "expression": "r.next", "csv": {{"header": "next", "format": "%d"}}}}]}}}}
  }}
}}"#
    );
    let path = dir.path().join("lookup.json");
    std::fs::write(&path, script).unwrap();
    let storage_dir = dir.path().join("data");
    let (engine, queue, _stop) = common::engine_with_workers(&storage_dir).await;
    let req = RunRequest::new("ks", &path, None, &["load", "evens", "join", "dump"]);
    let run_id = engine.start_run(&req).await.unwrap();
    for _ in 0..3000 {
        let st = engine.run_status("ks", run_id).await.unwrap();
        if st != vessel_store::RunStatus::Start && queue.counts() == (0, 0) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    queue.close();
    let summary = engine.summary("ks", run_id).await.unwrap();
    assert!(summary.all_ok(), "{summary:?}");
    let out = std::fs::read_to_string(dir.path().join("out.csv")).unwrap();
    let mut want = String::from("id,up,next\n");
    for i in 1..=3000 {
        let up = if i % 2 == 0 {
            format!("W{i}")
        } else {
            "none".to_string()
        };
        want.push_str(&format!("{i},{up},{}\n", i + 1));
    }
    assert_eq!(out, want);
}
