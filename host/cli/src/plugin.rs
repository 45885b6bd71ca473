//! `vessel plugin new | build | test`: create a plugin from a template, build it into a Wasm
//! component, and try it on a sample CSV file.

use anyhow::{Context, bail};
use clap::{Args, Subcommand, ValueEnum};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;
use vessel_core::{FieldType, RowSet, Schema, Value};
use vessel_plugin_build::python::PyWorld;
use vessel_wasm::{Limits, OpenArgs, WasmConfig, WasmHost};

include!(concat!(env!("OUT_DIR"), "/sdk_files.rs"));

/// Arguments of `vessel plugin`.
#[derive(Args)]
pub struct PluginArgs {
    #[command(subcommand)]
    command: PluginCommand,
}

#[derive(Subcommand)]
enum PluginCommand {
    /// Create a plugin project from a template (the SDK is copied into it).
    New(NewArgs),
    /// Build a plugin project into a Wasm component (`<dir>/<name>.wasm`).
    Build(BuildArgs),
    /// Run a component over a sample CSV file: prints output rows, rows/s and peak memory.
    Test(TestArgs),
}

/// Language of a plugin.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Lang {
    /// Rust, with the `vessel-plugin` crate.
    Rust,
    /// Python, with `vessel_plugin.py` / `vessel_functions.py`, built with componentize-py.
    Python,
    /// JavaScript, with `vessel-plugin.js`, built with componentize-js.
    Js,
}

impl Lang {
    fn dir(self) -> &'static str {
        match self {
            Lang::Rust => "rust",
            Lang::Python => "python",
            Lang::Js => "js",
        }
    }
}

/// What a template plugin does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Kind {
    /// One output field per input row.
    Map,
    /// Keeps some input rows.
    Filter,
    /// Functions for expressions.
    Function,
}

impl Kind {
    fn dir(self) -> &'static str {
        match self {
            Kind::Map => "map",
            Kind::Filter => "filter",
            Kind::Function => "function",
        }
    }
}

#[derive(Args)]
struct NewArgs {
    /// Plugin name (`[a-z][a-z0-9_-]*`); scripts use it as `custom_proc_type`.
    name: String,
    /// Language.
    #[arg(long, value_enum, default_value = "rust")]
    lang: Lang,
    /// Kind of plugin.
    #[arg(long, value_enum, default_value = "map")]
    kind: Kind,
    /// Folder to create (default: `./<name>`).
    #[arg(long)]
    dir: Option<PathBuf>,
}

#[derive(Args)]
struct BuildArgs {
    /// Plugin project folder (default: the current folder).
    #[arg(default_value = ".")]
    dir: PathBuf,
    /// Cargo's target folder for Rust plugins (default: `<project>/target`); several plugins
    /// that share one compile their dependencies once. Relative to the current folder.
    #[arg(long, env = "VESSEL_PLUGIN_TARGET_DIR")]
    target_dir: Option<PathBuf>,
}

#[derive(Args)]
struct TestArgs {
    /// A component (`.wasm`) or a plugin project folder (built first if needed).
    plugin: PathBuf,
    /// Sample rows: a CSV file with a header. Column types are inferred (int, float, else
    /// string) unless the header says `name:type` (int, float, decimal2, string, bool, datetime).
    #[arg(long)]
    input: PathBuf,
    /// The node's `p` section as a JSON file.
    #[arg(long)]
    params: Option<PathBuf>,
    /// Output rows to print (all are processed).
    #[arg(long, default_value_t = 20)]
    show: usize,
    /// Rows per batch.
    #[arg(long, default_value_t = 1000)]
    batch_rows: usize,
    /// Batch deadline in milliseconds.
    #[arg(long, default_value_t = 5000)]
    timeout_ms: u64,
    /// Keep the compiled component in this folder (a second run then loads it from there);
    /// default: `VESSEL_CACHE_DIR` when set, else no cache.
    #[arg(long)]
    cache_dir: Option<PathBuf>,
}

pub fn main(args: PluginArgs) -> anyhow::Result<ExitCode> {
    match args.command {
        PluginCommand::New(a) => new(a),
        PluginCommand::Build(a) => {
            let wasm = build(&a.dir, a.target_dir.as_deref())?;
            println!("built {}", wasm.display());
            Ok(ExitCode::SUCCESS)
        }
        PluginCommand::Test(a) => test(a),
    }
}

// ---- new ---------------------------------------------------------------------------------

fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
}

