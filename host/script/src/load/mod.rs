//! Loading and validating a script; all problems are collected before failing.
//!
//! Params substitution, decoding, every check of spec §1.11 and §1.3–1.8, expression
//! compilation.

use crate::dag::find_cycle;
use crate::error::{ScriptError, ScriptErrors};
use crate::index::{field_list, parse_index, parse_order};
use crate::model::*;
use crate::params::{Params, ScriptFormat, substitute};
use crate::policy::{DEFAULT_POLICY_NAME, default_policy_json, policy_unknown_keys, type_name};
use crate::raw::*;
use crate::scope::{Binding, FieldScope};
use regex::Regex;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock};
use std::time::Duration;
use vessel_core::{FieldType, Schema, Value, decimal, gotime};
use vessel_expr::{CompileOptions, Compiled};

mod functions;
mod readers;
mod writers;

use writers::ExprCtx;

/// Longest table or index name (48, the Amazon Keyspaces limit, minus 6 for `_NNNNN`).
pub const MAX_NAME_LEN: usize = 42;
/// Largest `expected_batches_total` (batch indexes are 16-bit in messages).
pub const MAX_BATCHES: i64 = 32767;
/// Default `rowset_size`.
pub const DEFAULT_ROWSET_SIZE: usize = 1000;
/// Largest `rowset_size`.
pub const MAX_ROWSET_SIZE: i64 = 100_000;
/// Default lookup page sizes.
pub const DEFAULT_LOOKUP_BATCH: usize = 3000;
/// Largest lookup page sizes.
pub const MAX_LOOKUP_BATCH: i64 = 20_000;
/// Default and largest `top.limit`.
pub const MAX_TOP_LIMIT: usize = 5_000_000;
/// Default `max_batch_processing_time`.
pub const DEFAULT_MAX_BATCH_TIME: Duration = Duration::from_millis(60_000);
/// Layout of datetime `default_value`s.
pub const DEFAULT_VALUE_TIME_LAYOUT: &str = "2006-01-02T15:04:05.000-07:00";

static TABLE_NAME: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[A-Za-z0-9_]+$").expect("valid regex"));
static INDEX_NAME: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^idx[A-Za-z0-9_]+$").expect("valid regex"));
static FIELD_NAME: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[A-Za-z_][A-Za-z0-9_]*$").expect("valid regex"));

/// Source of the `p.*` fields of custom processors (`table_custom_tfm_table`).
///
/// The engine plugs in its processor plugins through [`LoadOptions::catalog`]: loading a script
/// then opens each node's plugin with the node's parameters and input schema, so that parameter
/// and schema errors are reported with the script's other errors.
pub trait ProcessorCatalog: Send + Sync {
    /// The fields the node's processor produces, in order.
    ///
    /// # Errors
    /// A message saying why (unknown processor, invalid `p` section, schema mismatch); it is
    /// reported at the node's `p` field.
    fn fields(&self, req: &ProcessorRequest<'_>) -> Result<Vec<(String, FieldType)>, String>;

    /// The functions of a function plugin declared in the script's `functions` section.
    ///
    /// # Errors
    /// A message saying why the component cannot be found or loaded; it is reported at
    /// `functions.<namespace>`.
    fn functions(&self, req: &FunctionRequest<'_>) -> Result<Vec<crate::FunctionSig>, String> {
        Err(format!(
            "function plugins are not available in this build (component '{}')",
            req.component
        ))
    }
}

/// What a [`ProcessorCatalog`] is asked about one namespace of the `functions` section.
#[derive(Debug, Clone, Copy)]
pub struct FunctionRequest<'a> {
    /// The namespace.
    pub namespace: &'a str,
    /// `component`: a `.wasm` path or a plugin name.
    pub component: &'a str,
    /// Folder that relative paths in the script are resolved against (the script's folder).
    pub base_dir: Option<&'a Path>,
}

/// What a [`ProcessorCatalog`] is asked about one node.
#[derive(Debug, Clone, Copy)]
pub struct ProcessorRequest<'a> {
    /// Node name.
    pub node: &'a str,
    /// `custom_proc_type`.
    pub proc_type: &'a str,
    /// The node's `p` section (parameters substituted); `Null` when absent.
    pub params: &'a serde_json::Value,
    /// Fields of the table the node reads (`r.*`); `None` when the reader has errors of its own.
    pub input: Option<&'a Schema>,
    /// Folder that relative paths in the script are resolved against (the script's folder).
    pub base_dir: Option<&'a Path>,
    /// The node's `limits` section, for the instance the catalog opens (an `open` that needs
    /// more time or memory than the defaults must get them when the script is validated too).
    pub limits: PluginLimits,
}

/// Options of [`load_script_with`] / [`load_script_str_with`].
#[derive(Clone, Default)]
pub struct LoadOptions {
    /// Schemas of custom processors. Without one, a `table_custom_tfm_table` node must declare
    /// its `p.*` fields in a `p.fields` map (name → type), otherwise it is an error.
    pub catalog: Option<Arc<dyn ProcessorCatalog>>,
    /// Report unknown keys as errors instead of warnings.
    pub strict_keys: bool,
    /// Folder for relative paths (plugin components, `*_url` parameters); `load_script_with`
    /// uses the script's folder when this is `None`.
    pub base_dir: Option<PathBuf>,
}

impl std::fmt::Debug for LoadOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadOptions")
            .field(
                "catalog",
                &self.catalog.as_ref().map(|_| "dyn ProcessorCatalog"),
            )
            .field("strict_keys", &self.strict_keys)
            .field("base_dir", &self.base_dir)
            .finish()
    }
}

/// Loads, substitutes and validates a script file (`.json`, `.yaml`, `.yml`) with an optional
/// params file, using default [`LoadOptions`].
///
/// # Errors
/// Every problem found, each naming the file, node and field.
pub fn load_script(script_path: &Path, params_path: Option<&Path>) -> Result<Script, ScriptErrors> {
    load_script_with(script_path, params_path, &LoadOptions::default())
}

