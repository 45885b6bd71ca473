//! A malformed CSV line fails only its own batch, with an error naming file, line and column;
//! a rerun after the file is fixed succeeds.

use crate::support::{batch_history, s, vessel, vessel_ok};
use std::fmt::Write as _;
use std::path::Path;
use vessel_store::{Storage, TableRef};

fn script(dir: &Path) -> std::path::PathBuf {
    let p = dir.join("load.json");
    let text = r#"{
  "nodes": {
    "load_items": {
      "type": "file_table",
      "r": {
        "urls": ["good.csv", "bad.csv"],
        "csv": {"hdr_line_idx": 0, "first_data_line_idx": 1},
        "columns": {
          "col_id": {"csv": {"col_hdr": "id", "col_format": "%d"}, "col_type": "int"},
          "col_amount": {"csv": {"col_hdr": "amount", "col_format": "%f"}, "col_type": "decimal2"}
        }
      },
      "w": {
        "name": "items",
        "fields": {
          "id": {"expression": "r.col_id", "type": "int"},
          "amount": {"expression": "r.col_amount", "type": "decimal2"}
        }
      }
    },
    "dump_items": {
      "type": "table_file",
      "r": {"table": "items"},
      "w": {
        "url_template": "out/items.csv",
        "top": {"order": "id"},
        "columns": [
          {"name": "id", "type": "int", "expression": "r.id", "csv": {"header": "id", "format": "%d"}},
          {"name": "amount", "type": "decimal2", "expression": "r.amount", "csv": {"header": "amount", "format": "%s"}}
        ]
      }
    }
  }
}"#;
    std::fs::write(&p, text).unwrap();
    p
}

fn write_rows(path: &Path, from: usize, to: usize, bad_at: Option<usize>) {
    let mut t = String::from("id,amount\n");
    for i in from..to {
        if Some(i) == bad_at {
            writeln!(t, "{i},12.x5").unwrap();
        } else {
            writeln!(t, "{i},{}.25", i % 100).unwrap();
        }
    }
    std::fs::write(path, t).unwrap();
}

async fn count(data: &Path, ks: &str, run_id: i32) -> u64 {
    let st = vessel_store_sqlite::SqliteStorage::open(data).unwrap();
    let ks = st.open_keyspace(ks, false).await.unwrap();
    ks.count_rows(&TableRef {
        name: "items".into(),
        run_id,
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn bad_line_fails_only_its_batch_and_rerun_works() {
    let dir = tempfile::tempdir().unwrap();
    let script = script(dir.path());
    write_rows(&dir.path().join("good.csv"), 0, 3, None);
    // 5000 rows with a bad value on file line 4002 (row 4000): two chunks of rows were
    // written before the error and must be removed again.
    write_rows(&dir.path().join("bad.csv"), 3, 5003, Some(4003));
    let data = dir.path().join("data");
    let out = vessel(&[
        "run",
        s(&script),
        "--keyspace",
        "bad",
        "--data-dir",
        s(&data),
        "--workers",
        "2",
    ]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "a failed node must fail the command"
    );
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("bad.csv line 4002"), "{text}");
    assert!(text.contains("col_amount"), "{text}");
    let batches = batch_history("bad", &data, "load_items");
    let status_of = |idx: i64| {
        batches
            .iter()
            .filter(|b| b["batch_idx"] == idx)
            .map(|b| b["status"].as_str().unwrap().to_string())
            .next_back()
            .unwrap()
    };
    assert_eq!(status_of(0), "Success");
    assert_eq!(status_of(1), "Fail");
    // The good file's rows are kept; nothing of the failed batch remains.
    assert_eq!(count(&data, "bad", 1).await, 3);
    assert!(!dir.path().join("out/items.csv").exists());

    write_rows(&dir.path().join("bad.csv"), 3, 5003, None);
    vessel_ok(&[
        "run",
        s(&script),
        "--keyspace",
        "bad",
        "--data-dir",
        s(&data),
    ]);
    assert_eq!(count(&data, "bad", 2).await, 5003);
    let csv = std::fs::read_to_string(dir.path().join("out/items.csv")).unwrap();
    assert_eq!(csv.lines().count(), 5004);
    assert_eq!(csv.lines().nth(1), Some("0,0.25"));
}
