//! `vessel validate`: load a script, report every problem, print its nodes or DAG.

use clap::{Args, ValueEnum};
use std::path::PathBuf;
use std::process::ExitCode;
use vessel_script::{Reader, Writer};

/// Output of `vessel validate`.
#[derive(Clone, Copy, ValueEnum)]
enum Format {
    /// Node table.
    Text,
    /// Graphviz dot.
    Dot,
}

/// Arguments of `vessel validate`.
#[derive(Args)]
pub struct ValidateArgs {
    /// Script file (JSON or YAML).
    script: PathBuf,
    /// Params file.
    #[arg(long)]
    params: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    format: Format,
    #[command(flatten)]
    backend: crate::config::BackendArgs,
    #[command(flatten)]
    worker: crate::config::WorkerArgs,
}

pub fn main(args: ValidateArgs) -> anyhow::Result<ExitCode> {
    // Opening every plugin of the script reports its parameter and schema errors here, with
    // the plugin settings a run would have.
    let config = crate::config::Config::load(&args.backend)?;
    let store = config.store_url(|| crate::default_data_dir(Some(&args.script)))?;
    let settings = config.engine_settings(&args.worker, &store)?;
    let plugins = std::sync::Arc::new(vessel_engine::plugins::LazyPlugins::new(settings.plugins));
    let opts = vessel_script::LoadOptions {
        catalog: Some(std::sync::Arc::new(vessel_engine::plugins::PluginCatalog(
            plugins,
        ))),
        ..Default::default()
    };
    let script = match vessel_script::load_script_with(&args.script, args.params.as_deref(), &opts)
    {
        Ok(s) => s,
        Err(errors) => {
            eprintln!("{errors}");
            // Script errors are usage errors, as `vessel run` reports them.
            return Ok(ExitCode::from(2));
        }
    };
    // Warnings (unknown keys, most often a misspelled one) go to stderr in both formats.
    for w in &script.warnings {
        eprintln!("warning: {w}");
    }
    match args.format {
        Format::Dot => out!("{}", vessel_script::dag::to_dot(&script)),
        Format::Text => {
            for name in vessel_script::dag::topological_order(&script) {
                let n = &script.nodes[&name];
                let reads = match &n.reader {
                    Reader::File(f) => format!("{} file(s)", f.urls.len()),
                    Reader::Table(t) => {
                        let mut s = t.table.clone();
                        if let Some(l) = &n.lookup {
                            s.push_str(&format!(" + lookup {}", l.index_name));
                        }
                        s
                    }
                };
                let writes = match &n.writer {
                    Writer::Table(w) => format!("table {}", w.name),
                    Writer::File(f) => format!("file {}", f.url_template),
                };
                outln!(
                    "{name:<40} {:<22} {:>5} batches  reads {reads}  writes {writes}",
                    n.node_type.name(),
                    n.batches_total()
                );
            }
            outln!(
                "{}: OK, {} nodes{}",
                args.script.display(),
                script.nodes.len(),
                match script.warnings.len() {
                    0 => String::new(),
                    1 => ", 1 warning".to_string(),
                    n => format!(", {n} warnings"),
                }
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
