//! Plugin templates: `vessel plugin new` → `vessel plugin build` → the component in a
//! pipeline (processors) or under `vessel plugin test` (functions).

use crate::support::{s, vessel, vessel_ok};
use std::path::Path;

/// Creates and builds a Rust plugin from a template; returns the component's path.
fn new_and_build(dir: &Path, name: &str, kind: &str, target: &Path) -> std::path::PathBuf {
    let project = dir.join(name);
    vessel_ok(&[
        "plugin",
        "new",
        name,
        "--lang",
        "rust",
        "--kind",
        kind,
        "--dir",
        s(&project),
    ]);
    let out = std::process::Command::new(vessel_tests::vessel_bin())
        .args(["plugin", "build", s(&project)])
        .env("VESSEL_PLUGIN_TARGET_DIR", target)
        .output()
        .expect("vessel runs");
    assert!(
        out.status.success(),
        "vessel plugin build {name}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let wasm = project.join(format!("{name}.wasm"));
    assert!(wasm.is_file(), "{} was not built", wasm.display());
    wasm
}

fn pipeline(dir: &Path, proc_type: &str, component: &Path, params: &str, fields: &str) -> String {
    std::fs::write(
        dir.join("items.csv"),
        "id,qty,name\n1,3,apple\n2,5,banana\n3,7,cherry\n",
    )
    .unwrap();
    let script = format!(
        r#"{{"nodes": {{
  "load": {{"type": "file_table",
    "r": {{"urls": ["items.csv"], "csv": {{"hdr_line_idx": 0, "first_data_line_idx": 1}},
      "columns": {{
        "col_id": {{"csv": {{"col_hdr": "id", "col_format": "%d"}}, "col_type": "int"}},
        "col_qty": {{"csv": {{"col_hdr": "qty", "col_format": "%d"}}, "col_type": "int"}},
        "col_name": {{"csv": {{"col_hdr": "name"}}, "col_type": "string"}}}}}},
    "w": {{"name": "items", "fields": {{
      "id": {{"expression": "r.col_id", "type": "int"}},
      "qty": {{"expression": "r.col_qty", "type": "int"}},
      "name": {{"expression": "r.col_name", "type": "string"}}}}}}}},
  "calc": {{"type": "table_custom_tfm_table", "custom_proc_type": "{proc_type}",
    "r": {{"table": "items", "expected_batches_total": 2}},
    "p": {{"component": "{component}", {params}}},
    "w": {{"name": "calced", "fields": {{{fields}}}}}}},
  "out": {{"type": "table_file", "r": {{"table": "calced"}},
    "w": {{"url_template": "out.csv", "top": {{"order": "id(asc)"}},
      "columns": [
        {{"name": "id", "type": "int", "expression": "r.id", "csv": {{"header": "id", "format": "%d"}}}},
        {{"name": "v", "type": "string", "expression": "r.v", "csv": {{"header": "v", "format": "%s"}}}}]}}}}
}}}}"#,
        component = s(component)
    );
    let p = dir.join(format!("{proc_type}.json"));
    std::fs::write(&p, script).unwrap();
    let out = vessel(&["run", s(&p), "--data-dir", s(&dir.join("data"))]);
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::read_to_string(dir.join("out.csv")).unwrap()
}

#[test]
fn rust_templates_build_and_run() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("target");

    let map = new_and_build(dir.path(), "times", "map", &target);
    let out = pipeline(
        dir.path(),
        "times",
        &map,
        r#""field": "qty", "factor": 10"#,
        r#""id": {"expression": "r.id", "type": "int"},
            "v": {"expression": "fmt.Sprintf(\"%d\", p.result)", "type": "string"}"#,
    );
    assert_eq!(out, "id,v\n1,30\n2,50\n3,70\n");

    let filter = new_and_build(dir.path(), "only-an", "filter", &target);
    let out = pipeline(
        dir.path(),
        "only-an",
        &filter,
        r#""field": "name", "contains": "an""#,
        r#""id": {"expression": "r.id", "type": "int"},
            "v": {"expression": "r.name", "type": "string"}"#,
    );
    assert_eq!(out, "id,v\n2,banana\n");

    let functions = new_and_build(dir.path(), "texts", "function", &target);
    std::fs::write(dir.path().join("sample.csv"), "word,n\nab,1\ncd,41\n").unwrap();
    let out = vessel_ok(&[
        "plugin",
        "test",
        s(&functions),
        "--input",
        s(&dir.path().join("sample.csv")),
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("upper(ab) = AB"), "{text}");
    assert!(text.contains("add_one(41) = 42"), "{text}");
}
