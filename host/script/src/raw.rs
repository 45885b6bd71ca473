//! The script as written: serde structs for every key of spec §1.3–1.10, before validation.
//!
//! JSON and YAML scripts decode into the same structs: YAML is first parsed into a
//! [`serde_json::Value`] (as Capillaries converts YAML to JSON) and then decoded.
//!
//! Unknown keys: Capillaries decodes with Go's `encoding/json`, which ignores keys it does not
//! know, and real scripts rely on it (e.g. a `having_tmp` key used to park an expression). So
//! instead of `deny_unknown_fields`, every struct keeps unknown keys in `unknown`; the loader
//! reports them as warnings, or as errors with [`crate::LoadOptions::strict_keys`].
//!
//! Sections whose shape depends on the node type (`r`, `w`, `p`) stay raw values in
//! [`RawNode`] and are decoded per type, so one broken section does not hide the errors of
//! the others.

use serde::{Deserialize, Deserializer};
use serde_json::Value;
use std::collections::BTreeMap;

/// Keys a struct did not recognise, with their values.
pub type Unknown = BTreeMap<String, Value>;

/// Top level.
#[derive(Debug, Clone, Deserialize)]
pub struct RawScript {
    /// `nodes`: node name → node (decoded one by one into [`RawNode`]).
    #[serde(default)]
    pub nodes: Option<serde_json::Map<String, Value>>,
    /// `dependency_policies`: policy name → policy ([`RawPolicy`]).
    #[serde(default)]
    pub dependency_policies: Option<serde_json::Map<String, Value>>,
    /// `functions` (Vessel): namespace → function plugin ([`RawFunctionNamespace`], or just the
    /// component as a string).
    #[serde(default)]
    pub functions: Option<serde_json::Map<String, Value>>,
    /// Unknown keys.
    #[serde(flatten)]
    pub unknown: Unknown,
}

/// One node (§1.3).
#[derive(Debug, Clone, Deserialize)]
pub struct RawNode {
    /// `type`.
    #[serde(rename = "type")]
    pub node_type: String,
    /// `desc`.
    #[serde(default, deserialize_with = "opt_text")]
    pub desc: Option<String>,
    /// `start_policy` (`auto` default, `manual`).
    #[serde(default)]
    pub start_policy: Option<String>,
    /// `rerun_policy` (`rerun` default, `fail`).
    #[serde(default)]
    pub rerun_policy: Option<String>,
    /// `max_batch_processing_time` in ms (default 60000).
    #[serde(default)]
    pub max_batch_processing_time: Option<i64>,
    /// `dependency_policy` name (default: the policy with `is_default`).
    #[serde(default)]
    pub dependency_policy: Option<String>,
    /// `custom_proc_type` (only `table_custom_tfm_table`).
    #[serde(default)]
    pub custom_proc_type: Option<String>,
    /// `handler_exe_type` (legacy routing key, default `capi_daemon`; unused).
    #[serde(default)]
    pub handler_exe_type: Option<String>,
    /// `r`: [`RawTableReader`] or [`RawFileReader`].
    #[serde(default)]
    pub r: Option<Value>,
    /// `l`: [`RawLookup`].
    #[serde(default)]
    pub l: Option<Value>,
    /// `p`: processor-specific.
    #[serde(default)]
    pub p: Option<Value>,
    /// `w`: [`RawTableCreator`] or [`RawFileCreator`].
    #[serde(default)]
    pub w: Option<Value>,
    /// `limits` (Vessel): sandbox limits of the node's plugin.
    #[serde(default)]
    pub limits: Option<RawLimits>,
    /// Unknown keys.
    #[serde(flatten)]
    pub unknown: Unknown,
}

/// `limits` of a `table_custom_tfm_table` node: what its plugin may use per batch.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct RawLimits {
    /// Deadline of one batch, in ms.
    #[serde(default)]
    pub timeout_ms: Option<i64>,
    /// Deadline of starting an instance (instantiation and `open`), in ms.
    #[serde(default)]
    pub open_timeout_ms: Option<i64>,
    /// Memory of one plugin instance, in MiB.
    #[serde(default)]
    pub memory_mb: Option<i64>,
    /// Unknown keys.
    #[serde(flatten)]
    pub unknown: Unknown,
}

