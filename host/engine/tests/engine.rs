//! Engine tests over SQLite and the in-process queue: stopping runs, dependency policies
//! across runs, and invalidation.

mod common;

use std::path::Path;
use std::sync::Arc;
use vessel_engine::{Engine, RunRequest, worker};
use vessel_queue::{MemoryQueue, Queue};
use vessel_store::{NodeStatus, RunStatus};
use vessel_store_sqlite::SqliteStorage;

fn write_script(dir: &Path, policy: &str) -> std::path::PathBuf {
    std::fs::write(dir.join("in.csv"), "id,v\n1,10\n2,20\n3,30\n").unwrap();
    let script = format!(
        r#"{{
  "nodes": {{
    "load": {{
      "type": "file_table",
      "r": {{"urls": ["in.csv"], "csv": {{"hdr_line_idx": 0, "first_data_line_idx": 1}},
        "columns": {{
          "col_id": {{"csv": {{"col_hdr": "id", "col_format": "%d"}}, "col_type": "int"}},
          "col_v": {{"csv": {{"col_hdr": "v", "col_format": "%d"}}, "col_type": "int"}}
        }}}},
      "w": {{"name": "t", "fields": {{
        "id": {{"expression": "r.col_id", "type": "int"}},
        "v": {{"expression": "r.col_v", "type": "int"}}
      }}}}
    }},
    "double": {{
      "type": "table_table",
      "start_policy": "manual",
      "r": {{"table": "t", "expected_batches_total": 3}},
      "w": {{"name": "t2", "fields": {{
        "id": {{"expression": "r.id", "type": "int"}},
        "v2": {{"expression": "r.v * 2", "type": "int"}}
      }}}}
    }}
  }},
  "dependency_policies": {policy}
}}"#
    );
    let p = dir.join("script.json");
    std::fs::write(&p, script).unwrap();
    p
}

const NRS_POLICY: &str = r#"{"current_active_first_stopped_nogo": {"is_default": true,
  "event_priority_order": "run_is_current(desc), run_id(desc)",
  "rules": [
    {"cmd": "go", "expression": "nrs.run_is_current == true && nrs.run_status == wfmodel.RunStart && nrs.node_status == wfmodel.NodeBatchSuccess"},
    {"cmd": "wait", "expression": "nrs.run_is_current == true && nrs.node_status == wfmodel.NodeBatchStart"},
    {"cmd": "go", "expression": "nrs.run_is_current == false && nrs.run_status == wfmodel.RunComplete && nrs.node_status == wfmodel.NodeBatchSuccess"},
    {"cmd": "nogo", "expression": "nrs.run_is_current == false && nrs.run_status == wfmodel.RunStop"}
  ]}}"#;

/// The same decisions in the older `e.*` vocabulary.
const E_POLICY: &str = r#"{"legacy": {"is_default": true,
  "rules": [
    {"cmd": "go", "expression": "e.run_is_current == true && e.run_final_status == wfmodel.RunStart && e.node_status == wfmodel.NodeBatchSuccess"},
    {"cmd": "go", "expression": "e.run_is_current == false && e.run_final_status == wfmodel.RunComplete && e.node_status == wfmodel.NodeBatchSuccess"},
    {"cmd": "nogo", "expression": "e.run_is_current == false && e.run_final_status == wfmodel.RunStop"}
  ]}}"#;

struct Harness {
    engine: Arc<Engine>,
    queue: MemoryQueue,
    _dir: tempfile::TempDir,
    script: std::path::PathBuf,
}

impl Harness {
    /// An engine with two workers on a fresh keyspace; must be called inside a runtime.
    async fn new(policy: &str) -> Harness {
        let dir = tempfile::tempdir().unwrap();
        let script = write_script(dir.path(), policy);
        let (engine, queue, _) = common::engine_with_workers(&dir.path().join("data")).await;
        Harness {
            engine,
            queue,
            _dir: dir,
            script,
        }
    }