fn new(a: NewArgs) -> anyhow::Result<ExitCode> {
    if !valid_name(&a.name) {
        bail!(
            "'{}' is not a valid plugin name: use lower-case letters, digits, '_' and '-', \
             starting with a letter",
            a.name
        );
    }
    let dir = a.dir.clone().unwrap_or_else(|| PathBuf::from(&a.name));
    if dir.exists()
        && dir
            .read_dir()
            .map(|mut d| d.next().is_some())
            .unwrap_or(true)
    {
        bail!(
            "{} exists and is not empty; choose another name or --dir",
            dir.display()
        );
    }
    let template = format!("sdk/{}/templates/{}/", a.lang.dir(), a.kind.dir());
    let crate_name = a.name.replace('-', "_");
    let vars = [
        ("{{name}}", a.name.as_str()),
        ("{{crate_name}}", crate_name.as_str()),
        ("{{out}}", "result"),
    ];
    let mut written = 0;
    for (path, text) in SDK_FILES {
        let Some(rel) = path.strip_prefix(&template) else {
            continue;
        };
        let mut text = text.to_string();
        for (k, v) in vars {
            text = text.replace(k, v);
        }
        write_file(&dir.join(rel), &text)?;
        written += 1;
    }
    if written == 0 {
        bail!(
            "this build of vessel has no {} template for --kind {}",
            a.lang.dir(),
            a.kind.dir()
        );
    }
    // The SDK and the WIT package, so the project builds without this repository.
    let sdk = format!("sdk/{}/", a.lang.dir());
    for (path, text) in SDK_FILES {
        let vendored =
            path.starts_with("wit/") || (path.starts_with(&sdk) && !path.contains("/templates/"));
        if vendored {
            write_file(&dir.join("vendor").join(path), text)?;
        }
    }
    println!(
        "created {} ({} {} plugin); next: vessel plugin build {}",
        dir.display(),
        a.lang.dir(),
        a.kind.dir(),
        dir.display()
    );
    Ok(ExitCode::SUCCESS)
}

fn write_file(path: &Path, text: &str) -> anyhow::Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
    }
    std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))
}

// ---- build -------------------------------------------------------------------------------

/// The language of a plugin project, from its files.
fn detect(dir: &Path) -> anyhow::Result<Lang> {
    if dir.join("Cargo.toml").is_file() {
        Ok(Lang::Rust)
    } else if PyWorld::of_dir(dir).is_some() {
        Ok(Lang::Python)
    } else if dir.join("index.js").is_file() {
        Ok(Lang::Js)
    } else {
        bail!(
            "{} is not a plugin project: it has no Cargo.toml (Rust), processor.py or \
             functions.py (Python) or index.js (JavaScript); create one with `vessel plugin new`",
            dir.display()
        )
    }
}

/// Name of a plugin project: its folder's name.
fn project_name(dir: &Path) -> anyhow::Result<String> {
    let abs = std::fs::canonicalize(dir).with_context(|| format!("no folder {}", dir.display()))?;
    Ok(abs
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "plugin".to_string()))
}

/// Where language tools (componentize-js, componentize-py) are installed once and reused:
/// `VESSEL_CACHE_DIR`, else `$XDG_CACHE_HOME/vessel`, else `~/.cache/vessel`.
fn tools_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("VESSEL_CACHE_DIR") {
        return PathBuf::from(d);
    }
    if let Some(d) = std::env::var_os("XDG_CACHE_HOME") {
        return PathBuf::from(d).join("vessel");
    }
    std::env::var_os("HOME")
        .map(|h| PathBuf::from(h).join(".cache/vessel"))
        .unwrap_or_else(|| std::env::temp_dir().join("vessel-cache"))
}

/// Builds the project in `dir`; returns the component's path.
///
/// Both folders are made absolute first: the language tools run inside the project folder,
/// where a path relative to the user's current folder would point somewhere else.
fn build(dir: &Path, target_dir: Option<&Path>) -> anyhow::Result<PathBuf> {
    let dir = &absolute(dir)?;
    let target_dir = target_dir.map(absolute).transpose()?;
    let lang = detect(dir)?;
    let name = project_name(dir)?;
    let out = dir.join(format!("{name}.wasm"));
    let started = Instant::now();
    eprintln!("building {} ({}) ...", dir.display(), lang.dir());
    match lang {
        Lang::Rust => vessel_plugin_build::rust::build_component(dir, target_dir.as_deref(), &out)?,
        Lang::Js => {
            let built = vessel_plugin_build::js::build_component(
                dir,
                None,
                &tools_dir().join("js-tools"),
                &out,
            )?;
            eprintln!("{} component", built.world);
        }
        Lang::Python => {
            let built = vessel_plugin_build::python::build_component(
                &tools_dir(),
                &cache_name(&name),
                dir,
            )?;
            write_atomically(&out, &built.bytes)?;
            eprintln!(
                "{} component{}",
                built.world.name(),
                if built.reused {
                    " (sources unchanged: reused the component built before)"
                } else {
                    ""
                }
            );
        }
    }
    eprintln!(
        "built {} in {:.1} s ({} KiB)",
        out.display(),
        started.elapsed().as_secs_f64(),
        std::fs::metadata(&out).map(|m| m.len() / 1024).unwrap_or(0)
    );
    Ok(out)
}