/// [`load_script`] with options.
///
/// # Errors
/// As [`load_script`].
pub fn load_script_with(
    script_path: &Path,
    params_path: Option<&Path>,
    opts: &LoadOptions,
) -> Result<Script, ScriptErrors> {
    let name = script_path.display().to_string();
    let format = ScriptFormat::from_path(script_path).map_err(|m| ScriptError::file(&name, m))?;
    let text = std::fs::read_to_string(script_path)
        .map_err(|e| ScriptError::file(&name, format!("cannot read script: {e}")))?;
    let params = match params_path {
        Some(p) => Params::load(p)?,
        None => Params::default(),
    };
    if opts.base_dir.is_none() {
        let dir = script_path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let opts = LoadOptions {
            base_dir: Some(dir.to_path_buf()),
            ..opts.clone()
        };
        return load_script_str_with(&text, format, &params, &name, &opts);
    }
    load_script_str_with(&text, format, &params, &name, opts)
}

/// Substitutes `params` into `script_text` and validates it, using default [`LoadOptions`];
/// `name_for_errors` names the script in messages.
///
/// # Errors
/// Every problem found, each naming the file, node and field.
pub fn load_script_str(
    script_text: &str,
    format: ScriptFormat,
    params: &Params,
    name_for_errors: &str,
) -> Result<Script, ScriptErrors> {
    load_script_str_with(
        script_text,
        format,
        params,
        name_for_errors,
        &LoadOptions::default(),
    )
}

/// [`load_script_str`] with options.
///
/// # Errors
/// As [`load_script_str`].
pub fn load_script_str_with(
    script_text: &str,
    format: ScriptFormat,
    params: &Params,
    name_for_errors: &str,
    opts: &LoadOptions,
) -> Result<Script, ScriptErrors> {
    let text = substitute(script_text, format, params, name_for_errors)?;
    let value = format.parse_value(&text).map_err(|m| {
        ScriptError::file(
            name_for_errors,
            format!("cannot parse the script (after parameter substitution): {m}"),
        )
    })?;
    Loader::new(name_for_errors, opts).load(&value)
}

/// A table as written by its creator: name, node, schema.
struct TableDef {
    node: String,
    schema: Arc<Schema>,
}

/// An index as defined by its table's creator.
struct IndexDef {
    node: String,
    table: String,
    spec: IndexSpec,
}

/// A node after decoding, before expressions are compiled.
struct Pre {
    name: String,
    raw: RawNode,
    node_type: NodeType,
    table_reader: Option<RawTableReader>,
    file_reader: Option<RawFileReader>,
    lookup: Option<RawLookup>,
    table_writer: Option<RawTableCreator>,
    /// Writer fields with valid names and types, sorted by name.
    table_schema: Option<Arc<Schema>>,
    file_writer: Option<RawFileCreator>,
}

struct Loader<'a> {
    file: &'a str,
    opts: &'a LoadOptions,
    errors: Vec<ScriptError>,
    warnings: Vec<ScriptError>,
    /// Plugin function namespaces, once the `functions` section is read.
    functions: Arc<BTreeMap<String, FunctionNamespace>>,
}

impl<'a> Loader<'a> {
    fn new(file: &'a str, opts: &'a LoadOptions) -> Self {
        Loader {
            file,
            opts,
            errors: Vec::new(),
            warnings: Vec::new(),
            functions: Arc::default(),
        }
    }

    fn err(&mut self, node: &str, field: Option<&str>, msg: impl Into<String>) {
        self.errors
            .push(ScriptError::node(self.file, node, field, msg));
    }

    /// Decodes section `field` of `node` (the node itself when `None`); a misspelt required
    /// key is one error naming it, and decoding goes on with the key corrected (see
    /// [`decode_correcting`]).
    fn section<T: serde::de::DeserializeOwned>(
        &mut self,
        node: &str,
        field: Option<&str>,
        v: &serde_json::Value,
    ) -> Option<T> {
        let (value, issues) = decode_correcting(v);
        for issue in issues {
            let at = match (field, issue.path) {
                (Some(f), Some(p)) => Some(format!("{f}.{p}")),
                (Some(f), None) => Some(f.to_string()),
                (None, p) => p,
            };
            self.err(node, at.as_deref(), issue.message);
        }
        value
    }

    fn unknown_keys(&mut self, node: Option<&str>, paths: Vec<String>) {
        for p in paths {
            let key = p.rsplit('.').next().unwrap_or(&p);
            let hint = match suggest_key(key) {
                Some(k) => format!("did you mean '{k}'?"),
                None => "check its spelling".to_string(),
            };
            let e = ScriptError {
                file: self.file.to_string(),
                node: node.map(str::to_string),
                field: Some(p.clone()),
                message: format!("unknown key '{key}' (ignored); {hint}"),
            };
            if self.opts.strict_keys {
                self.errors.push(e);
            } else {
                self.warnings.push(e);
            }
        }
    }

