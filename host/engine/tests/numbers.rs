//! Numbers through whole pipelines: floats keep NaN, ±Inf and -0.0 from an expression through
//! storage into a CSV file printed as Go prints them, and a decimal2 beyond its range fails the
//! batch with an error naming node, field and value at every place one can be made.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;
use vessel_engine::{Engine, RunRequest};
use vessel_store::{NodeStatus, RunStatus};

/// Starts a run of `nodes` and waits until each has a final status and the run is complete
/// (later runs read its tables); returns each node's status and the comments of its failed
/// batches.
async fn run_nodes(
    engine: &Engine,
    script: &Path,
    nodes: &[&str],
) -> BTreeMap<String, (NodeStatus, Vec<String>)> {
    let run = engine
        .start_run(&RunRequest::new("ks", script, None, nodes))
        .await
        .expect("start run");
    let ks = engine
        .storage()
        .open_keyspace("ks", false)
        .await
        .expect("keyspace");
    // Generous: two workers on a busy machine; only a hang would get near it.
    for _ in 0..3000 {
        let events = ks.node_events(Some(&[run])).await.expect("node events");
        let st = vessel_engine::status::node_statuses(&events, run);
        let done = nodes
            .iter()
            .all(|n| matches!(st.get(*n), Some(NodeStatus::Success | NodeStatus::Fail)));
        if done && engine.run_status("ks", run).await.expect("run status") != RunStatus::Start {
            let mut out = BTreeMap::new();
            for n in nodes {
                let failed = ks
                    .batch_events(run, Some(n))
                    .await
                    .expect("batch events")
                    .into_iter()
                    .filter(|b| b.status == NodeStatus::Fail)
                    .map(|b| b.comment)
                    .collect();
                out.insert(n.to_string(), (st[*n], failed));
            }
            return out;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("run {run} of {nodes:?} did not finish");
}

const FLOAT_SCRIPT: &str = r#"{
  "nodes": {
    "load": {
      "type": "file_table",
      "r": {"urls": ["in.csv"], "csv": {"hdr_line_idx": 0, "first_data_line_idx": 1},
        "columns": {
          "col_id": {"csv": {"col_hdr": "id", "col_format": "%d"}, "col_type": "int"},
          "col_x": {"csv": {"col_hdr": "x", "col_format": "%f"}, "col_type": "float"}
        }},
      "w": {"name": "t1", "fields": {
        "id": {"expression": "r.col_id", "type": "int"},
        "x": {"expression": "r.col_x", "type": "float"},
        "sq": {"expression": "math.Sqrt(r.col_x)", "type": "float"},
        "inv": {"expression": "1.0 / r.col_x", "type": "float"},
        "neg": {"expression": "-r.col_x", "type": "float"}
      }}
    },
    "copy": {
      "type": "table_table",
      "r": {"table": "t1"},
      "w": {"name": "t2", "fields": {
        "id": {"expression": "r.id", "type": "int"},
        "x": {"expression": "r.x", "type": "float"},
        "sq": {"expression": "r.sq", "type": "float"},
        "inv": {"expression": "r.inv", "type": "float"},
        "neg": {"expression": "r.neg", "type": "float"}
      }}
    },
    "dump": {
      "type": "table_file",
      "r": {"table": "t2"},
      "w": {"url_template": "out/floats.csv", "top": {"order": "id"},
        "columns": [
          {"name": "id", "type": "int", "expression": "r.id", "csv": {"header": "id", "format": "%d"}},
          {"name": "x", "type": "float", "expression": "r.x", "csv": {"header": "x", "format": "%v"}},
          {"name": "sq", "type": "float", "expression": "r.sq", "csv": {"header": "sq", "format": "%v"}},
          {"name": "sq2", "type": "float", "expression": "r.sq", "csv": {"header": "sq2", "format": "%.2f"}},
          {"name": "inv", "type": "float", "expression": "r.inv", "csv": {"header": "inv", "format": "%.2f"}},
          {"name": "neg", "type": "float", "expression": "r.neg", "csv": {"header": "neg", "format": "%.2f"}},
          {"name": "negv", "type": "float", "expression": "r.neg", "csv": {"header": "negv", "format": "%g"}},
          {"name": "s", "type": "string", "expression": "string(r.neg)", "csv": {"header": "s", "format": "%s"}}
        ]}
    }
  }
}"#;

/// `math.Sqrt(-1)` is NaN, `1.0 / 0` and `1.0 / -0` are ±Inf, `-0` stays negative: all of
/// them survive two trips through storage and print as Go's fmt prints them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nan_infinities_and_negative_zero_reach_the_csv_as_go_prints_them() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("in.csv"),
        "id,x\n1,-1\n2,0\n3,-0\n4,4.9406564584124654e-324\n5,1.7976931348623157e308\n6,2.25\n",
    )
    .unwrap();
    let script = dir.path().join("script.json");
    std::fs::write(&script, FLOAT_SCRIPT).unwrap();
    let (engine, _queue, _tx) = common::engine_with_workers(&dir.path().join("data")).await;
    let res = run_nodes(&engine, &script, &["load", "copy", "dump"]).await;
    for (node, (st, failed)) in &res {
        assert_eq!(*st, NodeStatus::Success, "node {node}: {failed:?}");
    }
    let csv = std::fs::read_to_string(dir.path().join("out/floats.csv")).unwrap();
    let expected = "id,x,sq,sq2,inv,neg,negv,s\n\
        1,-1,NaN,NaN,-1.00,1.00,1,1\n\
        2,0,0,0.00,+Inf,-0.00,-0,-0\n\
        3,-0,-0,-0.00,-Inf,0.00,0,0\n\
        4,5e-324,2.2227587494850775e-162,0.00,+Inf,-0.00,-5e-324,-5e-324\n\
        5,1.7976931348623157e+308,1.3407807929942596e+154,\
        13407807929942595611008317640802934282464207265959107021466054756094376573581619054852612241927956455650759996398703782412109633178814162067569513603268608.00,\
        0.00,\
        -179769313486231570814527423731704356798070567525844996598917476803157260780028538760589558632766878171540458953514382464234321326889464182768467546703537516986049910576551282076245490090389328944075868508455133942304583236903222948165808559332123348274797826204144723168738177180919299881250404026184124858368.00,\
        -1.7976931348623157e+308,-1.7976931348623157e+308\n\
        6,2.25,1.5,1.50,0.44,-2.25,-2.25,-2.25\n";
    assert_eq!(csv, expected);
}

