//! Function plugins: signatures, column calls, errors and recovery.

use std::time::{Duration, Instant};

use vessel_core::{FieldType, Value};
use vessel_wasm::{Limits, Signature, WasmError};
use vessel_wasm_artifacts as guests;

fn instance(limits: Limits) -> vessel_wasm::FunctionInstance {
    let plugin = crate::host()
        .load_functions("strs", &crate::read(guests::FUNCTIONS))
        .unwrap();
    plugin.instance(limits, "node_f").unwrap()
}

#[test]
fn signatures_are_listed() {
    let plugin = crate::host()
        .load_functions("strs", &crate::read(guests::FUNCTIONS))
        .unwrap();
    assert_eq!(plugin.name(), "strs");
    assert_eq!(
        plugin.signatures()[..2],
        [
            Signature {
                name: "add_one".into(),
                params: vec![FieldType::Int],
                returns: FieldType::Int,
                description: "x + 1".into(),
            },
            Signature {
                name: "upper".into(),
                params: vec![FieldType::String],
                returns: FieldType::String,
                description: "upper case".into(),
            },
        ]
    );
}

#[test]
fn functions_evaluate_a_column_per_call() {
    let mut f = instance(Limits::default());
    let out = f
        .call(
            "add_one",
            &[vec![Value::Int(1), Value::Int(-1), Value::Int(i64::MAX)]],
            3,
        )
        .unwrap();
    assert_eq!(
        out,
        vec![Value::Int(2), Value::Int(0), Value::Int(i64::MIN)]
    );
    let words = ["straße", "", "ok"].map(|s| Value::Str(s.into())).to_vec();
    let out = f.call("upper", &[words], 3).unwrap();
    assert_eq!(
        out,
        ["STRASSE", "", "OK"].map(|s| Value::Str(s.into())).to_vec()
    );
    assert_eq!(f.call("add_one", &[vec![]], 0).unwrap(), vec![]);
}

#[test]
fn wrong_names_and_arguments_are_refused_before_the_call() {
    let mut f = instance(Limits::default());
    let e = f.call("lower", &[vec![]], 0).unwrap_err();
    assert!(matches!(e, WasmError::UnknownFunction { .. }), "{e}");
    assert_eq!(
        e.to_string(),
        "function 'lower' of plugin 'strs' in node 'node_f': the plugin has no such function (it \
         offers: add_one, upper, boom, spin)"
    );
    let e = f
        .call("add_one", &[vec![Value::Int(1), Value::Float(2.0)]], 2)
        .unwrap_err();
    assert!(matches!(e, WasmError::BadInput { .. }), "{e}");
    assert!(
        e.to_string()
            .contains("argument 1 at row 1 is a float, the function expects int"),
        "{e}"
    );
    let e = f.call("add_one", &[vec![Value::Int(1)]], 2).unwrap_err();
    assert!(
        e.to_string()
            .contains("argument 1 holds 1 values for 2 rows"),
        "{e}"
    );
    let e = f.call("add_one", &[], 0).unwrap_err();
    assert!(
        e.to_string()
            .contains("0 arguments given, the function takes 1"),
        "{e}"
    );
}

#[test]
fn a_trapping_function_recovers_on_the_next_call() {
    let mut f = instance(Limits::default());
    let e = f.call("boom", &[vec![Value::Int(13)]], 1).unwrap_err();
    assert!(matches!(e, WasmError::Trap { .. }), "{e}");
    let msg = e.to_string();
    assert!(
        msg.starts_with("function 'boom' of plugin 'strs' in node 'node_f': crashed"),
        "{msg}"
    );
    assert!(msg.contains("boom: 13 is unlucky"), "{msg}");
    assert_eq!(
        f.call("boom", &[vec![Value::Int(12)]], 1).unwrap(),
        vec![Value::Int(12)]
    );
}

#[test]
fn a_spinning_function_times_out() {
    let mut f = instance(Limits {
        timeout: Duration::from_millis(300),
        ..Limits::default()
    });
    let started = Instant::now();
    let e = f.call("spin", &[vec![Value::Int(1)]], 1).unwrap_err();
    assert!(matches!(e, WasmError::Timeout { .. }), "{e}");
    assert!(started.elapsed() < Duration::from_millis(1300));
    assert_eq!(
        f.call("add_one", &[vec![Value::Int(1)]], 1).unwrap(),
        vec![Value::Int(2)]
    );
}
