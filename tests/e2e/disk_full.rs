//! A real full disk: `vessel run` with its data directory on a small tmpfs must end with an
//! error naming the disk (not hang, not report the run complete), and after the tmpfs grows,
//! `vessel run --resume` must finish the run with the output of an undisturbed run.
//!
//! Mounting needs root. Without it the test fails saying so, unless `VESSEL_SKIP_TMPFS=1`
//! skips it on purpose: a missing privilege must not look like a pass.

use crate::support::{assert_same_file, reference_run, s, vessel_ok};
use std::fmt::Write as _;
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const ROWS: usize = 60_000;

fn setup(dir: &Path) -> PathBuf {
    let mut t = String::from("id,name,amount\n");
    for i in 0..ROWS {
        writeln!(t, "{i},customer{},{}.{:02}", i % 977, i % 5000, i % 100).unwrap();
    }
    std::fs::write(dir.join("in.csv"), t).unwrap();
    let script = r#"{
  "nodes": {
    "load": {
      "type": "file_table",
      "r": {"urls": ["in.csv"], "csv": {"hdr_line_idx": 0, "first_data_line_idx": 1},
        "columns": {
          "col_id": {"csv": {"col_hdr": "id", "col_format": "%d"}, "col_type": "int"},
          "col_name": {"csv": {"col_hdr": "name"}, "col_type": "string"},
          "col_amount": {"csv": {"col_hdr": "amount", "col_format": "%f"}, "col_type": "decimal2"}
        }},
      "w": {"name": "raw", "fields": {
          "id": {"expression": "r.col_id", "type": "int"},
          "name": {"expression": "r.col_name", "type": "string"},
          "amount": {"expression": "r.col_amount", "type": "decimal2"}
        }}
    },
    "enrich": {
      "type": "table_table",
      "r": {"table": "raw", "expected_batches_total": 6, "rowset_size": 1000},
      "w": {"name": "enriched", "fields": {
          "id": {"expression": "r.id", "type": "int"},
          "label": {"expression": "fmt.Sprintf(\"%s-%05d-%s\", r.name, r.id, r.name)", "type": "string"},
          "taxed": {"expression": "r.amount * decimal2(1.2)", "type": "decimal2"}
        },
        "indexes": {"idx_enriched_id_to_check_uniq": "unique(id)", "idx_enriched_label_to_check_uniq": "unique(label)"}}
    },
    "dump": {
      "type": "table_file",
      "r": {"table": "enriched"},
      "w": {"url_template": "out/enriched.csv", "top": {"order": "id"},
        "columns": [
          {"name": "id", "type": "int", "expression": "r.id", "csv": {"header": "id", "format": "%d"}},
          {"name": "label", "type": "string", "expression": "r.label", "csv": {"header": "label", "format": "%s"}},
          {"name": "taxed", "type": "decimal2", "expression": "r.taxed", "csv": {"header": "taxed", "format": "%s"}}
        ]}
    }
  }
}"#;
    let p = dir.join("script.json");
    std::fs::write(&p, script).unwrap();
    p
}

/// A tmpfs mounted for the test's lifetime.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(at: &Path, size: &str) -> Tmpfs {
        sh(&[
            "mount",
            "-t",
            "tmpfs",
            "-o",
            &format!("size={size}"),
            "tmpfs",
            s(at),
        ]);
        Tmpfs(at.to_path_buf())
    }

    fn grow(&self, size: &str) {
        sh(&["mount", "-o", &format!("remount,size={size}"), s(&self.0)]);
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

fn sh(cmd: &[&str]) {
    let st = Command::new(cmd[0]).args(&cmd[1..]).status().unwrap();
    assert!(st.success(), "{cmd:?} failed: {st}");
}

/// Runs `vessel` and kills it if it runs longer than a run of this size ever should.
fn vessel_bounded(args: &[&str]) -> Output {
    let mut child = Command::new(vessel_tests::vessel_bin())
        .args(args)
        .env("VESSEL_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(300);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            child.kill().unwrap();
            let out = child.wait_with_output().unwrap();
            panic!(
                "vessel {args:?} hung on a full disk\nstderr:\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.wait_with_output().unwrap()
}

#[test]
fn full_tmpfs_ends_the_run_with_an_error_and_resume_finishes_it() {
    // /proc/self belongs to the process's effective user.
    let euid = std::fs::metadata("/proc/self").map_or(u32::MAX, |m| m.uid());
    if euid != 0 {
        assert!(
            std::env::var("VESSEL_SKIP_TMPFS").as_deref() == Ok("1"),
            "the full-disk test mounts a tmpfs and needs root; run the tests as root, or set \
             VESSEL_SKIP_TMPFS=1 to skip it"
        );
        eprintln!("VESSEL_SKIP_TMPFS=1: the full-disk test is skipped");
        return;
    }
    let reference = reference_run(setup, "full");

    let dir = tempfile::tempdir().unwrap();
    let script = setup(dir.path());
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    // The loaded table fits (about 3.5 MB), the enriched one (about 20 MB) does not.
    let tmpfs = Tmpfs::mount(&data, "8m");
    let out = vessel_bounded(&[
        "run",
        s(&script),
        "--keyspace",
        "full",
        "--data-dir",
        s(&data),
        "--workers",
        "2",
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "stderr:\n{stderr}");
    assert!(
        stderr.contains("database or disk is full"),
        "the error must name the cause:\n{stderr}"
    );
    assert!(stderr.contains("--resume"), "{stderr}");
    assert!(stderr.contains("batch full/1/enrich/"), "{stderr}");
    assert!(!dir.path().join("out/enriched.csv").exists());

    tmpfs.grow("512m");
    let out = vessel_bounded(&[
        "run",
        "--resume",
        "--keyspace",
        "full",
        "--data-dir",
        s(&data),
        "--workers",
        "2",
    ]);
    assert!(
        out.status.success(),
        "resume failed: {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_same_file(
        &reference.path().join("out/enriched.csv"),
        &dir.path().join("out/enriched.csv"),
    );
    let history = vessel_ok(&[
        "history",
        "runs",
        "--keyspace",
        "full",
        "--data-dir",
        s(&data),
    ]);
    let history = String::from_utf8_lossy(&history.stdout);
    assert!(history.contains("complete"), "{history}");
    drop(tmpfs);
}
