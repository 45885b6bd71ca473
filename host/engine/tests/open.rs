//! Hostile processors inside `open`, through the engine: every misbehaviour the sandbox tests
//! give a batch (printing and floods, panics, traps, endless loops and sleeps, memory bombs,
//! reaching for files, the environment, sockets and the clock), given to `open` instead. A
//! plugin is opened twice in a run's life: when the run starts (the script is validated,
//! which opens each node's plugin) and when a worker takes the node's first batch. Both paths
//! run here on a multi-threaded runtime, as `vessel run` does; each misbehaviour must end in a
//! clear error naming node and plugin (or, for output and probes, in a normal run), never in a
//! host panic or a run that does not end.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;
use vessel_engine::{NodeSummary, RunRequest, RunSummary};
use vessel_store::RunStatus;

/// `load` (ids 1..=4) → `proc` (the evil guest with `params` and `limits`) → `dump`
/// (`out.csv`: `n`, `result`).
fn write_script(dir: &Path, params: &str, limits: &str) -> PathBuf {
    std::fs::write(dir.join("in.csv"), "n\n1\n2\n3\n4\n").unwrap();
    let component = vessel_wasm_artifacts::EVIL.replace('\\', "/");
    let script = format!(
        r#"{{
  "nodes": {{
    "load": {{"type": "file_table",
      "r": {{"urls": ["in.csv"], "csv": {{"hdr_line_idx": 0, "first_data_line_idx": 1}},
        "columns": {{"col_n": {{"csv": {{"col_hdr": "n", "col_format": "%d"}}, "col_type": "int"}}}}}},
      "w": {{"name": "t", "fields": {{"n": {{"expression": "r.col_n", "type": "int"}}}}}}}},
    "proc": {{"type": "table_custom_tfm_table", "custom_proc_type": "evil",
      "r": {{"table": "t", "expected_batches_total": 2}},
      "p": {{"component": "{component}", {params}}},
      "limits": {{{limits}}},
      "w": {{"name": "t2", "fields": {{
        "n": {{"expression": "r.n", "type": "int"}},
        "result": {{"expression": "p.result", "type": "string"}}}}}}}},
    "dump": {{"type": "table_file", "r": {{"table": "t2"}},
      "w": {{"url_template": "out.csv", "top": {{"order": "n(asc)"}},
        "columns": [
          {{"name": "n", "type": "int", "expression": "r.n", "csv": {{"header": "n", "format": "%d"}}}},
          {{"name": "result", "type": "string", "expression": "r.result", "csv": {{"header": "result", "format": "%s"}}}}]}}}}
  }}
}}"#
    );
    let p = dir.join("script.json");
    std::fs::write(&p, script).unwrap();
    p
}

/// Starts every node of the script on two workers and waits for the run to end. `Err` is the
/// refusal of `start_run`.
async fn run(script: &Path, data: &Path) -> Result<RunSummary, String> {
    let (engine, queue, _stop) = common::engine_with_workers(data).await;
    let req = RunRequest::new("ks", script, None, &["load", "proc", "dump"]);
    let started = engine.start_run(&req).await;
    let run_id = match started {
        Ok(id) => id,
        Err(e) => {
            queue.close();
            return Err(e.to_string());
        }
    };
    // A generous bound: it only tells a run that ends from one that hangs.
    for _ in 0..6000 {
        let st = engine.run_status("ks", run_id).await.unwrap();
        if st != RunStatus::Start && queue.counts() == (0, 0) {
            queue.close();
            return Ok(engine.summary("ks", run_id).await.unwrap());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("run {run_id} did not end");
}

fn node<'s>(s: &'s RunSummary, name: &str) -> &'s NodeSummary {
    s.nodes.iter().find(|n| n.node == name).unwrap()
}

/// The `result` column of `out.csv`.
fn results(dir: &Path) -> Vec<String> {
    let out = std::fs::read_to_string(dir.join("out.csv")).unwrap();
    let mut lines = out.lines();
    assert_eq!(lines.next(), Some("n,result"), "{out}");
    let results: Vec<String> = lines
        .map(|l| l.split_once(',').unwrap().1.to_string())
        .collect();
    assert_eq!(results.len(), 4, "{out}");
    results
}

