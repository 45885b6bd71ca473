//! Integration tests of `vessel-wasm` against the guests under `plugins/testing`.

mod cache;
mod functions;
mod hostile;
mod logs;
mod processor;

use std::sync::{Arc, OnceLock};

use vessel_core::{FieldType, RowSet, Schema, Value};
use vessel_wasm::{Limits, OpenArgs, ProcessorInstance, ProcessorPlugin, WasmConfig, WasmHost};

/// One host for the tests that do not look at the cache: each guest compiles once.
pub fn host() -> &'static WasmHost {
    static HOST: OnceLock<WasmHost> = OnceLock::new();
    HOST.get_or_init(|| WasmHost::new(WasmConfig::default()).expect("wasm host"))
}

/// The bytes of a guest.
pub fn read(path: &str) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// A guest loaded as a processor by the shared host.
pub fn processor(path: &str) -> Arc<ProcessorPlugin> {
    host()
        .load_processor("test", &read(path))
        .unwrap_or_else(|e| panic!("{e}"))
}

/// A schema from `(name, type)` pairs.
pub fn schema(fields: &[(&str, FieldType)]) -> Arc<Schema> {
    Arc::new(Schema::new(
        fields.iter().map(|(n, t)| (n.to_string(), *t)).collect(),
    ))
}

/// Open arguments for keyspace `ks_test`, run 7, node `node_a`.
pub fn args(params: &str, input_schema: Arc<Schema>) -> OpenArgs {
    OpenArgs {
        params_json: params.into(),
        input_schema,
        keyspace: "ks_test".into(),
        run_id: 7,
        node: "node_a".into(),
    }
}

/// A row set of one int column `n` holding `values`.
pub fn ints(values: &[i64]) -> RowSet {
    let mut rs = RowSet::new(schema(&[("n", FieldType::Int)]));
    for v in values {
        rs.push_row(vec![Value::Int(*v)]);
    }
    rs
}

/// Opens `path` over one int column `n` with `params` and `limits`.
pub fn open_ints(path: &str, params: &str, limits: Limits) -> ProcessorInstance {
    processor(path)
        .open(&args(params, schema(&[("n", FieldType::Int)])), limits)
        .unwrap_or_else(|e| panic!("{e}"))
}

/// The `p.result` strings of an evil-guest batch.
pub fn results(out: &vessel_wasm::BatchOutput) -> Vec<String> {
    (0..out.output.len())
        .map(|i| match out.output.get(i, 0) {
            Value::Str(s) => s,
            v => panic!("not a string: {v:?}"),
        })
        .collect()
}

#[test]
fn instances_can_move_between_threads() {
    fn is_send<T: Send>() {}
    is_send::<ProcessorInstance>();
    is_send::<vessel_wasm::FunctionInstance>();
    fn is_send_sync<T: Send + Sync>() {}
    is_send_sync::<WasmHost>();
    is_send_sync::<ProcessorPlugin>();
    is_send_sync::<vessel_wasm::FunctionPlugin>();
}
