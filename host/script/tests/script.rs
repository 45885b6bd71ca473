//! Integration tests of vessel-script: the lookup conformance script (tests/conformance/lookup)
//! and whole-script validation.

use std::path::{Path, PathBuf};
use vessel_core::{FieldType, Value};
use vessel_script::{
    FunctionRequest, FunctionSig, JoinType, LoadOptions, NodeType, ParamValue, Params,
    PluginLimits, ProcessorCatalog, ProcessorRequest, Reader, ScriptFormat, StartPolicy, Writer,
    dag, load_script, load_script_str, load_script_str_with,
};

fn lookup_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/conformance/lookup")
}

fn lookup_text() -> String {
    std::fs::read_to_string(lookup_dir().join("script_quick.yaml")).unwrap()
}

fn params(multi: bool) -> Params {
    let file = if multi {
        "params_multi.yaml"
    } else {
        "params_one.yaml"
    };
    Params::load(&lookup_dir().join(file)).unwrap()
}

fn names(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

const LOADERS: [&str; 2] = ["read_order_items", "read_orders"];
const JOINS: [&str; 4] = [
    "order_date_value_grouped_inner",
    "order_date_value_grouped_left_outer",
    "order_item_date_inner",
    "order_item_date_left_outer",
];

#[test]
fn lookup_script_loads_with_both_params_files() {
    let one = load_script(
        &lookup_dir().join("script_quick.yaml"),
        Some(&lookup_dir().join("params_one.yaml")),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(one.nodes.len(), 10);
    assert!(one.warnings.is_empty(), "{:?}", one.warnings);
    assert_eq!(one.default_policy, "current_active_first_stopped_nogo");
    assert_eq!(one.policies.len(), 1);
    assert_eq!(one.policies[&one.default_policy].rules.len(), 10);
    assert_eq!(one.table_creators["orders"], "read_orders");
    assert_eq!(
        one.index_owners["idx_order_items_order_id"],
        "read_order_items"
    );
    for j in JOINS {
        assert_eq!(one.nodes[j].start_policy, StartPolicy::Auto);
        assert_eq!(one.nodes[j].batches_total(), 10);
    }

    let multi = load_script_str(
        &lookup_text(),
        ScriptFormat::Yaml,
        &params(true),
        "script_quick.yaml",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    for j in JOINS {
        assert_eq!(multi.nodes[j].start_policy, StartPolicy::Manual);
    }
}

#[test]
fn lookup_readers_and_writers_are_resolved() {
    let s = load_script_str(&lookup_text(), ScriptFormat::Yaml, &params(false), "s.yaml").unwrap();
    let orders = &s.nodes["read_orders"];
    let Reader::File(fr) = &orders.reader else {
        panic!("file reader")
    };
    assert_eq!(
        fr.urls,
        vec!["/tmp/vessel_lookup_in/olist_orders_dataset.csv"]
    );
    assert_eq!(
        (fr.hdr_line_idx, fr.first_data_line_idx, fr.separator),
        (0, 1, b',')
    );
    assert_eq!(fr.schema.len(), 3);
    let Writer::Table(tw) = &orders.writer else {
        panic!("table writer")
    };
    assert!(tw.having.is_some());
    assert_eq!(tw.indexes.len(), 1);
    assert!(tw.indexes[0].unique);

    let items = &s.nodes["read_order_items"];
    let Reader::File(fr) = &items.reader else {
        panic!()
    };
    assert_eq!(
        fr.columns
            .iter()
            .map(|c| (&c.name[..], c.source.clone()))
            .collect::<Vec<_>>()[0],
        ("col_freight_value", vessel_script::ColumnSource::Index(6))
    );

    let lo = &s.nodes["order_item_date_left_outer"];
    let l = lo.lookup.as_ref().unwrap();
    assert_eq!(l.right_table, "order_items");
    assert_eq!(l.join_type, JoinType::Left);
    assert!(!l.group);
    let Reader::Table(tr) = &lo.reader else {
        panic!()
    };
    // r.* = the orders writer's fields sorted by name.
    assert_eq!(
        tr.fields
            .fields()
            .iter()
            .map(|f| f.0.as_str())
            .collect::<Vec<_>>(),
        vec!["order_id", "order_purchase_timestamp", "order_status"]
    );
    assert_eq!(l.join_on, vec![0]);
    let Writer::Table(tw) = &lo.writer else {
        panic!()
    };
    let by = |n: &str| tw.fields.iter().find(|f| f.name == n).unwrap();
    assert_eq!(by("order_item_id").default_value, Some(Value::Int(999)));
    assert_eq!(
        by("value").default_value.as_ref().unwrap().to_string(),
        "999.00"
    );
    let Some(Value::DateTime(t)) = &by("shipping_limit_date").default_value else {
        panic!()
    };
    assert_eq!(t.timestamp_millis(), 318_398_706_777);
    assert!(by("product_id").uses_lookup);
    assert!(!by("order_id").uses_lookup);

    let f = &s.nodes["file_order_date_value_grouped_inner"];
    let Writer::File(fw) = &f.writer else {
        panic!()
    };
    assert_eq!(
        fw.url_template,
        "/tmp/vessel_lookup_out/order_date_value_grouped_inner.csv"
    );
    assert_eq!(fw.columns.len(), 9);
    assert_eq!(fw.columns[0].format, "%10s");
    let top = fw.top.as_ref().unwrap();
    assert_eq!(top.limit, 5_000_000);
    assert_eq!(
        top.order
            .iter()
            .map(|c| (c.field.as_str(), c.field_idx, c.desc))
            .collect::<Vec<_>>(),
        vec![
            ("total_value", 0, true),
            ("order_purchase_timestamp", 1, true),
            ("order_id", 2, true)
        ]
    );
}

#[test]
fn grouped_aggregates_compile() {
    let s = load_script_str(&lookup_text(), ScriptFormat::Yaml, &params(false), "s.yaml").unwrap();
    let n = &s.nodes["order_date_value_grouped_left_outer"];
    assert_eq!(n.node_type, NodeType::TableLookupTable);
    assert!(n.lookup.as_ref().unwrap().group);
    let Writer::Table(tw) = &n.writer else {
        panic!()
    };
    let aggs: Vec<(&str, FieldType)> = tw
        .fields
        .iter()
        .filter(|f| f.expr.is_aggregate())
        .map(|f| (f.name.as_str(), f.field_type))
        .collect();
    assert_eq!(
        aggs,
        vec![
            ("avg_value", FieldType::Decimal2),
            ("item_count", FieldType::Int),
            ("max_product_id", FieldType::String),
            ("max_value", FieldType::Decimal2),
            ("min_product_id", FieldType::String),
            ("min_value", FieldType::Decimal2),
            ("total_value", FieldType::Decimal2),
        ]
    );
    for f in &tw.fields {
        assert!(
            f.expr.new_agg_state().is_some() == f.expr.is_aggregate(),
            "{}",
            f.name
        );
        assert_eq!(f.uses_lookup, f.expr.is_aggregate(), "{}", f.name);
    }
}

#[test]
fn affected_nodes_one_vs_multi() {
    let start = names(&["read_orders", "read_order_items"]);
    let one =
        load_script_str(&lookup_text(), ScriptFormat::Yaml, &params(false), "s.yaml").unwrap();
    let all = dag::affected_nodes(&one, &start).unwrap();
    assert_eq!(all.len(), 10);

    let multi =
        load_script_str(&lookup_text(), ScriptFormat::Yaml, &params(true), "s.yaml").unwrap();
    assert_eq!(
        dag::affected_nodes(&multi, &start).unwrap(),
        names(&LOADERS)
    );
    let run2 = dag::affected_nodes(&multi, &names(&JOINS)).unwrap();
    assert_eq!(run2.len(), 8);
    assert!(run2.iter().all(|n| !n.starts_with("read_")));
    assert!(run2.contains(&"file_order_item_date_left_outer".to_string()));

    let err = dag::affected_nodes(&multi, &names(&["read_order"])).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.starts_with("unknown start node(s) read_order; the script has: "),
        "{msg}"
    );
    assert!(msg.contains("read_orders"), "{msg}");
}

#[test]
fn topological_order_puts_parents_first() {
    let s = load_script_str(&lookup_text(), ScriptFormat::Yaml, &params(false), "s.yaml").unwrap();
    let order = dag::topological_order(&s);
    assert_eq!(order.len(), 10);
    assert_eq!(&order[..2], &names(&LOADERS)[..]);
    let pos = |n: &str| order.iter().position(|o| o == n).unwrap();
    for n in &order {
        for p in dag::dependencies(&s, n) {
            assert!(pos(&p) < pos(n), "{p} must come before {n}");
        }
    }
    assert_eq!(
        dag::dependencies(&s, "order_item_date_inner"),
        names(&["read_orders", "read_order_items"])
    );
    assert_eq!(
        dag::dependencies(&s, "file_order_item_date_inner"),
        names(&["order_item_date_inner"])
    );
    let dot = dag::to_dot(&s);
    assert!(dot.starts_with("digraph script {"));
    assert!(
        dot.contains("\"read_orders\" -> \"order_item_date_inner\" [label=\"orders\"];"),
        "{dot}"
    );
    assert!(
        dot.contains("[label=\"order_items (idx_order_items_order_id)\", style=dashed]"),
        "{dot}"
    );
    assert_eq!(dot.matches(" -> ").count(), 12);
}

#[test]
fn broken_copy_reports_every_mistake() {
    let text = lookup_text()
        // 1. unknown field in a having (read_orders)
        .replace(
            "w.order_purchase_timestamp <= time.Parse",
            "w.order_ts <= time.Parse",
        )
        // 2. wrong declared type (r.col_order_status is a string)
        .replace(
            "order_status: {expression: r.col_order_status, type: string}",
            "order_status: {expression: r.col_order_status, type: int}",
        )
        // 3. unknown table (file_order_item_date_inner)
        .replace(
            "table: order_item_date_inner\n",
            "table: order_item_date_innr\n",
        )
        // 4. unused index (read_orders)
        .replace(
            "idx_orders_order_id_to_check_uniq: unique(order_id(case_sensitive))",
            "idx_orders_order_id: unique(order_id(case_sensitive))",
        );
    let errs =
        load_script_str(&text, ScriptFormat::Yaml, &params(false), "script.yaml").unwrap_err();
    let msg = errs.to_string();
    let find = |node: &str, field: &str| {
        errs.iter()
            .find(|e| e.node.as_deref() == Some(node) && e.field.as_deref() == Some(field))
            .unwrap_or_else(|| panic!("no error at {node} {field}:\n{msg}"))
    };
    let e = find("read_orders", "w.having");
    assert!(e.message.contains("w.order_ts"), "{msg}");
    assert!(
        e.message.contains("order_purchase_timestamp (datetime)"),
        "{msg}"
    );
    assert!(
        e.to_string()
            .starts_with("script.yaml: node 'read_orders', field w.having: column "),
        "{msg}"
    );
    let e = find("read_orders", "w.fields.order_status.expression");
    assert!(
        e.message
            .contains("the expression is string but the field is declared int"),
        "{msg}"
    );
    let e = find("file_order_item_date_inner", "r.table");
    assert!(
        e.message
            .contains("'order_item_date_innr' is not written by any node"),
        "{msg}"
    );
    let e = find("read_orders", "w.indexes.idx_orders_order_id");
    assert!(e.message.contains("not used by any lookup"), "{msg}");
    assert_eq!(errs.len(), 4, "{msg}");
    assert_eq!(msg.lines().count(), 4);
}

#[test]
fn params_problems_are_reported_before_parsing() {
    let p = Params::new("p.yaml").with("dir_in", ParamValue::String("/x".into()));
    let errs = load_script_str(&lookup_text(), ScriptFormat::Yaml, &p, "s.yaml").unwrap_err();
    let msg = errs.to_string();
    assert!(
        msg.contains("parameter 'dir_out' is used by the script but not defined in params file p.yaml; add it"),
        "{msg}"
    );
    assert!(
        msg.contains("parameter 'lookup_node_batches_total'"),
        "{msg}"
    );
    assert_eq!(errs.len(), 8, "{msg}");
}

struct Catalog;

impl ProcessorCatalog for Catalog {
    fn fields(&self, req: &ProcessorRequest<'_>) -> Result<Vec<(String, FieldType)>, String> {
        assert!(req.input.is_some(), "the catalog gets the input schema");
        match req.proc_type {
            "tag_and_denormalize" => {
                let name = req.params["tag_field_name"]
                    .as_str()
                    .ok_or("p.tag_field_name is missing")?;
                Ok(vec![(name.to_string(), FieldType::String)])
            }
            other => Err(format!(
                "custom processor '{other}' is not available in this build"
            )),
        }
    }

    fn functions(&self, req: &FunctionRequest<'_>) -> Result<Vec<FunctionSig>, String> {
        match req.component {
            "geo.wasm" => Ok(vec![
                FunctionSig {
                    name: "scale".into(),
                    params: vec![FieldType::String, FieldType::Int],
                    returns: FieldType::String,
                },
                FunctionSig {
                    name: "len".into(),
                    params: vec![FieldType::String],
                    returns: FieldType::Int,
                },
            ]),
            other => Err(format!("cannot find {other}")),
        }
    }
}

const CUSTOM: &str = r#"{
  "nodes": {
    "read": {"type": "file_table",
      "r": {"urls": ["a.csv"], "columns": {"c": {"csv": {"col_idx": 0}, "col_type": "string"}}},
      "w": {"name": "t", "fields": {"c": {"expression": "r.c", "type": "string"}}}},
    "tag": {"type": "table_custom_tfm_table", "custom_proc_type": "tag_and_denormalize",
      "r": {"table": "t"},
      "p": {"tag_field_name": "tag", "tag_criteria": {"x": "r.c == \"x\""}},
      "w": {"name": "tagged", "fields": {
        "c": {"expression": "r.c", "type": "string"},
        "tag": {"expression": "p.tag", "type": "string"}}}}
  }
}"#;

#[test]
fn custom_processors_need_a_catalog() {
    let errs =
        load_script_str(CUSTOM, ScriptFormat::Json, &Params::default(), "c.json").unwrap_err();
    assert_eq!(
        errs.to_string(),
        "c.json: node 'tag', field p: custom processor 'tag_and_denormalize' is not available in this build"
    );
    let opts = LoadOptions {
        catalog: Some(std::sync::Arc::new(Catalog)),
        ..LoadOptions::default()
    };
    let s = load_script_str_with(
        CUSTOM,
        ScriptFormat::Json,
        &Params::default(),
        "c.json",
        &opts,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let p = s.nodes["tag"].processor.as_ref().unwrap();
    assert_eq!(p.proc_type, "tag_and_denormalize");
    assert_eq!(p.fields.index_of("tag"), Some(0));
    // The default policy is used when the script has none.
    assert_eq!(s.default_policy, "current_active_first_stopped_nogo");
}

#[test]
fn unknown_keys_warn_or_fail() {
    let text = CUSTOM.replace(
        "\"name\": \"t\",",
        "\"name\": \"t\", \"having_tmp\": \"x\",",
    );
    let opts = LoadOptions {
        catalog: Some(std::sync::Arc::new(Catalog)),
        ..LoadOptions::default()
    };
    let s = load_script_str_with(
        &text,
        ScriptFormat::Json,
        &Params::default(),
        "c.json",
        &opts,
    )
    .unwrap();
    assert_eq!(s.warnings.len(), 1);
    assert_eq!(
        s.warnings[0].to_string(),
        "c.json: node 'read', field w.having_tmp: unknown key 'having_tmp' (ignored); check its spelling"
    );
    let strict = LoadOptions {
        strict_keys: true,
        ..opts
    };
    let errs = load_script_str_with(
        &text,
        ScriptFormat::Json,
        &Params::default(),
        "c.json",
        &strict,
    )
    .unwrap_err();
    assert_eq!(errs.len(), 1);
}

#[test]
fn json_and_yaml_versions_load_the_same() {
    // The same script as JSON text (references are still unsubstituted strings).
    let raw: serde_json::Value = serde_norway::from_str(&lookup_text()).unwrap();
    let json = serde_json::to_string_pretty(&raw).unwrap();
    let j = load_script_str(&json, ScriptFormat::Json, &params(true), "s.json")
        .unwrap_or_else(|e| panic!("{e}"));
    let y = load_script_str(&lookup_text(), ScriptFormat::Yaml, &params(true), "s.yaml").unwrap();
    assert_eq!(
        j.nodes.keys().collect::<Vec<_>>(),
        y.nodes.keys().collect::<Vec<_>>()
    );
    assert_eq!(j.nodes["order_item_date_inner"].batches_total(), 10);
    assert_eq!(
        j.nodes["order_item_date_inner"].start_policy,
        StartPolicy::Manual
    );
}

#[test]
fn file_extensions_are_checked() {
    let dir = std::env::temp_dir().join(format!("vessel_script_ext_{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join("script.txt");
    std::fs::write(&p, "{}").unwrap();
    let e = load_script(&p, None).unwrap_err();
    assert!(
        e.to_string().contains("must end with .json, .yaml or .yml"),
        "{e}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A catalog that remembers the limits it was asked to open each node's plugin with.
#[derive(Default)]
struct LimitsSeen(std::sync::Mutex<Vec<(String, PluginLimits)>>);

impl ProcessorCatalog for LimitsSeen {
    fn fields(&self, req: &ProcessorRequest<'_>) -> Result<Vec<(String, FieldType)>, String> {
        self.0
            .lock()
            .unwrap()
            .push((req.node.to_string(), req.limits));
        Catalog.fields(req)
    }
}

#[test]
fn the_catalog_opens_plugins_with_the_node_limits() {
    let seen = std::sync::Arc::new(LimitsSeen::default());
    let opts = LoadOptions {
        catalog: Some(seen.clone()),
        ..LoadOptions::default()
    };
    let text = CUSTOM.replace(
        "\"custom_proc_type\": \"tag_and_denormalize\",",
        "\"custom_proc_type\": \"tag_and_denormalize\", \"limits\": \
         {\"timeout_ms\": 250, \"open_timeout_ms\": 300, \"memory_mb\": 64},",
    );
    load_script_str_with(
        &text,
        ScriptFormat::Json,
        &Params::default(),
        "c.json",
        &opts,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let seen = seen.0.lock().unwrap();
    assert_eq!(
        *seen,
        vec![(
            "tag".to_string(),
            PluginLimits {
                timeout: Some(std::time::Duration::from_millis(250)),
                open_timeout: Some(std::time::Duration::from_millis(300)),
                memory_bytes: Some(64 << 20),
            }
        )]
    );
}

#[test]
fn plugin_limits_are_checked() {
    let opts = LoadOptions {
        catalog: Some(std::sync::Arc::new(Catalog)),
        ..LoadOptions::default()
    };
    let load = |limits: &str| {
        let text = CUSTOM.replace(
            "\"custom_proc_type\": \"tag_and_denormalize\",",
            &format!("\"custom_proc_type\": \"tag_and_denormalize\", \"limits\": {limits},"),
        );
        load_script_str_with(
            &text,
            ScriptFormat::Json,
            &Params::default(),
            "c.json",
            &opts,
        )
    };
    let s = load(r#"{"timeout_ms": 250, "open_timeout_ms": 300, "memory_mb": 64}"#)
        .unwrap_or_else(|e| panic!("{e}"));
    let p = s.nodes["tag"].processor.as_ref().unwrap();
    assert_eq!(p.timeout, Some(std::time::Duration::from_millis(250)));
    assert_eq!(p.open_timeout, Some(std::time::Duration::from_millis(300)));
    assert_eq!(p.memory_bytes, Some(64 << 20));
    let errs = load(r#"{"timeout_ms": 0, "open_timeout_ms": 3600001, "memory_mb": -1}"#)
        .unwrap_err()
        .to_string();
    assert!(
        errs.contains("limits.timeout_ms")
            && errs.contains("limits.open_timeout_ms: 3600001 is not a valid deadline")
            && errs.contains("limits.memory_mb"),
        "{errs}"
    );
    let s = load(r#"{"timeout_msec": 5}"#).unwrap_or_else(|e| panic!("{e}"));
    assert!(
        s.warnings
            .iter()
            .any(|w| w.to_string().contains("timeout_msec")),
        "{:?}",
        s.warnings
    );
}

/// `CUSTOM` plus a `functions` section declaring `geo` and a node calling it.
fn with_functions(functions: &str, expression: &str) -> String {
    CUSTOM
        .replacen(
            "\"nodes\": {",
            &format!(
                "\"functions\": {functions},\n  \"nodes\": {{\n    \"calc\": {{\"type\": \"table_table\", \
                 \"r\": {{\"table\": \"t\"}}, \"w\": {{\"name\": \"calc\", \"having\": \"w.n > 0\", \
                 \"fields\": {{\"n\": {{\"expression\": {expression}, \"type\": \"int\"}}}}}}}},"
            ),
            1,
        )
}

fn load_with_catalog(text: &str) -> Result<vessel_script::Script, vessel_script::ScriptErrors> {
    let opts = LoadOptions {
        catalog: Some(std::sync::Arc::new(Catalog)),
        ..LoadOptions::default()
    };
    load_script_str_with(
        text,
        ScriptFormat::Json,
        &Params::default(),
        "f.json",
        &opts,
    )
}

#[test]
fn expressions_call_declared_plugin_functions() {
    let text = with_functions(
        r#"{"geo": {"component": "geo.wasm", "limits": {"timeout_ms": 700, "open_timeout_ms": 900}}}"#,
        r#""geo.len(geo.scale(r.c, 2)) + 1""#,
    );
    let s = load_with_catalog(&text).unwrap_or_else(|e| panic!("{e}"));
    let ns = &s.functions["geo"];
    assert_eq!(ns.component, "geo.wasm");
    assert_eq!(ns.timeout, Some(std::time::Duration::from_millis(700)));
    assert_eq!(ns.open_timeout, Some(std::time::Duration::from_millis(900)));
    assert_eq!(ns.functions.len(), 2);
    let Writer::Table(w) = &s.nodes["calc"].writer else {
        panic!("calc writes a table")
    };
    let calls: Vec<(&str, &str)> = w.fields[0]
        .expr
        .external_calls()
        .iter()
        .map(|c| (c.namespace(), c.function()))
        .collect();
    assert_eq!(calls, vec![("geo", "scale"), ("geo", "len")]);
    // The short form names just the component.
    let s = load_with_catalog(&with_functions(
        r#"{"geo": "geo.wasm"}"#,
        r#""geo.len(r.c)""#,
    ))
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(s.functions["geo"].timeout, None);
}

#[test]
fn plugin_function_errors_name_node_field_and_fix() {
    let fns = r#"{"geo": "geo.wasm"}"#;
    let err = |expr: &str| {
        load_with_catalog(&with_functions(fns, expr))
            .unwrap_err()
            .to_string()
    };
    let e = err(r#""geo.len(r.c, 1)""#);
    assert!(
        e.contains("node 'calc', field w.fields.n.expression: column 1: geo.len() takes 1 argument (string), got 2"),
        "{e}"
    );
    let e = err(r#""geo.scale(r.c, \"2\")""#);
    assert!(
        e.contains(
            "argument 2 of geo.scale() is string, the function takes int: convert with int(x)"
        ),
        "{e}"
    );
    let e = err(r#""geo.area(r.c)""#);
    assert!(
        e.contains("the function plugin 'geo' (geo.wasm) has no function 'area'; it offers: scale(string, int) string, len(string) int"),
        "{e}"
    );
    // Not in having or lookup filters.
    let text =
        with_functions(fns, r#""geo.len(r.c)""#).replace("w.n > 0", "geo.len(\\\"x\\\") > 0");
    let e = load_with_catalog(&text).unwrap_err().to_string();
    assert!(
        e.contains(
            "field w.having: column 1: geo.len(): plugin functions cannot be called in w.having"
        ),
        "{e}"
    );
    // Declarations: bad names, unknown components, and no plugin host at all.
    let e = load_with_catalog(&with_functions(r#"{"time": "geo.wasm"}"#, r#""len(r.c)""#))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("field functions.time: 'time' cannot name a function namespace"),
        "{e}"
    );
    let e = load_with_catalog(&with_functions(r#"{"geo": "nope.wasm"}"#, r#""len(r.c)""#))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("field functions.geo.component: cannot find nope.wasm"),
        "{e}"
    );
    let e = load_with_catalog(&with_functions(
        r#"{"geo": {"component": "geo.wasm", "limits": {"timeout_ms": 0}}}"#,
        r#""len(r.c)""#,
    ))
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("field functions.geo.limits.timeout_ms: 0 is not a valid deadline"),
        "{e}"
    );
    let e = load_script_str(
        &with_functions(fns, r#""len(r.c)""#),
        ScriptFormat::Json,
        &Params::default(),
        "f.json",
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("field functions.geo.component: function plugins are not available"),
        "{e}"
    );
}

#[test]
fn a_misspelt_key_is_one_error_with_a_suggestion() {
    // A required key: without the correction the orders table would be unknown and every
    // node reading it would report an error too.
    let text = lookup_text().replacen("order_status: {expression:", "order_status: {expresion:", 1);
    let errs = load_script_str(&text, ScriptFormat::Yaml, &params(false), "s.yaml").unwrap_err();
    assert_eq!(errs.len(), 1, "{errs}");
    assert_eq!(
        errs.errors[0].to_string(),
        "s.yaml: node 'read_orders', field w.fields.order_status: unknown key 'expresion' \
         (did you mean 'expression'?)"
    );
    // An optional key stays a warning, with the suggestion.
    let text = lookup_text().replacen(
        "    type: file_table\n",
        "    type: file_table\n    rerun_polcy: fail\n",
        1,
    );
    let s = load_script_str(&text, ScriptFormat::Yaml, &params(false), "s.yaml").unwrap();
    assert_eq!(s.warnings.len(), 1, "{:?}", s.warnings);
    assert!(
        s.warnings[0]
            .to_string()
            .ends_with("unknown key 'rerun_polcy' (ignored); did you mean 'rerun_policy'?"),
        "{}",
        s.warnings[0]
    );
}
