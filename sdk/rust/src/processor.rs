//! Processors: the trait authors implement, what `open` sees and declares, and how rows are
//! emitted.

use crate::__bindings::vessel::plugin::types as wit;
use crate::batch::Batch;
use crate::builder::{Bitmap, ColumnBuilder};
use crate::{Datetime, Decimal2, Error, Field, FieldType, RowError, Schema, Value};
use serde::de::DeserializeOwned;
use std::cell::RefCell;
use std::fmt;

/// How output rows relate to input rows. Chosen with `kind = "..."` in
/// [`#[processor]`](crate::processor).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// One output row per input row: [`Emit::set_int`] and friends fill its `p.*` fields.
    Map,
    /// Input rows pass unchanged or not: [`Emit::keep`]; no output fields.
    Filter,
    /// Like a filter, and each kept row gets `p.*` fields.
    FilterMap,
    /// Any number of output rows per input row: each [`Emit::push`] starts one.
    FlatMap,
}

impl Kind {
    /// The spelling used in `kind = "..."`: `map`, `filter`, `filter-map`, `flat-map`.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Map => "map",
            Kind::Filter => "filter",
            Kind::FilterMap => "filter-map",
            Kind::FlatMap => "flat-map",
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What a plugin says about itself before any instance is opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PluginInfo {
    /// Name scripts use in `custom_proc_type` (`[a-z0-9_-]+`).
    pub name: &'static str,
    /// Plugin version (semver).
    pub version: &'static str,
    /// Output shape.
    pub kind: Kind,
    /// One line for listings.
    pub description: &'static str,
    /// JSON Schema of the node's `p` section, if published.
    pub params_schema: Option<&'static str>,
}

/// Static facts about a processor; implemented by [`#[processor]`](crate::processor).
pub trait Describe {
    /// Name, version, kind and description.
    const INFO: PluginInfo;
}

/// The logic of a processor plugin: parse the node's parameters once, then map rows.
///
/// Export it with [`#[processor]`](crate::processor) on the type; see the crate documentation
/// for a complete example.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is exported by #[processor] but does not implement `Processor`",
    label = "add `impl vessel_plugin::Processor for {Self}` with `open` and `process_row`"
)]
pub trait Processor: Sized + 'static {
    /// Parses the node's parameters, checks the input schema and declares what the instance
    /// reads and produces. Called once per node run and worker.
    ///
    /// # Errors
    /// [`Error::InvalidParams`] for bad parameters, [`Error::SchemaMismatch`] when the input
    /// lacks a field or has it with another type. The host reports them when the script is
    /// validated.
    fn open(ctx: &OpenContext) -> Result<(Self, Binding), Error>;

    /// Processes one input row, which holds the fields of [`Binding::read`] only.
    ///
    /// What `out` accepts depends on the [`Kind`]: see [`Emit`].
    ///
    /// # Errors
    /// A [`RowError`] drops this row's output (nothing it emitted is kept) and is reported to
    /// the host; the batch goes on.
    fn process_row(&mut self, row: &Row<'_>, out: &mut Emit<'_>) -> Result<(), RowError>;

    /// Called after every row of a batch was processed, e.g. to report per-batch counters
    /// with [`counter_add`](crate::counter_add). Does nothing by default.
    fn end_batch(&mut self) {}
}

pub use crate::batch::Row;

/// What [`Processor::open`] knows: the node's parameters, the input schema and where it runs.
///
/// Plugins cannot read files, so the host reads the files a node's parameters name and adds
/// their text to the parameters:
/// * for each top-level key ending in `_url` whose value is a string, a key `<key>_content`
///   with the text of that file;
/// * for each top-level key ending in `_urls` whose value is a list of strings, a key
///   `<key>_content` with the list of their texts, in the same order.
///
/// A parameter struct with `#[serde(deny_unknown_fields)]` must therefore list the
/// `_content` keys too.
#[derive(Debug, Clone)]
pub struct OpenContext {
    params_json: String,
    params: serde_json::Value,
    input: Schema,
    keyspace: String,
    run_id: u32,
    node_name: String,
    kind: Kind,
}

