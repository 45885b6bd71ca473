//! A CQL test server: the Cassandra native protocol (v4) over TCP, backed by an in-memory engine.
//!
//! This is a **test tool**. It keeps everything in memory, forgets it all when it stops, runs as
//! a single node and is not a database: it exists so that code written on the real `scylla`
//! driver can be exercised where no Cassandra or ScyllaDB server is available. It answers
//! exactly the CQL subset listed below; anything else gets a CQL syntax error (0x2000) or
//! invalid-request error (0x2200) naming what is not supported, so that client code cannot
//! drift into statements its tests do not cover.
//!
//! # Starting it
//!
//! In tests, on the current tokio runtime:
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! let server = vessel_cql_testserver::TestServer::start().await?;
//! let contact_point = server.addr(); // 127.0.0.1 with an OS-chosen port
//! // ... connect a driver to `contact_point` ...
//! server.drop_connections(); // every open connection is closed once; clients must reconnect
//! server.forget_prepared_statements(); // next EXECUTEs get "unprepared"; drivers re-prepare
//! # Ok(())
//! # }
//! ```
//!
//! From a shell: `vessel-cql-testserver --listen 127.0.0.1:9042`.
//!
//! # Protocol
//!
//! Native protocol v4 only: `OPTIONS`, `STARTUP` (no authentication, no compression),
//! `REGISTER` (`SCHEMA_CHANGE` events are pushed to connections that registered for them; there
//! are never topology or status events), `QUERY`, `PREPARE`, `EXECUTE` and `BATCH`
//! (logged or unlogged, no conditional statements). Results are Void, Rows (with metadata and
//! paging through `page_size` / `paging_state`), SetKeyspace, Prepared (with partition-key
//! indexes, so token-aware routing works) and SchemaChange. Errors carry their protocol codes.
//! `system.local` describes one node of datacenter `datacenter1` owning the whole
//! Murmur3Partitioner ring; `system.peers` and `system.peers_v2` are empty; `system_schema`
//! (`keyspaces`, `tables`, `columns`, and empty `types` and `views`) reflects the catalog.
//!
//! # CQL subset
//!
//! * `CREATE KEYSPACE [IF NOT EXISTS] ks WITH replication = {...}`, `DROP KEYSPACE [IF EXISTS]`,
//!   `USE`.
//! * `CREATE TABLE [IF NOT EXISTS]` with `PRIMARY KEY ((partition columns), clustering columns)`;
//!   `WITH` options that only tune storage on a cluster (`comment`, `compaction`, `caching`, ...,
//!   and ascending `CLUSTERING ORDER`) are accepted and have no effect, the others (descending
//!   order, a non-zero `default_time_to_live`, ...) are refused. `DROP TABLE [IF EXISTS]`.
//!   Column types: `bigint`, `int`, `smallint`, `tinyint`, `double`, `float`, `decimal`,
//!   `text`/`varchar`, `ascii`, `boolean`, `timestamp`, `blob`, `uuid`, `inet` (and collections
//!   in the system tables). Key columns cannot be `decimal` or collections.
//! * `INSERT INTO t (cols) VALUES (...) [IF NOT EXISTS]`: an upsert; the conditional form returns
//!   `[applied]` and, when not applied, the existing row.
//! * `UPDATE t SET c = v, ... WHERE <full primary key by = or IN> [IF EXISTS | IF c op v AND ...]`:
//!   an upsert; the conditional form returns `[applied]` and, when not applied, the current
//!   values of the columns in the condition.
//! * `DELETE FROM t WHERE <partition key by = or IN> [AND clustering prefix]` (whole rows), or one
//!   row with `IF EXISTS` / `IF` conditions.
//! * `SELECT cols | token(pk) | * | COUNT(*) FROM t [WHERE ...] [LIMIT n] [ALLOW FILTERING]`,
//!   where the `WHERE` restricts the partition key by `=` / `IN` or by `token(pk)` ranges,
//!   clustering columns by a prefix of `=` / `IN` then one range; anything that needs filtering
//!   needs `ALLOW FILTERING`, as in Cassandra.
//! * `BEGIN [UNLOGGED] BATCH ... APPLY BATCH` of non-conditional INSERT, UPDATE and DELETE.
//!   Every statement of a batch (text or protocol) is checked first (tables, columns, value
//!   types), then all run under one lock, so other clients see the whole batch or none of it.
//! * Bind markers `?` (positional) everywhere a value goes, including `IN ?` and `LIMIT ?`;
//!   `toTimestamp(now())` as a value of a `timestamp` column.
//!
//! As in Cassandra, a write whose partition key serializes to nothing (an empty text in a
//! one-column key) is refused with "Key may not be empty".
//!
//! Rows come back in Cassandra's order: by the Murmur3 token of the partition key (see
//! [`token`]), then by clustering columns (ascending). Partitions selected with `IN` come back
//! in that ring order too; Cassandra does not promise an order across them, so clients must not
//! rely on one. Paging states count the rows already returned: each page is cut from the
//! statement's result at the time of the request. Without TTLs, timestamps or tombstones
//! the last write wins in arrival order, which is what a single node does.

mod engine;
mod error;
mod frame;
mod murmur;
mod parser;
mod server;
mod types;

pub use error::CqlError;
pub use murmur::token;
pub use server::TestServer;