/// A plugin name for the Python build cache (`[a-z0-9_-]+`) from a folder name.
fn cache_name(name: &str) -> String {
    let n: String = name
        .chars()
        .map(|c| match c.to_ascii_lowercase() {
            c @ ('a'..='z' | '0'..='9' | '_' | '-') => c,
            _ => '-',
        })
        .collect();
    if n.is_empty() {
        "plugin".to_string()
    } else {
        n
    }
}

/// Writes through a hidden temporary file and a rename, so that `out` is never a partial
/// component (and a build does not pick the partial file up as a source).
fn write_atomically(out: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let file = out
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = out.with_file_name(format!(".{file}.tmp{}", std::process::id()));
    std::fs::write(&tmp, bytes).with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, out).with_context(|| format!("cannot write {}", out.display()))
}

/// A path made absolute against the current folder (it need not exist yet).
fn absolute(path: &Path) -> anyhow::Result<PathBuf> {
    std::path::absolute(path).with_context(|| format!("cannot resolve {}", path.display()))
}

// ---- test --------------------------------------------------------------------------------

fn test(a: TestArgs) -> anyhow::Result<ExitCode> {
    let wasm = if a.plugin.is_dir() {
        let name = project_name(&a.plugin)?;
        let built = a.plugin.join(format!("{name}.wasm"));
        if built.is_file() {
            built
        } else {
            build(
                &a.plugin,
                std::env::var_os("VESSEL_PLUGIN_TARGET_DIR")
                    .map(PathBuf::from)
                    .as_deref(),
            )?
        }
    } else {
        a.plugin.clone()
    };
    let bytes = std::fs::read(&wasm).with_context(|| format!("cannot read {}", wasm.display()))?;
    let (schema, rows) = read_sample(&a.input)?;
    let params = match &a.params {
        Some(p) => {
            std::fs::read_to_string(p).with_context(|| format!("cannot read {}", p.display()))?
        }
        None => "{}".to_string(),
    };
    serde_json::from_str::<serde_json::Value>(&params)
        .with_context(|| "the params file must hold JSON (the node's p section)")?;
    let limits = Limits {
        timeout: std::time::Duration::from_millis(a.timeout_ms),
        ..Limits::default()
    };
    let host = WasmHost::new(WasmConfig {
        cache_dir: a
            .cache_dir
            .clone()
            .or_else(|| std::env::var_os("VESSEL_CACHE_DIR").map(PathBuf::from)),
        limits,
    })?;
    let started = Instant::now();
    let plugin = match host.load_processor("plugin", &bytes) {
        Ok(p) => p,
        Err(processor_err) => match host.load_functions("plugin", &bytes) {
            Ok(f) => return test_functions(&f, limits, &schema, &rows, a.show),
            Err(_) => return Err(processor_err.into()),
        },
    };
    let load_ms = started.elapsed().as_secs_f64() * 1000.0;
    let info = plugin.info();
    eprintln!(
        "{} {} ({}): {} (loaded in {load_ms:.0} ms)",
        info.name,
        info.version,
        info.kind.name(),
        info.description
    );
    let mut inst = plugin.open(
        &OpenArgs {
            params_json: params,
            input_schema: schema.clone(),
            keyspace: "test".into(),
            run_id: 1,
            node: "test".into(),
        },
        limits,
    )?;
    let binding = inst.binding();
    let reads: Vec<usize> = binding
        .reads
        .iter()
        .map(|f| {
            schema
                .index_of(f)
                .with_context(|| format!("the plugin reads '{f}', which the sample does not have"))
        })
        .collect::<anyhow::Result<_>>()?;
    let out_fields: Vec<String> = binding
        .output_schema
        .fields()
        .iter()
        .map(|(n, _)| n.clone())
        .collect();
    let header: Vec<String> = schema
        .fields()
        .iter()
        .map(|(n, _)| format!("r.{n}"))
        .chain(out_fields.iter().map(|n| format!("p.{n}")))
        .collect();
    println!("{}", header.join(","));

    let started = Instant::now();
    let (mut rows_out, mut shown, mut row_errors) = (0usize, 0usize, 0u64);
    for (b, chunk) in rows.chunks(a.batch_rows.max(1)).enumerate() {
        let mut input = RowSet::with_capacity(project_schema(&schema, &reads), chunk.len());
        for r in chunk {
            input.push_row(reads.iter().map(|&c| r[c].clone()).collect());
        }
        let out = inst.process(&input, b as i32)?;
        row_errors += out.row_errors_total;
        for e in out.row_errors.iter().take(3) {
            eprintln!(
                "row {} skipped: {}",
                b * a.batch_rows + e.row as usize,
                e.message
            );
        }
        let has_fields = !out.output.schema().is_empty();
        for j in 0..out.len() {
            if shown < a.show {
                let p = if has_fields {
                    out.output.row(j)
                } else {
                    Vec::new()
                };
                let cells: Vec<String> = chunk[out.input_row(j)]
                    .iter()
                    .cloned()
                    .chain(p)
                    .map(|v| csv_cell(&v))
                    .collect();
                println!("{}", cells.join(","));
                shown += 1;
            }
            rows_out += 1;
        }
    }
    let secs = started.elapsed().as_secs_f64().max(1e-9);
    eprintln!(
        "{} rows in, {rows_out} rows out, {row_errors} row errors; {:.0} rows/s; peak memory \
         {} MiB (process)",
        rows.len(),
        rows.len() as f64 / secs,
        peak_rss_mib().map_or("?".to_string(), |m| m.to_string())
    );
    Ok(ExitCode::SUCCESS)
}

