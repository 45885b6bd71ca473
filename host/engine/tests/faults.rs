//! Storage failures injected into whole pipeline runs (the Capillaries `lookup` script): for
//! every injection point the run ends (never hangs), never reports success with data missing,
//! leaves no rows of a failed batch visible, and, when the machine failed, stays resumable:
//! a resume after the fault is gone gives the baselines' output.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use vessel_engine::{Engine, RunRequest, Settings, worker};
use vessel_queue::{MemoryQueue, Queue};
use vessel_store::faults::{Fault, FaultPlan, FaultyStorage, Rule};
use vessel_store::{NodeStatus, RunStatus, Storage};
use vessel_store_sqlite::SqliteStorage;

const KS: &str = "faults";

/// Generous: a run of this pipeline takes seconds; only a hang reaches it.
const HANG: Duration = Duration::from_secs(240);

const OUTPUTS: [&str; 4] = [
    "order_item_date_inner",
    "order_item_date_left_outer",
    "order_date_value_grouped_inner",
    "order_date_value_grouped_left_outer",
];

/// Nodes that write tables, with their tables.
const TABLES: [(&str, &str); 6] = [
    ("read_orders", "orders"),
    ("read_order_items", "order_items"),
    ("order_item_date_inner", "order_item_date_inner"),
    ("order_item_date_left_outer", "order_item_date_left_outer"),
    (
        "order_date_value_grouped_inner",
        "order_date_value_grouped_inner",
    ),
    (
        "order_date_value_grouped_left_outer",
        "order_date_value_grouped_left_outer",
    ),
];

/// Every storage call that writes: once the disk is full, all of them fail.
const WRITES: [&str; 11] = [
    "append_batch_event",
    "append_batch_start",
    "append_node_event",
    "append_run_event",
    "claim_marker",
    "create_table",
    "delete_batch",
    "heartbeat",
    "write_data",
    "write_index_entries",
    "write_rows",
];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn capillaries() -> PathBuf {
    root()
        .join("../shared/testdata/capillaries")
        .canonicalize()
        .expect("../shared/testdata/capillaries must exist beside the project root")
}

fn write_params(dir: &Path) -> PathBuf {
    let out = dir.join("out");
    std::fs::create_dir_all(&out).unwrap();
    let p = dir.join("params.yaml");
    std::fs::write(
        &p,
        format!(
            "start_date: \"2016-01-01 00:00:00\"\n\
             end_date: \"2018-12-31 23:23:59\"\n\
             default_shipping_limit_date: \"1980-02-03T04:05:06.777+00:00\"\n\
             default_order_item_id: \"999\"\n\
             default_order_item_value: \"999.00\"\n\
             lookup_node_batches_total: 4\n\
             manual_if_multi: auto\n\
             dir_in: {}\n\
             dir_out: {}\n",
            capillaries().join("in/lookup").display(),
            out.display()
        ),
    )
    .unwrap();
    p
}

/// From the `trigger` call of `method` on, every write fails with a full disk.
fn disk_full_from(plan: &FaultPlan, method: &'static str, nth: u64) {
    let trigger = plan.add(Rule::nth(method, nth, Fault::DiskFull).persistent());
    for w in WRITES {
        plan.add(
            Rule::nth(w, 1, Fault::DiskFull)
                .persistent()
                .armed_by(trigger),
        );
    }
}

/// How a run in progress ended.
#[derive(Debug)]
enum End {
    Halted(String),
    Finished(RunStatus),
}

struct Harness {
    dir: tempfile::TempDir,
    plan: Arc<FaultPlan>,
    engine: Arc<Engine>,
    queue: MemoryQueue,
    workers: usize,
    handles: Vec<tokio::task::JoinHandle<()>>,
    /// Reads the same files without faults, as an operator would.
    observer: SqliteStorage,
}

