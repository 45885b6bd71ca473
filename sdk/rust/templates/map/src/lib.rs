//! {{name}}: a Vessel map plugin. For every input row it sets one output field, `p.{{out}}`.
//!
//! Build it with `vessel plugin build`, try it with
//! `vessel plugin test {{name}}.wasm --input sample.csv --params params.json`, and use it in a
//! script with `custom_proc_type: {{name}}` (from the plugin directory) or
//! `p: {component: path/to/{{name}}.wasm}`.

use serde::Deserialize;
use vessel_plugin::{Binding, Emit, Error, FieldType, OpenContext, Processor, Row, RowError};

/// Multiplies an integer field by a factor.
#[vessel_plugin::processor(name = "{{name}}", version = "0.1.0", kind = "map")]
pub struct Plugin {
    field: String,
    factor: i64,
}

/// The node's `p` section.
#[derive(Deserialize)]
struct Params {
    /// Input field to read (`r.<field>`), an int.
    field: String,
    /// What to multiply it by.
    #[serde(default = "default_factor")]
    factor: i64,
}

fn default_factor() -> i64 {
    2
}

impl Processor for Plugin {
    fn open(ctx: &OpenContext) -> Result<(Self, Binding), Error> {
        let p: Params = ctx.params()?;
        ctx.require(&p.field, FieldType::Int)?;
        let binding = Binding::new()
            .read(p.field.clone())
            .output("{{out}}", FieldType::Int);
        Ok((Plugin { field: p.field, factor: p.factor }, binding))
    }

    fn process_row(&mut self, row: &Row<'_>, out: &mut Emit<'_>) -> Result<(), RowError> {
        let v = row.int(&self.field)?;
        let product = v
            .checked_mul(self.factor)
            .ok_or_else(|| RowError::for_field(&self.field, "the product does not fit an int"))?;
        out.set_int("{{out}}", product);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vessel_plugin::testing::Harness;
    use vessel_plugin::{Field, Schema, Value};

    #[test]
    fn multiplies() {
        let input = Schema::new(vec![Field::new("qty", FieldType::Int)]);
        let h = Harness::<Plugin>::open(r#"{"field": "qty", "factor": 3}"#, input).unwrap();
        let out = h.process(&[vec![Value::Int(7)]]).unwrap();
        assert_eq!(out.batch.row(0).unwrap().int("{{out}}").unwrap(), 21);
    }
}
