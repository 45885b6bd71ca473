//! Processor plugins: describe, open an instance per node run and worker, process batches.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use vessel_core::{FieldType, RowSet, Schema, Value};
use wasmtime::Store;
use wasmtime::component::{Component, ResourceAny};

use crate::Limits;
use crate::bindings::processor_world::{self, exports::vessel::plugin::processor as wit};
use crate::bindings::wit_types;
use crate::capture::LogContext;
use crate::columns;
use crate::error::{Phase, Site, WasmError};
use crate::host::Runtime;
use crate::state::{self, StoreState};

/// What a processor component says about itself (`describe`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginInfo {
    /// Plugin name (`[a-z0-9_-]+`), as scripts reference it in `custom_proc_type`.
    pub name: String,
    /// Plugin version (semver).
    pub version: String,
    /// How output rows relate to input rows.
    pub kind: Kind,
    /// One line for listings.
    pub description: String,
    /// JSON Schema of the node's `p` section, if the plugin publishes one.
    pub params_schema: Option<String>,
}

/// How output rows relate to input rows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// One output row per input row.
    Map,
    /// Some input rows pass unchanged; no output fields.
    Filter,
    /// Some input rows pass, each with output fields.
    FilterMap,
    /// Any number of output rows per input row.
    FlatMap,
}

impl Kind {
    /// The WIT spelling: `map`, `filter`, `filter-map`, `flat-map`.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Map => "map",
            Kind::Filter => "filter",
            Kind::FilterMap => "filter-map",
            Kind::FlatMap => "flat-map",
        }
    }
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// What an instance is opened with; kept to re-open a fresh store after a trap.
#[derive(Debug, Clone)]
pub struct OpenArgs {
    /// The node's `p` section as JSON (`{}` when absent).
    pub params_json: String,
    /// Fields of the table the node reads (`r.*`), in table order.
    pub input_schema: Arc<Schema>,
    /// Keyspace, for messages and log fields.
    pub keyspace: String,
    /// Run, for messages and log fields.
    pub run_id: i32,
    /// Node name, for messages and log fields.
    pub node: String,
}

/// The schemas an instance agreed to at open.
#[derive(Debug, Clone, PartialEq)]
pub struct Binding {
    /// The `p.*` fields it produces, in the column order of [`BatchOutput::output`].
    pub output_schema: Arc<Schema>,
    /// The input fields it reads; [`ProcessorInstance::process`] takes exactly these columns,
    /// in this order.
    pub reads: Vec<String>,
}

/// How the rows of [`BatchOutput::output`] relate to the input rows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RowMapping {
    /// Output row `i` belongs to input row `i` (a map without row errors).
    OneToOne,
    /// Output row `i` belongs to input row `kept[i]`; ascending (a filter, a filter-map, or a
    /// map that reported row errors: the failed rows are left out).
    Keep(Vec<u32>),
    /// Output row `i` belongs to input row `parents[i]`; non-decreasing (a flat-map).
    Parents(Vec<u32>),
}

/// A problem with one input row that did not fail the batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowError {
    /// Input row, 0-based within the batch.
    pub row: u32,
    /// Field concerned, if any.
    pub field: Option<String>,
    /// What went wrong.
    pub message: String,
}

/// The result of one batch.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchOutput {
    /// The `p.*` columns ([`Binding::output_schema`]); no columns for a filter.
    pub output: RowSet,
    /// Which input row each output row belongs to.
    pub rows: RowMapping,
    /// The first [`Limits::max_row_errors`] row errors.
    pub row_errors: Vec<RowError>,
    /// All row errors the plugin reported, kept or not.
    pub row_errors_total: u64,
    /// Counters the plugin added during the batch.
    pub counters: BTreeMap<String, u64>,
}

impl BatchOutput {
    /// Number of output rows. Prefer it to `output.len()`, which is 0 for a filter (its
    /// output has no columns).
    pub fn len(&self) -> usize {
        match &self.rows {
            RowMapping::OneToOne => self.output.len(),
            RowMapping::Keep(rows) | RowMapping::Parents(rows) => rows.len(),
        }
    }

