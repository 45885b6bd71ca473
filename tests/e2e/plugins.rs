//! Plugin templates of every language: `vessel plugin new` → `vessel plugin build` → the
//! component in a pipeline: processors as a `table_custom_tfm_table` node, functions called
//! from a `table_table` node's expressions (and under `vessel plugin test`).
//!
//! Python and JavaScript components take tens of seconds to build and 8-18 s each for
//! wasmtime's first compile, so these tests keep both in `target/<profile>/e2e-cache`
//! (`VESSEL_CACHE_DIR`, shared with the py_calc test): a later run with unchanged templates
//! and SDKs reuses the built components and their compiled code. The first JavaScript build
//! installs componentize-js there with npm.

use crate::support::{s, vessel_env_ok, vessel_ok};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Creates and builds a Rust plugin from a template; returns the component's path.
///
/// The build runs as the docs show it, from the parent folder with relative paths
/// (`vessel plugin build NAME --target-dir shared-target`); `shared-target` links to `target`
/// so that the plugins' dependencies are compiled once across tests.
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
    let link = dir.join("shared-target");
    if !link.exists() {
        std::fs::create_dir_all(target).unwrap();
        std::os::unix::fs::symlink(target, &link).unwrap();
    }
    let out = std::process::Command::new(vessel_tests::vessel_bin())
        .args(["plugin", "build", name, "--target-dir", "shared-target"])
        .current_dir(dir)
        .env_remove("VESSEL_PLUGIN_TARGET_DIR")
        .output()
        .expect("vessel runs");
    assert!(
        out.status.success(),
        "vessel plugin build {name}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let wasm = project.join(format!("{name}.wasm"));
    assert!(wasm.is_file(), "{} was not built", wasm.display());
    assert!(
        !project.join(name).exists(),
        "the build wrote into {}/{name}: a relative path was resolved against the project",
        project.display()
    );
    wasm
}

/// Runs a script that loads `items.csv` (id, qty, name, price), passes it through the plugin
/// and writes `id` and `v` (a `string` field computed by `fields`) to `out.csv`; returns that
/// file. `env` is added to `vessel run`'s environment.
fn pipeline(
    dir: &Path,
    proc_type: &str,
    component: &Path,
    params: &str,
    fields: &str,
    env: &[(&str, &Path)],
) -> String {
    let calc = format!(
        r#"{{"type": "table_custom_tfm_table", "custom_proc_type": "{proc_type}",
    "r": {{"table": "items", "expected_batches_total": 2}},
    "p": {{"component": "{component}", {params}}},
    "w": {{"name": "calced", "fields": {{{fields}}}}}}}"#,
        component = s(component)
    );
    run_script(dir, proc_type, "{}", &calc, env)
}

/// The same script with a `table_table` node calling the function plugin's `upper` and
/// `add_one` (declared as namespace `fx`) in its expressions.
fn functions_pipeline(dir: &Path, name: &str, component: &Path, env: &[(&str, &Path)]) -> String {
    let functions = format!(r#"{{"fx": "{}"}}"#, s(component));
    let calc = r#"{"type": "table_table",
    "r": {"table": "items", "expected_batches_total": 2},
    "w": {"name": "calced", "fields": {
      "id": {"expression": "r.id", "type": "int"},
      "v": {"expression": "fx.upper(r.name) + \"-\" + string(fx.add_one(fx.add_one(r.qty)))", "type": "string"}}}}"#;
    run_script(dir, name, &functions, calc, env)
}

