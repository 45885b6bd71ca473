//! The `vessel-cql-testserver` binary: a CQL test server on a TCP address.

use std::net::SocketAddr;

use clap::Parser;
use tracing_subscriber::EnvFilter;

/// A CQL (Cassandra native protocol v4) TEST TOOL that keeps everything in memory. It is not a
/// database: data is lost when it stops, it runs as one node, and it answers only the CQL
/// subset Vessel's Cassandra backend issues. Use it to try the Cassandra path on one machine.
#[derive(Parser)]
#[command(name = "vessel-cql-testserver", version)]
struct Args {
    /// Address to listen on, for example 127.0.0.1:9042.
    #[arg(long, default_value = "127.0.0.1:9042")]
    listen: SocketAddr,
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .init();
    let args = Args::parse();
    let server = vessel_cql_testserver::TestServer::start_on(args.listen).await?;
    eprintln!(
        "vessel-cql-testserver listening on {} (test tool: in memory only, not a database); Ctrl-C stops it",
        server.addr()
    );
    tokio::signal::ctrl_c().await?;
    Ok(())
}