impl Harness {
    fn new(plan: Arc<FaultPlan>, workers: usize) -> Harness {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let real = Arc::new(SqliteStorage::open(&data).unwrap());
        let storage = Arc::new(FaultyStorage::new(real, plan.clone()));
        let queue = MemoryQueue::new();
        let engine = Arc::new(
            Engine::new(storage, Arc::new(queue.clone()) as Arc<dyn Queue>).with_settings(
                Settings {
                    retry_delay: Duration::from_millis(50),
                    ..Settings::default()
                },
            ),
        );
        let observer = SqliteStorage::open(&data).unwrap();
        Harness {
            dir,
            plan,
            engine,
            queue,
            workers,
            handles: Vec::new(),
            observer,
        }
    }

    async fn spawn_workers(&mut self) {
        let (tx, rx) = tokio::sync::watch::channel(false);
        // Never asks for shutdown: workers end on a halt or when the queue closes.
        std::mem::forget(tx);
        let started = worker::spawn_workers(&self.engine, self.workers, &rx)
            .await
            .unwrap();
        self.handles.extend(started);
    }

    async fn join_workers(&mut self) {
        for h in self.handles.drain(..) {
            tokio::time::timeout(HANG, h)
                .await
                .expect("a worker kept taking work after the engine halted")
                .unwrap();
        }
    }

    async fn start(&self) -> i32 {
        let script = root().join("tests/conformance/lookup/script_quick.yaml");
        let params = write_params(self.dir.path());
        self.engine
            .start_run(&RunRequest::new(
                KS,
                &script,
                Some(&params),
                &["read_orders", "read_order_items"],
            ))
            .await
            .unwrap()
    }

    async fn run_status(&self, run_id: i32) -> RunStatus {
        let ks = self.observer.open_keyspace(KS, false).await.unwrap();
        let ev = ks.run_events(Some(&[run_id])).await.unwrap();
        vessel_engine::status::run_status_latest(&ev, run_id)
    }

