//! The validated script: what the engine runs. Built by [`crate::load_script`]; every name is
//! resolved, every expression compiled and type-checked, every default parsed.
//!
//! Expression environments: every compiled expression of a node reads variables through
//! [`vessel_expr::VarSlot`]s whose `alias` is one of [`ALIAS_R`], [`ALIAS_L`], [`ALIAS_P`],
//! [`ALIAS_W`] and whose `index` is the position of the field in the matching schema:
//! `r` → the reader schema ([`TableReader::fields`] or [`FileReader::schema`]),
//! `l` → [`Lookup::right_fields`], `p` → [`CustomProcessor::fields`], `w` → the writer schema
//! ([`TableWriter::schema`] or [`FileWriter::schema`]). The engine evaluates with
//! `env = [r_row, l_row, p_row, w_row]` (rows as `&[Value]`), plus, for an expression that
//! calls plugin functions, the row of its call results at [`ALIAS_X`].

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use vessel_core::{FieldType, Schema, Value};
use vessel_expr::Compiled;

/// Slot of reader fields (`r.*`).
pub const ALIAS_R: usize = 0;
/// Slot of lookup (right-side) fields (`l.*`).
pub const ALIAS_L: usize = 1;
/// Slot of custom-processor outputs (`p.*`).
pub const ALIAS_P: usize = 2;
/// Slot of writer fields (`w.*`, only in `having`).
pub const ALIAS_W: usize = 3;
/// Slot of the results of plugin function calls (`ns.fn(...)`): value `k` of a row is the
/// result of the expression's call `k` ([`vessel_expr::Compiled::external_calls`]).
pub const ALIAS_X: usize = 4;

/// A namespace of plugin functions, declared in the script's `functions` section.
#[derive(Debug, Clone)]
pub struct FunctionNamespace {
    /// The namespace (`geo` in `geo.distance(...)`).
    pub name: String,
    /// The component as written: a `.wasm` path (relative to the script's folder) or a plugin
    /// name.
    pub component: String,
    /// The functions the component offers.
    pub functions: Vec<FunctionSig>,
    /// Deadline of one call (`limits.timeout_ms`); `None`: the engine's default.
    pub timeout: Option<Duration>,
    /// Deadline of starting an instance (`limits.open_timeout_ms`); `None`: the engine's
    /// default.
    pub open_timeout: Option<Duration>,
    /// Memory cap of one instance (`limits.memory_mb`); `None`: the engine's default.
    pub memory_bytes: Option<usize>,
}

impl FunctionNamespace {
    /// The namespace's `limits` section.
    pub fn limits(&self) -> PluginLimits {
        PluginLimits {
            timeout: self.timeout,
            open_timeout: self.open_timeout,
            memory_bytes: self.memory_bytes,
        }
    }
}

/// The `limits` section of a custom processor node or a `functions` namespace: the sandbox
/// limits its plugin instances get. `None` keeps the engine's default.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PluginLimits {
    /// Deadline of one batch or function call (`limits.timeout_ms`).
    pub timeout: Option<Duration>,
    /// Deadline of starting an instance: instantiation and `open` (`limits.open_timeout_ms`).
    pub open_timeout: Option<Duration>,
    /// Memory cap of one instance (`limits.memory_mb`).
    pub memory_bytes: Option<usize>,
}

/// One function of a function plugin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionSig {
    /// Name after the namespace.
    pub name: String,
    /// Argument types, in order.
    pub params: Vec<FieldType>,
    /// Result type.
    pub returns: FieldType,
}

/// A loaded, validated script.
#[derive(Debug)]
pub struct Script {
    /// Nodes by name (sorted by name).
    pub nodes: BTreeMap<String, Node>,
    /// Dependency policies by name.
    pub policies: BTreeMap<String, DependencyPolicy>,
    /// Name of the policy marked `is_default`.
    pub default_policy: String,
    /// Table name → node that writes it.
    pub table_creators: BTreeMap<String, String>,
    /// Index name → node that writes the table holding it.
    pub index_owners: BTreeMap<String, String>,
    /// Plugin function namespaces (`functions` section) by name.
    pub functions: BTreeMap<String, FunctionNamespace>,
    /// Problems that do not stop the script from running (unknown keys, ignored sections,
    /// default values that are never used), for `vessel validate` to show.
    pub warnings: Vec<crate::ScriptError>,
}