/// One namespace of the `functions` section: the function plugin whose functions expressions
/// call as `namespace.function(args)`.
#[derive(Debug, Clone, Deserialize)]
pub struct RawFunctionNamespace {
    /// The component: a `.wasm` path (relative to the script's folder) or a plugin name looked
    /// up in the plugin directory.
    pub component: String,
    /// Sandbox limits of the plugin's instances (per call).
    #[serde(default)]
    pub limits: Option<RawLimits>,
    /// Unknown keys.
    #[serde(flatten)]
    pub unknown: Unknown,
}

/// Table reader `r` (§1.4).
#[derive(Debug, Clone, Deserialize)]
pub struct RawTableReader {
    /// `table`.
    pub table: String,
    /// `expected_batches_total` (0 or absent → 1).
    #[serde(default)]
    pub expected_batches_total: Option<i64>,
    /// `rowset_size` (0 or absent → 1000).
    #[serde(default)]
    pub rowset_size: Option<i64>,
    /// Unknown keys.
    #[serde(flatten)]
    pub unknown: Unknown,
}

/// File reader `r` (§1.5).
#[derive(Debug, Clone, Deserialize)]
pub struct RawFileReader {
    /// `urls`.
    #[serde(default)]
    pub urls: Vec<String>,
    /// `csv`.
    #[serde(default)]
    pub csv: Option<RawCsvReader>,
    /// `columns`: reader field name → column.
    #[serde(default)]
    pub columns: BTreeMap<String, RawReaderColumn>,
    /// Unknown keys.
    #[serde(flatten)]
    pub unknown: Unknown,
}

/// `r.csv`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct RawCsvReader {
    /// `hdr_line_idx` (−1 = none).
    #[serde(default)]
    pub hdr_line_idx: Option<i64>,
    /// `first_data_line_idx` (default 0).
    #[serde(default)]
    pub first_data_line_idx: Option<i64>,
    /// `separator` (default `,`; first character used).
    #[serde(default)]
    pub separator: Option<String>,
    /// Unknown keys.
    #[serde(flatten)]
    pub unknown: Unknown,
}

/// One file reader column.
#[derive(Debug, Clone, Deserialize)]
pub struct RawReaderColumn {
    /// `col_type`.
    pub col_type: String,
    /// `col_default_value` (text used for empty cells).
    #[serde(default, deserialize_with = "opt_text")]
    pub col_default_value: Option<String>,
    /// `csv`.
    #[serde(default)]
    pub csv: Option<RawCsvColumn>,
    /// `parquet`.
    #[serde(default)]
    pub parquet: Option<RawParquetColumn>,
    /// Unknown keys.
    #[serde(flatten)]
    pub unknown: Unknown,
}

/// `columns.<name>.csv`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct RawCsvColumn {
    /// `col_idx` (0-based).
    #[serde(default)]
    pub col_idx: Option<i64>,
    /// `col_hdr` (`null` allowed, meaning index mode).
    #[serde(default)]
    pub col_hdr: Option<String>,
    /// `col_format`.
    #[serde(default)]
    pub col_format: Option<String>,
    /// Unknown keys.
    #[serde(flatten)]
    pub unknown: Unknown,
}

/// `columns.<name>.parquet`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct RawParquetColumn {
    /// `col_name`.
    #[serde(default)]
    pub col_name: Option<String>,
    /// Unknown keys.
    #[serde(flatten)]
    pub unknown: Unknown,
}

/// Table creator `w` (§1.6).
#[derive(Debug, Clone, Deserialize)]
pub struct RawTableCreator {
    /// `name`.
    pub name: String,
    /// `fields`.
    #[serde(default)]
    pub fields: BTreeMap<String, RawWriterField>,
    /// `having` (`null` allowed).
    #[serde(default)]
    pub having: Option<String>,
    /// `indexes`: index name → definition.
    #[serde(default)]
    pub indexes: BTreeMap<String, String>,
    /// `table_options`.
    #[serde(default)]
    pub table_options: Option<String>,
    /// Unknown keys.
    #[serde(flatten)]
    pub unknown: Unknown,
}

