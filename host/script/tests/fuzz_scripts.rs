//! Fuzzing the script loader with mutated real scripts: every Capillaries sample script under
//! `../shared/testdata/capillaries/cfg` and `examples/shop/script.yaml`, each with its params
//! files, goes through random byte flips, truncations, deleted and duplicated lines, renamed
//! keys, swapped types and deep nesting, then through parameter substitution, decoding and
//! validation. Whatever the input, loading must return (a script or errors): no panic, no hang.
//!
//! The case counts are bounded so the whole file runs in a few seconds; raise them with
//! `PROPTEST_CASES=20000 cargo test -p vessel-script --test fuzz_scripts` for a longer search.

use proptest::prelude::*;
use proptest::sample::Index;
use serde_json::Value as Json;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock, mpsc};
use std::time::Duration;
use vessel_core::FieldType;
use vessel_script::{
    LoadOptions, Params, ProcessorCatalog, ProcessorRequest, ScriptFormat, load_script_str_with,
};

/// One real script and the text of one of its params files.
#[derive(Debug)]
struct Sample {
    name: String,
    script: String,
    format: ScriptFormat,
    params: String,
    params_format: ScriptFormat,
}

fn project_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("cannot read {}: {e}", p.display()))
}

fn format_of(p: &Path) -> ScriptFormat {
    ScriptFormat::from_path(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// Every sample script paired with every params file of its folder.
fn corpus() -> &'static [Sample] {
    static CORPUS: OnceLock<Vec<Sample>> = OnceLock::new();
    CORPUS.get_or_init(|| {
        let cfg = project_root().join("../shared/testdata/capillaries/cfg");
        let dirs = std::fs::read_dir(&cfg).unwrap_or_else(|e| {
            panic!("{} must exist beside the project root: {e}", cfg.display())
        });
        let mut out = Vec::new();
        let mut add = |script: &Path, params: &Path| {
            out.push(Sample {
                name: format!(
                    "{} with {}",
                    script
                        .strip_prefix(project_root())
                        .unwrap_or(script)
                        .display(),
                    params.file_name().unwrap_or_default().to_string_lossy()
                ),
                script: read(script),
                format: format_of(script),
                params: read(params),
                params_format: format_of(params),
            });
        };
        let mut dirs: Vec<PathBuf> = dirs.map(|d| d.expect("dir entry").path()).collect();
        dirs.sort();
        for dir in dirs.iter().filter(|d| d.is_dir()) {
            let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
                .expect("read dir")
                .map(|f| f.expect("dir entry").path())
                .filter(|f| {
                    matches!(
                        f.extension().and_then(|e| e.to_str()),
                        Some("json" | "yaml" | "yml")
                    )
                })
                .collect();
            files.sort();
            let stem = |f: &PathBuf| {
                f.file_name()
                    .unwrap_or_default()
                    .to_string_lossy()
                    .to_string()
            };
            let scripts = files
                .iter()
                .filter(|f| stem(f).starts_with("script") && !stem(f).contains("params"));
            let params: Vec<&PathBuf> = files
                .iter()
                .filter(|f| stem(f).contains("params"))
                .collect();
            for s in scripts {
                for p in &params {
                    add(s, p);
                }
            }
        }
        let shop = project_root().join("examples/shop");
        add(&shop.join("script.yaml"), &shop.join("params.yaml"));
        assert!(
            out.len() >= 20,
            "only {} script/params pairs found",
            out.len()
        );
        out
    })
}

/// Answers for the two processors the sample scripts use, from their `p` sections, so that
/// validation goes past custom nodes into everything downstream of them.
struct Catalog;

impl ProcessorCatalog for Catalog {
    fn fields(&self, req: &ProcessorRequest<'_>) -> Result<Vec<(String, FieldType)>, String> {
        match req.proc_type {
            "tag_and_denormalize" => {
                let name = req.params["tag_field_name"]
                    .as_str()
                    .ok_or("p.tag_field_name is missing")?;
                Ok(vec![(name.to_string(), FieldType::String)])
            }
            "py_calc" => {
                let fields = req.params["calculated_fields"]
                    .as_object()
                    .ok_or("p.calculated_fields is missing")?;
                fields
                    .iter()
                    .map(|(name, f)| {
                        let t = f["type"]
                            .as_str()
                            .and_then(FieldType::parse)
                            .ok_or_else(|| format!("calculated field {name} has no valid type"))?;
                        Ok((name.clone(), t))
                    })
                    .collect()
            }
            other => Err(format!("no processor '{other}' in the test catalog")),
        }
    }
}

fn options() -> LoadOptions {
    LoadOptions {
        catalog: Some(Arc::new(Catalog)),
        ..LoadOptions::default()
    }
}

/// Parses the params and loads the script in a thread of its own: a panic or a load that does
/// not return within a generous bound fails the test, showing the input.
fn load_must_return(script: String, format: ScriptFormat, params: String, pformat: ScriptFormat) {
    let (tx, rx) = mpsc::channel();
    let (s, p) = (script.clone(), params.clone());
    let worker = std::thread::spawn(move || {
        let outcome = match Params::parse(&p, pformat, "params") {
            Ok(params) => {
                match load_script_str_with(&s, format, &params, "script", &options()) {
                    Ok(_) => "loaded",
                    Err(e) => {
                        // Every error must render; a message without text helps nobody.
                        assert!(!e.to_string().is_empty(), "an empty error message");
                        "errors"
                    }
                }
            }
            Err(e) => {
                assert!(!e.to_string().is_empty(), "an empty params error message");
                "params errors"
            }
        };
        let _ = tx.send(outcome);
    });
    let show = |t: &str| {
        let cut: String = t.chars().take(4000).collect();
        format!("{cut}{}", if cut.len() < t.len() { "…" } else { "" })
    };
    match rx.recv_timeout(Duration::from_secs(60)) {
        Ok(_) => {
            worker.join().expect("the loader thread ended");
        }
        Err(mpsc::RecvTimeoutError::Disconnected) => {
            let payload = worker.join().err().map(|p| {
                p.downcast_ref::<String>()
                    .cloned()
                    .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default()
            });
            panic!(
                "the loader panicked ({payload:?}) on\n--- script ---\n{}\n--- params ---\n{}",
                show(&script),
                show(&params)
            );
        }
        Err(mpsc::RecvTimeoutError::Timeout) => panic!(
            "the loader did not return within 60 s on\n--- script ---\n{}\n--- params ---\n{}",
            show(&script),
            show(&params)
        ),
    }
}

/// Keys that the loader knows, so that renames land on meaningful names as often as on junk.
const KEYS: &[&str] = &[
    "nodes",
    "type",
    "desc",
    "r",
    "w",
    "l",
    "p",
    "urls",
    "csv",
    "columns",
    "col_hdr",
    "col_idx",
    "col_format",
    "col_type",
    "col_default_value",
    "hdr_line_idx",
    "first_data_line_idx",
    "separator",
    "name",
    "fields",
    "expression",
    "default_value",
    "having",
    "indexes",
    "table",
    "expected_batches_total",
    "rowset_size",
    "index_name",
    "join_on",
    "filter",
    "group",
    "join_type",
    "url_template",
    "top",
    "order",
    "limit",
    "header",
    "format",
    "start_policy",
    "dependency_policy",
    "dependency_policies",
    "rules",
    "cmd",
    "is_default",
    "event_priority_order",
    "custom_proc_type",
    "python_code_urls",
    "calculated_fields",
    "tag_field_name",
    "tag_criteria",
    "tag_criteria_url",
    "dist_idx",
    "functions",
    "component",
    "limits",
    "parquet",
    "column_name",
    "codec",
    "",
    "x",
    "nodes ",
    "r.col",
    "\u{0}",
];

/// Words that the loader reads as types, node types, modes and expressions.
const WORDS: &[&str] = &[
    "int",
    "float",
    "decimal2",
    "string",
    "bool",
    "datetime",
    "file_table",
    "table_table",
    "table_lookup_table",
    "table_file",
    "table_custom_tfm_table",
    "distinct_table",
    "unique",
    "non_unique",
    "inner",
    "left",
    "manual",
    "auto",
    "go",
    "nogo",
    "wait",
    "true",
    "false",
    "null",
    "0",
    "-1",
    "99999999999999999999999",
    "1e400",
    "NaN",
    "",
    "r.",
    "l.",
    "w.",
    "p.",
    "unique(",
    "non_unique(a(desc,",
    "sum(",
    "((((((((((((((((((((",
    "\"",
    "\\",
    "{",
    "}",
    "[",
    "]",
    ":",
    ",",
    "{dir_in}",
    "{x|number}",
    "{x|bool}",
    "{",
    "|",
    "%d",
    "%f",
    "%s",
    "2006-01-02",
    "\u{FEFF}",
    "é",
    "\t",
];

/// A text edit; positions are indexes into whatever the text is at that point.
#[derive(Debug, Clone)]
enum TextEdit {
    Flip(Index, u8),
    Truncate(Index),
    DeleteLine(Index),
    DuplicateLine(Index),
    RenameKey(Index, &'static str),
    SwapWord(Index, &'static str),
    Insert(Index, &'static str),
    Nest(Index, usize, bool),
}

fn text_edit() -> impl Strategy<Value = TextEdit> {
    let idx = any::<Index>;
    prop_oneof![
        3 => (idx(), any::<u8>()).prop_map(|(i, b)| TextEdit::Flip(i, b)),
        1 => idx().prop_map(TextEdit::Truncate),
        2 => idx().prop_map(TextEdit::DeleteLine),
        2 => idx().prop_map(TextEdit::DuplicateLine),
        3 => (idx(), prop::sample::select(KEYS)).prop_map(|(i, k)| TextEdit::RenameKey(i, k)),
        3 => (idx(), prop::sample::select(WORDS)).prop_map(|(i, w)| TextEdit::SwapWord(i, w)),
        2 => (idx(), prop::sample::select(WORDS)).prop_map(|(i, w)| TextEdit::Insert(i, w)),
        1 => (idx(), 1usize..3000, any::<bool>()).prop_map(|(i, d, a)| TextEdit::Nest(i, d, a)),
    ]
}

/// Byte ranges of the quoted strings and bare words of `text`, the places keys and values
/// live in both JSON and YAML.
fn tokens(text: &[u8]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < text.len() {
        let c = text[i];
        if c == b'"' {
            let start = i + 1;
            let mut j = start;
            while j < text.len() && text[j] != b'"' {
                j += if text[j] == b'\\' { 2 } else { 1 };
            }
            out.push((start, j.min(text.len())));
            i = j + 1;
        } else if c.is_ascii_alphanumeric() || c == b'_' {
            let start = i;
            while i < text.len() && (text[i].is_ascii_alphanumeric() || b"_.".contains(&text[i])) {
                i += 1;
            }
            out.push((start, i));
        } else {
            i += 1;
        }
    }
    out
}

/// Byte ranges of keys: tokens followed by a colon.
fn keys(text: &[u8]) -> Vec<(usize, usize)> {
    tokens(text)
        .into_iter()
        .filter(|&(_, end)| {
            let rest = &text[end.min(text.len())..];
            let rest = rest.strip_prefix(b"\"").unwrap_or(rest);
            rest.iter()
                .find(|c| **c != b' ')
                .is_some_and(|c| *c == b':')
        })
        .collect()
}

fn line_ranges(text: &[u8]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut start = 0;
    for (i, c) in text.iter().enumerate() {
        if *c == b'\n' {
            out.push((start, i + 1));
            start = i + 1;
        }
    }
    if start < text.len() {
        out.push((start, text.len()));
    }
    out
}

fn apply_text(text: &mut Vec<u8>, e: &TextEdit) {
    let pos = |i: &Index, len: usize| if len == 0 { 0 } else { i.index(len) };
    match e {
        TextEdit::Flip(i, b) => {
            if !text.is_empty() {
                let p = pos(i, text.len());
                text[p] = *b;
            }
        }
        TextEdit::Truncate(i) => {
            let p = pos(i, text.len() + 1);
            text.truncate(p);
        }
        TextEdit::DeleteLine(i) | TextEdit::DuplicateLine(i) => {
            let lines = line_ranges(text);
            if lines.is_empty() {
                return;
            }
            let (a, b) = lines[i.index(lines.len())];
            if matches!(e, TextEdit::DeleteLine(_)) {
                text.drain(a..b);
            } else {
                let line = text[a..b].to_vec();
                text.splice(b..b, line);
            }
        }
        TextEdit::RenameKey(i, k) => {
            let ks = keys(text);
            if !ks.is_empty() {
                let (a, b) = ks[i.index(ks.len())];
                text.splice(a..b, k.bytes());
            }
        }
        TextEdit::SwapWord(i, w) => {
            let ts = tokens(text);
            if !ts.is_empty() {
                let (a, b) = ts[i.index(ts.len())];
                text.splice(a..b, w.bytes());
            }
        }
        TextEdit::Insert(i, w) => {
            let p = pos(i, text.len() + 1);
            text.splice(p..p, w.bytes());
        }
        TextEdit::Nest(i, depth, arrays) => {
            // Wraps one value (a token) in `depth` arrays or objects, written in flow style,
            // which both JSON and YAML read.
            let ts = tokens(text);
            if ts.is_empty() {
                return;
            }
            let (a, b) = ts[i.index(ts.len())];
            let (a, b) = if a > 0 && text[a - 1] == b'"' {
                (a - 1, (b + 1).min(text.len()))
            } else {
                (a, b)
            };
            let (open, close): (&[u8], &[u8]) = if *arrays {
                (b"[", b"]")
            } else {
                (b"{\"k\": ", b"}")
            };
            let mut wrapped = open.repeat(*depth);
            wrapped.extend_from_slice(&text[a..b]);
            wrapped.extend(close.repeat(*depth));
            text.splice(a..b, wrapped);
        }
    }
}

/// A structural edit of the decoded script.
#[derive(Debug, Clone)]
enum TreeEdit {
    RenameKey(Index, &'static str),
    Replace(Index, Json),
    Remove(Index),
    Nest(Index, usize),
    Copy(Index, Index),
}

fn json_value() -> impl Strategy<Value = Json> {
    let leaf = prop_oneof![
        Just(Json::Null),
        any::<bool>().prop_map(Json::Bool),
        any::<i64>().prop_map(Json::from),
        Just(Json::from(u64::MAX)),
        any::<f64>().prop_map(Json::from),
        prop::sample::select(WORDS).prop_map(Json::from),
        prop::sample::select(KEYS).prop_map(Json::from),
        "[ -~]{0,24}".prop_map(Json::from),
        Just(Json::from("x".repeat(5000))),
    ];
    leaf.prop_recursive(3, 12, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Json::Array),
            prop::collection::vec((prop::sample::select(KEYS), inner), 0..4).prop_map(|kv| {
                Json::Object(kv.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
            }),
        ]
    })
}

fn tree_edit() -> impl Strategy<Value = TreeEdit> {
    let idx = any::<Index>;
    prop_oneof![
        3 => (idx(), prop::sample::select(KEYS)).prop_map(|(i, k)| TreeEdit::RenameKey(i, k)),
        4 => (idx(), json_value()).prop_map(|(i, v)| TreeEdit::Replace(i, v)),
        2 => idx().prop_map(TreeEdit::Remove),
        1 => (idx(), 1usize..120).prop_map(|(i, d)| TreeEdit::Nest(i, d)),
        1 => (idx(), idx()).prop_map(|(a, b)| TreeEdit::Copy(a, b)),
    ]
}

/// A path to a value: object keys and array positions.
#[derive(Debug, Clone)]
enum Step {
    Key(String),
    At(usize),
}

fn paths(v: &Json, here: &mut Vec<Step>, out: &mut Vec<Vec<Step>>) {
    out.push(here.clone());
    match v {
        Json::Object(m) => {
            for (k, c) in m {
                here.push(Step::Key(k.clone()));
                paths(c, here, out);
                here.pop();
            }
        }
        Json::Array(a) => {
            for (i, c) in a.iter().enumerate() {
                here.push(Step::At(i));
                paths(c, here, out);
                here.pop();
            }
        }
        _ => {}
    }
}

fn at<'a>(v: &'a mut Json, path: &[Step]) -> Option<&'a mut Json> {
    path.iter().try_fold(v, |v, s| match s {
        Step::Key(k) => v.get_mut(k.as_str()),
        Step::At(i) => v.get_mut(*i),
    })
}

fn apply_tree(root: &mut Json, e: &TreeEdit) {
    let mut all = Vec::new();
    paths(root, &mut Vec::new(), &mut all);
    let pick = |i: &Index| all[i.index(all.len())].clone();
    match e {
        TreeEdit::RenameKey(i, k) => {
            let p = pick(i);
            if let Some((Step::Key(old), parent)) = p.split_last()
                && let Some(Json::Object(m)) = at(root, parent)
                && let Some(v) = m.remove(old)
            {
                m.insert(k.to_string(), v);
            }
        }
        TreeEdit::Replace(i, v) => {
            if let Some(slot) = at(root, &pick(i)) {
                *slot = v.clone();
            }
        }
        TreeEdit::Remove(i) => {
            let p = pick(i);
            match (
                p.split_last(),
                p.split_last().and_then(|(_, parent)| at(root, parent)),
            ) {
                (Some((Step::Key(k), _)), Some(Json::Object(m))) => {
                    m.remove(k);
                }
                (Some((Step::At(i), _)), Some(Json::Array(a))) if *i < a.len() => {
                    a.remove(*i);
                }
                _ => {}
            }
        }
        TreeEdit::Nest(i, depth) => {
            if let Some(slot) = at(root, &pick(i)) {
                let mut v = slot.take();
                for d in 0..*depth {
                    v = if d % 2 == 0 {
                        Json::Array(vec![v])
                    } else {
                        Json::Object([("k".to_string(), v)].into_iter().collect())
                    };
                }
                *slot = v;
            }
        }
        TreeEdit::Copy(from, to) => {
            let v = at(root, &pick(from)).cloned();
            if let (Some(v), Some(slot)) = (v, at(root, &pick(to))) {
                *slot = v;
            }
        }
    }
}

#[test]
fn every_sample_script_loads_unmutated() {
    // The mutations start from scripts that load, so that they reach every stage of validation.
    for s in corpus() {
        let params = Params::parse(&s.params, s.params_format, "params")
            .unwrap_or_else(|e| panic!("{}: {e}", s.name));
        if let Err(e) = load_script_str_with(&s.script, s.format, &params, "script", &options()) {
            panic!("{}: {e}", s.name);
        }
    }
}

#[test]
fn hostile_yaml_and_json_shapes_return_errors() {
    let params = "{}".to_string();
    // Aliases that would expand to 9^9 nodes.
    let mut bomb = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x]\n");
    for i in 1..10 {
        let p = i - 1;
        bomb.push_str(&format!(
            "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
        ));
    }
    bomb.push_str("nodes: *a9\n");
    load_must_return(bomb, ScriptFormat::Yaml, params.clone(), ScriptFormat::Json);
    // libyaml scans nested flow collections in quadratic time: a megabyte of `[` would keep
    // it busy for hours unless the loader refuses the nesting first.
    for depth in [200, 5_000, 1_000_000] {
        let deep = format!("{{\"nodes\": {}{}}}", "[".repeat(depth), "]".repeat(depth));
        load_must_return(deep, ScriptFormat::Json, params.clone(), ScriptFormat::Json);
        let deep = format!("nodes: {}{}\n", "[".repeat(depth), "]".repeat(depth));
        load_must_return(deep, ScriptFormat::Yaml, params.clone(), ScriptFormat::Json);
        let deep_params = format!("a: {}{}\n", "{a: ".repeat(depth), "}".repeat(depth));
        load_must_return(
            "{}".into(),
            ScriptFormat::Json,
            deep_params,
            ScriptFormat::Yaml,
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 192, ..ProptestConfig::default() })]

    #[test]
    fn mutated_script_text_never_panics_or_hangs(
        sample in any::<Index>(),
        in_params in prop::bool::weighted(0.15),
        edits in prop::collection::vec(text_edit(), 1..5),
    ) {
        let s = &corpus()[sample.index(corpus().len())];
        let mut target = if in_params { s.params.clone() } else { s.script.clone() }.into_bytes();
        for e in &edits {
            apply_text(&mut target, e);
        }
        let target = String::from_utf8_lossy(&target).into_owned();
        let (script, params) = if in_params {
            (s.script.clone(), target)
        } else {
            (target, s.params.clone())
        };
        load_must_return(script, s.format, params, s.params_format);
    }

    #[test]
    fn mutated_script_structure_never_panics_or_hangs(
        sample in any::<Index>(),
        edits in prop::collection::vec(tree_edit(), 1..5),
    ) {
        let s = &corpus()[sample.index(corpus().len())];
        // Placeholders are strings in every sample, so the raw text decodes before substitution.
        let mut tree = s.format.parse_value(&s.script)
            .unwrap_or_else(|e| panic!("{} does not decode: {e}", s.name));
        for e in &edits {
            apply_tree(&mut tree, e);
        }
        let text = serde_json::to_string_pretty(&tree).expect("serializable");
        load_must_return(text, ScriptFormat::Json, s.params.clone(), s.params_format);
    }
}
