//! Capillaries-compatible scripts: params, loading, validation, DAG, keys, dependency policies.
//!
//! A script is a DAG of nodes (read a file or table, transform, look up, write a table or a
//! file); edges are implied by table names. Loading a script:
//!
//! 1. substitutes the params file into the raw text ([`params`]: `{dir_in}`,
//!    `"{n|number}"`, ...);
//! 2. decodes it ([`raw`]; YAML goes through a JSON value, as in Capillaries);
//! 3. validates everything Capillaries checks at load time and more ([`load_script`]): names,
//!    tables and indexes, field scoping per alias (`r`, `l`, `p`, `w`), expression types,
//!    aggregates, defaults, cycles — and reports **every** problem at once in
//!    [`ScriptErrors`], each naming file, node and field;
//! 4. returns the validated [`Script`] the engine runs: compiled expressions resolve to
//!    environment slots ([`ALIAS_R`], [`ALIAS_L`], [`ALIAS_P`], [`ALIAS_W`]).
//!
//! Then [`dag`] answers which nodes a run touches and in what order, [`keys`] builds index
//! and sort keys byte-identical to Capillaries, and [`policy`] decides whether a node may read
//! an upstream node's output.
//!
//! ```
//! use vessel_script::{dag, load_script_str, ParamValue, Params, ScriptFormat};
//!
//! let script = r#"
//! nodes:
//!   read_orders:
//!     type: file_table
//!     r:
//!       urls: ["{dir_in}/orders.csv"]
//!       csv: {hdr_line_idx: 0, first_data_line_idx: 1}
//!       columns:
//!         col_id: {csv: {col_hdr: order_id}, col_type: string}
//!         col_qty: {csv: {col_hdr: qty, col_format: "%d"}, col_type: int}
//!     w:
//!       name: orders
//!       having: "w.qty > 0"
//!       fields:
//!         order_id: {expression: r.col_id, type: string}
//!         qty: {expression: r.col_qty, type: int}
//!   dump:
//!     type: table_file
//!     r: {table: orders}
//!     w:
//!       url_template: "{dir_out}/orders.csv"
//!       top: {order: "qty(desc),order_id"}
//!       columns:
//!         - {name: order_id, type: string, expression: r.order_id, csv: {header: id, format: "%s"}}
//!         - {name: qty, type: int, expression: r.qty, csv: {header: qty, format: "%d"}}
//! "#;
//! let params = Params::new("params.yaml")
//!     .with("dir_in", ParamValue::String("/data/in".into()))
//!     .with("dir_out", ParamValue::String("/data/out".into()));
//! let s = load_script_str(script, ScriptFormat::Yaml, &params, "script.yaml").unwrap();
//! assert_eq!(s.table_creators["orders"], "read_orders");
//! assert_eq!(
//!     dag::affected_nodes(&s, &["read_orders".to_string()]).unwrap(),
//!     vec!["read_orders", "dump"]
//! );
//!
//! // Every mistake is reported at once, with node and field.
//! let broken = script.replace("w.qty > 0", "w.quantity > 0").replace("type: int}", "type: float}");
//! let errs = load_script_str(&broken, ScriptFormat::Yaml, &params, "script.yaml").unwrap_err();
//! assert!(errs.len() >= 2);
//! assert!(errs.to_string().contains("node 'read_orders', field w.having"));
//! ```

pub mod dag;
pub mod draw;
mod error;
pub mod index;
pub mod keys;
mod load;
pub mod model;
pub mod params;
pub mod policy;
pub mod raw;
mod scope;

pub use error::{ScriptError, ScriptErrors};
pub use load::{
    DEFAULT_VALUE_TIME_LAYOUT, FunctionRequest, LoadOptions, ProcessorCatalog, ProcessorRequest,
    load_script, load_script_str, load_script_str_with, load_script_with, parse_default_value,
};
pub use model::*;
pub use params::{ParamValue, Params, ScriptFormat};
pub use policy::{DepEvent, PolicyError, default_policy_json};