impl OpenContext {
    /// A context for `params_json` (the node's `p` section) and an input schema, as the host
    /// builds it; keyspace, run and node are placeholders until set with
    /// [`OpenContext::with_node`].
    ///
    /// # Errors
    /// [`Error::InvalidParams`] when `params_json` is not a JSON object.
    pub fn new(kind: Kind, params_json: &str, input: Schema) -> Result<OpenContext, Error> {
        let params: serde_json::Value = serde_json::from_str(params_json)
            .map_err(|e| Error::invalid_params(format!("params are not valid JSON: {e}")))?;
        if !params.is_object() {
            return Err(Error::invalid_params(
                "params must be a JSON object (the node's `p` section)",
            ));
        }
        Ok(OpenContext {
            params_json: params_json.to_string(),
            params,
            input,
            keyspace: String::new(),
            run_id: 0,
            node_name: String::new(),
            kind,
        })
    }

    /// Sets the keyspace, run and node the instance runs for.
    pub fn with_node(mut self, keyspace: &str, run_id: u32, node_name: &str) -> OpenContext {
        self.keyspace = keyspace.to_string();
        self.run_id = run_id;
        self.node_name = node_name.to_string();
        self
    }

    /// The node's parameters as JSON text.
    pub fn params_json(&self) -> &str {
        &self.params_json
    }

    /// The node's parameters, parsed (always an object).
    pub fn params_value(&self) -> &serde_json::Value {
        &self.params
    }

    /// The parameters deserialized into `T`.
    ///
    /// # Errors
    /// [`Error::InvalidParams`] with serde's message (missing field, wrong type, ...).
    pub fn params<T: DeserializeOwned>(&self) -> Result<T, Error> {
        T::deserialize(&self.params).map_err(Error::invalid_params)
    }

    /// Fields of the table the node reads (`r.*`), in table order.
    pub fn input_schema(&self) -> &Schema {
        &self.input
    }

    /// One input field.
    ///
    /// # Errors
    /// [`Error::SchemaMismatch`] listing the fields the input has.
    pub fn input_field(&self, name: &str) -> Result<&Field, Error> {
        self.input.get(name).ok_or_else(|| {
            Error::schema_mismatch(format!(
                "the input has no field `{name}`; it has {}",
                self.input.names()
            ))
        })
    }

    /// Checks that the input has `name` with type `ty`.
    ///
    /// # Errors
    /// [`Error::SchemaMismatch`] when the field is missing or of another type.
    pub fn require(&self, name: &str, ty: FieldType) -> Result<(), Error> {
        let f = self.input_field(name)?;
        if f.ty == ty {
            Ok(())
        } else {
            Err(Error::schema_mismatch(format!(
                "input field `{name}` is {}, expected {}",
                f.ty.with_article(),
                ty.with_article()
            )))
        }
    }

    /// Keyspace of the run.
    pub fn keyspace(&self) -> &str {
        &self.keyspace
    }

    /// Run id.
    pub fn run_id(&self) -> u32 {
        self.run_id
    }

    /// Node name.
    pub fn node_name(&self) -> &str {
        &self.node_name
    }

    /// The plugin's kind.
    pub fn kind(&self) -> Kind {
        self.kind
    }
}

/// What an instance reads from its input and produces: returned by [`Processor::open`].
///
/// ```
/// use vessel_plugin::{Binding, FieldType};
/// let b = Binding::new().read("price").read("qty").output("total", FieldType::Decimal2);
/// assert_eq!(b.reads(), ["price", "qty"]);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Binding {
    reads: Vec<String>,
    outputs: Vec<Field>,
}

impl Binding {
    /// Reads nothing, produces nothing.
    pub fn new() -> Binding {
        Binding::default()
    }

