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