/// The six node types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NodeType {
    /// File (CSV or Parquet) → table.
    FileTable,
    /// Table → table.
    TableTable,
    /// Table + lookup → table.
    TableLookupTable,
    /// Table → table with distinct rows by the unique index.
    DistinctTable,
    /// Table → custom processor (Wasm plugin) → table.
    TableCustomTfmTable,
    /// Table → file.
    TableFile,
}

impl NodeType {
    /// Script spelling (`file_table`, ...).
    pub fn name(self) -> &'static str {
        match self {
            NodeType::FileTable => "file_table",
            NodeType::TableTable => "table_table",
            NodeType::TableLookupTable => "table_lookup_table",
            NodeType::DistinctTable => "distinct_table",
            NodeType::TableCustomTfmTable => "table_custom_tfm_table",
            NodeType::TableFile => "table_file",
        }
    }
}

/// `start_policy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartPolicy {
    /// Scheduled whenever an upstream node is part of a run.
    Auto,
    /// Only scheduled when named as a start node.
    Manual,
}

/// `rerun_policy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RerunPolicy {
    /// Clean a crashed batch's rows and redo it.
    Rerun,
    /// Do not redo a crashed batch.
    Fail,
}

/// One node.
#[derive(Debug)]
pub struct Node {
    /// Node name (key in `nodes`).
    pub name: String,
    /// `desc`.
    pub desc: String,
    /// `type`.
    pub node_type: NodeType,
    /// `start_policy` (default auto).
    pub start_policy: StartPolicy,
    /// `rerun_policy` (default rerun; distinct_table requires fail).
    pub rerun_policy: RerunPolicy,
    /// `max_batch_processing_time` (default 60 s).
    pub max_batch_processing_time: Duration,
    /// Name of the dependency policy (resolved default when not given).
    pub dependency_policy: String,
    /// `r`.
    pub reader: Reader,
    /// `l` (lookup nodes only).
    pub lookup: Option<Lookup>,
    /// `custom_proc_type` + `p` (custom processor nodes only).
    pub processor: Option<CustomProcessor>,
    /// `w`.
    pub writer: Writer,
}

impl Node {
    /// Tables this node reads (reader table, then the lookup's right table), without run
    /// suffix. Empty for file readers.
    pub fn input_tables(&self) -> Vec<&str> {
        let mut v = Vec::new();
        if let Reader::Table(t) = &self.reader {
            v.push(t.table.as_str());
        }
        if let Some(l) = &self.lookup {
            v.push(l.right_table.as_str());
        }
        v
    }

    /// Number of batches of this node: files for a file reader, `expected_batches_total`
    /// for a table reader.
    pub fn batches_total(&self) -> usize {
        match &self.reader {
            Reader::File(f) => f.urls.len(),
            Reader::Table(t) => t.expected_batches_total,
        }
    }
}

/// `r`.
#[derive(Debug)]
pub enum Reader {
    /// File reader (`file_table`).
    File(FileReader),
    /// Table reader (all other types).
    Table(TableReader),
}

/// A table reader.
#[derive(Debug)]
pub struct TableReader {
    /// Source table name (without run suffix).
    pub table: String,
    /// Number of batches (1..=32767).
    pub expected_batches_total: usize,
    /// Rows per page (1..=100000, default 1000).
    pub rowset_size: usize,
    /// Every field of the source table, in the source writer's field order. `r.*` slots
    /// index into this schema.
    pub fields: Arc<Schema>,
}

/// Input file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileFormat {
    /// CSV (any single-character separator).
    Csv,
    /// Apache Parquet.
    Parquet,
}

/// A file reader (`file_table`).
#[derive(Debug)]
pub struct FileReader {
    /// One file per batch, params substituted.
    pub urls: Vec<String>,
    /// Detected format.
    pub format: FileFormat,
    /// `csv.hdr_line_idx` (−1 = none).
    pub hdr_line_idx: i64,
    /// `csv.first_data_line_idx` (default 0).
    pub first_data_line_idx: usize,
    /// `csv.separator` first byte (default `,`).
    pub separator: u8,
    /// Columns in the order of [`FileReader::schema`].
    pub columns: Vec<ReaderColumn>,
    /// `r.*` schema: column names and types.
    pub schema: Arc<Schema>,
}

