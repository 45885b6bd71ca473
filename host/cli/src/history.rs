//! `vessel history`: run, node and batch history of a keyspace.

use anyhow::Context;
use clap::{Args, ValueEnum};
use std::process::ExitCode;

/// Which history to show.
#[derive(Clone, Copy, ValueEnum)]
enum What {
    /// Run status events.
    Runs,
    /// Node status events.
    Nodes,
    /// Batch status events.
    Batches,
}

/// Arguments of `vessel history`.
#[derive(Args)]
pub struct HistoryArgs {
    /// runs, nodes or batches.
    #[arg(value_enum)]
    what: What,
    /// Keyspace.
    #[arg(long)]
    keyspace: String,
    /// Only these runs (comma-separated); batches default to the latest run.
    #[arg(long, value_delimiter = ',')]
    run_id: Vec<i32>,
    /// Only this node (batches).
    #[arg(long)]
    node: Option<String>,
    /// JSON lines instead of CSV.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    backend: crate::config::BackendArgs,
}

pub fn main(args: HistoryArgs) -> anyhow::Result<ExitCode> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(run(args))
}

fn csv_text(s: &str) -> String {
    // Capillaries replaces commas in comments so the CSV stays one field per column.
    s.replace(',', ";").replace('\n', " ")
}

async fn run(args: HistoryArgs) -> anyhow::Result<ExitCode> {
    let config = crate::config::Config::load(&args.backend)?;
    let store = config.store_url(|| crate::default_data_dir(None))?;
    let storage = crate::config::open_store(&store).await?;
    let ks = storage
        .open_keyspace(&args.keyspace, false)
        .await
        .with_context(|| format!("in store {}", store.display()))?;
    let runs = (!args.run_id.is_empty()).then_some(args.run_id.as_slice());
    match args.what {
        What::Runs => {
            let props = ks.run_properties().await?;
            if !args.json {
                outln!("ts,run_id,status,comment");
            }
            for e in ks.run_events(runs).await? {
                if args.json {
                    let p = props.iter().find(|p| p.run_id == e.run_id);
                    outln!(
                        "{}",
                        serde_json::json!({"ts": e.ts.to_rfc3339(), "run_id": e.run_id,
                            "status": e.status.name(), "comment": e.comment,
                            "start_nodes": p.map(|p| p.start_nodes.join(",")),
                            "affected_nodes": p.map(|p| p.affected_nodes.join(","))})
                    );
                } else {
                    outln!(
                        "{},{},{},{}",
                        e.ts.to_rfc3339(),
                        e.run_id,
                        e.status.name(),
                        csv_text(&e.comment)
                    );
                }
            }
        }
        What::Nodes => {
            if !args.json {
                outln!("ts,run_id,script_node,status,comment");
            }
            for e in ks.node_events(runs).await? {
                if args.json {
                    outln!("{}", serde_json::to_string(&e)?);
                } else {
                    outln!(
                        "{},{},{},{},{}",
                        e.ts.to_rfc3339(),
                        e.run_id,
                        e.node,
                        e.status.name(),
                        csv_text(&e.comment)
                    );
                }
            }
        }
        What::Batches => {
            let run_ids: Vec<i32> = if args.run_id.is_empty() {
                ks.run_properties()
                    .await?
                    .last()
                    .map(|p| vec![p.run_id])
                    .unwrap_or_default()
            } else {
                args.run_id.clone()
            };
            if !args.json {
                outln!(
                    "ts,run_id,script_node,batch_idx,batches_total,status,first_token,last_token,instance,comment"
                );
            }
            for run_id in run_ids {
                for e in ks.batch_events(run_id, args.node.as_deref()).await? {
                    if args.json {
                        outln!("{}", serde_json::to_string(&e)?);
                    } else {
                        outln!(
                            "{},{},{},{},{},{},{},{},{},{}",
                            e.ts.to_rfc3339(),
                            e.run_id,
                            e.node,
                            e.batch_idx,
                            e.batches_total,
                            e.status.name(),
                            e.first_token,
                            e.last_token,
                            e.instance,
                            csv_text(&e.comment)
                        );
                    }
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