fn test_functions(
    plugin: &vessel_wasm::FunctionPlugin,
    limits: Limits,
    schema: &Arc<Schema>,
    rows: &[Vec<Value>],
    show: usize,
) -> anyhow::Result<ExitCode> {
    let mut inst = plugin.instance(limits, "test")?;
    for sig in plugin.signatures() {
        // Arguments: the first sample columns of the parameter types, in order.
        let mut used = vec![false; schema.len()];
        let mut cols = Vec::new();
        for t in &sig.params {
            match (0..schema.len()).find(|&c| !used[c] && schema.field_type(c) == *t) {
                Some(c) => {
                    used[c] = true;
                    cols.push(c);
                }
                None => {
                    eprintln!(
                        "{}: skipped, the sample has no unused {} column",
                        sig.name,
                        t.name()
                    );
                    break;
                }
            }
        }
        if cols.len() != sig.params.len() {
            continue;
        }
        let args: Vec<Vec<Value>> = cols
            .iter()
            .map(|&c| rows.iter().map(|r| r[c].clone()).collect())
            .collect();
        let started = Instant::now();
        let result = inst.call(&sig.name, &args, rows.len())?;
        let secs = started.elapsed().as_secs_f64().max(1e-9);
        let names: Vec<&str> = cols
            .iter()
            .map(|&c| schema.fields()[c].0.as_str())
            .collect();
        println!(
            "{}({}) -> {}",
            sig.name,
            names.join(", "),
            sig.returns.name()
        );
        for (i, v) in result.iter().take(show).enumerate() {
            let a: Vec<String> = cols.iter().map(|&c| csv_cell(&rows[i][c])).collect();
            println!("  {}({}) = {}", sig.name, a.join(", "), csv_cell(v));
        }
        eprintln!(
            "{}: {} rows, {:.0} rows/s",
            sig.name,
            rows.len(),
            rows.len() as f64 / secs
        );
    }
    eprintln!(
        "peak memory {} MiB (process)",
        peak_rss_mib().map_or("?".to_string(), |m| m.to_string())
    );
    Ok(ExitCode::SUCCESS)
}

fn project_schema(schema: &Schema, cols: &[usize]) -> Arc<Schema> {
    Arc::new(Schema::new(
        cols.iter().map(|&c| schema.fields()[c].clone()).collect(),
    ))
}