const DECIMAL_SCRIPT: &str = r#"{
  "nodes": {
    "load_nums": {
      "type": "file_table",
      "r": {"urls": ["nums.csv"], "csv": {"hdr_line_idx": 0, "first_data_line_idx": 1},
        "columns": {
          "col_id": {"csv": {"col_hdr": "id", "col_format": "%d"}, "col_type": "int"},
          "col_g": {"csv": {"col_hdr": "g", "col_format": "%d"}, "col_type": "int"},
          "col_d": {"csv": {"col_hdr": "d", "col_format": "%f"}, "col_type": "decimal2"},
          "col_i": {"csv": {"col_hdr": "i", "col_format": "%d"}, "col_type": "int"},
          "col_f": {"csv": {"col_hdr": "f", "col_format": "%f"}, "col_type": "float"},
          "col_s": {"csv": {"col_hdr": "s"}, "col_type": "string"}
        }},
      "w": {"name": "nums", "fields": {
        "id": {"expression": "r.col_id", "type": "int"},
        "g": {"expression": "r.col_g", "type": "int"},
        "d": {"expression": "r.col_d", "type": "decimal2"},
        "i": {"expression": "r.col_i", "type": "int"},
        "f": {"expression": "r.col_f", "type": "float"},
        "s": {"expression": "r.col_s", "type": "string"}
      }, "indexes": {"idx_nums_g": "non_unique(g)"}}
    },
    "in_range": {"type": "table_table", "r": {"table": "nums"},
      "w": {"name": "t_in_range", "fields": {
        "v": {"expression": "r.d + decimal2(1)", "type": "decimal2"}}}},
    "arith": {"type": "table_table", "r": {"table": "nums"},
      "w": {"name": "t_arith", "fields": {
        "id": {"expression": "r.id", "type": "int"},
        "big": {"expression": "r.d * decimal2(2)", "type": "decimal2"}}}},
    "from_int": {"type": "table_table", "r": {"table": "nums"},
      "w": {"name": "t_from_int", "fields": {
        "v": {"expression": "decimal2(r.i)", "type": "decimal2"}}}},
    "from_float": {"type": "table_table", "r": {"table": "nums"},
      "w": {"name": "t_from_float", "fields": {
        "v": {"expression": "decimal2(r.f)", "type": "decimal2"}}}},
    "from_nan": {"type": "table_table", "r": {"table": "nums"},
      "w": {"name": "t_from_nan", "fields": {
        "v": {"expression": "decimal2(math.Sqrt(r.f - 2.0))", "type": "decimal2"}}}},
    "from_string": {"type": "table_table", "r": {"table": "nums"},
      "w": {"name": "t_from_string", "fields": {
        "v": {"expression": "decimal2(r.s)", "type": "decimal2"}}}},
    "negate": {"type": "table_table", "r": {"table": "nums"},
      "w": {"name": "t_negate", "fields": {
        "v": {"expression": "-(r.d - r.d + decimal2(\"-92233720368547758.08\"))", "type": "decimal2"}}}},
    "total": {"type": "table_lookup_table", "r": {"table": "nums"},
      "l": {"index_name": "idx_nums_g", "join_on": "r.g", "group": true, "join_type": "left"},
      "w": {"name": "t_total", "fields": {
        "id": {"expression": "r.id", "type": "int"},
        "total": {"expression": "sum(l.d)", "type": "decimal2"}}}},
    "load_bad": {
      "type": "file_table",
      "r": {"urls": ["bad.csv"], "csv": {"hdr_line_idx": 0, "first_data_line_idx": 1},
        "columns": {
          "col_d": {"csv": {"col_hdr": "d", "col_format": "%f"}, "col_type": "decimal2"}
        }},
      "w": {"name": "bad", "fields": {
        "d": {"expression": "r.col_d", "type": "decimal2"}}}
    }
  }
}"#;

