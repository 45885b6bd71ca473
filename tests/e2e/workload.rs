//! The workload of the crash and distributed tests: 200,000 rows loaded from one CSV file,
//! enriched by a 40-batch node into a table with a unique index, and written out sorted.

use std::fmt::Write as _;
use std::path::Path;
use vessel_store::TableRef;

/// Input rows.
pub const ROWS: usize = 200_000;
/// Batches of node `enrich`.
pub const BATCHES: usize = 40;

/// Writes the input and the script into `dir`; returns the script.
pub fn setup(dir: &Path) -> std::path::PathBuf {
    setup_rows(dir, ROWS)
}

/// [`setup`] with `rows` input rows (still [`BATCHES`] batches).
pub fn setup_rows(dir: &Path, rows: usize) -> std::path::PathBuf {
    let mut t = String::from("id,name,amount\n");
    for i in 0..rows {
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

/// The table of node `enrich` holds every input row exactly once.
pub async fn assert_rows(data: &Path, ks: &str, run_id: i32) {
    assert_rows_in(data, ks, run_id, ROWS).await;
}

/// The table of node `enrich` holds every one of `rows` input rows exactly once.
pub async fn assert_rows_in(
    store: &(impl crate::cluster::StoreUrl + ?Sized),
    ks: &str,
    run_id: i32,
    rows: usize,
) {
    let st = crate::cluster::open_store(&store.store_url())
        .await
        .expect("the store opens");
    let ks = st.open_keyspace(ks, false).await.unwrap();
    let n = ks
        .count_rows(&TableRef {
            name: "enriched".into(),
            run_id,
        })
        .await
        .unwrap();
    assert_eq!(
        n, rows as u64,
        "no row lost or duplicated by the interrupted batch"
    );
}