    /// Waits until the engine halts or the run leaves "start"; a hang fails the test.
    async fn wait_end(&self, run_id: i32) -> End {
        let wait = async {
            loop {
                if let Some(cause) = self.engine.halted() {
                    return End::Halted(cause);
                }
                let st = self.run_status(run_id).await;
                if st != RunStatus::Start {
                    return End::Finished(st);
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        };
        tokio::time::timeout(HANG, wait).await.unwrap_or_else(|_| {
            panic!(
                "run {run_id} neither finished nor halted within {HANG:?} (a hang); faults: {:?}",
                self.plan.fired()
            )
        })
    }

    /// Fails when a batch recorded as failed still has rows in its node's table.
    async fn assert_no_rows_of_failed_batches(&self, run_id: i32) {
        let ks = self.observer.open_keyspace(KS, false).await.unwrap();
        let conn =
            rusqlite::Connection::open(self.dir.path().join(format!("data/{KS}.sqlite"))).unwrap();
        for (node, table) in TABLES {
            let events = ks.batch_events(run_id, Some(node)).await.unwrap();
            let latest = vessel_engine::status::latest_batch_statuses(&events);
            for (idx, e) in latest {
                if e.status != NodeStatus::Fail {
                    continue;
                }
                let n: i64 = conn
                    .query_row(
                        &format!(
                            "SELECT count(*) FROM \"{}\" WHERE batch_idx = ?1",
                            vessel_store::run_table_name(table, run_id)
                        ),
                        [idx],
                        |r| r.get(0),
                    )
                    .unwrap();
                assert_eq!(
                    n, 0,
                    "batch {idx} of node {node} failed ({}) but its {n} rows are visible",
                    e.comment
                );
            }
        }
    }

    fn assert_outputs_match_baselines(&self) {
        let base = capillaries().join("out/lookup");
        for name in OUTPUTS {
            let expected = std::fs::read(base.join(format!("{name}_baseline.csv"))).unwrap();
            let got = std::fs::read(self.dir.path().join(format!("out/{name}.csv")))
                .unwrap_or_else(|e| panic!("{name}.csv: {e}"));
            assert!(
                expected == got,
                "{name}.csv differs from the baseline; faults: {:?}",
                self.plan.fired()
            );
        }
    }
}

/// Runs the pipeline under `plan`. A halted run must be unfinished and resumable; once the
/// plan heals, a resume completes it with the baselines' output. Returns the halt cause.
async fn run_then_resume(plan: Arc<FaultPlan>, workers: usize) -> Option<String> {
    let mut h = Harness::new(plan.clone(), workers);
    h.spawn_workers().await;
    let run_id = h.start().await;
    let end = h.wait_end(run_id).await;
    assert!(
        !plan.fired().is_empty(),
        "the injection point was never reached: pick another occurrence"
    );
    let cause = match end {
        End::Halted(cause) => {
            h.join_workers().await;
            assert_eq!(
                h.run_status(run_id).await,
                RunStatus::Start,
                "a halted run must stay unfinished (halt: {cause})"
            );
            h.assert_no_rows_of_failed_batches(run_id).await;
            plan.heal();
            let resumed = h.engine.resume_run(KS, None).await.unwrap();
            assert_eq!(resumed, run_id);
            assert!(h.engine.halted().is_none());
            h.spawn_workers().await;
            match h.wait_end(run_id).await {
                End::Finished(st) => assert_eq!(st, RunStatus::Complete),
                End::Halted(again) => panic!("halted again after healing: {again}"),
            }
            Some(cause)
        }
        End::Finished(st) => {
            assert_eq!(st, RunStatus::Complete);
            None
        }
    };
    let summary = h.engine.summary(KS, run_id).await.unwrap();
    assert!(
        summary.all_ok(),
        "faults {:?} ended in {summary:?}",
        plan.fired()
    );
    h.assert_no_rows_of_failed_batches(run_id).await;
    h.assert_outputs_match_baselines();
    h.queue.close();
    h.join_workers().await;
    cause
}

/// A matrix case: the machine fails, the run halts, a resume finishes it.
macro_rules! halts_then_resumes {
    ($name:ident, $workers:expr, $expect:expr, |$plan:ident| $setup:block) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $name() {
            let $plan = FaultPlan::new();
            $setup
            let cause = run_then_resume($plan.clone(), $workers)
                .await
                .expect("the fault must halt the run");
            assert!(cause.contains($expect), "halt cause: {cause}");
        }
    };
}

halts_then_resumes!(
    disk_full_at_the_first_row_write,
    1,
    "database or disk is full",
    |plan| {
        disk_full_from(&plan, "write_data", 1);
    }
);

halts_then_resumes!(
    disk_full_in_a_lookup_node,
    1,
    "cannot process batch",
    |plan| {
        disk_full_from(&plan, "write_data", 6);
    }
);

halts_then_resumes!(
    disk_full_with_two_workers,
    2,
    "database or disk is full",
    |plan| {
        disk_full_from(&plan, "write_data", 4);
    }
);

halts_then_resumes!(
    disk_full_when_recording_a_start,
    1,
    "database or disk is full",
    |plan| {
        // The start of the second batch.
        disk_full_from(&plan, "append_batch_start", 2);
    }
);

halts_then_resumes!(
    disk_full_when_recording_a_success,
    1,
    "database or disk is full",
    |plan| {
        // The success of the second batch (starts have a call of their own).
        disk_full_from(&plan, "append_batch_event", 2);
    }
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn success_stored_although_its_commit_reported_an_io_error() {
    // The batch is recorded as done: removing its rows would lose them, since no resume
    // redoes a batch recorded as done.
    let plan = FaultPlan::new();
    plan.add(Rule::nth("append_batch_event", 2, Fault::IoError).after_call());
    assert_eq!(run_then_resume(plan, 1).await, None);
}

halts_then_resumes!(
    disk_full_when_recording_a_node_status,
    1,
    "run's state could not be updated",
    |plan| {
        disk_full_from(&plan, "append_node_event", 2);
    }
);

halts_then_resumes!(
    disk_full_when_publishing_the_next_nodes,
    1,
    "database or disk is full",
    |plan| {
        // Calls 1 and 2 publish the loaders at the start; 3 to 6 the lookups.
        disk_full_from(&plan, "claim_marker", 4);
    }
);

halts_then_resumes!(
    disk_full_when_completing_the_run,
    1,
    "database or disk is full",
    |plan| {
        // Call 1 starts the run; call 2 completes it, after its marker was claimed.
        disk_full_from(&plan, "append_run_event", 2);
    }
);

halts_then_resumes!(io_error_once_on_a_read, 2, "disk I/O error", |plan| {
    plan.add(Rule::nth("read_page", 3, Fault::IoError));
});

halts_then_resumes!(
    recording_a_failure_fails_too,
    1,
    "cannot record status of batch",
    |plan| {
        // A batch fails for a reason of its own, then the disk fills up as its failure is
        // recorded: the message must not be acknowledged with no final status.
        let first = plan.add(Rule::nth("write_data", 3, Fault::Backend));
        let trigger = plan.add(Rule::nth("append_batch_event", 1, Fault::DiskFull).armed_by(first));
        for w in WRITES {
            plan.add(
                Rule::nth(w, 1, Fault::DiskFull)
                    .persistent()
                    .armed_by(trigger),
            );
        }
    }
);

halts_then_resumes!(
    recording_a_failure_fails_once,
    1,
    "cannot record status of batch",
    |plan| {
        // Only the call recording the failure fails: acknowledging the message would leave
        // the batch without a final status and the run waiting for it forever.
        let first = plan.add(Rule::nth("write_data", 3, Fault::Backend));
        plan.add(Rule::nth("append_batch_event", 1, Fault::DiskFull).armed_by(first));
    }
);

halts_then_resumes!(
    cleaning_a_failed_batch_fails_on_a_full_disk,
    1,
    "cannot remove the rows of failed batch",
    |plan| {
        let first = plan.add(Rule::nth("write_data", 3, Fault::Backend));
        let trigger = plan.add(
            Rule::nth("delete_batch", 1, Fault::DiskFull)
                .persistent()
                .armed_by(first),
        );
        for w in WRITES {
            plan.add(
                Rule::nth(w, 1, Fault::DiskFull)
                    .persistent()
                    .armed_by(trigger),
            );
        }
    }
);

halts_then_resumes!(
    cleaning_a_failed_batch_fails_once,
    1,
    "cannot remove the rows of failed batch",
    |plan| {
        let first = plan.add(Rule::nth("write_data", 3, Fault::Backend));
        plan.add(Rule::nth("delete_batch", 1, Fault::Backend).armed_by(first));
    }
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transient_failures_are_retried_to_the_same_output() {
    let plan = FaultPlan::new();
    plan.add(Rule::nth("append_batch_start", 2, Fault::Busy));
    plan.add(Rule::nth("append_batch_event", 3, Fault::Busy));
    plan.add(Rule::nth("write_index_entries", 2, Fault::Busy));
    plan.add(Rule::nth("append_node_event", 2, Fault::Busy));
    let cause = run_then_resume(plan, 2).await;
    assert_eq!(cause, None, "a transient failure must not halt the run");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_failing_on_its_own_fails_its_node_without_leaving_rows() {
    let plan = FaultPlan::new();
    plan.add(Rule::nth("write_data", 3, Fault::Backend));
    let mut h = Harness::new(plan.clone(), 2);
    h.spawn_workers().await;
    let run_id = h.start().await;
    match h.wait_end(run_id).await {
        End::Finished(st) => assert_eq!(st, RunStatus::Complete),
        End::Halted(cause) => panic!("a failure of the batch itself must not halt: {cause}"),
    }
    assert_eq!(plan.fired().len(), 1);
    let summary = h.engine.summary(KS, run_id).await.unwrap();
    assert!(!summary.all_ok(), "{summary:?}");
    // The node whose write failed, and the file node that reads it (dependency nogo).
    let failed: Vec<_> = summary
        .nodes
        .iter()
        .filter(|n| n.status == "fail")
        .collect();
    assert_eq!(failed.len(), 2, "{summary:?}");
    assert!(
        failed[0]
            .error
            .as_deref()
            .unwrap_or_default()
            .contains("injected"),
        "{summary:?}"
    );
    assert!(failed[1].node.starts_with("file_"), "{summary:?}");
    h.assert_no_rows_of_failed_batches(run_id).await;
    let refused = h.engine.resume_run(KS, None).await.unwrap_err();
    assert!(
        refused.to_string().contains("no unfinished run"),
        "{refused}"
    );
    h.queue.close();
    h.join_workers().await;
}