/// Misbehaviours that must fail the plugin's `open`: (mode, node limits, what the error
/// says besides node and plugin).
const FAILING: &[(&str, &str, &[&str])] = &[
    ("panic", "", &["crashed", "boom in open of node proc"]),
    ("trap", "", &["crashed", "unreachable"]),
    ("stack_overflow", "", &["crashed"]),
    (
        "loop",
        r#""open_timeout_ms": 300"#,
        &["did not finish within 300 ms", "open_timeout_ms"],
    ),
    (
        "sleep",
        r#""open_timeout_ms": 300"#,
        &["did not finish within 300 ms", "open_timeout_ms"],
    ),
    (
        "memory_bomb",
        r#""memory_mb": 32"#,
        &["ran out of memory (limit 32 MiB per instance)"],
    ),
];

fn assert_names_the_failure(err: &str, mode: &str, parts: &[&str]) {
    for part in ["node 'proc'", "plugin 'evil'"].iter().chain(parts) {
        assert!(err.contains(part), "{mode}: '{part}' missing from: {err}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plugin_failing_every_open_is_refused_when_the_run_starts() {
    for (mode, limits, parts) in FAILING {
        let dir = tempfile::tempdir().unwrap();
        let script = write_script(dir.path(), &format!(r#""open": "{mode}""#), limits);
        let err = run(&script, &dir.path().join("data"))
            .await
            .expect_err(mode);
        assert_names_the_failure(&err, mode, parts);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plugin_failing_the_runs_open_fails_its_node_and_the_run_ends() {
    for (mode, limits, parts) in FAILING {
        let dir = tempfile::tempdir().unwrap();
        let params = format!(r#""open": "{mode}", "open_in": "run""#);
        let script = write_script(dir.path(), &params, limits);
        let summary = run(&script, &dir.path().join("data"))
            .await
            .unwrap_or_else(|e| panic!("{mode}: the run was refused: {e}"));
        let proc = node(&summary, "proc");
        assert_eq!(proc.status, "fail", "{mode}: {summary:?}");
        assert_eq!(proc.batches_ok, 0, "{mode}: {summary:?}");
        assert_names_the_failure(proc.error.as_deref().unwrap_or_default(), mode, parts);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn printing_in_open_is_captured_and_the_run_succeeds() {
    for (mode, result) in [
        ("stdout", "ok"),
        ("stderr", "ok"),
        ("stdout_flood", "ok"),
        ("stderr_flood", "ok"),
        ("log_flood", "flooded"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let script = write_script(dir.path(), &format!(r#""open": "{mode}""#), "");
        let summary = run(&script, &dir.path().join("data"))
            .await
            .unwrap_or_else(|e| panic!("{mode}: {e}"));
        assert!(summary.all_ok(), "{mode}: {summary:?}");
        assert_eq!(results(dir.path()), vec![result; 4], "{mode}");
    }
}

/// Whether a probe's result is what the sandbox should have shown the guest.
type Expected = Box<dyn Fn(&str) -> bool>;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_environment_sockets_and_clock_are_out_of_reach_in_open() {
    let denied = |parts: usize| {
        move |r: &str| {
            let found: Vec<&str> = r.split("; ").collect();
            found.len() == parts && found.iter().all(|p| p.starts_with("denied: "))
        }
    };
    let cases: [(&str, Expected); 4] = [
        ("read_file", Box::new(denied(3))),
        ("tcp", Box::new(denied(2))),
        ("env", Box::new(|r: &str| r == "vars=0 home=- args=0")),
        (
            "clock",
            Box::new(|r: &str| r == "wall=0 step=1000 slept=1001000"),
        ),
    ];
    for (mode, expected) in cases {
        let dir = tempfile::tempdir().unwrap();
        let script = write_script(dir.path(), &format!(r#""open": "{mode}""#), "");
        let summary = run(&script, &dir.path().join("data"))
            .await
            .unwrap_or_else(|e| panic!("{mode}: {e}"));
        assert!(summary.all_ok(), "{mode}: {summary:?}");
        for r in results(dir.path()) {
            assert!(expected(&r), "{mode}: the guest saw {r}");
        }
    }
}