/// One table creator field.
#[derive(Debug, Clone, Deserialize)]
pub struct RawWriterField {
    /// `expression`.
    pub expression: String,
    /// `type`.
    #[serde(rename = "type")]
    pub field_type: String,
    /// `default_value` (text; numbers and bools are accepted and turned into text).
    #[serde(default, deserialize_with = "opt_text")]
    pub default_value: Option<String>,
    /// Unknown keys.
    #[serde(flatten)]
    pub unknown: Unknown,
}

/// File creator `w` (§1.7).
#[derive(Debug, Clone, Deserialize)]
pub struct RawFileCreator {
    /// `url_template`.
    pub url_template: String,
    /// `columns` (ordered).
    #[serde(default)]
    pub columns: Vec<RawFileColumn>,
    /// `having`.
    #[serde(default)]
    pub having: Option<String>,
    /// `top`.
    #[serde(default)]
    pub top: Option<RawTop>,
    /// `csv`.
    #[serde(default)]
    pub csv: Option<RawCsvWriter>,
    /// `parquet`.
    #[serde(default)]
    pub parquet: Option<RawParquetWriter>,
    /// Unknown keys.
    #[serde(flatten)]
    pub unknown: Unknown,
}

/// One file creator column.
#[derive(Debug, Clone, Deserialize)]
pub struct RawFileColumn {
    /// `name`.
    pub name: String,
    /// `type`.
    #[serde(rename = "type")]
    pub field_type: String,
    /// `expression`.
    pub expression: String,
    /// `csv`.
    #[serde(default)]
    pub csv: Option<RawCsvColumnOut>,
    /// `parquet`.
    #[serde(default)]
    pub parquet: Option<RawParquetColumnOut>,
    /// Unknown keys.
    #[serde(flatten)]
    pub unknown: Unknown,
}

/// `columns[i].csv`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct RawCsvColumnOut {
    /// `header`.
    #[serde(default)]
    pub header: Option<String>,
    /// `format`.
    #[serde(default)]
    pub format: Option<String>,
    /// Unknown keys.
    #[serde(flatten)]
    pub unknown: Unknown,
}

/// `columns[i].parquet`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct RawParquetColumnOut {
    /// `column_name`.
    #[serde(default)]
    pub column_name: Option<String>,
    /// Unknown keys.
    #[serde(flatten)]
    pub unknown: Unknown,
}

/// `w.top`.
#[derive(Debug, Clone, Deserialize)]
pub struct RawTop {
    /// `order`.
    #[serde(default)]
    pub order: Option<String>,
    /// `limit` (0 or absent → 5,000,000).
    #[serde(default)]
    pub limit: Option<i64>,
    /// Unknown keys.
    #[serde(flatten)]
    pub unknown: Unknown,
}

/// `w.csv` of a file creator.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct RawCsvWriter {
    /// `separator`.
    #[serde(default)]
    pub separator: Option<String>,
    /// Unknown keys.
    #[serde(flatten)]
    pub unknown: Unknown,
}

/// `w.parquet` of a file creator.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct RawParquetWriter {
    /// `codec` (`gzip` default, `snappy`, `uncompressed`).
    #[serde(default)]
    pub codec: Option<String>,
    /// Unknown keys.
    #[serde(flatten)]
    pub unknown: Unknown,
}

/// Lookup `l` (§1.8).
#[derive(Debug, Clone, Deserialize)]
pub struct RawLookup {
    /// `index_name`.
    pub index_name: String,
    /// `join_on`: comma-separated `r.<field>` list.
    pub join_on: String,
    /// `join_type`: `inner` or `left`.
    pub join_type: String,
    /// `group`.
    #[serde(default)]
    pub group: bool,
    /// `filter` over `l.*`.
    #[serde(default)]
    pub filter: Option<String>,
    /// `idx_read_batch_size` (default 3000, max 20000).
    #[serde(default)]
    pub idx_read_batch_size: Option<i64>,
    /// `right_lookup_read_batch_size` (default 3000, max 20000).
    #[serde(default)]
    pub right_lookup_read_batch_size: Option<i64>,
    /// Unknown keys.
    #[serde(flatten)]
    pub unknown: Unknown,
}