/// Reads a sample CSV: the header names the columns (optionally `name:type`).
fn read_sample(path: &Path) -> anyhow::Result<(Arc<Schema>, Vec<Vec<Value>>)> {
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(true)
        .from_path(path)
        .with_context(|| format!("cannot read {}", path.display()))?;
    let header: Vec<String> = rdr
        .headers()
        .with_context(|| format!("{}: no header line", path.display()))?
        .iter()
        .map(str::to_string)
        .collect();
    let mut text: Vec<Vec<String>> = Vec::new();
    for (i, rec) in rdr.records().enumerate() {
        let rec = rec.with_context(|| format!("{}: line {}", path.display(), i + 2))?;
        text.push(rec.iter().map(str::to_string).collect());
    }
    let mut fields = Vec::with_capacity(header.len());
    for (c, h) in header.iter().enumerate() {
        let (name, t) = match h.split_once(':') {
            Some((n, t)) => (
                n.trim().to_string(),
                FieldType::parse(t.trim()).with_context(|| {
                    format!(
                        "{}: column '{n}' has type '{t}'; use int, float, decimal2, string, bool \
                         or datetime",
                        path.display()
                    )
                })?,
            ),
            None => {
                let col = text.iter().map(|r| r[c].as_str());
                let t = if col.clone().all(|v| v.parse::<i64>().is_ok()) {
                    FieldType::Int
                } else if col.clone().all(|v| v.parse::<f64>().is_ok()) {
                    FieldType::Float
                } else {
                    FieldType::String
                };
                (h.trim().to_string(), t)
            }
        };
        fields.push((name, t));
    }
    let schema = Arc::new(Schema::new(fields));
    let mut rows = Vec::with_capacity(text.len());
    for (i, r) in text.iter().enumerate() {
        let mut row = Vec::with_capacity(r.len());
        for (c, s) in r.iter().enumerate() {
            let (name, t) = &schema.fields()[c];
            row.push(parse_cell(*t, s).with_context(|| {
                format!(
                    "{}: line {}, column '{name}': '{s}' is not a {}",
                    path.display(),
                    i + 2,
                    t.name()
                )
            })?);
        }
        rows.push(row);
    }
    Ok((schema, rows))
}

fn parse_cell(t: FieldType, s: &str) -> Option<Value> {
    Some(match t {
        FieldType::Int => Value::Int(s.trim().parse().ok()?),
        FieldType::Float => Value::Float(s.trim().parse().ok()?),
        FieldType::Decimal2 => Value::Decimal(vessel_core::decimal::round2(s.trim().parse().ok()?)),
        FieldType::String => Value::Str(s.to_string()),
        FieldType::Bool => Value::Bool(match s.trim() {
            "true" | "TRUE" | "True" | "1" | "T" => true,
            "false" | "FALSE" | "False" | "0" | "F" => false,
            _ => return None,
        }),
        FieldType::DateTime => {
            Value::DateTime(vessel_core::chrono::DateTime::parse_from_rfc3339(s.trim()).ok()?)
        }
    })
}

fn csv_cell(v: &Value) -> String {
    let s = v.to_string();
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}

/// Peak resident memory of this process (Linux), in MiB.
fn peak_rss_mib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_cache_names_are_safe() {
        assert_eq!(cache_name("My Plugin.v2"), "my-plugin-v2");
        assert_eq!(cache_name("add_vat-2"), "add_vat-2");
        assert_eq!(cache_name(""), "plugin");
    }

    #[test]
    fn projects_are_detected_by_their_entry_files() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path();
        let err = detect(p).unwrap_err().to_string();
        assert!(
            err.contains("processor.py or functions.py (Python)"),
            "{err}"
        );
        std::fs::write(p.join("functions.py"), "").unwrap();
        assert_eq!(detect(p).unwrap(), Lang::Python);
        std::fs::write(p.join("Cargo.toml"), "").unwrap();
        assert_eq!(detect(p).unwrap(), Lang::Rust);
    }

    #[test]
    fn every_python_template_is_embedded() {
        for kind in ["map", "filter", "function"] {
            let prefix = format!("sdk/python/templates/{kind}/");
            let files: Vec<&str> = SDK_FILES
                .iter()
                .filter_map(|(p, _)| p.strip_prefix(prefix.as_str()))
                .collect();
            assert!(
                files.iter().any(|f| f.starts_with("tests/test_")),
                "{kind}: {files:?}"
            );
            let entry = if kind == "function" {
                "functions.py"
            } else {
                "processor.py"
            };
            assert!(files.contains(&entry), "{kind}: {files:?}");
        }
        assert!(
            SDK_FILES
                .iter()
                .any(|(p, _)| *p == "sdk/python/vessel_functions.py")
        );
        assert!(
            !SDK_FILES
                .iter()
                .any(|(p, _)| p.starts_with("sdk/python/tests/"))
        );
    }
}