    /// Reads input field `name` (`r.<name>`). Batches hold the read fields only, in the order
    /// they were declared; reading a field twice reads it once.
    pub fn read(mut self, name: impl Into<String>) -> Binding {
        let name = name.into();
        if !self.reads.contains(&name) {
            self.reads.push(name);
        }
        self
    }

    /// Reads several input fields, in order.
    pub fn read_all<I: IntoIterator<Item = S>, S: Into<String>>(self, names: I) -> Binding {
        names.into_iter().fold(self, Binding::read)
    }

    /// Produces `p.<name>` of type `ty`. Output columns follow the declaration order.
    pub fn output(mut self, name: impl Into<String>, ty: FieldType) -> Binding {
        self.outputs.push(Field::new(name, ty));
        self
    }

    /// The input fields read, in batch column order.
    pub fn reads(&self) -> &[String] {
        &self.reads
    }

    /// The output fields, in column order.
    pub fn outputs(&self) -> &[Field] {
        &self.outputs
    }
}

/// A value being set on the current output row; strings live in a scratch buffer so that
/// setting a field allocates nothing.
#[derive(Debug, Clone, Copy)]
enum Slot {
    Unset,
    Val(Value<'static>),
    Str(usize, usize),
}

/// Output state of one batch.
#[derive(Debug)]
struct Out {
    kind: Kind,
    schema: Schema,
    cols: Vec<ColumnBuilder>,
    rows: usize,
    slots: Vec<Slot>,
    scratch: String,
    open: bool,
    keep: bool,
    parents: Vec<u8>,
    /// Input row being processed (the parent of flat-map rows).
    current: usize,
    misuse: Option<String>,
}

impl Out {
    fn new(kind: Kind, schema: &Schema, capacity: usize) -> Out {
        Out {
            kind,
            schema: schema.clone(),
            cols: schema
                .fields()
                .iter()
                .map(|f| ColumnBuilder::with_capacity(f.ty, capacity))
                .collect(),
            rows: 0,
            slots: vec![Slot::Unset; schema.len()],
            scratch: String::new(),
            open: false,
            keep: true,
            parents: Vec::new(),
            current: 0,
            misuse: None,
        }
    }

    fn misuse(&mut self, message: String) {
        if self.misuse.is_none() {
            self.misuse = Some(message);
        }
    }

    fn open_row(&mut self) {
        self.slots.fill(Slot::Unset);
        self.scratch.clear();
        self.open = true;
    }

    /// Appends the open row to the columns, unset fields as zero values.
    fn commit(&mut self) {
        if !self.open {
            return;
        }
        for (col, slot) in self.cols.iter_mut().zip(&self.slots) {
            let pushed = match *slot {
                Slot::Unset => {
                    col.push_zero();
                    Ok(())
                }
                Slot::Val(v) => col.push(v),
                Slot::Str(a, b) => col.push(Value::Str(self.scratch.get(a..b).unwrap_or(""))),
            };
            if let Err(e) = pushed {
                self.misuse = Some(e.to_string());
            }
        }
        self.rows += 1;
        if self.kind == Kind::FlatMap {
            // Batches hold far fewer than 2^32 rows (the row count is a u32).
            self.parents
                .extend_from_slice(&(self.current as u32).to_le_bytes());
        }
        self.open = false;
    }

    fn rollback(&mut self, rows: usize) {
        for c in &mut self.cols {
            c.truncate(rows);
        }
        self.parents.truncate(rows * 4);
        self.rows = rows;
        self.open = false;
    }
}

/// Where [`Processor::process_row`] writes its output. Which methods apply depends on the
/// plugin's [`Kind`]:
///
/// | kind | output row | methods |
/// |---|---|---|
/// | `map` | exactly one, already started | `set_*` |
/// | `filter` | none; the input row passes or not (passes by default) | [`keep`](Emit::keep) |
/// | `filter-map` | one if kept (kept by default), already started | `keep`, `set_*` |
/// | `flat-map` | one per [`push`](Emit::push) (none by default) | `push`, then `set_*` |
///
/// Fields not set hold their zero value. Calling a method the kind does not allow, naming a
/// field the binding does not declare, or setting a value of another type is a bug in the
/// plugin: the batch fails with [`Error::Failed`] saying what was wrong.
#[derive(Debug)]
pub struct Emit<'a> {
    out: &'a mut Out,
}

