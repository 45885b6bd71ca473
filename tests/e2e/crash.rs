//! SIGKILL in the middle of a multi-batch node, then `--resume`: the outputs equal those of
//! an uninterrupted run.

use crate::support::{assert_same_file, reference_run, s, vessel_ok};
use std::fmt::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use vessel_store::{NodeStatus, Storage, TableRef};

const ROWS: usize = 200_000;
const BATCHES: usize = 40;

fn setup(dir: &Path) -> std::path::PathBuf {
    let mut t = String::from("id,name,amount\n");
    for i in 0..ROWS {
        writeln!(t, "{i},name{},{}.{:02}", i % 977, i % 5000, i % 100).unwrap();
    }
    std::fs::write(dir.join("in.csv"), t).unwrap();
    let script = format!(
        r#"{{
  "nodes": {{
    "load": {{
      "type": "file_table",
      "r": {{"urls": ["in.csv"], "csv": {{"hdr_line_idx": 0, "first_data_line_idx": 1}},
        "columns": {{
          "col_id": {{"csv": {{"col_hdr": "id", "col_format": "%d"}}, "col_type": "int"}},
          "col_name": {{"csv": {{"col_hdr": "name"}}, "col_type": "string"}},
          "col_amount": {{"csv": {{"col_hdr": "amount", "col_format": "%f"}}, "col_type": "decimal2"}}
        }}}},
      "w": {{"name": "raw", "fields": {{
          "id": {{"expression": "r.col_id", "type": "int"}},
          "name": {{"expression": "r.col_name", "type": "string"}},
          "amount": {{"expression": "r.col_amount", "type": "decimal2"}}
        }}}}
    }},
    "enrich": {{
      "type": "table_table",
      "r": {{"table": "raw", "expected_batches_total": {BATCHES}, "rowset_size": 500}},
      "w": {{"name": "enriched", "fields": {{
          "id": {{"expression": "r.id", "type": "int"}},
          "label": {{"expression": "fmt.Sprintf(\"%s-%05d\", strings.ReplaceAll(r.name, \"name\", \"n\"), r.id)", "type": "string"}},
          "taxed": {{"expression": "r.amount * decimal2(1.2)", "type": "decimal2"}}
        }},
        "indexes": {{"idx_enriched_id_to_check_uniq": "unique(id)"}}}}
    }},
    "dump": {{
      "type": "table_file",
      "r": {{"table": "enriched"}},
      "w": {{"url_template": "out/enriched.csv", "top": {{"order": "id"}},
        "columns": [
          {{"name": "id", "type": "int", "expression": "r.id", "csv": {{"header": "id", "format": "%d"}}}},
          {{"name": "label", "type": "string", "expression": "r.label", "csv": {{"header": "label", "format": "%s"}}}},
          {{"name": "taxed", "type": "decimal2", "expression": "r.taxed", "csv": {{"header": "taxed", "format": "%s"}}}}
        ]}}
    }}
  }}
}}"#
    );
    let p = dir.join("script.json");
    std::fs::write(&p, script).unwrap();
    p
}

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
    let st = vessel_store_sqlite::SqliteStorage::open(&data).unwrap();
    let ks = st.open_keyspace("crash", false).await.unwrap();
    let n = ks
        .count_rows(&TableRef {
            name: "enriched".into(),
            run_id: 1,
        })
        .await
        .unwrap();
    assert_eq!(
        n, ROWS as u64,
        "no row lost or duplicated by the interrupted batch"
    );
}