    fn load(mut self, value: &serde_json::Value) -> Result<Script, ScriptErrors> {
        let raw: RawScript = match decode(value) {
            Ok(r) => r,
            Err(m) => {
                return Err(ScriptError::file(
                    self.file,
                    format!("the script must be a map with 'nodes' and 'dependency_policies': {m}"),
                )
                .into());
            }
        };
        self.unknown_keys(None, unknown_paths("", &raw.unknown));
        let (policies, default_policy) = self.policies(raw.dependency_policies.as_ref());
        self.functions = Arc::new(self.functions(raw.functions.as_ref()));
        let Some(raw_nodes) = raw.nodes.as_ref().filter(|n| !n.is_empty()) else {
            self.errors.push(ScriptError::file(
                self.file,
                "the script has no nodes; add a 'nodes' map of node name to node",
            ));
            return Err(self.errors.into());
        };

        // Pass 1: decode nodes, collect tables and indexes.
        let mut pres: Vec<Pre> = Vec::new();
        for (name, v) in raw_nodes {
            if let Some(p) = self.pre_node(name, v) {
                pres.push(p);
            }
        }
        // Tables and indexes are registered in file order, so that a duplicate is blamed on
        // the later definition.
        let tables = self.tables(&pres);
        let indexes = self.indexes(&pres, &tables);
        pres.sort_by(|a, b| a.name.cmp(&b.name));
        self.check_cycles(&pres, &tables, &indexes);

        // Pass 2: build nodes.
        let mut nodes = BTreeMap::new();
        for pre in &pres {
            if let Some(n) = self.node(pre, &tables, &indexes, &policies, &default_policy) {
                nodes.insert(pre.name.clone(), n);
            }
        }
        self.check_index_usage(&pres, &indexes);

        if !self.errors.is_empty() {
            return Err(self.errors.into());
        }
        Ok(Script {
            nodes,
            policies,
            default_policy,
            table_creators: tables
                .iter()
                .map(|(t, d)| (t.clone(), d.node.clone()))
                .collect(),
            index_owners: indexes
                .iter()
                .map(|(i, d)| (i.clone(), d.node.clone()))
                .collect(),
            functions: (*self.functions).clone(),
            warnings: self.warnings,
        })
    }

    fn policies(
        &mut self,
        raw: Option<&serde_json::Map<String, serde_json::Value>>,
    ) -> (BTreeMap<String, DependencyPolicy>, String) {
        let mut out = BTreeMap::new();
        let defaults: Vec<(String, serde_json::Value)>;
        let entries: Vec<(&String, &serde_json::Value)> = match raw {
            Some(m) => m.iter().collect(),
            None => {
                defaults = vec![(DEFAULT_POLICY_NAME.to_string(), default_policy_json())];
                defaults.iter().map(|(k, v)| (k, v)).collect()
            }
        };
        let mut default_names = Vec::new();
        for (name, v) in entries {
            let prefix = format!("dependency_policies.{name}");
            let raw: RawPolicy = match decode(v) {
                Ok(r) => r,
                Err(m) => {
                    self.errors.push(ScriptError::field(self.file, &prefix, m));
                    continue;
                }
            };
            self.unknown_keys(
                None,
                policy_unknown_keys(&raw)
                    .into_iter()
                    .map(|p| format!("{prefix}.{p}"))
                    .collect(),
            );
            if raw.is_default {
                default_names.push(name.clone());
            }
            match DependencyPolicy::from_raw(name, &raw) {
                Ok(p) => {
                    out.insert(name.clone(), p);
                }
                Err(list) => {
                    for (f, m) in list {
                        let field = if f.is_empty() {
                            prefix.clone()
                        } else {
                            format!("{prefix}.{f}")
                        };
                        self.errors.push(ScriptError::field(self.file, &field, m));
                    }
                }
            }
        }
        let default = match default_names.as_slice() {
            [one] => one.clone(),
            [] => {
                self.errors.push(ScriptError::field(
                    self.file,
                    "dependency_policies",
                    "no policy has \"is_default\": true; mark exactly one as the default",
                ));
                String::new()
            }
            many => {
                self.errors.push(ScriptError::field(
                    self.file,
                    "dependency_policies",
                    format!(
                        "{} policies have \"is_default\": true ({}); mark exactly one",
                        many.len(),
                        many.join(", ")
                    ),
                ));
                String::new()
            }
        };
        (out, default)
    }

    fn pre_node(&mut self, name: &str, v: &serde_json::Value) -> Option<Pre> {
        if name.trim().is_empty() {
            self.err(name, None, "node names cannot be empty");
        }
        let raw: RawNode = self.section(name, None, v)?;
        self.unknown_keys(Some(name), unknown_paths("", &raw.unknown));
        let node_type = match raw.node_type.as_str() {
            "file_table" => NodeType::FileTable,
            "table_table" => NodeType::TableTable,
            "table_lookup_table" => NodeType::TableLookupTable,
            "distinct_table" => NodeType::DistinctTable,
            "table_custom_tfm_table" => NodeType::TableCustomTfmTable,
            "table_file" => NodeType::TableFile,
            other => {
                self.err(
                    name,
                    Some("type"),
                    format!(
                        "unknown node type '{other}'; use file_table, table_table, \
                         table_lookup_table, distinct_table, table_custom_tfm_table or table_file"
                    ),
                );
                return None;
            }
        };
        let mut pre = Pre {
            name: name.to_string(),
            raw: raw.clone(),
            node_type,
            table_reader: None,
            file_reader: None,
            lookup: None,
            table_writer: None,
            table_schema: None,
            file_writer: None,
        };
        // r
        match &raw.r {
            None => self.err(name, Some("r"), "missing reader section 'r'"),
            Some(r) if node_type == NodeType::FileTable => {
                pre.file_reader = self.section::<RawFileReader>(name, Some("r"), r);
            }
            Some(r) => {
                if let Some(tr) = self.section::<RawTableReader>(name, Some("r"), r) {
                    self.unknown_keys(Some(name), unknown_paths("r", &tr.unknown));
                    pre.table_reader = Some(tr);
                }
            }
        }
        // l
        if node_type == NodeType::TableLookupTable {
            match &raw.l {
                None => self.err(
                    name,
                    Some("l"),
                    "a table_lookup_table node needs a lookup section 'l'",
                ),
                Some(l) => {
                    if let Some(lk) = self.section::<RawLookup>(name, Some("l"), l) {
                        self.unknown_keys(Some(name), unknown_paths("l", &lk.unknown));
                        pre.lookup = Some(lk);
                    }
                }
            }
        } else if raw.l.as_ref().is_some_and(|l| !l.is_null()) {
            self.warnings.push(ScriptError::node(
                self.file,
                name,
                Some("l"),
                format!(
                    "ignored: only table_lookup_table nodes use 'l' (this one is {})",
                    node_type.name()
                ),
            ));
        }
        // w
        match &raw.w {
            None => self.err(name, Some("w"), "missing writer section 'w'"),
            Some(w) if node_type == NodeType::TableFile => {
                pre.file_writer = self.section::<RawFileCreator>(name, Some("w"), w);
            }
            Some(w) => {
                if let Some(tw) = self.section::<RawTableCreator>(name, Some("w"), w) {
                    self.unknown_keys(Some(name), unknown_paths("w", &tw.unknown));
                    let mut fields = Vec::new();
                    for (fname, f) in &tw.fields {
                        self.unknown_keys(
                            Some(name),
                            unknown_paths(&format!("w.fields.{fname}"), &f.unknown),
                        );
                        let path = format!("w.fields.{fname}");
                        if !FIELD_NAME.is_match(fname) {
                            self.err(
                                name,
                                Some(&path),
                                format!(
                                    "field name '{fname}' must be a letter or '_' followed by \
                                     letters, digits or '_'"
                                ),
                            );
                            continue;
                        }
                        match parse_type(&f.field_type) {
                            Ok(t) => fields.push((fname.clone(), t)),
                            Err(m) => self.err(name, Some(&format!("{path}.type")), m),
                        }
                    }
                    if tw.fields.is_empty() {
                        self.err(
                            name,
                            Some("w.fields"),
                            "a table writer needs at least one field",
                        );
                    }
                    pre.table_schema = Some(Arc::new(Schema::new(fields)));
                    pre.table_writer = Some(tw);
                }
            }
        }
        Some(pre)
    }