/// Where a CSV column comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ColumnSource {
    /// By header text (`csv.col_hdr`), resolved against line `hdr_line_idx`.
    Header(String),
    /// By 0-based index (`csv.col_idx`).
    Index(usize),
    /// Parquet column name.
    Parquet(String),
}

/// One reader column.
#[derive(Debug, Clone)]
pub struct ReaderColumn {
    /// Reader field name (`r.<name>`).
    pub name: String,
    /// `col_type`.
    pub col_type: FieldType,
    /// `col_default_value` (the text used when the cell is empty).
    pub default_value: Option<String>,
    /// Source.
    pub source: ColumnSource,
    /// `csv.col_format` (`%d`, `%f`, Go layout for datetime).
    pub format: Option<String>,
}

/// `l`.
#[derive(Debug)]
pub struct Lookup {
    /// `index_name`.
    pub index_name: String,
    /// Table that holds the index (without run suffix).
    pub right_table: String,
    /// Definition of the index (keys of left rows are built with it).
    pub index: IndexSpec,
    /// Positions in the reader schema of the `join_on` fields, in index component order.
    pub join_on: Vec<usize>,
    /// `join_type`.
    pub join_type: JoinType,
    /// `group`.
    pub group: bool,
    /// `filter` over `l.*`.
    pub filter: Option<Compiled>,
    /// `idx_read_batch_size` (default 3000).
    pub idx_read_batch_size: usize,
    /// `right_lookup_read_batch_size` (default 3000).
    pub right_lookup_read_batch_size: usize,
    /// Every field of the right table, in its writer's field order; `l.*` slots index here.
    pub right_fields: Arc<Schema>,
}

/// `join_type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JoinType {
    /// Unmatched left rows are dropped.
    Inner,
    /// Unmatched left rows produce one row with defaults.
    Left,
}

/// `custom_proc_type` + `p` of a `table_custom_tfm_table` node.
#[derive(Debug)]
pub struct CustomProcessor {
    /// `custom_proc_type`.
    pub proc_type: String,
    /// The raw `p` section, for the plugin to parse.
    pub params: serde_json::Value,
    /// `p.*` fields the processor produces; `p.*` slots index here.
    pub fields: Arc<Schema>,
    /// Deadline of one batch (`limits.timeout_ms`); `None`: the engine's default.
    pub timeout: Option<Duration>,
    /// Deadline of starting an instance: instantiation and `open` (`limits.open_timeout_ms`);
    /// `None`: the engine's default.
    pub open_timeout: Option<Duration>,
    /// Memory cap of one instance (`limits.memory_mb`); `None`: the engine's default.
    pub memory_bytes: Option<usize>,
}

impl CustomProcessor {
    /// The node's `limits` section.
    pub fn limits(&self) -> PluginLimits {
        PluginLimits {
            timeout: self.timeout,
            open_timeout: self.open_timeout,
            memory_bytes: self.memory_bytes,
        }
    }
}

/// `w`.
#[derive(Debug)]
pub enum Writer {
    /// Table creator.
    Table(TableWriter),
    /// File creator (`table_file`).
    File(FileWriter),
}

/// A table creator.
#[derive(Debug)]
pub struct TableWriter {
    /// Target table (without run suffix).
    pub name: String,
    /// Fields in script order (sorted by name, as JSON object order is not meaningful).
    pub fields: Vec<WriterField>,
    /// `w.*` schema = field names and types in the order of `fields`.
    pub schema: Arc<Schema>,
    /// `having` over `w.*`.
    pub having: Option<Compiled>,
    /// Indexes (sorted by name); for `distinct_table` the unique index comes first.
    pub indexes: Vec<IndexSpec>,
    /// `table_options` (Cassandra only).
    pub table_options: Option<String>,
}

