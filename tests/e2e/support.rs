//! Helpers shared by the end-to-end tests.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Runs `vessel` with arguments and returns its output.
pub fn vessel(args: &[&str]) -> Output {
    Command::new(vessel_tests::vessel_bin())
        .args(args)
        .env("VESSEL_LOG", "warn")
        .output()
        .expect("vessel runs")
}

/// Runs `vessel` and fails the test with its output when it does not exit 0.
pub fn vessel_ok(args: &[&str]) -> Output {
    vessel_env_ok(args, &[])
}

/// [`vessel_ok`] with variables added to the environment.
pub fn vessel_env_ok(args: &[&str], env: &[(&str, &Path)]) -> Output {
    let out = Command::new(vessel_tests::vessel_bin())
        .args(args)
        .env("VESSEL_LOG", "warn")
        .envs(env.iter().copied())
        .output()
        .expect("vessel runs");
    assert!(
        out.status.success(),
        "vessel {args:?} failed with {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Path as &str (test paths are UTF-8).
pub fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// Fails with the first differing line when two files differ.
pub fn assert_same_file(expected: &Path, actual: &Path) {
    let e = std::fs::read(expected).unwrap_or_else(|err| panic!("{}: {err}", expected.display()));
    let a = std::fs::read(actual).unwrap_or_else(|err| panic!("{}: {err}", actual.display()));
    if e == a {
        return;
    }
    let e = String::from_utf8_lossy(&e);
    let a = String::from_utf8_lossy(&a);
    let (el, al): (Vec<_>, Vec<_>) = (e.lines().collect(), a.lines().collect());
    for (i, (x, y)) in el.iter().zip(al.iter()).enumerate() {
        assert_eq!(
            x,
            y,
            "{} and {} differ at line {}",
            expected.display(),
            actual.display(),
            i + 1
        );
    }
    panic!(
        "{} has {} lines, {} has {}",
        expected.display(),
        el.len(),
        actual.display(),
        al.len()
    );
}

/// Runs the script that `setup` writes into a fresh folder to completion in keyspace `ks`,
/// undisturbed: the reference that a disturbed run's output is compared with. Returns the
/// folder (outputs under it).
pub fn reference_run(setup: fn(&Path) -> PathBuf, ks: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    let script = setup(dir.path());
    vessel_ok(&[
        "run",
        s(&script),
        "--keyspace",
        ks,
        "--data-dir",
        s(&dir.path().join("data")),
    ]);
    dir
}

/// Writes a params file and returns its path.
pub fn write_params(dir: &Path, name: &str, yaml: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, yaml).expect("write params");
    p
}

/// Batch history of a node as JSON values.
pub fn batch_history(ks: &str, data: &Path, node: &str) -> Vec<serde_json::Value> {
    let out = vessel_ok(&[
        "history",
        "batches",
        "--keyspace",
        ks,
        "--data-dir",
        s(data),
        "--node",
        node,
        "--json",
    ]);
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("history line is JSON"))
        .collect()
}
