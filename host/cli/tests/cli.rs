//! The `vessel` binary's argument handling. (Having an integration test here also makes
//! `cargo test --workspace` build the binary that the end-to-end suite in `tests/` runs.)

use std::process::Command;

fn vessel(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_vessel"))
        .args(args)
        .output()
        .expect("vessel runs")
}

/// `vessel run SCRIPT --data-dir DATA` with `env` added (logs at warn, `NO_COLOR` unset);
/// returns the exit code and stdout followed by stderr.
fn run_script(
    script: &std::path::Path,
    data: &std::path::Path,
    env: &[(&str, &str)],
) -> (Option<i32>, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_vessel"))
        .args(["run", script.to_str().unwrap()])
        .args(["--data-dir", data.to_str().unwrap()])
        .env("VESSEL_LOG", "warn")
        .env_remove("NO_COLOR")
        .envs(env.iter().copied())
        .output()
        .expect("vessel runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code(), text)
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
    assert!(
        !dir.path().join("data").exists(),
        "a run that never started left its data directory behind"
    );
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
    // Script errors are usage errors: exit 2, as for `vessel run`.
    assert_eq!(out.status.code(), Some(2));
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

/// A script whose only node after loading calls `t.spin`, a function that never returns.
fn spinning_script(dir: &std::path::Path) -> std::path::PathBuf {
    std::fs::write(dir.join("in.csv"), "n\n1\n2\n").unwrap();
    let component = vessel_wasm_artifacts::FUNCTIONS.replace('\\', "/");
    let script = format!(
        r#"{{"functions": {{"t": "{component}"}},
  "nodes": {{
    "load": {{"type": "file_table",
      "r": {{"urls": ["in.csv"], "csv": {{"hdr_line_idx": 0, "first_data_line_idx": 1}},
        "columns": {{"col_n": {{"csv": {{"col_hdr": "n", "col_format": "%d"}}, "col_type": "int"}}}}}},
      "w": {{"name": "t", "fields": {{"n": {{"expression": "t.spin(r.col_n)", "type": "int"}}}}}}}}}}}}"#
    );
    let p = dir.join("spin.json");
    std::fs::write(&p, script).unwrap();
    p
}

#[test]
fn plugin_limits_come_from_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let script = spinning_script(dir.path());
    let data = dir.path().join("data");
    let run = |env: &[(&str, &str)]| {
        let started = std::time::Instant::now();
        let (code, text) = run_script(&script, &data, env);
        (code, text, started.elapsed())
    };
    let (code, text, elapsed) = run(&[("VESSEL_PLUGIN_TIMEOUT_MS", "250")]);
    assert_ne!(code, Some(0), "{text}");
    assert!(text.contains("did not finish within 250 ms"), "{text}");
    assert!(
        elapsed < std::time::Duration::from_secs(4),
        "{elapsed:?}\n{text}"
    );
    for (name, value) in [
        ("VESSEL_PLUGIN_TIMEOUT_MS", "0"),
        ("VESSEL_PLUGIN_OPEN_TIMEOUT_MS", "-1"),
        ("VESSEL_PLUGIN_MEMORY_MB", "lots"),
    ] {
        let (code, text, _) = run(&[(name, value)]);
        assert_eq!(code, Some(2), "{text}");
        assert!(
            text.contains(&format!(
                "{name}=\"{value}\" is not valid; give a whole number"
            )),
            "{text}"
        );
    }
}

/// A script with a misspelt optional key whose one batch fails on a bad number (so that an
/// error is logged).
fn failing_script_with_a_typo(dir: &std::path::Path) -> std::path::PathBuf {
    std::fs::write(dir.join("in.csv"), "n\n1\nnot-a-number\n").unwrap();
    let p = dir.join("typo.json");
    std::fs::write(
        &p,
        r#"{"nodes": {"load": {"type": "file_table", "rerun_polcy": "fail",
  "r": {"urls": ["in.csv"], "csv": {"hdr_line_idx": 0, "first_data_line_idx": 1},
        "columns": {"col_n": {"csv": {"col_hdr": "n", "col_format": "%d"}, "col_type": "int"}}},
  "w": {"name": "t", "fields": {"n": {"expression": "r.col_n", "type": "int"}}}}}}"#,
    )
    .unwrap();
    p
}

/// Whether `text` holds an ANSI colour sequence (SGR: ESC [ ... m). Cursor moves of the
/// progress bars are not colours.
fn has_colour(text: &str) -> bool {
    text.split("\x1b[").skip(1).any(|rest| {
        rest.chars()
            .find(|c| !c.is_ascii_digit() && *c != ';')
            .is_some_and(|c| c == 'm')
    })
}