impl Emit<'_> {
    /// The plugin's kind.
    pub fn kind(&self) -> Kind {
        self.out.kind
    }

    /// Keeps (`true`) or drops (`false`) the input row: filter and filter-map only.
    pub fn keep(&mut self, keep: bool) -> &mut Self {
        match self.out.kind {
            Kind::Filter | Kind::FilterMap => self.out.keep = keep,
            k => self.out.misuse(format!(
                "keep() is for filter and filter-map plugins, and this one is a {k}"
            )),
        }
        self
    }

    /// Starts a new output row for the current input row: flat-map only.
    pub fn push(&mut self) -> &mut Self {
        if self.out.kind == Kind::FlatMap {
            self.out.commit();
            self.out.open_row();
        } else {
            self.out.misuse(format!(
                "push() is for flat-map plugins, and this one is a {}",
                self.out.kind
            ));
        }
        self
    }

    /// Sets output field `name` on the current output row.
    pub fn set<'v>(&mut self, name: &str, value: impl Into<Value<'v>>) -> &mut Self {
        let value = value.into();
        let out = &mut *self.out;
        if !out.open {
            let hint = match out.kind {
                Kind::FlatMap => "call push() to start an output row first",
                _ => "a filter has no output fields",
            };
            out.misuse(format!("cannot set `{name}`: {hint}"));
            return self;
        }
        let Some(i) = out.schema.index_of(name) else {
            let msg = format!(
                "cannot set `{name}`: the binding declares no such output (it has {})",
                if out.schema.is_empty() {
                    "none".to_string()
                } else {
                    out.schema.names()
                }
            );
            out.misuse(msg);
            return self;
        };
        let ty = out.schema.fields()[i].ty;
        if value.field_type() != ty {
            out.misuse(format!(
                "cannot set `{name}` to {} value: it is declared as {}",
                value.field_type().with_article(),
                ty.with_article()
            ));
            return self;
        }
        out.slots[i] = match value {
            Value::Str(s) => {
                let start = out.scratch.len();
                out.scratch.push_str(s);
                Slot::Str(start, out.scratch.len())
            }
            Value::Int(v) => Slot::Val(Value::Int(v)),
            Value::Float(v) => Slot::Val(Value::Float(v)),
            Value::Decimal2(v) => Slot::Val(Value::Decimal2(v)),
            Value::Bool(v) => Slot::Val(Value::Bool(v)),
            Value::Datetime(v) => Slot::Val(Value::Datetime(v)),
        };
        self
    }

    /// Sets an `int` output field.
    pub fn set_int(&mut self, name: &str, value: i64) -> &mut Self {
        self.set(name, Value::Int(value))
    }

    /// Sets a `float` output field.
    pub fn set_float(&mut self, name: &str, value: f64) -> &mut Self {
        self.set(name, Value::Float(value))
    }

    /// Sets a `decimal2` output field.
    pub fn set_decimal2(&mut self, name: &str, value: Decimal2) -> &mut Self {
        self.set(name, Value::Decimal2(value))
    }

    /// Sets a `string` output field.
    pub fn set_str(&mut self, name: &str, value: &str) -> &mut Self {
        self.set(name, Value::Str(value))
    }

    /// Sets a `bool` output field.
    pub fn set_bool(&mut self, name: &str, value: bool) -> &mut Self {
        self.set(name, Value::Bool(value))
    }

    /// Sets a `datetime` output field.
    pub fn set_datetime(&mut self, name: &str, value: Datetime) -> &mut Self {
        self.set(name, Value::Datetime(value))
    }
}

