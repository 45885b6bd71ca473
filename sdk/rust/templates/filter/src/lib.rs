//! {{name}}: a Vessel filter plugin. Input rows pass unchanged when they match; others are
//! dropped.
//!
//! Build it with `vessel plugin build`, try it with
//! `vessel plugin test {{name}}.wasm --input sample.csv --params params.json`, and use it in a
//! script with `custom_proc_type: {{name}}` (from the plugin directory) or
//! `p: {component: path/to/{{name}}.wasm}`.

use serde::Deserialize;
use vessel_plugin::{Binding, Emit, Error, FieldType, OpenContext, Processor, Row, RowError};

/// Keeps rows whose string field contains a text.
#[vessel_plugin::processor(name = "{{name}}", version = "0.1.0", kind = "filter")]
pub struct Plugin {
    field: String,
    contains: String,
}

/// The node's `p` section.
#[derive(Deserialize)]
struct Params {
    /// Input field to test (`r.<field>`), a string.
    field: String,
    /// Text the field must contain.
    contains: String,
}

impl Processor for Plugin {
    fn open(ctx: &OpenContext) -> Result<(Self, Binding), Error> {
        let p: Params = ctx.params()?;
        ctx.require(&p.field, FieldType::String)?;
        let binding = Binding::new().read(p.field.clone());
        Ok((Plugin { field: p.field, contains: p.contains }, binding))
    }

    fn process_row(&mut self, row: &Row<'_>, out: &mut Emit<'_>) -> Result<(), RowError> {
        let text = row.str(&self.field)?;
        out.keep(text.contains(&self.contains));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vessel_plugin::testing::Harness;
    use vessel_plugin::{Field, Schema, Value};

    #[test]
    fn keeps_matching_rows() {
        let input = Schema::new(vec![Field::new("name", FieldType::String)]);
        let h = Harness::<Plugin>::open(r#"{"field": "name", "contains": "an"}"#, input).unwrap();
        let out = h
            .process(&[vec![Value::Str("banana")], vec![Value::Str("cherry")]])
            .unwrap();
        assert_eq!(out.batch.len(), 1);
    }
}
