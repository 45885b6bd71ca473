//! `vessel table-cql`: the CQL that creates a keyspace's workflow tables and the tables a run
//! of a script writes, for an operator to review or to create ahead of time.

use clap::Args;
use std::path::PathBuf;
use std::process::ExitCode;

/// Arguments of `vessel table-cql`.
#[derive(Args)]
pub struct TableCqlArgs {
    /// Script file (JSON or YAML).
    script: PathBuf,
    /// Params file (JSON or YAML) substituted into the script.
    #[arg(long)]
    params: Option<PathBuf>,
    /// Keyspace the statements create.
    #[arg(long)]
    keyspace: String,
    /// Comma-separated start nodes (default: every node without an upstream node); the tables
    /// of these nodes and of every node downstream of them are printed.
    #[arg(long, value_delimiter = ',')]
    start_nodes: Vec<String>,
    /// Run whose tables are printed (tables carry the run number: `orders_00003`).
    #[arg(long, default_value_t = 1)]
    run_id: i32,
    /// Replication of the keyspace: `simple:N`, `dc1:N,dc2:M` or a CQL map.
    #[arg(long, default_value = "simple:1")]
    replication: String,
}

pub fn main(args: TableCqlArgs) -> anyhow::Result<ExitCode> {
    vessel_store::validate_keyspace_name(&args.keyspace)?;
    if args.run_id < 1 {
        anyhow::bail!("--run-id {}: run ids start at 1", args.run_id);
    }
    let script = match vessel_script::load_script_with(
        &args.script,
        args.params.as_deref(),
        &vessel_script::LoadOptions::default(),
    ) {
        Ok(s) => s,
        Err(errors) => {
            eprintln!("{errors}");
            return Ok(ExitCode::from(2));
        }
    };
    let start: Vec<String> = args
        .start_nodes
        .iter()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect();
    let start = if start.is_empty() {
        vessel_engine::default_start_nodes(&script)
    } else {
        start
    };
    let affected = vessel_script::dag::affected_nodes(&script, &start)?;
    let replication = vessel_store_cassandra::config::replication_map(&args.replication)
        .map_err(|e| anyhow::anyhow!("--replication {e}"))?;
    let mut out = vec![vessel_store_cassandra::schema::keyspace_cql(
        &args.keyspace,
        &replication,
    )];
    out.extend(vessel_store_cassandra::schema::workflow_cql(&args.keyspace));
    for name in &affected {
        if let Some(def) = vessel_engine::table_def(&script.nodes[name], args.run_id) {
            out.extend(vessel_store_cassandra::schema::table_cql(
                &args.keyspace,
                &def,
            )?);
        }
    }
    for stmt in out {
        outln!("{stmt};");
    }
    Ok(ExitCode::SUCCESS)
}
