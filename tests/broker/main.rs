//! The broker restarted during a distributed run (`rabbitmqctl stop_app` / `start_app`).
//!
//! A test binary of its own: cargo runs test binaries one after another, so no other test
//! talks to the broker while this one restarts it. It leaves the broker running.

#[allow(dead_code)]
#[path = "../e2e/cluster.rs"]
mod cluster;
#[allow(dead_code)]
#[path = "../e2e/support.rs"]
mod support;
#[allow(dead_code)]
#[path = "../e2e/workload.rs"]
mod workload;

use cluster::{Broker, Daemon, batches, start_run, successes, wait};
use std::process::Command;
use std::time::{Duration, Instant};
use support::{assert_same_file, reference_run};
use vessel_store::NodeStatus;

fn rabbitmqctl(args: &[&str]) {
    let out = Command::new("rabbitmqctl")
        .args(args)
        .output()
        .expect("rabbitmqctl runs (RabbitMQ is installed with the project's CI set-up)");
    assert!(
        out.status.success(),
        "rabbitmqctl {args:?} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Puts the broker back however the test ends.
struct Restart;

impl Drop for Restart {
    fn drop(&mut self) {
        let _ = Command::new("rabbitmqctl").arg("start_app").output();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn daemons_survive_a_broker_restart_mid_run() {
    let reference = reference_run(workload::setup, "crash");
    let broker = Broker::new("restart");
    let dir = tempfile::tempdir().unwrap();
    let script = workload::setup(dir.path());
    let data = dir.path().join("data");
    let logs = dir.path().join("logs");
    let a = Daemon::start(&broker, &data, &logs, &["--workers", "1"]);
    let b = Daemon::start(&broker, &data, &logs, &["--workers", "1"]);
    let run = start_run(&broker, &data, &script, None, "crash", None);
    let deadline = Instant::now() + Duration::from_secs(120);
    while successes(&batches(&data, "crash", run, "enrich").await) < 8 {
        assert!(Instant::now() < deadline, "node enrich did not get going");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    {
        let _restart = Restart;
        rabbitmqctl(&["stop_app"]);
        let done = successes(&batches(&data, "crash", run, "enrich").await);
        assert!(
            done < workload::BATCHES,
            "the broker must go away in the middle of the run, not after it"
        );
        tokio::time::sleep(Duration::from_secs(3)).await;
        rabbitmqctl(&["start_app"]);
        rabbitmqctl(&["await_startup"]);
    }
    let (code, out, err) = wait(&data, "crash", run, false);
    assert_eq!(
        code,
        Some(0),
        "{out}\n{err}\ndaemon a:\n{}\ndaemon b:\n{}",
        a.log_text(),
        b.log_text()
    );
    assert_same_file(
        &reference.path().join("out/enriched.csv"),
        &dir.path().join("out/enriched.csv"),
    );
    workload::assert_rows(&data, "crash", run).await;
    // Nothing was done twice in effect: every batch of every node succeeded exactly once.
    for node in ["load", "enrich", "dump"] {
        let ev = batches(&data, "crash", run, node).await;
        let mut ok = std::collections::BTreeMap::new();
        for e in ev.iter().filter(|e| e.status == NodeStatus::Success) {
            *ok.entry(e.batch_idx).or_insert(0) += 1;
        }
        assert!(ok.values().all(|n| *n == 1), "{node}: {ok:?}");
        assert_eq!(
            ok.len(),
            usize::try_from(ev[0].batches_total).unwrap(),
            "{node}: every batch succeeded"
        );
    }
}