    fn tables(&mut self, pres: &[Pre]) -> BTreeMap<String, TableDef> {
        let mut tables: BTreeMap<String, TableDef> = BTreeMap::new();
        for pre in pres {
            let (Some(tw), Some(schema)) = (&pre.table_writer, &pre.table_schema) else {
                continue;
            };
            let t = &tw.name;
            if let Err(m) = check_table_name(t) {
                self.err(&pre.name, Some("w.name"), m);
                continue;
            }
            if let Some(prev) = tables.get(t) {
                let prev = prev.node.clone();
                self.err(
                    &pre.name,
                    Some("w.name"),
                    format!(
                        "table '{t}' is also written by node '{prev}'; table names must be unique"
                    ),
                );
                continue;
            }
            tables.insert(
                t.clone(),
                TableDef {
                    node: pre.name.clone(),
                    schema: schema.clone(),
                },
            );
        }
        tables
    }

    fn indexes(
        &mut self,
        pres: &[Pre],
        tables: &BTreeMap<String, TableDef>,
    ) -> BTreeMap<String, IndexDef> {
        let mut out: BTreeMap<String, IndexDef> = BTreeMap::new();
        for pre in pres {
            let (Some(tw), Some(schema)) = (&pre.table_writer, &pre.table_schema) else {
                continue;
            };
            for (iname, def) in &tw.indexes {
                let field = format!("w.indexes.{iname}");
                if !INDEX_NAME.is_match(iname) || iname.len() > MAX_NAME_LEN {
                    self.err(
                        &pre.name,
                        Some(&field),
                        format!(
                            "index name '{iname}' must start with 'idx', hold only letters, \
                             digits and '_', and be at most {MAX_NAME_LEN} characters"
                        ),
                    );
                    continue;
                }
                if tables.contains_key(iname) {
                    self.err(
                        &pre.name,
                        Some(&field),
                        format!("index name '{iname}' is also a table name; rename one"),
                    );
                    continue;
                }
                if let Some(prev) = out.get(iname) {
                    let prev = prev.node.clone();
                    self.err(
                        &pre.name,
                        Some(&field),
                        format!(
                            "index '{iname}' is also defined by node '{prev}'; index names must \
                             be unique in the script"
                        ),
                    );
                    continue;
                }
                match parse_index(iname, def, schema) {
                    Ok(spec) => {
                        out.insert(
                            iname.clone(),
                            IndexDef {
                                node: pre.name.clone(),
                                table: tw.name.clone(),
                                spec,
                            },
                        );
                    }
                    Err(m) => self.err(&pre.name, Some(&field), m),
                }
            }
        }
        out
    }

    fn check_cycles(
        &mut self,
        pres: &[Pre],
        tables: &BTreeMap<String, TableDef>,
        indexes: &BTreeMap<String, IndexDef>,
    ) {
        let mut parents: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for pre in pres {
            let mut ps = Vec::new();
            if let Some(t) = pre.table_reader.as_ref().and_then(|r| tables.get(&r.table)) {
                ps.push(t.node.clone());
            }
            if let Some(i) = pre.lookup.as_ref().and_then(|l| indexes.get(&l.index_name)) {
                ps.push(i.node.clone());
            }
            parents.insert(pre.name.clone(), ps);
        }
        if let Some(cycle) = find_cycle(&parents) {
            self.errors.push(ScriptError::file(
                self.file,
                format!(
                    "the nodes form a cycle: {}; a node cannot read, directly or indirectly, a \
                     table it produces",
                    cycle.join(" → ")
                ),
            ));
        }
    }

    fn check_index_usage(&mut self, pres: &[Pre], indexes: &BTreeMap<String, IndexDef>) {
        let mut used: BTreeSet<&str> = BTreeSet::new();
        for pre in pres {
            if let Some(l) = &pre.lookup {
                used.insert(&l.index_name);
            }
            if pre.node_type == NodeType::DistinctTable {
                for (n, d) in indexes.iter().filter(|(_, d)| d.node == pre.name) {
                    if d.spec.unique {
                        used.insert(n);
                    }
                }
            }
        }
        for (n, d) in indexes {
            if !used.contains(n.as_str()) && !n.contains("to_check_uniq") {
                self.err(
                    &d.node,
                    Some(&format!("w.indexes.{n}")),
                    format!(
                        "index '{n}' is not used by any lookup or distinct_table; remove it, or \
                         put 'to_check_uniq' in its name if it only enforces uniqueness"
                    ),
                );
            }
        }
    }