    async fn start(&self, nodes: &[&str]) -> i32 {
        self.engine
            .start_run(&RunRequest::new("ks", &self.script, None, nodes))
            .await
            .unwrap()
    }

    /// Waits until the run left the start status and the queue is empty.
    async fn finish(&self, run_id: i32) -> RunStatus {
        for _ in 0..500 {
            let st = self.engine.run_status("ks", run_id).await.unwrap();
            if st != RunStatus::Start && self.queue.counts() == (0, 0) {
                return st;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        panic!("run {run_id} did not finish");
    }

    async fn node_status(&self, run_id: i32, node: &str) -> NodeStatus {
        let ks = self
            .engine
            .storage()
            .open_keyspace("ks", false)
            .await
            .unwrap();
        let ev = ks.node_events(Some(&[run_id])).await.unwrap();
        vessel_engine::status::node_statuses(&ev, run_id)
            .get(node)
            .copied()
            .unwrap_or(NodeStatus::None)
    }
}

async fn later_run_consumes_earlier_run(policy: &str) {
    let h = Harness::new(policy).await;
    let r1 = h.start(&["load"]).await;
    assert_eq!(h.finish(r1).await, RunStatus::Complete);
    // `double` is manual: run 1 did not touch it.
    assert_eq!(h.node_status(r1, "double").await, NodeStatus::None);
    let r2 = h.start(&["double"]).await;
    assert_eq!(h.finish(r2).await, RunStatus::Complete);
    assert_eq!(h.node_status(r2, "double").await, NodeStatus::Success);
    let summary = h.engine.summary("ks", r2).await.unwrap();
    assert_eq!(summary.nodes[0].rows_out, 3);

    // Invalidate run 1: a new run of `double` must refuse its table.
    h.engine.stop_run("ks", r1, "bad data").await.unwrap();
    let r3 = h.start(&["double"]).await;
    assert_eq!(h.finish(r3).await, RunStatus::Complete);
    assert_eq!(h.node_status(r3, "double").await, NodeStatus::Fail);
    let s3 = h.engine.summary("ks", r3).await.unwrap();
    assert!(
        s3.nodes[0].error.as_deref().unwrap_or("").contains("nogo"),
        "{:?}",
        s3.nodes[0].error
    );
    h.queue.close();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nrs_policy_chooses_completed_runs_and_refuses_stopped_ones() {
    later_run_consumes_earlier_run(NRS_POLICY).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn legacy_e_policy_gives_the_same_decisions() {
    later_run_consumes_earlier_run(E_POLICY).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopped_run_drains_its_batches_as_stopreceived() {
    let dir = tempfile::tempdir().unwrap();
    let script = write_script(dir.path(), NRS_POLICY);
    let storage = Arc::new(SqliteStorage::open(dir.path().join("data")).unwrap());
    let queue = MemoryQueue::new();
    let engine = Arc::new(Engine::new(
        storage,
        Arc::new(queue.clone()) as Arc<dyn Queue>,
    ));
    // No worker yet: the run's first batch waits in the queue while the run is stopped.
    let r1 = engine
        .start_run(&RunRequest::new("ks", &script, None, &["load", "double"]))
        .await
        .unwrap();
    engine.stop_run("ks", r1, "operator").await.unwrap();
    let (_tx, rx) = tokio::sync::watch::channel(false);
    let c = queue.consumer().await.unwrap();
    queue.close();
    worker::run_worker(engine.clone(), 0, c, rx).await;
    assert_eq!(engine.run_status("ks", r1).await.unwrap(), RunStatus::Stop);
    let ks = engine.storage().open_keyspace("ks", false).await.unwrap();
    let batches = ks.batch_events(r1, Some("load")).await.unwrap();
    assert_eq!(batches.len(), 1);
    assert_eq!(batches[0].status, NodeStatus::StopReceived);
    let nodes = ks.node_events(Some(&[r1])).await.unwrap();
    let st = vessel_engine::status::node_statuses(&nodes, r1);
    assert_eq!(st.get("load"), Some(&NodeStatus::StopReceived));
}