/// Every place that makes a decimal2 refuses a value beyond -92233720368547758.08 ..
/// 92233720368547758.07: the batch fails with the node, the field and the value in its
/// error, and no clamped 92233720368547758.07 is stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn decimal2_overflow_fails_the_batch_naming_node_field_and_value() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("nums.csv"),
        "id,g,d,i,f,s\n\
         1,1,60000000000000000,-92233720368547758,1e17,1e30\n\
         2,1,60000000000000000,100000000000000000,1,1\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("bad.csv"), "d\n1.5\n1e20\n").unwrap();
    let script = dir.path().join("script.json");
    std::fs::write(&script, DECIMAL_SCRIPT).unwrap();
    let (engine, _queue, _tx) = common::engine_with_workers(&dir.path().join("data")).await;
    let res = run_nodes(&engine, &script, &["load_nums"]).await;
    assert_eq!(res["load_nums"].0, NodeStatus::Success, "{res:?}");
    let res = run_nodes(&engine, &script, &["in_range"]).await;
    assert_eq!(res["in_range"].0, NodeStatus::Success, "{res:?}");

    let range = "is outside the decimal2 range -92233720368547758.08 to 92233720368547758.07";
    let cases: [(&str, &[&str]); 8] = [
        (
            "arith",
            &[
                "node 'arith', w.fields.big: decimal2 overflow in 60000000000000000.00 * 2: ",
                "120000000000000000.00 ",
            ],
        ),
        (
            "from_int",
            &["node 'from_int', w.fields.v: decimal2(100000000000000000): "],
        ),
        (
            "from_float",
            &["node 'from_float', w.fields.v: decimal2(1e+17): 1e+17 "],
        ),
        (
            "from_nan",
            &["node 'from_nan', w.fields.v: decimal2(NaN): NaN has no decimal2 value"],
        ),
        (
            "from_string",
            &["node 'from_string', w.fields.v: decimal2(\"1e30\"): 1e30 "],
        ),
        (
            "negate",
            &["node 'negate', w.fields.v: -(-92233720368547758.08): "],
        ),
        (
            "total",
            &["node 'total', w.fields.total: sum(): decimal2 overflow: 120000000000000000.00 "],
        ),
        (
            "load_bad",
            &["load_bad", "bad.csv line 3", "col_d", "\"1e20\"", "(1e20 "],
        ),
    ];
    for (node, wanted) in cases {
        let res = run_nodes(&engine, &script, &[node]).await;
        let (st, failed) = &res[node];
        assert_eq!(*st, NodeStatus::Fail, "node {node} must fail");
        let text = failed.join("\n");
        for w in wanted {
            assert!(text.contains(w), "node {node}: {w:?} not in {text:?}");
        }
        if node != "from_nan" {
            assert!(text.contains(range), "node {node}: {text:?}");
        }
    }
}