    fn node(
        &mut self,
        pre: &Pre,
        tables: &BTreeMap<String, TableDef>,
        indexes: &BTreeMap<String, IndexDef>,
        policies: &BTreeMap<String, DependencyPolicy>,
        default_policy: &str,
    ) -> Option<Node> {
        let name = pre.name.as_str();
        let raw = &pre.raw;
        let start_policy = match raw.start_policy.as_deref() {
            None | Some("") | Some("auto") => Some(StartPolicy::Auto),
            Some("manual") => Some(StartPolicy::Manual),
            Some(o) => {
                self.err(
                    name,
                    Some("start_policy"),
                    format!("unknown start_policy '{o}'; use auto or manual"),
                );
                None
            }
        };
        let rerun_policy = match raw.rerun_policy.as_deref() {
            None | Some("") | Some("rerun") => Some(RerunPolicy::Rerun),
            Some("fail") => Some(RerunPolicy::Fail),
            Some(o) => {
                self.err(
                    name,
                    Some("rerun_policy"),
                    format!("unknown rerun_policy '{o}'; use rerun or fail"),
                );
                None
            }
        };
        if pre.node_type == NodeType::DistinctTable && rerun_policy != Some(RerunPolicy::Fail) {
            self.err(
                name,
                Some("rerun_policy"),
                "a distinct_table node must have \"rerun_policy\": \"fail\" (a half-done \
                 distinct batch cannot be cleaned up and redone)",
            );
        }
        let max_time = match raw.max_batch_processing_time {
            None => Some(DEFAULT_MAX_BATCH_TIME),
            Some(ms) if ms > 0 => Some(Duration::from_millis(ms as u64)),
            Some(ms) => {
                self.err(
                    name,
                    Some("max_batch_processing_time"),
                    format!("{ms} ms is not a valid time; give a positive number of milliseconds"),
                );
                None
            }
        };
        let dependency_policy = match raw.dependency_policy.as_deref() {
            None | Some("") => Some(default_policy.to_string()),
            Some(p) if policies.contains_key(p) => Some(p.to_string()),
            Some(p) => {
                let known: Vec<&str> = policies.keys().map(String::as_str).collect();
                self.err(
                    name,
                    Some("dependency_policy"),
                    format!(
                        "unknown dependency policy '{p}'; the script defines: {}",
                        known.join(", ")
                    ),
                );
                None
            }
        };

        let reader = self.reader(pre, tables);
        let r_schema: Option<Arc<Schema>> = reader.as_ref().map(|r| match r {
            Reader::File(f) => f.schema.clone(),
            Reader::Table(t) => t.fields.clone(),
        });
        let lookup = match &pre.lookup {
            Some(l) => self.lookup(name, l, r_schema.as_deref(), indexes, tables),
            None => None,
        };
        let processor = if pre.node_type == NodeType::TableCustomTfmTable {
            self.processor(name, raw, r_schema.as_deref())
        } else {
            if raw.limits.is_some() {
                self.warnings.push(ScriptError::node(
                    self.file,
                    name,
                    Some("limits"),
                    "limits only apply to table_custom_tfm_table nodes (ignored)",
                ));
            }
            None
        };
        let ctx = ExprCtx {
            r: r_schema.as_deref(),
            l: if pre.node_type == NodeType::TableLookupTable {
                Some(lookup.as_ref().map(|l| l.right_fields.as_ref()))
            } else {
                None
            },
            p: if pre.node_type == NodeType::TableCustomTfmTable {
                Some(processor.as_ref().map(|p| p.fields.as_ref()))
            } else {
                None
            },
            functions: self.functions.clone(),
            deny_functions: pre.lookup.as_ref().is_some_and(|l| l.group).then_some(
                "plugin functions cannot be called in grouped lookups (\"group\": true) yet; \
                 call them in a table_table node before or after the lookup",
            ),
            group: pre.lookup.as_ref().is_some_and(|l| l.group),
            left_join: pre.lookup.as_ref().is_some_and(|l| l.join_type == "left"),
        };
        let writer = match (&pre.table_writer, &pre.file_writer) {
            (Some(tw), _) => self.table_writer(pre, tw, &ctx, indexes).map(Writer::Table),
            (_, Some(fw)) => self.file_writer(pre, fw, &ctx).map(Writer::File),
            _ => None,
        };
        let lookup_ok = pre.node_type != NodeType::TableLookupTable || lookup.is_some();
        let proc_ok = pre.node_type != NodeType::TableCustomTfmTable || processor.is_some();
        if !(lookup_ok && proc_ok) {
            return None;
        }
        Some(Node {
            name: name.to_string(),
            desc: raw.desc.clone().unwrap_or_default(),
            node_type: pre.node_type,
            start_policy: start_policy?,
            rerun_policy: rerun_policy?,
            max_batch_processing_time: max_time?,
            dependency_policy: dependency_policy?,
            reader: reader?,
            lookup,
            processor,
            writer: writer?,
        })
    }
}

fn parse_type(s: &str) -> Result<FieldType, String> {
    FieldType::parse(s).ok_or_else(|| {
        format!("unknown type '{s}'; use int, float, decimal2, string, bool or datetime")
    })
}