/// One field of a table creator.
#[derive(Debug)]
pub struct WriterField {
    /// Field name.
    pub name: String,
    /// Declared type; the expression's type equals it.
    pub field_type: FieldType,
    /// The expression.
    pub expr: Compiled,
    /// `default_value` parsed for the type (used when a left lookup finds nothing).
    pub default_value: Option<Value>,
    /// True when the expression reads any `l.*` field or is an aggregate: the fields that
    /// take `default_value` (or the type's zero) when a left lookup finds nothing.
    pub uses_lookup: bool,
}

/// A file creator (`table_file`).
#[derive(Debug)]
pub struct FileWriter {
    /// `url_template` (params substituted; `{batch_idx}` and `{run_id}` left in).
    pub url_template: String,
    /// Output format.
    pub format: FileFormat,
    /// Columns in output order.
    pub columns: Vec<FileColumn>,
    /// `w.*` schema = column names and types.
    pub schema: Arc<Schema>,
    /// `having` over `w.<column name>`.
    pub having: Option<Compiled>,
    /// `top`.
    pub top: Option<Top>,
    /// `csv.separator` first byte (default `,`).
    pub separator: u8,
    /// `parquet.codec` (`gzip` default).
    pub parquet_codec: String,
}

impl FileWriter {
    /// The output URL of one batch: `{batch_idx}` and `{run_id}` expanded to `%05d`.
    pub fn url_for(&self, batch_idx: usize, run_id: i64) -> String {
        self.url_template
            .replace("{batch_idx}", &format!("{batch_idx:05}"))
            .replace("{run_id}", &format!("{run_id:05}"))
    }
}

/// One column of a file creator.
#[derive(Debug)]
pub struct FileColumn {
    /// Column name (`w.<name>`, `top` references).
    pub name: String,
    /// Declared type.
    pub field_type: FieldType,
    /// Expression over `r.*`.
    pub expr: Compiled,
    /// `csv.header`.
    pub header: String,
    /// `csv.format` (printf verb or Go layout), may be empty.
    pub format: String,
    /// `parquet.column_name`.
    pub parquet_column: Option<String>,
}

/// `top`: sort a batch's rows before writing.
#[derive(Debug, Clone)]
pub struct Top {
    /// Sort key components over writer columns.
    pub order: Vec<KeyComponent>,
    /// Maximum rows written (default 5,000,000).
    pub limit: usize,
}

/// An index definition (`unique(...)`/`non_unique(...)`), or an order expression.
#[derive(Debug, Clone)]
pub struct IndexSpec {
    /// Index name (empty for order expressions).
    pub name: String,
    /// `unique` vs `non_unique`.
    pub unique: bool,
    /// Components in key order.
    pub components: Vec<KeyComponent>,
}

/// One component of an index key or sort order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyComponent {
    /// Field name.
    pub field: String,
    /// Position of the field in the schema the key is built from.
    pub field_idx: usize,
    /// Field type.
    pub field_type: FieldType,
    /// `desc` modifier.
    pub desc: bool,
    /// `ignore_case` modifier (strings only).
    pub ignore_case: bool,
    /// String length (strings only; default 64, at least 16, at most 1024).
    pub str_len: usize,
}

/// Outcome of a dependency rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DepCmd {
    /// Dependencies are ready: process, reading the chosen run's tables.
    Go,
    /// Not ready yet: retry later.
    Wait,
    /// Never ready: fail the batch.
    NoGo,
}

/// Variable names a policy's expressions use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicyVocabulary {
    /// `nrs.run_id, nrs.run_is_current, nrs.run_status, nrs.node_status` (Capillaries ≥ 1.2).
    Nrs,
    /// The older `e.*` fields (run_start_ts, run_final_status, node_is_started, ...).
    E,
}

/// A dependency policy.
#[derive(Debug)]
pub struct DependencyPolicy {
    /// Policy name.
    pub name: String,
    /// `is_default`.
    pub is_default: bool,
    /// Which variable alias the expressions use.
    pub vocabulary: PolicyVocabulary,
    /// `event_priority_order` over event fields.
    pub order: Vec<KeyComponent>,
    /// Rules, tried in order.
    pub rules: Vec<DependencyRule>,
}

/// One rule of a dependency policy.
#[derive(Debug)]
pub struct DependencyRule {
    /// What to do when the expression is true.
    pub cmd: DepCmd,
    /// Boolean expression over the event (slot alias 0, fields as in `crate::policy`).
    pub expr: Compiled,
}
