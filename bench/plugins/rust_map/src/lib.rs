//! The benchmark's map transform as a Rust plugin: the same three fields as the expressions in
//! `bench/plugins/script.yaml`.

use vessel_plugin::{Binding, Decimal2, Emit, Error, FieldType, OpenContext, Processor, Row, RowError};

/// total = price × qty, big = qty > 10, label = "<name>-<id>".
#[vessel_plugin::processor(name = "bench_rust_map", version = "0.1.0", kind = "map")]
pub struct Plugin {
    label: String,
}

impl Processor for Plugin {
    fn open(ctx: &OpenContext) -> Result<(Self, Binding), Error> {
        for (f, t) in [
            ("id", FieldType::Int),
            ("name", FieldType::String),
            ("price", FieldType::Decimal2),
            ("qty", FieldType::Int),
        ] {
            ctx.require(f, t)?;
        }
        let binding = Binding::new()
            .read_all(["id", "name", "price", "qty"])
            .output("total", FieldType::Decimal2)
            .output("big", FieldType::Bool)
            .output("label", FieldType::String);
        Ok((Plugin { label: String::new() }, binding))
    }

    fn process_row(&mut self, row: &Row<'_>, out: &mut Emit<'_>) -> Result<(), RowError> {
        let qty = row.int("qty")?;
        let total = row
            .decimal2("price")?
            .hundredths()
            .checked_mul(qty)
            .ok_or_else(|| RowError::for_field("price", "price × qty overflows"))?;
        self.label.clear();
        self.label.push_str(row.str("name")?);
        self.label.push('-');
        self.label.push_str(&row.int("id")?.to_string());
        out.set_decimal2("total", Decimal2::from_hundredths(total))
            .set_bool("big", qty > 10)
            .set_str("label", &self.label);
        Ok(())
    }
}
