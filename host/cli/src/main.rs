//! The `vessel` command line.

/// `println!` that returns an error instead of panicking when stdout is closed (a pipe into
/// `head`, say); `main` ends such a command quietly.
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        writeln!(std::io::stdout().lock(), $($arg)*)?
    }};
}

/// `print!` with the error handling of [`outln!`].
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        write!(std::io::stdout().lock(), $($arg)*)?
    }};
}

/// mimalloc instead of glibc's malloc: glibc gives each busy thread an arena of its own and
/// keeps what batches free there resident, so peak memory grew with the input even where every
/// buffer is bounded (bench/memory).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod api;
mod config;
mod daemon;
mod history;
mod plugin;
mod progress;
mod run;
mod start_run;
mod stop_run;
mod table_cql;
mod validate;
mod wait;

use clap::{Parser, Subcommand};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Vessel runs Capillaries-compatible data pipelines: batch-parallel, supervised, resumable.
#[derive(Parser)]
#[command(name = "vessel", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a script to completion with workers in this process (by default on SQLite and the
    /// in-process queue).
    Run(run::RunArgs),
    /// Take batches of any run from a shared queue (RabbitMQ) until stopped with SIGINT or
    /// SIGTERM.
    Daemon(daemon::DaemonArgs),
    /// Start a run for `vessel daemon` workers and print its id; return at once.
    StartRun(start_run::StartRunArgs),
    /// Follow a run until it ends, with a progress bar per node, and print its summary.
    Wait(wait::WaitArgs),
    /// Load and validate a script; print its nodes or its DAG.
    Validate(validate::ValidateArgs),
    /// Show run, node or batch history of a keyspace.
    History(history::HistoryArgs),
    /// Stop a run (its remaining batches are drained), or invalidate a finished one so that
    /// later runs do not consume its tables.
    StopRun(stop_run::StopRunArgs),
    /// Create, build and try Wasm plugins.
    Plugin(plugin::PluginArgs),
    /// Serve the web API (and, with the embedded queue, work the runs it starts).
    Api(api::ApiArgs),
    /// Print the CQL that creates a keyspace's tables for a run of a script (Cassandra).
    TableCql(table_cql::TableCqlArgs),
}

fn main() -> ExitCode {
    let filter = tracing_subscriber::EnvFilter::try_from_env("VESSEL_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    // Colour only for a person at a terminal who has not asked for none (no-color.org).
    let colour = std::io::IsTerminal::is_terminal(&std::io::stderr())
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(colour)
        .init();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run(a) => run::main(a),
        Command::Daemon(a) => daemon::main(a),
        Command::StartRun(a) => start_run::main(a),
        Command::Wait(a) => wait::main(a),
        Command::Validate(a) => validate::main(a),
        Command::History(a) => history::main(a),
        Command::StopRun(a) => stop_run::main(a),
        Command::Plugin(a) => plugin::main(a),
        Command::TableCql(a) => table_cql::main(a),
        Command::Api(a) => api::main(a),
    };
    match result {
        Ok(code) => code,
        Err(e) if closed_stdout(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(error_exit_code(&e))
        }
    }
}

/// Exit code of a command that failed: 1 when the machine failed under it (a full disk, an I/O
/// error: the same command can succeed once that is fixed), 2 for everything else, which is
/// the user's to fix (usage, script, names).
fn error_exit_code(e: &anyhow::Error) -> u8 {
    let machine = e.chain().any(|c| {
        c.downcast_ref::<vessel_engine::EngineError>()
            .is_some_and(vessel_engine::EngineError::is_environmental)
            || c.downcast_ref::<vessel_store::StoreError>()
                .is_some_and(vessel_store::StoreError::is_environmental)
    });
    if machine { 1 } else { 2 }
}

/// Whether the error is a write to a stdout whose reader has gone.
fn closed_stdout(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// Data directory used when none is given: `vessel-data` beside the script, or in the
/// current directory for commands without a script. `VESSEL_DATA_DIR` overrides both.
pub(crate) fn default_data_dir(script: Option<&Path>) -> PathBuf {
    if let Ok(d) = std::env::var("VESSEL_DATA_DIR") {
        return PathBuf::from(d);
    }
    let base = script
        .and_then(|s| s.parent())
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    base.join("vessel-data")
}

/// Keyspace used when none is given: the script's file name (or its folder's name when the
/// file is called `script`), reduced to letters, digits and `_`.
pub(crate) fn default_keyspace(script: &Path) -> String {
    let stem = script
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("vessel");
    let abs = std::fs::canonicalize(script).unwrap_or_else(|_| script.to_path_buf());
    let dir = abs
        .parent()
        .and_then(|p| p.file_name())
        .and_then(|s| s.to_str())
        .unwrap_or("vessel");
    let raw = if stem.starts_with("script") {
        format!("{dir}{}", stem.trim_start_matches("script"))
    } else {
        stem.to_string()
    };
    let mut ks: String = raw
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect();
    if ks.is_empty() || ks.starts_with("system") {
        ks = format!("ks_{ks}");
    }
    ks.truncate(48);
    ks
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failing_machine_exits_1_and_a_bad_request_2() {
        let full = || vessel_store::StoreError::Environment("database or disk is full".into());
        let e = anyhow::Error::from(vessel_engine::EngineError::Store(full()));
        assert_eq!(error_exit_code(&e), 1);
        assert_eq!(
            error_exit_code(&anyhow::Error::from(full()).context("starting")),
            1
        );
        let bad = vessel_engine::EngineError::Invalid("unknown start node 'x'".into());
        assert_eq!(error_exit_code(&anyhow::Error::from(bad)), 2);
        assert_eq!(error_exit_code(&anyhow::anyhow!("no such file")), 2);
    }

    #[test]
    fn keyspace_names_come_from_the_script() {
        assert_eq!(
            default_keyspace(Path::new("/x/lookup/script.yaml")),
            "lookup"
        );
        assert_eq!(
            default_keyspace(Path::new("/x/lookup/script_quick.yaml")),
            "lookup_quick"
        );
        assert_eq!(default_keyspace(Path::new("/x/y/My-Flow.json")), "my_flow");
        assert_eq!(default_keyspace(Path::new("/x/y/system.json")), "ks_system");
    }
}
