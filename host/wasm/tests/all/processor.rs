//! Well-behaved processors: the column round trip, filters, flat-maps, errors at open, recycling.

use std::str::FromStr;

use vessel_core::{DateTime, Decimal, FieldType, RowSet, Value, time};
use vessel_wasm::{Kind, Limits, RowMapping, WasmError};
use vessel_wasm_artifacts as guests;

use crate::{args, ints, open_ints, processor, schema};

fn all_types() -> std::sync::Arc<vessel_core::Schema> {
    schema(&[
        ("i", FieldType::Int),
        ("f", FieldType::Float),
        ("d", FieldType::Decimal2),
        ("s", FieldType::String),
        ("b", FieldType::Bool),
        ("t", FieldType::DateTime),
    ])
}

#[test]
fn echo_round_trips_every_field_type() {
    let s = all_types();
    let plugin = processor(guests::ECHO);
    assert_eq!(plugin.info().name, "echo");
    assert_eq!(plugin.info().kind, Kind::Map);
    assert_eq!(plugin.info().version, "0.1.0");
    assert_eq!(
        plugin.info().params_schema.as_deref(),
        Some(r#"{"type":"object"}"#)
    );
    let mut inst = plugin
        .open(&args("{}", s.clone()), Limits::default())
        .unwrap();
    assert_eq!(inst.binding().reads, vec!["i", "f", "d", "s", "b", "t"]);
    assert_eq!(*inst.binding().output_schema, *s);

    let dt = |s: &str| DateTime::parse_from_rfc3339(s).unwrap();
    let mut input = RowSet::new(s.clone());
    let mut expected = RowSet::new(s.clone());
    for k in 0..19i64 {
        let common = |d: Decimal, t: DateTime| {
            vec![
                Value::Int(k * 1_000_000_007 - 9),
                Value::Float(k as f64 * -0.1),
                Value::Decimal(d),
                Value::Str(
                    ["", "a", "ünïcødé ✓", "tab\tand\nnewline"][k as usize % 4].repeat(k as usize),
                ),
                Value::Bool(k % 3 == 1),
                Value::DateTime(t),
            ]
        };
        // A third decimal place is rounded half away from zero on the way in; an offset is
        // kept as the same instant, returned in UTC.
        input.push_row(common(
            Decimal::from_str("-1.005").unwrap() * Decimal::from(k),
            dt("2024-02-29T23:59:59.123456+05:30"),
        ));
        let cents = (Decimal::from_str("-1.005").unwrap() * Decimal::from(k))
            .round_dp_with_strategy(
                2,
                vessel_core::rust_decimal::RoundingStrategy::MidpointAwayFromZero,
            );
        expected.push_row(common(cents, dt("2024-02-29T18:29:59.123456Z")));
    }
    let edge = vec![
        Value::Int(i64::MIN),
        Value::Float(f64::MAX),
        Value::Decimal(Decimal::from_str("92233720368547758.07").unwrap()),
        Value::Str(String::new()),
        Value::Bool(true),
        Value::DateTime(time::zero()),
    ];
    input.push_row(edge.clone());
    expected.push_row(edge);

    let out = inst.process(&input, 4).unwrap();
    assert_eq!(out.rows, RowMapping::OneToOne);
    assert_eq!(out.output, expected);
    assert_eq!(out.len(), 20);
    let Value::DateTime(t) = out.output.get(0, 5) else {
        panic!()
    };
    assert_eq!(t.offset().local_minus_utc(), 0);
    assert_eq!(out.counters.get("rows"), Some(&20));
    assert_eq!(out.row_errors_total, 0);
}

#[test]
fn decimals_beyond_64_bit_hundredths_are_refused() {
    let s = schema(&[("d", FieldType::Decimal2)]);
    let mut inst = processor(guests::ECHO)
        .open(&args("{}", s.clone()), Limits::default())
        .unwrap();
    let mut rs = RowSet::new(s);
    rs.push_row(vec![Value::Decimal(
        Decimal::from_str("92233720368547758.08").unwrap(),
    )]);
    let e = inst.process(&rs, 1).unwrap_err();
    assert!(matches!(e, WasmError::BadInput { .. }), "{e}");
    assert!(e.to_string().contains("column 'd' row 0"), "{e}");
}

#[test]
fn map_row_errors_drop_their_rows_and_are_capped() {
    let limits = Limits {
        max_row_errors: 1,
        ..Limits::default()
    };
    let mut inst = open_ints(guests::ECHO, r#"{"error_rows": [1, 3]}"#, limits);
    let out = inst.process(&ints(&[10, 11, 12, 13, 14]), 0).unwrap();
    assert_eq!(out.rows, RowMapping::Keep(vec![0, 2, 4]));
    assert_eq!(out.output, ints(&[10, 12, 14]));
    assert_eq!(out.row_errors_total, 2);
    assert_eq!(out.row_errors.len(), 1);
    assert_eq!(out.row_errors[0].row, 1);
    assert_eq!(out.row_errors[0].field.as_deref(), Some("n"));
    assert_eq!(out.row_errors[0].message, "row 1 rejected on request");
    assert_eq!(out.input_row(2), 4);
}

#[test]
fn invalid_params_name_plugin_and_node() {
    let e = processor(guests::ECHO)
        .open(
            &args(r#"{"reject": true}"#, schema(&[("n", FieldType::Int)])),
            Limits::default(),
        )
        .unwrap_err();
    assert!(matches!(e, WasmError::InvalidParams { .. }), "{e}");
    assert_eq!(
        e.to_string(),
        "plugin 'echo' in node 'node_a': invalid parameters: echo takes no 'reject' parameter; \
         fix the node's \"p\" section"
    );
}

#[test]
fn filter_keeps_rows_by_bitmap() {
    let plugin = processor(guests::KEEP_EVEN);
    assert_eq!(plugin.info().kind, Kind::Filter);
    let mut inst = open_ints(guests::KEEP_EVEN, "{}", Limits::default());
    assert!(inst.binding().output_schema.is_empty());
    let values: Vec<i64> = (0..21).map(|i| i * 3).collect();
    let out = inst.process(&ints(&values), 0).unwrap();
    let evens: Vec<u32> = (0..21u32).filter(|i| i % 2 == 0).collect();
    assert_eq!(out.rows, RowMapping::Keep(evens));
    assert_eq!(out.len(), 11);
    assert_eq!(out.output.schema().len(), 0);
}

#[test]
fn filter_schema_mismatch_is_reported_at_open() {
    let e = processor(guests::KEEP_EVEN)
        .open(
            &args(
                r#"{"field": "name"}"#,
                schema(&[("name", FieldType::String)]),
            ),
            Limits::default(),
        )
        .unwrap_err();
    assert!(matches!(e, WasmError::SchemaMismatch { .. }), "{e}");
    assert!(e.to_string().contains("'name' is not an int"), "{e}");
}

#[test]
fn filter_with_a_wrong_keep_bitmap_is_bad_output() {
    let mut inst = open_ints(guests::KEEP_EVEN, r#"{"bad": "keep"}"#, Limits::default());
    let e = inst.process(&ints(&[1, 2, 3]), 5).unwrap_err();
    assert!(matches!(e, WasmError::BadOutput { .. }), "{e}");
    assert!(
        e.to_string()
            .contains("batch 5: returned an invalid result: the keep bitmap holds 2 bytes, expected 1 for 3 rows"),
        "{e}"
    );
}

#[test]
fn flat_map_reports_parents() {
    let plugin = processor(guests::REPEAT);
    assert_eq!(plugin.info().kind, Kind::FlatMap);
    let mut inst = open_ints(guests::REPEAT, "{}", Limits::default());
    let out = inst.process(&ints(&[2, 0, 3]), 0).unwrap();
    assert_eq!(out.rows, RowMapping::Parents(vec![0, 0, 2, 2, 2]));
    let copies: Vec<Value> = (0..out.len()).map(|i| out.output.get(i, 0)).collect();
    assert_eq!(copies, [0, 1, 0, 1, 2].map(Value::Int).to_vec());
    let empty = inst.process(&ints(&[0, 0]), 1).unwrap();
    assert_eq!(empty.rows, RowMapping::Parents(vec![]));
}

#[test]
fn flat_map_with_decreasing_parents_is_bad_output() {
    let mut inst = open_ints(guests::REPEAT, r#"{"bad": "parents"}"#, Limits::default());
    let e = inst.process(&ints(&[1, 1]), 2).unwrap_err();
    assert!(matches!(e, WasmError::BadOutput { .. }), "{e}");
    assert!(
        e.to_string()
            .contains("parents decrease at output row 1 (1 then 0)"),
        "{e}"
    );
}

#[test]
fn batches_must_hold_exactly_the_read_columns() {
    let mut inst = open_ints(guests::REPEAT, "{}", Limits::default());
    let mut rs = RowSet::new(schema(&[("n", FieldType::Float)]));
    rs.push_row(vec![Value::Float(1.0)]);
    let e = inst.process(&rs, 0).unwrap_err();
    assert!(matches!(e, WasmError::SchemaMismatch { .. }), "{e}");
    assert!(
        e.to_string()
            .contains("the batch has columns [n:float] but the plugin reads [n:int]"),
        "{e}"
    );
}

#[test]
fn reads_of_unknown_fields_are_refused() {
    let e = processor(guests::EVIL)
        .open(
            &args(
                r#"{"open": "read_missing"}"#,
                schema(&[("n", FieldType::Int)]),
            ),
            Limits::default(),
        )
        .unwrap_err();
    assert!(matches!(e, WasmError::SchemaMismatch { .. }), "{e}");
    assert!(
        e.to_string().contains(
            "the plugin reads 'r.missing', which the input table does not have (it has: n)"
        ),
        "{e}"
    );
}

#[test]
fn store_is_recycled_after_batches_per_store() {
    let limits = Limits {
        batches_per_store: 2,
        ..Limits::default()
    };
    let mut inst = open_ints(guests::ECHO, "{}", limits);
    for b in 0..5 {
        let out = inst.process(&ints(&[b.into()]), b).unwrap();
        assert_eq!(out.output, ints(&[b.into()]));
    }
    // Batches 0-1 on the first store, 2-3 on the second, 4 on the third.
    assert_eq!(inst.stores_used(), 3);
}

#[test]
fn wrong_world_is_incompatible() {
    let host = crate::host();
    let e = host
        .load_processor("adder", &crate::read(guests::FUNCTIONS))
        .unwrap_err();
    assert!(matches!(e, WasmError::Incompatible { .. }), "{e}");
    assert!(
        e.to_string()
            .contains("does not export vessel:plugin/processor@0.1.0"),
        "{e}"
    );
    let e = host
        .load_functions("echo", &crate::read(guests::ECHO))
        .unwrap_err();
    assert!(matches!(e, WasmError::Incompatible { .. }), "{e}");
    assert!(
        e.to_string()
            .contains("does not export vessel:plugin/functions@0.1.0"),
        "{e}"
    );
}

#[test]
fn imports_outside_the_sandbox_are_refused_at_load() {
    let e = crate::host()
        .load_processor("dialer", &crate::read(guests::INCOMPATIBLE))
        .unwrap_err();
    assert!(matches!(e, WasmError::Incompatible { .. }), "{e}");
    let msg = e.to_string();
    assert!(
        msg.starts_with("plugin 'dialer': incompatible component: it imports test:net/dial"),
        "{msg}"
    );
}

#[test]
fn bytes_that_are_not_a_component_fail_to_compile() {
    let e = crate::host()
        .load_processor("junk", b"\0asm\x01\0\0\0")
        .unwrap_err();
    assert!(matches!(e, WasmError::Compile { .. }), "{e}");
    let e = crate::host().load_processor("junk", b"hello").unwrap_err();
    assert!(matches!(e, WasmError::Compile { .. }), "{e}");
    assert!(e.to_string().contains("wasm32-wasip2"), "{e}");
}
