//! Flat-map guest: emits each input row `n` times (its int field `n`, capped at 100), with
//! `p.copy` = 0, 1, ... `{"bad": "parents"}` emits parents in decreasing order.

wit_bindgen::generate!({ path: "../../../wit", world: "processor-plugin" });

use exports::vessel::plugin::processor::{
    BatchResult, Binding, Guest, GuestInstance, Instance, Kind, OpenArgs, PluginInfo,
};
use vessel::plugin::types::{Batch, Column, Error, Field, FieldType};

struct Component;

struct Repeat {
    bad_parents: bool,
}

impl Guest for Component {
    type Instance = Repeat;

    fn describe() -> PluginInfo {
        PluginInfo {
            name: "repeat".into(),
            version: "0.1.0".into(),
            kind: Kind::FlatMap,
            description: "Emits each row n times".into(),
            params_schema: None,
        }
    }
}

impl GuestInstance for Repeat {
    fn open(args: OpenArgs) -> Result<Instance, Error> {
        if !args
            .input_schema
            .iter()
            .any(|f| f.name == "n" && f.ty == FieldType::Int)
        {
            return Err(Error::SchemaMismatch(
                "repeat needs an int field 'n'".into(),
            ));
        }
        Ok(Instance::new(Repeat {
            bad_parents: args.params_json.contains("\"parents\""),
        }))
    }

    fn binding(&self) -> Binding {
        Binding {
            output_schema: vec![Field {
                name: "copy".into(),
                ty: FieldType::Int,
            }],
            reads: vec!["n".into()],
        }
    }

    fn process(&self, input: Batch) -> Result<BatchResult, Error> {
        let values = &input.columns[0].values;
        let mut copies = Vec::new();
        let mut parents: Vec<u32> = Vec::new();
        for i in 0..input.row_count as usize {
            let n = i64::from_le_bytes(values[i * 8..i * 8 + 8].try_into().unwrap());
            for c in 0..n.clamp(0, 100) {
                copies.extend_from_slice(&c.to_le_bytes());
                parents.push(i as u32);
            }
        }
        if self.bad_parents {
            parents.reverse();
        }
        Ok(BatchResult {
            output: Batch {
                row_count: parents.len() as u32,
                columns: vec![Column {
                    validity: None,
                    offsets: None,
                    values: copies,
                }],
            },
            keep: None,
            parents: Some(parents.iter().flat_map(|p| p.to_le_bytes()).collect()),
            row_errors: Vec::new(),
        })
    }
}

export!(Component);