    /// True when the batch produced no output row.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The input row that output row `j` belongs to.
    ///
    /// # Panics
    /// When `j >= self.len()`.
    pub fn input_row(&self, j: usize) -> usize {
        match &self.rows {
            RowMapping::OneToOne => j,
            RowMapping::Keep(rows) | RowMapping::Parents(rows) => rows[j] as usize,
        }
    }
}

pub(crate) struct ProcShared {
    runtime: Arc<Runtime>,
    pre: processor_world::ProcessorPluginPre<StoreState>,
    info: PluginInfo,
}

/// A loaded processor component. Open one [`ProcessorInstance`] per node run and worker.
pub struct ProcessorPlugin {
    shared: Arc<ProcShared>,
}

impl std::fmt::Debug for ProcessorPlugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProcessorPlugin")
            .field("info", &self.shared.info)
            .finish_non_exhaustive()
    }
}

fn valid_plugin_name(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

impl ProcessorPlugin {
    pub(crate) fn load(
        runtime: Arc<Runtime>,
        component: &Component,
        name_hint: &str,
        limits: &Limits,
    ) -> Result<ProcessorPlugin, WasmError> {
        let site = Site::plugin(name_hint);
        let pre = runtime.instance_pre(component, &site)?;
        let pre =
            processor_world::ProcessorPluginPre::new(pre).map_err(|e| WasmError::Incompatible {
                site: site.clone(),
                message: format!(
                    "it does not export vessel:plugin/processor@0.1.0 ({}); build it for the \
                     processor-plugin world, or load it as a function plugin if it exports \
                     functions",
                    root(&e)
                ),
            })?;
        let mut store = runtime.loading_store(limits, name_hint);
        let guest = instantiate(&pre, &mut store, limits, &site)?;
        let info = state::guarded_call(&mut store, limits, Phase::Start, &site, |s| {
            guest.vessel_plugin_processor().call_describe(s)
        })?;
        let kind = match info.kind {
            wit::Kind::Map => Kind::Map,
            wit::Kind::Filter => Kind::Filter,
            wit::Kind::FilterMap => Kind::FilterMap,
            wit::Kind::FlatMap => Kind::FlatMap,
        };
        if !valid_plugin_name(&info.name) {
            return Err(WasmError::BadOutput {
                site,
                message: format!(
                    "describe() names the plugin '{}'; names use only a-z, 0-9, '_' and '-'",
                    info.name
                ),
            });
        }
        let info = PluginInfo {
            name: info.name,
            version: info.version,
            kind,
            description: info.description,
            params_schema: info.params_schema,
        };
        tracing::debug!(plugin = %info.name, version = %info.version, kind = %info.kind, "processor plugin loaded");
        Ok(ProcessorPlugin {
            shared: Arc::new(ProcShared { runtime, pre, info }),
        })
    }

    /// What the plugin says about itself.
    pub fn info(&self) -> &PluginInfo {
        &self.shared.info
    }

    /// Opens an instance for one node run and worker: a fresh store, the guest's `open` with
    /// `args`, and its binding, checked against `args.input_schema`.
    ///
    /// # Errors
    /// [`WasmError::InvalidParams`] or [`WasmError::SchemaMismatch`] when the plugin rejects
    /// the node (or reads fields the input lacks), [`WasmError::Failed`] for other refusals,
    /// [`WasmError::BadOutput`] for an invalid binding, and [`WasmError::Timeout`],
    /// [`WasmError::OutOfMemory`] or [`WasmError::Trap`] if `open` misbehaves.
    pub fn open(&self, args: &OpenArgs, limits: Limits) -> Result<ProcessorInstance, WasmError> {
        let mut instance = ProcessorInstance {
            shared: self.shared.clone(),
            args: args.clone(),
            limits,
            binding: Binding {
                output_schema: Arc::new(Schema::default()),
                reads: Vec::new(),
            },
            read_types: Vec::new(),
            live: None,
            batches_in_store: 0,
            stores: 0,
        };
        let (live, binding) = instance.start(None)?;
        instance.read_types = binding
            .reads
            .iter()
            .filter_map(|r| args.input_schema.index_of(r))
            .map(|i| args.input_schema.field_type(i))
            .collect();
        instance.binding = binding;
        instance.live = Some(live);
        Ok(instance)
    }
}

fn root(e: &wasmtime::Error) -> String {
    e.root_cause().to_string()
}

fn instantiate(
    pre: &processor_world::ProcessorPluginPre<StoreState>,
    store: &mut Store<StoreState>,
    limits: &Limits,
    site: &Site,
) -> Result<processor_world::ProcessorPlugin, WasmError> {
    // Instantiation runs the component's start functions (static constructors), so it gets
    // the same deadline and limits as a call.
    state::guarded_call(store, limits, Phase::Start, site, |s| pre.instantiate(s))
}

/// A live store with its instantiated component and opened resource.
struct Live {
    store: Store<StoreState>,
    guest: processor_world::ProcessorPlugin,
    handle: ResourceAny,
}

/// One opened processor: owns its store, processes batches one at a time.
///
/// After a trap, a timeout or running out of memory, the store is discarded and the next
/// [`process`](ProcessorInstance::process) starts from a fresh store re-opened with the same
/// arguments; the same happens every [`Limits::batches_per_store`] batches, because a store
/// never gives memory back.
pub struct ProcessorInstance {
    shared: Arc<ProcShared>,
    args: OpenArgs,
    limits: Limits,
    binding: Binding,
    read_types: Vec<FieldType>,
    live: Option<Live>,
    batches_in_store: u64,
    stores: u64,
}

impl std::fmt::Debug for ProcessorInstance {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProcessorInstance")
            .field("plugin", &self.shared.info.name)
            .field("node", &self.args.node)
            .field("binding", &self.binding)
            .field("stores", &self.stores)
            .finish_non_exhaustive()
    }
}

