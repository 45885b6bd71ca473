//! The `vessel` binary's argument handling. (Having an integration test here also makes
//! `cargo test --workspace` build the binary that the end-to-end suite in `tests/` runs.)

use std::process::Command;

fn vessel(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_vessel"))
        .args(args)
        .output()
        .expect("vessel runs")
}

#[test]
fn help_lists_the_subcommands() {
    let out = vessel(&["--help"]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for cmd in ["run", "validate", "history", "stop-run"] {
        assert!(text.contains(cmd), "{cmd} missing from:\n{text}");
    }
}

#[test]
fn resume_without_keyspace_is_a_usage_error() {
    let out = vessel(&["run", "--resume"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--keyspace"));
}

#[test]
fn missing_script_names_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope.yaml");
    let out = vessel(&[
        "run",
        missing.to_str().unwrap(),
        "--data-dir",
        dir.path().join("data").to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("nope.yaml"));
}

#[test]
fn validate_reports_every_mistake() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("s.json");
    std::fs::write(
        &p,
        r#"{"nodes": {
  "a": {"type": "table_table", "r": {"table": "missing"},
        "w": {"name": "t", "fields": {"x": {"expression": "r.y +", "type": "int"}}}},
  "b": {"type": "table_table", "r": {"table": "t"},
        "w": {"name": "u", "fields": {"x": {"expression": "r.x", "type": "string"}}}}
}}"#,
    )
    .unwrap();
    let out = vessel(&["validate", p.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("node 'a'") && err.contains("missing"), "{err}");
    assert!(err.contains("node 'b'"), "{err}");
}

#[test]
fn a_closed_stdout_ends_the_command_quietly() {
    // `vessel validate ... | head -0`: the reader is gone before anything is written.
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("s.json");
    std::fs::write(&p, "id\n1\n").unwrap();
    let script = dir.path().join("script.json");
    std::fs::write(
        &script,
        r#"{"nodes": {"load": {"type": "file_table",
  "r": {"urls": ["s.json"], "csv": {"hdr_line_idx": 0, "first_data_line_idx": 1},
        "columns": {"col_id": {"csv": {"col_hdr": "id", "col_format": "%d"}, "col_type": "int"}}},
  "w": {"name": "t", "fields": {"id": {"expression": "r.col_id", "type": "int"}}}}}}"#,
    )
    .unwrap();
    for format in ["text", "dot"] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_vessel"))
            .args(["validate", script.to_str().unwrap(), "--format", format])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("vessel runs");
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!err.contains("panicked"), "{format}: {err}");
        assert_eq!(out.status.code(), Some(0), "{format}: {err}");
    }
}

#[test]
fn validate_prints_unknown_keys_as_warnings() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("script.json");
    std::fs::write(
        &script,
        r#"{"nodes": {"load": {"type": "file_table", "descr": "typo of desc",
  "r": {"urls": ["in.csv"], "csv": {"hdr_line_idx": 0, "first_data_line_idx": 1},
        "columns": {"col_id": {"csv": {"col_hdr": "id", "col_format": "%d"}, "col_type": "int"}}},
  "w": {"name": "t", "fields": {"id": {"expression": "r.col_id", "type": "int"}}}}}}"#,
    )
    .unwrap();
    let out = vessel(&["validate", script.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(err.contains("warning") && err.contains("descr"), "{err}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("1 warning"));
}