/// Load `items.csv` → `calc` → `out.csv` (`id`, `v`), run with `vessel run`.
fn run_script(
    dir: &Path,
    name: &str,
    functions: &str,
    calc: &str,
    env: &[(&str, &Path)],
) -> String {
    std::fs::write(
        dir.join("items.csv"),
        "id,qty,name,price\n1,3,apple,10.00\n2,5,banana,3.33\n3,7,cherry,0.01\n",
    )
    .unwrap();
    let script = format!(
        r#"{{"functions": {functions},
  "nodes": {{
  "load": {{"type": "file_table",
    "r": {{"urls": ["items.csv"], "csv": {{"hdr_line_idx": 0, "first_data_line_idx": 1}},
      "columns": {{
        "col_id": {{"csv": {{"col_hdr": "id", "col_format": "%d"}}, "col_type": "int"}},
        "col_qty": {{"csv": {{"col_hdr": "qty", "col_format": "%d"}}, "col_type": "int"}},
        "col_name": {{"csv": {{"col_hdr": "name"}}, "col_type": "string"}},
        "col_price": {{"csv": {{"col_hdr": "price", "col_format": "%f"}}, "col_type": "decimal2"}}}}}},
    "w": {{"name": "items", "fields": {{
      "id": {{"expression": "r.col_id", "type": "int"}},
      "qty": {{"expression": "r.col_qty", "type": "int"}},
      "name": {{"expression": "r.col_name", "type": "string"}},
      "price": {{"expression": "r.col_price", "type": "decimal2"}}}}}}}},
  "calc": {calc},
  "out": {{"type": "table_file", "r": {{"table": "calced"}},
    "w": {{"url_template": "out.csv", "top": {{"order": "id(asc)"}},
      "columns": [
        {{"name": "id", "type": "int", "expression": "r.id", "csv": {{"header": "id", "format": "%d"}}}},
        {{"name": "v", "type": "string", "expression": "r.v", "csv": {{"header": "v", "format": "%s"}}}}]}}}}
}}}}"#
    );
    let p = dir.join(format!("{name}.json"));
    std::fs::write(&p, script).unwrap();
    let mut run = Command::new(vessel_tests::vessel_bin());
    run.args(["run", s(&p), "--data-dir", s(&dir.join("data"))])
        .env("VESSEL_LOG", "warn");
    for (k, v) in env {
        run.env(k, v);
    }
    let out = run.output().expect("vessel runs");
    assert!(
        out.status.success(),
        "vessel run {name}: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::read_to_string(dir.join("out.csv")).unwrap()
}

/// What [`functions_pipeline`] writes with a function template's `upper` and `add_one`.
const FUNCTIONS_OUT: &str = "id,v\n1,APPLE-5\n2,BANANA-7\n3,CHERRY-9\n";

