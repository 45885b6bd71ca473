//! The Rust SDK for Vessel plugins: Wasm components that a Vessel node runs as a custom
//! processor (`table_custom_tfm_table`) or calls as functions from script expressions.
//!
//! Batches cross into the component as Arrow-layout column buffers (see `wit/types.wit`).
//! This crate decodes them into typed [`Row`] views, encodes what the plugin emits, and
//! generates the WIT export glue, so a plugin is a type with two functions:
//!
//! ```
//! use serde::Deserialize;
//! use vessel_plugin::{Binding, Decimal2, Emit, Error, FieldType, OpenContext, Processor, Row, RowError};
//!
//! /// Adds VAT to a price.
//! #[vessel_plugin::processor(name = "add-vat", version = "0.1.0", kind = "map")]
//! struct AddVat {
//!     percent: i64,
//! }
//!
//! #[derive(Deserialize)]
//! struct Params {
//!     vat_percent: i64,
//! }
//!
//! impl Processor for AddVat {
//!     fn open(ctx: &OpenContext) -> Result<(Self, Binding), Error> {
//!         let p: Params = ctx.params()?;
//!         ctx.require("price", FieldType::Decimal2)?;
//!         let binding = Binding::new()
//!             .read("price")
//!             .output("price_with_vat", FieldType::Decimal2);
//!         Ok((AddVat { percent: p.vat_percent }, binding))
//!     }
//!
//!     fn process_row(&mut self, row: &Row<'_>, out: &mut Emit<'_>) -> Result<(), RowError> {
//!         let price = row.decimal2("price")?.hundredths();
//!         let with_vat = price
//!             .checked_mul(100 + self.percent)
//!             .map(|x| (x + 50).div_euclid(100))
//!             .ok_or_else(|| RowError::for_field("price", "too large"))?;
//!         out.set_decimal2("price_with_vat", Decimal2::from_hundredths(with_vat));
//!         Ok(())
//!     }
//! }
//! # fn main() {
//! # let input = vessel_plugin::Schema::new(vec![vessel_plugin::Field::new("price", FieldType::Decimal2)]);
//! # let h = vessel_plugin::testing::Harness::<AddVat>::open(r#"{"vat_percent": 20}"#, input).unwrap();
//! # let out = h.process(&[vec![vessel_plugin::Value::Decimal2("10.00".parse().unwrap())]]).unwrap();
//! # assert_eq!(out.batch.row(0).unwrap().decimal2("price_with_vat").unwrap().to_string(), "12.00");
//! # }
//! ```
//!
//! Build it as a `cdylib` for `wasm32-wasip2`:
//!
//! ```toml
//! [lib]
//! crate-type = ["cdylib", "rlib"]   # rlib: so that `cargo test` can link the logic
//!
//! [dependencies]
//! vessel-plugin = { path = "../../sdk/rust" }
//! ```
//!
//! `cargo build --release --target wasm32-wasip2` then gives a component (`.wasm`) exporting
//! `vessel:plugin/processor@0.1.0`.
//!
//! # Processors
//!
//! [`#[processor]`](macro@processor) takes the plugin's `name` (what scripts write in
//! `custom_proc_type`), its `version` (semver) and its `kind`, and optionally `description`
//! (else the first paragraph of the type's doc comment) and `params_schema` (a JSON Schema of
//! the node's `p` section). The kind fixes the shape of the output, see [`Emit`]:
//! `map`, `filter`, `filter-map` or `flat-map`.
//!
//! [`Processor::open`] runs once per node run and worker. [`OpenContext`] holds the node's
//! parameters (deserialize them with [`OpenContext::params`]) and the input schema. Since
//! plugins cannot read files, the host adds the text of files the parameters name: for
//! every top-level key `x_url` holding a string, a key `x_url_content` with the file's text,
//! and for every key `x_urls` holding a list of strings, a key `x_urls_content` with the list
//! of texts. `open` returns the plugin value and a [`Binding`]: the input fields it reads
//! (batches hold only those, in that order) and the `p.*` fields it produces.
//!
//! [`Processor::process_row`] runs once per input row. The writer of the node then sees each
//! output row as the input row's `r.*` fields plus the `p.*` fields set on it.
//!
//! # Errors
//!
//! * [`Error`] from `open` rejects the node (reported when the script is validated);
//! * a [`RowError`] from `process_row` drops that row's output, including what it emitted
//!   before failing, and is reported; the batch goes on (the host fails it past the node's
//!   row-error limit). A map's output then has one row per input row *without* an error, in
//!   input order; filters clear the row's keep bit; flat-map parents skip the row;
//! * a malformed batch or a misused [`Emit`] fails the batch with [`Error::Failed`];
//! * a panic traps: the host discards the instance and fails the batch. Nothing in this crate
//!   panics on bad input.
//!
//! # Functions
//!
//! [`#[functions]`](macro@functions) on a module exports its `pub fn`s to expressions
//! (`namespace.name(args)`, the namespace being chosen where the component is registered).
//! Arguments and results are `i64`, `f64`, [`Decimal2`], `bool`, [`Datetime`], `&str` or
//! `String`; a result may also be a `Result` whose error fails the call.
//!
//! ```
//! #[vessel_plugin::functions]
//! mod text {
//!     /// Number of words.
//!     pub fn words(s: &str) -> i64 {
//!         s.split_whitespace().count() as i64
//!     }
//!
//!     /// The integer in a text.
//!     pub fn to_int(s: &str) -> Result<i64, std::num::ParseIntError> {
//!         s.trim().parse()
//!     }
//! }
//! # fn main() { assert_eq!(text::words("a b"), 2); }
//! ```
//!
//! # Logging and counters
//!
//! [`log::info!`](crate::log::info) and its siblings go to the host's log (with the run, node
//! and batch), formatting only when the host keeps that level; [`counter_add`] adds to a
//! counter reported with the batch's statistics.
//!
//! # Testing
//!
//! Everything but the export glue runs on the build machine: [`testing::Harness`] opens a
//! processor and feeds it rows through the same codec the component uses.