fn check_table_name(t: &str) -> Result<(), String> {
    if !TABLE_NAME.is_match(t) {
        return Err(format!(
            "table name '{t}' may hold only letters, digits and '_'"
        ));
    }
    for p in ["idx", "wf", "system"] {
        if t.starts_with(p) {
            return Err(format!(
                "table name '{t}' cannot start with '{p}' (reserved for indexes, workflow and \
                 system tables)"
            ));
        }
    }
    if t.len() > MAX_NAME_LEN {
        return Err(format!(
            "table name '{t}' is {} characters; the maximum is {MAX_NAME_LEN}",
            t.len()
        ));
    }
    Ok(())
}

/// The first byte of a separator (default `,`).
fn separator_byte(s: Option<&str>) -> Result<u8, String> {
    match s.and_then(|s| s.chars().next()) {
        None => Ok(b','),
        Some(c) if c.is_ascii() => Ok(c as u8),
        Some(c) => Err(format!(
            "separator '{c}' is not a single-byte (ASCII) character"
        )),
    }
}

/// Go's `strconv.ParseBool`.
fn parse_go_bool(s: &str) -> Option<bool> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// Parses a writer field's `default_value` for its type (conformance §0.5).
///
/// # Errors
/// A message saying what text the type expects.
pub fn parse_default_value(t: FieldType, s: &str) -> Result<Value, String> {
    if t == FieldType::Decimal2
        && let Err(e @ decimal::DecimalError::OutOfRange { .. }) = decimal::parse_via_float(s)
    {
        return Err(format!("'{s}' is not a valid decimal2 default: {e}"));
    }
    let v = match t {
        FieldType::Int => s.trim().parse::<i64>().ok().map(Value::Int),
        FieldType::Float => s.trim().parse::<f64>().ok().map(Value::Float),
        FieldType::Decimal2 => decimal::parse_via_float(s).ok().map(Value::Decimal),
        FieldType::String => Some(Value::Str(s.to_string())),
        FieldType::Bool => parse_go_bool(s.trim()).map(Value::Bool),
        FieldType::DateTime => gotime::parse(DEFAULT_VALUE_TIME_LAYOUT, s.trim())
            .ok()
            .map(Value::DateTime),
    };
    v.and_then(|v| v.normalized_for(t)).ok_or_else(|| {
        let expected = match t {
            FieldType::Int => "a decimal integer such as 999".to_string(),
            FieldType::Float => "a number such as 1.5".to_string(),
            FieldType::Decimal2 => "a number such as 999.00".to_string(),
            FieldType::Bool => "true or false".to_string(),
            FieldType::DateTime => format!(
                "a time in the layout {DEFAULT_VALUE_TIME_LAYOUT}, such as \
                 1980-02-03T04:05:06.777+00:00"
            ),
            FieldType::String => "text".to_string(),
        };
        format!("'{s}' is not a valid {t} default; expected {expected}")
    })
}

#[cfg(test)]
mod testkit {
    //! Helpers shared by the loader's unit tests.
    use super::*;
    pub use serde_json::{Value as J, json};
    pub use std::str::FromStr;
    pub use vessel_core::Decimal;

    /// A small valid script: file → table, grouped lookup, file dump, distinct.
    pub(super) fn base() -> J {
        json!({
          "nodes": {
            "read": {"type": "file_table",
              "r": {"urls": ["a.csv"], "csv": {"hdr_line_idx": 0, "first_data_line_idx": 1},
                "columns": {
                  "id": {"csv": {"col_hdr": "id"}, "col_type": "string"},
                  "n": {"csv": {"col_hdr": "n", "col_format": "%d"}, "col_type": "int"},
                  "price": {"csv": {"col_hdr": "price", "col_format": "%f"}, "col_type": "decimal2"},
                  "ts": {"csv": {"col_hdr": "ts", "col_format": "2006-01-02"}, "col_type": "datetime"}}},
              "w": {"name": "t", "having": "w.n > 0",
                "fields": {
                  "id": {"expression": "r.id", "type": "string"},
                  "n": {"expression": "r.n", "type": "int"},
                  "price": {"expression": "r.price", "type": "decimal2"},
                  "ts": {"expression": "r.ts", "type": "datetime"}},
                "indexes": {"idx_t_id": "non_unique(id)"}}},
            "look": {"type": "table_lookup_table",
              "r": {"table": "t", "expected_batches_total": 4},
              "l": {"index_name": "idx_t_id", "join_on": "r.id", "join_type": "left", "group": true},
              "w": {"name": "g", "fields": {
                "id": {"expression": "r.id", "type": "string"},
                "total": {"expression": "sum(l.price)", "type": "decimal2", "default_value": "0"},
                "cnt": {"expression": "count()", "type": "int"}}}},
            "dump": {"type": "table_file",
              "r": {"table": "g"},
              "w": {"url_template": "out_{batch_idx}.csv", "top": {"order": "total(desc),id"},
                "columns": [
                  {"name": "id", "type": "string", "expression": "r.id", "csv": {"header": "ID", "format": "%s"}},
                  {"name": "total", "type": "decimal2", "expression": "r.total", "csv": {"header": "Total", "format": "%s"}}]}},
            "dist": {"type": "distinct_table", "rerun_policy": "fail",
              "r": {"table": "t"},
              "w": {"name": "d", "fields": {"id": {"expression": "r.id", "type": "string"}},
                "indexes": {"idx_d_id": "unique(id)", "idx_d_id_to_check_uniq_x": "non_unique(id)"}}}
          }
        })
    }

    pub(super) fn load(v: &J) -> Result<Script, ScriptErrors> {
        let text = serde_json::to_string_pretty(v).unwrap();
        load_script_str(&text, ScriptFormat::Json, &Params::default(), "s.json")
    }

    /// Applies `f` to the base script and returns the message of the error at `node`/`field`.
    pub(super) fn error_at(f: impl FnOnce(&mut J), node: &str, field: &str) -> String {
        let mut v = base();
        f(&mut v);
        let errs = load(&v).expect_err("the script should be rejected");
        errs.iter()
            .find(|e| e.node.as_deref() == Some(node) && e.field.as_deref() == Some(field))
            .unwrap_or_else(|| panic!("no error at {node} {field}; got:\n{errs}"))
            .message
            .clone()
    }