#[test]
fn rust_templates_build_and_run() {
    let dir = tempfile::tempdir().unwrap();
    // Shared across runs: the plugins' dependencies are compiled once.
    let target = cache_dir().join("rust-plugins");

    let map = new_and_build(dir.path(), "times", "map", &target);
    let out = pipeline(
        dir.path(),
        "times",
        &map,
        r#""field": "qty", "factor": 10"#,
        r#""id": {"expression": "r.id", "type": "int"},
            "v": {"expression": "fmt.Sprintf(\"%d\", p.result)", "type": "string"}"#,
        &[],
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
        &[],
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
    let out = functions_pipeline(dir.path(), "texts", &functions, &[]);
    assert_eq!(out, FUNCTIONS_OUT, "rust functions in expressions");
}

// ---- Python and JavaScript ----------------------------------------------------------------

/// Built components and compiled code survive across test runs here (`VESSEL_CACHE_DIR`).
fn cache_dir() -> PathBuf {
    vessel_tests::vessel_bin()
        .parent()
        .expect("the vessel binary has a folder")
        .join("e2e-cache")
}

/// Runs `vessel` with the shared cache; fails the test with its output unless it exits 0.
fn vessel_cached(args: &[&str]) -> Output {
    vessel_env_ok(args, &[("VESSEL_CACHE_DIR", &cache_dir())])
}

/// Creates a `lang` plugin from the `kind` template and builds it with the shared cache;
/// returns the project folder and the component.
fn new_and_build_cached(dir: &Path, lang: &str, name: &str, kind: &str) -> (PathBuf, PathBuf) {
    let project = dir.join(name);
    vessel_ok(&[
        "plugin",
        "new",
        name,
        "--lang",
        lang,
        "--kind",
        kind,
        "--dir",
        s(&project),
    ]);
    let out = vessel_cached(&["plugin", "build", s(&project)]);
    let wasm = project.join(format!("{name}.wasm"));
    assert!(
        wasm.is_file(),
        "{} was not built:\n{}",
        wasm.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    (project, wasm)
}

/// Runs a command that must exist on the machine; fails the test saying what to install.
fn run_tool(program: &str, args: &[&str], cwd: &Path, install: &str) -> Output {
    let out = Command::new(program)
        .args(args)
        .current_dir(cwd)
        .output()
        .unwrap_or_else(|e| panic!("cannot run `{program}` ({e}): {install}"));
    assert!(
        out.status.success(),
        "`{program} {}` in {} failed with {:?}\nstdout:\n{}\nstderr:\n{}",
        args.join(" "),
        cwd.display(),
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// The map template adds 20 % VAT to `price` (rounded half away from zero to cents); the
/// filter template keeps rows whose `qty` is at least `min_qty`.
fn run_map_and_filter(dir: &Path, map: (&str, &Path), filter: (&str, &Path)) {
    let cache = cache_dir();
    let env = [("VESSEL_CACHE_DIR", cache.as_path())];
    let out = pipeline(
        dir,
        map.0,
        map.1,
        r#""vat_percent": 20"#,
        r#""id": {"expression": "r.id", "type": "int"},
            "v": {"expression": "fmt.Sprintf(\"%s\", p.price_with_vat)", "type": "string"}"#,
        &env,
    );
    assert_eq!(
        out, "id,v\n1,12.00\n2,4.00\n3,0.01\n",
        "{} map output",
        map.0
    );
    let out = pipeline(
        dir,
        filter.0,
        filter.1,
        r#""min_qty": 5"#,
        r#""id": {"expression": "r.id", "type": "int"},
            "v": {"expression": "r.name", "type": "string"}"#,
        &env,
    );
    assert_eq!(
        out, "id,v\n2,banana\n3,cherry\n",
        "{} filter output",
        filter.0
    );
}

/// Runs the function template's component under `vessel plugin test`, then calls its
/// functions from a script's expressions.
fn run_functions(dir: &Path, project: &Path, component: &Path) {
    std::fs::write(dir.join("sample.csv"), "word,n\nab,1\nété,41\n").unwrap();
    let out = vessel_cached(&[
        "plugin",
        "test",
        s(project),
        "--input",
        s(&dir.join("sample.csv")),
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    for line in [
        "upper(word) -> string",
        "upper(ab) = AB",
        "upper(été) = ÉTÉ",
        "add_one(n) -> int",
        "add_one(1) = 2",
        "add_one(41) = 42",
    ] {
        assert!(text.contains(line), "no `{line}` in:\n{text}");
    }
    let cache = cache_dir();
    let name = project
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("functions");
    let out = functions_pipeline(
        dir,
        name,
        component,
        &[("VESSEL_CACHE_DIR", cache.as_path())],
    );
    assert_eq!(out, FUNCTIONS_OUT, "{name} in expressions");
}

#[test]
fn python_templates_build_and_run() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (map_dir, map) = new_and_build_cached(d, "python", "py-vat", "map");
    let (filter_dir, filter) = new_and_build_cached(d, "python", "py-min-qty", "filter");
    let (fn_dir, fns) = new_and_build_cached(d, "python", "py-texts", "function");
    // The templates' own unit tests, on plain CPython against the vendored SDK.
    for project in [&map_dir, &filter_dir, &fn_dir] {
        run_tool(
            "python3",
            &["-m", "unittest", "discover", "-s", "tests"],
            project,
            "the Python plugin templates' tests need Python 3.10 or later on PATH",
        );
    }
    run_map_and_filter(d, ("py-vat", &map), ("py-min-qty", &filter));
    run_functions(d, &fn_dir, &fns);

    // Building again with unchanged sources reuses the cached component.
    let again = vessel_cached(&["plugin", "build", s(&fn_dir)]);
    let stderr = String::from_utf8_lossy(&again.stderr);
    assert!(
        stderr.contains("function-plugin component (sources unchanged"),
        "{stderr}"
    );
}

#[test]
fn js_templates_build_and_run() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (_, map) = new_and_build_cached(d, "js", "js-vat", "map");
    let (_, filter) = new_and_build_cached(d, "js", "js-min-qty", "filter");
    let (fn_dir, fns) = new_and_build_cached(d, "js", "js-texts", "function");
    run_map_and_filter(d, ("js-vat", &map), ("js-min-qty", &filter));
    run_functions(d, &fn_dir, &fns);
    js_reads_the_deterministic_clock(d);
}

/// `Date.now()` in a JavaScript plugin reads the sandbox's clock, the Unix epoch, as Rust
/// plugins do (the clock policy of docs/plugins.md), not the machine's time or the build's.
fn js_reads_the_deterministic_clock(dir: &Path) {
    let project = dir.join("js-clock");
    vessel_ok(&[
        "plugin",
        "new",
        "js-clock",
        "--lang",
        "js",
        "--kind",
        "function",
        "--dir",
        s(&project),
    ]);
    std::fs::write(
        project.join("index.js"),
        r#"import { functions } from './vessel-plugin.js';
export default functions({
  now_ms: { params: ['int'], returns: 'int', description: 'Date.now() + n',
            fn: (n) => Date.now() + n },
  year: { params: ['int'], returns: 'int', description: 'the UTC year of new Date() + n',
          fn: (n) => new Date().getUTCFullYear() + n },
});
"#,
    )
    .unwrap();
    vessel_cached(&["plugin", "build", s(&project)]);
    std::fs::write(dir.join("clock.csv"), "n\n0\n").unwrap();
    let out = vessel_cached(&[
        "plugin",
        "test",
        s(&project),
        "--input",
        s(&dir.join("clock.csv")),
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    for line in ["now_ms(0) = 0", "year(0) = 1970"] {
        assert!(text.contains(line), "no `{line}` in:\n{text}");
    }
}
