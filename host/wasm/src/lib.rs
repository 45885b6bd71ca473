//! Runs Vessel plugins: WebAssembly components of the `vessel:plugin@0.1.0` package in `wit/`.
//!
//! This is the only crate that touches wasmtime. It compiles components once (and caches the
//! native code on disk, keyed by content hash and engine), checks that they import nothing
//! beyond the `host` interface and a WASI whose context grants nothing, and runs them in a
//! sandbox with a per-batch deadline and a longer one for starting an instance (epoch
//! interruption, 10 ms tick), a per-instance memory cap, bounded output, bounded, forwarded
//! logs, and a deterministic clock (see [`Limits`] and the crate's sandbox section in
//! `docs/plugins.md`).
//!
//! Two worlds are supported:
//!
//! * **processor plugins** ([`ProcessorPlugin`]): the logic of a `table_custom_tfm_table`
//!   node. [`ProcessorPlugin::open`] agrees the schemas once per node run and worker;
//!   [`ProcessorInstance::process`] then passes one batch of rows per call, as column buffers
//!   (see `wit/types.wit` for the layout), and returns the `p.*` columns with how output rows
//!   map to input rows ([`RowMapping`]);
//! * **function plugins** ([`FunctionPlugin`]): scalar functions that expressions call, one
//!   call per batch and function.
//!
//! A trap (panic, timeout, out of memory) fails the call and discards the instance's store;
//! the next call runs on a fresh store, re-opened with the same arguments. Every guest result
//! is validated before it becomes a [`RowSet`]: a plugin can fail its batch, never the host.
//!
//! ```no_run
//! use std::sync::Arc;
//! use vessel_core::{FieldType, RowSet, Schema, Value};
//! use vessel_wasm::{Limits, OpenArgs, WasmConfig, WasmHost};
//!
//! # fn main() -> Result<(), vessel_wasm::WasmError> {
//! let host = WasmHost::new(WasmConfig::default())?;
//! let plugin = host.load_processor_file("plugins/my_tagger.wasm".as_ref())?;
//! let input_schema = Arc::new(Schema::new(vec![("title".into(), FieldType::String)]));
//! let args = OpenArgs {
//!     params_json: "{}".into(),
//!     input_schema: input_schema.clone(),
//!     keyspace: "ks".into(),
//!     run_id: 1,
//!     node: "tag_products".into(),
//! };
//! let mut instance = plugin.open(&args, Limits::default())?;
//! // The engine passes exactly the columns the plugin reads, in that order.
//! assert_eq!(instance.binding().reads, vec!["title".to_string()]);
//! let mut batch = RowSet::new(input_schema);
//! batch.push_row(vec![Value::Str("Tiny boat".into())]);
//! let out = instance.process(&batch, 0)?;
//! println!("{} output rows, counters {:?}", out.output.len(), out.counters);
//! # Ok(())
//! # }
//! ```

mod bindings;
mod capture;
mod columns;
mod error;
mod functions;
mod host;
mod processor;
mod state;

use std::path::PathBuf;
use std::time::Duration;

pub use error::{Phase, Site, WasmError};
pub use functions::{FunctionInstance, FunctionPlugin, Signature};
pub use host::{CacheStats, WasmHost};
pub use processor::{
    BatchOutput, Binding, Kind, OpenArgs, PluginInfo, ProcessorInstance, ProcessorPlugin, RowError,
    RowMapping,
};

/// Re-exported so that callers name the same types as this crate's signatures.
pub use vessel_core::{FieldType, RowSet, Schema, Value};

/// Settings of a [`WasmHost`].
#[derive(Debug, Clone, Default)]
pub struct WasmConfig {
    /// Directory for precompiled components (`<sha256>-<engine hash>.cwasm`). `None` keeps
    /// compiled code in memory only. The directory must be trusted: its files are loaded as
    /// native code, mapped into memory. Clear it by deleting files; never rewrite a file in
    /// place (a process that has it mapped would crash with SIGBUS).
    pub cache_dir: Option<PathBuf>,
    /// Limits used while loading (the `describe` and `list-functions` calls).
    pub limits: Limits,
}

/// Sandbox limits of one instance.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Deadline of one call on an open instance (a batch, a function call); default 5 s.
    pub timeout: Duration,
    /// Deadline of each step of starting an instance: instantiation (the component's start
    /// functions), `open` and `binding`, and while loading, `describe` and `list-functions`;
    /// default 60 s, because an interpreter bundled as a component (Python) takes seconds to
    /// start, far longer than its batches.
    pub open_timeout: Duration,
    /// Linear memory of one instance, in bytes; default 256 MiB.
    pub memory_bytes: usize,
    /// Total bytes of the buffers a plugin may return for one batch; default 64 MiB.
    pub max_output_bytes: usize,
    /// Guest log lines plus captured stdout and stderr kept per call; default 64 KiB. The
    /// excess is dropped and reported once.
    pub log_bytes_per_batch: usize,
    /// Row errors kept per batch (all are counted); default 1000.
    pub max_row_errors: usize,
    /// Batches after which an instance's store is replaced by a fresh one; default 10 000.
    pub batches_per_store: u64,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            timeout: Duration::from_secs(5),
            open_timeout: Duration::from_secs(60),
            memory_bytes: 256 << 20,
            max_output_bytes: 64 << 20,
            log_bytes_per_batch: 64 << 10,
            max_row_errors: 1000,
            batches_per_store: 10_000,
        }
    }
}