/// One dependency policy (§1.10).
#[derive(Debug, Clone, Deserialize)]
pub struct RawPolicy {
    /// `is_default`.
    #[serde(default)]
    pub is_default: bool,
    /// `event_priority_order`.
    #[serde(default)]
    pub event_priority_order: Option<String>,
    /// `rules`.
    #[serde(default)]
    pub rules: Vec<RawRule>,
    /// Unknown keys.
    #[serde(flatten)]
    pub unknown: Unknown,
}

/// One dependency rule.
#[derive(Debug, Clone, Deserialize)]
pub struct RawRule {
    /// `cmd`: `go`, `wait` or `nogo`.
    pub cmd: String,
    /// `expression`.
    pub expression: String,
    /// Unknown keys.
    #[serde(flatten)]
    pub unknown: Unknown,
}

/// Accepts a string, a number or a bool (YAML writes `default_value: 0` unquoted) as text;
/// `null` as absent.
fn opt_text<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let v = Option::<Value>::deserialize(d)?;
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(Value::Number(n)) => Ok(Some(n.to_string())),
        Some(Value::Bool(b)) => Ok(Some(b.to_string())),
        Some(other) => Err(serde::de::Error::custom(format!(
            "expected text, found {other}"
        ))),
    }
}

/// Decodes a section, turning serde's message into one that names the section.
///
/// # Errors
/// serde's description of the first mismatch (missing key, wrong type).
pub fn decode<T: serde::de::DeserializeOwned>(v: &Value) -> Result<T, String> {
    serde_json::from_value(v.clone()).map_err(|e| e.to_string())
}

/// Every key of the script format, Capillaries' and Vessel's, for "did you mean" hints.
/// (`script_keys_list_every_field` in the tests checks it against the structs above.)
pub const SCRIPT_KEYS: &[&str] = &[
    // top level, node, limits, functions
    "nodes",
    "dependency_policies",
    "functions",
    "type",
    "desc",
    "start_policy",
    "rerun_policy",
    "max_batch_processing_time",
    "dependency_policy",
    "custom_proc_type",
    "handler_exe_type",
    "r",
    "l",
    "p",
    "w",
    "limits",
    "timeout_ms",
    "memory_mb",
    "open_timeout_ms",
    "component",
    // readers
    "table",
    "expected_batches_total",
    "rowset_size",
    "urls",
    "csv",
    "parquet",
    "columns",
    "hdr_line_idx",
    "first_data_line_idx",
    "separator",
    "col_type",
    "col_default_value",
    "col_idx",
    "col_hdr",
    "col_format",
    "col_name",
    // lookups
    "index_name",
    "join_on",
    "join_type",
    "group",
    "filter",
    "idx_read_batch_size",
    "right_lookup_read_batch_size",
    // writers
    "name",
    "fields",
    "having",
    "indexes",
    "table_options",
    "expression",
    "default_value",
    "url_template",
    "top",
    "order",
    "limit",
    "header",
    "format",
    "column_name",
    "codec",
    // dependency policies
    "is_default",
    "event_priority_order",
    "rules",
    "cmd",
];

/// The known key that `key` most likely misspells, if one is close enough: at most two edits
/// away, and fewer than a third of the key's letters.
pub fn suggest_key(key: &str) -> Option<&'static str> {
    SCRIPT_KEYS
        .iter()
        .filter(|k| **k != key)
        .map(|k| {
            (
                strsim::damerau_levenshtein(&key.to_ascii_lowercase(), k),
                *k,
            )
        })
        .filter(|(d, _)| *d <= 2 && *d * 3 <= key.len())
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

/// A problem found while decoding a section: where in it (`fields.total`, relative to the
/// section; `None` for the section itself) and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeIssue {
    /// Path of the map holding the problem, relative to the section.
    pub path: Option<String>,
    /// What is wrong and how to fix it.
    pub message: String,
}