    pub(super) fn file_error(f: impl FnOnce(&mut J)) -> String {
        let mut v = base();
        f(&mut v);
        load(&v)
            .expect_err("the script should be rejected")
            .to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::testkit::*;
    use super::*;

    #[test]
    fn base_script_loads_with_defaults() {
        let s = load(&base()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(s.nodes.len(), 4);
        let look = &s.nodes["look"];
        assert_eq!(look.start_policy, StartPolicy::Auto);
        assert_eq!(look.rerun_policy, RerunPolicy::Rerun);
        assert_eq!(look.max_batch_processing_time, Duration::from_secs(60));
        assert_eq!(look.dependency_policy, "current_active_first_stopped_nogo");
        let Reader::Table(r) = &look.reader else {
            panic!()
        };
        assert_eq!((r.expected_batches_total, r.rowset_size), (4, 1000));
        let l = look.lookup.as_ref().unwrap();
        assert_eq!(
            (l.idx_read_batch_size, l.right_lookup_read_batch_size),
            (3000, 3000)
        );
        let Writer::Table(w) = &look.writer else {
            panic!()
        };
        assert_eq!(
            w.fields.iter().map(|f| f.name.as_str()).collect::<Vec<_>>(),
            vec!["cnt", "id", "total"]
        );
        assert_eq!(
            w.fields[2].default_value,
            Some(Value::Decimal(Decimal::from_str("0.00").unwrap()))
        );
        let Writer::File(fw) = &s.nodes["dump"].writer else {
            panic!()
        };
        assert_eq!(fw.format, FileFormat::Csv);
        assert_eq!(fw.url_template, "out_{batch_idx}.csv");
        assert_eq!(fw.url_for(3, 12), "out_00003.csv");
        assert_eq!((fw.separator, fw.parquet_codec.as_str()), (b',', "gzip"));
        let Writer::Table(d) = &s.nodes["dist"].writer else {
            panic!()
        };
        assert_eq!(d.indexes[0].name, "idx_d_id");
        assert!(d.indexes[0].unique);
        let Reader::File(fr) = &s.nodes["read"].reader else {
            panic!()
        };
        assert_eq!(fr.columns[0].source, ColumnSource::Header("id".into()));
        assert!(s.warnings.is_empty(), "{:?}", s.warnings);
    }

    #[test]
    fn names_and_uniqueness() {
        let m = error_at(
            |v| v["nodes"]["dist"]["w"]["name"] = json!("t"),
            "dist",
            "w.name",
        );
        assert!(m.contains("also written by node 'read'"), "{m}");
        error_at(
            |v| v["nodes"]["dist"]["w"]["name"] = json!("wf_d"),
            "dist",
            "w.name",
        );
        let m = error_at(
            |v| {
                let idx = v["nodes"]["dist"]["w"]["indexes"].as_object_mut().unwrap();
                idx.insert("index_bad".into(), json!("non_unique(id)"));
            },
            "dist",
            "w.indexes.index_bad",
        );
        assert!(m.contains("must start with 'idx'"), "{m}");
        let m = error_at(
            |v| v["nodes"]["dist"]["w"]["indexes"]["idx_t_id"] = json!("non_unique(id)"),
            "dist",
            "w.indexes.idx_t_id",
        );
        assert!(m.contains("also defined by node 'read'"), "{m}");
        let m = error_at(
            |v| v["nodes"]["read"]["w"]["fields"]["id"]["type"] = json!("text"),
            "read",
            "w.fields.id.type",
        );
        assert!(m.contains("unknown type 'text'"), "{m}");
        let m = error_at(
            |v| v["nodes"]["read"]["type"] = json!("file_tabel"),
            "read",
            "type",
        );
        assert!(m.contains("unknown node type 'file_tabel'"), "{m}");
    }

    #[test]
    fn indexes_must_be_used() {
        let m = error_at(
            |v| v["nodes"]["read"]["w"]["indexes"]["idx_t_n"] = json!("non_unique(n)"),
            "read",
            "w.indexes.idx_t_n",
        );
        assert!(
            m.contains("not used by any lookup or distinct_table"),
            "{m}"
        );
    }

    #[test]
    fn cycles_are_rejected() {
        let m = file_error(|v| v["nodes"]["dist"]["r"]["table"] = json!("d"));
        assert!(m.contains("the nodes form a cycle: dist → dist"), "{m}");
    }

    #[test]
    fn policies_are_checked() {
        let rule =
            json!({"cmd": "go", "expression": "nrs.node_status == wfmodel.NodeBatchSuccess"});
        let m = file_error(|v| {
            v["dependency_policies"] = json!({
                "a": {"is_default": true, "rules": [rule]},
                "b": {"is_default": true, "rules": [rule]}});
        });
        assert!(
            m.contains("2 policies have \"is_default\": true (a, b)"),
            "{m}"
        );
        let m = error_at(
            |v| {
                v["dependency_policies"] = json!({"a": {"is_default": true, "rules": [rule]}});
                v["nodes"]["look"]["dependency_policy"] = json!("b");
            },
            "look",
            "dependency_policy",
        );
        assert!(
            m.contains("unknown dependency policy 'b'; the script defines: a"),
            "{m}"
        );
        let m = file_error(|v| {
            v["dependency_policies"] = json!({"a": {"is_default": true, "rules": [
                {"cmd": "go", "expression": "nrs.node_stat == 2"}]}});
        });
        assert!(
            m.contains("s.json: field dependency_policies.a.rules[0].expression: "),
            "{m}"
        );
        assert!(
            m.contains("nrs has run_id, run_is_current, run_status, node_status"),
            "{m}"
        );
    }

    #[test]
    fn every_error_is_collected() {
        let mut v = base();
        v["nodes"]["read"]["w"]["having"] = json!("w.zz");
        v["nodes"]["look"]["l"]["join_type"] = json!("outer");
        v["nodes"]["dump"]["w"]["top"]["limit"] = json!(-1);
        v["nodes"]["dist"]["rerun_policy"] = json!("rerun");
        let errs = load(&v).unwrap_err();
        let nodes: BTreeSet<&str> = errs.iter().filter_map(|e| e.node.as_deref()).collect();
        assert_eq!(
            nodes.into_iter().collect::<Vec<_>>(),
            vec!["dist", "dump", "look", "read"]
        );
        assert_eq!(errs.len(), 4, "{errs}");
    }

    #[test]
    fn default_values_parse_per_type() {
        assert_eq!(
            parse_default_value(FieldType::Int, "999"),
            Ok(Value::Int(999))
        );
        assert_eq!(
            parse_default_value(FieldType::Decimal2, "999.00"),
            Ok(Value::Decimal(Decimal::from_str("999.00").unwrap()))
        );
        assert_eq!(
            parse_default_value(FieldType::Bool, "T"),
            Ok(Value::Bool(true))
        );
        assert_eq!(
            parse_default_value(FieldType::Float, "1.5"),
            Ok(Value::Float(1.5))
        );
        assert_eq!(
            parse_default_value(FieldType::String, ""),
            Ok(Value::Str(String::new()))
        );
        let Value::DateTime(t) =
            parse_default_value(FieldType::DateTime, "1980-02-03T04:05:06.777+00:00").unwrap()
        else {
            panic!("not a datetime")
        };
        assert_eq!(t.timestamp_millis(), 318_398_706_777);
        let e = parse_default_value(FieldType::Int, "9.5").unwrap_err();
        assert_eq!(
            e,
            "'9.5' is not a valid int default; expected a decimal integer such as 999"
        );
        assert!(parse_default_value(FieldType::DateTime, "1980-02-03").is_err());
        // decimal2 holds a 64-bit count of hundredths; a larger default is refused, not clamped.
        let e = parse_default_value(FieldType::Decimal2, "1e20").unwrap_err();
        assert!(
            e.starts_with(
                "'1e20' is not a valid decimal2 default: 1e20 is outside the decimal2 range"
            ),
            "{e}"
        );
        assert!(parse_default_value(FieldType::Decimal2, "90000000000000000").is_ok());
    }

    #[test]
    fn table_names_are_checked() {
        assert!(check_table_name("orders").is_ok());
        assert!(
            check_table_name("idx_orders")
                .unwrap_err()
                .contains("cannot start with 'idx'")
        );
        assert!(check_table_name("wf_x").is_err());
        assert!(check_table_name("system_x").is_err());
        assert!(
            check_table_name("a-b")
                .unwrap_err()
                .contains("only letters")
        );
        assert!(
            check_table_name(&"a".repeat(43))
                .unwrap_err()
                .contains("maximum is 42")
        );
        assert!(check_table_name(&"a".repeat(42)).is_ok());
    }

    #[test]
    fn separators_and_bools() {
        assert_eq!(separator_byte(None), Ok(b','));
        assert_eq!(separator_byte(Some("\t")), Ok(b'\t'));
        assert_eq!(separator_byte(Some("")), Ok(b','));
        assert_eq!(separator_byte(Some(";x")), Ok(b';'));
        assert!(separator_byte(Some("→")).is_err());
        assert_eq!(parse_go_bool("True"), Some(true));
        assert_eq!(parse_go_bool("yes"), None);
    }

    /// Offers `fx.upper(string) string` for any component.
    struct Upper;

    impl ProcessorCatalog for Upper {
        fn fields(&self, _: &ProcessorRequest<'_>) -> Result<Vec<(String, FieldType)>, String> {
            Err("no processors here".into())
        }

        fn functions(&self, _: &FunctionRequest<'_>) -> Result<Vec<FunctionSig>, String> {
            Ok(vec![FunctionSig {
                name: "upper".into(),
                params: vec![FieldType::String],
                returns: FieldType::String,
            }])
        }
    }

    #[test]
    fn plugin_functions_only_where_they_can_run() {
        let opts = LoadOptions {
            catalog: Some(Arc::new(Upper)),
            ..LoadOptions::default()
        };
        let load_with = |v: &serde_json::Value| {
            let text = serde_json::to_string(v).unwrap();
            load_script_str_with(
                &text,
                ScriptFormat::Json,
                &Params::default(),
                "s.json",
                &opts,
            )
        };
        let mut v = base();
        v["functions"] = json!({"fx": "fx.wasm"});
        // A plain lookup may call them, on r.* and l.*.
        v["nodes"]["look"]["l"]["group"] = json!(false);
        v["nodes"]["look"]["w"]["fields"] = json!({
            "id": {"expression": "fx.upper(r.id)", "type": "string"},
            "total": {"expression": "l.price", "type": "decimal2"},
            "cnt": {"expression": "len(fx.upper(l.id))", "type": "int"}});
        let s = load_with(&v).unwrap_or_else(|e| panic!("{e}"));
        let Writer::Table(w) = &s.nodes["look"].writer else {
            panic!("look writes a table")
        };
        assert_eq!(
            w.fields
                .iter()
                .map(|f| f.expr.external_calls().len())
                .collect::<Vec<_>>(),
            vec![1, 1, 0]
        );
        // A grouped one may not.
        let mut v = base();
        v["functions"] = json!({"fx": "fx.wasm"});
        v["nodes"]["look"]["w"]["fields"]["id"]["expression"] = json!("fx.upper(r.id)");
        let errs = load_with(&v).unwrap_err().to_string();
        assert!(
            errs.contains(
                "node 'look', field w.fields.id.expression: column 1: fx.upper(): plugin \
                 functions cannot be called in grouped lookups"
            ),
            "{errs}"
        );
    }
}