#[test]
fn run_warns_like_validate_and_writes_no_colour_into_a_pipe() {
    let dir = tempfile::tempdir().unwrap();
    let script = failing_script_with_a_typo(dir.path());
    let (code, err) = run_script(&script, &dir.path().join("data"), &[]);
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains("warning:") && err.contains("did you mean 'rerun_policy'?"),
        "{err}"
    );
    assert!(
        err.contains("not-a-number"),
        "the batch error is logged: {err}"
    );
    assert!(!has_colour(&err), "colour codes in a pipe: {err:?}");
}

#[test]
fn no_color_turns_colours_off_at_a_terminal() {
    // `script` gives the command a terminal, where colours are on unless NO_COLOR is set.
    let dir = tempfile::tempdir().unwrap();
    let script = failing_script_with_a_typo(dir.path());
    let run = |no_color: bool, data: &str| {
        let cmd = format!(
            "{} run {} --data-dir {}",
            env!("CARGO_BIN_EXE_vessel"),
            script.display(),
            dir.path().join(data).display()
        );
        let mut c = Command::new("script");
        c.args(["-qec", &cmd, "/dev/null"])
            .env("VESSEL_LOG", "warn")
            .env_remove("NO_COLOR");
        if no_color {
            c.env("NO_COLOR", "1");
        }
        let out = c
            .output()
            .expect("`script` (util-linux) runs the command at a terminal");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let coloured = run(false, "a");
    assert!(coloured.contains("not-a-number"), "{coloured}");
    assert!(
        has_colour(&coloured),
        "a terminal gets colours: {coloured:?}"
    );
    let plain = run(true, "b");
    assert!(plain.contains("not-a-number"), "{plain}");
    assert!(!has_colour(&plain), "NO_COLOR=1: {plain:?}");
}

/// A script whose node `proc` runs the evil test guest with `params` in its `p` section.
fn evil_script(dir: &std::path::Path, params: &str) -> std::path::PathBuf {
    std::fs::write(dir.join("in.csv"), "n\n1\n2\n").unwrap();
    let component = vessel_wasm_artifacts::EVIL.replace('\\', "/");
    let script = format!(
        r#"{{"nodes": {{
    "load": {{"type": "file_table",
      "r": {{"urls": ["in.csv"], "csv": {{"hdr_line_idx": 0, "first_data_line_idx": 1}},
        "columns": {{"col_n": {{"csv": {{"col_hdr": "n", "col_format": "%d"}}, "col_type": "int"}}}}}},
      "w": {{"name": "t", "fields": {{"n": {{"expression": "r.col_n", "type": "int"}}}}}}}},
    "proc": {{"type": "table_custom_tfm_table", "custom_proc_type": "evil",
      "r": {{"table": "t"}},
      "p": {{"component": "{component}", {params}}},
      "w": {{"name": "t2", "fields": {{"result": {{"expression": "p.result", "type": "string"}}}}}}}}}}}}"#
    );
    let p = dir.join("evil.json");
    std::fs::write(&p, script).unwrap();
    p
}

#[test]
fn a_plugin_misbehaving_in_open_never_crashes_vessel_run() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let run = |params: &str| {
        let script = evil_script(dir.path(), params);
        let (code, text) = run_script(&script, &data, &[]);
        // The guest's own panic message is forwarded to the log; the host must not panic.
        assert!(
            !text.contains("Cannot start a runtime") && code != Some(101),
            "{params}: {text}"
        );
        (code, text)
    };
    // Output in `open` is captured and forwarded to the log; the run succeeds.
    for mode in ["stdout", "stderr", "stderr_flood"] {
        let (code, text) = run(&format!(r#""open": "{mode}""#));
        assert_eq!(code, Some(0), "{mode}: {text}");
    }
    let (_, text) = run(r#""open": "stderr""#);
    assert!(text.contains("hello from the plugin's stderr"), "{text}");
    // A crash in every `open` makes the script invalid: refused before the run starts, like
    // any script error.
    let (code, text) = run(r#""open": "panic""#);
    assert_eq!(code, Some(2), "{text}");
    assert!(
        text.contains("node 'proc'") && text.contains("plugin 'evil'") && text.contains("boom"),
        "{text}"
    );
    // A crash only in the run's `open` fails the node: the run ends with exit code 1.
    let (code, text) = run(r#""open": "panic", "open_in": "run""#);
    assert_eq!(code, Some(1), "{text}");
    assert!(
        text.contains("proc failed: ") && text.contains("plugin 'evil'") && text.contains("boom"),
        "{text}"
    );
}

#[test]
fn the_open_deadline_comes_from_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let script = evil_script(dir.path(), r#""open": "loop""#);
    let (code, text) = run_script(
        &script,
        &dir.path().join("data"),
        &[("VESSEL_PLUGIN_OPEN_TIMEOUT_MS", "300")],
    );
    assert_eq!(code, Some(2), "{text}");
    assert!(
        text.contains("node 'proc'")
            && text.contains("did not finish within 300 ms (the deadline for starting an instance"),
        "{text}"
    );
}