impl ProcessorInstance {
    /// The schemas agreed at open.
    pub fn binding(&self) -> &Binding {
        &self.binding
    }

    /// What the plugin says about itself.
    pub fn info(&self) -> &PluginInfo {
        &self.shared.info
    }

    /// The limits this instance runs under.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// How many stores this instance has used so far: 1 after open, one more per recycle
    /// (after a trap, a timeout, running out of memory or [`Limits::batches_per_store`]
    /// batches).
    pub fn stores_used(&self) -> u64 {
        self.stores
    }

    fn site(&self, batch: Option<i32>) -> Site {
        Site {
            plugin: self.shared.info.name.clone(),
            node: Some(self.args.node.clone()),
            function: None,
            batch,
        }
    }

    /// A fresh store, instantiated and opened; the binding it reports. On a re-open `batch`
    /// is the batch that needed it, for messages.
    fn start(&mut self, batch: Option<i32>) -> Result<(Live, Binding), WasmError> {
        let site = self.site(batch);
        let log_ctx = LogContext {
            keyspace: self.args.keyspace.clone(),
            run_id: self.args.run_id,
            node: self.args.node.clone(),
            plugin: self.shared.info.name.clone(),
        };
        self.stores += 1;
        self.batches_in_store = 0;
        let mut store = state::new_store(&self.shared.runtime.engine, &self.limits, log_ctx);
        let guest = instantiate(&self.shared.pre, &mut store, &self.limits, &site)?;
        let open_args = wit::OpenArgs {
            params_json: self.args.params_json.clone(),
            input_schema: columns::to_wit_schema(&self.args.input_schema),
            keyspace: self.args.keyspace.clone(),
            run_id: u32::try_from(self.args.run_id).unwrap_or(0),
            node_name: self.args.node.clone(),
        };
        let opened = state::guarded_call(&mut store, &self.limits, Phase::Start, &site, |s| {
            guest
                .vessel_plugin_processor()
                .instance()
                .call_open(s, &open_args)
        })?;
        let handle = opened.map_err(|e| guest_error(e, site.clone()))?;
        let binding = state::guarded_call(&mut store, &self.limits, Phase::Start, &site, |s| {
            guest
                .vessel_plugin_processor()
                .instance()
                .call_binding(s, handle)
        })?;
        let binding = self.check_binding(binding, &site)?;
        Ok((
            Live {
                store,
                guest,
                handle,
            },
            binding,
        ))
    }

