//! Vessel's engine: runs Capillaries-compatible scripts batch by batch.
//!
//! The engine is the same in both deployments. [`Engine::start_run`] records a run in storage
//! and publishes the batches of the nodes that can start; [`worker::run_worker`] takes batch
//! messages from a queue, checks the node's dependencies, processes the batch against storage,
//! records its status and publishes the next nodes' batches when a node completes. `vessel run`
//! runs both in one process (by default on SQLite and the in-process queue); `vessel daemon`
//! runs only workers, taking batches from RabbitMQ. The engine knows storage and queue only
//! through their traits (`vessel_store::Storage`, `vessel_queue::Queue`).
//!
//! What several processes share is in storage, never in a process's memory: whether a run is
//! finished, which batches are done, which node may start. Exactly one worker takes a batch
//! over ([`vessel_store::Keyspace::append_batch_start`]); a batch left "started" by a worker
//! that died is cleaned and redone once that worker's lease expires ([`liveness`]). Workers
//! count what they do in [`metrics`] (Prometheus text) and log with the batch's keyspace, run,
//! node and index.
//!
//! ```no_run
//! # async fn demo() -> vessel_engine::Result<()> {
//! use std::sync::Arc;
//! use vessel_engine::{Engine, RunRequest};
//! let storage = Arc::new(vessel_store_sqlite::SqliteStorage::open("data")?);
//! let queue = Arc::new(vessel_queue::MemoryQueue::new());
//! let engine = Engine::new(storage, queue.clone());
//! let run_id = engine
//!     .start_run(&RunRequest::new("ks", "script.yaml".as_ref(), None, &["read_orders"]))
//!     .await?;
//! # let _ = run_id; Ok(()) }
//! ```

mod deps;
mod engine;
mod error;
pub mod files;
pub mod liveness;
mod lookup_cache;
pub mod metrics;
mod nodes;
pub mod plugins;
pub mod progress;
mod scripts;
pub mod status;
pub mod worker;

pub use engine::{
    DEFAULT_LOOKUP_CACHE_BYTES, DEFAULT_MEMORY_BUDGET_BYTES, Engine, NodeSummary, RunRequest,
    RunSummary, Settings, batch_rows, default_start_nodes, table_def,
};
pub use error::{EngineError, Result};
pub use scripts::ScriptCache;