/// The outcome of one batch, in wire form (used by the generated export glue).
#[doc(hidden)]
#[derive(Debug)]
pub struct RawResult {
    pub output: wit::Batch,
    pub keep: Option<Vec<u8>>,
    pub parents: Option<Vec<u8>>,
    pub row_errors: Vec<wit::RowError>,
}

/// One open instance: the plugin and the schemas it agreed to. The export glue that
/// [`#[processor]`](crate::processor) generates forwards the WIT calls here.
#[doc(hidden)]
pub struct Runtime<P> {
    plugin: RefCell<P>,
    kind: Kind,
    reads: Schema,
    outputs: Schema,
}

impl<P: Processor + Describe> Runtime<P> {
    /// Opens an instance from the host's arguments.
    ///
    /// # Errors
    /// The plugin's own, bad params JSON, reads the input lacks, bad output declarations.
    pub fn open(ctx: &OpenContext) -> Result<Runtime<P>, Error> {
        let (plugin, binding) = P::open(ctx)?;
        let kind = P::INFO.kind;
        let mut reads = Vec::with_capacity(binding.reads.len());
        for name in &binding.reads {
            let f = ctx.input_field(name).map_err(|e| {
                Error::schema_mismatch(format!("cannot read `{name}`: {}", e.message()))
            })?;
            reads.push(f.clone());
        }
        let mut outputs: Vec<Field> = Vec::with_capacity(binding.outputs.len());
        for f in binding.outputs {
            if f.name.is_empty() {
                return Err(Error::failed("an output field has an empty name"));
            }
            if outputs.iter().any(|o| o.name == f.name) {
                return Err(Error::failed(format!(
                    "output field `{}` is declared twice",
                    f.name
                )));
            }
            outputs.push(f);
        }
        if kind == Kind::Filter && !outputs.is_empty() {
            return Err(Error::failed(format!(
                "a filter produces no output fields, but the binding declares {}; use \
                 kind = \"filter-map\"",
                Schema::new(outputs).names()
            )));
        }
        Ok(Runtime {
            plugin: RefCell::new(plugin),
            kind,
            reads: Schema::new(reads),
            outputs: Schema::new(outputs),
        })
    }

    /// Opens an instance from the WIT `open-args`.
    ///
    /// # Errors
    /// As [`Runtime::open`], in wire form.
    pub fn open_wit(
        params_json: String,
        input_schema: Vec<wit::Field>,
        keyspace: String,
        run_id: u32,
        node_name: String,
    ) -> Result<Runtime<P>, wit::Error> {
        let ctx = OpenContext::new(P::INFO.kind, &params_json, Schema::from_wit(input_schema))
            .map_err(Error::into_wit)?
            .with_node(&keyspace, run_id, &node_name);
        Runtime::open(&ctx).map_err(Error::into_wit)
    }

    /// The input fields read, in batch column order.
    pub fn reads(&self) -> &Schema {
        &self.reads
    }

    /// The output fields.
    pub fn outputs(&self) -> &Schema {
        &self.outputs
    }

    /// The output schema in wire form.
    pub fn output_schema_wit(&self) -> Vec<wit::Field> {
        self.outputs.to_wit()
    }

    /// The read field names in wire form.
    pub fn reads_wit(&self) -> Vec<String> {
        self.reads.fields().iter().map(|f| f.name.clone()).collect()
    }

    /// Processes one batch in wire form.
    ///
    /// # Errors
    /// As [`Runtime::process`], in wire form.
    pub fn process_wit(&self, input: wit::Batch) -> Result<RawResult, wit::Error> {
        self.process(input).map_err(Error::into_wit)
    }