extern crate self as vessel_plugin;

mod batch;
mod builder;
mod error;
mod functions;
pub mod log;
mod processor;
mod schema;
pub mod testing;
mod value;

pub use batch::{Batch, DecodeError, Row};
pub use builder::{BatchBuilder, BuildError, ColumnBuilder};
pub use error::{Error, RowError};
pub use functions::{FnArg, FnResult};
pub use log::counter_add;
pub use processor::{Binding, Describe, Emit, Kind, OpenContext, PluginInfo, Processor};
pub use schema::{Field, FieldType, Schema};
pub use value::{Datetime, Decimal2, ParseDecimal2Error, Value};

/// Exports a type implementing [`Processor`] as the component's processor.
///
/// ```ignore
/// #[vessel_plugin::processor(name = "my-plugin", version = "0.1.0", kind = "flat-map")]
/// struct MyPlugin { /* state built by open */ }
/// ```
///
/// Keys: `name` (`[a-z0-9_-]+`), `version` (semver), `kind` (`map`, `filter`, `filter-map`,
/// `flat-map`), and optional `description` and `params_schema`. Mistakes are compile errors
/// pointing at the offending key or value. A component exports one processor.
pub use vessel_plugin_macros::processor;

/// Exports the `pub fn`s of an inline module as the component's functions.
///
/// ```ignore
/// #[vessel_plugin::functions]
/// mod geo {
///     /// ISO country code of an IPv4 address.
///     pub fn country(ip: &str) -> String { /* ... */ }
/// }
/// ```
///
/// Function names must be `[a-z_][a-z0-9_]*`; parameter and result types are those of
/// [`FnArg`] and [`FnResult`]. The first line of each doc comment is the description the
/// host lists.
pub use vessel_plugin_macros::functions;

/// The wire form of batches (the WIT records), for tests and tools that build or inspect
/// buffers directly. Plugins never need it.
pub mod raw {
    pub use crate::__bindings::vessel::plugin::types::{Batch, Column};
}

/// Bindings generated from `wit/` for what every plugin imports (`host`) and shares
/// (`types`). The world-specific export glue is generated in the plugin's crate by the
/// macros, referring to these types, so that a component carries only its own world.
#[doc(hidden)]
#[allow(unsafe_code, missing_docs, clippy::all)]
pub mod __bindings {
    wit_bindgen::generate!({
        inline: "package vessel:sdk;
                 world imports {
                     import vessel:plugin/types@0.1.0;
                     import vessel:plugin/host@0.1.0;
                 }",
        path: "../../wit",
        world: "vessel:sdk/imports",
        generate_all,
        generate_unused_types: true,
    });
}

/// What the macros' expansions refer to. Not a public API.
#[doc(hidden)]
pub mod __private {
    pub use crate::functions::{Signature, arg, decode_args, push_result, unknown_function};
    pub use crate::processor::{RawResult, Runtime};
    pub use wit_bindgen;
}
