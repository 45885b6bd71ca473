//! Distributed runs: `vessel daemon` processes on the real RabbitMQ and a shared SQLite store,
//! runs started with `vessel start-run` and followed with `vessel wait`.

use crate::cluster::{
    Broker, Daemon, batches, in_progress, metric_sum, metrics, start_run, successes, wait,
};
use crate::support::{assert_same_file, reference_run};
use std::path::Path;
use std::time::{Duration, Instant};
use vessel_store::NodeStatus;

fn lookup_compare(dir: &Path) {
    let base = vessel_tests::capillaries_data().join("out/lookup");
    for name in crate::lookup::OUTPUTS {
        assert_same_file(
            &base.join(format!("{name}_baseline.csv")),
            &dir.join(format!("out/{name}.csv")),
        );
    }
}

#[test]
fn lookup_one_run_through_two_daemons_matches_baselines() {
    let broker = Broker::new("lookup1");
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let logs = dir.path().join("logs");
    let extra = ["--workers", "2", "--metrics-addr", "127.0.0.1:0"];
    let a = Daemon::start(&broker, &data, &logs, &extra);
    let b = Daemon::start(&broker, &data, &logs, &extra);
    let params = crate::lookup::params(dir.path(), "auto");
    let run = start_run(
        &broker,
        &data,
        &crate::lookup::script(),
        Some(&params),
        "lookup_dist",
        Some("read_orders,read_order_items"),
    );
    assert_eq!(run, 1);
    let (code, out, err) = wait(&data, "lookup_dist", run, true);
    assert_eq!(
        code,
        Some(0),
        "{out}\n{err}\n{}\n{}",
        a.log_text(),
        b.log_text()
    );
    lookup_compare(dir.path());

    // Both daemons worked, and together they count every batch of the run exactly once.
    let summary: serde_json::Value = serde_json::from_str(&out).unwrap();
    let total: i64 = summary["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["batches_total"].as_i64().unwrap())
        .sum();
    let counts: Vec<f64> = [&a, &b]
        .iter()
        .map(|d| {
            metric_sum(
                &metrics(d.metrics.as_deref().expect("metrics address printed")),
                "vessel_batches_total",
                &["outcome=\"succeeded\""],
            )
        })
        .collect();
    assert_eq!(
        counts.iter().sum::<f64>() as i64,
        total,
        "{counts:?}\n{out}\n{}\n{}",
        metrics(a.metrics.as_deref().unwrap()),
        metrics(b.metrics.as_deref().unwrap())
    );
    assert!(
        counts.iter().all(|c| *c > 0.0),
        "both daemons work: {counts:?}"
    );
    let text = metrics(a.metrics.as_deref().unwrap());
    assert!(
        metric_sum(&text, "vessel_dependency_checks_total", &["result=\"go\""]) > 0.0,
        "{text}"
    );
    assert!(
        text.contains("vessel_batch_duration_seconds_bucket"),
        "{text}"
    );
    assert!(text.contains("vessel_rows_in_total"), "{text}");
}

#[test]
fn lookup_multi_run_through_two_daemons_matches_baselines() {
    let broker = Broker::new("lookupm");
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let logs = dir.path().join("logs");
    let _a = Daemon::start(&broker, &data, &logs, &["--workers", "2"]);
    let _b = Daemon::start(&broker, &data, &logs, &["--workers", "2"]);
    let params = crate::lookup::params(dir.path(), "manual");
    let script = crate::lookup::script();
    let ks = "lookup_dist_multi";
    let run1 = start_run(
        &broker,
        &data,
        &script,
        Some(&params),
        ks,
        Some("read_orders,read_order_items"),
    );
    let (code, out, err) = wait(&data, ks, run1, false);
    assert_eq!(code, Some(0), "{out}\n{err}");
    for name in crate::lookup::OUTPUTS {
        assert!(!dir.path().join(format!("out/{name}.csv")).exists());
    }
    // A trailing comma, as Capillaries' drivers write it, names no node.
    let run2_nodes = format!("{},", crate::lookup::OUTPUTS.join(","));
    let run2 = start_run(
        &broker,
        &data,
        &script,
        Some(&params),
        ks,
        Some(&run2_nodes),
    );
    assert_eq!(run2, 2);
    let (code, out, err) = wait(&data, ks, run2, false);
    assert_eq!(code, Some(0), "{out}\n{err}");
    assert!(
        out.contains("run 2 of lookup_dist_multi: complete"),
        "{out}"
    );
    lookup_compare(dir.path());
}

/// Kills one of two daemons (SIGKILL) while it holds a batch of the 40-batch node, at
/// several points of that node: the other daemon finishes the run, and the output equals an
/// undisturbed run's, without a lost or duplicated row.
#[tokio::test(flavor = "multi_thread")]
async fn a_daemon_killed_mid_node_loses_nothing() {
    let reference = reference_run(crate::workload::setup, "crash");
    let mut interrupted = 0;
    for (i, at) in [2usize, 17, 33].into_iter().enumerate() {
        let broker = Broker::new(&format!("kill{i}"));
        let dir = tempfile::tempdir().unwrap();
        let script = crate::workload::setup(dir.path());
        let data = dir.path().join("data");
        let logs = dir.path().join("logs");
        let mut daemons = vec![
            Daemon::start(&broker, &data, &logs, &["--workers", "1"]),
            Daemon::start(&broker, &data, &logs, &["--workers", "1"]),
        ];
        let run = start_run(&broker, &data, &script, None, "crash", None);
        let deadline = Instant::now() + Duration::from_secs(120);
        let victim = loop {
            assert!(
                Instant::now() < deadline,
                "node enrich never got to batch {at}"
            );
            let ev = batches(&data, "crash", run, "enrich").await;
            if successes(&ev) >= at
                && let Some((_, instance)) = in_progress(&ev).into_iter().next()
                && let Some(pos) = daemons.iter().position(|d| d.instance == instance)
            {
                break pos;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        };
        let mut dead = daemons.remove(victim);
        dead.kill();
        let (code, out, err) = wait(&data, "crash", run, false);
        assert_eq!(
            code,
            Some(0),
            "kill at {at}: {out}\n{err}\nsurvivor:\n{}",
            daemons[0].log_text()
        );
        assert_same_file(
            &reference.path().join("out/enriched.csv"),
            &dir.path().join("out/enriched.csv"),
        );
        crate::workload::assert_rows(&data, "crash", run).await;
        // Every batch the killed daemon left unfinished was done by the survivor.
        let ev = batches(&data, "crash", run, "enrich").await;
        let left: Vec<i32> = ev
            .iter()
            .filter(|e| e.instance == dead.instance && e.status == NodeStatus::Start)
            .map(|e| e.batch_idx)
            .filter(|b| {
                !ev.iter().any(|o| {
                    o.batch_idx == *b && o.instance == dead.instance && o.status.is_terminal()
                })
            })
            .collect();
        for b in &left {
            assert!(
                ev.iter().any(|o| o.batch_idx == *b
                    && o.instance == daemons[0].instance
                    && o.status == NodeStatus::Success),
                "kill at {at}: batch {b} of the killed daemon was not redone: {ev:?}"
            );
        }
        interrupted += usize::from(!left.is_empty());
    }
    // The kill lands while the daemon holds a batch (it was seen holding one a moment before);
    // a batch finishing in that moment could spare one kill, not all three.
    assert!(interrupted > 0, "no kill interrupted a batch");
}

/// SIGTERM while a daemon holds a batch: it finishes or hands back the batch within the grace
/// period and exits 0, and the run completes on the other daemon.
#[tokio::test(flavor = "multi_thread")]
async fn sigterm_during_a_batch_exits_within_the_grace_period() {
    let reference = reference_run(crate::workload::setup, "crash");
    let broker = Broker::new("term");
    let dir = tempfile::tempdir().unwrap();
    let script = crate::workload::setup(dir.path());
    let data = dir.path().join("data");
    let logs = dir.path().join("logs");
    let grace = ["--workers", "1", "--grace-period", "5"];
    let mut daemons = vec![
        Daemon::start(&broker, &data, &logs, &grace),
        Daemon::start(&broker, &data, &logs, &grace),
    ];
    let run = start_run(&broker, &data, &script, None, "crash", None);
    let deadline = Instant::now() + Duration::from_secs(120);
    let victim = loop {
        assert!(
            Instant::now() < deadline,
            "no batch of enrich seen in progress"
        );
        let ev = batches(&data, "crash", run, "enrich").await;
        if successes(&ev) >= 5
            && let Some((_, instance)) = in_progress(&ev).into_iter().next()
            && let Some(pos) = daemons.iter().position(|d| d.instance == instance)
        {
            break pos;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    let mut leaving = daemons.remove(victim);
    let sent = Instant::now();
    leaving.signal("TERM");
    let status = leaving
        .wait_exit(Duration::from_secs(15))
        .unwrap_or_else(|| panic!("no exit 15 s after SIGTERM:\n{}", leaving.log_text()));
    assert!(status.success(), "{status}\n{}", leaving.log_text());
    // The grace period bounds the wait for batches in progress; the rest is leaving (a
    // generous margin, the machine may be busy).
    assert!(
        sent.elapsed() < Duration::from_secs(10),
        "exit took {:?} with a 5 s grace period",
        sent.elapsed()
    );
    assert!(
        leaving
            .log_text()
            .contains("SIGTERM: taking no more batches")
    );
    let (code, out, err) = wait(&data, "crash", run, false);
    assert_eq!(code, Some(0), "{out}\n{err}");
    assert_same_file(
        &reference.path().join("out/enriched.csv"),
        &dir.path().join("out/enriched.csv"),
    );
    crate::workload::assert_rows(&data, "crash", run).await;
}

/// A batch that fails on bad input is recorded failed once and the run ends (not
/// redelivered forever); an undecodable message is dead-lettered with a log line.
#[tokio::test(flavor = "multi_thread")]
async fn bad_batches_fail_once_and_bad_messages_are_dead_lettered() {
    let broker = Broker::new("bad");
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let logs = dir.path().join("logs");
    let daemon = Daemon::start(&broker, &data, &logs, &["--workers", "2"]);

    std::fs::write(dir.path().join("in.csv"), "n\n1\nnot-a-number\n").unwrap();
    let script = dir.path().join("bad.json");
    std::fs::write(
        &script,
        r#"{"nodes": {"load": {"type": "file_table",
  "r": {"urls": ["in.csv"], "csv": {"hdr_line_idx": 0, "first_data_line_idx": 1},
        "columns": {"col_n": {"csv": {"col_hdr": "n", "col_format": "%d"}, "col_type": "int"}}},
  "w": {"name": "t", "fields": {"n": {"expression": "r.col_n", "type": "int"}}}}}}"#,
    )
    .unwrap();
    let run = start_run(&broker, &data, &script, None, "bad", None);
    let (code, out, err) = wait(&data, "bad", run, false);
    assert_eq!(code, Some(1), "{out}\n{err}");
    assert!(out.contains("load failed"), "{out}");
    // Nothing comes back for it later.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let ev = batches(&data, "bad", run, "load").await;
    let fails = ev.iter().filter(|e| e.status == NodeStatus::Fail).count();
    assert_eq!(fails, 1, "{ev:?}");
    assert_eq!(ev.len(), 2, "one start and one fail: {ev:?}");

    crate::cluster::publish_raw(&broker, b"this is not a batch message").await;
    let deadline = Instant::now() + Duration::from_secs(20);
    while !daemon.log_text().lines().any(|l| {
        l.contains("moving it to the dead-letter queue") && l.contains("this is not a batch")
    }) {
        assert!(
            Instant::now() < deadline,
            "no log line about the bad message:\n{}",
            daemon.log_text()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        crate::cluster::dead_letters(&broker).await,
        1,
        "the bad message waits in the dead-letter queue"
    );
    // The daemon still works.
    let run2 = start_run(
        &broker,
        &data,
        &crate::workload::setup(dir.path()),
        None,
        "after",
        None,
    );
    let (code, out, err) = wait(&data, "after", run2, false);
    assert_eq!(code, Some(0), "{out}\n{err}\n{}", daemon.log_text());
}

/// The commands of one machine work on the shared queue too: `run` with its own workers on
/// RabbitMQ, `history` through `--store`, and `stop-run` of a run that daemons work on (its
/// remaining batches are drained, and `wait` reports the stop with exit code 1). Settings come
/// from a settings file here.
#[tokio::test(flavor = "multi_thread")]
async fn run_history_and_stop_run_work_with_the_shared_queue() {
    let broker = Broker::new("cmds");
    let dir = tempfile::tempdir().unwrap();
    let script = crate::workload::setup(dir.path());
    let data = dir.path().join("data");
    let config = dir.path().join("vessel.toml");
    std::fs::write(
        &config,
        format!(
            "store = \"sqlite:data\"\nqueue = \"{}\"\nqueue_prefix = \"{}\"\nworkers = 2\n",
            crate::cluster::AMQP_URL,
            broker.prefix
        ),
    )
    .unwrap();
    let cfg = crate::support::s(&config);
    let out = crate::support::vessel_ok(&[
        "run",
        crate::support::s(&script),
        "--keyspace",
        "cmds",
        "--config",
        cfg,
        "--json",
    ]);
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(summary["run_status"], "complete", "{summary}");
    assert!(dir.path().join("out/enriched.csv").exists());
    let out =
        crate::support::vessel_ok(&["history", "runs", "--keyspace", "cmds", "--config", cfg]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains(",1,complete,"), "{text}");

    // A run nobody works on yet is stopped; a daemon started afterwards drains it.
    let run = start_run(&broker, &data, &script, None, "cmds", None);
    assert_eq!(run, 2);
    crate::support::vessel_ok(&[
        "stop-run",
        "--keyspace",
        "cmds",
        "--run-id",
        "2",
        "--config",
        cfg,
    ]);
    let logs = dir.path().join("logs");
    let _daemon = Daemon::start(&broker, &data, &logs, &["--workers", "1"]);
    let (code, out, err) = wait(&data, "cmds", run, false);
    assert_eq!(code, Some(1), "{out}\n{err}");
    assert!(out.contains("run 2 of cmds: stop"), "{out}");
    // The stopped run's waiting batch is drained, not processed.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let ev = batches(&data, "cmds", run, "load").await;
        if !ev.is_empty() {
            assert!(
                ev.iter().all(|e| e.status == NodeStatus::StopReceived),
                "{ev:?}"
            );
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the daemon never drained the stopped run"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// SIGTERM while a batch runs longer than the grace period: the daemon does not wait for it,
/// exits 0 after the grace period and hands the batch back; another daemon takes it over once
/// the leaving daemon's lease expires (here the batch spins in a plugin until the plugin's time
/// limit, so the second attempt fails too and the run ends failed).
#[tokio::test(flavor = "multi_thread")]
async fn sigterm_hands_back_a_batch_that_outlasts_the_grace_period() {
    let broker = Broker::new("handback");
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("in.csv"), "n\n1\n").unwrap();
    let component = vessel_wasm_artifacts::FUNCTIONS.replace('\\', "/");
    let script = dir.path().join("spin.json");
    std::fs::write(
        &script,
        format!(
            r#"{{"functions": {{"t": "{component}"}},
  "nodes": {{"load": {{"type": "file_table",
      "r": {{"urls": ["in.csv"], "csv": {{"hdr_line_idx": 0, "first_data_line_idx": 1}},
        "columns": {{"col_n": {{"csv": {{"col_hdr": "n", "col_format": "%d"}}, "col_type": "int"}}}}}},
      "w": {{"name": "t", "fields": {{"n": {{"expression": "t.spin(r.col_n)", "type": "int"}}}}}}}}}}}}"#
        ),
    )
    .unwrap();
    let data = dir.path().join("data");
    let logs = dir.path().join("logs");
    let flags = [
        "--workers",
        "1",
        "--grace-period",
        "1",
        "--plugin-timeout-ms",
        "8000",
    ];
    let mut first = Daemon::start(&broker, &data, &logs, &flags);
    let run = start_run(&broker, &data, &script, None, "handback", None);
    let deadline = Instant::now() + Duration::from_secs(60);
    while !in_progress(&batches(&data, "handback", run, "load").await)
        .iter()
        .any(|(_, i)| *i == first.instance)
    {
        assert!(
            Instant::now() < deadline,
            "the batch never started:\n{}",
            first.log_text()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let sent = Instant::now();
    first.signal("TERM");
    let status = first
        .wait_exit(Duration::from_secs(30))
        .unwrap_or_else(|| panic!("no exit after SIGTERM:\n{}", first.log_text()));
    assert!(status.success(), "{status}\n{}", first.log_text());
    // Waiting for the batch would have taken the plugin's 8 s time limit.
    assert!(
        sent.elapsed() < Duration::from_secs(7),
        "exit took {:?}: the daemon waited for the batch instead of handing it back",
        sent.elapsed()
    );
    assert!(
        first
            .log_text()
            .contains("did not finish within the grace period"),
        "{}",
        first.log_text()
    );
    let second = Daemon::start(&broker, &data, &logs, &flags);
    let (code, out, err) = wait(&data, "handback", run, false);
    assert_eq!(code, Some(1), "{out}\n{err}\n{}", second.log_text());
    assert!(out.contains("did not finish within 8 s"), "{out}");
    let ev = batches(&data, "handback", run, "load").await;
    let starts: Vec<&str> = ev
        .iter()
        .filter(|e| e.status == NodeStatus::Start)
        .map(|e| e.instance.as_str())
        .collect();
    assert_eq!(
        starts,
        [first.instance.as_str(), second.instance.as_str()],
        "taken over by the second daemon: {ev:?}"
    );
}
