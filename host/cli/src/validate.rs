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
    /// An SVG picture of the DAG (laid out by Vessel; no Graphviz needed).
    Svg,
    /// A Mermaid flowchart.
    Mermaid,
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
    /// With --run-id: colour the DAG (svg, dot, mermaid) by the node statuses of that run.
    #[arg(long, requires = "run_id")]
    keyspace: Option<String>,
    /// Run whose node statuses colour the DAG.
    #[arg(long, requires = "keyspace")]
    run_id: Option<i32>,
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
    let statuses = match (&args.keyspace, args.run_id) {
        (Some(ks), Some(run)) => Some(node_statuses(&store, ks, run)?),
        _ => None,
    };
    match args.format {
        Format::Dot => out!(
            "{}",
            vessel_script::draw::to_dot(&script, statuses.as_ref())
        ),
        Format::Svg => out!(
            "{}",
            vessel_script::draw::to_svg(&script, statuses.as_ref())
        ),
        Format::Mermaid => out!(
            "{}",
            vessel_script::draw::to_mermaid(&script, statuses.as_ref())
        ),
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

/// Node name → status name of a run, from the store.
fn node_statuses(
    store: &crate::config::StoreUrl,
    keyspace: &str,
    run_id: i32,
) -> anyhow::Result<vessel_script::draw::Statuses> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let storage = crate::config::open_store(store).await?;
        let ks = storage.open_keyspace(keyspace, false).await?;
        if !ks
            .run_properties()
            .await?
            .iter()
            .any(|p| p.run_id == run_id)
        {
            anyhow::bail!("keyspace '{keyspace}' has no run {run_id} (see `vessel history runs`)");
        }
        let events = ks.node_events(Some(&[run_id])).await?;
        Ok(vessel_engine::status::node_statuses(&events, run_id)
            .into_iter()
            .map(|(n, s)| (n, s.name().to_string()))
            .collect())
    })
}