/// Decodes a section like [`decode`], but when a required key is missing because it is
/// misspelt (`expresion` for `expression`), reports that one misspelling instead of serde's
/// "missing field" and goes on with the key corrected, so that the rest of the script is
/// checked as the user meant it and no follow-on errors appear. Returns the value when the
/// section could be decoded (possibly after corrections) and every issue found; a script with
/// issues must still fail.
pub fn decode_correcting<T: serde::de::DeserializeOwned>(
    v: &Value,
) -> (Option<T>, Vec<DecodeIssue>) {
    let mut value = v.clone();
    let mut issues = Vec::new();
    // Each round fixes one key; a section has only a few required keys.
    for _ in 0..8 {
        let err = match serde_json::from_value::<T>(value.clone()) {
            Ok(t) => return (Some(t), issues),
            Err(e) => e.to_string(),
        };
        let fixed =
            missing_field(&err).and_then(|m| rename_near_miss(&mut value, m, &mut Vec::new()));
        match fixed {
            Some((path, wrong, right)) => issues.push(DecodeIssue {
                path,
                message: format!("unknown key '{wrong}' (did you mean '{right}'?)"),
            }),
            None => {
                issues.push(DecodeIssue {
                    path: None,
                    message: err,
                });
                return (None, issues);
            }
        }
    }
    (None, issues)
}

/// The key named by serde's "missing field `key`" message.
fn missing_field(message: &str) -> Option<&str> {
    let rest = message.strip_prefix("missing field `")?;
    Some(&rest[..rest.find('`')?])
}

/// Finds a map that lacks `missing` but has a key that misspells it, renames that key and
/// returns (path of the map, the misspelt key, the right key).
fn rename_near_miss(
    value: &mut Value,
    missing: &str,
    path: &mut Vec<String>,
) -> Option<(Option<String>, String, String)> {
    let map = match value {
        Value::Object(map) => map,
        Value::Array(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                path.push(format!("[{i}]"));
                let found = rename_near_miss(item, missing, path);
                path.pop();
                if found.is_some() {
                    return found;
                }
            }
            return None;
        }
        _ => return None,
    };
    if !map.contains_key(missing) {
        let wrong = map.keys().find(|k| {
            let d = strsim::damerau_levenshtein(&k.to_ascii_lowercase(), missing);
            d <= 2 && d * 3 <= k.len()
        });
        if let Some(wrong) = wrong.cloned() {
            let v = map.remove(&wrong).unwrap_or(Value::Null);
            map.insert(missing.to_string(), v);
            let at = (!path.is_empty()).then(|| path.join(".").replace(".[", "["));
            return Some((at, wrong, missing.to_string()));
        }
    }
    for (k, child) in map.iter_mut() {
        path.push(k.clone());
        let found = rename_near_miss(child, missing, path);
        path.pop();
        if found.is_some() {
            return found;
        }
    }
    None
}

