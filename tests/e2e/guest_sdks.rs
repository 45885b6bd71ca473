//! The guest SDKs' own test suites, run by `cargo test` so that CI runs them: the Python SDK
//! and py_calc's logic on plain CPython (`python3 -m unittest`), the JavaScript SDK on Node
//! (`node --test`). Neither needs a Wasm build. A missing `python3` or `node` fails the test
//! with what to install: these suites are part of the project's tests, not optional.

use std::path::Path;
use std::process::Command;

/// Runs `program args` in the project root and fails with its output unless it exits 0.
fn run_suite(program: &str, args: &[&str], install: &str) -> String {
    let root = vessel_tests::project_root();
    let out = Command::new(program)
        .args(args)
        .current_dir(&root)
        .output()
        .unwrap_or_else(|e| panic!("cannot run `{program}` ({e}): {install}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "`{program} {}` failed with {:?}:\n{text}",
        args.join(" "),
        out.status
    );
    text
}

/// `python3 -m unittest discover -s <dir>`; checks that tests ran.
fn python_suite(dir: &str) {
    let text = run_suite(
        "python3",
        &["-m", "unittest", "discover", "-s", dir],
        "the Python SDK's tests need Python 3.10 or later on PATH as python3",
    );
    let ran = text.lines().find_map(|l| {
        l.strip_prefix("Ran ")?
            .split_whitespace()
            .next()?
            .parse::<u32>()
            .ok()
    });
    assert!(ran.is_some_and(|n| n > 0), "no tests ran in {dir}:\n{text}");
}

#[test]
fn python_sdk_unit_tests() {
    python_suite("sdk/python/tests");
}

#[test]
fn py_calc_unit_tests() {
    python_suite("plugins/py_calc/tests");
}

#[test]
fn js_sdk_unit_tests() {
    let dir = vessel_tests::project_root().join("sdk/js/tests");
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| {
            let name = e.ok()?.file_name().to_string_lossy().into_owned();
            name.ends_with(".test.js")
                .then(|| format!("{}/{name}", Path::new("sdk/js/tests").display()))
        })
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no *.test.js in {}", dir.display());
    let mut args = vec!["--test"];
    args.extend(files.iter().map(String::as_str));
    let text = run_suite(
        "node",
        &args,
        "the JavaScript SDK's tests need Node.js 18 or later on PATH (https://nodejs.org)",
    );
    let passed = text.lines().find_map(|l| {
        l.trim_start_matches(['#', 'ℹ', ' '])
            .strip_prefix("pass ")?
            .trim()
            .parse::<u32>()
            .ok()
    });
    assert!(
        passed.is_some_and(|n| n > 0),
        "no JavaScript tests passed:\n{text}"
    );
}
