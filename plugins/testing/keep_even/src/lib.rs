//! Filter guest: keeps the rows whose int field (parameter `field`, default `n`) is even.
//! `{"bad": "keep"}` returns a keep bitmap one byte too long, to test host validation.

wit_bindgen::generate!({ path: "../../../wit", world: "processor-plugin" });

use exports::vessel::plugin::processor::{
    BatchResult, Binding, Guest, GuestInstance, Instance, Kind, OpenArgs, PluginInfo,
};
use vessel::plugin::types::{Batch, Error, FieldType};

struct Component;

struct KeepEven {
    field: String,
    bad_keep: bool,
}

/// The string value of `"key": "value"` in flat JSON, without a JSON parser.
fn param(json: &str, key: &str) -> Option<String> {
    let at = json.find(&format!("\"{key}\""))? + key.len() + 2;
    let rest = json[at..].trim_start().strip_prefix(':')?.trim_start();
    let rest = rest.strip_prefix('"')?;
    Some(rest[..rest.find('"')?].to_string())
}

impl Guest for Component {
    type Instance = KeepEven;

    fn describe() -> PluginInfo {
        PluginInfo {
            name: "keep-even".into(),
            version: "0.1.0".into(),
            kind: Kind::Filter,
            description: "Keeps rows whose int field is even".into(),
            params_schema: None,
        }
    }
}

impl GuestInstance for KeepEven {
    fn open(args: OpenArgs) -> Result<Instance, Error> {
        let field = param(&args.params_json, "field").unwrap_or_else(|| "n".into());
        match args.input_schema.iter().find(|f| f.name == field) {
            Some(f) if f.ty == FieldType::Int => {}
            Some(_) => return Err(Error::SchemaMismatch(format!("'{field}' is not an int"))),
            None => return Err(Error::SchemaMismatch(format!("no field '{field}'"))),
        }
        Ok(Instance::new(KeepEven {
            field,
            bad_keep: param(&args.params_json, "bad").as_deref() == Some("keep"),
        }))
    }

    fn binding(&self) -> Binding {
        Binding {
            output_schema: Vec::new(),
            reads: vec![self.field.clone()],
        }
    }

    fn process(&self, input: Batch) -> Result<BatchResult, Error> {
        let n = input.row_count as usize;
        let values = &input.columns[0].values;
        let mut keep = vec![0u8; n.div_ceil(8) + usize::from(self.bad_keep)];
        let mut kept = 0;
        for i in 0..n {
            let v = i64::from_le_bytes(values[i * 8..i * 8 + 8].try_into().unwrap());
            if v % 2 == 0 {
                keep[i / 8] |= 1 << (i % 8);
                kept += 1;
            }
        }
        Ok(BatchResult {
            output: Batch {
                row_count: kept,
                columns: Vec::new(),
            },
            keep: Some(keep),
            parents: None,
            row_errors: Vec::new(),
        })
    }
}

export!(Component);