/// Paths (`prefix.key`) of every unknown key in `unknown`.
pub fn unknown_paths(prefix: &str, unknown: &Unknown) -> Vec<String> {
    unknown
        .keys()
        .map(|k| {
            if prefix.is_empty() {
                k.clone()
            } else {
                format!("{prefix}.{k}")
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn script_keys_list_every_field() {
        let src = include_str!("raw.rs");
        let structs = &src[..src.find("pub const SCRIPT_KEYS").unwrap()];
        let mut fields = std::collections::BTreeSet::new();
        for line in structs.lines() {
            let Some(rest) = line.trim().strip_prefix("pub ") else {
                continue;
            };
            let Some((name, _)) = rest.split_once(':') else {
                continue;
            };
            match name {
                "unknown" => {}
                "field_type" | "node_type" => {
                    fields.insert("type");
                }
                n if n.chars().all(|c| c.is_ascii_lowercase() || c == '_') => {
                    fields.insert(n);
                }
                _ => {}
            }
        }
        let listed: std::collections::BTreeSet<&str> = SCRIPT_KEYS.iter().copied().collect();
        let missing: Vec<_> = fields.difference(&listed).collect();
        assert!(missing.is_empty(), "add to SCRIPT_KEYS: {missing:?}");
        let extra: Vec<_> = listed.difference(&fields).collect();
        assert!(extra.is_empty(), "not a key of any struct: {extra:?}");
    }

    #[test]
    fn misspelt_keys_get_suggestions() {
        assert_eq!(suggest_key("expresion"), Some("expression"));
        assert_eq!(suggest_key("rerun_polcy"), Some("rerun_policy"));
        assert_eq!(suggest_key("Col_Type"), Some("col_type"));
        assert_eq!(suggest_key("having_tmp"), None);
        assert_eq!(suggest_key("ab"), None);
        assert_eq!(suggest_key("expression"), None);
    }

    #[test]
    fn a_misspelt_required_key_is_one_issue_and_is_corrected() {
        let (w, issues) = decode_correcting::<RawTableCreator>(&json!({
            "name": "t",
            "fields": {"a": {"expresion": "r.a", "type": "int"},
                       "b": {"expression": "r.b", "tpye": "int"}}
        }));
        let w = w.expect("decoded after correction");
        assert_eq!(w.fields["a"].expression, "r.a");
        assert_eq!(w.fields["b"].field_type, "int");
        assert_eq!(
            issues,
            vec![
                DecodeIssue {
                    path: Some("fields.a".into()),
                    message: "unknown key 'expresion' (did you mean 'expression'?)".into()
                },
                DecodeIssue {
                    path: Some("fields.b".into()),
                    message: "unknown key 'tpye' (did you mean 'type'?)".into()
                },
            ]
        );
        // In a list, and when nothing is close, serde's message stays.
        let (c, issues) = decode_correcting::<RawFileCreator>(&json!({
            "url_template": "o.csv",
            "columns": [{"name": "a", "type": "int", "expression": "r.a"},
                        {"nmae": "b", "type": "int", "expression": "r.b"}]
        }));
        assert!(c.is_some());
        assert_eq!(issues[0].path.as_deref(), Some("columns[1]"));
        let (t, issues) = decode_correcting::<RawTableCreator>(&json!({"fields": {}}));
        assert!(t.is_none());
        assert_eq!(issues.len(), 1);
        assert!(
            issues[0].message.contains("missing field `name`"),
            "{issues:?}"
        );
    }

    #[test]
    fn node_keeps_sections_raw_and_unknown_keys() {
        let n: RawNode = decode(&json!({
            "type": "table_table", "desc": "d", "r": {"table": "t"}, "w": {"name": "x"},
            "handler_exe_type": "capi_daemon", "comment": "kept"
        }))
        .unwrap();
        assert_eq!(n.node_type, "table_table");
        assert_eq!(n.handler_exe_type.as_deref(), Some("capi_daemon"));
        assert_eq!(unknown_paths("", &n.unknown), vec!["comment"]);
        let r: RawTableReader = decode(n.r.as_ref().unwrap()).unwrap();
        assert_eq!(r.table, "t");
        assert_eq!(r.expected_batches_total, None);
    }

    #[test]
    fn csv_col_hdr_null_and_text_defaults() {
        let c: RawReaderColumn = decode(&json!({
            "col_type": "int", "col_default_value": 5,
            "csv": {"col_idx": 1, "col_hdr": null, "col_format": "%d"}
        }))
        .unwrap();
        let csv = c.csv.unwrap();
        assert_eq!(csv.col_hdr, None);
        assert_eq!(csv.col_idx, Some(1));
        assert_eq!(c.col_default_value.as_deref(), Some("5"));
    }

    #[test]
    fn yaml_and_json_decode_the_same() {
        let y: Value = serde_norway::from_str(
            "url_template: /o/{batch_idx}.csv\ntop:\n  order: a(desc)\n  limit: 10\ncolumns:\n  - {name: a, type: int, expression: r.a, csv: {header: A, format: '%d'}}\n",
        )
        .unwrap();
        let f: RawFileCreator = decode(&y).unwrap();
        assert_eq!(f.columns.len(), 1);
        assert_eq!(
            f.columns[0].csv.as_ref().unwrap().format.as_deref(),
            Some("%d")
        );
        assert_eq!(f.top.unwrap().limit, Some(10));
    }

    #[test]
    fn wrong_types_are_reported() {
        let e = decode::<RawTableReader>(&json!({"table": "t", "expected_batches_total": "x"}))
            .unwrap_err();
        assert!(e.contains("invalid type"), "{e}");
        let e = decode::<RawLookup>(&json!({"index_name": "i"})).unwrap_err();
        assert!(e.contains("missing field `join_on`"), "{e}");
    }
}
