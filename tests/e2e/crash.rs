//! SIGKILL in the middle of a multi-batch node, then `--resume`: the outputs equal those of
//! an uninterrupted run.

use crate::support::{assert_same_file, reference_run, s, vessel_ok};
use crate::workload::{BATCHES, assert_rows, setup};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use vessel_store::{NodeStatus, Storage};

async fn enrich_progress(data: &Path) -> Option<(usize, usize)> {
    let st = vessel_store_sqlite::SqliteStorage::open(data).ok()?;
    let ks = st.open_keyspace("crash", false).await.ok()?;
    let ev = ks.batch_events(1, Some("enrich")).await.ok()?;
    let done = ev
        .iter()
        .filter(|e| e.status == NodeStatus::Success)
        .count();
    let started = ev.iter().filter(|e| e.status == NodeStatus::Start).count();
    Some((done, started))
}

#[tokio::test(flavor = "multi_thread")]
async fn sigkill_mid_node_then_resume_gives_identical_output() {
    let reference = reference_run(setup, "crash");

    let dir = tempfile::tempdir().unwrap();
    let script = setup(dir.path());
    let data = dir.path().join("data");
    let mut child = Command::new(vessel_tests::vessel_bin())
        .args([
            "run",
            s(&script),
            "--keyspace",
            "crash",
            "--data-dir",
            s(&data),
            "--workers",
            "2",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut killed_at = None;
    while Instant::now() < deadline {
        if let Some((done, started)) = enrich_progress(&data).await
            && (3..BATCHES).contains(&done)
            && started > done
        {
            // Child::kill sends SIGKILL on Unix.
            child.kill().unwrap();
            killed_at = Some(done);
            break;
        }
        if child.try_wait().unwrap().is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let _ = child.wait();
    let done = killed_at.expect("the run must be killed in the middle of node 'enrich'");
    assert!(done < BATCHES);
    assert!(!dir.path().join("out/enriched.csv").exists());

    vessel_ok(&[
        "run",
        "--resume",
        "--keyspace",
        "crash",
        "--data-dir",
        s(&data),
        "--workers",
        "2",
    ]);
    assert_same_file(
        &reference.path().join("out/enriched.csv"),
        &dir.path().join("out/enriched.csv"),
    );
    assert_rows(&data, "crash", 1).await;
}