    /// Decodes a batch of the read fields, runs the plugin over every row and encodes the
    /// result for the plugin's kind.
    ///
    /// # Errors
    /// [`Error::Failed`] for a malformed batch or a misused [`Emit`].
    pub fn process(&self, input: wit::Batch) -> Result<RawResult, Error> {
        let batch = Batch::decode(self.reads.clone(), input).map_err(Error::failed)?;
        let mut plugin = self
            .plugin
            .try_borrow_mut()
            .map_err(|_| Error::failed("process() re-entered while a batch is running"))?;
        let n = batch.len();
        let mut out = Out::new(self.kind, &self.outputs, n);
        let mut keep = Bitmap::with_capacity(n);
        let mut row_errors = Vec::new();
        let mut kept_rows = 0usize;
        for row in batch.rows() {
            let start = out.rows;
            out.current = row.index();
            out.keep = true;
            out.open = false;
            if matches!(self.kind, Kind::Map | Kind::FilterMap) {
                out.open_row();
            }
            let res = plugin.process_row(&row, &mut Emit { out: &mut out });
            match res {
                Ok(()) => {
                    let kept = out.keep;
                    match self.kind {
                        Kind::Map | Kind::FlatMap => out.commit(),
                        Kind::FilterMap if kept => out.commit(),
                        Kind::Filter | Kind::FilterMap => {}
                    }
                    if matches!(self.kind, Kind::Filter | Kind::FilterMap) {
                        keep.push(kept);
                        kept_rows += usize::from(kept);
                    }
                }
                Err(e) => {
                    out.rollback(start);
                    if matches!(self.kind, Kind::Filter | Kind::FilterMap) {
                        keep.push(false);
                    }
                    row_errors.push(e.into_wit(row.index() as u32));
                }
            }
            if let Some(m) = out.misuse.take() {
                return Err(Error::failed(format!(
                    "plugin bug at input row {}: {m}",
                    row.index()
                )));
            }
        }
        plugin.end_batch();
        let rows = match self.kind {
            Kind::Filter => kept_rows,
            _ => out.rows,
        };
        let parents = (self.kind == Kind::FlatMap).then(|| std::mem::take(&mut out.parents));
        let output = wit::Batch {
            row_count: rows as u32,
            columns: out.cols.into_iter().map(ColumnBuilder::finish).collect(),
        };
        Ok(RawResult {
            output,
            keep: matches!(self.kind, Kind::Filter | Kind::FilterMap).then(|| keep.into_bytes()),
            parents,
            row_errors,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::Harness;

    fn input() -> Schema {
        Schema::new(vec![
            Field::new("name", FieldType::String),
            Field::new("n", FieldType::Int),
        ])
    }

    fn rows(ns: &[i64]) -> Vec<Vec<Value<'static>>> {
        ns.iter()
            .map(|&n| vec![Value::Str("x"), Value::Int(n)])
            .collect()
    }

    /// Map: `label = name + n`, `half = n / 2`; odd `n` is a row error after setting a field.
    struct Halve;
    impl Describe for Halve {
        const INFO: PluginInfo = PluginInfo {
            kind: Kind::Map,
            ..PLACEHOLDER
        };
    }
    const PLACEHOLDER: PluginInfo = PluginInfo {
        name: "t",
        version: "0.1.0",
        kind: Kind::Map,
        description: "",
        params_schema: None,
    };
    impl Processor for Halve {
        fn open(ctx: &OpenContext) -> Result<(Self, Binding), Error> {
            ctx.require("n", FieldType::Int)?;
            Ok((
                Halve,
                Binding::new()
                    .read("n")
                    .read("name")
                    .read("n")
                    .output("label", FieldType::String)
                    .output("half", FieldType::Int)
                    .output("unset", FieldType::Decimal2),
            ))
        }
        fn process_row(&mut self, row: &Row<'_>, out: &mut Emit<'_>) -> Result<(), RowError> {
            let n = row.int("n")?;
            out.set_str("label", &format!("{}{n}", row.str("name")?));
            if n % 2 != 0 {
                return Err(RowError::for_field("n", format!("{n} is odd")));
            }
            out.set_int("half", n / 2);
            Ok(())
        }
    }

    #[test]
    fn map_emits_one_row_per_input_row_without_errored_rows() {
        let h = Harness::<Halve>::open("{}", input()).unwrap();
        assert_eq!(h.reads().names(), "n, name");
        let out = h.process(&rows(&[4, 3, 10])).unwrap();
        assert!(out.keep.is_none() && out.parents.is_none());
        let got: Vec<(String, i64, String)> = out
            .batch
            .rows()
            .map(|r| {
                (
                    r.str("label").unwrap().to_string(),
                    r.int("half").unwrap(),
                    r.decimal2("unset").unwrap().to_string(),
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                ("x4".to_string(), 2, "0.00".to_string()),
                ("x10".to_string(), 5, "0.00".to_string())
            ]
        );
        assert_eq!(out.row_errors.len(), 1);
        assert_eq!(out.row_errors[0].0, 1);
        assert_eq!(out.row_errors[0].1.to_string(), "n: 3 is odd");
    }

    /// Filter-map or filter over `n > 0`; flat-map emits `n` rows numbered 0..n.
    struct Shape<const K: u8>;
    impl<const K: u8> Describe for Shape<K> {
        const INFO: PluginInfo = PluginInfo {
            kind: match K {
                0 => Kind::Filter,
                1 => Kind::FilterMap,
                _ => Kind::FlatMap,
            },
            ..PLACEHOLDER
        };
    }
    impl<const K: u8> Processor for Shape<K> {
        fn open(_: &OpenContext) -> Result<(Self, Binding), Error> {
            let b = Binding::new().read("n");
            Ok((
                Shape,
                if K == 0 {
                    b
                } else {
                    b.output("i", FieldType::Int)
                },
            ))
        }
        fn process_row(&mut self, row: &Row<'_>, out: &mut Emit<'_>) -> Result<(), RowError> {
            let n = row.int("n")?;
            match out.kind() {
                Kind::Filter => {
                    out.keep(n > 0);
                }
                Kind::FilterMap => {
                    out.keep(n > 0).set_int("i", n * 10);
                }
                _ => {
                    for i in 0..n.max(0) {
                        out.push().set_int("i", i);
                    }
                    if n == 3 {
                        return Err(RowError::new("three"));
                    }
                }
            }
            if n == 100 {
                return Err(RowError::new("hundred"));
            }
            Ok(())
        }
    }

    #[test]
    fn filters_return_keep_bits() {
        let out = Harness::<Shape<0>>::open("{}", input())
            .unwrap()
            .process(&rows(&[1, 0, 100, 5, -1]))
            .unwrap();
        assert_eq!(out.keep.unwrap(), [true, false, false, true, false]);
        assert_eq!(out.batch.len(), 2);
        assert!(out.batch.schema().is_empty());
        assert_eq!(out.row_errors[0].0, 2);

        let out = Harness::<Shape<1>>::open("{}", input())
            .unwrap()
            .process(&rows(&[1, 0, 100, 5]))
            .unwrap();
        assert_eq!(out.keep.unwrap(), [true, false, false, true]);
        let is: Vec<i64> = out.batch.rows().map(|r| r.int("i").unwrap()).collect();
        assert_eq!(is, [10, 50]);
    }

    #[test]
    fn flat_map_records_parents_and_rolls_back_failed_rows() {
        let out = Harness::<Shape<2>>::open("{}", input())
            .unwrap()
            .process(&rows(&[2, 0, 3, 1]))
            .unwrap();
        assert_eq!(out.parents.unwrap(), [0, 0, 3]);
        let is: Vec<i64> = out.batch.rows().map(|r| r.int("i").unwrap()).collect();
        assert_eq!(is, [0, 1, 0]);
        assert_eq!(out.row_errors.len(), 1);
        assert_eq!(out.row_errors[0].0, 2);
        assert!(out.keep.is_none());
    }

    /// Misuses `Emit` in the way `MODE` says.
    struct Misuse<const MODE: u8>;
    impl<const MODE: u8> Describe for Misuse<MODE> {
        const INFO: PluginInfo = PluginInfo {
            kind: if MODE == 3 { Kind::FlatMap } else { Kind::Map },
            ..PLACEHOLDER
        };
    }
    impl<const MODE: u8> Processor for Misuse<MODE> {
        fn open(_: &OpenContext) -> Result<(Self, Binding), Error> {
            Ok((Misuse, Binding::new().output("s", FieldType::String)))
        }
        fn process_row(&mut self, _: &Row<'_>, out: &mut Emit<'_>) -> Result<(), RowError> {
            match MODE {
                0 => out.push(),
                1 => out.set_int("s", 1),
                2 => out.set_str("nope", "x"),
                _ => out.set_str("s", "no push"),
            };
            Ok(())
        }
    }

    fn misuse<const MODE: u8>() -> String {
        let h = Harness::<Misuse<MODE>>::open("{}", input()).unwrap();
        match h.process(&rows(&[1])) {
            Err(Error::Failed(m)) => m,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn misusing_emit_fails_the_batch() {
        assert_eq!(
            misuse::<0>(),
            "plugin bug at input row 0: push() is for flat-map plugins, and this one is a map"
        );
        assert!(
            misuse::<1>().ends_with("cannot set `s` to an int value: it is declared as a string")
        );
        assert!(misuse::<2>().ends_with("no such output (it has s)"));
        assert!(misuse::<3>().ends_with("call push() to start an output row first"));
    }

    /// Reads a field the input lacks, or declares outputs it may not.
    struct BadBinding<const MODE: u8>;
    impl<const MODE: u8> Describe for BadBinding<MODE> {
        const INFO: PluginInfo = PluginInfo {
            kind: if MODE == 2 { Kind::Filter } else { Kind::Map },
            ..PLACEHOLDER
        };
    }
    impl<const MODE: u8> Processor for BadBinding<MODE> {
        fn open(ctx: &OpenContext) -> Result<(Self, Binding), Error> {
            #[derive(serde::Deserialize)]
            struct P {
                #[allow(dead_code)]
                factor: i64,
            }
            if MODE == 3 {
                let _: P = ctx.params()?;
            }
            let b = match MODE {
                0 => Binding::new().read("price"),
                1 => Binding::new()
                    .output("a", FieldType::Int)
                    .output("a", FieldType::Int),
                _ => Binding::new().output("a", FieldType::Int),
            };
            Ok((BadBinding, b))
        }
        fn process_row(&mut self, _: &Row<'_>, _: &mut Emit<'_>) -> Result<(), RowError> {
            Ok(())
        }
    }

    #[test]
    fn open_checks_the_binding_and_params() {
        fn err<P>(e: Result<Harness<P>, Error>) -> String {
            e.err().unwrap().to_string()
        }
        assert_eq!(
            err(Harness::<BadBinding<0>>::open("{}", input())),
            "schema mismatch: cannot read `price`: the input has no field `price`; it has name, n"
        );
        assert_eq!(
            err(Harness::<BadBinding<1>>::open("{}", input())),
            "failed: output field `a` is declared twice"
        );
        assert!(err(Harness::<BadBinding<2>>::open("{}", input())).contains("filter-map"));
        assert_eq!(
            err(Harness::<BadBinding<3>>::open("{}", input())),
            "invalid params: missing field `factor`"
        );
        assert_eq!(
            err(Harness::<BadBinding<3>>::open("[1]", input())),
            "invalid params: params must be a JSON object (the node's `p` section)"
        );
        assert!(
            err(Harness::<BadBinding<3>>::open("{", input())).starts_with(
                "invalid params: params are not valid JSON: EOF while parsing an object"
            )
        );
    }

    #[test]
    fn malformed_input_batches_fail_cleanly() {
        let ctx = OpenContext::new(Kind::Map, "{}", input()).unwrap();
        let rt = Runtime::<Halve>::open(&ctx).unwrap();
        let bad = wit::Batch {
            row_count: 1,
            columns: vec![],
        };
        match rt.process(bad) {
            Err(Error::Failed(m)) => assert!(m.starts_with("malformed batch: 0 columns"), "{m}"),
            other => panic!("{other:?}"),
        }
    }
}