    fn check_binding(&self, b: wit::Binding, site: &Site) -> Result<Binding, WasmError> {
        let bad = |message: String| WasmError::BadOutput {
            site: site.clone(),
            message,
        };
        let mut seen = HashSet::new();
        for f in &b.output_schema {
            if f.name.is_empty() || f.name.contains('.') {
                return Err(bad(format!(
                    "binding() declares an output field named '{}'; names must be non-empty \
                     and without a prefix",
                    f.name
                )));
            }
            if !seen.insert(f.name.as_str()) {
                return Err(bad(format!(
                    "binding() declares the output field '{}' twice",
                    f.name
                )));
            }
        }
        if self.shared.info.kind == Kind::Filter && !b.output_schema.is_empty() {
            return Err(bad(format!(
                "a filter plugin declares {} output fields; filters have none (declare the \
                 plugin as filter-map to add fields)",
                b.output_schema.len()
            )));
        }
        let input = &self.args.input_schema;
        let mut seen = HashSet::new();
        for r in &b.reads {
            if input.index_of(r).is_none() {
                let names: Vec<&str> = input.fields().iter().map(|(n, _)| n.as_str()).collect();
                return Err(WasmError::SchemaMismatch {
                    site: site.clone(),
                    message: format!(
                        "the plugin reads 'r.{r}', which the input table does not have (it has: \
                         {}); add the field to the table or change the node's parameters",
                        names.join(", ")
                    ),
                });
            }
            if !seen.insert(r.as_str()) {
                return Err(bad(format!("binding() lists the read field '{r}' twice")));
            }
        }
        let output_schema = Arc::new(Schema::new(
            b.output_schema
                .into_iter()
                .map(|f| (f.name, columns::from_wit_type(f.ty)))
                .collect(),
        ));
        Ok(Binding {
            output_schema,
            reads: b.reads,
        })
    }

    /// Processes one batch. `input` holds exactly the [`Binding::reads`] columns, in that
    /// order; `batch_idx` names the batch in messages and logs.
    ///
    /// # Errors
    /// [`WasmError::SchemaMismatch`] if `input` does not have the read columns,
    /// [`WasmError::BadInput`] if a value cannot be encoded, [`WasmError::Failed`] (or
    /// another guest error) if the plugin refuses the batch, [`WasmError::Timeout`],
    /// [`WasmError::OutOfMemory`] and [`WasmError::Trap`] if it misbehaves (the store is then
    /// replaced before the next batch), [`WasmError::OutputTooLarge`] and
    /// [`WasmError::BadOutput`] if its result breaks the limits or the contract. Re-opening a
    /// recycled store can fail like [`ProcessorPlugin::open`].
    pub fn process(&mut self, input: &RowSet, batch_idx: i32) -> Result<BatchOutput, WasmError> {
        let site = self.site(Some(batch_idx));
        self.check_input(input, &site)?;
        let batch = columns::encode_rowset(input).map_err(|e| WasmError::BadInput {
            site: site.clone(),
            message: e.0,
        })?;
        if self.batches_in_store >= self.limits.batches_per_store {
            tracing::debug!(
                plugin = %site.plugin, node = %self.args.node, batch = batch_idx,
                batches = self.batches_in_store, "recycling the plugin's store"
            );
            self.live = None;
        }
        let mut live = match self.live.take() {
            Some(live) => live,
            None => {
                let (live, binding) = self.start(Some(batch_idx))?;
                if binding != self.binding {
                    return Err(WasmError::BadOutput {
                        site,
                        message: "the binding changed when the instance was re-opened with the \
                                  same arguments"
                            .into(),
                    });
                }
                live
            }
        };
        self.batches_in_store += 1;
        let result = state::guarded_call(&mut live.store, &self.limits, Phase::Call, &site, |s| {
            live.guest
                .vessel_plugin_processor()
                .instance()
                .call_process(s, live.handle, &batch)
        });
        let result = match result {
            Ok(r) => r,
            Err(e) => {
                // The store is dropped here: after a trap, wasmtime refuses further calls into
                // the instance, and after an out-of-memory its memory stays at the limit.
                tracing::debug!(plugin = %site.plugin, node = %self.args.node, batch = batch_idx, error = %e, "plugin store discarded");
                return Err(e);
            }
        };
        let counters = std::mem::take(&mut live.store.data_mut().counters);
        self.live = Some(live);
        let result = result.map_err(|e| guest_error(e, site.clone()))?;
        self.check_result(result, input.len(), counters, &site)
    }

    fn check_input(&self, input: &RowSet, site: &Site) -> Result<(), WasmError> {
        let got: Vec<FieldType> = input.schema().fields().iter().map(|(_, t)| *t).collect();
        if got != self.read_types {
            let describe = |names: &mut dyn Iterator<Item = (&str, FieldType)>| {
                names
                    .map(|(n, t)| format!("{n}:{t}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            let have = describe(
                &mut input
                    .schema()
                    .fields()
                    .iter()
                    .map(|(n, t)| (n.as_str(), *t)),
            );
            let want = describe(
                &mut self
                    .binding
                    .reads
                    .iter()
                    .map(String::as_str)
                    .zip(self.read_types.iter().copied()),
            );
            return Err(WasmError::SchemaMismatch {
                site: site.clone(),
                message: format!(
                    "the batch has columns [{have}] but the plugin reads [{want}]; pass exactly \
                     binding().reads, in that order"
                ),
            });
        }
        Ok(())
    }

    fn check_result(
        &self,
        r: wit::BatchResult,
        input_rows: usize,
        counters: BTreeMap<String, u64>,
        site: &Site,
    ) -> Result<BatchOutput, WasmError> {
        let bad = |message: String| WasmError::BadOutput {
            site: site.clone(),
            message,
        };
        let bytes = r
            .output
            .columns
            .iter()
            .map(columns::column_bytes)
            .sum::<usize>()
            + r.keep.as_ref().map_or(0, Vec::len)
            + r.parents.as_ref().map_or(0, Vec::len)
            + r.row_errors
                .iter()
                .map(|e| e.message.len() + e.field.as_ref().map_or(0, String::len))
                .sum::<usize>();
        if bytes > self.limits.max_output_bytes {
            return Err(WasmError::OutputTooLarge {
                site: site.clone(),
                bytes,
                limit: self.limits.max_output_bytes,
            });
        }
        for e in &r.row_errors {
            if e.row as usize >= input_rows {
                return Err(bad(format!(
                    "a row error names row {}, but the batch has {input_rows} rows",
                    e.row
                )));
            }
        }
        let row_errors_total = r.row_errors.len() as u64;
        let error_rows: HashSet<u32> = r.row_errors.iter().map(|e| e.row).collect();
        let row_errors: Vec<RowError> = r
            .row_errors
            .into_iter()
            .take(self.limits.max_row_errors)
            .map(|e| RowError {
                row: e.row,
                field: e.field,
                message: e.message,
            })
            .collect();
        let kind = self.shared.info.kind;
        let schema = &self.binding.output_schema;
        let out_rows = r.output.row_count as usize;
        let decode = |batch: wit_types::Batch, rows: usize| {
            columns::decode_batch(batch, schema, rows).map_err(bad)
        };
        let (output, rows) = match kind {
            Kind::Map => {
                if r.keep.is_some() || r.parents.is_some() {
                    return Err(bad(
                        "a map plugin returned keep or parents; a map returns one \
                                    output row per input row and neither"
                            .into(),
                    ));
                }
                let survivors: Vec<u32> = (0..input_rows as u32)
                    .filter(|i| !error_rows.contains(i))
                    .collect();
                if out_rows == input_rows {
                    let output = decode(r.output, input_rows)?;
                    if error_rows.is_empty() {
                        (output, RowMapping::OneToOne)
                    } else {
                        // Rows with errors produce no output: drop their placeholders.
                        (
                            select_rows(&output, &survivors),
                            RowMapping::Keep(survivors),
                        )
                    }
                } else if out_rows == survivors.len() {
                    (decode(r.output, out_rows)?, RowMapping::Keep(survivors))
                } else {
                    return Err(bad(format!(
                        "a map plugin returned {out_rows} rows for {input_rows} input rows \
                         ({} with row errors)",
                        error_rows.len()
                    )));
                }
            }
            Kind::Filter | Kind::FilterMap => {
                if r.parents.is_some() {
                    return Err(bad(format!(
                        "a {kind} plugin returned parents; it returns keep"
                    )));
                }
                let keep = r
                    .keep
                    .ok_or_else(|| bad(format!("a {kind} plugin returned no keep bitmap")))?;
                if keep.len() != columns::bitmap_len(input_rows) {
                    return Err(bad(format!(
                        "the keep bitmap holds {} bytes, expected {} for {input_rows} rows",
                        keep.len(),
                        columns::bitmap_len(input_rows)
                    )));
                }
                let kept: Vec<u32> = (0..input_rows)
                    .filter(|&i| columns::bit(&keep, i))
                    .map(|i| i as u32)
                    .collect();
                // A filter has no columns, so an empty output batch is as good as one with
                // the kept row count.
                let rows = if kind == Kind::Filter && out_rows == 0 {
                    0
                } else {
                    kept.len()
                };
                if out_rows != rows {
                    return Err(bad(format!(
                        "the keep bitmap keeps {} rows but the output has {out_rows}",
                        kept.len()
                    )));
                }
                (decode(r.output, rows)?, RowMapping::Keep(kept))
            }
            Kind::FlatMap => {
                if r.keep.is_some() {
                    return Err(bad(
                        "a flat-map plugin returned keep; it returns parents".into()
                    ));
                }
                let parents = r
                    .parents
                    .ok_or_else(|| bad("a flat-map plugin returned no parents".into()))?;
                if parents.len() != out_rows * 4 {
                    return Err(bad(format!(
                        "parents hold {} bytes, expected {} (one u32 per output row, {out_rows} \
                         rows)",
                        parents.len(),
                        out_rows * 4
                    )));
                }
                let parents: Vec<u32> = parents
                    .chunks_exact(4)
                    .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                    .collect();
                for (i, &p) in parents.iter().enumerate() {
                    if p as usize >= input_rows {
                        return Err(bad(format!(
                            "output row {i} names parent {p}, but the batch has {input_rows} rows"
                        )));
                    }
                    if i > 0 && p < parents[i - 1] {
                        return Err(bad(format!(
                            "parents decrease at output row {i} ({} then {p}); they must never \
                             decrease",
                            parents[i - 1]
                        )));
                    }
                }
                (decode(r.output, out_rows)?, RowMapping::Parents(parents))
            }
        };
        Ok(BatchOutput {
            output,
            rows,
            row_errors,
            row_errors_total,
            counters,
        })
    }
}

/// The rows `keep` (ascending) of `rs`.
fn select_rows(rs: &RowSet, keep: &[u32]) -> RowSet {
    let mut out = RowSet::with_capacity(rs.schema().clone(), keep.len());
    for &i in keep {
        let row: Vec<Value> = rs.row(i as usize);
        out.push_row(row);
    }
    out
}

/// The error a guest returned, as a [`WasmError`] for `site`.
pub(crate) fn guest_error(e: wit_types::Error, site: Site) -> WasmError {
    match e {
        wit_types::Error::InvalidParams(message) => WasmError::InvalidParams { site, message },
        wit_types::Error::SchemaMismatch(message) => WasmError::SchemaMismatch { site, message },
        wit_types::Error::Failed(message) => WasmError::Failed { site, message },
    }
}
